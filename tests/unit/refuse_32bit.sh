#!/bin/sh
# A 32-bit build is refused at configure time with a clear message
# (meson.build; issue 12's "32-bit statement"): configure the source tree
# for i386 with clang and expect `meson setup` to fail saying so.
#   refuse_32bit.sh SOURCE_DIR
# No i386 libc is needed: meson's cross sanity check only links (with
# -nostdlib here) and never runs. Skips (77) without clang-14 or meson.
set -u
src=$1
command -v clang-14 >/dev/null && command -v meson >/dev/null || exit 77
work=$(mktemp -d) || exit 1
trap 'rm -rf "$work"' EXIT
cat >"$work/i386.txt" <<'CROSS'
[binaries]
c = ['clang-14', '--target=i386-linux-gnu']
cpp = ['clang++-14', '--target=i386-linux-gnu']
[built-in options]
c_link_args = ['-nostdlib', '-Wl,-e,main']
cpp_link_args = ['-nostdlib', '-Wl,-e,main']
[host_machine]
system = 'linux'
cpu_family = 'x86'
cpu = 'i686'
endian = 'little'
CROSS
if meson setup --cross-file "$work/i386.txt" "$work/build" "$src" >"$work/log" 2>&1; then
    echo "meson setup accepted a 32-bit target" >&2
    exit 1
fi
if ! grep -q "cogmem supports 64-bit targets only" "$work/log"; then
    # A failure for another reason (the compiler could not target i386 at
    # all) says nothing about our check.
    if grep -q "Compiler .* cannot compile programs\|Sanity check" "$work/log"; then
        tail -5 "$work/log" >&2
        exit 77
    fi
    echo "meson setup failed without the 64-bit message:" >&2
    tail -20 "$work/log" >&2
    exit 1
fi
echo "refused: $(grep -o 'cogmem supports 64-bit targets only.*' "$work/log")"
