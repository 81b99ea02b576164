/* cogmem tests — concept formation, consolidation and forgetting
 * (cogmem_life.h): results, determinism, and regressions for the bugs of
 * the reference design (research/formation.md). */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "form/gen.h"
#include "src/store.h"
#include "unit/util.h"

#define DIM 32
#define N 600 /* more than one 32 x 256 similarity tile (src/life/hac.c) */
#define K 6
#define NOISE 12
#define BASE 1000000u /* concept ids */

static float data[N * DIM];
static int32_t truth[N];

/* Episode ids for point i: not in point order, so id order != insertion. */
static uint64_t eid(size_t i) { return 1 + (uint64_t)((i * 37) % N) * 3; }

static void load(cogmem_store *s, const size_t *order)
{
    for (size_t q = 0; q < N; q++) {
        size_t i = order ? order[q] : q;
        assert_int_equal(cogmem_episode_add(s, eid(i), data + i * DIM, 1000 + i), 0);
    }
}

static cogmem_store *fresh(const size_t *order)
{
    cogmem_store *s = test_open(DIM);
    load(s, order);
    return s;
}

static void params(cogmem_form_params *p)
{
    cogmem_form_params_init(p);
    p->min_similarity = 0.5f;
    p->min_members = 3;
    p->next_id = BASE;
}

static cogmem_form_result result(void)
{
    cogmem_form_result r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    return r;
}

static int setup(void **state)
{
    (void)state;
    gen_clusters(42, N, DIM, K, 0.45, NOISE, data, truth);
    return 0;
}

/* Point index of episode id. */
static size_t point_of(uint64_t id)
{
    for (size_t i = 0; i < N; i++)
        if (eid(i) == id)
            return i;
    fail();
    return 0;
}

static void test_forms_the_true_clusters(void **state)
{
    (void)state;
    cogmem_store *s = fresh(NULL);
    cogmem_form_params p;
    params(&p);
    cogmem_form_result r = result();
    assert_int_equal(cogmem_form_concepts(s, &p, &r), 0);
    assert_int_equal(r.method, COGMEM_FORM_EXACT);
    assert_int_equal(r.n_selected, N);
    assert_int_equal(r.n_concepts, K);
    assert_int_equal(r.n_members, N - NOISE);
    uint64_t nb = 0;
    assert_int_equal(cogmem_binding_count(s, &nb), 0);
    assert_int_equal(nb, N - NOISE);
    for (size_t c = 0; c < r.n_concepts; c++) {
        const cogmem_form_concept *fc = &r.concepts[c];
        assert_int_equal(fc->id, BASE + c);
        int32_t t = truth[point_of(r.members[fc->first])];
        double sum[DIM] = {0};
        for (size_t q = fc->first; q < fc->first + fc->count; q++) {
            if (q > fc->first)
                assert_true(r.members[q] > r.members[q - 1]); /* ascending */
            size_t i = point_of(r.members[q]);
            assert_int_equal(truth[i], t); /* one true cluster per concept */
            for (int d = 0; d < DIM; d++)
                sum[d] += data[i * DIM + d];
            float st = -1;
            assert_int_equal(cogmem_binding_get(s, r.members[q], fc->id, &st), 0);
            assert_true(st == r.contribution[q] && st > 0.5f && st <= 1.0f);
        }
        if (c > 0) /* concepts by smallest member */
            assert_true(r.members[fc->first] > r.members[r.concepts[c - 1].first]);
        uint32_t fan = 0;
        assert_int_equal(cogmem_fan_out(s, fc->id, &fan), 0);
        assert_int_equal(fan, fc->count);
        /* centroid = mean of the (unit) member embeddings */
        const cogmem_vec *v;
        assert_int_equal(cogmem_vec_get(s, fc->id, &v), 0);
        for (int d = 0; d < DIM; d++)
            assert_true(fabs(cogmem_vec_data(v)[d] - sum[d] / fc->count) < 1e-5);
        assert_true(fabsf(cogmem_vec_norm(v) - fc->norm) < 1e-5f);
        cogmem_vec_put(v);
        double cnt = fc->count;
        assert_true(fabs((double)fc->norm * fc->norm - (1.0 / cnt + (cnt - 1) / cnt * fc->coherence)) < 1e-4);
    }
    /* every true cluster became exactly one concept */
    int seen[K] = {0};
    for (size_t c = 0; c < r.n_concepts; c++)
        seen[truth[point_of(r.members[r.concepts[c].first])]]++;
    for (int k = 0; k < K; k++)
        assert_int_equal(seen[k], 1);
    cogmem_stats st;
    st.struct_size = sizeof st;
    assert_int_equal(cogmem_stats_get(s, &st), 0);
    assert_int_equal(st.formation_runs, 1);
    assert_int_equal(st.concepts_formed, K);
    cogmem_form_result_free(&r);
    assert_null(r.members);
    test_close(&s);
}

