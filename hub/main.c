/* main.c -- epos-hub: fill the context info, join libwebsockets, libpq and
 * hiredis to one libuv loop, run it, and tear everything down on SIGTERM. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epos/admin.h"
#include "epos/log.h"
#include "fanout.h"
#include "http.h"
#include "hub.h"
#include "session.h"

#define STARTUP_PG_WAIT_MS 5000
#define SWEEP_EVERY_TICKS 5
#define PRESENCE_EVERY_TICKS 30
#define DRAIN_TICKS 20

hub *the_hub;

static const lws_retry_bo_t ws_idle_policy = {
    /* Heartbeats find dead peers: ping after 30 s of silence, drop at 70 s. */
    .secs_since_valid_ping = 30,
    .secs_since_valid_hangup = 70,
};

/* Every 50 ms of the shutdown: stop once the clients have gone, or after 1 s. */
static void hub_on_drain(uv_timer_t *t)
{
    hub *h = t->data;
    if (h->ws_live == 0 || ++h->drain_ticks >= DRAIN_TICKS)
        uv_stop(h->loop);
}

static void hub_on_signal(uv_signal_t *sig, int signum)
{
    hub *h = sig->data;
    if (h->stopping)
        return;
    log_info("signal %d: shutting down, %ld connections to close", signum, h->ws_live);
    h->stopping = 1;
    listen_stop(h);
    ws_close_all(1001);
    uv_timer_start(&h->drain, hub_on_drain, 0, 50);
}

static void hub_on_tick(uv_timer_t *t)
{
    static unsigned ticks;
    hub *h = t->data;
    ws_tick(h);
    portlock_tick(h);
    api_limit_sweep();
    if (++ticks % SWEEP_EVERY_TICKS == 0)
        fanout_sweep(h->fan);
    if (ticks % PRESENCE_EVERY_TICKS == 0)
        fanout_presence_tick(h->fan);
    if (ticks % (unsigned)h->cfg.session_check_s == 0)
        session_check_live(h);
}

/* On every answer of the hub, static files and errors included. The web
 * client has no inline script or style; it talks to its own origin only. */
static const struct lws_protocol_vhost_options hub_headers[] = {
    {&hub_headers[1], NULL, "content-security-policy:",
     "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     "font-src 'self'; connect-src 'self'; manifest-src 'self'; frame-ancestors 'none'; "
     "base-uri 'none'; form-action 'self'"},
    {&hub_headers[2], NULL, "x-frame-options:", "DENY"},
    {&hub_headers[3], NULL, "x-content-type-options:", "nosniff"},
    {NULL, NULL, "referrer-policy:", "no-referrer"},
};

static struct lws_context *hub_lws_create(hub *h)
{
    static struct lws_http_mount mounts[5];
    static const char *const api_paths[] = {"/api", "/healthz", "/readyz", "/metrics"};
    static struct lws_protocols protocols[3];
    static void *foreign[1];
    struct lws_context_creation_info info;

    memset(mounts, 0, sizeof(mounts));
    for (int i = 0; i < 4; i++) {
        mounts[i].mount_next = &mounts[i + 1];
        mounts[i].mountpoint = api_paths[i];
        mounts[i].mountpoint_len = (unsigned char)strlen(api_paths[i]);
        mounts[i].origin = "epos-http";
        mounts[i].origin_protocol = LWSMPRO_CALLBACK;
    }
    mounts[4].mountpoint = "/";
    mounts[4].mountpoint_len = 1;
    mounts[4].origin = h->cfg.web_root;
    mounts[4].def = "index.html";
    mounts[4].origin_protocol = LWSMPRO_FILE;

