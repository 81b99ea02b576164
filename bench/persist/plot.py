#!/usr/bin/python3
"""Draw bench_persist's CSV (measure,cogmem,baseline,ratio) as a bar chart
of the ratios: bench/persist/plot.py IN.csv OUT.png [TITLE] (bench_open's
CSV has the same columns)."""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

rows = list(csv.DictReader(open(sys.argv[1])))
names = [r["measure"] for r in rows]
ratios = [float(r["ratio"]) for r in rows]
fig, ax = plt.subplots(figsize=(9, 4.5))
ax.barh(names, ratios, color="#4477aa")
for y, v in enumerate(ratios):
    ax.text(v, y, f" {v:.2f}", va="center")
ax.axvline(1.0, color="grey", lw=0.8)
ax.set_xlabel("ratio to the same-run baseline (GB/s for replay, share for XXH3)")
ax.set_title(sys.argv[3] if len(sys.argv) > 3 else "cogmem persistence: bench_persist")
ax.invert_yaxis()
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=120)
