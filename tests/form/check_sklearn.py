#!/usr/bin/python3
"""cogmem's exact formation against scikit-learn on the same bytes.

check_sklearn.py FORM_LABELS OUTDIR: runs form_labels (n = 1000, dim 768,
40 clusters of varying size, 5% uniform noise), then scikit-learn's
AgglomerativeClustering(linkage="average", metric="cosine",
distance_threshold=1 - tau) on the data it wrote, and fails unless the
adjusted Rand index of the two partitions is >= 0.999.
"""
import os
import subprocess
import sys

import numpy as np
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import adjusted_rand_score


N, DIM, K, SPREAD, NOISE, SEED, TAU = 1000, 768, 40, float(os.environ.get("SP", "1.0")), 50, 11, float(os.environ.get("TAU", "0.4"))


def main():
    exe, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    subprocess.run([exe, str(N), str(DIM), str(K), str(SPREAD), str(NOISE),
                    str(SEED), str(TAU), out], check=True)
    x = np.fromfile(os.path.join(out, "data.f32"), dtype=np.float32).reshape(N, DIM)
    ours = np.fromfile(os.path.join(out, "labels.u32"), dtype=np.uint32)
    truth = np.fromfile(os.path.join(out, "truth.i32"), dtype=np.int32)
    kw = dict(n_clusters=None, linkage="average", distance_threshold=1.0 - TAU)
    try:
        model = AgglomerativeClustering(metric="cosine", **kw)
    except TypeError:  # scikit-learn < 1.2 calls it affinity
        model = AgglomerativeClustering(affinity="cosine", **kw)
    theirs = model.fit_predict(x.astype(np.float64))
    ari = adjusted_rand_score(theirs, ours)
    core = truth >= 0
    print(f"clusters: cogmem {len(set(ours))}, sklearn {len(set(theirs))}; "
          f"ARI(cogmem, sklearn) = {ari:.6f}; "
          f"ARI vs truth (non-noise): cogmem {adjusted_rand_score(truth[core], ours[core]):.4f}, "
          f"sklearn {adjusted_rand_score(truth[core], theirs[core]):.4f}")
    if ari < 0.999:
        print("FAIL: ARI below 0.999")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
