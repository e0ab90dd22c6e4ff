/* rds_internal.h -- what core/rds.c (the links) and core/rds_sentinel.c
 * (finding and following the master) share; not a public header. */
#ifndef EPOS_RDS_INTERNAL_H
#define EPOS_RDS_INTERNAL_H

#include "epos/dict.h"
#include "epos/rds.h"

#define RDS_BACKOFF_MIN_MS 100
#define RDS_BACKOFF_MAX_MS 5000

typedef struct rds_link {
    rds *r;
    const char *role;      /* "cmd" or "sub": logs and the client name */
    redisAsyncContext *ac; /* NULL while down; hiredis owns and frees it */
    int connected;         /* connected, and (with sentinels) ROLE said master */
    int ready;             /* connected, and (sub) every resubscription confirmed */
    int pending;           /* sub: SUBSCRIBE confirmations still awaited */
    int fails;             /* failures in a row, to keep the log quiet */
    int resolving;         /* waiting for the sentinels' answer before connecting */
    unsigned backoff_ms;
    uv_timer_t timer; /* reconnect backoff; the close sequence */
} rds_link;

/* Sentinel mode: the master's address comes from the sentinels, asked before
 * every connect, and a watch connection follows +switch-master. */
typedef struct rds_sentinel {
    int n; /* sentinels; 0: not in sentinel mode */
    char **hosts;
    int *ports;
    char *name;              /* the master name the sentinels monitor */
    int ask;                 /* the sentinel the next query starts with */
    redisAsyncContext *q_ac; /* the query in flight, NULL when none */
    int q_idx, q_tried, q_found;
    uv_timer_t q_timer;      /* the query's timeout */
    redisAsyncContext *w_ac; /* the watch: SUBSCRIBE +switch-master */
    int w_idx;
    unsigned w_backoff_ms;
    uv_timer_t w_timer; /* the watch's reconnect */
    unsigned changes;   /* times the master moved since the first answer */
    int known;          /* host:port came from a sentinel at least once */
} rds_sentinel;

struct rds {
    uv_loop_t *loop;
    char *host; /* the master's address (in sentinel mode: as last heard) */
    int port;
    rds_message_cb *on_message;
    rds_state_cb *on_state;
    void *arg;
    rds_link cmd, sub;
    dict *subs;   /* channel -> non-NULL */
    int reported; /* the last up value given to on_state */
    int closing;
    rds_sentinel sent;
    void (*done)(void *);
    void *done_arg;
};

/* rds.c */
void rds_link_connect(rds_link *l);
void rds_link_retry(rds_link *l, const char *why);
void rds_link_up(rds_link *l);
void rds_link_drop(rds_link *l, const char *why);
/* Attach ac to the loop with the poll hooks that notice socket errors.
 * Returns 0; -1 after freeing ac. */
int rds_attach(redisAsyncContext *ac, uv_loop_t *loop);

/* rds_sentinel.c */
/* Ask the sentinels for the master, then connect (or retry) every link
 * waiting with resolving set. */
void rds_sentinel_resolve(rds *r);
/* After connect in sentinel mode: check with ROLE that it is the master. */
void rds_sentinel_check_role(rds_link *l);
/* Init the timers (at create) / free the contexts (at close, from a timer). */
void rds_sentinel_init(rds *r);
void rds_sentinel_stop(rds *r);
/* Close the sentinel timers; cb runs for each (2 calls). */
void rds_sentinel_close_handles(rds *r, uv_close_cb cb);
void rds_sentinel_free(rds *r);

#endif
