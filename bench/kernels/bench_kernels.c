/* cogmem kernel benchmark: the --bench mode of the kernels checker
 * (tests/kernels/checkasm.c), linked into the same binary.
 *
 *   cogmem-checkasm --bench [--quick] [--full] [--only SECTION] [--png FILE]
 *
 * The tables are also drawn to FILE (default bench_kernels.png) by
 * bench/kernels/plot.py.
 *
 * Every figure is printed next to a baseline measured in the same run on
 * the same buffer, interleaved sample by sample with the kernel so that
 * both see the same host load (DRAM bandwidth drifts by +-20% here):
 *  - read bandwidth: a plain streaming sum over the kernel's input;
 *  - in-place read+write bandwidth: x += 0 over the same array;
 *  - FMA peak: register-only FMAs, 16 independent chains;
 *  - OpenBLAS cblas_sgemv with one thread on the same batch-dot problem
 *    (when the build found OpenBLAS);
 *  - the serial double sum of squares (one add after another, the loop
 *    the store sealed each vector's norm with before cogmem_sum_squares),
 *    for the norm kernel.
 * Absolute times are printed for context only; the ratios are the claims.
 * Each figure is the median of interleaved samples, timed in thread CPU
 * time (see now_ns()).
 */
#include <immintrin.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "cogmem_simd.h"
#include "simd/simd_internal.h"

#if defined(COGMEM_HAVE_OPENBLAS) && COGMEM_HAVE_OPENBLAS
#include <cblas.h>
#define HAVE_BLAS 1
#else
#define HAVE_BLAS 0
#endif

int cogmem__kernels_bench(int argc, char **argv);

static int quick, full;
static FILE *plot; /* plot.py's stdin: every table line is copied there */
static const char *only; /* --only SECTION: dot, topk, decay, hv, bf16, norm, block */

/* Run section `name` unless --only picked another. */
static int want(const char *name)
{
    return !only || strcmp(only, name) == 0;
}
static volatile float sink_f;
static volatile uint32_t sink_u;

/* Thread CPU time, not wall time: on a shared host a preempted sample
 * would otherwise count another process's time slice. Memory stalls still
 * count (the thread is running while it waits). */
static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static uint64_t rs = 12345;
static float frand(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (float)((double)(rs >> 40) / (double)(1ull << 24)) * 2.0f - 1.0f;
}

/* Big buffers: 2 MiB aligned with transparent huge pages requested, so
 * neither the kernel nor its baseline pays 4 KiB TLB misses; touched once
 * so page faults are not timed. */
static void *big_alloc(size_t bytes)
{
    size_t al = (size_t)2 << 20;
    size_t len = (bytes + al - 1) / al * al;
    void *p = aligned_alloc(al, len ? len : al);
    if (!p) {
        fprintf(stderr, "bench: out of memory (%zu bytes)\n", bytes);
        exit(2);
    }
    madvise(p, len, MADV_HUGEPAGE);
    memset(p, 0, len);
    return p;
}

/* ------------------------------------------------------------ baselines */

__attribute__((target("avx512f"))) static float sum512(const float *p, size_t n)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 = _mm512_add_ps(a0, _mm512_loadu_ps(p + i));
        a1 = _mm512_add_ps(a1, _mm512_loadu_ps(p + i + 16));
        a2 = _mm512_add_ps(a2, _mm512_loadu_ps(p + i + 32));
        a3 = _mm512_add_ps(a3, _mm512_loadu_ps(p + i + 48));
    }
    float s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1),
                                                 _mm512_add_ps(a2, a3)));
    for (; i < n; i++)
        s += p[i];
    return s;
}

__attribute__((target("avx2"))) static float sum256(const float *p, size_t n)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_add_ps(a0, _mm256_loadu_ps(p + i));
        a1 = _mm256_add_ps(a1, _mm256_loadu_ps(p + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_loadu_ps(p + i + 16));
        a3 = _mm256_add_ps(a3, _mm256_loadu_ps(p + i + 24));
    }
    __m256 a = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
    float t[8], s = 0;
    _mm256_storeu_ps(t, a);
    for (int k = 0; k < 8; k++)
        s += t[k];
    for (; i < n; i++)
        s += p[i];
    return s;
}

static float sum_scalar(const float *p, size_t n)
{
    float s = 0;
    for (size_t i = 0; i < n; i++)
        s += p[i];
    return s;
}

