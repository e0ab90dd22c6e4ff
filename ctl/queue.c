/* queue.c -- eposctl queue stats|dead|replay: the job streams, the delayed set and the dead
 * letters. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <jansson.h>

#include "ctl.h"
#include "epos/queue.h"
#include "epos/utf8.h"

#define CTL_QUEUE_PAGE 500
#define CTL_PREVIEW_BYTES 300 /* of a dead job's payload, cut between characters */

/* A reply, or NULL after printing the error (a NULL reply: the connection). */
static redisReply *ctl_redis_cmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (!r) {
        fprintf(stderr, "eposctl: Redis: %s\n", c->errstr);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "eposctl: Redis: %s\n", r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

static long long ctl_redis_int(redisContext *c, const char *fmt, const char *key)
{
    redisReply *r = ctl_redis_cmd(c, fmt, key);
    long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return n;
}

static const redisReply *ctl_field(const redisReply *flat, const char *name)
{
    for (size_t i = 0; flat && i + 1 < flat->elements; i += 2)
        if (flat->element[i]->type == REDIS_REPLY_STRING &&
            strcmp(flat->element[i]->str, name) == 0)
            return flat->element[i + 1];
    return NULL;
}

static int ctl_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---------------------------------------------------------------- stats */

/* One stream's figures into a JSON object; lag is what no consumer has read
 * yet (done jobs are deleted, so length - pending when Redis cannot tell). */
static json_t *ctl_stream_stats(redisContext *c, const char *stream, size_t plen)
{
    long long len = ctl_redis_int(c, "XLEN %s", stream), pending = 0, lag = -1, consumers = 0;
    redisReply *g = ctl_redis_cmd(c, "XINFO GROUPS %s", stream);
    for (size_t i = 0; g && i < g->elements; i++) {
        const redisReply *name = ctl_field(g->element[i], "name");
        if (!name || strcmp(name->str, QUEUE_GROUP) != 0)
            continue;
        const redisReply *p = ctl_field(g->element[i], "pending");
        const redisReply *l = ctl_field(g->element[i], "lag");
        const redisReply *n = ctl_field(g->element[i], "consumers");
        pending = p && p->type == REDIS_REPLY_INTEGER ? p->integer : 0;
        lag = l && l->type == REDIS_REPLY_INTEGER ? l->integer : -1;
        consumers = n && n->type == REDIS_REPLY_INTEGER ? n->integer : 0;
    }
    freeReplyObject(g);
    if (lag < 0)
        lag = len > pending ? len - pending : 0;
    return json_pack("{s:s, s:I, s:I, s:I, s:I}", "kind", stream + plen, "length", (json_int_t)len,
                     "pending", (json_int_t)pending, "lag", (json_int_t)lag, "consumers",
                     (json_int_t)consumers);
}

/* Every <prefix>jobs:* stream, sorted. Returns the count, -1 on error. */
static int ctl_streams(redisContext *c, char ***out)
{
    char cursor[32] = "0", pattern[64];
    char **names = NULL;
    int n = 0;
    snprintf(pattern, sizeof(pattern), "%sjobs:*", QUEUE_PREFIX);
    do {
        redisReply *r =
            ctl_redis_cmd(c, "SCAN %s MATCH %s COUNT 1000 TYPE stream", cursor, pattern);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            freeReplyObject(r);
            goto fail;
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            char **more = realloc(names, (size_t)(n + 1) * sizeof(*names));
            if (!more) {
                freeReplyObject(r);
                goto fail;
            }
            names = more;
            names[n++] = strdup(r->element[1]->element[i]->str);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    if (n > 1)
        qsort(names, (size_t)n, sizeof(*names), ctl_cmp_str);
    *out = names;
    return n;
fail:
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return -1;
}

static long long ctl_now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void ctl_stats_print(json_t *st)
{
    json_t *streams = json_object_get(st, "streams"), *s;
    size_t i;
    printf("%-24s %10s %10s %10s %10s\n", "kind", "length", "pending", "lag", "consumers");
    json_array_foreach(streams, i, s)
        printf("%-24s %10lld %10lld %10lld %10lld\n", json_string_value(json_object_get(s, "kind")),
               (long long)json_integer_value(json_object_get(s, "length")),
               (long long)json_integer_value(json_object_get(s, "pending")),
               (long long)json_integer_value(json_object_get(s, "lag")),
               (long long)json_integer_value(json_object_get(s, "consumers")));
    printf("delayed: %lld (%lld due)\ndead: %lld\n",
           (long long)json_integer_value(json_object_get(st, "delayed")),
           (long long)json_integer_value(json_object_get(st, "delayed_due")),
           (long long)json_integer_value(json_object_get(st, "dead")));
}

static int ctl_queue_stats(redisContext *c, int json_out)
{
    char **names = NULL, now[24];
    int n = ctl_streams(c, &names), rc = CTL_FAIL;
    json_t *st = json_object(), *arr = json_array();
    if (n < 0 || !st || !arr)
        goto out;
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, ctl_stream_stats(c, names[i], strlen(QUEUE_PREFIX "jobs:")));
    json_object_set(st, "streams", arr);
    snprintf(now, sizeof(now), "%lld", ctl_now_ms());
    redisReply *due = ctl_redis_cmd(c, "ZCOUNT %s -inf %s", QUEUE_PREFIX "delayed", now);
    json_object_set_new(st, "delayed",
                        json_integer(ctl_redis_int(c, "ZCARD %s", QUEUE_PREFIX "delayed")));
    json_object_set_new(st, "delayed_due", json_integer(due ? due->integer : 0));
    json_object_set_new(st, "dead", json_integer(ctl_redis_int(c, "XLEN %s", QUEUE_PREFIX "dead")));
    freeReplyObject(due);
    if (json_out) {
        char *s = json_dumps(st, JSON_COMPACT);
        if (s)
            printf("%s\n", s);
        free(s);
    } else {
        ctl_stats_print(st);
    }
    rc = CTL_OK;
out:
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    json_decref(arr);
    json_decref(st);
    return rc;
}

/* ---------------------------------------------------------------- dead */

static json_t *ctl_dead_entry(const redisReply *e)
{
    const redisReply *f = e->element[1];
    const char *names[] = {"id", "kind", "attempt", "error", "failed_at", "payload"};
    json_t *o = json_pack("{s:s}", "entry", e->element[0]->str);
    for (size_t i = 0; o && i < sizeof(names) / sizeof(names[0]); i++) {
        const redisReply *v = ctl_field(f, names[i]);
        const char *s = v && v->type == REDIS_REPLY_STRING ? v->str : "";
        if (strcmp(names[i], "attempt") == 0 || strcmp(names[i], "failed_at") == 0)
            json_object_set_new(o, names[i], json_integer(strtoll(s, NULL, 10)));
        else { /* jansson refuses invalid UTF-8: keep such text out rather than fail */
            json_t *str = json_string(s);
            json_object_set_new(o, names[i], str ? str : json_string("?"));
        }
    }
    return o;
}

static void ctl_dead_print(json_t *o)
{
    char when[32] = "?";
    time_t t = (time_t)(json_integer_value(json_object_get(o, "failed_at")) / 1000);
    struct tm tm;
    if (t > 0 && gmtime_r(&t, &tm))
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    const char *payload = json_string_value(json_object_get(o, "payload"));
    size_t len = strlen(payload), shown = utf8_cut(payload, len, CTL_PREVIEW_BYTES);
    printf("%s  %s  %s  attempt %lld  failed %s\n  error: %s\n  payload: %.*s%s\n",
           json_string_value(json_object_get(o, "entry")),
           json_string_value(json_object_get(o, "id")),
           json_string_value(json_object_get(o, "kind")),
           (long long)json_integer_value(json_object_get(o, "attempt")), when,
           json_string_value(json_object_get(o, "error")), (int)shown, payload,
           shown < len ? "…" : "");
}

static int ctl_queue_dead(redisContext *c, long limit, int json_out)
{
    redisReply *r = ctl_redis_cmd(c, "XREVRANGE %s + - COUNT %ld", QUEUE_PREFIX "dead", limit);
    if (!r)
        return CTL_FAIL;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
            e->element[1]->type != REDIS_REPLY_ARRAY)
            continue;
        json_t *o = ctl_dead_entry(e);
        if (json_out)
            json_array_append(arr, o);
        else
            ctl_dead_print(o);
        json_decref(o);
    }
    if (json_out) {
        char *s = json_dumps(arr, JSON_COMPACT);
        if (s)
            printf("%s\n", s);
        free(s);
    } else if (r->elements == 0) {
        printf("no dead jobs\n");
    }
    json_decref(arr);
    freeReplyObject(r);
    return CTL_OK;
}

