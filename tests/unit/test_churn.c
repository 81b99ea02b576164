/* cogmem tests — 10^4 short-lived host threads, each making calls (issue
 * 12): a thread that exits releases what the library held for it (RCU
 * reader registration, counter stripes, binding and recall scratch). Runs
 * nproc threads at a time; every thread adds, reads, binds, recalls,
 * spreads and removes its own nodes, so the store must be empty at the
 * end, and the ASan build's leak checker sees what exited threads left.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "unit/util.h"

#define DIM 8
#define THREADS 10000

static cogmem_store *store;
static _Atomic int errors;

static void *one_thread(void *arg)
{
    uint64_t base = (uint64_t)(uintptr_t)arg * 2 + 1;
    float v[DIM];
    for (int i = 0; i < DIM; i++)
        v[i] = (float)(i + 1);
    int bad = 0;
    bad |= cogmem_concept_add(store, base, v) != 0;
    bad |= cogmem_episode_add(store, base + 1, v, 1) != 0;
    bad |= cogmem_kind_of(store, base) != COGMEM_CONCEPT;
    bad |= cogmem_bind(store, base + 1, base, 0.5f) != 0;
    uint32_t fan = 0;
    bad |= cogmem_fan_out(store, base, &fan) != 0 || fan != 1;
    cogmem_recall_hit rh[2];
    size_t n;
    bad |= cogmem_recall(store, v, COGMEM_ALL_KINDS, 2, NULL, rh, &n) != 0 || n != 2;
    cogmem_source src = {base, 1.0f};
    cogmem_hit sh[4];
    bad |= cogmem_spread(store, &src, 1, NULL, sh, 4, &n) != 0 || n < 2;
    bad |= cogmem_touch(store, base, 1) != 0;
    bad |= cogmem_concept_remove(store, base) != 0;
    bad |= cogmem_episode_remove(store, base + 1) != 0;
    if (bad)
        atomic_fetch_add_explicit(&errors, 1, memory_order_relaxed);
    return NULL;
}

static void test_thread_churn(void **state)
{
    (void)state;
    store = test_open(DIM);
    long np = sysconf(_SC_NPROCESSORS_ONLN);
    int batch = np < 2 ? 2 : np > 16 ? 16 : (int)np;
    pthread_t th[16];
    for (int t = 0; t < THREADS; t += batch) {
        int m = THREADS - t < batch ? THREADS - t : batch;
        for (int i = 0; i < m; i++)
            assert_int_equal(pthread_create(&th[i], NULL, one_thread,
                                            (void *)(uintptr_t)(t + i)), 0);
        for (int i = 0; i < m; i++)
            pthread_join(th[i], NULL);
    }
    assert_int_equal(atomic_load(&errors), 0);
    uint64_t nodes, bindings;
    assert_int_equal(cogmem_count(store, COGMEM_ALL_KINDS, &nodes), 0);
    assert_int_equal(cogmem_binding_count(store, &bindings), 0);
    assert_int_equal(nodes, 0);
    assert_int_equal(bindings, 0);
    cogmem_stats st = {.struct_size = sizeof st};
    assert_int_equal(cogmem_stats_get(store, &st), 0);
    test_close(&store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thread_churn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
