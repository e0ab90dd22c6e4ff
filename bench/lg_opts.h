/* lg_opts.h -- the load generator's command line. */
/* Included by loadgen.c only (see lg_ws.h for why bench parts are headers). */
#ifndef LG_OPTS_H
#define LG_OPTS_H

static void lg_usage(void)
{
    fputs("usage: loadgen --mode idle|broadcast|chat|watch [options]\n"
          "  --host A --port P --path /ws   target (loopback only; default "
          "127.0.0.1:8080/ws)\n"
          "  --label NAME                   names the target in the JSON output\n"
          "  -n N                           subscribers (idle, broadcast; "
          "default 15000)\n"
          "  --src-ips K                    source addresses "
          "127.0.0.1..127.0.0.K (default 8)\n"
          "  --window W --rate R            connects in flight (256) and per "
          "second (5000)\n"
          "  --tokens FILE | --no-auth      auth tokens, one a line, used "
          "round-robin\n"
          "  --no-subprotocol               offer no Sec-WebSocket-Protocol "
          "(else epos.v1)\n"
          "  --pid PID                      idle: read this server's VmRSS "
          "before and after\n"
          "  --hold                         idle: keep the connections until "
          "SIGINT/SIGTERM\n"
          "  --settle MS                    quiet time before measuring (2000)\n"
          "broadcast: --warm-rounds W (2 bursts) --singles S (5) --bursts B (3) "
          "--burst E (20)\n"
          "  --gap MS (500)                 pause between rounds\n"
          "  --api-key K --org ID | --group ID   trigger by POST /api/publish; "
          "else by a\n"
          "                                 publisher connection whose frames "
          "the peer relays\n"
          "chat: --pairs FILE (\"chat token_a token_b\" a line) | --pairs-count "
          "P with --no-auth\n"
          "  --chat-rate R (2000/s) --secs D (10) --warmup W (1)\n"
          "watch: --type T --expect E --timeout S   count events of type T "
          "(wall-clock times)\n",
          stderr);
}

static int lg_mode_of(const char *s)
{
    if (strcmp(s, "idle") == 0)
        return LG_IDLE;
    if (strcmp(s, "broadcast") == 0)
        return LG_BROADCAST;
    if (strcmp(s, "chat") == 0)
        return LG_CHAT;
    if (strcmp(s, "watch") == 0)
        return LG_WATCH;
    return -1;
}

static const char *lg_tokens_file; /* --tokens */

/* Reject what cannot run. 0 or -1 (with a message). */
static int lg_check_opts(void)
{
    struct in_addr a;
    if ((int)G.mode < 0 || G.n < 1 || G.src_ips < 1 || G.src_ips > 250 || G.window < 1 ||
        inet_pton(AF_INET, G.host, &a) != 1 || (ntohl(a.s_addr) >> 24) != 127) {
        fputs("loadgen: need --mode, sane counts, and a 127.x.x.x --host\n", stderr);
        lg_usage();
        return -1;
    }
    if ((G.warm + G.bursts) * G.burst + G.singles > LG_MAX_EVENTS || G.bursts > 64 ||
        G.burst > LG_MAX_HTTP) {
        fputs("loadgen: too many broadcast events\n", stderr);
        return -1;
    }
    if (G.mode == LG_WATCH && (!G.watch_type || G.expect < 1)) {
        fputs("loadgen: watch needs --type and --expect\n", stderr);
        return -1;
    }
    if (G.api_key && !G.org && !G.group) {
        fputs("loadgen: --api-key needs --org or --group\n", stderr);
        return -1;
    }
    if (!G.no_auth && G.mode != LG_CHAT) {
        if (!lg_tokens_file || (G.ntokens = lg_read_lines(lg_tokens_file, &G.tokens)) <= 0) {
            fputs("loadgen: need --tokens FILE (one token a line) or --no-auth\n", stderr);
            return -1;
        }
    }
    return 0;
}

/* One option: its long name and where its value goes. Kinds: 'i' int,
 * 'l' long long, 's' string, 'f' flag set to 1, 'm' the mode, 'p' the
 * subprotocol switched off, 'T' the tokens file. */