/* ---------------------------------------------------------------- replay */

/* Replay one dead entry: 1 moved, 0 gone, -1 unusable, -2 Redis error. */
static int ctl_replay_entry(redisContext *c, const char *entry)
{
    redisReply *r = ctl_redis_cmd(c, "EVAL %s 1 %s %s %s", queue_lua_replay, QUEUE_PREFIX "dead",
                                  QUEUE_PREFIX, entry);
    int rc = r && r->type == REDIS_REPLY_INTEGER ? (int)r->integer : -2;
    freeReplyObject(r);
    return rc;
}

/* Replay every dead entry (job_id NULL) or those of one job id. Returns the
 * number replayed, or -1 on a Redis error. */
static long ctl_replay_scan(redisContext *c, const char *job_id)
{
    char start[64] = "-";
    long moved = 0;
    for (;;) {
        redisReply *r =
            ctl_redis_cmd(c, "XRANGE %s %s + COUNT %d", QUEUE_PREFIX "dead", start, CTL_QUEUE_PAGE);
        if (!r)
            return -1;
        if (r->elements == 0) {
            freeReplyObject(r);
            return moved;
        }
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *e = r->element[i];
            const redisReply *id = ctl_field(e->element[1], "id");
            if (job_id && (!id || strcmp(id->str, job_id) != 0))
                continue;
            int rc = ctl_replay_entry(c, e->element[0]->str);
            if (rc == -2) {
                freeReplyObject(r);
                return -1;
            }
            if (rc == -1)
                fprintf(stderr, "eposctl: dead entry %s has no kind or id: left alone\n",
                        e->element[0]->str);
            moved += rc == 1;
        }
        /* Past the last one seen (exclusive range): unusable entries stay. */
        snprintf(start, sizeof(start), "(%s", r->element[r->elements - 1]->element[0]->str);
        freeReplyObject(r);
    }
}

