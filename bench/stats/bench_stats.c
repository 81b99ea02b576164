/* cogmem — what statistics cost a lookup.
 *
 *   bench_stats [--keys N] [--rounds R] [--threads T]
 *
 * One store holds N concepts (dim 16). Statistics are a run-time switch
 * (cogmem_config.stats at open); to compare the three settings on the
 * very same memory, the benchmark flips the store's switch between rounds
 * while no lookup runs (the internal fields cogmem_open sets from
 * cfg.stats): statistics off, counters only, counters + sampled latency
 * (the default). Rounds alternate the settings (off, counters, both, off,
 * ...), each round doing the same random hit/miss mix of
 * cogmem_concept_info calls on T threads. Reported: the median round per
 * setting in ns per lookup (thread CPU time), and the median over rounds
 * of each setting's ratio to the "off" round next to it in time, which
 * cancels drift from other load on the machine better than a ratio of
 * medians.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/store.h"

#define DIM 16
#define OPS_PER_ROUND 500000u
#define MAX_THREADS 64

static uint64_t keys = 100000;
static unsigned rounds = 41, threads = 1;

static cogmem_store *store;
static const unsigned modes[3] = {0, COGMEM_STATS_COUNTERS,
                                  COGMEM_STATS_COUNTERS | COGMEM_STATS_LATENCY};
static const char *const mode_name[3] = {"stats off", "counters", "counters+latency"};

struct job {
    cogmem_store *s;
    uint64_t seed;
    double ns; /* thread CPU ns per lookup */
    uint64_t hits;
};

static uint64_t next_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void *run(void *arg)
{
    struct job *j = arg;
    struct cogmem_concept_info ci;
    uint64_t rng = j->seed, hits = 0;
    double t0 = cpu_ns();
    for (unsigned i = 0; i < OPS_PER_ROUND; i++) {
        /* 7 in 8 ids exist: mostly hits, some misses, as a host sees. */
        uint64_t id = 1 + next_rand(&rng) % (keys + keys / 7);
        hits += cogmem_concept_info(j->s, id, &ci) == 0;
    }
    j->ns = (cpu_ns() - t0) / OPS_PER_ROUND;
    j->hits = hits;
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--keys")) keys = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--rounds")) rounds = (unsigned)atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = (unsigned)atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: bench_stats [--keys N] [--rounds R] [--threads T]\n");
            return 2;
        }
    }
    if (keys == 0 || rounds == 0 || threads == 0 || threads > MAX_THREADS)
        return 2;
    float v[DIM];
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = DIM;
    cfg.expected_concepts = keys;
    if (cogmem_open(&cfg, &store))
        return 1;
    for (uint64_t id = 1; id <= keys; id++) {
        for (int d = 0; d < DIM; d++)
            v[d] = (float)(id + (uint64_t)d);
        if (cogmem_concept_add(store, id, v))
            return 1;
    }
    double *ns[3], *ratio[3];
    for (int m = 0; m < 3; m++)
        if (!(ns[m] = calloc(rounds, sizeof(double))) ||
            !(ratio[m] = calloc(rounds, sizeof(double))))
            return 1;
    for (unsigned r = 0; r < rounds; r++)
        for (int m = 0; m < 3; m++) {
            pthread_t tid[MAX_THREADS];
            struct job jobs[MAX_THREADS];
            /* No lookup runs now; pthread_create orders these stores
             * before the workers' reads. */
            store->stats.flags = modes[m];
            for (int k = 0; k < 2; k++)
                store->sets[k].kind.counting = (modes[m] & COGMEM_STATS_COUNTERS) != 0;
            for (unsigned t = 0; t < threads; t++) {
                /* Same id streams for every setting in a round. */
                jobs[t] = (struct job){store, 1000u * r + t, 0, 0};
                pthread_create(&tid[t], NULL, run, &jobs[t]);
            }
            double sum = 0;
            for (unsigned t = 0; t < threads; t++) {
                pthread_join(tid[t], NULL);
                sum += jobs[t].ns;
            }
            ns[m][r] = sum / threads;
            ratio[m][r] = ns[m][r] / ns[0][r];
        }
    printf("bench_stats: %llu concepts, %u threads, %u rounds of %u lookups per thread, "
           "median round\n", (unsigned long long)keys, threads, rounds, OPS_PER_ROUND);
    for (int m = 0; m < 3; m++) {
        qsort(ns[m], rounds, sizeof(double), cmp_double);
        qsort(ratio[m], rounds, sizeof(double), cmp_double);
        double q = ratio[m][rounds / 2];
        printf("  %-18s %7.1f ns/lookup  %.3f x stats off (%+.1f%%)  [ratio quartiles "
               "%.3f..%.3f]\n", mode_name[m], ns[m][rounds / 2], q, (q - 1.0) * 100.0,
               ratio[m][rounds / 4], ratio[m][3 * rounds / 4]);
        free(ns[m]);
        free(ratio[m]);
    }
    cogmem_stats st;
    st.struct_size = sizeof st;
    if (cogmem_stats_get(store, &st) == 0)
        printf("  counted: %llu lookups, %llu timed, p50 %llu ns, p99 %llu ns\n",
               (unsigned long long)st.kind[0].lookups,
               (unsigned long long)st.latency[COGMEM_OP_LOOKUP].samples,
               (unsigned long long)st.latency[COGMEM_OP_LOOKUP].p50_ns,
               (unsigned long long)st.latency[COGMEM_OP_LOOKUP].p99_ns);
    cogmem_close(&store);
    return 0;
}
