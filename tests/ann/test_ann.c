/* cogmem — the graph index and approximate recall (issue 14), unit tests:
 * recall@10 against the exact scan on fixed-seed clustered data, the tail,
 * tombstones and repair, the filter fallback, relinks after drift,
 * rebuild on open, parameter checks, and the exact path left alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <math.h>

#include "cogmem.h"
#include "cogmem_recall.h"
#include "cogmem_stats.h"
#include "src/ann/graph.h"
#include "src/ann/hnsw.h"
#include "src/store.h"
#include "tests/ann/clustered.h"

#define DIM 48

/* A store, with a graph index when `index`, of index_m `m` (0: default). */
static cogmem_store *open_index_m(int index, const char *path, uint32_t m)
{
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = DIM;
    cfg.index = (uint32_t)index;
    cfg.path = path;
    if (m)
        cfg.index_m = m;
    cogmem_store *s = NULL;
    assert_int_equal(cogmem_open(&cfg, &s), 0);
    return s;
}

static cogmem_store *open_index(int index, const char *path)
{
    return open_index_m(index, path, 0);
}

static float *make_points(size_t n, uint64_t seed)
{
    struct clu_gen g;
    assert_int_equal(clu_init(&g, DIM, 40, 0.5f, seed), 0);
    float *x = malloc(n * DIM * sizeof(float));
    assert_non_null(x);
    for (size_t i = 0; i < n; i++)
        clu_point(&g, x + i * DIM);
    clu_fini(&g);
    return x;
}

static void add_all(cogmem_store *s, const float *x, size_t n, uint64_t first_id)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(cogmem_episode_add(s, first_id + i, x + i * DIM, i), 0);
}

static cogmem_recall_params approx(uint32_t ef)
{
    cogmem_recall_params p;
    cogmem_recall_params_init(&p);
    p.approximate = 1;
    p.ef = ef;
    return p;
}

static void stats_of(cogmem_store *s, cogmem_stats *st)
{
    st->struct_size = sizeof *st;
    assert_int_equal(cogmem_stats_get(s, st), 0);
}

/* Mean recall@k of approximate against exact over nq queries. */
static double recall_at(cogmem_store *s, const float *q, size_t nq, size_t k, uint32_t ef)
{
    cogmem_recall_hit ex[64], ap[64];
    size_t ne, na, hit = 0, all = 0;
    cogmem_recall_params p = approx(ef);
    for (size_t i = 0; i < nq; i++) {
        assert_int_equal(cogmem_recall(s, q + i * DIM, COGMEM_ALL_KINDS, k, NULL, ex, &ne), 0);
        assert_int_equal(cogmem_recall(s, q + i * DIM, COGMEM_ALL_KINDS, k, &p, ap, &na), 0);
        for (size_t a = 0; a < na; a++)
            for (size_t e = 0; e < ne; e++)
                if (ap[a].id == ex[e].id) {
                    /* Exact scores on both paths (up to the dot kernel's
                     * summation order, which differs by pass). */
                    assert_true(fabsf(ap[a].score - ex[e].score) <= 1e-5f);
                    hit++;
                }
        all += ne;
    }
    return (double)hit / (double)all;
}

static void test_recall_vs_exact(void **state)
{
    (void)state;
    cogmem_store *s = open_index(1, NULL);
    float *x = make_points(4000, 7), *q = make_points(100, 8);
    add_all(s, x, 4000, 1);
    double r = recall_at(s, q, 100, 10, 64);
    printf("recall@10 at ef 64: %.4f\n", r);
    assert_true(r >= 0.95);
    cogmem_stats st;
    stats_of(s, &st);
    assert_int_equal(st.index_linked, 4000);
    assert_int_equal(st.index_tail, 0);
    assert_true(st.index_visits > 0);
    /* The search visits far fewer nodes than there are. */
    assert_true(st.index_visits / 100 < 4000 / 2);
    uint64_t live;
    assert_int_equal(cogmem__ann_unreachable(s->ann[1], &live), 0);
    assert_int_equal(live, 4000);
    free(x);
    free(q);
    assert_int_equal(cogmem_close(&s), 0);
}

/* A node on the tail (its insertion begun, not linked) is scored exactly
 * by every search; after linking it is off the tail. Driven on an index of
 * our own over a store without one. */
