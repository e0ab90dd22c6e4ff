/* sched_digest.c -- the delayed-mail scheduler: unread-chat digests and mail held past quiet hours,
 * every 5 s.
 *
 * Each tick runs two statements, each its own transaction and safe to run
 * from any number of workers at once (schema/functions/mail.sql):
 *   epos_digest_collect(now - digest_delay_s) queues ONE digest mail (its
 *       data: the chat.digest template writes it) per recipient with chat
 *       messages unread for digest_delay_s;
 *   epos_mail_release(now) queues again the mail held in mail_deferred
 *       whose quiet hours are over.
 * A tick is skipped while the previous one is still running. */
#include <stdio.h>

#include "epos/log.h"
#include "worker.h"

#define DIGEST_TICK_MS 5000

/* Each statement takes the first nparams of (digest_delay_s). */
static const struct {
    const char *sql;
    int nparams;
} digest_sql[] = {
    {"SELECT epos_digest_collect(now() - make_interval(secs => $1::integer))", 1},
    {"SELECT epos_mail_release(now())", 0},
};
#define DIGEST_NSQL (sizeof(digest_sql) / sizeof(digest_sql[0]))

typedef struct digest_sched {
    worker_t *w;
    uv_timer_t timer;
    size_t step; /* the statement running; DIGEST_NSQL when idle */
} digest_sched;

static digest_sched sched; /* one per process, like the service */

static void digest_step(digest_sched *s);

static void digest_on_result(PGresult *res, void *arg)
{
    digest_sched *s = arg;
    if (!pgq_ok(res)) {
        if (res && !s->w->stopping)
            log_warn("digest scheduler: %s", PQresultErrorMessage(res));
    } else {
        long long n = pgq_get_ll(res, 0, PQfname(res, 0), 0);
        if (n > 0)
            log_info("digest scheduler: %lld %s", n,
                     s->step == 0 ? "digest mails queued"
                                  : "held mails released after quiet hours");
    }
    s->step++;
    digest_step(s);
}

static void digest_step(digest_sched *s)
{
    if (s->step >= DIGEST_NSQL || s->w->stopping || !s->w->pg) {
        s->step = DIGEST_NSQL;
        return;
    }
    char delay[16];
    snprintf(delay, sizeof(delay), "%d", s->w->cfg->digest_delay_s);
    const char *params[1] = {delay};
    if (pgq_exec_sql(s->w->pg, digest_sql[s->step].sql, digest_sql[s->step].nparams, params,
                     digest_on_result, s) != 0)
        s->step = DIGEST_NSQL; /* PostgreSQL down: the next tick tries again */
}

static void digest_on_tick(uv_timer_t *t)
{
    digest_sched *s = t->data;
    if (s->step < DIGEST_NSQL)
        return;
    s->step = 0;
    digest_step(s);
}

int sched_digest_start(worker_t *w)
{
    sched.w = w;
    sched.step = DIGEST_NSQL;
    uv_timer_init(w->loop, &sched.timer);
    sched.timer.data = &sched;
    uv_timer_start(&sched.timer, digest_on_tick, 0, DIGEST_TICK_MS);
    return 0;
}

void sched_digest_stop(worker_t *w)
{
    (void)w;
    uv_close((uv_handle_t *)&sched.timer, NULL);
}
