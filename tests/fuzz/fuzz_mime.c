/* fuzz_mime.c -- mail rendering (workers/mime.c): from any names, subject,
 * body and extra headers, a message of 7-bit CRLF lines whose encoded-word
 * lines stay within 76 characters, whose header list is exactly ours, and
 * whose headers and body decode back to the cleaned input; and the mailbox
 * parser. Decoding is written here, independently of the encoder. */
#include "workers/mime.c"

#include "fuzz_util.h"

/* --- independent decoding ------------------------------------------------ */

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Strict base64 of s[0..n) (padded, a multiple of 4) appended to out. */
static void b64_decode(const char *s, size_t n, char *out, size_t *o)
{
    FUZZ_CHECK(n % 4 == 0);
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int j = 0; j < 4; j++) {
            unsigned char c = (unsigned char)s[i + j];
            if (c == '=' && i + 4 == n && j >= 2) {
                v[j] = 0;
                pad++;
            } else {
                FUZZ_CHECK(pad == 0);
                v[j] = b64_val(c);
                FUZZ_CHECK(v[j] >= 0);
            }
        }
        uint32_t w = (uint32_t)(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
        out[(*o)++] = (char)(w >> 16);
        if (pad < 2)
            out[(*o)++] = (char)(w >> 8 & 0xFF);
        if (pad < 1)
            out[(*o)++] = (char)(w & 0xFF);
    }
}

/* A phrase or unstructured value made only of encoded words separated by
 * spaces: their decoded text (each word whole UTF-8 characters). */
static char *words_decode(const char *v)
{
    char *out = malloc(strlen(v) + 1);
    size_t o = 0;
    FUZZ_CHECK(out != NULL);
    for (const char *p = v; *p;) {
        if (*p == ' ') {
            p++;
            continue;
        }
        FUZZ_CHECK(strncmp(p, "=?UTF-8?B?", 10) == 0);
        const char *e = strstr(p + 10, "?=");
        FUZZ_CHECK(e != NULL);
        FUZZ_CHECK(e + 2 - p <= 75); /* RFC 2047: a word is at most 75 characters */
        size_t start = o;
        b64_decode(p + 10, (size_t)(e - p - 10), out, &o);
        FUZZ_CHECK(o > start && fuzz_utf8_valid(out + start, o - start));
        p = e + 2;
        FUZZ_CHECK(*p == ' ' || *p == '\0');
    }
    out[o] = '\0';
    return out;
}

/* What mime.h promises the reader sees: invalid UTF-8 as U+FFFD; in a header
 * every control as a space; in the body CR, LF and CRLF as CRLF. */
static char *expect_clean(const char *s, int body)
{
    size_t n = s ? strlen(s) : 0, o = 0;
    char *out = malloc(3 * n + 1);
    FUZZ_CHECK(out != NULL);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t l = fuzz_utf8_seq((const unsigned char *)s + i, n - i);
        if (l == 0) {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else if (l > 1) {
            memcpy(out + o, s + i, l);
            o += l;
            i += l;
        } else if (body && (c == '\r' || c == '\n')) {
            out[o++] = '\r';
            out[o++] = '\n';
            i += (c == '\r' && i + 1 < n && s[i + 1] == '\n') ? 2 : 1;
        } else {
            out[o++] = (!body && (c < 0x20 || c == 0x7F)) ? ' ' : (char)c;
            i++;
        }
    }
    out[o] = '\0';
    return out;
}

/* --- the message ---------------------------------------------------------- */

typedef struct header {
    char name[80];
    char *value; /* unfolded, leading spaces dropped */
} header;

/* Lines: CRLF only, 7-bit, at most 998; over 76 only for an unsplittable
 * address or Message-ID, never with an encoded word in it. */
static void check_lines(const char *msg, size_t len, const mime_mail *m, const char *mid)
{
    FUZZ_CHECK(len == strlen(msg));
    for (size_t i = 0; i < len; i++)
        FUZZ_CHECK((unsigned char)msg[i] < 0x80);
    for (const char *p = msg; *p;) {
        const char *crlf = strstr(p, "\r\n");
        FUZZ_CHECK(crlf != NULL);
        size_t n = (size_t)(crlf - p);
        FUZZ_CHECK(memchr(p, '\r', n) == NULL && memchr(p, '\n', n) == NULL);
        FUZZ_CHECK(n <= 998);
        if (n > MIME_LINE_MAX) {
            char *line = strndup(p, n);
            FUZZ_CHECK(strstr(line, m->from_addr) || strstr(line, m->to_addr) || strstr(line, mid));
            /* No encoded word on it; an address may hold "=?" itself (never decoded). */
            const char *ids[] = {m->from_addr, m->to_addr, mid};
            for (size_t i = 0; i < 3; i++)
                for (char *at = strstr(line, ids[i]); ids[i][0] && at; at = strstr(at, ids[i]))
                    memset(at, '_', strlen(ids[i]));
            FUZZ_CHECK(strstr(line, "=?") == NULL);
            free(line);
        }
        p = crlf + 2;
    }
}