static int ctl_is_entry_id(const char *s)
{
    size_t a = strspn(s, "0123456789");
    return a > 0 && s[a] == '-' && s[a + 1] && strspn(s + a + 1, "0123456789") == strlen(s + a + 1);
}

static int ctl_queue_replay(redisContext *c, const char *what)
{
    long moved;
    if (strcmp(what, "--all") == 0) {
        moved = ctl_replay_scan(c, NULL);
    } else if (ctl_is_entry_id(what)) {
        int rc = ctl_replay_entry(c, what);
        moved = rc == -2 ? -1 : rc == 1;
        if (rc == 0) /* an id that only looks like an entry id */
            moved = ctl_replay_scan(c, what);
    } else {
        moved = ctl_replay_scan(c, what);
    }
    if (moved < 0)
        return CTL_FAIL;
    if (moved == 0 && strcmp(what, "--all") != 0) {
        fprintf(stderr, "eposctl queue replay: no dead job %s\n", what);
        return CTL_FAIL;
    }
    printf("replayed %ld job%s\n", moved, moved == 1 ? "" : "s");
    return CTL_OK;
}

/* ---------------------------------------------------------------- the command */

static int ctl_queue_usage(void)
{
    fprintf(stderr, "usage: eposctl queue stats [--json]\n"
                    "       eposctl queue dead [--limit N] [--json]\n"
                    "       eposctl queue replay ID|--all\n");
    return CTL_USAGE;
}

int ctl_cmd_queue(ctl_ctx *ctx, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "";
    const char *limit_s = NULL;
    int json_out = 0, rc;
    long limit = 20;
    if (strcmp(sub, "replay") == 0) {
        if (argc != 3 || (argv[2][0] == '-' && strcmp(argv[2], "--all") != 0))
            return ctl_queue_usage();
    } else if (strcmp(sub, "stats") == 0 || strcmp(sub, "dead") == 0) {
        ctl_opt opts[] = {{"json", NULL, &json_out}, {"limit", &limit_s, NULL}};
        size_t nopts = strcmp(sub, "dead") == 0 ? 2 : 1;
        if (ctl_opts_parse("queue", argc, argv, 2, opts, nopts) != 0)
            return CTL_USAGE;
        if (limit_s) {
            char *end;
            limit = strtol(limit_s, &end, 10);
            if (*end || limit < 1 || limit > 100000) {
                fprintf(stderr, "eposctl queue dead: --limit wants 1..100000\n");
                return CTL_USAGE;
            }
        }
    } else {
        return ctl_queue_usage();
    }
    redisContext *c = ctl_redis(ctx);
    if (!c)
        return CTL_FAIL;
    if (strcmp(sub, "stats") == 0)
        rc = ctl_queue_stats(c, json_out);
    else if (strcmp(sub, "dead") == 0)
        rc = ctl_queue_dead(c, limit, json_out);
    else
        rc = ctl_queue_replay(c, argv[2]);
    redisFree(c);
    return rc;
}
