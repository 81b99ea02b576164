/* cogmem — node reclamation (see reclaim.h). */
#include "shards/reclaim.h"

#include "shards/bindex.h"
#include "shards/kind.h"
#include "shards/route.h"
#include "shards/vec.h"

void cogmem__node_free_now(struct cogmem__node *n)
{
    struct cogmem__node_mem *m = cogmem__node_mem_of(n);
    /* Called only where no reader can reach the node any more (never
     * linked, a grace period after unlinking, or a store being closed), so
     * nobody can be taking a reference to its vector either. */
    struct cogmem_vec *v = atomic_load_explicit(&n->vec, memory_order_relaxed);
    if (v)
        cogmem__vec_unref_quiesced(v);
    cogmem__side_free_now(m, m->kind->mem);
    cogmem__node_mem_free(m); /* its home position, or the allocator */
}

/* Count a node's deferred free in its id's shard. */
static void defer_ctr(struct cogmem__node_mem *m, enum cogmem__ctr c)
{
    uint64_t id = atomic_load_explicit(&m->rec.id, memory_order_relaxed);
    cogmem__ctr_bump_always(m->kind, cogmem__shard_of(cogmem__hash_id(m->kind->hash_seed, id)), c);
}

static void node_reclaim(struct rcu_head *head)
{
    COGMEM__RCU_RECLAIM_BEGIN();
    struct cogmem__node_mem *m = caa_container_of(head, struct cogmem__node_mem, rcu);
    /* The kind outlives every callback (the store's memory is held). */
    struct cogmem__mem *mem = m->kind->mem;
    defer_ctr(m, COGMEM__CTR_DEFER_DONE);
    cogmem__node_free_now(&m->rec);
    /* It may have returned its vector's row to the slab (see rcu.h). */
    COGMEM__RCU_RECLAIM_END(mem);
}

void cogmem__node_retire(struct cogmem__node *n)
{
    struct cogmem__node_mem *m = cogmem__node_mem_of(n);
    defer_ctr(m, COGMEM__CTR_DEFER_QUEUED);
    cogmem__rcu_defer(m->kind->mem, &m->rcu, node_reclaim);
}
