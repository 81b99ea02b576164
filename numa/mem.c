/* cogmem — allocation interface (see mem.h). */
#include "numa/mem.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cogmem_config.h"

#if COGMEM_HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>
#include <stdio.h>
#endif

#define COGMEM__ALIGN 64

/* Fault injection countdown: relaxed is enough, it only has to fire once
 * somewhere near the chosen allocation in single-threaded tests. */
static _Atomic long fail_countdown;

void cogmem__mem_fail_nth(long n)
{
    atomic_store_explicit(&fail_countdown, n, memory_order_relaxed);
}

static int should_fail(void)
{
    long c = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
    if (__builtin_expect(c == 0, 1))
        return 0;
    c = atomic_fetch_sub_explicit(&fail_countdown, 1, memory_order_relaxed);
    return c == 1;
}

int cogmem__mem_fail_injected(void) { return should_fail(); }

static size_t round_up(size_t size)
{
    return (size + COGMEM__ALIGN - 1) & ~(size_t)(COGMEM__ALIGN - 1);
}

/* x rounded up to a huge-page boundary. */
static uintptr_t huge_up(uintptr_t x)
{
    return (x + COGMEM__HUGE_PAGE - 1) & ~(uintptr_t)(COGMEM__HUGE_PAGE - 1);
}

char *cogmem__mem_huge_place(void *raw, size_t bytes)
{
    char *p = (char *)huge_up((uintptr_t)raw);
    (void)madvise(p, bytes, MADV_HUGEPAGE);
    return p;
}

#if COGMEM_HAVE_JEMALLOC

/* The pool of idle arenas. Creating and destroying a store's three arenas
 * cost 280 us (jemalloc 5.3, this machine's 2-core VM), and every block a
 * fresh arena hands out is a page fault away from use; an arena that an
 * earlier store gave back has its pages mapped already (1.5 us for a
 * 128 KiB block against 210 us from a new arena). A slot holds
 * (index + 1) << 32 | placement (the packed mbind request its extents were
 * bound with, 0: jemalloc's default hooks), or 0 when empty. Atomic slots,
 * no lock, so that a child after fork() finds the pool consistent. */
/* Sixteen stores' worth: closed stores keep their arenas until their last
 * deferred free, which liburcu's call_rcu worker runs up to ~10 ms later
 * (it sleeps that long after a batch), so a host that opens and closes
 * stores quickly has several of them waiting; with four stores' worth the
 * pool ran dry and every open created arenas again. An idle arena keeps
 * only what its store touched (small stores; larger ones purge). */
#define POOL_SLOTS 48
static _Atomic uint64_t pool[POOL_SLOTS];

static void arena_ctl(unsigned a, const char *what)
{
    char name[64];
    snprintf(name, sizeof name, "arena.%u.%s", a, what);
    mallctl(name, NULL, NULL, NULL, 0);
}

/* An arena from the pool (*tag: its placement) or a new one. */
static int arena_get(unsigned *a, uint32_t *tag)
{
    for (int i = 0; i < POOL_SLOTS; i++) {
        uint64_t e = atomic_exchange_explicit(&pool[i], 0, memory_order_acquire);
        if (e) {
            *a = (unsigned)(e >> 32) - 1;
            *tag = (uint32_t)e;
            return 0;
        }
    }
    size_t sz = sizeof *a;
    *tag = 0;
    return mallctl("arenas.create", a, &sz, NULL, 0) == 0 ? 0 : -ENOMEM;
}

/* Give an arena whose blocks are all freed back to the pool, or destroy it
 * when the pool is full. Release: a later taker's use of the arena happens
 * after ours. */
static void arena_put(unsigned a, uint32_t tag, int keep_pages)
{
    if (!keep_pages)
        arena_ctl(a, "purge");
    uint64_t e = (uint64_t)(a + 1) << 32 | tag;
    for (int i = 0; i < POOL_SLOTS; i++) {
        uint64_t empty = 0;
        if (atomic_compare_exchange_strong_explicit(&pool[i], &empty, e,
                                                    memory_order_release,
                                                    memory_order_relaxed))
            return;
    }
    arena_ctl(a, "destroy");
}

/* dlclose() of the library (or exit): the pool's arenas would otherwise
 * stay in jemalloc, which outlives us, three more for every reload. */
void cogmem__mem_pools_fini(void)
{
    for (int i = 0; i < POOL_SLOTS; i++) {
        uint64_t e = atomic_exchange_explicit(&pool[i], 0, memory_order_acquire);
        if (e)
            arena_ctl((unsigned)(e >> 32) - 1, "destroy");
    }
}

