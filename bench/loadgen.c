/* loadgen.c -- many WebSocket clients from one epoll thread: idle, broadcast and chat load. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lg.h"
#include "lg_util.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

static char lg_rbuf[256 * 1024];

static void lg_on_signal(int sig)
{
    (void)sig;
    G.stop = 1;
}

/* Raise the soft descriptor limit to the hard one; returns the new soft limit. */
static long lg_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    return (long)rl.rlim_cur;
}

static int buf_append(char **buf, uint32_t *len, uint32_t *cap, const void *data, size_t n)
{
    if ((size_t)*len + n > LG_MAX_MSG)
        return -1;
    if (*len + n > *cap) {
        uint32_t nc = *cap ? *cap : 1024;
        while (nc < *len + n)
            nc *= 2;
        char *nb = realloc(*buf, nc);
        if (!nb)
            return -1;
        *buf = nb;
        *cap = nc;
    }
    memcpy(*buf + *len, data, n);
    *len += (uint32_t)n;
    return 0;
}

static void conn_set_out(lg_conn *c, int on)
{
    if (c->want_out == on)
        return;
    struct epoll_event e = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(G.ep, EPOLL_CTL_MOD, c->fd, &e);
    c->want_out = (uint8_t)on;
}

static void conn_free_buffers(lg_conn *c)
{
    free(c->in);
    free(c->msg);
    free(c->out);
    c->in = c->msg = c->out = NULL;
    c->in_len = c->in_cap = c->msg_len = c->msg_cap = c->out_len = c->out_cap = 0;
}

