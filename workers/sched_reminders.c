/* sched_reminders.c -- the deadline pass: epos_reminders_due every 15 s and right after each org's
 * deadline.
 *
 * epos_reminders_due (schema/functions/reminders.sql) runs the pass of every org
 * whose deadline passed today on a workday and that has no reminder_runs
 * row yet: exactly once per org and day however many workers call it, and
 * a worker that was down at the deadline catches up the same evening (it
 * also runs once at start). Its frames (timesheet.reminder to the teachers,
 * timesheet.overdue to the administrators) are published here; the mails
 * are outbox rows of the same transaction. epos_reminders_next
 * (044_reminders_next.sql) tells how long until the next deadline, so the
 * timer wakes right after it instead of up to a poll later. */
#include <stdlib.h>
#include <string.h>

#include "epos/jsonx.h"
#include "epos/log.h"
#include "publish.h"

#define REMINDERS_POLL_MS 15000
#define REMINDERS_MARGIN_MS 20 /* past the deadline, so the pass sees it passed */

static const char reminders_sql[] =
    "SELECT epos_reminders_due(now())::text AS due, epos_reminders_next(now()) AS next_ms";

typedef struct reminders_sched {
    worker_t *w;
    uv_timer_t timer;
    int busy;
} reminders_sched;

static reminders_sched sched; /* one per process, like the service */

static void reminders_on_tick(uv_timer_t *t);

static void reminders_log_runs(const char *text)
{
    json_t *v = jsonx_parse_object(text, strlen(text), NULL, 0);
    json_t *runs = v ? json_object_get(v, "runs") : NULL;
    size_t i;
    json_t *r;
    json_array_foreach(runs, i, r)
    {
        log_info("reminders: org %lld, %s: %lld groups missed the deadline (run %lld)",
                 (long long)json_integer_value(json_object_get(r, "org_id")),
                 json_string_value(json_object_get(r, "day"))
                     ? json_string_value(json_object_get(r, "day"))
                     : "?",
                 (long long)json_integer_value(json_object_get(r, "groups_missed")),
                 (long long)json_integer_value(json_object_get(r, "attempt")));
    }
    json_decref(v);
}

/* Wake at the next deadline when it comes before the next poll. */
static void reminders_arm(reminders_sched *s, long long next_ms)
{
    uint64_t wait = REMINDERS_POLL_MS;
    if (next_ms >= 0 && next_ms + REMINDERS_MARGIN_MS < REMINDERS_POLL_MS)
        wait = (uint64_t)next_ms + REMINDERS_MARGIN_MS;
    uv_timer_start(&s->timer, reminders_on_tick, wait, 0);
}

static void reminders_on_result(PGresult *res, void *arg)
{
    reminders_sched *s = arg;
    long long next_ms = -1;
    s->busy = 0;
    if (s->w->stopping)
        return;
    if (pgq_ok(res) && PQntuples(res) == 1) {
        const char *due = pgq_get(res, 0, "due");
        if (due) {
            publish_result(s->w->redis, due, strlen(due));
            reminders_log_runs(due);
        }
        next_ms = pgq_get_ll(res, 0, "next_ms", -1);
    } else if (res) {
        log_warn("reminders: the deadline pass failed: %s", PQresultErrorMessage(res));
    }
    reminders_arm(s, next_ms);
}

static void reminders_on_tick(uv_timer_t *t)
{
    reminders_sched *s = t->data;
    if (s->busy || s->w->stopping)
        return;
    s->busy = 1;
    if (!s->w->pg || pgq_exec_sql(s->w->pg, reminders_sql, 0, NULL, reminders_on_result, s) != 0) {
        s->busy = 0;
        reminders_arm(s, -1); /* PostgreSQL down: try again at the next poll */
    }
}

int sched_reminders_start(worker_t *w)
{
    sched.w = w;
    sched.busy = 0;
    uv_timer_init(w->loop, &sched.timer);
    sched.timer.data = &sched;
    uv_timer_start(&sched.timer, reminders_on_tick, 0, 0);
    return 0;
}

void sched_reminders_stop(worker_t *w)
{
    (void)w;
    uv_timer_stop(&sched.timer);
    uv_close((uv_handle_t *)&sched.timer, NULL);
}
