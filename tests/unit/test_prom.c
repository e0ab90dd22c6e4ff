/* test_prom.c -- the Prometheus text every process renders: families,
 * escaped labels, cumulative histogram buckets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "epos/prom.h"

static void test_histogram(void **state)
{
    (void)state;
    prom_hist h = {0};
    prom_hist_observe(&h, 0.0002); /* first bucket */
    prom_hist_observe(&h, 0.003);  /* le 0.005 */
    prom_hist_observe(&h, 60);     /* only +Inf */
    prom_hist_observe(&h, -1);     /* a clock step back counts as 0 */
    prom_buf b = {0};
    prom_family(&b, "x_seconds", "histogram", "X.");
    prom_hist_render(&b, "x_seconds", "kind=\"a\"", &h);
    assert_false(b.oom);
    assert_non_null(strstr(b.s, "# HELP x_seconds X.\n# TYPE x_seconds histogram\n"));
    assert_non_null(strstr(b.s, "x_seconds_bucket{kind=\"a\",le=\"0.0005\"} 2\n"));
    assert_non_null(strstr(b.s, "x_seconds_bucket{kind=\"a\",le=\"0.0025\"} 2\n"));
    assert_non_null(strstr(b.s, "x_seconds_bucket{kind=\"a\",le=\"0.005\"} 3\n"));
    assert_non_null(strstr(b.s, "x_seconds_bucket{kind=\"a\",le=\"10\"} 3\n"));
    assert_non_null(strstr(b.s, "x_seconds_bucket{kind=\"a\",le=\"+Inf\"} 4\n"));
    assert_non_null(strstr(b.s, "x_seconds_count{kind=\"a\"} 4\n"));
    free(b.s);
}

static void test_labels_and_samples(void **state)
{
    (void)state;
    char lab[64] = "";
    assert_int_equal(prom_label(lab, sizeof(lab), "route", "/a\"b\\c\nd"), 0);
    assert_int_equal(prom_label(lab, sizeof(lab), "method", "GET"), 0);
    assert_string_equal(lab, "route=\"/a\\\"b\\\\c\\nd\",method=\"GET\"");
    char small[12] = "";
    assert_int_equal(prom_label(small, sizeof(small), "route", "/far/too/long"), -1);
    assert_string_equal(small, "");
    prom_buf b = {0};
    prom_counter(&b, "n_total", "N.", 12345678901.0);
    prom_sample(&b, "g", NULL, -3);
    assert_string_equal(b.s,
                        "# HELP n_total N.\n# TYPE n_total counter\nn_total 12345678901\ng -3\n");
    free(b.s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_labels_and_samples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
