/* cogmem — statistics as JSON, Prometheus text and a table.
 *
 * One snapshot (cogmem__stats_read) is formatted twice: once to measure,
 * once to write, so that a buffer too small is left untouched and the
 * written text is the measured one.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "src/store.h"

struct out {
    char *buf; /* NULL while measuring */
    size_t cap, len;
};

__attribute__((format(printf, 2, 3)))
static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *at = o->buf && o->len < o->cap ? o->buf + o->len : NULL;
    int n = vsnprintf(at, at ? o->cap - o->len : 0, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len += (size_t)n;
}

static const char *const kind_name[2] = {"concept", "episode"};
static const char *const op_name[COGMEM_OP_COUNT] = {"lookup", "recall", "spread", "decay",
                                                     "form", "consolidate", "forget"};

static const char *policy_name(int p)
{
    switch (p) {
    case COGMEM_NUMA_INTERLEAVE: return "interleave";
    case COGMEM_NUMA_SEPARATE: return "separate";
    case COGMEM_NUMA_LOCAL: return "local";
    case COGMEM_NUMA_NONE: return "none";
    default: return "unknown";
    }
}

static const char *fallback_name(int f)
{
    switch (f) {
    case COGMEM_NUMA_PLACED: return "placed";
    case COGMEM_NUMA_NO_LIBNUMA: return "no-libnuma";
    case COGMEM_NUMA_UNAVAILABLE: return "numa-unavailable";
    case COGMEM_NUMA_NO_ARENAS: return "no-arenas";
    case COGMEM_NUMA_NOT_ASKED: return "not-asked";
    default: return "unknown";
    }
}

/* A counter or gauge: name, help, type, and the field (offset in the
 * struct its table is for). */
struct metric {
    const char *name, *help, *type;
    size_t off;
};
/* Per shard (cogmem_stats_shard). */
static const struct metric shard_metrics[] = {
    {"lookups_total", "Single-id lookups in the kind's shards.", "counter",
     offsetof(cogmem_stats_shard, lookups)},
    {"hits_total", "Lookups that found a live node.", "counter",
     offsetof(cogmem_stats_shard, hits)},
    {"misses_total", "Lookups that found no live node.", "counter",
     offsetof(cogmem_stats_shard, misses)},
    {"adds_total", "Successful adds.", "counter", offsetof(cogmem_stats_shard, adds)},
    {"removes_total", "Successful removes.", "counter",
     offsetof(cogmem_stats_shard, removes)},
    {"replacements_total", "Committed centroid replacements and blends.", "counter",
     offsetof(cogmem_stats_shard, replacements)},
    {"nodes", "Live nodes.", "gauge", offsetof(cogmem_stats_shard, nodes)},
    {"shard_buckets", "Hash table slots of the shard.", "gauge",
     offsetof(cogmem_stats_shard, buckets)},
};
#define N_SHARD_METRICS (sizeof shard_metrics / sizeof shard_metrics[0])

static uint64_t field(const void *base, size_t off)
{
    uint64_t v;
    memcpy(&v, (const char *)base + off, sizeof v);
    return v;
}

/* Per-kind gauges. */
struct kind_metric {
    const char *name, *help;
    size_t off; /* in cogmem_stats_kind */
};
static const struct kind_metric kind_metrics[] = {
    {"vectors_referenced", "cogmem_vec_get references held now.",
     offsetof(cogmem_stats_kind, vectors_referenced)},
    {"deferred_frees_pending", "Records and vectors waiting for an RCU grace period.",
     offsetof(cogmem_stats_kind, deferred_frees_pending)},
    {"live_bytes", "Bytes of live nodes' records and current vectors.",
     offsetof(cogmem_stats_kind, live_bytes)},
    {"arena_allocated_bytes", "Bytes allocated in the kind's jemalloc arena (0 without).",
     offsetof(cogmem_stats_kind, arena_allocated_bytes)},
    {"arena_resident_bytes", "Resident bytes of the kind's jemalloc arena (0 without).",
     offsetof(cogmem_stats_kind, arena_resident_bytes)},
};
#define N_KIND_METRICS (sizeof kind_metrics / sizeof kind_metrics[0])

