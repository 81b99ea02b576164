"""Boot a two-node QEMU guest (TCG, no KVM) whose /init is two_node.c's
static binary, and pass if every check it prints passed.

Usage: /usr/bin/python3 qemu_two_node.py GUEST_BINARY WORKDIR

The kernel is Debian's cloud kernel, unpacked from its .deb (fetched once
with `apt-get download` into WORKDIR, or taken from $COGMEM_QEMU_KERNEL).
The initramfs is written here (newc cpio: /init and /dev/console). Exit 77
(skip) when qemu-system-x86_64 or the kernel cannot be had, except under
CI=true, where that is a failure.
"""
import glob
import gzip
import os
import shutil
import subprocess
import sys

guest, workdir = sys.argv[1], sys.argv[2]
os.makedirs(workdir, exist_ok=True)
in_ci = os.environ.get("CI") == "true"


def unavailable(why):
    print("qemu two-node test:", why)
    sys.exit(1 if in_ci else 77)


qemu = shutil.which("qemu-system-x86_64")
if not qemu:
    unavailable("qemu-system-x86_64 not found (Debian package qemu-system-x86)")


def kernel():
    if os.environ.get("COGMEM_QEMU_KERNEL"):
        return os.environ["COGMEM_QEMU_KERNEL"]
    found = glob.glob(os.path.join(workdir, "kernel", "boot", "vmlinuz-*"))
    if found:
        return found[0]
    dep = subprocess.run(["apt-cache", "depends", "linux-image-cloud-amd64"],
                         stdout=subprocess.PIPE, text=True)
    names = [l.split(":", 1)[1].strip() for l in dep.stdout.splitlines()
             if l.strip().startswith("Depends:")]
    if dep.returncode or not names:
        unavailable("cannot resolve linux-image-cloud-amd64 (apt-get update?)")
    got = subprocess.run(["apt-get", "download", names[0]], cwd=workdir,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    debs = glob.glob(os.path.join(workdir, names[0] + "_*.deb"))
    if got.returncode or not debs:
        unavailable("apt-get download %s failed: %s" % (names[0], got.stdout[-300:]))
    subprocess.run(["dpkg-deb", "-x", debs[0], os.path.join(workdir, "kernel")], check=True)
    for d in debs:
        os.unlink(d)
    return glob.glob(os.path.join(workdir, "kernel", "boot", "vmlinuz-*"))[0]


def newc(entries):
    """A newc cpio archive of (name, mode, data, rdev_major, rdev_minor)."""
    out = bytearray()
    for ino, (name, mode, data, major, minor) in enumerate(entries + [("TRAILER!!!", 0, b"", 0, 0)], 1):
        nb = name.encode() + b"\0"
        hdr = "070701" + "".join("%08x" % v for v in (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, major, minor, len(nb), 0))
        out += hdr.encode() + nb
        out += b"\0" * (-len(out) % 4)
        out += data
        out += b"\0" * (-len(out) % 4)
    return bytes(out)


vmlinuz = kernel()
with open(guest, "rb") as f:
    init = f.read()
initrd = os.path.join(workdir, "initrd.gz")
with gzip.open(initrd, "wb") as f:
    f.write(newc([("dev", 0o040755, b"", 0, 0),
                  ("dev/console", 0o020600, b"", 5, 1),
                  ("init", 0o100755, init, 0, 0)]))

cmd = [qemu, "-accel", "tcg", "-cpu", "max", "-smp", "2", "-m", "512M",
       "-object", "memory-backend-ram,id=m0,size=256M",
       "-object", "memory-backend-ram,id=m1,size=256M",
       "-numa", "node,nodeid=0,cpus=0,memdev=m0",
       "-numa", "node,nodeid=1,cpus=1,memdev=m1",
       "-kernel", vmlinuz, "-initrd", initrd,
       "-append", "console=ttyS0 panic=-1 quiet",
       "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot"]
print(" ".join(cmd))
run = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                     stderr=subprocess.STDOUT, text=True, errors="replace")
lines = [l.strip() for l in run.stdout.splitlines() if "COGMEM-TWO-NODE:" in l]
for l in lines:
    print(l)
checks = [l for l in lines if " PASS " in l or " FAIL " in l]
if not checks or any(" FAIL " in l for l in checks) or not any("exit 0" in l for l in lines):
    print(run.stdout[-3000:])
    sys.exit(1)
print("two-node placement OK (%d checks)" % len(checks))
