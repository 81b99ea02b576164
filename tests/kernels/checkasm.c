/* cogmem kernels checker (in the spirit of dav1d's checkasm).
 *
 * Runs every kernel of every ISA this CPU and build can execute against the
 * scalar kernel (the oracle) on fixed-seed random data and on edge cases,
 * checks the scalar kernel against independent references (double
 * precision, plain bit loops, a full sort), checks the dispatcher, and
 * exits non-zero on any mismatch. With --bench the same binary is the
 * kernel benchmark (bench/kernels/bench_kernels.c).
 *
 *   cogmem-checkasm [--seed N] [--verbose]
 *   cogmem-checkasm --bench [--quick] [--full] [--only SECTION] [--png FILE]
 *
 * Buffers are placed so that they end exactly at a PROT_NONE guard page: a
 * kernel that reads (or writes) one byte past a row end crashes here
 * instead of passing silently. Tolerances are the ones documented in
 * include/cogmem_simd.h.
 */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cogmem_simd.h"
#include "simd/ge_mask.h"
#include "simd/splat.h"
#include "simd/simd_internal.h"

int cogmem__kernels_bench(int argc, char **argv);

/* ------------------------------------------------------------- plumbing */

static int failures, checks, verbose;
static const char *cur_isa = "?";

#define FAIL(...)                                                              \
    do {                                                                       \
        if (failures++ < 40) {                                                 \
            fprintf(stderr, "FAIL [%s] ", cur_isa);                            \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
        }                                                                      \
    } while (0)

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd64(void)
{
    /* splitmix64: tiny, fixed-seed reproducible, good enough for tests */
    uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static float rnd_unit(void) /* [-1, 1) */
{
    return (float)((double)(rnd64() >> 40) / (double)(1ull << 23) - 1.0);
}

static float f_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* Guarded allocations: the returned block ends at a PROT_NONE page. */
typedef struct guard {
    void *map;
    size_t maplen;
} guard;

#define MAX_GUARDS 16
static guard guards[MAX_GUARDS];
static int nguards;

static void *galloc(size_t bytes)
{
    long pg = sysconf(_SC_PAGESIZE);
    size_t data_pages = (bytes + (size_t)pg - 1) / (size_t)pg;
    size_t len = (data_pages + 1) * (size_t)pg;
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    uint8_t *end = (uint8_t *)m + data_pages * (size_t)pg;
    if (mprotect(end, (size_t)pg, PROT_NONE) != 0) {
        perror("mprotect");
        exit(2);
    }
    if (nguards == MAX_GUARDS) {
        fprintf(stderr, "checker: too many guarded buffers\n");
        exit(2);
    }
    guards[nguards++] = (guard){m, len};
    return end - bytes;
}

static void gfree_all(void)
{
    while (nguards > 0) {
        nguards--;
        munmap(guards[nguards].map, guards[nguards].maplen);
    }
}

/* The ISAs to compare: index 0 is always the scalar oracle. */
static const cogmem__simd_ops *isa_tab[COGMEM__ISA_COUNT];
static const char *isa_label[COGMEM__ISA_COUNT + 1];
static cogmem__hamming_fn extra_hamming; /* AVX-512 nibble-LUT variant */

/* ---------------------------------------------------------- float fills */

enum fill {
    FILL_RANDOM,   /* uniform [-1, 1) */
    FILL_WIDE,     /* random sign, exponents over 2^-20 .. 2^20 */
    FILL_ZERO,     /* all +0 */
    FILL_DENORMAL, /* denormals and tiny normals */
    FILL_NAN,      /* random with one NaN */
    FILL_INF,      /* random with one +Inf */
    FILL_COUNT
};

static const char *fill_name[FILL_COUNT] = {"random", "wide", "zero",
                                            "denormal", "nan", "inf"};

static void fill_floats(float *x, size_t n, int how)
{
    for (size_t i = 0; i < n; i++) {
        switch (how) {
        case FILL_WIDE: {
            int e = (int)(rnd64() % 41) - 20;
            x[i] = ldexpf(1.0f + (float)(rnd64() % 1000) / 1000.0f, e) *
                   ((rnd64() & 1) ? -1.0f : 1.0f);
            break;
        }
        case FILL_ZERO:
            x[i] = 0.0f;
            break;
        case FILL_DENORMAL:
            x[i] = (rnd64() & 1) ? f_from_bits((uint32_t)(rnd64() & 0x007fffff))
                                 : rnd_unit() * 1e-37f;
            if (rnd64() & 1)
                x[i] = -x[i];
            break;
        default:
            x[i] = rnd_unit();
            break;
        }
    }
    if (n && how == FILL_NAN)
        x[rnd64() % n] = NAN;
    if (n && how == FILL_INF)
        x[rnd64() % n] = INFINITY;
}

/* Same value class and, for finite values, |a - b| <= tol. */
static int close_enough(float got, float ref, double tol)
{
    if (isnan(ref))
        return isnan(got);
    if (isinf(ref) || isinf(got))
        return got == ref;
    return fabs((double)got - (double)ref) <= tol;
}

/* ------------------------------------------------------------- dot/cos */

static void check_dot(size_t n, size_t dim, size_t stride, int fq, int fr,
                      int offset)
{
    size_t rows_len = n ? (n - 1) * stride + dim : 0;
    float *q = (float *)galloc((dim + 1) * sizeof(float)) + 1; /* odd start */
    float *rows = (float *)galloc((rows_len + (size_t)offset) * sizeof(float)) + offset;
    float *norms = galloc(n * sizeof(float) + 4);
    float *ref = galloc(n * sizeof(float) + 4);
    float *out = galloc(n * sizeof(float) + 4);
    double *sabs = calloc(n + 1, sizeof(double));
    double *dotd = calloc(n + 1, sizeof(double));
    fill_floats(q, dim, fq);
    for (size_t i = 0; i < n; i++) {
        fill_floats(rows + i * stride, dim, fr);
        /* the gap between rows must never be read: poison it */
        if (i + 1 < n)
            for (size_t j = dim; j < stride; j++)
                rows[i * stride + j] = NAN;
    }
    const float eps = FLT_EPSILON;
    double denorm_slack = (double)dim * 0x1p-149;
    for (size_t i = 0; i < n; i++) {
        double s = 0, d = 0;
        for (size_t j = 0; j < dim; j++) {
            s += fabs((double)q[j] * rows[i * stride + j]);
            d += (double)q[j] * rows[i * stride + j];
        }
        sabs[i] = s;
        dotd[i] = d;
    }
    char tag[160];
    snprintf(tag, sizeof tag, "n=%zu dim=%zu stride=%zu q=%s rows=%s off=%d", n,
             dim, stride, fill_name[fq], fill_name[fr], offset);

    /* The oracle against exact (double) sums. */
    cur_isa = "scalar";
    isa_tab[0]->dot_batch(q, rows, n, dim, stride, ref);
    for (size_t i = 0; i < n; i++) {
        checks++;
        if (isfinite(dotd[i]) && isfinite(ref[i]) &&
            fabs(ref[i] - dotd[i]) > dim * eps * sabs[i] + denorm_slack)
            FAIL("dot oracle vs double %s i=%zu got %.9g exact %.9g", tag, i,
                 ref[i], dotd[i]);
    }

    /* q norm and row norms as the public wrapper would resolve them */
    float qq;
    isa_tab[0]->dot_batch(q, q, 1, dim, dim, &qq);
    float qn = sqrtf(qq);
    for (size_t i = 0; i < n; i++) {
        float rr;
        isa_tab[0]->dot_batch(rows + i * stride, rows + i * stride, 1, dim, dim,
                              &rr);
        norms[i] = sqrtf(rr);
    }
    float *cref = malloc((n + 1) * sizeof(float));
    float *cref_n = malloc((n + 1) * sizeof(float));
    isa_tab[0]->cosine_batch(q, rows, n, dim, stride, NULL, qn, cref);
    isa_tab[0]->cosine_batch(q, rows, n, dim, stride, norms, qn, cref_n);

    for (int t = 1; t < COGMEM__ISA_COUNT; t++) {
        if (!isa_tab[t])
            continue;
        cur_isa = isa_label[t];
        /* the dispatched kernel, then (AVX-512) each path it picks from by
         * base size, so every path is checked on every shape */
        for (int path = -1; path < (t == COGMEM__ISA_AVX512 ? 3 : 0); path++) {
            if (path < 0)
                isa_tab[t]->dot_batch(q, rows, n, dim, stride, out);
            else
                cogmem__simd_avx512_dot_path(path)(q, rows, n, dim, stride, out);
            for (size_t i = 0; i < n; i++) {
                checks++;
                if (!close_enough(out[i], ref[i], dim * eps * sabs[i] + denorm_slack)) {
                    FAIL("dot path %d %s i=%zu got %.9g want %.9g (sum|ab| %.3g)",
                         path, tag, i, out[i], ref[i], sabs[i]);
                    break;
                }
            }
        }
        for (int with_norms = 0; with_norms < 2; with_norms++) {
            const float *cr = with_norms ? cref_n : cref;
            isa_tab[t]->cosine_batch(q, rows, n, dim, stride,
                                     with_norms ? norms : NULL, qn, out);
            for (size_t i = 0; i < n; i++) {
                checks++;
                double den = (double)qn * norms[i];
                double tol = 4 * eps * fabs(cr[i]);
                if (den > 0)
                    tol += dim * eps * (sabs[i] + fabs(ref[i])) / den;
                if (den > 0 && den < 1e-30) /* norms near underflow */
                    tol = INFINITY;
                if (!close_enough(out[i], cr[i], tol))
                    FAIL("cosine(norms=%d) %s i=%zu got %.9g want %.9g",
                         with_norms, tag, i, out[i], cr[i]);
                if (cr[i] != 0 && isfinite(cr[i]) && den == 0)
                    FAIL("cosine oracle %s i=%zu zero norm gave %g", tag, i,
                         cr[i]);
            }
        }
    }
    free(cref);
    free(cref_n);
    free(sabs);
    free(dotd);
    gfree_all();
}

static void test_dot(void)
{
    static const size_t ns[] = {0, 1, 3, 4, 5, 7, 8, 15, 16, 17, 31, 32, 33, 47, 100};
    static const size_t dims[] = {0, 1, 3, 7, 8, 15, 16, 17, 31, 33, 64, 100, 768, 769};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (size_t b = 0; b < sizeof dims / sizeof dims[0]; b++) {
            size_t n = ns[a], dim = dims[b];
            check_dot(n, dim, dim, FILL_RANDOM, FILL_RANDOM, 0);
            check_dot(n, dim, dim + 16 - dim % 16, FILL_RANDOM, FILL_RANDOM, 0);
            check_dot(n, dim, dim + 3, FILL_WIDE, FILL_RANDOM, 1);
        }
    /* value edge cases on a few shapes */
    static const size_t shapes[][2] = {{17, 33}, {16, 768}, {5, 7}, {33, 100}};
    for (size_t s = 0; s < 4; s++)
        for (int fq = 0; fq < FILL_COUNT; fq++)
            for (int fr = 0; fr < FILL_COUNT; fr++)
                check_dot(shapes[s][0], shapes[s][1], shapes[s][1] + 1, fq, fr,
                          (int)(s & 1));
    /* bases past the size thresholds of the path selection: > 64 KiB,
     * > 8 MiB (AVX2 prefetch) and > 16 MiB (AVX-512 DRAM path) */
    check_dot(50, 400, 401, FILL_RANDOM, FILL_RANDOM, 1);
    check_dot(2100, 1024, 1024, FILL_RANDOM, FILL_RANDOM, 0);
    check_dot(4300, 1024, 1025, FILL_RANDOM, FILL_WIDE, 1);
}

/* ---------------------------------------------------------------- top-k */

typedef struct sv {
    float v;
    uint32_t i;
} sv;

static int sv_cmp(const void *pa, const void *pb)
{
    const sv *a = pa, *b = pb;
    if (a->v > b->v)
        return -1;
    if (a->v < b->v)
        return 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

static void check_topk(size_t n, size_t k, int ties, int nans)
{
    float *s = galloc(n * sizeof(float) + 4);
    for (size_t i = 0; i < n; i++) {
        s[i] = ties ? (float)(int)(rnd64() % 7) - 3.0f : rnd_unit();
        if (ties && s[i] == 0.0f && (rnd64() & 1))
            s[i] = -0.0f;
        if (nans && rnd64() % 5 == 0)
            s[i] = NAN;
    }
    /* ascending scores make every element a survivor of the filter */
    if (ties == 2)
        for (size_t i = 0; i < n; i++)
            s[i] = (float)i;
    sv *all = malloc((n + 1) * sizeof(sv));
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(s[i]))
            all[m++] = (sv){s[i], (uint32_t)i};
    qsort(all, m, sizeof(sv), sv_cmp);
    size_t want = k < m ? k : m;
    uint32_t *idx = galloc((k + 1) * sizeof(uint32_t));
    float *val = galloc((k + 1) * sizeof(float));
    char tag[96];
    snprintf(tag, sizeof tag, "n=%zu k=%zu ties=%d nans=%d", n, k, ties, nans);
    for (int t = -1; t < COGMEM__ISA_COUNT; t++) {
        size_t got;
        if (t < 0) {
            cur_isa = "public";
            got = cogmem_topk(s, n, k, idx, val);
        } else {
            if (!isa_tab[t] || k == 0 || n == 0)
                continue;
            cur_isa = isa_label[t];
            got = isa_tab[t]->topk(s, n, k, idx);
            for (size_t i = 0; i < got; i++)
                val[i] = s[idx[i]];
        }
        checks++;
        if (got != want) {
            FAIL("topk %s count %zu want %zu", tag, got, want);
            continue;
        }
        for (size_t i = 0; i < got; i++)
            if (idx[i] != all[i].i || bits_of(val[i]) != bits_of(all[i].v)) {
                FAIL("topk %s rank %zu got (%u, %g) want (%u, %g)", tag, i,
                     idx[i], val[i], all[i].i, all[i].v);
                break;
            }
    }
    free(all);
    gfree_all();
}

static void test_topk(void)
{
    static const size_t ns[] = {0, 1, 2, 15, 16, 17, 63, 64, 65, 200, 1000, 10007};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++) {
        size_t n = ns[a];
        size_t ks[] = {0, 1, 2, 10, n ? n - 1 : 0, n, n + 5};
        for (size_t b = 0; b < sizeof ks / sizeof ks[0]; b++)
            for (int ties = 0; ties < 3; ties++)
                for (int nans = 0; nans < 2; nans++)
                    check_topk(n, ks[b], ties, nans);
    }
    /* val may be NULL */
    float s[5] = {1, 5, 3, 5, 2};
    uint32_t idx[3];
    cur_isa = "public";
    checks++;
    if (cogmem_topk(s, 5, 3, idx, NULL) != 3 || idx[0] != 1 || idx[1] != 3 ||
        idx[2] != 2)
        FAIL("topk val=NULL");
}