struct event_metric {
    const char *name, *label, *value;
    size_t off; /* in cogmem_stats */
};
static const struct event_metric events[] = {
    {"binding_events_total", "event", "created", offsetof(cogmem_stats, bindings_created)},
    {"binding_events_total", "event", "strengthened", offsetof(cogmem_stats, bindings_strengthened)},
    {"binding_events_total", "event", "weakened", offsetof(cogmem_stats, bindings_weakened)},
    {"binding_events_total", "event", "pruned", offsetof(cogmem_stats, bindings_pruned)},
    {"decay_runs_total", NULL, NULL, offsetof(cogmem_stats, decay_runs)},
    {"queries_total", "query", "recall", offsetof(cogmem_stats, recall_queries)},
    {"queries_total", "query", "spread", offsetof(cogmem_stats, spread_queries)},
    {"formation_runs_total", NULL, NULL, offsetof(cogmem_stats, formation_runs)},
    {"concepts_formed_total", NULL, NULL, offsetof(cogmem_stats, concepts_formed)},
    {"consolidations_total", "outcome", "bound", offsetof(cogmem_stats, consolidations_bound)},
    {"consolidations_total", "outcome", "deferred", offsetof(cogmem_stats, consolidations_deferred)},
    {"forget_runs_total", NULL, NULL, offsetof(cogmem_stats, forget_runs)},
    {"episodes_forgotten_total", NULL, NULL, offsetof(cogmem_stats, episodes_forgotten)},
};
#define N_EVENTS (sizeof events / sizeof events[0])
static const char *const event_help[] = {
    "Binding events by kind of change.", "Decay passes run.",
    "Recall and spread queries.", "Successful cogmem_form_concepts calls.",
    "Concepts created by formation.", "cogmem_consolidate outcomes.",
    "Successful cogmem_forget calls.", "Episodes removed by cogmem_forget."};

/* Approximate recall's graph indexes, both kinds together (cogmem_stats). */
static const struct metric index_metrics[] = {
    {"linked", "Nodes linked into the graph indexes.", "gauge",
     offsetof(cogmem_stats, index_linked)},
    {"tail", "Nodes being linked now (scanned exactly by approximate recalls).", "gauge",
     offsetof(cogmem_stats, index_tail)},
    {"tombstones", "Removed nodes still in the graph indexes, awaiting repair.", "gauge",
     offsetof(cogmem_stats, index_tombstones)},
    {"visits", "Nodes scored by graph searches.", "counter",
     offsetof(cogmem_stats, index_visits)},
    {"repairs", "Link lists rewired and links added by repair passes.", "counter",
     offsetof(cogmem_stats, index_repairs)},
    {"fallbacks", "Approximate recalls answered by the exact scan.", "counter",
     offsetof(cogmem_stats, index_fallbacks)},
};
#define N_INDEX_METRICS (sizeof index_metrics / sizeof index_metrics[0])

static const char *help_of(const char *name)
{
    if (!strcmp(name, "binding_events_total")) return event_help[0];
    if (!strcmp(name, "decay_runs_total")) return event_help[1];
    if (!strcmp(name, "queries_total")) return event_help[2];
    if (!strcmp(name, "formation_runs_total")) return event_help[3];
    if (!strcmp(name, "concepts_formed_total")) return event_help[4];
    if (!strcmp(name, "consolidations_total")) return event_help[5];
    if (!strcmp(name, "forget_runs_total")) return event_help[6];
    return event_help[7];
}

