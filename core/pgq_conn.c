/* pgq_conn.c -- one pgq connection: non-blocking connect, setup, send/flush/read, reconnect. */
#include "pgq_internal.h"

#include "epos/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PGQ_BACKOFF_MIN_MS 100
#define PGQ_BACKOFF_MAX_MS 5000
#define PGQ_CONNECT_TIMEOUT_MS 10000

static void conn_on_poll(uv_poll_t *h, int status, int events);
static void conn_on_timer(uv_timer_t *t);

/* Log libpq's text on one line: its messages span lines and end with one. */
static void conn_log(pgq_conn *c, int level, const char *what, const char *msg)
{
    if (!log_enabled(level))
        return;
    char line[512];
    size_t n = 0;
    for (const char *s = msg ? msg : ""; *s && n < sizeof(line) - 1; s++) {
        int space = *s == '\n' || *s == '\t' || *s == ' ';
        if (!space)
            line[n++] = *s;
        else if (n > 0 && line[n - 1] != ' ')
            line[n++] = ' ';
    }
    while (n > 0 && line[n - 1] == ' ')
        n--;
    line[n] = '\0';
    log_write(level, "pgq: conn %d: %s%s%s", c->id, what, n && *what ? ": " : "", line);
}

/* Server notices go to our log instead of libpq's default, stderr. */
static void conn_on_notice(void *arg, const PGresult *res)
{
    pgq_conn *c = arg;
    const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    /* WARNING, or the ERROR/FATAL a backend sends before it closes an idle connection. */
    int loud = sev && (strcmp(sev, "WARNING") == 0 || strcmp(sev, "ERROR") == 0 ||
                       strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0);
    conn_log(c, loud ? LOG_LEVEL_WARN : LOG_LEVEL_DEBUG, "", PQresultErrorMessage(res));
}

static void poll_on_close(uv_handle_t *h)
{
    pgq_conn *c = h->data;
    free(h);
    pgq_pool_handle_closed(c->pool);
}

static void timer_on_close(uv_handle_t *h)
{
    pgq_conn *c = h->data;
    pgq_pool_handle_closed(c->pool);
}

static void conn_close_poll(pgq_conn *c)
{
    if (!c->poll)
        return;
    /* uv_close stops the watcher now, before PQfinish closes the socket. */
    uv_close((uv_handle_t *)c->poll, poll_on_close);
    c->poll = NULL;
    c->events = 0;
    c->fd = -1;
}

/* Set the interest on the current poll handle; a no-op when unchanged. */
static int conn_watch(pgq_conn *c, int events)
{
    if (!c->poll)
        return -1;
    if (events == c->events)
        return 0;
    int rc = events ? uv_poll_start(c->poll, events, conn_on_poll) : uv_poll_stop(c->poll);
    if (rc == 0)
        c->events = events;
    return rc == 0 ? 0 : -1;
}

/* Watch PQsocket, replacing the poll handle when libpq switched sockets. */
static int conn_watch_socket(pgq_conn *c, int events)
{
    int fd = PQsocket(c->pg);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        return -1;
    if (!c->poll || fd != c->fd || st.st_ino != c->ino) {
        conn_close_poll(c);
        uv_poll_t *h = malloc(sizeof(*h));
        if (!h)
            return -1;
        if (uv_poll_init(c->pool->loop, h, fd) != 0) {
            free(h);
            return -1;
        }
        h->data = c;
        c->poll = h;
        c->fd = fd;
        c->ino = st.st_ino;
        c->pool->handles++;
    }
    return conn_watch(c, events);
}

/* Send what libpq buffered; watch for writability only while some is left. */
static int conn_flush(pgq_conn *c)
{
    int rc = PQflush(c->pg);
    if (rc < 0)
        return -1;
    return conn_watch(c, rc ? UV_READABLE | UV_WRITABLE : UV_READABLE);
}

