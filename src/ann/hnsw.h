/* cogmem — a concurrent HNSW graph over one kind's nodes (internal).
 *
 * Depends only on shards/, simd/ (the public kernels) and numa/: it knows
 * rows, vectors and node records, never the store. src/ann_hooks.c ties it
 * to the store (add, remove, replace, recall).
 *
 * Graph nodes are SLOTS, stable across centroid replacements: a node's
 * slot number lives in its record's cold line (cogmem__node_mem.ann_slot).
 * A slot holds one reference on the vector it was last given (so that a
 * tombstoned slot stays readable until it is repaired away), a pointer
 * to that vector's floats (from cogmem__slab_data_of) and its inverse norm
 * (what readers use), the node's id, a level, a level-0 link list of 2M slot numbers inline and,
 * for level > 0, a block of upper lists of M each. Slots live in segments
 * that are allocated once and never moved or freed before the index is:
 * a stale link is never a dangling pointer.
 *
 * Readers (searches) take no lock: inside an RCU read-side section they
 * load a list's count (acquire) and its entries (acquire: each entry was
 * stored with release by a writer that had itself acquired the slot's
 * initialisation), and a slot's data pointer (acquire). Writers lock one slot
 * at a time (a C11 spinlock byte, held for one list rewrite: never while
 * taking another lock), so there is no lock order to get wrong.
 *
 * Insert: a slot is RESERVED before the node is linked (the only step that
 * can fail, -ENOMEM, so that a failed add changes nothing), made PENDING
 * and put on the TAIL (a fixed array every search scans exactly, so a node
 * whose add is in flight is scored exactly), then linked: every level's
 * forward links first (its own lists), then the reverse links, then
 * LINKED and off the tail. Forward links before reverse links means a
 * node is reachable from others only once it can itself reach the graph.
 *
 * Remove: the slot becomes DELETED (a tombstone). Searches still walk
 * through it but never return it. Once tombstones reach 1/10 of the linked
 * slots, a REPAIR pass begins: it marks every DELETED slot DRAINING, then
 * rewires every list that points to a DRAINING slot to that slot's own
 * neighbours (HNSW's pruning heuristic), moves the entry point off it,
 * reconnects (below), drops its vector reference and, after an RCU grace
 * period, returns it to the free list. The pass is not run by one call:
 * each remove or far centroid change that finds a pass due or in progress,
 * and each add while one is in progress (src/ann_hooks.h), runs one slice
 * of it, COGMEM__ANN_REPAIR_BUDGET units (about 30 lists rewired), under
 * a try-lock (a caller that finds it held skips and never waits); the
 * pass's cursors (repair.c) keep its place between slices. A pass costs
 * about 23 units per slot (nearly every list points to one of 10%
 * tombstones), so it takes about used/20 slices: well under the
 * linked/10 removes before the next pass is due. Why no list can point to a freed slot
 * afterwards: a writer adds a link to s only under the lock of the list's
 * owner, after checking (under that lock) that s is not DELETED/DRAINING;
 * the pass collects s after its tombstone, then takes each owner's lock,
 * so either the writer's critical section came first (the pass sees and
 * removes the link) or it came after (the writer sees the tombstone and
 * skips). Readers that loaded a link before the pass removed it are in
 * sections the grace period waits for.
 *
 * Replace: the slot takes the new vector (its reference, row and norm)
 * and adds the angle between old and new to its DRIFT; past
 * COGMEM__ANN_RELINK_DRIFT radians the replacer re-links the node: into a
 * fresh slot, inserted as an add would be, while the old slot becomes a
 * tombstone (its links still lead where they led). Small blends cost the
 * graph nothing.
 *
 * Reachability: pruning (HNSW's heuristic) can take away a node's last
 * in-link. Level-0 in-degrees are counted and a prune never drops a live
 * slot's last in-link (write_list); a node left without one after linking
 * or a repair gets one (ensure_inlink); and every repair pass walks level 0
 * from the entry point and links each live slot it did not reach from the
 * best reached slot a search finds for it (reconnect), which also catches
 * small islands that in-degrees cannot see. That walk goes through
 * tombstones but not through the slots the pass itself drains (their
 * lists go at its end). Reconnect's links never cut a reached slot off:
 * an append, or, into a full list, a swap (the replaced entry z first
 * goes into the new node's list, so u -> z becomes u -> y -> z); so at
 * quiescence every round links at least one more slot into the reached
 * part, and reconnect walks again until a walk reaches every live slot
 * (or, with concurrent writers, until a walk finds no fewer unreached
 * than the one before).
 *
 * What is guaranteed when: in-degrees keep every live node's in-link
 * count above zero at all times, but not a path from the entry point:
 * pruning a full list (an add's reverse links, a pass's rewiring) can drop
 * the last link INTO a group of nodes that still link to each other (with
 * clustered data, a whole cluster: measured 112-461 nodes in stress-ann).
 * Only a pass's reconnect walk finds that. So "every live node is
 * reachable at level 0 from the entry point" holds right after a repair
 * pass that ran with no add or re-link concurrent with it; from then on
 * until the next pass, adds can cut groups off again (searches then miss
 * them; they are not lost: the next pass links them back). Passes run in
 * slices inside removes and far centroid changes (1/10 tombstones). The
 * removes between a pass's slices cut nothing off (a tombstone keeps its
 * lists and walks go through it; only the pass rewires and drains), so a
 * pass whose slices ran beside removes alone gives the guarantee too
 * (test_repair_sliced checks it); a far centroid change is an add. A
 * pass asked with force runs whole in one call (tests call
 * cogmem__ann_repair(a, 1) at quiescence before checking): it ends the
 * pass in progress, then runs a new one, so every tombstone made before
 * it is drained when it returns.
 */
