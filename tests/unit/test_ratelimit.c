/* test_ratelimit.c -- token buckets by key: burst, refill, the wait it
 * reports, independent keys, bounded memory and the sweep of idle buckets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "hub/ratelimit.c"

static void test_burst_then_refill(void **state)
{
    ratelimit *rl = ratelimit_create(2, 5, 100); /* 2 per second, 5 deep */
    assert_non_null(rl);
    for (int i = 0; i < 5; i++)
        assert_int_equal(ratelimit_take(rl, "a", 1000), 0);
    /* Empty: the next token comes in 500 ms; a refused take takes nothing. */
    assert_int_equal(ratelimit_take(rl, "a", 1000), 500);
    assert_int_equal(ratelimit_take(rl, "a", 1000), 500);
    assert_int_equal(ratelimit_take(rl, "a", 1250), 250);
    assert_int_equal(ratelimit_take(rl, "a", 1500), 0);
    assert_int_equal(ratelimit_take(rl, "a", 1500), 500);
    /* Idle for long: full again, never more than the burst. */
    for (int i = 0; i < 5; i++)
        assert_int_equal(ratelimit_take(rl, "a", 100000), 0);
    assert_true(ratelimit_take(rl, "a", 100000) > 0);
    /* A clock that goes back changes nothing. */
    assert_true(ratelimit_take(rl, "a", 50) > 0);
    ratelimit_free(rl);
}

static void test_keys_are_independent(void **state)
{
    ratelimit *rl = ratelimit_create(1, 1, 100);
    assert_int_equal(ratelimit_take(rl, "10.0.0.1", 0), 0);
    assert_int_equal(ratelimit_take(rl, "10.0.0.1", 0), 1000);
    assert_int_equal(ratelimit_take(rl, "10.0.0.2", 0), 0);
    assert_int_equal(ratelimit_take(rl, "", 0), 0);
    assert_int_equal(ratelimit_count(rl), 3);
    ratelimit_free(rl);
}

static void test_memory_is_bounded(void **state)
{
    ratelimit *rl = ratelimit_create(1, 2, 64);
    char key[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(ratelimit_take(rl, key, 0), 0);
        assert_true(ratelimit_count(rl) <= 64);
    }
    /* The most recent keys are still there (their buckets are not full). */
    assert_int_equal(ratelimit_take(rl, "k9999", 0), 0);
    assert_int_equal(ratelimit_take(rl, "k9999", 0), 1000);
    ratelimit_free(rl);
}

static void test_sweep_forgets_idle_buckets(void **state)
{
    ratelimit *rl = ratelimit_create(1, 3, 100); /* full 3 s after the last take */
    ratelimit_take(rl, "old", 0);
    ratelimit_take(rl, "new", 2000);
    assert_int_equal(ratelimit_sweep(rl, 2999), 0);
    assert_int_equal(ratelimit_sweep(rl, 3000), 1);
    assert_int_equal(ratelimit_count(rl), 1);
    assert_int_equal(ratelimit_sweep(rl, 5000), 1);
    assert_int_equal(ratelimit_count(rl), 0);
    ratelimit_free(rl);
}

static void test_bad_arguments_and_retry_secs(void **state)
{
    assert_null(ratelimit_create(0, 5, 10));
    assert_null(ratelimit_create(1, 0, 10));
    assert_null(ratelimit_create(1, 1, 0));
    ratelimit_free(NULL);
    assert_int_equal(ratelimit_retry_secs(0), 1);
    assert_int_equal(ratelimit_retry_secs(1), 1);
    assert_int_equal(ratelimit_retry_secs(1000), 1);
    assert_int_equal(ratelimit_retry_secs(1001), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_refill),
        cmocka_unit_test(test_keys_are_independent),
        cmocka_unit_test(test_memory_is_bounded),
        cmocka_unit_test(test_sweep_forgets_idle_buckets),
        cmocka_unit_test(test_bad_arguments_and_retry_secs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
