/* cogmem — statistics: exact counters after known operations, per-shard
 * attribution, reset, the switch, struct versioning, the histogram's
 * buckets and quantiles, the event and latency hooks, format errors. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "src/store.h"

#define DIM 24

static cogmem_store *open_with(unsigned stats)
{
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = DIM;
    cfg.stats = stats;
    cogmem_store *s = NULL;
    assert_int_equal(cogmem_open(&cfg, &s), 0);
    return s;
}

static void fill(float *v, float x)
{
    for (int i = 0; i < DIM; i++)
        v[i] = x;
}

static cogmem_stats get(cogmem_store *s)
{
    cogmem_stats st;
    st.struct_size = sizeof st;
    assert_int_equal(cogmem_stats_get(s, &st), 0);
    assert_int_equal(st.struct_size, sizeof st);
    return st;
}

/* The store whose (seeded) hash shard_of uses. */
static cogmem_store *shard_store;

static unsigned shard_of(uint64_t id)
{
    return cogmem__shard_of(cogmem__hash(shard_store, id));
}

/* Concepts 1..NC, episodes 1001..1000+NE; a fixed script of lookups,
 * replacements and removes whose every count is known. */
#define NC 40
#define NE 30

static void test_exact_counters(void **state)
{
    (void)state;
    cogmem_store *s = open_with(COGMEM_STATS_COUNTERS | COGMEM_STATS_LATENCY);
    shard_store = s;
    float v[DIM];
    fill(v, 1.0f);
    uint64_t add_c[16] = {0}, add_e[16] = {0}, hit_c[16] = {0}, miss_c[16] = {0};
    uint64_t hit_e[16] = {0}, miss_e[16] = {0}, rep_c[16] = {0}, rem_c[16] = {0};
    for (uint64_t id = 1; id <= NC; id++) {
        assert_int_equal(cogmem_concept_add(s, id, v), 0);
        add_c[shard_of(id)]++;
    }
    for (uint64_t id = 1001; id <= 1000 + NE; id++) {
        assert_int_equal(cogmem_episode_add(s, id, v, id), 0);
        add_e[shard_of(id)]++;
    }
    /* Failed adds count nothing. */
    assert_int_equal(cogmem_concept_add(s, 1, v), -EEXIST);
    assert_int_equal(cogmem_episode_add(s, 1, v, 0), -EEXIST);

    struct cogmem_concept_info ci;
    struct cogmem_episode_info ei;
    for (uint64_t id = 1; id <= NC + 5; id++) { /* 5 misses */
        int rc = cogmem_concept_info(s, id, &ci);
        (rc == 0 ? hit_c : miss_c)[shard_of(id)]++;
    }
    for (uint64_t id = 1001; id <= 1000 + NE + 3; id++) { /* 3 misses */
        int rc = cogmem_episode_info(s, id, &ei);
        (rc == 0 ? hit_e : miss_e)[shard_of(id)]++;
    }
    /* An episode id asked as a concept: a concept miss. */
    assert_int_equal(cogmem_concept_info(s, 1001, &ci), -ENOENT);
    miss_c[shard_of(1001)]++;
    /* kind_of and vec_get look in concepts, then in episodes. */
    assert_int_equal(cogmem_kind_of(s, 2), COGMEM_CONCEPT);
    hit_c[shard_of(2)]++;
    assert_int_equal(cogmem_kind_of(s, 1002), COGMEM_EPISODE);
    miss_c[shard_of(1002)]++, hit_e[shard_of(1002)]++;
    assert_int_equal(cogmem_kind_of(s, 99999), -ENOENT);
    miss_c[shard_of(99999)]++, miss_e[shard_of(99999)]++;
    const cogmem_vec *held;
    assert_int_equal(cogmem_vec_get(s, 1003, &held), 0);
    miss_c[shard_of(1003)]++, hit_e[shard_of(1003)]++;
    /* Batch: each non-zero id is one lookup. */
    uint64_t ids[4] = {3, 0, 4, 77777};
    struct cogmem_concept_info out[4];
    size_t found;
    assert_int_equal(cogmem_concept_info_batch(s, ids, 4, out, &found), 0);
    assert_int_equal(found, 2);
    hit_c[shard_of(3)]++, hit_c[shard_of(4)]++, miss_c[shard_of(77777)]++;
    /* Replacements. */
    float w[DIM];
    fill(w, 2.0f);
    assert_int_equal(cogmem_concept_set_centroid(s, 5, w), 0);
    rep_c[shard_of(5)]++;
    assert_int_equal(cogmem_concept_blend(s, 6, w, 0.5f), 0);
    rep_c[shard_of(6)]++;
    assert_int_equal(cogmem_concept_set_centroid(s, 123456, w), -ENOENT);
    /* Removes. */
    for (uint64_t id = 1; id <= 10; id++) {
        assert_int_equal(cogmem_concept_remove(s, id), 0);
        rem_c[shard_of(id)]++;
    }
    assert_int_equal(cogmem_concept_remove(s, 1), -ENOENT);

    cogmem_stats st = get(s);
    const cogmem_stats_kind *C = &st.kind[0], *E = &st.kind[1];
    uint64_t sum[8] = {0};
    for (unsigned i = 0; i < 16; i++) {
        assert_int_equal(C->shard[i].adds, add_c[i]);
        assert_int_equal(E->shard[i].adds, add_e[i]);
        assert_int_equal(C->shard[i].hits, hit_c[i]);
        assert_int_equal(C->shard[i].misses, miss_c[i]);
        assert_int_equal(E->shard[i].hits, hit_e[i]);
        assert_int_equal(E->shard[i].misses, miss_e[i]);
        assert_int_equal(C->shard[i].replacements, rep_c[i]);
        assert_int_equal(C->shard[i].removes, rem_c[i]);
        assert_int_equal(C->shard[i].lookups, hit_c[i] + miss_c[i]);
        assert_int_equal(C->shard[i].nodes, add_c[i] - rem_c[i]);
        assert_int_equal(E->shard[i].nodes, add_e[i]);
        sum[0] += hit_c[i], sum[1] += miss_c[i];
    }
    assert_int_equal(C->adds, NC);
    assert_int_equal(E->adds, NE);
    assert_int_equal(C->hits, sum[0]);
    assert_int_equal(C->misses, sum[1]);
    assert_int_equal(C->hits, NC + 1 + 2);  /* info, kind_of, batch */
    assert_int_equal(E->hits, NE + 1 + 1);  /* info, kind_of, vec_get */
    assert_int_equal(C->removes, 10);
    assert_int_equal(C->replacements, 2);
    assert_int_equal(C->nodes, NC - 10);
    assert_int_equal(E->nodes, NE);
    assert_int_equal(E->vectors_referenced, 1);
    assert_int_equal(C->vectors_referenced, 0);
    assert_true(C->load_factor > 0.0 && C->load_factor <= C->load_factor_max);
    assert_int_equal(C->live_bytes, (uint64_t)(NC - 10) * (sizeof(struct cogmem__node_mem) +
                                                            sizeof(struct cogmem_vec) + DIM * 4));
    cogmem_vec_put(held);
    /* Removes and replacements queued deferred frees; a barrier runs them. */
    cogmem__rcu_barrier();
    st = get(s);
    assert_int_equal(st.kind[0].deferred_frees_pending, 0);
    assert_int_equal(st.kind[1].vectors_referenced, 0);
    assert_int_equal(cogmem_close(&s), 0);
}

