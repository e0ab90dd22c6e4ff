/* mailer_record.c -- the mailer's hooks in the worker: each sending thread records a mail in
 * email_log the moment the server accepts it, and leaves out mails already recorded sent.
 *
 * Each thread has its own blocking PostgreSQL connection (blocking is right
 * on a sending thread; the loop never waits on it). The record is sent before
 * the session's next SMTP command: once its bytes are out, PostgreSQL
 * commits it even if this process is killed the next instant, so a kill -9
 * inside a session can double only a mail whose "250" came in the
 * microseconds before. When the database is away the loop records the mail
 * as before (job_email_notify.c), with retries. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "epos/log.h"
#include "mailer.h"
#include "worker.h"

#define MAILER_RECORD_RETRY_MS 1000 /* after a failed connect, wait this long before the next */

typedef struct mailer_record {
    char *conninfo;
    PGconn *pg;
    uint64_t retry_at; /* CLOCK_MONOTONIC ms before which no connect is tried */
} mailer_record;

static const char record_sql[] = "SELECT epos_email_result($1, 'sent', $2::integer, $3, false)";
static const char filter_sql[] = "SELECT i FROM epos_email_sent_among($1::jsonb) AS i";

static uint64_t mailer_record_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void *mailer_record_open(void *arg)
{
    worker_t *w = arg;
    mailer_record *r = calloc(1, sizeof(*r));
    if (!r || !(r->conninfo = strdup(w->cfg->pg_conninfo ? w->cfg->pg_conninfo : ""))) {
        free(r);
        return NULL;
    }
    return r;
}

static void mailer_record_close(void *ctx)
{
    mailer_record *r = ctx;
    if (!r)
        return;
    PQfinish(r->pg);
    free(r->conninfo);
    free(r);
}

/* The thread's connection, connecting when needed; NULL while the database
 * cannot be reached (then tried again at most once a second). */
static PGconn *mailer_record_conn(mailer_record *r)
{
    if (r->pg && PQstatus(r->pg) == CONNECTION_OK)
        return r->pg;
    PQfinish(r->pg);
    r->pg = NULL;
    uint64_t now = mailer_record_now_ms();
    if (now < r->retry_at)
        return NULL;
    /* The conninfo is expanded as dbname; the later key overrides its own. */
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {r->conninfo, "3", "epos-worker-mailer", NULL};
    r->pg = PQconnectdbParams(keys, vals, 1);
    if (!r->pg || PQstatus(r->pg) != CONNECTION_OK) {
        log_warn("mailer: recording connection: %s",
                 r->pg ? PQerrorMessage(r->pg) : "out of memory");
        PQfinish(r->pg);
        r->pg = NULL;
        r->retry_at = now + MAILER_RECORD_RETRY_MS;
    }
    return r->pg;
}

/* Run one statement; the result, or NULL (the connection is dropped then). */
static PGresult *mailer_record_exec(mailer_record *r, const char *sql, int n,
                                    const char *const *params)
{
    PGconn *pg = mailer_record_conn(r);
    if (!pg)
        return NULL;
    PGresult *res = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_warn("mailer: recording: %s", PQresultErrorMessage(res));
        PQclear(res);
        if (PQstatus(pg) != CONNECTION_OK) {
            PQfinish(pg);
            r->pg = NULL;
        }
        return NULL;
    }
    return res;
}

static int mailer_record_accepted(void *ctx, const mail_t *m, int code, const char *detail)
{
    char c[16];
    snprintf(c, sizeof(c), "%d", code);
    const char *params[] = {m->message_id, c, detail};
    PGresult *res = mailer_record_exec(ctx, record_sql, 3, params);
    int ok = res && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0);
    PQclear(res);
    return ok;
}

static void mailer_record_filter(void *ctx, const mail_t *const *mails, size_t n, int *sent)
{
    json_t *ids = json_array();
    for (size_t i = 0; ids && i < n; i++)
        json_array_append_new(ids, json_string(mails[i]->message_id));
    char *text = ids ? json_dumps(ids, JSON_COMPACT) : NULL;
    json_decref(ids);
    if (!text)
        return;
    const char *params[] = {text};
    PGresult *res = mailer_record_exec(ctx, filter_sql, 1, params);
    for (int i = 0; res && i < PQntuples(res); i++) {
        long k = strtol(PQgetvalue(res, i, 0), NULL, 10);
        if (k >= 1 && (size_t)k <= n)
            sent[k - 1] = 1;
    }
    PQclear(res);
    free(text);
}

void mailer_record_install(worker_t *w)
{
    mailer_hooks h = {
        .open = mailer_record_open,
        .close = mailer_record_close,
        .filter = mailer_record_filter,
        .accepted = mailer_record_accepted,
        .arg = w,
    };
    mailer_set_hooks(w->mailer, &h);
}
