/* cogmem — internals of formation and forgetting (src/life/). */
#ifndef COGMEM_SRC_LIFE_H
#define COGMEM_SRC_LIFE_H

#include <stddef.h>
#include <stdint.h>

#include "cogmem_life.h"
#include "src/store.h"

/* Validated params with defaults for the fields `in` lacks (in NULL:
 * defaults). 0 or -EINVAL. */
int cogmem__life_form_params_in(const cogmem_form_params *in, cogmem_form_params *p);

/* The episodes a formation clusters: ids ascending, their unit embeddings
 * one per row (stride floats, 64-byte aligned rows). */
struct cogmem__life_set {
    size_t n;
    uint32_t dim;
    size_t stride;
    uint64_t *ids;
    float *x;
};

int cogmem__life_gather(cogmem_store *st, const cogmem_form_params *p,
                        struct cogmem__life_set *set);
void cogmem__life_set_free(struct cogmem__life_set *set);

/* Run task(arg, t) for t in [0, ntasks) on up to nt threads (the caller's
 * plus threads started for the call with every signal blocked, joined
 * before return). Which thread runs which task is not fixed: tasks must
 * write disjoint memory, so results never depend on it. */
void cogmem__life_parallel(unsigned nt, size_t ntasks,
                           void (*task)(void *arg, size_t t), void *arg);

/* Threads to use for a params value (0 = online CPUs), capped. */
unsigned cogmem__life_threads(uint32_t want);

/* The tile product every similarity goes through: for i in [i0, i1) and
 * j in [j0, j1), dst[i - i0][j - j0] = x_i . x_j (rows of x, stride
 * floats). Each entry is one dot of the public kernel with a fixed
 * reduction order, whatever tile it is computed in, so results do not
 * depend on the tiling or on threads. The one place to switch to a
 * register-blocked multi-query kernel. */
void cogmem__life_tile(const float *x, size_t stride, uint32_t dim,
                       size_t i0, size_t i1, const float *y, size_t j0,
                       size_t j1, float *const *dst);

/* The pairwise similarities of rows [i0, i1) x [j0, j1) of one set through
 * the register-blocked cogmem_dot_block: out[(i - i0) * (j1 - j0) + j - j0]
 * = x_i . x_j. An entry's rounding depends on its place in the block, so a
 * caller that needs run-to-run identical results must use a tile grid fixed
 * by the data alone (hac.c's is). */
void cogmem__life_block(const float *x, size_t stride, uint32_t dim, size_t i0,
                        size_t i1, size_t j0, size_t j1, float *out);

/* Exact average-linkage clustering of set (threshold tau): labels[i] is
 * the cluster of row i, clusters numbered 0.. by smallest row. Returns the
 * number of clusters, or -ENOMEM. */
long cogmem__life_hac(const struct cogmem__life_set *set, float tau,
                      unsigned threads, uint32_t *labels);

/* Deterministic DP-means (see cogmem_life.h); same output contract. */
long cogmem__life_dpmeans(const struct cogmem__life_set *set, float tau,
                          uint32_t passes, unsigned threads, uint32_t *labels);

/* Renumber labels so clusters are numbered by their smallest row. */
size_t cogmem__life_renumber(uint32_t *labels, size_t n, uint32_t *scratch,
                             size_t nlab);

#endif /* COGMEM_SRC_LIFE_H */
