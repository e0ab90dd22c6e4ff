/* mime.c -- build RFC 5322 / MIME text mail (UTF-8, RFC 2047 headers, base64 body). */
#include "mime.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A growing output buffer; err sticks after the first failed allocation so
 * callers check once at the end. */
typedef struct mime_buf {
    char *p;
    size_t len, cap;
    int err;
} mime_buf;

static const char mime_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* "=?UTF-8?B?" + "?=": the fixed part of one encoded word. */
#define MIME_WORD_OVERHEAD 12

static void buf_put(mime_buf *b, const char *s, size_t n)
{
    if (b->err)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->err = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_puts(mime_buf *b, const char *s)
{
    buf_put(b, s, strlen(s));
}

/* Base64 of n bytes, no line breaks. */
static void buf_put_base64(mime_buf *b, const unsigned char *s, size_t n)
{
    char q[4];
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
        q[0] = mime_b64[(v >> 18) & 63];
        q[1] = mime_b64[(v >> 12) & 63];
        q[2] = i + 1 < n ? mime_b64[(v >> 6) & 63] : '=';
        q[3] = i + 2 < n ? mime_b64[v & 63] : '=';
        buf_put(b, q, 4);
    }
}

/* Length of the well-formed UTF-8 character at p (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0 if it is not one. */
static size_t utf8_char_len(const unsigned char *p, size_t avail)
{
    unsigned char c = p[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4;
    else
        return 0;
    if (c == 0xE0)
        lo = 0xA0;
    else if (c == 0xED)
        hi = 0x9F;
    else if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    if (avail < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

/* A copy of s that is valid UTF-8 (bad bytes become U+FFFD). In a header
 * (body == 0) every control character becomes a space: that is what keeps a
 * CR or LF in a subject or a name from starting a header of its own. In a
 * body, line ends become CRLF. Returns NULL on out of memory. */
static char *text_clean(const char *s, int body, size_t *outlen)
{
    size_t n = s ? strlen(s) : 0, o = 0;
    if (n > (SIZE_MAX - 1) / 3)
        return NULL;
    char *out = malloc(3 * n + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            size_t cl = utf8_char_len((const unsigned char *)s + i, n - i);
            if (cl == 0) {
                memcpy(out + o, "\xEF\xBF\xBD", 3);
                o += 3;
                i++;
            } else {
                memcpy(out + o, s + i, cl);
                o += cl;
                i += cl;
            }
        } else if (body && (c == '\r' || c == '\n')) {
            out[o++] = '\r';
            out[o++] = '\n';
            i += (c == '\r' && s[i + 1] == '\n') ? 2 : 1;
        } else {
            out[o++] = (!body && (c < 0x20 || c == 0x7F)) ? ' ' : (char)c;
            i++;
        }
    }
    out[o] = '\0';
    if (outlen)
        *outlen = o;
    return out;
}

/* 1 when s is printable ASCII and holds nothing a reader could take for an
 * encoded word. */
static int text_is_plain(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p > 0x7E)
            return 0;
    return strstr(s, "=?") == NULL;
}

/* RFC 5322 atext, plus the space between the atoms of a phrase. */
static int phrase_is_atoms(const char *s)
{
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr(" !#$%&'*+-/=?^_`{|}~", *p)))
            return 0;
    return 1;
}

/* Write text as RFC 2047 B encoded words starting at column *col: each word
 * whole UTF-8 characters, each line at most MIME_LINE_MAX, the words of one
 * text separated by CRLF SP (decoders drop that whitespace). */
static void put_words(mime_buf *b, size_t *col, const char *text)
{
    const unsigned char *p = (const unsigned char *)text;
    const unsigned char *end = p + strlen(text);
    while (p < end) {
        size_t avail = MIME_LINE_MAX > *col ? MIME_LINE_MAX - *col : 0;
        size_t maxbytes = avail > MIME_WORD_OVERHEAD ? (avail - MIME_WORD_OVERHEAD) / 4 * 3 : 0;
        size_t take = 0;
        while (p + take < end) {
            size_t cl = utf8_char_len(p + take, (size_t)(end - p - take));
            if (cl == 0)
                cl = 1; /* cannot happen on cleaned text; never loop forever */
            if (take + cl > maxbytes)
                break;
            take += cl;
        }
        if (take > 0) {
            buf_puts(b, "=?UTF-8?B?");
            buf_put_base64(b, p, take);
            buf_puts(b, "?=");
            *col += MIME_WORD_OVERHEAD + (take + 2) / 3 * 4;
            p += take;
        }
        if (p < end) {
            buf_puts(b, "\r\n ");
            *col = 1;
        }
    }
}

