# bench-lib.sh -- what the bench/run-*.sh scripts share (sourced, not run): paths, ports, stack, builds, cleanup.
#
# Every port lies below the ephemeral range (32768-60999), where the load
# generator's own connections cannot take it; EPOS_BENCH_*_PORT override them.
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

BENCH="$EPOS_ROOT/bench"
OUT="$BENCH/out"
VAR="$OUT/var"
LOGS="$OUT/log"
BUILD="${EPOS_BUILD_DIR:-$EPOS_ROOT/build-bench}"
WS_PORT="${EPOS_BENCH_WS_PORT:-29081}"
HUB_PORT="${EPOS_BENCH_HUB_PORT:-29080}"
export EPOS_PG_PORT="${EPOS_BENCH_PG_PORT:-29432}"
export EPOS_REDIS_PORT="${EPOS_BENCH_REDIS_PORT:-29379}"
export EPOS_SMTP_PORT="${EPOS_BENCH_SMTP_PORT:-29526}"

PIDS=()          # processes this run started and still runs
STACK_STARTED=() # stack services this run brought up

mkdir -p "$OUT" "$LOGS"

# Options every run-*.sh takes: --quick (small counts) and --no-report. Sets
# QUICK and REPORT; any other argument lands in EXTRA for the script to judge.
QUICK=0 REPORT=1 EXTRA=()
bench_args() {
    local a
    for a in "$@"; do
        case "$a" in
            --quick) QUICK=1 ;;
            --no-report) REPORT=0 ;;
            *) EXTRA+=("$a") ;;
        esac
    done
}

# Stop pid $1 (SIGTERM, SIGKILL after 10 s) if this run started it, and forget it.
bench_stop() {
    local pid="$1" i keep=() p
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do pid_alive "$pid" || break; sleep 0.1; done
    pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
    for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
    PIDS=("${keep[@]+"${keep[@]}"}")
}

bench_cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    while [ "${#PIDS[@]}" -gt 0 ]; do bench_stop "${PIDS[0]}"; done
    if [ "${#STACK_STARTED[@]}" -gt 0 ]; then
        "$EPOS_ROOT/scripts/stack" down --dir "$VAR" "${STACK_STARTED[@]}" >/dev/null || true
    fi
    exit "$rc"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# Build the given CMake targets in $BUILD (RelWithDebInfo through scripts/build).
bench_build() {
    local args=() t
    for t in "$@"; do args+=(--target "$t"); done
    say "bench: building $* in $BUILD"
    EPOS_BUILD_DIR="$BUILD" "$EPOS_ROOT/scripts/build" "${args[@]}" >"$LOGS/build.log" 2>&1 ||
        { tail -n 30 "$LOGS/build.log" >&2; die "build failed"; }
}

# Install the peers (bench/package.json) unless every named package is there.
bench_npm() {
    local p
    for p in "$@"; do
        [ -f "$BENCH/node_modules/$p/package.json" ] && continue
        say "bench: installing the peers (npm ci --prefix bench)"
        npm ci --prefix "$BENCH" --no-audit --no-fund >"$LOGS/npm.log" 2>&1 ||
            { tail -n 20 "$LOGS/npm.log" >&2; die "npm ci failed"; }
        return 0
    done
}

# The private PostgreSQL and Redis under bench/out/var (stopped on exit if we started them).
bench_stack_up() {
    local svc
    for svc in pg redis; do
        "$EPOS_ROOT/scripts/stack" status --dir "$VAR" "$svc" >/dev/null 2>&1 || STACK_STARTED+=("$svc")
    done
    "$EPOS_ROOT/scripts/stack" up --dir "$VAR" --db epos_bench pg redis >"$LOGS/stack.log" 2>&1 ||
        { cat "$LOGS/stack.log" >&2; die "scripts/stack up failed"; }
}

# Drop and create database $1 and migrate it; prints its conninfo.
bench_fresh_db() {
    local conninfo="host=127.0.0.1 port=$EPOS_PG_PORT user=postgres dbname=$1"
    stack_db_recreate "$VAR" "$1" >/dev/null
    EPOS_PG_CONNINFO="$conninfo" "$BUILD/eposctl" --config "$VAR/epos.conf" migrate \
        >>"$LOGS/migrate.log" 2>&1 || { tail -n 20 "$LOGS/migrate.log" >&2; die "eposctl migrate ($1) failed"; }
    printf '%s\n' "$conninfo"
}

# Start the hub on $HUB_PORT against database conninfo $1; sets HUB_PID once /readyz answers.
bench_start_hub() {
    tcp_open "$HUB_PORT" && die "port $HUB_PORT is taken; set EPOS_BENCH_HUB_PORT"
    EPOS_PG_CONNINFO="$1" EPOS_PORT="$HUB_PORT" EPOS_LOG_LEVEL=warn EPOS_INSTANCE=bench-hub \
        "$BUILD/epos-hub" --config "$VAR/epos.conf" >>"$LOGS/hub.log" 2>&1 &
    HUB_PID=$!
    PIDS+=("$HUB_PID")
    wait_until curl -sf "http://127.0.0.1:$HUB_PORT/readyz" ||
        die "the hub did not become ready (see $LOGS/hub.log)"
}

# A JSON line with the load average now: {"mode":"$1","loadavg":[…]}.
bench_loadavg_line() {
    printf '{"mode":"%s","loadavg":[%s]}\n' "$1" "$(cut -d ' ' -f 1-3 /proc/loadavg | tr ' ' ,)"
}

# Rewrite docs/BENCHMARKS.md from the last results of every run-*.sh.
bench_report() {
    node "$BENCH/report.js" "$OUT/results-hub.jsonl" "$OUT/results-workers.jsonl" \
        "$OUT/results-deadline.jsonl" >"$EPOS_ROOT/docs/BENCHMARKS.md.tmp"
    mv "$EPOS_ROOT/docs/BENCHMARKS.md.tmp" "$EPOS_ROOT/docs/BENCHMARKS.md"
    say "bench: wrote docs/BENCHMARKS.md"
}