static void conn_close(lg_conn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(G.ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    if (c->state == LG_READY && c->kind != LG_HTTP) {
        G.ready--;
        G.dropped++;
    }
    if (c->state == LG_CONNECTING || c->state == LG_UPGRADING || c->state == LG_AUTHING)
        G.inflight--;
    c->fd = -1;
    c->state = LG_CLOSED;
    c->want_out = 0;
    conn_free_buffers(c);
}

/* A connection that never became ready: retry it a few times, then count it failed. */
static void conn_fail(lg_conn *c, const char *why)
{
    int before_ready = c->state != LG_READY;
    if (G.failed + G.nretry < 5 || c->kind != LG_SUB)
        fprintf(stderr, "loadgen: connection %d: %s\n", c->idx, why);
    conn_close(c);
    if (c->kind == LG_HTTP)
        mode_on_http(c, -1);
    if (!before_ready || c->kind == LG_HTTP)
        return;
    if (c->attempts < 3) {
        c->state = LG_FREE;
        G.retry[G.nretry++] = c->idx;
    } else {
        G.failed++;
    }
}

static int conn_open(lg_conn *c)
{
    struct sockaddr_in src = {.sin_family = AF_INET}, dst = {.sin_family = AF_INET};
    int one = 1;
    c->attempts++;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    if (c->fd < 0) {
        perror("loadgen: socket");
        return -1;
    }
    setsockopt(c->fd, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof(one));
    if (c->kind != LG_HTTP && G.src_ips > 1) {
        /* Spread the 4-tuples over several source addresses: 15,000 connections
         * plus the TIME_WAITs of the previous run must not run out of ports. */
        src.sin_addr.s_addr = htonl(0x7F000001u + (uint32_t)(c->idx % G.src_ips));
        setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        if (bind(c->fd, (struct sockaddr *)&src, sizeof(src)) != 0)
            perror("loadgen: bind");
    }
    dst.sin_port = htons((uint16_t)G.port);
    inet_pton(AF_INET, G.host, &dst.sin_addr);
    if (connect(c->fd, (struct sockaddr *)&dst, sizeof(dst)) != 0 && errno != EINPROGRESS) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    struct epoll_event e = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    epoll_ctl(G.ep, EPOLL_CTL_ADD, c->fd, &e);
    c->want_out = 1;
    c->state = LG_CONNECTING;
    G.inflight++;
    return 0;
}

/* Write now what the socket takes; keep the rest for EPOLLOUT. 0 or -1. */
static int conn_send(lg_conn *c, const void *data, size_t len)
{
    const char *p = data;
    if (c->fd < 0)
        return -1;
    if (c->out_len == 0) {
        ssize_t w = send(c->fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN)
            return -1;
        if (w > 0) {
            p += w;
            len -= (size_t)w;
        }
        if (len == 0)
            return 0;
    }
    if (buf_append(&c->out, &c->out_len, &c->out_cap, p, len) != 0)
        return -1;
    conn_set_out(c, 1);
    return 0;
}

static int conn_send_frame(lg_conn *c, int opcode, const void *payload, size_t len)
{
    uint8_t stack[4096];
    uint8_t *buf = len + 14 <= sizeof(stack) ? stack : malloc(len + 14);
    if (!buf)
        return -1;
    long n = lgws_frame(buf, len + 14, opcode, payload, len);
    int rc = n < 0 ? -1 : conn_send(c, buf, (size_t)n);
    if (buf != stack)
        free(buf);
    return rc;
}

static int conn_send_text(lg_conn *c, const char *text, size_t len)
{
    return conn_send_frame(c, LGWS_TEXT, text, len);
}

static void conn_ready(lg_conn *c)
{
    c->state = LG_READY;
    G.inflight--;
    G.ready++;
    mode_on_ready(c);
}

/* The upgrade completed: authenticate, or be ready. */
static void conn_upgraded(lg_conn *c)
{
    char buf[1024];
    if (!c->token) {
        conn_ready(c);
        return;
    }
    int n = snprintf(buf, sizeof(buf), "{\"op\":\"auth\",\"token\":\"%s\"}", c->token);
    c->state = LG_AUTHING;
    if (n <= 0 || (size_t)n >= sizeof(buf) || conn_send_text(c, buf, (size_t)n) != 0)
        conn_fail(c, "auth send failed");
}

/* One complete message: split it into its '\n'-separated lines. */
static void conn_on_message(lg_conn *c, const char *m, size_t len)
{
    const char *end = m + len;
    while (m < end && c->state != LG_CLOSED) {
        const char *nl = memchr(m, '\n', (size_t)(end - m));
        size_t l = nl ? (size_t)(nl - m) : (size_t)(end - m);
        if (l > 0) {
            if (c->state == LG_AUTHING) {
                if (lg_json_is(m, l, "op", "hello")) {
                    conn_ready(c);
                } else if (lg_json_is(m, l, "op", "error")) {
                    fprintf(stderr, "loadgen: auth refused: %.*s\n", (int)(l > 300 ? 300 : l), m);
                    conn_fail(c, "auth refused");
                    return;
                }
            } else {
                mode_on_line(c, m, l);
            }
        }
        m += l + 1;
    }
}

static void conn_on_frame(lg_conn *c, const lgws_hdr *h, const uint8_t *p)
{
    switch (h->opcode) {
    case LGWS_TEXT:
    case LGWS_BIN:
    case LGWS_CONT:
        if (h->opcode != LGWS_CONT && c->msg_len) {
            conn_fail(c, "new message inside a fragmented one");
            return;
        }
        if (h->fin && c->msg_len == 0) {
            conn_on_message(c, (const char *)p, h->len);
            return;
        }
        if (buf_append(&c->msg, &c->msg_len, &c->msg_cap, p, h->len) != 0) {
            conn_fail(c, "message too large");
            return;
        }
        if (h->fin) {
            uint32_t l = c->msg_len;
            c->msg_len = 0;
            conn_on_message(c, c->msg, l);
        }
        return;
    case LGWS_PING:
        conn_send_frame(c, LGWS_PONG, p, h->len);
        return;
    case LGWS_CLOSE: {
        int code = h->len >= 2 ? (p[0] << 8) | p[1] : 1005;
        char why[160];
        snprintf(why, sizeof(why), "server closed (%d %.*s)", code,
                 (int)(h->len > 2 ? h->len - 2 : 0), (const char *)p + 2);
        conn_send_frame(c, LGWS_CLOSE, p, h->len >= 2 ? 2 : 0);
        conn_fail(c, why);
        return;
    }
    default:
        return; /* pong, reserved opcodes */
    }
}

/* Parse every complete frame of data (plus what c kept from before). */
static void conn_feed_frames(lg_conn *c, const char *data, size_t len)
{
    const uint8_t *buf = (const uint8_t *)data;
    size_t n = len, off = 0;
    if (c->in_len) {
        if (buf_append(&c->in, &c->in_len, &c->in_cap, data, len) != 0) {
            conn_fail(c, "receive buffer overflow");
            return;
        }
        buf = (const uint8_t *)c->in;
        n = c->in_len;
    }
    while (off < n) {
        lgws_hdr h;
        int r = lgws_parse(buf + off, n - off, &h);
        if (r < 0) {
            conn_fail(c, "protocol error in server frame");
            return;
        }
        if (r > 0 && h.len > LG_MAX_MSG) {
            conn_fail(c, "server frame too large");
            return;
        }
        if (r == 0 || off + h.hdr_len + h.len > n)
            break;
        uint8_t *pl = (uint8_t *)buf + off + h.hdr_len;
        if (h.masked)
            lgws_unmask(pl, h.len, h.mask);
        off += h.hdr_len + h.len;
        conn_on_frame(c, &h, pl);
        if (c->state == LG_CLOSED || c->state == LG_FREE)
            return; /* c->in was freed with the connection */
    }
    if (buf == (const uint8_t *)c->in) {
        memmove(c->in, c->in + off, n - off);
        c->in_len = (uint32_t)(n - off);
    } else if (off < n && buf_append(&c->in, &c->in_len, &c->in_cap, buf + off, n - off) != 0) {
        conn_fail(c, "receive buffer overflow");
    }
}

/* Bytes of the upgrade response; once the head is complete the rest is frames. */
static void conn_feed_upgrade(lg_conn *c, const char *data, size_t len)
{
    const char *why = NULL;
    if (buf_append(&c->in, &c->in_len, &c->in_cap, data, len) != 0) {
        conn_fail(c, "upgrade response too large");
        return;
    }
    char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end)
        return;
    size_t head = (size_t)(end - c->in) + 4;
    if (lgws_check_response(c->in, head, c->key, &why) != 0) {
        fprintf(stderr, "loadgen: upgrade refused: %.*s\n", (int)(head > 200 ? 200 : head), c->in);
        conn_fail(c, why);
        return;
    }
    size_t rest = c->in_len - head;
    char *tail = rest ? malloc(rest) : NULL;
    if (rest && !tail) {
        conn_fail(c, "out of memory");
        return;
    }
    if (rest)
        memcpy(tail, c->in + head, rest);
    free(c->in);
    c->in = NULL;
    c->in_len = c->in_cap = 0;
    conn_upgraded(c);
    if (rest && (c->state == LG_AUTHING || c->state == LG_READY))
        conn_feed_frames(c, tail, rest);
    free(tail);
}

