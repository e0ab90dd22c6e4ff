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

# The value of KEY in a stack's VAR/stack.env (written by scripts/stack up).
stack_get() {
    sed -n "s/^$2=//p" "$1/stack.env" 2>/dev/null | tail -n 1
}

# The value of KEY in a config file of "key = value" lines (last one wins).
conf_get() {
    sed -n "s/^[[:space:]]*$2[[:space:]]*=[[:space:]]*//p" "$1" 2>/dev/null | tail -n 1 |
        sed 's/[[:space:]]*$//; s/^"\(.*\)"$/\1/'
}

# Run psql as the superuser against database $2 of the stack in VAR $1.
stack_psql() {
    local var="$1" db="$2"
    shift 2
    PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(stack_get "$var" EPOS_PG_PORT)" \
        -U postgres -d "$db" "$@"
}

# Create database $2 in the stack in VAR $1 unless it exists.
stack_db_ensure() {
    local exists
    exists="$(stack_psql "$1" postgres -At -c "SELECT 1 FROM pg_database WHERE datname = '$2'")"
    [ "$exists" = 1 ] && return 0
    say "creating database $2"
    stack_psql "$1" postgres -c "CREATE DATABASE \"$2\""
}

# Drop database $2 in the stack in VAR $1 (closing its sessions) and create it empty.
stack_db_recreate() {
    stack_psql "$1" postgres -c "DROP DATABASE IF EXISTS \"$2\" WITH (FORCE)"
    stack_psql "$1" postgres -c "CREATE DATABASE \"$2\""
}

# Seconds since the epoch with milliseconds, for phase timings.
now_ms() { date +%s%3N; }
