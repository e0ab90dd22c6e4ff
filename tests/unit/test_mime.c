/* test_mime.c -- the mail builder: words decode back, short lines, no header injection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "workers/mime.c"

/* --- an independent decoder, so the test does not trust the encoder --- */

static int b64_val(char c)
{
    const char *p = strchr(mime_b64, c);
    return c && p ? (int)(p - mime_b64) : -1;
}

/* Decode base64 (line breaks skipped) into a malloc'd string. */
static char *b64_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    assert_non_null(out);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r' || s[i] == '\n' || s[i] == '=')
            continue;
        int v = b64_val(s[i]);
        assert_true(v >= 0);
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xFF);
        }
    }
    out[o] = '\0';
    return out;
}

/* RFC 2047 decode of an unfolded header value: B words in UTF-8; the
 * whitespace between two adjacent encoded words is dropped. */
static char *words_decode(const char *v)
{
    char *out = calloc(1, strlen(v) * 2 + 1);
    size_t o = 0;
    int last_word = 0;
    const char *p = v;
    assert_non_null(out);
    while (*p) {
        const char *ws = p;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncmp(p, "=?UTF-8?B?", 10) == 0) {
            const char *end = strstr(p + 10, "?=");
            assert_non_null(end);
            if (!last_word) {
                memcpy(out + o, ws, (size_t)(p - ws));
                o += (size_t)(p - ws);
            }
            char *d = b64_decode(p + 10, (size_t)(end - p - 10));
            strcpy(out + o, d);
            o += strlen(d);
            free(d);
            p = end + 2;
            last_word = 1;
        } else {
            memcpy(out + o, ws, (size_t)(p - ws));
            o += (size_t)(p - ws);
            while (*p && *p != ' ' && *p != '\t')
                out[o++] = *p++;
            last_word = 0;
        }
    }
    out[o] = '\0';
    return out;
}

/* The unfolded value of header `name` in msg (first occurrence), or NULL. */
static char *header_get(const char *msg, const char *name)
{
    size_t n = strlen(name);
    const char *end = strstr(msg, "\r\n\r\n");
    for (const char *line = msg; line && line < end;) {
        if (strncmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ')
                v++;
            char *out = calloc(1, strlen(v) + 1);
            size_t o = 0;
            for (;;) {
                if (v[0] == '\r' && v[1] == '\n') {
                    if (v[2] != ' ' && v[2] != '\t')
                        break;
                    v += 2; /* unfold: CRLF goes, the WSP stays */
                    continue;
                }
                out[o++] = *v++;
            }
            return out;
        }
        line = strstr(line, "\r\n");
        if (line)
            line += 2;
    }
    return NULL;
}

static char *header_decoded(const char *msg, const char *name)
{
    char *raw = header_get(msg, name);
    if (!raw)
        return NULL;
    char *d = words_decode(raw);
    free(raw);
    return d;
}

/* Header `name` of msg is `expect`, unfolded; decoded from encoded words
 * when `decode`. */
static void expect_header(const char *msg, const char *name, const char *expect, int decode)
{
    char *v = decode ? header_decoded(msg, name) : header_get(msg, name);
    assert_non_null(v);
    assert_string_equal(v, expect);
    free(v);
}

/* Every line ends in CRLF, none longer than MIME_LINE_MAX, no bare CR or LF,
 * every encoded word at most 75 characters. */
static void check_lines(const char *msg)
{
    const char *p = msg;
    while (*p) {
        const char *crlf = strstr(p, "\r\n");
        assert_non_null(crlf);
        for (const char *q = p; q < crlf; q++)
            assert_true(*q != '\r' && *q != '\n');
        assert_true((size_t)(crlf - p) <= MIME_LINE_MAX);
        p = crlf + 2;
    }
    for (p = strstr(msg, "=?UTF-8?B?"); p; p = strstr(p + 2, "=?UTF-8?B?")) {
        const char *e = strstr(p + 10, "?=");
        assert_non_null(e);
        assert_true(e + 2 - p <= 75);
    }
}

/* Header names in the header section, in order, one line each. */
static int header_count(const char *msg)
{
    int n = 0;
    const char *end = strstr(msg, "\r\n\r\n");
    for (const char *line = msg; line <= end; line = strstr(line, "\r\n") + 2)
        if (*line != ' ' && *line != '\t')
            n++;
    return n;
}

static mime_mail base_mail(void)
{
    mime_mail m = {
        .from_name = "ЭПОС",
        .from_addr = "noreply@epos.local",
        .to_name = "Иванова Мария Петровна",
        .to_addr = "maria@example.org",
        .subject = "Уведомление об отсутствии",
        .body = "Здравствуйте!\nВаш ребёнок отмечен отсутствующим.\n",
        .message_id = "<absence.42.7@epos.local>",
        .date = 1770123600, /* 2026-02-03 13:00:00 UTC, a Tuesday */
    };
    return m;
}

