/* lg_modes.h -- the load generator's modes: idle (RSS per connection) and the dispatch to the
 * others. */
/* Included by loadgen.c only (see lg_ws.h for why bench parts are headers). */
#ifndef LG_MODES_H
#define LG_MODES_H

#include "lg_bcast.h"
#include "lg_chat.h"
#include "lg_watch.h"

enum { ID_CONNECT, ID_SETTLE, ID_HOLD };

static struct {
    int phase;
    int64_t until;
    long rss0, rss1; /* server VmRSS in KiB before connecting and with every connection idle */
} I;

/* VmRSS of pid in KiB, or -1. */
static long lg_rss_kib(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = atol(line + 6);
    fclose(f);
    return kib;
}

/* Every subscriber connection has been tried to the end: ready or given up. */
static int lg_settled(void)
{
    int subs = G.mode == LG_BROADCAST && !G.api_key ? G.nconns - 1 : G.nconns;
    return G.next_open >= subs && G.nretry == 0 && G.inflight == 0;
}

static void idle_report(void)
{
    long per = G.ready > 0 && I.rss0 >= 0 && I.rss1 >= 0 ? (I.rss1 - I.rss0) * 1024 / G.ready : -1;
    printf("{\"mode\":\"idle\",\"target\":\"%s\",\"connections\":%d,\"ready\":%d,\"failed\":%d,"
           "\"dropped\":%d,\"auth\":%s,\"connect_s\":%.2f,\"rss_before_kib\":%ld,"
           "\"rss_after_kib\":%ld,\"rss_per_conn_bytes\":%ld,\"loadgen_cpu_s\":%.2f}\n",
           G.label, G.n, G.ready, G.failed, G.dropped, G.no_auth ? "false" : "true",
           G.t_ready ? lg_ms(G.t_ready - G.t_start) / 1000 : -1.0, I.rss0, I.rss1, per, lg_cpu_s());
    fflush(stdout);
}

static int idle_step(int64_t now, int settled)
{
    switch (I.phase) {
    case ID_CONNECT:
        if (!settled)
            return 0;
        G.t_ready = now;
        fprintf(stderr, "loadgen: %s: %d connections ready in %.2f s (%d failed)\n", G.label,
                G.ready, lg_ms(now - G.t_start) / 1000, G.failed);
        I.phase = ID_SETTLE;
        I.until = now + (int64_t)G.settle_ms * 1000000;
        return 0;
    case ID_SETTLE:
        if (now < I.until)
            return 0;
        I.rss1 = G.server_pid ? lg_rss_kib(G.server_pid) : -1;
        idle_report();
        I.phase = ID_HOLD;
        return !G.hold;
    default:
        return 0; /* held until a signal stops the loop */
    }
}

static int mode_init(void)
{
    int rc;
    if (G.mode == LG_CHAT) {
        rc = ch_init();
    } else {
        rc = G.mode == LG_BROADCAST ? bc_init() : (G.nconns = G.n, 0);
        G.conns = rc == 0 ? calloc((size_t)G.nconns, sizeof(lg_conn)) : NULL;
        if (!G.conns)
            return -1;
        for (int i = 0; i < G.n; i++)
            G.conns[i].token = G.no_auth ? NULL : G.tokens[i % G.ntokens];
    }
    if (rc != 0)
        return rc;
    G.retry = calloc((size_t)G.nconns + 1, sizeof(int));
    if (!G.retry)
        return -1;
    for (int i = 0; i < G.nconns; i++) {
        G.conns[i].fd = -1;
        G.conns[i].idx = i;
        G.conns[i].kind = i < G.n ? LG_SUB : LG_PUB; /* the ramp opens subscribers only */
    }
    I.rss0 = G.server_pid ? lg_rss_kib(G.server_pid) : -1;
    if (G.server_pid && I.rss0 < 0)
        fprintf(stderr, "loadgen: cannot read /proc/%d/status\n", (int)G.server_pid);
    return 0;
}

static void mode_on_ready(lg_conn *c)
{
    if (G.mode == LG_BROADCAST)
        bc_on_ready(c);
}

static void mode_on_line(lg_conn *c, const char *line, size_t len)
{
    if (G.mode == LG_BROADCAST)
        bc_on_line(c, line, len);
    else if (G.mode == LG_CHAT)
        ch_on_line(c, line, len);
    else if (G.mode == LG_WATCH)
        watch_on_line(c, line, len);
}

static void mode_on_http(lg_conn *c, int status)
{
    if (G.mode == LG_BROADCAST)
        bc_on_http(c, status);
}

static int mode_step(int64_t now)
{
    int settled = lg_settled();
    if (settled && G.ready == 0 && !G.t_ready) {
        fprintf(stderr, "loadgen: %s: no connection could be made\n", G.label);
        return 1; /* nothing to measure */
    }
    if (G.mode == LG_BROADCAST)
        return bc_step(now, settled);
    if (G.mode == LG_CHAT)
        return ch_step(now, settled);
    if (G.mode == LG_WATCH)
        return watch_step(now, settled);
    return idle_step(now, settled);
}

static int mode_timeout_ms(int64_t now)
{
    if (G.mode == LG_BROADCAST)
        return bc_timeout_ms(now);
    if (G.mode == LG_CHAT)
        return ch_timeout_ms(now);
    if (I.phase == ID_SETTLE)
        return (int)((I.until - now) / 1000000 + 1);
    return 100;
}

static void mode_free(void)
{
    if (G.mode == LG_CHAT)
        ch_free();
}

static void mode_report(void)
{
    if (G.mode == LG_BROADCAST)
        bc_report();
    else if (G.mode == LG_CHAT)
        ch_report();
    else if (G.mode == LG_WATCH)
        watch_report();
    else if (I.phase != ID_HOLD)
        idle_report(); /* stopped before the measurement */
}

#endif