static void json(struct out *o, const cogmem_stats *s)
{
    put(o, "{\"version\":\"%s\",\"flags\":%u,\"sample_every\":%u,"
           "\"allocator\":\"%s\",\"numa_nodes\":%d,\"numa_fallback\":\"%s\",\"kinds\":{",
        cogmem_version(), s->flags, s->sample_every,
        s->jemalloc_arenas ? "jemalloc-arenas" : "aligned_alloc", s->numa_nodes,
        fallback_name(s->numa_fallback));
    for (int k = 0; k < 2; k++) {
        const cogmem_stats_kind *K = &s->kind[k];
        put(o, "%s\"%s\":{\"lookups\":%llu,\"hits\":%llu,\"misses\":%llu,\"adds\":%llu,"
               "\"removes\":%llu,\"replacements\":%llu,\"nodes\":%llu,\"buckets\":%llu",
            k ? "," : "", kind_name[k], (unsigned long long)K->lookups,
            (unsigned long long)K->hits, (unsigned long long)K->misses,
            (unsigned long long)K->adds, (unsigned long long)K->removes,
            (unsigned long long)K->replacements, (unsigned long long)K->nodes,
            (unsigned long long)K->buckets);
        for (size_t m = 0; m < N_KIND_METRICS; m++)
            put(o, ",\"%s\":%llu", kind_metrics[m].name,
                (unsigned long long)field(K, kind_metrics[m].off));
        put(o, ",\"load_factor\":%.6g,\"load_factor_max\":%.6g,\"numa_policy\":\"%s\","
               "\"numa_node\":%d,\"shards\":[",
            K->load_factor, K->load_factor_max, policy_name(K->numa_policy), K->numa_node);
        for (unsigned i = 0; i < COGMEM_STATS_SHARDS; i++) {
            const cogmem_stats_shard *h = &K->shard[i];
            put(o, "%s{\"lookups\":%llu,\"hits\":%llu,\"misses\":%llu,\"adds\":%llu,"
                   "\"removes\":%llu,\"replacements\":%llu,\"nodes\":%llu,\"buckets\":%llu}",
                i ? "," : "", (unsigned long long)h->lookups, (unsigned long long)h->hits,
                (unsigned long long)h->misses, (unsigned long long)h->adds,
                (unsigned long long)h->removes, (unsigned long long)h->replacements,
                (unsigned long long)h->nodes, (unsigned long long)h->buckets);
        }
        put(o, "]}");
    }
    put(o, "},\"events\":{");
    for (size_t e = 0; e < N_EVENTS; e++) {
        const struct event_metric *m = &events[e];
        if (m->value)
            put(o, "%s\"%.*s_%s\":%llu", e ? "," : "",
                (int)(strlen(m->name) - strlen("_total")), m->name, m->value,
                (unsigned long long)field(s, m->off));
        else
            put(o, "%s\"%s\":%llu", e ? "," : "", m->name, (unsigned long long)field(s, m->off));
    }
    put(o, "},\"index\":{");
    for (size_t m = 0; m < N_INDEX_METRICS; m++)
        put(o, "%s\"%s\":%llu", m ? "," : "", index_metrics[m].name,
            (unsigned long long)field(s, index_metrics[m].off));
    put(o, "},\"latency\":{");
    for (int op = 0; op < COGMEM_OP_COUNT; op++) {
        const cogmem_stats_latency *L = &s->latency[op];
        put(o, "%s\"%s\":{\"samples\":%llu,\"sum_ns\":%llu,\"p50_ns\":%llu,\"p90_ns\":%llu,"
               "\"p99_ns\":%llu,\"p999_ns\":%llu}",
            op ? "," : "", op_name[op], (unsigned long long)L->samples,
            (unsigned long long)L->sum_ns, (unsigned long long)L->p50_ns,
            (unsigned long long)L->p90_ns, (unsigned long long)L->p99_ns,
            (unsigned long long)L->p999_ns);
    }
    put(o, "}}\n");
}

/* Histogram bounds shown to Prometheus: below[i] counts samples under 2^i
 * ns, i.e. at most 2^i - 1 ns (latencies are whole ns). */
#define PROM_FIRST_BOUND 6 /* 63 ns: nothing the store does is faster */

