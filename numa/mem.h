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
};

/* Set up the per-kind arenas. Returns 0 or -ENOMEM. */
int cogmem__mem_init(struct cogmem__mem *m);

/* Release the arenas. Every block must have been freed. */
void cogmem__mem_fini(struct cogmem__mem *m);

/* A 64-byte aligned block of at least `size` bytes, or NULL. Thread-safe. */
void *cogmem__mem_alloc(struct cogmem__mem *m, enum cogmem__mem_kind kind,
                        size_t size);

/* Give back a block from cogmem__mem_alloc (NULL ignored). Thread-safe;
 * any thread may free a block another allocated. */
void cogmem__mem_free(struct cogmem__mem *m, enum cogmem__mem_kind kind,
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
