/* cogmem tests — bounds and hostile input (issue 12): each case pins a
 * finding of the API fuzzer (tests/fuzz) or of reading the code, and fails
 * on the code before its fix.
 *
 *  - spreading stops at an empty frontier (max_depth 2^32 - 1 on two nodes);
 *  - max_nodes counts only nodes that get a non-zero activation (the ACT-R
 *    example: concept 1 with fan 10 sends S_ji = 0);
 *  - cosine recall where the f32 product of the norms under- or overflows
 *    (a stored 1.4e-45, a FLT_MAX component), single and batch, and
 *    cogmem_cosine_batch (also a zero query against rows near 1e30);
 *  - recall's scratch is bounded by the rows, not by k (k = SIZE_MAX);
 *  - recall_batch refuses nq whose buffers cannot exist, before writing;
 *  - params/result structs: a larger struct_size than ours is accepted and
 *    its tail neither read into nor written, the caller's struct_size kept.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <string.h>
#include <sys/resource.h>

#include "numa/mem.h"
#include "src/recall.h"
#include "unit/util.h"

#define DIM 4

/* CPU time of the calling process in seconds. */
static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

static void test_spread_stops_when_frontier_empty(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    test_add_concept(s, 1, DIM, 1.0f);
    test_add_episode(s, 2, DIM, 1.0f);
    assert_int_equal(cogmem_bind(s, 2, 1, 1.0f), 0);
    cogmem_source src = {1, 1.0f};
    cogmem_spread_params p;
    cogmem_spread_params_init(&p);
    cogmem_hit h[4];
    size_t n;
    /* Not a time limit: a ratio. 200 spreads of depth 2 against one of
     * depth 2^32 - 1, whose activation is below the threshold after ten
     * hops. The code before the fix ran every hop (seconds; the 200 short
     * ones take milliseconds), so the margin is several orders of
     * magnitude either way. */
    double t0 = cpu_s();
    for (int i = 0; i < 200; i++)
        assert_int_equal(cogmem_spread(s, &src, 1, &p, h, 4, &n), 0);
    double shorts = cpu_s() - t0;
    p.max_depth = UINT32_MAX;
    t0 = cpu_s();
    assert_int_equal(cogmem_spread(s, &src, 1, &p, h, 4, &n), 0);
    double deep = cpu_s() - t0;
    assert_int_equal(n, 2);
    if (deep > 10 * shorts + 0.05)
        fail_msg("depth 2^32-1 on two nodes took %.3f s of CPU, 200 short spreads %.3f s",
                 deep, shorts);
    test_close(&s);
}