/* Snapshot of what a formation produced, for bit comparisons. */
struct snap {
    cogmem_form_result r;
    float mu[K + 4][DIM];
};

static void take(cogmem_store *s, unsigned threads, struct snap *out)
{
    cogmem_form_params p;
    params(&p);
    p.threads = threads;
    out->r = result();
    assert_int_equal(cogmem_form_concepts(s, &p, &out->r), 0);
    assert_true(out->r.n_concepts <= K + 4);
    for (size_t c = 0; c < out->r.n_concepts; c++) {
        const cogmem_vec *v;
        assert_int_equal(cogmem_vec_get(s, out->r.concepts[c].id, &v), 0);
        memcpy(out->mu[c], cogmem_vec_data(v), sizeof out->mu[c]);
        cogmem_vec_put(v);
    }
}

static void same(const struct snap *a, const struct snap *b)
{
    assert_int_equal(a->r.n_concepts, b->r.n_concepts);
    assert_int_equal(a->r.n_members, b->r.n_members);
    assert_int_equal(a->r.n_selected, b->r.n_selected);
    assert_memory_equal(a->r.selected, b->r.selected, a->r.n_selected * sizeof(uint64_t));
    assert_memory_equal(a->r.labels, b->r.labels, a->r.n_selected * sizeof(uint32_t));
    for (size_t c = 0; c < a->r.n_concepts; c++) { /* field by field: padding */
        const cogmem_form_concept *x = &a->r.concepts[c], *y = &b->r.concepts[c];
        assert_int_equal(x->id, y->id);
        assert_int_equal(x->first, y->first);
        assert_int_equal(x->count, y->count);
        assert_memory_equal(&x->coherence, &y->coherence, sizeof(float));
        assert_memory_equal(&x->norm, &y->norm, sizeof(float));
    }
    assert_memory_equal(a->r.members, b->r.members, a->r.n_members * sizeof(uint64_t));
    assert_memory_equal(a->r.contribution, b->r.contribution, a->r.n_members * sizeof(float));
    assert_memory_equal(a->mu, b->mu, a->r.n_concepts * sizeof a->mu[0]);
}

/* Bit-identical for 1, 2, 4 threads and any insertion order (the member
 * order bug: the reference design indexed a sorted copy with indices into
 * the caller's unsorted input). */
static void test_determinism_threads_and_order(void **state)
{
    (void)state;
    static struct snap ref, got;
    cogmem_store *s = fresh(NULL);
    take(s, 1, &ref);
    test_close(&s);
    size_t order[N];
    const uint64_t seed = 7;
    for (int perm = 0; perm < 3; perm++) {
        gen_shuffle(seed + (uint64_t)perm, order, N);
        for (unsigned t = 1; t <= 4; t *= 2) {
            s = fresh(order);
            take(s, t, &got);
            same(&ref, &got);
            cogmem_form_result_free(&got.r);
            test_close(&s);
        }
    }
    cogmem_form_result_free(&ref.r);
}

/* Re-promotion: a second run on an unchanged store creates nothing, and
 * the leftovers are exactly the clusters the filter refused. */
