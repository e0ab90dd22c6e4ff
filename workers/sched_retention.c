/* sched_retention.c -- the event log's retention pass: at start and every
 * hour, epos_events_maintain(event_retention_days) (schema/functions/events.sql) creates the
 * partitions of this month and the next three and drops the months older
 * than the retention. Safe from any number of workers: one runs the pass,
 * the others skip it (an advisory lock), and each month is dropped once. */
#include <stdio.h>
#include <string.h>

#include "epos/log.h"
#include "worker.h"

#define RETENTION_TICK_MS (3600 * 1000)

typedef struct retention_sched {
    worker_t *w;
    uv_timer_t timer;
    int running;
} retention_sched;

static retention_sched sched; /* one per process, like the service */

static void retention_on_result(PGresult *res, void *arg)
{
    retention_sched *s = arg;
    s->running = 0;
    if (!pgq_ok(res)) {
        if (res && !s->w->stopping)
            log_warn("retention pass: %s", PQresultErrorMessage(res));
        return;
    }
    const char *out = pgq_get(res, 0, "result");
    /* Quiet unless it changed something. */
    if (out && !strstr(out, "\"skipped\"") &&
        strcmp(out, "{\"created\": [], \"dropped\": []}") != 0)
        log_info("retention pass (%d days): %s", s->w->cfg->event_retention_days, out);
}

static void retention_on_tick(uv_timer_t *t)
{
    retention_sched *s = t->data;
    if (s->running || s->w->stopping || !s->w->pg)
        return;
    char days[16];
    snprintf(days, sizeof(days), "%d", s->w->cfg->event_retention_days);
    const char *params[1] = {days};
    if (pgq_exec_sql(s->w->pg, "SELECT epos_events_maintain($1::integer)::text AS result", 1,
                     params, retention_on_result, s) == 0)
        s->running = 1; /* else PostgreSQL is down: the next tick tries again */
}

int sched_retention_start(worker_t *w)
{
    sched.w = w;
    sched.running = 0;
    uv_timer_init(w->loop, &sched.timer);
    sched.timer.data = &sched;
    uv_timer_start(&sched.timer, retention_on_tick, 0, RETENTION_TICK_MS);
    return 0;
}

void sched_retention_stop(worker_t *w)
{
    (void)w;
    uv_close((uv_handle_t *)&sched.timer, NULL);
}
