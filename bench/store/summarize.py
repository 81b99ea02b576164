#!/usr/bin/env python3
"""bench/store/summarize.py — turn the RESULT lines of the store benchmark
programs (on stdin) into the markdown tables and one CELL line per cell.

Per cell (map, workload, keys, threads) the table shows the best of the
repetitions (on a shared machine interference only ever slows a run down,
so the best is the least disturbed), or with --stat median their median.
The CELL lines give best, median, minimum and spread, so noise is visible
rather than hidden. Maps other than the known ones (e.g. an older cogmem
build added with run.py --also) are shown as further peers.

Ratios are cogmem / peer on Mops/s (above 1: cogmem is faster), between
numbers measured in the same run on the same keys. Exit status 1 if any
cell reported errors (a lookup of a loaded key failed).
"""
import argparse
import re
import statistics
import sys
from collections import defaultdict

PEERS = ["rwlock", "tbb", "cuckoo"]
MAPS = ["cogmem"] + PEERS
WORKLOADS = ["info", "kind", "fan", "vec", "mix90", "mix50"]


def keys_label(n):
    e = len(str(n)) - 1
    return f"10^{e}" if n == 10 ** e else str(n)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stat", choices=["best", "median"], default="best")
    stat = ap.parse_args().stat
    cells = defaultdict(list)  # (map, wl, n, thr) -> [mops]
    ns = {}
    errors = defaultdict(int)
    batch_size = None
    header = []
    load_errors = 0
    for line in sys.stdin:
        line = line.strip()
        if line.startswith("# cpu") or line.startswith("# nproc") or line.startswith("# cogmem"):
            header.append(line[2:])
        m = re.match(r"# map=(\S+) .*load_errors=(\d+)", line)
        if m:
            load_errors += int(m.group(2))
        if not line.startswith("RESULT "):
            continue
        f = dict(kv.split("=", 1) for kv in line.split()[1:])
        key = (f["map"], f["workload"], int(f["n"]), int(f["threads"]))
        cells[key].append(float(f["mops"]))
        errors[key] += int(f["errors"])
        if f["workload"] == "batch":
            batch_size = int(f["batch"])

    if not cells:
        print("summarize.py: no RESULT lines on stdin", file=sys.stderr)
        return 2

    pick = max if stat == "best" else statistics.median
    best = {k: pick(v) for k, v in cells.items()}
    sizes = sorted({k[2] for k in cells})
    threads = sorted({k[3] for k in cells})
    tmax = max(threads)
    extra = sorted({k[0] for k in cells} - set(MAPS))
    maps = [m for m in MAPS if any(k[0] == m for k in cells)] + extra
    peers = [p for p in PEERS if p in maps] + extra
    reps = max(len(v) for v in cells.values())

    def mops(m, wl, n, t):
        return best.get((m, wl, n, t))

    def fmt(m, wl, n, t):
        v = mops(m, wl, n, t)
        return "–" if v is None else f"{v:.2f} ({t * 1e3 / v:.1f})"

    def ratio(a, b):
        return "–" if a is None or b is None or b == 0 else f"{a / b:.2f}×"

    print("## Store benchmark: cogmem vs peers (same run, same keys)\n")
    for h in header:
        print(f"- {h}")
    print(f"- cells: {stat} of {reps} repetition(s); Mops/s summed over threads, "
          "(ns/op) = mean time one thread spends per op")
    print("- ratio columns: cogmem Mops / peer Mops (> 1: cogmem faster)\n")

    print("### Lookups and mixed read/write: Mops/s (ns/op)\n")
    cols = ["workload", "keys", "threads"] + maps + [f"×{p}" for p in peers] + ["×best peer"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for wl in WORKLOADS:
        for n in sizes:
            for t in threads:
                if not any((m, wl, n, t) in best for m in maps):
                    continue
                ours = mops("cogmem", wl, n, t)
                row = [wl, keys_label(n), str(t)] + [fmt(m, wl, n, t) for m in maps]
                row += [ratio(ours, mops(p, wl, n, t)) for p in peers]
                pv = [mops(p, wl, n, t) for p in peers if mops(p, wl, n, t)]
                row.append(ratio(ours, max(pv)) if pv else "–")
                print("| " + " | ".join(row) + " |")

    if len(threads) > 1:
        print(f"\n### Scaling 1 → {tmax} threads (Mops at {tmax} / Mops at 1)\n")
        cols = ["workload", "keys"] + maps
        print("| " + " | ".join(cols) + " |")
        print("|" + "---|" * len(cols))
        for wl in WORKLOADS:
            for n in sizes:
                row = [wl, keys_label(n)]
                for m in maps:
                    row.append(ratio(mops(m, wl, n, tmax), mops(m, wl, n, 1)))
                print("| " + " | ".join(row) + " |")

    if any(k[1] == "batch" for k in cells):
        print(f"\n### Batched lookup: cogmem_concept_info_batch ({batch_size} ids per call) "
              "vs one cogmem_concept_info per id: Mops/s (ns/id per thread)\n")
        print("| keys | threads | single | batch | batch / single |")
        print("|---|---|---|---|---|")
        for n in sizes:
            for t in threads:
                print(f"| {keys_label(n)} | {t} | {fmt('cogmem', 'info', n, t)} | "
                      f"{fmt('cogmem', 'batch', n, t)} | "
                      f"{ratio(mops('cogmem', 'batch', n, t), mops('cogmem', 'info', n, t))} |")

    # Issue 10's goals, checked against this run's numbers.
    print("\n### Issue 10 goals, as measured in this run\n")
    print("| goal | keys | threads | measured | met |")
    print("|---|---|---|---|---|")

    def goal(name, n, t, val, target):
        if val is None:
            print(f"| {name} | {keys_label(n)} | {t} | – | – |")
        else:
            print(f"| {name} | {keys_label(n)} | {t} | {val:.2f}× | "
                  f"{'yes' if val >= target else 'no'} |")

    def vs(wl, n, t, names):
        ours = mops("cogmem", wl, n, t)
        pv = [mops(p, wl, n, t) for p in names if mops(p, wl, n, t)]
        return ours / max(pv) if ours and pv else None

    for n in sizes:
        for t in threads:
            for wl in ["info", "kind", "fan"]:
                goal(f"{wl} ≥ 1.0× tbb and cuckoo", n, t, vs(wl, n, t, ["tbb", "cuckoo"]), 1.0)
                goal(f"{wl} ≥ 0.7× rwlock", n, t, vs(wl, n, t, ["rwlock"]), 0.7)
            goal("vec ≥ 1.0× best peer", n, t, vs("vec", n, t, PEERS), 1.0)
        for wl in ["mix90", "mix50"]:
            goal(f"{wl} ≥ 1.3× best peer", n, tmax, vs(wl, n, tmax, PEERS), 1.3)
    big = max(sizes)
    for t in threads:
        b, s = mops("cogmem", "batch", big, t), mops("cogmem", "info", big, t)
        goal("batch ≥ 2.5× single per id", big, t, b / s if b and s else None, 2.5)

    print("\n### Machine-readable cells\n")
    print("```")
    for k in sorted(cells, key=lambda k: (k[1], k[2], k[3], MAPS.index(k[0]) if k[0] in MAPS else 9)):
        v = cells[k]
        m, wl, n, t = k
        spread = (max(v) - min(v)) / max(v) if max(v) > 0 else 0.0
        print(f"CELL map={m} workload={wl} n={n} threads={t} mops_best={max(v):.3f} "
              f"mops_median={statistics.median(v):.3f} mops_min={min(v):.3f} "
              f"ns_op={t * 1e3 / max(v):.2f} reps={len(v)} spread={spread:.3f} "
              f"errors={errors[k]}")
    print("```")

    bad = sum(errors.values()) + load_errors
    if bad:
        print(f"\nWARNING: {bad} failed operations: these numbers are not valid.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