/* Split the header section into headers; returns their count. */
static size_t parse_headers(const char *msg, header *h, size_t max, const char **body)
{
    const char *end = strstr(msg, "\r\n\r\n");
    size_t n = 0;
    FUZZ_CHECK(end != NULL);
    *body = end + 4;
    for (const char *line = msg; line < end + 2;) {
        const char *crlf = strstr(line, "\r\n");
        if (*line == ' ' || *line == '\t') {
            FUZZ_CHECK(n > 0); /* a continuation needs a header */
            size_t old = strlen(h[n - 1].value), add = (size_t)(crlf - line);
            h[n - 1].value = realloc(h[n - 1].value, old + add + 1);
            memcpy(h[n - 1].value + old, line, add);
            h[n - 1].value[old + add] = '\0';
        } else {
            const char *colon = memchr(line, ':', (size_t)(crlf - line));
            FUZZ_CHECK(colon != NULL && colon > line && (size_t)(colon - line) < sizeof(h->name));
            FUZZ_CHECK(n < max);
            memcpy(h[n].name, line, (size_t)(colon - line));
            h[n].name[colon - line] = '\0';
            const char *v = colon + 1;
            h[n].value = strndup(v, (size_t)(crlf - v));
            n++;
        }
        line = crlf + 2;
    }
    for (size_t i = 0; i < n; i++) {
        char *v = h[i].value, *s = v;
        while (*s == ' ')
            s++;
        memmove(v, s, strlen(s) + 1);
    }
    return n;
}

/* An unstructured value: as is when plain, else encoded words. */
static void check_unstructured(const char *value, const char *input)
{
    char *want = expect_clean(input, 0), *w = want, *got;
    if (strncmp(value, "=?UTF-8?B?", 10) == 0) {
        got = words_decode(value);
    } else {
        /* Plain: the blanks after the colon are the separator to a reader. */
        got = strdup(value);
        while (*w == ' ')
            w++;
    }
    if (strcmp(got, w) != 0)
        fprintf(stderr, "value [%s] decodes to [%s], want [%s]\n", value, got, w);
    FUZZ_CHECK(strcmp(got, w) == 0);
    free(got);
    free(want);
}

/* "addr" or "phrase <addr>" with the phrase an atom run, a quoted string or
 * encoded words; it decodes to the cleaned name without outer spaces. */
static void check_mailbox(const char *value, const char *name, const char *addr)
{
    char *want = expect_clean(name, 0), *w = want;
    while (*w == ' ')
        w++;
    size_t wl = strlen(w);
    while (wl > 0 && w[wl - 1] == ' ')
        w[--wl] = '\0';
    if (wl == 0) {
        FUZZ_CHECK(strcmp(value, addr) == 0);
        free(want);
        return;
    }
    size_t vl = strlen(value), al = strlen(addr);
    FUZZ_CHECK(vl > al + 3 && value[vl - 1] == '>' && value[vl - al - 2] == '<' &&
               value[vl - al - 3] == ' ' && strncmp(value + vl - al - 1, addr, al) == 0);
    char *phrase = strndup(value, vl - al - 3), *got;
    if (phrase[0] == '"') {
        size_t pl = strlen(phrase), o = 0;
        FUZZ_CHECK(pl >= 2 && phrase[pl - 1] == '"');
        got = malloc(pl);
        for (size_t i = 1; i < pl - 1; i++) {
            if (phrase[i] == '\\')
                i++;
            FUZZ_CHECK(i < pl - 1 && phrase[i] != '"' || phrase[i - 1] == '\\');
            got[o++] = phrase[i];
        }
        got[o] = '\0';
    } else if (strncmp(phrase, "=?", 2) == 0) {
        got = words_decode(phrase);
    } else {
        for (const char *p = phrase; *p; p++)
            FUZZ_CHECK(phrase_is_atoms((char[]){*p, 0}));
        got = strdup(phrase);
    }
    FUZZ_CHECK(strcmp(got, w) == 0);
    free(got);
    free(phrase);
    free(want);
}

