/* cogmem tests — recall against a brute-force scalar reference. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "src/store.h"
#include "unit/util.h"

/* Not a multiple of 16: rows carry padding, and the kernels' tails run. */
#define DIM 37

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static float frand(void) { return (float)((double)(rnd() >> 11) / 9007199254740992.0) * 2.0f - 1.0f; }

/* The store's contents as the test knows them. */
struct node {
    uint64_t id;
    int kind;
    float v[DIM];
    int live;
};

static double ref_score(const float *q, const float *v, int metric)
{
    double d = 0, nq = 0, nv = 0;
    for (int i = 0; i < DIM; i++) {
        d += (double)q[i] * v[i];
        nq += (double)q[i] * q[i];
        nv += (double)v[i] * v[i];
    }
    return metric == COGMEM_METRIC_DOT ? d : d / (sqrt(nq) * sqrt(nv));
}

static double tol_of(const float *q, const float *v, int metric)
{
    if (metric == COGMEM_METRIC_COSINE)
        return 1e-5;
    double a = 0;
    for (int i = 0; i < DIM; i++)
        a += fabs((double)q[i] * v[i]);
    return 1e-5 * a + 1e-6;
}

typedef int (*keep_fn)(const struct node *n, void *arg);

/* Check a recall result against the reference: size, order, scores, and
 * that nothing left out scores (beyond tolerance) above the last hit. */
static void check_result(const struct node *nodes, size_t nn, const float *q,
                         unsigned kinds, size_t k, int metric, float min_score,
                         keep_fn keep, void *keep_arg,
                         const cogmem_recall_hit *hits, size_t nh)
{
    size_t eligible = 0;
    for (size_t i = 0; i < nn; i++) {
        const struct node *n = &nodes[i];
        if (!n->live || !(kinds & (unsigned)n->kind) || (keep && !keep(n, keep_arg)))
            continue;
        if (ref_score(q, n->v, metric) >= min_score + 1e-4)
            eligible++;
    }
    assert_true(nh <= k);
    if (eligible >= k)
        assert_int_equal(nh, k);
    else
        assert_true(nh >= eligible);
    for (size_t h = 0; h < nh; h++) {
        if (h) {
            assert_true(hits[h - 1].score > hits[h].score ||
                        (hits[h - 1].score == hits[h].score && hits[h - 1].id < hits[h].id));
        }
        assert_true(hits[h].score >= min_score);
        const struct node *n = NULL;
        for (size_t i = 0; i < nn; i++)
            if (nodes[i].live && nodes[i].id == hits[h].id)
                n = &nodes[i];
        assert_non_null(n);
        assert_int_equal(hits[h].kind, n->kind);
        assert_true(kinds & (unsigned)n->kind);
        if (keep)
            assert_true(keep(n, keep_arg));
        assert_true(fabs(hits[h].score - ref_score(q, n->v, metric)) <= tol_of(q, n->v, metric));
    }
    if (nh == k && nh > 0) {
        float last = hits[nh - 1].score;
        for (size_t i = 0; i < nn; i++) {
            const struct node *n = &nodes[i];
            if (!n->live || !(kinds & (unsigned)n->kind) || (keep && !keep(n, keep_arg)))
                continue;
            int in = 0;
            for (size_t h = 0; h < nh; h++)
                in |= hits[h].id == n->id;
            if (!in)
                assert_true(ref_score(q, n->v, metric) <= last + 2 * tol_of(q, n->v, metric));
        }
    }
}

static struct node *populate(cogmem_store *s, size_t n, int clustered)
{
    struct node *nodes = calloc(n, sizeof *nodes);
    assert_non_null(nodes);
    float centre[8][DIM];
    for (int c = 0; c < 8; c++)
        for (int i = 0; i < DIM; i++)
            centre[c][i] = frand();
    for (size_t j = 0; j < n; j++) {
        struct node *nd = &nodes[j];
        nd->id = 1000 + j * 7; /* ids not in row order */
        nd->kind = (j % 3 == 0) ? COGMEM_EPISODE : COGMEM_CONCEPT;
        const float *c = centre[rnd() % 8];
        for (int i = 0; i < DIM; i++)
            nd->v[i] = clustered ? c[i] + 0.05f * frand() : frand();
        nd->live = 1;
        if (nd->kind == COGMEM_CONCEPT)
            assert_int_equal(cogmem_concept_add(s, nd->id, nd->v), 0);
        else
            assert_int_equal(cogmem_episode_add(s, nd->id, nd->v, j), 0);
    }
    return nodes;
}