static void prometheus(struct out *o, const cogmem_stats *s)
{
    put(o, "# HELP cogmem_info The store's allocator and NUMA placement outcome.\n"
           "# TYPE cogmem_info gauge\n"
           "cogmem_info{version=\"%s\",allocator=\"%s\",numa_fallback=\"%s\"} 1\n",
        cogmem_version(), s->jemalloc_arenas ? "jemalloc-arenas" : "aligned_alloc",
        fallback_name(s->numa_fallback));
    put(o, "# HELP cogmem_numa_nodes NUMA nodes of the machine.\n"
           "# TYPE cogmem_numa_nodes gauge\ncogmem_numa_nodes %d\n", s->numa_nodes);
    put(o, "# HELP cogmem_numa_node Node a kind's memory is bound to (-1: not bound to one).\n"
           "# TYPE cogmem_numa_node gauge\n");
    for (int k = 0; k < 2; k++)
        put(o, "cogmem_numa_node{kind=\"%s\",policy=\"%s\"} %d\n", kind_name[k],
            policy_name(s->kind[k].numa_policy), s->kind[k].numa_node);
    for (size_t m = 0; m < N_SHARD_METRICS; m++) {
        const struct metric *M = &shard_metrics[m];
        put(o, "# HELP cogmem_%s %s\n# TYPE cogmem_%s %s\n", M->name, M->help, M->name,
            M->type);
        for (int k = 0; k < 2; k++)
            for (unsigned i = 0; i < COGMEM_STATS_SHARDS; i++)
                put(o, "cogmem_%s{kind=\"%s\",shard=\"%u\"} %llu\n", M->name, kind_name[k],
                    i, (unsigned long long)field(&s->kind[k].shard[i], M->off));
    }
    put(o, "# HELP cogmem_shard_load_factor Live nodes per hash bucket.\n"
           "# TYPE cogmem_shard_load_factor gauge\n");
    for (int k = 0; k < 2; k++)
        for (unsigned i = 0; i < COGMEM_STATS_SHARDS; i++) {
            const cogmem_stats_shard *h = &s->kind[k].shard[i];
            put(o, "cogmem_shard_load_factor{kind=\"%s\",shard=\"%u\"} %.6g\n", kind_name[k],
                i, h->buckets ? (double)h->nodes / (double)h->buckets : 0.0);
        }
    for (size_t m = 0; m < N_KIND_METRICS; m++) {
        const struct kind_metric *M = &kind_metrics[m];
        put(o, "# HELP cogmem_%s %s\n# TYPE cogmem_%s gauge\n", M->name, M->help, M->name);
        for (int k = 0; k < 2; k++)
            put(o, "cogmem_%s{kind=\"%s\"} %llu\n", M->name, kind_name[k],
                (unsigned long long)field(&s->kind[k], M->off));
    }
    for (size_t e = 0; e < N_EVENTS; e++) {
        const struct event_metric *m = &events[e];
        if (e == 0 || strcmp(m->name, events[e - 1].name) != 0)
            put(o, "# HELP cogmem_%s %s\n# TYPE cogmem_%s counter\n", m->name,
                help_of(m->name), m->name);
        if (m->label)
            put(o, "cogmem_%s{%s=\"%s\"} %llu\n", m->name, m->label, m->value,
                (unsigned long long)field(s, m->off));
        else
            put(o, "cogmem_%s %llu\n", m->name, (unsigned long long)field(s, m->off));
    }
    for (size_t m = 0; m < N_INDEX_METRICS; m++) {
        const struct metric *M = &index_metrics[m];
        const char *sfx = strcmp(M->type, "counter") ? "" : "_total";
        put(o, "# HELP cogmem_index_%s%s %s\n# TYPE cogmem_index_%s%s %s\ncogmem_index_%s%s %llu\n",
            M->name, sfx, M->help, M->name, sfx, M->type, M->name, sfx,
            (unsigned long long)field(s, M->off));
    }
    put(o, "# HELP cogmem_latency_seconds Sampled latency of operations (1 in %u per thread "
           "timed).\n# TYPE cogmem_latency_seconds histogram\n", s->sample_every);
    for (int op = 0; op < COGMEM_OP_COUNT; op++) {
        const cogmem_stats_latency *L = &s->latency[op];
        for (int i = PROM_FIRST_BOUND; i < COGMEM_STATS_LAT_BOUNDS; i++)
            put(o, "cogmem_latency_seconds_bucket{op=\"%s\",le=\"%.9g\"} %llu\n", op_name[op],
                (double)((UINT64_C(1) << i) - 1) * 1e-9, (unsigned long long)L->below[i]);
        put(o, "cogmem_latency_seconds_bucket{op=\"%s\",le=\"+Inf\"} %llu\n", op_name[op],
            (unsigned long long)L->samples);
        put(o, "cogmem_latency_seconds_sum{op=\"%s\"} %.9g\n", op_name[op],
            (double)L->sum_ns * 1e-9);
        put(o, "cogmem_latency_seconds_count{op=\"%s\"} %llu\n", op_name[op],
            (unsigned long long)L->samples);
    }
}

