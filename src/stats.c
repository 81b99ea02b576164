/* cogmem — reading and resetting the statistics (see src/stats_cells.h). */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "src/ann_hooks.h"
#include "src/store.h"

/* The first cogmem_stats the library shipped. */
/* The first version had four latency ops (lookup .. decay) and ended there. */
#define STATS_V1_SIZE (offsetof(cogmem_stats, latency) + sizeof(cogmem_stats_latency[4]))

int cogmem_stats_reset(cogmem_store *store)
{
    if (!store)
        return -EINVAL;
    static const enum cogmem__ctr counters[] = {
        COGMEM__CTR_HIT, COGMEM__CTR_MISS, COGMEM__CTR_ADD, COGMEM__CTR_REMOVE,
        COGMEM__CTR_REPLACE}; /* not the deferred-free pair: a gauge's terms */
    for (int k = 0; k < 2; k++)
        for (unsigned t = 0; t < COGMEM__STRIPE_SLOTS; t++)
            for (unsigned i = 0; i < COGMEM__NSHARDS; i++)
                for (size_t c = 0; c < sizeof counters / sizeof counters[0]; c++)
                    atomic_store_explicit(&store->sets[k].kind.ctr[t][i].v[counters[c]], 0,
                                          memory_order_relaxed);
    cogmem__stats_reset(&store->stats);
    return 0;
}

/* The smallest upper bucket edge below which a fraction q of n samples lie. */
static uint64_t quantile(const uint64_t *b, uint64_t n, double q)
{
    if (n == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)n);
    if ((double)rank < q * (double)n)
        rank++; /* ceil */
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < COGMEM__HIST_NB; i++) {
        seen += b[i];
        if (seen >= rank)
            return cogmem__hist_upper(i);
    }
    return cogmem__hist_upper(COGMEM__HIST_NB - 1);
}

static void read_latency(struct cogmem__stats *s, enum cogmem_stats_op op,
                         cogmem_stats_latency *out)
{
    uint64_t b[COGMEM__HIST_NB] = {0};
    uint64_t n = 0, sum = 0;
    for (unsigned i = 0; i < COGMEM__STRIPE_SLOTS; i++) {
        struct cogmem__hist_stripe *h = &s->hist[op][i];
        sum += atomic_load_explicit(&h->sum_ns, memory_order_relaxed);
        for (unsigned j = 0; j < COGMEM__HIST_NB; j++)
            b[j] += atomic_load_explicit(&h->b[j], memory_order_relaxed);
    }
    /* The count is the buckets' own sum, so quantiles and `below` agree
     * with it even while samples land. */
    for (unsigned j = 0; j < COGMEM__HIST_NB; j++)
        n += b[j];
    out->samples = n;
    out->sum_ns = sum;
    out->p50_ns = quantile(b, n, 0.50);
    out->p90_ns = quantile(b, n, 0.90);
    out->p99_ns = quantile(b, n, 0.99);
    out->p999_ns = quantile(b, n, 0.999);
    uint64_t cum = 0;
    unsigned j = 0;
    for (unsigned i = 0; i < COGMEM_STATS_LAT_BOUNDS; i++) {
        while (j < COGMEM__HIST_NB - 1 && cogmem__hist_upper(j) <= (UINT64_C(1) << i))
            cum += b[j++];
        out->below[i] = cum;
    }
}

static size_t vec_bytes(uint32_t dim)
{
    return sizeof(struct cogmem_vec) + (size_t)dim * sizeof(float);
}

