#!/usr/bin/env bash
# run-workers.sh -- the worker benchmarks of DESIGN §8 (queue vs BullMQ, email vs nodemailer) in one run.
#
# Usage: bench/run-workers.sh [--quick] [--no-report]
#   --quick     small counts (a smoke run; the report says so)
#   --no-report leave docs/BENCHMARKS.md alone; results in bench/out/results-workers.jsonl
#
# Builds epos-worker and eposctl (build-bench/ or $EPOS_BUILD_DIR), installs
# the peers (npm ci --prefix bench) when missing, brings up the private
# PostgreSQL and Redis of bench/out/var (scripts/stack, ports 29432/29379) and
# Postfix's smtp-sink on 127.0.0.1:29526. Loopback only; everything it
# started is stopped on exit. docs/BENCHMARKS.md is rewritten from the results
# of both bench/run-hub.sh and this script.
#
#   queue: EPOS_BENCH_JOBS no-op jobs (200000) drained by one epos-worker, then
#          by one BullMQ worker process (concurrency 64, as the worker's default),
#          both on the same Redis, flushed in between.
#   email: EPOS_BENCH_MAILS mails (5000) into smtp-sink: email.notify jobs run
#          by one epos-worker (EPOS_BENCH_MAIL_SESSIONS SMTP sessions, 2 as its
#          default), then nodemailer's pooled transport with as many connections.
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"

QUICK=0 REPORT=1
for a in "$@"; do
    case "$a" in
        --quick) QUICK=1 ;;
        --no-report) REPORT=0 ;;
        *) die "usage: bench/run-workers.sh [--quick] [--no-report]" ;;
    esac
done

BENCH="$EPOS_ROOT/bench"
OUT="$BENCH/out"
VAR="$OUT/var"
RES="$OUT/results-workers.jsonl"
LOGS="$OUT/log"
BUILD="${EPOS_BUILD_DIR:-$EPOS_ROOT/build-bench}"
export EPOS_PG_PORT="${EPOS_BENCH_PG_PORT:-29432}"
export EPOS_REDIS_PORT="${EPOS_BENCH_REDIS_PORT:-29379}"
export EPOS_SMTP_PORT="${EPOS_BENCH_SMTP_PORT:-29526}"
DB=epos_bench_workers
JOBS="${EPOS_BENCH_JOBS:-200000}"
MAILS="${EPOS_BENCH_MAILS:-5000}"
MAIL_SESSIONS="${EPOS_BENCH_MAIL_SESSIONS:-2}"
CONNINFO="host=127.0.0.1 port=$EPOS_PG_PORT user=postgres dbname=$DB"
if [ "$QUICK" -eq 1 ]; then
    JOBS=20000 MAILS=500
fi

PIDS=()
STACK_STARTED=()

cleanup() {
    local rc=$? p
    trap - EXIT INT TERM
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ "${#STACK_STARTED[@]}" -gt 0 ]; then
        "$EPOS_ROOT/scripts/stack" down --dir "$VAR" "${STACK_STARTED[@]}" >/dev/null || true
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Stop the process $1 started by us and forget it.
stop_pid_of() {
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    local keep=() p
    for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    PIDS=("${keep[@]+"${keep[@]}"}")
}

result() {
    [ -n "$1" ] || { warn "no result line"; return 0; }
    say "  $1"
    printf '%s\n' "$1" >>"$RES"
}

mkdir -p "$OUT" "$LOGS"
: >"$RES"
say "bench: building in $BUILD"
EPOS_BUILD_DIR="$BUILD" "$EPOS_ROOT/scripts/build" --target epos-worker --target eposctl \
    >"$LOGS/build.log" 2>&1 || { tail -n 30 "$LOGS/build.log" >&2; die "build failed"; }
if [ ! -f "$BENCH/node_modules/bullmq/package.json" ] || [ ! -f "$BENCH/node_modules/nodemailer/package.json" ]; then
    say "bench: installing the peers (npm ci --prefix bench)"
    npm ci --prefix "$BENCH" --no-audit --no-fund >"$LOGS/npm.log" 2>&1 ||
        { tail -n 20 "$LOGS/npm.log" >&2; die "npm ci failed"; }
fi
node -e '
    const os = require("os"), v = (p) => require(process.argv[1] + "/node_modules/" + p + "/package.json").version;
    console.log(JSON.stringify({mode: "machine-workers", date: new Date().toISOString(),
        quick: process.argv[2] === "1", bullmq: v("bullmq"), nodemailer: v("nodemailer"),
        loadavg: os.loadavg().map((x) => Number(x.toFixed(2)))}));' "$BENCH" "$QUICK" >>"$RES"

for svc in pg redis; do
    "$EPOS_ROOT/scripts/stack" status --dir "$VAR" "$svc" >/dev/null 2>&1 || STACK_STARTED+=("$svc")
done
"$EPOS_ROOT/scripts/stack" up --dir "$VAR" --db epos_bench pg redis >"$LOGS/stack.log" 2>&1 ||
    { cat "$LOGS/stack.log" >&2; die "scripts/stack up failed"; }
# A database of its own, empty: an outbox left by the hub benchmarks would be
# relayed and run by the worker in the middle of the measurement.
stack_db_recreate "$VAR" "$DB" >/dev/null
EPOS_PG_CONNINFO="$CONNINFO" "$BUILD/eposctl" --config "$VAR/epos.conf" migrate \
    >"$LOGS/migrate.log" 2>&1 || { cat "$LOGS/migrate.log" >&2; die "eposctl migrate failed"; }
