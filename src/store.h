/* cogmem — the store object and helpers shared by src/ (internal). */
#ifndef COGMEM_SRC_STORE_H
#define COGMEM_SRC_STORE_H

#include <errno.h>
#include <stdalign.h>
#include <stdint.h>
#include <string.h>

#include "cogmem.h"
#include "numa/mem.h"
#include "shards/bindex.h"
#include "shards/node.h"
#include "shards/reclaim.h"
#include "shards/set.h"
#include "shards/vec.h"
#include "src/stats_cells.h"

/* Bindings per shard of their concept: one line each, so binders of
 * different shards never share a counter's line. */
struct cogmem__bshard {
    alignas(64) _Atomic int64_t bindings;
};

struct cogmem_store {
    struct cogmem__set sets[2]; /* [0] concepts, [1] episodes */
    struct cogmem__mem mem;
    uint32_t dim;
    cogmem_config cfg;
    struct cogmem__bshard bshard[COGMEM__NSHARDS];
    struct cogmem__breg breg; /* every concept binding list, for decay (bindex.h) */
    int numa_fallback; /* enum cogmem_numa_fallback */
    struct cogmem__stats stats;
    struct cogmem__persist *persist; /* NULL without cfg.path (src/persist/) */
    struct cogmem__ann *ann[2]; /* graph indexes per kind, NULL without cfg.index (src/ann_hooks.c) */
};

/* Statistics hooks (see src/stats_cells.h): one line at each counted place.
 *
 * Count ev, if counters are on, on stripe `slot`, which must be the
 * calling thread's own (what cogmem__stripe() returns it, e.g. the slot
 * its outermost list lock counted on: cogmem__spin_tls.slot while it
 * holds one). A plain increment of the thread's own stripe
 * (shards/kind.h: cogmem__ctr_inc; a locked add only on the shared
 * overflow stripe): a locked add here waited for the caller's stores to
 * drain, which measured as a tenth of a binding adjust. Exact at
 * quiescence. */
static inline void cogmem__stats_event_on(cogmem_store *st, enum cogmem__event ev,
                                          unsigned slot)
{
    if (st->stats.flags & COGMEM_STATS_COUNTERS)
        cogmem__ctr_inc(&st->stats.ev[slot].v[ev], slot);
}

/* The same on the calling thread's stripe. The flag is tested first so
 * that a store without counters does not look its stripe up (the second
 * test, of the same plain field, folds away). */
static inline void cogmem__stats_event(cogmem_store *st, enum cogmem__event ev)
{
    if (st->stats.flags & COGMEM_STATS_COUNTERS)
        cogmem__stats_event_on(st, ev, cogmem__stripe());
}

/* The same, n events at once. */
static inline void cogmem__stats_add(cogmem_store *st, enum cogmem__event ev, uint64_t n)
{
    if (n && (st->stats.flags & COGMEM_STATS_COUNTERS))
        atomic_fetch_add_explicit(&st->stats.ev[cogmem__stripe()].v[ev], n,
                                  memory_order_relaxed);
}

static inline uint64_t cogmem__lat_begin(cogmem_store *st)
{
    return cogmem__lat_begin_s(&st->stats);
}

static inline void cogmem__lat_end(cogmem_store *st, enum cogmem_stats_op op,
                                   uint64_t t0)
{
    cogmem__lat_end_s(&st->stats, op, t0);
}

/* The hash of an id in this store (seeded per store: shards/route.h). */
static inline uint64_t cogmem__hash(const cogmem_store *st, uint64_t id)
{
    return cogmem__hash_id(st->sets[0].kind.hash_seed, id);
}

/* A single-id lookup in set s: a hit or a miss of the id's shard. */
static inline void cogmem__note_lookup(struct cogmem__set *s, uint64_t hash, int hit)
{
    cogmem__ctr_bump(&s->kind, cogmem__shard_of(hash), hit ? COGMEM__CTR_HIT : COGMEM__CTR_MISS);
}

static inline struct cogmem__set *cogmem__set_of(cogmem_store *st,
                                                 enum cogmem_kind kind)
{
    return &st->sets[kind == COGMEM_EPISODE];
}

static inline int cogmem__kinds_ok(unsigned kinds)
{
    return kinds != 0 && (kinds & ~(unsigned)COGMEM_ALL_KINDS) == 0;
}

/* Versioned structs (cogmem.h: "structs begin with struct_size so they can
 * grow"): a caller compiled against an older, smaller struct passes its
 * own size, which must be at least the first published one (`v1`). Fill
 * *full (sizeof full_size) with defaults first; this copies only the bytes
 * inside the caller's struct, so later fields keep their defaults. */