static void test_second_run_creates_nothing(void **state)
{
    (void)state;
    cogmem_store *s = fresh(NULL);
    cogmem_form_params p;
    params(&p);
    p.min_members = 12 * N / 120; /* refuses the smaller true clusters */
    cogmem_form_result r = result();
    assert_int_equal(cogmem_form_concepts(s, &p, &r), 0);
    size_t first = r.n_concepts;
    assert_true(first > 0 && first < K);
    cogmem_form_result_free(&r);
    uint64_t nc = 0;
    p.next_id = BASE + 100;
    for (int run = 0; run < 2; run++) {
        r = result();
        assert_int_equal(cogmem_form_concepts(s, &p, &r), 0);
        assert_int_equal(r.n_concepts, 0);
        assert_true(r.n_selected > 0);
        cogmem_form_result_free(&r);
    }
    assert_int_equal(cogmem_count(s, COGMEM_CONCEPT, &nc), 0);
    assert_int_equal(nc, first);
    test_close(&s);
}

/* Thresholds 0 and 1 (and -1): documented results, no crash. */
static void test_threshold_extremes(void **state)
{
    (void)state;
    cogmem_store *s = fresh(NULL);
    cogmem_form_params p;
    params(&p);
    p.dry_run = 1;
    p.min_members = 1;
    cogmem_form_result r = result();
    p.min_similarity = 1.0f; /* distinct vectors never merge */
    assert_int_equal(cogmem_form_concepts(s, &p, &r), 0);
    assert_int_equal(r.n_clusters, N);
    cogmem_form_result_free(&r);
    r = result();
    p.min_similarity = -1.0f; /* everything merges */
    assert_int_equal(cogmem_form_concepts(s, &p, &r), 0);
    assert_int_equal(r.n_clusters, 1);
    cogmem_form_result_free(&r);
    r = result();
    p.min_similarity = 0.0f; /* the true clusters merge (random ~ 0 +- 0.18) */
    assert_int_equal(cogmem_form_concepts(s, &p, &r), 0);
    assert_true(r.n_clusters >= 1 && r.n_clusters < K);
    cogmem_form_result_free(&r);
    uint64_t nc = 1;
    assert_int_equal(cogmem_count(s, COGMEM_CONCEPT, &nc), 0);
    assert_int_equal(nc, 0); /* dry runs wrote nothing */
    /* exact duplicates: a unit vector's dot with itself rounds to within
     * a few ulps of 1, so tau just below 1 merges duplicates only */
    float v[DIM];
    fill(v, DIM, 0.25f);
    for (uint64_t id = 5000; id < 5004; id++)
        assert_int_equal(cogmem_episode_add(s, id, v, 1), 0);
    p.dry_run = 0;
    p.min_similarity = 0.9999f;
    p.min_members = 2;
    r = result();
    assert_int_equal(cogmem_form_concepts(s, &p, &r), 0);
    assert_int_equal(r.n_concepts, 1);
    assert_int_equal(r.concepts[0].count, 4);
    assert_int_equal(r.members[0], 5000);
    cogmem_form_result_free(&r);
    test_close(&s);
}

/* Results do not depend on the episodes' times (the reference design's
 * similarity decayed with wall-clock distance over a 24 h horizon). */
static void test_time_independent(void **state)
{
    (void)state;
    static struct snap a, b;
    cogmem_store *s = fresh(NULL);
    take(s, 2, &a);
    test_close(&s);
    s = test_open(DIM);
    for (size_t i = 0; i < N; i++) /* ten years apart, in reverse */
        assert_int_equal(cogmem_episode_add(s, eid(i), data + i * DIM,
                                            (uint64_t)(N - i) * 315360000000000000ull / N),
                         0);
    take(s, 2, &b);
    same(&a, &b);
    cogmem_form_result_free(&a.r);
    cogmem_form_result_free(&b.r);
    /* ... but a time window selects */
    cogmem_form_params p;
    params(&p);
    p.t_from_ns = 1;
    p.t_to_ns = 2;
    p.dry_run = 1;
    cogmem_form_result r = result();
    assert_int_equal(cogmem_form_concepts(s, &p, &r), 0);
    assert_int_equal(r.n_selected, 0);
    cogmem_form_result_free(&r);
    test_close(&s);
}