static void read_kind(cogmem_store *st, int k, cogmem_stats_kind *out)
{
    struct cogmem__set *s = &st->sets[k];
    memset(out, 0, sizeof *out);
    uint64_t queued = 0, done = 0;
    for (unsigned i = 0; i < COGMEM__NSHARDS; i++) {
        cogmem_stats_shard *o = &out->shard[i];
        uint64_t c[COGMEM__CTR_N] = {0};
        for (unsigned t = 0; t < COGMEM__STRIPE_SLOTS; t++)
            for (unsigned j = 0; j < COGMEM__CTR_N; j++)
                c[j] += atomic_load_explicit(&s->kind.ctr[t][i].v[j], memory_order_relaxed);
        o->hits = c[COGMEM__CTR_HIT];
        o->misses = c[COGMEM__CTR_MISS];
        o->lookups = o->hits + o->misses;
        o->adds = c[COGMEM__CTR_ADD];
        o->removes = c[COGMEM__CTR_REMOVE];
        o->replacements = c[COGMEM__CTR_REPLACE];
        /* The two terms are read at slightly different times; the
         * difference is clamped at 0 below. */
        done += c[COGMEM__CTR_DEFER_DONE];
        queued += c[COGMEM__CTR_DEFER_QUEUED];
        int64_t live = atomic_load_explicit(&s->shard[i].count, memory_order_relaxed);
        o->nodes = live < 0 ? 0 : (uint64_t)live; /* transiently negative */
        o->buckets = atomic_load_explicit(&s->shard[i].slots, memory_order_relaxed);
        out->lookups += o->lookups;
        out->hits += o->hits;
        out->misses += o->misses;
        out->adds += o->adds;
        out->removes += o->removes;
        out->replacements += o->replacements;
        out->nodes += o->nodes;
        out->buckets += o->buckets;
        double lf = o->buckets ? (double)o->nodes / (double)o->buckets : 0.0;
        if (lf > out->load_factor_max)
            out->load_factor_max = lf;
    }
    out->load_factor = out->buckets ? (double)out->nodes / (double)out->buckets : 0.0;
    int64_t refs = cogmem__kind_vec_refs(&s->kind);
    out->vectors_referenced = refs < 0 ? 0 : (uint64_t)refs;
    out->deferred_frees_pending = queued > done ? queued - done : 0;
    out->live_bytes = out->nodes * (sizeof(struct cogmem__node_mem) + vec_bytes(st->dim));
    cogmem__mem_arena_stats(&st->mem, s->kind.mem_kind, &out->arena_allocated_bytes,
                            &out->arena_resident_bytes);
    out->numa_policy = st->cfg.numa_policy;
    out->numa_node = st->cfg.numa_policy == COGMEM_NUMA_SEPARATE
                         ? (k == 0 ? st->cfg.concept_node : st->cfg.episode_node)
                         : -1;
}

int cogmem__stats_read(cogmem_store *st, cogmem_stats *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->flags = st->stats.flags;
    o->sample_every = COGMEM_STATS_SAMPLE_EVERY;
    o->jemalloc_arenas = st->mem.use_arenas;
    o->numa_nodes = cogmem__mem_numa_nodes();
    o->numa_fallback = st->numa_fallback;
    for (int k = 0; k < 2; k++)
        read_kind(st, k, &o->kind[k]);
    uint64_t ev[COGMEM__EV_N] = {0};
    for (unsigned i = 0; i < COGMEM__STRIPE_SLOTS; i++)
        for (unsigned e = 0; e < COGMEM__EV_N; e++)
            ev[e] += atomic_load_explicit(&st->stats.ev[i].v[e], memory_order_relaxed);
    o->bindings_created = ev[COGMEM__EV_BIND_CREATED];
    o->bindings_strengthened = ev[COGMEM__EV_BIND_STRENGTHENED];
    o->bindings_weakened = ev[COGMEM__EV_BIND_WEAKENED];
    o->bindings_pruned = ev[COGMEM__EV_BIND_PRUNED];
    o->decay_runs = ev[COGMEM__EV_DECAY_RUN];
    o->recall_queries = ev[COGMEM__EV_RECALL];
    o->spread_queries = ev[COGMEM__EV_SPREAD];
    o->formation_runs = ev[COGMEM__EV_FORM_RUN];
    o->concepts_formed = ev[COGMEM__EV_FORM_CONCEPTS];
    o->consolidations_bound = ev[COGMEM__EV_CONSOLIDATE_BOUND];
    o->consolidations_deferred = ev[COGMEM__EV_CONSOLIDATE_DEFERRED];
    o->forget_runs = ev[COGMEM__EV_FORGET_RUN];
    o->episodes_forgotten = ev[COGMEM__EV_FORGET_REMOVED];
    o->index_visits = ev[COGMEM__EV_INDEX_VISITS];
    o->index_repairs = ev[COGMEM__EV_INDEX_REPAIRS];
    o->index_fallbacks = ev[COGMEM__EV_INDEX_FALLBACKS];
    cogmem__ann_gauges(st, o);
    for (unsigned op = 0; op < COGMEM_OP_COUNT; op++)
        read_latency(&st->stats, (enum cogmem_stats_op)op, &o->latency[op]);
    return 0;
}

int cogmem_stats_get(cogmem_store *store, cogmem_stats *out)
{
    if (!store || !out || out->struct_size < STATS_V1_SIZE)
        return -EINVAL;
    size_t want = out->struct_size < sizeof(cogmem_stats) ? out->struct_size
                                                          : sizeof(cogmem_stats);
    cogmem_stats s;
    cogmem__stats_read(store, &s);
    s.struct_size = want;
    memcpy(out, &s, want);
    return 0;
}