static void run_queries(cogmem_store *s, struct node *nodes, size_t n, int clustered)
{
    static const size_t ks[] = {1, 10, 100, 5000};
    static const unsigned kindsv[] = {COGMEM_CONCEPT, COGMEM_EPISODE, COGMEM_ALL_KINDS};
    cogmem_recall_hit *hits = calloc(5000, sizeof *hits);
    assert_non_null(hits);
    for (int metric = 0; metric < 2; metric++) {
        for (int qi = 0; qi < 4; qi++) {
            float q[DIM];
            /* Clustered: a query near a stored vector, many near-ties. */
            const float *base = clustered ? nodes[rnd() % n].v : NULL;
            for (int i = 0; i < DIM; i++)
                q[i] = base ? base[i] + 0.01f * frand() : frand();
            for (size_t a = 0; a < sizeof ks / sizeof ks[0]; a++) {
                for (size_t b = 0; b < 3; b++) {
                    cogmem_recall_params p;
                    cogmem_recall_params_init(&p);
                    p.metric = metric;
                    size_t nh = 99;
                    assert_int_equal(cogmem_recall(s, q, kindsv[b], ks[a], &p, hits, &nh), 0);
                    check_result(nodes, n, q, kindsv[b], ks[a], metric, -INFINITY,
                                 NULL, NULL, hits, nh);
                }
            }
        }
    }
    free(hits);
}

static void test_random_matches_reference(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    struct node *nodes = populate(s, 3000, 0);
    run_queries(s, nodes, 3000, 0);
    free(nodes);
    test_close(&s);
}

static void test_clustered_matches_reference(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    struct node *nodes = populate(s, 3000, 1);
    run_queries(s, nodes, 3000, 1);
    free(nodes);
    test_close(&s);
}

static void test_ties_by_id(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    float v[DIM], w[DIM];
    for (int i = 0; i < DIM; i++) {
        v[i] = frand();
        w[i] = -v[i];
    }
    /* 60 identical vectors under shuffled ids, both kinds, between decoys. */
    uint64_t ids[60];
    for (int i = 0; i < 60; i++)
        ids[i] = 100 + (uint64_t)i;
    for (int i = 59; i > 0; i--) {
        int j = (int)(rnd() % (uint64_t)(i + 1));
        uint64_t t = ids[i];
        ids[i] = ids[j];
        ids[j] = t;
    }
    for (int i = 0; i < 60; i++) {
        if (i % 2)
            assert_int_equal(cogmem_concept_add(s, ids[i], v), 0);
        else
            assert_int_equal(cogmem_episode_add(s, ids[i], v, 0), 0);
        assert_int_equal(cogmem_concept_add(s, 1000 + (uint64_t)i, w), 0);
    }
    cogmem_recall_hit hits[25];
    size_t nh;
    for (int metric = 0; metric < 2; metric++) {
        cogmem_recall_params p;
        cogmem_recall_params_init(&p);
        p.metric = metric;
        assert_int_equal(cogmem_recall(s, v, COGMEM_ALL_KINDS, 25, &p, hits, &nh), 0);
        assert_int_equal(nh, 25);
        for (int i = 0; i < 25; i++) {
            assert_int_equal(hits[i].id, 100 + (uint64_t)i);
            assert_true(hits[i].score == hits[0].score);
        }
    }
    test_close(&s);
}

