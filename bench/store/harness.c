/* bench/store — harness: keys, op streams, threads, timing, output.
 *
 * Usage: PROGRAM [--map NAME] [--n N] [--secs S] [--warm S] [--threads 1,2]
 *                [--dim D] [--workloads info,vec,mix90,mix50,batch,kind,fan]
 *                [--batch B] [--rep R] [--seed X] [--serve]
 *
 * Without --serve the program loads the map and runs every (workload,
 * threads) cell once. With --serve it loads the map, prints "# ready" and
 * then runs one cell per line read from stdin, "WORKLOAD THREADS REP"
 * (the cells of a map that does not offer the workload print nothing but
 * "# skip"), until end of input. That lets a driver keep every map loaded
 * in its own idle process and alternate them cell by cell, so that the
 * drift of a shared machine falls on all maps alike (see run.py).
 *
 * Workloads (a "read" is the map's info lookup, a "write" replaces the
 * key's vector, i.e. cogmem_concept_set_centroid and its peer equivalent):
 *   info   lookups that copy the key's 64-byte record out
 *   vec    take a reference to the key's vector and drop it
 *   mix90  90 % info, 10 % set_centroid
 *   mix50  50 % info, 50 % set_centroid
 *   batch  info for --batch consecutive keys of the stream per call
 *          (only maps that offer a batch lookup)
 * Writes replace vectors rather than add/remove keys so that the key set,
 * and so every map's table size and hit rate, stays fixed for the whole
 * run; every write still allocates a vector and retires the old one.
 *
 * Output: one line per cell,
 *   RESULT map=.. workload=.. n=.. threads=.. dim=.. batch=.. secs=..
 *          ops=.. mops=.. ns_op=.. errors=.. rep=..
 * where mops is the sum over threads of each thread's ops/s and ns_op the
 * mean time one thread spends per op (threads * 1000 / mops). Worker t of
 * repetition r runs pinned to CPU (t + r) mod N (see Placement).
 */
#include "harness.h"
#include "../pin.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum workload { W_INFO, W_VEC, W_MIX90, W_MIX50, W_BATCH, W_KIND, W_FAN, W_COUNT };
static const char *const wl_name[W_COUNT] = {"info", "vec", "mix90", "mix50",
                                             "batch", "kind", "fan"};
static const unsigned wl_write_pct[W_COUNT] = {0, 0, 10, 50, 0, 0, 0};

/* Keys per thread stream: 16 MiB of ids, far more than one cell's warm-up
 * touches on the small table and larger than the last-level cache, so
 * reading the stream costs every map the same (sequential, prefetched). */
#define STREAM_LEN (1u << 21)
/* Ops between two looks at the phase flag: a few microseconds. */
#define CHUNK 64u
#define MAX_THREADS 64u
#define MAX_BATCH 4096u
/* Distinct vectors written by set_centroid (and used by the load). */
#define VEC_POOL 256u

enum phase { PH_WARM, PH_RUN, PH_STOP };

struct opts {
    const char *map;
    uint64_t n;
    double secs, warm;
    unsigned threads[MAX_THREADS];
    size_t n_threads;
    uint32_t dim;
    unsigned wl_mask;
    size_t batch;
    unsigned rep;
    uint64_t seed;
    int serve;
};

/* The state one cell's threads share. */
struct cell {
    const struct bench_map *map;
    void *m;
    enum workload wl;
    size_t batch;
    const float *pool;
    uint32_t dim;
    _Atomic int phase;
    pthread_barrier_t start;
};

struct worker {
    struct cell *c;
    const uint64_t *keys; /* STREAM_LEN ids */
    const uint8_t *dice;  /* STREAM_LEN values in [0, 100): write if < pct */
    void *out;            /* MAX_BATCH * BENCH_INFO_MAX bytes, 64-aligned */
    uint64_t ops, errors;
    double secs;
    unsigned cpu;         /* bench_pin_self's k: thread + repetition */
    pthread_t tid;
};

