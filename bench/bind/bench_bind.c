/* cogmem — bindings benchmark.
 *
 *   bench_bind [--quick] [--concepts C] [--episodes E] [--per-episode B]
 *              [--reps R] [--only latency,decay,spread] [--decay-shape C:B]
 *              [--decay-cpu K]
 *
 * 1. Binding adjust and fan-out query latency, 1 and nproc threads, on a
 *    cache-resident store (1000 concepts x 8 bindings), each as a ratio to
 *    a bare node lookup (cogmem_kind_of) measured in the same run; and the
 *    floor of a per-binding atomic adjust (the lookup, then one locked RMW
 *    of a line per concept: see floor_line; and, the floor of any list kept
 *    outside the record, the lookup then a lock of a list found through it:
 *    see floor_list). And adjust on one CPU while a writer on the next
 *    replaces centroids, as a ratio to adjust alone (see writer_run).
 * 2. Decay of 10^6 bindings (1000 concepts x 1000; --decay-shape C:B for
 *    C concepts of B bindings), exponential model, as a
 *    ratio of its effective bandwidth (bytes a decay must read and write)
 *    to a same-run baseline: a read-modify-write pass over arrays of the
 *    same total size.
 * 3. Spreading from 10 concepts, depth 2, on C concepts and E episodes
 *    (default 10^5 and 10^6), each episode bound to B concepts (default 2)
 *    drawn from a power law (concept c with probability ~ c^-0.6, so the
 *    biggest fan-outs are in the tens of thousands), in ms per query (the
 *    issue asks for absolute time here), with the edges visited per query.
 * Latency and decay are medians of R interleaved repetitions (--reps,
 * default 7), ratios taken within a repetition, each pass timed in the
 * CPU time of its thread (see cpu_s) on a pinned CPU (see Placement and
 * bench/pin.h); --only picks sections.
 * Public API only, through the shared library, as a host links it.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "cogmem.h"
#include "../pin.h"

#define DIM 4

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of the calling thread: the latency and decay sections time
 * with it, so that a pass preempted by a neighbour on this shared machine
 * (load above the core count is the norm here) is not charged the time it
 * spent off the CPU. Spinning on a contended lock is still CPU time. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The clock every adjust stamps its binding with, read as the library
 * reads it (src/bind.c: cogmem__coarse_ns, internal): the floors that
 * price the stamp read this. */
static uint64_t coarse_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Placement (why: bench/pin.h). In repetition r of section 1 all the
 * single-thread runs (every op, the reference included) run on CPU
 * r mod N, so that a ratio within a repetition compares ops on one CPU,
 * and the N-thread runs put thread i on CPU i mod N; the medians cover
 * every CPU alike. Section 2 runs on one CPU throughout (--decay-cpu K,
 * default 0: see bench_decay). */
static unsigned decay_cpu; /* --decay-cpu K: the decay section's bench_pin_self(K) */

static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_bind: %s: %s\n", what, cogmem_strerror(rc));
    exit(1);
}

static cogmem_store *open_store(uint64_t nc, uint64_t ne)
{
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = DIM;
    cfg.expected_concepts = nc;
    cfg.expected_episodes = ne;
    cogmem_store *s;
    int rc = cogmem_open(&cfg, &s);
    if (rc)
        die("open", rc);
    return s;
}

static void add(cogmem_store *s, uint64_t id, int episode)
{
    float v[DIM] = {1, 2, 3, (float)(id % 13 + 1)};
    int rc = episode ? cogmem_episode_add(s, id, v, id) : cogmem_concept_add(s, id, v);
    if (rc)
        die("add", rc);
}

/* ------------------------------------------------------ 1. latency */

enum { LAT_C = 1000, LAT_B = 8, LAT_OPS = 1000000 };
#define EP0 10000000ull