static void test_tail(void **state)
{
    (void)state;
    cogmem_store *s = open_index(0, NULL);
    float *x = make_points(301, 9);
    add_all(s, x, 301, 1);
    struct cogmem__ann *a;
    assert_int_equal(cogmem__ann_new(&a, &s->mem, &s->sets[1].kind.slab, 8, 50, 3), 0);
    uint32_t slot, ticket = 0;
    cogmem__rcu_lock();
    for (uint64_t id = 1; id <= 301; id++) {
        struct cogmem__node *n =
            cogmem__set_find(&s->sets[1], id, cogmem__hash(s, id), COGMEM__FIND_LIVE);
        assert_non_null(n);
        assert_int_equal(cogmem__ann_reserve(a, &slot), 0);
        struct cogmem_vec *v = atomic_load(&n->vec);
        if (id < 301)
            cogmem__ann_insert(a, slot, n, v);
        else
            ticket = cogmem__ann_insert_begin(a, slot, n, v);
    }
    assert_true(ticket != 0);
    struct cogmem__ann_stats as;
    cogmem__ann_read_stats(a, &as);
    assert_int_equal(as.tail, 1);
    assert_int_equal(as.linked, 300);
    /* ef 1: the graph part returns one node; the tail node comes anyway,
     * with its exact similarity (the query is its own vector). */
    struct cogmem__ann_hit hits[1 + COGMEM__ANN_TAIL];
    size_t nh;
    uint64_t visits;
    assert_int_equal(cogmem__ann_search(a, x + 300 * DIM, 1.0f, 1, 1, hits, &nh, &visits), 0);
    int found = 0;
    for (size_t i = 0; i < nh; i++)
        if (hits[i].id == 301) {
            found = 1;
            assert_true(hits[i].sim > 0.999f);
        }
    assert_true(found);
    cogmem__ann_insert_finish(a, slot, ticket);
    cogmem__ann_read_stats(a, &as);
    assert_int_equal(as.tail, 0);
    assert_int_equal(as.linked, 301);
    cogmem__rcu_unlock();
    uint64_t live;
    assert_int_equal(cogmem__ann_unreachable(a, &live), 0);
    assert_int_equal(live, 301);
    cogmem__ann_release(a);
    cogmem__rcu_barrier();
    cogmem__ann_free(a);
    free(x);
    assert_int_equal(cogmem_close(&s), 0);
}

/* No single remove does more than a slice of the repair pass: at 2000
 * nodes the whole pass rewires about 1900 lists, a slice at most
 * COGMEM__ANN_REPAIR_BUDGET / COGMEM__ANN_REWIRE_COST (plus the levels of
 * the slot it stopped on). A pass stays in progress across removes, the
 * removes that follow finish it, and a forced pass then drains every
 * tombstone and leaves every live node reachable. */
static void test_repair_sliced(void **state)
{
    (void)state;
    cogmem_store *s = open_index(1, NULL);
    struct cogmem__ann *a = s->ann[1];
    float *x = make_points(2000, 21);
    add_all(s, x, 2000, 1);
    const uint64_t bound = COGMEM__ANN_REPAIR_BUDGET / COGMEM__ANN_REWIRE_COST + MAX_LEVEL + 1;
    cogmem_stats st;
    stats_of(s, &st);
    uint64_t before = st.index_repairs, most = 0, slices = 0, left_open = 0;
    for (uint64_t id = 1; id <= 2000; id += 2) {
        assert_int_equal(cogmem_episode_remove(s, id), 0);
        stats_of(s, &st);
        uint64_t did = st.index_repairs - before;
        before = st.index_repairs;
        most = did > most ? did : most;
        slices += did > 0;
        left_open += atomic_load(&a->pass_active) != 0;
    }
    printf("sliced repair: at most %llu of %llu per remove, %llu removes repaired, "
           "%llu left a pass open\n", (unsigned long long)most, (unsigned long long)bound,
           (unsigned long long)slices, (unsigned long long)left_open);
    assert_true(most <= bound);
    assert_true(slices > 1);
    assert_true(left_open > 0);
    /* Further calls (as further removes would make) end the pass. */
    while (atomic_load(&a->pass_active)) {
        uint64_t did = cogmem__ann_repair(a, 0);
        assert_true(did <= bound);
    }
    stats_of(s, &st);
    assert_true(st.index_tombstones * 10 < st.index_linked + 10 * 16);
    /* Only removes ran beside that pass: they cut nothing off. */
    uint64_t live;
    assert_int_equal(cogmem__ann_unreachable(a, &live), 0);
    assert_int_equal(live, 1000);
    /* A forced pass does the whole pass in one call. */
    (void)cogmem__ann_repair(a, 1);
    assert_int_equal(atomic_load(&a->pass_active), 0);
    stats_of(s, &st);
    assert_int_equal(st.index_tombstones, 0);
    assert_int_equal(st.index_linked, 1000);
    assert_int_equal(cogmem__ann_unreachable(a, &live), 0);
    assert_int_equal(live, 1000);
    cogmem_recall_params p = approx(100);
    cogmem_recall_hit h[20];
    size_t n;
    for (size_t i = 0; i < 2000; i += 9) {
        assert_int_equal(cogmem_recall(s, x + i * DIM, COGMEM_EPISODE, 20, &p, h, &n), 0);
        for (size_t j = 0; j < n; j++)
            assert_true(h[j].id % 2 == 0); /* never a removed node */
    }
    /* Adds advance a pass too: one opened by removes that then stop ends
     * within a bounded number of adds (a pass here is some 60 slices). */
    for (uint64_t id = 2; id <= 400 && !atomic_load(&a->pass_active); id += 2)
        assert_int_equal(cogmem_episode_remove(s, id), 0);
    assert_int_equal(atomic_load(&a->pass_active), 1);
    size_t adds = 0;
    while (atomic_load(&a->pass_active) && adds < 1000) {
        assert_int_equal(cogmem_episode_add(s, 10001 + adds, x + adds * DIM, 0), 0);
        adds++;
    }
    printf("sliced repair: a pass left open by removes ended after %zu adds\n", adds);
    assert_int_equal(atomic_load(&a->pass_active), 0);
    free(x);
    assert_int_equal(cogmem_close(&s), 0);
}