static void test_bad_input(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    float v[DIM];
    fill(v, DIM, 1.0f);
    assert_int_equal(cogmem_concept_add(s, 1, v), 0);
    cogmem_recall_hit hits[4];
    size_t nh = 7;
    float q[DIM];
    fill(q, DIM, 0.0f);
    assert_int_equal(cogmem_recall(s, q, COGMEM_CONCEPT, 4, NULL, hits, &nh), -EINVAL);
    assert_int_equal(nh, 0);
    cogmem_recall_params p;
    cogmem_recall_params_init(&p);
    p.metric = COGMEM_METRIC_DOT;
    assert_int_equal(cogmem_recall(s, q, COGMEM_CONCEPT, 4, &p, hits, &nh), 0);
    assert_int_equal(nh, 1);
    assert_true(hits[0].score == 0.0f);
    fill(q, DIM, 1.0f);
    q[5] = NAN;
    assert_int_equal(cogmem_recall(s, q, COGMEM_CONCEPT, 4, NULL, hits, &nh), -EINVAL);
    q[5] = INFINITY;
    assert_int_equal(cogmem_recall(s, q, COGMEM_CONCEPT, 4, &p, hits, &nh), -EINVAL);
    q[5] = 1.0f;
    assert_int_equal(cogmem_recall(s, q, 0, 4, NULL, hits, &nh), -EINVAL);
    assert_int_equal(cogmem_recall(s, q, 4, 4, NULL, hits, &nh), -EINVAL);
    assert_int_equal(cogmem_recall(s, NULL, COGMEM_CONCEPT, 4, NULL, hits, &nh), -EINVAL);
    assert_int_equal(cogmem_recall(s, q, COGMEM_CONCEPT, 4, NULL, NULL, &nh), -EINVAL);
    assert_int_equal(cogmem_recall(s, q, COGMEM_CONCEPT, 4, NULL, hits, NULL), -EINVAL);
    assert_int_equal(cogmem_recall(NULL, q, COGMEM_CONCEPT, 4, NULL, hits, &nh), -EINVAL);
    p.min_score = NAN;
    assert_int_equal(cogmem_recall(s, q, COGMEM_CONCEPT, 4, &p, hits, &nh), -EINVAL);
    cogmem_recall_params_init(&p);
    p.metric = 7;
    assert_int_equal(cogmem_recall(s, q, COGMEM_CONCEPT, 4, &p, hits, &nh), -EINVAL);
    cogmem_recall_params_init(&p);
    p.half_life_ns = 0;
    assert_int_equal(cogmem_recall(s, q, COGMEM_CONCEPT, 4, &p, hits, &nh), -EINVAL);
    cogmem_recall_params_init(&p);
    p.struct_size = 8;
    assert_int_equal(cogmem_recall(s, q, COGMEM_CONCEPT, 4, &p, hits, &nh), -EINVAL);
    /* k = 0 and an empty kind are fine */
    assert_int_equal(cogmem_recall(s, q, COGMEM_CONCEPT, 0, NULL, NULL, &nh), 0);
    assert_int_equal(nh, 0);
    assert_int_equal(cogmem_recall(s, q, COGMEM_EPISODE, 4, NULL, hits, &nh), 0);
    assert_int_equal(nh, 0);
    /* batch: one bad query fails the whole call */
    float qs[2 * DIM];
    fill(qs, 2 * DIM, 1.0f);
    qs[DIM + 3] = NAN;
    size_t nhs[2] = {5, 5};
    cogmem_recall_hit bh[8];
    assert_int_equal(cogmem_recall_batch(s, qs, 2, COGMEM_CONCEPT, 4, NULL, bh, nhs), -EINVAL);
    assert_int_equal(nhs[0], 0);
    test_close(&s);
}

static int keep_even(const struct node *n, void *arg)
{
    (void)arg;
    return (n->id & 1) == 0;
}

struct filter_arg {
    long calls;
};

static int filter_even(uint64_t id, int kind, void *arg)
{
    (void)kind;
    ((struct filter_arg *)arg)->calls++;
    return (id & 1) == 0;
}

static void test_min_score_and_filter(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    size_t n = 2000;
    struct node *nodes = populate(s, n, 1);
    cogmem_recall_hit *hits = calloc(n, sizeof *hits);
    for (int qi = 0; qi < 5; qi++) {
        float q[DIM];
        for (int i = 0; i < DIM; i++)
            q[i] = nodes[qi].v[i];
        cogmem_recall_params p;
        cogmem_recall_params_init(&p);
        p.min_score = 0.5f;
        struct filter_arg fa = {0};
        p.filter = filter_even;
        p.filter_arg = &fa;
        size_t nh;
        assert_int_equal(cogmem_recall(s, q, COGMEM_ALL_KINDS, n, &p, hits, &nh), 0);
        check_result(nodes, n, q, COGMEM_ALL_KINDS, n, 0, 0.5f, keep_even, NULL, hits, nh);
        assert_true(fa.calls > 0);
        assert_int_equal(cogmem_recall(s, q, COGMEM_ALL_KINDS, 10, &p, hits, &nh), 0);
        check_result(nodes, n, q, COGMEM_ALL_KINDS, 10, 0, 0.5f, keep_even, NULL, hits, nh);
    }
    free(hits);
    free(nodes);
    test_close(&s);
}

