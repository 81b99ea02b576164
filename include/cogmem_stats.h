/* cogmem — statistics and memory placement (included by cogmem.h).
 *
 * What a store counts, and how to read it:
 *  - Counters (lookups, hits, adds, ...) are kept per shard (per kind) or
 *    per thread stripe, never on one shared line, and summed when read.
 *    They only grow, except across cogmem_stats_reset().
 *  - Exact vs. approximate: after quiescence (every call that changes or
 *    reads the store has returned and the host has ordered those returns
 *    before the read, e.g. by joining its threads) every counter equals the
 *    number of operations performed. While other threads run, a figure is
 *    a sum of per-shard (or per-stripe) values read one after another, so
 *    two figures of one snapshot may disagree by the operations in flight
 *    (hits and adds, say). `lookups` is computed as hits + misses of the
 *    same read, and kind totals as sums of the shard figures of the same
 *    read, so those always add up.
 *  - Gauges (nodes, vectors referenced, deferred frees pending, bytes,
 *    load factors) describe the moment of the read, with the same caveat.
 *  - Latencies are SAMPLED: one operation in COGMEM_STATS_SAMPLE_EVERY per
 *    thread is timed (CLOCK_MONOTONIC), so that timing costs well under 2%
 *    of a lookup. `samples` counts timed operations, not operations.
 *
 * Every function here is thread-safe and lock-free with respect to the
 * store's other operations; none allocates store memory.
 */
#ifndef COGMEM_STATS_H
#define COGMEM_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "cogmem_export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cogmem_store cogmem_store;

/* ------------------------------------------------------ NUMA placement */

/* Where a store's memory goes (cogmem_config.numa_policy). The policy is
 * applied with mbind() to every extent of the store's per-kind jemalloc
 * arenas as jemalloc maps it (extent hooks); without jemalloc, or without
 * libnuma, or on a one-node machine, memory is left to the kernel's default
 * and cogmem_stats.numa_fallback says why. */
enum cogmem_numa_policy {
    COGMEM_NUMA_INTERLEAVE = 0, /* default: pages spread over all nodes */
    COGMEM_NUMA_SEPARATE = 1,   /* concepts bound to concept_node, episodes
                                   to episode_node (cogmem_config) */
    COGMEM_NUMA_LOCAL = 2,      /* the node of the thread that first touches
                                   a page (MPOL_LOCAL) */
    COGMEM_NUMA_NONE = 3        /* no policy: the process's default */
};

/* Why placement is not what the policy asked for (cogmem_stats). */
enum cogmem_numa_fallback {
    COGMEM_NUMA_PLACED = 0,       /* the policy is applied */
    COGMEM_NUMA_NO_LIBNUMA = 1,   /* built without libnuma */
    COGMEM_NUMA_UNAVAILABLE = 2,  /* libnuma says the kernel has no NUMA */
    COGMEM_NUMA_NO_ARENAS = 3,    /* built without jemalloc: nothing to bind */
    COGMEM_NUMA_NOT_ASKED = 4     /* policy COGMEM_NUMA_NONE */
};

/* --------------------------------------------------------- statistics */

/* cogmem_config.stats: what a store keeps. Default: both. */
#define COGMEM_STATS_COUNTERS 1u /* operation counters */
#define COGMEM_STATS_LATENCY 2u  /* sampled latency histograms */

/* One operation in this many (per thread) is timed. */
#define COGMEM_STATS_SAMPLE_EVERY 1024u

#define COGMEM_STATS_SHARDS 16
/* Latency histogram resolution in cogmem_stats_latency.below[]. */
#define COGMEM_STATS_LAT_BOUNDS 40

/* Operations with a latency histogram. Lookups are the single-id reads
 * (cogmem_concept_info, cogmem_episode_info, cogmem_vec_get,
 * cogmem_kind_of); the others time one whole call each. */
enum cogmem_stats_op {
    COGMEM_OP_LOOKUP = 0,
    COGMEM_OP_RECALL = 1,
    COGMEM_OP_SPREAD = 2,
    COGMEM_OP_DECAY = 3,
    COGMEM_OP_FORM = 4,        /* cogmem_form_concepts (cogmem_life.h) */
    COGMEM_OP_CONSOLIDATE = 5, /* cogmem_consolidate */
    COGMEM_OP_FORGET = 6,      /* cogmem_forget */
    COGMEM_OP_COUNT = 7
};

/* Output formats of cogmem_stats_format(). */
enum cogmem_stats_fmt {
    COGMEM_FMT_JSON = 1,       /* one JSON object */
    COGMEM_FMT_PROMETHEUS = 2, /* text exposition format 0.0.4 */
    COGMEM_FMT_TABLE = 3       /* a human-readable table */
};

typedef struct cogmem_stats_shard {
    uint64_t lookups;      /* hits + misses */
    uint64_t hits;         /* lookups that found a live node of this kind */
    uint64_t misses;
    uint64_t adds;         /* successful adds */
    uint64_t removes;      /* successful removes */
    uint64_t replacements; /* centroid set/blend commits (concepts) */
    uint64_t nodes;        /* gauge: live nodes */
    uint64_t buckets;      /* gauge: slots of the shard's hash table (load = nodes / buckets) */
} cogmem_stats_shard;

