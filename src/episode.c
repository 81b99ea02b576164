/* cogmem — episodes: add, info, remove. */
#include <errno.h>

#include "src/persist/hooks.h"
#include "src/store.h"

int cogmem_episode_add(cogmem_store *store, uint64_t id, const float *embedding,
                       uint64_t time_ns)
{
    if (!store || id == 0)
        return -EINVAL;
    COGMEM__PERSIST_GATE(store, cogmem__pj_episode_add(store, id, embedding, time_ns));
    double sumsq;
    int rc = cogmem__check_vector(embedding, store->dim, &sumsq);
    if (rc)
        return rc;
    return cogmem__node_add(store, COGMEM_EPISODE, id, embedding, sumsq, time_ns);
}

int cogmem_episode_remove(cogmem_store *store, uint64_t id)
{
    if (!store || id == 0)
        return -EINVAL;
    COGMEM__PERSIST_GATE(store, cogmem__pj_remove(store, COGMEM_EPISODE, id));
    return cogmem__node_remove(store, COGMEM_EPISODE, id);
}

int cogmem_episode_info(cogmem_store *store, uint64_t id, struct cogmem_episode_info *out)
{
    if (!store || id == 0 || !out)
        return -EINVAL;
    uint64_t t0 = cogmem__lat_begin(store);
    uint64_t hash = cogmem__hash(store, id);
    int rc = -ENOENT;
    cogmem__rcu_lock();
    struct cogmem__node *n = cogmem__set_find(&store->sets[1], id, hash,
                                              COGMEM__FIND_LIVE);
    /* The record's line only (see concept.c's copy_info). */
    if (n && atomic_load_explicit(&n->state, memory_order_relaxed) == COGMEM__LIVE) {
        out->id = id;
        out->time_ns = atomic_load_explicit(&n->stamp, memory_order_relaxed);
        out->fan_in = atomic_load_explicit(&n->fan, memory_order_relaxed);
        out->strength = cogmem__u2f(
            atomic_load_explicit(&n->strength_bits, memory_order_relaxed));
        out->activation = cogmem__u2f(
            atomic_load_explicit(&n->activation_bits, memory_order_relaxed));
        out->norm = cogmem__u2f((uint32_t)cogmem__node_normver(n));
        rc = 0;
    }
    cogmem__rcu_unlock();
    cogmem__note_lookup(&store->sets[1], hash, rc == 0);
    cogmem__lat_end(store, COGMEM_OP_LOOKUP, t0);
    return rc;
}
