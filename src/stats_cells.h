/* cogmem — statistics kept by the store (internal; API in cogmem_stats.h).
 *
 * Where each figure lives, so that no counter is one shared hot line:
 *  - per-kind, per-shard operation counters: struct cogmem__shard_ctr in
 *    each shard set (shards/set.h), one per thread stripe and shard,
 *    bumped with cogmem__ctr_bump();
 *  - store-wide events (bindings, decay, recall, spread, life cycle) and the
 *    latency histograms: per thread stripe. A stripe is a number each
 *    thread claims (shards/set.h); threads beyond COGMEM__STRIPES
 *    share stripes (still correct: the cells are atomic), the common
 *    few-thread case writes only lines of its own.
 * Readers sum the cells (src/stats.c); src/stats_cells.c records and zeroes them.
 *
 * Hooks for the operations other files implement (one line each):
 *    cogmem__stats_event(st, COGMEM__EV_RECALL);
 *    uint64_t t0 = cogmem__lat_begin(st);  ...  cogmem__lat_end(st, COGMEM_OP_RECALL, t0);
 */
#ifndef COGMEM_SRC_STATS_CELLS_H
#define COGMEM_SRC_STATS_CELLS_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "cogmem.h"

#include "shards/kind.h" /* COGMEM__STRIPE_SLOTS, cogmem__stripe() */

enum cogmem__event {
    COGMEM__EV_BIND_CREATED,
    COGMEM__EV_BIND_STRENGTHENED,
    COGMEM__EV_BIND_WEAKENED,
    COGMEM__EV_BIND_PRUNED,
    COGMEM__EV_DECAY_RUN,
    COGMEM__EV_RECALL,
    COGMEM__EV_SPREAD,
    COGMEM__EV_FORM_RUN,
    COGMEM__EV_FORM_CONCEPTS,
    COGMEM__EV_CONSOLIDATE_BOUND,
    COGMEM__EV_CONSOLIDATE_DEFERRED,
    COGMEM__EV_FORGET_RUN,
    COGMEM__EV_FORGET_REMOVED,
    COGMEM__EV_INDEX_VISITS,
    COGMEM__EV_INDEX_REPAIRS,
    COGMEM__EV_INDEX_FALLBACKS,
    COGMEM__EV_N
};

struct cogmem__ev_stripe {
    alignas(64) _Atomic uint64_t v[16];
};
_Static_assert(sizeof(struct cogmem__ev_stripe) == 128, "two lines per stripe");
_Static_assert(COGMEM__EV_N <= 16, "events fit the stripe");

/* Log-linear latency buckets (ns): 0..15 one each, then 8 per power of
 * two up to 2^40 ns; larger values land in the last bucket. Powers of two
 * are bucket edges, so cumulative counts below 2^i are exact. */
#define COGMEM__HIST_LINEAR 16u
#define COGMEM__HIST_SUB_BITS 3u
#define COGMEM__HIST_TOP_EXP 40u
#define COGMEM__HIST_NB \
    (COGMEM__HIST_LINEAR + (COGMEM__HIST_TOP_EXP - 4u) * (1u << COGMEM__HIST_SUB_BITS))

struct cogmem__hist_stripe {
    alignas(64) _Atomic uint64_t count;
    _Atomic uint64_t sum_ns;
    _Atomic uint64_t b[COGMEM__HIST_NB];
};
_Static_assert(sizeof(struct cogmem__hist_stripe) % 64 == 0, "stripes do not share lines");

struct cogmem__stats {
    struct cogmem__ev_stripe ev[COGMEM__STRIPE_SLOTS];
    struct cogmem__hist_stripe hist[COGMEM_OP_COUNT][COGMEM__STRIPE_SLOTS];
    unsigned flags; /* COGMEM_STATS_* */
};

/* Per thread: the sampling tick (its stripe is shards' cogmem__stripe()).
 * Initial-exec, as all of the library's TLS (meson.build, tls_args):
 * every timed operation bumps it. */
extern _Thread_local uint32_t cogmem__stats_tick;

/* Bucket of a latency, and the exclusive upper edge of a bucket. */
unsigned cogmem__hist_bucket(uint64_t ns);
uint64_t cogmem__hist_upper(unsigned bucket);

void cogmem__hist_record(struct cogmem__stats *s, enum cogmem_stats_op op,
                         uint64_t ns);

static inline uint64_t cogmem__mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Start timing an operation if this thread's tick says so: returns the
 * start time, or 0 for "not sampled". */
static inline uint64_t cogmem__lat_begin_s(struct cogmem__stats *s)
{
    if (!(s->flags & COGMEM_STATS_LATENCY))
        return 0;
    if ((++cogmem__stats_tick & (COGMEM_STATS_SAMPLE_EVERY - 1)) != 0)
        return 0;
    return cogmem__mono_ns();
}

static inline void cogmem__lat_end_s(struct cogmem__stats *s,
                                     enum cogmem_stats_op op, uint64_t t0)
{
    if (__builtin_expect(t0 != 0, 0))
        cogmem__hist_record(s, op, cogmem__mono_ns() - t0);
}

_Static_assert((COGMEM_STATS_SAMPLE_EVERY & (COGMEM_STATS_SAMPLE_EVERY - 1)) == 0,
               "sampling period is a power of two (a mask, not a division)");

/* Zero the counters and histograms (cogmem_stats_reset). */
void cogmem__stats_reset(struct cogmem__stats *s);

#endif /* COGMEM_SRC_STATS_CELLS_H */