/* x += z with z = 0 from a volatile, so the compiler cannot drop it. */
__attribute__((target("avx512f"))) static void rw512(float *p, size_t n, float z)
{
    __m512 zv = _mm512_set1_ps(z);
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512 a = _mm512_loadu_ps(p + i), b = _mm512_loadu_ps(p + i + 16),
               c = _mm512_loadu_ps(p + i + 32), d = _mm512_loadu_ps(p + i + 48);
        _mm512_storeu_ps(p + i, _mm512_add_ps(a, zv));
        _mm512_storeu_ps(p + i + 16, _mm512_add_ps(b, zv));
        _mm512_storeu_ps(p + i + 32, _mm512_add_ps(c, zv));
        _mm512_storeu_ps(p + i + 48, _mm512_add_ps(d, zv));
    }
    for (; i < n; i++)
        p[i] += z;
}

static void rw_scalar(float *p, size_t n, float z)
{
    for (size_t i = 0; i < n; i++)
        p[i] += z;
}

static int best_isa;
static volatile float zero_f = 0.0f;

static float stream_sum(const float *p, size_t n)
{
    if (best_isa >= COGMEM__ISA_AVX512)
        return sum512(p, n);
    if (best_isa >= COGMEM__ISA_AVX2)
        return sum256(p, n);
    return sum_scalar(p, n);
}

static void stream_rw(float *p, size_t n)
{
    if (best_isa >= COGMEM__ISA_AVX512)
        rw512(p, n, zero_f);
    else
        rw_scalar(p, n, zero_f);
}

/* ns per 512-bit FMA at peak: 16 independent chains, no memory operands. */
__attribute__((target("avx512f,fma"))) static double fma_peak_ns(void)
{
    const long iters = 2000000;
    __m512 x = _mm512_set1_ps(zero_f + 0.999f), y = _mm512_set1_ps(zero_f + 1e-3f);
    __m512 a[16];
    for (int k = 0; k < 16; k++)
        a[k] = _mm512_set1_ps((float)k);
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        a[0] = _mm512_fmadd_ps(a[0], x, y);
        a[1] = _mm512_fmadd_ps(a[1], x, y);
        a[2] = _mm512_fmadd_ps(a[2], x, y);
        a[3] = _mm512_fmadd_ps(a[3], x, y);
        a[4] = _mm512_fmadd_ps(a[4], x, y);
        a[5] = _mm512_fmadd_ps(a[5], x, y);
        a[6] = _mm512_fmadd_ps(a[6], x, y);
        a[7] = _mm512_fmadd_ps(a[7], x, y);
        a[8] = _mm512_fmadd_ps(a[8], x, y);
        a[9] = _mm512_fmadd_ps(a[9], x, y);
        a[10] = _mm512_fmadd_ps(a[10], x, y);
        a[11] = _mm512_fmadd_ps(a[11], x, y);
        a[12] = _mm512_fmadd_ps(a[12], x, y);
        a[13] = _mm512_fmadd_ps(a[13], x, y);
        a[14] = _mm512_fmadd_ps(a[14], x, y);
        a[15] = _mm512_fmadd_ps(a[15], x, y);
    }
    double t = now_ns() - t0;
    __m512 s = a[0];
    for (int k = 1; k < 16; k++)
        s = _mm512_add_ps(s, a[k]);
    sink_f = _mm512_reduce_add_ps(s);
    return t / ((double)iters * 16);
}

/* ------------------------------------------------------------- harness */

typedef void (*run_fn)(void *ctx);

typedef struct job {
    run_fn fn;
    void *ctx;
    size_t reps;
    double t[64];
} job;

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Interleave samples of up to four jobs (A B C A B C ...). Repetitions per
 * sample are calibrated so a sample lasts >= min_ns; results are the
 * median ns per call of each job. */
static void measure(job *jobs, int nj, int samples, double min_ns, double *res)
{
    if (samples > 64)
        samples = 64;
    for (int j = 0; j < nj; j++) {
        jobs[j].fn(jobs[j].ctx); /* warm caches and page tables */
        size_t reps = 1;
        for (;;) {
            double t0 = now_ns();
            for (size_t r = 0; r < reps; r++)
                jobs[j].fn(jobs[j].ctx);
            double t = now_ns() - t0;
            if (t >= min_ns || reps >= ((size_t)1 << 30))
                break;
            reps *= t > 0 && min_ns / t < 8 ? 2 : 8;
        }
        jobs[j].reps = reps;
    }
    for (int s = 0; s < samples; s++)
        for (int j = 0; j < nj; j++) {
            double t0 = now_ns();
            for (size_t r = 0; r < jobs[j].reps; r++)
                jobs[j].fn(jobs[j].ctx);
            jobs[j].t[s] = (now_ns() - t0) / (double)jobs[j].reps;
        }
    for (int j = 0; j < nj; j++)
        res[j] = median(jobs[j].t, samples);
}

