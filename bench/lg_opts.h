/* lg_opts.h -- the load generator's command line. */
/* Included by loadgen.c only (see lg_ws.h for why bench parts are headers). */
#ifndef LG_OPTS_H
#define LG_OPTS_H

static void lg_usage(void)
{
    fputs("usage: loadgen --mode idle|broadcast|chat|watch [options]\n"
          "  --host A --port P --path /ws   target (loopback only; default 127.0.0.1:8080/ws)\n"
          "  --label NAME                   names the target in the JSON output\n"
          "  -n N                           subscribers (idle, broadcast; default 15000)\n"
          "  --src-ips K                    source addresses 127.0.0.1..127.0.0.K (default 8)\n"
          "  --window W --rate R            connects in flight (256) and per second (5000)\n"
          "  --tokens FILE | --no-auth      auth tokens, one a line, used round-robin\n"
          "  --no-subprotocol               offer no Sec-WebSocket-Protocol (else epos.v1)\n"
          "  --pid PID                      idle: read this server's VmRSS before and after\n"
          "  --hold                         idle: keep the connections until SIGINT/SIGTERM\n"
          "  --settle MS                    quiet time before measuring (2000)\n"
          "broadcast: --warm-rounds W (2 bursts) --singles S (5) --bursts B (3) --burst E (20)\n"
          "  --gap MS (500)                 pause between rounds\n"
          "  --api-key K --org ID | --group ID   trigger by POST /api/publish; else by a\n"
          "                                 publisher connection whose frames the peer relays\n"
          "chat: --pairs FILE (\"chat token_a token_b\" a line) | --pairs-count P with --no-auth\n"
          "  --chat-rate R (2000/s) --secs D (10) --warmup W (1)\n"
          "watch: --type T --expect E --timeout S   count events of type T (wall-clock times)\n",
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

static int lg_parse_opts(int argc, char **argv)
{
    enum {
        OPT_HOST = 256,
        OPT_PORT,
        OPT_PATH,
        OPT_LABEL,
        OPT_SRC,
        OPT_WIN,
        OPT_RATE,
        OPT_TOK,
        OPT_NOAUTH,
        OPT_NOPROTO,
        OPT_PID,
        OPT_HOLD,
        OPT_SETTLE,
        OPT_SINGLES,
        OPT_BURSTS,
        OPT_BURST,
        OPT_GAP,
        OPT_KEY,
        OPT_ORG,
        OPT_GROUP,
        OPT_PAIRS,
        OPT_NPAIRS,
        OPT_CRATE,
        OPT_SECS,
        OPT_WARM,
        OPT_MODE,
        OPT_WROUNDS,
        OPT_TYPE,
        OPT_EXPECT,
        OPT_TIMEOUT
    };
    static const struct option lo[] = {{"mode", 1, 0, OPT_MODE},
                                       {"host", 1, 0, OPT_HOST},
                                       {"port", 1, 0, OPT_PORT},
                                       {"path", 1, 0, OPT_PATH},
                                       {"label", 1, 0, OPT_LABEL},
                                       {"src-ips", 1, 0, OPT_SRC},
                                       {"window", 1, 0, OPT_WIN},
                                       {"rate", 1, 0, OPT_RATE},
                                       {"tokens", 1, 0, OPT_TOK},
                                       {"no-auth", 0, 0, OPT_NOAUTH},
                                       {"no-subprotocol", 0, 0, OPT_NOPROTO},
                                       {"pid", 1, 0, OPT_PID},
                                       {"hold", 0, 0, OPT_HOLD},
                                       {"settle", 1, 0, OPT_SETTLE},
                                       {"singles", 1, 0, OPT_SINGLES},
                                       {"bursts", 1, 0, OPT_BURSTS},
                                       {"burst", 1, 0, OPT_BURST},
                                       {"gap", 1, 0, OPT_GAP},
                                       {"api-key", 1, 0, OPT_KEY},
                                       {"org", 1, 0, OPT_ORG},
                                       {"group", 1, 0, OPT_GROUP},
                                       {"pairs", 1, 0, OPT_PAIRS},
                                       {"pairs-count", 1, 0, OPT_NPAIRS},
                                       {"chat-rate", 1, 0, OPT_CRATE},
                                       {"secs", 1, 0, OPT_SECS},
                                       {"warmup", 1, 0, OPT_WARM},
                                       {"warm-rounds", 1, 0, OPT_WROUNDS},
                                       {"type", 1, 0, OPT_TYPE},
                                       {"expect", 1, 0, OPT_EXPECT},
                                       {"timeout", 1, 0, OPT_TIMEOUT},
                                       {"help", 0, 0, 'h'},
                                       {0, 0, 0, 0}};
    const char *tokens = NULL;
    int o;
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
    while ((o = getopt_long(argc, argv, "n:h", lo, NULL)) != -1) {
        switch (o) {
        case OPT_MODE:
            G.mode = lg_mode_of(optarg);
            break;
        case OPT_HOST:
            G.host = optarg;
            break;
        case OPT_PORT:
            G.port = atoi(optarg);
            break;
        case OPT_PATH:
            G.path = optarg;
            break;
        case OPT_LABEL:
            G.label = optarg;
            break;
        case 'n':
            G.n = atoi(optarg);
            break;
        case OPT_SRC:
            G.src_ips = atoi(optarg);
            break;
        case OPT_WIN:
            G.window = atoi(optarg);
            break;
        case OPT_RATE:
            G.rate = atoi(optarg);
            break;
        case OPT_TOK:
            tokens = optarg;
            break;
        case OPT_NOAUTH:
            G.no_auth = 1;
            break;
        case OPT_NOPROTO:
            G.proto = NULL;
            break;
        case OPT_PID:
            G.server_pid = (pid_t)atoi(optarg);
            break;
        case OPT_HOLD:
            G.hold = 1;
            break;
        case OPT_SETTLE:
            G.settle_ms = atoi(optarg);
            break;
        case OPT_SINGLES:
            G.singles = atoi(optarg);
            break;
        case OPT_BURSTS:
            G.bursts = atoi(optarg);
            break;
        case OPT_BURST:
            G.burst = atoi(optarg);
            break;
        case OPT_GAP:
            G.gap_ms = atoi(optarg);
            break;
        case OPT_KEY:
            G.api_key = optarg;
            break;
        case OPT_ORG:
            G.org = atoll(optarg);
            break;
        case OPT_GROUP:
            G.group = atoll(optarg);
            break;
        case OPT_PAIRS:
            G.pairs_file = optarg;
            break;
        case OPT_NPAIRS:
            G.pairs = atoi(optarg);
            break;
        case OPT_CRATE:
            G.chat_rate = atoi(optarg);
            break;
        case OPT_SECS:
            G.chat_secs = atoi(optarg);
            break;
        case OPT_WARM:
            G.warmup_secs = atoi(optarg);
            break;
        case OPT_WROUNDS:
            G.warm = atoi(optarg);
            break;
        case OPT_TYPE:
            G.watch_type = optarg;
            break;
        case OPT_EXPECT:
            G.expect = atoi(optarg);
            break;
        case OPT_TIMEOUT:
            G.timeout_s = atoi(optarg);
            break;
        default:
            lg_usage();
            return -1;
        }
    }
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
        if (!tokens || (G.ntokens = lg_read_lines(tokens, &G.tokens)) <= 0) {
            fputs("loadgen: need --tokens FILE (one token a line) or --no-auth\n", stderr);
            return -1;
        }
    }
    return 0;
}

#endif
