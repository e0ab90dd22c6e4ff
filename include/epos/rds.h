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
/* rds_up() changed: up=1 when the command connection is up and (with
 * on_message) the pub/sub connection is up with every remembered channel's
 * SUBSCRIBE confirmed; up=0 when either drops. After an up that follows a
 * down, pub/sub messages may have been missed. Not called by rds_close. */
typedef void rds_state_cb(int up, void *arg);

/* Start connecting to host:port (returns at once; the first attempt runs from
 * the loop). Give a numeric host: hiredis resolves names synchronously. Lost
 * or refused connections are retried with backoff 100 ms doubling to 5 s.
 * Connections are named "epos-<pid>-cmd" / "epos-<pid>-sub" (CLIENT LIST).
 * on_message may be NULL when the process never subscribes (no pub/sub
 * connection is made then); channel is NUL-terminated, msg is not. */
rds *rds_create(uv_loop_t *loop, const char *host, int port, rds_message_cb *on_message,
                rds_state_cb *on_state, void *arg);

/* Send a command on the command connection (usable whenever that one is
 * connected, even while rds_up() is 0 for the pub/sub one). cb may be NULL; when given it runs
 * exactly once, with reply NULL if the connection dropped or rds_close ran
 * first (never inside rds_command). Returns 0 when sent, -1 when the
 * connection is down or closing (cb does not run). */
int rds_command(rds *r, redisCallbackFn *cb, void *privdata, const char *fmt, ...);
int rds_command_argv(rds *r, redisCallbackFn *cb, void *privdata, int argc, const char **argv,
                     const size_t *argvlen);

/* Subscribe to / unsubscribe from a channel. Idempotent; kept across
 * reconnects; may be called while down (sent on connect). After
 * rds_unsubscribe returns, on_message is never called for that channel.
 * Returns 0, or -1 (no on_message, closing, out of memory). */
int rds_subscribe(rds *r, const char *channel);
int rds_unsubscribe(rds *r, const char *channel);

int rds_up(const rds *r); /* see rds_state_cb */

/* Find the master through Redis Sentinel instead of host:port: sentinels is
 * "host:port,host:port,..." (numeric addresses), name the master name they
 * monitor. Before each connect the sentinels are asked in turn
 * (SENTINEL get-master-addr-by-name), the connection is used only once ROLE
 * says master, and a watch on one sentinel follows +switch-master: both
 * connections then move to the new master at once. Call right after
 * rds_create, before the loop runs. Returns 0, or -1 (bad list or name,
 * already set; nothing changed). */
int rds_use_sentinels(rds *r, const char *sentinels, const char *name);
/* The same sentinels and name as like (nothing when like has none). Returns
 * as rds_use_sentinels. */
int rds_use_sentinels_of(rds *r, const rds *like);
/* Check a redis_sentinels / redis_master_name pair; an empty list is fine (no
 * Sentinel). Returns 0, or -1 with one line in err. */
int rds_sentinels_check(const char *sentinels, const char *name, char *err, size_t errlen);
/* How many times the master moved (a failover) since the first answer: a
 * replica promoted may lack the master's last writes, so whoever keeps state
 * in Redis compares this before trusting it. 0 without Sentinel. */
unsigned rds_master_changes(const rds *r);

/* Disconnect both connections and close handles; pending command callbacks
 * run with NULL from the loop, not inside rds_close. Safe inside any rds or
 * hiredis callback. done (may be NULL) runs when every handle, hiredis's
 * included, is closed; then r is freed. */
void rds_close(rds *r, void (*done)(void *arg), void *arg);

#endif