static void row(const char *kernel, const char *shape, const char *isa,
                double ns_call, double elems, const char *unit, double bytes,
                const char *base, double ratio)
{
    char per[32], gbs[32], rat[32];
    if (elems > 0)
        snprintf(per, sizeof per, "%.3f ns/%s", ns_call / elems, unit);
    else
        snprintf(per, sizeof per, "-");
    if (bytes > 0)
        snprintf(gbs, sizeof gbs, "%.1f", bytes / ns_call);
    else
        snprintf(gbs, sizeof gbs, "-");
    if (ratio > 0)
        snprintf(rat, sizeof rat, "%.2f", ratio);
    else
        snprintf(rat, sizeof rat, "-");
    char call[32];
    if (ns_call >= 1e6)
        snprintf(call, sizeof call, "%.2f ms", ns_call / 1e6);
    else if (ns_call >= 1e3)
        snprintf(call, sizeof call, "%.2f us", ns_call / 1e3);
    else
        snprintf(call, sizeof call, "%.1f ns", ns_call);
    printf("| %-14s | %-16s | %-10s | %10s | %17s | %7s | %-26s | %5s |\n",
           kernel, shape, isa, call, per, gbs, base, rat);
    if (plot)
        fprintf(plot, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", kernel,
                shape, isa, call, per, gbs, base, rat);
    fflush(stdout);
}

static void header(const char *title)
{
    printf("\n### %s\n\n", title);
    printf("| %-14s | %-16s | %-10s | %10s | %17s | %7s | %-26s | %5s |\n",
           "kernel", "shape", "isa", "per call", "per element", "GB/s",
           "baseline (same run)", "ratio");
    if (plot)
        fprintf(plot, "| kernel | shape | isa | per call | per element | GB/s | "
                      "baseline (same run) | ratio |\n");
    printf("|%s|%s|%s|%s|%s|%s|%s|%s|\n", "----------------",
           "------------------", "------------", "------------",
           "-------------------", "---------", "----------------------------",
           "-------");
}

/* --------------------------------------------------------- job contexts */

typedef struct dot_ctx {
    void (*dot)(const float *, const float *, size_t, size_t, size_t, float *);
    const float *q, *rows;
    size_t n, dim;
    float *out;
} dot_ctx;

static void run_dot(void *p)
{
    dot_ctx *c = p;
    c->dot(c->q, c->rows, c->n, c->dim, c->dim, c->out);
}

typedef struct cos_ctx {
    const cogmem__simd_ops *o;
    const float *q, *rows, *norms;
    size_t n, dim;
    float *out;
} cos_ctx;

static void run_cos(void *p)
{
    cos_ctx *c = p;
    c->o->cosine_batch(c->q, c->rows, c->n, c->dim, c->dim, c->norms, 1.0f,
                       c->out);
}

typedef struct sum_ctx {
    const float *p;
    size_t n;
} sum_ctx;

static void run_sum(void *p)
{
    sum_ctx *c = p;
    sink_f = stream_sum(c->p, c->n);
}

static void run_rw(void *p)
{
    sum_ctx *c = p;
    stream_rw((float *)c->p, c->n);
}

#if HAVE_BLAS
static void run_sgemv(void *p)
{
    dot_ctx *c = p;
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (blasint)c->n, (blasint)c->dim,
                1.0f, c->rows, (blasint)c->dim, c->q, 1, 0.0f, c->out, 1);
}
#endif

static const char *isa_names[COGMEM__ISA_COUNT] = {"scalar", "avx2", "avx512"};

/* ------------------------------------------------------------ benches */