static void test_tombstones_and_repair(void **state)
{
    (void)state;
    cogmem_store *s = open_index(1, NULL);
    float *x = make_points(3000, 11);
    add_all(s, x, 3000, 1);
    /* Remove every third node: past 1/10 tombstones, repairs run. */
    for (uint64_t id = 1; id <= 3000; id += 3)
        assert_int_equal(cogmem_episode_remove(s, id), 0);
    /* A pass runs in slices, one per remove: the calls further removes
     * would make end the one in progress. */
    while (repair_due(s->ann[1]))
        (void)cogmem__ann_repair(s->ann[1], 0);
    cogmem_stats st;
    stats_of(s, &st);
    assert_true(st.index_repairs > 0);
    assert_int_equal(st.index_linked, 2000);
    assert_true(st.index_tombstones < 2000 / 10);
    cogmem_recall_params p = approx(100);
    cogmem_recall_hit h[50];
    size_t n;
    for (size_t i = 0; i < 3000; i += 7) {
        assert_int_equal(cogmem_recall(s, x + i * DIM, COGMEM_EPISODE, 50, &p, h, &n), 0);
        assert_int_equal(n, 50);
        for (size_t j = 0; j < n; j++)
            assert_true((h[j].id - 1) % 3 != 0); /* never a removed node */
    }
    uint64_t live;
    assert_int_equal(cogmem__ann_unreachable(s->ann[1], &live), 0);
    assert_int_equal(live, 2000);
    /* Recall holds after the repairs. */
    float *q = make_points(50, 12);
    double r = recall_at(s, q, 50, 10, 64);
    printf("recall@10 after removing a third: %.4f\n", r);
    assert_true(r >= 0.93);
    free(q);
    free(x);
    assert_int_equal(cogmem_close(&s), 0);
}

static int one_in_200(uint64_t id, int kind, void *arg)
{
    (void)kind;
    (void)arg;
    return id % 200 == 0;
}

static int even(uint64_t id, int kind, void *arg)
{
    (void)kind;
    (void)arg;
    return id % 2 == 0;
}

static void test_filter_fallback(void **state)
{
    (void)state;
    cogmem_store *s = open_index(1, NULL);
    float *x = make_points(4000, 13);
    add_all(s, x, 4000, 1);
    cogmem_recall_params p = approx(32), e;
    cogmem_recall_params_init(&e);
    cogmem_recall_hit ha[10], he[10];
    size_t na, ne;
    cogmem_stats st;
    /* A filter half the nodes pass: served by the graph. */
    p.filter = e.filter = even;
    assert_int_equal(cogmem_recall(s, x, COGMEM_EPISODE, 10, &p, ha, &na), 0);
    assert_int_equal(na, 10);
    for (size_t i = 0; i < na; i++)
        assert_true(ha[i].id % 2 == 0);
    stats_of(s, &st);
    assert_int_equal(st.index_fallbacks, 0);
    /* One in 200 pass: fewer than k among 32 candidates, so exact. */
    p.filter = e.filter = one_in_200;
    assert_int_equal(cogmem_recall(s, x, COGMEM_EPISODE, 10, &p, ha, &na), 0);
    assert_int_equal(cogmem_recall(s, x, COGMEM_EPISODE, 10, &e, he, &ne), 0);
    assert_int_equal(na, 10);
    assert_int_equal(na, ne);
    for (size_t i = 0; i < na; i++) {
        assert_true(ha[i].id == he[i].id);
        assert_true(ha[i].score == he[i].score); /* the exact scan's own */
    }
    stats_of(s, &st);
    assert_int_equal(st.index_fallbacks, 1);
    free(x);
    assert_int_equal(cogmem_close(&s), 0);
}

static void test_blend_and_kinds(void **state)
{
    (void)state;
    cogmem_store *s = open_index(1, NULL);
    float *x = make_points(1200, 15);
    for (size_t i = 0; i < 600; i++)
        assert_int_equal(cogmem_concept_add(s, 10000 + i, x + i * DIM), 0);
    add_all(s, x + 600 * DIM, 600, 1);
    cogmem_recall_params p = approx(64);
    cogmem_recall_hit h[10];
    size_t n;
    /* Kind masks pick the graphs. */
    assert_int_equal(cogmem_recall(s, x, COGMEM_CONCEPT, 10, &p, h, &n), 0);
    assert_int_equal(n, 10);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(h[i].kind, COGMEM_CONCEPT);
    assert_int_equal(h[0].id, 10000); /* its own vector */
    assert_int_equal(cogmem_recall(s, x + 700 * DIM, COGMEM_ALL_KINDS, 10, &p, h, &n), 0);
    assert_int_equal(h[0].id, 101);
    /* Blended ranking on the index path: recency favours recent episodes
     * (time_ns = index), and scores are the exact blend. */
    p.w_recency = 1.0f;
    p.half_life_ns = 100;
    p.now_ns = 600;
    cogmem_recall_params e = p;
    e.approximate = 0;
    cogmem_recall_hit he[10];
    size_t ne;
    assert_int_equal(cogmem_recall(s, x + 1100 * DIM, COGMEM_EPISODE, 10, &p, h, &n), 0);
    assert_int_equal(cogmem_recall(s, x + 1100 * DIM, COGMEM_EPISODE, 10, &e, he, &ne), 0);
    assert_int_equal(n, 10);
    assert_int_equal(h[0].id, he[0].id);
    assert_true(fabsf(h[0].score - he[0].score) <= 1e-5f);
    free(x);
    assert_int_equal(cogmem_close(&s), 0);
}