/* An HTTP trigger's response: complete at Content-Length or EOF. */
static void conn_feed_http(lg_conn *c, const char *data, size_t len, int eof)
{
    if (len && buf_append(&c->in, &c->in_len, &c->in_cap, data, len) != 0) {
        conn_fail(c, "response too large");
        return;
    }
    char *end = c->in ? memmem(c->in, c->in_len, "\r\n\r\n", 4) : NULL;
    if (!end && !eof)
        return;
    int status = 0;
    if (c->in_len >= 12 && strncmp(c->in, "HTTP/1.", 7) == 0)
        status = atoi(c->in + 9);
    if (!eof && end) {
        size_t vlen = 0, head = (size_t)(end - c->in) + 4;
        const char *cl = lgws_header(c->in, head, "Content-Length", &vlen);
        if (cl && c->in_len < head + (size_t)atol(cl))
            return;
    }
    if (status != 200 && G.errors++ < 5)
        fprintf(stderr, "loadgen: trigger got: %.*s\n", (int)(c->in_len > 300 ? 300 : c->in_len),
                c->in ? c->in : "");
    conn_close(c);
    mode_on_http(c, status);
}

static void conn_on_readable(lg_conn *c)
{
    ssize_t r = recv(c->fd, lg_rbuf, sizeof(lg_rbuf), 0);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (c->kind == LG_HTTP) {
        conn_feed_http(c, lg_rbuf, r > 0 ? (size_t)r : 0, r <= 0);
        return;
    }
    if (r <= 0) {
        conn_fail(c, r == 0 ? "closed by server" : strerror(errno));
        return;
    }
    if (c->state == LG_UPGRADING)
        conn_feed_upgrade(c, lg_rbuf, (size_t)r);
    else if (c->state == LG_AUTHING || c->state == LG_READY)
        conn_feed_frames(c, lg_rbuf, (size_t)r);
}

static void conn_on_connected(lg_conn *c)
{
    char req[1024];
    int err = 0;
    socklen_t el = sizeof(err);
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err) {
        conn_fail(c, strerror(err));
        return;
    }
    if (c->kind == LG_HTTP) {
        c->state = LG_READY;
        G.inflight--;
        conn_set_out(c, 0);
        mode_on_ready(c);
        return;
    }
    lgws_make_key(c->key);
    int n = lgws_request(req, sizeof(req), G.host, G.port, G.path, c->key, G.proto);
    c->state = LG_UPGRADING;
    conn_set_out(c, 0);
    if (n < 0 || conn_send(c, req, (size_t)n) != 0)
        conn_fail(c, "upgrade request failed");
}

