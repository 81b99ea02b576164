/* cogmem — per-kind slabs: the rows that ARE the embeddings.
 *
 * Every struct cogmem_vec (64-byte header, then dim floats) is a row of its
 * kind's slab instead of a separate heap block, so that a recall is a linear
 * pass of the batch kernels over contiguous memory: row i's data starts 64
 * bytes after its header and rows are `stride` bytes apart (64 + dim floats
 * rounded up to a line), so the kernels scan with stride/4 floats and skip
 * the headers. With cfg.bf16_rows, each chunk ends with a region of bf16
 * copies, one per slot (cogmem__slab_bf16_of): the bf16 scan reads that
 * region (and the state words) and no f32 data, and the f32 rows keep the
 * stride of a store without copies, so exact scans of a bf16 store read
 * exactly what they read without it. The zero-copy contract of cogmem_vec
 * is unchanged: a row is written once before publication and only reused
 * after its last reference is dropped AND a grace period has passed (the
 * vector's RCU reclaim callback is what returns the row).
 *
 * Layout: a directory of up to COGMEM__SLAB_MAX_CHUNKS chunks, each holding
 * `rows_per_chunk` rows (about COGMEM__SLAB_CHUNK_BYTES). Chunks are added,
 * never moved or freed before the store closes, because cogmem_vec pointers
 * must stay valid. Rows are named by a 32-bit index (chunk * rows_per_chunk
 * + slot), the free list links indices, and the scanner works from indices
 * and the header's id/norm: nothing in a row or in the free list is a
 * pointer that a later snapshot would have to rewrite except the header's
 * process-local fields (refs, set, rcu), which a loader re-initialises.
 *
 * Row states (the header's `state` word; the scanner reads it with acquire
 * and counts a row only as described in src/recall.c):
 *   FREE      on the free list or never handed out;
 *   UNPUB     allocated: being written, sealed, or waiting for its node to
 *             commit; its data must not be read by the scanner;
 *   CURRENT   published as its node's vector; data immutable;
 *   REPLACED  a concept's centroid that a replacement took out of its node
 *             (may still be referenced); data immutable, score stale;
 *   REMOVED   the vector of a removed node (may still be referenced).
 * Transitions: FREE -> UNPUB (allocation), UNPUB -> CURRENT (by the adder or
 * replacer, CAS, so it fails if the row was already retired), UNPUB|CURRENT
 * -> REPLACED|REMOVED (exchange, by whoever took the node's reference), any
 * -> FREE (reclaim, after refcount 0 and a grace period, or an unpublished
 * row freed at once).
 *
 * Allocation is lock-free: a Treiber stack of free row indices whose head
 * carries an ABA tag, then a bump pointer. A new chunk is allocated by
 * whichever allocator first needs it and installed with a CAS (a loser frees
 * its own copy), before the bump pointer may move into it.
 */
#ifndef COGMEM_SHARDS_SLAB_H
#define COGMEM_SHARDS_SLAB_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "numa/mem.h"

/* Chunk layout (slab.c): [rows_per_chunk rows of `stride` bytes | bf16
 * region], starting on a 2 MiB boundary and advised for transparent huge
 * pages over whole huge pages (measured: on 4 KiB pages a 10^6 x 768 scan
 * on this project's VM ran 1.5-5x slower).
 *
 * NOT YET (issue 10 part B ran out of time; this is the plan, nothing below
 * exists in code): headers apart from the f32 data, so that a region of f32
 * rows can be a read-only file mapping (issue 9's COGMEM_OPEN_MMAP; the
 * snapshot stores rows of dim floats padded to a multiple of 64 bytes,
 * 64-byte aligned -- exactly `stride - 64` here). A chunk would become
 * three regions, each indexed by slot: headers (64 B each: refs, state, id,
 * norm, version -- writable, in memory), f32 data (a pointer per chunk:
 * anonymous memory, or a window of the mapped snapshot whose file offset
 * is chunk * rows_per_chunk * (stride - 64)), bf16 copies. The header would
 * carry its data pointer (or the slot, with the per-chunk data base in the
 * directory), cogmem__vec_data() would follow it instead of adding 64, and
 * the scans would read a dense run of state words and a separate dense run
 * of data (which would also make the bf16 scan's state words a stream
 * instead of one line per 3 KiB). A mapped chunk's rows start CURRENT, are
 * never written, and on replacement move to an anonymous chunk's row; the
 * free list never hands out a mapped slot. */
