/* cogmem — the graph index under concurrent inserts, removes, centroid
 * replacements and approximate recalls (issue 14).
 *
 *   stress_ann [--seconds S] [--per-cpu N]
 *
 * Bounded by --seconds (default $COGMEM_STRESS_SECONDS, else 3). Threads
 * scale with the CPUs: per CPU N (default 1) inserters, removers,
 * replacers and searchers.
 *
 * Every id is added once, by an inserter (fresh ids from a counter;
 * concepts and episodes alternate). A remover claims a random added id and
 * removes it; after the remove returned it stamps the id with a death
 * number from a global counter. A searcher reads that counter before each
 * approximate recall and checks that no hit died before (a node whose
 * remove returned before the call is never returned), that no id appears
 * twice and that each hit's kind is the id's. Replacers set or blend
 * random live concepts' centroids (some far: re-links). At the end, at
 * quiescence and after one repair pass per kind (hnsw.h, "Reachability"):
 * in both kinds' graphs every live node is reachable at level 0 from the
 * entry point, the graphs hold exactly the live nodes, the tail
 * is empty, and a recall for every removed node's own vector does not
 * return it.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cogmem.h"
#include "cogmem_recall.h"
#include "cogmem_stats.h"
#include "src/ann/hnsw.h"
#include "src/store.h"
#include "tests/ann/clustered.h"

#define DIM 32
#define MAX_IDS (1u << 17)
#define NPOINTS 4096u
#define CONCEPT_BASE (1ull << 40)

enum { ABSENT = 0, LIVE = 1, CLAIMED = 2, DEAD = 3 };

static cogmem_store *store;
static float *points; /* NPOINTS x DIM, clustered: queries */
static struct clu_gen gen; /* the same distribution, for added vectors */
static _Atomic int stop;
static _Atomic uint32_t next_id = 1;
static _Atomic uint8_t state[MAX_IDS];
static _Atomic uint64_t death[MAX_IDS];
static _Atomic uint64_t deaths = 1;
static _Atomic uint64_t failures, searches, adds, removes, replaces;

#define FAIL(...)                                                              \
    do {                                                                       \
        fprintf(stderr, __VA_ARGS__);                                          \
        fputc('\n', stderr);                                                   \
        atomic_fetch_add_explicit(&failures, 1, memory_order_relaxed);         \
    } while (0)

static uint64_t id_of(uint32_t i) { return i % 2 ? (uint64_t)i : CONCEPT_BASE + i; }
static uint32_t index_of(uint64_t id) { return (uint32_t)(id >= CONCEPT_BASE ? id - CONCEPT_BASE : id); }

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void *inserter(void *arg)
{
    /* Fresh points, no two equal: equal vectors make cliques that
     * HNSW's heuristic links only among themselves (repair passes
     * reconnect them; the unit tests cover that). */
    struct clu_gen g = gen;
    g.rng.s = (uintptr_t)arg * 7919 + 1;
    float v[DIM];
    while (!atomic_load(&stop)) {
        uint32_t i = atomic_fetch_add(&next_id, 1);
        if (i >= MAX_IDS)
            break;
        clu_point(&g, v);
        uint64_t id = id_of(i);
        int rc = i % 2 ? cogmem_episode_add(store, id, v, i) : cogmem_concept_add(store, id, v);
        if (rc)
            FAIL("add %" PRIu64 ": %d", id, rc);
        /* Release: the add returned before anyone may claim the id. */
        atomic_store_explicit(&state[i], LIVE, memory_order_release);
        atomic_fetch_add(&adds, 1);
    }
    return NULL;
}

static uint32_t pick(uint64_t *r, int concepts_only)
{
    uint32_t n = atomic_load(&next_id);
    if (n > MAX_IDS)
        n = MAX_IDS;
    for (int tries = 0; tries < 64 && n > 1; tries++) {
        uint32_t i = 1 + (uint32_t)(rnd(r) % (n - 1));
        if (concepts_only && i % 2)
            i ^= 1;
        if (i && atomic_load_explicit(&state[i], memory_order_acquire) == LIVE)
            return i;
    }
    return 0;
}