static void bench_dot(size_t n, size_t dim, const char *label, double fma_ns)
{
    size_t len = n * dim;
    float *rows = big_alloc(len * sizeof(float));
    float *q = big_alloc(dim * sizeof(float));
    float *out = big_alloc(n * sizeof(float));
    for (size_t i = 0; i < len; i++)
        rows[i] = frand();
    for (size_t j = 0; j < dim; j++)
        q[j] = frand();
    double bytes = (double)len * sizeof(float);
    int dram = bytes > 64e6;
    int samples = quick ? 5 : dram ? 9 : 15;
    double min_ns = dram ? 1 : 2e6;
    char shape[32];
    snprintf(shape, sizeof shape, "%zux%zu %s", n, dim, label);
    sum_ctx sc = {rows, len};
    for (int isa = COGMEM__ISA_COUNT - 1; isa >= 0; isa--) {
        const cogmem__simd_ops *o = cogmem__simd_table(isa);
        if (!o)
            continue;
        if (isa == COGMEM__ISA_SCALAR && dram && quick)
            continue;
        dot_ctx dc = {o->dot_batch, q, rows, n, dim, out};
        job jobs[3] = {{run_dot, &dc, 0, {0}}, {run_sum, &sc, 0, {0}}};
        int nj = 2;
#if HAVE_BLAS
        dot_ctx bc = dc;
        jobs[nj++] = (job){run_sgemv, &bc, 0, {0}};
#endif
        double r[3];
        measure(jobs, nj, isa == COGMEM__ISA_SCALAR ? 3 : samples, min_ns, r);
        row("dot_batch", shape, isa_names[isa], r[0], (double)n, "row", bytes,
            "read bandwidth (sum)", r[1] / r[0]);
        if (nj == 3 && isa == cogmem__simd_best())
            row("dot_batch", shape, isa_names[isa], r[0], (double)n, "row",
                bytes, "OpenBLAS sgemv 1 thread", r[2] / r[0]);
        if (isa == COGMEM__ISA_AVX512 && fma_ns > 0 && n == 16)
            row("dot_batch", shape, isa_names[isa], r[0], (double)n, "row",
                bytes, "FMA peak time (16x768)",
                (double)len / 16.0 * fma_ns / r[0]);
    }
    if (cogmem__simd_table(COGMEM__ISA_AVX512)) {
        /* the AVX-512 paths dot_batch chooses between, by base size */
        static const char *paths[3] = {"dot path 16-row", "dot 16-row +pf",
                                       "dot path 4-row"};
        for (int path = 0; path < 3; path++) {
            dot_ctx dc = {cogmem__simd_avx512_dot_path(path), q, rows, n, dim, out};
            job jobs[2] = {{run_dot, &dc, 0, {0}}, {run_sum, &sc, 0, {0}}};
            double r[2];
            measure(jobs, 2, samples, min_ns, r);
            row(paths[path], shape, "avx512", r[0], (double)n, "row", bytes,
                "read bandwidth (sum)", r[1] / r[0]);
        }
    }
    /* cosine: norms computed in the same pass vs given */
    for (int isa = COGMEM__ISA_COUNT - 1; isa >= 1 && n >= 1000; isa--) {
        const cogmem__simd_ops *o = cogmem__simd_table(isa);
        if (!o)
            continue;
        float *norms = big_alloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++)
            norms[i] = 1.0f + (float)(i % 7);
        for (int given = 0; given < 2; given++) {
            cos_ctx cc = {o, q, rows, given ? norms : NULL, n, dim, out};
            job jobs[2] = {{run_cos, &cc, 0, {0}}, {run_sum, &sc, 0, {0}}};
            double r[2];
            measure(jobs, 2, samples, min_ns, r);
            row(given ? "cosine (norms)" : "cosine (fused)", shape,
                isa_names[isa], r[0], (double)n, "row", bytes,
                "read bandwidth (sum)", r[1] / r[0]);
        }
        free(norms);
    }
    free(rows);
    free(q);
    free(out);
}

typedef struct topk_ctx {
    const cogmem__simd_ops *o;
    const float *s;
    size_t n, k;
    uint32_t *idx;
} topk_ctx;

/* ---------------------------------------------------------------- norm */

typedef struct norm_ctx {
    const cogmem__simd_ops *o; /* NULL: the serial loop */
    const float *x;
    size_t n;
} norm_ctx;

static volatile double sink_d;

static void run_norm(void *p)
{
    norm_ctx *c = p;
    if (c->o) {
        sink_d = c->o->sum_squares(c->x, c->n);
        return;
    }
    double acc = 0.0;
    for (size_t i = 0; i < c->n; i++)
        acc += (double)c->x[i] * (double)c->x[i];
    sink_d = acc;
}

/* cogmem_sum_squares (a stored vector's norm) at the store's usual
 * dimensions, cache-resident as a caller's vector is, against the serial
 * double loop on the same floats: the same additions' count, in a chain. */
