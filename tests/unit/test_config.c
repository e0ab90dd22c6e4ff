/* test_config.c -- defaults, the key = value file, EPOS_* overrides, and the
 * one-line errors a bad value gives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "epos/config.h"

static char path[64];

static void write_file(const char *text)
{
    snprintf(path, sizeof(path), "/tmp/epos-test-config-%d.conf", (int)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_defaults(void **state)
{
    epos_config c;
    char err[256];
    unsetenv("EPOS_PORT");
    assert_int_equal(config_load(&c, NULL, err, sizeof(err)), 0);
    assert_int_equal(c.port, 8080);
    assert_int_equal(c.max_frame, 65536);
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.replay_window, 500);
    config_free(&c);
}

static void test_file_then_env(void **state)
{
    epos_config c;
    char err[256];
    write_file("# comment\nport = 9090\n  web_root = \"/srv/web\"  \nredis_port=7000\n\n");
    setenv("EPOS_REDIS_PORT", "7001", 1);
    assert_int_equal(config_load(&c, path, err, sizeof(err)), 0);
    assert_int_equal(c.port, 9090);
    assert_string_equal(c.web_root, "/srv/web");
    assert_int_equal(c.redis_port, 7001); /* the environment wins */
    config_free(&c);
    unsetenv("EPOS_REDIS_PORT");
    unlink(path);
}

/* redis_sentinels: numeric host:port entries and a master name, or a clear
 * error naming the key. */
