#!/usr/bin/env bash
# Run every test of cogmem in four builds (arguments pick some of them):
#   build-ci    plain (-Dwerror=true): all suites
#   build-asan  AddressSanitizer + UndefinedBehaviorSanitizer: all suites
#   build-tsan  ThreadSanitizer: the stress suite only
#   build-py    -Djemalloc=disabled library for the Python package's
#               pytest tests (tools/python; /usr/bin/python3)
#   build-fuzz  clang 14, ASan + UBSan, libFuzzer: the API fuzzer for
#               COGMEM_FUZZ_SECONDS (default 60) and the kernel checker
#               (clang's UBSan also reports offsets applied to NULL)
#               and the persistence parsers' libFuzzer harnesses in
#               build-fuzz-persist (tools/fuzz.sh), one test each
# then print one closing line, "N passed, N failed, N skipped", summed over
# the builds, and exit non-zero if anything failed (a failed configure or
# compile counts as one failure and the other builds still run).
#
# Sanitizer suppressions are read from tests/tsan.supp, tests/ubsan.supp and
# tests/lsan.supp when those files exist.
#
# On a fresh Debian 12 machine, run as root: it installs the missing
# packages first. Under CI=true the stress tests run for
# COGMEM_STRESS_SECONDS=3 each unless that is set already.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
. tools/lib.sh

# Arguments pick builds (e.g. `tools/test.sh plain tsan`); none means all.
builds=("$@")
for b in "${builds[@]}"; do
    case $b in
    plain | asan | tsan | python | fuzz) ;;
    *)
        echo "usage: tools/test.sh [plain] [asan] [tsan] [python] [fuzz]" >&2
        exit 2
        ;;
    esac
done
wanted() {
    [ "${#builds[@]}" -eq 0 ] && return 0
    local b
    for b in "${builds[@]}"; do
        [ "$b" = "$1" ] && return 0
    done
    return 1
}

JOBS=$(cogmem_jobs)
passed=0
failed=0
skipped=0

finish() {
    printf '%d passed, %d failed, %d skipped\n' "$passed" "$failed" "$skipped"
    if [ "$failed" -ne 0 ]; then
        exit 1
    fi
    exit 0
}

if ! cogmem_install_packages "${COGMEM_BUILD_PACKAGES[@]}" "${COGMEM_TEST_PACKAGES[@]}"; then
    failed=$((failed + 1))
    finish
fi

if [ "${CI:-}" = true ] && [ -z "${COGMEM_STRESS_SECONDS:-}" ]; then
    export COGMEM_STRESS_SECONDS=3
fi

# configure_and_compile DIR [meson options...]
configure_and_compile() {
    local dir=$1
    shift
    if [ -f "$dir/meson-private/coredata.dat" ]; then
        meson setup --reconfigure "$dir" "$@" || return 1
    else
        # A directory left by an interrupted setup would make meson refuse.
        rm -rf "$dir"
        meson setup "$dir" "$@" || return 1
    fi
    meson compile -C "$dir" -j "$JOBS"
}

# Count one build's results from meson's testlog.json (one JSON object per
# line) and print "PASSED FAILED SKIPPED". A line that does not parse is a
# failure: a truncated log must not pass for a clean run.
count_results() {
    /usr/bin/python3 - "$1" <<'PY'
import json, sys
ok = bad = skip = 0
with open(sys.argv[1], encoding="utf-8", errors="replace") as log:
    for line in log:
        if not line.strip():
            continue
        try:
            result = json.loads(line)["result"]
        except (ValueError, KeyError, TypeError):
            bad += 1
            continue
        if result in ("OK", "EXPECTEDFAIL"):
            ok += 1
        elif result == "SKIP":
            skip += 1
        else:  # FAIL, TIMEOUT, UNEXPECTEDPASS, ERROR, or anything new
            bad += 1
print(ok, bad, skip)
PY
}

# run_build NAME DIR "MESON TEST ARGS" "SETUP OPTIONS" [ENV=VALUE...]
# Test args and setup options are word-split; the rest is the tests' env.
run_build() {
    local name=$1 dir=$2 test_args=$3 setup_opts=$4 start=$SECONDS
    shift 4
    local p=0 f=0 s=0 rc counts log="$dir/meson-logs/testlog.json"

    cogmem_log "[$name] meson setup $dir $setup_opts"
    # shellcheck disable=SC2086 # options are words on purpose
    if ! configure_and_compile "$dir" $setup_opts; then
        echo "error: [$name] configure or compile failed" >&2
        failed=$((failed + 1))
        return
    fi
    rm -f "$log"
    cogmem_log "[$name] meson test $test_args${*:+ (env: $*)}"
    # shellcheck disable=SC2086
    env "$@" "${TEST_WRAPPER[@]}" meson test -C "$dir" --no-rebuild \
        --print-errorlogs --num-processes "$JOBS" $test_args
    rc=$?
    if [ -f "$log" ]; then
        if counts=$(count_results "$log"); then
            read -r p f s <<<"$counts"
        else
            echo "error: [$name] could not read $log" >&2
            f=1
        fi
    fi
    # meson test failed without a failed test to show for it (it could not
    # run them at all, say): that is a failure too.
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "error: [$name] meson test exited with status $rc" >&2
        f=1
    fi
    if [ $((p + f + s)) -eq 0 ]; then
        echo "warning: [$name] no test ran" >&2
    fi
    cogmem_log "[$name] tests ok $p, failed $f, skipped $s ($((SECONDS - start)) s)"
    passed=$((passed + p))
    failed=$((failed + f))
    skipped=$((skipped + s))
}

TEST_WRAPPER=()
if wanted plain; then
    run_build plain build-ci "" "-Dwerror=true"
