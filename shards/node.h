/* cogmem — the 64-byte node record shared by concepts and episodes.
 *
 * A lookup is one cache miss past the table's slot: the key, the state and
 * every metadata field share one aligned line. The fields written by bindings
 * (fan, bind_version) sit in the same line as the key; that costs readers of
 * a node a refetch only while that very node is being bound, which we
 * prefer to a second line per lookup.
 *
 * Publication: all fields are stored first, then `id` with release, then the
 * node is linked into the hash table (a release CAS of its slot). Every
 * reader's first access is the acquire load of `id` in cogmem__set_find,
 * after an acquire load of the slot, so everything else it reads
 * happens-after initialisation in the C11 model (and for ThreadSanitizer).
 */
#ifndef COGMEM_SHARDS_NODE_H
#define COGMEM_SHARDS_NODE_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "shards/rcu.h"

struct cogmem_vec;
struct cogmem__kind;
struct cogmem__blist;
struct cogmem__presentations;
struct cogmem__home;

/* Node life cycle. PENDING: linked, but an add of the same id in the other
 * kind may still veto it; invisible to lookups. LIVE: visible. DEAD: removed
 * or vetoed, about to be unlinked; invisible. Transitions are one-way.
 * FREE (0) is a home position no record occupies (below): a claim takes it
 * FREE -> PENDING by compare-and-swap, the record's free (a grace period
 * after its unlink) stores FREE again. */
enum cogmem__state {
    COGMEM__FREE = 0,
    COGMEM__PENDING = 1,
    COGMEM__LIVE = 2,
    COGMEM__DEAD = 3
};

struct cogmem__node {
    /* The current vector's version (high half) and norm bits (low half),
     * one word so that an info read gets a consistent pair, kept here so
     * that an info lookup reads no vector header and no second line. */
    alignas(64) _Atomic uint64_t normver; /*  0 */
    _Atomic uint64_t id;                  /*  8: key, release-published */
    struct cogmem_vec *_Atomic vec;       /* 16: current embedding, or NULL once removed */
    _Atomic uint32_t state;               /* 24: enum cogmem__state */
    _Atomic uint32_t fan;                 /* 28: concept fan-out / episode fan-in */
    _Atomic uint32_t activation_bits;     /* 32: float bits */
    union {
        _Atomic uint32_t bind_version;    /* 36: concept: bumped per bind/unbind */
        _Atomic uint32_t strength_bits;   /* 36: episode: float bits */
    };
    _Atomic uint64_t stamp;               /* 40: concept created_ns / episode time_ns */
    _Atomic uint64_t touched_ns;          /* 48: last centroid change */
    /* 56: the home array the record sits in (below), or NULL: it came from
     * the kind's allocator. Set by cogmem__node_new before the record is
     * published, read only by its free. Cold, but here rather than in the
     * second line: these are the record line's last free bytes, and the
     * second line is full (binding-list hints). Lookups never read it. */
    struct cogmem__home *home;
};

_Static_assert(sizeof(struct cogmem__node) == 64, "node record is one cache line");
_Static_assert(alignof(struct cogmem__node) == 64, "records never straddle lines");
_Static_assert(offsetof(struct cogmem__node, touched_ns) == 48, "layout");
_Static_assert(offsetof(struct cogmem__node, home) == 56, "layout");

static inline uint32_t cogmem__f2u(float f)
{
    union { float f; uint32_t u; } c = {.f = f};
    return c.u;
}

static inline float cogmem__u2f(uint32_t u)
{
    union { float f; uint32_t u; } c = {.u = u};
    return c.f;
}

/* What is allocated per node: the record, and a second, cold line with
 * what only reclamation needs. Lookups never touch the second line; having
 * it means remove and the cross-kind back-out never allocate (and so never
 * fail with -ENOMEM). */
struct cogmem__node_mem {
    struct cogmem__node rec;
    struct rcu_head rcu;
    struct cogmem__kind *kind; /* allocator and counters (shards/kind.h) */
    /* Side records in the cold line (shards/bindex.h): the node's binding
     * list and its ACT-R presentation history. Created on first use by
     * compare-and-swap from NULL, replaced by COGMEM__SIDE_GONE when the
     * node is removed; whatever is still attached is freed with the node. */
    struct cogmem__blist *_Atomic bind;
    struct cogmem__presentations *_Atomic pres;
    /* Hints for the binding list `bind`: its peer[] and strength[] arrays
     * and their capacity (shards/bindex.h, struct cogmem__blist; the other
     * arrays sit at offsets of these fixed by cap: cogmem__blist_touched_of,
     * cogmem__bpool_dec_off). A binding adjust reads them with `bind`, from
     * this line it has to read anyway, and asks for every line it will use
     * at once, instead of waiting for the list's first line to learn where
     * the arrays are. Written (relaxed) only by cogmem__blist_reserve under
     * the list's lock when the arrays move; read relaxed and unlocked, for
     * prefetches only, never to access the arrays. NULL / 0 until the
     * list's first growth. */
    uint64_t *_Atomic bl_peer;
    float *_Atomic bl_strength;
    /* The node's slot in its kind's graph index (src/ann/hnsw.h): 0 none
     * (no index, or not inserted yet), UINT32_MAX once removed, else
     * slot + 1. Written only by the index's hooks; in the cold line, since
     * lookups do not read it. */
    _Atomic uint32_t ann_slot;
    _Atomic uint32_t bl_cap; /* the hints' capacity (above) */
};
_Static_assert(sizeof(struct cogmem__node_mem) == 128, "record + one cold line");
_Static_assert(offsetof(struct cogmem__node_mem, bl_cap) + sizeof(uint32_t) == 128,
               "the binding list's hints fill the cold line, nothing past it");