/* The scalable path on well-separated data finds the true partition. */
static void test_dpmeans(void **state)
{
    (void)state;
    cogmem_store *s = fresh(NULL);
    cogmem_form_params p;
    params(&p);
    p.exact_max = 10; /* AUTO picks DP-means above this */
    p.dry_run = 1;
    static struct snap ref, got;
    cogmem_form_result r = result();
    assert_int_equal(cogmem_form_concepts(s, &p, &r), 0);
    assert_int_equal(r.method, COGMEM_FORM_DPMEANS);
    assert_int_equal(r.n_concepts, K);
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < N; j++) {
            size_t a = point_of(r.selected[i]), b = point_of(r.selected[j]);
            if (truth[a] >= 0 && truth[b] >= 0)
                assert_int_equal(truth[a] == truth[b], r.labels[i] == r.labels[j]);
        }
    /* deterministic across threads */
    for (unsigned t = 1; t <= 4; t *= 2) {
        p.threads = t;
        cogmem_form_result q = result();
        assert_int_equal(cogmem_form_concepts(s, &p, &q), 0);
        assert_memory_equal(q.labels, r.labels, N * sizeof(uint32_t));
        assert_memory_equal(q.contribution, r.contribution, r.n_members * sizeof(float));
        cogmem_form_result_free(&q);
    }
    (void)ref;
    (void)got;
    cogmem_form_result_free(&r);
    test_close(&s);
}

static uint64_t id_cb(void *arg, uint64_t min_member, size_t index)
{
    (void)index;
    return *(uint64_t *)arg + min_member;
}

static void test_ids_and_errors(void **state)
{
    (void)state;
    cogmem_store *s = fresh(NULL);
    cogmem_form_params p;
    params(&p);
    cogmem_form_result r = result();
    /* a taken id: -EEXIST before anything is written */
    float v[DIM];
    fill(v, DIM, 1.0f);
    assert_int_equal(cogmem_concept_add(s, BASE + 3, v), 0);
    assert_int_equal(cogmem_form_concepts(s, &p, &r), -EEXIST);
    uint64_t nb = 1, nc = 0;
    assert_int_equal(cogmem_binding_count(s, &nb), 0);
    assert_int_equal(nb, 0);
    assert_null(r.members);
    /* no id source */
    p.next_id = 0;
    assert_int_equal(cogmem_form_concepts(s, &p, &r), -EINVAL);
    /* bad params and sizes */
    params(&p);
    p.min_similarity = NAN;
    assert_int_equal(cogmem_form_concepts(s, &p, &r), -EINVAL);
    params(&p);
    p.struct_size = COGMEM_FORM_PARAMS_V1_SIZE - 1;
    assert_int_equal(cogmem_form_concepts(s, &p, &r), -EINVAL);
    params(&p);
    r.struct_size = 8;
    assert_int_equal(cogmem_form_concepts(s, &p, &r), -EINVAL);
    r = result();
    assert_int_equal(cogmem_form_concepts(NULL, &p, &r), -EINVAL);
    /* explicit ids: unknown one is -ENOENT */
    uint64_t ids[] = {eid(0), 999999};
    p.select = COGMEM_FORM_IDS;
    p.ids = ids;
    p.n_ids = 2;
    assert_int_equal(cogmem_form_concepts(s, &p, &r), -ENOENT);
    /* the id callback */
    params(&p);
    uint64_t off = 5000000;
    p.next_id = 0;
    p.id_fn = id_cb;
    p.id_arg = &off;
    assert_int_equal(cogmem_form_concepts(s, &p, &r), 0);
    assert_int_equal(r.n_concepts, K);
    for (size_t c = 0; c < r.n_concepts; c++)
        assert_int_equal(r.concepts[c].id, off + r.members[r.concepts[c].first]);
    assert_int_equal(cogmem_count(s, COGMEM_CONCEPT, &nc), 0);
    assert_int_equal(nc, K + 1);
    cogmem_form_result_free(&r);
    test_close(&s);
}