/* Placement (why: bench/pin.h). Worker t of repetition r runs on CPU
 * (t + r) mod N, the same for every map, so every map's cell r runs on
 * the same CPUs and the repetitions cover all of them. */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* splitmix64: the PRNG for key choice, dice and vectors. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The i-th loaded key (0 <= i < n). splitmix64's finaliser is a bijection
 * of uint64 that maps only 0 to 0, so keys are distinct, never 0, and
 * scattered: no map gets sequential ids it could place in order. */
static uint64_t key_of(uint64_t i)
{
    uint64_t z = i + 1;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void *xalloc(size_t align, size_t bytes)
{
    bytes = (bytes + align - 1) / align * align;
    void *p = aligned_alloc(align, bytes);
    if (!p) {
        fprintf(stderr, "bench: out of memory (%zu bytes)\n", bytes);
        exit(2);
    }
    return p;
}

/* ------------------------------------------------------------ workers */

/* One chunk of ops from position *pos of the worker's stream; returns how
 * many ops it did. */
static uint64_t run_chunk(struct worker *w, size_t *pos)
{
    struct cell *c = w->c;
    const struct bench_map *mp = c->map;
    void *m = c->m;
    size_t p = *pos;
    uint64_t err = 0;
    uint64_t done = CHUNK;

    switch (c->wl) {
    case W_INFO:
        for (unsigned k = 0; k < CHUNK; k++) {
            err += mp->info(m, w->keys[p], w->out) != 0;
            p = (p + 1) & (STREAM_LEN - 1);
        }
        break;
    case W_KIND:
        for (unsigned k = 0; k < CHUNK; k++) {
            err += mp->kind_of(m, w->keys[p]) != 0;
            p = (p + 1) & (STREAM_LEN - 1);
        }
        break;
    case W_FAN: {
        uint32_t fan = 0;
        for (unsigned k = 0; k < CHUNK; k++) {
            err += mp->fan_out(m, w->keys[p], &fan) != 0;
            p = (p + 1) & (STREAM_LEN - 1);
        }
        memcpy(w->out, &fan, sizeof fan); /* keeps the reads */
        break;
    }
    case W_VEC:
        for (unsigned k = 0; k < CHUNK; k++) {
            err += mp->vec_get_put(m, w->keys[p]) != 0;
            p = (p + 1) & (STREAM_LEN - 1);
        }
        break;
    case W_MIX90:
    case W_MIX50: {
        unsigned pct = wl_write_pct[c->wl];
        for (unsigned k = 0; k < CHUNK; k++) {
            uint64_t id = w->keys[p];
            if (w->dice[p] < pct)
                err += mp->set_centroid(m, id, c->pool + (size_t)(p % VEC_POOL) * c->dim) != 0;
            else
                err += mp->info(m, id, w->out) != 0;
            p = (p + 1) & (STREAM_LEN - 1);
        }
        break;
    }
    case W_BATCH: {
        size_t b = c->batch, found = 0;
        if (p + b > STREAM_LEN)
            p = 0;
        err += mp->info_batch(m, w->keys + p, b, w->out, &found) != 0;
        err += b - found;
        p += b;
        done = b;
        break;
    }
    case W_COUNT:
        break;
    }
    w->errors += err;
    *pos = p;
    return done;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct cell *c = w->c;
    size_t pos = 0;
    uint64_t ops = 0;
    bench_pin_self(w->cpu);
    pthread_barrier_wait(&c->start);
    /* Relaxed loads of the phase: it publishes no data (the results travel
     * back through pthread_join), and a late look only lengthens a phase by
     * one chunk. */
    while (atomic_load_explicit(&c->phase, memory_order_relaxed) == PH_WARM)
        run_chunk(w, &pos);
    double t0 = now_s();
    while (atomic_load_explicit(&c->phase, memory_order_relaxed) == PH_RUN)
        ops += run_chunk(w, &pos);
    w->secs = now_s() - t0;
    w->ops = ops;
    return NULL;
}

/* ---------------------------------------------------------------- load */

struct loader {
    const struct bench_map *map;
    void *m;
    uint64_t lo, hi;
    const float *pool;
    uint32_t dim;
    uint64_t errors;
    pthread_t tid;
};

static void *loader_main(void *arg)
{
    struct loader *l = arg;
    for (uint64_t i = l->lo; i < l->hi; i++)
        l->errors += l->map->add(l->m, key_of(i),
                                 l->pool + (size_t)(i % VEC_POOL) * l->dim) != 0;
    return NULL;
}

static uint64_t load(const struct bench_map *map, void *m, uint64_t n,
                     const float *pool, uint32_t dim, unsigned nthreads)
{
    struct loader l[MAX_THREADS];
    uint64_t errors = 0;
    for (unsigned t = 0; t < nthreads; t++) {
        l[t] = (struct loader){map, m, n * t / nthreads, n * (t + 1) / nthreads,
                               pool, dim, 0, 0};
        if (pthread_create(&l[t].tid, NULL, loader_main, &l[t]) != 0) {
            fprintf(stderr, "bench: pthread_create failed\n");
            exit(2);
        }
    }
    for (unsigned t = 0; t < nthreads; t++) {
        pthread_join(l[t].tid, NULL);
        errors += l[t].errors;
    }
    return errors;
}

/* ---------------------------------------------------------------- cells */

static uint64_t run_cell(const struct opts *o, const struct bench_map *map,
                         void *m, enum workload wl, unsigned threads, unsigned rep,
                         const float *pool, uint64_t *const *keys,
                         uint8_t *const *dice, void *const *outs)
{
    struct cell c = {.map = map, .m = m, .wl = wl,
                     .batch = wl == W_BATCH ? o->batch : 1,
                     .pool = pool, .dim = o->dim};
    atomic_init(&c.phase, PH_WARM);
    pthread_barrier_init(&c.start, NULL, threads + 1);
    struct worker w[MAX_THREADS];
    for (unsigned t = 0; t < threads; t++) {
        /* Thread t reads stream t in every cell and every map: the same
         * keys in the same order, whatever the map. */
        w[t] = (struct worker){.c = &c, .keys = keys[t], .dice = dice[t],
                               .out = outs[t], .cpu = t + rep};
        if (pthread_create(&w[t].tid, NULL, worker_main, &w[t]) != 0) {
            fprintf(stderr, "bench: pthread_create failed\n");
            exit(2);
        }
    }
    pthread_barrier_wait(&c.start);
    sleep_s(o->warm);
    atomic_store_explicit(&c.phase, PH_RUN, memory_order_relaxed);
    sleep_s(o->secs);
    atomic_store_explicit(&c.phase, PH_STOP, memory_order_relaxed);

    uint64_t ops = 0, errors = 0;
    double mops = 0.0, secs = 0.0;
    for (unsigned t = 0; t < threads; t++) {
        pthread_join(w[t].tid, NULL);
        ops += w[t].ops;
        errors += w[t].errors;
        if (w[t].secs > 0.0)
            mops += (double)w[t].ops / w[t].secs * 1e-6;
        if (w[t].secs > secs)
            secs = w[t].secs;
    }
    pthread_barrier_destroy(&c.start);
    double ns_op = mops > 0.0 ? (double)threads * 1e3 / mops : 0.0;
    printf("RESULT map=%s workload=%s n=%llu threads=%u dim=%u batch=%zu "
           "secs=%.3f ops=%llu mops=%.3f ns_op=%.2f errors=%llu rep=%u\n",
           map->name, wl_name[wl], (unsigned long long)o->n, threads, o->dim,
           c.batch, secs, (unsigned long long)ops, mops, ns_op,
           (unsigned long long)errors, rep);
    fflush(stdout);
    return errors;
}

/* ---------------------------------------------------------------- options */

static void usage(const char *prog, const struct bench_map *const *maps,
                  size_t n_maps)
{
    fprintf(stderr,
            "usage: %s [--map NAME] [--n N] [--secs S] [--warm S] "
            "[--threads 1,2] [--dim D]\n"
            "       [--workloads info,vec,mix90,mix50,batch,kind,fan] [--batch B] "
            "[--rep R] [--seed X] [--serve]\nmaps:",
            prog);
    for (size_t i = 0; i < n_maps; i++)
        fprintf(stderr, " %s", maps[i]->name);
    fputc('\n', stderr);
    exit(2);
}

static unsigned parse_workloads(const char *s)
{
    unsigned mask = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        unsigned i;
        for (i = 0; i < W_COUNT && strcmp(tok, wl_name[i]) != 0; i++)
            ;
        if (i == W_COUNT)
            return 0;
        mask |= 1u << i;
    }
    return mask;
}