enum lat_op {
    L_LOOKUP, L_ADJUST, L_FAN, L_GET, L_FLOOR, L_FLOOR_LIST, L_FLOOR_CHAIN, L_FLOOR_STAMP,
    L_ADJUST_BESIDE /* not in the table: its own line, against adjust */
};
static const char *lat_name[] = {"lookup (kind_of)", "adjust", "fan_out", "binding_get",
                                 "floor: lookup + 1 atomic RMW",
                                 "floor: lookup, then lock a list found through it",
                                 "floor: adjust's lines and clock in cogmem's layout, no code",
                                 "floor: lookup + clock + 1 atomic RMW, stamp in its line"};

/* The floor of any adjust that is atomic per binding (a lock, or a CAS on
 * the value): the same lookup, then one locked read-modify-write of a line
 * of the concept's own (LAT_C lines, each 64 bytes, none shared by two
 * concepts). On 2 threads the line was last written by the other core
 * about half the time, so this row measures what that coherence transfer
 * costs on the machine; adjust cannot be cheaper.
 *
 * The same with the time stamp (L_FLOOR_STAMP): the coarse clock read
 * after the lookup, then the RMW and the stamp stored in the same line.
 * The least any adjust can do that stamps the time, as the API requires
 * (touch and decay time: cogmem_binding_adjust), in any layout: the
 * binding, its lock or value and its times all in one line of the
 * concept's, nothing searched. If this row is above a ratio, no layout
 * meets that ratio on this machine. */
static struct {
    _Alignas(64) _Atomic uint32_t w;
    _Atomic uint64_t t;
} floor_line[LAT_C + 1]; /* the last is never used (L_FLOOR_STAMP's index) */

/* The floor of an adjust whose bindings live outside the record, as any
 * concept's unbounded list must: the same lookup, then the list reached
 * through it (a pointer per concept, read at an index that depends on the
 * lookup's result, as cogmem's list pointer is read from the record the
 * lookup found), locked with one exchange, one strength in the list's own
 * line updated, unlocked. Leaner than any real list: the lock, the count
 * and the strengths share one line, nothing is searched, no clock is read,
 * no counter or journal is written. Each list a separate 64-byte block;
 * the pointers sit in one array of LAT_C + 1 (the last is never used). */
struct floor_list {
    _Alignas(64) _Atomic uint32_t lock;
    float strength[LAT_B];
};
static struct floor_list *floor_lists[LAT_C + 1];

static void floor_list_adjust(struct floor_list *l, unsigned b, float d)
{
    while (atomic_exchange_explicit(&l->lock, 1, memory_order_acquire))
        ;
    l->strength[b] += d;
    atomic_store_explicit(&l->lock, 0, memory_order_release);
}

/* The floor of adjust in cogmem's own layout: the lines adjust touches,
 * in the same order of dependence, and the time stamp every adjust must
 * write (the same coarse clock, read at the same point), with none of its
 * other code (no read-side section, counter, journal or gate test).
 *
 * Per concept, each a separate allocation as in the store: the node's
 * cold line (the list pointer and the hints: peer and value arrays,
 * shards/node.h), the list's first line (lock, count), the peer ids with
 * the touch times after them (one block) and the strengths with the decay
 * times after them (one block, shards/bpool.h).
 *
 * The op: the same lookup; then the cold line, at an index that waits for
 * it; from its hints, all the other lines asked for at once (as
 * locate_prefetch does); the clock read while they arrive; the exchange
 * on the list's lock; the scan of the 8 ids for the episode; strength,
 * touch and decay time written; the release. What adjust costs above this
 * row is its code; what this row costs above the lookup is the layout.
 * One difference, against this row: the store's cold line is the second
 * line of the record's 128 bytes (shards/node.h), which the L2's
 * adjacent-line prefetch may bring with the record, where here it is a
 * line of its own. */
struct chain_list {
    _Alignas(64) _Atomic uint32_t lock;
    uint32_t n;
    uint64_t *peer;
    float *strength;
};
struct chain_cold {
    _Alignas(64) struct chain_list *list;
    uint64_t *peer; /* peer[LAT_B], then touched[LAT_B] */
    float *strength; /* strength[LAT_B], padded to a line, then decayed[LAT_B] */
};
static struct chain_cold *chain_colds[LAT_C + 1];
enum { CHAIN_DEC_OFF = 64 }; /* bytes from the strengths to the decay times */

