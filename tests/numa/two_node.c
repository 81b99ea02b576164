/* cogmem — placement on a real two-node machine (a QEMU guest).
 *
 * Built static, it is the guest's /init (tests/numa/qemu_two_node.py): it
 * mounts /sys (libnuma reads the topology there) and re-executes itself,
 * runs the checks, prints
 * one "COGMEM-TWO-NODE:" line per check and powers the guest off. Run on a
 * host with fewer than two nodes it exits 77 (skip).
 *
 * Checks, with move_pages counting where every page is:
 *  - COGMEM_NUMA_SEPARATE (concepts on node 0, episodes on node 1): every
 *    page of every concept record and centroid is on node 0, every page of
 *    every episode record and embedding on node 1;
 *  - COGMEM_NUMA_INTERLEAVE: each kind has pages on both nodes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <unistd.h>

#include <numa.h>
#include <numaif.h>

#include "src/store.h"

#define DIM 1024
#define N 256
#define MAX_PAGES (4 * N * 4)

static int pages_of(const void *p, size_t len, void **out, int n)
{
    uintptr_t ps = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (uintptr_t a = (uintptr_t)p & ~(ps - 1); a < (uintptr_t)p + len && n < MAX_PAGES; a += ps)
        out[n++] = (void *)a;
    return n;
}

/* Per kind: pages found on node 0, node 1, elsewhere/absent. */
static int count(int policy, long counts[2][3])
{
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = DIM;
    cfg.numa_policy = policy;
    cfg.concept_node = 0;
    cfg.episode_node = 1;
    cogmem_store *s;
    int rc = cogmem_open(&cfg, &s);
    if (rc) {
        printf("COGMEM-TWO-NODE: FAIL cogmem_open: %s\n", cogmem_strerror(rc));
        return -1;
    }
    static float v[DIM];
    for (int i = 0; i < DIM; i++)
        v[i] = 1.0f + (float)i;
    for (uint64_t id = 1; id <= N; id++)
        if (cogmem_concept_add(s, id, v) || cogmem_episode_add(s, 100000 + id, v, id))
            return -1;
    cogmem_stats st;
    st.struct_size = sizeof st;
    cogmem_stats_get(s, &st);
    if (st.numa_fallback != COGMEM_NUMA_PLACED) {
        printf("COGMEM-TWO-NODE: FAIL placement fell back (%d)\n", st.numa_fallback);
        return -1;
    }
    static void *pages[MAX_PAGES];
    static int status[MAX_PAGES];
    memset(counts, 0, sizeof(long[2][3]));
    for (int k = 0; k < 2; k++) {
        int n = 0;
        for (uint64_t i = 1; i <= N; i++) {
            uint64_t id = k ? 100000 + i : i;
            cogmem__rcu_lock();
            struct cogmem__node *node =
                cogmem__set_find(&s->sets[k], id, cogmem__hash(s, id), COGMEM__FIND_LIVE);
            n = pages_of(node, sizeof(struct cogmem__node_mem), pages, n);
            struct cogmem_vec *vec = atomic_load_explicit(&node->vec, memory_order_acquire);
            /* The row header, then its data: in the slab they are apart
             * (headers at the chunk's start, rows after them). */
            n = pages_of(vec, sizeof *vec, pages, n);
            n = pages_of(cogmem_vec_data(vec), DIM * sizeof(float), pages, n);
            cogmem__rcu_unlock();
        }
        if (move_pages(0, (unsigned long)n, pages, NULL, status, 0) != 0) {
            perror("move_pages");
            return -1;
        }
        for (int i = 0; i < n; i++)
            counts[k][status[i] == 0 ? 0 : status[i] == 1 ? 1 : 2]++;
    }
    cogmem_close(&s);
    return 0;
}

static int run(void)
{
    if (numa_available() < 0 || numa_num_configured_nodes() < 2) {
        printf("COGMEM-TWO-NODE: SKIP needs two NUMA nodes\n");
        return 77;
    }
    long c[2][3];
    int fails = 0;
    if (count(COGMEM_NUMA_SEPARATE, c))
        return 1;
    int ok = c[0][1] == 0 && c[0][2] == 0 && c[0][0] > 0 && c[1][0] == 0 && c[1][2] == 0 &&
             c[1][1] > 0;
    fails += !ok;
    printf("COGMEM-TWO-NODE: %s separate: concept pages node0 %ld node1 %ld other %ld; "
           "episode pages node0 %ld node1 %ld other %ld\n",
           ok ? "PASS" : "FAIL", c[0][0], c[0][1], c[0][2], c[1][0], c[1][1], c[1][2]);
    if (count(COGMEM_NUMA_INTERLEAVE, c))
        return 1;
    ok = c[0][0] > 0 && c[0][1] > 0 && c[1][0] > 0 && c[1][1] > 0 && c[0][2] == 0 &&
         c[1][2] == 0;
    fails += !ok;
    printf("COGMEM-TWO-NODE: %s interleave: concept pages node0 %ld node1 %ld other %ld; "
           "episode pages node0 %ld node1 %ld other %ld\n",
           ok ? "PASS" : "FAIL", c[0][0], c[0][1], c[0][2], c[1][0], c[1][1], c[1][2]);
    return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
    (void)argv;
    int init = getpid() == 1;
    if (init && argc < 2) {
        mkdir("/sys", 0755);
        mount("sysfs", "/sys", "sysfs", 0, NULL);
        mkdir("/proc", 0755);
        mount("proc", "/proc", "proc", 0, NULL);
        /* libnuma reads the topology in a constructor, before main ran and
         * mounted /sys: start again so that it sees the nodes. */
        execl("/init", "/init", "mounted", (char *)NULL);
        perror("re-exec /init");
    }
    int rc = run();
    printf("COGMEM-TWO-NODE: exit %d\n", rc);
    fflush(stdout);
    if (init) {
        sync();
        reboot(RB_POWER_OFF);
    }
    return rc;
}