static void test_consolidate(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    cogmem_consolidate_result cr = {.struct_size = sizeof cr};
    cogmem_form_params p;
    params(&p);
    /* no concept yet: stays unbound */
    assert_int_equal(cogmem_episode_add(s, 1, data, 1), 0);
    assert_int_equal(cogmem_consolidate(s, 1, &p, &cr), 0);
    assert_int_equal(cr.bound, 0);
    assert_int_equal(cr.concept, 0);
    /* form concepts from all but the last member of each cluster */
    size_t held[K]; /* the last point of each true cluster */
    int nheld = K;
    for (size_t i = 0; i < N; i++)
        if (truth[i] >= 0)
            held[truth[i]] = i;
    assert_int_equal(nheld, K);
    for (size_t i = 1; i < N; i++) {
        int skip = 0;
        for (int h = 0; h < nheld; h++)
            skip |= held[h] == i;
        if (!skip)
            assert_int_equal(cogmem_episode_add(s, 1 + i, data + i * DIM, 1), 0);
    }
    cogmem_form_result r = result();
    assert_int_equal(cogmem_form_concepts(s, &p, &r), 0);
    assert_int_equal(r.n_concepts, K);
    for (int h = 0; h < nheld; h++) {
        size_t i = held[h];
        assert_int_equal(cogmem_episode_add(s, 1 + i, data + i * DIM, 1), 0);
        /* the concept of i's true cluster */
        size_t c = 0;
        for (; c < r.n_concepts; c++)
            if (truth[r.members[r.concepts[c].first] - 1] == truth[i])
                break;
        assert_true(c < r.n_concepts);
        const cogmem_form_concept *fc = &r.concepts[c];
        assert_int_equal(cogmem_consolidate(s, 1 + i, &p, &cr), 0);
        assert_int_equal(cr.bound, 1);
        assert_int_equal(cr.concept, fc->id);
        assert_true(cr.score >= p.min_similarity);
        /* the centroid is still the mean, now with i */
        const cogmem_vec *v;
        assert_int_equal(cogmem_vec_get(s, fc->id, &v), 0);
        for (int d = 0; d < DIM; d++) {
            double sum = data[i * DIM + d];
            for (size_t q = fc->first; q < fc->first + fc->count; q++)
                sum += data[(r.members[q] - 1) * DIM + d];
            assert_true(fabs(cogmem_vec_data(v)[d] - sum / (fc->count + 1)) < 1e-5);
        }
        cogmem_vec_put(v);
        uint32_t fan = 0;
        assert_int_equal(cogmem_fan_out(s, fc->id, &fan), 0);
        assert_int_equal(fan, fc->count + 1);
        /* twice: already bound */
        assert_int_equal(cogmem_consolidate(s, 1 + i, &p, &cr), -EEXIST);
    }
    /* a noise point stays unbound */
    assert_int_equal(cogmem_consolidate(s, N, &p, &cr), 0);
    assert_int_equal(cr.bound, 0);
    assert_true(cr.score < p.min_similarity);
    uint32_t fin = 9;
    assert_int_equal(cogmem_fan_in(s, N, &fin), 0);
    assert_int_equal(fin, 0);
    assert_int_equal(cogmem_consolidate(s, r.concepts[0].id, &p, &cr), -ENOENT);
    assert_int_equal(cogmem_consolidate(s, 0, &p, &cr), -EINVAL);
    cogmem_stats st;
    st.struct_size = sizeof st;
    assert_int_equal(cogmem_stats_get(s, &st), 0);
    assert_int_equal(st.consolidations_bound, K);
    assert_int_equal(st.consolidations_deferred, 2); /* errors count nothing */
    cogmem_form_result_free(&r);
    test_close(&s);
}

