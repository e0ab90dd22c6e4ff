#!/usr/bin/env bash
# run-hub.sh -- the hub benchmarks of DESIGN §8, beside Node's ws in the same run; writes docs/BENCHMARKS.md.
#
# Usage: bench/run-hub.sh [--quick] [--ws-only] [--no-report]
#   --quick     small counts (a smoke run of the whole pipeline; the report says so)
#   --ws-only   measure the ws peer only (the hub rows stay empty)
#   --no-report leave docs/BENCHMARKS.md alone; results are in bench/out/results-hub.jsonl
#
# It builds loadgen, pgbase, mktokens, epos-hub and eposctl (RelWithDebInfo, in
# build-bench/ or $EPOS_BUILD_DIR), installs the ws peer (npm ci --prefix
# bench) when missing, and brings up a private PostgreSQL and Redis under
# bench/out/var with scripts/stack (ports 29432/29379). Each measurement gets
# a freshly started server: the ws peer on 127.0.0.1:29081, the hub on
# 127.0.0.1:29080 (see bench/bench-lib.sh). Only loopback addresses are used.
# Everything it started is stopped on exit.
#
# Counts: EPOS_BENCH_N idle connections (15000), EPOS_BENCH_SUBS broadcast
# subscribers (10000), EPOS_BENCH_PAIRS chat pairs (500), EPOS_BENCH_CHAT_RATE
# messages/s (2000), EPOS_BENCH_CHAT_SECS (10). EPOS_BENCH_FSYNC: the
# PostgreSQL fsync settings the chat benchmark and its baseline run under, in
# turn ("on off": durable commits as in production, then the stack's
# development setting; the other benchmarks run with the first).
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"

bench_args "$@"
WS_ONLY=0
for a in "${EXTRA[@]+"${EXTRA[@]}"}"; do
    [ "$a" = --ws-only ] || die "usage: bench/run-hub.sh [--quick] [--ws-only] [--no-report]"
    WS_ONLY=1
done

RES="$OUT/results-hub.jsonl"
DB=epos_bench
N="${EPOS_BENCH_N:-15000}"
SUBS="${EPOS_BENCH_SUBS:-10000}"
PAIRS="${EPOS_BENCH_PAIRS:-500}"
CHAT_RATE="${EPOS_BENCH_CHAT_RATE:-2000}"
CHAT_SECS="${EPOS_BENCH_CHAT_SECS:-10}"
FSYNCS="${EPOS_BENCH_FSYNC:-on off}"
if [ "$QUICK" -eq 1 ]; then
    N=2000 SUBS=2000 PAIRS=100 CHAT_SECS=3
fi
SERVER_PID="" # the server being measured: the ws peer or the hub

# ---- processes ---------------------------------------------------------------

stop_server() {
    bench_stop "$SERVER_PID"
    SERVER_PID=""
}

start_ws() {
    stop_server
    tcp_open "$WS_PORT" && die "port $WS_PORT is taken; set EPOS_BENCH_WS_PORT"
    node "$BENCH/ws-peer.js" "$WS_PORT" >>"$LOGS/ws-peer.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    wait_until tcp_open "$WS_PORT" || die "the ws peer did not start (see $LOGS/ws-peer.log)"
}

start_hub() {
    stop_server
    bench_start_hub "$CONNINFO"
    SERVER_PID="$HUB_PID"
}

# A result line with $TAG (a JSON member, may be empty) put first.
TAG=""
tagged() {
    if [ -n "$TAG" ]; then printf '{%s,%s\n' "$TAG" "${1#\{}"; else printf '%s\n' "$1"; fi
}

# Run the load generator; its JSON line goes to the results, its progress to the log.
loadgen() {
    local line
    say "bench: loadgen $*"
    line="$("$BUILD/loadgen" "$@" 2>>"$LOGS/loadgen.log")" || warn "loadgen exited non-zero: $*"
    [ -n "$line" ] || { warn "loadgen printed nothing (see $LOGS/loadgen.log)"; return 0; }
    say "  $line"
    tagged "$line" >>"$RES"
}

# ---- set-up ------------------------------------------------------------------

# ALTER SYSTEM outlives the stack's own settings file, which every "up" rewrites.
set_fsync() {
    stack_psql "$VAR" postgres -c "ALTER SYSTEM SET fsync = $1" \
        -c "ALTER SYSTEM SET synchronous_commit = on" -c "SELECT pg_reload_conf()" >/dev/null
    FSYNC_NOW="$(stack_psql "$VAR" postgres -At -c 'SHOW fsync')"
    printf '{"mode":"pg-settings","fsync":"%s","synchronous_commit":"%s"}\n' "$FSYNC_NOW" \
        "$(stack_psql "$VAR" postgres -At -c 'SHOW synchronous_commit')" >>"$RES"
}

