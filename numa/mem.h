/* cogmem — the one allocation interface for the store's memory.
 *
 * Every byte the store owns (records, embeddings, deferred-free records)
 * comes from cogmem__mem_alloc() and goes back through cogmem__mem_free(),
 * tagged with the memory kind it belongs to. That single choke point is what
 * lets placement (per-kind jemalloc arenas, NUMA policies) be decided in one
 * place, and what lets the tests inject allocation failures.
 *
 * Backends, chosen at build time:
 *  - jemalloc (meson option `jemalloc`): one arena per memory kind, created
 *    per store; only mallocx/dallocx are used, never malloc/free, because
 *    Debian's libjemalloc also exports plain malloc. MALLOCX_TCACHE_NONE:
 *    an automatic thread cache can hand back memory of another arena.
 *  - fallback: aligned_alloc/free.
 * Both return 64-byte aligned blocks (cache-line records, SIMD rows).
 */
#ifndef COGMEM_NUMA_MEM_H
#define COGMEM_NUMA_MEM_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum cogmem__mem_kind {
    COGMEM__MEM_CONCEPT = 0, /* concept records and centroids */
    COGMEM__MEM_EPISODE = 1, /* episode records and embeddings */
    COGMEM__MEM_META = 2,    /* everything else: deferred-free records, ... */
    COGMEM__MEM_NKINDS = 3
};

struct cogmem__mem {
    unsigned arena[COGMEM__MEM_NKINDS]; /* jemalloc arena indices */
    int use_arenas;                     /* 1 once the arenas exist */
    /* The mbind request each arena's extents are bound with (packed, as
     * mem.c's placement hooks read it; 0: jemalloc's default hooks). An
     * arena from the pool keeps its earlier store's. */
    uint32_t placed[COGMEM__MEM_NKINDS];
    /* Called once, by whoever drops the last hold (cogmem__mem_unhold). */
    void (*release)(struct cogmem__mem *m);
    /* Holds on the memory: 1 for its owner (the open store) plus one per
     * RCU callback queued and not finished that will free into it. On a
     * line of its own: every deferral writes it, every allocation reads
     * the arena indices above. */
    alignas(64) _Atomic int64_t holds;
};

/* Set up the per-kind arenas (taken from the process's pool of idle ones
 * when it has some: see mem.c) and the owner's hold; `release` is what
 * the last cogmem__mem_unhold() calls. Returns 0 or -ENOMEM. */
int cogmem__mem_init(struct cogmem__mem *m, void (*release)(struct cogmem__mem *m));

/* Release the arenas. Every block must have been freed. `keep_pages`: the
 * arenas go back to the pool with their pages still mapped (right for a
 * small store: the next one reuses them without page faults); otherwise
 * their unused pages are returned to the system first. */
void cogmem__mem_fini(struct cogmem__mem *m, int keep_pages);

/* A transparent huge page (x86-64). */
#define COGMEM__HUGE_PAGE ((size_t)2 << 20)

/* For a block over-allocated by one huge page (`raw`, from
 * cogmem__mem_alloc or cogmem__mem_alloc_zeroed): the first huge-page
 * boundary at or after raw, with the `bytes` from there (whole huge pages,
 * which then fit in the block) advised MADV_HUGEPAGE before their first
 * touch, so that their first faults map huge pages. Advice only: refused,
 * harmlessly, where THP is off. What lies before the boundary and after
 * `bytes` is address space only, never touched, never resident.
 * Thread-safe; touches no memory. */
char *cogmem__mem_huge_place(void *raw, size_t bytes);

/* Free the pooled arenas (jemalloc) or the cached blocks (aligned_alloc):
 * called once by the library's destructor, after the last deferred free
 * has released its store into them (shards/rcu.c). */
void cogmem__mem_pools_fini(void);

/* One more hold: taken before a deferral that will free into m (relaxed:
 * the deferral's own hand-off orders it; the owner's hold keeps the count
 * above zero meanwhile). */
