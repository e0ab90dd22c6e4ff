/* metrics.c -- the worker's counters per job kind and a tiny HTTP responder for GET /metrics and
 * /healthz. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epos/log.h"
#include "mailer.h"
#include "worker.h"

#define METRICS_REQ_MAX 4096   /* bytes of one request head */
#define METRICS_CLIENTS_MAX 32 /* connections at once; more are closed at once */
#define METRICS_TIMEOUT_MS 5000

typedef struct metrics_client {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wr;
    metrics_t *m;
    char req[METRICS_REQ_MAX];
    size_t len;
    char *resp;
    int closing;
    int handles;
    struct metrics_client *prev, *next;
} metrics_client;

struct metrics {
    worker_t *w;
    job_stats *kinds;
    size_t nkinds;
    uv_tcp_t server;
    int listening;
    int clients;
    metrics_client *list;
};

metrics_t *metrics_create(worker_t *w)
{
    metrics_t *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->kinds = calloc(job_nkinds ? job_nkinds : 1, sizeof(*m->kinds));
    if (!m->kinds) {
        free(m);
        return NULL;
    }
    m->w = w;
    m->nkinds = job_nkinds;
    for (size_t i = 0; i < job_nkinds; i++)
        m->kinds[i].kind = job_kinds[i].kind;
    return m;
}

job_stats *metrics_kind(metrics_t *m, size_t i)
{
    return i < m->nkinds ? &m->kinds[i] : NULL;
}

/* ---------------------------------------------------------------- the text */

typedef struct mbuf {
    char *s;
    size_t len, cap;
    int oom;
} mbuf;

