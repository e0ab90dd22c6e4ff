#!/usr/bin/env bash
# run-deadline.sh -- the 18:00 pass benchmark of DESIGN §8: 5,000 groups miss a deadline a few seconds away.
#
# Usage: bench/run-deadline.sh [--quick] [--no-report]
#
# Makes EPOS_BENCH_ORGS orgs (50) of EPOS_BENCH_GROUPS groups (100) with one
# bound teacher and one unmarked child each, their deadline EPOS_BENCH_LEAD
# seconds (45) from now in UTC (today made a workday). Starts one hub, connects
# every teacher with the load generator (watch mode), starts one epos-worker,
# and measures against the deadline: when the reminders were committed
# (events.ts of the last timesheet.reminder) and when the last teacher got
# theirs live (the load generator's wall clock). Same private stack and ports
# as bench/run-hub.sh; results in bench/out/results-deadline.jsonl.
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"

bench_args "$@"
[ "${#EXTRA[@]}" -eq 0 ] || die "usage: bench/run-deadline.sh [--quick] [--no-report]"

RES="$OUT/results-deadline.jsonl"
DB=epos_bench_deadline
ORGS="${EPOS_BENCH_ORGS:-50}"
GROUPS_PER_ORG="${EPOS_BENCH_GROUPS:-100}"
LEAD="${EPOS_BENCH_LEAD:-45}"
if [ "$QUICK" -eq 1 ]; then
    ORGS=5 GROUPS_PER_ORG=20 LEAD=20
fi
TOTAL=$((ORGS * GROUPS_PER_ORG))

: >"$RES"
bench_build loadgen mktokens epos-hub epos-worker eposctl
bench_stack_up

# The deadline: LEAD seconds ahead, on today's UTC date (not across midnight).
DEADLINE_S=$(($(date +%s) + LEAD))
[ "$(date -u -d "@$DEADLINE_S" +%F)" = "$(date -u +%F)" ] ||
    die "the deadline would fall after midnight UTC; run again in a minute"
DEADLINE="$(date -u -d "@$DEADLINE_S" +%H:%M:%S)"
say "bench: $TOTAL groups in $ORGS orgs, deadline $DEADLINE UTC (in $LEAD s)"
CONNINFO="$(bench_fresh_db "$DB")"
stack_psql "$VAR" "$DB" -v orgs="$ORGS" -v groups="$GROUPS_PER_ORG" -v deadline="$DEADLINE" \
    -f "$BENCH/deadline-data.sql"
stack_psql "$VAR" "$DB" -At -F ' ' -c "SELECT s.user_id, s.id FROM sessions s ORDER BY s.user_id" |
    "$BUILD/mktokens" --config "$VAR/epos.conf" >"$OUT/deadline-tokens.txt"
redis-cli -h 127.0.0.1 -p "$EPOS_REDIS_PORT" FLUSHALL >/dev/null

bench_start_hub "$CONNINFO"

# The load generator's lines arrive through a FIFO: the first once every
# teacher is connected, the last when every reminder came (or the timeout).
FIFO="$OUT/deadline.fifo"
rm -f "$FIFO"
mkfifo "$FIFO"
"$BUILD/loadgen" --mode watch --port "$HUB_PORT" --label hub --tokens "$OUT/deadline-tokens.txt" \
    -n "$TOTAL" --type timesheet.reminder --expect "$TOTAL" --timeout $((LEAD + 60)) \
    >"$FIFO" 2>>"$LOGS/loadgen.log" &
LOADGEN=$!
PIDS+=("$LOADGEN")
exec 3<"$FIFO"
read -r READY <&3 || die "the load generator stopped before its connections were ready"
say "  $READY"
[ "$(date +%s)" -lt "$DEADLINE_S" ] || die "the teachers connected after the deadline; raise EPOS_BENCH_LEAD"

EPOS_PG_CONNINFO="$CONNINFO" EPOS_LOG_LEVEL=info EPOS_INSTANCE=bench-worker \
    "$BUILD/epos-worker" --config "$VAR/epos.conf" >>"$LOGS/worker.log" 2>&1 &
PIDS+=("$!")
say "bench: waiting for the deadline and the reminders"
read -r WATCH <&3 || die "the load generator printed no result"
exec 3<&-
rm -f "$FIFO"
bench_stop "$LOADGEN"

DB_FIGURES="$(stack_psql "$VAR" "$DB" -At -F ' ' -c "
    SELECT count(*), coalesce((extract(epoch FROM max(ts)) * 1000)::bigint, 0),
           (SELECT coalesce((extract(epoch FROM max(finished_at)) * 1000)::bigint, 0) FROM reminder_runs),
           (SELECT count(*) FROM reminder_runs)
      FROM events WHERE type = 'timesheet.reminder'")"
LINE="$(node -e '
    const w = JSON.parse(process.argv[1]);
    const [n, evMax, runMax, runs] = process.argv[2].split(" ").map(Number);
    const d = Number(process.argv[3]) * 1000, rel = (t) => (t > 0 ? t - d : -1);
    console.log(JSON.stringify({mode: "deadline", groups: Number(process.argv[4]),
        orgs: Number(process.argv[5]), teachers_ready: w.ready, reminders_committed: n, runs,
        committed_ms: rel(evMax), runs_finished_ms: rel(runMax), delivered: w.received,
        first_delivered_ms: rel(w.first_ms), last_delivered_ms: rel(w.last_ms)}));' \
    "$WATCH" "$DB_FIGURES" "$DEADLINE_S" "$TOTAL" "$ORGS")"
say "  $LINE"
printf '%s\n' "$LINE" >>"$RES"

[ "$REPORT" -eq 0 ] || bench_report