/* Removes, replacements and row reuse, all visible to the next recall. */
static void test_updates_and_reuse(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    size_t n = 1500;
    struct node *nodes = populate(s, n, 0);
    /* A reference held across removal and replacement keeps its row. */
    const cogmem_vec *held;
    size_t hi = 1; /* a concept */
    assert_int_equal(nodes[hi].kind, COGMEM_CONCEPT);
    assert_int_equal(cogmem_vec_get(s, nodes[hi].id, &held), 0);
    float before[DIM];
    memcpy(before, cogmem_vec_data(held), sizeof before);
    /* And one across removal: its row stays (REMOVED) but never counts. */
    const cogmem_vec *held_removed;
    assert_int_equal(cogmem_vec_get(s, nodes[0].id, &held_removed), 0);
    for (size_t j = 0; j < n; j++) {
        struct node *nd = &nodes[j];
        if (j % 4 == 0) {
            assert_int_equal(nd->kind == COGMEM_CONCEPT ? cogmem_concept_remove(s, nd->id)
                                                        : cogmem_episode_remove(s, nd->id), 0);
            nd->live = 0;
        } else if (nd->kind == COGMEM_CONCEPT && j % 4 == 1) {
            for (int i = 0; i < DIM; i++)
                nd->v[i] = frand();
            assert_int_equal(cogmem_concept_set_centroid(s, nd->id, nd->v), 0);
        }
    }
    cogmem_recall_hit *hits = calloc(n, sizeof *hits);
    for (int qi = 0; qi < 4; qi++) {
        float q[DIM];
        for (int i = 0; i < DIM; i++)
            q[i] = frand();
        size_t nh;
        assert_int_equal(cogmem_recall(s, q, COGMEM_ALL_KINDS, n, NULL, hits, &nh), 0);
        check_result(nodes, n, q, COGMEM_ALL_KINDS, n, 0, -INFINITY, NULL, NULL, hits, nh);
        assert_int_equal(cogmem_recall(s, q, COGMEM_ALL_KINDS, 7, NULL, hits, &nh), 0);
        check_result(nodes, n, q, COGMEM_ALL_KINDS, 7, 0, -INFINITY, NULL, NULL, hits, nh);
    }
    assert_memory_equal(cogmem_vec_data(held), before, sizeof before);
    cogmem_vec_put(held);
    cogmem_vec_put(held_removed);

    /* After a grace period the freed rows are reused: re-adding as many
     * nodes as were removed or replaced does not grow the slabs. */
    cogmem__rcu_barrier();
    uint32_t used_c = cogmem__slab_used(&s->sets[0].kind.slab);
    uint32_t used_e = cogmem__slab_used(&s->sets[1].kind.slab);
    for (size_t j = 0; j < n; j += 4) {
        struct node *nd = &nodes[j];
        nd->id += 1; /* a fresh id (ids are 7 apart) */
        nd->live = 1;
        if (nd->kind == COGMEM_CONCEPT)
            assert_int_equal(cogmem_concept_add(s, nd->id, nd->v), 0);
        else
            assert_int_equal(cogmem_episode_add(s, nd->id, nd->v, 5), 0);
    }
    assert_int_equal(cogmem__slab_used(&s->sets[0].kind.slab), used_c);
    assert_int_equal(cogmem__slab_used(&s->sets[1].kind.slab), used_e);
    float q[DIM];
    for (int i = 0; i < DIM; i++)
        q[i] = frand();
    size_t nh;
    assert_int_equal(cogmem_recall(s, q, COGMEM_ALL_KINDS, n, NULL, hits, &nh), 0);
    check_result(nodes, n, q, COGMEM_ALL_KINDS, n, 0, -INFINITY, NULL, NULL, hits, nh);
    free(hits);
    free(nodes);
    test_close(&s);
}

static void set_activation(cogmem_store *s, int kind, uint64_t id, float a)
{
    cogmem__rcu_lock();
    struct cogmem__node *n = cogmem__set_find(cogmem__set_of(s, (enum cogmem_kind)kind), id,
                                              cogmem__hash(s, id), COGMEM__FIND_LIVE);
    assert_non_null(n);
    atomic_store_explicit(&n->activation_bits, cogmem__f2u(a), memory_order_relaxed);
    cogmem__rcu_unlock();
}