static void bench_norm(void)
{
    static const size_t dims[3] = {16, 128, 768};
    float *x = big_alloc(768 * sizeof(float));
    for (size_t i = 0; i < 768; i++)
        x[i] = frand();
    for (int d = 0; d < 3; d++) {
        char shape[32];
        snprintf(shape, sizeof shape, "dim %zu L1", dims[d]);
        norm_ctx serial = {NULL, x, dims[d]};
        for (int isa = COGMEM__ISA_COUNT - 1; isa >= 0; isa--) {
            const cogmem__simd_ops *o = cogmem__simd_table(isa);
            if (!o)
                continue;
            norm_ctx k = {o, x, dims[d]};
            job jobs[2] = {{run_norm, &k, 0, {0}}, {run_norm, &serial, 0, {0}}};
            double r[2];
            measure(jobs, 2, quick ? 5 : 15, 1e6, r);
            row("sum_squares", shape, isa_names[isa], r[0], (double)dims[d], "elem",
                dims[d] * 4.0, "serial double loop", r[1] / r[0]);
        }
    }
    free(x);
}

static void run_topk(void *p)
{
    topk_ctx *c = p;
    sink_u = (uint32_t)c->o->topk(c->s, c->n, c->k, c->idx);
}

static void bench_topk(void)
{
    size_t n = 100000, k = 10;
    float *s = big_alloc(n * sizeof(float));
    uint32_t idx[16];
    for (size_t i = 0; i < n; i++)
        s[i] = frand();
    sum_ctx sc = {s, n};
    for (int isa = COGMEM__ISA_COUNT - 1; isa >= 0; isa--) {
        const cogmem__simd_ops *o = cogmem__simd_table(isa);
        if (!o)
            continue;
        topk_ctx tc = {o, s, n, k, idx};
        job jobs[2] = {{run_topk, &tc, 0, {0}}, {run_sum, &sc, 0, {0}}};
        double r[2];
        measure(jobs, 2, quick ? 5 : 15, 2e6, r);
        row("topk k=10", "1e5 scores", isa_names[isa], r[0], (double)n,
            "score", (double)n * 4, "read bandwidth (sum)", r[1] / r[0]);
    }
    free(s);
}

typedef struct vec_ctx {
    const cogmem__simd_ops *o;
    float *x;
    const float *dt;
    const uint32_t *fan;
    float *out;
    size_t n;
    int mode;
} vec_ctx;

static void run_scale(void *p)
{
    vec_ctx *c = p;
    c->o->scale(c->x, c->n, 1.0f); /* values must not drift to denormals */
}

static void run_exp(void *p)
{
    vec_ctx *c = p;
    c->o->decay_exp(c->x, c->dt, c->n, 1e-9f);
}

static void run_fan(void *p)
{
    vec_ctx *c = p;
    c->o->fan(c->x, c->fan, c->n, c->mode, 2.0f, c->out);
}

static void bench_decay_fan(void)
{
    /* element-wise kernels: cache-resident (16 KiB) and, for the scale,
     * DRAM-resident (256 MiB) against an in-place read+write stream */
    static const size_t sizes[2] = {4096, (size_t)64 << 20};
    for (int si = 0; si < 2; si++) {
        size_t n = sizes[si];
        if (si == 1 && quick)
            n = (size_t)16 << 20;
        float *x = big_alloc(n * sizeof(float));
        float *dt = big_alloc(n * sizeof(float));
        float *out = big_alloc(n * sizeof(float));
        uint32_t *fan = big_alloc(n * sizeof(uint32_t));
        for (size_t i = 0; i < n; i++) {
            x[i] = frand() + 2.0f;
            dt[i] = (frand() + 1.0f) * 1e3f;
            fan[i] = (uint32_t)(rs % 5000);
            frand();
        }
        char shape[32];
        snprintf(shape, sizeof shape, si ? "%zuM f32 DRAM" : "%zu f32 L1",
                 si ? n >> 20 : n);
        sum_ctx sc = {x, n};
        double min_ns = si ? 1 : 1e6;
        int samples = quick ? 5 : si ? 9 : 15;
        for (int isa = COGMEM__ISA_COUNT - 1; isa >= 0; isa--) {
            const cogmem__simd_ops *o = cogmem__simd_table(isa);
            if (!o)
                continue;
            vec_ctx vc = {o, x, dt, fan, out, n, 0};
            job jobs[2] = {{run_scale, &vc, 0, {0}}, {run_rw, &sc, 0, {0}}};
            double r[2];
            measure(jobs, 2, samples, min_ns, r);
            row("decay x*=f", shape, isa_names[isa], r[0], (double)n, "elem",
                2.0 * n * 4, "in-place r+w bandwidth", r[1] / r[0]);
            if (si == 1)
                continue;
            /* exp against the scalar kernel, i.e. a glibc expf loop */
            vec_ctx sv = vc;
            sv.o = cogmem__simd_table(COGMEM__ISA_SCALAR);
            jobs[0] = (job){run_exp, &vc, 0, {0}};
            jobs[1] = (job){run_exp, &sv, 0, {0}};
            measure(jobs, isa ? 2 : 1, samples, min_ns, r);
            row("decay x*=exp", shape, isa_names[isa], r[0], (double)n, "elem",
                3.0 * n * 4, isa ? "scalar (glibc expf loop)" : "-",
                isa ? r[1] / r[0] : 0);
            static const char *modes[4] = {"fan inv-sqrt", "fan linear",
                                           "fan actr", "fan none"};
            for (int m = 0; m < 4; m++) {
                vc.mode = m;
                jobs[0] = (job){run_fan, &vc, 0, {0}};
                measure(jobs, 1, samples, min_ns, r);
                row(modes[m], shape, isa_names[isa], r[0], (double)n, "elem",
                    3.0 * n * 4, "-", 0);
            }
        }
        free(x);
        free(dt);
        free(out);
        free(fan);
    }
}

