#!/bin/sh
# Fuzz the public API for a bounded time: run_fuzz.sh FUZZER CORPUS_DIR.
# New inputs go to a scratch directory (the committed corpus is only read);
# any finding (crash, sanitizer report, model mismatch, -timeout hang,
# -rss_limit_mb OOM) makes libFuzzer exit non-zero and this test fail, and
# the reproducer is left in $COGMEM_FUZZ_ARTIFACTS (default: the build's
# fuzz-artifacts/) for a unit test.
set -eu
fuzzer=$1
corpus=$2
secs=${COGMEM_FUZZ_SECONDS:-60}
art=${COGMEM_FUZZ_ARTIFACTS:-$PWD/fuzz-artifacts}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$art"
# -max_len: a program is at most a few thousand bytes of calls.
"$fuzzer" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 \
    -max_len=4096 -print_final_stats=1 -artifact_prefix="$art/" \
    "$work" "$corpus"
echo "corpus after the run: $(ls "$work" | wc -l) new inputs, $(ls "$corpus" | wc -l) seeds"