#ifndef COGMEM_SRC_ANN_HNSW_H
#define COGMEM_SRC_ANN_HNSW_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "numa/mem.h"
#include "shards/node.h"
#include "shards/slab.h"

/* Accumulated angle (radians) between a slot's linked vector and its
 * current one that triggers a re-link: 0.2 rad is a cosine of 0.98. */
#define COGMEM__ANN_RELINK_DRIFT 0.2f
/* Nodes whose insertion may be in flight at once (the tail's size); an
 * adder beyond it waits for a tail entry. */
#define COGMEM__ANN_TAIL 128u
/* The work one call that finds repair due does of the pass in progress
 * (repair.c), in units: a slot collected, a list looked at, a slot the
 * reconnect walk dequeues, a drained slot's link are 1 each; a list
 * rewired is COGMEM__ANN_REWIRE_COST more (it scores up to (2M)^2
 * candidates); a reconnect link costs ef_construction (its search). */
#define COGMEM__ANN_REPAIR_BUDGET 512u
#define COGMEM__ANN_REWIRE_COST 16u
/* Limits of the parameters (validated by the store). */
#define COGMEM__ANN_M_MIN 2u
#define COGMEM__ANN_M_MAX 100u
#define COGMEM__ANN_EF_MAX 65536u

/* cogmem__node_mem.ann_slot: 0 none yet, COGMEM__ANN_SLOT_GONE after the
 * node's removal, else slot + 1. */
#define COGMEM__ANN_SLOT_GONE UINT32_MAX

struct cogmem__ann;

/* One search result: the similarity through the slot's vector (cosine or
 * dot, as asked) and the node's id. */
struct cogmem__ann_hit {
    float sim;
    uint32_t slot;
    uint64_t id;
};

/* Counters and gauges of one index (relaxed reads; exact at quiescence). */
struct cogmem__ann_stats {
    uint64_t linked;     /* slots LINKED */
    uint64_t tail;       /* slots on the tail now */
    uint64_t tombstones; /* DELETED slots awaiting repair */
    uint64_t relinks;    /* slots re-linked after drifting (counter) */
};

/* A new, empty index for rows of `sl` (the kind's slab: data through
 * cogmem__slab_data_of only). m: links per node and level (2m at level
 * 0); efc: candidates while linking. 0 or -ENOMEM. */
int cogmem__ann_new(struct cogmem__ann **out, struct cogmem__mem *mem,
                    struct cogmem__slab *sl, uint32_t m, uint32_t efc,
                    uint64_t seed);

