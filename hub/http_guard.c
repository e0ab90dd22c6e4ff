/* http_guard.c -- request heads measured on their way into libwebsockets 4.1,
 * which drops a head too large for its buffer (or with too many fields)
 * without a status: a request line over HTTP_GUARD_URI_MAX is answered 414,
 * a head over HTTP_GUARD_HEAD_MAX or with too many lines 431, and the
 * connection is closed. Each accepted connection's bytes pass through here
 * (ws_mask.c's recv and SSL_read) until it upgrades to a WebSocket. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "epos/log.h"
#include "hub.h"

#define HG_LINES_MAX 50 /* header lines; libwebsockets keeps 95 fields in all */
#define HG_ARGS_MAX 40  /* query arguments (each is a field too) */
#define HG_DRAIN_MAX (256 * 1024)

enum { HG_OFF, HG_HEAD, HG_BODY };

typedef struct hg_conn {
    struct lws *wsi;   /* NULL: not watched */
    uint8_t st, first; /* first: still in the request line */
    uint8_t upgrade;   /* the head asks to leave HTTP/1.1 framing */
    uint32_t head, line, lines, args;
    uint64_t clen, body; /* the head's Content-Length; body bytes still to come */
    uint8_t llen;
    char lbuf[40]; /* the start of the current line: enough for the fields we look at */
} hg_conn;

static hg_conn *hg_tab; /* by fd, sized once */
static size_t hg_cap;

/* A header line's start: Content-Length sets the body to skip; Upgrade and
 * Transfer-Encoding end the watch (a WebSocket, or a body not framed by
 * length: the hub refuses it with 411 and the parse ends there). */
static void hg_header(hg_conn *w)
{
    static const char cl[] = "content-length:";
    w->lbuf[w->llen] = '\0';
    if (strncasecmp(w->lbuf, cl, sizeof(cl) - 1) == 0)
        w->clen = strtoull(w->lbuf + sizeof(cl) - 1, NULL, 10);
    else if (strncasecmp(w->lbuf, "upgrade:", 8) == 0 ||
             strncasecmp(w->lbuf, "transfer-encoding:", 18) == 0)
        w->upgrade = 1;
}

static void hg_line_end(hg_conn *w)
{
    if (w->first) {
        w->first = 0;
        /* HTTP/2 with prior knowledge: its preface ends like a head, then frames. */
        if (w->llen >= 4 && memcmp(w->lbuf, "PRI ", 4) == 0)
            w->st = HG_OFF;
    } else if (w->line == 0) { /* the empty line: the head is complete */
        w->st = w->upgrade ? HG_OFF : w->clen ? HG_BODY : HG_HEAD;
        w->body = w->clen;
        w->head = w->lines = w->args = 0;
        w->first = 1;
        w->clen = 0;
    } else {
        w->lines++;
        hg_header(w);
    }
    w->line = 0;
    w->llen = 0;
}

/* Walk n bytes; returns 0, or the status (414, 431) the head has earned. */
static int hg_scan(hg_conn *w, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n && w->st != HG_OFF; i++) {
        if (w->st == HG_BODY) {
            size_t take = n - i < w->body ? n - i : (size_t)w->body;
            i += take - 1;
            if (!(w->body -= take))
                w->st = HG_HEAD;
            continue;
        }
        unsigned char c = p[i];
        if (++w->head > HTTP_GUARD_HEAD_MAX)
            return 431;
        if (c == '\n') {
            hg_line_end(w);
            if (w->lines > HG_LINES_MAX)
                return 431;
            continue;
        }
        if (c == '\r')
            continue;
        w->line++;
        if (w->llen < sizeof(w->lbuf) - 1)
            w->lbuf[w->llen++] = (char)c;
        if (w->first && (w->line > HTTP_GUARD_URI_MAX || (c == '&' && ++w->args > HG_ARGS_MAX)))
            return 414;
    }
    return 0;
}

/* Answer status and close: the answer, then what the client already sent
 * is read away (closing over unread bytes would reset the connection and
 * could take the answer with it), then the write side is shut. */
static void hg_refuse(int fd, SSL *ssl, int status)
{
    const char *reason = status == 414 ? "URI Too Long" : "Request Header Fields Too Large";
    const char *body =
        status == 414
            ? "{\"error\":{\"code\":\"uri_too_long\",\"message\":\"Слишком длинный адрес "
              "запроса\"}}"
            : "{\"error\":{\"code\":\"header_too_large\",\"message\":\"Слишком большие заголовки "
              "запроса\"}}";
    char resp[1024];
    int len = snprintf(resp, sizeof(resp),
                       "HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %zu\r\n"
                       "cache-control: no-store\r\nx-content-type-options: nosniff\r\n"
                       "x-frame-options: DENY\r\nreferrer-policy: no-referrer\r\n"
                       "content-security-policy: default-src 'none'; frame-ancestors 'none'\r\n"
                       "connection: close\r\n\r\n%s",
                       status, reason, strlen(body), body);
    if (len <= 0 || (size_t)len >= sizeof(resp))
        return;
    if (ssl) {
        (void)SSL_write(ssl, resp, len);
        return;
    }
    static ssize_t (*real_recv)(int, void *, size_t, int);
    if (!real_recv)
        real_recv = (ssize_t(*)(int, void *, size_t, int))dlsym(RTLD_NEXT, "recv");
    (void)send(fd, resp, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
    char junk[4096];
    ssize_t got;
    for (size_t drained = 0; drained < HG_DRAIN_MAX; drained += (size_t)got)
        if ((got = real_recv(fd, junk, sizeof(junk), MSG_DONTWAIT)) <= 0)
            break;
    shutdown(fd, SHUT_WR);
}

ssize_t http_guard_feed(int fd, SSL *ssl, const void *buf, ssize_t n)
{
    if (n <= 0 || fd < 0 || (size_t)fd >= hg_cap || !hg_tab[fd].wsi || hg_tab[fd].st == HG_OFF)
        return n;
    hg_conn *w = &hg_tab[fd];
    int status = hg_scan(w, buf, (size_t)n);
    if (!status)
        return n;
    log_info("fd %d: request %s over the limit, answered %d", fd, status == 414 ? "line" : "head",
             status);
    w->st = HG_OFF;
    hg_refuse(fd, ssl, status);
    /* libwebsockets takes it as the end of the stream and closes. */
    return 0;
}

size_t hub_fd_limit(void)
{
    struct rlimit rl;
    return getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? (size_t)rl.rlim_cur
                                                                              : 65536;
}

void http_guard_watch(int fd, struct lws *wsi)
{
    if (!hg_tab) {
        size_t cap = hub_fd_limit();
        hg_tab = calloc(cap, sizeof(*hg_tab));
        hg_cap = hg_tab ? cap : 0;
    }
    if (fd < 0 || (size_t)fd >= hg_cap)
        return;
    hg_tab[fd] = (hg_conn){.wsi = wsi, .st = HG_HEAD, .first = 1};
    lws_set_opaque_user_data(wsi, &hg_tab[fd]);
}

void http_guard_forget(struct lws *wsi)
{
    hg_conn *w = lws_get_opaque_user_data(wsi);
    if (w && hg_tab && w >= hg_tab && w < hg_tab + hg_cap && w->wsi == wsi)
        w->wsi = NULL;
}

void http_guard_free(void)
{
    hg_cap = 0;
    free(hg_tab);
    hg_tab = NULL;
}
