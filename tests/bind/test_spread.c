/* cogmem tests — spreading activation (every fan mode, hand-computed), the
 * ACT-R fact-retrieval example, base-level learning, latency and
 * retrieval probability. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "unit/util.h"

#define DIM 4
#define SEC 1000000000ull

static void add_c(cogmem_store *s, uint64_t id) { test_add_concept(s, id, DIM, 1.0f); }

static void add_e(cogmem_store *s, uint64_t id) { test_add_episode(s, id, DIM, 2.0f); }

static void near(double got, double want)
{
    if (fabs(got - want) > 2e-6 * fabs(want) + 1e-6)
        fail_msg("got %.9g, want %.9g", got, want);
}

/* A (1) bound to e1 (10, strength 0.5) and e2 (11, 1.0); B (2) to e2
 * (0.8). */
static cogmem_store *small_store(void)
{
    cogmem_store *s = test_open(DIM);
    add_c(s, 1);
    add_c(s, 2);
    add_e(s, 10);
    add_e(s, 11);
    assert_int_equal(cogmem_bind(s, 10, 1, 0.5f), 0);
    assert_int_equal(cogmem_bind(s, 11, 1, 1.0f), 0);
    assert_int_equal(cogmem_bind(s, 11, 2, 0.8f), 0);
    return s;
}

struct want {
    uint64_t id;
    int kind;
    double act;
};

static void expect(const cogmem_hit *h, size_t n, const struct want *w, size_t nw)
{
    assert_int_equal(n, nw);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(h[i].id, w[i].id);
        assert_int_equal(h[i].kind, w[i].kind);
        near(h[i].activation, w[i].act);
    }
}

static size_t spread1(cogmem_store *s, int mode, cogmem_hit *h)
{
    cogmem_spread_params p;
    cogmem_spread_params_init(&p);
    p.max_depth = 1;
    p.hop_decay = 1.0f;
    p.fan_mode = mode;
    cogmem_source src = {1, 1.0f};
    size_t n = 99;
    assert_int_equal(cogmem_spread(s, &src, 1, &p, h, 8, &n), 0);
    return n;
}

static void test_modes_depth1(void **state)
{
    (void)state;
    cogmem_store *s = small_store();
    cogmem_hit h[8];
    size_t n;
    /* fan(A) = 2 */
    n = spread1(s, COGMEM_FAN_INV_SQRT, h);
    expect(h, n, (struct want[]){{1, COGMEM_CONCEPT, 1.0},
                                 {11, COGMEM_EPISODE, 1.0 / sqrt(2.0)},
                                 {10, COGMEM_EPISODE, 0.5 / sqrt(2.0)}}, 3);
    n = spread1(s, COGMEM_FAN_LINEAR, h);
    expect(h, n, (struct want[]){{1, COGMEM_CONCEPT, 1.0},
                                 {11, COGMEM_EPISODE, 0.5},
                                 {10, COGMEM_EPISODE, 0.25}}, 3);
    n = spread1(s, COGMEM_FAN_NONE, h);
    /* ties by id: A and e2 both 1.0 */
    expect(h, n, (struct want[]){{1, COGMEM_CONCEPT, 1.0},
                                 {11, COGMEM_EPISODE, 1.0},
                                 {10, COGMEM_EPISODE, 0.5}}, 3);
    /* ACT-R, S = 2 (default): S_ji = 2 - ln(2 + 1) */
    double sji = 2.0 - log(3.0);
    n = spread1(s, COGMEM_FAN_ACTR, h);
    expect(h, n, (struct want[]){{1, COGMEM_CONCEPT, 1.0},
                                 {11, COGMEM_EPISODE, sji},
                                 {10, COGMEM_EPISODE, 0.5 * sji}}, 3);
    /* the store default is INV_SQRT */
    n = spread1(s, COGMEM_FAN_DEFAULT, h);
    near(h[1].activation, 1.0 / sqrt(2.0));
    test_close(&s);
}

/* Depth 2, INV_SQRT, hop decay 0.5, strengths on:
 *  hop 1: A sends 1/sqrt2 * 0.5: e1 += .5 * that, e2 += 1.0 * that;
 *  hop 2: e1 (fan 1) sends x1 * 0.5 to A (strength .5);
 *         e2 (fan 2) sends x2 / sqrt2 * 0.5 to A (1.0) and B (0.8). */