typedef struct hv_ctx {
    void (*ham)(const uint8_t *, const uint8_t *, size_t, size_t, uint32_t *);
    const cogmem__simd_ops *o;
    const uint8_t *q, *rows;
    size_t n, nbytes;
    uint32_t *out;
    uint8_t *v;
} hv_ctx;

static void run_ham(void *p)
{
    hv_ctx *c = p;
    c->ham(c->q, c->rows, c->n, c->nbytes, c->out);
}

static void run_bundle(void *p)
{
    hv_ctx *c = p;
    c->o->hv_bundle(c->rows, c->n, c->nbytes, c->v);
}

static void run_permute(void *p)
{
    hv_ctx *c = p;
    c->o->hv_permute(c->q, c->nbytes, 777, c->v);
}

static void run_bind(void *p)
{
    hv_ctx *c = p;
    c->o->hv_xor(c->q, c->rows, c->nbytes, c->v);
}

static void bench_hv(void)
{
    size_t nbytes = 256; /* 2048 bits */
    static const size_t counts[2] = {1000, 1000000};
    for (int si = 0; si < 2; si++) {
        size_t n = counts[si];
        if (si == 1 && quick)
            n = 300000;
        uint8_t *rows = big_alloc(n * nbytes), *q = big_alloc(nbytes);
        uint8_t *v = big_alloc(nbytes);
        uint32_t *out = big_alloc(n * sizeof(uint32_t));
        for (size_t i = 0; i < n * nbytes / 4; i++) {
            rs = rs * 6364136223846793005ull + 1;
            ((uint32_t *)rows)[i] = (uint32_t)(rs >> 32);
        }
        memcpy(q, rows + nbytes, nbytes);
        char shape[32];
        snprintf(shape, sizeof shape, "%zu x 2048b %s", n, si ? "DRAM" : "L2");
        sum_ctx sc = {(const float *)rows, n * nbytes / 4};
        double bytes = (double)n * nbytes;
        for (int isa = COGMEM__ISA_COUNT; isa >= 0; isa--) {
            const cogmem__simd_ops *o = cogmem__simd_table(
                isa == COGMEM__ISA_COUNT ? COGMEM__ISA_AVX512 : isa);
            if (!o)
                continue;
            hv_ctx hc = {o->hv_hamming, o, q, rows, n, nbytes, out, v};
            const char *name = isa_names[isa == COGMEM__ISA_COUNT ? 2 : isa];
            if (isa == COGMEM__ISA_COUNT) {
                hc.ham = cogmem__simd_avx512_hamming_lut();
                name = "avx512-lut";
                if (!cogmem__simd_has_vpopcntdq())
                    continue; /* then it is the table's kernel anyway */
            } else if (isa == COGMEM__ISA_AVX512 && cogmem__simd_has_vpopcntdq()) {
                name = "avx512-vpop";
            }
            job jobs[2] = {{run_ham, &hc, 0, {0}}, {run_sum, &sc, 0, {0}}};
            double r[2];
            measure(jobs, 2, quick ? 5 : si ? 9 : 15, si ? 1 : 2e6, r);
            row("hamming", shape, name, r[0], (double)n, "pair", bytes,
                "read bandwidth (sum)", r[1] / r[0]);
            if (si == 0 && isa < COGMEM__ISA_COUNT) {
                hv_ctx bc = hc;
                bc.n = 64;
                jobs[0] = (job){run_bundle, &bc, 0, {0}};
                measure(jobs, 1, quick ? 5 : 15, 1e6, r);
                row("bundle 64 rows", "2048b", name, r[0], 64.0, "row", 0, "-", 0);
                jobs[0] = (job){run_permute, &hc, 0, {0}};
                measure(jobs, 1, quick ? 5 : 15, 1e6, r);
                row("permute", "2048b", name, r[0], 0, "", 0, "-", 0);
                jobs[0] = (job){run_bind, &hc, 0, {0}};
                measure(jobs, 1, quick ? 5 : 15, 1e6, r);
                row("bind (xor)", "2048b", name, r[0], 0, "", 0, "-", 0);
            }
        }
        free(rows);
        free(q);
        free(v);
        free(out);
    }
}

