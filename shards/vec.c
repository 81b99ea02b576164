/* cogmem — refcounted embeddings (see vec.h). */
#include "shards/vec.h"

#include <math.h>
#include <stddef.h>

#include "cogmem_simd.h"
#include "shards/kind.h"
#include "shards/route.h"

struct cogmem_vec *cogmem__vec_alloc(struct cogmem__kind *k, uint64_t id,
                                     uint64_t hash, uint32_t dim)
{
    (void)dim; /* always the slab's (the store's) dimension */
    struct cogmem_vec *v = cogmem__slab_alloc(&k->slab);
    if (v)
        cogmem__vec_init(k, v, id, hash);
    return v;
}

void cogmem__vec_init(struct cogmem__kind *k, struct cogmem_vec *v, uint64_t id,
                      uint64_t hash)
{
    /* A store, not atomic_init: a stale free-list popper may still be
     * reading this word (slab.c). */
    atomic_store_explicit(&v->refs, 1, memory_order_relaxed);
    atomic_store_explicit(&v->id, id, memory_order_relaxed);
    v->kind = k;
    v->dim = k->slab.dim;
    v->norm = 0.0f;
    v->version = 1;
    v->shard = cogmem__shard_of(hash);
}

float *cogmem__vec_data(struct cogmem_vec *v)
{
    return cogmem__slab_data_of(&v->kind->slab, v, v->row);
}

void cogmem__vec_seal(struct cogmem_vec *v)
{
    /* Double accumulation: the norm is computed once and used by every
     * cosine afterwards, so it is worth being exact to float precision.
     * The public kernel, not a loop here: a serial double sum waits out
     * one add's latency per element (it was half of a set_centroid at
     * dim 768), and the kernel's order is the same on every ISA, so a
     * vector's norm does not depend on the CPU that wrote it. */
    cogmem__vec_seal_sumsq(v, cogmem_sum_squares(cogmem__vec_data(v), v->dim));
}

void cogmem__vec_seal_sumsq(struct cogmem_vec *v, double sumsq)
{
    v->norm = (float)sqrt(sumsq);
}

void cogmem__vec_free_now(struct cogmem_vec *v)
{
    cogmem__slab_free(&v->kind->slab, v);
}

static void vec_reclaim(struct rcu_head *head)
{
    COGMEM__RCU_RECLAIM_BEGIN();
    struct cogmem_vec *v = caa_container_of(head, struct cogmem_vec, rcu);
    /* The kind outlives every callback (the store's memory is held). */
    struct cogmem__mem *mem = v->kind->mem;
    cogmem__ctr_bump_always(v->kind, v->shard, COGMEM__CTR_DEFER_DONE);
    cogmem__vec_free_now(v);
    COGMEM__RCU_RECLAIM_END(mem);
}

void cogmem__vec_unref(struct cogmem_vec *v)
{
    /* Release: our reads of the data happen before the free; acquire (on
     * the last drop): every other holder's reads happen before it too. */
    if (atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) == 1) {
        cogmem__ctr_bump_always(v->kind, v->shard, COGMEM__CTR_DEFER_QUEUED);
        cogmem__rcu_defer(v->kind->mem, &v->rcu, vec_reclaim);
    }
}

void cogmem__vec_unref_quiesced(struct cogmem_vec *v)
{
    /* acq_rel as in cogmem__vec_unref: other holders' reads of the data
     * happen before the free. */
    if (atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) == 1)
        cogmem__vec_free_now(v);
}
