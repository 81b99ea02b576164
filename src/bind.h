/* cogmem — internals shared by bindings, decay, spreading and ACT-R. */
#ifndef COGMEM_SRC_BIND_H
#define COGMEM_SRC_BIND_H

#include "shards/bindex.h"
#include "src/store.h"

/* CLOCK_REALTIME_COARSE in ns: the time stamp of binding touches. A vDSO
 * read of the coarse clock costs a few ns where the precise one costs ~20,
 * and millisecond resolution is plenty for decay measured in seconds. */
uint64_t cogmem__coarse_ns(void);

/* The LIVE node `id` of `kind`, or NULL. Caller holds the RCU read lock. */
static inline struct cogmem__node *cogmem__find_live(cogmem_store *st,
                                                     enum cogmem_kind kind,
                                                     uint64_t id)
{
    return cogmem__set_find(cogmem__set_of(st, kind), id, cogmem__hash(st, id),
                            COGMEM__FIND_LIVE);
}

/* A concept's / an episode's binding list (see cogmem__blist_get). */
static inline struct cogmem__blist *cogmem__clist(cogmem_store *st,
                                                  struct cogmem__node *n,
                                                  int create, int *enomem)
{
    return cogmem__blist_get_in(n, &st->mem, COGMEM__MEM_CONCEPT, 1, create, enomem,
                                &st->breg);
}

static inline struct cogmem__blist *cogmem__elist(cogmem_store *st,
                                                  struct cogmem__node *n,
                                                  int create, int *enomem)
{
    return cogmem__blist_get(n, &st->mem, COGMEM__MEM_EPISODE, 0, create, enomem);
}

/* Relaxed: the count is exact under the list's lock, which the writer
 * holds; lock-free readers want a recent value, not an ordering. */
static inline void cogmem__set_fan(struct cogmem__node *n, uint32_t fan)
{
    atomic_store_explicit(&n->fan, fan, memory_order_relaxed);
}

static inline void cogmem__bind_count(cogmem_store *st, uint64_t concept,
                                      int64_t delta)
{
    atomic_fetch_add_explicit(
        &st->bshard[cogmem__shard_of(cogmem__hash(st, concept))].bindings,
        delta, memory_order_relaxed);
}

/* The concept side of binding (concept, episode) is being removed by a
 * caller that holds the concept list's lock: remove `concept` from the
 * episode's list (if the episode is live and its list not dead) and update
 * its fan-in. Caller holds the RCU read lock. */
void cogmem__drop_episode_side(cogmem_store *st, uint64_t concept,
                               uint64_t episode);

/* B_i of node n at now_ns into *b; 0 (and *b untouched) when the node has
 * no presentations, 1 otherwise. Caller holds the RCU read lock. */
int cogmem__base_level(cogmem_store *st, struct cogmem__node *n,
                       uint64_t now_ns, double *b);

#endif /* COGMEM_SRC_BIND_H */
