/* cogmem tests — fixed-seed clustered data on the unit sphere.
 * Centres uniform on S^(d-1); a member is normalize(c + s * g / sqrt(d)),
 * g ~ N(0, I); noise points are uniform. splitmix64 + Box-Muller, so the
 * bytes are the same on every machine. */
#ifndef COGMEM_TEST_FORM_GEN_H
#define COGMEM_TEST_FORM_GEN_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

static inline uint64_t gen_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline double gen_unif(uint64_t *s)
{
    return ((double)(gen_next(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static inline double gen_normal(uint64_t *s)
{
    double u = gen_unif(s), v = gen_unif(s);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static inline void gen_unit(uint64_t *s, float *x, uint32_t dim)
{
    double n = 0.0;
    for (uint32_t d = 0; d < dim; d++) {
        x[d] = (float)gen_normal(s);
        n += (double)x[d] * x[d];
    }
    float inv = (float)(1.0 / sqrt(n));
    for (uint32_t d = 0; d < dim; d++)
        x[d] *= inv;
}

/* order[0..n) = a fixed-seed permutation of 0..n-1 (Fisher-Yates). */
static inline void gen_shuffle(uint64_t seed, size_t *order, size_t n)
{
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t j = gen_next(&seed) % i, t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
}

/* n points: k clusters (cluster j gets a share proportional to j + 1, so
 * sizes vary, and spread s * (0.6 + 0.8 j / (k - 1)), so tightness varies), then `noise` uniform points (truth -1). Point i's
 * vector goes to x + i * dim, its cluster to truth[i]. */
static inline void gen_clusters(uint64_t seed, size_t n, uint32_t dim, uint32_t k,
                                double spread, size_t noise, float *x, int32_t *truth)
{
    uint64_t s = seed;
    float *c = (float *)malloc((size_t)k * dim * sizeof *c);
    for (uint32_t j = 0; j < k; j++)
        gen_unit(&s, c + (size_t)j * dim, dim);
    size_t nc = n - noise, at = 0;
    double tot = (double)k * (k + 1) / 2.0;
    for (uint32_t j = 0; j < k; j++) {
        size_t m = j + 1 == k ? nc - at : (size_t)((double)nc * (j + 1) / tot);
        double sj = spread * (0.6 + (k > 1 ? 0.8 * j / (k - 1) : 0.0));
        for (size_t q = 0; q < m; q++, at++) {
            float *v = x + at * dim;
            double nn = 0.0;
            for (uint32_t d = 0; d < dim; d++) {
                v[d] = c[(size_t)j * dim + d] + (float)(sj * gen_normal(&s) / sqrt((double)dim));
                nn += (double)v[d] * v[d];
            }
            float inv = (float)(1.0 / sqrt(nn));
            for (uint32_t d = 0; d < dim; d++)
                v[d] *= inv;
            truth[at] = (int32_t)j;
        }
    }
    for (; at < n; at++) {
        gen_unit(&s, x + at * dim, dim);
        truth[at] = -1;
    }
    free(c);
}

#endif
