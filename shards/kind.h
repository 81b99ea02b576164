/* cogmem — one kind's leaf context: allocator, counters, vector slab.
 *
 * Every record of a kind (node, vector row) points here, not to the kind's
 * map: what a record needs after its lookup (where its memory goes back to,
 * which counters its deferred free bumps, which slab holds its row) is
 * below the map, so records, vectors and the slab never call up into it.
 * This header depends on the slab and numa/ only.
 *
 * Counters are kept per thread STRIPE as well as per shard, so that
 * threads looking up the same shards write lines of their own instead of
 * bouncing one line per shard between cores (measured with two threads on
 * 4096 cache-resident keys: per-shard lines made a lookup 2.6x slower).
 * A thread claims one of COGMEM__STRIPES stripes for itself at its first
 * count and gives it back when it exits; as the stripe's only writer it
 * counts with a plain load and store instead of a locked read-modify-write
 * (measured: +14% a lookup with an RMW, +2% without, two threads). Threads
 * that find no free stripe share the last slot, COGMEM__STRIPE_SHARED,
 * with atomic read-modify-writes. Readers sum the slots.
 */
#ifndef COGMEM_SHARDS_KIND_H
#define COGMEM_SHARDS_KIND_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

#include "numa/mem.h"
#include "shards/route.h"
#include "shards/slab.h"

/* Statistics counters of one shard (read by src/stats.c). */
enum cogmem__ctr {
    COGMEM__CTR_HIT,
    COGMEM__CTR_MISS,
    COGMEM__CTR_ADD,
    COGMEM__CTR_REMOVE,
    COGMEM__CTR_REPLACE,
    COGMEM__CTR_DEFER_QUEUED, /* always counted: pending = queued - done */
    COGMEM__CTR_DEFER_DONE,
    COGMEM__CTR_N
};

/* On a line of their own, apart from the map's shard lines: counting must
 * not dirty the line every lookup reads, nor adders' `count`. */
struct cogmem__shard_ctr {
    alignas(64) _Atomic uint64_t v[8];
};
_Static_assert(sizeof(struct cogmem__shard_ctr) == 64, "one line per shard's counters");
_Static_assert(COGMEM__CTR_N <= 8, "counters fit the line");

/* cogmem_vec_get references held now: a signed count per counter stripe
 * (below), a line each. A get adds one in its thread's stripe, a put
 * subtracts one in its own (maybe another thread's), so a cell may go
 * negative; only the sum means anything, and it is exact at quiescence
 * (what cogmem_close checks). As a stripe's only writer a thread counts
 * with a load and a store, not a locked read-modify-write: get+put used
 * to pay two RMWs on a per-shard line that every thread touching the
 * shard bounced between cores. */
struct cogmem__stripe_refs {
    alignas(64) _Atomic int64_t n;
};
_Static_assert(sizeof(struct cogmem__stripe_refs) == 64, "one line per stripe's refs");

#define COGMEM__STRIPES 8u
#define COGMEM__STRIPE_SHARED COGMEM__STRIPES
#define COGMEM__STRIPE_SLOTS (COGMEM__STRIPES + 1u)

/* slot + 1; 0: not drawn. Initial-exec, as all of the library's TLS
 * (meson.build, tls_args): every counted lookup reads it. */
extern _Thread_local unsigned cogmem__stripe_tls;
unsigned cogmem__stripe_draw(void);

static inline unsigned cogmem__stripe(void)
{
    unsigned s = cogmem__stripe_tls;
    if (__builtin_expect(s == 0, 0))
        s = cogmem__stripe_draw();
    return s - 1;
}

struct cogmem__home;

struct cogmem__kind {
    struct cogmem__shard_ctr ctr[COGMEM__STRIPE_SLOTS][COGMEM__NSHARDS];
    /* Each shard's current home array (shards/node.h), where new records
     * go: the one its current table names, or NULL (none could be
     * allocated). Written by the map when a table is replaced (shards/set.c),
     * before the old table's deferred free; read by cogmem__node_new inside
     * a read-side section, so the array it reads stays referenced until
     * its claim has taken a reference of its own. */
    struct cogmem__home *_Atomic home[COGMEM__NSHARDS];
    struct cogmem__stripe_refs vec_refs[COGMEM__STRIPE_SLOTS];
    struct cogmem__slab slab; /* the kind's vectors (cogmem__vec_alloc) */
    struct cogmem__mem *mem;
    enum cogmem__mem_kind mem_kind;
    int counting; /* cogmem_config.stats has COGMEM_STATS_COUNTERS */
    uint64_t hash_seed; /* the store's (both kinds share it: route.h) */
};

/* Zero the counters and references, remember the allocator and the hash
 * seed. The slab is set up separately (cogmem__slab_init on &k->slab). */
void cogmem__kind_init(struct cogmem__kind *k, struct cogmem__mem *mem,
                       enum cogmem__mem_kind mem_kind, int counting,
                       uint64_t hash_seed);

/* Sum of the stripes' outstanding vector references. Exact once every
 * get and put has happened before the call (a racing get+put pair may be
 * seen half: a transient value, even negative). */
int64_t cogmem__kind_vec_refs(struct cogmem__kind *k);

/* Add one to a counter cell of the calling thread's slot. Relaxed: a
 * statistic orders nothing; readers sum it and are exact at quiescence. */
static inline void cogmem__ctr_inc(_Atomic uint64_t *x, unsigned slot)
{
    if (slot != COGMEM__STRIPE_SHARED)
        atomic_store_explicit(x, atomic_load_explicit(x, memory_order_relaxed) + 1,
                              memory_order_relaxed); /* we are its only writer */
    else
        atomic_fetch_add_explicit(x, 1, memory_order_relaxed);
}

/* Count one event `c` in shard `shard` (if the store counts). */
static inline void cogmem__ctr_bump(struct cogmem__kind *k, unsigned shard,
                                    enum cogmem__ctr c)
{
    if (k->counting) {
        unsigned t = cogmem__stripe();
        cogmem__ctr_inc(&k->ctr[t][shard].v[c], t);
    }
}

/* The same, whether or not the store counts (the deferred-free pair). */
static inline void cogmem__ctr_bump_always(struct cogmem__kind *k, unsigned shard,
                                           enum cogmem__ctr c)
{
    unsigned t = cogmem__stripe();
    cogmem__ctr_inc(&k->ctr[t][shard].v[c], t);
}

/* Count a cogmem_vec_get (+1) or cogmem_vec_put (-1) reference in the
 * calling thread's stripe. Release: a put's reads of the vector happen
 * before a cogmem_close that sums zero (its loads are acquire). */
static inline void cogmem__kind_ref(struct cogmem__kind *k, int64_t d)
{
    unsigned t = cogmem__stripe();
    _Atomic int64_t *x = &k->vec_refs[t].n;
    if (t != COGMEM__STRIPE_SHARED)
        atomic_store_explicit(x, atomic_load_explicit(x, memory_order_relaxed) + d,
                              memory_order_release); /* we are its only writer */
    else
        atomic_fetch_add_explicit(x, d, memory_order_release);
}

#endif /* COGMEM_SHARDS_KIND_H */
