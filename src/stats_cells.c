/* cogmem — the statistics cells: latency histogram buckets, recording
 * and zeroing (see src/stats_cells.h). Knows nothing of the store, which
 * embeds the cells; reading them for a store is src/stats.c's. */
#include <stddef.h>

#include "src/stats_cells.h"

_Thread_local uint32_t cogmem__stats_tick;

unsigned cogmem__hist_bucket(uint64_t ns)
{
    if (ns < COGMEM__HIST_LINEAR)
        return (unsigned)ns;
    unsigned e = 63u - (unsigned)__builtin_clzll(ns); /* >= 4 */
    if (e >= COGMEM__HIST_TOP_EXP)
        return COGMEM__HIST_NB - 1;
    unsigned sub = (unsigned)(ns >> (e - COGMEM__HIST_SUB_BITS)) &
                   ((1u << COGMEM__HIST_SUB_BITS) - 1);
    return COGMEM__HIST_LINEAR + (e - 4u) * (1u << COGMEM__HIST_SUB_BITS) + sub;
}

uint64_t cogmem__hist_upper(unsigned b)
{
    if (b < COGMEM__HIST_LINEAR)
        return b + 1u;
    unsigned e = 4u + (b - COGMEM__HIST_LINEAR) / (1u << COGMEM__HIST_SUB_BITS);
    uint64_t sub = (b - COGMEM__HIST_LINEAR) % (1u << COGMEM__HIST_SUB_BITS);
    return (UINT64_C(1) << e) + ((sub + 1) << (e - COGMEM__HIST_SUB_BITS));
}

void cogmem__hist_record(struct cogmem__stats *s, enum cogmem_stats_op op,
                         uint64_t ns)
{
    struct cogmem__hist_stripe *h = &s->hist[op][cogmem__stripe()];
    /* Relaxed: statistics; a reader may see count and buckets of one
     * sample at different times, which the header documents. */
    atomic_fetch_add_explicit(&h->b[cogmem__hist_bucket(ns)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

void cogmem__stats_reset(struct cogmem__stats *s)
{
    for (unsigned i = 0; i < COGMEM__STRIPE_SLOTS; i++)
        for (unsigned e = 0; e < 16; e++)
            atomic_store_explicit(&s->ev[i].v[e], 0, memory_order_relaxed);
    for (unsigned op = 0; op < COGMEM_OP_COUNT; op++)
        for (unsigned i = 0; i < COGMEM__STRIPE_SLOTS; i++) {
            struct cogmem__hist_stripe *h = &s->hist[op][i];
            atomic_store_explicit(&h->count, 0, memory_order_relaxed);
            atomic_store_explicit(&h->sum_ns, 0, memory_order_relaxed);
            for (unsigned b = 0; b < COGMEM__HIST_NB; b++)
                atomic_store_explicit(&h->b[b], 0, memory_order_relaxed);
        }
}