static void *chain_block(size_t bytes)
{
    void *p = aligned_alloc(64, bytes);
    if (!p)
        die("aligned_alloc", -ENOMEM);
    memset(p, 0, bytes);
    return p;
}

/* Concept c's chain (c in [0, LAT_C], the last never used), its peers the
 * ids the store binds to concept c + 1. Allocated in the order the store
 * creates them: the node, then at its first bind the list and its arrays. */
static void chain_build(unsigned c)
{
    struct chain_cold *k = chain_block(sizeof *k);
    k->list = chain_block(sizeof *k->list);
    k->peer = chain_block(2 * LAT_B * sizeof(uint64_t));
    k->strength = chain_block(CHAIN_DEC_OFF + LAT_B * sizeof(uint64_t));
    k->list->n = LAT_B;
    k->list->peer = k->peer;
    k->list->strength = k->strength;
    for (unsigned b = 0; b < LAT_B; b++) {
        k->peer[b] = EP0 + (uint64_t)c * LAT_B + b;
        k->strength[b] = 0.5f;
    }
    chain_colds[c] = k;
}

static void chain_free(unsigned c)
{
    struct chain_cold *k = chain_colds[c];
    free(k->strength);
    free(k->peer);
    free(k->list);
    free(k);
}

static void chain_adjust(struct chain_cold *k, uint64_t episode, float d)
{
    struct chain_list *l = k->list;
    uint64_t *peer = k->peer;
    float *str = k->strength;
    uint64_t *touch = peer + LAT_B;
    uint64_t *dec = (uint64_t *)(void *)((char *)str + CHAIN_DEC_OFF);
    __builtin_prefetch(l, 1);
    __builtin_prefetch(peer);
    __builtin_prefetch(str, 1);
    __builtin_prefetch(touch, 1);
    __builtin_prefetch(dec, 1);
    uint64_t now = coarse_ns();
    while (atomic_exchange_explicit(&l->lock, 1, memory_order_acquire))
        ;
    for (uint32_t i = 0; i < l->n; i++)
        if (l->peer[i] == episode) {
            l->strength[i] += d;
            touch[i] = now;
            dec[i] = now;
            break;
        }
    atomic_store_explicit(&l->lock, 0, memory_order_release);
}

/* "adjust beside a centroid writer": one adjuster as the adjust row's,
 * while a writer on the next CPU replaces the centroids of LAT_W concepts
 * of its own (ids past the bound ones, never adjusted): each replacement
 * is a deferred free of the old vector. Nothing the two touch is shared
 * but what the library shares behind them, so the ratio to adjust alone
 * prices that (it found the fork gate's word in the line every deferred
 * free writes: shards/rcu.h, struct cogmem__fork_gate). */
enum { LAT_W = 64 };
static _Atomic int writer_stop;

struct writer_arg {
    cogmem_store *s;
    unsigned cpu; /* bench_pin_self's k */
};

static void *writer_run(void *p)
{
    struct writer_arg *w = p;
    bench_pin_self(w->cpu);
    float v[DIM] = {1, 2, 3, 4};
    for (uint64_t n = 0; !atomic_load_explicit(&writer_stop, memory_order_relaxed); n++) {
        v[3] = (float)(n % 7 + 1);
        int rc = cogmem_concept_set_centroid(w->s, LAT_C + 1 + n % LAT_W, v);
        if (rc)
            die("set_centroid", rc);
    }
    return NULL;
}

struct lat_arg {
    cogmem_store *s;
    enum lat_op op;
    unsigned idx;
    unsigned cpu; /* bench_pin_self's k */
    pthread_barrier_t *bar;
    double secs;
};

