/* health.c -- /healthz (the process is up), /readyz (PostgreSQL and Redis are
 * reachable) and /metrics (Prometheus text). */
#include <stdio.h>
#include <string.h>

#include "fanout.h"
#include "http.h"
#include "hub.h"

static void health_metrics(http_req *r)
{
    const hub_stats *st = &the_hub->stats;
    char buf[4096];
    int n = snprintf(
        buf, sizeof(buf),
        "# TYPE epos_ws_connections gauge\nepos_ws_connections %ld\n"
        "# TYPE epos_ws_accepted_total counter\nepos_ws_accepted_total %llu\n"
        "# TYPE epos_ws_auth_total counter\nepos_ws_auth_total{result=\"ok\"} %llu\n"
        "epos_ws_auth_total{result=\"fail\"} %llu\n"
        "# TYPE epos_ws_frames_in_total counter\nepos_ws_frames_in_total %llu\n"
        "# TYPE epos_ws_frames_out_total counter\nepos_ws_frames_out_total %llu\n"
        "# TYPE epos_events_delivered_total counter\nepos_events_delivered_total %llu\n"
        "# TYPE epos_chat_messages_total counter\nepos_chat_messages_total %llu\n"
        "# TYPE epos_http_requests_total counter\nepos_http_requests_total %llu\n"
        "# TYPE epos_http_errors_total counter\nepos_http_errors_total %llu\n"
        "# TYPE epos_slow_consumers_closed_total counter\nepos_slow_consumers_closed_total %llu\n"
        "# TYPE epos_rate_limited_total counter\nepos_rate_limited_total %llu\n"
        "# TYPE epos_pubsub_messages_total counter\nepos_pubsub_messages_total %llu\n"
        "# TYPE epos_fills_total counter\nepos_fills_total %llu\n"
        "# TYPE epos_resets_total counter\nepos_resets_total %llu\n"
        "# TYPE epos_topics gauge\nepos_topics %zu\n"
        "# TYPE epos_pg_live gauge\nepos_pg_live %d\n"
        "# TYPE epos_pg_queued gauge\nepos_pg_queued %d\n"
        "# TYPE epos_redis_up gauge\nepos_redis_up %d\n",
        the_hub->ws_live, (unsigned long long)st->ws_accepted, (unsigned long long)st->ws_auth_ok,
        (unsigned long long)st->ws_auth_fail, (unsigned long long)st->frames_in,
        (unsigned long long)st->frames_out, (unsigned long long)st->events_out,
        (unsigned long long)st->msgs_sent, (unsigned long long)st->http_requests,
        (unsigned long long)st->http_errors, (unsigned long long)st->slow_closed,
        (unsigned long long)st->rate_limited, (unsigned long long)st->pubsub_in,
        (unsigned long long)st->fills, (unsigned long long)st->resets,
        fanout_topic_count(the_hub->fan), pgq_live(the_hub->pg), pgq_queued(the_hub->pg),
        rds_up(the_hub->redis));
    http_reply(r, 200, "text/plain; version=0.0.4", buf, (size_t)n);
}

void health_handle(http_req *r)
{
    if (r->method != HTTP_GET && strcmp(r->path, "/healthz") != 0) {
        http_reply_error(r, 405, "bad_request", "Метод не поддерживается");
        return;
    }
    if (strcmp(r->path, "/healthz") == 0) {
        http_reply(r, 200, "text/plain", "ok\n", 3);
    } else if (strcmp(r->path, "/readyz") == 0) {
        int pg = pgq_live(the_hub->pg) > 0, redis = rds_up(the_hub->redis);
        char buf[96];
        int n = snprintf(buf, sizeof(buf), "%s\npostgresql: %s\nredis: %s\n",
                         pg && redis ? "ready" : "not ready", pg ? "up" : "down",
                         redis ? "up" : "down");
        http_reply(r, pg && redis ? 200 : 503, "text/plain", buf, (size_t)n);
    } else if (strcmp(r->path, "/metrics") == 0) {
        health_metrics(r);
    } else {
        http_reply_error(r, 404, "not_found", "Нет такого адреса");
    }
}
