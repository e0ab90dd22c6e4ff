/* rds.h -- hiredis async on a libuv loop: one command connection and one
 * pub/sub connection, both reconnected with backoff; subscriptions are
 * remembered and re-sent after a reconnect. */
#ifndef EPOS_RDS_H
#define EPOS_RDS_H

#include <stddef.h>
#include <hiredis/async.h>
#include <uv.h>

typedef struct rds rds;

/* A pub/sub message on channel. msg is not NUL-terminated-safe: use len. */
typedef void rds_message_cb(const char *channel, const char *msg, size_t len, void *arg);
/* The command connection came up (up=1) or went down (up=0). After an up that
 * follows a down, pub/sub messages may have been missed. */
typedef void rds_state_cb(int up, void *arg);

/* Start connecting to host:port (returns at once). on_message may be NULL when
 * the process never subscribes (no pub/sub connection is made then). */
rds *rds_create(uv_loop_t *loop, const char *host, int port, rds_message_cb *on_message,
                rds_state_cb *on_state, void *arg);

/* Send a command on the command connection. cb may be NULL; when given it
 * runs exactly once, with reply NULL if the connection dropped. Returns 0 when
 * sent, -1 when the connection is down (cb does not run). */
int rds_command(rds *r, redisCallbackFn *cb, void *privdata, const char *fmt, ...);
int rds_command_argv(rds *r, redisCallbackFn *cb, void *privdata, int argc, const char **argv,
                     const size_t *argvlen);

/* Subscribe to / unsubscribe from a channel. Idempotent; kept across reconnects. */
int rds_subscribe(rds *r, const char *channel);
int rds_unsubscribe(rds *r, const char *channel);

int rds_up(const rds *r); /* 1 when the command connection is up */

/* Disconnect both connections and close handles; done runs when all closed. */
void rds_close(rds *r, void (*done)(void *arg), void *arg);

#endif