typedef struct bf_ctx {
    const cogmem__simd_ops *o;
    const uint16_t *q, *rows;
    const float *qf, *rowsf;
    size_t n, dim;
    float *out;
} bf_ctx;

static void run_bf16(void *p)
{
    bf_ctx *c = p;
    c->o->dot_bf16(c->q, c->rows, c->n, c->dim, c->dim, c->out);
}

static void run_f32(void *p)
{
    bf_ctx *c = p;
    c->o->dot_batch(c->qf, c->rowsf, c->n, c->dim, c->dim, c->out);
}

static void bench_bf16(void)
{
    if (!cogmem__simd_has_bf16())
        return;
    size_t n = quick ? 30000 : 100000, dim = 768, len = n * dim;
    float *rowsf = big_alloc(len * 4), *qf = big_alloc(dim * 4);
    uint16_t *rows = big_alloc(len * 2), *q = big_alloc(dim * 2);
    float *out = big_alloc(n * 4);
    for (size_t i = 0; i < len; i++)
        rowsf[i] = frand();
    for (size_t j = 0; j < dim; j++)
        qf[j] = frand();
    cogmem_f32_to_bf16(rowsf, len, rows);
    cogmem_f32_to_bf16(qf, dim, q);
    const cogmem__simd_ops *o = cogmem__simd_table(COGMEM__ISA_AVX512);
    bf_ctx bc = {o, q, rows, qf, rowsf, n, dim, out};
    sum_ctx sc = {(const float *)rows, len / 2};
    job jobs[3] = {{run_bf16, &bc, 0, {0}}, {run_f32, &bc, 0, {0}},
                   {run_sum, &sc, 0, {0}}};
    double r[3];
    measure(jobs, 3, quick ? 5 : 9, 1, r);
    char shape[32];
    snprintf(shape, sizeof shape, "%zux%zu DRAM", n, dim);
    row("dot_batch_bf16", shape, "avx512-bf16", r[0], (double)n, "row",
        (double)len * 2, "f32 dot_batch, same rows", r[1] / r[0]);
    row("dot_batch_bf16", shape, "avx512-bf16", r[0], (double)n, "row",
        (double)len * 2, "read bandwidth (sum)", r[2] / r[0]);
    free(rowsf);
    free(qf);
    free(rows);
    free(q);
    free(out);
}

/* ------------------------------------------------------ multi-query dot */

typedef struct blk_ctx {
    const cogmem__simd_ops *o;
    const float *q, *rows;
    size_t nq, n, dim;
    float *out;
} blk_ctx;

static void run_block(void *p)
{
    blk_ctx *c = p;
    c->o->dot_block(c->q, c->nq, c->dim, c->rows, c->n, c->dim, c->dim, c->out, c->n);
}

/* The same product as nq dot_batch passes, query by query. */
static void run_block_by_query(void *p)
{
    blk_ctx *c = p;
    for (size_t a = 0; a < c->nq; a++)
        c->o->dot_batch(c->q + a * c->dim, c->rows, c->n, c->dim, c->dim,
                        c->out + a * c->n);
}

#if HAVE_BLAS
static void run_sgemm(void *p)
{
    blk_ctx *c = p;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)c->nq,
                (blasint)c->n, (blasint)c->dim, 1.0f, c->q, (blasint)c->dim,
                c->rows, (blasint)c->dim, 0.0f, c->out, (blasint)c->n);
}
#endif