/* ---------------------------------------------------------------- decay */

static void check_scale(size_t n, float f, int fill)
{
    float *x0 = galloc(n * sizeof(float) + 4), *x = galloc(n * sizeof(float) + 4);
    float *ref = malloc((n + 1) * sizeof(float));
    fill_floats(x0, n, fill);
    memcpy(ref, x0, n * sizeof(float));
    isa_tab[0]->scale(ref, n, f);
    for (int t = 1; t < COGMEM__ISA_COUNT; t++) {
        if (!isa_tab[t])
            continue;
        cur_isa = isa_label[t];
        memcpy(x, x0, n * sizeof(float));
        isa_tab[t]->scale(x, n, f);
        for (size_t i = 0; i < n; i++) {
            checks++;
            if (bits_of(x[i]) != bits_of(ref[i]) && !(isnan(x[i]) && isnan(ref[i]))) {
                FAIL("scale n=%zu f=%g fill=%s i=%zu got %g want %g", n, f,
                     fill_name[fill], i, x[i], ref[i]);
                break;
            }
        }
    }
    free(ref);
    gfree_all();
}

/* The documented exp tolerance: 1e-6 relative, plus |x| 2^-148 where the
 * factor is denormal and 2^-149 where the result is; one side may reach
 * Inf within 1e-6 of FLT_MAX. */
static int exp_close(float got, float ref, float x)
{
    if (isnan(ref) || isnan(got))
        return isnan(ref) && isnan(got);
    if (isinf(ref) != isinf(got)) {
        float fin = isinf(ref) ? got : ref;
        return fabsf(fin) >= FLT_MAX * (1.0f - 1e-6f);
    }
    if (isinf(ref))
        return got == ref;
    return fabs((double)got - ref) <=
           1e-6 * fabs(ref) + fabs(x) * 0x1p-148 + 0x1p-149;
}

