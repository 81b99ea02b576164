#!/bin/sh
# Run bench_persist under the shared benchmark lock and draw its table:
#   bench/persist/run.sh BUILD_DIR [bench_persist options...]
# Writes bench-persist.csv and bench-persist.png in the current directory.
set -eu
build=$1
shift
flock /tmp/cogmem-bench.lock "$build/bench/persist/bench_persist" --csv bench-persist.csv "$@"
/usr/bin/python3 "$(dirname "$0")/plot.py" bench-persist.csv bench-persist.png
echo "wrote bench-persist.csv, bench-persist.png"