static void test_build_decodes_back(void **state)
{
    mime_mail m = base_mail();
    size_t len = 0;
    char *msg = mime_build(&m, &len);
    assert_non_null(msg);
    assert_int_equal(len, strlen(msg));
    check_lines(msg);

    expect_header(msg, "Subject", "Уведомление об отсутствии", 1);
    expect_header(msg, "To", "Иванова Мария Петровна <maria@example.org>", 1);
    expect_header(msg, "From", "ЭПОС <noreply@epos.local>", 1);
    expect_header(msg, "Date", "Tue, 03 Feb 2026 13:00:00 +0000", 0);
    expect_header(msg, "Message-ID", "<absence.42.7@epos.local>", 0);
    expect_header(msg, "Content-Type", "text/plain; charset=UTF-8", 0);
    expect_header(msg, "Content-Transfer-Encoding", "base64", 0);
    expect_header(msg, "MIME-Version", "1.0", 0);

    const char *body = strstr(msg, "\r\n\r\n") + 4;
    char *text = b64_decode(body, strlen(body));
    assert_string_equal(text, "Здравствуйте!\r\nВаш ребёнок отмечен отсутствующим.\r\n");
    free(text);
    free(msg);
}

static void test_long_subject_folds(void **state)
{
    mime_mail m = base_mail();
    char subject[2048] = "";
    for (int i = 0; i < 20; i++)
        strcat(subject, "Напоминание: табель группы «Солнышко» не заполнен. ");
    m.subject = subject;
    m.to_name = "Константинопольская-Щербатова Анастасия-Александра Вячеславовна";
    char *msg = mime_build(&m, NULL);
    assert_non_null(msg);
    check_lines(msg);
    expect_header(msg, "Subject", subject, 1);
    expect_header(msg, "To",
                  "Константинопольская-Щербатова Анастасия-Александра Вячеславовна "
                  "<maria@example.org>",
                  1);
    free(msg);
}

static void test_ascii_headers_stay_readable(void **state)
{
    mime_mail m = base_mail();
    m.subject = "Timesheet reminder";
    m.to_name = "Ivanova, Maria \"Masha\"";
    m.from_name = "EPOS";
    char *msg = mime_build(&m, NULL);
    assert_non_null(msg);
    check_lines(msg);
    expect_header(msg, "Subject", "Timesheet reminder", 0);
    expect_header(msg, "To", "\"Ivanova, Maria \\\"Masha\\\"\" <maria@example.org>", 0);
    expect_header(msg, "From", "EPOS <noreply@epos.local>", 0);
    free(msg);

    m.to_name = NULL;
    m.subject = "looks like =?UTF-8?B?0J8=?= but is not";
    msg = mime_build(&m, NULL);
    expect_header(msg, "To", "maria@example.org", 0);
    expect_header(msg, "Subject", "looks like =?UTF-8?B?0J8=?= but is not", 1);
    free(msg);
}

static void test_no_header_injection(void **state)
{
    mime_mail m = base_mail();
    m.subject = "Привет\r\nBcc: victim@example.org\r\n\r\nfake body";
    m.to_name = "Мария\r\nX-Evil: 1";
    m.from_name = "Bob\nReply-To: evil@example.org";
    mime_header extra[] = {{"X-EPOS-Kind", "absence\r\nBcc: x@example.org"}};
    m.headers = extra;
    m.nheaders = 1;
    char *msg = mime_build(&m, NULL);
    assert_non_null(msg);
    check_lines(msg);
    /* Date From To Subject Message-ID MIME-Version Content-Type
     * Content-Transfer-Encoding Auto-Submitted X-EPOS-Kind */
    assert_int_equal(header_count(msg), 10);
    assert_null(header_get(msg, "Bcc"));
    assert_null(header_get(msg, "X-Evil"));
    assert_null(header_get(msg, "Reply-To"));
    expect_header(msg, "Subject", "Привет  Bcc: victim@example.org    fake body", 1);
    expect_header(msg, "X-EPOS-Kind", "absence  Bcc: x@example.org", 1);
    free(msg);
}

static void test_rejects_bad_input(void **state)
{
    mime_mail m = base_mail();
    const char *bad_addr[] = {NULL,
                              "",
                              "maria",
                              "@example.org",
                              "maria@",
                              "a@b@c",
                              "maria@example.org\r\nBcc: x@y",
                              "ma ria@example.org",
                              "<maria@example.org>",
                              "мария@example.org",
                              "a,b@example.org"};
    for (size_t i = 0; i < sizeof(bad_addr) / sizeof(bad_addr[0]); i++) {
        m.to_addr = bad_addr[i];
        assert_null(mime_build(&m, NULL));
    }
    m = base_mail();
    const char *bad_mid[] = {NULL, "", "<>", "<no-at-sign>", "<a@b>\r\nBcc: x@y", "<a b@c>"};
    for (size_t i = 0; i < sizeof(bad_mid) / sizeof(bad_mid[0]); i++) {
        m.message_id = bad_mid[i];
        assert_null(mime_build(&m, NULL));
    }
    m = base_mail();
    const char *bad_name[] = {"",    "X Kind",       "X-Kind:",    "X-Kind\r\nBcc",
                              "bcc", "content-type", "Message-Id", "X-Кind"};
    for (size_t i = 0; i < sizeof(bad_name) / sizeof(bad_name[0]); i++) {
        mime_header h = {bad_name[i], "v"};
        m.headers = &h;
        m.nheaders = 1;
        assert_null(mime_build(&m, NULL));
    }
}