static void test_deferred_pending_counts_queue(void **state)
{
    (void)state;
    cogmem_store *s = open_with(COGMEM_STATS_COUNTERS);
    float v[DIM];
    fill(v, 1.0f);
    assert_int_equal(cogmem_concept_add(s, 7, v), 0);
    /* Hold a read-side section so that no grace period can end: the
     * remove's record and vector stay queued. */
    cogmem__rcu_lock();
    assert_int_equal(cogmem_concept_remove(s, 7), 0);
    cogmem_stats st = get(s);
    assert_int_equal(st.kind[0].deferred_frees_pending, 2); /* node + vector */
    cogmem__rcu_unlock();
    cogmem__rcu_barrier();
    st = get(s);
    assert_int_equal(st.kind[0].deferred_frees_pending, 0);
    assert_int_equal(cogmem_close(&s), 0);
}

static void test_reset_and_switch(void **state)
{
    (void)state;
    cogmem_store *s = open_with(COGMEM_STATS_COUNTERS | COGMEM_STATS_LATENCY);
    float v[DIM];
    fill(v, 1.0f);
    struct cogmem_concept_info ci;
    assert_int_equal(cogmem_concept_add(s, 1, v), 0);
    /* Any run of 2 x SAMPLE_EVERY lookups on one thread times exactly 2. */
    for (unsigned i = 0; i < 2 * COGMEM_STATS_SAMPLE_EVERY; i++)
        assert_int_equal(cogmem_concept_info(s, 1, &ci), 0);
    cogmem__stats_event(s, COGMEM__EV_RECALL);
    cogmem_stats st = get(s);
    assert_int_equal(st.kind[0].hits, 2 * COGMEM_STATS_SAMPLE_EVERY);
    assert_int_equal(st.latency[COGMEM_OP_LOOKUP].samples, 2);
    assert_int_equal(st.recall_queries, 1);
    assert_int_equal(cogmem_stats_reset(s), 0);
    assert_int_equal(cogmem_stats_reset(NULL), -EINVAL);
    st = get(s);
    assert_int_equal(st.kind[0].hits, 0);
    assert_int_equal(st.kind[0].adds, 0);
    assert_int_equal(st.latency[COGMEM_OP_LOOKUP].samples, 0);
    assert_int_equal(st.recall_queries, 0);
    assert_int_equal(st.kind[0].nodes, 1); /* a gauge: not reset */
    assert_int_equal(cogmem_close(&s), 0);

    s = open_with(0);
    assert_int_equal(cogmem_concept_add(s, 1, v), 0);
    for (int i = 0; i < 128; i++)
        assert_int_equal(cogmem_concept_info(s, 1, &ci), 0);
    cogmem__stats_event(s, COGMEM__EV_RECALL);
    st = get(s);
    assert_int_equal(st.flags, 0);
    assert_int_equal(st.kind[0].hits, 0);
    assert_int_equal(st.kind[0].adds, 0);
    assert_int_equal(st.recall_queries, 0);
    assert_int_equal(st.latency[COGMEM_OP_LOOKUP].samples, 0);
    assert_int_equal(st.kind[0].nodes, 1);
    assert_int_equal(cogmem_close(&s), 0);

    cogmem_config cfg;
    cogmem_config_init(&cfg);
    assert_int_equal(cfg.stats, COGMEM_STATS_COUNTERS | COGMEM_STATS_LATENCY);
    cfg.dim = DIM;
    cfg.stats = 4;
    assert_int_equal(cogmem_open(&cfg, &s), -EINVAL);
}

