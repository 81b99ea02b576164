/* cogmem — NUMA placement as the kernel records it.
 *
 * For each policy, the pages of the store's concept and episode vectors
 * must carry the policy and nodemask the config asked for
 * (get_mempolicy with MPOL_F_ADDR), and move_pages must report them on the
 * node that policy allows. A config naming a node the machine lacks is
 * refused with -ENODEV. Without jemalloc arenas the store binds nothing
 * (its blocks would share pages with the host's malloc data): the test
 * then checks that the pages are left at the default policy and that the
 * statistics say so.
 */
#include <errno.h>
#include <numa.h>
#include <numaif.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cogmem.h"
#include "cogmem_config.h"

#define DIM 1024 /* 4 KiB vectors: every one spans its own pages */
#define N 64

static int open_policy(int policy, int cnode, int enode, cogmem_store **s)
{
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = DIM;
    cfg.numa_policy = policy;
    cfg.concept_node = cnode;
    cfg.episode_node = enode;
    return cogmem_open(&cfg, s);
}

static void test_refused_nodes(void **state)
{
    (void)state;
    assert_int_equal(numa_available() >= 0, 1);
    int missing = numa_max_node() + 1;
    cogmem_store *s = (cogmem_store *)0x1;
    assert_int_equal(open_policy(COGMEM_NUMA_SEPARATE, missing, 0, &s), -ENODEV);
    assert_int_equal(open_policy(COGMEM_NUMA_SEPARATE, 0, missing, &s), -ENODEV);
    assert_int_equal(open_policy(COGMEM_NUMA_INTERLEAVE, 4096, -1, &s), -ENODEV);
    assert_int_equal(open_policy(COGMEM_NUMA_SEPARATE, -2, 0, &s), -EINVAL);
    assert_int_equal(open_policy(4, -1, -1, &s), -EINVAL);
    assert_int_equal(open_policy(-1, -1, -1, &s), -EINVAL);
    assert_ptr_equal(s, (cogmem_store *)0x1);
    assert_string_equal(cogmem_strerror(-ENODEV), "no such NUMA node");
}

struct expect {
    int mode;           /* MPOL_* get_mempolicy must report */
    unsigned long mask; /* nodemask it must report (nodes < 64) */
    int node;           /* where move_pages must find the page, -1: any allowed */
};

/* The policy and location of the page holding p. */
static void check_page(const void *p, const struct expect *e)
{
    int mode = -1;
    unsigned long mask[16] = {0};
    assert_int_equal(get_mempolicy(&mode, mask, sizeof mask * 8, (void *)p, MPOL_F_ADDR), 0);
    assert_int_equal(mode, e->mode);
    assert_int_equal(mask[0], e->mask);
    void *page = (void *)((uintptr_t)p & ~(uintptr_t)(sysconf(_SC_PAGESIZE) - 1));
    int status = -1;
    assert_int_equal(move_pages(0, 1, &page, NULL, &status, 0), 0);
    assert_true(status >= 0); /* present (we wrote it) */
    if (e->node >= 0)
        assert_int_equal(status, e->node);
    else
        assert_true(numa_bitmask_isbitset(numa_all_nodes_ptr, (unsigned)status));
}

static unsigned long all_nodes_mask(void)
{
    unsigned long m = 0;
    for (int n = 0; n <= numa_max_node() && n < 64; n++)
        if (numa_bitmask_isbitset(numa_all_nodes_ptr, (unsigned)n))
            m |= 1ul << n;
    return m;
}

static void check_store(int policy, int cnode, int enode)
{
    cogmem_store *s = NULL;
    assert_int_equal(open_policy(policy, cnode, enode, &s), 0);
    float *v = malloc(DIM * sizeof *v);
    assert_non_null(v);
    for (int i = 0; i < DIM; i++)
        v[i] = 1.0f + (float)i;
    for (uint64_t id = 1; id <= N; id++) {
        assert_int_equal(cogmem_concept_add(s, id, v), 0);
        assert_int_equal(cogmem_episode_add(s, 1000 + id, v, id), 0);
    }
    free(v);
    cogmem_stats st;
    st.struct_size = sizeof st;
    assert_int_equal(cogmem_stats_get(s, &st), 0);
    assert_int_equal(st.kind[0].numa_policy, policy);
    assert_int_equal(st.numa_nodes, numa_num_configured_nodes());

    struct expect want[2];
    int placed = COGMEM_HAVE_JEMALLOC && policy != COGMEM_NUMA_NONE;
    if (!COGMEM_HAVE_JEMALLOC)
        assert_int_equal(st.numa_fallback,
                         policy == COGMEM_NUMA_NONE ? COGMEM_NUMA_NOT_ASKED
                                                    : COGMEM_NUMA_NO_ARENAS);
    else
        assert_int_equal(st.numa_fallback,
                         placed ? COGMEM_NUMA_PLACED : COGMEM_NUMA_NOT_ASKED);
    for (int k = 0; k < 2; k++) {
        int node = k ? enode : cnode;
        if (!placed)
            want[k] = (struct expect){MPOL_DEFAULT, 0, -1};
        else if (policy == COGMEM_NUMA_INTERLEAVE)
            want[k] = (struct expect){MPOL_INTERLEAVE, all_nodes_mask(), -1};
        else if (policy == COGMEM_NUMA_LOCAL)
            want[k] = (struct expect){MPOL_LOCAL, 0, -1};
        else
            want[k] = (struct expect){MPOL_BIND, 1ul << node, node};
        assert_int_equal(st.kind[k].numa_node,
                         policy == COGMEM_NUMA_SEPARATE ? node : -1);
    }
    /* Every vector's first and last page. */
    for (uint64_t id = 1; id <= N; id++)
        for (int k = 0; k < 2; k++) {
            const cogmem_vec *vec;
            assert_int_equal(cogmem_vec_get(s, k ? 1000 + id : id, &vec), 0);
            const float *d = cogmem_vec_data(vec);
            check_page(d, &want[k]);
            check_page(d + DIM - 1, &want[k]);
            cogmem_vec_put(vec);
        }
    assert_int_equal(cogmem_close(&s), 0);
}

static void test_interleave(void **state)
{
    (void)state;
    check_store(COGMEM_NUMA_INTERLEAVE, -1, -1);
}

static void test_separate(void **state)
{
    (void)state;
    /* On one node both kinds go to node 0; the QEMU two-node run is where
     * they part. The highest node is the automatic episode node. */
    check_store(COGMEM_NUMA_SEPARATE, 0, numa_max_node());
}

static void test_local(void **state)
{
    (void)state;
    check_store(COGMEM_NUMA_LOCAL, -1, -1);
}

static void test_none(void **state)
{
    (void)state;
    check_store(COGMEM_NUMA_NONE, -1, -1);
}

static void test_default_is_interleave(void **state)
{
    (void)state;
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    assert_int_equal(cfg.numa_policy, COGMEM_NUMA_INTERLEAVE);
    assert_int_equal(cfg.concept_node, -1);
    assert_int_equal(cfg.episode_node, -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_is_interleave),
        cmocka_unit_test(test_refused_nodes),
        cmocka_unit_test(test_interleave),
        cmocka_unit_test(test_separate),
        cmocka_unit_test(test_local),
        cmocka_unit_test(test_none),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