static void test_blended_ranking(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    size_t n = 600;
    struct node *nodes = calloc(n, sizeof *nodes);
    uint64_t *t = calloc(n, sizeof *t);
    float *act = calloc(n, sizeof *act);
    const uint64_t now = 1000000000000ull, hl = 1000000000ull;
    for (size_t j = 0; j < n; j++) {
        struct node *nd = &nodes[j];
        nd->id = 10 + j;
        nd->kind = COGMEM_EPISODE;
        nd->live = 1;
        for (int i = 0; i < DIM; i++)
            nd->v[i] = frand();
        t[j] = now - (rnd() % (8 * hl)) + (j % 50 == 0 ? 3 * hl : 0); /* some in the future */
        act[j] = frand();
        assert_int_equal(cogmem_episode_add(s, nd->id, nd->v, t[j]), 0);
        set_activation(s, COGMEM_EPISODE, nd->id, act[j]);
    }
    static const float wv[][3] = {{1, 0.5f, 0}, {0.7f, 0.2f, 0.1f}, {0, 1, 0}, {1, -0.3f, 0.5f}};
    cogmem_recall_hit hits[20];
    for (size_t w = 0; w < sizeof wv / sizeof wv[0]; w++) {
        float q[DIM];
        for (int i = 0; i < DIM; i++)
            q[i] = frand();
        cogmem_recall_params p;
        cogmem_recall_params_init(&p);
        p.w_sim = wv[w][0];
        p.w_recency = wv[w][1];
        p.w_act = wv[w][2];
        p.half_life_ns = hl;
        p.now_ns = now;
        size_t nh;
        assert_int_equal(cogmem_recall(s, q, COGMEM_EPISODE, 20, &p, hits, &nh), 0);
        assert_int_equal(nh, 20);
        double ref[600];
        for (size_t j = 0; j < n; j++) {
            double rec = t[j] >= now ? 1.0 : exp2(-(double)(now - t[j]) / (double)hl);
            ref[j] = wv[w][0] * ref_score(q, nodes[j].v, 0) + wv[w][1] * rec + wv[w][2] * act[j];
        }
        for (size_t h = 0; h < nh; h++) {
            size_t j = hits[h].id - 10;
            assert_true(fabs(hits[h].score - ref[j]) < 1e-4);
            if (h)
                assert_true(hits[h - 1].score >= hits[h].score);
        }
        for (size_t j = 0; j < n; j++) {
            int in = 0;
            for (size_t h = 0; h < nh; h++)
                in |= hits[h].id == nodes[j].id;
            if (!in)
                assert_true(ref[j] <= hits[nh - 1].score + 1e-4);
        }
    }
    free(nodes);
    free(t);
    free(act);
    test_close(&s);
}

static void test_batch_equals_single(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    size_t n = 2500, nq = 9, k = 12;
    struct node *nodes = populate(s, n, 1);
    float *qs = calloc(nq * DIM, sizeof *qs);
    for (size_t j = 0; j < nq * DIM; j++)
        qs[j] = frand();
    cogmem_recall_hit *bh = calloc(nq * k, sizeof *bh);
    size_t nhs[9];
    for (int mode = 0; mode < 3; mode++) {
        cogmem_recall_params p;
        cogmem_recall_params_init(&p);
        if (mode >= 1) { /* force the threaded path, 2 and 5 ranges */
            p.parallel_min_work = 0;
            p.threads = mode == 1 ? 2 : 5;
        }
        p.metric = mode == 2 ? COGMEM_METRIC_DOT : COGMEM_METRIC_COSINE;
        for (unsigned kinds = 1; kinds <= 3; kinds++) {
            assert_int_equal(cogmem_recall_batch(s, qs, nq, kinds, k, &p, bh, nhs), 0);
            for (size_t j = 0; j < nq; j++) {
                cogmem_recall_hit one[12];
                size_t n1;
                assert_int_equal(cogmem_recall(s, qs + j * DIM, kinds, k, &p, one, &n1), 0);
                assert_int_equal(nhs[j], n1);
                /* On the caller's thread the batch scans the same blocks as
                 * a single recall: identical. Split into ranges, the kernel
                 * may pick another pass (cogmem_simd.h): within tolerance. */
                for (size_t h = 0; h < n1 && mode == 0; h++) {
                    assert_int_equal(bh[j * k + h].id, one[h].id);
                    assert_true(bh[j * k + h].score == one[h].score);
                }
                for (size_t h = 0; h < n1; h++)
                    assert_true(fabsf(bh[j * k + h].score - one[h].score) <= 1e-4f * fabsf(one[h].score) + 1e-5f);
                check_result(nodes, n, qs + j * DIM, kinds, k, p.metric, -INFINITY, NULL,
                             NULL, bh + j * k, nhs[j]);
            }
        }
    }
    free(bh);
    free(qs);
    free(nodes);
    test_close(&s);
}

