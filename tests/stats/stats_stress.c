/* cogmem — statistics under load: while worker threads add, remove,
 * replace and look up, a reader thread polls cogmem_stats_get and checks
 * that no counter (per kind, per shard) and no latency sample count ever
 * goes down, and that each read's kind totals are its shard sums. At
 * quiescence every counter equals what the workers did.
 *
 * Runs for $COGMEM_STRESS_SECONDS (default 3) seconds.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "src/store.h"

#define DIM 16
#define KEYS_PER_THREAD 512

static cogmem_store *store;
static _Atomic int stop;
static _Atomic unsigned long failures;

struct worker {
    pthread_t tid;
    unsigned idx;
    uint64_t rng;
    /* [kind]: what this thread did successfully / looked up */
    uint64_t adds[2], removes[2], lookups[2], hits[2], replacements;
    unsigned char *live; /* per own key: 0 none, 1 concept, 2 episode */
};

static uint64_t next_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static void fail(const char *what)
{
    fprintf(stderr, "stats_stress: %s\n", what);
    atomic_fetch_add(&failures, 1);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    float v[DIM];
    for (int i = 0; i < DIM; i++)
        v[i] = 1.0f + (float)w->idx;
    unsigned nthreads_keys = KEYS_PER_THREAD;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        uint64_t r = next_rand(&w->rng);
        unsigned slot = (unsigned)(r >> 8) % nthreads_keys;
        uint64_t id = 1 + (uint64_t)w->idx * KEYS_PER_THREAD + slot;
        switch (r % 8) {
        case 0: /* add, as a concept or an episode */
            if (!w->live[slot]) {
                int k = (int)((r >> 40) & 1);
                int rc = k ? cogmem_episode_add(store, id, v, 1)
                           : cogmem_concept_add(store, id, v);
                if (rc)
                    fail("add");
                w->live[slot] = (unsigned char)(k + 1);
                w->adds[k]++;
            }
            break;
        case 1: /* remove */
            if (w->live[slot]) {
                int k = w->live[slot] - 1;
                int rc = k ? cogmem_episode_remove(store, id)
                           : cogmem_concept_remove(store, id);
                if (rc)
                    fail("remove");
                w->live[slot] = 0;
                w->removes[k]++;
            }
            break;
        case 2: /* replace */
            if (w->live[slot] == 1) {
                if (cogmem_concept_set_centroid(store, id, v))
                    fail("replace");
                w->replacements++;
            }
            break;
        default: { /* lookups of any thread's keys, hit or miss */
            uint64_t any = 1 + (r >> 16) % (KEYS_PER_THREAD * 8);
            if (r & 0x10) {
                struct cogmem_concept_info ci;
                w->hits[0] += cogmem_concept_info(store, any, &ci) == 0;
                w->lookups[0]++;
            } else {
                struct cogmem_episode_info ei;
                w->hits[1] += cogmem_episode_info(store, any, &ei) == 0;
                w->lookups[1]++;
            }
        }
        }
    }
    return NULL;
}

static cogmem_stats prev, cur;
static unsigned long reads;

static void check_monotonic(void)
{
    for (int k = 0; k < 2; k++) {
        const cogmem_stats_kind *P = &prev.kind[k], *C = &cur.kind[k];
        uint64_t sum = 0;
        for (unsigned i = 0; i < COGMEM_STATS_SHARDS; i++) {
            const cogmem_stats_shard *p = &P->shard[i], *c = &C->shard[i];
            if (c->lookups < p->lookups || c->hits < p->hits || c->misses < p->misses ||
                c->adds < p->adds || c->removes < p->removes ||
                c->replacements < p->replacements)
                fail("a shard counter went down");
            if (c->lookups != c->hits + c->misses)
                fail("shard lookups != hits + misses");
            sum += c->adds;
        }
        if (sum != C->adds)
            fail("kind adds != sum of its shards");
    }
    for (int op = 0; op < COGMEM_OP_COUNT; op++)
        if (cur.latency[op].samples < prev.latency[op].samples)
            fail("latency samples went down");
    prev = cur;
}