static inline int cogmem__struct_in(void *full, size_t full_size, const void *in,
                                    size_t in_size, size_t v1)
{
    if (in_size < v1)
        return -EINVAL;
    memcpy(full, in, in_size < full_size ? in_size : full_size);
    *(size_t *)full = full_size;
    return 0;
}

/* The other way, for a result struct: write only the bytes inside the
 * caller's struct (whose size was checked against v1), keeping its own
 * struct_size. */
static inline void cogmem__struct_out(void *out, const void *full, size_t full_size)
{
    size_t want = *(const size_t *)out;
    memcpy((char *)out + sizeof(size_t), (const char *)full + sizeof(size_t),
           (want < full_size ? want : full_size) - sizeof(size_t));
}

/* CLOCK_REALTIME in ns. */
uint64_t cogmem__now_ns(void);

/* -EINVAL unless v holds dim finite floats. */
int cogmem__check_finite(const float *v, uint32_t dim);

/* The same test for a vector about to be stored, and its sum of squares:
 * -EINVAL (NULL, NaN or Inf), else 0 with *sumsq = cogmem_sum_squares(v,
 * dim), which the stored copy's norm is sealed from
 * (cogmem__vec_seal_sumsq). One pass over the caller's floats does both:
 * the double sum of finite floats is finite (dim * FLT_MAX^2 is far below
 * DBL_MAX), and a NaN or an Inf makes it NaN or +Inf. */
int cogmem__check_vector(const float *v, uint32_t dim, double *sumsq);

/* n's current vector with one reference taken, or NULL once n is removed.
 * A count already at zero is a vector a replacement is retiring: reload
 * the node's pointer, which then names its successor. Caller holds the
 * RCU read lock, which keeps each vector tried valid during the attempt. */
static inline struct cogmem_vec *cogmem__node_vec_ref(struct cogmem__node *n)
{
    for (;;) {
        /* Acquire: pairs with the release that published the vector. */
        struct cogmem_vec *v = atomic_load_explicit(&n->vec, memory_order_acquire);
        if (!v || cogmem__vec_tryget(v))
            return v;
    }
}

/* Write v's bfloat16 copy when its slab keeps one (cfg.bf16_rows); with
 * the data, before publication. */
static inline void cogmem__vec_fill_bf16(struct cogmem_vec *v)
{
    uint16_t *b = cogmem__slab_bf16_of(&v->kind->slab, v, v->row);
    if (b)
        cogmem_f32_to_bf16(cogmem__vec_data(v), v->dim, b);
}

/* After cogmem__vec_seal or _seal_sumsq: -EINVAL for a zero vector,
 * -ERANGE when the norm overflows float. */
int cogmem__check_norm(const struct cogmem_vec *v);

/* A sealed, unpublished copy of data for node id, or a negative errno
 * (-EINVAL, -ERANGE, -ENOMEM) in *rc. sumsq: data's, from
 * cogmem__check_vector. */
struct cogmem_vec *cogmem__vec_from(cogmem_store *st, struct cogmem__set *s,
                                    uint64_t id, uint64_t hash,
                                    const float *data, double sumsq, int *rc);

/* Add a node of `kind` (validated arguments: data and its sumsq as
 * cogmem__check_vector gave them). `stamp`: created_ns for a concept, the
 * host's time for an episode. */
int cogmem__node_add(cogmem_store *st, enum cogmem_kind kind, uint64_t id,
                     const float *data, double sumsq, uint64_t stamp);

/* Unbind every binding of node n (id `id`) of `kind`, which the caller has
 * just turned DEAD and not yet retired (src/bind.c). Never fails. */
void cogmem__bind_node_removed(cogmem_store *st, enum cogmem_kind kind,
                               struct cogmem__node *n, uint64_t id);

/* Remove a LIVE node of `kind`. 0 or -ENOENT. */
int cogmem__node_remove(cogmem_store *st, enum cogmem_kind kind, uint64_t id);

/* The graph indexes' part of the store's life (src/ann_hooks.c): the
 * cfg.index_* defaults and their check; with cfg.index, creating both
 * kinds' indexes and linking every node the store already holds (called
 * once by cogmem_open after recovery: the index is rebuilt, not loaded;
 * 0 or -ENOMEM, then the caller closes the store); and cogmem_close's
 * two halves: drop the indexes' vector references before the RCU
 * barrier, free the indexes after it. */
void cogmem__ann_config_defaults(cogmem_config *c);
int cogmem__ann_config_ok(const cogmem_config *c);
int cogmem__ann_open(cogmem_store *st);
void cogmem__ann_close_release(cogmem_store *st);
void cogmem__ann_close_free(cogmem_store *st);

/* One snapshot of every statistic of the store (cogmem_stats_get,
 * cogmem_stats_format; src/stats.c). */
int cogmem__stats_read(cogmem_store *st, cogmem_stats *out);

#endif /* COGMEM_SRC_STORE_H */