static void *lat_run(void *p)
{
    struct lat_arg *a = p;
    bench_pin_self(a->cpu);
    uint64_t r = 77 + a->idx;
    /* a pre-drawn pair stream: the RNG stays out of the timed loop */
    enum { NP = 4096 };
    uint64_t c[NP], e[NP];
    for (int i = 0; i < NP; i++) {
        c[i] = 1 + rnd(&r) % LAT_C;
        e[i] = EP0 + (c[i] - 1) * LAT_B + rnd(&r) % LAT_B;
    }
    volatile uint64_t sink = 0;
    pthread_barrier_wait(a->bar);
    double t0 = cpu_s();
    for (int i = 0; i < LAT_OPS; i++) {
        int k = i & (NP - 1);
        float x;
        uint32_t f;
        switch (a->op) {
        case L_LOOKUP:
            sink += (uint64_t)cogmem_kind_of(a->s, c[k]);
            break;
        case L_ADJUST:
        case L_ADJUST_BESIDE:
            /* +/- alternate: the strength stays away from the clamp */
            cogmem_binding_adjust(a->s, e[k], c[k], (i & 1) ? 1e-3f : -1e-3f, NULL);
            break;
        case L_FAN:
            cogmem_fan_out(a->s, c[k], &f);
            sink += f;
            break;
        case L_FLOOR:
            sink += (uint64_t)cogmem_kind_of(a->s, c[k]);
            atomic_fetch_add_explicit(&floor_line[c[k] - 1].w, 1, memory_order_relaxed);
            break;
        case L_FLOOR_LIST: {
            int rc = cogmem_kind_of(a->s, c[k]);
            /* rc is always COGMEM_CONCEPT: the index is c - 1, but only
             * once the lookup has returned. */
            floor_list_adjust(floor_lists[c[k] - 1 + (rc != COGMEM_CONCEPT)],
                              (unsigned)((e[k] - EP0) % LAT_B), (i & 1) ? 1e-3f : -1e-3f);
            break;
        }
        case L_FLOOR_CHAIN: {
            int rc = cogmem_kind_of(a->s, c[k]); /* as above: the index waits for it */
            chain_adjust(chain_colds[c[k] - 1 + (rc != COGMEM_CONCEPT)], e[k],
                         (i & 1) ? 1e-3f : -1e-3f);
            break;
        }
        case L_FLOOR_STAMP: {
            int rc = cogmem_kind_of(a->s, c[k]);
            uint64_t now = coarse_ns();
            /* the index waits for the lookup, as in L_FLOOR_LIST */
            unsigned w = (unsigned)(c[k] - 1) + (rc != COGMEM_CONCEPT);
            atomic_fetch_add_explicit(&floor_line[w].w, 1, memory_order_relaxed);
            atomic_store_explicit(&floor_line[w].t, now, memory_order_relaxed);
            break;
        }
        case L_GET:
            cogmem_binding_get(a->s, e[k], c[k], &x);
            sink += (uint64_t)x;
            break;
        }
    }
    a->secs = cpu_s() - t0;
    (void)sink;
    return NULL;
}

/* One timed run of `op` on `threads` threads; repetition `rep` picks the
 * CPU of a single-thread run (placement, above). L_ADJUST_BESIDE: one
 * thread, and the writer (writer_run) on the next CPU, started first and
 * stopped after. */
static double lat_measure(cogmem_store *s, enum lat_op op, unsigned threads, int rep)
{
    pthread_t t[64], wt;
    struct lat_arg a[64];
    struct writer_arg w = {s, (unsigned)rep + 1};
    pthread_barrier_t bar;
    if (op == L_ADJUST_BESIDE) {
        atomic_store_explicit(&writer_stop, 0, memory_order_relaxed);
        pthread_create(&wt, NULL, writer_run, &w);
    }
    pthread_barrier_init(&bar, NULL, threads);
    for (unsigned i = 0; i < threads; i++) {
        a[i] = (struct lat_arg){s, op, i, threads == 1 ? (unsigned)rep : i, &bar, 0};
        pthread_create(&t[i], NULL, lat_run, &a[i]);
    }
    double sum = 0;
    for (unsigned i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        sum += a[i].secs;
    }
    if (op == L_ADJUST_BESIDE) {
        atomic_store_explicit(&writer_stop, 1, memory_order_relaxed);
        pthread_join(wt, NULL);
    }
    pthread_barrier_destroy(&bar);
    return sum / threads / LAT_OPS * 1e9; /* ns per op per thread */
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of n values (sorts them); *lo, *hi get the range. */
static double median(double *v, int n, double *lo, double *hi)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    if (lo)
        *lo = v[0];
    if (hi)
        *hi = v[n - 1];
    return v[n / 2];
}

