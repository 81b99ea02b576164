/* bench/ann — cogmem's graph index (issue 14) against Debian's hnswlib
 * 0.6.2 (header-only, compiled in this benchmark with -O3 -march=native),
 * in one run on the same fixed-seed clustered data (tests/ann/clustered.h:
 * 1000 clusters in a 64-d intrinsic space, scatter --spread (default 1.0,
 * overlapping clusters; 0.5 is so separated that ef 10 finds everything),
 * mapped to --dim; queries are further points of the same distribution).
 *
 *   bench_ann [--n N] [--dim D] [--queries Q] [--reps R] [--m M] [--efc E]
 *             [--ef-conc EF] [--spread S] [--peer 0|1] [--conc 0|1] [--churn 0|1]
 *
 * --peer 0 leaves hnswlib out (every figure is then cogmem's alone: for
 * sizes whose two builds would not fit the time), --conc 0 skips step 2
 * (all points are then built in step 1), --churn 0 skips step 5.
 *
 * Both indexes: M = 16, ef_construction = 200 (defaults), cosine ranking
 * (hnswlib's inner product on unit vectors). In order:
 *  1. build 80% of the points on 2 threads (each adds every other point),
 *     cogmem then hnswlib: wall time;
 *  2. concurrency on the remaining 20%, ef = --ef-conc (default 64) for
 *     every search: cogmem's idle search rate on the 80% index, then one
 *     inserter streaming 10% while one searcher searches (cogmem needs no
 *     lock); hnswlib's solo one-thread insert rate over 10%, then its
 *     inserter and searcher over the last 10% behind a std::shared_mutex
 *     (adds exclusive, searches shared), the only way hnswlib may mix
 *     them; cogmem's last 10% is added solo too, so both hold all points;
 *  3. recall@10 against the exact scan (cogmem_recall_batch, exact) and
 *     queries/s, one query at a time on one thread, for a range of ef,
 *     the two libraries interleaved per ef and the rate the median of
 *     --reps repetitions; the rate at equal recall (0.90, 0.95, 0.99) is
 *     interpolated linearly on each curve between the two ef bracketing it;
 *  4. the exact scan's single-query rate, for the speed-up at recall 0.95;
 *  5. churn: 10% of the nodes removed and re-added (same ids and vectors),
 *     recall at ef-conc against the same index before the churn (hnswlib
 *     0.6.2 cannot remove: only a tombstone, so it has no row here), and
 *     the removes' latency: mean, the slowest (the one that ran a repair
 *     pass) and how many took over 1 ms.
 * Every figure comes with the load average (/proc/loadavg) at its start.
 *
 * Placement (why: bench/pin.h; CPU k is the k-th of the process's own,
 * mod their number). Both libraries run each step on the same CPUs, so a
 * cogmem/hnswlib ratio compares code, not CPUs:
 *  1. the build's two threads: the one adding the even points on CPU 0,
 *     the other (the main thread) on CPU 1;
 *  2. a role keeps its CPU: every insert stream (solo or beside a
 *     searcher) on CPU 0, every search (idle or beside the inserter) on
 *     CPU 1, so each ratio of the table compares one CPU with itself;
 *  3. repetition r of the curves on CPU r mod N, both libraries, each
 *     first warmed up on it untimed (bench_bind measured that a pass
 *     moved to another CPU first pulls its data from the old one's cache,
 *     and at --n 20000 --dim 128 a library's vectors are 10 MB, which a
 *     cache may hold); the ground truth before it,
 *     untimed, runs cogmem_recall_batch on 2 threads with the main thread
 *     unpinned: its workers are threads the library creates per call
 *     (src/recall_batch.c), not ours to place, and they inherit the
 *     caller's mask, so a pinned caller would put them on its one CPU;
 *  4. and 5. (cogmem alone) on CPU 0: cogmem/exact is the curves' median
 *     over every CPU against one pass on CPU 0.
 * The library's call_rcu worker is created by cogmem_open, which runs
 * before anything is pinned, so it keeps the process's mask.
 */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/ann/peer_hnswlib.h"
#include "bench/pin.h"
#include "cogmem.h"
#include "cogmem_recall.h"
#include "cogmem_stats.h"
#include "tests/ann/clustered.h"

#define K 10

static struct {
    size_t n, nq;
    unsigned dim, reps, m, efc, ef_conc, peer, conc, churn;
    float spread;
} opt = {100000, 1000, 128, 3, 16, 200, 64, 1, 1, 1, 1.0f};