int cogmem__mem_init(struct cogmem__mem *m, void (*release)(struct cogmem__mem *m))
{
    m->use_arenas = 0;
    m->release = release;
    atomic_init(&m->holds, 1);
    for (int k = 0; k < COGMEM__MEM_NKINDS; k++) {
        if (arena_get(&m->arena[k], &m->placed[k]) != 0) {
            for (int j = 0; j < k; j++)
                arena_put(m->arena[j], m->placed[j], 1);
            return -ENOMEM;
        }
    }
    m->use_arenas = 1;
    return 0;
}

void cogmem__mem_fini(struct cogmem__mem *m, int keep_pages)
{
    if (!m->use_arenas)
        return;
    for (int k = 0; k < COGMEM__MEM_NKINDS; k++)
        arena_put(m->arena[k], m->placed[k], keep_pages);
    m->use_arenas = 0;
}

void *cogmem__mem_alloc(struct cogmem__mem *m, enum cogmem__mem_kind kind,
                        size_t size)
{
    if (should_fail() || size == 0)
        return NULL;
    return mallocx(round_up(size), MALLOCX_ARENA(m->arena[kind]) |
                                       MALLOCX_ALIGN(COGMEM__ALIGN) |
                                       MALLOCX_TCACHE_NONE);
}

/* jemalloc knows which of its pages are zero already (fresh from the
 * system, or purged): it memsets only the others, or purges them. */
void *cogmem__mem_alloc_zeroed(struct cogmem__mem *m, enum cogmem__mem_kind kind,
                               size_t size)
{
    if (should_fail() || size == 0)
        return NULL;
    return mallocx(round_up(size), MALLOCX_ARENA(m->arena[kind]) |
                                       MALLOCX_ALIGN(COGMEM__ALIGN) |
                                       MALLOCX_TCACHE_NONE | MALLOCX_ZERO);
}

void cogmem__mem_free(struct cogmem__mem *m, enum cogmem__mem_kind kind,
                      void *p, size_t size)
{
    (void)m;
    (void)kind;
    if (p)
        sdallocx(p, round_up(size), MALLOCX_TCACHE_NONE);
}

void cogmem__mem_free_zeroed(struct cogmem__mem *m, enum cogmem__mem_kind kind,
                             void *p, size_t size)
{
    cogmem__mem_free(m, kind, p, size);
}

void *cogmem__mem_boot_alloc(size_t size)
{
    if (should_fail())
        return NULL;
    return mallocx(round_up(size), MALLOCX_ALIGN(COGMEM__ALIGN));
}

void cogmem__mem_boot_free(void *p, size_t size)
{
    if (p)
        sdallocx(p, round_up(size), 0);
}

const char *cogmem__mem_backend(void) { return "jemalloc-arenas"; }

static uint64_t arena_stat(unsigned arena, const char *what)
{
    char name[96];
    size_t v = 0, sz = sizeof v;
    snprintf(name, sizeof name, "stats.arenas.%u.%s", arena, what);
    if (mallctl(name, &v, &sz, NULL, 0) != 0)
        return 0; /* a jemalloc built without statistics */
    return v;
}

void cogmem__mem_arena_stats(struct cogmem__mem *m, enum cogmem__mem_kind kind,
                             uint64_t *allocated, uint64_t *resident)
{
    *allocated = *resident = 0;
    if (!m->use_arenas)
        return;
    /* jemalloc's statistics are a snapshot taken when the epoch advances. */
    uint64_t epoch = 1;
    size_t sz = sizeof epoch;
    mallctl("epoch", &epoch, &sz, &epoch, sz);
    unsigned a = m->arena[kind];
    *allocated = arena_stat(a, "small.allocated") + arena_stat(a, "large.allocated");
    *resident = arena_stat(a, "resident");
}