static void test_struct_size(void **state)
{
    (void)state;
    cogmem_store *s = open_with(COGMEM_STATS_COUNTERS);
    cogmem_stats st;
    st.struct_size = 0;
    assert_int_equal(cogmem_stats_get(s, &st), -EINVAL);
    st.struct_size = sizeof st;
    assert_int_equal(cogmem_stats_get(NULL, &st), -EINVAL);
    assert_int_equal(cogmem_stats_get(s, NULL), -EINVAL);
    /* A caller with a larger (future) struct: only our part is written. */
    struct {
        cogmem_stats st;
        unsigned char tail[32];
    } big;
    memset(&big, 0xab, sizeof big);
    big.st.struct_size = sizeof big;
    assert_int_equal(cogmem_stats_get(s, &big.st), 0);
    assert_int_equal(big.st.struct_size, sizeof big.st);
    for (size_t i = 0; i < sizeof big.tail; i++)
        assert_int_equal(big.tail[i], 0xab);
    assert_int_equal(cogmem_close(&s), 0);
}

/* A host compiled against the first cogmem_config (dim and the sizing
 * hints only: no binding/ACT-R, numa_* or stats fields) gets the defaults
 * for the fields it does not know. */
static void test_config_v1_defaults(void **state)
{
    (void)state;
    cogmem_config cfg;
    memset(&cfg, 0, sizeof cfg); /* what an old host's zeroed tail would not set */
    cfg.struct_size = offsetof(cogmem_config, fan_mode);
    cfg.dim = DIM;
    cogmem_store *s = NULL;
    assert_int_equal(cogmem_open(&cfg, &s), 0);
    cogmem_stats st = get(s);
    assert_int_equal(st.flags, COGMEM_STATS_COUNTERS | COGMEM_STATS_LATENCY);
    assert_int_equal(st.kind[0].numa_policy, COGMEM_NUMA_INTERLEAVE);
    assert_int_equal(cogmem_close(&s), 0);
}

