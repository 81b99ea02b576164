/* cogmem — node allocation and reclamation (see node.h). */
#include "shards/node.h"

#include "shards/bindex.h"

#include "shards/set.h"
#include "shards/vec.h"

struct cogmem__node *cogmem__node_new(struct cogmem__set *s,
                                      struct cogmem_vec *vec)
{
    struct cogmem__node_mem *m =
        cogmem__mem_alloc(s->mem, s->mem_kind, sizeof *m);
    if (!m)
        return NULL;
    struct cogmem__node *n = &m->rec;
    cds_lfht_node_init(&n->lfn);
    atomic_init(&n->id, 0);
    atomic_init(&n->vec, vec);
    atomic_init(&n->state, COGMEM__PENDING);
    atomic_init(&n->fan, 0);
    atomic_init(&n->activation_bits, cogmem__f2u(0.0f));
    atomic_init(&n->bind_version, 0);
    atomic_init(&n->stamp, 0);
    atomic_init(&n->touched_ns, 0);
    m->set = s;
    atomic_init(&m->bind, NULL);
    atomic_init(&m->pres, NULL);
    return n;
}

static struct cogmem__node_mem *mem_of(struct cogmem__node *n)
{
    return caa_container_of(n, struct cogmem__node_mem, rec);
}

void cogmem__node_free_now(struct cogmem__node *n)
{
    struct cogmem__node_mem *m = mem_of(n);
    /* Called only where no reader can reach the node any more (never
     * linked, a grace period after unlinking, or a store being closed), so
     * nobody can be taking a reference to its vector either. */
    struct cogmem_vec *v = atomic_load_explicit(&n->vec, memory_order_relaxed);
    if (v)
        cogmem__vec_unref_quiesced(v);
    cogmem__side_free_now(m, m->set->mem);
    cogmem__mem_free(m->set->mem, m->set->mem_kind, m, sizeof *m);
}

/* Count a node's deferred free in its id's shard. */
static void defer_ctr(struct cogmem__node_mem *m, enum cogmem__ctr c)
{
    uint64_t id = atomic_load_explicit(&m->rec.id, memory_order_relaxed);
    cogmem__ctr_bump_always(m->set, cogmem__shard_of(cogmem__hash_id(id)), c);
}

static void node_reclaim(struct rcu_head *head)
{
    COGMEM__RCU_RECLAIM_BEGIN();
    struct cogmem__node_mem *m = caa_container_of(head, struct cogmem__node_mem, rcu);
    /* The set outlives every callback (close waits for them). */
    defer_ctr(m, COGMEM__CTR_DEFER_DONE);
    cogmem__node_free_now(&m->rec);
    /* It may have returned its vector's row to the slab (see rcu.h). */
    COGMEM__RCU_RECLAIM_END();
}

void cogmem__node_retire(struct cogmem__node *n)
{
    defer_ctr(mem_of(n), COGMEM__CTR_DEFER_QUEUED);
    cogmem__rcu_defer(&mem_of(n)->rcu, node_reclaim);
}