static void test_forget(void **state)
{
    (void)state;
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = DIM;
    cfg.max_episodes = 6;
    cogmem_store *s = NULL;
    assert_int_equal(cogmem_open(&cfg, &s), 0);
    const uint64_t sec = 1000000000ull;
    /* ten episodes, id i at time i seconds */
    for (uint64_t i = 1; i <= 10; i++)
        assert_int_equal(cogmem_episode_add(s, i, data + i * DIM, i * sec), 0);
    float v[DIM];
    fill(v, DIM, 1.0f);
    assert_int_equal(cogmem_concept_add(s, 100, v), 0);
    assert_int_equal(cogmem_bind(s, 1, 100, 1.0f), 0); /* consolidated: protected */
    assert_int_equal(cogmem_touch(s, 2, 99 * sec), 0); /* recently used */
    cogmem_forget_params p;
    cogmem_forget_params_init(&p);
    cogmem_forget_result r = {.struct_size = sizeof r};
    assert_int_equal(cogmem_forget(s, &p, &r), -EINVAL); /* now_ns required */
    p.now_ns = 100 * sec;
    p.dry_run = 1;
    assert_int_equal(cogmem_forget(s, &p, &r), 0);
    assert_int_equal(r.removed, 4);
    uint64_t n = 0;
    assert_int_equal(cogmem_count(s, COGMEM_EPISODE, &n), 0);
    assert_int_equal(n, 10);
    p.dry_run = 0;
    assert_int_equal(cogmem_forget(s, &p, &r), 0);
    assert_int_equal(r.examined, 10);
    assert_int_equal(r.removed, 4);
    assert_int_equal(r.unbound, 0);
    /* the oldest untouched, unbound ones went: 3, 4, 5, 6 */
    for (uint64_t i = 1; i <= 10; i++)
        assert_int_equal(cogmem_kind_of(s, i), i >= 3 && i <= 6 ? -ENOENT : COGMEM_EPISODE);
    /* under budget: nothing to do */
    assert_int_equal(cogmem_forget(s, &p, &r), 0);
    assert_int_equal(r.removed, 0);
    /* a tight budget removes the bound one last and keeps fan-out exact */
    p.max_episodes = 1;
    p.consolidated_bonus = 0.0f;
    p.w_binding = 0.0f;
    assert_int_equal(cogmem_forget(s, &p, &r), 0);
    assert_int_equal(r.removed, 5);
    assert_int_equal(cogmem_kind_of(s, 2), COGMEM_EPISODE); /* the touched one */
    uint32_t fan = 9;
    assert_int_equal(cogmem_fan_out(s, 100, &fan), 0);
    assert_int_equal(fan, 0);
    /* an older caller's smaller result struct */
    struct { size_t struct_size; uint64_t examined, removed, unbound; double mr; } old;
    old.struct_size = COGMEM_FORGET_RESULT_V1_SIZE;
    assert_int_equal(cogmem_forget(s, &p, (cogmem_forget_result *)&old), 0);
    cogmem_stats st;
    st.struct_size = sizeof st;
    assert_int_equal(cogmem_stats_get(s, &st), 0);
    assert_int_equal(st.forget_runs, 5);
    assert_int_equal(st.episodes_forgotten, 9);
    test_close(&s);
}

/* Live state: stored activation (spread), presentations (recall touch),
 * episode strength (forget): each is written and read back. */
