/* lg_chat.h -- chat mode: pairs of members, paced sends, send→delivery and send→ack latency. */
/* Included by loadgen.c only (see lg_ws.h for why bench parts are headers). */
#ifndef LG_CHAT_H
#define LG_CHAT_H

enum { CH_CONNECT, CH_SETTLE, CH_SEND, CH_DRAIN, CH_DONE };

static struct {
    int phase;
    int64_t until, t0;
    int pairs;
    int total, next;    /* messages to send, next to send */
    int64_t *sent;      /* send time of message m */
    int64_t *dlv, *ack; /* latency of delivery to the other member / of the ack, -1 none */
    int delivered, acked, errors;
    char **lines; /* the pairs file, split in place by ch_init */
    int nlines;
    char prefix[32]; /* "lg<run>-": cids of this run */
    size_t prefix_len;
    double send_secs; /* how long sending took */
} C;

/* Pairs from the file ("chat token_a token_b" a line) or, with --no-auth,
 * --pairs-count pairs of unauthenticated connections (for the ws peer). */
static int ch_init(void)
{
    char **lines = NULL;
    int n = 0;
    if (G.pairs_file) {
        n = lg_read_lines(G.pairs_file, &lines);
        C.lines = lines;
        C.nlines = n > 0 ? n : 0;
        if (n <= 0) {
            fprintf(stderr, "loadgen: cannot read pairs from %s\n", G.pairs_file);
            return -1;
        }
    } else if (G.no_auth && G.pairs > 0) {
        n = G.pairs;
    } else {
        fputs("loadgen: chat needs --pairs FILE or --no-auth --pairs-count P\n", stderr);
        return -1;
    }
    C.pairs = n;
    G.n = G.nconns = 2 * n;
    G.conns = calloc((size_t)G.nconns, sizeof(lg_conn));
    if (!G.conns)
        return -1;
    for (int p = 0; p < n; p++) {
        lg_conn *a = &G.conns[2 * p], *b = &G.conns[2 * p + 1];
        if (lines) {
            char *save = NULL;
            char *chat = strtok_r(lines[p], " \t", &save);
            a->token = strtok_r(NULL, " \t", &save);
            b->token = strtok_r(NULL, " \t", &save);
            if (!chat || !a->token || !b->token) {
                fprintf(stderr, "loadgen: bad pairs line %d\n", p + 1);
                return -1;
            }
            a->chat = b->chat = atoll(chat);
        }
        if (G.no_auth)
            a->token = b->token = NULL;
    }
    C.total = G.chat_rate * G.chat_secs;
    C.sent = calloc((size_t)C.total + 1, sizeof(int64_t));
    C.dlv = malloc(sizeof(int64_t) * ((size_t)C.total + 1));
    C.ack = malloc(sizeof(int64_t) * ((size_t)C.total + 1));
    if (!C.sent || !C.dlv || !C.ack)
        return -1;
    memset(C.dlv, 0xff, sizeof(int64_t) * ((size_t)C.total + 1));
    memset(C.ack, 0xff, sizeof(int64_t) * ((size_t)C.total + 1));
    C.prefix_len = (size_t)snprintf(C.prefix, sizeof(C.prefix), "lg%x-", G.run_id);
    return 0;
}

/* Message m goes from one member of pair m % P to the other; the sides take turns. */
static int ch_sender(int m)
{
    int p = m % C.pairs;
    return 2 * p + ((m / C.pairs) & 1);
}

static int ch_receiver(int m)
{
    return ch_sender(m) ^ 1;
}

static void ch_send(int m)
{
    char buf[512];
    lg_conn *c = &G.conns[ch_sender(m)];
    int n = snprintf(buf, sizeof(buf),
                     "{\"op\":\"send\",\"chat\":%lld,\"text\":\"Добрый день! Сообщение "
                     "нагрузочного теста № %d.\",\"cid\":\"%s%d\"}",
                     c->chat, m, C.prefix, m);
    C.sent[m] = lg_now_ns();
    if (c->state != LG_READY || conn_send_text(c, buf, (size_t)n) != 0)
        C.errors++;
}