enum { LAT_NOPS = L_FLOOR_STAMP + 1, LAT_MAXREPS = 63 };

static void bench_latency(unsigned nproc, int reps)
{
    cogmem_store *s = open_store(LAT_C, LAT_C * LAT_B);
    for (uint64_t c = 1; c <= LAT_C + LAT_W; c++)
        add(s, c, 0);
    for (uint64_t c = 1; c <= LAT_C; c++)
        for (uint64_t b = 0; b < LAT_B; b++) {
            uint64_t e = EP0 + (c - 1) * LAT_B + b;
            add(s, e, 1);
            int rc = cogmem_bind(s, e, c, 0.5f);
            if (rc)
                die("bind", rc);
        }
    for (unsigned c = 0; c <= LAT_C; c++) {
        floor_lists[c] = aligned_alloc(64, sizeof *floor_lists[c]);
        if (!floor_lists[c])
            die("aligned_alloc", -ENOMEM);
        memset(floor_lists[c], 0, sizeof *floor_lists[c]);
        chain_build(c);
    }
    /* Repetitions interleave the operations (lookup, adjust, ... then
     * again), so that a neighbour's load on a shared machine hits them
     * alike; each ratio is taken within one repetition, then the median
     * (with its range) over repetitions. */
    static double t[2][LAT_NOPS][LAT_MAXREPS], ratio[2][LAT_NOPS][LAT_MAXREPS];
    static double beside[LAT_MAXREPS], beside_ratio[LAT_MAXREPS];
    if (reps > LAT_MAXREPS)
        reps = LAT_MAXREPS;
    for (int rep = 0; rep < reps; rep++) {
        for (int op = L_LOOKUP; op < LAT_NOPS; op++) {
            t[0][op][rep] = lat_measure(s, (enum lat_op)op, 1, rep);
            t[1][op][rep] = lat_measure(s, (enum lat_op)op, nproc, rep);
        }
        if (nproc > 1) {
            beside[rep] = lat_measure(s, L_ADJUST_BESIDE, 1, rep);
            beside_ratio[rep] = beside[rep] / t[0][L_ADJUST][rep];
        }
    }
    for (int w = 0; w < 2; w++)
        for (int op = L_LOOKUP; op < LAT_NOPS; op++)
            for (int rep = 0; rep < reps; rep++)
                ratio[w][op][rep] = t[w][op][rep] / t[w][L_LOOKUP][rep];
    printf("\n1. latency, %u concepts x %u bindings (cache-resident), ns/op per thread,\n"
           "   median of %d interleaved repetitions; ratio to lookup within a repetition\n",
           LAT_C, LAT_B, reps);
    printf("| op | 1 thread | ratio to lookup | range | %u threads | ratio to lookup | range |\n",
           nproc);
    printf("|---|---|---|---|---|---|---|\n");
    for (int op = L_LOOKUP; op < LAT_NOPS; op++) {
        double lo1, hi1, lon, hin;
        double t1 = median(t[0][op], reps, NULL, NULL);
        double tn = median(t[1][op], reps, NULL, NULL);
        double r1 = median(ratio[0][op], reps, &lo1, &hi1);
        double rn = median(ratio[1][op], reps, &lon, &hin);
        printf("| %s | %.1f | %.2f | %.2f-%.2f | %.1f | %.2f | %.2f-%.2f |\n", lat_name[op],
               t1, r1, lo1, hi1, tn, rn, lon, hin);
    }
    if (nproc > 1) {
        double lo, hi, tb = median(beside, reps, NULL, NULL);
        double rb = median(beside_ratio, reps, &lo, &hi);
        printf("\nadjust beside a centroid writer (1 adjuster; on the next CPU, %u concepts'\n"
               "centroids replaced in a loop): %.1f ns/op, ratio to adjust alone %.2f (%.2f-%.2f)\n",
               (unsigned)LAT_W, tb, rb, lo, hi);
    }
    for (unsigned c = 0; c <= LAT_C; c++) {
        free(floor_lists[c]);
        chain_free(c);
    }
    cogmem_close(&s);
}