/* Home positions: where a shard's records live when they can.
 *
 * A lookup reads the table slot the hash names, then the record the slot
 * points to: two dependent misses at sizes beyond the cache. A shard's
 * home array has one 128-byte record position per table slot (same size,
 * same mask: shards/set.h), and an add puts its record at position
 * hash & mask, or the one after it, when that position is FREE; else the
 * record comes from the allocator as before. So a lookup can compute the
 * likely record address from the hash alone and fetch it together with the
 * slot: the two misses overlap. The slot still says which record is the
 * key's; the home position is only where to look first.
 *
 * Positions are claimed by a compare-and-swap of the record's own `state`
 * word, FREE -> PENDING (node life cycle above), so a position has one
 * owner at a time and adders of one shard never lock. A record keeps its
 * position for its whole life, also after the table grows: the new table
 * gets a new (larger) array, and the old array lives on while any record
 * sits in it. `refs` counts the tables that name the array (for their
 * readers' prefetches and for new claims) plus the records placed in it;
 * the last unref frees it. A record's free (node_free_now: never linked,
 * or a grace period after its unlink, or a store being closed) gives its
 * position back, so the array outlives every deferred free into it.
 *
 * Memory: positions x 128 bytes, i.e. twice the table's load-1/2 slots:
 * 256 MiB for 10^6 keys of one kind (2^21 positions), of which the
 * records placed there use 128 MiB that they no longer take from the
 * allocator. Zeroed on allocation (fresh pages: touched only by claims).
 *
 * AddressSanitizer: a position whose record was freed is poisoned except
 * its state word (the claim's CAS reads it), so a use of a freed placed
 * record is still reported. */
struct cogmem__home {
    struct cogmem__mem *mem;
    int mem_kind; /* enum cogmem__mem_kind */
    uint64_t mask;
    alignas(64) _Atomic uint64_t refs; /* its own line: every claim and free writes it */
    alignas(64) struct cogmem__node_mem pos[];
};

/* A home array of `slots` FREE positions with one reference (the table's
 * that will name it), or NULL when out of memory. */
struct cogmem__home *cogmem__home_new(struct cogmem__mem *mem, int mem_kind,
                                      uint64_t slots);

/* One more table names h (a rehash at the same size keeps the array). */
void cogmem__home_ref(struct cogmem__home *h);

/* Drop a reference; the last one frees the array. */
void cogmem__home_unref(struct cogmem__home *h);

/* Give a record's two lines back: to its home position (FREE again) or to
 * the allocator. Only where no reader can reach the record any more. */
void cogmem__node_mem_free(struct cogmem__node_mem *m);

/* Centroid versions: 1 at the add, the next one per replacement, and
 * never 0 (a snapshot refuses version 0: src/persist/snapparse.c). After
 * 2^32 - 1 replacements of one concept -- hours for a hot concept at a
 * million replacements a second -- the counter wraps, to 1, so "newer"
 * is serial-number arithmetic (RFC 1982): b is newer than a when it is
 * less than 2^31 steps ahead. Two vectors of one node that are compared
 * are never that far apart: a reader holds a version for the length of
 * a call, not for two billion replacements. */
static inline uint32_t cogmem__version_next(uint32_t v)
{
    return v == UINT32_MAX ? 1u : v + 1u;
}

static inline int cogmem__version_newer(uint32_t b, uint32_t a)
{
    return (int32_t)(b - a) > 0;
}

static inline uint64_t cogmem__normver(uint32_t version, float norm)
{
    return (uint64_t)version << 32 | cogmem__f2u(norm);
}

/* Record a newly published vector's version and norm. Versions only move
 * forward, and racing replacers may store out of order, so the newer one
 * wins (cogmem__version_newer; a word with version 0 was never noted).
 * Relaxed: the pair is one word, consistent by itself; it orders nothing. */
static inline void cogmem__node_note_vec(struct cogmem__node *n, uint32_t version,
                                         float norm)
{
    _Atomic uint64_t *w = &n->normver;
    uint64_t want = cogmem__normver(version, norm);
    uint64_t cur = atomic_load_explicit(w, memory_order_relaxed);
    while (((uint32_t)(cur >> 32) == 0 ||
            cogmem__version_newer(version, (uint32_t)(cur >> 32))) &&
           !atomic_compare_exchange_weak_explicit(w, &cur, want, memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

/* Set the version and norm outright, for a loader that restores a
 * vector's version (the store not yet shared): "newer" does not apply to
 * a version read from a file, which may be any distance from the one the
 * node was made with. */
static inline void cogmem__node_set_vec(struct cogmem__node *n, uint32_t version, float norm)
{
    atomic_store_explicit(&n->normver, cogmem__normver(version, norm), memory_order_relaxed);
}

static inline uint64_t cogmem__node_normver(struct cogmem__node *n)
{
    return atomic_load_explicit(&n->normver, memory_order_relaxed);
}

/* A zeroed PENDING record with `vec` (owned by the node from now on); id is
 * NOT yet published. `hash` is its id's hash: the record goes to its home
 * position in the shard's current home array when that is FREE (see
 * above). NULL when out of memory. Any thread, inside a read-side section
 * or not. */
struct cogmem__node *cogmem__node_new(struct cogmem__kind *k,
                                      struct cogmem_vec *vec, uint64_t hash);

/* Publish the id: the release store every reader's acquire pairs with. */
static inline void cogmem__node_publish(struct cogmem__node *n, uint64_t id)
{
    atomic_store_explicit(&n->id, id, memory_order_release);
}

#endif /* COGMEM_SHARDS_NODE_H */
