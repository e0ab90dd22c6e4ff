/* main.c -- epos-worker: configuration, the loop, PostgreSQL and Redis, the queue, the relay,
 * shutdown. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "epos/log.h"
#include "mailtext.h"
#include "worker.h"

#define WORKER_PG_WAIT_MS 5000

static worker_t worker;
static epos_config config;
static uv_signal_t sig_term, sig_int;
static uv_timer_t start_timer; /* the PostgreSQL deadline at start-up */
static int running;            /* PostgreSQL answered: everything started */
static size_t services_started;

static void worker_shutdown(worker_t *w);

static void worker_redis_state(int up, void *arg)
{
    worker_t *w = arg;
    if (up)
        relay_redis_up(w->relay);
    else if (!w->stopping)
        log_warn("Redis at %s:%d unreachable; reconnecting", w->cfg->redis_host,
                 w->cfg->redis_port);
}

static int worker_start_services(worker_t *w)
{
    for (; services_started < worker_nservices; services_started++) {
        const worker_service *s = &worker_services[services_started];
        if (s->start(w) != 0) {
            log_error("service %s failed to start", s->name);
            return -1;
        }
    }
    return 0;
}

/* PostgreSQL answered: connect Redis, start the queue, the relay, the
 * consumers, the services and /metrics. */
static int worker_run(worker_t *w)
{
    const epos_config *cfg = w->cfg;
    queue_opts o;
    queue_opts_default(&o);
    o.consumer = w->consumer;
    o.concurrency = cfg->worker_concurrency;
    o.max_attempts = cfg->job_max_attempts;
    o.claim_idle_ms = cfg->job_claim_idle_ms;
    o.backoff_base_ms = cfg->job_backoff_ms;
    running = 1;
    w->metrics = metrics_create(w);
    w->redis = rds_create(w->loop, cfg->redis_host, cfg->redis_port, NULL, worker_redis_state, w);
    if (w->redis && cfg->redis_sentinels[0])
        rds_use_sentinels(w->redis, cfg->redis_sentinels, cfg->redis_master_name);
    w->q = w->redis ? queue_create(w->loop, w->redis, cfg->redis_host, cfg->redis_port, &o) : NULL;
    if (!w->metrics || !w->q || !(w->relay = relay_start(w))) {
        log_error("out of memory at start-up");
        return -1;
    }
    if (consumer_start(w) != 0 || worker_start_services(w) != 0)
        return -1;
    char err[256];
    int port = metrics_listen(w->metrics, cfg->admin_host, cfg->admin_port, err, sizeof(err));
    if (port < 0) {
        log_error("%s", err);
        return -1;
    }
    log_info("admin port %s:%d (/metrics /healthz /readyz)", cfg->admin_host, port);
    log_info("started: consumer %s, %zu job kinds, %d jobs in flight at most", w->consumer,
             job_nkinds, o.concurrency);
    return 0;
}

static void worker_on_probe(PGresult *res, void *arg)
{
    worker_t *w = arg;
    if (running || w->stopping || !pgq_ok(res))
        return; /* a failed probe: the next state change or the deadline decides */
    uv_timer_stop(&start_timer);
    if (worker_run(w) != 0) {
        w->exit_code = 1;
        worker_shutdown(w);
    }
}

static void worker_pg_state(int up, void *arg)
{
    worker_t *w = arg;
    if (!up) {
        if (running && !w->stopping)
            log_warn("PostgreSQL unreachable; reconnecting");
        return;
    }
    if (!running && !w->stopping)
        pgq_exec_sql(w->pg, "SELECT 1", 0, NULL, worker_on_probe, w);
}

static void worker_on_deadline(uv_timer_t *t)
{
    worker_t *w = t->data;
    char where[1024];
    if (running)
        return;
    config_redact_conninfo(w->cfg->pg_conninfo, where, sizeof(where));
    log_error("cannot reach PostgreSQL (%s) within %d s; exiting", where, WORKER_PG_WAIT_MS / 1000);
    w->exit_code = 1;
    worker_shutdown(w);
}

/* ---------------------------------------------------------------- shutdown */

static void worker_closed_redis(void *arg)
{
    worker_t *w = arg;
    w->redis = NULL;
    metrics_close(w->metrics);
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&sig_int, NULL);
    uv_close((uv_handle_t *)&start_timer, NULL);
}