/* More threads than stripes at once (some count in the shared slot), then
 * waves of short-lived threads (stripes given back and claimed again):
 * every count is kept. */
#define WAVE_THREADS 20
#define PER_THREAD 1000

static void *look_up(void *arg)
{
    struct cogmem_concept_info ci;
    for (int i = 0; i < PER_THREAD; i++)
        if (cogmem_concept_info(arg, 1, &ci) != 0)
            return arg;
    return NULL;
}

static void test_counts_across_threads(void **state)
{
    (void)state;
    cogmem_store *s = open_with(COGMEM_STATS_COUNTERS);
    float v[DIM];
    fill(v, 1.0f);
    assert_int_equal(cogmem_concept_add(s, 1, v), 0);
    pthread_t t[WAVE_THREADS];
    for (int i = 0; i < WAVE_THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, look_up, s), 0);
    for (int i = 0; i < WAVE_THREADS; i++) {
        void *rc;
        pthread_join(t[i], &rc);
        assert_null(rc);
    }
    for (int wave = 0; wave < 3 * WAVE_THREADS; wave++) {
        pthread_t one;
        void *rc;
        assert_int_equal(pthread_create(&one, NULL, look_up, s), 0);
        pthread_join(one, &rc);
        assert_null(rc);
    }
    cogmem_stats st = get(s);
    assert_int_equal(st.kind[0].hits, (uint64_t)4 * WAVE_THREADS * PER_THREAD);
    assert_int_equal(cogmem_close(&s), 0);
}

static void test_histogram_buckets(void **state)
{
    (void)state;
    /* Edges are increasing, each value lands in the bucket whose edges
     * enclose it, and powers of two are edges. */
    uint64_t prev = 0;
    for (unsigned b = 0; b < COGMEM__HIST_NB; b++) {
        uint64_t up = cogmem__hist_upper(b);
        assert_true(up > prev);
        assert_int_equal(cogmem__hist_bucket(up - 1), b);
        assert_int_equal(cogmem__hist_bucket(prev), b);
        /* within 12.5% above 16 ns */
        if (prev >= 16)
            assert_true((up - prev) * 8 <= prev);
        prev = up;
    }
    assert_int_equal(cogmem__hist_bucket(UINT64_MAX), COGMEM__HIST_NB - 1);
    for (unsigned e = 4; e < COGMEM__HIST_TOP_EXP; e++)
        assert_int_equal(cogmem__hist_upper(cogmem__hist_bucket((UINT64_C(1) << e) - 1)),
                         UINT64_C(1) << e);
}