static inline void cogmem__mem_hold(struct cogmem__mem *m)
{
    atomic_fetch_add_explicit(&m->holds, 1, memory_order_relaxed);
}

/* Drop a hold; the last one calls m->release(m), which may free m. acq_rel:
 * everything each holder did to the memory happens before the release. */
static inline void cogmem__mem_unhold(struct cogmem__mem *m)
{
    if (atomic_fetch_sub_explicit(&m->holds, 1, memory_order_acq_rel) == 1)
        m->release(m);
}

/* A 64-byte aligned block of at least `size` bytes, or NULL. Thread-safe. */
void *cogmem__mem_alloc(struct cogmem__mem *m, enum cogmem__mem_kind kind,
                        size_t size);

/* Give back a block from cogmem__mem_alloc (NULL ignored). Thread-safe;
 * any thread may free a block another allocated. */
void cogmem__mem_free(struct cogmem__mem *m, enum cogmem__mem_kind kind,
                      void *p, size_t size);

/* As cogmem__mem_alloc, but every byte of the block is zero. Cheap where
 * the memory is known zero already: jemalloc's fresh or purged pages, or
 * a block the fallback's cache got back through cogmem__mem_free_zeroed;
 * otherwise zeroed here. */
void *cogmem__mem_alloc_zeroed(struct cogmem__mem *m, enum cogmem__mem_kind kind,
                               size_t size);

/* As cogmem__mem_free, for a block whose bytes the caller has made all
 * zero again (it re-zeroed exactly what it wrote): the fallback's cache
 * keeps it as clean, for the next cogmem__mem_alloc_zeroed. */
void cogmem__mem_free_zeroed(struct cogmem__mem *m, enum cogmem__mem_kind kind,
                             void *p, size_t size);

/* The store object itself, before its arenas exist (and after they are
 * gone): same backend, default arena. */
void *cogmem__mem_boot_alloc(size_t size);
void cogmem__mem_boot_free(void *p, size_t size);

/* The allocator's figures for kind's arena: bytes allocated and resident.
 * Both 0 without jemalloc arenas. Refreshes jemalloc's stats epoch. */
void cogmem__mem_arena_stats(struct cogmem__mem *m, enum cogmem__mem_kind kind,
                             uint64_t *allocated, uint64_t *resident);

/* Validate a placement request (cogmem_config fields) and resolve its
 * automatic nodes (-1: node 0 for concepts, the highest node for
 * episodes). -EINVAL for an unknown policy or a node below -1, -ENODEV for
 * a node the machine does not have. */
int cogmem__mem_check_policy(int *policy, int *concept_node, int *episode_node);

/* Apply a checked policy to the arenas of m: from now on every extent
 * jemalloc maps for a kind's arena is mbind()-ed (an extent alloc hook).
 * Returns enum cogmem_numa_fallback: COGMEM_NUMA_PLACED, or why not. */
int cogmem__mem_place(struct cogmem__mem *m, int policy, int concept_node,
                      int episode_node);

/* Number of NUMA nodes of the machine (1 without libnuma). */
int cogmem__mem_numa_nodes(void);

/* "jemalloc-arenas" or "aligned_alloc": what this build allocates with. */
const char *cogmem__mem_backend(void);

/* Test hook: make the n-th following allocation (1 = the next one) of any
 * store fail; 0 disarms. Process-wide. Used to prove that a failed call
 * changes nothing. */
void cogmem__mem_fail_nth(long n);

/* 1 when an armed cogmem__mem_fail_nth() countdown says the current
 * allocation must fail (and consumes it). For allocators layered on top of
 * cogmem__mem_alloc that often hand out memory without calling it (the
 * slabs' row free lists), so that each of their allocations is still a
 * failure point for the tests. */
int cogmem__mem_fail_injected(void);

#endif /* COGMEM_NUMA_MEM_H */