static void test_depth2_threshold_cap(void **state)
{
    (void)state;
    cogmem_store *s = small_store();
    cogmem_spread_params p;
    cogmem_spread_params_init(&p);
    p.fan_mode = COGMEM_FAN_INV_SQRT;
    p.threshold = 0.0f;
    cogmem_source src = {1, 1.0f};
    cogmem_hit h[8];
    size_t n;
    double o = 0.5 / sqrt(2.0);
    double x1 = 0.5 * o, x2 = 1.0 * o;
    double back1 = x1 * 0.5 * 0.5;
    double back2 = x2 / sqrt(2.0) * 0.5;
    assert_int_equal(cogmem_spread(s, &src, 1, &p, h, 8, &n), 0);
    expect(h, n, (struct want[]){{1, COGMEM_CONCEPT, 1.0 + back1 + back2},
                                 {11, COGMEM_EPISODE, x2},
                                 {10, COGMEM_EPISODE, x1},
                                 {2, COGMEM_CONCEPT, back2 * 0.8}}, 4);
    /* e1 received 0.177 < 0.2: it does not spread in hop 2 */
    p.threshold = 0.2f;
    assert_int_equal(cogmem_spread(s, &src, 1, &p, h, 8, &n), 0);
    expect(h, n, (struct want[]){{1, COGMEM_CONCEPT, 1.0 + back2},
                                 {11, COGMEM_EPISODE, x2},
                                 {10, COGMEM_EPISODE, x1},
                                 {2, COGMEM_CONCEPT, back2 * 0.8}}, 4);
    /* without strengths */
    p.threshold = 0.0f;
    p.use_strength = 0;
    p.max_depth = 1;
    assert_int_equal(cogmem_spread(s, &src, 1, &p, h, 8, &n), 0);
    expect(h, n, (struct want[]){{1, COGMEM_CONCEPT, 1.0},
                                 {10, COGMEM_EPISODE, o},
                                 {11, COGMEM_EPISODE, o}}, 3);
    /* node cap: A, then its first neighbour (list order) */
    p.max_nodes = 2;
    p.use_strength = 1;
    assert_int_equal(cogmem_spread(s, &src, 1, &p, h, 8, &n), 0);
    expect(h, n, (struct want[]){{1, COGMEM_CONCEPT, 1.0}, {10, COGMEM_EPISODE, x1}}, 2);
    /* output cap: the best ones */
    p.max_nodes = 100;
    assert_int_equal(cogmem_spread(s, &src, 1, &p, h, 1, &n), 0);
    expect(h, n, (struct want[]){{1, COGMEM_CONCEPT, 1.0}}, 1);
    /* depth 0: the sources; missing sources skipped, duplicates add */
    p.max_depth = 0;
    cogmem_source two[3] = {{11, 0.25f}, {999, 1.0f}, {11, 0.5f}};
    assert_int_equal(cogmem_spread(s, two, 3, &p, h, 8, &n), 0);
    expect(h, n, (struct want[]){{11, COGMEM_EPISODE, 0.75}}, 1);
    test_close(&s);
}

/* More nodes than the first working-set allocation (256): the set grows
 * in the middle of a hop, and every node is still there exactly once. */
static void test_spread_grows(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    enum { N = 700 };
    add_c(s, 1);
    add_c(s, 2);
    for (uint64_t e = 0; e < N; e++) {
        add_e(s, 1000 + e);
        assert_int_equal(cogmem_bind(s, 1000 + e, 1, 1.0f), 0);
        assert_int_equal(cogmem_bind(s, 1000 + e, 2, 1.0f), 0);
    }
    cogmem_spread_params p;
    cogmem_spread_params_init(&p);
    p.fan_mode = COGMEM_FAN_NONE;
    p.hop_decay = 1.0f;
    p.max_depth = 2;
    p.threshold = 0.0f;
    cogmem_source src = {1, 1.0f};
    static cogmem_hit h[N + 8];
    size_t n;
    assert_int_equal(cogmem_spread(s, &src, 1, &p, h, N + 8, &n), 0);
    /* hop 1: each episode gets 1; hop 2: each sends 1 to concept 1 and 2 */
    assert_int_equal(n, N + 2);
    assert_int_equal(h[0].id, 1);
    near(h[0].activation, 1.0 + N);
    assert_int_equal(h[1].id, 2);
    near(h[1].activation, N);
    for (size_t i = 2; i < n; i++) {
        assert_int_equal(h[i].id, 1000 + (i - 2)); /* ties by id */
        near(h[i].activation, 1.0);
    }
    /* capped below the set: the first max_nodes entries only */
    p.max_nodes = 300;
    assert_int_equal(cogmem_spread(s, &src, 1, &p, h, N + 8, &n), 0);
    assert_int_equal(n, 300);
    test_close(&s);
}

