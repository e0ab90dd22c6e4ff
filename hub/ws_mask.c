/* ws_mask.c -- RFC 6455 §5.1 for libwebsockets 4.1, which takes unmasked
 * client frames: the frame headers of each WebSocket's bytes are watched on
 * their way into libwebsockets (its recv(2) and SSL_read calls pass through
 * here), and the first unmasked frame fails the connection with 1002. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "epos/log.h"
#include "handlers.h"
#include "hub.h"

enum { WM_OP, WM_LEN, WM_EXT, WM_KEY, WM_DATA };

typedef struct wm_conn {
    session *s; /* NULL: not a watched WebSocket */
    uint8_t st, need;
    uint64_t left; /* payload bytes of the current frame still to come */
} wm_conn;

static wm_conn *wm_tab; /* by fd; sized once, so other threads' recv can read it */
static size_t wm_cap;

/* Walk n bytes of frames; returns -1 at a frame without the mask bit. */
static int wm_scan(wm_conn *w, const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        switch (w->st) {
        case WM_OP:
            i++;
            w->st = WM_LEN;
            break;
        case WM_LEN: {
            unsigned b = p[i++];
            if (!(b & 0x80))
                return -1;
            b &= 0x7f;
            w->left = b < 126 ? b : 0;
            w->need = b == 126 ? 2 : b == 127 ? 8 : 4;
            w->st = b < 126 ? WM_KEY : WM_EXT;
            break;
        }
        case WM_EXT:
            w->left = (w->left << 8) | p[i++];
            if (--w->need == 0) {
                w->need = 4;
                w->st = WM_KEY;
            }
            break;
        case WM_KEY:
            i++;
            if (--w->need == 0)
                w->st = w->left ? WM_DATA : WM_OP;
            break;
        default: {
            size_t take = n - i < w->left ? n - i : (size_t)w->left;
            i += take;
            w->left -= take;
            if (!w->left)
                w->st = WM_OP;
        }
        }
    }
    return 0;
}

static void wm_feed(int fd, const void *buf, ssize_t n)
{
    if (n <= 0 || fd < 0 || (size_t)fd >= wm_cap || !wm_tab[fd].s || !wm_tab[fd].s->wsi)
        return;
    wm_conn *w = &wm_tab[fd];
    if (wm_scan(w, buf, (size_t)n) == 0)
        return;
    /* Closing now, inside libwebsockets' read, turns the session to
     * SESS_CLOSING before the frame is parsed: ws.c then ignores it. */
    log_info("conn=%u unmasked client frame, closing", w->s->id);
    session_close(w->s, 1002);
    w->s = NULL;
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    static ssize_t (*real)(int, void *, size_t, int);
    if (!real)
        real = (ssize_t(*)(int, void *, size_t, int))dlsym(RTLD_NEXT, "recv");
    ssize_t n = real(fd, buf, len, flags);
    if (!(flags & MSG_PEEK)) {
        n = http_guard_feed(fd, NULL, buf, n);
        wm_feed(fd, buf, n);
    }
    return n;
}

int SSL_read(SSL *ssl, void *buf, int num)
{
    static int (*real)(SSL *, void *, int);
    if (!real)
        real = (int (*)(SSL *, void *, int))dlsym(RTLD_NEXT, "SSL_read");
    int n = real(ssl, buf, num);
    if (n > 0) {
        n = (int)http_guard_feed(SSL_get_fd(ssl), ssl, buf, n);
        wm_feed(SSL_get_fd(ssl), buf, n);
    }
    return n;
}

void ws_mask_watch(int fd, session *s)
{
    if (!wm_tab) {
        size_t cap = hub_fd_limit();
        wm_tab = calloc(cap, sizeof(*wm_tab));
        wm_cap = wm_tab ? cap : 0;
    }
    if (fd < 0 || (size_t)fd >= wm_cap)
        return;
    wm_tab[fd] = (wm_conn){.s = s, .st = WM_OP};
}

void ws_mask_forget(int fd)
{
    if (fd >= 0 && (size_t)fd < wm_cap)
        wm_tab[fd].s = NULL;
}

void ws_mask_free(void)
{
    wm_cap = 0;
    free(wm_tab);
    wm_tab = NULL;
}