static size_t parse_threads(const char *s, unsigned *out)
{
    size_t n = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        long v = strtol(tok, NULL, 10);
        if (v < 1 || v > (long)MAX_THREADS || n == MAX_THREADS)
            return 0;
        out[n++] = (unsigned)v;
    }
    return n;
}

static void parse(int argc, char **argv, struct opts *o,
                  const struct bench_map *const *maps, size_t n_maps)
{
    long nproc = sysconf(_SC_NPROCESSORS_ONLN);
    if (nproc < 1)
        nproc = 1;
    if (nproc > (long)MAX_THREADS)
        nproc = MAX_THREADS;
    *o = (struct opts){.map = maps[0]->name, .n = 1000000, .secs = 1.0,
                       .warm = 0.2, .dim = 16,
                       .wl_mask = (1u << W_COUNT) - 1, .batch = 64,
                       .seed = 0x636f676d656d0001ull};
    o->threads[o->n_threads++] = 1;
    if (nproc > 1)
        o->threads[o->n_threads++] = (unsigned)nproc;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--serve")) {
            o->serve = 1;
            continue;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage(argv[0], maps, n_maps);
        i++;
        if (!strcmp(a, "--map"))
            o->map = v;
        else if (!strcmp(a, "--n"))
            o->n = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--secs"))
            o->secs = strtod(v, NULL);
        else if (!strcmp(a, "--warm"))
            o->warm = strtod(v, NULL);
        else if (!strcmp(a, "--threads"))
            o->n_threads = parse_threads(v, o->threads);
        else if (!strcmp(a, "--dim"))
            o->dim = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--workloads"))
            o->wl_mask = parse_workloads(v);
        else if (!strcmp(a, "--batch"))
            o->batch = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--rep"))
            o->rep = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--seed"))
            o->seed = strtoull(v, NULL, 0);
        else
            usage(argv[0], maps, n_maps);
    }
    if (o->n < 1 || !(o->secs > 0.0) || o->warm < 0.0 || o->n_threads == 0 ||
        o->dim < 1 || o->dim > 65536 || o->wl_mask == 0 || o->batch < 1 ||
        o->batch > MAX_BATCH)
        usage(argv[0], maps, n_maps);
}

