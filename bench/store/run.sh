#!/bin/sh
# bench/store/run.sh — run the store benchmark: cogmem and every peer that
# was built, on the same keys, interleaved, and print the table.
#
# usage: bench/store/run.sh [BUILDDIR] [SECS] [REPS]
#   BUILDDIR  meson build directory (default: build); nothing is built here
#   SECS      measured seconds per cell (default 0.8; plus 0.2 s warm-up)
#   REPS      repetitions of the whole matrix (default 2); the table shows
#             the best of them per cell (interference on a shared machine
#             only ever slows a run down)
# environment:
#   BENCH_SIZES    key counts (default "10000 1000000")
#   BENCH_THREADS  thread counts (default "1,$(nproc)")
#   BENCH_DIM      vector dimension (default 16)
#   BENCH_LOG      also keep the raw output in this file
#
# Drift: each program loads one map once per size and runs all its cells;
# the order of the maps rotates from one (repetition, size) block to the
# next, so slow phases of a shared machine fall on every map alike.
set -eu

build=${1:-build}
secs=${2:-0.8}
reps=${3:-2}
sizes=${BENCH_SIZES:-"10000 1000000"}
threads=${BENCH_THREADS:-"1,$(nproc)"}
dim=${BENCH_DIM:-16}
here=$(cd "$(dirname "$0")" && pwd)
bin=$build/bench/store

if [ ! -x "$bin/bench_store" ]; then
    echo "run.sh: $bin/bench_store not found; build first:" >&2
    echo "  meson setup $build && meson compile -C $build" >&2
    exit 2
fi

# One command per map; the C++ peers only if they were built.
maps="cogmem rwlock"
[ -x "$bin/bench_store_tbb" ] && maps="$maps tbb"
[ -x "$bin/bench_store_cuckoo" ] && maps="$maps cuckoo"

run_map() { # map n rep
    case $1 in
    cogmem | rwlock) set -- "$bin/bench_store" --map "$1" --n "$2" --rep "$3" ;;
    *) set -- "$bin/bench_store_$1" --n "$2" --rep "$3" ;;
    esac
    "$@" --secs "$secs" --warm 0.2 --threads "$threads" --dim "$dim"
}

# Every map in the order rotated by k places.
rotate() { # k maps...
    k=$1
    shift
    n=$#
    i=0
    while [ "$i" -lt "$n" ]; do
        j=$(((i + k) % n + 1))
        eval "printf '%s ' \"\${$j}\""
        i=$((i + 1))
    done
}

raw=${BENCH_LOG:-$(mktemp)}
[ -n "${BENCH_LOG:-}" ] || trap 'rm -f "$raw"' EXIT
: >"$raw"

{
    echo "# cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "# nproc=$(nproc) secs=$secs warm=0.2 reps=$reps dim=$dim threads=$threads sizes=$sizes"
    echo "# cogmem: $(git -C "$here" describe --always --dirty 2>/dev/null || echo unknown)"
} | tee -a "$raw"

k=0
rep=1
while [ "$rep" -le "$reps" ]; do
    for n in $sizes; do
        for m in $(rotate "$k" $maps); do
            echo "run.sh: rep $rep/$reps, n=$n, $m" >&2
            run_map "$m" "$n" "$rep" | tee -a "$raw"
        done
        k=$((k + 1))
    done
    rep=$((rep + 1))
done

echo
python3 "$here/summarize.py" <"$raw"
