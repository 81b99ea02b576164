/* cogmem — the graph index: setup, teardown and slot reservation (the
 * protocol is in hnsw.h, the layout in graph.h). */
#include "src/ann/hnsw.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "src/ann/graph.h"

/* ------------------------------------------------------- setup, teardown */

int cogmem__ann_new(struct cogmem__ann **out, struct cogmem__mem *mem,
                    struct cogmem__slab *sl, uint32_t m, uint32_t efc, uint64_t seed)
{
    struct cogmem__ann *a = cogmem__mem_alloc(mem, COGMEM__MEM_META, sizeof *a);
    if (!a)
        return -ENOMEM;
    memset(a, 0, sizeof *a);
    a->mem = mem;
    a->sl = sl;
    a->m = m;
    a->m0 = 2 * m;
    a->efc = efc;
    a->dim = sl->dim;
    a->slot_bytes = (sizeof(struct slot) + (1 + (size_t)a->m0) * sizeof(uint32_t) + 63) & ~(size_t)63;
    a->ml = 1.0 / log((double)m);
    a->seed = seed | 1;
    a->free_head = NONE32;
    atomic_init(&a->entry, NO_ENTRY);
    *out = a;
    return 0;
}

void cogmem__ann_release(struct cogmem__ann *a)
{
    uint32_t used = atomic_load_explicit(&a->used, memory_order_acquire);
    for (uint32_t s = 0; s < used; s++) {
        if (!atomic_load_explicit(&a->seg[s >> SEG_BITS], memory_order_acquire))
            continue;
        struct slot *x = slot_at(a, s);
        if (x->vec) {
            cogmem__vec_unref(x->vec);
            x->vec = NULL;
        }
    }
}

void cogmem__ann_pool_fini(struct cogmem__ann *a, struct pool *p)
{
    cogmem__mem_free(a->mem, COGMEM__MEM_META, p->tags, (size_t)p->tags_cap * sizeof *p->tags);
    cogmem__mem_free(a->mem, COGMEM__MEM_META, p->cq, p->cq_cap * sizeof *p->cq);
    cogmem__mem_free(a->mem, COGMEM__MEM_META, p->res, p->res_cap * sizeof *p->res);
    memset(p, 0, sizeof *p);
}

void cogmem__ann_free(struct cogmem__ann *a)
{
    if (!a)
        return;
    cogmem__ann_pass_fini(a);
    for (uint32_t i = 0; i < MAX_SEGS; i++) {
        char *seg = atomic_load_explicit(&a->seg[i], memory_order_acquire);
        if (!seg)
            continue;
        for (uint32_t j = 0; j < SEG_SLOTS; j++) {
            struct slot *x = (struct slot *)(seg + HOT_BYTES + (size_t)j * a->slot_bytes);
            _Atomic uint32_t *up = atomic_load_explicit(&x->upper, memory_order_relaxed);
            if (up)
                cogmem__mem_free(a->mem, COGMEM__MEM_META, (void *)up,
                                 upper_bytes(a, x));
        }
        cogmem__mem_free(a->mem, COGMEM__MEM_META, seg, HOT_BYTES + SEG_SLOTS * a->slot_bytes);
    }
    for (uint32_t i = 0; i < POOL; i++)
        cogmem__ann_pool_fini(a, &a->pool[i]);
    cogmem__mem_free(a->mem, COGMEM__MEM_META, a, sizeof *a);
}

/* --------------------------------------------------------- reservation */

