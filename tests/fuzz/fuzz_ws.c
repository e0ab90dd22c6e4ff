/* fuzz_ws.c -- the epos.v1 WebSocket protocol of the hub (hub/ws.c,
 * hub/session.c, hub/handle_auth.c, hub/handle_chat.c, core/jsonx.c): text
 * frames, whole or in fragments, through reassembly, the UTF-8 check, the
 * JSON parse, the op dispatcher and the field checks of each op. Invariants:
 * every complete frame is answered (a reply or a close); every reply is a
 * JSON object with a known op that echoes the request's rid and cid; nothing
 * but auth is served before auth; what reaches PostgreSQL is well formed and
 * within the limits; parse -> encode -> parse is the identity; the UTF-8
 * check agrees with an independent one. */
#include "hub/handle_auth.c"
#include "hub/handle_chat.c"
#include "hub/http.h"
#include "hub/pgerr.c"
#include "hub/session.c"
#include "hub/ws.c"

#include "fuzz_util.h"

#define FUZZ_WSI ((struct lws *)&fuzz_wsi_storage)

hub *the_hub;
static hub fuzz_hub;
static int fuzz_wsi_storage, fuzz_res_storage;
#define FUZZ_RES_OK ((PGresult *)&fuzz_res_storage)

/* --- what the session wrote -------------------------------------------------- */

static struct {
    char *out; /* text messages, '\n'-joined frames, each message NUL-ended */
    size_t len, cap;
    size_t nframes;
    int close_code; /* from our own close frame */
} wire;

static struct {
    int final; /* lws_is_final_fragment */
} rx;

int lws_write(struct lws *wsi, unsigned char *buf, size_t len, enum lws_write_protocol protocol)
{
    FUZZ_CHECK(wsi == FUZZ_WSI);
    if (protocol == LWS_WRITE_RAW) {
        FUZZ_CHECK(len == 4 && buf[0] == 0x88 && buf[1] == 2 && !wire.close_code);
        wire.close_code = buf[2] << 8 | buf[3];
        return (int)len;
    }
    FUZZ_CHECK(protocol == LWS_WRITE_TEXT && len > 0);
    if (wire.len + len + 1 > wire.cap) {
        wire.cap = (wire.len + len + 1) * 2;
        wire.out = realloc(wire.out, wire.cap);
        FUZZ_CHECK(wire.out != NULL);
    }
    memcpy(wire.out + wire.len, buf, len);
    wire.len += len;
    wire.out[wire.len++] = '\0';
    return (int)len;
}

int lws_callback_on_writable(struct lws *wsi)
{
    FUZZ_CHECK(wsi == FUZZ_WSI);
    return 1;
}

int lws_partial_buffered(struct lws *wsi)
{
    return 0;
}

int lws_frame_is_binary(struct lws *wsi)
{
    return 0;
}

int lws_is_final_fragment(struct lws *wsi)
{
    return rx.final;
}

size_t lws_remaining_packet_payload(struct lws *wsi)
{
    return 0;
}

void lws_set_timeout(struct lws *wsi, enum pending_timeout reason, int secs)
{
}

void http_reply_error(http_req *r, int status, const char *code, const char *message)
{
    abort(); /* pgerr.c's HTTP half: not reached from the WebSocket */
}

/* --- fan-out: the fuzzed user has no topics ---------------------------------- */

void fanout_user_add(fanout *f, session *s)
{
}
uint32_t fanout_user_count(fanout *f, int64_t uid)
{
    return 1;
}

void ws_mask_watch(int fd, struct session *s)
{
}

void ws_mask_forget(int fd)
{
}

void fanout_user_del(fanout *f, session *s)
{
}
void fanout_unsubscribe_all(fanout *f, session *s)
{
}
void fanout_unsubscribe(fanout *f, session *s, const char *name)
{
    abort(); /* no topics, nothing to drop */
}
sub *fanout_subscribe(fanout *f, session *s, const char *name, int64_t seq)
{
    abort();
}
void fanout_fill_session(fanout *f, session *s, sub *u)
{
    abort();
}
int fanout_topic_valid(const char *name)
{
    abort(); /* reached only for a topic of the user */
}
void fanout_send_reset(session *s, const char *name)
{
    abort();
}
void fanout_publish(fanout *f, const char *topic, int64_t seq, const char *frame, size_t len)
{
    FUZZ_CHECK(strncmp(topic, "chat:", 5) == 0 && len == strlen(frame));
}

/* --- PostgreSQL: calls are checked, then answered after the op returns ------- */

#define PENDING_MAX 64
static struct {
    pgq_cb *cb;
    void *arg;
    char stmt[16];
} pending[PENDING_MAX];
static size_t npending;
static int db_ok, hello_ok;
static const char *last_stmt;

static const char fuzz_hello[] = "{\"user\":{\"id\":1,\"name\":\"Админ\"},\"topics\":{}}";
static const char fuzz_sent[] =
    "{\"id\":5,\"seq\":9,\"ts\":\"2026-02-03T13:00:00Z\",\"frame\":\"{\\\"op\\\":\\\"msg\\\"}\"}";
