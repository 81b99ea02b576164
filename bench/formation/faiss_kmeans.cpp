// FAISS k-means peer for bench/formation: spherical k-means (FAISS's own
// Clustering with spherical = true, IndexFlatIP), then each point's
// nearest centroid.
//
//   faiss_kmeans DATA N DIM K NITER LABELS
//
// Prints kmeans_ns (training + assignment, wall clock) and writes the
// labels (uint32, point order).
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>

int main(int argc, char **argv)
{
    if (argc != 7) {
        std::fprintf(stderr, "usage: faiss_kmeans DATA N DIM K NITER LABELS\n");
        return 2;
    }
    size_t n = std::strtoull(argv[2], nullptr, 10);
    int dim = std::atoi(argv[3]), k = std::atoi(argv[4]), niter = std::atoi(argv[5]);
    std::vector<float> x(n * dim);
    FILE *f = std::fopen(argv[1], "rb");
    if (!f || std::fread(x.data(), sizeof(float), x.size(), f) != x.size())
        return 1;
    std::fclose(f);
    auto t0 = std::chrono::steady_clock::now();
    faiss::ClusteringParameters cp;
    cp.niter = niter;
    cp.spherical = true;
    cp.seed = 1234;
    cp.max_points_per_centroid = 1 << 30; // train on every point, as cogmem does
    faiss::Clustering cl(dim, k, cp);
    faiss::IndexFlatIP index(dim);
    cl.train(n, x.data(), index);
    std::vector<float> dist(n);
    std::vector<faiss::Index::idx_t> lab(n);
    index.search(n, x.data(), 1, dist.data(), lab.data());
    auto t1 = std::chrono::steady_clock::now();
    std::printf("kmeans_ns=%lld\n",
                (long long)std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
    std::vector<uint32_t> out(lab.begin(), lab.end());
    f = std::fopen(argv[6], "wb");
    if (!f || std::fwrite(out.data(), sizeof(uint32_t), n, f) != n)
        return 1;
    std::fclose(f);
    return 0;
}
