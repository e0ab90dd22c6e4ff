/* job_test_mark.c -- the test job "test.mark": inserts job_effects(job_id) once, counting runs.
 *
 * Payload {"sleep_ms":N, "fail":K, "fail_hard":true, "requires":"X"}: wait
 * N ms first (so a test can kill a worker in the middle of a batch), answer
 * JOB_RETRY for the first K attempts, JOB_FAIL at once, or JOB_FAIL unless a
 * job_effects row "X" exists (a cause an operator fixes before a replay).
 * The effect is idempotent: the row is keyed by the job id; a second run only
 * counts itself in `runs`. */
#include <stdlib.h>
#include <string.h>

#include "epos/jsonx.h"
#include "worker.h"

typedef struct mark_ctx {
    uv_timer_t timer;
    worker_t *w;
    job_t *job;
    job_done_cb *done;
    char *requires;
} mark_ctx;

static const char mark_sql[] =
    "INSERT INTO job_effects (job_id) SELECT $1 "
    "WHERE $2::text IS NULL OR EXISTS (SELECT 1 FROM job_effects WHERE job_id = $2) "
    "ON CONFLICT (job_id) DO UPDATE SET runs = job_effects.runs + 1, last_at = now()";

static void mark_free(uv_handle_t *h)
{
    mark_ctx *c = h->data;
    free(c->requires);
    free(c);
}

static void mark_on_insert(PGresult *res, void *arg)
{
    mark_ctx *c = arg;
    if (pgq_ok(res) && strcmp(PQcmdTuples(res), "0") == 0)
        c->done(c->job, JOB_FAIL, "test.mark: the required row is missing");
    else if (pgq_ok(res))
        c->done(c->job, JOB_OK, NULL);
    else
        c->done(c->job, JOB_RETRY, res ? PQresultErrorMessage(res) : "database connection lost");
    uv_close((uv_handle_t *)&c->timer, mark_free);
}

static void mark_insert(mark_ctx *c)
{
    const char *params[] = {c->job->id, c->requires};
    if (pgq_exec_sql(c->w->pg, mark_sql, 2, params, mark_on_insert, c) != 0) {
        c->done(c->job, JOB_RETRY, "database unavailable");
        uv_close((uv_handle_t *)&c->timer, mark_free);
    }
}

static void mark_on_timer(uv_timer_t *t)
{
    mark_insert(t->data);
}

int job_test_mark_run(worker_t *w, job_t *job, job_done_cb *done)
{
    long long sleep_ms = 0, fail = 0;
    int fail_hard = 0;
    const char *requires = NULL;
    char *req_copy = NULL;
    json_t *p = jsonx_parse_object(job->payload, job->payload_len, NULL, 0);
    if (p) {
        jsonx_int(p, "sleep_ms", &sleep_ms);
        jsonx_int(p, "fail", &fail);
        jsonx_bool(p, "fail_hard", &fail_hard);
        if (jsonx_str(p, "requires", &requires) == 0)
            req_copy = strdup(requires);
        json_decref(p);
    }
    if (fail_hard || job->attempt <= fail) {
        free(req_copy);
        done(job, fail_hard ? JOB_FAIL : JOB_RETRY,
             fail_hard ? "test.mark: fail_hard" : "test.mark: failing on purpose");
        return 0;
    }
    mark_ctx *c = calloc(1, sizeof(*c));
    if (!c) {
        free(req_copy);
        return JOB_RETRY;
    }
    c->requires = req_copy;
    c->w = w;
    c->job = job;
    c->done = done;
    uv_timer_init(w->loop, &c->timer);
    c->timer.data = c;
    if (sleep_ms > 0 && sleep_ms <= 60000)
        uv_timer_start(&c->timer, mark_on_timer, (uint64_t)sleep_ms, 0);
    else
        mark_insert(c);
    return 0;
}
