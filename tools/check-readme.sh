#!/bin/sh
# Test 'readme-in-sync': the first C code block of README.md must be
# tools/example.c from its first #include on, so that the tour a reader
# copies is the program the test suite compiles and runs.
# Usage: check-readme.sh README.md tools/example.c
set -eu
readme=$1
example=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
awk '/^```c$/ { inside = 1; next } inside && /^```/ { exit } inside' \
    "$readme" >"$tmp/readme.c"
sed -n '/^#include/,$p' "$example" >"$tmp/example.c"
if ! diff -u "$tmp/example.c" "$tmp/readme.c"; then
    echo "README.md's C example differs from $example (diff above)" >&2
    exit 1
fi
