/* lg_bcast.h -- broadcast mode: time one event, and bursts of events, to every subscriber. */
/* Included by loadgen.c only (see lg_ws.h for why bench parts are headers). */
#ifndef LG_BCAST_H
#define LG_BCAST_H

enum { BC_CONNECT, BC_PUB, BC_SETTLE, BC_GAP, BC_ARMING, BC_RUNNING, BC_DONE };

static struct {
    int phase;
    int64_t until;      /* end of SETTLE / GAP, deadline of RUNNING */
    int round, nrounds; /* singles first, then bursts */
    int first_k, nk;    /* events of the current round */
    int armed;          /* HTTP triggers connected */
    int next_k;
    lg_conn *pub; /* the publisher connection (no --api-key) */
    int http_errors;
    int missing; /* deliveries that never came */
    double single_ms[LG_MAX_EVENTS];
    int nsingle;
    double burst_ms[64], burst_rate[64];
    int nburst;
} B;

static int bc_subs_ready(void)
{
    return G.ready - (B.pub && B.pub->state == LG_READY ? 1 : 0);
}

static int bc_init(void)
{
    G.nconns = G.n + (G.api_key ? 0 : 1);
    return 0;
}

/* The frame a publisher sends the ws peer: shaped like the hub's event frame,
 * so both servers relay messages of about the same size. */
static int bc_event_text(char *buf, size_t cap, int k)
{
    return snprintf(buf, cap,
                    "{\"op\":\"event\",\"topic\":\"org:1\",\"seq\":%d,\"type\":\"bench\","
                    "\"ts\":\"2026-01-01T00:00:00.000Z\",\"data\":{\"lgk\":%d}}",
                    k + 1, k);
}

static int bc_publish_request(char *buf, size_t cap, int k)
{
    char body[256], target[64];
    if (G.org)
        snprintf(target, sizeof(target), "\"org\":%lld", G.org);
    else
        snprintf(target, sizeof(target), "\"groups\":[%lld]", G.group);
    int bl =
        snprintf(body, sizeof(body), "{\"type\":\"bench\",\"data\":{\"lgk\":%d},%s}", k, target);
    return snprintf(buf, cap,
                    "POST /api/publish HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: ApiKey %s\r\n"
                    "Content-Type: application/json\r\nContent-Length: %d\r\n"
                    "Connection: close\r\n\r\n%s",
                    G.host, G.port, G.api_key, bl, body);
}

/* Send every trigger of the round back to back; each event's clock starts at its write. */
static void bc_fire(void)
{
    char buf[1024];
    int expect = bc_subs_ready();
    for (int j = 0; j < B.nk; j++) {
        int k = B.first_k + j;
        G.ev[k].expect = expect;
        G.ev[k].t0 = lg_now_ns();
        if (G.api_key) {
            int n = bc_publish_request(buf, sizeof(buf), k);
            if (conn_send(&G.http[j], buf, (size_t)n) != 0)
                B.http_errors++;
        } else {
            int n = bc_event_text(buf, sizeof(buf), k);
            if (conn_send_text(B.pub, buf, (size_t)n) != 0)
                B.http_errors++;
        }
    }
    B.phase = BC_RUNNING;
    B.until = lg_now_ns() + (int64_t)G.round_timeout_ms * 1000000;
}

static void bc_start_round(int64_t now)
{
    B.first_k = B.next_k;
    /* warm-up rounds are bursts: they run every code path the measured rounds run */
    B.nk = B.round >= G.warm && B.round < G.warm + G.singles ? 1 : G.burst;
    B.next_k += B.nk;
    if (!G.api_key) {
        bc_fire();
        return;
    }
    B.armed = 0;
    B.phase = BC_ARMING;
    B.until = now + (int64_t)G.round_timeout_ms * 1000000;
    for (int j = 0; j < B.nk; j++) {
        lg_conn *c = &G.http[j];
        memset(c, 0, sizeof(*c));
        c->fd = -1;
        c->kind = LG_HTTP;
        c->idx = B.first_k + j;
        if (conn_open(c) != 0)
            B.http_errors++;
    }
}

static void bc_finish_round(void)
{
    int64_t t0 = INT64_MAX, last = 0;
    long deliveries = 0;
    int complete = 1;
    for (int j = 0; j < B.nk; j++) {
        lg_event *e = &G.ev[B.first_k + j];
        if (e->t0 && e->t0 < t0)
            t0 = e->t0;
        if (e->last > last)
            last = e->last;
        deliveries += e->count;
        if (e->count < e->expect) {
            complete = 0;
            B.missing += e->expect - e->count;
        }
    }
    double ms = last > t0 ? lg_ms(last - t0) : -1;
    if (B.round < G.warm) {
        /* warm-up: lets a JIT (the ws peer) or cold caches (the hub) settle; not reported */
    } else if (B.nk == 1) {
        B.single_ms[B.nsingle++] = complete ? ms : -1;
    } else if (B.nburst < 64) {
        B.burst_ms[B.nburst] = ms;
        B.burst_rate[B.nburst++] = complete && ms > 0 ? deliveries / (ms / 1000.0) : -1;
    }
    fprintf(stderr, "loadgen: %s: round %d%s: %d event(s), %ld deliveries, %.2f ms%s\n", G.label,
            B.round, B.round < G.warm ? " (warm-up)" : "", B.nk, deliveries, ms,
            complete ? "" : " (incomplete)");
    B.round++;
    B.phase = B.round < B.nrounds ? BC_GAP : BC_DONE;
    B.until = lg_now_ns() + (int64_t)G.gap_ms * 1000000;
}