/* 2000 concepts (ids 1..2000) at the points *x, in an indexed store. */
static cogmem_store *open_2000(float **x)
{
    cogmem_store *s = open_index(1, NULL);
    *x = make_points(2000, 17);
    for (size_t i = 0; i < 2000; i++)
        assert_int_equal(cogmem_concept_add(s, 1 + i, *x + i * DIM), 0);
    return s;
}

/* Concept 5 jumps to (next to) point 1500: one re-link, and an
 * approximate recall there finds it beside 1501. */
static void jump_5_to_1500(cogmem_store *s, const float *x)
{
    assert_int_equal(cogmem_concept_set_centroid(s, 5, x + 1500 * DIM), 0);
    struct cogmem__ann_stats as;
    cogmem__ann_read_stats(s->ann[0], &as);
    assert_int_equal(as.relinks, 1);
    cogmem_recall_params p = approx(64);
    cogmem_recall_hit h[2];
    size_t n;
    assert_int_equal(cogmem_recall(s, x + 1500 * DIM, COGMEM_CONCEPT, 2, &p, h, &n), 0);
    assert_int_equal(n, 2);
    assert_true((h[0].id == 5 && h[1].id == 1501) || (h[0].id == 1501 && h[1].id == 5));
}

/* A centroid moved far is re-linked, and found where it now is. */
static void test_replace_relink(void **state)
{
    (void)state;
    float *x;
    cogmem_store *s = open_2000(&x);
    struct cogmem__ann_stats as;
    cogmem__ann_read_stats(s->ann[0], &as);
    assert_int_equal(as.relinks, 0);
    /* A small blend: drift below the threshold, no re-link. */
    assert_int_equal(cogmem_concept_blend(s, 5, x + 6 * DIM, 0.01f), 0);
    cogmem__ann_read_stats(s->ann[0], &as);
    assert_int_equal(as.relinks, 0);
    jump_5_to_1500(s, x);
    uint64_t live;
    assert_int_equal(cogmem__ann_unreachable(s->ann[0], &live), 0);
    free(x);
    assert_int_equal(cogmem_close(&s), 0);
}

/* The same across the centroid version's wrap (2^32 - 1 to 1, shards/
 * node.h): the index takes version 1 as newer than the one it holds. The
 * version is set just below the wrap inside the store, since reaching it
 * takes 2^32 replacements. */
static void test_replace_relink_across_wrap(void **state)
{
    (void)state;
    float *x;
    cogmem_store *s = open_2000(&x);
    cogmem__rcu_lock();
    struct cogmem__node *n = cogmem__set_find(cogmem__set_of(s, COGMEM_CONCEPT), 5,
                                              cogmem__hash(s, 5), COGMEM__FIND_LIVE);
    assert_non_null(n);
    struct cogmem_vec *cur = atomic_load_explicit(&n->vec, memory_order_acquire);
    cur->version = UINT32_MAX; /* the index's slot holds this same vector */
    cogmem__node_set_vec(n, cur->version, cur->norm);
    cogmem__rcu_unlock();
    jump_5_to_1500(s, x);
    struct cogmem_concept_info ci;
    assert_int_equal(cogmem_concept_info(s, 5, &ci), 0);
    assert_int_equal(ci.centroid_version, 1);
    free(x);
    assert_int_equal(cogmem_close(&s), 0);
}

/* Equal vectors: with HNSW's heuristic alone, copies tie, fill each
 * other's lists and become islands no search reaches; the heuristic keeps
 * one copy per list, so none forms. And a node cut off by hand (every
 * link to it dropped) is linked back by a repair pass. */
static void test_duplicates_and_reconnect(void **state)
{
    (void)state;
    cogmem_store *s = open_index(1, NULL);
    float *x = make_points(1500, 25);
    add_all(s, x, 1500, 1);
    for (uint64_t c = 0; c < 1200; c++)
        assert_int_equal(cogmem_episode_add(s, 10000 + c, x + (c % 30) * DIM, c), 0);
    struct cogmem__ann *a = s->ann[1];
    uint64_t live;
    assert_int_equal(cogmem__ann_unreachable(a, &live), 0);
    assert_int_equal(live, 2700);
    /* Cut slots 100..109 off (but the entry point): drop every level-0
     * link to them. */
    uint32_t used = atomic_load(&a->used), e = (uint32_t)atomic_load(&a->entry);
    for (uint32_t u = 0; u < used; u++) {
        struct slot *U = slot_at(a, u);
        uint32_t n = atomic_load(&U->l0[0]), k = 0;
        for (uint32_t j = 1; j <= n; j++) {
            uint32_t y = atomic_load(&U->l0[j]);
            if (y >= 100 && y < 110 && y != e)
                atomic_fetch_sub(&slot_at(a, y)->indeg, 1);
            else
                atomic_store(&U->l0[1 + k++], y);
        }
        atomic_store(&U->l0[0], k);
    }
    int64_t cut = cogmem__ann_unreachable(a, &live);
    assert_true(cut >= 9);
    assert_true(cogmem__ann_repair(a, 1) >= 9);
    assert_int_equal(cogmem__ann_unreachable(a, &live), 0);
    printf("reconnect: %lld cut off, 0 after a pass\n", (long long)cut);
    free(x);
    assert_int_equal(cogmem_close(&s), 0);
}

