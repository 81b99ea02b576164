#!/usr/bin/python3
"""bench/plot.py — draw a benchmark's tables as one PNG.

Every benchmark prints its results as Markdown tables (bench_stats as
aligned lines, read by a parser of its own); this script finds those tables
in the output and draws each as one panel of a PNG:

- a table whose first column is numeric (e.g. `n`, a size) becomes a line
  plot over that column (log scale when it spans a factor of 10 or more);
- any other table becomes horizontal grouped bars, one group per row (the
  row's label is its leading non-numeric cells).

Columns plotted: the ratio columns (a header naming a ratio, an `x`, a
speed-up or containing '/'), as the benchmarks' honest numbers are ratios
against a baseline run in the same process; when a table has none, every
numeric column. A vertical line marks 1.0 on ratio panels.

usage:
  bench/plot.py --out FILE.png [--title T] [INPUT]         # a saved output
  bench/plot.py --out FILE.png [--title T] -- CMD [ARG...]  # run CMD, pass
                                                            # its output on
Other benchmarks call it the same way (one process, no import needed).
Needs Debian's python3-matplotlib, under /usr/bin/python3.
"""
import argparse
import math
import re
import subprocess
import sys

NUM = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def number(cell):
    """The leading number of a cell ("1.25", "+3.1%", "0.42 ns/elem",
    "12,345", "3.5x"), or None."""
    c = cell.strip().replace(",", "")
    if c.startswith("**") and c.endswith("**"):
        c = c[2:-2]
    p = re.match(r"^10\^(\d+)$", c)  # bench/store writes key counts as 10^4
    if p:
        return 10.0 ** int(p.group(1))
    m = NUM.match(c)
    if not m:
        return None
    rest = c[m.end():].strip()
    v = float(m.group(0))
    if rest[:1] in ("k", "M", "G") and (len(rest) == 1 or not rest[1].isalpha()):
        return v * {"k": 1e3, "M": 1e6, "G": 1e9}[rest[0]]
    unit = rest.split(" ")[0] if rest else ""
    # Durations in one unit, so that a column mixing ms and us is comparable.
    scale = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0}
    if unit in scale:
        return v * scale[unit]
    return v


def is_ratio(header):
    h = header.lower()
    # "a/b" names a ratio of two measurements; "q/s", "GB/s", "ns/op" are
    # units of one.
    slash = "/" in h and not re.search(r"/s\b|/op\b|/lookup|/elem|/call|ns/|gb/", h)
    return ("ratio" in h or "×" in h or slash or " x " in f" {h} " or "speed" in h or
            h.startswith("x ") or h.endswith(" x") or "vs" in h.split())


# Numeric columns that describe a row (its parameters) rather than measure
# it: they label the row unless they are the x axis.
PARAMETERS = {"n", "keys", "threads", "dim", "k", "queries", "batch", "reps", "shape"}


def is_percent(cells):
    return all(c.strip().endswith("%") for c in cells if c.strip())


def markdown_tables(lines):
    """[(title, header, rows)] of the Markdown tables in lines."""
    tables, title, i = [], "", 0
    while i < len(lines):
        line = lines[i].rstrip()
        if line.startswith("|") and i + 1 < len(lines) and \
                re.match(r"^\|\s*:?-{3,}", lines[i + 1].strip()):
            header = [c.strip() for c in line.strip("|").split("|")]
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append([c.strip() for c in lines[i].rstrip().strip("|").split("|")])
                i += 1
            tables.append((title, header, [r for r in rows if len(r) == len(header)]))
            continue
        if line.strip() and not line.startswith("|"):
            title = line.strip().lstrip("#").strip()
        i += 1
    return tables


STATS_LINE = re.compile(r"^\s+(\S.*?)\s+([\d.]+) ns/lookup\s+([\d.]+) x (.*?) \(")


def stats_tables(lines):
    """bench_stats prints `  CONFIG  N ns/lookup  R x stats off (...)`."""
    rows = [[m.group(1), m.group(2), m.group(3)] for m in map(STATS_LINE.match, lines) if m]
    if not rows:
        return []
    title = next((l.strip() for l in lines if l.startswith("bench_stats")), "bench_stats")
    return [(title, ["configuration", "ns/lookup", "ratio to stats off"], rows)]


