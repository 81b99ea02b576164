/* cogmem tests — decay and pruning of bindings. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "unit/util.h"

#define DIM 4
#define SEC 1000000000ull

static void add_c(cogmem_store *s, uint64_t id) { test_add_concept(s, id, DIM, 1.0f); }

static void add_e(cogmem_store *s, uint64_t id) { test_add_episode(s, id, DIM, 2.0f); }

static float get(cogmem_store *s, uint64_t e, uint64_t c)
{
    float x = -1.0f;
    assert_int_equal(cogmem_binding_get(s, e, c, &x), 0);
    return x;
}

static void near(float got, double want)
{
    if (fabs(got - want) > 4e-6 * fabs(want) + 1e-7)
        fail_msg("got %.9g, want %.9g", got, want);
}

static uint64_t t_ref(cogmem_store *s, uint64_t e, uint64_t c)
{
    struct cogmem_binding_info bi;
    assert_int_equal(cogmem_binding_info(s, e, c, &bi), 0);
    return bi.decayed_ns;
}

static cogmem_decay_result result(void)
{
    cogmem_decay_result r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    return r;
}

static void test_exp(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    add_c(s, 1);
    add_e(s, 10);
    assert_int_equal(cogmem_bind(s, 10, 1, 1.0f), 0);
    uint64_t t0 = t_ref(s, 10, 1);
    cogmem_decay_params p;
    cogmem_decay_params_init(&p);
    p.half_life_ns = 10 * SEC;
    p.prune_below = 0.0f;
    cogmem_decay_result r = result();
    assert_int_equal(cogmem_decay(s, &p, t0 + 10 * SEC, &r), 0);
    near(get(s, 10, 1), 0.5);
    assert_int_equal(r.decayed, 1);
    assert_int_equal(r.concepts, 1);
    assert_int_equal(r.pruned, 0);
    /* decays compose: two half-lives in all */
    assert_int_equal(cogmem_decay(s, &p, t0 + 20 * SEC, NULL), 0);
    near(get(s, 10, 1), 0.25);
    /* a time already passed changes nothing */
    assert_int_equal(cogmem_decay(s, &p, t0 + 5 * SEC, NULL), 0);
    near(get(s, 10, 1), 0.25);
    assert_int_equal(t_ref(s, 10, 1), t0 + 20 * SEC);
    test_close(&s);
}

/* Lists whose decay times differ from one list to the next, met in one
 * pass: each must get the factor of its own decay time (the pass caches
 * the last factor for lists that share one: decay.c, exp_factor). Half
 * the lists decayed once to t1, the other half bound afterwards, at the
 * real time: two decay times, interleaved in the registry's walk order. */
static void test_exp_factor_per_time(void **state)
{
    (void)state;
    enum { N = 16 };
    cogmem_store *s = test_open(DIM);
    cogmem_decay_params p;
    cogmem_decay_params_init(&p);
    p.half_life_ns = 10 * SEC;
    p.prune_below = 0.0f;
    for (uint64_t c = 1; c <= N / 2; c++) {
        add_c(s, c);
        add_e(s, 100 + c);
        assert_int_equal(cogmem_bind(s, 100 + c, c, 1.0f), 0);
    }
    uint64_t t1 = t_ref(s, 101, 1) + 10 * SEC;
    cogmem_decay_result r = result();
    assert_int_equal(cogmem_decay(s, &p, t1, &r), 0);
    for (uint64_t c = N / 2 + 1; c <= N; c++) {
        add_c(s, c);
        add_e(s, 100 + c);
        assert_int_equal(cogmem_bind(s, 100 + c, c, 1.0f), 0);
    }
    double want[N + 1];
    uint64_t t2 = t1 + 10 * SEC;
    for (uint64_t c = 1; c <= N; c++) {
        uint64_t d = t_ref(s, 100 + c, c);
        double s0 = get(s, 100 + c, c);
        want[c] = s0 * exp2(-(double)(t2 - d) / (double)(10 * SEC));
    }
    r = result();
    assert_int_equal(cogmem_decay(s, &p, t2, &r), 0);
    assert_int_equal(r.decayed, N);
    for (uint64_t c = 1; c <= N; c++)
        near(get(s, 100 + c, c), want[c]);
    cogmem_close(&s);
}