/* Drop the connection; hand back the query in flight and its last result. */
static pgq_req *conn_drop(pgq_conn *c, PGresult **res)
{
    conn_close_poll(c);
    PQfinish(c->pg); /* NULL-safe */
    c->pg = NULL;
    c->phase = PHASE_DOWN;
    c->flight = FLIGHT_NONE;
    pgq_req *q = c->req;
    *res = c->res;
    c->req = NULL;
    c->res = NULL;
    return q;
}

static void conn_fail(pgq_conn *c, const char *why)
{
    pgq_pool *p = c->pool;
    c->fails++;
    conn_log(c, c->fails == 1 ? LOG_LEVEL_WARN : LOG_LEVEL_DEBUG, why,
             c->pg ? PQerrorMessage(c->pg) : "out of memory");
    PGresult *res;
    pgq_req *q = conn_drop(c, &res);
    uv_timer_start(&c->timer, conn_on_timer, c->backoff_ms, 0);
    c->backoff_ms = c->backoff_ms * 2 > PGQ_BACKOFF_MAX_MS ? PGQ_BACKOFF_MAX_MS : c->backoff_ms * 2;
    int was_counted = c->counted;
    if (was_counted) {
        c->counted = 0;
        p->live--;
    }
    /* The query in flight never completed: NULL tells its caller "retry"
     * (answer 503). A result that came before the loss is dropped: libpq
     * (14+) replaces even a terminated backend's FATAL 57P01 by its own
     * "server closed the connection" without a SQLSTATE, which would read
     * as a bug in the statement. */
    PQclear(res);
    if (q)
        pgq_req_finish(q, NULL);
    if (p->closing || !was_counted || p->live > 0)
        return;
    pgq_pool_fail_queue(p);
    if (!p->closing && p->state_cb)
        p->state_cb(0, p->state_arg);
}

/* Defer a failure detected while sending: the caller may be pgq_exec. */
static void conn_fail_later(pgq_conn *c)
{
    c->phase = PHASE_BROKEN;
    conn_watch(c, 0);
    uv_timer_start(&c->timer, conn_on_timer, 0, 0);
}

static void conn_start(pgq_conn *c)
{
    c->pg = PQconnectStart(c->pool->conninfo);
    if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
        conn_fail(c, "connect");
        return;
    }
    PQsetNoticeReceiver(c->pg, conn_on_notice, c);
    c->phase = PHASE_CONNECTING;
    /* libpq: after PQconnectStart, act as if PQconnectPoll said WRITING. */
    if (conn_watch_socket(c, UV_WRITABLE) != 0) {
        conn_fail(c, "poll");
        return;
    }
    uv_timer_start(&c->timer, conn_on_timer, PGQ_CONNECT_TIMEOUT_MS, 0);
}

static void conn_connect_step(pgq_conn *c)
{
    int events;
    switch (PQconnectPoll(c->pg)) {
    case PGRES_POLLING_OK:
        if (PQsetnonblocking(c->pg, 1) != 0 || conn_watch_socket(c, UV_READABLE) != 0) {
            conn_fail(c, "setup");
            return;
        }
        c->phase = PHASE_SETUP;
        c->setup_pos = 0;
        pgq_conn_advance(c);
        return;
    case PGRES_POLLING_READING:
        events = UV_READABLE;
        break;
    case PGRES_POLLING_WRITING:
        events = UV_WRITABLE;
        break;
    default:
        conn_fail(c, "connect");
        return;
    }
    if (conn_watch_socket(c, events) != 0)
        conn_fail(c, "poll");
}

static int conn_send_listen(pgq_conn *c, const char *channel)
{
    char *id = PQescapeIdentifier(c->pg, channel, strlen(channel));
    if (!id)
        return 0;
    size_t n = strlen(id) + sizeof("LISTEN ");
    char *sql = malloc(n);
    int ok = 0;
    if (sql) {
        snprintf(sql, n, "LISTEN %s", id);
        ok = PQsendQuery(c->pg, sql);
    }
    free(sql);
    PQfreemem(id);
    return ok;
}