static int bc_round_complete(void)
{
    for (int j = 0; j < B.nk; j++) {
        const lg_event *e = &G.ev[B.first_k + j];
        if (!e->t0 || e->count < e->expect)
            return 0;
    }
    return 1;
}

static int bc_step(int64_t now, int settled)
{
    switch (B.phase) {
    case BC_CONNECT:
        if (!settled)
            return 0;
        G.t_ready = now;
        fprintf(stderr, "loadgen: %s: %d subscribers ready in %.2f s (%d failed)\n", G.label,
                G.ready, lg_ms(now - G.t_start) / 1000, G.failed);
        B.nrounds = G.warm + G.singles + G.bursts;
        if (G.api_key) {
            B.phase = BC_SETTLE;
            B.until = now + (int64_t)G.settle_ms * 1000000;
            return 0;
        }
        B.pub = &G.conns[G.n];
        B.pub->kind = LG_PUB;
        B.pub->idx = G.n;
        B.phase = BC_PUB;
        if (conn_open(B.pub) != 0)
            return 1;
        return 0;
    case BC_PUB:
        if (B.pub->state == LG_READY) {
            B.phase = BC_SETTLE;
            B.until = now + (int64_t)G.settle_ms * 1000000;
        }
        return B.pub->state == LG_CLOSED;
    case BC_SETTLE:
    case BC_GAP:
        if (now >= B.until)
            bc_start_round(now);
        return 0;
    case BC_ARMING:
        if (now >= B.until) {
            fputs("loadgen: HTTP triggers did not connect\n", stderr);
            return 1;
        }
        return 0;
    case BC_RUNNING:
        if (bc_round_complete() || now >= B.until)
            bc_finish_round();
        return 0;
    default:
        return 1;
    }
}

static void bc_on_ready(lg_conn *c)
{
    if (c->kind == LG_HTTP && ++B.armed == B.nk && B.phase == BC_ARMING)
        bc_fire();
}

static void bc_on_line(lg_conn *c, const char *line, size_t len)
{
    if (c->kind != LG_SUB)
        return;
    long long k = lg_json_int(line, len, "lgk");
    if (k < 0 || k >= B.next_k)
        return;
    G.ev[k].count++;
    G.ev[k].last = lg_now_ns();
    c->got++;
}

static void bc_on_http(lg_conn *c, int status)
{
    if (status != 200)
        B.http_errors++;
}

static int bc_timeout_ms(int64_t now)
{
    if (B.phase == BC_SETTLE || B.phase == BC_GAP || B.phase == BC_RUNNING ||
        B.phase == BC_ARMING) {
        int64_t d = (B.until - now) / 1000000 + 1;
        return B.phase == BC_RUNNING ? (d > 100 ? 100 : (int)d) : (int)(d < 0 ? 0 : d);
    }
    return 100;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n) where a negative entry (an incomplete round) sorts first. */
static double bc_median(const double *v, int n)
{
    double s[LG_MAX_EVENTS];
    if (n == 0)
        return -1;
    memcpy(s, v, sizeof(double) * (size_t)n);
    qsort(s, (size_t)n, sizeof(double), cmp_double);
    return s[n / 2];
}

static void bc_print_list(const char *name, const double *v, int n, int prec)
{
    printf(",\"%s\":[", name);
    for (int i = 0; i < n; i++)
        printf("%s%.*f", i ? "," : "", prec, v[i]);
    printf("]");
}

static void bc_report(void)
{
    long short_subs = 0;
    for (int i = 0; i < G.n; i++)
        if (G.conns[i].state == LG_READY && G.conns[i].got < (uint32_t)B.next_k)
            short_subs++;
    printf("{\"mode\":\"broadcast\",\"target\":\"%s\",\"subscribers\":%d,\"ready\":%d,"
           "\"failed\":%d,\"dropped\":%d,\"connect_s\":%.2f,\"trigger\":\"%s\",\"burst\":%d",
           G.label, G.n, bc_subs_ready(), G.failed, G.dropped,
           G.t_ready ? lg_ms(G.t_ready - G.t_start) / 1000 : -1.0,
           G.api_key ? "http-publish" : "ws-publisher", G.burst);
    bc_print_list("single_ms", B.single_ms, B.nsingle, 2);
    printf(",\"single_ms_median\":%.2f", bc_median(B.single_ms, B.nsingle));
    bc_print_list("burst_ms", B.burst_ms, B.nburst, 2);
    bc_print_list("burst_deliveries_per_s", B.burst_rate, B.nburst, 0);
    printf(",\"burst_deliveries_per_s_median\":%.0f", bc_median(B.burst_rate, B.nburst));
    printf(
        ",\"missing\":%d,\"subscribers_short\":%ld,\"trigger_errors\":%d,\"loadgen_cpu_s\":%.2f}\n",
        B.missing, short_subs, B.http_errors, lg_cpu_s());
    fflush(stdout);
}

#endif
