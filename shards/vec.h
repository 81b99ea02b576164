/* cogmem — immutable, refcounted, 64-byte aligned embeddings.
 *
 * A vector is written once, before it is published (stored in a node with
 * release), and never again: readers need no lock to use its data, and a
 * replacement is a new vector. `refs` counts one reference for being the
 * node's current vector plus one per cogmem_vec_get(). The memory is freed
 * by an RCU callback after refs reaches zero, because a reader may have
 * loaded the pointer from the node just before it was unpublished and still
 * be about to try to take a reference (it fails on zero and reloads).
 *
 * Every vector is a row of its kind's slab (shards/slab.h, which owns the
 * row header, struct cogmem_vec): the free is the
 * row's return to the slab's free list, and `state` tells a recall scan
 * whether the row counts (see slab.h for the states).
 */
#ifndef COGMEM_SHARDS_VEC_H
#define COGMEM_SHARDS_VEC_H

#include <stdatomic.h>
#include <stdint.h>

#include "shards/rcu.h"
#include "shards/slab.h"

struct cogmem__kind;

static inline uint64_t cogmem__vec_id(const struct cogmem_vec *v)
{
    return atomic_load_explicit(&((struct cogmem_vec *)v)->id, memory_order_relaxed);
}

/* The vector's dim floats: in its slab chunk's data region, apart from
 * the header (shards/slab.h). Constant for the vector's life. */
float *cogmem__vec_data(struct cogmem_vec *v);

/* A new, unpublished vector with one reference and uninitialised data (the
 * caller fills it and calls cogmem__vec_seal). NULL when out of memory. */
struct cogmem_vec *cogmem__vec_alloc(struct cogmem__kind *k, uint64_t id,
                                     uint64_t hash, uint32_t dim);

/* Set up the header of a row just taken from k's slab (allocated, or a
 * mapped row, shards/slab.h) as cogmem__vec_alloc does: one reference,
 * version 1, norm 0. */
void cogmem__vec_init(struct cogmem__kind *k, struct cogmem_vec *v, uint64_t id,
                      uint64_t hash);

/* Mark a published vector CURRENT, unless a remover or replacer already
 * retired it (then it stays retired). Release: a scanner that sees CURRENT
 * sees the data and header. */
static inline void cogmem__vec_mark_current(struct cogmem_vec *v)
{
    uint32_t expect = COGMEM__ROW_UNPUB;
    atomic_compare_exchange_strong_explicit(&v->state, &expect,
                                            COGMEM__ROW_CURRENT,
                                            memory_order_release,
                                            memory_order_relaxed);
}

/* Mark a vector taken out of its node (COGMEM__ROW_REPLACED or
 * COGMEM__ROW_REMOVED). Release: a scanner that sees the mark and then
 * looks the node up sees the node's newer state. */
static inline void cogmem__vec_mark_retired(struct cogmem_vec *v, uint32_t how)
{
    atomic_store_explicit(&v->state, how, memory_order_release);
}

/* Compute and store the norm after the data is written. */
void cogmem__vec_seal(struct cogmem_vec *v);

/* The same from `sumsq`, cogmem_sum_squares() of the data, which the
 * caller computed over the very floats it copied in (equal bits give the
 * equal sum): a copy's source is in the caller's cache, while the copy's
 * lines may still be on their way in for its stores. */
void cogmem__vec_seal_sumsq(struct cogmem_vec *v, double sumsq);

/* Free a vector that was never published (no reader can know it). */
void cogmem__vec_free_now(struct cogmem_vec *v);

/* Take a reference unless the count already dropped to zero (then the
 * vector is being retired: reload the node's pointer). Caller holds the RCU
 * read lock, which keeps the memory valid during the attempt. */
static inline int cogmem__vec_tryget(struct cogmem_vec *v)
{
    uint64_t r = atomic_load_explicit(&v->refs, memory_order_relaxed);
    do {
        if (r == 0)
            return 0;
        /* Relaxed success: the data was published by the node pointer's
         * release store, which the caller's acquire load already saw. */
    } while (!atomic_compare_exchange_weak_explicit(
        &v->refs, &r, r + 1, memory_order_relaxed, memory_order_relaxed));
    return 1;
}

/* Drop a reference; the last one schedules the free after a grace period. */
void cogmem__vec_unref(struct cogmem_vec *v);

/* Drop a reference when a grace period has already passed since the vector
 * stopped being reachable from any node (a node's own reclaim, or a store
 * being closed): no reader can be about to take a reference, so the last
 * one frees at once. Deferring again from a reclaim callback would queue a
 * callback that cogmem_close()'s rcu_barrier() does not wait for. */
void cogmem__vec_unref_quiesced(struct cogmem_vec *v);

#endif /* COGMEM_SHARDS_VEC_H */
