/* cogmem — the binding index: per-node binding lists and presentation
 * histories, hung off the node record's cold line.
 *
 * Sharding: a concept's binding list is reached through its node, which
 * lives in one of the concept set's sixteen shards (route.h), so the index
 * is sharded sixteen ways by concept id with no second hash table to keep in
 * step with the first; per-shard binding counters live in struct
 * cogmem__bstats (src/store.h).
 *
 * A concept's list is a structure of arrays (episode ids, strengths, touch
 * and decay times, creation times) so that decay runs the SIMD kernels
 * straight over `strength`; an episode's list holds only concept ids (the
 * strength lives once, on the concept side). Lists with more than
 * COGMEM__BLIST_HASH_MIN entries also carry an open-addressing index
 * peer id -> slot, so that finding one binding is O(1) at any fan-out.
 *
 * Concurrency: every access to a list's contents holds its spinlock. The
 * lock is per node, held for a handful of instructions (or one SIMD pass
 * over one concept's strengths during decay), and the only nesting is
 * concept list -> episode list, so there is no deadlock. Once `dead` is set
 * (under the lock, by the node's removal) nobody but the remover touches
 * the contents again. The list object itself is freed after an RCU grace
 * period, so a thread that loaded the pointer inside a read-side section
 * may still lock it and find it dead.
 *
 * A spinlock (C11 atomics, visible to ThreadSanitizer) rather than a
 * pthread mutex: the critical sections are shorter than a futex round trip,
 * and a record per node cannot afford 40 bytes of mutex.
 */
#ifndef COGMEM_SHARDS_BINDEX_H
#define COGMEM_SHARDS_BINDEX_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

#include "numa/mem.h"
#include "shards/kind.h"
#include "shards/node.h"

/* Marks a side slot of a removed node: nothing may be attached any more. */
#define COGMEM__SIDE_GONE ((void *)(uintptr_t)1)

/* Lists at least this long get the peer -> slot hash index. */
#define COGMEM__BLIST_HASH_MIN 16u

struct cogmem__blist {
    alignas(64) _Atomic uint32_t lock;
    uint32_t dead;       /* set once, under the lock, by the node's removal */
    uint32_t n;          /* bindings */
    uint32_t cap;
    uint32_t hmask;      /* hash index size - 1, or 0 without an index */
    uint32_t values;     /* 1: concept side (strength and times kept) */
    enum cogmem__mem_kind kind;
    uint64_t *peer;      /* cap ids */
    float *strength;     /* cap, concept side only */
    uint64_t *touched;   /* last bind/adjust (ns), concept side only */
    uint64_t *decayed;   /* strength is current as of this time (ns) */
    uint64_t *created;   /* bind time (ns) */
    uint32_t *hslot;     /* hmask + 1 entries: slot + 1, 0 = empty */
    size_t bytes;        /* size of the block holding the arrays */
    struct rcu_head rcu;
    struct cogmem__mem *mem;
};

/* ACT-R presentation history: the most recent COGMEM__PRES_MAX
 * presentation times (a ring), how many there were in all, and the first. */
#define COGMEM__PRES_MAX 32u
struct cogmem__presentations {
    alignas(64) _Atomic uint32_t lock;
    uint32_t head;       /* next ring slot */
    uint64_t total;      /* presentations ever recorded */
    uint64_t first_ns;
    uint64_t t[COGMEM__PRES_MAX];
    struct rcu_head rcu;
    struct cogmem__mem *mem;
    enum cogmem__mem_kind kind;
};

static inline struct cogmem__node_mem *cogmem__node_mem_of(struct cogmem__node *n)
{
    return caa_container_of(n, struct cogmem__node_mem, rec);
}

/* List locks. Each thread counts the ones it holds (nesting depth here,
 * and a cell of its counter stripe for fork(): shards/rcu.h, the list
 * gate), so that fork() waits until none is held and a child can use
 * every list. */
extern _Thread_local unsigned cogmem__spin_depth;

void cogmem__spin_lock(_Atomic uint32_t *l);

/* One more (+1) or one fewer (-1) list lock held on the stripe `slot`. A
 * plain load and store where the thread owns the stripe (its only
 * writer), a read-modify-write in the shared slot. Release on the way
 * down: the section, and the lock word's release, happen before a fork
 * that sees the cell at 0. */
static inline void cogmem__fork_cell_add(unsigned slot, int64_t d)
{
    _Atomic uint64_t *c = &cogmem__fork_cells[slot].held;
    if (slot != COGMEM__STRIPE_SHARED)
        atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + (uint64_t)d,
                              memory_order_release);
    else
        atomic_fetch_add_explicit(c, (uint64_t)d, memory_order_release);
}

static inline void cogmem__spin_unlock(_Atomic uint32_t *l)
{
    atomic_store_explicit(l, 0, memory_order_release);
    if (--cogmem__spin_depth == 0)
        cogmem__fork_cell_add(cogmem__stripe(), -1);
}

/* The node's list, created empty if `create` and there is none. Returns
 * NULL when the node was removed (its slot is COGMEM__SIDE_GONE), when
 * there is none and !create, or (with *enomem = 1) when out of memory.
 * Caller holds the RCU read lock; the list stays valid until it unlocks. */
struct cogmem__blist *cogmem__blist_get(struct cogmem__node *n,
                                        struct cogmem__mem *mem,
                                        enum cogmem__mem_kind kind, int values,
                                        int create, int *enomem);

/* Detach the node's list for its removal: the slot becomes
 * COGMEM__SIDE_GONE. Returns the list (to be marked dead, emptied and
 * retired) or NULL if it had none. */
struct cogmem__blist *cogmem__blist_detach(struct cogmem__node *n);

/* Free after a grace period / now (no other thread can reach it). */
void cogmem__blist_retire(struct cogmem__blist *bl);

/* The slot of `peer`, or -1. Caller holds the list's lock. */
int32_t cogmem__blist_find(const struct cogmem__blist *bl, uint64_t peer);

/* Make room for one more entry. 0 or -ENOMEM (the list is unchanged). */
int cogmem__blist_reserve(struct cogmem__blist *bl);

/* Append (after a successful reserve); returns the new slot. */
uint32_t cogmem__blist_append(struct cogmem__blist *bl, uint64_t peer,
                              float strength, uint64_t now_ns);

/* Remove slot i; the last entry moves into it. */
void cogmem__blist_del(struct cogmem__blist *bl, uint32_t i);

/* The presentation history, created if `create` (NULL as blist_get). */
struct cogmem__presentations *cogmem__pres_get(struct cogmem__node *n,
                                      struct cogmem__mem *mem,
                                      enum cogmem__mem_kind kind, int create,
                                      int *enomem);

/* Detach and retire the history of a removed node. */
void cogmem__pres_drop(struct cogmem__node *n);

/* Free every side record still attached (node teardown, no concurrency). */
void cogmem__side_free_now(struct cogmem__node_mem *m, struct cogmem__mem *mem);

#endif /* COGMEM_SHARDS_BINDEX_H */
