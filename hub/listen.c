/* listen.c -- the hub's own listening socket. Every hub on a port binds it
 * with SO_REUSEPORT and the kernel spreads connections among them;
 * libwebsockets 4.1 never sets SO_REUSEPORT on Linux, so we accept here and
 * hand each connection to its vhost. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "epos/log.h"
#include "hub.h"

#define LISTEN_BACKLOG 4096
#define ACCEPT_BATCH 128    /* accepts per readiness: stay fair to the loop */
#define ACCEPT_PAUSE_MS 100 /* out of descriptors: back off, do not spin */

static void listen_resume(uv_timer_t *t)
{
    hub *h = t->data;
    if (!h->stopping)
        uv_poll_start(&h->listen_poll, UV_READABLE, h->listen_poll.poll_cb);
}

/* Per accepted socket: answers leave at once (no Nagle wait for the
 * client's delayed ACK), and the kernel holds at most sndbuf bytes of a
 * client that does not read, so send_queue_max bounds the rest. */
static void listen_tune(hub *h, int fd)
{
    int one = 1, sndbuf = h->cfg.sndbuf;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
        log_debug("TCP_NODELAY: %s", strerror(errno));
    if (sndbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)) != 0)
        log_debug("SO_SNDBUF: %s", strerror(errno));
}

static void listen_on_readable(uv_poll_t *p, int status, int events)
{
    hub *h = p->data;
    for (int i = 0; i < ACCEPT_BATCH && status == 0; i++) {
        int fd = accept4(h->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                log_warn("accept: %s; pausing %d ms", strerror(errno), ACCEPT_PAUSE_MS);
                uv_poll_stop(p);
                uv_timer_start(&h->listen_pause, listen_resume, ACCEPT_PAUSE_MS, 0);
            }
            return;
        }
        if (h->stopping) {
            close(fd);
            continue;
        }
        listen_tune(h, fd);
        /* libwebsockets 4.1 owns the fd from this call on, adopted or not:
         * every failure path closes it (at once, or on libuv only when its
         * poll handle has closed). Closing it here too would close a later
         * connection that was given the same number. */
        struct lws *wsi = lws_adopt_socket_vhost(h->vhost, fd);
        if (wsi)
            http_guard_watch(fd, wsi);
    }
}

int listen_start(hub *h, char *err, size_t errlen)
{
    struct sockaddr_in sa;
    int one = 1;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)h->cfg.port);
    if (inet_pton(AF_INET, h->cfg.listen_host, &sa.sin_addr) != 1) {
        snprintf(err, errlen, "listen_host: \"%s\" is not an IPv4 address", h->cfg.listen_host);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", h->cfg.listen_host, h->cfg.port,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    h->listen_fd = fd;
    uv_poll_init(h->loop, &h->listen_poll, fd);
    uv_timer_init(h->loop, &h->listen_pause);
    h->listen_poll.data = h->listen_pause.data = h;
    uv_poll_start(&h->listen_poll, UV_READABLE, listen_on_readable);
    return 0;
}

static void listen_closed(uv_handle_t *handle)
{
    hub *h = handle->data;
    if (h->listen_fd >= 0)
        close(h->listen_fd);
    h->listen_fd = -1;
}

void listen_stop(hub *h)
{
    if (h->listen_fd < 0 || uv_is_closing((uv_handle_t *)&h->listen_poll))
        return;
    uv_close((uv_handle_t *)&h->listen_pause, NULL);
    uv_close((uv_handle_t *)&h->listen_poll, listen_closed);
}