static void test_spread_cap_counts_nonzero_only(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    /* concept 1 with fan 10: S - ln(11) < 0 with S = 2, so S_ji = 0 */
    test_add_concept(s, 1, DIM, 1.0f);
    for (uint64_t e = 11; e <= 20; e++) {
        test_add_episode(s, e, DIM, 1.0f);
        assert_int_equal(cogmem_bind(s, e, 1, 1.0f), 0);
    }
    /* episode 100, fan-in 1, bound to concept 2: 0.5 * (2 - ln 2) */
    test_add_concept(s, 2, DIM, 1.0f);
    test_add_episode(s, 100, DIM, 1.0f);
    assert_int_equal(cogmem_bind(s, 100, 2, 1.0f), 0);
    cogmem_source src[2] = {{1, 1.0f}, {100, 0.5f}};
    cogmem_spread_params p;
    cogmem_spread_params_init(&p);
    p.max_depth = 1;
    p.hop_decay = 1.0f;
    p.use_strength = 0;
    p.fan_mode = COGMEM_FAN_ACTR;
    p.max_nodes = 3;
    cogmem_hit h[8];
    size_t n;
    assert_int_equal(cogmem_spread(s, src, 2, &p, h, 8, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(h[0].id, 1);
    assert_int_equal(h[1].id, 2);
    assert_true(fabs(h[1].activation - 0.5 * (2.0 - log(2.0))) < 1e-6);
    assert_int_equal(h[2].id, 100);
    /* the cap is stated, and refused above */
    p.max_nodes = COGMEM_SPREAD_MAX_NODES + 1;
    assert_int_equal(cogmem_spread(s, src, 2, &p, h, 8, &n), -EINVAL);
    p.max_nodes = COGMEM_SPREAD_MAX_NODES;
    assert_int_equal(cogmem_spread(s, src, 2, &p, h, 8, &n), 0);
    test_close(&s);
}

/* One recall (batch or not) of q against the store: the only hit's score. */
static float recall1(cogmem_store *s, const float *q, int batch)
{
    cogmem_recall_hit h[2];
    size_t n = 0;
    if (batch)
        assert_int_equal(cogmem_recall_batch(s, q, 1, COGMEM_ALL_KINDS, 2, NULL, h, &n), 0);
    else
        assert_int_equal(cogmem_recall(s, q, COGMEM_ALL_KINDS, 2, NULL, h, &n), 0);
    assert_int_equal(n, 1);
    return h[0].score;
}

static void test_cosine_tiny_and_huge(void **state)
{
    (void)state;
    for (int batch = 0; batch < 2; batch++) {
        /* dim 1: a stored 1.4e-45 queried with 1.4e-45 is cosine 1 */
        cogmem_store *s = test_open(1);
        float tiny = 1.4e-45f;
        assert_int_equal(cogmem_concept_add(s, 1, &tiny), 0);
        assert_true(fabsf(recall1(s, &tiny, batch) - 1.0f) < 1e-6f);
        test_close(&s);
        /* a FLT_MAX component against a query of norm ~10 */
        s = test_open(2);
        float big[2] = {FLT_MAX, 0.0f}, q[2] = {-3.8f, 9.25f};
        assert_int_equal(cogmem_concept_add(s, 1, big), 0);
        float want = (float)(-3.8 / sqrt(3.8 * 3.8 + 9.25 * 9.25));
        float got = recall1(s, q, batch);
        if (fabsf(got - want) > 1e-6f)
            fail_msg("batch %d: cosine %.9g, want %.9g", batch, got, want);
        test_close(&s);
    }
}

/* Fuzzer finding: a stored vector of 17 x -1.4e-45 has an f32 norm that
 * is a denormal (5.6e-45 for 5.78e-45): the double path must recompute the
 * norms, not reuse the stored one (cosine -0.3768 instead of -0.3655). */
static void test_cosine_denormal_norm(void **state)
{
    (void)state;
    enum { D = 17 };
    cogmem_store *s = test_open(D);
    float v[D], q[D];
    for (int i = 0; i < D; i++) {
        v[i] = -1.4e-45f;
        q[i] = (float)((i * 7) % 5) - 1.5f;
    }
    assert_int_equal(cogmem_concept_add(s, 8, v), 0);
    double d = 0, qq = 0;
    for (int i = 0; i < D; i++) {
        d += (double)q[i] * v[i];
        qq += (double)q[i] * q[i];
    }
    double want = d / (sqrt(qq) * sqrt(D * (double)v[0] * v[0]));
    for (int batch = 0; batch < 2; batch++) {
        float got = recall1(s, q, batch);
        if (fabs(got - want) > 1e-6)
            fail_msg("batch %d: cosine %.9g, want %.9g", batch, got, want);
    }
    test_close(&s);
}

/* Fuzzer finding (issue 12, this session): a query of 3 x -1.4e-45 has an
 * f32 norm that is a denormal (2.8e-45 for 2.4e-45); against a stored
 * vector of 3 x 1.99e30 the product of the norms is an ordinary float, so
 * the f32 path ran with the rounded query norm: cosine -0.866 for -1. A
 * denormal norm of either side must take the double path. */
static void test_cosine_denormal_query_norm(void **state)
{
    (void)state;
    enum { D = 3 };
    cogmem_store *s = test_open(D);
    float v[D], q[D];
    for (int i = 0; i < D; i++) {
        v[i] = 0x1.93e594p+99f;
        q[i] = -0x1p-149f;
    }
    assert_int_equal(cogmem_concept_add(s, 3, v), 0);
    for (int batch = 0; batch < 2; batch++) {
        float got = recall1(s, q, batch);
        if (fabsf(got + 1.0f) > 1e-6f)
            fail_msg("batch %d: cosine %.9g, want -1", batch, got);
    }
    test_close(&s);
}

/* Fuzzer finding: a finite vector whose norm overflows float is refused
 * with -ERANGE, which the header did not list; now it does. */
static void test_norm_overflow_documented(void **state)
{
    (void)state;
    cogmem_store *s = test_open(2);
    float v[2] = {FLT_MAX, FLT_MAX}, ok[2] = {1, 1};
    assert_int_equal(cogmem_concept_add(s, 1, v), -ERANGE);
    assert_int_equal(cogmem_episode_add(s, 1, v, 0), -ERANGE);
    assert_int_equal(cogmem_kind_of(s, 1), -ENOENT);
    assert_int_equal(cogmem_concept_add(s, 1, ok), 0);
    assert_int_equal(cogmem_concept_set_centroid(s, 1, v), -ERANGE);
    test_close(&s);
}

static void test_cosine_batch_wide(void **state)
{
    (void)state;
    float out[3];
    float tiny = 1.4e-45f;
    cogmem_cosine_batch(&tiny, &tiny, 1, 1, 1, NULL, 0.0f, out);
    assert_true(fabsf(out[0] - 1.0f) < 1e-6f);
    float rows[2 * 2] = {FLT_MAX, 0.0f, 1.0f, 0.0f}, q[2] = {-3.8f, 9.25f};
    float want = (float)(-3.8 / sqrt(3.8 * 3.8 + 9.25 * 9.25));
    cogmem_cosine_batch(q, rows, 2, 2, 2, NULL, 0.0f, out);
    assert_true(fabsf(out[0] - want) < 1e-6f);
    assert_true(fabsf(out[1] - want) < 1e-6f);
    float norms[2] = {FLT_MAX, 1.0f};
    cogmem_cosine_batch(q, rows, 2, 2, 2, norms, 0.0f, out);
    assert_true(fabsf(out[0] - want) < 1e-6f);
    /* a zero query against rows whose f32 sum of squares overflows: 0 */
    float zero[4] = {0}, huge[3 * 4];
    for (int i = 0; i < 12; i++)
        huge[i] = 1e30f;
    cogmem_cosine_batch(zero, huge, 3, 4, 4, NULL, 0.0f, out);
    for (int i = 0; i < 3; i++)
        assert_true(out[i] == 0.0f);
}

static void test_recall_scratch_bounded_by_rows(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    cogmem_recall_hit h[4];
    size_t n = 9, nb[1] = {9};
    float q[DIM] = {1, 0, 0, 0};
    /* empty store, k = SIZE_MAX: nothing to hold, nothing allocated */
    cogmem__mem_fail_nth(1);
    assert_int_equal(cogmem_recall(s, q, COGMEM_ALL_KINDS, SIZE_MAX, NULL, h, &n), 0);
    cogmem__mem_fail_nth(0);
    assert_int_equal(n, 0);
    for (uint64_t id = 1; id <= 3; id++)
        test_add_concept(s, id, DIM, (float)id);
    /* three rows: a three-entry heap, on the stack (no allocation to fail) */
    cogmem__mem_fail_nth(1);
    assert_int_equal(cogmem_recall(s, q, COGMEM_ALL_KINDS, SIZE_MAX, NULL, h, &n), 0);
    cogmem__mem_fail_nth(0);
    assert_int_equal(n, 3);
    /* the batch's scratch is threads x queries x min(k, rows) */
    cogmem_recall_params p;
    cogmem_recall_params_init(&p);
    p.threads = 2;
    p.parallel_min_work = 0;
    assert_int_equal(cogmem_recall_batch(s, q, 1, COGMEM_ALL_KINDS, SIZE_MAX, &p, h, nb), 0);
    assert_int_equal(nb[0], 3);
    /* nq x dim floats cannot exist: -EINVAL before n_out[] is written */
    nb[0] = 9;
    assert_int_equal(cogmem_recall_batch(s, q, SIZE_MAX / 8, COGMEM_ALL_KINDS, 1, &p, h, nb),
                     -EINVAL);
    assert_int_equal(nb[0], 9);
    test_close(&s);
}

/* The heap's id index (k > 64): offers with duplicate ids (a node seen
 * through two rows during a replacement) keep each id once, at its best
 * score, against a brute-force reference; O(1) per offer instead of O(k). */
static void test_topk_dedup_index(void **state)
{
    (void)state;
    enum { K = 300, IDS = 2000, OFFERS = 20000 };
    size_t slots = cogmem__topk_slots(K);
    assert_true(slots >= 2 * K);
    struct cogmem__cand *h = calloc(K + slots, sizeof *h);
    struct cogmem__topk t = {.h = h, .k = K, .tab = (struct cogmem__tslot *)(h + K),
                             .tmask = slots - 1};
    static float best[IDS + 1];
    for (int i = 0; i <= IDS; i++)
        best[i] = -INFINITY;
    uint64_t r = 12345;
    for (int o = 0; o < OFFERS; o++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t id = 1 + (r >> 33) % IDS;
        float sc = (float)((r >> 12) & 0xffff) / 65536.0f;
        cogmem__topk_offer(&t, sc, COGMEM_CONCEPT, id);
        if (sc > best[id])
            best[id] = sc;
    }
    cogmem_recall_hit out[K];
    size_t n = cogmem__topk_emit(&t, out);
    assert_int_equal(n, K);
    /* the reference: every id at its best score, best first, ties by id */
    for (size_t i = 0; i < n; i++) {
        assert_true(out[i].score == best[out[i].id]);
        for (size_t j = 0; j < i; j++)
            assert_true(out[j].id != out[i].id);
        if (i)
            assert_true(out[i - 1].score > out[i].score ||
                        (out[i - 1].score == out[i].score && out[i - 1].id < out[i].id));
    }
    /* nothing better was left out */
    for (uint64_t id = 1; id <= IDS; id++) {
        int in = 0;
        for (size_t i = 0; i < n; i++)
            in |= out[i].id == id;
        if (!in && best[id] > -INFINITY)
            assert_true(best[id] < out[n - 1].score ||
                        (best[id] == out[n - 1].score && id > out[n - 1].id));
    }
    free(h);
}

static void test_struct_sizes(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    test_add_concept(s, 1, DIM, 1.0f);
    test_add_episode(s, 2, DIM, 1.0f);
    assert_int_equal(cogmem_bind(s, 2, 1, 1.0f), 0);
    /* a caller compiled against a larger struct: its tail is never read
     * (garbage there changes nothing) and never written */
    struct {
        cogmem_spread_params p;
        unsigned char tail[16];
    } sp;
    memset(&sp, 0xff, sizeof sp);
    cogmem_spread_params_init(&sp.p);
    sp.p.struct_size = sizeof sp;
    cogmem_source src = {1, 1.0f};
    cogmem_hit h[4];
    size_t n;
    assert_int_equal(cogmem_spread(s, &src, 1, &sp.p, h, 4, &n), 0);
    assert_int_equal(n, 2);
    /* the first published size (up to now_ns) is accepted, one byte less
     * is not */
    sp.p.struct_size = offsetof(cogmem_spread_params, now_ns) + sizeof(uint64_t);
    assert_int_equal(cogmem_spread(s, &src, 1, &sp.p, h, 4, &n), 0);
    sp.p.struct_size = offsetof(cogmem_spread_params, now_ns) + sizeof(uint64_t) - 1;
    assert_int_equal(cogmem_spread(s, &src, 1, &sp.p, h, 4, &n), -EINVAL);

    struct {
        cogmem_decay_params p;
        unsigned char tail[16];
    } dp;
    memset(&dp, 0xff, sizeof dp);
    cogmem_decay_params_init(&dp.p);
    dp.p.struct_size = sizeof dp;
    struct {
        cogmem_decay_result r;
        unsigned char tail[16];
    } dr;
    memset(&dr, 0xee, sizeof dr);
    dr.r.struct_size = sizeof dr;
    assert_int_equal(cogmem_decay(s, &dp.p, 0, &dr.r), 0);
    assert_int_equal(dr.r.struct_size, sizeof dr); /* the caller's, kept */
    assert_int_equal(dr.r.concepts, 1);
    for (size_t i = 0; i < sizeof dr.tail; i++)
        assert_int_equal(dr.tail[i], 0xee);
    dr.r.struct_size = sizeof dr.r - 1;
    assert_int_equal(cogmem_decay(s, &dp.p, 0, &dr.r), -EINVAL);

    struct {
        cogmem_actr_result r;
        unsigned char tail[16];
    } ar;
    memset(&ar, 0xdd, sizeof ar);
    ar.r.struct_size = sizeof ar;
    assert_int_equal(cogmem_actr_activation(s, 1, NULL, 0, 1, &ar.r), 0);
    assert_int_equal(ar.r.struct_size, sizeof ar);
    for (size_t i = 0; i < sizeof ar.tail; i++)
        assert_int_equal(ar.tail[i], 0xdd);
    test_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spread_stops_when_frontier_empty),
        cmocka_unit_test(test_spread_cap_counts_nonzero_only),
        cmocka_unit_test(test_cosine_tiny_and_huge),
        cmocka_unit_test(test_cosine_denormal_norm),
        cmocka_unit_test(test_cosine_denormal_query_norm),
        cmocka_unit_test(test_norm_overflow_documented),
        cmocka_unit_test(test_cosine_batch_wide),
        cmocka_unit_test(test_recall_scratch_bounded_by_rows),
        cmocka_unit_test(test_topk_dedup_index),
        cmocka_unit_test(test_struct_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
