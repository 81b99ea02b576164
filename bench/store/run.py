#!/usr/bin/env python3
"""bench/store/run.py — drive the store benchmark programs cell by cell.

For each key count, every map is loaded once in its own process started
with --serve (one after the other, so loads do not compete); the processes
then sit idle, blocked on stdin, while the driver sends one cell at a time
to one of them. Cells of different maps for the same (workload, threads)
run back to back and the order of the maps rotates from cell to cell, so
slow phases of a shared machine fall on every map alike; the whole matrix is
repeated REPS times. Raw output goes to stdout (and --log); the tables are
made by summarize.py.

usage: run.py BUILDDIR [--secs S] [--warm S] [--reps R] [--sizes 10000,1000000]
              [--threads 1,2] [--dim D] [--log FILE] [--also NAME=BUILDDIR ...]
              [--workloads info,kind,...]

--also adds the cogmem of another build (e.g. an older commit's, for a
before/after comparison in one run) as one more map called NAME.
"""
import argparse
import os
import platform
import subprocess
import sys

WORKLOADS = ["info", "kind", "fan", "vec", "mix90", "mix50", "batch"]


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_rev(here):
    try:
        return subprocess.run(["git", "-C", here, "describe", "--always", "--dirty"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def argv_map(argv):
    return argv[argv.index("--map") + 1] if "--map" in argv else None


class Map:
    """One map's --serve process."""

    def __init__(self, name, argv, emit):
        self.name = name
        # Another build's cogmem reports map=cogmem: relabel its lines.
        self.emit = emit if name == argv_map(argv) else (
            lambda t: emit(t.replace("map=cogmem", f"map={name}")))
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, bufsize=1)
        # Wait for the load to finish: "# map=... load_s=..." then "# ready".
        while True:
            line = self.p.stdout.readline()
            if not line:
                raise RuntimeError(f"{name}: exited during load (status {self.p.wait()})")
            self.emit(line)
            if line.startswith("# ready"):
                return

    def cell(self, workload, threads, rep):
        self.p.stdin.write(f"{workload} {threads} {rep}\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name}: exited (status {self.p.wait()})")
        if not line.startswith("# skip"):
            self.emit(line)

    def close(self):
        self.p.stdin.close()
        rest = self.p.stdout.read()
        if rest:
            self.emit(rest)
        return self.p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--secs", type=float, default=0.5)
    ap.add_argument("--warm", type=float, default=0.2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--sizes", default="10000,1000000")
    ap.add_argument("--threads", default=f"1,{os.cpu_count() or 1}")
    ap.add_argument("--dim", type=int, default=16)
    ap.add_argument("--log")
    ap.add_argument("--also", action="append", default=[])
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    a = ap.parse_args()
    workloads = a.workloads.split(",")
    unknown = [w for w in workloads if w not in WORKLOADS]
    if unknown:
        print(f"run.py: unknown workloads {','.join(unknown)}", file=sys.stderr)
        return 2

    here = os.path.dirname(os.path.abspath(__file__))
    bindir = os.path.join(a.build, "bench", "store")
    main_bin = os.path.join(bindir, "bench_store")
    if not os.access(main_bin, os.X_OK):
        print(f"run.py: {main_bin} not found; build first: meson setup {a.build} && "
              f"meson compile -C {a.build}", file=sys.stderr)
        return 2
    maps = [("cogmem", [main_bin, "--map", "cogmem"]), ("rwlock", [main_bin, "--map", "rwlock"])]
    for peer in ["tbb", "cuckoo"]:
        b = os.path.join(bindir, "bench_store_" + peer)
        if os.access(b, os.X_OK):
            maps.append((peer, [b]))
    for also in a.also:
        name, build = also.split("=", 1)
        maps.append((name, [os.path.join(build, "bench", "store", "bench_store"),
                            "--map", "cogmem"]))

    log = open(a.log, "w") if a.log else None

    def emit(text):
        sys.stdout.write(text)
        sys.stdout.flush()
        if log:
            log.write(text)
            log.flush()

    threads = [int(t) for t in a.threads.split(",")]
    sizes = [int(n) for n in a.sizes.split(",")]
    emit(f"# cpu: {cpu_model()}\n")
    emit(f"# nproc={os.cpu_count()} secs={a.secs} warm={a.warm} reps={a.reps} dim={a.dim} "
         f"threads={a.threads} sizes={a.sizes} maps={','.join(m for m, _ in maps)}\n")
    emit(f"# cogmem: {git_rev(here)}\n")

    status = 0
    k = 0
    for n in sizes:
        common = ["--n", str(n), "--secs", str(a.secs), "--warm", str(a.warm),
                  "--threads", a.threads, "--dim", str(a.dim), "--serve"]
        procs = []
        try:
            for name, argv in maps:
                print(f"run.py: loading {name}, n={n}", file=sys.stderr)
                procs.append(Map(name, argv + common, emit))
            for rep in range(1, a.reps + 1):
                print(f"run.py: n={n} rep {rep}/{a.reps}", file=sys.stderr)
                for wl in workloads:
                    for t in threads:
                        order = procs[k % len(procs):] + procs[:k % len(procs)]
                        k += 1
                        for p in order:
                            p.cell(wl, t, rep)
        finally:
            for p in procs:
                status |= p.close()
    if log:
        log.close()
    return 1 if status else 0


if __name__ == "__main__":
    sys.exit(main())