static void check_decay_exp(size_t n, float rate, int xfill, int dtmode)
{
    float *x0 = galloc(n * sizeof(float) + 4), *x = galloc(n * sizeof(float) + 4);
    float *dt = galloc(n * sizeof(float) + 4);
    float *ref = malloc((n + 1) * sizeof(float));
    fill_floats(x0, n, xfill);
    for (size_t i = 0; i < n; i++) {
        switch (dtmode) {
        case 0: /* ordinary elapsed times */
            dt[i] = (rnd_unit() + 1.0f) * 10.0f;
            break;
        case 1: /* sweep the whole exponent range incl. overflow/underflow */
            dt[i] = -110.0f + 205.0f * (float)i / (float)(n ? n : 1);
            break;
        default: { /* specials */
            static const float sp[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN,
                                       1e30f, -1e30f, 87.3f, 88.72f, 103.9f,
                                       0x1p-140f, 1.0f};
            dt[i] = sp[rnd64() % (sizeof sp / sizeof sp[0])];
        }
        }
    }
    char tag[96];
    snprintf(tag, sizeof tag, "n=%zu rate=%g x=%s dt=%d", n, rate,
             fill_name[xfill], dtmode);
    memcpy(ref, x0, n * sizeof(float));
    cur_isa = "scalar";
    isa_tab[0]->decay_exp(ref, dt, n, rate);
    for (size_t i = 0; i < n; i++) {
        /* the oracle against double: expf is within ~1 ulp */
        double want = (double)x0[i] * exp(-(double)(rate * dt[i]));
        checks++;
        if (isfinite(want) && fabs(want) < FLT_MAX && isfinite(ref[i]) &&
            fabs(ref[i] - want) >
                4e-7 * fabs(want) + fabs(x0[i]) * 0x1p-148 + 0x1p-149)
            FAIL("decay_exp oracle %s i=%zu got %.9g exact %.9g", tag, i,
                 ref[i], want);
    }
    for (int t = 1; t < COGMEM__ISA_COUNT; t++) {
        if (!isa_tab[t])
            continue;
        cur_isa = isa_label[t];
        memcpy(x, x0, n * sizeof(float));
        isa_tab[t]->decay_exp(x, dt, n, rate);
        for (size_t i = 0; i < n; i++) {
            checks++;
            if (!exp_close(x[i], ref[i], x0[i])) {
                FAIL("decay_exp %s i=%zu x=%g dt=%g got %.9g want %.9g", tag, i,
                     x0[i], dt[i], x[i], ref[i]);
                break;
            }
        }
    }
    free(ref);
    gfree_all();
}

static void check_prune(size_t n, float thr, int fill)
{
    float *x = galloc(n * sizeof(float) + 4);
    uint32_t *ref = malloc((n + 1) * sizeof(uint32_t));
    uint32_t *idx = galloc(n * sizeof(uint32_t) + 4);
    fill_floats(x, n, fill);
    size_t want = 0;
    for (size_t i = 0; i < n; i++)
        if (!(x[i] >= thr))
            ref[want++] = (uint32_t)i;
    for (int t = -1; t < COGMEM__ISA_COUNT; t++) {
        size_t got;
        if (t < 0) {
            cur_isa = "public";
            got = cogmem_prune_f32(x, n, thr, idx);
        } else {
            if (!isa_tab[t] || n == 0)
                continue;
            cur_isa = isa_label[t];
            got = isa_tab[t]->prune(x, n, thr, idx);
        }
        checks++;
        if (got != want || memcmp(idx, ref, want * sizeof(uint32_t)) != 0)
            FAIL("prune n=%zu thr=%g fill=%s count %zu want %zu", n, thr,
                 fill_name[fill], got, want);
    }
    free(ref);
    gfree_all();
}

static void test_decay(void)
{
    static const size_t ns[] = {0, 1, 7, 8, 15, 16, 17, 31, 33, 64, 65, 100, 1000, 4099};
    static const float factors[] = {0.5f, 0.999f, 0.0f, 1.0f, -2.0f, 1e-30f, 3e38f};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++) {
        for (size_t f = 0; f < sizeof factors / sizeof factors[0]; f++)
            check_scale(ns[a], factors[f], (int)(f % FILL_COUNT));
        for (int fill = 0; fill < FILL_COUNT; fill++) {
            check_scale(ns[a], 0.75f, fill);
            check_prune(ns[a], 0.1f, fill);
            check_prune(ns[a], -2.0f, fill);
            check_prune(ns[a], NAN, fill);
        }
        static const float rates[] = {0.0f, 0.1f, 1.0f, 7.5f, 1e-8f};
        for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++)
            for (int dtm = 0; dtm < 3; dtm++)
                check_decay_exp(ns[a], rates[r], (int)((r + (size_t)dtm) % FILL_COUNT), dtm);
    }
    /* a fine sweep of the exponent domain with x = 1 and x = 1e30 */
    for (int big = 0; big < 2; big++) {
        size_t n = 20000;
        float *x0 = galloc(n * sizeof(float)), *dt = galloc(n * sizeof(float));
        float *ref = malloc(n * sizeof(float)), *x = malloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++) {
            x0[i] = big ? 1e30f : 1.0f;
            dt[i] = -110.0f + 205.0f * (float)i / (float)n;
        }
        memcpy(ref, x0, n * sizeof(float));
        isa_tab[0]->decay_exp(ref, dt, n, 1.0f);
        for (int t = 1; t < COGMEM__ISA_COUNT; t++) {
            if (!isa_tab[t])
                continue;
            cur_isa = isa_label[t];
            memcpy(x, x0, n * sizeof(float));
            isa_tab[t]->decay_exp(x, dt, n, 1.0f);
            for (size_t i = 0; i < n; i++) {
                checks++;
                if (!exp_close(x[i], ref[i], x0[i])) {
                    FAIL("decay_exp sweep t=%g x=%g got %.9g want %.9g", -dt[i],
                         x0[i], x[i], ref[i]);
                    break;
                }
            }
        }
        free(ref);
        free(x);
        gfree_all();
    }
}

/* ------------------------------------------------------------------ fan */

static void check_fan(size_t n, int mode, float S, int afill, int inplace)
{
    float *a = galloc(n * sizeof(float) + 4);
    uint32_t *fan = galloc(n * sizeof(uint32_t) + 4);
    float *out = galloc(n * sizeof(float) + 4);
    float *ref = malloc((n + 1) * sizeof(float));
    fill_floats(a, n, afill);
    static const uint32_t sp[] = {0, 1, 2, 3, 4, 100, 16777215, 16777216,
                                  16777217, 0x7fffffffu, 0x80000000u,
                                  0xfffffffeu, 0xffffffffu};
    for (size_t i = 0; i < n; i++) {
        uint64_t r = rnd64();
        fan[i] = (r & 3) == 0 ? sp[(r >> 8) % (sizeof sp / sizeof sp[0])]
                 : (r & 3) == 1 ? (uint32_t)(r >> 32)
                                : (uint32_t)((r >> 32) % 1000);
    }
    isa_tab[0]->fan(a, fan, n, mode, S, ref);
    /* the oracle against double */
    for (size_t i = 0; i < n; i++) {
        double f1 = fan[i] ? (double)fan[i] : 1.0, want;
        double L = log((double)(float)fan[i] + 1.0);
        switch (mode) {
        case COGMEM_FAN_INV_SQRT: want = a[i] / sqrt(f1); break;
        case COGMEM_FAN_LINEAR: want = a[i] / (double)(float)f1; break;
        case COGMEM_FAN_ACTR: want = a[i] + (S - L > 0 ? S - L : 0); break;
        default: want = a[i]; break;
        }
        double tol = mode == COGMEM_FAN_ACTR
                         ? 1e-6 * (fabs(a[i]) + fabs(S) + L)
                         : 3e-7 * fabs(want) + 0x1p-148;
        checks++;
        if (isfinite(want) && isfinite(ref[i]) && fabs(ref[i] - want) > tol)
            FAIL("fan oracle mode=%d i=%zu a=%g fan=%u got %.9g exact %.9g",
                 mode, i, a[i], fan[i], ref[i], want);
    }
    for (int t = -1; t < COGMEM__ISA_COUNT; t++) {
        float *dst = out;
        if (t < 0) {
            cur_isa = "public";
            if (inplace) {
                memcpy(out, a, n * sizeof(float));
                if (cogmem_fan_divide(out, fan, n, (cogmem_fan_mode)mode, S, out) != 0)
                    FAIL("fan_divide in place rejected mode %d", mode);
            } else if (cogmem_fan_divide(a, fan, n, (cogmem_fan_mode)mode, S, out) != 0) {
                FAIL("fan_divide rejected mode %d", mode);
            }
        } else {
            if (!isa_tab[t] || n == 0)
                continue;
            cur_isa = isa_label[t];
            isa_tab[t]->fan(a, fan, n, mode, S, dst);
        }
        for (size_t i = 0; i < n; i++) {
            double tol;
            if (mode == COGMEM_FAN_ACTR)
                tol = 1e-6 * (fabs(a[i]) + fabs(S) + log((double)fan[i] + 1.0));
            else if (mode == COGMEM_FAN_INV_SQRT)
                tol = 1e-6 * fabs(ref[i]) + 0x1p-148;
            else
                tol = 0;
            checks++;
            if (!close_enough(dst[i], ref[i], tol)) {
                FAIL("fan mode=%d S=%g fill=%s i=%zu a=%g fan=%u got %.9g want %.9g",
                     mode, S, fill_name[afill], i, a[i], fan[i], dst[i], ref[i]);
                break;
            }
        }
    }
    free(ref);
    gfree_all();
}