static float *base, *queries;
static uint64_t *truth; /* nq x K ids (1-based point index) */
static cogmem_store *cs;
static hn_index *hn;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const char *loadavg(void)
{
    static char buf[64];
    FILE *f = fopen("/proc/loadavg", "r");
    buf[0] = 0;
    if (f) {
        if (fgets(buf, sizeof buf, f)) {
            char *sp = strchr(buf, ' ');
            if (sp && (sp = strchr(sp + 1, ' ')) && (sp = strchr(sp + 1, ' ')))
                *sp = 0;
        }
        fclose(f);
    }
    return buf;
}

static const float *pt(size_t i) { return base + i * opt.dim; }

/* ------------------------------------------------------------ builders */

struct range {
    size_t lo, hi, step;
    int peer;
    unsigned cpu; /* bench_pin_self's k (see Placement) */
};

static void *add_range(void *arg)
{
    struct range *r = arg;
    bench_pin_self(r->cpu);
    for (size_t i = r->lo; i < r->hi; i += r->step) {
        if (r->peer)
            hn_add(hn, pt(i), i + 1);
        else if (cogmem_episode_add(cs, i + 1, pt(i), i + 1)) {
            fprintf(stderr, "add %zu failed\n", i + 1);
            exit(1);
        }
    }
    return NULL;
}

static double build_two(size_t lo, size_t hi, int peer)
{
    pthread_t t;
    struct range a = {lo, hi, 2, peer, 0}, b = {lo + 1, hi, 2, peer, 1};
    double t0 = now_s();
    pthread_create(&t, NULL, add_range, &a);
    add_range(&b);
    pthread_join(t, NULL);
    return now_s() - t0;
}

/* ------------------------------------------------------------- search */

static size_t c_search(const float *q, unsigned ef, uint64_t *ids)
{
    cogmem_recall_params p;
    cogmem_recall_params_init(&p);
    p.approximate = ef != 0;
    p.ef = ef;
    cogmem_recall_hit h[K];
    size_t n = 0;
    if (cogmem_recall(cs, q, COGMEM_EPISODE, K, &p, h, &n))
        exit(1);
    for (size_t i = 0; i < n; i++)
        ids[i] = h[i].id;
    return n;
}

static double recall_of(const uint64_t *ids, size_t n, size_t qi)
{
    size_t hit = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < K; j++)
            hit += ids[i] == truth[qi * K + j];
    return (double)hit / K;
}

/* One pass of nq single queries: recall@10 and queries/s. */
static void run_queries(int peer, unsigned ef, double *recall, double *qps)
{
    uint64_t ids[K];
    double r = 0;
    if (peer)
        hn_set_ef(hn, ef);
    double t0 = now_s();
    for (size_t i = 0; i < opt.nq; i++) {
        size_t n = peer ? hn_search(hn, queries + i * opt.dim, K, ids)
                        : c_search(queries + i * opt.dim, ef, ids);
        r += recall_of(ids, n, i);
    }
    *qps = opt.nq / (now_s() - t0);
    *recall = r / opt.nq;
}

/* ------------------------------------------------------- concurrency */

/* Step 2's CPUs (see Placement). */
enum { CPU_INSERT = 0, CPU_SEARCH = 1 };

static _Atomic int stream_done;
static _Atomic uint64_t searched;

struct mix {
    int peer, locked;
    size_t lo, hi;
    double secs;
};

static void *searcher(void *arg)
{
    struct mix *m = arg;
    uint64_t ids[K], n = 0;
    bench_pin_self(CPU_SEARCH);
    while (!atomic_load_explicit(&stream_done, memory_order_acquire)) {
        const float *q = queries + (n % opt.nq) * opt.dim;
        if (m->peer)
            (void)hn_search_locked(hn, q, K, ids);
        else
            (void)c_search(q, opt.ef_conc, ids);
        n++;
    }
    atomic_store(&searched, n);
    return NULL;
}

