#!/usr/bin/python3
"""bench/formation: cogmem's concept formation against its peers, same bytes,
same run, interleaved repetitions.

    flock /tmp/cogmem-bench.lock /usr/bin/python3 bench/formation/run.py BUILD [--quick]

BUILD is a meson build directory with bench/formation/bench_formation (and
faiss_kmeans when libfaiss was found). Writes bench/formation/results.md
(the table) and results.png (the plot) under BUILD, and prints the table.

Rows (each a median of interleaved repetitions, spread = min..max):
  1e3 x 768: cogmem exact formation (2 threads) vs OpenBLAS sgemm of X X^T
             alone (2 threads), and vs scikit-learn AgglomerativeClustering
             (average, cosine, distance_threshold = 1 - tau); ARI vs sklearn
  1e4 x 768: cogmem exact vs scikit-learn; ARI vs sklearn
  1e5 x 768: cogmem DP-means (AUTO) vs FAISS spherical k-means (k = true
             cluster count, 25 iterations, IndexFlatIP assignment);
             ARI vs ground truth (noise points left out) for both
  consolidation with 1e4 concepts: cogmem_consolidate vs one exact top-1
             cogmem_recall over the concepts (same queries, interleaved),
             one row per CPU of the process, both sides pinned to it
"""
import os
import subprocess
import sys
import time

import numpy as np

DIM, TAU = 768, 0.4


def kv(text):
    out = {}
    for line in text.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            try:
                out[k] = float(v)
            except ValueError:
                out[k] = v
    return out


def run(*args):
    r = subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True)
    return kv(r.stdout)


def ari(a, b):
    from sklearn.metrics import adjusted_rand_score
    return adjusted_rand_score(a, b)


def sklearn_fit(x):
    from sklearn.cluster import AgglomerativeClustering
    kw = dict(n_clusters=None, linkage="average", distance_threshold=1.0 - TAU)
    try:
        m = AgglomerativeClustering(metric="cosine", **kw)
    except TypeError:
        m = AgglomerativeClustering(affinity="cosine", **kw)
    t0 = time.perf_counter()
    lab = m.fit_predict(x.astype(np.float64))
    return time.perf_counter() - t0, lab