static void test_fan(void)
{
    static const size_t ns[] = {0, 1, 7, 8, 15, 16, 17, 33, 100, 1000};
    static const float Ss[] = {1.5f, 0.0f, 25.0f, -1.0f, NAN};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (int mode = 0; mode < 4; mode++)
            for (int fill = 0; fill < FILL_COUNT; fill++)
                check_fan(ns[a], mode, Ss[(size_t)fill % 5], fill, fill & 1);
    cur_isa = "public";
    float a = 1, o = 0;
    uint32_t f = 4;
    checks++;
    if (cogmem_fan_divide(&a, &f, 1, (cogmem_fan_mode)7, 0, &o) != -EINVAL || o != 0)
        FAIL("fan_divide accepted mode 7");
    checks++;
    if (cogmem_fan_divide(&a, &f, 1, COGMEM_FAN_INV_SQRT, 0, &o) != 0 || o != 0.5f)
        FAIL("fan_divide inv-sqrt(4) gave %g", o);
}

/* --------------------------------------------------------- hypervectors */

static int bit_at(const uint8_t *v, uint64_t b)
{
    return (v[b / 8] >> (b % 8)) & 1;
}

static void fill_bytes(uint8_t *p, size_t n, int how)
{
    for (size_t i = 0; i < n; i++)
        p[i] = how == 1 ? 0 : how == 2 ? 0xff : (uint8_t)rnd64();
}

static void check_hv(size_t n, size_t nbytes, int how)
{
    size_t total = n * nbytes;
    uint8_t *q = galloc(nbytes + 1), *rows = galloc(total + 1);
    uint8_t *a = galloc(nbytes + 1), *o = galloc(nbytes + 1);
    uint8_t *ref = malloc(nbytes + 1);
    uint32_t *dist = galloc(n * sizeof(uint32_t) + 4);
    uint32_t *dref = malloc((n + 1) * sizeof(uint32_t));
    fill_bytes(q, nbytes, how);
    fill_bytes(rows, total, how == 1 ? 0 : how);
    fill_bytes(a, nbytes, 0);
    char tag[64];
    snprintf(tag, sizeof tag, "n=%zu nbytes=%zu fill=%d", n, nbytes, how);

    /* bind */
    for (size_t i = 0; i < nbytes; i++)
        ref[i] = q[i] ^ a[i];
    for (int t = 0; t < COGMEM__ISA_COUNT; t++) {
        if (!isa_tab[t] || nbytes == 0)
            continue;
        cur_isa = isa_label[t];
        isa_tab[t]->hv_xor(q, a, nbytes, o);
        checks++;
        if (memcmp(o, ref, nbytes))
            FAIL("hv_bind %s", tag);
    }

    /* hamming: bit loop reference */
    for (size_t i = 0; i < n; i++) {
        uint32_t d = 0;
        for (uint64_t b = 0; b < (uint64_t)nbytes * 8; b++)
            d += (uint32_t)(bit_at(q, b) != bit_at(rows + i * nbytes, b));
        dref[i] = d;
    }
    for (int t = 0; t <= COGMEM__ISA_COUNT; t++) {
        cogmem__hamming_fn fn;
        if (t == COGMEM__ISA_COUNT) {
            fn = extra_hamming;
            cur_isa = "avx512-lut";
        } else {
            fn = isa_tab[t] ? isa_tab[t]->hv_hamming : NULL;
            cur_isa = isa_label[t];
        }
        if (!fn || n == 0)
            continue;
        fn(q, rows, n, nbytes, dist);
        checks++;
        if (memcmp(dist, dref, n * sizeof(uint32_t)))
            FAIL("hv_hamming %s", tag);
    }

    /* bundle: plain counting reference */
    if (nbytes) {
        for (uint64_t b = 0; b < (uint64_t)nbytes * 8; b++) {
            size_t c = 0;
            for (size_t i = 0; i < n; i++)
                c += (size_t)bit_at(rows + i * nbytes, b);
            int bit = 2 * c > n ? 1 : 2 * c < n ? 0 : n ? bit_at(rows, b) : 0;
            if (b % 8 == 0)
                ref[b / 8] = 0;
            ref[b / 8] |= (uint8_t)(bit << (b % 8));
        }
        for (int t = 0; t < COGMEM__ISA_COUNT; t++) {
            if (!isa_tab[t])
                continue;
            cur_isa = isa_label[t];
            memset(o, 0xa5, nbytes);
            isa_tab[t]->hv_bundle(rows, n, nbytes, o);
            checks++;
            if (memcmp(o, ref, nbytes))
                FAIL("hv_bundle %s", tag);
        }
    }
    free(ref);
    free(dref);
    gfree_all();
}

static void check_permute(size_t nbytes, int64_t shift)
{
    uint8_t *in = galloc(nbytes + 1), *o = galloc(nbytes + 1), *back = galloc(nbytes + 1);
    uint8_t *ref = calloc(nbytes + 1, 1);
    fill_bytes(in, nbytes, 0);
    uint64_t N = (uint64_t)nbytes * 8;
    /* reference: bit b -> (b + shift) mod N, in exact 128-bit-free math */
    int64_t sm = (int64_t)((uint64_t)(shift % (int64_t)N + (int64_t)N) % N);
    for (uint64_t b = 0; b < N; b++) {
        uint64_t d = (b + (uint64_t)sm) % N;
        ref[d / 8] |= (uint8_t)(bit_at(in, b) << (d % 8));
    }
    for (int t = -1; t < COGMEM__ISA_COUNT; t++) {
        if (t < 0) {
            cur_isa = "public";
            cogmem_hv_permute(in, nbytes, shift, o);
            cogmem_hv_permute(o, nbytes, shift == INT64_MIN ? 0 : -shift, back);
            checks++;
            if (shift != INT64_MIN && memcmp(back, in, nbytes))
                FAIL("hv_permute inverse nbytes=%zu shift=%" PRId64, nbytes, shift);
        } else {
            if (!isa_tab[t])
                continue;
            cur_isa = isa_label[t];
            isa_tab[t]->hv_permute(in, nbytes, (uint64_t)sm, o);
        }
        checks++;
        if (memcmp(o, ref, nbytes))
            FAIL("hv_permute nbytes=%zu shift=%" PRId64, nbytes, shift);
    }
    free(ref);
    gfree_all();
}

static void test_hv(void)
{
    static const size_t nb[] = {0, 1, 7, 8, 9, 31, 32, 33, 63, 64, 65, 128, 200, 256, 1024};
    static const size_t ns[] = {0, 1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 64};
    for (size_t a = 0; a < sizeof nb / sizeof nb[0]; a++)
        for (size_t b = 0; b < sizeof ns / sizeof ns[0]; b++)
            check_hv(ns[b], nb[a], (int)((a + b) % 3));
    check_hv(1000, 256, 0); /* bundle counters past 2^9 */
    check_hv(1001, 64, 0);
    for (size_t a = 1; a < sizeof nb / sizeof nb[0]; a++) {
        int64_t N = (int64_t)nb[a] * 8;
        int64_t shifts[] = {0, 1, 7, 8, 63, 64, 65, N - 1, N, N + 3, -1, -65,
                            -N, INT64_MIN, INT64_MAX, (int64_t)(rnd64() >> 1)};
        for (size_t s = 0; s < sizeof shifts / sizeof shifts[0]; s++)
            check_permute(nb[a], shifts[s]);
    }
}

/* ----------------------------------------------------------------- bf16 */

static uint16_t bf16_ref(float f)
{
    uint32_t u = bits_of(f);
    if (isnan(f))
        return (uint16_t)((u >> 16) | 0x40);
    uint16_t lo = (uint16_t)(u >> 16), hi = (uint16_t)(lo + 1);
    double dl = fabs((double)f - (double)f_from_bits((uint32_t)lo << 16));
    float fh = f_from_bits((uint32_t)hi << 16);
    double dh = isinf(fh) && !isinf(f) ? INFINITY : fabs((double)f - (double)fh);
    if ((u & 0xffff) == 0)
        return lo;
    if ((u & 0xffff) == 0x8000) /* exact tie: even */
        return (lo & 1) ? hi : lo;
    if (isinf(fh) && !isinf(f)) /* rounds to Inf iff past the midpoint */
        return (u & 0xffff) > 0x8000 ? hi : lo;
    return dh < dl ? hi : lo;
}