static void test_spread_errors(void **state)
{
    (void)state;
    cogmem_store *s = small_store();
    cogmem_spread_params p;
    cogmem_spread_params_init(&p);
    cogmem_source src = {1, 1.0f};
    cogmem_hit h[4];
    size_t n;
    assert_int_equal(cogmem_spread(NULL, &src, 1, &p, h, 4, &n), -EINVAL);
    assert_int_equal(cogmem_spread(s, NULL, 1, &p, h, 4, &n), -EINVAL);
    assert_int_equal(cogmem_spread(s, &src, 1, &p, NULL, 4, &n), -EINVAL);
    assert_int_equal(cogmem_spread(s, &src, 1, &p, h, 4, NULL), -EINVAL);
    cogmem_source bad = {0, 1.0f};
    assert_int_equal(cogmem_spread(s, &bad, 1, &p, h, 4, &n), -EINVAL);
    bad.id = 1;
    bad.weight = NAN;
    assert_int_equal(cogmem_spread(s, &bad, 1, &p, h, 4, &n), -EINVAL);
    p.fan_mode = 9;
    assert_int_equal(cogmem_spread(s, &src, 1, &p, h, 4, &n), -EINVAL);
    cogmem_spread_params_init(&p);
    p.max_nodes = 0;
    assert_int_equal(cogmem_spread(s, &src, 1, &p, h, 4, &n), -EINVAL);
    cogmem_spread_params_init(&p);
    p.hop_decay = -1.0f;
    assert_int_equal(cogmem_spread(s, &src, 1, &p, h, 4, &n), -EINVAL);
    cogmem_spread_params_init(&p);
    p.threshold = NAN;
    assert_int_equal(cogmem_spread(s, &src, 1, &p, h, 4, &n), -EINVAL);
    /* NULL params: defaults; no sources: no hits */
    assert_int_equal(cogmem_spread(s, &src, 1, NULL, h, 4, &n), 0);
    assert_true(n > 0);
    assert_int_equal(cogmem_spread(s, NULL, 0, NULL, NULL, 0, &n), 0);
    assert_int_equal(n, 0);
    test_close(&s);
}

/* ACT-R's fan experiment (Anderson 1974; ACT-R tutorial unit 5): facts
 * "the PERSON is in the LOCATION" are episodes bound to a person concept
 * and a location concept. A probe (person, location) puts W = 1/2 on
 * each; a fact's activation from the probe is
 *   sum_j W_j (S - ln(fan_j + 1)),  fan_j = facts about j. */
enum { HIPPIE = 1, CAPTAIN, DEBUTANTE, FIREMAN, GIANT, EARL, LAWYER,
       PARK, CHURCH, BANK, CAVE, BEACH, CASTLE, DUNGEON, FOREST, STORE };
static const uint64_t facts[][2] = {
    {HIPPIE, PARK},    {HIPPIE, CHURCH},   {HIPPIE, BANK},
    {CAPTAIN, PARK},   {CAPTAIN, CAVE},    {DEBUTANTE, BANK},
    {FIREMAN, PARK},   {GIANT, BEACH},     {GIANT, CASTLE},
    {GIANT, DUNGEON},  {EARL, CASTLE},     {EARL, FOREST},
    {LAWYER, STORE},
};
#define NFACTS (sizeof facts / sizeof facts[0])
#define FACT(i) (100 + (uint64_t)(i))

