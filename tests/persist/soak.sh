#!/bin/sh
# The kill -9 soak: tests/persist/kill_loop.c for many rounds (default
# 10000; CI runs 200 per build). Usage: tests/persist/soak.sh BUILD_DIR [ROUNDS]
# PERSIST_KILL_SEED picks the seed (printed at the start for a rerun).
set -eu
exec "$1/tests/persist/persist_kill_loop" "${2:-10000}"