/* A batch over one run of 52 rows (8 of cogmem_dot_block's 6-row AVX-512
 * tiles, then its 4-row edge tile) and, after two removes, runs of 19, 13
 * and 18 rows (the edge and single rows): every hit, k = all rows, has
 * the bits of the single recall (dot_batch) and the reference's ranking.
 * Five queries: a 4-query tile group and one through dot_batch. */
static void test_batch_edge_run(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    const size_t n = 52, nq = 5, k = 52;
    struct node nodes[52];
    for (size_t j = 0; j < n; j++) {
        nodes[j].id = 500 + j;
        nodes[j].kind = COGMEM_CONCEPT;
        nodes[j].live = 1;
        for (int i = 0; i < DIM; i++)
            nodes[j].v[i] = frand();
        assert_int_equal(cogmem_concept_add(s, nodes[j].id, nodes[j].v), 0);
    }
    float qs[5 * DIM];
    for (size_t j = 0; j < nq * DIM; j++)
        qs[j] = frand();
    cogmem_recall_hit bh[5 * 52], one[52];
    size_t nhs[5], n1;
    for (int round = 0; round < 2; round++) {
        if (round == 1) /* cut the run: rows 19 and 33 go */
            for (size_t j = 19; j <= 33; j += 14) {
                assert_int_equal(cogmem_concept_remove(s, nodes[j].id), 0);
                nodes[j].live = 0;
            }
        cogmem_recall_params p;
        cogmem_recall_params_init(&p);
        p.metric = COGMEM_METRIC_DOT;
        assert_int_equal(cogmem_recall_batch(s, qs, nq, COGMEM_CONCEPT, k, &p, bh, nhs), 0);
        for (size_t j = 0; j < nq; j++) {
            assert_int_equal(cogmem_recall(s, qs + j * DIM, COGMEM_CONCEPT, k, &p, one, &n1), 0);
            assert_int_equal(nhs[j], n1);
            assert_int_equal(n1, round == 0 ? n : n - 2);
            for (size_t h = 0; h < n1; h++) {
                assert_int_equal(bh[j * k + h].id, one[h].id);
                assert_true(bh[j * k + h].score == one[h].score);
            }
            check_result(nodes, n, qs + j * DIM, COGMEM_CONCEPT, k, p.metric, -INFINITY,
                         NULL, NULL, bh + j * k, nhs[j]);
        }
    }
    test_close(&s);
}

/* Rows spread over several slab chunks (4 MiB each): a wide dim, with
 * holes from removes, single and batched, against a double reference. */
static void test_many_chunks(void **state)
{
    (void)state;
    const uint32_t dim = 1000; /* 4096-byte rows: 1024 per chunk */
    const size_t n = 3300, k = 40;
    cogmem_store *s = test_open(dim);
    float *v = calloc(n * dim, sizeof *v);
    int *live = calloc(n, sizeof *live);
    for (size_t j = 0; j < n; j++) {
        for (uint32_t i = 0; i < dim; i++)
            v[j * dim + i] = frand();
        assert_int_equal(cogmem_concept_add(s, j + 1, v + j * dim), 0);
        live[j] = 1;
    }
    assert_true(cogmem__slab_used(&s->sets[0].kind.slab) > 3 * s->sets[0].kind.slab.rows_per_chunk);
    for (size_t j = 0; j < n; j += 5) {
        assert_int_equal(cogmem_concept_remove(s, j + 1), 0);
        live[j] = 0;
    }
    float *q = calloc(2 * dim, sizeof *q);
    for (uint32_t i = 0; i < 2 * dim; i++)
        q[i] = frand();
    cogmem_recall_hit one[40], hits[2 * 40];
    size_t n1, nh[2];
    cogmem_recall_params p;
    cogmem_recall_params_init(&p);
    p.threads = 2;
    p.parallel_min_work = 0;
    assert_int_equal(cogmem_recall(s, q, COGMEM_CONCEPT, k, NULL, one, &n1), 0);
    assert_int_equal(cogmem_recall_batch(s, q, 2, COGMEM_CONCEPT, k, &p, hits, nh), 0);
    assert_int_equal(n1, k);
    assert_int_equal(nh[0], k);
    assert_int_equal(nh[1], k);
    for (int pass = 0; pass < 3; pass++) {
        /* the single recall, then the batch's two queries */
        const float *qq = q + (pass == 2 ? dim : 0);
        const cogmem_recall_hit *h = pass == 0 ? one : pass == 1 ? hits : hits + k;
        double *ref = calloc(n, sizeof *ref);
        for (size_t j = 0; j < n; j++) {
            double d = 0, a = 0, b = 0;
            for (uint32_t i = 0; i < dim; i++) {
                d += (double)qq[i] * v[j * dim + i];
                a += (double)qq[i] * qq[i];
                b += (double)v[j * dim + i] * v[j * dim + i];
            }
            ref[j] = d / sqrt(a * b);
        }
        for (size_t i = 0; i < k; i++) {
            assert_true(live[h[i].id - 1]);
            assert_true(fabs(h[i].score - ref[h[i].id - 1]) < 1e-5);
        }
        for (size_t j = 0; j < n; j++) {
            int in = 0;
            for (size_t i = 0; i < k; i++)
                in |= h[i].id == j + 1;
            if (live[j] && !in)
                assert_true(ref[j] <= h[k - 1].score + 2e-5);
        }
        free(ref);
    }
    free(q);
    free(v);
    free(live);
    test_close(&s);
}

