/* test_core.c -- dict, JSON helpers, UTF-8 checks, passwords and tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "epos/auth.h"
#include "epos/dict.h"
#include "epos/jsonx.h"

static int count_cb(const char *key, void *val, void *arg)
{
    (*(int *)arg)++;
    return 0;
}

static void test_dict(void **state)
{
    dict *d = dict_create();
    char key[32];
    for (long i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "topic:%ld", i);
        assert_int_equal(dict_set(d, key, (void *)(i + 1)), 0);
    }
    assert_int_equal(d->used, 5000);
    assert_ptr_equal(dict_get(d, "topic:4321"), (void *)4322);
    assert_null(dict_get(d, "topic:5000"));
    assert_ptr_equal(dict_del(d, "topic:0"), (void *)1);
    assert_null(dict_del(d, "topic:0"));
    dict_set(d, "topic:1", (void *)99);
    assert_ptr_equal(dict_get(d, "topic:1"), (void *)99);
    int n = 0;
    dict_foreach(d, count_cb, &n);
    assert_int_equal(n, 4999);
    dict_free(d);
}

static void test_json(void **state)
{
    char err[128];
    const char *s;
    long long i;
    int b;
    const char *src = "{\"op\":\"send\",\"chat\":42,\"x\":true,\"n\":null}";
    json_t *o = jsonx_parse_object(src, strlen(src), err, sizeof(err));
    assert_non_null(o);
    assert_int_equal(jsonx_str(o, "op", &s), 0);
    assert_string_equal(s, "send");
    assert_int_equal(jsonx_int(o, "chat", &i), 0);
    assert_int_equal(i, 42);
    assert_int_equal(jsonx_str(o, "chat", &s), -2); /* wrong type */
    assert_int_equal(jsonx_int(o, "missing", &i), -1);
    assert_int_equal(jsonx_int(o, "n", &i), -1); /* null is missing */
    assert_int_equal(jsonx_bool(o, "x", &b), 0);
    assert_true(b);
    char *text = jsonx_dump(o);
    assert_non_null(strstr(text, "\"chat\":42"));
    free(text);
    json_decref(o);
    assert_null(jsonx_parse_object("{\"op\":", 6, err, sizeof(err)));
    assert_non_null(strstr(err, "malformed JSON"));
    assert_null(jsonx_parse_object("[1,2]", 5, err, sizeof(err)));
    assert_non_null(strstr(err, "object"));
    assert_null(jsonx_parse_object("{\"a\":1,\"a\":2}", 13, err, sizeof(err)));
    assert_null(jsonx_parse_object("{\"a\":\"\xff\"}", 9, err, sizeof(err)));
}

static void test_utf8(void **state)
{
    const char *ru = "Привет, мир";
    assert_true(jsonx_utf8_valid(ru, strlen(ru)));
    assert_int_equal(jsonx_utf8_len(ru, strlen(ru)), 11);
    assert_false(jsonx_utf8_valid("\xc3", 1));             /* truncated */
    assert_false(jsonx_utf8_valid("\xc0\xaf", 2));         /* overlong */
    assert_false(jsonx_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(jsonx_utf8_valid("\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
    assert_false(jsonx_utf8_valid("a\0b", 3));             /* NUL */
    assert_true(jsonx_utf8_valid("\xf0\x9f\x98\x80", 4));  /* emoji */
}

static void test_password(void **state)
{
    char hash[256];
    assert_int_equal(auth_hash_password("correct horse", hash, sizeof(hash)), 0);
    assert_memory_equal(hash, "$y$", 3);
    assert_true(auth_verify_password("correct horse", hash));
    assert_false(auth_verify_password("correct horsE", hash));
    assert_false(auth_verify_password("x", "not a hash"));
    char other[256];
    auth_hash_password("correct horse", other, sizeof(other));
    assert_string_not_equal(hash, other); /* fresh salt each time */
}

/* Found by tests/fuzz/fuzz_token.c: fields up to INT64_MAX verify (the
 * overflow guard refused the top nine values of each field), one past fails. */
static void test_token_limits(void **state)
{
    char tok[256];
    long long uid = 0, sid = 0;
    assert_int_equal(auth_token_make("s3cret", INT64_MAX, INT64_MAX, INT64_MAX, tok, sizeof(tok)),
                     0);
    assert_int_equal(auth_token_check("s3cret", tok, 1700000000, &uid, &sid), 0);
    assert_true(uid == INT64_MAX && sid == INT64_MAX);
    assert_int_equal(
        auth_token_make("s3cret", 9223372036854775800LL, 1, 2000000000, tok, sizeof(tok)), 0);
    assert_int_equal(auth_token_check("s3cret", tok, 1700000000, &uid, &sid), 0);
    assert_true(uid == 9223372036854775800LL && sid == 1);
    assert_int_equal(
        auth_token_check("s3cret", "9223372036854775808.1.2000000000.x", 0, &uid, &sid), -1);
}

static void test_tokens(void **state)
{
    char tok[256];
    long long uid = 0, sid = 0;
    assert_int_equal(auth_token_make("s3cret", 17, 5, 2000000000, tok, sizeof(tok)), 0);
    assert_int_equal(auth_token_check("s3cret", tok, 1700000000, &uid, &sid), 0);
    assert_int_equal(uid, 17);
    assert_int_equal(sid, 5);
    assert_int_equal(auth_token_check("s3cret", tok, 2000000001, &uid, &sid), -2); /* expired */
    assert_int_equal(auth_token_check("other", tok, 1700000000, &uid, &sid), -1);
    tok[0] = '1'; /* another user, same signature */
    tok[1] = '8';
    assert_int_equal(auth_token_check("s3cret", tok, 1700000000, &uid, &sid), -1);
    assert_int_equal(auth_token_check("s3cret", "1.2.3", 0, &uid, &sid), -1);
    assert_int_equal(auth_token_check("s3cret", "", 0, &uid, &sid), -1);
    assert_int_equal(auth_token_check("s3cret", "99999999999999999999.1.1.x", 0, &uid, &sid), -1);
    assert_int_equal(auth_token_make("", 1, 1, 1, tok, sizeof(tok)), -1); /* no secret */
    char r1[33], r2[33];
    assert_int_equal(auth_random_text(r1, 32), 0);
    auth_random_text(r2, 32);
    assert_int_equal(strlen(r1), 32);
    assert_string_not_equal(r1, r2);
}

static void test_secret_digest(void **state)
{
    char d[65];
    /* SHA-256("abc"), FIPS 180-2 appendix B.1 */
    assert_int_equal(auth_secret_digest("abc", d, sizeof(d)), 0);
    assert_string_equal(d, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(auth_secret_digest("abc", d, 64), -1);
    assert_int_equal(auth_secret_digest(NULL, d, sizeof(d)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dict),   cmocka_unit_test(test_json),
        cmocka_unit_test(test_utf8),   cmocka_unit_test(test_password),
        cmocka_unit_test(test_tokens), cmocka_unit_test(test_token_limits),
        cmocka_unit_test(test_secret_digest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
