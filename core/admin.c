/* admin.c -- the per-process admin port: a tiny HTTP/1.1 responder (one GET
 * per connection, Connection: close) for /metrics, /healthz and /readyz. */
#include "epos/admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADMIN_REQ_MAX 4096   /* bytes of one request head */
#define ADMIN_CLIENTS_MAX 32 /* connections at once; more are closed at once */
#define ADMIN_TIMEOUT_MS 5000

typedef struct admin_client {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wr;
    admin_server *a;
    char req[ADMIN_REQ_MAX];
    size_t len;
    char *resp;
    int closing;
    int handles;
    struct admin_client *prev, *next;
} admin_client;

struct admin_server {
    uv_tcp_t tcp;
    admin_hooks hooks;
    int port;
    int closing;
    int handles; /* the listener plus two per client */
    int clients;
    admin_client *list;
};

static const char admin_text[] = "text/plain; charset=utf-8";

int admin_answer(const admin_hooks *h, const char *path, prom_buf *body, const char **ctype)
{
    int status = 200;
    *ctype = admin_text;
    if (strcmp(path, "/metrics") == 0) {
        *ctype = "text/plain; version=0.0.4; charset=utf-8";
        if (h && h->metrics)
            h->metrics(h->arg, body);
    } else if (strcmp(path, "/healthz") == 0) {
        prom_printf(body, "ok\n");
    } else if (strcmp(path, "/readyz") == 0) {
        prom_buf deps = {0};
        int ready = h && h->ready ? h->ready(h->arg, &deps) : 1;
        prom_printf(body, "%s\n%.*s", ready ? "ready" : "not ready", (int)deps.len,
                    deps.s ? deps.s : "");
        free(deps.s);
        status = ready && !deps.oom ? 200 : 503;
    } else {
        prom_printf(body, "not found\n");
        status = 404;
    }
    if (body->oom) {
        free(body->s);
        *body = (prom_buf){0};
        prom_printf(body, "out of memory\n");
        *ctype = admin_text;
        status = 503;
    }
    return status;
}

static void admin_server_unref(admin_server *a)
{
    if (--a->handles == 0)
        free(a);
}

static void admin_client_closed(uv_handle_t *h)
{
    admin_client *c = h->data;
    if (--c->handles > 0)
        return;
    admin_server *a = c->a;
    a->clients--;
    if (c->prev)
        c->prev->next = c->next;
    else
        a->list = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c->resp);
    free(c);
    admin_server_unref(a);
}

static void admin_client_close(admin_client *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    uv_close((uv_handle_t *)&c->tcp, admin_client_closed);
    uv_close((uv_handle_t *)&c->timer, admin_client_closed);
}

static void admin_on_written(uv_write_t *req, int status)
{
    (void)status;
    admin_client_close(req->data);
}

static const char *admin_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 431:
        return "Request Header Fields Too Large";
    default:
        return "Service Unavailable";
    }
}

static void admin_respond(admin_client *c, int status, const char *ctype, const prom_buf *body)
{
    prom_buf b = {0};
    prom_printf(&b,
                "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                "Connection: close\r\n\r\n%.*s",
                status, admin_reason(status), ctype, body->len, (int)body->len,
                body->s ? body->s : "");
    if (b.oom) {
        free(b.s);
        admin_client_close(c);
        return;
    }
    c->resp = b.s;
    uv_buf_t buf = uv_buf_init(b.s, (unsigned)b.len);
    c->wr.data = c;
    uv_read_stop((uv_stream_t *)&c->tcp);
    if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &buf, 1, admin_on_written) != 0)
        admin_client_close(c);
}

/* The request head is complete: "GET /path[?query] HTTP/1.x". */
static void admin_handle(admin_client *c)
{
    prom_buf body = {0};
    const char *ctype = admin_text;
    int status;
    if (strncmp(c->req, "GET ", 4) != 0) {
        prom_printf(&body, "GET only\n");
        status = 405;
    } else {
        char path[64];
        size_t n = strcspn(c->req + 4, " ?\r\n");
        snprintf(path, sizeof(path), "%.*s", (int)(n < sizeof(path) ? n : 0), c->req + 4);
        status = admin_answer(&c->a->hooks, path, &body, &ctype);
    }
    admin_respond(c, status, ctype, &body);
    free(body.s);
}

static void admin_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    admin_client *c = h->data;
    (void)suggested;
    *buf = uv_buf_init(c->req + c->len, (unsigned)(sizeof(c->req) - 1 - c->len));
}

static void admin_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    admin_client *c = s->data;
    (void)buf;
    if (n < 0) {
        admin_client_close(c);
        return;
    }
    c->len += (size_t)n;
    c->req[c->len] = '\0';
    if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n")) {
        admin_handle(c);
    } else if (c->len >= sizeof(c->req) - 1) {
        prom_buf none = {0};
        admin_respond(c, 431, admin_text, &none);
    }
}

static void admin_on_timeout(uv_timer_t *t)
{
    admin_client_close(t->data);
}

static void admin_on_connection(uv_stream_t *server, int status)
{
    admin_server *a = server->data;
    if (status < 0 || a->closing)
        return;
    admin_client *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->a = a;
    uv_tcp_init(server->loop, &c->tcp);
    uv_timer_init(server->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles = 2;
    a->handles++; /* the client's pair holds one reference */
    a->clients++;
    c->next = a->list;
    if (a->list)
        a->list->prev = c;
    a->list = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 || a->clients > ADMIN_CLIENTS_MAX) {
        admin_client_close(c);
        return;
    }
    uv_timer_start(&c->timer, admin_on_timeout, ADMIN_TIMEOUT_MS, 0);
    uv_read_start((uv_stream_t *)&c->tcp, admin_alloc, admin_on_read);
}

static void admin_listener_closed(uv_handle_t *h)
{
    admin_server_unref(h->data);
}

admin_server *admin_start(uv_loop_t *loop, const char *host, int port, const admin_hooks *hooks,
                          char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    int rc, len = sizeof(ss);
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0) {
        snprintf(err, errlen, "admin_host: \"%s\" is not an IP address", host);
        return NULL;
    }
    admin_server *a = calloc(1, sizeof(*a));
    if (!a) {
        snprintf(err, errlen, "admin port: out of memory");
        return NULL;
    }
    if (hooks)
        a->hooks = *hooks;
    if ((rc = uv_tcp_init(loop, &a->tcp)) != 0) {
        free(a);
        snprintf(err, errlen, "admin port: %s", uv_strerror(rc));
        return NULL;
    }
    a->tcp.data = a;
    a->handles = 1;
    if ((rc = uv_tcp_bind(&a->tcp, (const struct sockaddr *)&ss, 0)) != 0 ||
        (rc = uv_listen((uv_stream_t *)&a->tcp, 64, admin_on_connection)) != 0 ||
        (rc = uv_tcp_getsockname(&a->tcp, (struct sockaddr *)&ss, &len)) != 0) {
        snprintf(err, errlen, "cannot serve the admin port on %s:%d: %s", host, port,
                 uv_strerror(rc));
        admin_close(a);
        return NULL;
    }
    a->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    return a;
}

int admin_port(const admin_server *a)
{
    return a ? a->port : 0;
}

void admin_close(admin_server *a)
{
    if (!a || a->closing)
        return;
    a->closing = 1;
    uv_close((uv_handle_t *)&a->tcp, admin_listener_closed);
    for (admin_client *c = a->list; c; c = c->next)
        admin_client_close(c);
}
