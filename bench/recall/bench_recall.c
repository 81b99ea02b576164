/* cogmem — recall benchmark: exact top-k over a store's slabs against the
 * machine's read bandwidth and OpenBLAS peers, all measured in this run on
 * the same data.
 *
 *   bench_recall [--sizes 10000,100000,1000000] [--dims 768] [--k 10]
 *                [--batch 64] [--reps N] [--png bench_recall.png]
 *
 * For each size and dim it loads n concepts (uniform random in [-1, 1]),
 * keeps a contiguous row-major copy for the peers, and reports (median of
 * reps; times per query):
 *   bw      streaming AVX-512 sum over the contiguous copy: read bandwidth;
 *   scan    cogmem_dot_batch over the slab chunks, no selection;
 *   recall  cogmem_recall, dot metric, k best: ratio to bw (bytes of the
 *           slab rows it reads, headers included), to scan (top-k cost),
 *           to flat and to sgemv+heap;
 *   flat    the raw flat scan: cogmem_dot_batch over the contiguous copy
 *           + cogmem_topk; "recall/flat" is the median over repetitions of
 *           flat time / recall time within one repetition, with its range;
 *   sgemv   cblas_sgemv (1 thread) + cogmem_topk;
 *   batch   cogmem_recall_batch with `batch` queries, 1 thread, vs
 *           cblas_sgemm (1 thread) + cogmem_topk per query;
 *   nproc   recall (batch of 1) and batch on nproc threads, vs 1 thread,
 *           and sgemm on nproc threads;
 *   bf16    cogmem_recall with params.bf16 on a second store with the same
 *           data and bf16 row copies: speed-up over exact recall on the
 *           plain store, and recall@k against exact.
 * The contiguous copy sits on transparent huge pages, as the slab chunks
 * do (shards/slab.c): on this VM a scan over 4 KiB pages measured 1.5-5x
 * slower, and a peer must not lose for a reason the store avoids.
 * Placement (why: bench/pin.h): every 1-thread method of repetition r
 * runs on CPU r mod N, so a ratio within a repetition (recall/flat, the
 * peers, the top-k overhead) compares code on one CPU and the medians
 * cover every CPU alike. The nproc methods run with the caller unpinned:
 * cogmem_recall_batch's workers are plain pthreads it creates per call
 * (src/recall_batch.c), with no hook to place them, and they inherit the
 * caller's mask, so a pinned caller would put them all on its one CPU;
 * OpenBLAS's (openblas-pthread) are created when it loads, with the
 * process's mask, and are not ours to pin either. The scheduler places
 * every thread of those runs. Moving CPU each repetition (bench_bind
 * found that costly for a cache-resident pass) costs the timed passes
 * little here: the default sizes stream from memory (10^4 x 768 floats
 * is 30 MB a copy, and a repetition cycles through three copies), and
 * each 1-thread scan's untimed pass runs first on the CPU it is timed
 * on, so whatever is pulled from the other CPU's cache is pulled untimed.
 * Speed claims are the ratios; absolute numbers depend on the machine.
 * The table is also drawn to bench_recall.png (--png PATH) by plot.py.
 */
#include <immintrin.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "cogmem.h"
#include "src/store.h"
#include "../pin.h"

#ifdef COGMEM_HAVE_OPENBLAS
#include <cblas.h>
#endif

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_d);
    return t[n / 2];
}

static volatile float sink;

__attribute__((target("avx512f"))) static float stream_sum(const float *a, size_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = _mm512_add_ps(s0, _mm512_load_ps(a + i));
        s1 = _mm512_add_ps(s1, _mm512_load_ps(a + i + 16));
        s2 = _mm512_add_ps(s2, _mm512_load_ps(a + i + 32));
        s3 = _mm512_add_ps(s3, _mm512_load_ps(a + i + 48));
    }
    float r = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
    for (; i < n; i++)
        r += a[i];
    return r;
}

static uint64_t rs = 88172645463325252ull;
static float frand(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (float)(int32_t)(rs >> 32) * (1.0f / 2147483648.0f);
}

/* The kernel pass alone, over the same blocks of rows that a single-query
 * recall hands to it (16-row multiples of <= 64 KiB, src/recall.c), into a scratch buffer: no state words, no
 * selection. */
static void scan_only(cogmem_store *st, const float *q, float *scratch)
{
    struct cogmem__slab *sl = &st->sets[0].kind.slab;
    uint32_t used = cogmem__slab_used(sl), rpc = sl->rows_per_chunk;
    uint32_t blk = (uint32_t)((64u << 10) / sl->stride);
    blk = blk < 16 ? 16 : blk > 256 ? 256 : blk & ~15u;
    for (uint32_t c = 0; c * rpc < used; c++) {
        uint32_t n = used - c * rpc < rpc ? used - c * rpc : rpc;
        const char *base = cogmem__slab_chunk_data(sl, c); /* mapped or not */
        for (uint32_t i = 0; i < n; i += blk)
            cogmem_dot_batch(q, (const float *)(base + (size_t)i * sl->stride),
                             n - i < blk ? n - i : blk, sl->dim, sl->stride / sizeof(float),
                             scratch);
    }
}

