# lib.sh -- shared helpers of the scripts in scripts/ (sourced, not run).

EPOS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export EPOS_ROOT

say() { printf '%s\n' "$*"; }
warn() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { warn "$*"; exit 1; }

# Run a command as root: directly when we are root, else through sudo.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to run: $* (no sudo found)"
    fi
}

# The PostgreSQL server binaries (initdb, pg_ctl, postgres) of the newest
# installed major version; psql and friends are on PATH anyway.
pg_bindir() {
    local d
    d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$d" ] && [ -x "$d/pg_ctl" ] || die "PostgreSQL server binaries not found under /usr/lib/postgresql (run scripts/bootstrap)"
    printf '%s\n' "$d"
}

# True when something accepts TCP connections on 127.0.0.1:$1.
tcp_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Wait until "$@" succeeds, polling every 0.1 s for at most $EPOS_WAIT_S
# seconds (default 30). Returns 1 on timeout.
wait_until() {
    local deadline=$((SECONDS + ${EPOS_WAIT_S:-30}))
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.1
    done
    return 0
}

# True while process $1 exists and is not a zombie (an orphan's zombie can
# linger until PID 1 reaps it, and kill -0 still succeeds on it).
pid_alive() {
    local state
    kill -0 "$1" 2>/dev/null || return 1
    state="$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)"
    [ -n "$state" ] && [ "$state" != Z ]
}

# Seconds since the epoch with milliseconds, for phase timings.
now_ms() { date +%s%3N; }