/* Rewrite slot u's level-0 list to nb[0..n), keeping the in-degrees. */
static void set_list(struct cogmem__ann *a, uint32_t u, const uint32_t *nb, uint32_t n)
{
    struct slot *U = slot_at(a, u);
    uint32_t old = atomic_load(&U->l0[0]);
    for (uint32_t j = 1; j <= old; j++)
        atomic_fetch_sub(&slot_at(a, atomic_load(&U->l0[j]))->indeg, 1);
    for (uint32_t j = 0; j < n; j++) {
        atomic_store(&U->l0[1 + j], nb[j]);
        atomic_fetch_add(&slot_at(a, nb[j])->indeg, 1);
    }
    atomic_store(&U->l0[0], n);
}

/* A part of the graph whose only way in is a chain of tombstones that one
 * pass drains (u -> b -> island, the island's nodes linking each other so
 * that no in-degree drops to 0): the pass drops the drained slots' lists,
 * and its reconnect walk must link the island back (without reconnect:
 * 10 of 1498 unreachable after the pass). */
static void test_reconnect_past_drained_bridge(void **state)
{
    (void)state;
    cogmem_store *s = open_index(1, NULL);
    float *x = make_points(1500, 31);
    add_all(s, x, 1500, 1);
    struct cogmem__ann *a = s->ann[1];
    uint32_t used = atomic_load(&a->used), e = (uint32_t)atomic_load(&a->entry);
    uint32_t u = e == 200 || e == 201 ? 300 : 200, b = u + 1, island[10];
    for (uint32_t i = 0; i < 10; i++)
        island[i] = 100 + i + (e >= 100 && e < 110 ? 10 : 0);
    /* Only b links to the island, only u links to b, u links only to b. */
    for (uint32_t w = 0; w < used; w++) {
        struct slot *W = slot_at(a, w);
        uint32_t n = atomic_load(&W->l0[0]), k = 0, nb[64];
        for (uint32_t j = 1; j <= n; j++) {
            uint32_t y = atomic_load(&W->l0[j]);
            int isl = y >= island[0] && y <= island[9];
            if (!(isl && w != b) && !(y == b && w != u))
                nb[k++] = y;
        }
        set_list(a, w, nb, k);
    }
    set_list(a, u, &b, 1);
    set_list(a, b, island, 10);
    /* The island's nodes link to each other: draining b leaves each with
     * in-links (no orphan for step 5 to rescue), all from inside. */
    for (uint32_t i = 0; i < 10; i++) {
        struct slot *I = slot_at(a, island[i]);
        uint32_t n = atomic_load(&I->l0[0]), k = 0, nb[64];
        for (uint32_t j = 0; j < 10; j++)
            if (j != i)
                nb[k++] = island[j];
        for (uint32_t j = 1; j <= n && k < a->m0; j++) {
            uint32_t y = atomic_load(&I->l0[j]);
            if (y < island[0] || y > island[9])
                nb[k++] = y;
        }
        set_list(a, island[i], nb, k);
    }
    /* Whatever the cuts orphaned besides, a pass links back; then the
     * island hangs on u -> b alone. */
    uint64_t live;
    (void)cogmem__ann_repair(a, 1);
    assert_int_equal(cogmem__ann_unreachable(a, &live), 0);
    assert_int_equal(atomic_load(&slot_at(a, b)->indeg), 1);
    for (uint32_t i = 0; i < 10; i++)
        assert_int_equal(atomic_load(&slot_at(a, island[i])->indeg), 10);
    /* Tombstone u and b: still reachable through them until a pass. */
    assert_int_equal(cogmem_episode_remove(s, atomic_load(&slot_at(a, u)->id)), 0);
    assert_int_equal(cogmem_episode_remove(s, atomic_load(&slot_at(a, b)->id)), 0);
    assert_int_equal(cogmem__ann_unreachable(a, &live), 0);
    assert_int_equal(live, 1498);
    (void)cogmem__ann_repair(a, 1);
    int64_t un = cogmem__ann_unreachable(a, &live);
    printf("drained bridge: %lld of %llu unreachable after the pass\n", (long long)un,
           (unsigned long long)live);
    assert_int_equal(un, 0);
    free(x);
    assert_int_equal(cogmem_close(&s), 0);
}