#ifdef COGMEM_HAVE_OPENBLAS
/* scores[j * n + i] = q_j . row_i: one sgemm, then a heap per query. */
static void sgemm_topk(const float *m, const float *qs, size_t n, unsigned dim,
                       size_t nb, size_t k, float *scores, uint32_t *idx, float *val)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)nb, (blasint)n,
                (blasint)dim, 1.0f, qs, (blasint)dim, m, (blasint)dim, 0.0f, scores,
                (blasint)n);
    for (size_t j = 0; j < nb; j++)
        cogmem_topk(scores + j * n, n, k, idx, val);
}
#endif

struct row {
    size_t n;
    unsigned dim;
    double bw, scan, recall, sgemv, batch1, sgemm1, recall_np, batch_np, sgemm_np;
    double recall_cos, bf16, bf16_recall;
    double flat, vs_flat, vs_flat_lo, vs_flat_hi, exact16;
};

static void run(size_t n, unsigned dim, size_t k, size_t nb, int reps, int breps,
                struct row *r)
{
    memset(r, 0, sizeof *r);
    r->n = n;
    r->dim = dim;
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = dim;
    cfg.expected_concepts = n;
    /* st: plain rows, for every exact measurement; st16: the same data
     * with bf16 row copies (in a region of their own, shards/slab.h), for
     * the bf16 columns and an exact recall over it ("exact bf16 store/
     * plain": 1.0 when the copies cost exact scans nothing). */
    cogmem_store *st, *st16;
    cogmem_config cfg16 = cfg;
    cfg16.bf16_rows = 1;
    if (cogmem_open(&cfg, &st) || cogmem_open(&cfg16, &st16)) {
        fprintf(stderr, "open failed\n");
        exit(1);
    }
    size_t mbytes = (n * dim * sizeof(float) + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1);
    float *m = aligned_alloc(2u << 20, mbytes);
    if (!m) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    (void)madvise(m, mbytes, MADV_HUGEPAGE); /* before the first touch */
    for (size_t i = 0; i < n; i++) {
        float *v = m + i * dim;
        for (unsigned j = 0; j < dim; j++)
            v[j] = frand();
        if (cogmem_concept_add(st, i + 1, v) || cogmem_concept_add(st16, i + 1, v)) {
            fprintf(stderr, "add failed\n");
            exit(1);
        }
    }
    float *qs = aligned_alloc(64, nb * dim * sizeof(float));
    for (size_t i = 0; i < nb * dim; i++)
        qs[i] = frand();
    float *scores = aligned_alloc(64, ((n * nb * sizeof(float)) + 63) & ~(size_t)63);
    cogmem_recall_hit *hits = calloc(nb * k, sizeof *hits);
    size_t *nh = calloc(nb, sizeof *nh);
    uint32_t *idx = calloc(k, sizeof *idx);
    float *val = calloc(k, sizeof *val);
    enum { BW, SCAN, RECALL, FLAT, EXACT16, COS, BF16, RECALL_NP, BATCH1, BATCH_NP, SGEMV, SGEMM1, SGEMM_NP, NM };
    double t[NM][64], t0;
    cogmem_recall_params p;
    cogmem_recall_params_init(&p);
    p.metric = COGMEM_METRIC_DOT;
    p.threads = 1;
    cogmem_recall_params pc = p;
    pc.metric = COGMEM_METRIC_COSINE;
    long nproc = sysconf(_SC_NPROCESSORS_ONLN);
    cogmem_recall_params pb = p;
    pb.bf16 = 1;
    cogmem_recall_params pn = p;
    pn.threads = (unsigned)nproc;
    pn.parallel_min_work = 0;
    /* Methods interleaved within each repetition, so that a neighbour's
     * load on this shared machine hits all of them alike; medians. */
    for (int rep = 0; rep < reps; rep++) {
        for (int mth = 0; mth < NM; mth++) {
            int slow = mth == BATCH1 || mth == BATCH_NP || mth == SGEMM1 || mth == SGEMM_NP;
            if (slow && rep >= breps)
                continue;
            if (mth == RECALL_NP || mth == BATCH_NP || mth == SGEMM_NP)
                bench_unpin_self(); /* see Placement in the header */
            else
                bench_pin_self((unsigned)rep);
            /* Each single-query method runs once untimed right before its
             * timed run: measured on this machine, whichever scan came first
             * after another buffer's ran up to 2x slower, whatever it was. */
            for (int pass = slow ? 1 : 0; pass < 2; pass++) {
            t0 = now_s();
            switch (mth) {
            case BW: sink = stream_sum(m, n * dim); break;
            case SCAN: scan_only(st, qs, scores); break;
            case RECALL: cogmem_recall(st, qs, COGMEM_CONCEPT, k, &p, hits, nh); break;
            case EXACT16: cogmem_recall(st16, qs, COGMEM_CONCEPT, k, &p, hits, nh); break;
            case FLAT:
                cogmem_dot_batch(qs, m, n, dim, dim, scores);
                cogmem_topk(scores, n, k, idx, val);
                break;
            case COS: cogmem_recall(st, qs, COGMEM_CONCEPT, k, &pc, hits, nh); break;
            case BF16: cogmem_recall(st16, qs, COGMEM_CONCEPT, k, &pb, hits, nh); break;
            case RECALL_NP: cogmem_recall_batch(st, qs, 1, COGMEM_CONCEPT, k, &pn, hits, nh); break;
            case BATCH1: cogmem_recall_batch(st, qs, nb, COGMEM_CONCEPT, k, &p, hits, nh); break;
            case BATCH_NP: cogmem_recall_batch(st, qs, nb, COGMEM_CONCEPT, k, &pn, hits, nh); break;
#ifdef COGMEM_HAVE_OPENBLAS
            case SGEMV:
                openblas_set_num_threads(1);
                cblas_sgemv(CblasRowMajor, CblasNoTrans, (blasint)n, (blasint)dim, 1.0f, m,
                            (blasint)dim, qs, 1, 0.0f, scores, 1);
                cogmem_topk(scores, n, k, idx, val);
                break;
            case SGEMM1:
                openblas_set_num_threads(1);
                sgemm_topk(m, qs, n, dim, nb, k, scores, idx, val);
                break;
            case SGEMM_NP:
                openblas_set_num_threads((int)nproc);
                sgemm_topk(m, qs, n, dim, nb, k, scores, idx, val);
                break;
#endif
            default: break;
            }
            t[mth][rep] = now_s() - t0;
            }
        }
    }
    bench_unpin_self();
#ifdef COGMEM_HAVE_OPENBLAS
    /* The peers must agree with us: same k best ids (ties aside). */
    cogmem_recall(st, qs, COGMEM_CONCEPT, k, &p, hits, nh);
    openblas_set_num_threads(1);
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (blasint)n, (blasint)dim, 1.0f, m, (blasint)dim,
                qs, 1, 0.0f, scores, 1);
    size_t got = cogmem_topk(scores, n, k, idx, val);
    for (size_t i = 0; i < got && i < nh[0]; i++)
        if (hits[i].id != idx[i] + 1 && val[i] != hits[i].score)
            fprintf(stderr, "n=%zu: hit %zu differs: id %" PRIu64 " %g vs %u %g\n", n, i,
                    hits[i].id, hits[i].score, idx[i] + 1, val[i]);
