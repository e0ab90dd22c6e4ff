/* session.h -- one WebSocket connection of the epos.v1 protocol: its user,
 * its topic subscriptions and its bounded send queue. */
#ifndef EPOS_SESSION_H
#define EPOS_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <libwebsockets.h>

struct lws;
struct topic;
struct hub;

/* A frame is built once and shared by every queue it sits in. The headroom
 * before data lets lws_write() put a WebSocket header there in place. */
typedef struct frame {
    uint32_t refs;
    uint32_t len;
    unsigned char pre[LWS_PRE];
    char data[];
} frame;

frame *frame_new(const char *data, size_t len); /* refs = 1; NULL on OOM */
static inline frame *frame_ref(frame *f)
{
    f->refs++;
    return f;
}
void frame_unref(frame *f);

typedef struct qnode {
    struct qnode *next;
    frame *f;
} qnode;

/* A subscription: the topic and the last seq this connection was given. */
typedef struct sub {
    struct topic *t;
    uint32_t idx;     /* position of this session in t's subscriber array */
    uint8_t syncing;  /* a fill from PostgreSQL is running: live frames wait */
    uint8_t resuming; /* counts toward the "resumed" of the auth reply */
    int64_t seq;
} sub;

enum session_state { SESS_AWAIT_AUTH, SESS_AUTHING, SESS_LIVE, SESS_CLOSING };

typedef struct session {
    struct lws *wsi; /* NULL once libwebsockets closed it */
    uint32_t refs;   /* lws + every pending async request */
    uint32_t id;
    uint8_t state;
    uint8_t strikes;       /* rate-limit violations; too many closes */
    uint16_t close_code;   /* set: close at the next writeable */
    uint8_t close_sent;    /* our close frame is out: hang up */
    uint8_t refreshing;    /* a topics recomputation is running */
    uint8_t refresh_again; /* ... and another was asked for meanwhile */
    uint64_t wrote_ms;     /* loop time of the last direct write */
    int64_t uid, sid;
    int64_t exp;                           /* the token's expiry, unix seconds */
    uint64_t auth_deadline;                /* loop ms */
    struct session *pend_prev, *pend_next; /* sessions awaiting auth, oldest first */
    struct session *user_next;             /* other sessions of the same user */
    struct session *all_prev, *all_next;   /* every open session (ws.c) */
    sub *subs;
    uint32_t nsubs, capsubs;
    uint32_t pending_fills; /* resume fills before "resumed" */
    uint16_t inflight;      /* ops waiting for PostgreSQL */
    qnode *qhead, *qtail;
    uint32_t qbytes;
    uint32_t wlen; /* the last write; libwebsockets holds it while lws_partial_buffered() */
    char *rx;      /* a message being reassembled from fragments */
    uint32_t rxlen, rxcap;
    float tokens; /* rate limit bucket */
    uint64_t tokens_ms;
} session;

void session_ref(session *s);
void session_unref(session *s); /* frees when the last reference goes */

/* Queue f (a reference is taken) and ask for a writeable callback. Closes the
 * session (1008) instead when the queue would pass send_queue_max. */
void session_send(session *s, frame *f);
void session_send_text(session *s, const char *text, size_t len);
/* Encode v compactly and send; v's reference is stolen. */
void session_send_json(session *s, json_t *v);
/* {"op":"error","code","message"} echoing rid/cid from req when present. */
void session_error(session *s, const json_t *req, const char *code, const char *message);
/* Close with code at the next writeable callback. */
void session_close(session *s, uint16_t code);

sub *session_find_sub(session *s, const char *topic);

/* The session behind s may no longer act (reason "revoked", "expired" or
 * "disabled"): say why in an unauthorized error, then close 4401. */
void session_revoke(session *s, const char *reason);

/* session_check.c: every session_check_s, close the sockets whose session
 * was revoked or expired, even when the Redis notice of it was lost. One
 * query per hub and round; nothing when PostgreSQL is down. */
void session_check_live(struct hub *h);

#endif