static void test_bf16(void)
{
    /* conversion */
    static const float sp[] = {0.0f, -0.0f, 1.0f, -1.5f, INFINITY, -INFINITY,
                               NAN, FLT_MAX, -FLT_MAX, FLT_MIN, 0x1p-140f,
                               1.00390625f, 1.01171875f, 3.3895314e38f};
    size_t n = 5000;
    float *x = galloc(n * sizeof(float));
    uint16_t *h = galloc(n * sizeof(uint16_t));
    for (size_t i = 0; i < n; i++)
        x[i] = i < sizeof sp / sizeof sp[0] ? sp[i] : f_from_bits((uint32_t)rnd64());
    cogmem_f32_to_bf16(x, n, h);
    cur_isa = "public";
    for (size_t i = 0; i < n; i++) {
        checks++;
        uint16_t want = bf16_ref(x[i]);
        if (h[i] != want && !(isnan(x[i]) && isnan(cogmem__bf16_to_f32(h[i])))) {
            FAIL("f32_to_bf16(%a) = %04x want %04x", (double)x[i], h[i], want);
            break;
        }
    }
    gfree_all();

    /* dot: vdpbf16ps flushes denormals, hence the extra slack */
    static const size_t shapes[][2] = {{0, 8}, {1, 1}, {15, 31}, {16, 32}, {17, 33},
                                       {33, 768}, {40, 100}, {2100, 2048}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int fill = 0; fill < FILL_COUNT; fill++) {
            size_t rn = shapes[s][0], dim = shapes[s][1], stride = dim + (s & 1);
            if (rn > 1000 && fill != FILL_RANDOM)
                continue;
            size_t len = rn ? (rn - 1) * stride + dim : 0;
            float *qf = malloc((dim + 1) * sizeof(float));
            float *rf = malloc((len + 1) * sizeof(float));
            uint16_t *q = galloc(dim * 2 + 2), *r = galloc(len * 2 + 2);
            float *ref = galloc(rn * 4 + 4), *out = galloc(rn * 4 + 4);
            fill_floats(qf, dim, FILL_RANDOM);
            fill_floats(rf, len, fill);
            cogmem_f32_to_bf16(qf, dim, q);
            cogmem_f32_to_bf16(rf, len, r);
            isa_tab[0]->dot_bf16(q, r, rn, dim, stride, ref);
            for (int t = -1; t < COGMEM__ISA_COUNT; t++) {
                if (t < 0) {
                    cur_isa = "public";
                    cogmem_dot_batch_bf16(q, r, rn, dim, stride, out);
                } else {
                    if (!isa_tab[t] || rn == 0)
                        continue;
                    cur_isa = isa_label[t];
                    isa_tab[t]->dot_bf16(q, r, rn, dim, stride, out);
                }
                for (size_t i = 0; i < rn; i++) {
                    double sabs = 0, dslack = 0;
                    for (size_t j = 0; j < dim; j++) {
                        float a = cogmem__bf16_to_f32(q[j]);
                        float b = cogmem__bf16_to_f32(r[i * stride + j]);
                        double p = fabs((double)a * b);
                        sabs += p;
                        if ((a != 0 && fabsf(a) < FLT_MIN) || (b != 0 && fabsf(b) < FLT_MIN))
                            dslack += p;
                    }
                    double tol = dim * FLT_EPSILON * sabs + dslack + dim * (double)FLT_MIN;
                    checks++;
                    if (!close_enough(out[i], ref[i], tol)) {
                        FAIL("dot_bf16 n=%zu dim=%zu fill=%s i=%zu got %.9g want %.9g",
                             rn, dim, fill_name[fill], i, out[i], ref[i]);
                        break;
                    }
                }
            }
            free(qf);
            free(rf);
            gfree_all();
        }

    /* re-rank: against a sort of the public dot's scores */
    size_t rows_n = 300, dim = 65, ncand = 120;
    float *q = galloc(dim * 4), *rows = galloc(rows_n * dim * 4);
    uint32_t *cand = galloc(ncand * 4), idx[50];
    float val[50];
    fill_floats(q, dim, FILL_RANDOM);
    fill_floats(rows, rows_n * dim, FILL_RANDOM);
    rows[7 * dim + 3] = NAN;
    /* duplicate rows give equal scores: ties by lower row index */
    memcpy(rows + 11 * dim, rows + 200 * dim, dim * 4);
    sv *all = malloc(ncand * sizeof(sv));
    size_t m = 0;
    for (size_t c = 0; c < ncand; c++) {
        cand[c] = c == 0 ? 200u : c == 1 ? 11u : c == 2 ? 7u
                                            : (uint32_t)(rnd64() % rows_n);
        float s;
        cogmem_dot_batch(q, rows + (size_t)cand[c] * dim, 1, dim, dim, &s);
        if (!isnan(s))
            all[m++] = (sv){s, cand[c]};
    }
    qsort(all, m, sizeof(sv), sv_cmp);
    size_t ks[] = {0, 1, 10, 50};
    for (size_t a = 0; a < 4; a++) {
        size_t got = cogmem_rerank_f32(q, rows, dim, dim, cand, ncand, ks[a], idx, val);
        size_t want = ks[a] < m ? ks[a] : m;
        checks++;
        if (got != want) {
            FAIL("rerank k=%zu count %zu want %zu", ks[a], got, want);
            continue;
        }
        for (size_t i = 0; i < got; i++)
            if (idx[i] != all[i].i || val[i] != all[i].v) {
                FAIL("rerank k=%zu rank %zu got %u want %u", ks[a], i, idx[i], all[i].i);
                break;
            }
    }
    free(all);
    gfree_all();
}

/* ------------------------------------------------------------- dispatch */

static void *race_first_call(void *arg)
{
    float *res = arg;
    float q[3] = {1, 2, 3}, r[6] = {1, 1, 1, 2, 2, 2};
    cogmem_dot_batch(q, r, 2, 3, 3, res);
    return NULL;
}

static void test_dispatch(void)
{
    /* First use from several threads at once (the checker calls nothing
     * else before this): every thread must see a complete table. */
    pthread_t th[4];
    float res[4][2];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, race_first_call, res[i]);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    cur_isa = "dispatch";
    for (int i = 0; i < 4; i++) {
        checks++;
        if (res[i][0] != 6.0f || res[i][1] != 12.0f)
            FAIL("concurrent first call got %g %g", res[i][0], res[i][1]);
    }

    int best = cogmem__simd_best();
    const char *names[] = {"scalar", "avx2", "avx512"};
    const char *env = getenv("COGMEM_ISA");
    int want = best;
    for (int i = 0; i < 3; i++)
        if (env && strcmp(env, names[i]) == 0 && i < best)
            want = i;
    checks++;
    if (strcmp(cogmem_simd_isa(), names[want]) != 0)
        FAIL("active ISA %s, expected %s (COGMEM_ISA=%s, best %s)",
             cogmem_simd_isa(), names[want], env ? env : "(unset)", names[best]);
    checks++;
    if (cogmem_simd_force("sse9") != -EINVAL)
        FAIL("force(sse9) did not return -EINVAL");
    for (int i = 0; i < 3; i++) {
        int rc = cogmem_simd_force(names[i]);
        checks++;
        if (i <= best ? rc != 0 || strcmp(cogmem_simd_isa(), names[i]) != 0
                      : rc != -ENOTSUP)
            FAIL("force(%s) = %d, active %s", names[i], rc, cogmem_simd_isa());
    }
    checks++;
    if (cogmem_simd_force(NULL) != 0 || strcmp(cogmem_simd_isa(), names[want]) != 0)
        FAIL("force(NULL) did not restore %s", names[want]);
}

/* ------------------------------------------------------ multi-query dot */

/* Whether the nq x n scores `got` (query a's at got + a * ostride) have,
 * bit for bit (any NaN matching any NaN), what ISA o's dot_batch gives
 * each query over the rows; `one` holds n scores of scratch. The first
 * difference is reported as a failure of `what` and ends the check. */
static int block_is_batch(const cogmem__simd_ops *o, const float *q, size_t nq,
                          size_t qstride, const float *rows, size_t n, size_t dim,
                          size_t stride, const float *got, size_t ostride, float *one,
                          const char *what, const char *tag)
{
    for (size_t a = 0; a < nq; a++) {
        o->dot_batch(q + a * qstride, rows, n, dim, stride, one);
        for (size_t i = 0; i < n; i++) {
            checks++;
            float g = got[a * ostride + i];
            if (bits_of(one[i]) != bits_of(g) && !(isnan(one[i]) && isnan(g))) {
                FAIL("%s vs dot_batch %s a=%zu i=%zu got %.9g want %.9g", what, tag, a, i,
                     g, one[i]);
                return 0;
            }
        }
    }
    return 1;
}

