/* reminders.c -- eposctl reminders run: re-run an org's deadline pass for a day on purpose, and
 * publish its events.
 *
 * epos_reminders_run (schema/functions/reminders.sql) runs the pass whatever the
 * calendar, the clock or an earlier run (a repeated run gets new Message-IDs
 * for its mails, which the workers send); this command then publishes the
 * events it appended on Redis channel ev:<topic> as "<seq> <frame>", the
 * way the hub and the worker do, so teachers who are online see them live. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <jansson.h>

#include "epos/evmsg.h"
#include "ctl.h"

static const char reminders_sql[] = "SELECT epos_reminders_run($1::bigint, $2::date)::text";

static int ctl_reminders_usage(void)
{
    fprintf(stderr, "usage: eposctl reminders run --org ID [--date YYYY-MM-DD]\n"
                    "  (the date defaults to today in the org's time zone)\n");
    return CTL_USAGE;
}

/* Publish one {"topic","frame"} item. Returns 0 or -1. */
static int ctl_reminders_publish(redisContext *c, const json_t *item)
{
    const char *topic = json_string_value(json_object_get(item, "topic"));
    const char *frame = json_string_value(json_object_get(item, "frame"));
    if (!topic || !frame)
        return -1;
    char channel[256];
    size_t mlen;
    size_t flen = strlen(frame);
    char *msg = evmsg_channel(channel, sizeof(channel), topic) == 0
                    ? evmsg_encode(evmsg_frame_seq(frame, flen), frame, flen, &mlen)
                    : NULL;
    if (!msg)
        return -1;
    redisReply *r = redisCommand(c, "PUBLISH %s %b", channel, msg, mlen);
    free(msg);
    int ok = r && r->type == REDIS_REPLY_INTEGER;
    freeReplyObject(r);
    return ok ? 0 : -1;
}

/* Publish the frames; prints and returns the number that could not be. */
static size_t ctl_reminders_publish_all(const ctl_ctx *ctx, const json_t *frames)
{
    size_t n = json_array_size(frames), lost = 0;
    if (n == 0)
        return 0;
    redisContext *c = ctl_redis(ctx);
    if (!c)
        return n;
    for (size_t i = 0; i < n; i++)
        if (ctl_reminders_publish(c, json_array_get(frames, i)) != 0)
            lost++;
    redisFree(c);
    return lost;
}

static void ctl_reminders_print(const json_t *runs, size_t events)
{
    size_t i;
    json_t *r;
    json_array_foreach(runs, i, r)
    {
        long long missed = json_integer_value(json_object_get(r, "groups_missed"));
        printf("org %lld, %s, run %lld: %lld %s missed the deadline\n",
               (long long)json_integer_value(json_object_get(r, "org_id")),
               json_string_value(json_object_get(r, "day"))
                   ? json_string_value(json_object_get(r, "day"))
                   : "?",
               (long long)json_integer_value(json_object_get(r, "attempt")), missed,
               missed == 1 ? "group" : "groups");
    }
    printf("%zu events appended (teachers' reminders, administrators' overdue list); "
           "their mails are queued for the workers\n",
           events);
}

int ctl_cmd_reminders(ctl_ctx *ctx, int argc, char **argv)
{
    const char *org = NULL, *date = NULL;
    ctl_opt opts[] = {{"org", &org, NULL}, {"date", &date, NULL}};
    if (argc < 2 || strcmp(argv[1], "run") != 0 ||
        ctl_opts_parse("reminders", argc, argv, 2, opts, 2) != 0)
        return ctl_reminders_usage();
    char *end;
    long long id = org ? strtoll(org, &end, 10) : 0;
    if (!org || *end || id < 1) {
        fprintf(stderr, "eposctl reminders run: --org wants an org id\n");
        return CTL_USAGE;
    }
    PGconn *conn = ctl_db_connect(ctx);
    if (!conn)
        return CTL_FAIL;
    int rc = CTL_FAIL;
    const char *params[2] = {org, date && *date ? date : NULL};
    PGresult *res = ctl_db_query(conn, "reminders run", reminders_sql, 2, params);
    json_t *v = res && PQntuples(res) == 1 ? json_loads(PQgetvalue(res, 0, 0), 0, NULL) : NULL;
    if (!v) {
        if (res)
            fprintf(stderr, "eposctl: reminders run: unexpected result\n");
        goto out;
    }
    json_t *frames = json_object_get(v, "frames");
    ctl_reminders_print(json_object_get(v, "runs"), json_array_size(frames));
    size_t lost = ctl_reminders_publish_all(ctx, frames);
    if (lost) {
        fprintf(stderr,
                "eposctl: the run is committed, but %zu of %zu events were not published live "
                "(clients get them when they reconnect)\n",
                lost, json_array_size(frames));
        goto out;
    }
    rc = CTL_OK;
out:
    json_decref(v);
    PQclear(res);
    PQfinish(conn);
    return rc;
}
