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
# Postfix's smtp-sink on 127.0.0.1:29526 (see bench/bench-lib.sh). Loopback
# only; everything it started is stopped on exit. docs/BENCHMARKS.md is
# rewritten from the last results of every bench/run-*.sh.
#
#   queue: EPOS_BENCH_JOBS no-op jobs (200000) drained by one epos-worker, then
#          by one BullMQ worker process (concurrency 64, as the worker's default),
#          both on the same Redis, flushed in between.
#   email: EPOS_BENCH_MAILS mails (5000) into smtp-sink: email.notify jobs run
#          by one epos-worker (EPOS_BENCH_MAIL_SESSIONS SMTP sessions, 2 as its
#          default), then nodemailer's pooled transport with as many connections.
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"

bench_args "$@"
[ "${#EXTRA[@]}" -eq 0 ] || die "usage: bench/run-workers.sh [--quick] [--no-report]"

RES="$OUT/results-workers.jsonl"
DB=epos_bench_workers
JOBS="${EPOS_BENCH_JOBS:-200000}"
MAILS="${EPOS_BENCH_MAILS:-5000}"
MAIL_SESSIONS="${EPOS_BENCH_MAIL_SESSIONS:-2}"
if [ "$QUICK" -eq 1 ]; then
    JOBS=20000 MAILS=500
fi

result() {
    [ -n "$1" ] || { warn "no result line"; return 0; }
    say "  $1"
    printf '%s\n' "$1" >>"$RES"
}

: >"$RES"
bench_build epos-worker eposctl
bench_npm bullmq ioredis nodemailer
node -e '
    const os = require("os"), v = (p) => require(process.argv[1] + "/node_modules/" + p + "/package.json").version;
    console.log(JSON.stringify({mode: "machine-workers", date: new Date().toISOString(),
        quick: process.argv[2] === "1", bullmq: v("bullmq"), nodemailer: v("nodemailer"),
        loadavg: os.loadavg().map((x) => Number(x.toFixed(2)))}));' "$BENCH" "$QUICK" >>"$RES"

bench_stack_up
# A database of its own, empty: an outbox left by the hub benchmarks would be
# relayed and run by the worker in the middle of the measurement.
CONNINFO="$(bench_fresh_db "$DB")"
redis_cli() { redis-cli -h 127.0.0.1 -p "$EPOS_REDIS_PORT" "$@"; }
start_worker() {
    EPOS_PG_CONNINFO="$CONNINFO" EPOS_MAIL_SESSIONS="$MAIL_SESSIONS" EPOS_LOG_LEVEL=warn \
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
bench_stop "$WATCH"
bench_stop "$WORKER"
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
bench_stop "$WATCH"
bench_stop "$WORKER"
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
bench_stop "$SINK"

bench_loadavg_line machine-workers-end >>"$RES"
[ "$REPORT" -eq 0 ] || bench_report
