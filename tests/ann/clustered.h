/* cogmem tests and bench/ann — fixed-seed clustered vectors.
 *
 * Uniform random vectors are pathological for graph indexes (no
 * neighbourhood structure); real embeddings have a low intrinsic
 * dimension. So: `nclusters` Gaussian centres in an intrinsic space of
 * min(64, dim / 2) dimensions, points scattered around them, a fixed random
 * linear map to `dim`, a little full-dimensional noise, then unit norm.
 * Same seed, same data, on every machine (xorshift + Box-Muller in double).
 */
#ifndef COGMEM_TESTS_ANN_CLUSTERED_H
#define COGMEM_TESTS_ANN_CLUSTERED_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct clu_rng {
    uint64_t s;
};

static inline double clu_uniform(struct clu_rng *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return ((double)(r->s >> 11) + 0.5) * 0x1p-53;
}

static inline double clu_gauss(struct clu_rng *r)
{
    return sqrt(-2.0 * log(clu_uniform(r))) * cos(6.283185307179586 * clu_uniform(r));
}

struct clu_gen {
    uint32_t dim, idim, nclusters;
    float spread; /* a point's scatter around its centre (centres: unit normal) */
    float *map;     /* idim x dim */
    float *centres; /* nclusters x idim */
    struct clu_rng rng;
};

/* 0, or -1 when out of memory. `spread` 0.5 gives well separated
 * clusters (easy), 1.0 overlapping ones. */
static inline int clu_init(struct clu_gen *g, uint32_t dim, uint32_t nclusters, float spread,
                           uint64_t seed)
{
    g->spread = spread;
    g->dim = dim;
    g->idim = dim / 2 < 64 ? (dim / 2 ? dim / 2 : 1) : 64;
    g->nclusters = nclusters;
    g->rng.s = seed * 0x9E3779B97F4A7C15ull + 1;
    g->map = malloc(sizeof(float) * g->idim * dim);
    g->centres = malloc(sizeof(float) * g->idim * nclusters);
    if (!g->map || !g->centres) {
        free(g->map);
        free(g->centres);
        return -1;
    }
    for (size_t i = 0; i < (size_t)g->idim * dim; i++)
        g->map[i] = (float)(clu_gauss(&g->rng) / sqrt((double)g->idim));
    for (size_t i = 0; i < (size_t)g->idim * nclusters; i++)
        g->centres[i] = (float)clu_gauss(&g->rng);
    return 0;
}

/* One point into out[dim]. */
static inline void clu_point(struct clu_gen *g, float *out)
{
    float z[64];
    uint32_t c = (uint32_t)(clu_uniform(&g->rng) * g->nclusters) % g->nclusters;
    for (uint32_t j = 0; j < g->idim; j++)
        z[j] = g->centres[(size_t)c * g->idim + j] + g->spread * (float)clu_gauss(&g->rng);
    double n = 0.0;
    for (uint32_t d = 0; d < g->dim; d++) {
        float x = 0.05f * (float)clu_gauss(&g->rng);
        for (uint32_t j = 0; j < g->idim; j++)
            x += z[j] * g->map[(size_t)j * g->dim + d];
        out[d] = x;
        n += (double)x * x;
    }
    float inv = (float)(1.0 / sqrt(n));
    for (uint32_t d = 0; d < g->dim; d++)
        out[d] *= inv;
}

static inline void clu_fini(struct clu_gen *g)
{
    free(g->map);
    free(g->centres);
}

#endif /* COGMEM_TESTS_ANN_CLUSTERED_H */