typedef struct cogmem_stats_kind {
    /* Sums of the shard figures below, from the same read. A lookup of an
     * id in a kind's shards counts there: cogmem_kind_of() and
     * cogmem_vec_get() look in concepts first and, on a miss, in episodes,
     * so one call may count a concept miss and an episode hit. */
    uint64_t lookups, hits, misses, adds, removes, replacements, nodes, buckets;
    uint64_t vectors_referenced;     /* gauge: cogmem_vec_get refs held */
    uint64_t deferred_frees_pending; /* gauge: records and vectors waiting
                                        for an RCU grace period */
    uint64_t live_bytes;             /* gauge: live nodes x (record + current
                                        vector); replaced vectors still
                                        referenced are not included */
    uint64_t arena_allocated_bytes;  /* jemalloc arena: allocated, and */
    uint64_t arena_resident_bytes;   /* resident; 0 without jemalloc */
    double load_factor;              /* nodes / buckets over the shards */
    double load_factor_max;          /* the fullest shard's */
    int numa_policy;                 /* enum cogmem_numa_policy applied */
    int numa_node;                   /* bound node (SEPARATE), else -1 */
    cogmem_stats_shard shard[COGMEM_STATS_SHARDS];
} cogmem_stats_kind;

typedef struct cogmem_stats_latency {
    uint64_t samples;  /* timed operations */
    uint64_t sum_ns;   /* their total latency */
    /* Quantiles of the sampled latencies: the upper edge of the log-linear
     * bucket (8 per power of two, so within 12.5%) holding the quantile;
     * 0 when there are no samples. */
    uint64_t p50_ns, p90_ns, p99_ns, p999_ns;
    /* below[i]: samples that took less than 2^i ns (cumulative). */
    uint64_t below[COGMEM_STATS_LAT_BOUNDS];
} cogmem_stats_latency;

typedef struct cogmem_stats {
    /* Set by the CALLER to sizeof(cogmem_stats) before cogmem_stats_get:
     * the library fills only that many bytes, so the struct can grow. */
    size_t struct_size;
    unsigned flags;          /* COGMEM_STATS_* the store keeps */
    unsigned sample_every;   /* COGMEM_STATS_SAMPLE_EVERY */
    int jemalloc_arenas;     /* 1: per-kind jemalloc arenas; 0: aligned_alloc */
    int numa_nodes;          /* nodes the machine has (1 without libnuma) */
    int numa_fallback;       /* enum cogmem_numa_fallback */
    cogmem_stats_kind kind[2]; /* [0] concepts, [1] episodes */
    /* Store-wide events (summed over per-thread stripes). */
    uint64_t bindings_created, bindings_strengthened, bindings_weakened,
        bindings_pruned;
    uint64_t decay_runs, recall_queries, spread_queries;
    cogmem_stats_latency latency[COGMEM_OP_COUNT];
    /* The memory life cycle (cogmem_life.h): successful formation calls
     * and the concepts they created; consolidations that bound the
     * episode and those that left it unbound; forgetting calls and the
     * episodes they removed. */
    uint64_t formation_runs, concepts_formed;
    uint64_t consolidations_bound, consolidations_deferred;
    uint64_t forget_runs, episodes_forgotten;
    /* Approximate recall's graph indexes (cfg.index; all 0 without one),
     * both kinds together. Gauges: nodes linked into the graphs; nodes
     * being linked now (the tail every approximate recall scans exactly);
     * removed nodes still in the graphs as tombstones. Counters: nodes
     * scored by graph searches; link lists rewired by repair passes;
     * approximate recalls answered by the exact scan instead (the
     * fallback rule is in cogmem_recall.h). */
    uint64_t index_linked, index_tail, index_tombstones;
    uint64_t index_visits, index_repairs, index_fallbacks;
} cogmem_stats;

/* Read the store's statistics into *out (out->struct_size bytes of it;
 * set struct_size first). Exactness as described at the top of this file.
 * Errors: -EINVAL (NULL, struct_size smaller than the first version).
 * Thread-safe, lock-free with respect to the store's operations (with
 * jemalloc it refreshes the allocator's statistics, which takes
 * jemalloc's own stats lock briefly). The caller owns *out. */
COGMEM_API int cogmem_stats_get(cogmem_store *store, cogmem_stats *out);

/* Zero every counter and latency histogram (gauges are not counters and
 * are not reset). A reset is exact only at quiescence (every counter is
 * then 0): while other threads count, their counts may land before or
 * after it, and a thread counting at that very moment may put back its
 * own pre-reset count of that one figure. Errors: -EINVAL. Thread-safe. */
COGMEM_API int cogmem_stats_reset(cogmem_store *store);

/* Format one snapshot of the statistics (cogmem_stats_get) as `fmt` into
 * buf, NUL-terminated. *needed (may be NULL) receives the size the output
 * needs including the NUL, on success and on -ERANGE. Errors: -EINVAL
 * (NULL store, unknown fmt, buf NULL with cap > 0), -ERANGE (cap too small:
 * buf is left untouched; call again with *needed bytes, which may have
 * grown slightly if the store changed meanwhile). buf == NULL with cap == 0
 * asks for the size only (-ERANGE). Prometheus names are cogmem_*, with
 * labels kind="concept"|"episode", shard="0".."15", op="lookup"|...;
 * latencies are Prometheus histograms in seconds. The six index_* fields
 * are JSON's "index" object (linked, tail, tombstones, visits, repairs,
 * fallbacks), Prometheus's cogmem_index_linked, _tail, _tombstones
 * (gauges) and cogmem_index_visits_total, _repairs_total,
 * _fallbacks_total (counters), and the table's "index:" line.
 * Thread-safe. */
COGMEM_API int cogmem_stats_format(cogmem_store *store, int fmt, char *buf,
                                   size_t cap, size_t *needed);

#ifdef __cplusplus
}
#endif

#endif /* COGMEM_STATS_H */
