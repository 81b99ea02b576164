/* cogmem tests — allocation failure at every allocation of a scripted run
 * of every public function that allocates (issue 12).
 *
 * For each step of the script and n = 1, 2, ...: snapshot everything the
 * store shows (kinds, vectors, versions, fan-outs, bindings and strengths,
 * presentations, counts), make the n-th allocation from now fail
 * (cogmem__mem_fail_nth), run the step, and require that it either
 * succeeded (the n-th allocation was past the call's last one: the step is
 * done and the next one starts) or failed with -ENOMEM leaving the
 * snapshot unchanged. The ASan build's leak checker then proves that no
 * failed path leaked. cogmem_open is run the same way first.
 */
#include <errno.h>
#include <string.h>

#include "numa/mem.h"
#include "unit/util.h"

#define DIM 4
#define NID 6
#define MAX_N 200

struct snap {
    int kind[NID];
    float vec[NID][DIM];
    uint32_t fan[NID], cver[NID];
    float strength[NID][NID];
    uint64_t pres[NID], nodes, bindings;
};

static void take(cogmem_store *s, struct snap *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 0; i < NID; i++) {
        uint64_t id = (uint64_t)i + 1;
        o->kind[i] = cogmem_kind_of(s, id);
        if (o->kind[i] < 0)
            continue;
        const cogmem_vec *v;
        assert_int_equal(cogmem_vec_get(s, id, &v), 0);
        memcpy(o->vec[i], cogmem_vec_data(v), sizeof o->vec[i]);
        cogmem_vec_put(v);
        if (o->kind[i] == COGMEM_CONCEPT) {
            struct cogmem_concept_info ci;
            assert_int_equal(cogmem_concept_info(s, id, &ci), 0);
            o->fan[i] = ci.fan_out;
            o->cver[i] = ci.centroid_version;
        } else {
            assert_int_equal(cogmem_fan_in(s, id, &o->fan[i]), 0);
        }
        cogmem_actr_result r = {.struct_size = sizeof r};
        assert_int_equal(cogmem_actr_activation(s, id, NULL, 0, 1, &r), 0);
        o->pres[i] = r.presentations;
        for (int c = 0; c < NID; c++) {
            float st = -1.0f;
            if (cogmem_binding_get(s, id, (uint64_t)c + 1, &st) == 0)
                o->strength[i][c] = st;
        }
    }
    assert_int_equal(cogmem_count(s, COGMEM_ALL_KINDS, &o->nodes), 0);
    assert_int_equal(cogmem_binding_count(s, &o->bindings), 0);
}

/* One step of the script; 0 or a negative errno. */
static int step(cogmem_store *s, int k)
{
    float a[DIM] = {1, 2, 3, 4}, b[DIM] = {-1, 0.5f, 2, 0};
    cogmem_recall_hit rh[8];
    cogmem_hit sh[8];
    size_t n, nb[2];
    static char buf[1 << 17]; /* every metric in Prometheus text: over 32 KiB */
    switch (k) {
    case 0: return cogmem_concept_add(s, 1, a);
    case 1: return cogmem_concept_add(s, 2, b);
    case 2: return cogmem_episode_add(s, 4, b, 10);
    case 3: return cogmem_episode_add(s, 5, a, 11);
    case 4: return cogmem_reserve(s, COGMEM_ALL_KINDS, 5000);
    case 5: return cogmem_concept_set_centroid(s, 2, a);
    case 6: return cogmem_concept_blend(s, 1, b, 0.25f);
    case 7: return cogmem_bind(s, 4, 1, 0.5f);
    case 8: return cogmem_bind(s, 5, 1, 0.75f);
    case 9: return cogmem_bind(s, 4, 2, 1.0f);
    case 10: return cogmem_binding_adjust(s, 4, 1, 0.125f, NULL);
    case 11: return cogmem_touch(s, 1, 1000000000ull);
    case 12: return cogmem_touch(s, 4, 2000000000ull);
    case 13: {
        cogmem_source src[2] = {{1, 1.0f}, {4, 0.5f}};
        return cogmem_spread(s, src, 2, NULL, sh, 8, &n);
    }
    case 14: {
        cogmem_source src = {4, 1.0f};
        cogmem_actr_result r = {.struct_size = sizeof r};
        return cogmem_actr_activation(s, 1, &src, 1, 3000000000ull, &r);
    }
    case 15: return cogmem_recall(s, a, COGMEM_ALL_KINDS, 8, NULL, rh, &n);
    case 16: {
        float q[2 * DIM] = {1, 2, 3, 4, -1, 0.5f, 2, 0.1f};
        cogmem_recall_params p;
        cogmem_recall_params_init(&p);
        p.threads = 2;
        p.parallel_min_work = 0;
        return cogmem_recall_batch(s, q, 2, COGMEM_ALL_KINDS, 4, &p, rh, nb);
    }
    case 17: {
        uint64_t ids[3] = {1, 2, 3};
        struct cogmem_concept_info ci[3];
        return cogmem_concept_info_batch(s, ids, 3, ci, &n);
    }
    case 18: {
        uint64_t ids[4];
        float st[4];
        int rc = cogmem_concept_episodes(s, 1, ids, st, 4, &n);
        return rc ? rc : cogmem_episode_concepts(s, 4, ids, st, 4, &n);
    }
    case 19: {
        cogmem_stats st = {.struct_size = sizeof st};
        return cogmem_stats_get(s, &st);
    }
    case 20: return cogmem_stats_format(s, COGMEM_FMT_JSON, buf, sizeof buf, &n);
    case 21: return cogmem_stats_format(s, COGMEM_FMT_PROMETHEUS, buf, sizeof buf, &n);
    case 22: {
        cogmem_decay_params p;
        cogmem_decay_params_init(&p);
        p.model = COGMEM_DECAY_FACTOR;
        p.prune_below = 0.3f;
        return cogmem_decay(s, &p, 0, NULL);
    }
    case 23: return cogmem_unbind(s, 4, 2);
    case 24: return cogmem_concept_remove(s, 2);
    case 25: return cogmem_episode_remove(s, 5);
    default: return 1;
    }
}

static void test_every_allocation_fails_cleanly(void **state)
{
    (void)state;
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = DIM;
    cogmem_store *s = NULL;
    int opened = 0;
    for (long n = 1; n <= MAX_N && !opened; n++) {
        cogmem__mem_fail_nth(n);
        int rc = cogmem_open(&cfg, &s);
        cogmem__mem_fail_nth(0);
        if (rc == 0)
            opened = 1;
        else {
            assert_int_equal(rc, -ENOMEM);
            assert_null(s);
        }
    }
    assert_true(opened);
    int total_failures = 0;
    for (int k = 0; k < 26; k++) {
        int done = 0;
        for (long n = 1; n <= MAX_N && !done; n++) {
            struct snap before, after;
            take(s, &before);
            cogmem__mem_fail_nth(n);
            int rc = step(s, k);
            cogmem__mem_fail_nth(0);
            if (rc == 0) {
                done = 1;
                continue;
            }
            if (rc != -ENOMEM)
                fail_msg("step %d, allocation %ld failing: returned %d", k, n, rc);
            take(s, &after);
            if (memcmp(&before, &after, sizeof before) != 0)
                fail_msg("step %d failed at allocation %ld but changed the store", k, n);
            total_failures++;
        }
        if (!done)
            fail_msg("step %d still failing after %d injected allocations", k, MAX_N);
    }
    /* the script did reach allocation sites (a test that asserts something) */
    assert_true(total_failures > 20);
    print_message("%d injected allocation failures, each clean\n", total_failures);
    test_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_allocation_fails_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
