/* pgq_internal.h -- what core/pgq.c (the pool, its queue, the API) and
 * core/pgq_conn.c (one connection's state machine) share; not a public header. */
#ifndef EPOS_PGQ_INTERNAL_H
#define EPOS_PGQ_INTERNAL_H

#include <stdint.h>
#include <sys/types.h>

#include "epos/pgq.h"
#include "epos/prom.h"

/* A connection is DOWN (reconnect timer armed), CONNECTING (PQconnectPoll),
 * in SETUP (preparing statements or issuing LISTENs), READY, or BROKEN: a send
 * failed and its failure is deferred to the timer so that no callback runs
 * inside pgq_exec or pgq_listen. */
enum { PHASE_DOWN, PHASE_CONNECTING, PHASE_SETUP, PHASE_READY, PHASE_BROKEN };
enum { FLIGHT_NONE, FLIGHT_REQ, FLIGHT_SETUP };

typedef struct pgq_req {
    struct pgq_req *next;
    const char *text; /* statement name or SQL; inside this allocation */
    int prepared;
    int nparams;
    const char **params; /* inside this allocation; NULL entries are SQL NULL */
    pgq_cb *cb;
    void *arg;
    uint64_t sent_ns; /* uv_hrtime() when it went to the server */
} pgq_req;

typedef struct pgq_chan {
    char *name;
    pgq_notify_cb *cb;
    void *arg;
} pgq_chan;

typedef struct pgq_conn {
    pgq_pool *pool;
    int id;     /* for logs; the LISTEN connection is number size */
    int listen; /* the dedicated LISTEN connection */
    int phase;
    int flight;
    int counted;   /* included in pool->live */
    int events;    /* interest currently set on poll */
    int fd;        /* socket poll watches, with its inode: libpq may */
    ino_t ino;     /* replace the socket during connect, even under the same number */
    int setup_pos; /* statements prepared / channels listened on this connection */
    int readies;   /* times this connection became ready */
    int fails;     /* failures in a row, to keep the log quiet while the server is down */
    unsigned backoff_ms;
    PGconn *pg;
    uv_poll_t *poll;  /* heap: replaced while the old one may still be closing */
    uv_timer_t timer; /* reconnect backoff, connect timeout, deferred failure */
    pgq_req *req;     /* the query in flight */
    PGresult *res;    /* its last result so far */
} pgq_conn;

struct pgq_pool {
    uv_loop_t *loop;
    char *conninfo;
    const pgq_stmt *stmts;
    int nstmts;
    int size;
    pgq_conn *conns;
    pgq_conn *lconn; /* NULL until the first pgq_listen */
    pgq_chan *chans;
    int nchans, capchans;
    pgq_req *head, *tail;
    int nqueued;
    int live;
    int closing;
    int handles; /* uv handles open or closing */
    pgq_state_cb *state_cb;
    void *state_arg;
    void (*done)(void *);
    void *done_arg;
    prom_hist qtime; /* send to result of every query answered */
};

/* pgq_conn.c */

/* Set up c as connection number id of p (listen: the LISTEN connection) and
 * arm its timer to connect from the loop, never inside this call. Counts the
 * timer in p->handles; p->loop must be set. */
void pgq_conn_init(pgq_pool *p, pgq_conn *c, int id, int listen);
/* If c is idle in SETUP or READY: send its next setup step (a send failure
 * is deferred to c's timer); with none left, finish setup (may run the state
 * callback) and, on a query connection, let the pool dispatch queued work. */
void pgq_conn_advance(pgq_conn *c);
/* Send q on c, which must be READY and idle; c owns q until its callback.
 * Never calls back: a failure is deferred to c's timer. */
void pgq_conn_send(pgq_conn *c, pgq_req *q);
/* For pgq_pool_close: close c's handles, finish its socket, and call its
 * query in flight back with NULL. */
void pgq_conn_shutdown(pgq_conn *c);

/* pgq.c */

/* A handle of the pool closed; the last one after pgq_pool_close runs the
 * done callback and frees the pool. */
void pgq_pool_handle_closed(pgq_pool *p);
/* Run q's callback with res (may be NULL), then free res and q. */
void pgq_req_finish(pgq_req *q, PGresult *res);
/* Call every queued query back with NULL; callbacks may submit or close. */
void pgq_pool_fail_queue(pgq_pool *p);
/* Hand queued queries to the READY, idle query connections. */
void pgq_pool_dispatch(pgq_pool *p);

#endif