/* Reconnect when every reached list is full. The level-0 graph becomes a
 * tree of pairs (a_t, b_t), three children per pair: a_t lists b_t and
 * its children's a, b_t lists a_t and its ancestors (every list full, 4
 * links at M 2), so the only way into a pair's subtree is its parent's
 * a -> a link. ISLANDS further slots, in no list, lie next to inner a_t
 * (their vectors almost theirs): a link to each must go into a full
 * list. A link that replaces an entry outright (the reconnect of before)
 * cuts that entry's subtree off, to be found and linked again in a next
 * round, each of which can cut again: it left 3-7 of 262 unreachable
 * after its four rounds (the levels are random; 6 in a run with the bound
 * raised to a thousand: its rounds stopped once one replaced nothing).
 * A swap moves the replaced entry
 * under the island node, so one pass links each island once and nothing
 * is cut off. */
#define PAIRS 121u /* 1 + 3 + 9 + 27 + 81: four levels below the root */
#define ISLANDS 20u
/* The tree's lists (test_reconnect_full_lists). */
static void tree_lists(struct cogmem__ann *a, const uint32_t *pa, const uint32_t *pb)
{
    for (uint32_t t = 0; t < PAIRS; t++) {
        uint32_t nb[4], k = 0;
        nb[k++] = pb[t];
        for (uint32_t c = 3 * t + 1; c <= 3 * t + 3 && c < PAIRS; c++)
            nb[k++] = pa[c];
        /* A leaf's a is full of ancestors, as every b is. */
        for (uint32_t p = t; k < 4 && p > 0;) {
            p = (p - 1) / 3;
            nb[k++] = pa[p];
            if (k < 4)
                nb[k++] = pb[p];
        }
        set_list(a, pa[t], nb, k);
        k = 0;
        nb[k++] = pa[t];
        for (uint32_t p = t; k < 4 && p > 0;) {
            p = (p - 1) / 3;
            nb[k++] = pa[p];
            if (k < 4)
                nb[k++] = pb[p];
        }
        /* The root's b, and depth 1's: too few ancestors; their own
         * first children fill up. */
        for (uint32_t c = 3 * t + 1; k < 4; c++)
            nb[k++] = pa[c];
        set_list(a, pb[t], nb, k);
    }
}

static void test_reconnect_full_lists(void **state)
{
    (void)state;
    cogmem_store *s = open_index_m(1, NULL, 2);
    const uint32_t n = 2 * PAIRS + ISLANDS;
    float *x = make_points(n, 41);
    add_all(s, x, 2 * PAIRS, 1);
    struct cogmem__ann *a = s->ann[1];
    assert_int_equal(a->m0, 4);
    uint64_t entry = atomic_load(&a->entry);
    uint32_t e = (uint32_t)entry;
    /* Pair t: a = slot pa[t], b = slot pb[t]; the root's a is the entry. */
    uint32_t pa[PAIRS], pb[PAIRS], k = 0;
    pa[0] = e;
    for (uint32_t t = 0, sl = 0; t < PAIRS; t++) {
        if (t) {
            while (sl == e)
                sl++;
            pa[t] = sl++;
        }
        while (sl == e)
            sl++;
        pb[t] = sl++;
    }
    tree_lists(a, pa, pb);
    for (uint32_t u = 0; u < 2 * PAIRS; u++)
        assert_int_equal(atomic_load(&slot_at(a, u)->l0[0]), 4);
    uint64_t live;
    assert_int_equal(cogmem__ann_unreachable(a, &live), 0);
    /* The islands: next to inner pairs 1..39's a; added with lists, then
     * every link to them dropped and their own lists emptied. */
    for (uint32_t i = 0; i < ISLANDS; i++) {
        float *v = x + (2 * PAIRS + i) * DIM;
        memcpy(v, x + (size_t)pa[1 + i * 2] * DIM, DIM * sizeof(float));
        v[i % DIM] += 0.02f;
        assert_int_equal(cogmem_episode_add(s, 2 * PAIRS + 1 + i, v, 0), 0);
    }
    /* An island of a higher level became the entry point: the root's a
     * stays it (its level's lists are all there). */
    atomic_store(&a->entry, entry);
    for (uint32_t u = 0; u < n; u++) {
        struct slot *U = slot_at(a, u);
        uint32_t c = atomic_load(&U->l0[0]), nb[4];
        k = 0;
        for (uint32_t j = 1; j <= c && u < 2 * PAIRS; j++) {
            uint32_t y = atomic_load(&U->l0[j]);
            if (y < 2 * PAIRS)
                nb[k++] = y;
        }
        set_list(a, u, nb, k);
    }
    /* Full again: the tree's lists as above (the islands' adds appended
     * or pruned in them). */
    tree_lists(a, pa, pb);
    assert_int_equal(cogmem__ann_unreachable(a, &live), ISLANDS);
    assert_int_equal(live, n);
    uint64_t links = cogmem__ann_repair(a, 1);
    int64_t un = cogmem__ann_unreachable(a, &live);
    printf("full lists: %llu links, %lld of %llu unreachable after the pass\n",
           (unsigned long long)links, (long long)un, (unsigned long long)live);
    assert_int_equal(un, 0);
    assert_int_equal(links, ISLANDS);
    /* In-degrees still count the links. */
    uint32_t indeg[2 * PAIRS + ISLANDS] = {0};
    for (uint32_t u = 0; u < n; u++) {
        struct slot *U = slot_at(a, u);
        for (uint32_t j = 1; j <= atomic_load(&U->l0[0]); j++)
            indeg[atomic_load(&U->l0[j])]++;
    }
    for (uint32_t u = 0; u < n; u++)
        assert_int_equal(atomic_load(&slot_at(a, u)->indeg), indeg[u]);
    free(x);
    assert_int_equal(cogmem_close(&s), 0);
}

