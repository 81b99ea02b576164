/* cogmem — recallers beside writers: the concurrency guarantees of
 * cogmem_recall.h, checked while nodes are added, replaced and removed.
 *
 *   stress_recall [--seconds S] [--keys K] [--writers W] [--recallers R]
 *
 * Bounded by --seconds (default $COGMEM_STRESS_SECONDS, else 5).
 *
 * Keys 1..K belong to writer (key % W); each writer alone adds, removes,
 * replaces and blends its keys, and publishes every key's life as a
 * generation counter: 4g GONE, 4g+1 ADDING, 4g+2 LIVE, 4g+3 REMOVING (the
 * counter is stored with release after the operation returned, or before it
 * started). A recaller reads all counters (acquire) before and after each
 * recall with k = K, which returns every counted node, and checks:
 *  - a key LIVE with the same generation before and after was returned
 *    (added before the call, not removed during it);
 *  - a key GONE with the same generation before and after was not returned
 *    (removed before the call, not re-added during it);
 *  - no id appears twice, each hit's kind is the key's kind;
 *  - each score belongs to a vector that key had: every vector of key x has
 *    all elements equal to c = x * 1000 + v (v < 1000), so with the dot
 *    metric against the all-ones query the score is exactly dim * c, which
 *    also catches a row read while being reused for another key.
 * Recallers take every path: single, batch on the caller, batch on two
 * threads, and the bf16 scan (whose candidates, k * 4, hold every row).
 * A holder thread keeps references to random vectors for a while (so that
 * replaced and removed rows stay around and scans meet REPLACED rows) and
 * checks that held data never changes. At the end, at quiescence, a recall
 * must return exactly the live keys.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cogmem.h"

#define DIM 16

static struct {
    unsigned seconds, writers, recallers;
    uint32_t keys;
} opt = {5, 2, 2, 600};

static cogmem_store *store;
static _Atomic int stop;
static _Atomic uint64_t failures, recalls, found_checks, gone_checks;
static _Atomic uint64_t *gen;

#define FAIL(...)                                                              \
    do {                                                                       \
        fprintf(stderr, __VA_ARGS__);                                          \
        fputc('\n', stderr);                                                   \
        atomic_fetch_add_explicit(&failures, 1, memory_order_relaxed);         \
    } while (0)

static uint64_t xs(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static int kind_of_key(uint64_t x) { return x % 3 == 0 ? COGMEM_EPISODE : COGMEM_CONCEPT; }

static void fill_c(float *v, float c)
{
    for (int i = 0; i < DIM; i++)
        v[i] = c;
}

static void *writer(void *arg)
{
    unsigned w = (unsigned)(uintptr_t)arg;
    uint64_t s = 0x1234567ull * (w + 1);
    uint32_t *ver = calloc(opt.keys + 1, sizeof *ver);
    float v[DIM];
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        uint64_t x = 1 + xs(&s) % opt.keys;
        if (x % opt.writers != w)
            continue;
        uint64_t g = atomic_load_explicit(&gen[x], memory_order_relaxed);
        int kind = kind_of_key(x);
        if (g % 4 == 0) {
            atomic_store_explicit(&gen[x], g + 1, memory_order_release);
            ver[x] = (ver[x] + 1) % 1000;
            fill_c(v, (float)(x * 1000 + ver[x]));
            int rc = kind == COGMEM_CONCEPT ? cogmem_concept_add(store, x, v)
                                            : cogmem_episode_add(store, x, v, 1);
            if (rc)
                FAIL("add %" PRIu64 ": %d", x, rc);
            /* Release: a recaller that reads LIVE starts after the add. */
            atomic_store_explicit(&gen[x], g + 2, memory_order_release);
        } else if (xs(&s) % 3 == 0) {
            atomic_store_explicit(&gen[x], g + 1, memory_order_release);
            int rc = kind == COGMEM_CONCEPT ? cogmem_concept_remove(store, x)
                                            : cogmem_episode_remove(store, x);
            if (rc)
                FAIL("remove %" PRIu64 ": %d", x, rc);
            atomic_store_explicit(&gen[x], g + 2, memory_order_release);
        } else if (kind == COGMEM_CONCEPT) {
            ver[x] = (ver[x] + 1) % 1000;
            fill_c(v, (float)(x * 1000 + ver[x]));
            /* rate 1 blends to exactly v: still a vector of the key's form */
            int rc = xs(&s) % 2 ? cogmem_concept_set_centroid(store, x, v)
                                : cogmem_concept_blend(store, x, v, 1.0f);
            if (rc)
                FAIL("replace %" PRIu64 ": %d", x, rc);
        }
    }
    free(ver);
    return NULL;
}