/* cogmem_dot_block: the scalar oracle against the scalar dot_batch (bit
 * for bit: same dot1 per pair), every ISA against the oracle within
 * dot_batch's tolerance and against its own dot_batch bit for bit (its
 * tiles sum each pair in dot_batch's order, whichever tile or edge path
 * the pair took), every query/row/output pitch honoured (gaps in
 * q and rows are NaN-poisoned, gaps in out must keep their sentinel), the
 * public entry, and q == rows (pairwise similarities of one set). */
static void check_block(size_t nq, size_t n, size_t dim, size_t qstride,
                        size_t stride, size_t ostride, int fq, int fr,
                        int same)
{
    size_t qlen = nq ? (nq - 1) * qstride + dim : 0;
    size_t rlen = n ? (n - 1) * stride + dim : 0;
    size_t olen = nq ? (nq - 1) * ostride + n : 0;
    float *rows = galloc(rlen * sizeof(float) + 4);
    float *q = same ? rows : galloc(qlen * sizeof(float) + 4);
    float *ref = galloc(olen * sizeof(float) + 4);
    float *out = galloc(olen * sizeof(float) + 4);
    float *one = galloc(n * sizeof(float) + 4);
    double *sabs = calloc(nq * n + 1, sizeof(double));
    for (size_t i = 0; i < n; i++) {
        fill_floats(rows + i * stride, dim, fr);
        for (size_t j = dim; j < stride && i + 1 < n; j++)
            rows[i * stride + j] = NAN;
    }
    if (!same)
        for (size_t a = 0; a < nq; a++) {
            fill_floats(q + a * qstride, dim, fq);
            for (size_t j = dim; j < qstride && a + 1 < nq; j++)
                q[a * qstride + j] = NAN;
        }
    for (size_t a = 0; a < nq; a++)
        for (size_t i = 0; i < n; i++) {
            double t = 0;
            for (size_t j = 0; j < dim; j++)
                t += fabs((double)q[a * qstride + j] * rows[i * stride + j]);
            sabs[a * n + i] = t;
        }
    char tag[200];
    snprintf(tag, sizeof tag,
             "nq=%zu n=%zu dim=%zu qstride=%zu stride=%zu ostride=%zu q=%s rows=%s%s",
             nq, n, dim, qstride, stride, ostride, fill_name[fq], fill_name[fr],
             same ? " q==rows" : "");
    const float sentinel = -12345.0f;
    double denorm_slack = (double)dim * 0x1p-149;

    cur_isa = "scalar";
    for (size_t x = 0; x < olen; x++)
        ref[x] = sentinel;
    isa_tab[0]->dot_block(q, nq, qstride, rows, n, dim, stride, ref, ostride);
    (void)block_is_batch(isa_tab[0], q, nq, qstride, rows, n, dim, stride, ref, ostride,
                         one, "dot_block oracle", tag);
    for (int t = 0; t < COGMEM__ISA_COUNT + 1; t++) {
        if (t == 0 || (t < COGMEM__ISA_COUNT && !isa_tab[t]))
            continue;
        for (size_t x = 0; x < olen; x++)
            out[x] = sentinel;
        if (t == COGMEM__ISA_COUNT) {
            cur_isa = "public";
            cogmem_dot_block(q, nq, qstride, rows, n, dim, stride, out, ostride);
        } else {
            cur_isa = isa_label[t];
            isa_tab[t]->dot_block(q, nq, qstride, rows, n, dim, stride, out, ostride);
        }
        int bad = t < COGMEM__ISA_COUNT &&
                  !block_is_batch(isa_tab[t], q, nq, qstride, rows, n, dim, stride, out,
                                  ostride, one, "dot_block", tag);
        for (size_t a = 0; a < nq && !bad; a++) {
            for (size_t i = 0; i < n; i++) {
                checks++;
                float g = out[a * ostride + i], w = ref[a * ostride + i];
                if (!close_enough(g, w, dim * FLT_EPSILON * sabs[a * n + i] + denorm_slack)) {
                    FAIL("dot_block %s a=%zu i=%zu got %.9g want %.9g", tag, a, i, g, w);
                    bad = 1;
                    break;
                }
            }
            for (size_t i = n; i < ostride && a + 1 < nq; i++) {
                checks++;
                if (out[a * ostride + i] != sentinel) {
                    FAIL("dot_block %s wrote the output gap a=%zu i=%zu", tag, a, i);
                    bad = 1;
                    break;
                }
            }
        }
    }
    free(sabs);
    gfree_all();
}