/* -------------------------------------------------------- 2. decay */

/* The baseline's arrays on huge pages where THP is on, as the store's
 * decay arrays are (shards/bpool.h): neither side of the ratio pays TLB
 * misses the other does not. */
static void *huge_alloc(size_t bytes)
{
    const size_t huge = (size_t)2 << 20;
    bytes = (bytes + huge - 1) & ~(huge - 1);
    void *p = aligned_alloc(huge, bytes);
    if (!p) {
        fprintf(stderr, "bench_bind: out of memory\n");
        exit(1);
    }
    (void)madvise(p, bytes, MADV_HUGEPAGE); /* advice, before the first touch */
    return p;
}

/* The baseline pass, compiled three times so that it runs at the widest
 * vectors the CPU has, as cogmem_decay's dispatched kernels do: a
 * baseline held to SSE2 (the build's target) would price cogmem's
 * AVX-512 stores against 16-byte ones. */
#define BASE_PASS(name, attr)                                          \
    attr static void name(float *x, uint64_t *t, uint64_t n)          \
    {                                                                  \
        for (uint64_t i = 0; i < n; i++) {                             \
            x[i] *= 0.999f;                                            \
            t[i] += 1;                                                 \
        }                                                              \
    }
BASE_PASS(base_pass_plain, __attribute__((noinline)))
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
BASE_PASS(base_pass_avx2, __attribute__((noinline, target("avx2"))))
BASE_PASS(base_pass_avx512, __attribute__((noinline, target("avx512f"))))
#endif

typedef void (*base_pass_fn)(float *, uint64_t *, uint64_t);

/* The widest pass this CPU runs, and its name for the table. */
static base_pass_fn base_pass_pick(const char **isa)
{
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        *isa = "avx512";
        return base_pass_avx512;
    }
    if (__builtin_cpu_supports("avx2")) {
        *isa = "avx2";
        return base_pass_avx2;
    }
#endif
    *isa = "baseline ISA";
    return base_pass_plain;
}