static const char fuzz_ephemeral[] = "{\"frame\":\"{\\\"op\\\":\\\"typing\\\"}\"}";

/* A decimal of an int64 > 0 (or >= 0 when zero_ok), as snprintf writes it. */
static int is_decimal(const char *s, int zero_ok)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    char again[24];
    snprintf(again, sizeof(again), "%lld", v);
    return !errno && *end == '\0' && strcmp(again, s) == 0 && (v > 0 || (zero_ok && v == 0));
}

static int pgq_exec_park(const char *stmt, pgq_cb *cb, void *arg);

int pgq_exec(pgq_pool *p, const char *stmt, int n, const char *const *params, pgq_cb *cb, void *arg)
{
    for (int i = 0; i < n; i++)
        FUZZ_CHECK(params[i] && fuzz_utf8_valid(params[i], strlen(params[i])));
    FUZZ_CHECK(n >= 2 && strcmp(params[0], "1") == 0); /* the token's user */
    if (strcmp(stmt, "ws_hello") == 0) {
        FUZZ_CHECK(n == 2 && strcmp(params[1], "1") == 0);
        return pgq_exec_park(stmt, cb, arg);
    }
    /* Every write carries the socket's session last (hub/statements.c). */
    FUZZ_CHECK(n >= 3 && is_decimal(params[n - 1], 0));
    if (strcmp(stmt, "chat_send") == 0) {
        FUZZ_CHECK(n == 5 && is_decimal(params[1], 0));
        size_t chars = fuzz_utf8_count(params[3], strlen(params[3]));
        FUZZ_CHECK(chars <= (size_t)the_hub->cfg.max_text);
    } else if (strcmp(stmt, "chat_read") == 0) {
        FUZZ_CHECK(n == 4 && is_decimal(params[1], 0) && is_decimal(params[2], 1));
    } else {
        FUZZ_CHECK(strcmp(stmt, "chat_typing") == 0 && n == 3 && is_decimal(params[1], 0));
    }
    return pgq_exec_park(stmt, cb, arg);
}

/* Keep the call until the input's next step answers it. */
static int pgq_exec_park(const char *stmt, pgq_cb *cb, void *arg)
{
    FUZZ_CHECK(npending < PENDING_MAX);
    pending[npending].cb = cb;
    pending[npending].arg = arg;
    snprintf(pending[npending].stmt, sizeof(pending[npending].stmt), "%s", stmt);
    npending++;
    last_stmt = stmt;
    return 0;
}

int pgq_ok(const PGresult *res)
{
    return res == FUZZ_RES_OK;
}

const char *pgq_get(const PGresult *res, int row, const char *col)
{
    FUZZ_CHECK(res == FUZZ_RES_OK && row == 0);
    if (strcmp(col, "hello") == 0)
        return fuzz_hello;
    FUZZ_CHECK(strcmp(col, "result") == 0);
    return strcmp(last_stmt, "chat_send") == 0 ? fuzz_sent : fuzz_ephemeral;
}

/* Answer every pending call, oldest first (a callback may queue more). */
static void db_answer(void)
{
    for (size_t i = 0; i < npending; i++) {
        int ok = strcmp(pending[i].stmt, "ws_hello") == 0 ? hello_ok : db_ok;
        last_stmt = pending[i].stmt;
        pending[i].cb(ok ? FUZZ_RES_OK : NULL, pending[i].arg);
    }
    npending = 0;
}

/* --- the checks -------------------------------------------------------------- */

static int op_known(const char *op)
{
    static const char *const ops[] = {"error", "pong", "ack", "ok", "hello", "resumed", "reset"};
    for (size_t i = 0; op && i < sizeof(ops) / sizeof(ops[0]); i++)
        if (strcmp(op, ops[i]) == 0)
            return 1;
    return 0;
}

/* The frames written since offset `from`: each a known op; a reply to req
 * (parsed, or NULL) echoes its rid, and an ack its cid. Returns their count. */
static size_t check_replies(size_t from, const json_t *req)
{
    size_t n = 0;
    json_t *rid = req ? json_object_get(req, "rid") : NULL;
    for (size_t off = from; off < wire.len;) {
        char *msg = wire.out + off;
        size_t mlen = strlen(msg);
        off += mlen + 1;
        for (char *f = msg; f;) {
            char *nl = strchr(f, '\n');
            size_t flen = nl ? (size_t)(nl - f) : strlen(f);
            FUZZ_CHECK(fuzz_utf8_valid(f, flen));
            json_t *v = json_loadb(f, flen, JSON_REJECT_DUPLICATES, NULL);
            FUZZ_CHECK(json_is_object(v));
            const char *op = json_string_value(json_object_get(v, "op"));
            FUZZ_CHECK(op_known(op));
            json_t *vrid = json_object_get(v, "rid");
            if (strcmp(op, "error") == 0) {
                FUZZ_CHECK(json_is_string(json_object_get(v, "code")));
                FUZZ_CHECK(json_is_string(json_object_get(v, "message")));
            }
            if (vrid)
                FUZZ_CHECK(rid && json_equal(vrid, rid));
            if (rid && (strcmp(op, "ack") == 0 || strcmp(op, "ok") == 0))
                FUZZ_CHECK(vrid != NULL);
            if (strcmp(op, "ack") == 0)
                FUZZ_CHECK(json_equal(json_object_get(v, "cid"), json_object_get(req, "cid")));
            json_decref(v);
            n++;
            f = nl ? nl + 1 : NULL;
        }
    }
    return n;
}

