/* cogmem — per-kind row slabs (see slab.h). */
#include "shards/slab.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

static struct cogmem_vec *row_at(struct cogmem__slab *sl, char *chunk, uint32_t slot)
{
    (void)sl; /* headers are 64 bytes apart whatever the slab's dim */
    return (struct cogmem_vec *)(chunk + (size_t)slot * sizeof(struct cogmem_vec));
}

static struct cogmem_vec *row_of(struct cogmem__slab *sl, uint32_t row)
{
    char *chunk = atomic_load_explicit(&sl->dir[row / sl->rows_per_chunk],
                                       memory_order_acquire);
    return row_at(sl, chunk, row % sl->rows_per_chunk);
}

static size_t dir_bytes(const struct cogmem__slab *sl)
{
    (void)sl;
    return COGMEM__SLAB_MAX_CHUNKS * sizeof *sl->dir;
}

int cogmem__slab_init(struct cogmem__slab *sl, struct cogmem__mem *mem,
                      enum cogmem__mem_kind kind, uint32_t dim, int bf16)
{
    size_t data = ((size_t)dim * sizeof(float) + 63) & ~(size_t)63;
    size_t half = bf16 ? ((size_t)dim * sizeof(uint16_t) + 63) & ~(size_t)63 : 0;
    sl->stride = data;
    sl->bstride = half;
    sl->mem = mem;
    sl->mem_kind = kind;
    sl->dim = dim;
    size_t rpc = COGMEM__SLAB_CHUNK_BYTES / (sizeof(struct cogmem_vec) + data + half);
    sl->rows_per_chunk = rpc ? (uint32_t)rpc : 1u;
    /* Regions of a chunk: headers, f32 rows, bf16 copies; all multiples
     * of 64 bytes, so every row of every region is line-aligned. */
    sl->data_base = (size_t)sl->rows_per_chunk * sizeof(struct cogmem_vec);
    sl->bf16_base = sl->data_base + (size_t)sl->rows_per_chunk * data;
    uint64_t max = (uint64_t)sl->rows_per_chunk * COGMEM__SLAB_MAX_CHUNKS;
    sl->max_rows = max < COGMEM__ROW_NONE ? (uint32_t)max : COGMEM__ROW_NONE - 1;
    /* A zeroed block, not an atomic_init loop nor a memset: the fuzz
     * build's instrumented loop over 16384 entries was a sixth of an empty
     * store's open and close, and the memset of its 128 KiB a tenth of an
     * open; a clean block from numa/mem.c's cache costs neither (fini
     * zeroes the few entries it set). All-zero bits are a null pointer,
     * and a lock-free atomic pointer has its plain representation, on
     * every target we build for. */
    _Static_assert(ATOMIC_POINTER_LOCK_FREE == 2, "dir entries are plain pointers");
    sl->dir = cogmem__mem_alloc_zeroed(mem, COGMEM__MEM_META, dir_bytes(sl));
    if (!sl->dir)
        return -ENOMEM;
    atomic_init(&sl->free_head, (uint64_t)COGMEM__ROW_NONE);
    atomic_init(&sl->used, 0);
    return 0;
}

static size_t chunk_bytes(struct cogmem__slab *sl)
{
    return (size_t)sl->rows_per_chunk * (sizeof(struct cogmem_vec) + sl->stride + sl->bstride);
}

static void chunk_free(struct cogmem__slab *sl, char *ch, uint32_t written);

/* A mapped chunk's anonymous block: its headers only. */
static size_t mapped_chunk_bytes(const struct cogmem__slab *sl)
{
    return (size_t)sl->rows_per_chunk * sizeof(struct cogmem_vec);
}