def med(v):
    v = sorted(v)
    return v[len(v) // 2], v[0], v[-1]


def fmt(v, unit=1e-3):
    m, lo, hi = med(v)
    return f"{m / unit:.1f} ({lo / unit:.1f}..{hi / unit:.1f})"


def main():
    build = sys.argv[1]
    quick = "--quick" in sys.argv
    exe = os.path.join(build, "bench/formation/bench_formation")
    fk = os.path.join(build, "bench/formation/faiss_kmeans")
    work = os.path.join(build, "bench/formation/data")
    os.makedirs(work, exist_ok=True)
    rows, plot = [], []
    load = os.getloadavg()

    def dataset(n, k, spread, noise, seed):
        d = os.path.join(work, f"n{n}")
        os.makedirs(d, exist_ok=True)
        run(exe, "gen", n, DIM, k, spread, noise, seed, d)
        x = np.fromfile(os.path.join(d, "data.f32"), dtype=np.float32).reshape(n, DIM)
        t = np.fromfile(os.path.join(d, "truth.i32"), dtype=np.int32)
        return d, x, t

    # ---- 1e3
    n = 1000
    d, x, truth = dataset(n, 40, 1.0, 50, 11)
    reps = 3 if quick else 7
    tc, tb, ts = [], [], []
    for _ in range(reps):
        r = run(exe, "form", os.path.join(d, "data.f32"), n, DIM, TAU, 1, 2,
                os.path.join(d, "cogmem.u32"), 5)
        tc.append(r["form_ns"] * 1e-9)
        tb.append(run(exe, "sgemm", os.path.join(d, "data.f32"), n, DIM, 2)["sgemm_ns"] * 1e-9)
        t, sk = sklearn_fit(x)
        ts.append(t)
    ours = np.fromfile(os.path.join(d, "cogmem.u32"), dtype=np.uint32)
    a = ari(sk, ours)
    rows.append(("1e3 exact", "cogmem / sgemm X X^T", fmt(tc), fmt(tb),
                 f"{med(tc)[0] / med(tb)[0]:.2f}", "<= 2", f"ARI vs sklearn {a:.4f}"))
    rows.append(("1e3 exact", "sklearn / cogmem", fmt(ts), fmt(tc),
                 f"{med(ts)[0] / med(tc)[0]:.1f}", ">= 20", f"ARI vs sklearn {a:.4f}"))
    plot.append(("1e3 sgemm/cogmem", med(tb)[0] / med(tc)[0]))
    plot.append(("1e3 sklearn/cogmem", med(ts)[0] / med(tc)[0]))

    # ---- 1e4
    n = 10000
    d, x, truth = dataset(n, 100, 1.0, 500, 12)
    reps = 1 if quick else 3
    tc, ts = [], []
    for _ in range(reps):
        r = run(exe, "form", os.path.join(d, "data.f32"), n, DIM, TAU, 1, 2,
                os.path.join(d, "cogmem.u32"), 1)
        tc.append(r["form_ns"] * 1e-9)
        t, sk = sklearn_fit(x)
        ts.append(t)
    ours = np.fromfile(os.path.join(d, "cogmem.u32"), dtype=np.uint32)
    a = ari(sk, ours)
    rows.append(("1e4 exact", "sklearn / cogmem", fmt(ts), fmt(tc),
                 f"{med(ts)[0] / med(tc)[0]:.1f}", ">= 5", f"ARI vs sklearn {a:.4f} (>= 0.99)"))
    plot.append(("1e4 sklearn/cogmem", med(ts)[0] / med(tc)[0]))

    # ---- 1e5
    n, k = 100000, 200
    d, x, truth = dataset(n, k, 0.8, 5000, 13)
    del x
    core = truth >= 0
    reps = 1 if quick else 3
    tc, tf = [], []
    have_faiss = os.path.exists(fk)
    for _ in range(reps):
        r = run(exe, "form", os.path.join(d, "data.f32"), n, DIM, TAU, 0, 2,
                os.path.join(d, "cogmem.u32"), 1)
        tc.append(r["form_ns"] * 1e-9)
        if have_faiss:
            tf.append(run(fk, os.path.join(d, "data.f32"), n, DIM, k, 25,
                          os.path.join(d, "faiss.u32"))["kmeans_ns"] * 1e-9)
    ours = np.fromfile(os.path.join(d, "cogmem.u32"), dtype=np.uint32)
    a_ours = ari(truth[core], ours[core])
    if have_faiss:
        theirs = np.fromfile(os.path.join(d, "faiss.u32"), dtype=np.uint32)
        a_f = ari(truth[core], theirs[core])
        rows.append(("1e5 DP-means", "FAISS k-means / cogmem", fmt(tf), fmt(tc),
                     f"{med(tf)[0] / med(tc)[0]:.2f}", ">= 1.0",
                     f"ARI vs truth: cogmem {a_ours:.4f} (>= 0.9), FAISS {a_f:.4f}"))
        plot.append(("1e5 faiss/cogmem", med(tf)[0] / med(tc)[0]))
    else:
        rows.append(("1e5 DP-means", "cogmem alone (no FAISS peer built)", "-", fmt(tc), "-",
                     ">= 1.0", f"ARI vs truth {a_ours:.4f}"))

    # ---- consolidation: once on each of the process's CPUs (the CPU
    # argument, the k-th of them), both sides of the ratio on that CPU:
    # this VM's CPUs run the same loop at different speeds (bench/pin.h)
    for cpu in range(len(os.sched_getaffinity(0))):
        r = run(exe, "consolidate", 10000, DIM, 300 if quick else 2000, cpu)
        rows.append((f"consolidate, 1e4 concepts, CPU {cpu}",
                     "cogmem_consolidate / top-1 recall",
                     f"{r['consolidate_ns'] / 1e6:.3f} ({r['consolidate_p10_ns'] / 1e6:.3f}.."
                     f"{r['consolidate_p90_ns'] / 1e6:.3f} p10..p90)",
                     f"{r['recall_ns'] / 1e6:.3f} ({r['recall_p10_ns'] / 1e6:.3f}.."
                     f"{r['recall_p90_ns'] / 1e6:.3f})",
                     f"{r['consolidate_ns'] / r['recall_ns']:.2f}", "<= 1.5",
                     f"bound {int(r['bound'])}/{int(r['reps'])}"))
        plot.append((f"recall/consolidate CPU {cpu}", r["recall_ns"] / r["consolidate_ns"]))

    head = ("size", "ratio", "first (ms)", "second (ms)", "ratio", "goal", "quality")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines.append("")
    lines.append(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
                 f"at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(build, "bench/formation/results.md"), "w") as f:
        f.write(text + "\n")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 4))
    names = [p[0] for p in plot]
    vals = [p[1] for p in plot]
    ax.barh(names, vals, color="tab:blue")
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("peer time / cogmem time (higher = cogmem faster)")
    ax.set_title("cogmem concept formation vs peers (same run, same bytes)")
    fig.tight_layout()
    fig.savefig(os.path.join(build, "bench/formation/results.png"), dpi=120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
