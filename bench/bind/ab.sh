#!/usr/bin/env bash
# Alternate two builds of bench_bind (e.g. main's and a branch's) in one
# locked job, so that their ratios are measured under the same load:
#
#   bench/bind/ab.sh BASE_BUILD BRANCH_BUILD [ROUNDS] [REPS]
#
# Each round runs, for each build in turn: section 1 (adjust and the other
# ops against the bare lookup, 1 and nproc threads) and section 2 (decay
# against the same-bytes baseline) for lists of 1000 x 1000, 10^4 x 100
# and 100 x 10^4 bindings. Takes /tmp/cogmem-bench.lock once for the whole
# job and prints the load average before and after each run.
set -euo pipefail
base=${1:?base build dir}
branch=${2:?branch build dir}
rounds=${3:-2}
reps=${4:-9}
run() {
    local tag=$1 b=$2
    shift 2
    echo "### $tag: $b/bench/bind/bench_bind $*  (load $(cut -d' ' -f1-3 /proc/loadavg))"
    "$b/bench/bind/bench_bind" "$@"
    echo "### load after: $(cut -d' ' -f1-3 /proc/loadavg)"
}
body() {
    for r in $(seq 1 "$rounds"); do
        for side in base branch; do
            b=$base
            [ "$side" = branch ] && b=$branch
            echo "## round $r, $side"
            run "$side" "$b" --only latency --reps "$reps"
            for shape in 1000:1000 10000:100 100:10000; do
                run "$side" "$b" --only decay --reps "$((reps * 2 + 1))" --decay-shape "$shape"
            done
        done
    done
}
if [ "${COGMEM_AB_LOCKED:-}" = 1 ]; then
    body
else
    COGMEM_AB_LOCKED=1 exec flock /tmp/cogmem-bench.lock "$0" "$@"
fi
