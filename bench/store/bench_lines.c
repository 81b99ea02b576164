/* bench/store/bench_lines — what this machine charges per random cache line.
 *
 * The store benchmark compares lookups that read different numbers of
 * lines: the rwlock peer's slot is its record (one line), cogmem's
 * lookup reads a table slot and a record at an address that never moves
 * (two lines, independent when the record sits at its home position:
 * shards/node.h). This program prices exactly that difference with no map
 * at all, so that a ratio in bench/store/README.md can be read against
 * the floor the hardware sets.
 *
 * Four arrays shaped as the store's at 10^6 keys: `rec`, 2^21 lines of
 * 64 B (128 MiB, the rwlock peer's table); `slot`, 2^21 words (16 MiB,
 * cogmem's slots); `home`, 2^21 positions of 128 B (256 MiB, cogmem's home
 * positions); `hdr`, 2^21 lines (128 MiB, vector headers). All on
 * transparent huge pages (MADV_HUGEPAGE, 2 MiB aligned, as the store's),
 * touched before timing. Each op draws a random
 * 64-bit hash (splitmix64 of a counter) and reads:
 *
 *   one     rec[h]                            the rwlock peer's lookup
 *   two     slot[h] and home[h], independent  cogmem's, record at home
 *   pair    home[h] and home[h + 1]           two lines 128 B apart (one page)
 *   dep     slot[h], then home[slot value]    cogmem's, no prefetch
 *   three   slot[h], home[h] and home[h + 1]  two positions and the slot
 *   hdep    slot[h], then home[h] once the slot has arrived (the address
 *           made to wait for the slot's value): cogmem's, record at home,
 *           with the record read only after the slot confirms it
 *   pfdep   hdep with home[h] prefetched before the slot is read: cogmem's
 *           lookup as shards/set.c makes it
 *   pvec    rec[h], then hdr[the record's word]   a vector read of the
 *           rwlock peer: its record, then the vector header it names
 *   cvec    pfdep, then hdr[the home record's word]   cogmem's vector
 *           read: the lookup, then the header the record names
 *
 * (The vector reads leave out the header's reference count RMWs, one up
 * and one down in cogmem and in the peer alike.)
 *
 * By default ops are independent of one another (as in bench/store: the
 * next key does not wait for the last), so the out-of-order core overlaps
 * them and what is measured is throughput: lines in flight / latency.
 * `--chain` makes each op's hash wait for the last op's loads, so an op
 * costs its full latency (the price a lookup pays when the caller needs
 * its answer before it can ask the next). Each cell
 * runs `--secs` seconds per thread count; the order of the cells rotates
 * every repetition and the median over `--reps` repetitions is printed,
 * with each cell's ratio to `one` in the same repetition.
 *
 * Placement (why: bench/pin.h): thread i of repetition r runs pinned to
 * CPU (i + r) mod N, every cell of the repetition alike, so that a ratio
 * to `one` compares ops on the same CPUs and the repetitions cover all of
 * them. The arrays (528 MiB) are far bigger than any cache, so a thread
 * that moves CPU between repetitions finds nothing warm left behind.
 *
 * usage: bench_lines [--threads T] [--secs S] [--reps R] [--chain]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "../pin.h"

#define LINES_BITS 21
#define LINES ((uint64_t)1 << LINES_BITS)
#define MASK (LINES - 1)
#define HUGE ((size_t)2 << 20)

enum op { OP_ONE, OP_TWO, OP_PAIR, OP_DEP, OP_THREE, OP_HDEP, OP_PFDEP, OP_PVEC, OP_CVEC, OP_N };
static const char *const op_name[OP_N] = {"one",  "two",   "pair", "dep", "three",
                                          "hdep", "pfdep", "pvec", "cvec"};

struct line { uint64_t w[8]; };
struct pos { uint64_t w[16]; };

static struct line *rec;
static uint64_t *slot;
static struct pos *home;
static struct line *hdr; /* vector headers, named by rec[].w[0] and home[].w[0] */