redis_cli() { redis-cli -h 127.0.0.1 -p "$EPOS_REDIS_PORT" "$@"; }
start_worker() {
    EPOS_PG_CONNINFO="$CONNINFO" EPOS_MAIL_THREADS="$MAIL_SESSIONS" EPOS_LOG_LEVEL=warn \
        EPOS_INSTANCE=bench-worker "$BUILD/epos-worker" --config "$VAR/epos.conf" \
        >>"$LOGS/worker.log" 2>&1 &
    WORKER=$!
    PIDS+=("$WORKER")
}

# ---- queue ---------------------------------------------------------------------

say "bench: queue, epos-worker, $JOBS no-op jobs"
redis_cli FLUSHALL >/dev/null
node "$BENCH/queue-peer.js" preload-epos "$EPOS_REDIS_PORT" "$JOBS"
node "$BENCH/queue-peer.js" watch-epos "$EPOS_REDIS_PORT" "$JOBS" >"$OUT/queue-epos.json" &
WATCH=$!
PIDS+=("$WATCH")
start_worker
wait "$WATCH" || warn "the drain watcher failed"
stop_pid_of "$WATCH"
stop_pid_of "$WORKER"
result "$(cat "$OUT/queue-epos.json")"

say "bench: queue, BullMQ, $JOBS no-op jobs"
redis_cli FLUSHALL >/dev/null
result "$(node "$BENCH/queue-peer.js" bullmq "$EPOS_REDIS_PORT" "$JOBS" 64 2>>"$LOGS/bullmq.log")"
redis_cli FLUSHALL >/dev/null

# ---- email ---------------------------------------------------------------------

tcp_open "$EPOS_SMTP_PORT" && die "port $EPOS_SMTP_PORT is taken; set EPOS_BENCH_SMTP_PORT"
/usr/sbin/smtp-sink -u nobody "127.0.0.1:$EPOS_SMTP_PORT" 1000 >>"$LOGS/smtp-sink.log" 2>&1 &
SINK=$!
PIDS+=("$SINK")
wait_until tcp_open "$EPOS_SMTP_PORT" || die "smtp-sink did not start"

# The worker's whole path of a notification mail: email.notify jobs for
# $MAILS users with addresses (epos_email_prepare, the mailer's reused
# sessions, epos_email_result), urgent so that quiet hours do not park them.
say "bench: email, epos-worker, $MAILS email.notify jobs into smtp-sink"
stack_psql "$VAR" "$DB" -c "INSERT INTO users (login, full_name, email)
    SELECT 'mail' || i, 'Получатель ' || i, 'mail' || i || '@bench.local'
      FROM generate_series(1, $MAILS) AS i ORDER BY i"
UID0="$(stack_psql "$VAR" "$DB" -At -c "SELECT min(id) FROM users WHERE login LIKE 'mail%'")"
redis_cli FLUSHALL >/dev/null
node "$BENCH/queue-peer.js" preload-epos "$EPOS_REDIS_PORT" "$MAILS" email.notify \
    '{"user_id":%u,"kind":"bench","subject":"Уведомление об отсутствии № %i","body":"Здравствуйте!\n\nРодитель сообщил об отсутствии ребёнка (сообщение %i).\n","message_id":"<bench.%i@epos.local>","urgent":true,"only_offline":false}' \
    "$UID0"
node "$BENCH/queue-peer.js" watch-epos "$EPOS_REDIS_PORT" "$MAILS" email.notify >"$OUT/mail-epos.json" &
WATCH=$!
PIDS+=("$WATCH")
start_worker
wait "$WATCH" || warn "the drain watcher failed"
stop_pid_of "$WATCH"
stop_pid_of "$WORKER"
SENT="$(stack_psql "$VAR" "$DB" -At -c "SELECT count(*) FROM email_log WHERE status = 'sent'")"
result "$(node -e '
    const r = JSON.parse(process.argv[1]);
    console.log(JSON.stringify({mode: "email", target: "epos-worker", count: r.total,
        sent: Number(process.argv[2]), failed: r.total - Number(process.argv[2]),
        sessions: Number(process.argv[3]), drain_s: r.drain_s, mails_per_s: r.jobs_per_s}));' \
    "$(cat "$OUT/mail-epos.json")" "$SENT" "$MAIL_SESSIONS")"
redis_cli FLUSHALL >/dev/null

say "bench: email, nodemailer pooled, $MAILS mails into smtp-sink"
result "$(node "$BENCH/mail-peer.js" "$EPOS_SMTP_PORT" "$MAILS" "$MAIL_SESSIONS" 50 \
    2>>"$LOGS/mail-peer.log")"
stop_pid_of "$SINK"

printf '{"mode":"machine-workers-end","loadavg":[%s]}\n' "$(cut -d ' ' -f 1-3 /proc/loadavg | tr ' ' ,)" >>"$RES"
if [ "$REPORT" -eq 1 ]; then
    node "$BENCH/report.js" "$OUT/results-hub.jsonl" "$RES" "$OUT/results-deadline.jsonl" >"$EPOS_ROOT/docs/BENCHMARKS.md.tmp"
    mv "$EPOS_ROOT/docs/BENCHMARKS.md.tmp" "$EPOS_ROOT/docs/BENCHMARKS.md"
    say "bench: wrote docs/BENCHMARKS.md"
fi