static void *holder(void *arg)
{
    (void)arg;
    uint64_t s = 99;
    const cogmem_vec *held[8] = {0};
    float first[8];
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        unsigned i = (unsigned)(xs(&s) % 8);
        if (held[i]) {
            const float *d = cogmem_vec_data(held[i]);
            for (int j = 0; j < DIM; j++)
                if (d[j] != first[i])
                    FAIL("held vector changed");
            cogmem_vec_put(held[i]);
            held[i] = NULL;
        }
        if (cogmem_vec_get(store, 1 + xs(&s) % opt.keys, &held[i]) == 0)
            first[i] = cogmem_vec_data(held[i])[0];
    }
    for (unsigned i = 0; i < 8; i++)
        cogmem_vec_put(held[i]);
    return NULL;
}

/* Check one result against the generations read before and after. */
static void check(const cogmem_recall_hit *h, size_t nh, const uint64_t *g0,
                  const uint64_t *g1, uint8_t *seen)
{
    memset(seen, 0, opt.keys + 1);
    for (size_t i = 0; i < nh; i++) {
        uint64_t x = h[i].id;
        if (x == 0 || x > opt.keys) {
            FAIL("unknown id %" PRIu64, x);
            continue;
        }
        if (seen[x]++)
            FAIL("id %" PRIu64 " twice", x);
        if (h[i].kind != kind_of_key(x))
            FAIL("id %" PRIu64 " kind %d", x, h[i].kind);
        double c = h[i].score / (double)DIM;
        if (c != floor(c) || (uint64_t)c / 1000 != x)
            FAIL("id %" PRIu64 " score %g is not one of its vectors", x, h[i].score);
    }
    for (uint64_t x = 1; x <= opt.keys; x++) {
        if (g0[x] != g1[x])
            continue;
        if (g0[x] % 4 == 2) {
            atomic_fetch_add_explicit(&found_checks, 1, memory_order_relaxed);
            if (!seen[x])
                FAIL("live key %" PRIu64 " (gen %" PRIu64 ") not returned", x, g0[x]);
        } else if (g0[x] % 4 == 0) {
            atomic_fetch_add_explicit(&gone_checks, 1, memory_order_relaxed);
            if (seen[x])
                FAIL("removed key %" PRIu64 " (gen %" PRIu64 ") returned", x, g0[x]);
        }
    }
}