static void conn_on_writable(lg_conn *c)
{
    if (c->state == LG_CONNECTING) {
        conn_on_connected(c);
        return;
    }
    while (c->out_len) {
        ssize_t w = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
        if (w < 0 && errno == EAGAIN)
            return;
        if (w <= 0) {
            conn_fail(c, "send failed");
            return;
        }
        memmove(c->out, c->out + w, c->out_len - (size_t)w);
        c->out_len -= (uint32_t)w;
    }
    conn_set_out(c, 0);
}

/* Open more connections while the window and the rate allow. */
static void lg_ramp(int64_t now)
{
    int64_t allowed = G.rate > 0 ? (now - G.t_start) * G.rate / 1000000000 + 1 : INT64_MAX;
    while (G.inflight < G.window && G.opened < allowed) {
        int i;
        if (G.nretry)
            i = G.retry[--G.nretry];
        else if (G.next_open < G.nconns && G.conns[G.next_open].kind == LG_SUB)
            i = G.next_open++;
        else
            break;
        lg_conn *c = &G.conns[i];
        G.opened++;
        if (conn_open(c) != 0)
            conn_fail(c, "connect failed");
    }
}

/* Give up on connections that got no answer while nothing else progressed
 * for 15 s (a server that never says hello, a lost SYN): the run goes on
 * with the others instead of waiting for ever. */
static void lg_reap_stuck(int64_t now)
{
    static int64_t t_progress;
    static int last_count = -1;
    if (G.ready + G.failed != last_count || G.inflight == 0) {
        last_count = G.ready + G.failed;
        t_progress = now;
        return;
    }
    if (now - t_progress < 15000000000LL)
        return;
    for (int i = 0; i < G.nconns; i++) {
        lg_conn *c = &G.conns[i];
        if (c->state == LG_CONNECTING || c->state == LG_UPGRADING || c->state == LG_AUTHING) {
            c->attempts = 3; /* no retry */
            conn_fail(c, "no answer for 15 s");
        }
    }
    t_progress = now;
}

static void lg_loop(void)
{
    struct epoll_event evs[1024];
    int64_t last_progress = G.t_start;
    while (!G.stop) {
        int64_t now = lg_now_ns();
        lg_ramp(now);
        lg_reap_stuck(now);
        if (mode_step(now))
            break;
        int timeout = mode_timeout_ms(now);
        if ((G.next_open < G.nconns && G.conns[G.next_open].kind == LG_SUB) || G.nretry)
            timeout = timeout < 0 || timeout > 1 ? 1 : timeout;
        int n = epoll_wait(G.ep, evs, 1024, timeout);
        for (int i = 0; i < n; i++) {
            lg_conn *c = evs[i].data.ptr;
            if (c->fd < 0)
                continue;
            if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP) && c->want_out)
                conn_on_writable(c);
            if (c->fd >= 0 && evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                conn_on_readable(c);
        }
        now = lg_now_ns();
        if (now - last_progress > 2000000000LL && G.t_ready == 0) {
            fprintf(stderr, "loadgen: %s: %d ready, %d failed, %d in flight\n", G.label, G.ready,
                    G.failed, G.inflight);
            last_progress = now;
        }
    }
}

static int lg_read_lines(const char *path, char ***out)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    int n = 0, cap = 0;
    char **v = NULL;
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0])
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            char **nv = realloc(v, sizeof(*v) * (size_t)cap);
            if (!nv)
                break;
            v = nv;
        }
        v[n++] = strdup(line);
    }
    fclose(f);
    *out = v;
    return n;
}

#include "lg_modes.h"
#include "lg_opts.h"

int main(int argc, char **argv)
{
    int rc = 1;
    if (lg_parse_opts(argc, argv) != 0)
        return 2;
    long nofile = lg_raise_nofile();
    if (nofile < G.n + 64)
        fprintf(stderr, "loadgen: warning: descriptor limit %ld < %d connections\n", nofile, G.n);
    struct sigaction sa = {.sa_handler = lg_on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    G.run_id = (unsigned)(time(NULL) ^ (getpid() << 16));
    lgws_rng_state ^= (uint64_t)G.run_id * 0x100000001B3ull;
    G.ep = epoll_create1(EPOLL_CLOEXEC);
    if (G.ep < 0 || mode_init() != 0)
        goto out;
    G.t_start = lg_now_ns();
    lg_loop();
    mode_report();
    rc = G.ready > 0 ? 0 : 1;
out:
    for (int i = 0; i < G.nconns; i++)
        if (G.conns[i].fd >= 0)
            conn_close(&G.conns[i]);
    free(G.conns);
    free(G.retry);
    for (int i = 0; i < G.ntokens; i++)
        free(G.tokens[i]);
    free(G.tokens);
    mode_free();
    return rc;
}