/* Send the next setup command: a PREPARE, or on the LISTEN connection a
 * LISTEN. Returns 1 when one was sent, 0 when nothing is left, -1 on failure. */
static int conn_setup_next(pgq_conn *c)
{
    pgq_pool *p = c->pool;
    int ok;
    if (c->listen) {
        if (c->setup_pos >= p->nchans)
            return 0;
        ok = conn_send_listen(c, p->chans[c->setup_pos].name);
    } else {
        if (c->setup_pos >= p->nstmts)
            return 0;
        const pgq_stmt *s = &p->stmts[c->setup_pos];
        ok = PQsendPrepare(c->pg, s->name, s->sql, 0, NULL);
    }
    if (!ok)
        return -1;
    c->flight = FLIGHT_SETUP;
    return conn_flush(c) == 0 ? 1 : -1;
}

/* A PREPARE or LISTEN completed. Returns nonzero when the pool closed. */
static int conn_setup_done(pgq_conn *c, PGresult *res)
{
    pgq_pool *p = c->pool;
    int pos = c->setup_pos++;
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        /* Keep going: one bad statement must not take the whole pool down;
         * running it yields an error result naming it. */
        const char *what = c->listen ? p->chans[pos].name : p->stmts[pos].name;
        char head[128];
        snprintf(head, sizeof(head), "%s %s failed", c->listen ? "LISTEN" : "PREPARE", what);
        conn_log(c, LOG_LEVEL_ERROR, head, res ? PQresultErrorMessage(res) : "no result");
        return 0;
    }
    /* The LISTEN is in effect: notifications sent before it were missed. */
    if (c->listen)
        p->chans[pos].cb("", "", p->chans[pos].arg);
    return p->closing;
}

/* The connection finished its setup. Returns nonzero when the pool closed. */
static int conn_ready(pgq_conn *c)
{
    pgq_pool *p = c->pool;
    uv_timer_stop(&c->timer);
    c->phase = PHASE_READY;
    c->backoff_ms = PGQ_BACKOFF_MIN_MS;
    c->fails = 0;
    if (c->readies++ > 0)
        log_info("pgq: conn %d: reconnected", c->id);
    if (c->listen)
        return 0;
    c->counted = 1;
    if (++p->live == 1 && p->state_cb)
        p->state_cb(1, p->state_arg);
    return p->closing;
}

void pgq_conn_send(pgq_conn *c, pgq_req *q)
{
    c->req = q;
    c->flight = FLIGHT_REQ;
    q->sent_ns = uv_hrtime();
    int ok = q->prepared
                 ? PQsendQueryPrepared(c->pg, q->text, q->nparams, q->params, NULL, NULL, 0)
                 : PQsendQueryParams(c->pg, q->text, q->nparams, NULL, q->params, NULL, NULL, 0);
    if (!ok || conn_flush(c) != 0)
        conn_fail_later(c);
}

/* Idle connection: run the next setup step, else take queued work. */
void pgq_conn_advance(pgq_conn *c)
{
    if (c->flight != FLIGHT_NONE || (c->phase != PHASE_SETUP && c->phase != PHASE_READY))
        return;
    int rc = conn_setup_next(c);
    if (rc != 0) {
        if (rc < 0)
            conn_fail_later(c);
        return;
    }
    if (c->phase == PHASE_SETUP && conn_ready(c) != 0)
        return;
    if (!c->listen)
        pgq_pool_dispatch(c->pool);
}

/* The command in flight completed (PQgetResult gave NULL). Returns nonzero
 * when the pool closed in a callback. */