# The chat benchmark and its baseline under the current fsync setting; their
# result lines are tagged with it.
chat_and_baseline() {
    local line
    TAG="\"fsync\":\"$FSYNC_NOW\""
    start_hub
    loadgen --mode chat "${LG[@]}" --port "$HUB_PORT" --label hub --pairs "$OUT/pairs.txt" \
        --chat-rate "$CHAT_RATE" --secs "$CHAT_SECS"
    stop_server
    say "bench: pgbase (bare INSERT + COMMIT on the same PostgreSQL, fsync $FSYNC_NOW)"
    line="$("$BUILD/pgbase" --conninfo "$CONNINFO" \
        --rate "$CHAT_RATE" --count "$((CHAT_RATE * CHAT_SECS))" --warmup "$CHAT_RATE" \
        2>>"$LOGS/pgbase.log")" || warn "pgbase exited non-zero"
    say "  $line"
    [ -n "$line" ] && printf '%s\n' "$(tagged "$line")" >>"$RES"
    TAG=""
}

# A fresh database with $N bench users, their sessions and tokens, and the chat pairs.
prepare_hub_data() {
    local conf="$VAR/epos.conf"
    say "bench: database $DB with $N users and $PAIRS chat pairs"
    CONNINFO="$(bench_fresh_db "$DB")"
    stack_psql "$VAR" "$DB" -v n="$N" -v pairs="$PAIRS" -f "$BENCH/hub-data.sql"
    stack_psql "$VAR" "$DB" -At -F ' ' -c "SELECT s.user_id, s.id FROM sessions s JOIN users u
        ON u.id = s.user_id WHERE u.login LIKE 'bench%' ORDER BY s.user_id" >"$OUT/sessions.txt"
    "$BUILD/mktokens" --config "$conf" <"$OUT/sessions.txt" >"$OUT/tokens.txt"
    [ "$(wc -l <"$OUT/tokens.txt")" -eq "$N" ] || die "mktokens made $(wc -l <"$OUT/tokens.txt") tokens, want $N"
    # pairs: "chat token_a token_b", tokens looked up by user id
    stack_psql "$VAR" "$DB" -At -F ' ' -c "SELECT c.id, split_part(c.direct_key, ':', 1),
        split_part(c.direct_key, ':', 2) FROM chats c ORDER BY c.id" >"$OUT/chats.txt"
    paste -d ' ' <(cut -d ' ' -f 1 "$OUT/sessions.txt") "$OUT/tokens.txt" >"$OUT/user-tokens.txt"
    awk 'NR == FNR { tok[$1] = $2; next } { print $1, tok[$2], tok[$3] }' \
        "$OUT/user-tokens.txt" "$OUT/chats.txt" >"$OUT/pairs.txt"
    ORG_ID="$(stack_psql "$VAR" "$DB" -At -c "SELECT id FROM orgs WHERE name = 'Нагрузочный тест'")"
    API_KEY="$(conf_get "$conf" api_key)"
}

machine_info() {
    node -e '
        const os = require("os");
        const ws = require(process.argv[1] + "/node_modules/ws/package.json").version;
        console.log(JSON.stringify({mode: "machine", cpu: os.cpus()[0].model, cores: os.cpus().length,
            mem_gib: Math.round(os.totalmem() / 2 ** 30), kernel: os.release(), node: process.version,
            ws, date: new Date().toISOString(), quick: process.argv[2] === "1",
            loadavg: os.loadavg().map((x) => Number(x.toFixed(2))),
            pg: process.argv[3], nofile: Number(process.argv[4])}));' \
        "$BENCH" "$QUICK" "$(psql --version | awk '{ print $3 }')" "$(ulimit -Hn)" >>"$RES"
}

# ---- the run -----------------------------------------------------------------

: >"$RES"
if [ "$WS_ONLY" -eq 1 ]; then
    bench_build loadgen
else
    bench_build loadgen pgbase mktokens epos-hub eposctl
fi
bench_npm ws
machine_info
LG=(--host 127.0.0.1 --src-ips 8)
# more rounds than the load generator's defaults: a shared machine is noisy
ROUNDS=(--singles 7 --bursts 5)

say "bench: ws peer"
start_ws
loadgen --mode idle "${LG[@]}" --port "$WS_PORT" --label ws --no-auth --no-subprotocol -n "$N" \
    --pid "$SERVER_PID"
start_ws
loadgen --mode broadcast "${LG[@]}" "${ROUNDS[@]}" --port "$WS_PORT" --label ws --no-auth \
    --no-subprotocol -n "$SUBS"
stop_server

if [ "$WS_ONLY" -eq 0 ]; then
    say "bench: hub"
    bench_stack_up
    set_fsync "${FSYNCS%% *}"
    prepare_hub_data
    start_hub
    loadgen --mode idle "${LG[@]}" --port "$HUB_PORT" --label hub --tokens "$OUT/tokens.txt" \
        -n "$N" --pid "$SERVER_PID"
    start_hub
    loadgen --mode broadcast "${LG[@]}" "${ROUNDS[@]}" --port "$HUB_PORT" --label hub \
        --tokens "$OUT/tokens.txt" -n "$SUBS" --api-key "$API_KEY" --org "$ORG_ID"
    for f in $FSYNCS; do
        set_fsync "$f"
        chat_and_baseline
    done
fi

bench_loadavg_line machine-end >>"$RES"

[ "$REPORT" -eq 0 ] || bench_report