static void bench_decay(uint64_t nc, uint64_t per, int reps)
{
    /* The whole section, store and baseline built included, on one CPU:
     * a pass that moves to another CPU first pulls its 24 MB from the old
     * one's cache (measured: rotating the CPU per repetition made both
     * passes 2-3x slower, and the first pass of each repetition, cogmem's,
     * paid most of it). */
    bench_pin_self(decay_cpu);
    uint64_t n = nc * per;
    cogmem_store *s = open_store(nc, n);
    for (uint64_t c = 1; c <= nc; c++)
        add(s, c, 0);
    for (uint64_t i = 0; i < n; i++) {
        add(s, EP0 + i, 1);
        int rc = cogmem_bind(s, EP0 + i, 1 + i % nc, 0.9f);
        if (rc)
            die("bind", rc);
    }
    cogmem_decay_params p;
    cogmem_decay_params_init(&p);
    p.half_life_ns = 3600ull * 1000000000ull;
    p.prune_below = 0.0f; /* measure the pass, not the unbinding */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t t = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    /* Per binding a decay reads the strength and the decay time and writes
     * both (and reads the touch time for POWER only): 24 bytes. */
    const double bytes = (double)n * 24.0;
    /* Baseline: the same bytes as one float array and one u64 array,
     * read-modify-written in one pass (what a perfect decay would do),
     * on huge pages like the store's decay arrays. */
    float *bx = huge_alloc(n * sizeof(float));
    uint64_t *bt = huge_alloc(n * sizeof(uint64_t));
    for (uint64_t i = 0; i < n; i++) {
        bx[i] = 0.9f;
        bt[i] = i;
    }
    static double td[LAT_MAXREPS], tb[LAT_MAXREPS], rr[LAT_MAXREPS];
    const char *base_isa;
    base_pass_fn base_pass = base_pass_pick(&base_isa);
    cogmem_decay_result res;
    if (reps > LAT_MAXREPS)
        reps = LAT_MAXREPS;
    /* Interleaved: decay, then the baseline, in each repetition; the ratio
     * is taken within a repetition, then the median over repetitions. */
    for (int rep = 0; rep < reps; rep++) {
        t += 1000000000ull;
        memset(&res, 0, sizeof res);
        res.struct_size = sizeof res;
        double t0 = cpu_s();
        int rc = cogmem_decay(s, &p, t, &res);
        double d = cpu_s() - t0;
        if (rc)
            die("decay", rc);
        td[rep] = d;
        t0 = cpu_s();
        base_pass(bx, bt, n);
        __asm__ volatile("" ::"r"(bx), "r"(bt) : "memory");
        d = cpu_s() - t0;
        tb[rep] = d;
        rr[rep] = tb[rep] / td[rep];
    }
    bench_unpin_self();
    double lo, hi;
    double ratio = median(rr, reps, &lo, &hi);
    double md = median(td, reps, NULL, NULL), mb = median(tb, reps, NULL, NULL);
    printf("\n2. decay of %" PRIu64 " bindings (%" PRIu64 " concepts x %" PRIu64 "), "
           "median of %d interleaved repetitions\n", n, nc, per, reps);
    printf("| pass | ms | GB/s (24 B/binding) | ratio to baseline | range |\n|---|---|---|---|---|\n");
    printf("| baseline RMW pass, same bytes (%s) | %.3f | %.2f | 1.00 | |\n", base_isa,
           mb * 1e3, bytes / mb * 1e-9);
    printf("| cogmem_decay (EXP, %s kernels) | %.3f | %.2f | %.2f | %.2f-%.2f |\n",
           cogmem_simd_isa(), md * 1e3, bytes / md * 1e-9, ratio, lo, hi);
    printf("(decayed %" PRIu64 " bindings in %" PRIu64 " concepts per pass)\n", res.decayed,
           res.concepts);
    free(bx);
    free(bt);
    cogmem_close(&s);
}

/* ------------------------------------------------------- 3. spread */