static void test_power(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    add_c(s, 1);
    add_e(s, 10);
    assert_int_equal(cogmem_bind(s, 10, 1, 0.8f), 0);
    uint64_t t0 = t_ref(s, 10, 1);
    cogmem_decay_params p;
    cogmem_decay_params_init(&p);
    p.model = COGMEM_DECAY_POWER;
    p.power_d = 0.5f;
    p.power_scale_ns = SEC;
    p.prune_below = 0.0f;
    /* s(t) = 0.8 (1 + t/1s)^-0.5: 0.4 at 3 s, 0.8/3 at 8 s (in two steps) */
    assert_int_equal(cogmem_decay(s, &p, t0 + 3 * SEC, NULL), 0);
    near(get(s, 10, 1), 0.4);
    assert_int_equal(cogmem_decay(s, &p, t0 + 8 * SEC, NULL), 0);
    near(get(s, 10, 1), 0.8 / 3.0);
    test_close(&s);
}

static void test_factor_and_prune(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    add_c(s, 1);
    add_c(s, 2);
    static const float str[5] = {1.0f, 0.5f, 0.7f, 0.2f, 0.9f};
    for (uint64_t e = 10; e < 15; e++) {
        add_e(s, e);
        assert_int_equal(cogmem_bind(s, e, 1, str[e - 10]), 0);
        assert_int_equal(cogmem_bind(s, e, 2, 1.0f), 0);
    }
    cogmem_decay_params p;
    cogmem_decay_params_init(&p);
    p.model = COGMEM_DECAY_FACTOR;
    p.factor = 0.5f;
    p.prune_below = 0.3f;
    cogmem_decay_result r = result();
    assert_int_equal(cogmem_decay(s, &p, 0, &r), 0);
    assert_int_equal(r.decayed, 10);
    assert_int_equal(r.pruned, 2); /* 0.25 and 0.1 */
    assert_int_equal(r.concepts, 2);
    uint32_t f;
    assert_int_equal(cogmem_fan_out(s, 1, &f), 0);
    assert_int_equal(f, 3);
    assert_int_equal(cogmem_fan_out(s, 2, &f), 0);
    assert_int_equal(f, 5);
    float x;
    assert_int_equal(cogmem_binding_get(s, 11, 1, &x), -ENOENT);
    assert_int_equal(cogmem_binding_get(s, 13, 1, &x), -ENOENT);
    near(get(s, 10, 1), 0.5);
    near(get(s, 12, 1), 0.35);
    near(get(s, 14, 1), 0.45);
    assert_int_equal(cogmem_fan_in(s, 11, &f), 0);
    assert_int_equal(f, 1);
    assert_int_equal(cogmem_fan_in(s, 10, &f), 0);
    assert_int_equal(f, 2);
    uint64_t n;
    assert_int_equal(cogmem_binding_count(s, &n), 0);
    assert_int_equal(n, 8);
    test_close(&s);
}

/* Pruning across several kernel chunks keeps exactly the right set. */
static void test_prune_many(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    enum { N = 1000 };
    add_c(s, 1);
    for (uint64_t i = 0; i < N; i++) {
        add_e(s, 100 + i);
        assert_int_equal(cogmem_bind(s, 100 + i, 1, (float)(i % 10) / 10.0f), 0);
    }
    cogmem_decay_params p;
    cogmem_decay_params_init(&p);
    p.model = COGMEM_DECAY_FACTOR;
    p.factor = 1.0f;
    p.prune_below = 0.45f;
    cogmem_decay_result r = result();
    assert_int_equal(cogmem_decay(s, &p, 0, &r), 0);
    assert_int_equal(r.pruned, N / 2);
    uint32_t f;
    assert_int_equal(cogmem_fan_out(s, 1, &f), 0);
    assert_int_equal(f, N / 2);
    for (uint64_t i = 0; i < N; i++) {
        float x;
        int rc = cogmem_binding_get(s, 100 + i, 1, &x);
        if (i % 10 >= 5) {
            assert_int_equal(rc, 0);
            assert_true(x == (float)(i % 10) / 10.0f);
        } else {
            assert_int_equal(rc, -ENOENT);
            uint32_t fi;
            assert_int_equal(cogmem_fan_in(s, 100 + i, &fi), 0);
            assert_int_equal(fi, 0);
        }
    }
    test_close(&s);
}

/* Decay then adjust: the delta lands on the decayed value, and the adjust
 * makes the binding current (no further decay owed for the past). */