/* "Name: " and its column. */
static size_t put_field_name(mime_buf *b, const char *name)
{
    buf_puts(b, name);
    buf_puts(b, ": ");
    return strlen(name) + 2;
}

/* An unstructured header (Subject, extras): as is when it is short plain
 * ASCII, else as encoded words. */
static int put_unstructured(mime_buf *b, const char *name, const char *value)
{
    char *text = text_clean(value, 0, NULL);
    if (!text)
        return -1;
    size_t col = put_field_name(b, name);
    if (text_is_plain(text) && col + strlen(text) <= MIME_LINE_MAX)
        buf_puts(b, text);
    else
        put_words(b, &col, text);
    buf_puts(b, "\r\n");
    free(text);
    return 0;
}

/* The display name of a mailbox: atoms as is, other plain ASCII as a quoted
 * string, anything else (or too long for the line) as encoded words. */
static void put_phrase(mime_buf *b, size_t *col, const char *name)
{
    size_t n = strlen(name), quotes = 0;
    for (const char *p = name; *p; p++)
        quotes += (*p == '"' || *p == '\\');
    if (text_is_plain(name) && phrase_is_atoms(name) && *col + n <= MIME_LINE_MAX) {
        buf_puts(b, name);
        *col += n;
    } else if (text_is_plain(name) && *col + n + quotes + 2 <= MIME_LINE_MAX) {
        buf_puts(b, "\"");
        for (const char *p = name; *p; p++) {
            if (*p == '"' || *p == '\\')
                buf_puts(b, "\\");
            buf_put(b, p, 1);
        }
        buf_puts(b, "\"");
        *col += n + quotes + 2;
    } else {
        put_words(b, col, name);
    }
}

/* A mailbox header: "addr" or "name <addr>", the address folded onto its own
 * line when it would pass the line limit. */
static int put_mailbox(mime_buf *b, const char *field, const char *name, const char *addr)
{
    char *clean = text_clean(name, 0, NULL);
    if (!clean)
        return -1;
    /* Spaces at either end carry nothing and would only confuse folding. */
    char *s = clean;
    while (*s == ' ')
        s++;
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == ' ')
        s[--n] = '\0';
    size_t col = put_field_name(b, field);
    if (n == 0) {
        buf_puts(b, addr);
    } else {
        put_phrase(b, &col, s);
        buf_puts(b, col + strlen(addr) + 3 > MIME_LINE_MAX ? "\r\n <" : " <");
        buf_puts(b, addr);
        buf_puts(b, ">");
    }
    buf_puts(b, "\r\n");
    free(clean);
    return 0;
}

/* Characters of an addr-spec or msg-id we accept: printable ASCII without
 * space and without the specials that would change a header's structure. */
static int id_char_ok(unsigned char c)
{
    return c > 0x20 && c < 0x7F && !strchr("<>()[]\\,;:\"", c);
}

/* 1 when s[0..n) is "left@right" of id_char_ok characters. */
static int addr_span_valid(const char *s, size_t n)
{
    size_t at = n;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '@') {
            if (at != n)
                return 0;
            at = i;
        } else if (!id_char_ok((unsigned char)s[i])) {
            return 0;
        }
    }
    return at > 0 && at < n - 1;
}

int mime_addr_valid(const char *addr)
{
    if (!addr)
        return 0;
    size_t n = strlen(addr);
    return n <= 254 && addr_span_valid(addr, n);
}

/* The msg-id without its angle brackets (pointer and length), or -1 if
 * malformed. */
static int message_id_span(const char *mid, const char **id, size_t *n)
{
    if (!mid)
        return -1;
    size_t len = strlen(mid);
    if (len >= 2 && mid[0] == '<' && mid[len - 1] == '>') {
        mid++;
        len -= 2;
    }
    if (len > 250 || !addr_span_valid(mid, len))
        return -1;
    *id = mid;
    *n = len;
    return 0;
}

/* Extra header names must be field names and must not replace ours. */
static int header_name_ok(const char *name)
{
    static const char *const reserved[] = {
        "From",       "To",           "Cc",     "Bcc",         "Subject",  "Date",
        "Message-ID", "MIME-Version", "Sender", "Return-Path", "Received", "Auto-Submitted",
    };
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] <= 0x20 || (unsigned char)name[i] >= 0x7F || name[i] == ':')
            return 0;
    if (strncasecmp(name, "Content-", 8) == 0)
        return 0;
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strcasecmp(name, reserved[i]) == 0)
            return 0;
    return 1;
}

