/* cogmem — the pool that concept binding lists take their decay arrays
 * from (strength and decay time, shards/bindex.h).
 *
 * Why: a decay pass walks every concept list and reads and writes just
 * these two arrays. Allocated one by one (jemalloc, next to each list's
 * cold arrays), each list's pair sat on pages of its own, so a pass over
 * many short lists took a TLB miss (a two-dimensional page walk under a
 * hypervisor) and a cold stream start per list. Here they are carved,
 * back to back, out of 2 MiB chunks advised for transparent huge pages:
 * one TLB entry covers the decay arrays of ~170 lists of 1000 bindings or
 * ~1300 lists of 100.
 *
 * Blocks come in size classes, one per list capacity (a power of two from
 * 4 to COGMEM__BPOOL_MAX_CAP): a block of class c holds strength[cap]
 * (padded to a line) then decayed[cap]. A freed block goes on its class's
 * free list (the first word of the block links it) and is handed out again
 * before the chunk's unused end; chunks go back to the allocator only at
 * cogmem__bpool_fini. Larger capacities are not pooled (bindex.c
 * allocates them directly: a pass over lists that long is a stream).
 *
 * Thread-safety: none inside; every call but fini is made with the pool's
 * `lock` held (bindex.c takes it with cogmem__spin_lock, so that a fork
 * never copies it held). All zero is an empty pool.
 */
#ifndef COGMEM_SHARDS_BPOOL_H
#define COGMEM_SHARDS_BPOOL_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "numa/mem.h"

/* Capacities 4, 8, ... COGMEM__BPOOL_MAX_CAP are pooled (192 KiB blocks at
 * most, under a tenth of a chunk). */
#define COGMEM__BPOOL_MAX_CAP 16384u
#define COGMEM__BPOOL_CLASSES 13u

struct cogmem__bpool {
    alignas(64) _Atomic uint32_t lock;
    char *cur, *end;      /* unused part of the newest chunk */
    void *chunks;         /* newest chunk; each chunk's header links the previous */
    void *free[COGMEM__BPOOL_CLASSES];
    /* Where the chunks come from: the first allocation's memory and kind
     * (every caller passes the same ones), kept for fini. */
    struct cogmem__mem *mem;
    enum cogmem__mem_kind kind;
};

/* Bytes of a list's decay arrays at capacity cap (a power of two >= 4),
 * and the offset of decayed[] in them. */
static inline size_t cogmem__bpool_dec_off(uint32_t cap)
{
    return ((size_t)cap * 4 + 63) & ~(size_t)63;
}

static inline size_t cogmem__bpool_bytes(uint32_t cap)
{
    return (cogmem__bpool_dec_off(cap) + (size_t)cap * 8 + 63) & ~(size_t)63;
}

/* 1 if capacity cap is pooled. */
static inline int cogmem__bpool_pooled(uint32_t cap)
{
    return cap >= 4 && cap <= COGMEM__BPOOL_MAX_CAP;
}

/* A 64-byte aligned block of cogmem__bpool_bytes(cap) bytes (cap pooled),
 * or NULL when a new chunk cannot be allocated (from mem's arena `kind`,
 * the same for every call on one pool) or an armed cogmem__mem_fail_nth() says this allocation fails. Caller
 * holds the lock. The block's contents are undefined. */
void *cogmem__bpool_alloc(struct cogmem__bpool *p, struct cogmem__mem *mem,
                          enum cogmem__mem_kind kind, uint32_t cap);

/* Give back a block of capacity cap from cogmem__bpool_alloc. Caller holds
 * the lock; nobody may use the block any more (a prefetch of it is fine:
 * the memory stays mapped until fini). */
void cogmem__bpool_free(struct cogmem__bpool *p, void *block, uint32_t cap);

/* Give every chunk back to the arena it came from (store teardown: no
 * block is in use any more). Leaves an empty pool. */
void cogmem__bpool_fini(struct cogmem__bpool *p);

#endif /* COGMEM_SHARDS_BPOOL_H */