static void bench_spread(uint64_t nc, uint64_t ne, unsigned per)
{
    cogmem_store *s = open_store(nc, ne);
    double t0 = now_s();
    for (uint64_t c = 1; c <= nc; c++)
        add(s, c, 0);
    uint64_t r = 12345, nb = 0;
    /* P(c) ~ c^-a with a = 0.6: inverse-CDF sampling, c = C u^(1/(1-a)) */
    const double inv = 1.0 / (1.0 - 0.6);
    for (uint64_t i = 0; i < ne; i++) {
        uint64_t e = EP0 + i;
        add(s, e, 1);
        for (unsigned b = 0; b < per; b++) {
            double u = (double)(rnd(&r) >> 11) * 0x1.0p-53;
            uint64_t c = 1 + (uint64_t)((double)nc * pow(u, inv));
            if (c > nc)
                c = nc;
            int rc = cogmem_bind(s, e, c, 0.1f + 0.9f * (float)((rnd(&r) >> 11) * 0x1.0p-53));
            if (rc == 0)
                nb++;
            else if (rc != -EEXIST)
                die("bind", rc);
        }
    }
    double build = now_s() - t0;
    uint32_t maxfan = 0;
    cogmem_fan_out(s, 1, &maxfan);
    cogmem_spread_params p;
    cogmem_spread_params_init(&p);
    p.max_depth = 2;
    p.threshold = 0.0f;
    p.max_nodes = 1u << 22;
    enum { Q = 50, K = 10 };
    cogmem_hit hits[100];
    double total = 0, worst = 0;
    uint64_t reached = 0;
    static double lat[Q];
    for (int q = 0; q < Q; q++) {
        cogmem_source src[K];
        for (int k = 0; k < K; k++) {
            src[k].id = 1 + rnd(&r) % nc;
            src[k].weight = 1.0f;
        }
        size_t n;
        t0 = now_s();
        int rc = cogmem_spread(s, src, K, &p, hits, 100, &n);
        double d = now_s() - t0;
        if (rc)
            die("spread", rc);
        lat[q] = d;
        total += d;
        worst = d > worst ? d : worst;
        reached += n;
    }
    /* median */
    for (int i = 1; i < Q; i++)
        for (int j = i; j > 0 && lat[j - 1] > lat[j]; j--) {
            double x = lat[j];
            lat[j] = lat[j - 1];
            lat[j - 1] = x;
        }
    printf("\n3. spread from %d uniform-random concepts, depth 2, INV_SQRT, strengths on;\n"
           "   %" PRIu64 " concepts, %" PRIu64 " episodes, %" PRIu64 " bindings (power law, "
           "largest fan-out %u); built in %.1f s\n",
           K, nc, ne, nb, maxfan, build);
    printf("| queries | mean ms | median ms | max ms |\n|---|---|---|---|\n");
    printf("| %d | %.3f | %.3f | %.3f |\n", Q, total / Q * 1e3, lat[Q / 2] * 1e3, worst * 1e3);
    (void)reached;
    cogmem_close(&s);
}

int main(int argc, char **argv)
{
    uint64_t nc = 100000, ne = 1000000, dc = 1000, dper = 1000;
    unsigned per = 2;
    int reps = 7;
    const char *only = "latency,decay,spread";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            nc = 10000;
            ne = 100000;
            dc = 100;
            dper = 1000;
        } else if (i + 1 < argc && !strcmp(argv[i], "--decay-shape")) {
            /* C:B, decay over C concept lists of B bindings each */
            char *e;
            dc = strtoull(argv[++i], &e, 10);
            dper = *e == ':' ? strtoull(e + 1, NULL, 10) : 0;
            if (!dc || !dper) {
                fprintf(stderr, "bench_bind: --decay-shape wants C:B\n");
                return 2;
            }
        } else if (i + 1 < argc && !strcmp(argv[i], "--concepts"))
            nc = strtoull(argv[++i], NULL, 10);
        else if (i + 1 < argc && !strcmp(argv[i], "--episodes"))
            ne = strtoull(argv[++i], NULL, 10);
        else if (i + 1 < argc && !strcmp(argv[i], "--per-episode"))
            per = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (i + 1 < argc && !strcmp(argv[i], "--decay-cpu"))
            decay_cpu = (unsigned)atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--reps"))
            reps = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--only"))
            only = argv[++i];
        else {
            fprintf(stderr, "usage: bench_bind [--quick] [--concepts C] [--episodes E] "
                            "[--per-episode B]\n"
                            "                  [--reps R] [--only latency,decay,spread] "
                            "[--decay-shape C:B] [--decay-cpu K]\n");
            return 2;
        }
    }
    long np = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned nproc = np < 1 ? 1 : np > 64 ? 64 : (unsigned)np;
    bench_cpus_init();
    printf("bench_bind: ISA %s, nproc %u, timed threads pinned over %d CPUs\n",
           cogmem_simd_isa(), nproc, bench_ncpus);
    if (reps < 1)
        reps = 1;
    if (strstr(only, "latency"))
        bench_latency(nproc, reps);
    if (strstr(only, "decay"))
        bench_decay(dc, dper, reps);
    if (strstr(only, "spread"))
        bench_spread(nc, ne, per);
    return 0;
}
