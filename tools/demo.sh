#!/usr/bin/env bash
# Build cogmem and run `cogmem demo` (the mission on WordNet, with the
# synthetic workload alongside). Arguments go to the demo, e.g.
#   tools/demo.sh --seconds 10 --threads 4
#   tools/demo.sh --synthetic --seconds 10
# On a fresh Debian 12 machine, run as root: it installs the missing build
# packages first (and wordnet-base, the demo's data).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. tools/lib.sh

cogmem_install_packages "${COGMEM_BUILD_PACKAGES[@]}" "${COGMEM_DEMO_PACKAGES[@]}"

# The demo needs neither the tests nor the benchmarks (nor their packages);
# a build/ that a developer configured differently is used as it is.
if [ ! -f build/meson-private/coredata.dat ]; then
    cogmem_log "meson setup build"
    rm -rf build
    meson setup build -Dtests=false -Dbenchmarks=false
fi
cogmem_log "compiling"
meson compile -C build -j "$(cogmem_jobs)"
cogmem_log "build/tools/cogmem demo $*"
exec build/tools/cogmem demo "$@"
