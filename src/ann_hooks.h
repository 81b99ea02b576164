/* cogmem — the graph indexes' hooks into the store (internal).
 *
 * One line at each place that changes what an index covers: an add
 * reserves a slot before linking its node (so that -ENOMEM changes
 * nothing) and inserts it once the node is LIVE and its row CURRENT; a
 * remove tombstones the slot and, once tombstones are many, runs a slice
 * of a repair pass (as does an add while a pass is in progress); a
 * centroid replacement hands the slot the new vector. Each is a no-op on
 * a store without cfg.index (st->ann[] NULL). The graph itself is
 * src/ann/hnsw.h; the approximate recall that searches it src/ann_recall.c.
 */
#ifndef COGMEM_SRC_ANN_HOOKS_H
#define COGMEM_SRC_ANN_HOOKS_H

#include "cogmem_stats.h"
#include "src/ann/hnsw.h"
#include "src/store.h"

static inline struct cogmem__ann *cogmem__ann_of(cogmem_store *st, enum cogmem_kind kind)
{
    return st->ann[kind == COGMEM_EPISODE];
}

/* Before the node is linked into its set: 0 or -ENOMEM. */
static inline int cogmem__ann_add_reserve(cogmem_store *st, enum cogmem_kind kind,
                                          uint32_t *slot)
{
    struct cogmem__ann *a = cogmem__ann_of(st, kind);
    return a ? cogmem__ann_reserve(a, slot) : 0;
}

/* The add failed after the reservation. */
static inline void cogmem__ann_add_abort(cogmem_store *st, enum cogmem_kind kind,
                                         uint32_t slot)
{
    struct cogmem__ann *a = cogmem__ann_of(st, kind);
    if (a)
        cogmem__ann_unreserve(a, slot);
}

/* Run a slice of the repair pass that is due or in progress and count
 * its work (index_repairs). Inside or outside a read-side section (the
 * pass defers its frees, never waits for a grace period). */
void cogmem__ann_repair_due(cogmem_store *st, enum cogmem_kind kind);

/* The node is LIVE and v CURRENT; inside the add's read-side section.
 * Links it, then runs a slice of the repair pass if one is in progress:
 * adds advance a pass too, so one left open when removes stop (after a
 * churn, say) still ends. */
static inline void cogmem__ann_add_commit(cogmem_store *st, enum cogmem_kind kind,
                                          uint32_t slot, struct cogmem__node *n,
                                          struct cogmem_vec *v)
{
    struct cogmem__ann *a = cogmem__ann_of(st, kind);
    if (!a)
        return;
    cogmem__ann_insert(a, slot, n, v);
    if (cogmem__ann_pass_open(a))
        cogmem__ann_repair_due(st, kind);
}

/* After the remove's vector exchange, inside its section: 1 when a repair
 * pass is due (cogmem__ann_repair_due after the section). */
static inline int cogmem__ann_on_remove(cogmem_store *st, enum cogmem_kind kind,
                                        struct cogmem__node *n)
{
    struct cogmem__ann *a = cogmem__ann_of(st, kind);
    return a ? cogmem__ann_remove(a, n) : 0;
}


/* After a centroid replacement's publication, inside its section: 1 when
 * a repair pass is due (cogmem__ann_repair_due after the section). */
static inline int cogmem__ann_on_replace(cogmem_store *st, struct cogmem__node *n)
{
    return st->ann[0] ? cogmem__ann_replaced(st->ann[0], n) : 0;
}

/* The gauges of cogmem_stats (index_linked, index_tail, index_tombstones). */
void cogmem__ann_gauges(cogmem_store *st, cogmem_stats *o);

#endif /* COGMEM_SRC_ANN_HOOKS_H */
