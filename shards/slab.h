/* cogmem — per-kind slabs: the rows that ARE the embeddings.
 *
 * Every struct cogmem_vec is a row of its kind's slab instead of a separate
 * heap block, so that a recall is a linear pass of the batch kernels over
 * contiguous memory. A row has up to three parts, each in a region of its
 * chunk of its own, indexed by the row's slot in the chunk:
 *   header  the 64-byte struct cogmem_vec (refs, state, id, norm, version:
 *           writable, process-local) at chunk + slot * 64;
 *   data    dim floats padded to a multiple of 64 bytes (`stride` bytes,
 *           64-byte aligned) at chunk + data_base + slot * stride;
 *   bf16    with cfg.bf16_rows, the bfloat16 copy (`bstride` bytes) at
 *           chunk + bf16_base + slot * bstride.
 * So a scan reads a dense run of state words (64 rows' headers are 4 KiB)
 * and then a gap-free run of data exactly like a flat row-major copy; the
 * bf16 scan reads headers and bf16 copies and no f32 data; and exact scans
 * of a bf16 store read exactly what they read without the copies.
 * cogmem__slab_data_of / cogmem__slab_bf16_of find a header's parts. The zero-copy contract of cogmem_vec
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
#include "shards/rcu.h"

/* Chunk layout (slab.c): [headers | f32 data | bf16 copies], starting on
 * a 2 MiB boundary and advised for transparent huge pages over whole huge
 * pages (measured: on 4 KiB pages a 10^6 x 768 scan on this project's VM
 * ran 1.5-5x slower).
 *
 * A read-only file mapping (issue 9's COGMEM_OPEN_MMAP, cogmem__slab_map):
 * a snapshot stores rows of dim floats padded to a multiple of 64 bytes,
 * 64-byte aligned -- exactly this slab's data region format, `stride`
 * bytes per row. A mapped slab's rows [0, mapped_rows) take their data
 * from the mapping (row i at map_base + i * stride) and their headers from
 * anonymous blocks of rows_per_chunk headers (they are written: refs,
 * state), one per "mapped chunk" [0, mapped_chunks); the mapped chunks
 * have no data region of their own. Mapped rows start CURRENT (the loader
 * publishes them like any row) and their data is never written
 * (PROT_READ: a write would fault). Replacing or adding writes a new
 * anonymous row as always: the bump pointer starts after the mapped
 * chunks, and the free list never takes a mapped row (a FREE mapped row is
 * retired for good; the slots of the last mapped chunk past mapped_rows
 * stay FREE and are never handed out). Scans need no change but one: a
 * chunk's data base is cogmem__slab_chunk_data(), not "chunk + data_base".
 * No bf16 copies with a mapping (cogmem__slab_map refuses). */
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

struct cogmem__kind;

/* The row header: every row starts with it, the embedding's floats follow
 * 64 bytes on (the refcounting and publication rules are shards/vec.h's).
 * Here, with the slab, because the slab initialises and links rows through
 * it (`refs` carries the free-list link while a row is FREE). */
struct cogmem_vec {
    _Atomic uint64_t refs;   /*  0 */
    /*  8: node the vector was made for. Atomic (relaxed) only because a
     * recall scan reads the id of a REPLACED row that may already be queued
     * for reuse (src/recall.c), and then treats it as a mere hint. */
    _Atomic uint64_t id;
    struct cogmem__kind *kind; /* 16: owner: allocator, counters, slab */
    struct rcu_head rcu;     /* 24: deferred free */
    uint32_t dim;            /* 40 */
    float norm;              /* 44 */
    uint32_t version;        /* 48: set before publication, then constant */
    uint32_t shard;          /* 52: shard of id, for the deferred-free counters */
    _Atomic uint32_t state;  /* 56: enum cogmem__row_state (slab.h) */
    uint32_t row;            /* 60: index in the slab: set when first handed out, then fixed */
};
_Static_assert(sizeof(struct cogmem_vec) == 64, "header is one line; data 64-aligned");

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
    /* Regions of a chunk (see the top of this file): headers at offset 0,
     * 64 bytes each; f32 data at data_base, `stride` bytes per row (dim
     * floats rounded up to 64 bytes); bf16 copies at bf16_base, bstride
     * bytes each (bstride 0: no copies). */
    size_t stride;
    size_t data_base;
    size_t bstride;
    size_t bf16_base;
    /* The mapping (cogmem__slab_map), set before the store is shared and
     * constant after: rows below mapped_rows have their data at map_base
     * + row * stride; map_len bytes from map_start are unmapped at fini.
     * All zero without a mapping. */
    const char *map_base;
    void *map_start;
    size_t map_len;
    uint32_t mapped_rows;
    uint32_t mapped_chunks;
};

/* Set up an empty slab for vectors of `dim` floats; with `bf16`, each row
 * also has room for a bfloat16 copy in its chunk's bf16 region (written by
 * src/ before publication, like the data). 0 or -ENOMEM. */
