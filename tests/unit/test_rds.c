/* test_rds.c -- rds against a real Redis: commands, pub/sub, resubscribe after a kill, close. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <hiredis/hiredis.h>

#include "epos/rds.h"

#define WATCHDOG_MS 60000

typedef struct tctx {
    uv_loop_t loop;
    uv_timer_t watchdog;
    uv_timer_t timer;
    rds *r;
    int ups, downs, done, replies, nulls, messages, step;
    char key[64];
    char chan[64];
    char chan2[64];
} tctx;

static const char *redis_host(void)
{
    const char *s = getenv("EPOS_TEST_REDIS_HOST");
    return s && *s ? s : "127.0.0.1";
}

static int redis_port(void)
{
    const char *s = getenv("EPOS_TEST_REDIS_PORT");
    return s && *s ? atoi(s) : 46379;
}

static void on_watchdog(uv_timer_t *t)
{
    fail_msg("test did not finish in %d ms", WATCHDOG_MS);
}

static void on_done(void *arg)
{
    ((tctx *)arg)->done++;
}

static void start(tctx *t, const char *host, int port, rds_message_cb *on_message,
                  rds_state_cb *on_state)
{
    memset(t, 0, sizeof(*t));
    assert_int_equal(uv_loop_init(&t->loop), 0);
    uv_timer_init(&t->loop, &t->watchdog);
    uv_timer_start(&t->watchdog, on_watchdog, WATCHDOG_MS, 0);
    uv_unref((uv_handle_t *)&t->watchdog); /* only a guard: does not keep the loop alive */
    uv_timer_init(&t->loop, &t->timer);
    t->timer.data = t;
    snprintf(t->key, sizeof(t->key), "bind:test:%d:key", (int)getpid());
    snprintf(t->chan, sizeof(t->chan), "bind:test:%d:chan", (int)getpid());
    snprintf(t->chan2, sizeof(t->chan2), "bind:test:%d:chan2", (int)getpid());
    t->r = rds_create(&t->loop, host, port, on_message, on_state, t);
    assert_non_null(t->r);
}

/* Run until rds closed, then prove no handle is left behind. */
static void finish(tctx *t)
{
    uv_run(&t->loop, UV_RUN_DEFAULT);
    assert_int_equal(t->done, 1);
    uv_close((uv_handle_t *)&t->watchdog, NULL);
    uv_close((uv_handle_t *)&t->timer, NULL);
    uv_run(&t->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&t->loop), 0);
}

static void count_state(tctx *t, int up)
{
    if (up)
        t->ups++;
    else
        t->downs++;
}

/* --- command round trip, binary-safe argv --- */

static void del_cb(redisAsyncContext *ac, void *reply, void *arg)
{
    tctx *t = arg;
    redisReply *rep = reply;
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_INTEGER);
    assert_int_equal(rep->integer, 1);
    t->replies++;
    rds_close(t->r, on_done, t); /* closing inside a reply callback is allowed */
}

static void get_cb(redisAsyncContext *ac, void *reply, void *arg)
{
    tctx *t = arg;
    redisReply *rep = reply;
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_STRING);
    assert_int_equal(rep->len, 7);
    assert_memory_equal(rep->str, "a b\0c\r\n", 7);
    t->replies++;
    assert_int_equal(rds_command(t->r, del_cb, t, "DEL %s", t->key), 0);
}

static void set_cb(redisAsyncContext *ac, void *reply, void *arg)
{
    tctx *t = arg;
    redisReply *rep = reply;
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_STATUS);
    assert_string_equal(rep->str, "OK");
    t->replies++;
    assert_int_equal(rds_command(t->r, get_cb, t, "GET %s", t->key), 0);
}

static void roundtrip_state(int up, void *arg)
{
    tctx *t = arg;
    count_state(t, up);
    assert_true(rds_up(t->r));
    const char *argv[] = {"SET", t->key, "a b\0c\r\n", "EX", "60"};
    size_t len[] = {3, strlen(t->key), 7, 2, 2};
    assert_int_equal(rds_command_argv(t->r, set_cb, t, 5, argv, len), 0);
}

static void test_command_roundtrip(void **state)
{
    tctx t;
    start(&t, redis_host(), redis_port(), NULL, roundtrip_state);
    assert_false(rds_up(t.r));
    assert_int_equal(rds_command(t.r, NULL, NULL, "PING"), -1); /* not connected yet */
    finish(&t);
    assert_int_equal(t.replies, 3);
    assert_int_equal(t.ups, 1);
    assert_int_equal(t.downs, 0);
}

/* --- pub/sub: delivery, unsubscribe, subscribe while up --- */

static void publish(tctx *t, const char *chan, const char *msg);