static void test_live_state(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    float v[DIM];
    fill(v, DIM, 1.0f);
    assert_int_equal(cogmem_concept_add(s, 100, v), 0);
    assert_int_equal(cogmem_episode_add(s, 1, v, 1), 0);
    assert_int_equal(cogmem_episode_add(s, 2, v, 1), 0); /* same vector */
    assert_int_equal(cogmem_bind(s, 2, 100, 1.0f), 0);
    cogmem_source src = {100, 1.0f};
    cogmem_hit hits[4];
    size_t n = 0;
    cogmem_spread_params sp;
    cogmem_spread_params_init(&sp);
    sp.max_depth = 1;
    assert_int_equal(cogmem_spread(s, &src, 1, &sp, hits, 4, &n), 0);
    assert_int_equal(n, 2);
    struct cogmem_episode_info ei;
    assert_int_equal(cogmem_episode_info(s, 2, &ei), 0);
    assert_true(ei.activation == 0.0f); /* not asked to store */
    sp.store_activation = 1;
    assert_int_equal(cogmem_spread(s, &src, 1, &sp, hits, 4, &n), 0);
    float want = hits[0].id == 2 ? hits[0].activation : hits[1].activation;
    assert_true(want > 0.0f);
    assert_int_equal(cogmem_episode_info(s, 2, &ei), 0);
    assert_true(ei.activation == want);
    struct cogmem_concept_info ci;
    assert_int_equal(cogmem_concept_info(s, 100, &ci), 0);
    assert_true(ci.activation == 1.0f); /* the source's own weight */
    assert_int_equal(cogmem_episode_info(s, 1, &ei), 0);
    assert_true(ei.activation == 0.0f); /* not reached */
    /* recall's w_act now ranks the activated twin first despite its id */
    cogmem_recall_params rp;
    cogmem_recall_params_init(&rp);
    rp.w_act = 1.0f;
    cogmem_recall_hit rh[2];
    assert_int_equal(cogmem_recall(s, v, COGMEM_EPISODE, 2, &rp, rh, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(rh[0].id, 2);
    /* recall with touch records presentations of the hits */
    cogmem_actr_result ar = {.struct_size = sizeof ar};
    assert_int_equal(cogmem_actr_activation(s, 1, NULL, 0, 5, &ar), 0);
    assert_int_equal(ar.presentations, 0);
    rp.touch = 1;
    rp.now_ns = 3;
    assert_int_equal(cogmem_recall(s, v, COGMEM_EPISODE, 2, &rp, rh, &n), 0);
    assert_int_equal(cogmem_actr_activation(s, 1, NULL, 0, 5, &ar), 0);
    assert_int_equal(ar.presentations, 1);
    /* forget writes each episode's retention probability as its strength */
    assert_int_equal(cogmem_episode_info(s, 1, &ei), 0);
    assert_true(ei.strength == 1.0f);
    cogmem_forget_params fp;
    cogmem_forget_params_init(&fp);
    fp.max_episodes = 10;
    fp.now_ns = 100 * 1000000000ull;
    fp.dry_run = 1;
    assert_int_equal(cogmem_forget(s, &fp, NULL), 0);
    assert_int_equal(cogmem_episode_info(s, 1, &ei), 0);
    assert_true(ei.strength == 1.0f); /* a dry run writes nothing */
    fp.dry_run = 0;
    assert_int_equal(cogmem_forget(s, &fp, NULL), 0);
    assert_int_equal(cogmem_actr_activation(s, 1, NULL, 0, fp.now_ns, &ar), 0);
    double r1 = ar.base_level; /* unbound: retention = base level */
    assert_int_equal(cogmem_episode_info(s, 1, &ei), 0);
    float p1 = (float)(1.0 / (1.0 + exp((0.0 - r1) / 0.25)));
    assert_true(fabsf(ei.strength - p1) < 1e-6f && ei.strength < 1.0f);
    struct cogmem_episode_info e2;
    assert_int_equal(cogmem_episode_info(s, 2, &e2), 0);
    assert_true(e2.strength > ei.strength); /* bound: protected */
    test_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forms_the_true_clusters),
        cmocka_unit_test(test_determinism_threads_and_order),
        cmocka_unit_test(test_second_run_creates_nothing),
        cmocka_unit_test(test_threshold_extremes),
        cmocka_unit_test(test_time_independent),
        cmocka_unit_test(test_dpmeans),
        cmocka_unit_test(test_ids_and_errors),
        cmocka_unit_test(test_consolidate),
        cmocka_unit_test(test_forget),
        cmocka_unit_test(test_live_state),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
