#!/bin/sh
# Run bench_persist and bench_write under the shared benchmark lock and
# draw their tables:
#   bench/persist/run.sh BUILD_DIR [--n N] [--reps R] [--dir DIR]
# Writes bench-persist.csv, bench-persist.png, bench-write.txt and
# bench-write.png in the current directory.
set -eu
build=$1
shift
flock /tmp/cogmem-bench.lock "$build/bench/persist/bench_persist" --csv bench-persist.csv "$@"
/usr/bin/python3 "$(dirname "$0")/plot.py" bench-persist.csv bench-persist.png
flock /tmp/cogmem-bench.lock "$build/bench/persist/bench_write" "$@" | tee bench-write.txt
/usr/bin/python3 "$(dirname "$0")/../plot.py" --out bench-write.png bench-write.txt
echo "wrote bench-persist.csv, bench-persist.png, bench-write.txt, bench-write.png"
