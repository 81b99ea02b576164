/* cogmem — one kind's sixteen shards, each a liburcu cds_lfht.
 *
 * Resizing is ours alone: the tables are created without
 * CDS_LFHT_AUTO_RESIZE, sized from the config's hint, grown by the adder
 * that pushes a shard's load past COGMEM__GROW_LOAD (synchronously, outside
 * any read-side section) and by cogmem_reserve(). liburcu 0.13's automatic
 * resize can stall after a bulk load and leave long chains; owning the
 * decision also means `buckets` below is the table's real size.
 * Shards never shrink: a bucket costs 16 bytes.
 */
#ifndef COGMEM_SHARDS_SET_H
#define COGMEM_SHARDS_SET_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

#include "numa/mem.h"
#include "shards/node.h"
#include "shards/route.h"
#include "shards/slab.h"

/* A shard grows when it holds more than this many nodes per bucket. */
#define COGMEM__GROW_LOAD 2
#define COGMEM__MIN_BUCKETS 64ul

/* Padded to a line each: adders of different shards never share a line. */
struct cogmem__shard {
    alignas(64) struct cds_lfht *ht;
    _Atomic int64_t count;         /* LIVE nodes */
    _Atomic int64_t vec_refs;      /* cogmem_vec_get references held now */
    _Atomic unsigned long buckets; /* the table's size (we alone resize) */
    atomic_flag resizing;          /* one resizer per shard at a time */
    /* Cross-kind add handshake (src/lifecycle.c): a seq_cst read-modify-write
     * that orders an add's link before its look into the other kind. Only
     * the concept set's word is used, by adds of both kinds, since racing
     * adds of one id always map to the same shard index. */
    _Atomic uint64_t add_handshake;
};
_Static_assert(sizeof(struct cogmem__shard) == 64, "one line per shard");

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

/* On a line of their own, apart from the shard's: counting must not dirty
 * the line every lookup reads (ht), nor adders' `count`. */
struct cogmem__shard_ctr {
    alignas(64) _Atomic uint64_t v[8];
};
_Static_assert(sizeof(struct cogmem__shard_ctr) == 64, "one line per shard's counters");
_Static_assert(COGMEM__CTR_N <= 8, "counters fit the line");

/* Counters are kept per thread STRIPE as well as per shard, so that
 * threads looking up the same shards write lines of their own instead of
 * bouncing one line per shard between cores (measured with two threads on
 * 4096 cache-resident keys: per-shard lines made a lookup 2.6x slower).
 * A thread claims one of COGMEM__STRIPES stripes for itself at its first
 * count and gives it back when it exits; as the stripe's only writer it
 * counts with a plain load and store instead of a locked read-modify-write
 * (measured: +14% a lookup with an RMW, +2% without, two threads). Threads
 * that find no free stripe share the last slot, COGMEM__STRIPE_SHARED,
 * with atomic read-modify-writes. Readers sum the slots. */
#define COGMEM__STRIPES 8u
#define COGMEM__STRIPE_SHARED COGMEM__STRIPES
#define COGMEM__STRIPE_SLOTS (COGMEM__STRIPES + 1u)

extern _Thread_local unsigned cogmem__stripe_tls; /* slot + 1; 0: not drawn */
unsigned cogmem__stripe_draw(void);

static inline unsigned cogmem__stripe(void)
{
    unsigned s = cogmem__stripe_tls;
    if (__builtin_expect(s == 0, 0))
        s = cogmem__stripe_draw();
    return s - 1;
}

struct cogmem__set {
    struct cogmem__shard shard[COGMEM__NSHARDS];
    struct cogmem__shard_ctr ctr[COGMEM__STRIPE_SLOTS][COGMEM__NSHARDS];
    struct cogmem__mem *mem;
    enum cogmem__mem_kind mem_kind;
    int counting; /* cogmem_config.stats has COGMEM_STATS_COUNTERS */
    struct cogmem__slab slab; /* the kind's vectors (cogmem__vec_alloc) */
};

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
static inline void cogmem__ctr_bump(struct cogmem__set *s, unsigned shard,
                                    enum cogmem__ctr c)
{
    if (s->counting) {
        unsigned t = cogmem__stripe();
        cogmem__ctr_inc(&s->ctr[t][shard].v[c], t);
    }
}

/* The same, whether or not the store counts (the deferred-free pair). */
static inline void cogmem__ctr_bump_always(struct cogmem__set *s, unsigned shard,
                                           enum cogmem__ctr c)
{
    unsigned t = cogmem__stripe();
    cogmem__ctr_inc(&s->ctr[t][shard].v[c], t);
}

/* States accepted by a lookup. */
#define COGMEM__FIND_LIVE (1u << COGMEM__LIVE)
#define COGMEM__FIND_ANY ((1u << COGMEM__LIVE) | (1u << COGMEM__PENDING))

/* Create the sixteen tables, sized for `expected` nodes. 0 or -ENOMEM. */
int cogmem__set_init(struct cogmem__set *s, struct cogmem__mem *mem,
                     enum cogmem__mem_kind kind, uint64_t expected);

/* Destroy the (empty) tables. */
void cogmem__set_fini(struct cogmem__set *s);

/* The node with this id whose state is in `mask`, or NULL. Caller holds the
 * RCU read lock and may use the node until it unlocks. */
struct cogmem__node *cogmem__set_find(struct cogmem__set *s, uint64_t id,
                                      uint64_t hash, unsigned mask);

/* Link a PENDING node (its id already published). -EEXIST if a PENDING or
 * LIVE node with the same id is linked. Caller holds the RCU read lock. */
int cogmem__set_link(struct cogmem__set *s, struct cogmem__node *n,
                     uint64_t hash);

/* Unlink a node that is DEAD. Caller holds the RCU read lock; the node may
 * be freed only after a grace period. */
void cogmem__set_unlink(struct cogmem__set *s, struct cogmem__node *n,
                        uint64_t hash);

/* Account a node that became LIVE / stopped being LIVE. note_added may
 * grow the shard, so it must be called outside a read-side section (it
 * skips the growth when called inside one, e.g. from a foreach callback). */
void cogmem__set_note_added(struct cogmem__set *s, uint64_t hash);
void cogmem__set_note_removed(struct cogmem__set *s, uint64_t hash);

/* Grow every shard to at least `n_total / 16 / GROW_LOAD` buckets, now.
 * Must be called outside a read-side section. */
void cogmem__set_reserve(struct cogmem__set *s, uint64_t n_total);

/* Sum of the shards' LIVE counts. */
uint64_t cogmem__set_count(struct cogmem__set *s);

/* Sum of the shards' outstanding vector references. */
int64_t cogmem__set_vec_refs(struct cogmem__set *s);

/* Call fn for each LIVE node; stop at the first non-zero return, which is
 * returned. Caller holds the RCU read lock. */
int cogmem__set_foreach(struct cogmem__set *s,
                        int (*fn)(struct cogmem__node *n, void *arg), void *arg);

/* Unlink every node (DEAD or not) and hand it to fn, for store teardown:
 * no other thread may use the set. */
void cogmem__set_drain(struct cogmem__set *s,
                       void (*fn)(struct cogmem__node *n, void *arg), void *arg);

#endif /* COGMEM_SHARDS_SET_H */