static void test_message_id_forms(void **state)
{
    mime_mail m = base_mail();
    m.message_id = "digest.2026-02-03.7@epos.local";
    char *msg = mime_build(&m, NULL);
    expect_header(msg, "Message-ID", "<digest.2026-02-03.7@epos.local>", 0);
    free(msg);
}

static void test_invalid_utf8_replaced(void **state)
{
    mime_mail m = base_mail();
    m.subject = "a\xff"
                "b\xd0";                       /* stray byte, truncated sequence */
    m.body = "x\xc0\xafy\xed\xa0\x80z\r\rend"; /* overlong '/', a surrogate, CR CR */
    char *msg = mime_build(&m, NULL);
    assert_non_null(msg);
    expect_header(msg, "Subject",
                  "a\xEF\xBF\xBD"
                  "b\xEF\xBF\xBD",
                  1);
    const char *body = strstr(msg, "\r\n\r\n") + 4;
    char *text = b64_decode(body, strlen(body));
    assert_string_equal(text, "x\xEF\xBF\xBD\xEF\xBF\xBDy\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDz"
                              "\r\n\r\nend");
    free(text);
    free(msg);
}

static void test_long_body_lines(void **state)
{
    mime_mail m = base_mail();
    char *body = malloc(100001);
    for (int i = 0; i < 100000; i++)
        body[i] = "абв\nг"[i % 9];
    body[100000] = '\0';
    m.body = body;
    m.subject = "";
    char *msg = mime_build(&m, NULL);
    assert_non_null(msg);
    check_lines(msg);
    free(msg);
    free(body);

    m.body = NULL;
    msg = mime_build(&m, NULL);
    assert_non_null(msg);
    assert_non_null(strstr(msg, "\r\n\r\n"));
    assert_string_equal(strstr(msg, "\r\n\r\n"), "\r\n\r\n");
    free(msg);
}

static void test_extra_headers(void **state)
{
    mime_mail m = base_mail();
    mime_header extra[] = {{"X-EPOS-Kind", "timesheet.reminder"},
                           {"X-EPOS-Group", "Группа «Солнышко»"}};
    m.headers = extra;
    m.nheaders = 2;
    char *msg = mime_build(&m, NULL);
    assert_non_null(msg);
    check_lines(msg);
    expect_header(msg, "X-EPOS-Kind", "timesheet.reminder", 0);
    expect_header(msg, "X-EPOS-Group", "Группа «Солнышко»", 1);
    free(msg);
}

static void test_format_date(void **state)
{
    char buf[40];
    assert_int_equal(mime_format_date(0, buf, sizeof(buf)), 31);
    assert_string_equal(buf, "Thu, 01 Jan 1970 00:00:00 +0000");
    assert_int_equal(mime_format_date(951782400, buf, sizeof(buf)), 31);
    assert_string_equal(buf, "Tue, 29 Feb 2000 00:00:00 +0000");
    assert_int_equal(mime_format_date(0, buf, 10), -1);
}

static void test_parse_mailbox(void **state)
{
    char *name, *addr;
    assert_int_equal(mime_parse_mailbox("ЭПОС <noreply@epos.local>", &name, &addr), 0);
    assert_string_equal(name, "ЭПОС");
    assert_string_equal(addr, "noreply@epos.local");
    free(name);
    free(addr);
    assert_int_equal(mime_parse_mailbox(" \"Doe, \\\"J\\\"\"  < j@x.org > ", &name, &addr), 0);
    assert_string_equal(name, "Doe, \"J\"");
    assert_string_equal(addr, "j@x.org");
    free(name);
    free(addr);
    assert_int_equal(mime_parse_mailbox("j@x.org", &name, &addr), 0);
    assert_null(name);
    assert_string_equal(addr, "j@x.org");
    free(addr);
    assert_int_equal(mime_parse_mailbox("<j@x.org>", &name, &addr), 0);
    assert_null(name);
    free(addr);
    assert_int_equal(mime_parse_mailbox("Name <bad address>", &name, &addr), -1);
    assert_null(name);
    assert_null(addr);
    assert_int_equal(mime_parse_mailbox("", &name, &addr), -1);
    assert_int_equal(mime_parse_mailbox(NULL, &name, &addr), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_decodes_back),
        cmocka_unit_test(test_long_subject_folds),
        cmocka_unit_test(test_ascii_headers_stay_readable),
        cmocka_unit_test(test_no_header_injection),
        cmocka_unit_test(test_rejects_bad_input),
        cmocka_unit_test(test_message_id_forms),
        cmocka_unit_test(test_invalid_utf8_replaced),
        cmocka_unit_test(test_long_body_lines),
        cmocka_unit_test(test_extra_headers),
        cmocka_unit_test(test_format_date),
        cmocka_unit_test(test_parse_mailbox),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
