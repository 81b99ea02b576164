/* cogmem — one kind's sixteen shards, each an open-addressed table of ours.
 *
 * A shard's table is a power-of-two array of one-word slots, probed
 * linearly from the slot the hash's low bits name (eight slots per cache
 * line, so a lookup usually reads one line of the table, then the node's
 * line). A slot word is
 *
 *     node pointer (64-byte aligned) | FROZEN (bit 5) | tag (bits 0-4)
 *
 * where the tag is five hash bits that neither the shard nor the slot
 * index use, so a lookup dereferences a node of another id only for one
 * probed slot in 32. Special words: EMPTY (0, never claimed) and TOMB (a
 * removed node's slot). A slot goes EMPTY -> node -> TOMB and never back
 * within one table, which is what keeps inserts lock-free and unique: two
 * adders of one id probe the same sequence and claim only EMPTY slots by
 * compare-and-swap, so whichever claims the earlier slot is seen by the
 * other (set.c: claim).
 *
 * Growth (set.c: migrate) builds a new table and publishes it with a
 * release store of `cur`; the old one is freed after a grace period through
 * our RCU deferral. While it copies, the migrator has set FROZEN in every
 * old slot: readers ignore the bit (the old table stays a consistent view),
 * writers that meet it wait for the new table and retry there. Nothing
 * waits for a grace period and no thread is started, so a migration may
 * run inside a read-side section, from the add that needs it. Fork:
 * migrations are fork-exclusion sections (shards/rcu.h).
 *
 * Lookups are lock-free and need no thread registration: acquire loads of
 * `cur` and of the slots, then the node's `id` (node.h). Before the first
 * slot load a lookup prefetches the key's home position (node.h): the
 * record is most likely there, so its miss overlaps the slot's.
 */
#ifndef COGMEM_SHARDS_SET_H
#define COGMEM_SHARDS_SET_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

#include "shards/kind.h"
#include "shards/node.h"
#include "shards/route.h"

/* Slots of a new, empty table; growth keeps every table at least this big. */
#define COGMEM__MIN_SLOTS 64ul

#define COGMEM__SLOT_TAG 31u       /* bits 0-4: tag */
#define COGMEM__SLOT_FROZEN 32u    /* bit 5: being copied to a new table */
#define COGMEM__SLOT_PTR (~(uintptr_t)63)
#define COGMEM__SLOT_EMPTY ((uintptr_t)0)
#define COGMEM__SLOT_TOMB ((uintptr_t)64) /* no node lives at address 64 */

struct cogmem__table {
    struct rcu_head rcu;       /* freed after a grace period once replaced */
    struct cogmem__kind *kind; /* its memory's allocator */
    uint64_t mask;             /* slots - 1 */
    /* The home array of this table's size (node.h), of which the table
     * holds a reference, or NULL (it could not be allocated: records then
     * come from the allocator). Lookups fetch position hash & mask while
     * they fetch the slot. */
    struct cogmem__home *home;
    /* Slots ever claimed in this table (nodes and tombstones): growth is
     * due when it passes half the slots. Its own line: adders write it,
     * readers read only the line above. Relaxed, approximate under races. */
    alignas(64) _Atomic uint64_t used;
    alignas(64) _Atomic uintptr_t slot[];
};

/* Padded to a line each: adders of different shards never share a line. */
struct cogmem__shard {
    alignas(64) struct cogmem__table *_Atomic cur;
    _Atomic int64_t count;  /* LIVE nodes */
    _Atomic uint64_t slots; /* cur's size, for statistics (relaxed) */
    atomic_flag migrating;  /* one migrator per shard at a time */
    /* Cross-kind add handshake (src/lifecycle.c): a seq_cst read-modify-write
     * that orders an add's link before its look into the other kind. Only
     * the concept set's word is used, by adds of both kinds, since racing
     * adds of one id always map to the same shard index. */
    _Atomic uint64_t add_handshake;
};
_Static_assert(sizeof(struct cogmem__shard) == 64, "one line per shard");

/* One kind: its map (the shards above, this file's and set.c's only
 * business) and its leaf context (allocator, counters, slab: kind.h), which
 * the kind's records point to. */
struct cogmem__set {
    struct cogmem__shard shard[COGMEM__NSHARDS];
    struct cogmem__kind kind;
};

/* States accepted by a lookup. */
#define COGMEM__FIND_LIVE (1u << COGMEM__LIVE)
#define COGMEM__FIND_ANY ((1u << COGMEM__LIVE) | (1u << COGMEM__PENDING))

/* Create the sixteen tables, sized for `expected` nodes. 0 or -ENOMEM.
 * The kind context (s->kind) must be set up first (cogmem__kind_init):
 * tables come from its allocator. */
int cogmem__set_init(struct cogmem__set *s, uint64_t expected);

/* Free the (drained) tables. */
void cogmem__set_fini(struct cogmem__set *s);

/* The five tag bits of a hash: below the shard's four, far above any
 * slot index's. */
static inline uintptr_t cogmem__slot_tag(uint64_t hash)
{
    return (uintptr_t)(hash >> (64 - COGMEM__SHARD_BITS - 5)) & COGMEM__SLOT_TAG;
}

static inline struct cogmem__table *cogmem__set_table(struct cogmem__set *s,
                                                      uint64_t hash)
{
    /* Acquire: pairs with the migrator's release store; the slots it
     * copied are visible. */
    return atomic_load_explicit(&s->shard[cogmem__shard_of(hash)].cur,
                                memory_order_acquire);
}