/* 2 MiB aligned, advised for huge pages before the first touch, touched. */
static void *huge_alloc(size_t bytes)
{
    void *raw = mmap(NULL, bytes + HUGE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    char *p = (char *)(((uintptr_t)raw + HUGE - 1) & ~(uintptr_t)(HUGE - 1));
    (void)madvise(p, bytes, MADV_HUGEPAGE);
    memset(p, 1, bytes);
    return p;
}

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct job {
    enum op op;
    double secs;
    uint64_t seed, ops, sink;
    int chain;
    unsigned cpu; /* bench_pin_self's k: thread + repetition */
    double ns_op;
    pthread_barrier_t *go;
};

/* One op: read its lines, return their sum. */
static inline uint64_t op_read(enum op op, uint64_t h)
{
    switch (op) {
    case OP_ONE:
        return rec[h & MASK].w[1];
    case OP_TWO:
        return slot[h & MASK] + home[h & MASK].w[1];
    case OP_PAIR:
        return home[h & MASK].w[1] + home[(h + 1) & MASK].w[1];
    case OP_DEP:
        return home[slot[h & MASK] & MASK].w[1];
    case OP_THREE:
        return slot[h & MASK] + home[h & MASK].w[1] + home[(h + 1) & MASK].w[1];
    case OP_HDEP: {
        /* Every slot value is below 2^62: v >> 62 is 0, but the load of
         * home[] cannot start before v is known. */
        uint64_t v = slot[h & MASK];
        return v + home[(h + (v >> 62)) & MASK].w[1];
    }
    case OP_PFDEP: {
        __builtin_prefetch(&home[h & MASK]);
        uint64_t v = slot[h & MASK];
        return v + home[(h + (v >> 62)) & MASK].w[1];
    }
    case OP_PVEC: {
        uint64_t r = rec[h & MASK].w[0];
        return hdr[r & MASK].w[1];
    }
    case OP_CVEC: {
        __builtin_prefetch(&home[h & MASK]);
        uint64_t v = slot[h & MASK];
        uint64_t r = home[(h + (v >> 62)) & MASK].w[0];
        return hdr[r & MASK].w[1];
    }
    default:
        return 0;
    }
}

/* 4096 ops of `op`. Chained: every value read is below 2^62 (main), so
 * `prev >> 62` is 0, but the compiler cannot know it: the next hash waits
 * for this op's loads, and an op costs its latency. Independent: nothing
 * links the ops (`chain` is a constant in each inlined copy, so no select
 * of prev can creep in and link them). */
static inline uint64_t chunk(enum op op, int chain, uint64_t *ctr, uint64_t *prev)
{
    uint64_t sum = 0, c = *ctr, p = *prev;
    for (int i = 0; i < 4096; i++) {
        uint64_t h = chain ? mix(c++ + (p >> 62)) : mix(c++);
        uint64_t v = op_read(op, h);
        sum += v;
        p = v;
    }
    *ctr = c;
    *prev = p;
    return sum;
}

/* Ops in chunks of 4096 between clock reads. Each op's loads are folded
 * into `sum`, which is stored at the end, so none is dead. */
static void *run(void *arg)
{
    struct job *j = arg;
    uint64_t ctr = j->seed, sum = 0, ops = 0, prev = 0;
    bench_pin_self(j->cpu);
    pthread_barrier_wait(j->go);
    double t0 = now(), t;
    do {
        sum += j->chain ? chunk(j->op, 1, &ctr, &prev) : chunk(j->op, 0, &ctr, &prev);
        ops += 4096;
        t = now();
    } while (t - t0 < j->secs);
    j->ops = ops;
    j->sink = sum;
    j->ns_op = (t - t0) * 1e9 / (double)ops;
    return NULL;
}

/* Mean ns per op per thread of one cell of repetition `rep`. */
static double cell(enum op op, int threads, double secs, int chain, int rep, uint64_t *sink)
{
    pthread_t th[64];
    struct job job[64];
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, (unsigned)threads);
    for (int i = 0; i < threads; i++) {
        job[i] = (struct job){.op = op, .secs = secs,
                              .seed = mix((uint64_t)op * 1000003u + (uint64_t)i),
                              .chain = chain, .cpu = (unsigned)(i + rep), .go = &go};
        if (pthread_create(&th[i], NULL, run, &job[i]) != 0) {
            perror("pthread_create");
            exit(1);
        }
    }
    double ns = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        ns += job[i].ns_op;
        *sink += job[i].sink;
    }
    pthread_barrier_destroy(&go);
    return ns / threads;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    int threads = 1, reps = 7, chain = 0;
    double secs = 0.3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--secs") && i + 1 < argc)
            secs = atof(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--chain"))
            chain = 1;
        else {
            fprintf(stderr, "usage: %s [--threads T] [--secs S] [--reps R] [--chain]\n", argv[0]);
            return 2;
        }
    }
    if (threads < 1 || threads > 64 || reps < 1 || reps > 99 || !(secs > 0)) {
        fprintf(stderr, "%s: threads 1-64, reps 1-99, secs > 0\n", argv[0]);
        return 2;
    }
    bench_cpus_init();
    rec = huge_alloc(LINES * sizeof *rec);
    slot = huge_alloc(LINES * sizeof *slot);
    home = huge_alloc(LINES * sizeof *home);
    hdr = huge_alloc(LINES * sizeof *hdr);
    /* The dependent op's chain: each slot names a random position. Every
     * value read is below 2^62 (the chained mode relies on it). */
    for (uint64_t i = 0; i < LINES; i++) {
        slot[i] = mix(i ^ 0x5bd1e995u) >> 2;
        /* Each record names a random vector header. */
        rec[i].w[0] = mix(i ^ 0x27d4eb2fu) >> 2;
        home[i].w[0] = mix(i ^ 0x165667b1u) >> 2;
    }

    double ns[OP_N][99], ratio[OP_N][99];
    uint64_t sink = 0;
    for (int r = 0; r < reps; r++) {
        double t[OP_N];
        for (int k = 0; k < OP_N; k++) {
            enum op op = (enum op)((k + r) % OP_N); /* rotate the order */
            t[op] = cell(op, threads, secs, chain, r, &sink);
        }
        for (int op = 0; op < OP_N; op++) {
            ns[op][r] = t[op];
            ratio[op][r] = t[op] / t[OP_ONE];
        }
    }
    printf("# bench_lines: %s, %d thread(s), %.2f s per cell, median of %d repetitions\n",
           chain ? "chained (latency)" : "independent (throughput)", threads, secs, reps);
    printf("%-6s %10s %14s\n", "op", "ns/op", "time / one");
    for (int op = 0; op < OP_N; op++)
        printf("%-6s %10.1f %13.2fx\n", op_name[op], median(ns[op], reps),
               median(ratio[op], reps));
    printf("# sink %llu\n", (unsigned long long)(sink & 1));
    return 0;
}
