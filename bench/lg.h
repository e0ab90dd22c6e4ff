/* lg.h -- the load generator's types, its one global context and its internal API. */
/* Included by loadgen.c only (see lg_ws.h for why bench parts are headers). */
#ifndef LG_H
#define LG_H

#include <stdint.h>
#include <sys/types.h>

#include "lg_ws.h"

enum lg_state { LG_FREE, LG_CONNECTING, LG_UPGRADING, LG_AUTHING, LG_READY, LG_CLOSED };
enum lg_kind { LG_SUB, LG_PUB, LG_HTTP };
enum lg_mode { LG_IDLE, LG_BROADCAST, LG_CHAT, LG_WATCH };

#define LG_MAX_EVENTS 4096
#define LG_MAX_HTTP 256
#define LG_MAX_MSG (16u << 20) /* a server message larger than this is a protocol error */

/* One client connection. Buffers are allocated only while needed, so 15,000
 * idle connections cost the load generator about 100 bytes each. */
typedef struct lg_conn {
    int fd;
    uint8_t state;    /* enum lg_state */
    uint8_t kind;     /* enum lg_kind */
    uint8_t attempts; /* connects tried; a failed connect is retried up to 3 times */
    uint8_t want_out; /* EPOLLOUT is registered */
    int idx;          /* index in G.conns, or the event index of an HTTP trigger */
    long long chat;   /* chat mode: the chat of this connection's pair */
    uint32_t got;     /* bench events (broadcast) received */
    char *in;         /* bytes received but not yet parsed (HTTP head, partial frame) */
    uint32_t in_len, in_cap;
    char *msg; /* fragments of a message not yet final */
    uint32_t msg_len, msg_cap;
    char *out; /* bytes the socket did not take yet */
    uint32_t out_len, out_cap;
    const char *token; /* auth token, NULL with --no-auth */
    char key[LGWS_KEY_LEN + 1];
} lg_conn;

typedef struct lg_event {
    int64_t t0;   /* trigger written */
    int64_t last; /* last subscriber delivery */
    int count;    /* deliveries to subscribers */
    int expect;   /* subscribers ready when triggered */
} lg_event;

typedef struct lg_ctx {
    /* options */
    enum lg_mode mode;
    const char *label; /* "hub", "ws": names the target in the output */
    const char *host;
    int port;
    const char *path;
    const char *proto; /* subprotocol, NULL with --no-subprotocol */
    int n;             /* subscribers (idle, broadcast) */
    int src_ips;       /* source addresses 127.0.0.1 .. 127.0.0.<src_ips> */
    int window;        /* connects in flight at once */
    int rate;          /* connects per second */
    int no_auth;
    char **tokens;
    int ntokens;
    pid_t server_pid;
    int hold;
    int settle_ms;
    int warm, singles, bursts, burst; /* broadcast rounds */
    int gap_ms, round_timeout_ms;
    const char *api_key; /* broadcast trigger by POST /api/publish when set */
    long long org, group;
    const char *pairs_file; /* chat: "chat token_a token_b" per line */
    int pairs;
    int chat_rate, chat_secs, warmup_secs;
    const char *watch_type; /* watch: count events of this type */
    int expect, timeout_s;  /* watch: stop after expect events or timeout_s */
    /* runtime */
    int ep;
    volatile int stop;
    lg_conn *conns; /* n subscribers (+1 publisher) */
    int nconns;
    lg_conn http[LG_MAX_HTTP];
    int next_open, inflight, opened;
    int *retry;
    int nretry;
    int ready, failed, dropped, errors;
    int64_t t_start, t_ready;
    lg_event ev[LG_MAX_EVENTS];
    unsigned run_id;
} lg_ctx;

static lg_ctx G;

/* connections (loadgen.c) */
static int conn_open(lg_conn *c);
static void conn_close(lg_conn *c);
static int conn_send(lg_conn *c, const void *data, size_t len);
static int conn_send_text(lg_conn *c, const char *text, size_t len);

/* modes (lg_modes.h) */
static int mode_init(void);
static void mode_on_ready(lg_conn *c);
static void mode_on_line(lg_conn *c, const char *line, size_t len);
static void mode_on_http(lg_conn *c, int status);
static int mode_step(int64_t now); /* 1 when the run is over */
static int mode_timeout_ms(int64_t now);
static void mode_report(void);
static void mode_free(void);

#endif