static void publish_cb(redisAsyncContext *ac, void *reply, void *arg)
{
    tctx *t = arg;
    redisReply *rep = reply;
    if (!rep) /* closed before the reply */
        return;
    assert_int_equal(rep->type, REDIS_REPLY_INTEGER);
    /* A SUBSCRIBE sent while up races this PUBLISH (two connections): while
     * nobody received it, publish again. */
    if (rep->integer == 0 && t->step == 1)
        publish(t, t->chan2, "second");
}

static void publish(tctx *t, const char *chan, const char *msg)
{
    assert_int_equal(rds_command(t->r, publish_cb, t, "PUBLISH %s %b", chan, msg, strlen(msg)), 0);
}

static void pubsub_message(const char *channel, const char *msg, size_t len, void *arg)
{
    tctx *t = arg;
    t->messages++;
    if (t->step == 0) {
        assert_string_equal(channel, t->chan);
        assert_int_equal(len, 5);
        assert_memory_equal(msg, "first", 5);
        assert_int_equal(rds_unsubscribe(t->r, t->chan), 0);
        assert_int_equal(rds_unsubscribe(t->r, t->chan), 0); /* idempotent */
        publish(t, t->chan, "dropped");                      /* unsubscribed: never delivered */
        assert_int_equal(rds_subscribe(t->r, t->chan2), 0);
        t->step = 1;
        publish(t, t->chan2, "second");
        return;
    }
    assert_int_equal(t->step, 1);
    assert_string_equal(channel, t->chan2);
    assert_int_equal(len, 6);
    assert_memory_equal(msg, "second", 6);
    t->step = 2;
    rds_close(t->r, on_done, t); /* closing inside a message callback is allowed */
}

static void pubsub_state(int up, void *arg)
{
    tctx *t = arg;
    count_state(t, up);
    /* Up means the remembered subscriptions are confirmed: no race here. */
    publish(t, t->chan, "first");
}

static void test_pubsub(void **state)
{
    tctx t;
    start(&t, redis_host(), redis_port(), pubsub_message, pubsub_state);
    assert_int_equal(rds_subscribe(t.r, t.chan), 0); /* before connecting: remembered */
    assert_int_equal(rds_subscribe(t.r, t.chan), 0); /* idempotent */
    finish(&t);
    assert_int_equal(t.messages, 2);
    assert_int_equal(t.step, 2);
    assert_int_equal(t.ups, 1);
}

/* --- the pub/sub connection killed: down, reconnect, resubscribe, up --- */

static void kill_cb(redisAsyncContext *ac, void *reply, void *arg)
{
    redisReply *rep = reply;
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_INTEGER);
    assert_int_equal(rep->integer, 1);
}

/* Find our pub/sub connection by the name rds gives it, and kill only that
 * one: the dev Redis is shared with other tests. */
static void list_cb(redisAsyncContext *ac, void *reply, void *arg)
{
    tctx *t = arg;
    redisReply *rep = reply;
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_STRING);
    char name[64];
    snprintf(name, sizeof(name), " name=epos-%d-sub ", (int)getpid());
    const char *hit = strstr(rep->str, name);
    assert_non_null(hit);
    const char *line = hit;
    while (line > rep->str && line[-1] != '\n')
        line--;
    long long id = -1;
    assert_int_equal(sscanf(line, "id=%lld", &id), 1);
    assert_int_equal(rds_command(t->r, kill_cb, t, "CLIENT KILL TYPE pubsub ID %lld", id), 0);
}

static void resub_message(const char *channel, const char *msg, size_t len, void *arg)
{
    tctx *t = arg;
    assert_string_equal(channel, t->chan);
    t->messages++;
    if (t->step == 0) {
        t->step = 1;
        assert_int_equal(rds_command(t->r, list_cb, t, "CLIENT LIST TYPE pubsub"), 0);
        return;
    }
    assert_memory_equal(msg, "after", 5);
    rds_close(t->r, on_done, t);
}

static void resub_state(int up, void *arg)
{
    tctx *t = arg;
    count_state(t, up);
    if (up)
        publish(t, t->chan, t->ups == 1 ? "before" : "after");
}

static void test_resubscribe_after_kill(void **state)
{
    tctx t;
    start(&t, redis_host(), redis_port(), resub_message, resub_state);
    assert_int_equal(rds_subscribe(t.r, t.chan), 0);
    finish(&t);
    assert_int_equal(t.messages, 2);
    assert_int_equal(t.ups, 2);
    assert_int_equal(t.downs, 1);
}

/* --- unreachable: down, commands refused, close is clean --- */

static void unreachable_check(uv_timer_t *timer)
{
    tctx *t = timer->data;
    assert_false(rds_up(t->r));
    assert_int_equal(rds_command(t->r, NULL, NULL, "PING"), -1);
    rds_close(t->r, on_done, t);
}

