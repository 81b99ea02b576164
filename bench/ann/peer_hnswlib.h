/* bench/ann — a C interface to Debian's header-only hnswlib (0.6.2), the
 * peer of cogmem's graph index. Inner-product space on unit vectors, which
 * ranks as cosine does. */
#ifndef COGMEM_BENCH_ANN_PEER_HNSWLIB_H
#define COGMEM_BENCH_ANN_PEER_HNSWLIB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hn_index hn_index;

hn_index *hn_new(unsigned dim, size_t max_elements, unsigned m, unsigned ef_construction);
void hn_free(hn_index *h);
/* hnswlib's own rules: adds may run in parallel with each other, never with
 * searches. */
void hn_add(hn_index *h, const float *v, uint64_t label);
/* ef is hnswlib's shared member: set it before searches, not during. */
void hn_set_ef(hn_index *h, unsigned ef);
/* The k nearest labels, best first; returns how many. */
size_t hn_search(hn_index *h, const float *q, unsigned k, uint64_t *labels);
/* The same two, guarded by a std::shared_mutex (adds exclusive, searches
 * shared): what a host must do to mix them. */
void hn_add_locked(hn_index *h, const float *v, uint64_t label);
size_t hn_search_locked(hn_index *h, const float *q, unsigned k, uint64_t *labels);

#ifdef __cplusplus
}
#endif

#endif