int cogmem__slab_init(struct cogmem__slab *sl, struct cogmem__mem *mem,
                      enum cogmem__mem_kind kind, uint32_t dim, int bf16);

/* Serve rows [0, rows) of an EMPTY slab (nothing allocated yet, no bf16
 * copies) from `base`, rows of `stride` bytes (64-byte aligned, readable for
 * rows * stride bytes, never written through): their headers are set up
 * FREE in anonymous memory and cogmem__slab_take() hands them out.
 * The slab takes ownership of the mapping [map_start, map_start + map_len)
 * and munmaps it at fini (also on failure here: then nothing else
 * changed). 0, -EINVAL (slab not empty, bf16 copies, misaligned base, too
 * many rows) or -ENOMEM. Single-threaded: before the store is shared. */
int cogmem__slab_map(struct cogmem__slab *sl, const void *base, uint32_t rows,
                     void *map_start, size_t map_len);

/* Make rows [0, rows) of an EMPTY, unmapped slab exist now (their chunks
 * allocated, the bump pointer past them), FREE and on no free list, for a
 * loader that fills them by index (cogmem__slab_take). 0 or -ENOMEM
 * (chunks already made stay until fini). Single-threaded, at load. */
int cogmem__slab_prealloc(struct cogmem__slab *sl, uint32_t rows);

/* Row `index` -- mapped (< mapped_rows) or preallocated (< the bump
 * pointer) -- in state UNPUB, like a fresh allocation (its header's other
 * fields are the caller's), or NULL if it is not FREE (taken twice) or
 * out of range. Single-threaded, at load. */
void *cogmem__slab_take(struct cogmem__slab *sl, uint32_t index);

/* Free every chunk, and the mapping. No row may be in use any more. */
void cogmem__slab_fini(struct cogmem__slab *sl);

/* A row in state UNPUB (its header's other fields are the caller's to set),
 * or NULL when out of memory (or an injected failure). Lock-free. */
void *cogmem__slab_alloc(struct cogmem__slab *sl);

/* Return a row to the free list (state becomes FREE; a mapped row is only
 * marked FREE and never handed out again). The caller guarantees
 * that no reader can still read it: either it was never visible or its
 * last reference was dropped a grace period ago. */
void cogmem__slab_free(struct cogmem__slab *sl, void *row);

/* Rows handed out so far (an upper bound on the scanned index range).
 * Acquire: every chunk below it is installed and initialised. */
static inline uint32_t cogmem__slab_used(struct cogmem__slab *sl)
{
    return atomic_load_explicit(&sl->used, memory_order_acquire);
}

/* 1 when the slab never handed out more rows than its first chunk holds:
 * a small store, whose memory is worth keeping for the next one (its
 * slab's blocks go back clean, its arenas keep their pages). For teardown
 * (relaxed: no other thread uses the slab). */
static inline int cogmem__slab_small(struct cogmem__slab *sl)
{
    return atomic_load_explicit(&sl->used, memory_order_relaxed) <= sl->rows_per_chunk;
}

/* The f32 data of the row whose header is `row`, with index `index`
 * (its header's `row` field): slot s of a chunk has its header at
 * chunk + 64 s and its data at chunk + data_base + s * stride; a mapped
 * row's data is in the mapping (read-only). */
static inline float *cogmem__slab_data_of(const struct cogmem__slab *sl,
                                          void *row, uint32_t index)
{
    if (index < sl->mapped_rows) /* constant after open: well predicted */
        return (float *)(sl->map_base + (size_t)index * sl->stride);
    size_t slot = index % sl->rows_per_chunk;
    return (float *)((char *)row - slot * 64u + sl->data_base + slot * sl->stride);
}

/* The same row's bf16 copy, or NULL without bf16 copies. */
static inline uint16_t *cogmem__slab_bf16_of(const struct cogmem__slab *sl,
                                             void *row, uint32_t index)
{
    if (!sl->bstride)
        return NULL;
    size_t slot = index % sl->rows_per_chunk;
    return (uint16_t *)((char *)row - slot * 64u + sl->bf16_base +
                        slot * sl->bstride);
}

/* Chunk c's first row header (c < used / rows_per_chunk rounded up). */
static inline char *cogmem__slab_chunk(struct cogmem__slab *sl, uint32_t c)
{
    /* Relaxed: cogmem__slab_used()'s acquire already ordered the chunk's
     * installation before us. */
    return atomic_load_explicit(&sl->dir[c], memory_order_relaxed);
}

/* Chunk c's first row's f32 data (rows follow `stride` bytes apart): in
 * the mapping for a mapped chunk, else after the chunk's headers. */
static inline const char *cogmem__slab_chunk_data(struct cogmem__slab *sl, uint32_t c)
{
    if (c < sl->mapped_chunks)
        return sl->map_base + (size_t)c * sl->rows_per_chunk * sl->stride;
    return cogmem__slab_chunk(sl, c) + sl->data_base;
}

#endif /* COGMEM_SHARDS_SLAB_H */