#else /* aligned_alloc fallback */

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COGMEM__ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define COGMEM__ASAN 1
#endif
#ifdef COGMEM__ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) __asan_poison_memory_region((p), (n))
#define UNPOISON(p, n) __asan_unpoison_memory_region((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* A process-wide cache of freed large blocks (a store's slab chunks and
 * directories), reused by the next store that asks for the same size.
 * Without it every short-lived store maps its 6 MiB chunk afresh and
 * faults in (and the kernel zeroes) every page it touches: measured 2-7 ms
 * for an ASan store's first add, which capped the API fuzzer at tens of
 * programs a second. A cached block's first word holds its size, with
 * bit 0 set when the block is CLEAN: all its other bytes zero, because it
 * was given back through cogmem__mem_free_zeroed (whose caller re-zeroed
 * what it wrote) or made by cogmem__mem_alloc_zeroed. A clean block serves
 * cogmem__mem_alloc_zeroed without a memset, so a small store's slab costs
 * what it touches, not the 4 MiB it could hold. Under AddressSanitizer
 * the first POISON_MAX bytes of a cached block after its first line are
 * poisoned, so a use after free there is still reported: all of a store
 * object or a slab directory, the start of a chunk's block. Not more:
 * unpoisoning a range of more than 512 KiB releases its shadow pages
 * (ASan's clear_shadow_mmap_threshold) and poisoning it again faults them
 * back in, which made a 6 MiB chunk's trip through the cache cost more
 * than mapping it afresh (measured: a fifth of the fuzzer's time).
 * Atomic slots, no lock: fork-safe.
 *
 * Sized for closed stores that wait for their last deferred free: liburcu's
 * call_rcu worker sleeps 10 ms after a batch, so a host (the fuzzer) that
 * opens and closes a thousand small stores a second has about ten of them
 * waiting at any time, four blocks each (two chunks, two directories), and
 * with fewer slots every new store missed and mapped fresh memory
 * (measured: 8 slots, 130 programs a second). Bounded: CACHE_SLOTS blocks
 * of at most CACHE_MAX bytes and about CACHE_BYTES in all (address space:
 * a small store's chunk is resident only where it was used); a full cache
 * frees its blocks in turn to take new ones; a store that used more than a
 * chunk per kind empties the cache when it closes. */
#define CACHE_SLOTS 256
#define CACHE_MIN ((size_t)64 << 10)
#define CACHE_MAX ((size_t)16 << 20)
#define CACHE_BYTES ((size_t)1 << 30)
#define CLEAN ((size_t)1)
#define POISON_MAX ((size_t)256 << 10)

/* The poisoned part of a cached block of `bytes` (from its second line). */
static size_t poisoned(size_t bytes)
{
    size_t n = bytes - COGMEM__ALIGN;
    return n < POISON_MAX ? n : POISON_MAX;
}
static void *_Atomic cache[CACHE_SLOTS];
static _Atomic size_t cache_bytes; /* sum of the cached blocks' sizes */

static int cacheable(size_t bytes) { return bytes >= CACHE_MIN && bytes <= CACHE_MAX; }

/* A cacheable block's memory: calloc'ed with a line to spare, aligned up
 * inside it, the pointer calloc returned kept in the word before the
 * block. Why calloc and not aligned_alloc + memset: a block this large
 * comes from fresh pages (glibc's mmap'ed chunks; AddressSanitizer's
 * secondary allocator), which calloc knows are zero, so a new block is
 * zero without being written, and costs only the pages a store touches
 * (measured: the memset of a 4 MiB chunk missed by the cache was a fifth
 * of the API fuzzer's time). Only cacheable and big blocks are made so; every
 * free of one goes through block_release. */
static void *block_fresh(size_t bytes)
{
    char *raw = calloc(1, bytes + COGMEM__ALIGN);
    if (!raw)
        return NULL;
    char *p = (char *)(((uintptr_t)raw + COGMEM__ALIGN) & ~(uintptr_t)(COGMEM__ALIGN - 1));
    memcpy(p - sizeof raw, &raw, sizeof raw);
    return p;
}

static void block_release(void *p)
{
    char *raw;
    memcpy(&raw, (char *)p - sizeof raw, sizeof raw);
    free(raw);
}

/* Free a block taken out of the cache (its first word: size | CLEAN). */
static void cache_drop(void *p)
{
    size_t word;
    memcpy(&word, p, sizeof word);
    atomic_fetch_sub_explicit(&cache_bytes, word & ~CLEAN, memory_order_relaxed);
    UNPOISON((char *)p + COGMEM__ALIGN, poisoned(word & ~CLEAN));
    block_release(p);
}

/* A cached block of `bytes`, clean if `clean` (then with its first word
 * zeroed again, so all of it is zero), or NULL. */
static void *cache_take(size_t bytes, int clean)
{
    for (int i = 0; i < CACHE_SLOTS; i++) {
        if (!atomic_load_explicit(&cache[i], memory_order_relaxed))
            continue;
        /* Acquire: the freeing thread's writes happen before our use. */
        void *p = atomic_exchange_explicit(&cache[i], NULL, memory_order_acquire);
        if (!p)
            continue;
        size_t have;
        memcpy(&have, p, sizeof have);
        if ((have & ~CLEAN) == bytes && (!clean || (have & CLEAN))) {
            atomic_fetch_sub_explicit(&cache_bytes, bytes, memory_order_relaxed);
            UNPOISON((char *)p + COGMEM__ALIGN, poisoned(bytes));
            if (clean)
                memset(p, 0, sizeof have);
            return p;
        }
        void *none = NULL;
        if (!atomic_compare_exchange_strong_explicit(&cache[i], &none, p,
                                                     memory_order_release,
                                                     memory_order_relaxed))
            cache_drop(p);
    }
    return NULL;
}

static void cache_put(void *p, size_t bytes, int clean)
{
    size_t word = bytes | (clean ? CLEAN : 0);
    memcpy(p, &word, sizeof word);
    POISON((char *)p + COGMEM__ALIGN, poisoned(bytes));
    /* Relaxed: a bound, not an ordering. */
    if (atomic_fetch_add_explicit(&cache_bytes, bytes, memory_order_relaxed) + bytes <=
        CACHE_BYTES) {
        for (int i = 0; i < CACHE_SLOTS; i++) {
            void *none = NULL;
            if (atomic_compare_exchange_strong_explicit(&cache[i], &none, p,
                                                        memory_order_release,
                                                        memory_order_relaxed))
                return;
        }
    }
    /* Full (or over CACHE_BYTES): take the place of the block at a
     * rotating slot, which is freed. Refusing the newcomer instead let
     * blocks of sizes nobody asks for again (a reserve's tables) hold the
     * cache for good, and every chunk after them missed. The byte bound
     * is thereby soft: it may be passed by the difference of the two
     * blocks' sizes. acq_rel: release for our block, acquire for the one
     * we free. */
    static _Atomic unsigned evict;
    unsigned i = atomic_fetch_add_explicit(&evict, 1, memory_order_relaxed) % CACHE_SLOTS;
    p = atomic_exchange_explicit(&cache[i], p, memory_order_acq_rel);
    if (p)
        cache_drop(p);
}

static void cache_flush(void)
{
    for (int i = 0; i < CACHE_SLOTS; i++) {
        void *p = atomic_exchange_explicit(&cache[i], NULL, memory_order_acquire);
        if (p)
            cache_drop(p);
    }
}

/* dlclose() of the library (or exit): free what the cache holds. */
void cogmem__mem_pools_fini(void) { cache_flush(); }

int cogmem__mem_init(struct cogmem__mem *m, void (*release)(struct cogmem__mem *m))
{
    m->use_arenas = 0;
    m->release = release;
    atomic_init(&m->holds, 1);
    for (int k = 0; k < COGMEM__MEM_NKINDS; k++)
        m->placed[k] = 0;
    return 0;
}

void cogmem__mem_fini(struct cogmem__mem *m, int keep_pages)
{
    (void)m;
    if (!keep_pages)
        cache_flush();
}

/* Larger than any cached block: a shard's home array of records (16
 * MiB and up, shards/node.h), a big table. Always fresh zero pages
 * (block_fresh), zeroed or not: a memset would commit all of a block that
 * is touched only as records are placed in it (measured: 512 MiB resident
 * at the open of a store pre-sized for 2^19 nodes a kind, in this
 * backend's ASan build, and a forked child too slow to finish). */
static int big(size_t bytes) { return bytes > CACHE_MAX; }

/* Every allocation of this backend: a cacheable size from the cache (a
 * clean block if `zeroed`) or else fresh zero pages (block_fresh), so a
 * block that comes back clean (cogmem__mem_free_zeroed) is reused from
 * then on; a big one fresh; any other size from libc, zeroed here if
 * asked. */
static void *block_alloc(size_t bytes, int zeroed)
{
    if (cacheable(bytes)) {
        void *p = cache_take(bytes, zeroed);
        return p ? p : block_fresh(bytes);
    }
    if (big(bytes))
        return block_fresh(bytes);
    void *p = aligned_alloc(COGMEM__ALIGN, bytes);
    if (p && zeroed)
        memset(p, 0, bytes);
    return p;
}

void *cogmem__mem_alloc(struct cogmem__mem *m, enum cogmem__mem_kind kind,
                        size_t size)
{
    (void)m;
    (void)kind;
    if (should_fail() || size == 0)
        return NULL;
    return block_alloc(round_up(size), 0);
}

void *cogmem__mem_alloc_zeroed(struct cogmem__mem *m, enum cogmem__mem_kind kind,
                               size_t size)
{
    (void)m;
    (void)kind;
    if (should_fail() || size == 0)
        return NULL;
    return block_alloc(round_up(size), 1);
}

/* Every free of this backend: into the cache (clean or not), back to
 * block_fresh's calloc (big), or to libc. */
static void block_free(void *p, size_t size, int clean)
{
    if (p && cacheable(round_up(size)))
        cache_put(p, round_up(size), clean);
    else if (p && big(round_up(size)))
        block_release(p);
    else
        free(p);
}

void cogmem__mem_free(struct cogmem__mem *m, enum cogmem__mem_kind kind,
                      void *p, size_t size)
{
    (void)m;
    (void)kind;
    block_free(p, size, 0);
}

void cogmem__mem_free_zeroed(struct cogmem__mem *m, enum cogmem__mem_kind kind,
                             void *p, size_t size)
{
    (void)m;
    (void)kind;
    block_free(p, size, 1);
}

/* The store object (180 KiB, mostly statistics) through the cache too:
 * from aligned_alloc it was a fresh mapping every open under ASan, and its
 * page faults a tenth of an empty store's open and close. */
void *cogmem__mem_boot_alloc(size_t size)
{
    if (should_fail())
        return NULL;
    return block_alloc(round_up(size), 0);
}

void cogmem__mem_boot_free(void *p, size_t size) { block_free(p, size, 0); }

const char *cogmem__mem_backend(void) { return "aligned_alloc"; }

void cogmem__mem_arena_stats(struct cogmem__mem *m, enum cogmem__mem_kind kind,
                             uint64_t *allocated, uint64_t *resident)
{
    (void)m;
    (void)kind;
    *allocated = *resident = 0;
}

#endif

/* ------------------------------------------------------------ placement */

#if COGMEM_HAVE_NUMA
#include <numa.h>
#include <numaif.h>
#endif

#include "cogmem_stats.h"

int cogmem__mem_numa_nodes(void)
{
#if COGMEM_HAVE_NUMA
    return numa_available() < 0 ? 1 : numa_num_configured_nodes();
#else
    return 1;
#endif
}

/* Whether node n exists. Without libnuma only node 0 does. */
static int node_exists(int n)
{
#if COGMEM_HAVE_NUMA
    if (numa_available() < 0)
        return n == 0;
    return n >= 0 && n <= numa_max_node() &&
           numa_bitmask_isbitset(numa_all_nodes_ptr, (unsigned)n);
#else
    return n == 0;
#endif
}

static int highest_node(void)
{
#if COGMEM_HAVE_NUMA
    if (numa_available() >= 0)
        return numa_max_node();
#endif
    return 0;
}

int cogmem__mem_check_policy(int *policy, int *concept_node, int *episode_node)
{
    if (*policy < COGMEM_NUMA_INTERLEAVE || *policy > COGMEM_NUMA_NONE ||
        *concept_node < -1 || *episode_node < -1)
        return -EINVAL;
    /* Nodes are checked whatever the policy: a config naming a node the
     * machine lacks is wrong even where that policy would not use it. */
    if ((*concept_node >= 0 && !node_exists(*concept_node)) ||
        (*episode_node >= 0 && !node_exists(*episode_node)))
        return -ENODEV;
    if (*concept_node < 0)
        *concept_node = 0;
    if (*episode_node < 0)
        *episode_node = highest_node();
    return 0;
}

#if COGMEM_HAVE_JEMALLOC

/* Every arena of a store gets our extent hooks (cogmem__mem_place): they
 * are jemalloc's defaults except `alloc`, which
 *  - advises transparent huge pages for big extents (thp_advise), mapping
 *    them to the next 2 MiB boundary (slack, below), and
 *  - mbind()s the extent when the store asked for a NUMA placement,
 * and `dalloc` and `destroy`, which unmap that slack with its extent.
 * The hooks are process-wide and stay with an arena that goes back to the
 * pool; what differs per arena (its placement) is in arena_place[]. */
static extent_hooks_t *default_hooks;
static extent_hooks_t cogmem_hooks;
static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;

/* Extents from this size on are 2 MiB aligned and advised for huge pages,
 * to their last byte (see slack below).
 * jemalloc grows an arena's address space by extents of 2 MiB and up
 * (2, 2.5, 3, ... MiB), so this is every growth: a big store's records
 * and map tables sit on huge pages, the tables included (they are
 * allocated first, into the first, smallest extents: by jemalloc's
 * growth sizes a 4 MiB threshold would leave about half of the 16 MiB of
 * tables of a 10^6-key store on 4 KiB pages). The price: a fresh arena faults in
 * and zeroes a whole 2 MiB page at its first touch, up to 6 MiB of
 * resident memory for a store of kilobytes; pooled arenas keep their
 * pages, so a process pays it once per pooled arena. Measured (bench/store,
 * 10^6 keys, 1 thread): info 1.3-1.6x faster with the records and tables
 * on huge pages: on 4 KiB pages nearly every record miss is also a TLB
 * miss (128 MiB of records), and this machine is a VM, where a TLB miss
 * walks two page tables. */
#define THP_MIN COGMEM__HUGE_PAGE

/* Advice only: refused (harmlessly) where THP is off or "never". */
static void thp_advise(void *p, size_t size)
{
    uintptr_t lo = huge_up((uintptr_t)p);
    uintptr_t hi = ((uintptr_t)p + size) & ~(uintptr_t)(COGMEM__HUGE_PAGE - 1);
    if (hi > lo)
        (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
}

/* Slack. Not every growth size is whole huge pages: jemalloc's page size
 * classes below 8 MiB include 2.5, 3, 3.5, 5 and 7 MiB, and a 7 MiB extent
 * on a 2 MiB boundary ends 1 MiB into a huge page that is not all its own.
 * The kernel maps a huge page only where one mapping with the advice
 * covers all of its 2 MiB, so that last MiB stayed on 4 KiB pages, and
 * whatever jemalloc carved from it (a shard's table, a home array of
 * records) with it: seen as 1 in 6 runs of test_shards' huge-page test
 * failing, the table or the record in an unadvised 1 MiB mapping. Such an
 * extent is therefore mapped up to the next boundary, all of it advised;
 * the slack after it is ours, never jemalloc's, and is unmapped when
 * jemalloc unmaps the extent that ends where it begins (slack_drop). Its
 * cost: up to 1.5 MiB of address space per such extent, resident only as
 * part of a huge page whose other part jemalloc touched -- a few per arena,
 * as only the first growth steps have such sizes.
 *
 * A slot holds the end of an extent followed by slack (the slack runs to
 * the next boundary, so the end says it all), SLACK_CLAIMED while the
 * extent is being mapped, or 0. Atomic slots, no lock: a hook runs on any
 * thread, and a child after fork() finds the registry consistent. Full,
 * an extent is mapped as asked and only its whole huge pages advised. */
#define SLACK_SLOTS 1024
#define SLACK_CLAIMED ((uintptr_t)1)
static _Atomic uintptr_t slack_end[SLACK_SLOTS];

/* A free slot, now SLACK_CLAIMED, or -1. */
static int slack_claim(void)
{
    for (int i = 0; i < SLACK_SLOTS; i++) {
        uintptr_t none = 0;
        if (atomic_compare_exchange_strong_explicit(&slack_end[i], &none, SLACK_CLAIMED,
                                                    memory_order_relaxed,
                                                    memory_order_relaxed))
            return i;
    }
    return -1;
}

/* jemalloc unmapped [addr, addr + size): the slack after it goes too.
 * Relaxed: the slot only names address space, and the unmap that made it
 * free again is ordered by the kernel, not by us. */
static void slack_drop(void *addr, size_t size)
{
    uintptr_t end = (uintptr_t)addr + size;
    if (end == huge_up(end))
        return;
    for (int i = 0; i < SLACK_SLOTS; i++) {
        uintptr_t e = end;
        if (atomic_load_explicit(&slack_end[i], memory_order_relaxed) == end &&
            atomic_compare_exchange_strong_explicit(&slack_end[i], &e, 0,
                                                    memory_order_relaxed,
                                                    memory_order_relaxed)) {
            (void)munmap((void *)end, huge_up(end) - end);
            return;
        }
    }
}

#if COGMEM_HAVE_NUMA
static void bind_range(void *p, size_t size, unsigned arena);
#endif

static void *hook_alloc(extent_hooks_t *h, void *new_addr, size_t size,
                        size_t alignment, bool *zero, bool *commit,
                        unsigned arena_ind)
{
    (void)h;
    void *p = NULL;
    int big = size >= THP_MIN;
    size_t span = size; /* what is mapped: the extent and its slack */
    /* Only where we choose the address: a 2 MiB aligned extent is huge
     * pages from end to end, its slack included. A larger alignment is
     * still "at least `alignment`" for jemalloc; if it fails, ask again as
     * jemalloc did. */
    if (big && !new_addr && alignment <= COGMEM__HUGE_PAGE) {
        int slot = huge_up(size) != size ? slack_claim() : -1;
        if (slot >= 0)
            span = huge_up(size);
        p = default_hooks->alloc(default_hooks, NULL, span, COGMEM__HUGE_PAGE, zero, commit,
                                 arena_ind);
        if (slot >= 0)
            atomic_store_explicit(&slack_end[slot], p ? (uintptr_t)p + size : 0,
                                  memory_order_relaxed);
        if (!p)
            span = size;
    }
    if (!p)
        p = default_hooks->alloc(default_hooks, new_addr, size, alignment, zero,
                                 commit, arena_ind);
    if (!p)
        return NULL;
    if (big)
        thp_advise(p, span);
#if COGMEM_HAVE_NUMA
    /* The slack too: a huge page spans both, and a mapping with two
     * policies is two mappings, neither of which covers it. */
    bind_range(p, span, arena_ind);
#endif
    return p;
}

/* The default hooks unmap an extent here (dalloc: only without opt.retain;
 * false when it did) or at an arena's destroy: its slack with it. */
static bool hook_dalloc(extent_hooks_t *h, void *addr, size_t size, bool committed,
                        unsigned arena_ind)
{
    (void)h;
    bool kept = default_hooks->dalloc(default_hooks, addr, size, committed, arena_ind);
    if (!kept)
        slack_drop(addr, size);
    return kept;
}

static void hook_destroy(extent_hooks_t *h, void *addr, size_t size, bool committed,
                         unsigned arena_ind)
{
    (void)h;
    default_hooks->destroy(default_hooks, addr, size, committed, arena_ind);
    slack_drop(addr, size);
}

static void hooks_init(void)
{
    /* Arena 0's hooks are jemalloc's defaults (we never replace them). */
    size_t sz = sizeof default_hooks;
    if (mallctl("arena.0.extent_hooks", &default_hooks, &sz, NULL, 0) != 0) {
        default_hooks = NULL;
        return;
    }
    cogmem_hooks = *default_hooks;
    cogmem_hooks.alloc = hook_alloc;
    cogmem_hooks.dalloc = hook_dalloc;
    cogmem_hooks.destroy = hook_destroy;
}

/* Install our hooks on arena a (again: harmless when they are already
 * its hooks). 0, or -1 when jemalloc refuses. */
static int hooks_install(unsigned a)
{
    pthread_once(&hooks_once, hooks_init);
    if (!default_hooks)
        return -1;
    extent_hooks_t *hp = &cogmem_hooks;
    char name[64];
    snprintf(name, sizeof name, "arena.%u.extent_hooks", a);
    return mallctl(name, NULL, NULL, &hp, sizeof hp) == 0 ? 0 : -1;
}

#if !COGMEM_HAVE_NUMA
/* Every arena of m on our hooks (huge pages for big extents). Failure
 * only costs the advice: the default hooks stay, memory works. */
static void hooks_cover(struct cogmem__mem *m)
{
    for (int k = 0; k < COGMEM__MEM_NKINDS; k++)
        (void)hooks_install(m->arena[k]);
}
#endif

#endif /* COGMEM_HAVE_JEMALLOC */

#if COGMEM_HAVE_NUMA && COGMEM_HAVE_JEMALLOC

/* The mbind() request of one arena, looked up by the extent hook through
 * the arena index jemalloc passes it. Arena indices are small and dense. */
#define MAX_ARENAS 4096
struct placement {
    int mode; /* MPOL_*, or -1: leave alone */
    int node; /* for MPOL_BIND */
};
/* Packed (mode + 1) << 16 | node; 0: leave alone. */
static _Atomic uint32_t arena_place[MAX_ARENAS];

static uint32_t pack(struct placement pl)
{
    return (uint32_t)(pl.mode + 1) << 16 | (uint32_t)pl.node;
}

static void bind_range(void *p, size_t size, unsigned arena)
{
    if (arena >= MAX_ARENAS)
        return;
    /* Acquire: pairs with the release store made before the arena's hooks
     * were installed, whichever thread jemalloc runs this hook on. */
    uint32_t packed = atomic_load_explicit(&arena_place[arena], memory_order_acquire);
    struct placement pl = {(int)(packed >> 16) - 1, (int)(packed & 0xffff)};
    if (pl.mode < 0)
        return;
    unsigned long mask[16] = {0}; /* up to 1024 nodes */
    unsigned long maxnode = sizeof mask * 8;
    if (pl.mode == MPOL_BIND) {
        mask[pl.node / 64] = 1ul << (pl.node % 64);
    } else if (pl.mode == MPOL_INTERLEAVE) {
        for (int n = 0; n <= numa_max_node() && n < (int)maxnode; n++)
            if (numa_bitmask_isbitset(numa_all_nodes_ptr, (unsigned)n))
                mask[n / 64] |= 1ul << (n % 64);
    } else {
        maxnode = 0; /* MPOL_LOCAL takes an empty mask */
    }
    /* Failure leaves the kernel's default policy: memory still works, and
     * the tests (get_mempolicy) would show it. */
    (void)mbind(p, size, pl.mode, maxnode ? mask : NULL, maxnode, 0);
}

/* Give kind k of m an arena with jemalloc's default hooks and no pages
 * bound yet, in place of one from the pool that was bound for another
 * placement (its pages, and the address space jemalloc retains and reuses
 * without asking the hooks again, stay bound the old way). 0 or -ENOMEM. */
static int arena_renew(struct cogmem__mem *m, int k)
{
    unsigned a;
    size_t sz = sizeof a;
    if (mallctl("arenas.create", &a, &sz, NULL, 0) != 0)
        return -ENOMEM;
    arena_ctl(m->arena[k], "destroy");
    m->arena[k] = a;
    m->placed[k] = 0;
    return 0;
}

int cogmem__mem_place(struct cogmem__mem *m, int policy, int concept_node,
                      int episode_node)
{
    if (!m->use_arenas)
        return COGMEM_NUMA_NO_ARENAS;
    int why = COGMEM_NUMA_PLACED;
    if (policy == COGMEM_NUMA_NONE) {
        why = COGMEM_NUMA_NOT_ASKED;
    } else if (numa_available() < 0) {
        why = COGMEM_NUMA_UNAVAILABLE;
    } else {
        pthread_once(&hooks_once, hooks_init);
        if (!default_hooks)
            why = COGMEM_NUMA_NO_ARENAS;
    }
    for (int k = 0; k < COGMEM__MEM_NKINDS; k++) {
        uint32_t want = 0; /* unplaced: our hooks, no mbind */
        if (why == COGMEM_NUMA_PLACED) {
            struct placement pl = {MPOL_INTERLEAVE, 0};
            if (policy == COGMEM_NUMA_LOCAL)
                pl.mode = MPOL_LOCAL;
            else if (policy == COGMEM_NUMA_SEPARATE)
                /* META follows concepts: it is small and mostly
                 * deferred-free records of either kind. */
                pl = (struct placement){MPOL_BIND, k == COGMEM__MEM_EPISODE ? episode_node
                                                                            : concept_node};
            want = pack(pl);
        }
        /* A pooled arena placed as we want it keeps its pages; one placed
         * otherwise is replaced by a fresh one. */
        if (m->placed[k] != want && m->placed[k] != 0 && arena_renew(m, k) != 0)
            return COGMEM_NUMA_NO_ARENAS;
        unsigned a = m->arena[k];
        if (a >= MAX_ARENAS) {
            if (want != 0)
                return COGMEM_NUMA_NO_ARENAS;
            (void)hooks_install(a); /* huge pages still; bind_range skips it */
            continue;
        }
        /* Always stored, 0 included: an index jemalloc reuses for a new
         * arena may still carry a destroyed arena's placement. Release:
         * pairs with bind_range's acquire, wherever the hook runs. */
        atomic_store_explicit(&arena_place[a], want, memory_order_release);
        if (hooks_install(a) != 0) {
            if (want != 0)
                return COGMEM_NUMA_NO_ARENAS;
            continue;
        }
        m->placed[k] = want;
    }
    return why;
}

#else

int cogmem__mem_place(struct cogmem__mem *m, int policy, int concept_node,
                      int episode_node)
{
#if COGMEM_HAVE_JEMALLOC
    if (m->use_arenas)
        hooks_cover(m);
#endif
    (void)m;
    (void)concept_node;
    (void)episode_node;
    if (policy == COGMEM_NUMA_NONE)
        return COGMEM_NUMA_NOT_ASKED;
#if COGMEM_HAVE_NUMA
    if (numa_available() < 0)
        return COGMEM_NUMA_UNAVAILABLE;
    /* Without arenas the store's blocks share pages with the host's own
     * malloc data: binding those pages would move the host's memory too. */
    return COGMEM_NUMA_NO_ARENAS;
#else
    return COGMEM_NUMA_NO_LIBNUMA;
#endif
}

#endif