static void check_body(const char *b64, const char *input)
{
    size_t n = strlen(b64), o = 0;
    char *got = malloc(n + 1), *want = expect_clean(input, 1);
    for (const char *p = b64; *p;) {
        const char *crlf = strstr(p, "\r\n");
        FUZZ_CHECK(crlf != NULL && crlf > p && crlf - p <= MIME_LINE_MAX);
        b64_decode(p, (size_t)(crlf - p), got, &o);
        p = crlf + 2;
    }
    got[o] = '\0';
    FUZZ_CHECK(o == strlen(want) && memcmp(got, want, o) == 0);
    free(got);
    free(want);
}

static void check_message(const mime_mail *m, const char *msg, size_t len)
{
    static const char *const ours[] = {
        "Date",          "From",         "To",           "Subject",
        "Message-ID",    "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
        "Auto-Submitted"};
    const size_t nours = sizeof(ours) / sizeof(ours[0]);
    header h[16];
    const char *body, *mid = m->message_id;
    size_t midlen = strlen(mid);
    char *bare = midlen >= 2 && mid[0] == '<' ? strndup(mid + 1, midlen - 2) : strdup(mid);
    check_lines(msg, len, m, bare);
    size_t n = parse_headers(msg, h, 16, &body);
    FUZZ_CHECK(n == nours + m->nheaders);
    for (size_t i = 0; i < nours; i++)
        FUZZ_CHECK(strcmp(h[i].name, ours[i]) == 0);
    check_mailbox(h[1].value, m->from_name, m->from_addr);
    check_mailbox(h[2].value, m->to_name, m->to_addr);
    check_unstructured(h[3].value, m->subject);
    FUZZ_CHECK(h[4].value[0] == '<' && strncmp(h[4].value + 1, bare, strlen(bare)) == 0);
    for (size_t i = 0; i < m->nheaders; i++) {
        FUZZ_CHECK(strcmp(h[nours + i].name, m->headers[i].name) == 0);
        check_unstructured(h[nours + i].value, m->headers[i].value);
    }
    check_body(body, m->body);
    for (size_t i = 0; i < n; i++)
        free(h[i].value);
    free(bare);
}

/* The mailbox parser: an accepted text gives a valid address and a name
 * without outer blanks that renders again. */
static void check_parse_mailbox(const char *text)
{
    char *name, *addr;
    if (mime_parse_mailbox(text, &name, &addr) != 0) {
        FUZZ_CHECK(name == NULL && addr == NULL);
        return;
    }
    FUZZ_CHECK(mime_addr_valid(addr));
    if (name) {
        size_t n = strlen(name);
        FUZZ_CHECK(n > 0);
    }
    mime_mail m = {
        .from_name = name, .from_addr = addr, .to_addr = addr, .message_id = "<x@y>", .date = 0};
    size_t len;
    char *msg = mime_build(&m, &len);
    FUZZ_CHECK(msg != NULL);
    check_message(&m, msg, len);
    free(msg);
    free(name);
    free(addr);
}

/* Input: a flags byte, 8 date bytes, then NUL-separated fields: from name,
 * to name, subject, body, [from addr], [to addr], [message id], then pairs
 * of extra header name and value. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 9)
        return 0;
    uint8_t flags = data[0];
    uint64_t d = 0;
    for (int i = 1; i < 9; i++)
        d = d << 8 | data[i];
    fuzz_split sp = {data + 9, data + size, '\0', 0};
    char *f[16] = {0};
    size_t nf = 0, len;
    while (nf < 16 && fuzz_split_next(&sp, &f[nf], &len))
        nf++;
    for (size_t i = nf; i < 16; i++)
        f[i] = strdup("");
    size_t k = 4;
    mime_header hs[3];
    mime_mail m = {
        .from_name = f[0],
        .to_name = f[1],
        .subject = f[2],
        .body = f[3],
        .from_addr = "noreply@epos.local",
        .to_addr = "maria@example.org",
        .message_id = "<absence.42.7@epos.local>",
        /* Mostly dates a mail can have; sometimes any 64-bit value. */
        .date = (flags & 8) ? (time_t)d : (time_t)(d & 0xFFFFFFFF),
        .headers = hs,
        .nheaders = (flags >> 4) & 3,
    };
    if (flags & 1)
        m.from_addr = f[k++];
    if (flags & 2)
        m.to_addr = f[k++];
    if (flags & 4)
        m.message_id = f[k++];
    for (size_t i = 0; i < m.nheaders; i++) {
        hs[i].name = f[k++];
        hs[i].value = f[k++];
    }
    char *msg = mime_build(&m, &len);
    if (msg)
        check_message(&m, msg, len);
    else
        FUZZ_CHECK(errno == EINVAL);
    free(msg);
    check_parse_mailbox(f[0]);
    for (size_t i = 0; i < 16; i++)
        free(f[i]);
    return 0;
}
