/* lg_watch.h -- watch mode: hold connections and time, by the wall clock, events another process
 * causes. */
/* Included by loadgen.c only (see lg_ws.h for why bench parts are headers). */
#ifndef LG_WATCH_H
#define LG_WATCH_H

/* The deadline pass is caused by the worker's clock, not by the load
 * generator, so its deliveries are stamped with CLOCK_REALTIME (ms since the
 * epoch) for the runner to compare with the deadline it set. */
static struct {
    int announced;       /* "ready" line printed */
    int64_t deadline_ns; /* monotonic end of the watch */
    int received;        /* events of the type */
    int64_t first_ms, last_ms;
} W;

static int64_t lg_epoch_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void watch_on_line(lg_conn *c, const char *line, size_t len)
{
    if (!lg_json_is(line, len, "op", "event") || !lg_json_is(line, len, "type", G.watch_type))
        return;
    int64_t t = lg_epoch_ms();
    if (!W.received++)
        W.first_ms = t;
    W.last_ms = t;
    c->got++;
}

static int watch_step(int64_t now, int settled)
{
    if (!W.announced) {
        if (!settled)
            return 0;
        W.announced = 1;
        G.t_ready = now;
        W.deadline_ns = now + (int64_t)G.timeout_s * 1000000000;
        /* the runner may wait for this line before it starts what causes the events */
        fprintf(stderr, "loadgen: %s: %d connections ready in %.2f s (%d failed)\n", G.label,
                G.ready, lg_ms(now - G.t_start) / 1000, G.failed);
        printf("{\"mode\":\"watch-ready\",\"ready\":%d,\"at_ms\":%lld}\n", G.ready,
               (long long)lg_epoch_ms());
        fflush(stdout);
        return 0;
    }
    return W.received >= G.expect || now >= W.deadline_ns;
}

static void watch_report(void)
{
    long short_conns = 0;
    for (int i = 0; i < G.nconns; i++)
        if (G.conns[i].state == LG_READY && G.conns[i].got == 0)
            short_conns++;
    printf("{\"mode\":\"watch\",\"target\":\"%s\",\"type\":\"%s\",\"connections\":%d,\"ready\":%d,"
           "\"failed\":%d,\"dropped\":%d,\"expect\":%d,\"received\":%d,\"without_event\":%ld,"
           "\"first_ms\":%lld,\"last_ms\":%lld}\n",
           G.label, G.watch_type, G.n, G.ready, G.failed, G.dropped, G.expect, W.received,
           short_conns, (long long)W.first_ms, (long long)W.last_ms);
    fflush(stdout);
}

#endif