static void worker_closed_pg(void *arg)
{
    worker_t *w = arg;
    w->pg = NULL;
    if (w->redis)
        rds_close(w->redis, worker_closed_redis, w);
    else
        worker_closed_redis(w);
}

static void worker_closed_relay(void *arg)
{
    worker_t *w = arg;
    while (services_started > 0)
        worker_services[--services_started].stop(w);
    pgq_pool_close(w->pg, worker_closed_pg, w);
}

static void worker_stopped_queue(void *arg)
{
    worker_t *w = arg;
    w->stopping = 2;
    relay_close(w->relay, worker_closed_relay, w);
}

/* Stop taking jobs, let running ones finish (or put them back), then close
 * the relay, the services, PostgreSQL, Redis and our handles in that order. */
static void worker_shutdown(worker_t *w)
{
    if (w->stopping)
        return;
    w->stopping = 1;
    uv_timer_stop(&start_timer);
    relay_pause(w->relay);
    if (w->q)
        queue_stop(w->q, worker_stopped_queue, w);
    else
        worker_stopped_queue(w);
}

static void worker_on_signal(uv_signal_t *h, int signum)
{
    worker_t *w = h->data;
    if (w->stopping) {
        log_info("already stopping");
        return;
    }
    log_info("%s: stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    worker_shutdown(w);
}

/* ---------------------------------------------------------------- main */

static int worker_args(int argc, char **argv, const char **config_path)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "epos-worker: --config needs a file name\n");
                return -1;
            }
            *config_path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            *config_path = argv[i] + 9;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("epos-worker %s\n", EPOS_VERSION);
            return 0;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: epos-worker [--config FILE] [--version]\n"
                   "Relays the outbox to the job streams and runs the jobs; every configuration\n"
                   "key may be overridden by an EPOS_* environment variable.\n");
            return 0;
        } else {
            fprintf(stderr,
                    "epos-worker: unknown argument '%s' (usage: epos-worker [--config FILE])\n",
                    argv[i]);
            return -1;
        }
    }
    return 1;
}

static void worker_free(worker_t *w)
{
    queue_free(w->q);
    relay_free(w->relay);
    consumer_free(w);
    metrics_free(w->metrics);
}

int main(int argc, char **argv)
{
    const char *config_path = NULL;
    char err[512];
    uv_loop_t loop;
    int rc = worker_args(argc, argv, &config_path);
    if (rc <= 0)
        return rc < 0 ? 1 : 0;
    if (config_load(&config, config_path, err, sizeof(err)) != 0) {
        fprintf(stderr, "epos-worker: %s\n", err);
        return 1;
    }
    config_pg_for(&config, "worker"); /* its own role: worker_pg_conninfo */
    int level = log_level_parse(config.log_level);
    if (level < 0) {
        fprintf(stderr, "epos-worker: bad log_level \"%s\" (debug|info|warn|error)\n",
                config.log_level);
        config_free(&config);
        return 1;
    }
    log_init("epos-worker", level);
    if (mailtext_init(err, sizeof(err)) != 0) { /* a broken mail template: never start */
        fprintf(stderr, "epos-worker: mail template %s\n", err);
        config_free(&config);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&loop);

    worker_t *w = &worker;
    w->loop = &loop;
    w->cfg = &config;
    snprintf(w->consumer, sizeof(w->consumer), "%s-%d", config.instance, (int)getpid());
    uv_signal_init(&loop, &sig_term);
    uv_signal_init(&loop, &sig_int);
    uv_timer_init(&loop, &start_timer);
    sig_term.data = sig_int.data = start_timer.data = w;
    uv_signal_start(&sig_term, worker_on_signal, SIGTERM);
    uv_signal_start(&sig_int, worker_on_signal, SIGINT);
    w->pg = pgq_pool_create(&loop, config.pg_conninfo, config.pg_pool_size, NULL);
    if (!w->pg) {
        fprintf(stderr, "epos-worker: out of memory\n");
        return 1;
    }
    pgq_set_state_cb(w->pg, worker_pg_state, w);
    uv_timer_start(&start_timer, worker_on_deadline, WORKER_PG_WAIT_MS, 0);

    uv_run(&loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(&loop);
    if (rc != 0)
        log_error("loop closed with handles left: %s", uv_strerror(rc));
    else
        log_info("stopped");
    worker_free(w);
    mailtext_free();
    config_free(&config);
    return w->exit_code ? w->exit_code : (rc != 0);
}