static void table(struct out *o, const cogmem_stats *s)
{
    put(o, "statistics: allocator %s, NUMA %s on %d node%s (%s)\n",
        s->jemalloc_arenas ? "jemalloc-arenas" : "aligned_alloc",
        policy_name(s->kind[0].numa_policy), s->numa_nodes, s->numa_nodes == 1 ? "" : "s",
        fallback_name(s->numa_fallback));
    put(o, "  %-8s %10s %12s %12s %10s %10s %10s %10s\n", "kind", "nodes", "lookups",
        "hits", "misses", "adds", "removes", "replaced");
    for (int k = 0; k < 2; k++) {
        const cogmem_stats_kind *K = &s->kind[k];
        put(o, "  %-8s %10llu %12llu %12llu %10llu %10llu %10llu %10llu\n", kind_name[k],
            (unsigned long long)K->nodes, (unsigned long long)K->lookups,
            (unsigned long long)K->hits, (unsigned long long)K->misses,
            (unsigned long long)K->adds, (unsigned long long)K->removes,
            (unsigned long long)K->replacements);
    }
    put(o, "  %-8s %9s %9s %6s %8s %10s %10s %10s %6s\n", "kind", "vec refs", "deferred",
        "load", "max load", "live KiB", "arena KiB", "resid KiB", "node");
    for (int k = 0; k < 2; k++) {
        const cogmem_stats_kind *K = &s->kind[k];
        put(o, "  %-8s %9llu %9llu %6.2f %8.2f %10llu %10llu %10llu %6d\n", kind_name[k],
            (unsigned long long)K->vectors_referenced,
            (unsigned long long)K->deferred_frees_pending, K->load_factor, K->load_factor_max,
            (unsigned long long)(K->live_bytes / 1024),
            (unsigned long long)(K->arena_allocated_bytes / 1024),
            (unsigned long long)(K->arena_resident_bytes / 1024), K->numa_node);
    }
    put(o, "  events: recall %llu, spread %llu, decay runs %llu; bindings created %llu, "
           "strengthened %llu, weakened %llu, pruned %llu\n",
        (unsigned long long)s->recall_queries, (unsigned long long)s->spread_queries,
        (unsigned long long)s->decay_runs, (unsigned long long)s->bindings_created,
        (unsigned long long)s->bindings_strengthened,
        (unsigned long long)s->bindings_weakened, (unsigned long long)s->bindings_pruned);
    put(o, "  index: linked %llu, tail %llu, tombstones %llu; visits %llu, repairs %llu, "
           "fallbacks %llu\n",
        (unsigned long long)s->index_linked, (unsigned long long)s->index_tail,
        (unsigned long long)s->index_tombstones, (unsigned long long)s->index_visits,
        (unsigned long long)s->index_repairs, (unsigned long long)s->index_fallbacks);
    put(o, "  latency, 1 in %-4u timed %10s %9s %9s %9s %9s %9s\n", s->sample_every,
        "samples", "mean ns", "p50 ns", "p90 ns", "p99 ns", "p99.9 ns");
    for (int op = 0; op < COGMEM_OP_COUNT; op++) {
        const cogmem_stats_latency *L = &s->latency[op];
        put(o, "  %-25s %10llu %9llu %9llu %9llu %9llu %9llu\n", op_name[op],
            (unsigned long long)L->samples,
            (unsigned long long)(L->samples ? L->sum_ns / L->samples : 0),
            (unsigned long long)L->p50_ns, (unsigned long long)L->p90_ns,
            (unsigned long long)L->p99_ns, (unsigned long long)L->p999_ns);
    }
}

int cogmem_stats_format(cogmem_store *store, int fmt, char *buf, size_t cap,
                        size_t *needed)
{
    void (*emit)(struct out *, const cogmem_stats *);
    switch (fmt) {
    case COGMEM_FMT_JSON: emit = json; break;
    case COGMEM_FMT_PROMETHEUS: emit = prometheus; break;
    case COGMEM_FMT_TABLE: emit = table; break;
    default: return -EINVAL;
    }
    if (!store || (!buf && cap))
        return -EINVAL;
    cogmem_stats s;
    cogmem__stats_read(store, &s);
    struct out o = {NULL, 0, 0};
    emit(&o, &s);
    if (needed)
        *needed = o.len + 1;
    if (o.len + 1 > cap)
        return -ERANGE;
    o = (struct out){buf, cap, 0};
    emit(&o, &s);
    return 0;
}
