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
 *
 * The registry (struct cogmem__breg): every concept list is also entered
 * in one of sixteen slot arrays, so that decay walks the lists themselves
 * instead of the concept tables with their empty buckets. A list enters
 * before it is published in its node (so a registry that cannot grow fails
 * the bind with nothing changed) and leaves after its node's removal marked
 * it dead, before its retirement; a list never moves between slots, so a
 * walk meets each registered list once. Writers of a registry shard
 * serialise on its spinlock (first bind of a concept, a concept's removal:
 * rare); walkers take no lock: they read the slot array under RCU, and a
 * grown array replaces the old one, which is freed a grace period later.
 * A walker may meet a list that has died meanwhile: it locks it, sees
 * `dead` and skips it (the list itself is freed a grace period after
 * leaving, so it is still there).
 */
#ifndef COGMEM_SHARDS_BINDEX_H
#define COGMEM_SHARDS_BINDEX_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "numa/mem.h"
#include "shards/bpool.h"
#include "shards/kind.h"
#include "shards/node.h"

/* Marks a side slot of a removed node: nothing may be attached any more. */
#define COGMEM__SIDE_GONE ((void *)(uintptr_t)1)

/* Registry shards (writers of different shards never meet). */
#define COGMEM__BREG_SHARDS 16u

/* Lists at least this long get the peer -> slot hash index. */
#define COGMEM__BLIST_HASH_MIN 16u

struct cogmem__breg;

/* First line: what every locked access reads (lock, counts, the arrays);
 * second line: creation, growth, registry and reclamation. */
struct cogmem__blist {
    alignas(64) _Atomic uint32_t lock;
    uint32_t dead;       /* set once, under the lock, by the node's removal */
    /* Bindings. Written under the lock only (relaxed stores: the lock
     * orders them); atomic so that the registry walk may read it unlocked
     * to size its prefetch of the decay arrays (a hint, like the array
     * pointers below). Reads under the lock are plain movs on x86. */
    _Atomic uint32_t n;
    uint32_t hmask;      /* hash index size - 1, or 0 without an index */
    /* The array pointers are atomic (always read under the lock, where
     * the implicit loads cost a plain mov on x86) only so that the
     * registry walk and a binding adjust may read them without the lock,
     * to prefetch the lines they are about to use (a hint, never a use). */
    uint64_t *_Atomic peer;      /* cap ids */
    float *_Atomic strength;     /* cap, concept side only */
    uint64_t *_Atomic touched;   /* last bind/adjust (ns), concept side only */
    uint64_t *_Atomic decayed;   /* strength is current as of this time (ns) */
    uint32_t *hslot;     /* hmask + 1 entries: slot + 1, 0 = empty */
    /* Non-zero: every decayed[i], i < n, equals it (the steady state after
     * a decay pass, when a pass needs one factor and no read of decayed[]).
     * 0: unknown. Kept by every writer of decayed[]: append, set_times,
     * decay; moves (del, reserve) keep it true. */
    uint64_t dec_same;
    /* second line: growth, creation, registry, reclamation */
    uint32_t cap;
    uint32_t values;     /* 1: concept side (strength and times kept) */
    uint64_t *created;   /* bind time (ns) */
    size_t bytes;        /* size of the block holding the arrays */
    enum cogmem__mem_kind kind;
    struct rcu_head rcu;
    struct cogmem__mem *mem;
    /* The node the list hangs off, constant: a registry walker that finds
     * the list not dead (under its lock) may use it until its read-side
     * section ends, since the node's retirement follows the list's death. */
    struct cogmem__node *owner;
    struct cogmem__breg *reg; /* registry holding it, or NULL (episodes) */
    uint32_t reg_shard, reg_slot;
    /* Where strength[] and decayed[] (one block, strength first) come
     * from: the registry's pool (bpool.h), or NULL (allocated directly).
     * The block is given back when the list dies (cogmem__blist_retire),
     * not a grace period later: after `dead` nobody reads it. */
    struct cogmem__bpool *pool;
};
_Static_assert(offsetof(struct cogmem__blist, dec_same) + sizeof(uint64_t) <= 64,
               "what adjust and decay read shares the lock's line");

/* One registry shard: a slot array published under RCU, writers on the
 * spinlock. `used` slots have ever been handed out (walkers read [0, used));
 * freed slots are NULL and go on a stack of free indices (writer-only, in
 * the same block as the slots) for the next list. */
struct cogmem__breg_arr {
    uint32_t cap;
    uint32_t nfree;
    struct rcu_head rcu;
    struct cogmem__mem *mem;
    uint32_t *free;                      /* cap entries, after the slots */
    struct cogmem__blist *_Atomic slot[]; /* cap entries */
};

struct cogmem__breg_shard {
    alignas(64) _Atomic uint32_t lock;
    _Atomic uint32_t used;
    struct cogmem__breg_arr *_Atomic arr; /* NULL until the first list */
};