static void *remover(void *arg)
{
    uint64_t r = (uintptr_t)arg * 104729 + 3;
    while (!atomic_load(&stop)) {
        /* Keep about a third of the added nodes removed. */
        if (atomic_load(&removes) * 3 > atomic_load(&adds)) {
            sched_yield();
            continue;
        }
        uint32_t i = pick(&r, 0);
        uint8_t expect = LIVE;
        if (!i || !atomic_compare_exchange_strong(&state[i], &expect, CLAIMED))
            continue;
        uint64_t id = id_of(i);
        int rc = i % 2 ? cogmem_episode_remove(store, id) : cogmem_concept_remove(store, id);
        if (rc)
            FAIL("remove %" PRIu64 ": %d", id, rc);
        /* After the remove returned: a search that starts later must not
         * return the id. */
        atomic_store_explicit(&death[i], atomic_fetch_add(&deaths, 1), memory_order_release);
        atomic_store_explicit(&state[i], DEAD, memory_order_release);
        atomic_fetch_add(&removes, 1);
    }
    return NULL;
}

static void *replacer(void *arg)
{
    uint64_t r = (uintptr_t)arg * 15485863 + 5;
    struct clu_gen g = gen;
    g.rng.s = r;
    float v[DIM];
    while (!atomic_load(&stop)) {
        uint32_t i = pick(&r, 1);
        if (!i) {
            sched_yield();
            continue;
        }
        clu_point(&g, v);
        int rc = rnd(&r) % 2 ? cogmem_concept_set_centroid(store, id_of(i), v)
                             : cogmem_concept_blend(store, id_of(i), v, 0.05f);
        if (rc && rc != -ENOENT) /* -ENOENT: a remover got there first */
            FAIL("replace %" PRIu64 ": %d", id_of(i), rc);
        atomic_fetch_add(&replaces, 1);
    }
    return NULL;
}

static void check_hits(const cogmem_recall_hit *h, size_t n, uint64_t before)
{
    for (size_t j = 0; j < n; j++) {
        uint32_t i = index_of(h[j].id);
        if (i == 0 || i >= MAX_IDS || id_of(i) != h[j].id) {
            FAIL("hit with an id never added: %" PRIu64, h[j].id);
            continue;
        }
        uint64_t d = atomic_load_explicit(&death[i], memory_order_acquire);
        if (d && d < before)
            FAIL("removed %" PRIu64 " returned (death %" PRIu64 " < %" PRIu64 ")", h[j].id, d,
                 before);
        if (h[j].kind != (i % 2 ? COGMEM_EPISODE : COGMEM_CONCEPT))
            FAIL("hit %" PRIu64 " of the wrong kind", h[j].id);
        for (size_t k = 0; k < j; k++)
            if (h[k].id == h[j].id)
                FAIL("id %" PRIu64 " twice", h[j].id);
    }
}

static void *searcher(void *arg)
{
    uint64_t r = (uintptr_t)arg * 32452843 + 7;
    cogmem_recall_params p;
    cogmem_recall_params_init(&p);
    p.approximate = 1;
    p.ef = 32;
    cogmem_recall_hit h[10];
    size_t n;
    while (!atomic_load(&stop)) {
        uint64_t before = atomic_load_explicit(&deaths, memory_order_acquire);
        const float *q = points + (size_t)(rnd(&r) % NPOINTS) * DIM;
        int rc = cogmem_recall(store, q, COGMEM_ALL_KINDS, 10, &p, h, &n);
        if (rc)
            FAIL("recall: %d", rc);
        check_hits(h, n, before);
        atomic_fetch_add(&searches, 1);
    }
    return NULL;
}

