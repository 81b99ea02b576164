/* cogmem — allocation interface (see mem.h). */
#include "numa/mem.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

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

#if COGMEM_HAVE_JEMALLOC

int cogmem__mem_init(struct cogmem__mem *m)
{
    m->use_arenas = 0;
    for (int k = 0; k < COGMEM__MEM_NKINDS; k++) {
        unsigned idx;
        size_t sz = sizeof idx;
        if (mallctl("arenas.create", &idx, &sz, NULL, 0) != 0) {
            for (int j = 0; j < k; j++) {
                char name[64];
                snprintf(name, sizeof name, "arena.%u.destroy", m->arena[j]);
                mallctl(name, NULL, NULL, NULL, 0);
            }
            return -ENOMEM;
        }
        m->arena[k] = idx;
    }
    m->use_arenas = 1;
    return 0;
}

void cogmem__mem_fini(struct cogmem__mem *m)
{
    if (!m->use_arenas)
        return;
    for (int k = 0; k < COGMEM__MEM_NKINDS; k++) {
        char name[64];
        snprintf(name, sizeof name, "arena.%u.destroy", m->arena[k]);
        mallctl(name, NULL, NULL, NULL, 0);
    }
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

void cogmem__mem_free(struct cogmem__mem *m, enum cogmem__mem_kind kind,
                      void *p, size_t size)
{
    (void)m;
    (void)kind;
    if (p)
        sdallocx(p, round_up(size), MALLOCX_TCACHE_NONE);
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

#else /* aligned_alloc fallback */

int cogmem__mem_init(struct cogmem__mem *m)
{
    m->use_arenas = 0;
    return 0;
}

void cogmem__mem_fini(struct cogmem__mem *m) { (void)m; }

void *cogmem__mem_alloc(struct cogmem__mem *m, enum cogmem__mem_kind kind,
                        size_t size)
{
    (void)m;
    (void)kind;
    if (should_fail() || size == 0)
        return NULL;
    return aligned_alloc(COGMEM__ALIGN, round_up(size));
}

void cogmem__mem_free(struct cogmem__mem *m, enum cogmem__mem_kind kind,
                      void *p, size_t size)
{
    (void)m;
    (void)kind;
    (void)size;
    free(p);
}

void *cogmem__mem_boot_alloc(size_t size)
{
    if (should_fail())
        return NULL;
    return aligned_alloc(COGMEM__ALIGN, round_up(size));
}

void cogmem__mem_boot_free(void *p, size_t size)
{
    (void)size;
    free(p);
}

const char *cogmem__mem_backend(void) { return "aligned_alloc"; }

#endif