/* The node with this id whose state is in `mask`, or NULL. Caller holds the
 * RCU read lock and may use the node until it unlocks. */
static inline struct cogmem__node *cogmem__set_find(struct cogmem__set *s, uint64_t id,
                                                    uint64_t hash, unsigned mask)
{
    struct cogmem__table *t = cogmem__set_table(s, hash);
    uintptr_t tag = cogmem__slot_tag(hash);
    uint64_t m = t->mask;
    /* Only an address: nothing of the array is read, and a prefetch never
     * faults, so it needs no more than the table's reference. */
    if (t->home)
        __builtin_prefetch(&t->home->pos[hash & m]);
    for (uint64_t i = hash & m, k = 0; k <= m; k++, i = (i + 1) & m) {
        /* Acquire: pairs with the claiming CAS (or the copy's publication),
         * so the node's memory is initialised when we read it. */
        uintptr_t w = atomic_load_explicit(&t->slot[i], memory_order_acquire);
        uintptr_t p = w & COGMEM__SLOT_PTR;
        if (p == COGMEM__SLOT_EMPTY)
            return NULL;
        if ((w & COGMEM__SLOT_TAG) != tag || p == COGMEM__SLOT_TOMB)
            continue;
        struct cogmem__node *n = (struct cogmem__node *)p;
        /* The acquire load of `id` is the reader's side of the node's
         * publication (node.h). Other nodes with this id may be linked
         * too (DEAD ones on their way out, a PENDING one): keep going. */
        if (atomic_load_explicit(&n->id, memory_order_acquire) == id &&
            ((mask >> atomic_load_explicit(&n->state, memory_order_acquire)) & 1u))
            return n;
    }
    return NULL;
}

/* For a batch (stage 1 of 3): fetch the line of the id's first slot.
 * Not the home position too: stage 2 fetches the record the slot names,
 * and with both, a group of 32 ids had twice the misses in flight
 * (measured at 10^6 keys, two runs: 0.62x, 0.78x, 0.74x and 1.20x the
 * batch without, 1 and 2 threads). */
static inline void cogmem__set_prefetch_slots(struct cogmem__set *s, uint64_t hash)
{
    struct cogmem__table *t = cogmem__set_table(s, hash);
    __builtin_prefetch(&t->slot[hash & t->mask]);
}

/* Stage 2: fetch the record of the first node whose tag matches (read from
 * the slots stage 1 fetched; nothing is dereferenced). Stage 3 is
 * cogmem__set_find, which then finds both in cache. Caller holds the RCU
 * read lock. */
static inline void cogmem__set_prefetch_node(struct cogmem__set *s, uint64_t hash)
{
    struct cogmem__table *t = cogmem__set_table(s, hash);
    uintptr_t tag = cogmem__slot_tag(hash);
    uint64_t m = t->mask;
    for (uint64_t i = hash & m, k = 0; k < 8 && k <= m; k++, i = (i + 1) & m) {
        uintptr_t w = atomic_load_explicit(&t->slot[i], memory_order_relaxed);
        uintptr_t p = w & COGMEM__SLOT_PTR;
        if (p == COGMEM__SLOT_EMPTY)
            return;
        if ((w & COGMEM__SLOT_TAG) == tag && p != COGMEM__SLOT_TOMB) {
            __builtin_prefetch((const void *)p);
            return;
        }
    }
}

/* Link a PENDING node (its id already published). -EEXIST if a PENDING or
 * LIVE node with the same id is linked. -ENOMEM if the shard's table had
 * to grow for this link and the new table could not be allocated: nothing
 * changed. Lock-free except while a migration of the shard is under way,
 * which it waits for (or does). Caller holds the RCU read lock. */
int cogmem__set_link(struct cogmem__set *s, struct cogmem__node *n,
                     uint64_t hash);

/* Unlink a linked node that is DEAD. Never fails, never allocates. Caller
 * holds the RCU read lock; the node may be freed only after a grace period. */
void cogmem__set_unlink(struct cogmem__set *s, struct cogmem__node *n,
                        uint64_t hash);

/* Account a node that became LIVE / stopped being LIVE. */
void cogmem__set_note_added(struct cogmem__set *s, uint64_t hash);
void cogmem__set_note_removed(struct cogmem__set *s, uint64_t hash);

/* Grow every shard to hold `n_total / 16` nodes at load 1/2, now.
 * 0 or -ENOMEM (shards grown before the failure stay grown: growth is not
 * a visible change). Must be called outside a read-side section. */
int cogmem__set_reserve(struct cogmem__set *s, uint64_t n_total);

/* Sum of the shards' LIVE counts. */
uint64_t cogmem__set_count(struct cogmem__set *s);

/* Call fn for each LIVE node of one shard / of all shards; stop at the
 * first non-zero return, which is returned. Caller holds the RCU read
 * lock. fn may add and remove nodes (of this set too). */
int cogmem__set_foreach_shard(struct cogmem__set *s, unsigned shard,
                              int (*fn)(struct cogmem__node *n, void *arg), void *arg);
int cogmem__set_foreach(struct cogmem__set *s,
                        int (*fn)(struct cogmem__node *n, void *arg), void *arg);

/* Unlink every node (DEAD or not) and hand it to fn, for store teardown:
 * no other thread may use the set. */
void cogmem__set_drain(struct cogmem__set *s,
                       void (*fn)(struct cogmem__node *n, void *arg), void *arg);

#endif /* COGMEM_SHARDS_SET_H */