def panel(ax, title, header, rows):
    values = [[number(c) for c in r] for r in rows]
    ncol = len(header)
    numeric = [j for j in range(ncol)
               if rows and sum(v[j] is not None for v in values) >= max(1, len(rows) * 0.8)]
    distinct_x = len({v[0] for v in values}) if values else 0
    xcol = 0 if 0 in numeric and len(numeric) > 1 and distinct_x >= 2 else None
    params = [j for j in numeric if j != xcol and header[j].lower() in PARAMETERS]
    numeric = [j for j in numeric if j not in params]
    labels_at = [j for j in range(ncol) if j not in numeric and j != xcol]
    cols = [j for j in numeric if j != xcol]
    # A percentage column (an overhead) would dwarf the ratios around 1.
    ratios = [j for j in cols if is_ratio(header[j]) and not
              is_percent([r[j] for r in rows])]
    if ratios:
        cols = ratios
    if not cols:
        ax.set_axis_off()
        ax.set_title(title + " (no numbers)", fontsize=8)
        return False
    # A line over the x column only when nothing else tells rows apart
    # (label columns, or parameters that vary, e.g. threads).
    varying = [j for j in labels_at if j not in params or len({r[j] for r in rows}) > 1]
    if xcol is not None and not varying:
        xs = [v[xcol] for v in values]
        for j in cols:
            pts = [(x, v[j]) for x, v in zip(xs, values) if v[j] is not None]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=header[j])
        if min(xs) > 0 and max(xs) / min(xs) >= 10:
            ax.set_xscale("log")
        ax.set_xlabel(header[xcol])
        if ratios:
            ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    else:
        if xcol is not None:
            labels_at = [xcol] + labels_at
        labels_at.sort()
        names = [" ".join(("%s %s" % (header[j], r[j])) if j in params else r[j]
                          for j in labels_at) or str(k + 1) for k, r in enumerate(rows)]
        n, m = len(rows), len(cols)
        h = 0.8 / m
        for c, j in enumerate(cols):
            ys = [k + c * h for k in range(n)]
            ax.barh(ys, [v[j] if v[j] is not None else 0 for v in values], height=h,
                    label=header[j])
        ax.set_yticks([k + 0.4 - h / 2 for k in range(n)])
        ax.set_yticklabels([s[:48] for s in names], fontsize=7)
        ax.invert_yaxis()
        finite = [v[j] for v in values for j in cols if v[j] is not None and v[j] > 0]
        if finite and max(finite) / min(finite) > 1000:
            ax.set_xscale("log")
        if ratios:
            ax.axvline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_title(title[:110], fontsize=8)
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3)
    return True


def draw(text, out, title):
    import matplotlib
    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt

    lines = text.splitlines()
    tables = markdown_tables(lines) or stats_tables(lines)
    if not tables:
        print("plot.py: no table found; no PNG written", file=sys.stderr)
        return 1
    heights = [max(3.5, 0.3 * len(rows) + 1.2) for _, _, rows in tables]
    fig, axes = plt.subplots(len(tables), 1, figsize=(12, sum(heights)),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, (t, header, rows) in zip(axes[:, 0], tables):
        panel(ax, t, header, rows)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    print(f"plot.py: wrote {out} ({len(tables)} table{'s' if len(tables) > 1 else ''})",
          file=sys.stderr)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="the PNG to write")
    ap.add_argument("--title", default="")
    ap.add_argument("input", nargs="?", help="a saved benchmark output (default stdin)")
    ap.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD [ARG...]")
    argv = sys.argv[1:]
    cmd = []
    if "--" in argv:
        k = argv.index("--")
        argv, cmd = argv[:k], argv[k + 1:]
    a = ap.parse_args(argv)
    if cmd:
        # Run the benchmark, passing its output on line by line as it comes.
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        chunks = []
        for line in p.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            chunks.append(line)
        rc = p.wait()
        text = "".join(chunks)
        if rc != 0:
            print(f"plot.py: {cmd[0]} exited with {rc}; no PNG written", file=sys.stderr)
            return rc
    elif a.input:
        with open(a.input, encoding="utf-8") as f:
            text = f.read()
    else:
        text = sys.stdin.read()
    return draw(text, a.out, a.title)


if __name__ == "__main__":
    sys.exit(main())
