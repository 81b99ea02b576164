# shellcheck shell=bash
# shellcheck disable=SC2034 # the package lists are used by the sourcing scripts
# Shared by tools/demo.sh and tools/test.sh (sourced, not run): the one list
# of Debian packages the project needs, and the installer of what is missing.

# Build: the library, the cogmem program and the demo.
COGMEM_BUILD_PACKAGES=(
    meson ninja-build pkg-config gcc g++
    liburcu-dev libck-dev libjemalloc-dev libnuma-dev libxxhash-dev
)
# Tests and benchmarks, on top of the build packages. python3 is Debian's
# /usr/bin/python3 (the one that sees python3-prometheus-client); a python3
# earlier on PATH, such as a pyenv one, does not.
COGMEM_TEST_PACKAGES=(
    libcmocka-dev libopenblas-dev libtbb-dev libcuckoo-dev
    python3 python3-prometheus-client
    qemu-system-x86
    clang libclang-rt-14-dev python3-matplotlib
)

cogmem_log() {
    printf '==> %s\n' "$*"
}

# Print, one per line, the packages among "$@" that are not installed.
cogmem_missing_packages() {
    local pkg
    for pkg in "$@"; do
        # One status line per installed architecture of the package; an
        # unknown package makes dpkg-query fail and print nothing here.
        if ! dpkg-query -W -f='${db:Status-Status}\n' "$pkg" 2>/dev/null |
                grep -qx installed; then
            printf '%s\n' "$pkg"
        fi
    done
}

# Install the packages among "$@" that are missing. When none is, apt is not
# touched at all (no root needed, no network). COGMEM_APT_DRY_RUN=1 only
# reports what would be installed. Returns non-zero on failure.
cogmem_install_packages() {
    local missing=()
    if ! command -v dpkg-query >/dev/null 2>&1; then
        echo "error: dpkg-query not found: these scripts install packages on Debian 12;" \
             "elsewhere install the equivalents of: $*" >&2
        return 1
    fi
    mapfile -t missing < <(cogmem_missing_packages "$@")
    if [ "${#missing[@]}" -eq 0 ]; then
        cogmem_log "all $# Debian packages needed are installed"
        return 0
    fi
    cogmem_log "missing Debian packages: ${missing[*]}"
    if [ -n "${COGMEM_APT_DRY_RUN:-}" ]; then
        cogmem_log "dry run: would run 'apt-get update' and" \
                   "'apt-get install -y --no-install-recommends ${missing[*]}'"
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: installing packages needs root; run this script as root, or run:" >&2
        echo "  sudo apt-get install --no-install-recommends ${missing[*]}" >&2
        return 1
    fi
    apt-get -q -o Acquire::Retries=3 update || {
        echo "error: apt-get update failed" >&2
        return 1
    }
    DEBIAN_FRONTEND=noninteractive apt-get -q -o Acquire::Retries=3 install -y \
        --no-install-recommends "${missing[@]}" || {
        echo "error: apt-get install failed for: ${missing[*]}" >&2
        return 1
    }
    mapfile -t missing < <(cogmem_missing_packages "$@")
    if [ "${#missing[@]}" -ne 0 ]; then
        echo "error: still not installed after apt-get: ${missing[*]}" >&2
        return 1
    fi
    cogmem_log "installed the missing packages"
}

# Parallel jobs for compiling and testing: the machine's cores, unless the
# caller sets COGMEM_JOBS.
cogmem_jobs() {
    printf '%s\n' "${COGMEM_JOBS:-$(nproc 2>/dev/null || echo 2)}"
}