/* Write out what the session queued, as the writeable callbacks would. */
static void drain(session *s)
{
    for (int i = 0; i < 1000 && (s->qhead || (s->close_code && !s->close_sent)); i++)
        FUZZ_CHECK(ws_writeable(FUZZ_WSI, s) == 0);
    FUZZ_CHECK(!s->qhead);
}

/* The JSON helpers on the raw frame, against independent answers. */
static json_t *check_parse(const char *buf, size_t len)
{
    char err[160];
    int valid = fuzz_utf8_valid(buf, len);
    FUZZ_CHECK(jsonx_utf8_valid(buf, len) == valid);
    if (valid)
        FUZZ_CHECK(jsonx_utf8_len(buf, len) == fuzz_utf8_count(buf, len));
    json_t *req = valid ? jsonx_parse_object(buf, len, err, sizeof(err)) : NULL;
    if (!req)
        return NULL;
    char *text = jsonx_dump(req);
    FUZZ_CHECK(text != NULL);
    json_t *again = jsonx_parse_object(text, strlen(text), err, sizeof(err));
    FUZZ_CHECK(again && json_equal(req, again));
    json_decref(again);
    free(text);
    return req;
}

/* One complete client frame, delivered in fragments of `chunk` bytes (0:
 * whole), then answered by the database and written out. */
static void deliver(session *s, const char *buf, size_t len, size_t chunk)
{
    int before_state = s->state;
    size_t from = wire.len;
    json_t *req = check_parse(buf, len);
    const char *op = NULL;
    if (req)
        jsonx_str(req, "op", &op);
    if (!chunk || chunk >= len) {
        rx.final = 1;
        FUZZ_CHECK(ws_receive(FUZZ_WSI, s, buf, len) == 0);
    } else {
        for (size_t off = 0; off < len && s->state != SESS_CLOSING; off += chunk) {
            size_t n = len - off < chunk ? len - off : chunk;
            rx.final = off + n == len;
            FUZZ_CHECK(ws_receive(FUZZ_WSI, s, buf + off, n) == 0);
        }
    }
    db_answer();
    drain(s);
    size_t replies = check_replies(from, req);
    /* Before auth: only auth is served; anything else is a 4401 close. */
    if (before_state == SESS_AWAIT_AUTH && req && !(op && strcmp(op, "auth") == 0) &&
        s->strikes == 0)
        FUZZ_CHECK(s->close_code == 4401 || (op == NULL && replies > 0));
    /* Every frame is answered, but typing and read receipts without rid. */
    int quiet = db_ok && op && (strcmp(op, "typing") == 0 || strcmp(op, "read") == 0) &&
                !json_object_get(req, "rid") && before_state == SESS_LIVE;
    FUZZ_CHECK(replies > 0 || s->close_code || quiet);
    if (s->close_code)
        FUZZ_CHECK(wire.close_code == s->close_code);
    json_decref(req);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    the_hub = &fuzz_hub;
    fuzz_hub.loop = uv_default_loop();
    epos_config *c = &fuzz_hub.cfg;
    char err[256];
    FUZZ_CHECK(config_load(c, NULL, err, sizeof(err)) == 0);
    free(c->token_secret);
    c->token_secret = strdup("fuzz-secret");
    c->max_frame = 4096; /* small, so the fuzzer reaches the limit */
    c->max_text = 50;
    return 0;
}

/* Input: a flags byte (bit 0: the database answers chat ops, bit 1: it
 * answers auth, bits 2-7: fragment size, 0 for whole frames), then client
 * text frames separated by NUL bytes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    db_ok = data[0] & 1;
    hello_ok = !(data[0] & 2);
    size_t chunk = data[0] >> 2;
    ws_pss pss = {0};
    memset(&wire, 0, sizeof(wire));
    ws_established(FUZZ_WSI, &pss);
    session *s = pss.s;
    FUZZ_CHECK(s != NULL);
    fuzz_split sp = {data + 1, data + size, '\0', 0};
    char *frame;
    size_t len;
    while (fuzz_split_next(&sp, &frame, &len)) {
        /* libwebsockets stops delivering once we close (ws_callback). */
        if (s->state != SESS_CLOSING)
            deliver(s, frame, len, chunk);
        free(frame);
    }
    if (getenv("FUZZ_WS_DUMP")) /* to read what an input did */
        for (size_t off = 0; off < wire.len; off += strlen(wire.out + off) + 1)
            fprintf(stderr, "<< %s\n", wire.out + off);
    ws_closed(FUZZ_WSI, &pss);
    free(wire.out);
    return 0;
}