static int ch_step(int64_t now, int settled)
{
    switch (C.phase) {
    case CH_CONNECT:
        if (!settled)
            return 0;
        G.t_ready = now;
        fprintf(stderr, "loadgen: %s: %d members ready in %.2f s (%d failed)\n", G.label, G.ready,
                lg_ms(now - G.t_start) / 1000, G.failed);
        C.phase = CH_SETTLE;
        C.until = now + (int64_t)G.settle_ms * 1000000;
        return 0;
    case CH_SETTLE:
        if (now < C.until)
            return 0;
        C.phase = CH_SEND;
        C.t0 = now;
        /* fall through */
    case CH_SEND:
        while (C.next < C.total && C.t0 + (int64_t)C.next * 1000000000 / G.chat_rate <= now)
            ch_send(C.next++);
        if (C.next == C.total) {
            C.send_secs = lg_ms(lg_now_ns() - C.t0) / 1000;
            C.phase = CH_DRAIN;
            C.until = now + 10LL * 1000000000;
        }
        return 0;
    case CH_DRAIN:
        if (C.delivered >= C.total && (G.no_auth || C.acked >= C.total))
            return 1;
        return now >= C.until;
    default:
        return 1;
    }
}

static void ch_on_line(lg_conn *c, const char *line, size_t len)
{
    size_t cl = 0;
    const char *cid = lg_json_str(line, len, "cid", &cl);
    int is_error = lg_json_is(line, len, "op", "error");
    if (is_error && C.errors++ < 5)
        fprintf(stderr, "loadgen: %s: %.*s\n", G.label, (int)(len > 300 ? 300 : len), line);
    if (is_error || !cid || cl <= C.prefix_len || memcmp(cid, C.prefix, C.prefix_len) != 0)
        return;
    long long m = atoll(cid + C.prefix_len);
    if (m < 0 || m >= C.next)
        return;
    int64_t lat = lg_now_ns() - C.sent[m];
    if (lg_json_is(line, len, "op", "ack")) {
        if (c->idx == ch_sender((int)m) && C.ack[m] < 0) {
            C.ack[m] = lat;
            C.acked++;
        }
    } else if (c->idx == ch_receiver((int)m) && C.dlv[m] < 0) {
        C.dlv[m] = lat;
        C.delivered++;
    }
}

static int ch_timeout_ms(int64_t now)
{
    if (C.phase == CH_SEND) {
        int64_t due = C.t0 + (int64_t)C.next * 1000000000 / G.chat_rate;
        int64_t d = (due - now + 999999) / 1000000;
        return d < 1 ? 1 : (int)d; /* 1 ms steps: sends go out in small batches, timed each */
    }
    if (C.phase == CH_SETTLE)
        return (int)((C.until - now) / 1000000 + 1);
    return 100;
}

/* Sorted latencies of the measured messages (after the warm-up) into v; returns the count. */
static size_t ch_collect(const int64_t *lat, int64_t *v)
{
    size_t n = 0;
    int from = G.warmup_secs * G.chat_rate;
    for (int m = from < C.total ? from : 0; m < C.total; m++)
        if (lat[m] >= 0)
            v[n++] = lat[m];
    qsort(v, n, sizeof(int64_t), lg_cmp_i64);
    return n;
}

static void ch_print_pcts(const char *name, const int64_t *lat)
{
    int64_t *v = malloc(sizeof(int64_t) * ((size_t)C.total + 1));
    size_t n = v ? ch_collect(lat, v) : 0;
    printf(",\"%s\":{\"n\":%zu,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f}", name, n,
           lg_ms(lg_pct(v, n, 50)), lg_ms(lg_pct(v, n, 90)), lg_ms(lg_pct(v, n, 99)),
           lg_ms(n ? v[n - 1] : 0));
    free(v);
}

static void ch_free(void)
{
    for (int i = 0; i < C.nlines; i++)
        free(C.lines[i]);
    free(C.lines);
    free(C.sent);
    free(C.dlv);
    free(C.ack);
}

static void ch_report(void)
{
    printf("{\"mode\":\"chat\",\"target\":\"%s\",\"pairs\":%d,\"ready\":%d,\"failed\":%d,"
           "\"dropped\":%d,\"rate\":%d,\"sent\":%d,\"send_secs\":%.2f,\"achieved_rate\":%.0f,"
           "\"delivered\":%d,\"acked\":%d,\"errors\":%d,\"warmup_secs\":%d",
           G.label, C.pairs, G.ready, G.failed, G.dropped, G.chat_rate, C.next, C.send_secs,
           C.send_secs > 0 ? C.next / C.send_secs : 0, C.delivered, C.acked, C.errors,
           G.warmup_secs);
    ch_print_pcts("delivery_ms", C.dlv);
    ch_print_pcts("ack_ms", C.ack);
    printf(",\"loadgen_cpu_s\":%.2f}\n", lg_cpu_s());
    fflush(stdout);
}

#endif