void cogmem__slab_fini(struct cogmem__slab *sl)
{
    if (!sl->dir)
        return;
    /* Chunks exist only below the row high-water mark: an allocator makes
     * chunk u / rows_per_chunk for a `used` value u it read, and `used`
     * only grows, so no chunk lies past the final one's chunk. */
    uint32_t used = atomic_load_explicit(&sl->used, memory_order_relaxed);
    uint32_t last = used / sl->rows_per_chunk;
    /* A slab that used at most its first chunk re-zeroes what it wrote
     * (rows below `used`, the block-start word) and gives its blocks back
     * clean, so the next small store's slab costs only what it touches
     * (numa/mem.c's cache). A larger one frees as is: its memory goes back
     * to the system (src/store.c), and zeroing it would be wasted. */
    int clean = cogmem__slab_small(sl) && !sl->mapped_chunks;
    for (uint32_t c = 0; c <= last && c < COGMEM__SLAB_MAX_CHUNKS; c++) {
        char *ch = atomic_load_explicit(&sl->dir[c], memory_order_relaxed);
        if (ch && c < sl->mapped_chunks)
            cogmem__mem_free(sl->mem, sl->mem_kind, ch, mapped_chunk_bytes(sl));
        else if (ch)
            chunk_free(sl, ch, !clean ? UINT32_MAX
                               : used > c * sl->rows_per_chunk ? used - c * sl->rows_per_chunk
                                                               : 0);
        if (clean)
            atomic_store_explicit(&sl->dir[c], NULL, memory_order_relaxed);
    }
    if (sl->map_len)
        munmap(sl->map_start, sl->map_len);
    sl->map_len = 0;
    sl->mapped_rows = sl->mapped_chunks = 0;
    if (clean)
        cogmem__mem_free_zeroed(sl->mem, COGMEM__MEM_META, sl->dir, dir_bytes(sl));
    else
        cogmem__mem_free(sl->mem, COGMEM__MEM_META, sl->dir, dir_bytes(sl));
    sl->dir = NULL;
}

/* Chunks start on a 2 MiB boundary and the whole chunk is advised for
 * transparent huge pages. Measured on the 2-core VM of issue 10 (10^6 x
 * 768 rows, 16-row dot_batch calls as a recall makes them): the same scan
 * over 4 KiB pages took 1.5-5x as long as over huge pages, the TLB misses
 * (two-dimensional page walks under a hypervisor) costing more than the
 * arithmetic. A 64-byte aligned block from cogmem__mem_alloc is therefore
 * over-allocated by 2 MiB and the rows placed at its first 2 MiB boundary
 * (cogmem__mem_huge_place); the word after the rows remembers the block's
 * start. */
#define HUGE_PAGE COGMEM__HUGE_PAGE

/* The chunk rounded up to whole huge pages: a huge page is used only where
 * the advised range covers all of its 2 MiB (advising just the rows, which
 * end short of the boundary, measured half of each chunk on 4 KiB pages). */