fi

# Suppression files belong to tests/ (which knows why each entry is there);
# each is passed only if it exists, e.g. for a finding inside a dependency.
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
if [ -f tests/ubsan.supp ]; then
    UBSAN_OPTIONS="$UBSAN_OPTIONS:suppressions=$PWD/tests/ubsan.supp"
fi
asan_env=(ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 "UBSAN_OPTIONS=$UBSAN_OPTIONS")
if [ -f tests/lsan.supp ]; then
    asan_env+=("LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp")
fi
if wanted asan; then
    run_build asan build-asan "--timeout-multiplier 3" \
        "-Db_sanitize=address,undefined -Db_lundef=false -Djemalloc=disabled -Dbenchmarks=false -Dwerror=true" \
        "${asan_env[@]}"
fi

# The fuzzer needs clang (libFuzzer); the library is built with coverage
# instrumentation (-fsanitize=fuzzer-no-link) so that libFuzzer sees its
# branches, the harness alone links -fsanitize=fuzzer (tests/fuzz).
if wanted fuzz; then
    export CC=clang-14 CXX=clang++-14
    run_build fuzz build-fuzz "--suite fuzz --suite kernels --timeout-multiplier 3" \
        "-Db_sanitize=address,undefined -Db_lundef=false -Djemalloc=disabled -Dbenchmarks=false -Dwerror=true -Dfuzz=true -Dc_args=-fsanitize=fuzzer-no-link" \
        "${asan_env[@]}" "COGMEM_FUZZ_SECONDS=${COGMEM_FUZZ_SECONDS:-60}" \
        "COGMEM_FUZZ_ARTIFACTS=$PWD/build-fuzz/fuzz-artifacts"
    unset CC CXX
fi

# gcc 12's ThreadSanitizer cannot start when the kernel randomises mmap
# addresses with more bits than it expects ("unexpected memory mapping").
# Try a trivial TSan program; if it fails but runs with randomisation off,
# run the TSan tests that way (the personality is inherited by children).
tsan_probe() {
    local dir rc=0
    dir=$(mktemp -d) || return 0
    printf 'int main(void) { return 0; }\n' >"$dir/probe.c"
    if cc -fsanitize=thread "$dir/probe.c" -o "$dir/probe" 2>/dev/null &&
        ! "$dir/probe" >/dev/null 2>&1 &&
        setarch "$(uname -m)" -R "$dir/probe" >/dev/null 2>&1; then
        rc=1
    fi
    rm -rf "$dir"
    return "$rc"
}
if wanted tsan; then
    if ! tsan_probe; then
        cogmem_log "[tsan] ThreadSanitizer needs address randomisation off here: using setarch -R"
        TEST_WRAPPER=(setarch "$(uname -m)" -R)
    fi
    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
    if [ -f tests/tsan.supp ]; then
        TSAN_OPTIONS="$TSAN_OPTIONS suppressions=$PWD/tests/tsan.supp"
    fi
    run_build tsan build-tsan "--suite stress --timeout-multiplier 3" \
        "-Db_sanitize=thread -Db_lundef=false -Djemalloc=disabled -Dstress_only=true -Dwerror=true" \
        "TSAN_OPTIONS=$TSAN_OPTIONS"
    TEST_WRAPPER=()
fi

# The Python package loads libcogmem.so with dlopen(), which a library
# linked to jemalloc refuses: it gets its own -Djemalloc=disabled build.
# pytest's JUnit report is counted like meson's log (a missing or broken
# report, or a non-zero exit with no failed test, is one failure).
run_python() {
    local dir=build-py xml=build-py/pytest.xml p=0 f=0 s=0 rc counts
    cogmem_log "[python] meson setup $dir -Djemalloc=disabled"
    if ! configure_and_compile "$dir" -Djemalloc=disabled -Dtests=false \
            -Dbenchmarks=false -Dwerror=true; then
        echo "error: [python] configure or compile failed" >&2
        failed=$((failed + 1))
        return
    fi
    rm -f "$xml"
    cogmem_log "[python] /usr/bin/python3 -m pytest tools/python/tests"
    COGMEM_BUILD_DIR=$PWD/$dir /usr/bin/python3 -m pytest -q -p no:cacheprovider \
        --junitxml="$xml" tools/python/tests
    rc=$?
    if counts=$(/usr/bin/python3 - "$xml" <<'PY'
import sys
import xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
n = sum(int(x.get("tests", 0)) for x in suites)
bad = sum(int(x.get("failures", 0)) + int(x.get("errors", 0)) for x in suites)
skip = sum(int(x.get("skipped", 0)) for x in suites)
print(n - bad - skip, bad, skip)
PY
    ); then
        read -r p f s <<<"$counts"
    else
        echo "error: [python] could not read $xml" >&2
        f=1
    fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "error: [python] pytest exited with status $rc" >&2
        f=1
    fi
    cogmem_log "[python] tests ok $p, failed $f, skipped $s"
    passed=$((passed + p))
    failed=$((failed + f))
    skipped=$((skipped + s))
}
if wanted python; then
    run_python
fi

# The persistence parsers' libFuzzer harnesses, bounded in time
# (tools/fuzz.sh); each harness counts as one test.
if wanted fuzz; then
    cogmem_log "[fuzz] tools/fuzz.sh"
    fuzz_counts=$(tools/fuzz.sh | tail -1)
    if read -r fp _ ff _ fs _ <<<"$fuzz_counts" && [[ $fp =~ ^[0-9]+$ ]]; then
        passed=$((passed + fp))
        failed=$((failed + ff))
        skipped=$((skipped + fs))
    else
        echo "error: [fuzz] no result line" >&2
        failed=$((failed + 1))
    fi
fi

finish
