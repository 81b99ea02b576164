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
# -detect_leaks=0: libFuzzer's leak check after an input whose mallocs and
# frees do not balance runs LeakSanitizer's full scan, and nearly every
# input looks so, because a closed store with deferred frees is freed a few
# ms later by liburcu's worker (measured: a quarter of the run's time).
# Leaks are still found: LeakSanitizer checks at exit (ASAN_OPTIONS
# detect_leaks=1, tools/test.sh), after the library's destructor has
# waited for the worker; fuzz_replay over the corpus then finds the input.
# -error_exitcode=1: libFuzzer's default, 77, is what meson reads as a
# skipped test, so a finding would pass unseen (it did: a crash input of
# 2026-12-02 showed as SKIP).
# -entropic=0: libFuzzer 14's entropic schedule updates a frequency per
# feature of every input (a program touches ~23000), which took half the
# run (InputCorpus::UpdateFeatureFrequency); without it twice the programs
# ran in the same 20 s, reaching as much coverage.
"$fuzzer" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 \
    -detect_leaks=0 -entropic=0 -error_exitcode=1 \
    -max_len=4096 -print_final_stats=1 -artifact_prefix="$art/" \
    "$work" "$corpus"
echo "corpus after the run: $(ls "$work" | wc -l) new inputs, $(ls "$corpus" | wc -l) seeds"