/* Insert [lo, hi) on this thread (alone, or beside one searcher). */
static void stream(struct mix *m, int with_searcher)
{
    pthread_t t;
    bench_pin_self(CPU_INSERT);
    atomic_store(&stream_done, 0);
    atomic_store(&searched, 0);
    if (with_searcher)
        pthread_create(&t, NULL, searcher, m);
    double t0 = now_s();
    for (size_t i = m->lo; i < m->hi; i++) {
        if (m->peer) {
            if (m->locked)
                hn_add_locked(hn, pt(i), i + 1);
            else
                hn_add(hn, pt(i), i + 1);
        } else if (cogmem_episode_add(cs, i + 1, pt(i), i + 1)) {
            exit(1);
        }
    }
    m->secs = now_s() - t0;
    atomic_store_explicit(&stream_done, 1, memory_order_release);
    if (with_searcher)
        pthread_join(t, NULL);
}

/* ------------------------------------------------------------- curves */

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define NEF 11
static const unsigned efs[NEF] = {10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384};

/* qps at `target` recall on a curve (recall rising with ef), or 0. */
static double at_recall(const double *rec, const double *qps, double target)
{
    for (int i = 0; i < NEF; i++) {
        if (rec[i] < target)
            continue;
        if (i == 0)
            return qps[0];
        double f = (target - rec[i - 1]) / (rec[i] - rec[i - 1]);
        return qps[i - 1] + f * (qps[i] - qps[i - 1]);
    }
    return 0.0;
}

