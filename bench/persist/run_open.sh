#!/bin/sh
# Run bench_open (the open side: COPY open vs read(), MMAP vs COPY open,
# recall on a mapped store, replay) under the shared benchmark lock and
# draw its table:  bench/persist/run_open.sh BUILD_DIR [bench_open options...]
# Writes bench-open.csv and bench-open.png in the current directory.
set -eu
build=$1
shift
uptime
flock /tmp/cogmem-bench.lock "$build/bench/persist/bench_open" --csv bench-open.csv "$@"
/usr/bin/python3 "$(dirname "$0")/plot.py" bench-open.csv bench-open.png \
    "cogmem persistence: bench_open (open side)"
echo "wrote bench-open.csv, bench-open.png"