static void final_checks(void)
{
    uint64_t live = 0;
    for (uint32_t i = 1; i < MAX_IDS; i++)
        live += atomic_load(&state[i]) == LIVE;
    uint64_t graph_live = 0;
    for (int k = 0; k < 2; k++) {
        uint64_t l;
        /* The guarantee holds after a repair pass that ran with no
         * concurrent writer (hnsw.h, "Reachability"): adds after the last
         * pass the run made can prune away a cluster's only in-link. */
        cogmem__ann_repair(store->ann[k], 1);
        int64_t un = cogmem__ann_unreachable(store->ann[k], &l);
        if (un != 0)
            FAIL("kind %d: %" PRId64 " of %" PRIu64 " live nodes unreachable", k + 1, un, l);
        graph_live += l;
    }
    uint64_t count;
    cogmem_count(store, COGMEM_ALL_KINDS, &count);
    if (graph_live != live || count != live)
        FAIL("graph holds %" PRIu64 " live, store %" PRIu64 ", test %" PRIu64, graph_live, count,
             live);
    cogmem_stats st = {.struct_size = sizeof st};
    cogmem_stats_get(store, &st);
    if (st.index_tail != 0 || st.index_linked + 0 > live)
        FAIL("tail %" PRIu64 ", linked %" PRIu64 " of %" PRIu64, st.index_tail, st.index_linked,
             live);
    /* Removed nodes are never returned, even for their own vectors. */
    cogmem_recall_params p;
    cogmem_recall_params_init(&p);
    p.approximate = 1;
    p.ef = 64;
    cogmem_recall_hit h[10];
    size_t n;
    uint64_t before = atomic_load(&deaths);
    for (uint32_t i = 1; i < NPOINTS; i += 3) {
        cogmem_recall(store, points + (size_t)i * DIM, COGMEM_ALL_KINDS, 10, &p, h, &n);
        check_hits(h, n, before);
    }
    printf("adds %" PRIu64 ", removes %" PRIu64 ", replaces %" PRIu64 ", searches %" PRIu64
           "; live %" PRIu64 ", linked %" PRIu64 ", visits %" PRIu64 ", repairs %" PRIu64
           ", fallbacks %" PRIu64 "\n",
           atomic_load(&adds), atomic_load(&removes), atomic_load(&replaces),
           atomic_load(&searches), live, st.index_linked, st.index_visits, st.index_repairs,
           st.index_fallbacks);
}

int main(int argc, char **argv)
{
    unsigned seconds = 3;
    const char *env = getenv("COGMEM_STRESS_SECONDS");
    if (env && atoi(env) > 0)
        seconds = (unsigned)atoi(env);
    unsigned per_cpu = 1;
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--seconds"))
            seconds = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--per-cpu") && atoi(argv[i + 1]) > 0)
            per_cpu = (unsigned)atoi(argv[++i]);
    points = malloc(sizeof(float) * NPOINTS * DIM);
    if (!points || clu_init(&gen, DIM, 32, 0.5f, 99))
        return 2;
    for (uint32_t i = 0; i < NPOINTS; i++)
        clu_point(&gen, points + (size_t)i * DIM);
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = DIM;
    cfg.index = 1;
    cfg.index_m = 8;
    cfg.index_ef_construction = 48;
    if (cogmem_open(&cfg, &store))
        return 2;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned per = (cpus > 1 ? (unsigned)cpus : 1) * per_cpu, nt = 4 * per;
    pthread_t *t = calloc(nt, sizeof *t);
    void *(*role[4])(void *) = {inserter, remover, replacer, searcher};
    for (unsigned i = 0; i < nt; i++)
        if (pthread_create(&t[i], NULL, role[i % 4], (void *)(uintptr_t)(i + 1)))
            return 2;
    struct timespec ts = {.tv_sec = seconds};
    nanosleep(&ts, NULL);
    atomic_store(&stop, 1);
    for (unsigned i = 0; i < nt; i++)
        pthread_join(t[i], NULL);
    final_checks();
    free(t);
    if (cogmem_close(&store))
        FAIL("close");
    free(points);
    clu_fini(&gen);
    uint64_t f = atomic_load(&failures);
    if (f)
        fprintf(stderr, "%" PRIu64 " failures\n", f);
    return f ? 1 : 0;
}