static size_t huge_bytes(struct cogmem__slab *sl)
{
    return (chunk_bytes(sl) + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
}

static size_t block_bytes(struct cogmem__slab *sl)
{
    return huge_bytes(sl) + HUGE_PAGE;
}

/* A chunk of zero bytes (numa/mem.c makes that cheap for a reused clean
 * block): a zero header is a FREE row with no references, so a chunk needs
 * no initialisation loop -- a row's header gets its index when the bump
 * hands it out (cogmem__slab_alloc), and a scanner below `used` reads
 * either that row's real state or FREE. Measured: initialising the 32768
 * headers of a dim-1 chunk was a seventh of the fuzzer's time. */
static char *chunk_new(struct cogmem__slab *sl)
{
    char *raw = cogmem__mem_alloc_zeroed(sl->mem, sl->mem_kind, block_bytes(sl));
    if (!raw)
        return NULL;
    char *ch = cogmem__mem_huge_place(raw, huge_bytes(sl));
    size_t bytes = chunk_bytes(sl);
    memcpy(ch + bytes, &raw, sizeof raw); /* after the rows, in the last huge page */
    return ch;
}

/* Free a chunk. `written` (UINT32_MAX: do not care): the rows of the
 * chunk that were ever handed out are those below it (only for a slab's
 * first chunk); they and the block-start word are zeroed and the block
 * given back clean. */
static void chunk_free(struct cogmem__slab *sl, char *ch, uint32_t written)
{
    char *raw;
    memcpy(&raw, ch + chunk_bytes(sl), sizeof raw);
    if (written == UINT32_MAX) {
        cogmem__mem_free(sl->mem, sl->mem_kind, raw, block_bytes(sl));
        return;
    }
    size_t n = written < sl->rows_per_chunk ? written : sl->rows_per_chunk;
    memset(ch, 0, n * sizeof(struct cogmem_vec));
    memset(ch + sl->data_base, 0, n * sl->stride);
    if (sl->bstride)
        memset(ch + sl->bf16_base, 0, n * sl->bstride);
    memset(ch + chunk_bytes(sl), 0, sizeof(uintptr_t)); /* the block-start word */
    cogmem__mem_free_zeroed(sl->mem, sl->mem_kind, raw, block_bytes(sl));
}

/* Make sure chunk c exists. 0 or -ENOMEM. */
static int ensure_chunk(struct cogmem__slab *sl, uint32_t c)
{
    if (atomic_load_explicit(&sl->dir[c], memory_order_acquire))
        return 0;
    char *ch = chunk_new(sl);
    if (!ch)
        return -ENOMEM;
    /* Its headers are zero: FREE rows (chunk_new). */
    _Static_assert(COGMEM__ROW_FREE == 0, "a zero header is a FREE row");
    char *expect = NULL;
    /* Release: a thread that finds the chunk sees its zeroed headers. */
    if (!atomic_compare_exchange_strong_explicit(&sl->dir[c], &expect, ch,
                                                 memory_order_release,
                                                 memory_order_acquire))
        chunk_free(sl, ch, 0); /* another won; we wrote no row */
    return 0;
}

int cogmem__slab_map(struct cogmem__slab *sl, const void *base, uint32_t rows,
                     void *map_start, size_t map_len)
{
    uint64_t nch = ((uint64_t)rows + sl->rows_per_chunk - 1) / sl->rows_per_chunk;
    int rc = 0;
    if (atomic_load_explicit(&sl->used, memory_order_relaxed) || sl->mapped_rows ||
        sl->bstride || ((uintptr_t)base & 63) || rows >= sl->max_rows)
        rc = -EINVAL;
    for (uint32_t c = 0; rc == 0 && c < nch; c++) {
        char *ch = cogmem__mem_alloc(sl->mem, sl->mem_kind, mapped_chunk_bytes(sl));
        if (!ch) {
            rc = -ENOMEM;
            break;
        }
        for (uint32_t i = 0; i < sl->rows_per_chunk; i++) {
            struct cogmem_vec *v = row_at(sl, ch, i);
            atomic_init(&v->refs, 0);
            atomic_init(&v->state, COGMEM__ROW_FREE);
            v->row = c * sl->rows_per_chunk + i;
        }
        /* Relaxed: the store is not shared yet; its publication to other
         * threads orders this. */
        atomic_store_explicit(&sl->dir[c], ch, memory_order_relaxed);
    }
    if (rc) {
        for (uint32_t c = 0; c < nch; c++) {
            char *ch = atomic_load_explicit(&sl->dir[c], memory_order_relaxed);
            if (ch)
                cogmem__mem_free(sl->mem, sl->mem_kind, ch, mapped_chunk_bytes(sl));
            atomic_store_explicit(&sl->dir[c], NULL, memory_order_relaxed);
        }
        if (map_len)
            munmap(map_start, map_len);
        return rc;
    }
    sl->map_base = base;
    sl->map_start = map_start;
    sl->map_len = map_len;
    sl->mapped_rows = rows;
    sl->mapped_chunks = (uint32_t)nch;
    /* New rows start after the mapped chunks: the bump never hands out a
     * mapped slot (nor the tail slots of the last mapped chunk, which have
     * no data). Relaxed: single-threaded, as above. */
    atomic_store_explicit(&sl->used, (uint32_t)nch * sl->rows_per_chunk,
                          memory_order_relaxed);
    return 0;
}

int cogmem__slab_prealloc(struct cogmem__slab *sl, uint32_t rows)
{
    if (atomic_load_explicit(&sl->used, memory_order_relaxed) || sl->mapped_rows ||
        rows > sl->max_rows)
        return -EINVAL;
    for (uint32_t c = 0; (uint64_t)c * sl->rows_per_chunk < rows; c++)
        if (ensure_chunk(sl, c))
            return -ENOMEM;
    /* Release: whoever reads `used` (with acquire) sees the chunks. */
    atomic_store_explicit(&sl->used, rows, memory_order_release);
    return 0;
}

void *cogmem__slab_take(struct cogmem__slab *sl, uint32_t index)
{
    if (index >= (sl->mapped_rows ? sl->mapped_rows
                                  : atomic_load_explicit(&sl->used, memory_order_relaxed)))
        return NULL;
    struct cogmem_vec *v = row_of(sl, index);
    if (atomic_load_explicit(&v->state, memory_order_relaxed) != COGMEM__ROW_FREE)
        return NULL;
    v->row = index; /* a mapped row's is set already; a preallocated one's not */
    atomic_store_explicit(&v->state, COGMEM__ROW_UNPUB, memory_order_relaxed);
    return v;
}

static void *pop_free(struct cogmem__slab *sl)
{
    uint64_t head = atomic_load_explicit(&sl->free_head, memory_order_acquire);
    for (;;) {
        uint32_t row = (uint32_t)head;
        if (row == COGMEM__ROW_NONE)
            return NULL;
        struct cogmem_vec *v = row_of(sl, row);
        /* The link lives in `refs` while the row is FREE. Relaxed: if the
         * row was popped and reused meanwhile, the tag makes the CAS fail. */
        uint64_t next = atomic_load_explicit(&v->refs, memory_order_relaxed);
        uint64_t nh = (((head >> 32) + 1) << 32) | (uint32_t)next;
        /* Acquire on success: the freeing thread's last use of the row
         * happens before our writes to it. */
        if (atomic_compare_exchange_weak_explicit(&sl->free_head, &head, nh,
                                                  memory_order_acquire,
                                                  memory_order_acquire)) {
            /* The CAS succeeded, so `next` was the link (a row or NONE),
             * not a stale read. Its header is what the next pop reads
             * first, and rows come back from the call_rcu worker's
             * batches cold: ask for it now. */
            if ((uint32_t)next != COGMEM__ROW_NONE)
                __builtin_prefetch(row_of(sl, (uint32_t)next), 1);
            return v;
        }
    }
}

void *cogmem__slab_alloc(struct cogmem__slab *sl)
{
    if (cogmem__mem_fail_injected())
        return NULL;
    struct cogmem_vec *v = pop_free(sl);
    if (!v) {
        uint32_t u = atomic_load_explicit(&sl->used, memory_order_relaxed);
        for (;;) {
            if (u >= sl->max_rows)
                return NULL;
            if (ensure_chunk(sl, u / sl->rows_per_chunk))
                return NULL;
            /* Release: a scanner that reads `used` sees the chunk that
             * ensure_chunk installed (or that we acquired from dir). */
            if (atomic_compare_exchange_weak_explicit(&sl->used, &u, u + 1,
                                                      memory_order_release,
                                                      memory_order_relaxed))
                break;
        }
        v = row_of(sl, u);
        /* Ours alone from the CAS on: nobody else reads `row` of a row it
         * does not hold (scanners read the state word only). */
        v->row = u;
    }
    /* Relaxed: the row is not yet visible to anybody that reads its data;
     * scanners skip UNPUB rows and learn of CURRENT through a release. */
    atomic_store_explicit(&v->state, COGMEM__ROW_UNPUB, memory_order_relaxed);
    return v;
}

void cogmem__slab_free(struct cogmem__slab *sl, void *p)
{
    struct cogmem_vec *v = p;
    atomic_store_explicit(&v->state, COGMEM__ROW_FREE, memory_order_relaxed);
    if (v->row < sl->mapped_rows)
        return; /* its data is the file's: retired for good (slab.h) */
    uint64_t head = atomic_load_explicit(&sl->free_head, memory_order_relaxed);
    do {
        atomic_store_explicit(&v->refs, (uint32_t)head, memory_order_relaxed);
        /* Release: our (and, through RCU, every reader's) use of the row
         * happens before the next allocator's writes. */
    } while (!atomic_compare_exchange_weak_explicit(
        &sl->free_head, &head, (head & ~(uint64_t)UINT32_MAX) | v->row,
        memory_order_release, memory_order_relaxed));
}