static cogmem_store *fact_store(float mas)
{
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = DIM;
    cfg.actr_max_assoc = mas;
    cogmem_store *s = NULL;
    assert_int_equal(cogmem_open(&cfg, &s), 0);
    for (uint64_t c = HIPPIE; c <= STORE; c++)
        add_c(s, c);
    for (size_t i = 0; i < NFACTS; i++) {
        add_e(s, FACT(i));
        assert_int_equal(cogmem_bind(s, FACT(i), facts[i][0], 1.0f), 0);
        assert_int_equal(cogmem_bind(s, FACT(i), facts[i][1], 1.0f), 0);
    }
    return s;
}

static double sji(double mas, unsigned fan) { return fmax(0.0, mas - log(fan + 1.0)); }

static void test_actr_facts(void **state)
{
    (void)state;
    const double S = 2.0;
    cogmem_store *s = fact_store((float)S);
    cogmem_spread_params p;
    cogmem_spread_params_init(&p);
    p.fan_mode = COGMEM_FAN_ACTR;
    p.max_depth = 1;
    p.hop_decay = 1.0f;
    p.use_strength = 0;
    /* probe "the hippie is in the park": hippie fan 3, park fan 3 */
    cogmem_source probe[2] = {{HIPPIE, 0.5f}, {PARK, 0.5f}};
    cogmem_hit h[32];
    size_t n;
    assert_int_equal(cogmem_spread(s, probe, 2, &p, h, 32, &n), 0);
    double both = 0.5 * sji(S, 3) + 0.5 * sji(S, 3);
    /* hippie-park (fact 0) gets both; the other hippie facts and the other
     * park facts get one half each: all 0.5 * S_j with fan 3 */
    double one = 0.5 * sji(S, 3);
    struct want w[] = {
        {HIPPIE, COGMEM_CONCEPT, 0.5}, {PARK, COGMEM_CONCEPT, 0.5},
        {FACT(0), COGMEM_EPISODE, both},
        {FACT(1), COGMEM_EPISODE, one}, {FACT(2), COGMEM_EPISODE, one},
        {FACT(3), COGMEM_EPISODE, one}, {FACT(6), COGMEM_EPISODE, one},
    };
    /* sorted: both (0.614), the sources (0.5, ties by id), then 0.307 */
    assert_true(both > 0.5 && one < 0.5);
    struct want sorted[] = {w[2], w[0], w[1], w[3], w[4], w[5], w[6]};
    expect(h, n, sorted, 7);

    /* the fan effect: "the lawyer is in the store" (fans 1, 1) is more
     * active than "the hippie is in the park" (fans 3, 3) */
    cogmem_source low[2] = {{LAWYER, 0.5f}, {STORE, 0.5f}};
    assert_int_equal(cogmem_spread(s, low, 2, &p, h, 32, &n), 0);
    assert_int_equal(h[0].id, FACT(12));
    near(h[0].activation, sji(S, 1));
    assert_true(h[0].activation > both);

    /* the same figures from cogmem_actr_activation (no presentations: B = 0) */
    cogmem_actr_result r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    assert_int_equal(cogmem_actr_activation(s, FACT(0), probe, 2, SEC, &r), 0);
    assert_int_equal(r.presentations, 0);
    near(r.base_level, 0.0);
    near(r.spreading, both);
    near(r.activation, both);
    near(r.latency_s, exp(-both));                         /* F = 1 */
    near(r.probability, 1.0 / (1.0 + exp((0.0 - both) / 0.25))); /* tau 0, s .25 */
    /* a fact about neither: nothing spreads to it */
    assert_int_equal(cogmem_actr_activation(s, FACT(7), probe, 2, SEC, &r), 0);
    near(r.spreading, 0.0);
    /* giant (fan 3) and castle (fan 2) for "the giant is in the castle" */
    cogmem_source gc[2] = {{GIANT, 0.5f}, {CASTLE, 0.5f}};
    assert_int_equal(cogmem_actr_activation(s, FACT(8), gc, 2, SEC, &r), 0);
    near(r.spreading, 0.5 * sji(S, 3) + 0.5 * sji(S, 2));
    test_close(&s);
}