typedef struct lg_optdef {
    const char *name;
    char kind;
    void *dst;
} lg_optdef;

static const lg_optdef lg_optdefs[] = {
    {"mode", 'm', &G.mode},
    {"host", 's', &G.host},
    {"port", 'i', &G.port},
    {"path", 's', &G.path},
    {"label", 's', &G.label},
    {"src-ips", 'i', &G.src_ips},
    {"window", 'i', &G.window},
    {"rate", 'i', &G.rate},
    {"tokens", 'T', &lg_tokens_file},
    {"no-auth", 'f', &G.no_auth},
    {"no-subprotocol", 'p', NULL},
    {"pid", 'i', &G.server_pid},
    {"hold", 'f', &G.hold},
    {"settle", 'i', &G.settle_ms},
    {"warm-rounds", 'i', &G.warm},
    {"singles", 'i', &G.singles},
    {"bursts", 'i', &G.bursts},
    {"burst", 'i', &G.burst},
    {"gap", 'i', &G.gap_ms},
    {"api-key", 's', &G.api_key},
    {"org", 'l', &G.org},
    {"group", 'l', &G.group},
    {"pairs", 's', &G.pairs_file},
    {"pairs-count", 'i', &G.pairs},
    {"chat-rate", 'i', &G.chat_rate},
    {"secs", 'i', &G.chat_secs},
    {"warmup", 'i', &G.warmup_secs},
    {"type", 's', &G.watch_type},
    {"expect", 'i', &G.expect},
    {"timeout", 'i', &G.timeout_s},
};
#define LG_NOPTS (sizeof(lg_optdefs) / sizeof(lg_optdefs[0]))

static void lg_set_defaults(void)
{
    G.mode = -1;
    G.label = "target";
    G.host = "127.0.0.1";
    G.port = 8080;
    G.path = "/ws";
    G.proto = "epos.v1";
    G.n = 15000;
    G.src_ips = 8;
    G.window = 256;
    G.rate = 5000;
    G.settle_ms = 2000;
    G.warm = 2;
    G.singles = 5;
    G.bursts = 3;
    G.burst = 20;
    G.gap_ms = 500;
    G.round_timeout_ms = 30000;
    G.chat_rate = 2000;
    G.chat_secs = 10;
    G.warmup_secs = 1;
    G.timeout_s = 120;
}

/* Store optarg as option d says. */
static void lg_set_opt(const lg_optdef *d, const char *arg)
{
    switch (d->kind) {
    case 'i':
        *(int *)d->dst = atoi(arg);
        break;
    case 'l':
        *(long long *)d->dst = atoll(arg);
        break;
    case 's':
    case 'T':
        *(const char **)d->dst = arg;
        break;
    case 'f':
        *(int *)d->dst = 1;
        break;
    case 'm':
        *(enum lg_mode *)d->dst = (enum lg_mode)lg_mode_of(arg);
        break;
    case 'p':
        G.proto = NULL;
        break;
    }
}

static int lg_parse_opts(int argc, char **argv)
{
    struct option lo[LG_NOPTS + 2];
    int o, li = 0;
    lg_set_defaults();
    for (size_t i = 0; i < LG_NOPTS; i++) {
        int has_arg = strchr("fp", lg_optdefs[i].kind) ? no_argument : required_argument;
        lo[i] = (struct option){lg_optdefs[i].name, has_arg, NULL, 256 + (int)i};
    }
    lo[LG_NOPTS] = (struct option){"help", no_argument, NULL, 'h'};
    lo[LG_NOPTS + 1] = (struct option){NULL, 0, NULL, 0};
    while ((o = getopt_long(argc, argv, "n:h", lo, &li)) != -1) {
        if (o == 'n') {
            G.n = atoi(optarg);
        } else if (o >= 256 && o < 256 + (int)LG_NOPTS) {
            lg_set_opt(&lg_optdefs[o - 256], optarg);
        } else {
            lg_usage();
            return -1;
        }
    }
    return lg_check_opts();
}

#endif