static void *reader_main(void *arg)
{
    (void)arg;
    prev.struct_size = sizeof prev;
    if (cogmem_stats_get(store, &prev))
        fail("stats_get");
    char *buf = malloc(1 << 20);
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        cur.struct_size = sizeof cur;
        if (cogmem_stats_get(store, &cur))
            fail("stats_get");
        check_monotonic();
        /* The formatter runs concurrently too (sanitizer builds see it). */
        if (buf && (reads & 63) == 0 &&
            cogmem_stats_format(store, COGMEM_FMT_PROMETHEUS, buf, 1 << 20, NULL))
            fail("stats_format");
        reads++;
    }
    free(buf);
    return NULL;
}

int main(void)
{
    unsigned seconds = 3;
    const char *env = getenv("COGMEM_STRESS_SECONDS");
    if (env && atoi(env) > 0)
        seconds = (unsigned)atoi(env);
    long np = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned n = np > 1 ? (unsigned)np : 2;

    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = DIM;
    if (cogmem_open(&cfg, &store))
        return 1;
    struct worker *w = calloc(n, sizeof *w);
    if (!w)
        return 1;
    for (unsigned t = 0; t < n; t++) {
        w[t].idx = t;
        w[t].rng = 12345 + t;
        w[t].live = calloc(KEYS_PER_THREAD, 1);
        if (!w[t].live)
            return 1;
        pthread_create(&w[t].tid, NULL, worker_main, &w[t]);
    }
    pthread_t reader;
    pthread_create(&reader, NULL, reader_main, NULL);
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += seconds;
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &end, NULL) != 0)
        ;
    atomic_store(&stop, 1);
    for (unsigned t = 0; t < n; t++)
        pthread_join(w[t].tid, NULL);
    pthread_join(reader, NULL);
    cogmem__rcu_barrier();

    /* Quiescence: exact. */
    cogmem_stats s;
    s.struct_size = sizeof s;
    if (cogmem_stats_get(store, &s))
        return 1;
    uint64_t want[2][5] = {{0}};
    uint64_t ops = 0;
    for (unsigned t = 0; t < n; t++)
        for (int k = 0; k < 2; k++) {
            want[k][0] += w[t].adds[k];
            want[k][1] += w[t].removes[k];
            want[k][2] += w[t].lookups[k];
            want[k][3] += w[t].hits[k];
            want[k][4] += k == 0 ? w[t].replacements : 0;
            ops += w[t].adds[k] + w[t].removes[k] + w[t].lookups[k];
        }
    for (int k = 0; k < 2; k++) {
        const cogmem_stats_kind *K = &s.kind[k];
        const uint64_t got[5] = {K->adds, K->removes, K->lookups, K->hits, K->replacements};
        static const char *const name[5] = {"adds", "removes", "lookups", "hits",
                                            "replacements"};
        for (int i = 0; i < 5; i++)
            if (got[i] != want[k][i]) {
                fprintf(stderr, "stats_stress: kind %d %s: %llu, workers did %llu\n", k,
                        name[i], (unsigned long long)got[i], (unsigned long long)want[k][i]);
                atomic_fetch_add(&failures, 1);
            }
        if (K->nodes != want[k][0] - want[k][1])
            fail("nodes != adds - removes");
        if (K->deferred_frees_pending != 0)
            fail("deferred frees pending after a barrier");
        if (K->vectors_referenced != 0)
            fail("vector references left");
    }
    printf("stats_stress: %u threads, %u s, %llu operations, %lu stats reads, %llu lookups "
           "timed, %lu failures\n",
           n, seconds, (unsigned long long)ops, reads,
           (unsigned long long)s.latency[COGMEM_OP_LOOKUP].samples,
           atomic_load(&failures));
    if (reads < 2)
        fail("the reader never ran");
    for (unsigned t = 0; t < n; t++)
        free(w[t].live);
    free(w);
    if (cogmem_close(&store))
        return 1;
    return atomic_load(&failures) ? 1 : 0;
}