static void test_base_level(void **state)
{
    (void)state;
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = DIM;
    cfg.actr_history = 2;
    cfg.actr_decay = 0.5f;
    cogmem_store *s = NULL;
    assert_int_equal(cogmem_open(&cfg, &s), 0);
    add_c(s, 1);
    add_e(s, 10);
    cogmem_actr_result r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    /* presentations at 0, 10, 20, 30 s; now = 40 s: ages 40, 30, 20, 10 */
    for (uint64_t t = 0; t <= 30; t += 10)
        assert_int_equal(cogmem_touch(s, 1, t * SEC + SEC), 0);
    uint64_t now = 41 * SEC;
    assert_int_equal(cogmem_actr_activation(s, 1, NULL, 0, now, &r), 0);
    assert_int_equal(r.presentations, 4);
    /* k = 2 exact (ages 10, 20), 2 older by optimized learning with
     * t_n = 40, t_k = 20 */
    double d = 0.5;
    double exact = pow(10, -d) + pow(20, -d);
    double ol = 2.0 * (pow(40, 1 - d) - pow(20, 1 - d)) / ((1 - d) * (40 - 20));
    near(r.base_level, log(exact + ol));
    near(r.activation, r.base_level);
    near(r.latency_s, exp(-r.base_level));
    /* the approximation is close to the exact sum over all four */
    double full = log(pow(10, -d) + pow(20, -d) + pow(30, -d) + pow(40, -d));
    assert_true(fabs(r.base_level - full) < 0.05);
    /* ages below 50 ms are floored: a presentation "now" is finite */
    assert_int_equal(cogmem_touch(s, 10, now), 0);
    assert_int_equal(cogmem_actr_activation(s, 10, NULL, 0, now, &r), 0);
    near(r.base_level, log(pow(0.05, -d)));
    /* spreading adds the base level when asked */
    cogmem_spread_params p;
    cogmem_spread_params_init(&p);
    p.max_depth = 0;
    p.add_base_level = 1;
    p.now_ns = now;
    cogmem_source src = {10, 1.0f};
    cogmem_hit h[4];
    size_t n;
    assert_int_equal(cogmem_spread(s, &src, 1, &p, h, 4, &n), 0);
    assert_int_equal(n, 1);
    near(h[0].activation, 1.0 + log(pow(0.05, -d)));
    /* errors */
    assert_int_equal(cogmem_touch(s, 0, now), -EINVAL);
    assert_int_equal(cogmem_touch(NULL, 1, now), -EINVAL);
    assert_int_equal(cogmem_touch(s, 77, now), -ENOENT);
    assert_int_equal(cogmem_actr_activation(s, 77, NULL, 0, now, &r), -ENOENT);
    assert_int_equal(cogmem_actr_activation(s, 1, NULL, 0, now, NULL), -EINVAL);
    r.struct_size = 4;
    assert_int_equal(cogmem_actr_activation(s, 1, NULL, 0, now, &r), -EINVAL);
    /* removal drops the history; the id comes back fresh */
    assert_int_equal(cogmem_concept_remove(s, 1), 0);
    add_c(s, 1);
    r.struct_size = sizeof r;
    assert_int_equal(cogmem_actr_activation(s, 1, NULL, 0, now, &r), 0);
    assert_int_equal(r.presentations, 0);
    test_close(&s);
}

static void test_config_checks(void **state)
{
    (void)state;
    cogmem_config cfg;
    cogmem_store *s = NULL;
    for (int i = 0; i < 6; i++) {
        cogmem_config_init(&cfg);
        cfg.dim = DIM;
        switch (i) {
        case 0: cfg.fan_mode = 4; break;
        case 1: cfg.actr_decay = 1.0f; break;
        case 2: cfg.actr_history = 33; break;
        case 3: cfg.actr_noise = 0.0f; break;
        case 4: cfg.actr_max_assoc = NAN; break;
        case 5: cfg.actr_latency_factor = -1.0f; break;
        }
        assert_int_equal(cogmem_open(&cfg, &s), -EINVAL);
        assert_null(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_modes_depth1),
        cmocka_unit_test(test_depth2_threshold_cap),
        cmocka_unit_test(test_spread_grows),
        cmocka_unit_test(test_spread_errors),
        cmocka_unit_test(test_actr_facts),
        cmocka_unit_test(test_base_level),
        cmocka_unit_test(test_config_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
