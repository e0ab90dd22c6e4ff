/* health.c -- the hub's /healthz (the process is up), /readyz (PostgreSQL
 * and Redis are reachable) and /metrics (Prometheus text), answered alike on
 * the admin port (core/admin.c) and the public port; and the hub's latency
 * histograms (HTTP request duration by route, event delivery lag). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "epos/admin.h"
#include "epos/prom.h"
#include "fanout.h"
#include "http.h"
#include "hub.h"

#define HEALTH_ROUTES_MAX 64 /* (method, route) pairs timed; the route table is smaller */

typedef struct route_hist {
    int method;
    const char *route; /* a route pattern: static text */
    prom_hist h;
} route_hist;

static route_hist route_hists[HEALTH_ROUTES_MAX];
static size_t nroute_hists;
static prom_hist delivery_lag;

static const char *health_method_name(int method)
{
    static const char *const names[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
    return method >= 0 && method < (int)(sizeof(names) / sizeof(names[0])) ? names[method]
                                                                           : "OTHER";
}

void health_observe_http(int method, const char *route, double secs)
{
    route_hist *rh = NULL;
    if (!route)
        route = "unmatched";
    for (size_t i = 0; i < nroute_hists && !rh; i++)
        if (route_hists[i].method == method && strcmp(route_hists[i].route, route) == 0)
            rh = &route_hists[i];
    if (!rh && nroute_hists < HEALTH_ROUTES_MAX) {
        rh = &route_hists[nroute_hists++];
        rh->method = method;
        rh->route = route;
    }
    if (rh)
        prom_hist_observe(&rh->h, secs);
}

/* Milliseconds since the epoch of "YYYY-MM-DDTHH:MM:SS.mmmZ", or -1. */
static long long health_parse_ts(const char *s, size_t len)
{
    int y, mo, d, hh, mi, ss, ms;
    char z;
    char buf[32];
    if (len < 24)
        return -1;
    memcpy(buf, s, 24);
    buf[24] = '\0';
    if (sscanf(buf, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &hh, &mi, &ss, &ms, &z) != 8 ||
        z != 'Z' || mo < 1 || mo > 12)
        return -1;
    /* Days from the civil date (proleptic Gregorian), as timegm would. */
    y -= mo <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long days = era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
    return ((days * 24 + hh) * 60 + mi) * 60000LL + ss * 1000LL + ms;
}

void health_observe_delivery(const char *frame, size_t len)
{
    static const char key[] = "\"ts\":\"";
    const char *end = frame + len, *p = frame;
    /* The envelope's "ts" comes before "data", so the first one is it. */
    while ((p = memchr(p, '"', (size_t)(end - p))) && (size_t)(end - p) >= sizeof(key) - 1 + 24) {
        if (memcmp(p, key, sizeof(key) - 1) == 0) {
            long long ts = health_parse_ts(p + sizeof(key) - 1, (size_t)(end - p) - 6);
            struct timespec now;
            if (ts < 0 || clock_gettime(CLOCK_REALTIME, &now) != 0)
                return;
            double lag = (double)now.tv_sec + now.tv_nsec / 1e9 - (double)ts / 1e3;
            prom_hist_observe(&delivery_lag, lag);
            return;
        }
        p++;
    }
}

static const struct {
    const char *name, *type, *help;
    size_t field; /* offsetof(hub_stats, ...) */
} hub_counters[] = {
    {"epos_ws_accepted_total", "counter", "WebSocket connections accepted.",
     offsetof(hub_stats, ws_accepted)},
    {"epos_ws_frames_in_total", "counter", "Frames received from clients.",
     offsetof(hub_stats, frames_in)},
    {"epos_ws_frames_out_total", "counter", "Frames written to clients.",
     offsetof(hub_stats, frames_out)},
    {"epos_events_delivered_total", "counter", "Events handed to subscribers.",
     offsetof(hub_stats, events_out)},
    {"epos_chat_messages_total", "counter", "Chat messages sent through this hub.",
     offsetof(hub_stats, msgs_sent)},
    {"epos_http_requests_total", "counter", "HTTP API requests begun.",
     offsetof(hub_stats, http_requests)},
    {"epos_http_errors_total", "counter", "HTTP answers with a status of 400 or more.",
     offsetof(hub_stats, http_errors)},
    {"epos_slow_consumers_closed_total", "counter",
     "Connections closed because their send queue was full.", offsetof(hub_stats, slow_closed)},
    {"epos_rate_limited_total", "counter", "Client frames refused by the rate limit.",
     offsetof(hub_stats, rate_limited)},
    {"epos_http_rate_limited_total", "counter",
     "HTTP API requests refused (429) by a request budget (address, user, API key).",
     offsetof(hub_stats, http_rate_limited)},
    {"epos_pubsub_messages_total", "counter", "Messages received from Redis pub/sub.",
     offsetof(hub_stats, pubsub_in)},
    {"epos_fills_total", "counter", "Gap fills read from PostgreSQL.", offsetof(hub_stats, fills)},
    {"epos_resets_total", "counter", "Resets sent to clients resuming past the window.",
     offsetof(hub_stats, resets)},
};

static void health_render(void *arg, prom_buf *b)
{
    hub *h = arg;
    const hub_stats *st = &h->stats;
    prom_gauge(b, "epos_ws_connections", "WebSocket sessions open now.", (double)h->ws_live);
    prom_family(b, "epos_ws_auth_total", "counter", "WebSocket auth frames by result.");
    prom_sample(b, "epos_ws_auth_total", "result=\"ok\"", (double)st->ws_auth_ok);
    prom_sample(b, "epos_ws_auth_total", "result=\"fail\"", (double)st->ws_auth_fail);
    for (size_t i = 0; i < sizeof(hub_counters) / sizeof(hub_counters[0]); i++)
        prom_counter(b, hub_counters[i].name, hub_counters[i].help,
                     (double)*(const uint64_t *)((const char *)st + hub_counters[i].field));
    prom_gauge(b, "epos_topics", "Topics with subscribers on this hub.",
               h->fan ? (double)fanout_topic_count(h->fan) : 0);
    prom_gauge(b, "epos_pg_live", "PostgreSQL connections up.", h->pg ? pgq_live(h->pg) : 0);
    prom_gauge(b, "epos_pg_queued", "Queries waiting for a PostgreSQL connection.",
               h->pg ? pgq_queued(h->pg) : 0);
    prom_gauge(b, "epos_redis_up", "1 while the Redis connection is up.",
               h->redis ? rds_up(h->redis) : 0);

    prom_family(b, "epos_http_request_duration_seconds", "histogram",
                "Seconds from an API request's head to its answer, by method and route.");
    for (size_t i = 0; i < nroute_hists; i++) {
        char lab[320] = "";
        prom_label(lab, sizeof(lab), "method", health_method_name(route_hists[i].method));
        prom_label(lab, sizeof(lab), "route", route_hists[i].route);
        prom_hist_render(b, "epos_http_request_duration_seconds", lab, &route_hists[i].h);
    }
    prom_family(b, "epos_event_delivery_lag_seconds", "histogram",
                "Seconds from an event's commit (its ts) to its hand-over to the sockets.");
    prom_hist_render(b, "epos_event_delivery_lag_seconds", NULL, &delivery_lag);
    if (h->pg) {
        prom_family(b, "epos_pg_query_seconds", "histogram",
                    "Seconds from sending a PostgreSQL query to its result.");
        prom_hist_render(b, "epos_pg_query_seconds", NULL, pgq_query_time(h->pg));
    }
}

static int health_ready(void *arg, prom_buf *b)
{
    hub *h = arg;
    int pg = h->pg && pgq_live(h->pg) > 0, redis = h->redis && rds_up(h->redis);
    prom_printf(b, "postgresql: %s\nredis: %s\n", pg ? "up" : "down", redis ? "up" : "down");
    return pg && redis && !h->stopping;
}

const admin_hooks *health_hooks(void)
{
    static admin_hooks hooks;
    hooks = (admin_hooks){health_render, health_ready, the_hub};
    return &hooks;
}

void health_handle(http_req *r)
{
    static const char *const paths[] = {"/healthz", "/readyz", "/metrics"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        if (strcmp(r->path, paths[i]) == 0)
            r->route = paths[i]; /* static text: the histogram keeps it */
    if (r->method != HTTP_GET && strcmp(r->path, "/healthz") != 0) {
        http_reply_error(r, 405, "bad_request", "Метод не поддерживается");
        return;
    }
    prom_buf body = {0};
    const char *ctype;
    int status = admin_answer(health_hooks(), r->path, &body, &ctype);
    if (status == 404) {
        http_reply_error(r, 404, "not_found", "Нет такого адреса");
    } else {
        http_reply(r, status, ctype, body.s ? body.s : "", body.len);
    }
    free(body.s);
}