#endif
    /* recall against the flat scan of the same repetition */
    double vf[64];
    for (int rep = 0; rep < reps; rep++)
        vf[rep] = t[FLAT][rep] / t[RECALL][rep];
    r->vs_flat = median(vf, reps); /* sorts vf */
    r->vs_flat_lo = vf[0];
    r->vs_flat_hi = vf[reps - 1];
    double med[NM];
    for (int mth = 0; mth < NM; mth++) {
        int slow = mth == BATCH1 || mth == BATCH_NP || mth == SGEMM1 || mth == SGEMM_NP;
        med[mth] = median(t[mth], slow && breps < reps ? breps : reps);
    }
    r->bw = (double)n * dim * sizeof(float) / med[BW];
    r->scan = med[SCAN];
    r->recall = med[RECALL];
    r->flat = med[FLAT];
    r->exact16 = med[EXACT16];
    r->recall_cos = med[COS];
    r->bf16 = med[BF16];
    /* recall@k of the bf16 path against exact, over the batch's queries
     * (at most 16) */
    size_t hit = 0, all = 0;
    cogmem_recall_hit *ex = calloc(k, sizeof *ex);
    for (size_t j = 0; j < nb && j < 16; j++) {
        size_t ne, na;
        cogmem_recall(st, qs + j * dim, COGMEM_CONCEPT, k, &p, ex, &ne);
        cogmem_recall(st16, qs + j * dim, COGMEM_CONCEPT, k, &pb, hits, &na);
        for (size_t a = 0; a < na; a++)
            for (size_t e = 0; e < ne; e++)
                hit += hits[a].id == ex[e].id;
        all += ne;
    }
    free(ex);
    r->bf16_recall = all ? (double)hit / (double)all : 0.0;
    r->recall_np = med[RECALL_NP];
    r->batch1 = med[BATCH1];
    r->batch_np = med[BATCH_NP];