static void test_sentinels(void **state)
{
    epos_config c;
    char err[256];
    write_file("redis_sentinels = 127.0.0.1:26379, 10.0.0.2:26380,::1:26381\n");
    assert_int_equal(config_load(&c, path, err, sizeof(err)), 0);
    assert_string_equal(c.redis_master_name, "epos");
    config_free(&c);
    static const char *const bad[][2] = {
        {"redis_sentinels = 127.0.0.1\n", "redis_sentinels"},
        {"redis_sentinels = 127.0.0.1:0\n", "redis_sentinels"},
        {"redis_sentinels = 127.0.0.1:26379,,127.0.0.1:26380\n", "redis_sentinels"},
        {"redis_sentinels = sentinel.local:26379\n", "numeric"},
        {"redis_sentinels = 127.0.0.1:26379\nredis_master_name =\n", "redis_master_name"},
        {"redis_sentinels = 127.0.0.1:26379\nredis_master_name = my master\n", "redis_master_name"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_file(bad[i][0]);
        err[0] = '\0';
        assert_int_equal(config_load(&c, path, err, sizeof(err)), -1);
        assert_non_null(strstr(err, bad[i][1]));
        assert_null(strchr(err, '\n'));
    }
    unlink(path);
}

/* Each process its own database role; EPOS_PG_CONNINFO alone points all at one. */
static void test_pg_per_process(void **state)
{
    epos_config c;
    char err[256];
    write_file("pg_conninfo = user=hub\nworker_pg_conninfo = user=worker\n"
               "ctl_pg_conninfo = user=ctl\n");
    unsetenv("EPOS_PG_CONNINFO");
    assert_int_equal(config_load(&c, path, err, sizeof(err)), 0);
    config_pg_for(&c, "hub");
    assert_string_equal(c.pg_conninfo, "user=hub");
    config_pg_for(&c, "worker");
    assert_string_equal(c.pg_conninfo, "user=worker");
    config_free(&c);
    assert_int_equal(config_load(&c, path, err, sizeof(err)), 0);
    config_pg_for(&c, "ctl");
    assert_string_equal(c.pg_conninfo, "user=ctl");
    config_free(&c);

    setenv("EPOS_PG_CONNINFO", "user=elsewhere", 1);
    assert_int_equal(config_load(&c, path, err, sizeof(err)), 0);
    config_pg_for(&c, "worker");
    assert_string_equal(c.pg_conninfo, "user=elsewhere");
    config_free(&c);
    setenv("EPOS_CTL_PG_CONNINFO", "user=ctl2", 1);
    assert_int_equal(config_load(&c, path, err, sizeof(err)), 0);
    config_pg_for(&c, "ctl");
    assert_string_equal(c.pg_conninfo, "user=ctl2");
    config_free(&c);
    unsetenv("EPOS_CTL_PG_CONNINFO");
    unsetenv("EPOS_PG_CONNINFO");
    unlink(path);
    (void)state;
}

static void test_bad_values(void **state)
{
    epos_config c;
    char err[256];
    write_file("port = eighty\n");
    assert_int_equal(config_load(&c, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, ":1: port"));
    write_file("port = 70000\n");
    assert_int_equal(config_load(&c, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "from 1 to 65535"));
    write_file("no_such_key = 1\n");
    assert_int_equal(config_load(&c, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "unknown key \"no_such_key\""));
    write_file("just words\n");
    assert_int_equal(config_load(&c, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "expected \"key = value\""));
    unlink(path);
    setenv("EPOS_MAX_FRAME", "12abc", 1);
    assert_int_equal(config_load(&c, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "EPOS_MAX_FRAME"));
    unsetenv("EPOS_MAX_FRAME");
    assert_int_equal(config_load(&c, "/nonexistent/epos.conf", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot read config file"));
}

/* Found by tests/fuzz/fuzz_config.c: a line past the old 4 KiB buffer was
 * cut, its value truncated and its tail read as a line of its own. */
/* mail_retry: the default schedule parses; a bad list is refused at load
 * with a line naming the key, and the old value stays. */
static void test_mail_retry(void **state)
{
    epos_config c;
    char err[256];
    int w[CONFIG_MAIL_RETRY_MAX];
    assert_int_equal(config_load(&c, NULL, err, sizeof(err)), 0);
    assert_int_equal(config_mail_retry(c.mail_retry, w), 11);
    assert_int_equal(w[0], 60);
    assert_int_equal(w[10], 28800);
    assert_int_equal(config_mail_retry(" 5, 10 ,20", w), 3);
    assert_int_equal(w[2], 20);
    assert_int_equal(config_mail_retry("7", w), 1);
    const char *bad[] = {"",   " ",      "60,", ",60",    "60,,300", "0",
                         "-5", "60;300", "1e3", "604801", "60,x",    "99999999999999999999",
                         NULL};
    for (int i = 0; bad[i]; i++) {
        assert_int_equal(config_mail_retry(bad[i], w), -1);
        assert_int_equal(config_set(&c, "mail_retry", bad[i], err, sizeof(err)), -1);
        assert_non_null(strstr(err, "mail_retry"));
    }
    char many[CONFIG_MAIL_RETRY_MAX * 3 + 8] = "";
    for (int i = 0; i <= CONFIG_MAIL_RETRY_MAX; i++)
        strcat(many, i ? ",1" : "1");
    assert_int_equal(config_mail_retry(many, w), -1);
    assert_string_equal(c.mail_retry, "60,300,900,3600,7200,14400,28800,28800,28800,28800,28800");
    assert_int_equal(config_set(&c, "mail_retry", "1,2", err, sizeof(err)), 0);
    assert_string_equal(c.mail_retry, "1,2");
    config_free(&c);
}

static void test_long_line(void **state)
{
    epos_config c;
    char err[256];
    size_t n = 5000;
    char *text = malloc(n + 64), *want = malloc(n + 16);
    assert_non_null(text);
    assert_non_null(want);
    memset(want, 'x', n);
    strcpy(want + n, "port = 9");
    snprintf(text, n + 64, "instance = %s\nredis_port = 7000\n", want);
    write_file(text);
    assert_int_equal(config_load(&c, path, err, sizeof(err)), 0);
    assert_string_equal(c.instance, want); /* the whole value */
    assert_int_equal(c.port, 8080);        /* nothing from its tail */
    assert_int_equal(c.redis_port, 7000);
    config_free(&c);
    /* A NUL byte would cut a value short without a word: refused. */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fwrite("port = 80\0\n", 1, 11, f);
    fclose(f);
    assert_int_equal(config_load(&c, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, ":1: "));
    free(text);
    free(want);
    unlink(path);
}

static void test_tls_pair(void **state)
{
    epos_config c;
    char err[256];
    setenv("EPOS_TLS_CERT", "/tmp/cert.pem", 1);
    assert_int_equal(config_load(&c, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "together"));
    unsetenv("EPOS_TLS_CERT");
}

/* Secrets never reach a log line: every form libpq accepts loses its
 * password; the rest stays, quoted the way libpq reads it back. */
static void test_redact_conninfo(void **state)
{
    char out[256];
    assert_int_equal(config_redact_conninfo("host=127.0.0.1 port=5 user=u password=secret dbname=e",
                                            out, sizeof(out)),
                     0);
    assert_null(strstr(out, "secret"));
    assert_null(strstr(out, "password"));
    assert_non_null(strstr(out, "host=127.0.0.1"));
    assert_non_null(strstr(out, "port=5"));
    assert_non_null(strstr(out, "dbname=e"));

    assert_int_equal(
        config_redact_conninfo("postgresql://u:secret@127.0.0.1:5/e?sslpassword=secret2", out,
                               sizeof(out)),
        0);
    assert_null(strstr(out, "secret"));
    assert_non_null(strstr(out, "user=u"));

    /* A quoted value with a space and a quote survives as libpq reads it. */
    assert_int_equal(
        config_redact_conninfo("password='a secret' application_name='it\\'s x'", out, sizeof(out)),
        0);
    assert_null(strstr(out, "secret"));
    assert_string_equal(out, "application_name='it\\'s x'");

    /* Unparsable: nothing of the input is echoed. */
    assert_int_equal(config_redact_conninfo("password=secret 'broken", out, sizeof(out)), -1);
    assert_null(strstr(out, "secret"));
    assert_int_equal(config_redact_conninfo(NULL, out, sizeof(out)), 0);
    assert_string_equal(out, "");

    /* Too small: values that do not fit are dropped whole, never cut. */
    char tiny[16];
    assert_int_equal(
        config_redact_conninfo("host=127.0.0.1 dbname=averyveryverylongname", tiny, sizeof(tiny)),
        0);
    assert_string_equal(tiny, "host=127.0.0.1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),       cmocka_unit_test(test_file_then_env),
        cmocka_unit_test(test_pg_per_process), cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_tls_pair),       cmocka_unit_test(test_redact_conninfo),
        cmocka_unit_test(test_long_line),      cmocka_unit_test(test_sentinels),
        cmocka_unit_test(test_mail_retry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