int mime_format_date(time_t t, char *buf, size_t len)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0)
        return -1;
    int n =
        snprintf(buf, len, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
                 months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return n < 0 || (size_t)n >= len ? -1 : n;
}

/* The body: canonical CRLF text, base64 in lines of MIME_LINE_MAX. */
static int put_body(mime_buf *b, const char *body)
{
    size_t n;
    char *text = text_clean(body, 1, &n);
    if (!text)
        return -1;
    const size_t per_line = MIME_LINE_MAX / 4 * 3;
    for (size_t i = 0; i < n; i += per_line) {
        buf_put_base64(b, (const unsigned char *)text + i, n - i < per_line ? n - i : per_line);
        buf_puts(b, "\r\n");
    }
    free(text);
    return 0;
}

static int put_headers(mime_buf *b, const mime_mail *m, const char *date, const char *mid,
                       size_t midlen)
{
    buf_puts(b, "Date: ");
    buf_puts(b, date);
    buf_puts(b, "\r\n");
    if (put_mailbox(b, "From", m->from_name, m->from_addr) < 0 ||
        put_mailbox(b, "To", m->to_name, m->to_addr) < 0 ||
        put_unstructured(b, "Subject", m->subject) < 0)
        return -1;
    buf_puts(b, "Message-ID: <");
    buf_put(b, mid, midlen);
    buf_puts(b, ">\r\nMIME-Version: 1.0\r\n"
                "Content-Type: text/plain; charset=UTF-8\r\n"
                "Content-Transfer-Encoding: base64\r\n"
                "Auto-Submitted: auto-generated\r\n");
    for (size_t i = 0; i < m->nheaders; i++)
        if (put_unstructured(b, m->headers[i].name, m->headers[i].value) < 0)
            return -1;
    return 0;
}

char *mime_build(const mime_mail *m, size_t *len)
{
    mime_buf b = {0};
    char date[40];
    const char *mid;
    size_t midlen;
    if (!m || !mime_addr_valid(m->from_addr) || !mime_addr_valid(m->to_addr) ||
        message_id_span(m->message_id, &mid, &midlen) < 0 || (m->nheaders && !m->headers))
        goto invalid;
    for (size_t i = 0; i < m->nheaders; i++)
        if (!header_name_ok(m->headers[i].name))
            goto invalid;
    if (mime_format_date(m->date, date, sizeof(date)) < 0)
        goto invalid;
    if (put_headers(&b, m, date, mid, midlen) < 0)
        goto fail;
    buf_puts(&b, "\r\n");
    if (put_body(&b, m->body) < 0 || b.err)
        goto fail;
    if (len)
        *len = b.len;
    return b.p;
invalid:
    errno = EINVAL;
    return NULL;
fail:
    free(b.p);
    errno = ENOMEM;
    return NULL;
}

/* Drop one pair of surrounding double quotes and the backslashes of a
 * quoted string, in place. */
static void phrase_unquote(char *s)
{
    size_t n = strlen(s);
    if (n < 2 || s[0] != '"' || s[n - 1] != '"')
        return;
    char *o = s;
    for (size_t i = 1; i < n - 1; i++) {
        if (s[i] == '\\' && i + 1 < n - 1)
            i++;
        *o++ = s[i];
    }
    *o = '\0';
}

static char *span_dup_trimmed(const char *s, size_t n)
{
    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

int mime_parse_mailbox(const char *text, char **name, char **addr)
{
    *name = *addr = NULL;
    if (!text)
        return -1;
    char *t = span_dup_trimmed(text, strlen(text));
    if (!t)
        return -1;
    size_t n = strlen(t);
    char *lt = strrchr(t, '<');
    if (n > 0 && t[n - 1] == '>' && lt) {
        t[n - 1] = '\0';
        *addr = span_dup_trimmed(lt + 1, strlen(lt + 1));
        *name = span_dup_trimmed(t, (size_t)(lt - t));
        if (*name) {
            phrase_unquote(*name);
            if (**name == '\0') {
                free(*name);
                *name = NULL;
            }
        }
    } else {
        *addr = span_dup_trimmed(t, n);
    }
    free(t);
    if (!mime_addr_valid(*addr)) {
        free(*name);
        free(*addr);
        *name = *addr = NULL;
        return -1;
    }
    return 0;
}
