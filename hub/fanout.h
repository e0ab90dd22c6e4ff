/* fanout.h -- topics, the sessions subscribed to them, delivery in seq order
 * without gaps, and the Redis pub/sub that joins the hubs. */
#ifndef EPOS_FANOUT_H
#define EPOS_FANOUT_H

#include <stddef.h>
#include <stdint.h>

#include "hub.h"
#include "session.h"

typedef struct topic {
    char *name;
    int64_t last_seq; /* last seq delivered on this hub */
    session **subs;
    uint32_t nsubs, capsubs;
    uint8_t filling; /* a topic fill from PostgreSQL is running */
    uint8_t refill;  /* another gap was seen while filling */
} topic;

fanout *fanout_create(hub *h);
void fanout_free(fanout *f);

/* The longest Redis channel ("ev:" + topic, with its NUL) a topic may have. */
#define FANOUT_CHANNEL_MAX 256
/* 1 when name can be a topic: not empty and its channel fits FANOUT_CHANNEL_MAX
 * (a cut name is never subscribed). */
int fanout_topic_valid(const char *name);
/* Send {"op":"reset","topic":name} to s (built whole, however long the name). */
void fanout_send_reset(session *s, const char *name);
/* Subscribe s to topic name, the session having seen up to seq. Returns the
 * sub, or NULL on OOM or a name that is not fanout_topic_valid. Idempotent:
 * an existing sub is returned unchanged. */
sub *fanout_subscribe(fanout *f, session *s, const char *name, int64_t seq);
void fanout_unsubscribe(fanout *f, session *s, const char *name);
void fanout_unsubscribe_all(fanout *f, session *s);

/* Fetch what sub missed from PostgreSQL and send it, then deliver live again.
 * With resuming set, the session's pending_fills is decremented when done. */
void fanout_fill_session(fanout *f, session *s, sub *u);

/* A frame committed by this hub: deliver locally and publish to the others.
 * seq < 0 marks an ephemeral frame (typing, read receipts). */
void fanout_publish(fanout *f, const char *topic, int64_t seq, const char *frame, size_t len);
/* Same, reading seq from the frame's JSON. */
void fanout_publish_frame(fanout *f, const char *topic, const char *frame, size_t len);

/* Ask every hub to recompute the topics of user uid. */
void fanout_refresh_user(fanout *f, int64_t uid);

/* User index, for entitlement refreshes. */
void fanout_user_add(fanout *f, session *s);
void fanout_user_del(fanout *f, session *s);
/* Call cb for every session in the user index (authenticating or live) until
 * it returns non-zero. cb may close a session but not free one. */
void fanout_user_foreach(fanout *f, int (*cb)(session *s, void *arg), void *arg);
/* The number of sessions of user uid on this hub. */
uint32_t fanout_user_count(fanout *f, int64_t uid);
/* Refresh epos:online:<uid> (TTL 90 s) of every user connected here. */
void fanout_presence_tick(fanout *f);

/* Redis callbacks and the periodic sweep against PostgreSQL. */
void fanout_on_message(const char *channel, const char *msg, size_t len, void *arg);
void fanout_on_redis_state(int up, void *arg);
void fanout_sweep(fanout *f);

size_t fanout_topic_count(const fanout *f);

#endif