static uint32_t random_level(struct cogmem__ann *a)
{
    /* One xorshift state per thread: levels need no shared state. */
    static _Thread_local uint64_t x;
    if (!x) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        x = a->seed ^ (uint64_t)(uintptr_t)&x ^ (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull;
        if (!x)
            x = 1;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    double u = ((double)(x >> 11) + 0.5) * 0x1p-53;
    double l = -log(u) * a->ml;
    return l >= MAX_LEVEL ? MAX_LEVEL : (uint32_t)l;
}

static int ensure_seg(struct cogmem__ann *a, uint32_t i)
{
    if (atomic_load_explicit(&a->seg[i], memory_order_acquire))
        return 0;
    size_t bytes = HOT_BYTES + SEG_SLOTS * a->slot_bytes;
    char *seg = cogmem__mem_alloc(a->mem, COGMEM__MEM_META, bytes);
    if (!seg)
        return -ENOMEM;
    memset(seg, 0, bytes);
    for (uint32_t j = 0; j < SEG_SLOTS; j++)
        ((struct slot *)(seg + HOT_BYTES + (size_t)j * a->slot_bytes))->hot = (struct hot *)seg + j;
    char *expect = NULL;
    /* Release: the zeroed slots before the pointer (slot_at acquires). */
    if (!atomic_compare_exchange_strong_explicit(&a->seg[i], &expect, seg,
                                                 memory_order_acq_rel,
                                                 memory_order_acquire))
        cogmem__mem_free(a->mem, COGMEM__MEM_META, seg, bytes);
    return 0;
}

int cogmem__ann_reserve(struct cogmem__ann *a, uint32_t *out)
{
    uint32_t s = NONE32;
    spin_lock(&a->free_lock);
    if (a->free_head != NONE32) {
        s = a->free_head;
        a->free_head = slot_at(a, s)->next_free;
    }
    spin_unlock(&a->free_lock);
    if (s == NONE32) {
        s = atomic_load_explicit(&a->used, memory_order_relaxed);
        do {
            if (s >= MAX_SEGS * SEG_SLOTS)
                return -ENOMEM;
            if (ensure_seg(a, s >> SEG_BITS))
                return -ENOMEM;
        } while (!atomic_compare_exchange_weak_explicit(&a->used, &s, s + 1,
                                                        memory_order_release,
                                                        memory_order_relaxed));
    }
    struct slot *x = slot_at(a, s);
    uint32_t level = random_level(a);
    _Atomic uint32_t *up = NULL;
    if (level) {
        size_t words = (size_t)level * (a->m + 1);
        up = cogmem__mem_alloc(a->mem, COGMEM__MEM_META, words * sizeof(uint32_t));
        if (!up) {
            cogmem__ann_unreserve(a, s);
            return -ENOMEM;
        }
        for (size_t i = 0; i < words; i++)
            atomic_init(&up[i], 0);
    }
    /* Nothing links to a RESERVED slot yet: relaxed stores, published by
     * the release of the first link or tail entry naming it. */
    atomic_store_explicit(&x->upper, up, memory_order_relaxed);
    atomic_store_explicit(&x->level, level, memory_order_relaxed);
    atomic_store_explicit(&x->l0[0], 0, memory_order_relaxed);
    atomic_store_explicit(&x->indeg, 0, memory_order_relaxed);
    x->drift = 0.0f;
    x->vec = NULL;
    atomic_store_explicit(&x->hot->state, S_RESERVED, memory_order_relaxed);
    *out = s;
    return 0;
}

void cogmem__ann_free_push(struct cogmem__ann *a, uint32_t s)
{
    struct slot *x = slot_at(a, s);
    _Atomic uint32_t *up = atomic_load_explicit(&x->upper, memory_order_relaxed);
    if (up) {
        atomic_store_explicit(&x->upper, NULL, memory_order_relaxed);
        cogmem__mem_free(a->mem, COGMEM__MEM_META, (void *)up,
                         upper_bytes(a, x));
    }
    atomic_store_explicit(&x->hot->state, S_FREE, memory_order_relaxed);
    spin_lock(&a->free_lock);
    x->next_free = a->free_head;
    a->free_head = s;
    spin_unlock(&a->free_lock);
}

void cogmem__ann_unreserve(struct cogmem__ann *a, uint32_t s)
{
    cogmem__ann_free_push(a, s); /* never visible: no grace period needed */
}
