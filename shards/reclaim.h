/* cogmem — freeing a node and everything hung off it.
 *
 * Above node.c, bindex.c and vec.c, so that none of them has to know the
 * others: a node's free returns its vector reference (vec.h), its side
 * records (bindex.h) and its two lines (the kind's allocator, kind.h).
 */
#ifndef COGMEM_SHARDS_RECLAIM_H
#define COGMEM_SHARDS_RECLAIM_H

#include "shards/node.h"

/* Free a node no reader can reach: never linked, unlinked a grace period
 * ago (the reclaim callback), or drained from a store being closed. Its
 * vector reference, if it still has one, is dropped without a further
 * deferral (see cogmem__vec_unref_quiesced). */
void cogmem__node_free_now(struct cogmem__node *n);

/* Free an unlinked node after a grace period, dropping its vector's
 * reference if it still has one. */
void cogmem__node_retire(struct cogmem__node *n);

#endif /* COGMEM_SHARDS_RECLAIM_H */