/* A store with bf16 row copies: the exact path still matches the
 * reference (rows now have a gap), and the bf16 path returns exact scores
 * of live nodes with recall@10 >= 0.99 against exact on random data. */
static void test_bf16_rows(void **state)
{
    (void)state;
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = DIM;
    cfg.bf16_rows = 1;
    cogmem_store *s = NULL;
    assert_int_equal(cogmem_open(&cfg, &s), 0);
    size_t n = 4000;
    struct node *nodes = populate(s, n, 0);
    for (size_t j = 0; j < n; j += 9) {
        assert_int_equal(nodes[j].kind == COGMEM_CONCEPT ? cogmem_concept_remove(s, nodes[j].id)
                                                         : cogmem_episode_remove(s, nodes[j].id), 0);
        nodes[j].live = 0;
    }
    for (size_t j = 1; j < n; j += 9) {
        if (nodes[j].kind != COGMEM_CONCEPT)
            continue;
        for (int i = 0; i < DIM; i++)
            nodes[j].v[i] = frand();
        assert_int_equal(cogmem_concept_set_centroid(s, nodes[j].id, nodes[j].v), 0);
    }
    size_t found = 0, total = 0;
    for (int qi = 0; qi < 40; qi++) {
        float q[DIM];
        for (int i = 0; i < DIM; i++)
            q[i] = frand();
        cogmem_recall_params p;
        cogmem_recall_params_init(&p);
        cogmem_recall_hit ex[10], ap[10];
        size_t ne, na;
        assert_int_equal(cogmem_recall(s, q, COGMEM_ALL_KINDS, 10, &p, ex, &ne), 0);
        check_result(nodes, n, q, COGMEM_ALL_KINDS, 10, 0, -INFINITY, NULL, NULL, ex, ne);
        p.bf16 = 1;
        assert_int_equal(cogmem_recall(s, q, COGMEM_ALL_KINDS, 10, &p, ap, &na), 0);
        assert_int_equal(na, 10);
        for (size_t h = 0; h < na; h++) {
            const struct node *nd = NULL;
            for (size_t j = 0; j < n; j++)
                if (nodes[j].live && nodes[j].id == ap[h].id)
                    nd = &nodes[j];
            assert_non_null(nd); /* live, never a removed node */
            assert_true(fabs(ap[h].score - ref_score(q, nd->v, 0)) <= 1e-5);
            if (h)
                assert_true(ap[h - 1].score >= ap[h].score);
            for (size_t e = 0; e < ne; e++)
                found += ex[e].id == ap[h].id;
        }
        total += ne;
    }
    assert_true((double)found >= 0.99 * (double)total);
    free(nodes);
    test_close(&s);
}

/* What the re-rank computes for a node: the one-row f32 kernel over its
 * current vector, divided (cosine) by the f32 product of the query's norm
 * (sqrt of cogmem_sum_squares, as recall checks the query) and the
 * vector's stored norm. */
static float rerank_score(cogmem_store *s, const float *q, uint64_t id, int metric)
{
    const cogmem_vec *v;
    assert_int_equal(cogmem_vec_get(s, id, &v), 0);
    float d;
    cogmem_dot_batch(q, cogmem_vec_data(v), 1, DIM, DIM, &d);
    if (metric == COGMEM_METRIC_COSINE) {
        d = d / ((float)sqrt(cogmem_sum_squares(q, DIM)) * cogmem_vec_norm(v));
    }
    cogmem_vec_put(v);
    return d;
}