static int reject_all(uint64_t id, int kind, void *arg)
{
    (void)id, (void)kind, (void)arg;
    return 0;
}

/* The six index statistics in every format of cogmem_stats_format. */
static void test_stats_format_index(void **state)
{
    (void)state;
    cogmem_store *s = open_index(1, NULL);
    float *x = make_points(300, 43);
    add_all(s, x, 300, 1);
    assert_int_equal(cogmem_episode_remove(s, 7), 0);
    cogmem_recall_params p = approx(32);
    cogmem_recall_hit h[5];
    size_t n;
    assert_int_equal(cogmem_recall(s, x, COGMEM_EPISODE, 5, &p, h, &n), 0);
    cogmem_stats st;
    stats_of(s, &st);
    assert_int_equal(st.index_linked, 299);
    assert_int_equal(st.index_tombstones, 1);
    assert_true(st.index_visits > 0);
    uint64_t links = cogmem__ann_repair(s->ann[1], 1);
    cogmem__stats_add(s, COGMEM__EV_INDEX_REPAIRS, links);
    /* A filter that turns everything down: one fallback. */
    p.filter = reject_all;
    assert_int_equal(cogmem_recall(s, x, COGMEM_EPISODE, 5, &p, h, &n), 0);
    assert_int_equal(cogmem_episode_remove(s, 9), 0);
    stats_of(s, &st);
    assert_true(st.index_repairs > 0);
    assert_int_equal(st.index_linked, 298);
    assert_int_equal(st.index_tombstones, 1);
    assert_int_equal(st.index_fallbacks, 1);
    static char buf[1 << 17];
    char want[512];
    assert_int_equal(cogmem_stats_format(s, COGMEM_FMT_JSON, buf, sizeof buf, NULL), 0);
    snprintf(want, sizeof want,
             "\"index\":{\"linked\":%llu,\"tail\":%llu,\"tombstones\":%llu,\"visits\":%llu,"
             "\"repairs\":%llu,\"fallbacks\":%llu}",
             (unsigned long long)st.index_linked, (unsigned long long)st.index_tail,
             (unsigned long long)st.index_tombstones, (unsigned long long)st.index_visits,
             (unsigned long long)st.index_repairs, (unsigned long long)st.index_fallbacks);
    assert_non_null(strstr(buf, want));
    assert_int_equal(cogmem_stats_format(s, COGMEM_FMT_PROMETHEUS, buf, sizeof buf, NULL), 0);
    const char *names[6] = {"linked", "tail", "tombstones", "visits_total", "repairs_total",
                            "fallbacks_total"};
    const uint64_t vals[6] = {st.index_linked, st.index_tail, st.index_tombstones,
                              st.index_visits, st.index_repairs, st.index_fallbacks};
    for (int i = 0; i < 6; i++) {
        snprintf(want, sizeof want, "\ncogmem_index_%s %llu\n", names[i],
                 (unsigned long long)vals[i]);
        assert_non_null(strstr(buf, want));
        snprintf(want, sizeof want, "# TYPE cogmem_index_%s %s\n", names[i],
                 i < 3 ? "gauge" : "counter");
        assert_non_null(strstr(buf, want));
    }
    assert_int_equal(cogmem_stats_format(s, COGMEM_FMT_TABLE, buf, sizeof buf, NULL), 0);
    snprintf(want, sizeof want,
             "  index: linked %llu, tail %llu, tombstones %llu; visits %llu, repairs %llu, "
             "fallbacks %llu\n",
             (unsigned long long)st.index_linked, (unsigned long long)st.index_tail,
             (unsigned long long)st.index_tombstones, (unsigned long long)st.index_visits,
             (unsigned long long)st.index_repairs, (unsigned long long)st.index_fallbacks);
    assert_non_null(strstr(buf, want));
    free(x);
    assert_int_equal(cogmem_close(&s), 0);
}

/* A level-0 search from a slot newer than its scratch (a greedy descent
 * that read `used` after cogmem__ann_pool_begin sized the scratch: adds
 * ran in between). It must not write past the visit tags (ASan). */
static void test_search_from_newer_slot(void **state)
{
    (void)state;
    cogmem_store *s = open_index(1, NULL);
    float *x = make_points(1400, 47);
    add_all(s, x, 100, 1);
    struct cogmem__ann *a = s->ann[1];
    struct pool spare, *p = cogmem__ann_pool_get(a, &spare);
    assert_int_equal(cogmem__ann_pool_begin(a, p, 16), 0);
    uint32_t cap = p->tags_cap;
    add_all(s, x + 100 * DIM, 1300, 101);
    /* Just past the tags and the 64-byte rounding of their allocation:
     * a write there lands in ASan's red zone. */
    uint32_t ep = cap + 16;
    assert_true(ep < atomic_load(&a->used));
    struct vref r = vref_load(slot_at(a, ep));
    struct query q = {r.d, r.inv, 1, 0};
    size_t nr = 0;
    cogmem__rcu_lock();
    assert_int_equal(cogmem__ann_search_layer(a, p, &q, ep, 1.0f, 16, 0, &nr), 0);
    cogmem__rcu_unlock();
    assert_true(nr >= 1);
    cogmem__ann_pool_put(a, p);
    free(x);
    assert_int_equal(cogmem_close(&s), 0);
}