static void test_dot_block(void)
{
    static const size_t nqs[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    /* AVX-512 tiles are 4 x 6 with a 4 x 4 edge, then dot_batch for the
     * last 1-3 rows: 6 and 12 take only the 6-row tile, 4 and 10 end with
     * the 4-row edge, 13 with a dot_batch row, 52 = 8 x 6 + 4 with the
     * edge after several tiles (the other ISAs' 4-row tiles see the
     * same shapes). */
    static const size_t ns[] = {1, 3, 4, 5, 6, 8, 10, 11, 12, 13, 15, 17, 52};
    static const size_t dims[] = {0, 1, 7, 8, 15, 16, 17, 33, 100, 768};
    for (size_t a = 0; a < sizeof nqs / sizeof nqs[0]; a++)
        for (size_t b = 0; b < sizeof ns / sizeof ns[0]; b++)
            for (size_t c = 0; c < sizeof dims / sizeof dims[0]; c++) {
                size_t nq = nqs[a], n = ns[b], dim = dims[c];
                check_block(nq, n, dim, dim, dim, n, FILL_RANDOM, FILL_RANDOM, 0);
                check_block(nq, n, dim, dim + 1, dim + 16 - dim % 16, n + 3,
                            FILL_WIDE, FILL_RANDOM, 0);
            }
    /* nothing to do: no access at all */
    cur_isa = "public";
    cogmem_dot_block(NULL, 0, 0, NULL, 5, 8, 8, NULL, 0);
    cogmem_dot_block(NULL, 3, 8, NULL, 0, 8, 8, NULL, 0);
    /* value edge cases */
    for (int fq = 0; fq < FILL_COUNT; fq++)
        for (int fr = 0; fr < FILL_COUNT; fr++)
            check_block(6, 9, 33, 34, 35, 11, fq, fr, 0);
    /* pairwise similarities of one set */
    check_block(13, 13, 100, 100, 100, 13, FILL_RANDOM, FILL_RANDOM, 1);
    check_block(9, 9, 768, 768, 768, 9, FILL_RANDOM, FILL_RANDOM, 1);
    /* past the cache chunks: rows > 128 KiB, queries > 256 KiB */
    check_block(90, 70, 768, 768, 784, 70, FILL_RANDOM, FILL_RANDOM, 0);
    check_block(7, 1100, 100, 101, 100, 1100, FILL_RANDOM, FILL_WIDE, 0);
}

/* -------------------------------------------------------------- ge_mask */

/* cogmem__ge_mask (recall's batched offer filter): every ISA against the
 * scalar oracle bit for bit, over sizes around the 16-lane groups and the
 * 64-bit words, with NaN, infinities, scores equal to the bar and a NaN
 * bar; valid masks empty, full, random and sparse. The scores end at the
 * last valid one, against a guard page, so a read of a lane that is not
 * valid (the caller never wrote it) faults. */
static void test_ge_mask(void)
{
    static const size_t ns[] = {1, 15, 16, 17, 52, 63, 64, 65, 100, 128, 200, 252, 256};
    const float bars[] = {-INFINITY, 0.0f, 0.25f, INFINITY, NAN};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (int vm = 0; vm < 4; vm++)
            for (size_t b = 0; b < sizeof bars / sizeof bars[0]; b++) {
                size_t n = ns[a], nw = (n + 63) / 64;
                uint64_t valid[4] = {0}, want[4], got[4];
                for (size_t w = 0; w < 4; w++)
                    valid[w] = vm == 0   ? 0
                               : vm == 1 ? ~(uint64_t)0
                               : vm == 2 ? rnd64()
                                         : rnd64() & rnd64() & rnd64();
                size_t hi = 0; /* one past the last valid score */
                for (size_t i = 0; i < n; i++)
                    if (valid[i / 64] >> (i % 64) & 1u)
                        hi = i + 1;
                float *sc = galloc(hi * sizeof(float));
                for (size_t i = 0; i < hi; i++) {
                    uint64_t r = rnd64() % 16;
                    sc[i] = r == 0   ? NAN
                            : r == 1 ? INFINITY
                            : r == 2 ? -INFINITY
                            : r == 3 ? 0.25f
                            : r == 4 ? -0.0f
                                     : rnd_unit();
                }
                cur_isa = "scalar";
                memset(want, 0xa5, sizeof want);
                isa_tab[0]->ge_mask(sc, n, bars[b], valid, want);
                for (int t = 1; t <= COGMEM__ISA_COUNT; t++) {
                    if (t < COGMEM__ISA_COUNT && !isa_tab[t])
                        continue;
                    memset(got, 0x5a, sizeof got);
                    if (t == COGMEM__ISA_COUNT) {
                        cur_isa = "public";
                        cogmem__ge_mask(sc, n, bars[b], valid, got);
                    } else {
                        cur_isa = isa_label[t];
                        isa_tab[t]->ge_mask(sc, n, bars[b], valid, got);
                    }
                    for (size_t w = 0; w < nw; w++) {
                        checks++;
                        if (got[w] != want[w]) {
                            FAIL("ge_mask n=%zu bar=%g valid#%d word %zu: %016" PRIx64
                                 " want %016" PRIx64, n, (double)bars[b], vm, w,
                                 got[w], want[w]);
                            break;
                        }
                    }
                }
                /* the oracle itself, against the definition */
                for (size_t i = 0; i < n; i++) {
                    checks++;
                    int in = (valid[i / 64] >> (i % 64) & 1u) && sc[i] >= bars[b];
                    if ((int)(want[i / 64] >> (i % 64) & 1u) != in) {
                        FAIL("ge_mask oracle n=%zu bar=%g bit %zu", n, (double)bars[b], i);
                        break;
                    }
                }
                gfree_all();
            }
}

/* ---------------------------------------------------------------- splat */

/* cogmem__splat_u64 (decay's stamp of a list's decay times): every ISA and
 * the public entry, over sizes around the 4- and 8-lane stores and their
 * 32-element steps, at every u64 offset from a 64-byte boundary (the
 * `pad` canary words after d shift its start). A canary word precedes d,
 * `pad` more follow it and then the guard page, so a store outside d[0, n)
 * is seen or faults; every element must be v afterwards. */
static void test_splat(void)
{
    static const size_t ns[] = {0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33,
                                63, 64, 65, 100, 255, 256, 1000, 1025};
    const uint64_t canary = 0x5a5aa5a5c3c33c3cull;
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (size_t pad = 0; pad < 8; pad++)
            for (int t = 0; t <= COGMEM__ISA_COUNT; t++) {
                if (t < COGMEM__ISA_COUNT && !isa_tab[t])
                    continue;
                size_t n = ns[a], words = n + 1 + pad;
                uint64_t *buf = galloc(words * sizeof(uint64_t)), *d = buf + 1;
                uint64_t v = t == 0 ? ~(uint64_t)0 : rnd64();
                for (size_t i = 0; i < words; i++)
                    buf[i] = canary;
                if (t == COGMEM__ISA_COUNT) {
                    cur_isa = "public";
                    cogmem__splat_u64(d, n, v);
                } else {
                    cur_isa = isa_label[t];
                    isa_tab[t]->splat_u64(d, n, v);
                }
                for (size_t i = 0; i < words; i++) {
                    checks++;
                    uint64_t want = i >= 1 && i <= n ? v : canary;
                    if (buf[i] != want) {
                        FAIL("splat_u64 n=%zu pad=%zu word %zu: %016" PRIx64
                             " want %016" PRIx64, n, pad, i, buf[i], want);
                        break;
                    }
                }
                gfree_all();
            }
}

/* ---------------------------------------------------------- sum_squares */

/* cogmem_sum_squares as its header spells the order out, written here
 * independently of simd/: 32 running sums, i % 32 picks one, folded
 * pairwise. Every ISA, the public entry and the scalar oracle must give
 * exactly these bits. */
static double sumsq_spec(const float *x, size_t n)
{
    double l[32] = {0};
    for (size_t i = 0; i < n; i++)
        l[i % 32] += (double)x[i] * (double)x[i];
    for (size_t w = 16; w >= 1; w /= 2)
        for (size_t j = 0; j < w; j++)
            l[j] += l[j + w];
    return l[0];
}

static int same_double(double a, double b)
{
    return (a != a && b != b) || memcmp(&a, &b, sizeof a) == 0;
}

/* Sizes around the 32-lane rounds, inputs ending at a guard page (off 0:
 * a read past x + n faults) or up to 15 floats before it, so the sizes
 * start at many float offsets from a 64-byte boundary (every one for
 * n <= 100); values of one scale, of mixed scales (so that the order of
 * the additions shows in the low bits), and with extremes: FLT_MAX (no
 * overflow in double), denormals, and a NaN or an Inf in a random lane of
 * the last round (NaN, resp. +Inf, however the lanes fold). */
static void test_sum_squares(void)
{
    static const size_t ns[] = {0, 1, 2, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64,
                                65, 95, 96, 97, 128, 255, 768, 1000, 1025};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (size_t off = 0; off < 16; off += (ns[a] > 100 ? 5 : 1))
            for (int kind = 0; kind < 5; kind++) {
                size_t n = ns[a];
                /* x + n is `off` floats before the guard page. */
                float *x = (float *)galloc((n + off) * sizeof(float));
                for (size_t i = 0; i < n; i++) {
                    float u = rnd_unit();
                    x[i] = kind == 0   ? u
                           : kind == 1 ? u * ldexpf(1.0f, (int)(rnd64() % 80) - 40)
                           : kind == 2 ? (i % 5 == 0 ? FLT_MAX : u * 1e-40f)
                                       : u;
                }
                size_t bad = n ? n - 1 - (size_t)(rnd64() % (n < 32 ? n : 32)) : 0;
                if (n && kind == 3)
                    x[bad] = NAN;
                if (n && kind == 4)
                    x[bad] = (rnd64() & 1) ? INFINITY : -INFINITY;
                double want = sumsq_spec(x, n);
                if ((kind == 3 && n && want == want) || (kind == 4 && n && want != INFINITY) ||
                    (kind < 3 && !(want >= 0.0 && want < INFINITY)))
                    FAIL("sum_squares spec n=%zu kind %d gave %g", n, kind, want);
                for (int t = 0; t <= COGMEM__ISA_COUNT; t++) {
                    if (t < COGMEM__ISA_COUNT && !isa_tab[t])
                        continue;
                    double got;
                    if (t == COGMEM__ISA_COUNT) {
                        cur_isa = "public";
                        got = cogmem_sum_squares(x, n);
                    } else {
                        cur_isa = isa_label[t];
                        got = n ? isa_tab[t]->sum_squares(x, n) : 0.0;
                    }
                    checks++;
                    if (!same_double(got, want))
                        FAIL("sum_squares n=%zu off=%zu kind %d: %.17g want %.17g", n,
                             off, kind, got, want);
                }
                gfree_all();
            }
    cur_isa = "public";
    checks++;
    if (!same_double(cogmem_sum_squares(NULL, 0), 0.0))
        FAIL("sum_squares(NULL, 0) is not +0.0");
}

/* ------------------------------------------------------------- position */

/* Within one ISA a row's score has the same bits whichever path computed
 * it: the whole run (which picks a path by the run's size), a sub-run at
 * any offset (16-row blocks, 4-row and 1-row remainders), the row alone,
 * a dot_block tile, the cosine with and without stored norms, and the
 * bf16 dot. Recall relies on it: a snapshot and reopen lays rows out anew,
 * and a replaced row is scored alone, yet scores must not change. */
static int same_bits(float a, float b)
{
    return bits_of(a) == bits_of(b) || (isnan(a) && isnan(b));
}

static void check_position(size_t n, size_t dim)
{
    size_t stride = dim + 16 - dim % 16;
    float *rows = galloc(n * stride * sizeof(float));
    float *q = galloc(4 * stride * sizeof(float));
    float *norms = galloc(n * sizeof(float));
    float *all = galloc(n * sizeof(float)), *part = galloc(n * sizeof(float));
    float *blk = galloc(4 * n * sizeof(float));
    uint16_t *r16 = galloc(n * stride * sizeof(uint16_t));
    uint16_t *q16 = galloc(stride * sizeof(uint16_t));
    fill_floats(rows, n * stride, FILL_RANDOM);
    fill_floats(q, 4 * stride, FILL_RANDOM);
    cogmem_f32_to_bf16(rows, n * stride, r16);
    cogmem_f32_to_bf16(q, stride, q16);
    static const size_t offs[] = {0, 1, 2, 3, 5, 13, 16, 17};
    static const size_t lens[] = {1, 2, 3, 4, 5, 7, 15, 16, 17, 33};
    for (int t = 0; t < COGMEM__ISA_COUNT; t++) {
        const cogmem__simd_ops *o = isa_tab[t];
        if (!o)
            continue;
        cur_isa = isa_label[t];
        for (size_t i = 0; i < n; i++) {
            o->dot_batch(rows + i * stride, rows + i * stride, 1, dim, stride, part);
            norms[i] = sqrtf(part[0]);
        }
        for (int kernel = 0; kernel < 4; kernel++) {
            if (kernel == 3 && !o->dot_bf16)
                continue;
#define RUN(from, cnt, out)                                                    \
    (kernel == 0   ? o->dot_batch(q, rows + (from) * stride, cnt, dim, stride, out)  \
     : kernel == 1 ? o->cosine_batch(q, rows + (from) * stride, cnt, dim, stride, \
                                     norms + (from), 1.25f, out)               \
     : kernel == 2 ? o->cosine_batch(q, rows + (from) * stride, cnt, dim, stride, \
                                     NULL, 1.25f, out)                         \
                   : o->dot_bf16(q16, r16 + (from) * stride, cnt, dim, stride, out))
            static const char *kname[] = {"dot_batch", "cosine_batch norms",
                                          "cosine_batch", "dot_bf16"};
            RUN(0, n, all);
            int bad = 0;
            for (size_t a = 0; a < sizeof offs / sizeof offs[0] && !bad; a++)
                for (size_t b = 0; b < sizeof lens / sizeof lens[0] && !bad; b++) {
                    size_t from = offs[a], cnt = lens[b];
                    if (from + cnt > n)
                        continue;
                    RUN(from, cnt, part);
                    for (size_t i = 0; i < cnt; i++) {
                        checks++;
                        if (!same_bits(part[i], all[from + i])) {
                            FAIL("%s n=%zu dim=%zu: row %zu is %.9g in a run of %zu "
                                 "from %zu but %.9g in the run of %zu",
                                 kname[kernel], n, dim, from + i, part[i], cnt,
                                 from, all[from + i], n);
                            bad = 1;
                            break;
                        }
                    }
                }
#undef RUN
        }
        /* dot_block tiles (query 0 of 4) against the same ISA's dot_batch */
        o->dot_batch(q, rows, n, dim, stride, all);
        o->dot_block(q, 4, stride, rows, n, dim, stride, blk, n);
        for (size_t i = 0; i < n; i++) {
            checks++;
            if (!same_bits(blk[i], all[i])) {
                FAIL("dot_block n=%zu dim=%zu: row %zu is %.9g, dot_batch %.9g",
                     n, dim, i, blk[i], all[i]);
                break;
            }
        }
    }
    gfree_all();
}

static void test_position(void)
{
    static const size_t dims[] = {7, 33, 100, 768};
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
        check_position(50, dims[d]);
        check_position(90, dims[d]); /* 768: past the L1 block, other path */
    }
}