static int conn_complete(pgq_conn *c)
{
    pgq_pool *p = c->pool;
    PGresult *res = c->res;
    c->res = NULL;
    if (c->flight == FLIGHT_SETUP) {
        c->flight = FLIGHT_NONE;
        int closed = conn_setup_done(c, res);
        PQclear(res);
        if (closed)
            return 1;
    } else {
        pgq_req *q = c->req;
        c->req = NULL;
        c->flight = FLIGHT_NONE;
        /* Completed on a connection that died: without ReadyForQuery the
         * outcome is unknown (and libpq's error has no SQLSTATE): NULL. */
        if (PQstatus(c->pg) == CONNECTION_BAD) {
            PQclear(res);
            res = NULL;
        }
        if (res)
            prom_hist_observe(&p->qtime, (double)(uv_hrtime() - q->sent_ns) / 1e9);
        /* Idle before the callback, so a query it submits may run here. */
        pgq_req_finish(q, res);
        if (p->closing)
            return 1;
    }
    pgq_conn_advance(c);
    return p->closing;
}

static int conn_drain(pgq_conn *c)
{
    while (c->phase != PHASE_BROKEN && c->flight != FLIGHT_NONE && !PQisBusy(c->pg)) {
        PGresult *r = PQgetResult(c->pg);
        if (r) {
            PQclear(c->res); /* keep the last one */
            c->res = r;
        } else if (conn_complete(c) != 0) {
            return 1;
        }
    }
    return 0;
}

static int conn_notify(pgq_conn *c)
{
    pgq_pool *p = c->pool;
    PGnotify *n;
    while (!p->closing && (n = PQnotifies(c->pg)) != NULL) {
        for (int i = 0; i < p->nchans && !p->closing; i++)
            if (strcmp(p->chans[i].name, n->relname) == 0)
                p->chans[i].cb(n->relname, n->extra, p->chans[i].arg);
        PQfreemem(n);
    }
    return p->closing;
}

static void conn_read(pgq_conn *c)
{
    int ok = PQconsumeInput(c->pg);
    if (conn_drain(c) != 0 || conn_notify(c) != 0 || c->phase == PHASE_BROKEN)
        return;
    if (!ok || PQstatus(c->pg) == CONNECTION_BAD)
        conn_fail(c, "connection lost");
}

static void conn_on_poll(uv_poll_t *h, int status, int events)
{
    pgq_conn *c = h->data;
    if (status < 0) {
        /* POLLERR (e.g. a refused connect): libuv stopped the watcher; let
         * libpq read the socket error and report it. */
        c->events = 0;
        events = UV_READABLE | UV_WRITABLE;
    }
    if (c->phase == PHASE_CONNECTING) {
        conn_connect_step(c);
        return;
    }
    if ((events & UV_WRITABLE) && conn_flush(c) != 0) {
        conn_fail(c, "write");
        return;
    }
    if (events & UV_READABLE)
        conn_read(c);
}

static void conn_on_timer(uv_timer_t *t)
{
    pgq_conn *c = t->data;
    switch (c->phase) {
    case PHASE_DOWN:
        conn_start(c);
        break;
    case PHASE_BROKEN:
        conn_fail(c, "send");
        break;
    case PHASE_CONNECTING:
    case PHASE_SETUP:
        conn_fail(c, "connect timed out");
        break;
    default:
        break;
    }
}

void pgq_conn_init(pgq_pool *p, pgq_conn *c, int id, int listen)
{
    c->pool = p;
    c->id = id;
    c->listen = listen;
    c->fd = -1;
    c->backoff_ms = PGQ_BACKOFF_MIN_MS;
    uv_timer_init(p->loop, &c->timer);
    c->timer.data = c;
    p->handles++;
    /* Connect from the loop, so pgq_set_state_cb can follow create. */
    uv_timer_start(&c->timer, conn_on_timer, 0, 0);
}

void pgq_conn_shutdown(pgq_conn *c)
{
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, timer_on_close);
    c->counted = 0;
    PGresult *res;
    pgq_req *q = conn_drop(c, &res);
    PQclear(res);
    if (q)
        pgq_req_finish(q, NULL);
}
