/* cogmem — exact average-linkage clustering: the similarity triangle in
 * tiles over threads, then a nearest-neighbour chain.
 *
 * Memory: the n(n-1)/2 similarities as one packed f32 upper triangle
 * (row i holds j = i+1 .. n-1 contiguously), so each tile row is one
 * contiguous store and the whole fits 2 n^2 bytes.
 *
 * The chain (Murtagh 1983; what scipy and scikit-learn run): grow a chain
 * of nearest neighbours from an active cluster until two clusters are each
 * other's nearest, merge them, carry on from the rest of the chain. Average
 * linkage is reducible (a merged cluster is never closer to a third one
 * than the closer of its parts), so the chain stays valid across merges,
 * every merge is one a greedy "best pair first" run would also make, and
 * the total work is O(n^2). Reducibility also lets a cluster retire for
 * good as soon as its nearest neighbour is below tau: no later merge can
 * bring anything closer.
 *
 * Determinism (D3): merges are sequential; the nearest neighbour is the
 * highest similarity, ties to the chain predecessor (which guarantees the
 * chain ends) and then to the lower index; a cluster is represented by its
 * lowest row; Lance-Williams updates s(k, a+b) = (n_a s(k,a) + n_b s(k,b))
 * / (n_a + n_b) are computed in double and stored in f32.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "src/life/life.h"

#define ROWS_PER_TILE 32u
#define COLS_PER_TILE 256u

static inline size_t tri_off(size_t n, size_t i)
{
    return i * (2 * n - i - 1) / 2;
}

struct sim_job {
    const struct cogmem__life_set *set;
    float *tri;
    size_t n, nrb, ncb;
};

static void sim_task(void *arg, size_t t)
{
    const struct sim_job *j = arg;
    size_t rb = t / j->ncb, cb = t % j->ncb;
    size_t i0 = rb * ROWS_PER_TILE, i1 = i0 + ROWS_PER_TILE;
    size_t c0 = cb * COLS_PER_TILE, c1 = c0 + COLS_PER_TILE;
    if (i1 > j->n)
        i1 = j->n;
    if (c1 > j->n)
        c1 = j->n;
    if (c1 <= i0 + 1)
        return; /* entirely on or below the diagonal */
    /* The whole tile through the register-blocked kernel (the part below
     * the diagonal of a diagonal tile is computed and dropped: cheaper than
     * the row-at-a-time kernel on the part above it). The tile grid is
     * fixed by n alone, so every pair is computed at the same place of the
     * same call whatever the thread count: results stay bit-identical. */
    float tile[ROWS_PER_TILE * COLS_PER_TILE];
    size_t nc = c1 - c0;
    cogmem__life_block(j->set->x, j->set->stride, j->set->dim, i0, i1, c0, c1, tile);
    for (size_t i = i0; i < i1; i++) {
        size_t js = c0 > i + 1 ? c0 : i + 1;
        if (js >= c1)
            continue;
        memcpy(j->tri + tri_off(j->n, i) + (js - i - 1), tile + (i - i0) * nc + (js - c0),
               (c1 - js) * sizeof(float));
    }
}

static inline float *sim_at(float *tri, size_t n, size_t a, size_t b)
{
    size_t i = a < b ? a : b, j = a < b ? b : a;
    return &tri[tri_off(n, i) + (j - i - 1)];
}

static uint32_t root(uint32_t *parent, uint32_t i)
{
    while (parent[i] != i) {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    return i;
}

long cogmem__life_hac(const struct cogmem__life_set *set, float tau,
                      unsigned threads, uint32_t *labels)
{
    size_t n = set->n;
    if (n == 0)
        return 0;
    if (n > UINT32_MAX)
        return -ENOMEM;
    size_t pairs = n * (n - 1) / 2;
    float *tri = malloc((pairs ? pairs : 1) * sizeof *tri);
    uint32_t *work = malloc(5 * n * sizeof *work);
    if (!tri || !work) {
        free(tri);
        free(work);
        return -ENOMEM;
    }
    struct sim_job job = {set, tri, n, (n + ROWS_PER_TILE - 1) / ROWS_PER_TILE,
                          (n + COLS_PER_TILE - 1) / COLS_PER_TILE};
    cogmem__life_parallel(threads, job.nrb * job.ncb, sim_task, &job);

    uint32_t *act = work, *pos = work + n, *size = work + 2 * n,
             *parent = work + 3 * n, *chain = work + 4 * n;
    for (uint32_t i = 0; i < n; i++) {
        act[i] = i;
        pos[i] = i;
        size[i] = 1;
        parent[i] = i;
    }
    size_t nact = n, clen = 0, cursor = 0;
#define DEACTIVATE(c)                      \
    do {                                   \
        uint32_t p_ = pos[c];              \
        act[p_] = act[--nact];             \
        pos[act[p_]] = p_;                 \
        pos[c] = UINT32_MAX;               \
    } while (0)
    while (nact > 0) {
        if (clen == 0) {
            while (pos[cursor] == UINT32_MAX)
                cursor++;
            chain[clen++] = (uint32_t)cursor;
        }
        uint32_t a = chain[clen - 1];
        uint32_t prev = clen >= 2 ? chain[clen - 2] : UINT32_MAX;
        uint32_t b = UINT32_MAX;
        float best = -INFINITY;
        if (prev != UINT32_MAX) {
            b = prev;
            best = *sim_at(tri, n, a, prev);
        }
        for (size_t q = 0; q < nact; q++) {
            uint32_t k = act[q];
            if (k == a)
                continue;
            float s = *sim_at(tri, n, a, k);
            if (s > best || (s == best && b != prev && k < b)) {
                best = s;
                b = k;
            }
        }
        if (b == UINT32_MAX || !(best >= tau)) {
            DEACTIVATE(a); /* final: nothing will ever come closer */
            clen--;
            continue;
        }
        if (b != prev) {
            chain[clen++] = b;
            continue;
        }
        clen -= 2;
        uint32_t lo = a < b ? a : b, hi = a < b ? b : a;
        double na = size[a], nb = size[b], inv = 1.0 / (na + nb);
        for (size_t q = 0; q < nact; q++) {
            uint32_t k = act[q];
            if (k == a || k == b)
                continue;
            double s = (na * (double)*sim_at(tri, n, a, k) +
                        nb * (double)*sim_at(tri, n, b, k)) * inv;
            *sim_at(tri, n, lo, k) = (float)s;
        }
        size[lo] = size[a] + size[b];
        parent[hi] = lo;
        DEACTIVATE(hi);
    }
#undef DEACTIVATE
    free(tri);
    for (uint32_t i = 0; i < n; i++)
        labels[i] = root(parent, i);
    size_t nc = cogmem__life_renumber(labels, n, work, n);
    free(work);
    return (long)nc;
}