    protocols[0] = http_protocol;
    protocols[1] = ws_protocol;
    foreign[0] = h->loop;
    memset(&info, 0, sizeof(info));
    /* No LWS_SERVER_OPTION_VALIDATE_UTF8: ws.c checks each whole message
     * and closes with 1007 itself, after what was queued before it. */
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_ALLOW_LISTEN_SHARE |
                   LWS_SERVER_OPTION_DISABLE_IPV6;
    info.foreign_loops = foreign;
    /* listen.c owns the listening socket and adopts what it accepts. */
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
    info.protocols = protocols;
    info.mounts = mounts;
    info.retry_and_idle_policy = &ws_idle_policy;
    info.timeout_secs = 20;
    /* The deadline of a whole request head (libwebsockets does not extend it
     * per byte): a client dribbling its head (slowloris) is cut. */
    info.timeout_secs_ah_idle = (unsigned)h->cfg.http_head_timeout_s;
    /* Room for every head http_guard.c lets through (it keeps less than the
     * raw bytes: field names are tokenized), so an oversized head gets its
     * 431 instead of being dropped by libwebsockets. */
    info.max_http_header_data = HTTP_GUARD_HEAD_MAX + 1024;
    info.headers = hub_headers;
    if (h->cfg.tls_cert[0]) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = h->cfg.tls_cert;
        info.ssl_private_key_filepath = h->cfg.tls_key;
    }
    return lws_create_context(&info);
}

static void hub_pg_wait(uv_timer_t *t)
{
    uv_stop(t->loop);
}

/* Start-up refuses to serve without PostgreSQL: one clear line, exit 1. */
static int hub_wait_for_pg(hub *h)
{
    uv_timer_t t;
    uv_timer_init(h->loop, &t);
    for (int waited = 0; waited < STARTUP_PG_WAIT_MS && !pgq_live(h->pg); waited += 50) {
        uv_timer_start(&t, hub_pg_wait, 50, 0);
        uv_run(h->loop, UV_RUN_DEFAULT);
    }
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(h->loop, UV_RUN_NOWAIT);
    return pgq_live(h->pg) ? 0 : -1;
}

/* Thread-pool work finishing during shutdown sees NULL stores and answers 503
 * instead of touching a freed pool. */
static void hub_pg_closed(void *arg)
{
    ((hub *)arg)->pg = NULL;
}

static void hub_redis_closed(void *arg)
{
    ((hub *)arg)->redis = NULL;
}

static void hub_shutdown(hub *h)
{
    listen_stop(h);
    portlock_release();
    admin_close(h->admin);
    h->admin = NULL;
    if (h->lws)
        lws_context_destroy(h->lws);
    h->lws = NULL;
    pgq_pool_close(h->pg, hub_pg_closed, h);
    if (h->redis)
        rds_close(h->redis, hub_redis_closed, h);
    uv_close((uv_handle_t *)&h->tick, NULL);
    uv_close((uv_handle_t *)&h->drain, NULL);
    uv_close((uv_handle_t *)&h->sig_term, NULL);
    uv_close((uv_handle_t *)&h->sig_int, NULL);
    uv_run(h->loop, UV_RUN_DEFAULT);
    fanout_free(h->fan);
    h->fan = NULL;
    ws_mask_free();
    http_guard_free();
    api_limit_free();
}

