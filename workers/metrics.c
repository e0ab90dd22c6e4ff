/* metrics.c -- the worker's counters per job kind, rendered with core/prom.c
 * and served on the admin port (core/admin.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epos/admin.h"
#include "epos/prom.h"
#include "mailer.h"
#include "worker.h"

struct metrics {
    worker_t *w;
    job_stats *kinds;
    size_t nkinds;
    admin_server *admin;
};

metrics_t *metrics_create(worker_t *w)
{
    metrics_t *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->kinds = calloc(job_nkinds ? job_nkinds : 1, sizeof(*m->kinds));
    if (!m->kinds) {
        free(m);
        return NULL;
    }
    m->w = w;
    m->nkinds = job_nkinds;
    for (size_t i = 0; i < job_nkinds; i++)
        m->kinds[i].kind = job_kinds[i].kind;
    return m;
}

job_stats *metrics_kind(metrics_t *m, size_t i)
{
    return i < m->nkinds ? &m->kinds[i] : NULL;
}

/* ---------------------------------------------------------------- the text */

/* The counters kept per job kind; kind_value reads field i of st. */
static const struct {
    const char *name, *type, *help;
} kind_families[] = {
    {"epos_jobs_processed_total", "counter", "Jobs finished successfully."},
    {"epos_jobs_failed_total", "counter", "Job attempts that failed."},
    {"epos_jobs_retried_total", "counter", "Failed jobs scheduled again."},
    {"epos_jobs_dead_total", "counter", "Jobs moved to the dead letters."},
    {"epos_jobs_released_total", "counter", "Jobs put back for another worker at shutdown."},
    {"epos_jobs_in_flight", "gauge", "Jobs running now."},
};

static double kind_value(const job_stats *st, size_t i)
{
    switch (i) {
    case 0:
        return (double)st->processed;
    case 1:
        return (double)st->failed;
    case 2:
        return (double)st->retried;
    case 3:
        return (double)st->dead;
    case 4:
        return (double)st->released;
    default:
        return (double)st->in_flight;
    }
}

/* The Prometheus text of every counter and histogram of the worker. */
static void metrics_render(void *arg, prom_buf *b)
{
    metrics_t *m = arg;
    char lab[128];
    for (size_t f = 0; f < sizeof(kind_families) / sizeof(kind_families[0]); f++) {
        prom_family(b, kind_families[f].name, kind_families[f].type, kind_families[f].help);
        for (size_t i = 0; i < m->nkinds; i++) {
            lab[0] = '\0';
            prom_label(lab, sizeof(lab), "kind", m->kinds[i].kind);
            prom_sample(b, kind_families[f].name, lab, kind_value(&m->kinds[i], f));
        }
    }
    prom_family(b, "epos_job_duration_seconds", "histogram",
                "Seconds of each finished job attempt, by kind.");
    for (size_t i = 0; i < m->nkinds; i++) {
        lab[0] = '\0';
        prom_label(lab, sizeof(lab), "kind", m->kinds[i].kind);
        prom_hist_render(b, "epos_job_duration_seconds", lab, &m->kinds[i].duration);
    }
    prom_counter(b, "epos_outbox_relayed_total", "Outbox rows moved to the job streams.",
                 (double)relay_count(m->w->relay));
    if (m->w->mailer) {
        mailer_stats ms;
        mailer_stats_get(m->w->mailer, &ms);
        prom_family(b, "epos_mail_total", "counter",
                    "Mails by outcome of their last SMTP attempt.");
        prom_sample(b, "epos_mail_total", "outcome=\"sent\"", (double)ms.sent);
        prom_sample(b, "epos_mail_total", "outcome=\"temporary\"", (double)ms.tempfail);
        prom_sample(b, "epos_mail_total", "outcome=\"permanent\"", (double)ms.permfail);
        prom_counter(b, "epos_mail_sessions_total", "SMTP sessions opened.", (double)ms.sessions);
        prom_counter(b, "epos_mail_breaker_opens_total",
                     "Times the mailer paused because the relay refused every mail (the breaker "
                     "opened or doubled its pause).",
                     (double)ms.pauses);
        prom_gauge(b, "epos_mail_paused_seconds",
                   "Seconds left of the mailer's pause; 0 while the relay takes mail.",
                   (double)mailer_pause_ms(m->w->mailer) / 1000.0);
        prom_family(
            b, "epos_smtp_session_seconds", "histogram",
            "Seconds of each SMTP session, connect to QUIT (it carries one or more mails).");
        prom_hist_render(b, "epos_smtp_session_seconds", NULL, &ms.session_time);
    }
    if (m->w->pg) {
        prom_family(b, "epos_pg_query_seconds", "histogram",
                    "Seconds from sending a PostgreSQL query to its result.");
        prom_hist_render(b, "epos_pg_query_seconds", NULL, pgq_query_time(m->w->pg));
    }
    prom_gauge(b, "epos_pg_live", "PostgreSQL connections up.", m->w->pg ? pgq_live(m->w->pg) : 0);
    prom_gauge(b, "epos_redis_up", "1 while the Redis command connection is up.",
               m->w->redis ? rds_up(m->w->redis) : 0);
    prom_gauge(b, "epos_worker_up", "1 while the worker runs; 0 while it stops.",
               m->w->stopping ? 0 : 1);
}

static int metrics_ready(void *arg, prom_buf *b)
{
    metrics_t *m = arg;
    int pg = m->w->pg && pgq_live(m->w->pg) > 0, redis = m->w->redis && rds_up(m->w->redis);
    prom_printf(b, "postgresql: %s\nredis: %s\n", pg ? "up" : "down", redis ? "up" : "down");
    return pg && redis && !m->w->stopping;
}

/* ---------------------------------------------------------------- the admin port */

int metrics_listen(metrics_t *m, const char *host, int port, char *err, size_t errlen)
{
    admin_hooks hooks = {metrics_render, metrics_ready, m};
    m->admin = admin_start(m->w->loop, host, port, &hooks, err, errlen);
    return m->admin ? admin_port(m->admin) : -1;
}

void metrics_close(metrics_t *m)
{
    if (!m)
        return;
    admin_close(m->admin);
    m->admin = NULL;
}

void metrics_free(metrics_t *m)
{
    if (!m)
        return;
    free(m->kinds);
    free(m);
}