/* ---------------------------------------------------------------- main */

int bench_main(int argc, char **argv, const struct bench_map *const *maps,
               size_t n_maps)
{
    struct opts o;
    parse(argc, argv, &o, maps, n_maps);
    bench_cpus_init();
    const struct bench_map *map = NULL;
    for (size_t i = 0; i < n_maps; i++)
        if (!strcmp(maps[i]->name, o.map))
            map = maps[i];
    if (!map)
        usage(argv[0], maps, n_maps);

    unsigned max_threads = 1;
    for (size_t i = 0; i < o.n_threads; i++)
        if (o.threads[i] > max_threads)
            max_threads = o.threads[i];
    long nproc = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned load_threads = nproc > 1 ? (unsigned)(nproc < (long)MAX_THREADS ? nproc : (long)MAX_THREADS) : 1;

    /* Vectors: uniform in [-1, 1) with the first component pushed off zero
     * so that no vector is the zero vector a store must refuse. */
    uint64_t s = o.seed;
    float *pool = xalloc(64, (size_t)VEC_POOL * o.dim * sizeof(float));
    for (size_t i = 0; i < (size_t)VEC_POOL * o.dim; i++)
        pool[i] = (float)((double)(rng_next(&s) >> 11) * 0x1p-52 - 1.0);
    for (size_t i = 0; i < VEC_POOL; i++)
        pool[i * o.dim] += 2.0f;

    /* Streams: thread t's keys depend only on (seed, t, n), never on the
     * map or the cell. */
    uint64_t *keys[MAX_THREADS];
    uint8_t *dice[MAX_THREADS];
    void *outs[MAX_THREADS];
    for (unsigned t = 0; t < max_threads; t++) {
        uint64_t ts = o.seed ^ (0x9e3779b97f4a7c15ull * (t + 1));
        keys[t] = xalloc(64, STREAM_LEN * sizeof(uint64_t));
        dice[t] = xalloc(64, STREAM_LEN);
        outs[t] = xalloc(64, (size_t)MAX_BATCH * BENCH_INFO_MAX);
        memset(outs[t], 0, (size_t)MAX_BATCH * BENCH_INFO_MAX);
        for (size_t j = 0; j < STREAM_LEN; j++) {
            keys[t][j] = key_of(rng_next(&ts) % o.n);
            dice[t][j] = (uint8_t)(rng_next(&ts) % 100);
        }
    }

    void *m = map->open(o.n, o.dim);
    if (!m) {
        fprintf(stderr, "bench: %s: open failed\n", map->name);
        return 2;
    }
    double t0 = now_s();
    uint64_t load_errors = load(map, m, o.n, pool, o.dim, load_threads);
    if (map->loaded)
        map->loaded(m, o.n);
    double load_s = now_s() - t0;
    printf("# map=%s n=%llu dim=%u load_threads=%u load_s=%.3f load_errors=%llu\n",
           map->name, (unsigned long long)o.n, o.dim, load_threads, load_s,
           (unsigned long long)load_errors);
    fflush(stdout);
    if (load_errors) {
        map->close(m);
        return 1;
    }

    uint64_t errors = 0;
    if (o.serve) {
        char line[256], name[64];
        unsigned threads, rep;
        printf("# ready\n");
        fflush(stdout);
        while (fgets(line, sizeof line, stdin)) {
            unsigned wl;
            if (sscanf(line, "%63s %u %u", name, &threads, &rep) != 3 ||
                threads < 1 || threads > max_threads) {
                fprintf(stderr, "bench: bad command: %s", line);
                errors++;
                break;
            }
            for (wl = 0; wl < W_COUNT && strcmp(name, wl_name[wl]) != 0; wl++)
                ;
            if (wl == W_COUNT || (wl == W_BATCH && !map->info_batch)) {
                printf("# skip\n");
                fflush(stdout);
                continue;
            }
            errors += run_cell(&o, map, m, (enum workload)wl, threads, rep,
                               pool, keys, dice, outs);
        }
    } else {
        for (unsigned wl = 0; wl < W_COUNT; wl++) {
            if (!(o.wl_mask & (1u << wl)))
                continue;
            if (wl == W_BATCH && !map->info_batch)
                continue;
            for (size_t i = 0; i < o.n_threads; i++)
                errors += run_cell(&o, map, m, (enum workload)wl, o.threads[i],
                                   o.rep, pool, keys, dice, outs);
        }
    }
    map->close(m);

    for (unsigned t = 0; t < max_threads; t++) {
        free(keys[t]);
        free(dice[t]);
        free(outs[t]);
    }
    free(pool);
    return errors ? 1 : 0;
}