/* All zero is an empty registry (it lives in the zeroed store). The pool
 * holds its lists' decay arrays, packed (bpool.h: what a decay pass reads
 * is on few pages); its lock nests inside list locks. */
struct cogmem__breg {
    struct cogmem__breg_shard sh[COGMEM__BREG_SHARDS];
    struct cogmem__bpool pool;
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
 * every list. `slot` is the stripe the outermost lock counted on, so that
 * its unlock takes the count off the same cell (a thread's stripe changes
 * at its exit). One thread-local record, initial-exec as all of the
 * library's TLS (meson.build, tls_args): a binding adjust locks and
 * unlocks once each, and every general-dynamic access was a
 * TLS-descriptor call (measured: a tenth of an adjust with the stripe's
 * own lookups). */
struct cogmem__spin_tls {
    unsigned depth;
    unsigned slot;
};
extern _Thread_local struct cogmem__spin_tls cogmem__spin_tls;

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

/* cogmem__spin_lock's way when the lock is taken (`held` 0) or, for the
 * outermost lock, the fork gate is closed (`held` 1: we have it, and must
 * let it go until the fork is done): spins, yields, steps aside; returns
 * with the lock held and the gate open (or not outer). */
void cogmem__spin_lock_slow(_Atomic uint32_t *l, int outer, int held);

/* Take a list lock (or a registry or pool lock: any lock that counts for
 * the fork gate). Inline: the uncontended case is the counting, one
 * exchange and, for the outermost lock, one load of the gate. */
static inline void cogmem__spin_lock(_Atomic uint32_t *l)
{
    /* Only the outermost lock counts and checks the fork gate: a thread
     * that holds a list lock takes the next one (concept -> episode) at
     * once, it must not wait for a fork that waits for it. */
    int outer = cogmem__spin_tls.depth++ == 0;
    if (outer) {
        unsigned slot = cogmem__stripe();
        cogmem__spin_tls.slot = slot;
        cogmem__fork_cell_add(slot, 1);
    }
    /* Acquire: the critical section reads what the last holder wrote.
     * seq_cst, which on x86 is the same locked exchange: it orders our
     * cell's store before the gate's load (rcu.c, lists_close). */
    int held = !atomic_exchange_explicit(l, 1, memory_order_seq_cst);
    if (__builtin_expect(held, 1) &&
        (!outer || __builtin_expect(!atomic_load_explicit(&cogmem__fork_lists.closed,
                                                          memory_order_seq_cst), 1)))
        return;
    cogmem__spin_lock_slow(l, outer, held);
}

static inline void cogmem__spin_unlock(_Atomic uint32_t *l)
{
    atomic_store_explicit(l, 0, memory_order_release);
    if (--cogmem__spin_tls.depth == 0)
        cogmem__fork_cell_add(cogmem__spin_tls.slot, -1);
}

/* The creating path of cogmem__blist_get_in below (the node showed no
 * list yet); the same arguments, results and errors. */
struct cogmem__blist *cogmem__blist_create(struct cogmem__node *n, struct cogmem__mem *mem,
                                           enum cogmem__mem_kind kind, int values,
                                           int *enomem, struct cogmem__breg *reg);

/* The node's list, created empty if `create` and there is none (a concept
 * list, `values`, is then entered in `reg`, which must be given; episode
 * lists pass NULL). Returns NULL when the node was removed (its slot is
 * COGMEM__SIDE_GONE), when there is none and !create, or (with
 * *enomem = 1) when out of memory. Caller holds the RCU read lock; the
 * list stays valid until it unlocks. */
static inline struct cogmem__blist *cogmem__blist_get_in(struct cogmem__node *n,
                                                         struct cogmem__mem *mem,
                                                         enum cogmem__mem_kind kind,
                                                         int values, int create,
                                                         int *enomem,
                                                         struct cogmem__breg *reg)
{
    /* Acquire: the list's fields were initialised before its publication.
     * Inline: a binding adjust or lookup only takes this load. */
    struct cogmem__blist *bl =
        atomic_load_explicit(&cogmem__node_mem_of(n)->bind, memory_order_acquire);
    if (bl == COGMEM__SIDE_GONE)
        return NULL;
    if (bl || !create)
        return bl;
    return cogmem__blist_create(n, mem, kind, values, enomem, reg);
}

/* The same without a registry: for lookups (create 0) and episode lists. */
static inline struct cogmem__blist *cogmem__blist_get(struct cogmem__node *n,
                                                      struct cogmem__mem *mem,
                                                      enum cogmem__mem_kind kind,
                                                      int values, int create,
                                                      int *enomem)
{
    return cogmem__blist_get_in(n, mem, kind, values, create, enomem, NULL);
}

/* Detach the node's list for its removal: the slot becomes
 * COGMEM__SIDE_GONE. Returns the list (to be marked dead, emptied and
 * retired) or NULL if it had none. */
struct cogmem__blist *cogmem__blist_detach(struct cogmem__node *n);

/* Take a dead list out of its registry (if any) and free it after a grace
 * period. `dead` must have been set under the list's lock. */
void cogmem__blist_retire(struct cogmem__blist *bl);

/* Call fn(list, arg) for every list registered in `reg` when the walk
 * reaches its slot (prefetching the next lists' first line and their
 * strengths and decay times, what a decay pass reads: bindex.c,
 * WALK_AHEAD): each list registered for the whole walk exactly once,
 * lists registered or retired meanwhile at most once. fn runs inside a
 * read-side section (one per registry shard) and must lock the list and
 * check `dead` before using it. Caller holds no read lock. */
void cogmem__breg_walk(struct cogmem__breg *reg,
                       void (*fn)(struct cogmem__blist *bl, void *arg), void *arg);

/* Lists currently registered (a count for tests; exact at quiescence). */
uint64_t cogmem__breg_count(struct cogmem__breg *reg);

/* Free the slot arrays and the pool (store teardown, after the lists are
 * gone). */
void cogmem__breg_fini(struct cogmem__breg *reg);


/* Make room for one more entry. 0 or -ENOMEM (the list is unchanged).
 * When the arrays move, the owner's cold-line hints (shards/node.h:
 * bl_peer, bl_strength, bl_cap) move with them. */
int cogmem__blist_reserve(struct cogmem__blist *bl);

/* The index's hash of a peer id (slot = hash & hmask). Fibonacci hashing:
 * ids are the host's, often sequential. */
static inline uint32_t cogmem__blist_hash_peer(uint64_t id)
{
    return (uint32_t)((id * 0x9E3779B97F4A7C15ull) >> 32);
}

/* The slot of `peer`, or -1. Caller holds the list's lock. Inline, and
 * the array pointer and count read once into locals (relaxed: the lock
 * orders them), so that a binding adjust's scan of a short list is a few
 * compares in registers and no call. */
static inline int32_t cogmem__blist_find(const struct cogmem__blist *bl, uint64_t peer)
{
    const uint64_t *p = atomic_load_explicit(&bl->peer, memory_order_relaxed);
    uint32_t hmask = bl->hmask;
    if (hmask) {
        /* Linear probing; the index is at most half full, so a probe
         * always ends at an empty entry. */
        for (uint32_t h = cogmem__blist_hash_peer(peer) & hmask;; h = (h + 1) & hmask) {
            uint32_t s = bl->hslot[h];
            if (s == 0 || p[s - 1] == peer)
                return (int32_t)s - 1;
        }
    }
    uint32_t n = atomic_load_explicit(&bl->n, memory_order_relaxed);
    for (uint32_t i = 0; i < n; i++)
        if (p[i] == peer)
            return (int32_t)i;
    return -1;
}

/* The block of a list of capacity cap (cogmem__blist_reserve makes it;
 * a binding adjust finds its arrays from the node's hints by the same
 * rules): peer ids, then for a list with values the touch and creation
 * times, then the index; each array starts on a line. */
static inline size_t cogmem__blist_array_bytes(uint32_t cap)
{
    return ((size_t)cap * 8 + 63) & ~(size_t)63;
}

/* Entries of the index of a list of capacity cap: at most half full, and
 * none for a short list (a scan is faster). */
static inline uint32_t cogmem__blist_index_size(uint32_t cap)
{
    return cap >= COGMEM__BLIST_HASH_MIN ? cap * 2 : 0;
}

/* touched[] of a list with values, given its peer[]. */
static inline uint64_t *cogmem__blist_touched_of(uint64_t *peer, uint32_t cap)
{
    return (uint64_t *)(void *)((char *)peer + cogmem__blist_array_bytes(cap));
}

/* The index (hslot[]) of a list, given its peer[] (meaningful when
 * cogmem__blist_index_size(cap) is not 0). */
static inline uint32_t *cogmem__blist_index_of(uint64_t *peer, uint32_t cap, int values)
{
    return (uint32_t *)(void *)((char *)peer +
                                (values ? 3 : 1) * cogmem__blist_array_bytes(cap));
}

/* Append (after a successful reserve); returns the new slot. */
uint32_t cogmem__blist_append(struct cogmem__blist *bl, uint64_t peer,
                              float strength, uint64_t now_ns);

/* Set binding i's touch and decay times (caller holds the lock; concept
 * side). Every write of decayed[] outside bindex.c and decay goes through
 * here, so that dec_same stays true. */
static inline void cogmem__blist_set_times(struct cogmem__blist *bl, uint32_t i,
                                           uint64_t touched, uint64_t decayed)
{
    bl->touched[i] = touched;
    bl->decayed[i] = decayed;
    if (bl->n == 1)
        bl->dec_same = decayed;
    else if (bl->dec_same != decayed)
        bl->dec_same = 0;
}

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