#ifdef COGMEM_HAVE_OPENBLAS
    r->sgemv = med[SGEMV];
    r->sgemm1 = med[SGEMM1];
    r->sgemm_np = med[SGEMM_NP];
#endif
    free(m);
    free(qs);
    free(scores);
    free(hits);
    free(nh);
    free(idx);
    free(val);
    cogmem_close(&st);
    cogmem_close(&st16);
}

static size_t parse_list(const char *s, size_t *out, size_t cap)
{
    size_t n = 0;
    while (*s && n < cap) {
        char *e;
        out[n++] = strtoull(s, &e, 10);
        s = *e ? e + 1 : e;
    }
    return n;
}

int main(int argc, char **argv)
{
    size_t sizes[8] = {10000, 100000, 1000000}, dims[8] = {768};
    size_t ns = 3, nd = 1, k = 10, nb = 64;
    int reps = 0;
    const char *png = "bench_recall.png";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--sizes")) ns = parse_list(argv[i + 1], sizes, 8);
        else if (!strcmp(argv[i], "--dims")) nd = parse_list(argv[i + 1], dims, 8);
        else if (!strcmp(argv[i], "--k")) k = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--batch")) nb = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--png")) png = argv[i + 1];
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (nb == 0 || nb > 1024 || k == 0)
        return 2;
    bench_cpus_init();
    printf("cogmem recall benchmark: ISA %s, nproc %ld, k %zu, batch %zu, %s\n",
           cogmem_simd_isa(), sysconf(_SC_NPROCESSORS_ONLN), k, nb,
#ifdef COGMEM_HAVE_OPENBLAS
           "OpenBLAS peers"
#else
           "no OpenBLAS: peer columns are 0"
#endif
    );
    /* The table goes to stdout and, line by line, to plot.py. */
    static char table[16384];
    size_t tl = 0;
#define EMIT(...)                                                              \
    do {                                                                       \
        int w_ = snprintf(table + tl, sizeof table - tl, __VA_ARGS__);         \
        if (w_ > 0 && (size_t)w_ < sizeof table - tl) {                        \
            fputs(table + tl, stdout);                                         \
            tl += (size_t)w_;                                                  \
        }                                                                      \
    } while (0)
    printf("\n");
    EMIT("| n | dim | read GB/s | recall q/s | recall/bw | recall/flat scan | recall/flat range | recall/sgemv+heap | top-k overhead (recall/scan - 1) | cosine/dot time | batch%zu q/s (1 thr) | batch/sgemm+heap (1 thr) | recall nproc/1 thr | batch nproc/1 thr | batch/sgemm+heap (nproc) | bf16 speed-up | bf16 recall@k | exact: bf16 store/plain |\n",
         nb);
    EMIT("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (size_t a = 0; a < nd; a++) {
        for (size_t b = 0; b < ns; b++) {
            size_t n = sizes[b];
            int rp = reps ? reps : n >= 1000000 ? 7 : n >= 100000 ? 15 : 51;
            if (rp > 63)
                rp = 63;
            struct row r;
            run(n, (unsigned)dims[a], k, nb, rp, n >= 1000000 ? 3 : 5, &r);
            /* bytes a recall reads per row: header + f32 data */
            double stride = (double)(64 + (((size_t)dims[a] * 4 + 63) & ~(size_t)63));
            double rec_bw = (double)n * stride / r.recall;
            EMIT("| %zu | %u | %.1f | %.0f | %.2f | %.2f | %.2f-%.2f | %.2f | %+.1f%% | %.2f | %.0f | %.2f | %.2f | %.2f | %.2f | %.2f | %.3f | %.2f |\n",
                 n, r.dim, r.bw / 1e9, 1.0 / r.recall, rec_bw / r.bw, r.vs_flat,
                 r.vs_flat_lo, r.vs_flat_hi, r.sgemv > 0 ? r.sgemv / r.recall : 0.0,
                 100.0 * (r.recall / r.scan - 1.0), r.recall_cos / r.recall,
                 (double)nb / r.batch1, r.sgemm1 > 0 ? r.sgemm1 / r.batch1 : 0.0,
                 r.recall / r.recall_np, r.batch1 / r.batch_np,
                 r.sgemm_np > 0 ? r.sgemm_np / r.batch_np : 0.0,
                 r.recall / r.bf16, r.bf16_recall, r.recall / r.exact16);
            fflush(stdout);
        }
    }
#undef EMIT
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/plot.py' '%s'", COGMEM_BENCH_RECALL_DIR, png);
    FILE *pl = popen(cmd, "w");
    if (pl) {
        fputs(table, pl);
        if (pclose(pl) == 0)
            printf("\nplot: %s\n", png);
        else
            printf("\nplot: %s failed (python3-matplotlib missing?)\n", cmd);
    }
    return 0;
}