static void test_quantiles_and_hooks(void **state)
{
    (void)state;
    cogmem_store *s = open_with(COGMEM_STATS_COUNTERS | COGMEM_STATS_LATENCY);
    /* 1000 recall samples: 1..1000 us. */
    for (uint64_t i = 1; i <= 1000; i++)
        cogmem__hist_record(&s->stats, COGMEM_OP_RECALL, i * 1000);
    for (int i = 0; i < 5; i++)
        cogmem__stats_event(s, COGMEM__EV_SPREAD);
    cogmem__stats_event(s, COGMEM__EV_BIND_PRUNED);
    cogmem_stats st = get(s);
    const cogmem_stats_latency *L = &st.latency[COGMEM_OP_RECALL];
    assert_int_equal(L->samples, 1000);
    assert_int_equal(L->sum_ns, 500500000);
    /* The quantile's bucket edge is at or above the true value and within
     * one bucket (12.5%) of it. */
    const struct { uint64_t got, want; } q[] = {
        {L->p50_ns, 500000}, {L->p90_ns, 900000}, {L->p99_ns, 990000}, {L->p999_ns, 999000}};
    for (size_t i = 0; i < 4; i++) {
        assert_true(q[i].got > q[i].want);
        assert_true(q[i].got <= q[i].want + q[i].want / 8 + 1);
    }
    /* below[] is cumulative and exact at powers of two. */
    for (int i = 0; i < COGMEM_STATS_LAT_BOUNDS; i++) {
        uint64_t want = 0;
        for (uint64_t v = 1; v <= 1000; v++)
            want += v * 1000 < (UINT64_C(1) << i);
        assert_int_equal(L->below[i], want);
    }
    assert_int_equal(st.latency[COGMEM_OP_LOOKUP].samples, 0);
    assert_int_equal(st.latency[COGMEM_OP_SPREAD].p50_ns, 0);
    assert_int_equal(st.spread_queries, 5);
    assert_int_equal(st.bindings_pruned, 1);
    assert_int_equal(st.decay_runs, 0);
    assert_int_equal(cogmem_close(&s), 0);
}

static void test_format_errors(void **state)
{
    (void)state;
    cogmem_store *s = open_with(COGMEM_STATS_COUNTERS);
    size_t need = 0;
    char small[16];
    memset(small, 'x', sizeof small);
    assert_int_equal(cogmem_stats_format(s, 99, small, sizeof small, &need), -EINVAL);
    assert_int_equal(cogmem_stats_format(NULL, COGMEM_FMT_JSON, small, sizeof small, &need),
                     -EINVAL);
    assert_int_equal(cogmem_stats_format(s, COGMEM_FMT_JSON, NULL, 5, &need), -EINVAL);
    const int fmts[] = {COGMEM_FMT_JSON, COGMEM_FMT_PROMETHEUS, COGMEM_FMT_TABLE};
    for (size_t f = 0; f < 3; f++) {
        assert_int_equal(cogmem_stats_format(s, fmts[f], NULL, 0, &need), -ERANGE);
        assert_true(need > sizeof small);
        assert_int_equal(cogmem_stats_format(s, fmts[f], small, sizeof small, &need),
                         -ERANGE);
        for (size_t i = 0; i < sizeof small; i++)
            assert_int_equal(small[i], 'x'); /* untouched */
        char *buf = malloc(need);
        assert_non_null(buf);
        size_t again = 0;
        assert_int_equal(cogmem_stats_format(s, fmts[f], buf, need, &again), 0);
        assert_int_equal(again, need);
        assert_int_equal(strlen(buf) + 1, need);
        /* one byte short is too short */
        assert_int_equal(cogmem_stats_format(s, fmts[f], buf, need - 1, NULL), -ERANGE);
        free(buf);
    }
    assert_int_equal(cogmem_close(&s), 0);
}

/* The events the other features report through the stats hooks, exactly:
 * bindings created/strengthened/weakened/pruned, decay runs, recall
 * queries (a batch counts each of its queries) and spreads; failed calls
 * count nothing. */
