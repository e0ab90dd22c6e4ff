/* pgq.c -- libpq on a libuv loop: the pool, its query queue, LISTEN channels, the public API. */
#include "pgq_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PGQ_QUEUE_MAX 10000
#define PGQ_CHANNEL_MAX 63 /* PostgreSQL truncates longer identifiers */

static void pool_free(pgq_pool *p)
{
    for (int i = 0; i < p->nchans; i++)
        free(p->chans[i].name);
    free(p->chans);
    free(p->lconn);
    free(p->conns);
    free(p->conninfo);
    free(p);
}

/* Every handle's close callback ends here; the last one finishes pgq_pool_close. */
void pgq_pool_handle_closed(pgq_pool *p)
{
    if (--p->handles > 0 || !p->closing)
        return;
    if (p->done)
        p->done(p->done_arg);
    pool_free(p);
}

const prom_hist *pgq_query_time(const pgq_pool *p)
{
    return &p->qtime;
}

void pgq_req_finish(pgq_req *q, PGresult *res)
{
    if (q->cb)
        q->cb(res, q->arg);
    PQclear(res);
    free(q);
}

/* Fail every queued query with NULL. The list is detached first, so a
 * callback that submits or closes cannot disturb the walk. */
void pgq_pool_fail_queue(pgq_pool *p)
{
    pgq_req *q = p->head;
    p->head = p->tail = NULL;
    p->nqueued = 0;
    while (q) {
        pgq_req *next = q->next;
        pgq_req_finish(q, NULL);
        q = next;
    }
}

void pgq_pool_dispatch(pgq_pool *p)
{
    for (int i = 0; i < p->size && p->head; i++) {
        pgq_conn *c = &p->conns[i];
        if (c->phase != PHASE_READY || c->flight != FLIGHT_NONE)
            continue;
        pgq_req *q = p->head;
        p->head = q->next;
        if (!p->head)
            p->tail = NULL;
        p->nqueued--;
        q->next = NULL;
        pgq_conn_send(c, q);
    }
}

pgq_pool *pgq_pool_create(uv_loop_t *loop, const char *conninfo, int size, const pgq_stmt *stmts)
{
    pgq_pool *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->loop = loop;
    p->size = size > 0 ? size : 1;
    p->stmts = stmts;
    while (stmts && stmts[p->nstmts].name)
        p->nstmts++;
    p->conninfo = strdup(conninfo ? conninfo : "");
    p->conns = calloc((size_t)p->size, sizeof(*p->conns));
    if (!p->conninfo || !p->conns) {
        free(p->conninfo);
        free(p->conns);
        free(p);
        return NULL;
    }
    for (int i = 0; i < p->size; i++)
        pgq_conn_init(p, &p->conns[i], i, 0);
    return p;
}

void pgq_set_state_cb(pgq_pool *p, pgq_state_cb *cb, void *arg)
{
    if (!p)
        return;
    p->state_cb = cb;
    p->state_arg = arg;
}

/* One allocation: the request, its params array, then the strings. */
static pgq_req *req_new(int prepared, const char *text, int nparams, const char *const *params)
{
    size_t size = sizeof(pgq_req) + (size_t)nparams * sizeof(char *) + strlen(text) + 1;
    for (int i = 0; i < nparams; i++)
        if (params[i])
            size += strlen(params[i]) + 1;
    pgq_req *q = calloc(1, size);
    if (!q)
        return NULL;
    q->params = (const char **)(q + 1);
    char *s = (char *)(q->params + nparams);
    for (int i = 0; i < nparams; i++) {
        if (!params[i])
            continue;
        size_t n = strlen(params[i]) + 1;
        memcpy(s, params[i], n);
        q->params[i] = s;
        s += n;
    }
    memcpy(s, text, strlen(text) + 1);
    q->text = s;
    q->prepared = prepared;
    q->nparams = nparams;
    return q;
}

static int pool_submit(pgq_pool *p, int prepared, const char *text, int nparams,
                       const char *const *params, pgq_cb *cb, void *arg)
{
    if (!p || !text || p->closing || p->live == 0 || p->nqueued >= PGQ_QUEUE_MAX)
        return -1;
    if (nparams < 0 || nparams > 65535 || (nparams > 0 && !params))
        return -1;
    pgq_req *q = req_new(prepared, text, nparams, params);
    if (!q)
        return -1;
    q->cb = cb;
    q->arg = arg;
    if (p->tail)
        p->tail->next = q;
    else
        p->head = q;
    p->tail = q;
    p->nqueued++;
    pgq_pool_dispatch(p);
    return 0;
}

int pgq_exec(pgq_pool *p, const char *stmt, int nparams, const char *const *params, pgq_cb *cb,
             void *arg)
{
    return pool_submit(p, 1, stmt, nparams, params, cb, arg);
}

int pgq_exec_sql(pgq_pool *p, const char *sql, int nparams, const char *const *params, pgq_cb *cb,
                 void *arg)
{
    return pool_submit(p, 0, sql, nparams, params, cb, arg);
}

int pgq_listen(pgq_pool *p, const char *channel, pgq_notify_cb *cb, void *arg)
{
    if (!p || p->closing || !channel || !cb)
        return -1;
    size_t len = strlen(channel);
    if (len == 0 || len > PGQ_CHANNEL_MAX)
        return -1;
    if (p->nchans == p->capchans) {
        int cap = p->capchans ? p->capchans * 2 : 4;
        pgq_chan *chans = realloc(p->chans, (size_t)cap * sizeof(*chans));
        if (!chans)
            return -1;
        p->chans = chans;
        p->capchans = cap;
    }
    if (!p->lconn) {
        p->lconn = calloc(1, sizeof(*p->lconn));
        if (!p->lconn)
            return -1;
        pgq_conn_init(p, p->lconn, p->size, 1);
    }
    char *name = strdup(channel);
    if (!name)
        return -1;
    p->chans[p->nchans++] = (pgq_chan){name, cb, arg};
    /* A ready, idle LISTEN connection issues it now; otherwise setup will. */
    if (p->lconn->phase == PHASE_READY)
        pgq_conn_advance(p->lconn);
    return 0;
}

int pgq_live(const pgq_pool *p)
{
    return p ? p->live : 0;
}

int pgq_queued(const pgq_pool *p)
{
    return p ? p->nqueued : 0;
}

void pgq_pool_close(pgq_pool *p, void (*done)(void *arg), void *arg)
{
    if (!p || p->closing)
        return;
    p->closing = 1;
    p->done = done;
    p->done_arg = arg;
    p->live = 0;
    for (int i = 0; i < p->size; i++)
        pgq_conn_shutdown(&p->conns[i]);
    if (p->lconn)
        pgq_conn_shutdown(p->lconn);
    pgq_pool_fail_queue(p);
    /* The pool is freed by the last close callback (pgq_pool_handle_closed). */
}

const char *pgq_get(const PGresult *res, int row, const char *col)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if ((st != PGRES_TUPLES_OK && st != PGRES_SINGLE_TUPLE) || !col)
        return NULL;
    int f = PQfnumber(res, col);
    if (f < 0 || row < 0 || row >= PQntuples(res) || PQgetisnull(res, row, f))
        return NULL;
    return PQgetvalue(res, row, f);
}

long long pgq_get_ll(const PGresult *res, int row, const char *col, long long dflt)
{
    const char *v = pgq_get(res, row, col);
    if (!v || !*v)
        return dflt;
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    return *end || errno == ERANGE ? dflt : n;
}

int pgq_ok(const PGresult *res)
{
    if (!res)
        return 0;
    ExecStatusType st = PQresultStatus(res);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}