/* ----------------------------------------------------------------- main */

/* Counts of 0 with NULL buffers, which the header allows: no kernel may
 * form `rows + i * stride` from a NULL rows (UBSan's pointer-overflow check
 * reports the offset), and every out[i] is 0. Also, in every ISA, a zero
 * query against rows whose f32 sum of squares overflows gives 0, not the
 * NaN of 0 * inf (cogmem__cos_finish). */
static void test_null_counts(void)
{
    float out[9];
    uint32_t o32[9];
    float zero[20] = {0}, huge[9 * 20];
    for (size_t i = 0; i < 9 * 20; i++)
        huge[i] = 1e30f;
    for (int t = 0; t < COGMEM__ISA_COUNT; t++) {
        const cogmem__simd_ops *o = isa_tab[t];
        if (!o)
            continue;
        cur_isa = isa_label[t];
        for (int k = 0; k < 9; k++)
            out[k] = 5.0f, o32[k] = 5;
        o->dot_batch(NULL, NULL, 9, 0, 3, out);
        for (int k = 0; k < 9; k++, checks++)
            if (out[k] != 0.0f)
                FAIL("dot_batch dim 0: out[%d] = %g", k, out[k]);
        for (int with_norms = 0; with_norms < 2; with_norms++) {
            o->cosine_batch(NULL, NULL, 9, 0, 3, with_norms ? zero : NULL, 1.0f, out);
            for (int k = 0; k < 9; k++, checks++)
                if (out[k] != 0.0f)
                    FAIL("cosine_batch dim 0: out[%d] = %g", k, out[k]);
        }
        o->cosine_batch(zero, huge, 9, 20, 20, NULL, 0.0f, out);
        for (int k = 0; k < 9; k++, checks++)
            if (out[k] != 0.0f)
                FAIL("zero query, rows of 1e30: out[%d] = %g", k, out[k]);
        o->hv_hamming(NULL, NULL, 9, 0, o32);
        for (int k = 0; k < 9; k++, checks++)
            if (o32[k] != 0)
                FAIL("hv_hamming nbytes 0: out[%d] = %u", k, o32[k]);
        if (t == COGMEM__ISA_AVX512 && extra_hamming) {
            cur_isa = "avx512 lut";
            for (int k = 0; k < 9; k++)
                o32[k] = 5;
            extra_hamming(NULL, NULL, 9, 0, o32);
            for (int k = 0; k < 9; k++, checks++)
                if (o32[k] != 0)
                    FAIL("hv_hamming (lut) nbytes 0: out[%d] = %u", k, o32[k]);
        }
    }
    cur_isa = "public";
    cogmem_dot_batch(NULL, NULL, 4, 0, 9, out);
    cogmem_cosine_batch(NULL, NULL, 4, 0, 9, NULL, 0.0f, out);
    cogmem_hv_hamming_batch(NULL, NULL, 4, 0, o32);
    checks++;
    if (out[0] != 0.0f || o32[0] != 0)
        FAIL("public kernels with count 0: %g %u", out[0], o32[0]);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--bench") == 0)
            return cogmem__kernels_bench(argc, argv);

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            rng = strtoull(argv[++i], NULL, 0);
        else if (strcmp(argv[i], "--verbose") == 0)
            verbose = 1;
        else {
            fprintf(stderr, "usage: %s [--seed N] [--verbose] | --bench [--quick] [--full] [--only SECTION] [--png FILE]\n",
                    argv[0]);
            return 2;
        }
    }
    test_dispatch();

    /* Compare every usable ISA; a COGMEM_ISA-forced run still compares all
     * of them, and its public-API checks run on the forced level. */
    isa_tab[0] = cogmem__simd_table(COGMEM__ISA_SCALAR);
    isa_label[0] = "scalar";
    isa_label[COGMEM__ISA_AVX2] = "avx2";
    isa_label[COGMEM__ISA_AVX512] = "avx512";
    isa_tab[COGMEM__ISA_AVX2] = cogmem__simd_table(COGMEM__ISA_AVX2);
    isa_tab[COGMEM__ISA_AVX512] = cogmem__simd_table(COGMEM__ISA_AVX512);
    if (isa_tab[COGMEM__ISA_AVX512])
        extra_hamming = cogmem__simd_avx512_hamming_lut();
    printf("kernels checker: active %s; comparing scalar%s%s%s%s against the "
           "scalar oracle\n",
           cogmem_simd_isa(), isa_tab[1] ? ", avx2" : "",
           isa_tab[2] ? ", avx512" : "",
           cogmem__simd_has_vpopcntdq() ? " (vpopcntdq" : "",
           cogmem__simd_has_vpopcntdq() ? (cogmem__simd_has_bf16() ? ", bf16)" : ")")
                                        : (cogmem__simd_has_bf16() ? " (bf16)" : ""));

    struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {{"dot/cosine", test_dot}, {"topk", test_topk},
                 {"decay/prune", test_decay}, {"fan", test_fan},
                 {"hypervectors", test_hv}, {"bf16/rerank", test_bf16},
                 {"dot_block", test_dot_block}, {"ge_mask", test_ge_mask},
                 {"splat", test_splat}, {"sum_squares", test_sum_squares},
                 {"position", test_position},
                 {"null/count 0", test_null_counts}};
    for (size_t t = 0; t < sizeof tests / sizeof tests[0]; t++) {
        int f0 = failures, c0 = checks;
        tests[t].fn();
        printf("  %-14s %8d checks  %s\n", tests[t].name, checks - c0,
               failures == f0 ? "ok" : "FAILED");
    }
    if (failures) {
        printf("kernels checker: %d of %d checks FAILED\n", failures, checks);
        return 1;
    }
    printf("kernels checker: all %d checks passed\n", checks);
    return 0;
}
