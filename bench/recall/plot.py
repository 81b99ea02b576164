#!/usr/bin/python3
"""Draw bench_recall's table (markdown, read from stdin) as a PNG.

usage: bench_recall | ... ; or: plot.py OUT.png < table.md
One group of bars per store size: the ratio columns (time of the baseline
over cogmem's; 1.0 = as fast), with a line at 1.0.
"""
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLUMNS = ["recall/bw", "recall/flat scan", "recall/sgemv+heap",
           "batch/sgemm+heap (1 thr)", "batch/sgemm+heap (nproc)",
           "bf16 speed-up", "exact: bf16 store/plain"]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "bench_recall.png"
    rows = [l.strip().strip("|").split("|") for l in sys.stdin
            if l.startswith("|") and not l.startswith("|---")]
    if len(rows) < 2:
        sys.exit("no table on stdin")
    head = [h.strip() for h in rows[0]]
    data = [[c.strip() for c in r] for r in rows[1:]]
    cols = [c for c in COLUMNS if c in head]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / len(cols)
    for j, c in enumerate(cols):
        k = head.index(c)
        xs = [i + j * width for i in range(len(data))]
        ax.bar(xs, [float(r[k]) for r in data], width, label=c)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(data))])
    ax.set_xticklabels(["n=%s dim=%s" % (r[0], r[1]) for r in data])
    ax.set_ylabel("baseline time / cogmem time (same run)")
    ax.set_title("cogmem recall vs baselines (higher is better)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
