#!/bin/sh
# bench/store/run.sh — run the store benchmark (cogmem and every peer that
# was built, on the same keys, alternating cell by cell) and print the table.
# Builds nothing.
#
# usage: bench/store/run.sh [BUILDDIR] [SECS] [REPS]
#   BUILDDIR  meson build directory (default: build)
#   SECS      measured seconds per cell (default 0.5, after 0.2 s warm-up)
#   REPS      repetitions of the whole matrix (default 3); the table shows
#             the best per cell, the CELL lines also median and minimum
# environment:
#   BENCH_SIZES    key counts, comma-separated (default 10000,1000000)
#   BENCH_THREADS  thread counts (default 1,$(nproc))
#   BENCH_DIM      vector dimension (default 16)
#   BENCH_LOG      keep the raw output in this file
#   BENCH_ALSO     NAME=BUILDDIR[,NAME=BUILDDIR]: another build's cogmem as
#                  one more map (a before/after comparison in one run)
#   BENCH_STAT     best (default) or median: what the tables show per cell
#   BENCH_WORKLOADS  comma-separated subset of the workloads (default: all)
# The defaults take about three minutes on a 2-core machine.
set -eu

build=${1:-build}
secs=${2:-0.5}
reps=${3:-3}
here=$(cd "$(dirname "$0")" && pwd)
raw=${BENCH_LOG:-$(mktemp)}
[ -n "${BENCH_LOG:-}" ] || trap 'rm -f "$raw"' EXIT

/usr/bin/python3 "$here/run.py" "$build" --secs "$secs" --reps "$reps" \
    --sizes "${BENCH_SIZES:-10000,1000000}" \
    --threads "${BENCH_THREADS:-1,$(nproc)}" \
    --dim "${BENCH_DIM:-16}" --log "$raw" \
    ${BENCH_WORKLOADS:+--workloads "$BENCH_WORKLOADS"} \
    $(for x in $(echo "${BENCH_ALSO:-}" | tr , ' '); do printf ' --also %s' "$x"; done) \
    >/dev/null
echo
/usr/bin/python3 "$here/summarize.py" --stat "${BENCH_STAT:-best}" <"$raw"