static void test_adjust_composes(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    add_c(s, 1);
    add_e(s, 10);
    assert_int_equal(cogmem_bind(s, 10, 1, 1.0f), 0);
    uint64_t t0 = t_ref(s, 10, 1);
    cogmem_decay_params p;
    cogmem_decay_params_init(&p);
    p.half_life_ns = SEC;
    p.prune_below = 0.0f;
    assert_int_equal(cogmem_decay(s, &p, t0 + SEC, NULL), 0);
    near(get(s, 10, 1), 0.5);
    float x;
    assert_int_equal(cogmem_binding_adjust(s, 10, 1, 0.125f, &x), 0);
    near(x, 0.625);
    struct cogmem_binding_info bi;
    assert_int_equal(cogmem_binding_info(s, 10, 1, &bi), 0);
    assert_true(bi.touched_ns == bi.decayed_ns);
    /* one half-life after the adjust */
    assert_int_equal(cogmem_decay(s, &p, bi.decayed_ns + SEC, NULL), 0);
    near(get(s, 10, 1), 0.3125);
    test_close(&s);
}

static void test_bad_params(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    cogmem_decay_params p;
    cogmem_decay_params_init(&p);
    assert_int_equal(cogmem_decay(NULL, &p, 0, NULL), -EINVAL);
    assert_int_equal(cogmem_decay(s, NULL, 0, NULL), -EINVAL);
    cogmem_decay_result r = result();
    r.struct_size = 1;
    assert_int_equal(cogmem_decay(s, &p, 0, &r), -EINVAL);
    struct { int field; float value; } bad[] = {
        {0, -1}, {1, 0}, {2, 0}, {3, NAN}, {4, 0}, {5, 1.5f}, {6, -0.1f}, {7, 1.1f}, {8, NAN},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cogmem_decay_params_init(&p);
        switch (bad[i].field) {
        case 0: p.model = 7; break;
        case 1: p.half_life_ns = 0; break;
        case 2: p.model = COGMEM_DECAY_POWER; p.power_d = 0; break;
        case 3: p.model = COGMEM_DECAY_POWER; p.power_d = NAN; break;
        case 4: p.model = COGMEM_DECAY_POWER; p.power_scale_ns = 0; break;
        case 5: p.model = COGMEM_DECAY_FACTOR; p.factor = 1.5f; break;
        case 6: p.model = COGMEM_DECAY_FACTOR; p.factor = -0.1f; break;
        case 7: p.prune_below = 1.1f; break;
        case 8: p.prune_below = NAN; break;
        }
        assert_int_equal(cogmem_decay(s, &p, 0, NULL), -EINVAL);
    }
    cogmem_decay_params_init(&p);
    p.struct_size = 8;
    assert_int_equal(cogmem_decay(s, &p, 0, NULL), -EINVAL);
    test_close(&s);
}

/* Adjusters and a decayer (factor 1: values unchanged, but every strength
 * is rewritten) together: no adjust is lost. */
enum { ROUNDS = 20000 };
static cogmem_store *cs;
static _Atomic int done;

static void *adjuster(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++)
        if (cogmem_binding_adjust(cs, 10 + (uint64_t)(i % 4), 1, 1.0f / 1048576.0f, NULL))
            return (void *)1;
    return NULL;
}

static void *decayer(void *arg)
{
    (void)arg;
    cogmem_decay_params p;
    cogmem_decay_params_init(&p);
    p.model = COGMEM_DECAY_FACTOR;
    p.factor = 1.0f;
    p.prune_below = 0.0f;
    while (!atomic_load(&done))
        if (cogmem_decay(cs, &p, 0, NULL))
            return (void *)1;
    return NULL;
}

static void test_concurrent_adjust_decay(void **state)
{
    (void)state;
    cs = test_open(DIM);
    add_c(cs, 1);
    for (uint64_t e = 10; e < 14; e++) {
        add_e(cs, e);
        assert_int_equal(cogmem_bind(cs, e, 1, 0.0f), 0);
    }
    pthread_t a[2], d;
    atomic_store(&done, 0);
    assert_int_equal(pthread_create(&d, NULL, decayer, NULL), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&a[i], NULL, adjuster, NULL), 0);
    void *rv;
    for (int i = 0; i < 2; i++) {
        pthread_join(a[i], &rv);
        assert_null(rv);
    }
    atomic_store(&done, 1);
    pthread_join(d, &rv);
    assert_null(rv);
    for (uint64_t e = 10; e < 14; e++)
        assert_true(get(cs, e, 1) == (float)(2 * ROUNDS / 4) / 1048576.0f);
    test_close(&cs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exp),
        cmocka_unit_test(test_exp_factor_per_time),
        cmocka_unit_test(test_power),
        cmocka_unit_test(test_factor_and_prune),
        cmocka_unit_test(test_prune_many),
        cmocka_unit_test(test_adjust_composes),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_concurrent_adjust_decay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
