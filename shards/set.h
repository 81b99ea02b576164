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

#include "shards/kind.h"
#include "shards/node.h"
#include "shards/route.h"

/* A shard grows when it holds more than this many nodes per bucket. */
#define COGMEM__GROW_LOAD 2
#define COGMEM__MIN_BUCKETS 64ul

/* Padded to a line each: adders of different shards never share a line. */
struct cogmem__shard {
    alignas(64) struct cds_lfht *ht;
    _Atomic int64_t count;         /* LIVE nodes */
    _Atomic unsigned long buckets; /* the table's size (we alone resize) */
    atomic_flag resizing;          /* one resizer per shard at a time */
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
 * The kind context (s->kind) is set up separately (cogmem__kind_init). */
int cogmem__set_init(struct cogmem__set *s, uint64_t expected);

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

/* Call fn for each LIVE node; stop at the first non-zero return, which is
 * returned. Caller holds the RCU read lock. */
int cogmem__set_foreach(struct cogmem__set *s,
                        int (*fn)(struct cogmem__node *n, void *arg), void *arg);

/* Unlink every node (DEAD or not) and hand it to fn, for store teardown:
 * no other thread may use the set. */
void cogmem__set_drain(struct cogmem__set *s,
                       void (*fn)(struct cogmem__node *n, void *arg), void *arg);

#endif /* COGMEM_SHARDS_SET_H */