/* Drop every vector reference the index holds (cogmem__vec_unref: frees
 * after a grace period). First half of destruction: call before the
 * store's RCU barrier, then cogmem__ann_free after it. No other call may
 * run. */
void cogmem__ann_release(struct cogmem__ann *a);
void cogmem__ann_free(struct cogmem__ann *a);

/* Reserve a slot for a node about to be added: *slot, 0 or -ENOMEM. */
int cogmem__ann_reserve(struct cogmem__ann *a, uint32_t *slot);
/* Give back a reserved slot that was never inserted. */
void cogmem__ann_unreserve(struct cogmem__ann *a, uint32_t slot);

/* Insert node n (LIVE, its vector v just marked CURRENT) into reserved
 * `slot` and link it. Caller holds the RCU read lock. If n was removed
 * meanwhile, the slot is given back instead. */
void cogmem__ann_insert(struct cogmem__ann *a, uint32_t slot,
                        struct cogmem__node *n, struct cogmem_vec *v);
/* Its two halves: onto the tail (returns a tail ticket, 0 when the node
 * was removed meanwhile and nothing is left to do), then link and off the
 * tail. Separate for tests, which hold a node on the tail. */
uint32_t cogmem__ann_insert_begin(struct cogmem__ann *a, uint32_t slot,
                                  struct cogmem__node *n, struct cogmem_vec *v);
void cogmem__ann_insert_finish(struct cogmem__ann *a, uint32_t slot, uint32_t ticket);

/* Node n has just been turned DEAD and its vector unpublished: tombstone
 * its slot. Caller holds the RCU read lock. Returns 1 when a repair pass
 * is due or in progress (call cogmem__ann_repair outside the section for
 * a slice of it). */
int cogmem__ann_remove(struct cogmem__ann *a, struct cogmem__node *n);

/* Node n's vector was replaced (the new one published, CURRENT). Caller
 * holds the RCU read lock. When the slot has drifted far enough the node
 * is re-linked into a new slot and the old one tombstoned; returns 1 when
 * a repair pass is then due or in progress (cogmem__ann_repair outside
 * the section). */
int cogmem__ann_replaced(struct cogmem__ann *a, struct cogmem__node *n);

/* One slice of the repair pass (COGMEM__ANN_REPAIR_BUDGET units) if a
 * pass is in progress or due, beginning one if none is; with `force`,
 * the pass in progress to its end and then a whole new pass. Returns at
 * once (0) when another caller holds the pass. Returns the lists it
 * rewired plus the links it added to reconnect unreached slots. May be
 * called inside a read-side section (the pass takes its own, defers its
 * frees and never waits for a grace period); tests and forced passes call
 * it outside. Thread-safe. */
uint64_t cogmem__ann_repair(struct cogmem__ann *a, int force);

/* 1 while a repair pass is in progress (a relaxed hint: adds use it to
 * run a slice). Thread-safe. */
int cogmem__ann_pass_open(struct cogmem__ann *a);

/* The ef best non-deleted slots for query q (dim floats; with `cosine`,
 * similarity dot / (qnorm |row|)), best first, plus every tail slot, into
 * out (cap >= ef + COGMEM__ANN_TAIL). *n_out: how many; *visits: slots
 * scored. Caller holds the RCU read lock. 0 or -ENOMEM (scratch). */
int cogmem__ann_search(struct cogmem__ann *a, const float *q, float qnorm,
                       int cosine, uint32_t ef, struct cogmem__ann_hit *out,
                       size_t *n_out, uint64_t *visits);

void cogmem__ann_read_stats(struct cogmem__ann *a, struct cogmem__ann_stats *out);

/* Test support: the LINKED or PENDING slots not reachable at level 0 from
 * the entry point (a breadth-first walk), and the number of live slots.
 * Call at quiescence, outside a read-side section. -ENOMEM on no memory. */
int64_t cogmem__ann_unreachable(struct cogmem__ann *a, uint64_t *live);

#endif /* COGMEM_SRC_ANN_HNSW_H */
