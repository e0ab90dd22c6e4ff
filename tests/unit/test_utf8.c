/* test_utf8.c -- cutting UTF-8 text between characters: previews and truncated buffers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "epos/jsonx.h"
#include "epos/utf8.h"

static void test_cut_keeps_whole_characters(void **state)
{
    (void)state;
    const char *s = "aЖ€😀b"; /* 1 + 2 + 3 + 4 + 1 bytes */
    size_t len = strlen(s);
    assert_int_equal(len, 11);
    /* Every cut point gives a valid prefix, as long as it can be. */
    size_t want[12] = {0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10, 11};
    for (size_t max = 0; max <= len; max++) {
        size_t n = utf8_cut(s, len, max);
        assert_int_equal(n, want[max]);
        assert_true(jsonx_utf8_valid(s, n));
    }
    assert_int_equal(utf8_cut(s, len, 1000), len);
}

static void test_cut_a_cyrillic_preview(void **state)
{
    (void)state;
    char buf[700];
    size_t at = (size_t)snprintf(buf, sizeof(buf), "{\"requires\": \"x");
    while (at + 2 < sizeof(buf))
        at += (size_t)snprintf(buf + at, sizeof(buf) - at, "Ж");
    for (size_t max = 290; max < 310; max++) {
        size_t n = utf8_cut(buf, strlen(buf), max);
        assert_true(n == max || n == max - 1);
        assert_true(jsonx_utf8_valid(buf, n));
    }
}

static void test_trim_after_snprintf(void **state)
{
    (void)state;
    char buf[] = "abЖЖ\xd0"; /* what snprintf leaves of "abЖЖЖ" in 8 bytes */
    assert_false(jsonx_utf8_valid(buf, strlen(buf)));
    utf8_trim(buf);
    assert_string_equal(buf, "abЖЖ");
    utf8_trim(NULL);
    char whole[] = "ok Ж";
    utf8_trim(whole);
    assert_string_equal(whole, "ok Ж");
    /* Invalid bytes are left as they are, never cut further than needed. */
    char junk[] = "a\x80\x80\x80\x80";
    utf8_trim(junk);
    assert_int_equal(strlen(junk), 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cut_keeps_whole_characters),
        cmocka_unit_test(test_cut_a_cyrillic_preview),
        cmocka_unit_test(test_trim_after_snprintf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
