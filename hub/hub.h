/* hub.h -- the hub process: its loop, stores, libwebsockets context, counters. */
#ifndef EPOS_HUB_H
#define EPOS_HUB_H

#include <stdint.h>
#include <sys/types.h>
#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <uv.h>

#include "epos/config.h"
#include "epos/pgq.h"
#include "epos/rds.h"

typedef struct fanout fanout;

typedef struct hub_stats {
    uint64_t ws_accepted, ws_closed, ws_auth_ok, ws_auth_fail;
    uint64_t frames_in, frames_out, events_out, msgs_sent;
    uint64_t http_requests, http_errors;
    uint64_t slow_closed, rate_limited;
    uint64_t ws_revoked, ws_user_cap, http_rate_limited;
    uint64_t pubsub_in, fills, resets;
} hub_stats;

typedef struct hub {
    uv_loop_t *loop;
    epos_config cfg;
    struct lws_context *lws;
    pgq_pool *pg;
    rds *redis;
    fanout *fan;
    hub_stats stats;
    long ws_live; /* open WebSocket sessions */
    int stopping;
    uv_signal_t sig_term, sig_int;
    uv_timer_t tick;  /* 1 s housekeeping: auth deadlines, gap sweep */
    uv_timer_t drain; /* shutdown: wait for clients to take their 1001 */
    int drain_ticks;
    struct lws_vhost *vhost;
    int listen_fd; /* ours, with SO_REUSEPORT (listen.c) */
    uv_poll_t listen_poll;
    uv_timer_t listen_pause;
    struct admin_server *admin; /* this process's own admin port */
} hub;

extern hub *the_hub;

/* statements.c: prepared on every pool connection */
extern const pgq_stmt hub_statements[];

/* listen.c: returns 0, or -1 with one line in err */
int listen_start(hub *h, char *err, size_t errlen);
void listen_stop(hub *h);

/* health.c: what the admin port and the public /healthz, /readyz, /metrics
 * answer; and the delivery lag of an event frame (its "ts" to now). */
const struct admin_hooks *health_hooks(void);
void health_observe_delivery(const char *frame, size_t len);

/* portlock.c: take or join the configuration lock of the public port before
 * listening: 0, or -1 with one line in err (held by hubs of another
 * configuration). portlock_tick takes the lock over when its holder left. */
int portlock_take(hub *h, char *err, size_t errlen);
void portlock_tick(hub *h);
void portlock_release(void);

/* ws.c */
extern const struct lws_protocols ws_protocol;
void ws_tick(hub *h);
void ws_close_all(uint16_t code);
/* ws_mask.c: watch the frames arriving on fd for session s; the first
 * unmasked one closes s with 1002. Forget before the fd closes. */
struct session;
void ws_mask_watch(int fd, struct session *s);
void ws_mask_forget(int fd);
void ws_mask_free(void);
/* http.c */
extern const struct lws_protocols http_protocol;
/* http_guard.c: watch the request heads arriving on an accepted fd (until
 * it upgrades); feed is called with every read of fd (ssl: NULL on plain
 * TCP) and returns n, or 0 when it answered 414/431 and the connection is
 * to end. Forget when libwebsockets destroys the wsi. */
#define HTTP_GUARD_URI_MAX 4096  /* bytes of the request line */
#define HTTP_GUARD_HEAD_MAX 8192 /* bytes of the whole head */
void http_guard_watch(int fd, struct lws *wsi);
ssize_t http_guard_feed(int fd, SSL *ssl, const void *buf, ssize_t n);
void http_guard_forget(struct lws *wsi);
void http_guard_free(void);
/* The most descriptors this process may hold (fd-indexed tables are this long). */
size_t hub_fd_limit(void);

/* Milliseconds of the loop's clock. */
static inline uint64_t hub_now_ms(void)
{
    return uv_now(the_hub->loop);
}

#endif