int main(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        unsigned long v = strtoul(argv[i + 1], NULL, 10);
        if (!strcmp(argv[i], "--n")) opt.n = v;
        else if (!strcmp(argv[i], "--dim")) opt.dim = (unsigned)v;
        else if (!strcmp(argv[i], "--queries")) opt.nq = v;
        else if (!strcmp(argv[i], "--reps")) opt.reps = (unsigned)v;
        else if (!strcmp(argv[i], "--m")) opt.m = (unsigned)v;
        else if (!strcmp(argv[i], "--efc")) opt.efc = (unsigned)v;
        else if (!strcmp(argv[i], "--ef-conc")) opt.ef_conc = (unsigned)v;
        else if (!strcmp(argv[i], "--spread")) opt.spread = strtof(argv[i + 1], NULL);
        else if (!strcmp(argv[i], "--peer")) opt.peer = (unsigned)v;
        else if (!strcmp(argv[i], "--conc")) opt.conc = (unsigned)v;
        else if (!strcmp(argv[i], "--churn")) opt.churn = (unsigned)v;
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    size_t n = opt.n, n8 = n * 8 / 10, n9 = n * 9 / 10;
    bench_cpus_init();
    printf("# bench/ann: n %zu, dim %u, %zu queries, M %u, ef_construction %u, %u reps; "
           "ISA %s; load %s\n\n", n, opt.dim, opt.nq, opt.m, opt.efc, opt.reps,
           cogmem_simd_isa(), loadavg());
    struct clu_gen g;
    base = malloc(sizeof(float) * n * opt.dim);
    queries = malloc(sizeof(float) * opt.nq * opt.dim);
    truth = malloc(sizeof(uint64_t) * opt.nq * K);
    if (!base || !queries || !truth || clu_init(&g, opt.dim, 1000, opt.spread, 42))
        return 1;
    for (size_t i = 0; i < n; i++)
        clu_point(&g, base + i * opt.dim);
    for (size_t i = 0; i < opt.nq; i++)
        clu_point(&g, queries + i * opt.dim);
    clu_fini(&g);

    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = opt.dim;
    cfg.expected_episodes = n;
    cfg.index = 1;
    cfg.index_m = opt.m;
    cfg.index_ef_construction = opt.efc;
    if (cogmem_open(&cfg, &cs))
        return 1;
    hn = opt.peer ? hn_new(opt.dim, n, opt.m, opt.efc) : NULL;

    /* 1. Build (everything when step 2 is skipped). */
    const char *la = loadavg();
    size_t nb = opt.conc && opt.peer ? n8 : n;
    double tc = build_two(0, nb, 0);
    double th = opt.peer ? build_two(0, nb, 1) : 0.0;
    printf("## Build of %zu points on 2 threads (load %s)\n\n", nb, la);
    printf("| library | seconds | inserts/s | cogmem/hnswlib time |\n|---|---|---|---|\n");
    printf("| cogmem | %.2f | %.0f | %.3f |\n", tc, nb / tc, th > 0 ? tc / th : 0.0);
    if (opt.peer)
        printf("| hnswlib | %.2f | %.0f | 1.000 |\n", th, nb / th);
    printf("\n");
    fflush(stdout);

    /* 2. Concurrency (needs the peer). */
    uint64_t ids[K];
    double t0;
    if (opt.conc && opt.peer) {
        la = loadavg();
        double idle_r, idle_c, idle_h;
        bench_pin_self(CPU_SEARCH);
        t0 = now_s();
        for (size_t i = 0; i < opt.nq; i++)
            (void)c_search(queries + i * opt.dim, opt.ef_conc, ids);
        idle_c = opt.nq / (now_s() - t0);
        hn_set_ef(hn, opt.ef_conc);
        t0 = now_s();
        for (size_t i = 0; i < opt.nq; i++)
            (void)hn_search(hn, queries + i * opt.dim, K, ids);
        idle_h = opt.nq / (now_s() - t0);
        (void)idle_r;
        struct mix mc = {0, 0, n8, n9, 0}, mh = {1, 0, n8, n9, 0}, mr = {1, 1, n9, n, 0},
                   mc2 = {0, 0, n9, n, 0};
        stream(&mc, 1);
        double c_ins = (n9 - n8) / mc.secs, c_q = atomic_load(&searched) / mc.secs;
        stream(&mh, 0);
        double h_solo = (n9 - n8) / mh.secs;
        stream(&mr, 1);
        double r_ins = (n - n9) / mr.secs, r_q = atomic_load(&searched) / mr.secs;
        stream(&mc2, 0);
        double c_solo = (n - n9) / mc2.secs;
        printf("## One inserter + one searcher, ef %u (load %s)\n\n", opt.ef_conc, la);
        printf("| figure | cogmem | hnswlib | ratio | goal |\n|---|---|---|---|---|\n");
        printf("| solo inserts/s (1 thread) | %.0f | %.0f | %.3f | |\n", c_solo, h_solo,
               c_solo / h_solo);
        printf("| idle searches/s | %.0f | %.0f | %.3f | |\n", idle_c, idle_h, idle_c / idle_h);
        printf("| inserts/s beside a searcher (hnswlib: rwlock) | %.0f | %.0f | %.3f | |\n", c_ins,
               r_ins, c_ins / r_ins);
        printf("| searches/s beside an inserter (hnswlib: rwlock) | %.0f | %.0f | %.3f | |\n", c_q,
               r_q, c_q / r_q);
        printf("| cogmem concurrent inserts / hnswlib solo inserts | %.3f | | | >= 0.8 |\n",
               c_ins / h_solo);
        printf("| cogmem concurrent searches / cogmem idle | %.3f | | | >= 0.7 |\n", c_q / idle_c);
        printf("| combined ops/s: cogmem / rwlock-hnswlib | %.0f | %.0f | %.3f | >= 1.5 |\n\n",
               c_ins + c_q, r_ins + r_q, (c_ins + c_q) / (r_ins + r_q));
        fflush(stdout);
    }

    /* 3. Ground truth and curves. */
    cogmem_recall_params ep;
    cogmem_recall_params_init(&ep);
    ep.threads = 2;
    bench_unpin_self(); /* see Placement, 3. */
    cogmem_recall_hit *th_hits = malloc(sizeof *th_hits * opt.nq * K);
    size_t *tn = malloc(sizeof *tn * opt.nq);
    if (!th_hits || !tn ||
        cogmem_recall_batch(cs, queries, opt.nq, COGMEM_EPISODE, K, &ep, th_hits, tn))
        return 1;
    for (size_t i = 0; i < opt.nq * K; i++)
        truth[i] = th_hits[i].id;
    la = loadavg();
    double rc[NEF], rh[NEF], qc[NEF], qh[NEF];
    double *sc = malloc(sizeof(double) * NEF * opt.reps), *sh = malloc(sizeof(double) * NEF * opt.reps);
    memset(rh, 0, sizeof rh);
    memset(sh, 0, sizeof(double) * NEF * opt.reps);
    for (unsigned r = 0; r < opt.reps; r++) {
        double wr, wq;
        bench_pin_self(r);
        run_queries(0, efs[NEF / 2], &wr, &wq); /* warm both up on this CPU */
        if (opt.peer)
            run_queries(1, efs[NEF / 2], &wr, &wq);
        for (int e = 0; e < NEF; e++) {
            run_queries(0, efs[e], &rc[e], &sc[e * opt.reps + r]);
            if (opt.peer)
                run_queries(1, efs[e], &rh[e], &sh[e * opt.reps + r]);
        }
    }
    for (int e = 0; e < NEF; e++) {
        qsort(sc + e * opt.reps, opt.reps, sizeof(double), cmp_d);
        qsort(sh + e * opt.reps, opt.reps, sizeof(double), cmp_d);
        qc[e] = sc[e * opt.reps + opt.reps / 2];
        qh[e] = sh[e * opt.reps + opt.reps / 2];
    }
    printf("## recall@10 and queries/s, one thread, %zu points (load %s)\n\n", n, la);
    printf("| ef | cogmem recall | cogmem q/s | hnswlib recall | hnswlib q/s |\n"
           "|---|---|---|---|---|\n");
    for (int e = 0; e < NEF; e++)
        printf("| %u | %.4f | %.0f | %.4f | %.0f |\n", efs[e], rc[e], qc[e], rh[e], qh[e]);
    /* 4. Exact. */
    size_t nx = opt.nq < 50 ? opt.nq : 50;
    bench_pin_self(0); /* 4. and 5.: see Placement */
    t0 = now_s();
    for (size_t i = 0; i < nx; i++)
        (void)c_search(queries + i * opt.dim, 0, ids);
    double exact_q = nx / (now_s() - t0);
    printf("\n## At equal recall@10 (interpolated; exact scan %.1f q/s)\n\n", exact_q);
    printf("| recall | cogmem q/s | hnswlib q/s | cogmem/hnswlib | cogmem/exact |\n"
           "|---|---|---|---|---|\n");
    const double targets[3] = {0.90, 0.95, 0.99};
    for (int t = 0; t < 3; t++) {
        double a = at_recall(rc, qc, targets[t]), b = at_recall(rh, qh, targets[t]);
        printf("| %.2f | %.0f | %.0f | %.3f | %.1f |\n", targets[t], a, b, b > 0 ? a / b : 0.0,
               a / exact_q);
    }
    fflush(stdout);

    /* 5. Churn: 10% removed and re-added. */
    if (!opt.churn)
        goto done;
    la = loadavg();
    double before, after, q_;
    run_queries(0, opt.ef_conc, &before, &q_);
    struct clu_rng rr = {12345};
    size_t nchurn = n / 10, rm_slow = 0;
    double rm_sum = 0, rm_max = 0;
    size_t *victims = malloc(sizeof *victims * nchurn);
    char *taken = calloc(n, 1);
    for (size_t i = 0; i < nchurn;) {
        size_t v = (size_t)(clu_uniform(&rr) * n) % n;
        if (taken[v])
            continue;
        taken[v] = 1;
        victims[i++] = v;
        double r0 = now_s();
        if (cogmem_episode_remove(cs, v + 1))
            return 1;
        double dt = now_s() - r0;
        rm_sum += dt;
        if (dt > rm_max)
            rm_max = dt;
        rm_slow += dt > 1e-3;
    }
    for (size_t i = 0; i < nchurn; i++)
        if (cogmem_episode_add(cs, victims[i] + 1, pt(victims[i]), victims[i] + 1))
            return 1;
    run_queries(0, opt.ef_conc, &after, &q_);
    cogmem_stats st = {.struct_size = sizeof st};
    cogmem_stats_get(cs, &st);
    printf("\n## Churn: %zu removed and re-added, ef %u (load %s)\n\n", nchurn, opt.ef_conc, la);
    printf("| recall before | recall after | difference | goal | repairs | tombstones left |\n"
           "|---|---|---|---|---|---|\n");
    printf("| %.4f | %.4f | %+.4f | >= -0.01 | %" PRIu64 " | %" PRIu64 " |\n", before, after,
           after - before, st.index_repairs, st.index_tombstones);
    /* Each remove made while a repair pass is due or in progress runs one
     * slice of it (src/ann/hnsw.h): max is the dearest slice. */
    printf("\n| removes | mean ms | max ms | removes > 1 ms |\n|---|---|---|---|\n");
    printf("| %zu | %.4f | %.1f | %zu |\n", nchurn, rm_sum / nchurn * 1e3, rm_max * 1e3, rm_slow);
    free(victims);
    free(taken);
done:
    free(sc);
    free(sh);
    free(th_hits);
    free(tn);
    if (hn)
        hn_free(hn);
    cogmem_close(&cs);
    free(base);
    free(queries);
    free(truth);
    return 0;
}
