#!/usr/bin/env bash
# run-all.sh -- every benchmark of DESIGN §8 in one go (hub, workers, 18:00 pass); rewrites docs/BENCHMARKS.md.
#
# Usage: bench/run-all.sh [--quick]    (about seven minutes; --quick about two)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
"$HERE/run-hub.sh" --no-report "$@"
"$HERE/run-workers.sh" --no-report "$@"
"$HERE/run-deadline.sh" "$@"
# HTTP keep-alive latency (DESIGN §8), against a hub on EPOS_BENCH_HTTP_PORT when one is given.
if [ -n "${EPOS_BENCH_HTTP_PORT:-}" ]; then
    node "$HERE/http-keepalive.mjs" "$EPOS_BENCH_HTTP_PORT" 500
fi
