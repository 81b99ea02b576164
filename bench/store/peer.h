/* bench/store — what the peer maps store per key, shared by the C peer
 * (rwlock) and the C++ peers (TBB, libcuckoo).
 *
 * Each peer keeps, per key, a 64-byte aligned record with the fields
 * cogmem_concept_info returns, and a pointer to a refcounted vector laid
 * out as cogmem's (a 64-byte header line, then dim floats). A lookup
 * copies the record out into a struct of cogmem_concept_info's layout; a
 * vector reference is one atomic increment taken while the map's lock
 * keeps the record stable; a write allocates and fills a new vector
 * (finite check and norm, as cogmem does), swaps it in under the map's
 * exclusive lock and drops the old one.
 *
 * Design note: the peers cache the vector's version and norm in the record
 * itself (their writers hold an exclusive lock, so they can update both at
 * once), so their info lookup reads one line. cogmem keeps them too, in
 * its record's buddy line of the same 128-byte block; neither reads the
 * vector on an info (README.md, "What each op touches").
 *
 * One header for C11 and C++17, so atomics are GCC's __atomic builtins on
 * plain integers: C++17 has no <stdatomic.h> and C has no std::atomic.
 */
#ifndef BENCH_STORE_PEER_H
#define BENCH_STORE_PEER_H

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef __cplusplus
#define PEER_ALIGN64 alignas(64)
#define PEER_STATIC_ASSERT static_assert
#else
#define PEER_ALIGN64 _Alignas(64)
#define PEER_STATIC_ASSERT _Static_assert
#endif

/* Same fields and layout as struct cogmem_concept_info. */
struct peer_info {
    uint64_t id;
    uint64_t created_ns;
    uint64_t touched_ns;
    uint32_t fan_out;
    uint32_t binding_version;
    uint32_t centroid_version;
    float activation;
    float norm;
};

/* Header of a refcounted vector; dim floats follow on the next line. */
struct peer_vec {
    PEER_ALIGN64 uint64_t refs; /* one for the record, one per reference */
    uint64_t id;
    uint32_t dim;
    uint32_t version;
    float norm;
    uint32_t pad_[9];
};
PEER_STATIC_ASSERT(sizeof(struct peer_vec) == 64, "vector header is one line");

/* The per-key record. id == 0 marks an empty slot (the rwlock map). */
struct peer_record {
    PEER_ALIGN64 uint64_t id;
    uint64_t created_ns;
    uint64_t touched_ns;
    struct peer_vec *vec;
    uint32_t fan_out;
    uint32_t binding_version;
    uint32_t centroid_version;
    float activation;
    float norm;
    uint32_t pad_[3];
};
PEER_STATIC_ASSERT(sizeof(struct peer_record) == 64, "record is one line");

static inline uint64_t peer_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The sum of squares in cogmem_sum_squares' order (cogmem_simd.h: 32
 * running double sums, i % 32 picks one, then folded pairwise), so a
 * peer's norm has the bits of cogmem's. Written here rather than called:
 * the C++ peers do not link cogmem (its jemalloc would become their
 * malloc). main.c checks the two agree before it measures anything. */
static inline double peer_sum_squares(const float *x, uint32_t n)
{
    double l[32] = {0};
    uint32_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (uint32_t j = 0; j < 32; j++)
            l[j] += (double)x[i + j] * (double)x[i + j];
    for (uint32_t j = 0; i + j < n; j++)
        l[j] += (double)x[i + j] * (double)x[i + j];
    for (uint32_t w = 16; w >= 1; w /= 2)
        for (uint32_t j = 0; j < w; j++)
            l[j] += l[j + w];
    return l[0];
}

/* A new vector with one reference and a copy of data, or NULL with *rc
 * set: -EINVAL for NaN/Inf or the zero vector, -ENOMEM. The same checks
 * and norm (double accumulation, cogmem's order) as cogmem's. */
static inline struct peer_vec *peer_vec_new(uint64_t id, uint32_t dim,
                                            const float *data, int *rc)
{
    float fin = 0.0f;
    for (uint32_t i = 0; i < dim; i++)
        fin += data[i] - data[i];
    if (fin != 0.0f) {
        *rc = -EINVAL;
        return NULL;
    }
    size_t bytes = sizeof(struct peer_vec) + ((size_t)dim * sizeof(float) + 63) / 64 * 64;
    struct peer_vec *v = (struct peer_vec *)aligned_alloc(64, bytes);
    if (!v) {
        *rc = -ENOMEM;
        return NULL;
    }
    float *d = (float *)(v + 1);
    memcpy(d, data, (size_t)dim * sizeof(float));
    double acc = peer_sum_squares(d, dim);
    v->refs = 1;
    v->id = id;
    v->dim = dim;
    v->version = 1;
    v->norm = (float)sqrt(acc);
    if (v->norm == 0.0f) {
        free(v);
        *rc = -EINVAL;
        return NULL;
    }
    *rc = 0;
    return v;
}

/* Take a reference. Relaxed: the caller holds the map's lock, which orders
 * it after the vector's publication. */
static inline void peer_vec_ref(struct peer_vec *v)
{
    __atomic_fetch_add(&v->refs, 1, __ATOMIC_RELAXED);
}

/* Drop a reference; the last one frees. Acq_rel: every holder's reads of
 * the data happen before the free. */
static inline void peer_vec_unref(struct peer_vec *v)
{
    if (__atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(v);
}

/* Fill a fresh record for id around v (which it now owns). */
static inline void peer_record_init(struct peer_record *r, uint64_t id,
                                    struct peer_vec *v)
{
    uint64_t now = peer_now_ns();
    memset(r, 0, sizeof *r);
    r->id = id;
    r->created_ns = now;
    r->touched_ns = now;
    r->vec = v;
    r->centroid_version = v->version;
    r->norm = v->norm;
}

/* Copy-out under the map's shared lock. */
static inline void peer_record_copy(const struct peer_record *r, struct peer_info *o)
{
    o->id = r->id;
    o->created_ns = r->created_ns;
    o->touched_ns = r->touched_ns;
    o->fan_out = r->fan_out;
    o->binding_version = r->binding_version;
    o->centroid_version = r->centroid_version;
    o->activation = r->activation;
    o->norm = r->norm;
}

/* Publish v as r's vector under the map's exclusive lock; returns the old
 * vector, whose reference passes to the caller (drop it after unlocking). */
static inline struct peer_vec *peer_record_swap(struct peer_record *r,
                                                struct peer_vec *v, uint64_t now)
{
    struct peer_vec *old = r->vec;
    v->version = old->version + 1;
    r->vec = v;
    r->centroid_version = v->version;
    r->norm = v->norm;
    r->touched_ns = now;
    return old;
}

#endif /* BENCH_STORE_PEER_H */
