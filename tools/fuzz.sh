#!/usr/bin/env bash
# Build the libFuzzer harnesses of the persistence parsers
# (tests/persist/fuzz/) with clang and run each for a bounded time over a
# scratch copy of its committed seed corpus. Prints, as its last line,
# "N passed, N failed, N skipped" (tools/test.sh adds it to its own);
# exits non-zero if a harness fails to build or finds a crash.
#   COGMEM_PERSIST_FUZZ_SECONDS  time per harness (default 25)
#   COGMEM_PERSIST_FUZZ_DIR      where to build (default build-fuzz-persist;
#                                build-fuzz is tools/test.sh's API fuzzer build)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
secs=${COGMEM_PERSIST_FUZZ_SECONDS:-25}
out=${COGMEM_PERSIST_FUZZ_DIR:-build-fuzz-persist}
passed=0
failed=0
skipped=0
# Debian's clang-14 package (tools/lib.sh) installs clang-14, not clang.
CLANG=${CLANG:-clang-14}
if ! command -v "$CLANG" >/dev/null; then
    # tools/test.sh installs clang-14 first, so under it this is a failure.
    echo "fuzz: $CLANG not found" >&2
    echo "0 passed, 1 failed, 0 skipped"
    exit 1
fi
mkdir -p "$out"
# sum_isa.c as its SSE2 level only (SUM_ISA below), so sum.c needs no
# SIMD layer.
srcs=(src/persist/snapparse.c src/persist/journal.c src/persist/fileops.c src/persist/bad.c
      src/persist/sum.c src/persist/sum_isa.c)
for h in snapshot journal; do
    exe="$out/fuzz_$h"
    # Checksums are off inside the harnesses (they pass 0 for check_sums),
    # so the fuzzer reaches the structure checks behind them.
    if ! "$CLANG" -g -O1 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -DSUM_ISA=sse2 -I. -Iinclude "tests/persist/fuzz/fuzz_$h.c" "${srcs[@]}" \
        -lxxhash -lpthread -lm -o "$exe"; then
        echo "fuzz: $h harness does not build" >&2
        failed=$((failed + 1))
        continue
    fi
    work=$(mktemp -d)
    if "$exe" "$work" "tests/persist/fuzz/corpus/$h" -max_total_time="$secs" \
        -print_final_stats=1 >"$out/fuzz_$h.log" 2>&1; then
        echo "fuzz: $h ok ($(grep -c . "$out/fuzz_$h.log") log lines, $(ls "$work" | wc -l) new inputs)" >&2
        passed=$((passed + 1))
    else
        echo "fuzz: $h FAILED; log: $out/fuzz_$h.log, crash inputs in $PWD" >&2
        tail -40 "$out/fuzz_$h.log" >&2
        failed=$((failed + 1))
    fi
    rm -rf "$work"
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