static void *recaller(void *arg)
{
    unsigned r = (unsigned)(uintptr_t)arg;
    size_t k = opt.keys;
    cogmem_recall_hit *h = calloc(2 * k, sizeof *h);
    uint64_t *g0 = calloc(opt.keys + 1, sizeof *g0), *g1 = calloc(opt.keys + 1, sizeof *g1);
    uint8_t *seen = calloc(opt.keys + 1, 1);
    float q[2 * DIM];
    fill_c(q, 1.0f);
    fill_c(q + DIM, 1.0f);
    cogmem_recall_params p;
    cogmem_recall_params_init(&p);
    p.metric = COGMEM_METRIC_DOT;
    for (unsigned it = 0; !atomic_load_explicit(&stop, memory_order_relaxed); it++) {
        for (uint64_t x = 1; x <= opt.keys; x++)
            g0[x] = atomic_load_explicit(&gen[x], memory_order_acquire);
        size_t nh[2];
        int rc;
        unsigned mode = (it + r) % 4;
        p.bf16 = mode == 3; /* bf16 scan; k * 4 candidates hold every row */
        if (mode == 0 || mode == 3) {
            rc = cogmem_recall(store, q, COGMEM_ALL_KINDS, k, &p, h, &nh[0]);
        } else {
            /* batch of two, on the caller (mode 1) or on two threads */
            p.threads = 2;
            p.parallel_min_work = mode == 1 ? UINT64_MAX : 0;
            rc = cogmem_recall_batch(store, q, 2, COGMEM_ALL_KINDS, k, &p, h, nh);
        }
        for (uint64_t x = 1; x <= opt.keys; x++)
            g1[x] = atomic_load_explicit(&gen[x], memory_order_acquire);
        if (rc) {
            FAIL("recall: %d", rc);
            continue;
        }
        check(h, nh[0], g0, g1, seen);
        if (mode == 1 || mode == 2)
            check(h + k, nh[1], g0, g1, seen);
        atomic_fetch_add_explicit(&recalls, 1, memory_order_relaxed);
    }
    free(h);
    free(g0);
    free(g1);
    free(seen);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *env = getenv("COGMEM_STRESS_SECONDS");
    if (env && atoi(env) > 0)
        opt.seconds = (unsigned)atoi(env);
    for (int i = 1; i + 1 < argc; i += 2) {
        unsigned v = (unsigned)strtoul(argv[i + 1], NULL, 10);
        if (!strcmp(argv[i], "--seconds")) opt.seconds = v;
        else if (!strcmp(argv[i], "--keys")) opt.keys = v;
        else if (!strcmp(argv[i], "--writers")) opt.writers = v ? v : 1;
        else if (!strcmp(argv[i], "--recallers")) opt.recallers = v ? v : 1;
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = DIM;
    cfg.bf16_rows = 1; /* so that recallers can also take the bf16 path */
    if (cogmem_open(&cfg, &store))
        return 1;
    gen = calloc(opt.keys + 1, sizeof *gen);
    pthread_t th[64];
    unsigned nt = 0;
    for (unsigned w = 0; w < opt.writers && nt < 62; w++)
        pthread_create(&th[nt++], NULL, writer, (void *)(uintptr_t)w);
    for (unsigned r = 0; r < opt.recallers && nt < 63; r++)
        pthread_create(&th[nt++], NULL, recaller, (void *)(uintptr_t)r);
    pthread_create(&th[nt++], NULL, holder, NULL);
    struct timespec ts = {.tv_sec = opt.seconds};
    nanosleep(&ts, NULL);
    atomic_store(&stop, 1);
    for (unsigned i = 0; i < nt; i++)
        pthread_join(th[i], NULL);

    /* Quiescence: exactly the live keys, with their current vectors. */
    cogmem_recall_hit *h = calloc(opt.keys, sizeof *h);
    float q[DIM];
    fill_c(q, 1.0f);
    cogmem_recall_params p;
    cogmem_recall_params_init(&p);
    p.metric = COGMEM_METRIC_DOT;
    size_t nh;
    if (cogmem_recall(store, q, COGMEM_ALL_KINDS, opt.keys, &p, h, &nh))
        FAIL("final recall");
    size_t live = 0;
    for (uint64_t x = 1; x <= opt.keys; x++)
        live += gen[x] % 4 == 2;
    if (nh != live)
        FAIL("final recall: %zu hits, %zu live", nh, live);
    for (size_t i = 0; i < nh; i++) {
        const cogmem_vec *v;
        if (cogmem_vec_get(store, h[i].id, &v)) {
            FAIL("final hit %" PRIu64 " not live", h[i].id);
            continue;
        }
        if (h[i].score != cogmem_vec_data(v)[0] * DIM)
            FAIL("final hit %" PRIu64 ": stale score", h[i].id);
        cogmem_vec_put(v);
    }
    free(h);
    if (cogmem_close(&store))
        FAIL("close");
    free(gen);
    uint64_t f = atomic_load(&failures);
    printf("recalls %" PRIu64 ", found-checks %" PRIu64 ", gone-checks %" PRIu64
           ", failures %" PRIu64 "\n",
           atomic_load(&recalls), atomic_load(&found_checks), atomic_load(&gone_checks), f);
    return f || atomic_load(&recalls) == 0 ? 1 : 0;
}
