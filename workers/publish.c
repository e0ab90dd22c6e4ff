/* publish.c -- publish committed event frames from SQL results on Redis; run one-call SQL jobs. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epos/evmsg.h"
#include "epos/jsonx.h"
#include "epos/log.h"
#include "publish.h"

#define PUBLISH_TOPIC_MAX 200

int publish_frame(rds *r, const char *topic, const char *frame, size_t len)
{
    if (!r || !topic || !*topic || strlen(topic) > PUBLISH_TOPIC_MAX || !frame)
        return -1;
    char channel[PUBLISH_TOPIC_MAX + 4];
    size_t mlen;
    char *msg = evmsg_channel(channel, sizeof(channel), topic) == 0
                    ? evmsg_encode(evmsg_frame_seq(frame, len), frame, len, &mlen)
                    : NULL;
    if (!msg)
        return -1;
    const char *argv[3] = {"PUBLISH", channel, msg};
    size_t argvlen[3] = {7, strlen(channel), mlen};
    int rc = rds_command_argv(r, NULL, NULL, 3, argv, argvlen);
    free(msg);
    return rc == 0 ? 0 : -1;
}

int publish_frames(rds *r, const json_t *frames)
{
    if (!json_is_array(frames))
        return -1;
    int sent = 0, lost = 0;
    size_t i;
    json_t *it;
    json_array_foreach(frames, i, it)
    {
        const char *topic = json_string_value(json_object_get(it, "topic"));
        json_t *frame = json_object_get(it, "frame");
        if (!topic || !json_is_string(frame))
            continue;
        if (publish_frame(r, topic, json_string_value(frame), json_string_length(frame)) == 0)
            sent++;
        else
            lost++;
    }
    if (lost)
        log_warn(
            "publish: %d of %d frames not published (Redis down?); hubs catch up from PostgreSQL",
            lost, sent + lost);
    return sent;
}

int publish_result(rds *r, const char *text, size_t len)
{
    json_t *v = text ? json_loadb(text, len, 0, NULL) : NULL;
    if (!json_is_object(v)) {
        json_decref(v);
        return -1;
    }
    json_t *frames = json_object_get(v, "frames");
    int n = frames ? publish_frames(r, frames) : 0;
    json_decref(v);
    return n < 0 ? 0 : n;
}

int publish_sql_outcome(const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (state && (strncmp(state, "EP4", 3) == 0 || strncmp(state, "22", 2) == 0))
        return JOB_FAIL;
    return JOB_RETRY;
}

/* ---------------------------------------------------------------- one-call SQL jobs */

int publish_payload_id(const job_t *job, const char *key, char *out, size_t len)
{
    long long id = 0;
    json_t *p = jsonx_parse_object(job->payload, job->payload_len, NULL, 0);
    int ok = p && jsonx_int(p, key, &id) == 0 && id > 0;
    json_decref(p);
    if (!ok)
        return -1;
    snprintf(out, len, "%lld", id);
    return 0;
}

typedef struct sql_job {
    worker_t *w;
    job_t *job;
    job_done_cb *done;
} sql_job;

static void publish_job_on_result(PGresult *res, void *arg)
{
    sql_job *c = arg;
    const char *text = pgq_ok(res) && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)
                           ? PQgetvalue(res, 0, 0)
                           : NULL;
    if (text) {
        publish_result(c->w->redis, text, strlen(text));
        c->done(c->job, JOB_OK, NULL);
    } else if (pgq_ok(res)) {
        c->done(c->job, JOB_RETRY, "the SQL function returned no result");
    } else {
        char err[300];
        snprintf(err, sizeof(err), "%s",
                 res ? PQresultErrorMessage(res) : "database connection lost");
        err[strcspn(err, "\n")] = '\0';
        int rc = publish_sql_outcome(res);
        log_warn("job %s (%s): %s%s", c->job->id, c->job->kind, err,
                 rc == JOB_FAIL ? " (not retried)" : "");
        c->done(c->job, rc, err);
    }
    free(c);
}

int publish_job_sql(worker_t *w, job_t *job, job_done_cb *done, const char *sql, int nparams,
                    const char *const *params)
{
    sql_job *c = malloc(sizeof(*c));
    if (!c)
        return JOB_RETRY;
    c->w = w;
    c->job = job;
    c->done = done;
    if (!w->pg || pgq_exec_sql(w->pg, sql, nparams, params, publish_job_on_result, c) != 0) {
        free(c);
        return JOB_RETRY;
    }
    return 0;
}