static void mbuf_printf(mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void mbuf_printf(mbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = b->s ? vsnprintf(b->s + b->len, room, fmt, ap) : -1;
        va_end(ap);
        if (n >= 0 && (size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 4096;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

#define METRIC_KINDS(b, m, name, type, help, fmt, expr)                                            \
    do {                                                                                           \
        mbuf_printf(b, "# HELP " name " " help "\n# TYPE " name " " type "\n");                    \
        for (size_t i = 0; i < (m)->nkinds; i++) {                                                 \
            const job_stats *st = &(m)->kinds[i];                                                  \
            mbuf_printf(b, name "{kind=\"%s\"} " fmt "\n", st->kind, expr);                        \
        }                                                                                          \
    } while (0)

/* The Prometheus text exposition of every counter. */
static void metrics_render(metrics_t *m, mbuf *b)
{
    METRIC_KINDS(b, m, "epos_jobs_processed_total", "counter", "Jobs finished successfully.",
                 "%llu", (unsigned long long)st->processed);
    METRIC_KINDS(b, m, "epos_jobs_failed_total", "counter", "Job attempts that failed.", "%llu",
                 (unsigned long long)st->failed);
    METRIC_KINDS(b, m, "epos_jobs_retried_total", "counter", "Failed jobs scheduled again.", "%llu",
                 (unsigned long long)st->retried);
    METRIC_KINDS(b, m, "epos_jobs_dead_total", "counter", "Jobs moved to the dead letters.", "%llu",
                 (unsigned long long)st->dead);
    METRIC_KINDS(b, m, "epos_jobs_released_total", "counter",
                 "Jobs put back for another worker at shutdown.", "%llu",
                 (unsigned long long)st->released);
    METRIC_KINDS(b, m, "epos_jobs_in_flight", "gauge", "Jobs running now.", "%lld",
                 (long long)st->in_flight);
    METRIC_KINDS(b, m, "epos_job_duration_seconds_sum", "counter",
                 "Seconds spent in finished job attempts.", "%.6f", st->latency_sum);
    METRIC_KINDS(b, m, "epos_job_duration_seconds_count", "counter", "Finished job attempts timed.",
                 "%llu", (unsigned long long)st->latency_count);
    mbuf_printf(b,
                "# HELP epos_outbox_relayed_total Outbox rows moved to the job streams.\n"
                "# TYPE epos_outbox_relayed_total counter\nepos_outbox_relayed_total %llu\n",
                (unsigned long long)relay_count(m->w->relay));
    if (m->w->mailer) {
        mailer_stats ms;
        mailer_stats_get(m->w->mailer, &ms);
        mbuf_printf(b,
                    "# HELP epos_mail_total Mails by outcome of their last SMTP attempt.\n"
                    "# TYPE epos_mail_total counter\n"
                    "epos_mail_total{outcome=\"sent\"} %llu\n"
                    "epos_mail_total{outcome=\"temporary\"} %llu\n"
                    "epos_mail_total{outcome=\"permanent\"} %llu\n"
                    "# HELP epos_mail_sessions_total SMTP sessions opened.\n"
                    "# TYPE epos_mail_sessions_total counter\nepos_mail_sessions_total %llu\n",
                    (unsigned long long)ms.sent, (unsigned long long)ms.tempfail,
                    (unsigned long long)ms.permfail, (unsigned long long)ms.sessions);
    }
    mbuf_printf(b,
                "# HELP epos_worker_up 1 while the worker runs; 0 while it stops.\n"
                "# TYPE epos_worker_up gauge\nepos_worker_up %d\n",
                m->w->stopping ? 0 : 1);
}

/* ---------------------------------------------------------------- HTTP */

static void metrics_client_closed(uv_handle_t *h)
{
    metrics_client *c = h->data;
    if (--c->handles > 0)
        return;
    c->m->clients--;
    if (c->prev)
        c->prev->next = c->next;
    else
        c->m->list = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c->resp);
    free(c);
}

static void metrics_client_close(metrics_client *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    uv_close((uv_handle_t *)&c->tcp, metrics_client_closed);
    uv_close((uv_handle_t *)&c->timer, metrics_client_closed);
}

static void metrics_on_written(uv_write_t *req, int status)
{
    (void)status;
    metrics_client_close(req->data);
}

static void metrics_respond(metrics_client *c, const char *status, const char *ctype,
                            const char *body, size_t len)
{
    mbuf b = {0};
    mbuf_printf(&b,
                "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                "Connection: close\r\n\r\n",
                status, ctype, len);
    if (b.oom) {
        free(b.s);
        metrics_client_close(c);
        return;
    }
    mbuf_printf(&b, "%.*s", (int)len, body);
    c->resp = b.s;
    uv_buf_t buf = uv_buf_init(b.s, (unsigned)b.len);
    c->wr.data = c;
    uv_read_stop((uv_stream_t *)&c->tcp);
    if (b.oom || uv_write(&c->wr, (uv_stream_t *)&c->tcp, &buf, 1, metrics_on_written) != 0)
        metrics_client_close(c);
}

static void metrics_handle(metrics_client *c)
{
    static const char text[] = "text/plain; version=0.0.4; charset=utf-8";
    if (strncmp(c->req, "GET /metrics ", 13) == 0 || strncmp(c->req, "GET /metrics?", 13) == 0) {
        mbuf b = {0};
        metrics_render(c->m, &b);
        if (b.oom)
            metrics_respond(c, "503 Service Unavailable", text, "out of memory\n", 14);
        else
            metrics_respond(c, "200 OK", text, b.s, b.len);
        free(b.s);
    } else if (strncmp(c->req, "GET /healthz ", 13) == 0) {
        metrics_respond(c, "200 OK", text, "ok\n", 3);
    } else if (strncmp(c->req, "GET ", 4) == 0) {
        metrics_respond(c, "404 Not Found", text, "not found\n", 10);
    } else {
        metrics_respond(c, "405 Method Not Allowed", text, "GET only\n", 9);
    }
}

static void metrics_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    metrics_client *c = h->data;
    (void)suggested;
    *buf = uv_buf_init(c->req + c->len, (unsigned)(sizeof(c->req) - 1 - c->len));
}

static void metrics_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    metrics_client *c = s->data;
    (void)buf;
    if (n < 0) {
        metrics_client_close(c);
        return;
    }
    c->len += (size_t)n;
    c->req[c->len] = '\0';
    if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n"))
        metrics_handle(c);
    else if (c->len >= sizeof(c->req) - 1)
        metrics_respond(c, "431 Request Header Fields Too Large", "text/plain", "", 0);
}

static void metrics_on_timeout(uv_timer_t *t)
{
    metrics_client_close(t->data);
}

static void metrics_on_connection(uv_stream_t *server, int status)
{
    metrics_t *m = server->data;
    if (status < 0)
        return;
    metrics_client *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->m = m;
    uv_tcp_init(server->loop, &c->tcp);
    uv_timer_init(server->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles = 2;
    m->clients++;
    c->next = m->list;
    if (m->list)
        m->list->prev = c;
    m->list = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 || m->clients > METRICS_CLIENTS_MAX ||
        m->w->stopping > 1) {
        metrics_client_close(c);
        return;
    }
    uv_timer_start(&c->timer, metrics_on_timeout, METRICS_TIMEOUT_MS, 0);
    uv_read_start((uv_stream_t *)&c->tcp, metrics_alloc, metrics_on_read);
}

int metrics_listen(metrics_t *m, const char *host, int port)
{
    struct sockaddr_storage ss;
    int rc;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
        (rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss)) != 0)
        return rc;
    if ((rc = uv_tcp_init(m->w->loop, &m->server)) != 0)
        return rc;
    m->server.data = m;
    m->listening = 1;
    if ((rc = uv_tcp_bind(&m->server, (const struct sockaddr *)&ss, 0)) != 0 ||
        (rc = uv_listen((uv_stream_t *)&m->server, 64, metrics_on_connection)) != 0)
        return rc;
    return 0;
}

void metrics_close(metrics_t *m)
{
    if (!m)
        return;
    if (m->listening) {
        m->listening = 0;
        uv_close((uv_handle_t *)&m->server, NULL);
    }
    for (metrics_client *c = m->list; c; c = c->next)
        metrics_client_close(c);
}

void metrics_free(metrics_t *m)
{
    if (!m)
        return;
    free(m->kinds);
    free(m);
}
