/* test_csv.c -- RFC 4180 CSV: quoting, line ends, the BOM, refusals, and a write-read round trip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "epos/csv.h"

static csv_table parse_ok(const char *text)
{
    csv_table t;
    char err[128] = "";
    int rc = csv_parse(text, strlen(text), &t, err, sizeof(err));
    if (rc != 0)
        fail_msg("csv_parse: %s", err);
    return t;
}

static void test_plain_and_quoted_fields(void **state)
{
    (void)state;
    csv_table t = parse_ok("sourcedId,name\r\nperm-1,\"МАДОУ «Детский сад № 101», г. Пермь\"\r\n"
                           "p-2,\"Он сказал \"\"да\"\"\"\r\n");
    assert_int_equal(t.nrows, 3);
    assert_int_equal(t.nfields[1], 2);
    assert_string_equal(t.rows[1][1], "МАДОУ «Детский сад № 101», г. Пермь");
    assert_string_equal(t.rows[2][1], "Он сказал \"да\"");
    csv_table_free(&t);
}

static void test_line_ends_bom_empty_fields(void **state)
{
    (void)state;
    /* A BOM, LF endings, an empty line, empty fields, no final line end. */
    csv_table t = parse_ok("\xEF\xBB\xBF"
                           "a,b,c\n\n,x,\n\"multi\nline\",\"\",last");
    assert_int_equal(t.nrows, 3);
    assert_string_equal(t.rows[0][0], "a");
    assert_int_equal(t.nfields[1], 3);
    assert_string_equal(t.rows[1][0], "");
    assert_string_equal(t.rows[1][2], "");
    assert_string_equal(t.rows[2][0], "multi\nline");
    assert_string_equal(t.rows[2][1], "");
    assert_string_equal(t.rows[2][2], "last");
    csv_table_free(&t);
}

static void test_bad_input_is_refused(void **state)
{
    (void)state;
    const char *bad[] = {
        "a,\"open\n", /* an unclosed quote */
        "a,\"x\"y\n", /* text after the closing quote */
        "a,b\"c\n",   /* a quote inside an unquoted field */
        "a\rb\n",     /* a bare CR */
        "a,\xC3(\n",  /* not UTF-8 */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        csv_table t;
        char err[128] = "";
        assert_int_equal(csv_parse(bad[i], strlen(bad[i]), &t, err, sizeof(err)), -1);
        assert_true(strlen(err) > 0);
        assert_int_equal(t.nrows, 0);
    }
    csv_table t;
    char err[128];
    const char nul[] = "a,b\0c\n";
    assert_int_equal(csv_parse(nul, sizeof(nul) - 1, &t, err, sizeof(err)), -1);
    /* Line numbers count the lines of quoted fields too. */
    const char *lines = "a\n\"b\nc\"\nd\"e\n";
    assert_int_equal(csv_parse(lines, strlen(lines), &t, err, sizeof(err)), -1);
    assert_string_equal(err, "line 4: a quote inside an unquoted field");
}

static void test_write_then_read(void **state)
{
    (void)state;
    const char *fields[] = {"plain", "with, comma", "\"quoted\"", "two\nlines", " edge ",
                            "",      "Ёлка"};
    size_t n = sizeof(fields) / sizeof(fields[0]);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    for (size_t i = 0; i < n; i++) {
        if (i)
            fputc(',', f);
        csv_write_field(f, fields[i]);
    }
    fputs("\r\n", f);
    fclose(f);
    csv_table t = parse_ok(buf);
    assert_int_equal(t.nrows, 1);
    assert_int_equal(t.nfields[0], n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(t.rows[0][i], fields[i]);
    csv_table_free(&t);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_quoted_fields),
        cmocka_unit_test(test_line_ends_bom_empty_fields),
        cmocka_unit_test(test_bad_input_is_refused),
        cmocka_unit_test(test_write_then_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