struct scored {
    float score;
    uint64_t id;
};

static int best_first(const void *a, const void *b)
{
    const struct scored *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* The bf16 scan's ranking is the exact f32 re-rank of its candidates: with
 * room for every row as a candidate (bf16_rerank >= rows / k) the result is
 * the top k of every live node by its re-rank score, ids, order and scores
 * bit for bit; with the default room every returned score is that node's
 * re-rank score, bit for bit, in that order. Both metrics, over runs of
 * rows cut by removals and replacements (the scan's kernel pieces end
 * mid-run). */
static void test_bf16_rerank_is_exact(void **state)
{
    (void)state;
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = DIM;
    cfg.bf16_rows = 1;
    cogmem_store *s = NULL;
    assert_int_equal(cogmem_open(&cfg, &s), 0);
    size_t n = 3000;
    struct node *nodes = populate(s, n, 1);
    for (size_t j = 0; j < n; j += 7) {
        assert_int_equal(nodes[j].kind == COGMEM_CONCEPT ? cogmem_concept_remove(s, nodes[j].id)
                                                         : cogmem_episode_remove(s, nodes[j].id), 0);
        nodes[j].live = 0;
    }
    for (size_t j = 3; j < n; j += 11)
        if (nodes[j].live && nodes[j].kind == COGMEM_CONCEPT) {
            for (int i = 0; i < DIM; i++)
                nodes[j].v[i] = frand();
            assert_int_equal(cogmem_concept_set_centroid(s, nodes[j].id, nodes[j].v), 0);
        }
    enum { K = 20 };
    struct scored *ref = calloc(n, sizeof *ref);
    assert_non_null(ref);
    for (int qi = 0; qi < 24; qi++) {
        float q[DIM];
        for (int i = 0; i < DIM; i++)
            q[i] = frand();
        cogmem_recall_params p;
        cogmem_recall_params_init(&p);
        p.metric = qi % 2 ? COGMEM_METRIC_DOT : COGMEM_METRIC_COSINE;
        size_t nl = 0;
        for (size_t j = 0; j < n; j++)
            if (nodes[j].live)
                ref[nl++] = (struct scored){rerank_score(s, q, nodes[j].id, p.metric),
                                            nodes[j].id};
        qsort(ref, nl, sizeof *ref, best_first);
        cogmem_recall_hit ap[K];
        size_t na;
        p.bf16 = 1;
        p.bf16_rerank = (uint32_t)(n / K + 1); /* every row a candidate */
        assert_int_equal(cogmem_recall(s, q, COGMEM_ALL_KINDS, K, &p, ap, &na), 0);
        assert_int_equal(na, K);
        for (size_t h = 0; h < na; h++) {
            assert_int_equal(ap[h].id, ref[h].id);
            assert_true(ap[h].score == ref[h].score);
        }
        p.bf16_rerank = 4; /* the default: k * 4 candidates */
        assert_int_equal(cogmem_recall(s, q, COGMEM_ALL_KINDS, K, &p, ap, &na), 0);
        assert_int_equal(na, K);
        size_t shared = 0;
        for (size_t h = 0; h < na; h++) {
            assert_true(ap[h].score == rerank_score(s, q, ap[h].id, p.metric));
            if (h)
                assert_true(ap[h - 1].score > ap[h].score ||
                            (ap[h - 1].score == ap[h].score && ap[h - 1].id < ap[h].id));
            for (size_t e = 0; e < K; e++)
                shared += ref[e].id == ap[h].id;
        }
        assert_true(shared >= K - 2); /* clustered data: recall@20 >= 0.9 */
    }
    free(ref);
    free(nodes);
    test_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_matches_reference),
        cmocka_unit_test(test_clustered_matches_reference),
        cmocka_unit_test(test_ties_by_id),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_min_score_and_filter),
        cmocka_unit_test(test_updates_and_reuse),
        cmocka_unit_test(test_blended_ranking),
        cmocka_unit_test(test_batch_equals_single),
        cmocka_unit_test(test_batch_edge_run),
        cmocka_unit_test(test_many_chunks),
        cmocka_unit_test(test_bf16_rows),
        cmocka_unit_test(test_bf16_rerank_is_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