static void bench_block(size_t nq, size_t n, size_t dim, const char *label,
                        double fma_ns)
{
    float *rows = big_alloc(n * dim * sizeof(float));
    float *q = big_alloc(nq * dim * sizeof(float));
    float *out = big_alloc(nq * n * sizeof(float));
    for (size_t i = 0; i < n * dim; i++)
        rows[i] = frand();
    for (size_t i = 0; i < nq * dim; i++)
        q[i] = frand();
    double fmas = (double)nq * (double)n * (double)dim / 16.0; /* 512-bit */
    int dram = (double)n * dim * 4 > 64e6;
    int samples = quick ? 5 : dram ? 7 : 11;
    double min_ns = dram ? 1 : 2e6;
    char shape[40];
    snprintf(shape, sizeof shape, "%zuq x %zu x %zu %s", nq, n, dim, label);
    for (int isa = COGMEM__ISA_COUNT - 1; isa >= 1; isa--) {
        const cogmem__simd_ops *o = cogmem__simd_table(isa);
        if (!o)
            continue;
        blk_ctx bc = {o, q, rows, nq, n, dim, out};
        job jobs[3] = {{run_block, &bc, 0, {0}}, {run_block_by_query, &bc, 0, {0}}};
        int nj = 2;
#if HAVE_BLAS
        if (isa == cogmem__simd_best())
            jobs[nj++] = (job){run_sgemm, &bc, 0, {0}};
#endif
        double r[3];
        measure(jobs, nj, samples, min_ns, r);
        double pairs = (double)nq * (double)n;
        row("dot_block", shape, isa_names[isa], r[0], pairs, "pair", 0,
            "dot_batch per query", r[1] / r[0]);
        if (nj == 3)
            row("dot_block", shape, isa_names[isa], r[0], pairs, "pair", 0,
                "OpenBLAS sgemm 1 thread", r[2] / r[0]);
        if (isa == COGMEM__ISA_AVX512 && fma_ns > 0)
            row("dot_block", shape, isa_names[isa], r[0], pairs, "pair", 0,
                "FMA peak time", fmas * fma_ns / r[0]);
    }
    free(rows);
    free(q);
    free(out);
}

int cogmem__kernels_bench(int argc, char **argv)
{
    const char *png = "bench_kernels.png";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--full") == 0)
            full = 1;
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (strcmp(argv[i], "--png") == 0 && i + 1 < argc)
            png = argv[++i];
    }
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/plot.py' '%s'",
             COGMEM_BENCH_KERNELS_DIR, png);
    plot = popen(cmd, "w");
    /* One core, no migration: a moved thread would lose its cache and
     * mix two cores' clocks into one figure. */
    int cpu = sched_getcpu();
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        sched_setaffinity(0, sizeof set, &set);
    }
#if HAVE_BLAS
    openblas_set_num_threads(1);
#endif
    best_isa = cogmem__simd_best();
    printf("cogmem kernel benchmark: best ISA %s%s%s, OpenBLAS peer %s, mode %s\n",
           isa_names[best_isa], cogmem__simd_has_vpopcntdq() ? " +vpopcntdq" : "",
           cogmem__simd_has_bf16() ? " +bf16" : "", HAVE_BLAS ? "yes" : "no",
           quick ? "quick" : full ? "full" : "default");
    printf("ratio = baseline time / kernel time on the same data, samples "
           "interleaved (> 1: kernel faster than baseline; for bandwidth "
           "baselines, the fraction of measured bandwidth reached)\n");
    double fma_ns = best_isa >= COGMEM__ISA_AVX512 ? fma_peak_ns() : 0;
    if (fma_ns > 0)
        printf("measured FMA peak: %.4f ns per 512-bit FMA (%.2f GFLOP/s)\n",
               fma_ns, 32.0 / fma_ns);

    if (want("dot")) {
        header("batch dot / cosine (f32)");
        bench_dot(16, 768, "L1", fma_ns);
        bench_dot(1000, 768, "L2/L3", fma_ns);
        bench_dot(quick ? 30000 : 100000, 768, "DRAM", fma_ns);
        if (full)
            bench_dot(1000000, 768, "DRAM", fma_ns);
    }
    static const struct {
        const char *name, *title;
        void (*fn)(void);
    } simple[] = {{"topk", "top-k", bench_topk},
                  {"decay", "decay and fan effect", bench_decay_fan},
                  {"hv", "binary hypervectors", bench_hv},
                  {"bf16", "bf16 quantised scan", bench_bf16},
                  {"norm", "sum of squares (a vector's norm)", bench_norm}};
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
        if (want(simple[i].name)) {
            header(simple[i].title);
            simple[i].fn();
        }
    if (want("block")) {
        header("multi-query dot block (queries x rows)");
        bench_block(64, 1000, 768, "L2/L3", fma_ns);
        bench_block(64, quick ? 30000 : 100000, 768, "DRAM", fma_ns);
        bench_block(256, 256, 128, "pairwise", fma_ns);
    }
    if (plot) {
        if (pclose(plot) == 0)
            printf("\nplot: %s\n", png);
        else
            printf("\nplot: %s failed (python3-matplotlib missing?)\n", cmd);
    }
    return 0;
}
