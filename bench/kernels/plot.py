#!/usr/bin/python3
"""Draw the kernel benchmark's tables (markdown on stdin) as one PNG.

usage: cogmem-checkasm --bench ... | plot.py OUT.png
One horizontal bar per table row: its "ratio" column (baseline time over
kernel time, same run), labelled kernel / shape / isa / baseline, with a
line at 1.0.
"""
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "bench_kernels.png"
    head, bars = None, []
    for line in sys.stdin:
        if not line.startswith("|") or line.startswith("|-"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == "kernel":
            head = cells
            continue
        if head is None or "ratio" not in head:
            continue
        try:
            ratio = float(cells[head.index("ratio")])
        except ValueError:
            continue
        label = "%s | %s | %s | vs %s" % (cells[0], cells[1], cells[2],
                                          cells[head.index("baseline (same run)")])
        bars.append((label, ratio))
    if not bars:
        sys.exit("no table rows with a ratio on stdin")
    fig, ax = plt.subplots(figsize=(11, 0.28 * len(bars) + 1.2))
    ys = range(len(bars))
    ax.barh(list(ys), [b[1] for b in bars], color="tab:blue")
    ax.set_yticks(list(ys))
    ax.set_yticklabels([b[0] for b in bars], fontsize=7)
    ax.invert_yaxis()
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xlabel("baseline time / kernel time (same run; bandwidth rows: "
                  "fraction of measured bandwidth)")
    ax.set_title("cogmem kernels")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