/* 0: run; 1: done (--version printed); -1: bad arguments. */
static int hub_parse_args(int argc, char **argv, const char **config)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        if (c == 'c') {
            *config = optarg;
        } else if (c == 'V') {
            printf("epos-hub %s\n", EPOS_VERSION);
            return 1;
        } else {
            fprintf(stderr, "usage: epos-hub [--config FILE] [--version]\n");
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    static hub h;
    const char *config = NULL;
    char err[512];
    int rc = 1;

    int args = hub_parse_args(argc, argv, &config);
    if (args != 0)
        return args > 0 ? 0 : 2;
    if (config_load(&h.cfg, config, err, sizeof(err)) != 0) {
        fprintf(stderr, "epos-hub: %s\n", err);
        return 1;
    }
    int level = log_level_parse(h.cfg.log_level);
    if (level < 0 || !h.cfg.token_secret[0]) {
        fprintf(stderr, "epos-hub: %s\n",
                level < 0 ? "log_level: expected debug, info, warn or error"
                          : "token_secret: must be set (sessions cannot be signed without it)");
        config_free(&h.cfg);
        return 1;
    }
    log_init("epos-hub", level);
    const char *lwslog = getenv("EPOS_LWS_LOG"); /* a debugging aid: lws's own log mask */
    lws_set_log_level(lwslog ? atoi(lwslog) : LLL_ERR | LLL_WARN, NULL);
    signal(SIGPIPE, SIG_IGN);
    the_hub = &h;
    h.loop = uv_default_loop();

    h.pg = pgq_pool_create(h.loop, h.cfg.pg_conninfo, h.cfg.pg_pool_size, hub_statements);
    if (!h.pg || hub_wait_for_pg(&h) != 0) {
        char where[1024];
        config_redact_conninfo(h.cfg.pg_conninfo, where, sizeof(where));
        fprintf(stderr, "epos-hub: cannot connect to PostgreSQL (%s)\n", where);
        goto out;
    }
    h.redis = rds_create(h.loop, h.cfg.redis_host, h.cfg.redis_port, fanout_on_message,
                         fanout_on_redis_state, &h);
    if (h.redis && h.cfg.redis_sentinels[0])
        rds_use_sentinels(h.redis, h.cfg.redis_sentinels, h.cfg.redis_master_name);
    h.fan = fanout_create(&h);
    h.listen_fd = -1;
    h.lws = h.fan ? hub_lws_create(&h) : NULL;
    h.vhost = h.lws ? lws_get_vhost_by_name(h.lws, "default") : NULL;
    if (!h.vhost) {
        fprintf(stderr, "epos-hub: cannot start libwebsockets%s\n",
                h.cfg.tls_cert[0] ? " (check tls_cert and tls_key)" : "");
        goto out;
    }
    if (!(h.admin = admin_start(h.loop, h.cfg.admin_host, h.cfg.admin_port, health_hooks(), err,
                                sizeof(err)))) {
        fprintf(stderr, "epos-hub: %s\n", err);
        goto out;
    }
    if (portlock_take(&h, err, sizeof(err)) != 0 || listen_start(&h, err, sizeof(err)) != 0) {
        fprintf(stderr, "epos-hub: %s\n", err);
        goto out;
    }
    uv_signal_init(h.loop, &h.sig_term);
    uv_signal_init(h.loop, &h.sig_int);
    h.sig_term.data = h.sig_int.data = &h;
    uv_signal_start(&h.sig_term, hub_on_signal, SIGTERM);
    uv_signal_start(&h.sig_int, hub_on_signal, SIGINT);
    uv_timer_init(h.loop, &h.tick);
    uv_timer_init(h.loop, &h.drain);
    h.tick.data = h.drain.data = &h;
    uv_timer_start(&h.tick, hub_on_tick, 1000, 1000);
    log_info("admin port %s:%d (/metrics /healthz /readyz)", h.cfg.admin_host, admin_port(h.admin));
    log_info("listening on %s:%d%s, web root %s", h.cfg.listen_host, h.cfg.port,
             h.cfg.tls_cert[0] ? " (TLS)" : "", h.cfg.web_root);

    uv_run(h.loop, UV_RUN_DEFAULT);
    hub_shutdown(&h);
    rc = uv_loop_close(h.loop) == 0 ? 0 : 1;
    if (rc)
        log_error("loop closed with handles still open");
    else
        log_info("stopped cleanly");
    config_free(&h.cfg);
    return rc;
out:
    portlock_release();
    admin_close(h.admin);
    if (h.lws)
        lws_context_destroy(h.lws);
    if (h.pg)
        pgq_pool_close(h.pg, hub_pg_closed, &h);
    if (h.redis)
        rds_close(h.redis, hub_redis_closed, &h);
    uv_run(h.loop, UV_RUN_DEFAULT);
    fanout_free(h.fan);
    config_free(&h.cfg);
    return 1;
}