static void test_feature_event_counters(void **state)
{
    (void)state;
    cogmem_store *s = open_with(COGMEM_STATS_COUNTERS);
    float v[DIM];
    for (int i = 0; i < DIM; i++)
        v[i] = 1.0f + (float)i;
    for (uint64_t id = 1; id <= 3; id++)
        assert_int_equal(cogmem_concept_add(s, id, v), 0);
    for (uint64_t id = 11; id <= 14; id++)
        assert_int_equal(cogmem_episode_add(s, id, v, id), 0);
    /* 5 bindings; 2 strengthened, 1 weakened, 1 zero delta (neither) */
    assert_int_equal(cogmem_bind(s, 11, 1, 0.5f), 0);
    assert_int_equal(cogmem_bind(s, 12, 1, 0.5f), 0);
    assert_int_equal(cogmem_bind(s, 13, 2, 0.9f), 0);
    assert_int_equal(cogmem_bind(s, 14, 2, 0.02f), 0);
    assert_int_equal(cogmem_bind(s, 14, 3, 0.015f), 0);
    assert_int_equal(cogmem_bind(s, 14, 3, 0.5f), -EEXIST); /* not counted */
    assert_int_equal(cogmem_binding_adjust(s, 11, 1, 0.25f, NULL), 0);
    assert_int_equal(cogmem_binding_adjust(s, 12, 1, 0.25f, NULL), 0);
    assert_int_equal(cogmem_binding_adjust(s, 13, 2, -0.25f, NULL), 0);
    assert_int_equal(cogmem_binding_adjust(s, 13, 2, 0.0f, NULL), 0);
    /* a factor decay of 0.5 leaves 0.01 and 0.0075 below 0.011: 2 pruned */
    cogmem_decay_params dp;
    cogmem_decay_params_init(&dp);
    dp.model = COGMEM_DECAY_FACTOR;
    dp.factor = 0.5f;
    dp.prune_below = 0.011f;
    assert_int_equal(cogmem_decay(s, &dp, 0, NULL), 0);
    /* two single recalls and a batch of three */
    cogmem_recall_hit hits[3 * 4];
    size_t n = 0;
    assert_int_equal(cogmem_recall(s, v, COGMEM_ALL_KINDS, 4, NULL, hits, &n), 0);
    assert_int_equal(cogmem_recall(s, v, COGMEM_CONCEPT, 2, NULL, hits, &n), 0);
    float qs[3 * DIM];
    for (int q = 0; q < 3; q++)
        memcpy(qs + q * DIM, v, sizeof v);
    size_t nb[3];
    assert_int_equal(cogmem_recall_batch(s, qs, 3, COGMEM_ALL_KINDS, 4, NULL, hits, nb), 0);
    cogmem_source src = {1, 1.0f};
    cogmem_hit sh[8];
    assert_int_equal(cogmem_spread(s, &src, 1, NULL, sh, 8, &n), 0);
    assert_int_equal(cogmem_spread(s, NULL, 1, NULL, sh, 8, &n), -EINVAL); /* not counted */

    cogmem_stats st = get(s);
    assert_int_equal(st.bindings_created, 5);
    assert_int_equal(st.bindings_strengthened, 2);
    assert_int_equal(st.bindings_weakened, 1);
    assert_int_equal(st.bindings_pruned, 2);
    assert_int_equal(st.decay_runs, 1);
    assert_int_equal(st.recall_queries, 5);
    assert_int_equal(st.spread_queries, 1);
    assert_int_equal(cogmem_close(&s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_counters),
        cmocka_unit_test(test_deferred_pending_counts_queue),
        cmocka_unit_test(test_reset_and_switch),
        cmocka_unit_test(test_struct_size),
        cmocka_unit_test(test_config_v1_defaults),
        cmocka_unit_test(test_counts_across_threads),
        cmocka_unit_test(test_histogram_buckets),
        cmocka_unit_test(test_quantiles_and_hooks),
        cmocka_unit_test(test_format_errors),
        cmocka_unit_test(test_feature_event_counters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