static void test_rebuild_on_open(void **state)
{
    (void)state;
    char dir[] = "/tmp/cogmem-ann-XXXXXX";
    assert_non_null(mkdtemp(dir));
    cogmem_store *s = open_index(0, dir);
    float *x = make_points(1000, 19);
    add_all(s, x, 1000, 1);
    assert_int_equal(cogmem_close(&s), 0);
    s = open_index(1, dir);
    cogmem_stats st;
    stats_of(s, &st);
    assert_int_equal(st.index_linked, 1000);
    cogmem_recall_params p = approx(64);
    cogmem_recall_hit h[1];
    size_t n;
    assert_int_equal(cogmem_recall(s, x + 500 * DIM, COGMEM_EPISODE, 1, &p, h, &n), 0);
    assert_int_equal(h[0].id, 501);
    assert_int_equal(cogmem_close(&s), 0);
    free(x);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_bad_params(void **state)
{
    (void)state;
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    assert_int_equal(cfg.index, 0);
    assert_int_equal(cfg.index_m, 16);
    assert_int_equal(cfg.index_ef_construction, 200);
    assert_int_equal(cfg.index_ef_search, 64);
    cfg.dim = DIM;
    cogmem_store *s = NULL;
    cfg.index = 1;
    cfg.index_m = 1;
    assert_int_equal(cogmem_open(&cfg, &s), -EINVAL);
    cfg.index_m = 101;
    assert_int_equal(cogmem_open(&cfg, &s), -EINVAL);
    cfg.index_m = 16;
    cfg.index_ef_construction = 0;
    assert_int_equal(cogmem_open(&cfg, &s), -EINVAL);
    cfg.index_ef_construction = 200;
    cfg.index_ef_search = 65537;
    assert_int_equal(cogmem_open(&cfg, &s), -EINVAL);
    assert_null(s);
    s = open_index(1, NULL);
    float *x = make_points(10, 21);
    add_all(s, x, 10, 1);
    cogmem_recall_params p = approx(65537);
    cogmem_recall_hit h[4];
    size_t n = 99;
    assert_int_equal(cogmem_recall(s, x, COGMEM_EPISODE, 4, &p, h, &n), -EINVAL);
    assert_int_equal(n, 0);
    p.ef = 0;
    float zero[DIM] = {0};
    assert_int_equal(cogmem_recall(s, zero, COGMEM_EPISODE, 4, &p, h, &n), -EINVAL);
    assert_int_equal(cogmem_recall(s, x, 4, 4, &p, h, &n), -EINVAL);
    p.metric = 7;
    assert_int_equal(cogmem_recall(s, x, COGMEM_EPISODE, 4, &p, h, &n), -EINVAL);
    free(x);
    assert_int_equal(cogmem_close(&s), 0);
}

/* Without an index, approximate is ignored: the exact scan, nothing of
 * the index counted. */
static void test_exact_path_without_index(void **state)
{
    (void)state;
    cogmem_store *s = open_index(0, NULL);
    float *x = make_points(500, 23);
    add_all(s, x, 500, 1);
    cogmem_recall_params p = approx(8), e;
    cogmem_recall_params_init(&e);
    cogmem_recall_hit ha[20], he[20];
    size_t na, ne;
    assert_int_equal(cogmem_recall(s, x + 3 * DIM, COGMEM_EPISODE, 20, &p, ha, &na), 0);
    assert_int_equal(cogmem_recall(s, x + 3 * DIM, COGMEM_EPISODE, 20, &e, he, &ne), 0);
    assert_int_equal(na, ne);
    assert_memory_equal(ha, he, na * sizeof *ha);
    cogmem_stats st;
    stats_of(s, &st);
    assert_int_equal(st.index_visits + st.index_linked + st.index_fallbacks, 0);
    assert_null(s->ann[0]);
    free(x);
    assert_int_equal(cogmem_close(&s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recall_vs_exact),
        cmocka_unit_test(test_tail),
        cmocka_unit_test(test_tombstones_and_repair),
        cmocka_unit_test(test_repair_sliced),
        cmocka_unit_test(test_filter_fallback),
        cmocka_unit_test(test_blend_and_kinds),
        cmocka_unit_test(test_replace_relink),
        cmocka_unit_test(test_replace_relink_across_wrap),
        cmocka_unit_test(test_duplicates_and_reconnect),
        cmocka_unit_test(test_reconnect_past_drained_bridge),
        cmocka_unit_test(test_reconnect_full_lists),
        cmocka_unit_test(test_stats_format_index),
        cmocka_unit_test(test_search_from_newer_slot),
        cmocka_unit_test(test_rebuild_on_open),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_exact_path_without_index),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