static void never_state(int up, void *arg)
{
    fail_msg("state changed on an unreachable server");
}

static void never_message(const char *channel, const char *msg, size_t len, void *arg)
{
    fail_msg("message from an unreachable server");
}

static void test_unreachable(void **state)
{
    tctx t;
    start(&t, "127.0.0.1", 1, never_message, never_state);
    assert_int_equal(rds_subscribe(t.r, "x"), 0);
    /* Nothing to await but failed attempts: let a few run (with backoff). */
    uv_timer_start(&t.timer, unreachable_check, 400, 0);
    finish(&t);
}

/* --- a private server that starts late, then restarts: rds connects, reconnects --- */

typedef struct server {
    tctx t;
    uv_process_t proc;
    int running;
    char portstr[16];
} server;

static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void server_on_exit(uv_process_t *proc, int64_t status, int sig);

static int server_pid; /* for the teardown, should the test fail midway */

static int server_teardown(void **state)
{
    if (server_pid > 0)
        kill(server_pid, SIGKILL);
    server_pid = 0;
    return 0;
}

static void server_start(uv_timer_t *timer)
{
    server *s = timer->data;
    char *args[] = {"redis-server", "--port", s->portstr, "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--loglevel", "warning", NULL};
    uv_process_options_t opt = {.file = "redis-server", .args = args, .exit_cb = server_on_exit};
    s->proc.data = s;
    assert_int_equal(uv_spawn(&s->t.loop, &s->proc, &opt), 0);
    s->running = 1;
    server_pid = s->proc.pid;
}

static void server_on_exit(uv_process_t *proc, int64_t status, int sig)
{
    server *s = proc->data;
    s->running = 0;
    server_pid = 0;
    uv_close((uv_handle_t *)proc, NULL);
    if (s->t.step == 1) /* killed mid-test: start it again after a few failed attempts */
        uv_timer_start(&s->t.timer, server_start, 300, 0);
}

static void restart_message(const char *channel, const char *msg, size_t len, void *arg)
{
    server *s = arg;
    s->t.messages++;
    if (s->t.step == 0) {
        s->t.step = 1;
        uv_process_kill(&s->proc, SIGTERM);
        return;
    }
    s->t.step = 2;
    rds_close(s->t.r, on_done, &s->t);
    uv_process_kill(&s->proc, SIGTERM);
}

static void restart_state(int up, void *arg)
{
    server *s = arg;
    count_state(&s->t, up);
    if (up)
        publish(&s->t, s->t.chan, "hi");
}

static void test_server_restart(void **state)
{
    if (system("command -v redis-server >/dev/null 2>&1") != 0)
        skip();
    server s;
    int port = free_port();
    /* The callbacks get &s.t, which is &s: tctx is the first member. */
    start(&s.t, "127.0.0.1", port, restart_message, restart_state);
    s.running = 0;
    snprintf(s.portstr, sizeof(s.portstr), "%d", port);
    assert_int_equal(rds_subscribe(s.t.r, s.t.chan), 0);
    s.t.timer.data = &s;
    uv_timer_start(&s.t.timer, server_start, 300, 0); /* not there at first */
    finish(&s.t);
    assert_int_equal(s.running, 0);
    assert_int_equal(s.t.messages, 2);
    assert_int_equal(s.t.ups, 2);
    assert_int_equal(s.t.downs, 1);
}

/* --- close with a command in flight: its callback runs once with NULL --- */

static void blpop_cb(redisAsyncContext *ac, void *reply, void *arg)
{
    tctx *t = arg;
    assert_null(reply);
    t->nulls++;
    assert_int_equal(rds_command(t->r, NULL, NULL, "PING"), -1);
}

static void close_state(int up, void *arg)
{
    tctx *t = arg;
    count_state(t, up);
    assert_int_equal(rds_command(t->r, blpop_cb, t, "BLPOP %s 5", t->key), 0);
    rds_close(t->r, on_done, t);
    assert_int_equal(t->nulls, 0); /* freed from the loop, not inside this callback */
}

static void test_close_pending(void **state)
{
    tctx t;
    start(&t, redis_host(), redis_port(), NULL, close_state);
    finish(&t);
    assert_int_equal(t.nulls, 1);
    assert_int_equal(t.downs, 0);
}

static void test_close_at_once(void **state)
{
    tctx t;
    start(&t, redis_host(), redis_port(), never_message, never_state);
    rds_close(t.r, on_done, &t);
    finish(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_command_roundtrip),
        cmocka_unit_test(test_pubsub),
        cmocka_unit_test(test_resubscribe_after_kill),
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test_teardown(test_server_restart, server_teardown),
        cmocka_unit_test(test_close_pending),
        cmocka_unit_test(test_close_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