#define COGMEM__SLAB_CHUNK_BYTES (4u << 20) /* rows + bf16 copies per chunk */
#define COGMEM__SLAB_MAX_CHUNKS 16384u      /* 64 GiB of rows per kind */

enum cogmem__row_state {
    COGMEM__ROW_FREE = 0,
    COGMEM__ROW_UNPUB = 1,
    COGMEM__ROW_CURRENT = 2,
    COGMEM__ROW_REPLACED = 3,
    COGMEM__ROW_REMOVED = 4
};

#define COGMEM__ROW_NONE UINT32_MAX

struct cogmem__slab {
    /* Hot for allocators: the free-list head (tag << 32 | row, row ==
     * COGMEM__ROW_NONE when empty) and the bump pointer, each on its line. */
    alignas(64) _Atomic uint64_t free_head;
    alignas(64) _Atomic uint32_t used; /* rows ever handed out by the bump */
    /* Read-mostly, set at init. */
    alignas(64) char *_Atomic *dir; /* chunk directory */
    struct cogmem__mem *mem;
    enum cogmem__mem_kind mem_kind;
    uint32_t dim;
    uint32_t rows_per_chunk;
    uint32_t max_rows;
    size_t stride; /* bytes from one row header to the next */
    /* bf16 copies (cfg.bf16_rows): a region of their own at the end of
     * each chunk, bf16_base bytes after its first row header, one copy
     * per slot every bstride bytes (64-byte aligned); bstride 0: none. */
    size_t bstride;
    size_t bf16_base;
};

/* Set up an empty slab for vectors of `dim` floats; with `bf16`, each row
 * also has room for a bfloat16 copy in its chunk's bf16 region (written by
 * src/ before publication, like the data). 0 or -ENOMEM. */
int cogmem__slab_init(struct cogmem__slab *sl, struct cogmem__mem *mem,
                      enum cogmem__mem_kind kind, uint32_t dim, int bf16);

/* Free every chunk. No row may be in use any more. */
void cogmem__slab_fini(struct cogmem__slab *sl);

/* A row in state UNPUB (its header's other fields are the caller's to set),
 * or NULL when out of memory (or an injected failure). Lock-free. */
void *cogmem__slab_alloc(struct cogmem__slab *sl);

/* Return a row to the free list (state becomes FREE). The caller guarantees
 * that no reader can still read it: either it was never visible or its
 * last reference was dropped a grace period ago. */
void cogmem__slab_free(struct cogmem__slab *sl, void *row);

/* Rows handed out so far (an upper bound on the scanned index range).
 * Acquire: every chunk below it is installed and initialised. */
static inline uint32_t cogmem__slab_used(struct cogmem__slab *sl)
{
    return atomic_load_explicit(&sl->used, memory_order_acquire);
}

/* The bf16 copy of the row whose header is `row` (NULL without bf16
 * copies): slot s of a chunk has its header at chunk + s * stride and its
 * copy at chunk + bf16_base + s * bstride. */
static inline uint16_t *cogmem__slab_bf16_of(const struct cogmem__slab *sl,
                                             void *row, uint32_t index)
{
    if (!sl->bstride)
        return NULL;
    size_t slot = index % sl->rows_per_chunk;
    return (uint16_t *)((char *)row - slot * sl->stride + sl->bf16_base +
                        slot * sl->bstride);
}

/* Chunk c's first row header (c < used / rows_per_chunk rounded up). */
static inline char *cogmem__slab_chunk(struct cogmem__slab *sl, uint32_t c)
{
    /* Relaxed: cogmem__slab_used()'s acquire already ordered the chunk's
     * installation before us. */
    return atomic_load_explicit(&sl->dir[c], memory_order_relaxed);
}

#endif /* COGMEM_SHARDS_SLAB_H */
