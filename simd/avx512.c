/* cogmem — AVX-512 (F, BW, DQ, VL) kernels: Skylake-SP, Ice Lake, Zen 4/5.
 *
 * Compiled with -mavx512f -mavx512bw -mavx512dq -mavx512vl (plus AVX2/FMA);
 * reached only when dispatch.c has seen those features and OS-enabled
 * opmask/ZMM state. VPOPCNTDQ and BF16 kernels live in their own files.
 * Tails use masked loads/stores: masked-off lanes never fault, so no row
 * is read past its end.
 */
#include <immintrin.h>
#include <math.h>

#include "avx512_util.h"
#include "simd_internal.h"


/* ------------------------------------------------------------------ dot */

/* Sixteen rows per pass: each query load feeds 16 FMAs (17 loads per 16
 * FMAs, so the two load ports keep both FMA pipes nearly busy) and 16
 * independent accumulators cover the FMA latency. With `pf`, each step
 * also prefetches the matching line of the next block's rows (see
 * dot_batch for why that variant is not selected by default). */
static inline __attribute__((always_inline)) void
dot16(const float *q, const float *r, size_t dim, size_t stride, float *out,
      const int pf)
{
    __m512 acc[16];
    for (int k = 0; k < 16; k++)
        acc[k] = _mm512_setzero_ps();
    size_t j = 0;
    for (; j + 16 <= dim; j += 16) {
        __m512 qv = _mm512_loadu_ps(q + j);
        const float *p = r + j;
        if (pf) {
            const float *nx = p + 16 * stride;
            for (int k = 0; k < 16; k++)
                _mm_prefetch((const char *)(nx + (size_t)k * stride),
                             _MM_HINT_T0);
        }
        for (int k = 0; k < 16; k++)
            acc[k] = _mm512_fmadd_ps(_mm512_loadu_ps(p + (size_t)k * stride),
                                     qv, acc[k]);
    }
    if (j < dim) {
        __mmask16 m = mask16(dim - j);
        __m512 qv = _mm512_maskz_loadu_ps(m, q + j);
        const float *p = r + j;
        for (int k = 0; k < 16; k++)
            acc[k] = _mm512_fmadd_ps(
                _mm512_maskz_loadu_ps(m, p + (size_t)k * stride), qv, acc[k]);
    }
    _mm512_storeu_ps(out, reduce16(acc));
}

static void dot16_plain(const float *q, const float *r, size_t dim,
                        size_t stride, float *out)
{
    dot16(q, r, dim, stride, out, 0);
}

static void dot16_pf(const float *q, const float *r, size_t dim, size_t stride,
                     float *out)
{
    dot16(q, r, dim, stride, out, 1);
}

/* One row: the remainder of a batch and single-vector scoring. One
 * accumulator and reduce1(), the FMA and addition order of dot16's, so a
 * row's score never depends on which path computed it (checked by
 * cogmem-checkasm's position test); the latency-bound chain costs little
 * for the at most 3 rows of a batch that take it. */
static float dot1(const float *q, const float *r, size_t dim)
{
    __m512 a = _mm512_setzero_ps();
    size_t j = 0;
    for (; j + 16 <= dim; j += 16)
        a = _mm512_fmadd_ps(_mm512_loadu_ps(r + j), _mm512_loadu_ps(q + j), a);
    if (j < dim) {
        __mmask16 m = mask16(dim - j);
        a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, r + j),
                            _mm512_maskz_loadu_ps(m, q + j), a);
    }
    return reduce1(a);
}

/* Four rows for the remainder of a batch (n % 16 >= 4). */
static void dot4(const float *q, const float *r, size_t dim, size_t stride,
                 float *out)
{
    const float *r0 = r, *r1 = r + stride, *r2 = r + 2 * stride,
                *r3 = r + 3 * stride;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t j = 0; j < dim; j += 16) {
        __mmask16 m = dim - j >= 16 ? (__mmask16)0xffff : mask16(dim - j);
        __m512 qv = _mm512_maskz_loadu_ps(m, q + j);
        a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, r0 + j), qv, a0);
        a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, r1 + j), qv, a1);
        a2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, r2 + j), qv, a2);
        a3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, r3 + j), qv, a3);
    }
    out[0] = reduce1(a0); /* dot16's order: see reduce1 */
    out[1] = reduce1(a1);
    out[2] = reduce1(a2);
    out[3] = reduce1(a3);
}

enum { PATH_BLOCK16 = 0, PATH_BLOCK16_PF = 1, PATH_ROWS4 = 2 };

static void dot_batch_with(const float *q, const float *rows, size_t n,
                           size_t dim, size_t stride, float *out, int path)
{
    if (dim == 0) { /* no row is read: rows may be NULL (no offset on it) */
        memset(out, 0, n * sizeof *out);
        return;
    }
    size_t i = 0;
    if (path == PATH_BLOCK16_PF) {
        /* Stop one block early: the last block has nothing to prefetch. */
        for (; i + 32 <= n; i += 16)
            dot16_pf(q, rows + i * stride, dim, stride, out + i);
    }
    if (path != PATH_ROWS4)
        for (; i + 16 <= n; i += 16)
            dot16_plain(q, rows + i * stride, dim, stride, out + i);
    for (; i + 4 <= n; i += 4)
        dot4(q, rows + i * stride, dim, stride, out + i);
    for (; i < n; i++)
        out[i] = dot1(q, rows + i * stride, dim);
}

/* Path by base size, see COGMEM__L3_STREAM_BYTES. Software prefetch of the
 * next block measured no gain over the hardware prefetchers on Zen 4/5
 * (0.85-1.07 against 0.94-1.03 of read bandwidth, within run-to-run
 * noise), so the DRAM path is the plain 16-row block; the prefetching
 * variant stays reachable for the benchmark's path comparison, to
 * re-measure on other parts. */
static void dot_batch(const float *q, const float *rows, size_t n, size_t dim,
                      size_t stride, float *out)
{
    size_t bytes = n * stride * sizeof(float);
    int path = bytes > COGMEM__L1_BLOCK_BYTES && bytes <= COGMEM__L3_STREAM_BYTES
                   ? PATH_ROWS4
                   : PATH_BLOCK16;
    dot_batch_with(q, rows, n, dim, stride, out, path);
}

static void dot_path_block16(const float *q, const float *rows, size_t n,
                             size_t dim, size_t stride, float *out)
{
    dot_batch_with(q, rows, n, dim, stride, out, PATH_BLOCK16);
}

static void dot_path_block16_pf(const float *q, const float *rows, size_t n,
                                size_t dim, size_t stride, float *out)
{
    dot_batch_with(q, rows, n, dim, stride, out, PATH_BLOCK16_PF);
}

static void dot_path_rows4(const float *q, const float *rows, size_t n,
                           size_t dim, size_t stride, float *out)
{
    dot_batch_with(q, rows, n, dim, stride, out, PATH_ROWS4);
}

cogmem__dot_fn cogmem__simd_avx512_dot_path(int path)
{
    return path == PATH_BLOCK16_PF ? dot_path_block16_pf
           : path == PATH_ROWS4    ? dot_path_rows4
                                   : dot_path_block16;
}

/* ------------------------------------------------------------- cosine */

/* cogmem__cos_finish (simd_internal.h) in sixteen lanes: 0 where den == 0
 * or where den is NaN (0 * inf) but the dot is not. */
static inline __m512 cos_finish(__m512 d, __m512 rn, __m512 qn)
{
    __m512 den = _mm512_mul_ps(qn, rn);
    __mmask16 nz = _mm512_cmp_ps_mask(den, _mm512_setzero_ps(), _CMP_NEQ_OQ) |
                   _mm512_cmp_ps_mask(d, d, _CMP_UNORD_Q);
    nz &= _mm512_cmp_ps_mask(den, _mm512_setzero_ps(), _CMP_NEQ_UQ);
    return _mm512_maskz_div_ps(nz, d, den);
}

/* Eight rows, dots and sums of squares in the same pass (rows read once):
 * 16 accumulators, reduced together so that lanes 0-7 hold the dots and
 * lanes 8-15 the squared norms. */
static void cos8(const float *q, const float *r, size_t dim, size_t stride,
                 float qn, float *out)
{
    __m512 acc[16];
    for (int k = 0; k < 16; k++)
        acc[k] = _mm512_setzero_ps();
    /* Full chunks and the masked tail in separate loops, as in dot16:
     * with the mask computed inside a single loop GCC keeps the
     * accumulator array in memory (16 stores per step). */
    size_t j = 0;
    for (; j + 16 <= dim; j += 16) {
        __m512 qv = _mm512_loadu_ps(q + j);
        const float *p = r + j;
        for (int k = 0; k < 8; k++) {
            __m512 x = _mm512_loadu_ps(p + (size_t)k * stride);
            acc[k] = _mm512_fmadd_ps(x, qv, acc[k]);
            acc[8 + k] = _mm512_fmadd_ps(x, x, acc[8 + k]);
        }
    }
    if (j < dim) {
        __mmask16 m = mask16(dim - j);
        __m512 qv = _mm512_maskz_loadu_ps(m, q + j);
        const float *p = r + j;
        for (int k = 0; k < 8; k++) {
            __m512 x = _mm512_maskz_loadu_ps(m, p + (size_t)k * stride);
            acc[k] = _mm512_fmadd_ps(x, qv, acc[k]);
            acc[8 + k] = _mm512_fmadd_ps(x, x, acc[8 + k]);
        }
    }
    __m512 h = reduce16(acc);
    __m256 dots = _mm512_castps512_ps256(h);
    __m256 rn = _mm256_sqrt_ps(_mm512_extractf32x8_ps(h, 1));
    __m256 den = _mm256_mul_ps(_mm256_set1_ps(qn), rn);
    __mmask8 nz = _mm256_cmp_ps_mask(den, _mm256_setzero_ps(), _CMP_NEQ_OQ) |
                  _mm256_cmp_ps_mask(dots, dots, _CMP_UNORD_Q);
    nz &= _mm256_cmp_ps_mask(den, _mm256_setzero_ps(), _CMP_NEQ_UQ);
    _mm256_storeu_ps(out, _mm256_maskz_div_ps(nz, dots, den));
}

static void cosine_batch(const float *q, const float *rows, size_t n,
                         size_t dim, size_t stride, const float *row_norms,
                         float qn, float *out)
{
    if (dim == 0) { /* no row is read: rows may be NULL (no offset on it) */
        memset(out, 0, n * sizeof *out);
        return;
    }
    size_t i = 0;
    if (row_norms) {
        dot_batch(q, rows, n, dim, stride, out);
        __m512 qv = _mm512_set1_ps(qn);
        for (; i < n; i += 16) {
            __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : mask16(n - i);
            _mm512_mask_storeu_ps(out + i, m,
                cos_finish(_mm512_maskz_loadu_ps(m, out + i),
                           _mm512_maskz_loadu_ps(m, row_norms + i), qv));
        }
        return;
    }
    for (; i + 8 <= n; i += 8)
        cos8(q, rows + i * stride, dim, stride, qn, out + i);
    for (; i < n; i++) {
        const float *r = rows + i * stride;
        float d = dot1(q, r, dim), rn = sqrtf(dot1(r, r, dim));
        out[i] = cogmem__cos_finish(d, rn, qn);
    }
}

/* ----------------------------------------------------------------- top-k */

static size_t topk(const float *s, size_t n, size_t k, uint32_t *h)
{
    size_t cnt = 0;
    size_t i = cogmem__topk_fill(s, n, k, h, &cnt);
    if (cnt < k)
        goto done;
    /* 64 scores per compare group; only lanes beating the running k-th
     * best reach the heap (strict >, see the heap comment). */
    __m512 thr = _mm512_set1_ps(s[h[0]]);
    for (; i + 64 <= n; i += 64) {
        __mmask16 m0 = _mm512_cmp_ps_mask(_mm512_loadu_ps(s + i), thr, _CMP_GT_OQ);
        __mmask16 m1 = _mm512_cmp_ps_mask(_mm512_loadu_ps(s + i + 16), thr, _CMP_GT_OQ);
        __mmask16 m2 = _mm512_cmp_ps_mask(_mm512_loadu_ps(s + i + 32), thr, _CMP_GT_OQ);
        __mmask16 m3 = _mm512_cmp_ps_mask(_mm512_loadu_ps(s + i + 48), thr, _CMP_GT_OQ);
        if (((unsigned)m0 | m1 | m2 | m3) == 0)
            continue;
        uint64_t bits = (uint64_t)m0 | (uint64_t)m1 << 16 |
                        (uint64_t)m2 << 32 | (uint64_t)m3 << 48;
        while (bits) {
            unsigned b = (unsigned)__builtin_ctzll(bits);
            bits &= bits - 1;
            cogmem__idxheap_offer(s, h, cnt, (uint32_t)(i + b));
        }
        thr = _mm512_set1_ps(s[h[0]]);
    }
    for (; i < n; i++)
        cogmem__idxheap_offer(s, h, cnt, (uint32_t)i);
done:
    cogmem__topk_finish(s, h, cnt);
    return cnt;
}

/* ----------------------------------------------------------------- decay */

static void scale(float *x, size_t n, float f)
{
    __m512 fv = _mm512_set1_ps(f);
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16),
               c = _mm512_loadu_ps(x + i + 32), d = _mm512_loadu_ps(x + i + 48);
        _mm512_storeu_ps(x + i, _mm512_mul_ps(a, fv));
        _mm512_storeu_ps(x + i + 16, _mm512_mul_ps(b, fv));
        _mm512_storeu_ps(x + i + 32, _mm512_mul_ps(c, fv));
        _mm512_storeu_ps(x + i + 48, _mm512_mul_ps(d, fv));
    }
    for (; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : mask16(n - i);
        _mm512_mask_storeu_ps(x + i, m,
                              _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), fv));
    }
}

/* A decay pass's stamp of the new decay time over a whole list: four
 * 64-byte stores a step, then one masked store for the tail (no scalar
 * loop, nothing written past d + n). */
static void splat_u64(uint64_t *d, size_t n, uint64_t v)
{
    __m512i x = _mm512_set1_epi64((long long)v);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        _mm512_storeu_si512(d + i, x);
        _mm512_storeu_si512(d + i + 8, x);
        _mm512_storeu_si512(d + i + 16, x);
        _mm512_storeu_si512(d + i + 24, x);
    }
    for (; i + 8 <= n; i += 8)
        _mm512_storeu_si512(d + i, x);
    if (i < n)
        _mm512_mask_storeu_epi64(d + i, (__mmask8)((1u << (n - i)) - 1u), x);
}

/* acc + x[0..7]^2 in double, reading only the floats that mask m names
 * (a masked-off lane reads nothing and adds 0 * 0). */
static inline __m512d sq8(__m512d acc, const float *x, __mmask8 m)
{
    __m512d v = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, x));
    return _mm512_fmadd_pd(v, v, acc);
}

/* The mask of the first `left` of 8 lanes (left may be <= 0 or >= 8). */
static inline __mmask8 first8(int left)
{
    return (__mmask8)(left >= 8 ? 0xffu : left > 0 ? (1u << left) - 1u : 0u);
}

/* cogmem_sum_squares: lanes 8k..8k+7 in accumulator a<k> (the order fixed
 * in simd_internal.h); each float is widened to double before the FMA.
 * The last, partial round loads through masks: a masked-off lane adds
 * 0 * 0 = +0, which leaves its sum (+0, positive or NaN) as the scalar
 * oracle, which adds nothing there, leaves it. The fold stays in
 * registers: its steps are half-register adds in the oracle's pairing.
 * Named accumulators, not an array (see avx2.c). */
static double sum_squares(const float *x, size_t n)
{
    __m512d a0 = _mm512_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + COGMEM__SUMSQ_LANES <= n; i += COGMEM__SUMSQ_LANES) {
        a0 = sq8(a0, x + i, 0xff);
        a1 = sq8(a1, x + i + 8, 0xff);
        a2 = sq8(a2, x + i + 16, 0xff);
        a3 = sq8(a3, x + i + 24, 0xff);
    }
    if (i < n) {
        int r = (int)(n - i); /* 1..31 */
        a0 = sq8(a0, x + i, first8(r));
        a1 = sq8(a1, x + i + 8, first8(r - 8));
        a2 = sq8(a2, x + i + 16, first8(r - 16));
        a3 = sq8(a3, x + i + 24, first8(r - 24));
    }
    /* Lanes j += j + 16, then j += j + 8, then the halves of 4, 2, 1. */
    __m512d a = _mm512_add_pd(_mm512_add_pd(a0, a2), _mm512_add_pd(a1, a3));
    __m256d h = _mm256_add_pd(_mm512_castpd512_pd256(a), _mm512_extractf64x4_pd(a, 1));
    __m128d q = _mm_add_pd(_mm256_castpd256_pd128(h), _mm256_extractf128_pd(h, 1));
    return _mm_cvtsd_f64(_mm_add_sd(q, _mm_unpackhi_pd(q, q)));
}

/* Same algorithm as exp_ps in avx2.c (see there): Cody-Waite reduction,
 * Cephes polynomial, 2^n as two factors; NaN passes the clamp. */
static inline __m512 exp_ps(__m512 t)
{
    t = _mm512_min_ps(_mm512_set1_ps(89.0f),
                      _mm512_max_ps(_mm512_set1_ps(-104.0f), t));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(t, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), t);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
    p = _mm512_add_ps(p, _mm512_set1_ps(1.0f));
    __m512i ni = _mm512_cvtps_epi32(n);
    __m512i n1 = _mm512_srai_epi32(ni, 1);
    __m512i n2 = _mm512_sub_epi32(ni, n1);
    __m512i bias = _mm512_set1_epi32(127);
    __m512 s1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n1, bias), 23));
    __m512 s2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n2, bias), 23));
    return _mm512_mul_ps(_mm512_mul_ps(p, s1), s2);
}

static void decay_exp(float *x, const float *dt, size_t n, float rate)
{
    __m512 rv = _mm512_set1_ps(rate);
    __m512 neg = _mm512_set1_ps(-0.0f);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : mask16(n - i);
        __m512 t = _mm512_xor_ps(_mm512_mul_ps(rv, _mm512_maskz_loadu_ps(m, dt + i)), neg);
        _mm512_mask_storeu_ps(x + i, m,
            _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), exp_ps(t)));
    }
}

/* Indices of lanes below the threshold, compressed in a register and
 * written with a masked store (vpcompressd straight to memory is
 * microcoded and slow on Zen 4). */
static size_t prune(const float *x, size_t n, float thr, uint32_t *idx)
{
    __m512 tv = _mm512_set1_ps(thr);
    __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                     13, 14, 15);
    size_t c = 0;
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : mask16(n - i);
        __mmask16 below = _mm512_mask_cmp_ps_mask(m, _mm512_maskz_loadu_ps(m, x + i),
                                                  tv, _CMP_NGE_UQ);
        if (!below)
            continue;
        __m512i ids = _mm512_add_epi32(iota, _mm512_set1_epi32((int)(uint32_t)i));
        unsigned cntb = (unsigned)__builtin_popcount(below);
        _mm512_mask_storeu_epi32(idx + c, mask16(cntb),
                                 _mm512_maskz_compress_epi32(below, ids));
        c += cntb;
    }
    return c;
}

/* ------------------------------------------------------------------- fan */

/* ln(x) for x >= 1, as log_ge1 in avx2.c (Cephes logf). */
static inline __m512 log_ge1(__m512 x)
{
    __m512i xi = _mm512_castps_si512(x);
    __m512i e = _mm512_sub_epi32(_mm512_srli_epi32(xi, 23), _mm512_set1_epi32(126));
    __m512 m = _mm512_castsi512_ps(_mm512_or_si512(
        _mm512_and_si512(xi, _mm512_set1_epi32(0x007fffff)),
        _mm512_set1_epi32(0x3f000000)));
    __m512 ef = _mm512_cvtepi32_ps(e);
    __mmask16 lt = _mm512_cmp_ps_mask(m, _mm512_set1_ps(0.707106781186547524f), _CMP_LT_OQ);
    ef = _mm512_mask_sub_ps(ef, lt, ef, _mm512_set1_ps(1.0f));
    m = _mm512_mask_add_ps(_mm512_sub_ps(m, _mm512_set1_ps(1.0f)), lt,
                           _mm512_sub_ps(m, _mm512_set1_ps(1.0f)), m);
    __m512 z = _mm512_mul_ps(m, m);
    __m512 p = _mm512_set1_ps(7.0376836292e-2f);
    p = _mm512_fmadd_ps(p, m, _mm512_set1_ps(-1.1514610310e-1f));
    p = _mm512_fmadd_ps(p, m, _mm512_set1_ps(1.1676998740e-1f));
    p = _mm512_fmadd_ps(p, m, _mm512_set1_ps(-1.2420140846e-1f));
    p = _mm512_fmadd_ps(p, m, _mm512_set1_ps(1.4249322787e-1f));
    p = _mm512_fmadd_ps(p, m, _mm512_set1_ps(-1.6668057665e-1f));
    p = _mm512_fmadd_ps(p, m, _mm512_set1_ps(2.0000714765e-1f));
    p = _mm512_fmadd_ps(p, m, _mm512_set1_ps(-2.4999993993e-1f));
    p = _mm512_fmadd_ps(p, m, _mm512_set1_ps(3.3333331174e-1f));
    __m512 y = _mm512_mul_ps(_mm512_mul_ps(p, m), z);
    y = _mm512_fmadd_ps(ef, _mm512_set1_ps(-2.12194440e-4f), y);
    y = _mm512_fmadd_ps(z, _mm512_set1_ps(-0.5f), y);
    __m512 r = _mm512_add_ps(m, y);
    return _mm512_fmadd_ps(ef, _mm512_set1_ps(0.693359375f), r);
}

static void fan(const float *a, const uint32_t *fan, size_t n, int mode,
                float s, float *out)
{
    const __m512i one_i = _mm512_set1_epi32(1);
    const __m512 one = _mm512_set1_ps(1.0f), half = _mm512_set1_ps(0.5f);
    const __m512 sv = _mm512_set1_ps(s), zero = _mm512_setzero_ps();
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : mask16(n - i);
        __m512 av = _mm512_maskz_loadu_ps(m, a + i);
        /* masked-off lanes load fan 0: harmless in every mode */
        __m512i fv = _mm512_maskz_loadu_epi32(m, fan + i);
        __m512 r;
        switch (mode) {
        case COGMEM_FAN_INV_SQRT: {
            __m512 f = _mm512_cvtepu32_ps(_mm512_max_epu32(fv, one_i));
            /* rsqrt14 plus one Newton step: ~1e-7, inside the 1e-6
             * contract, without sqrt + divide latency. */
            __m512 y = _mm512_rsqrt14_ps(f);
            __m512 e = _mm512_fnmadd_ps(_mm512_mul_ps(f, y), y, one);
            y = _mm512_fmadd_ps(_mm512_mul_ps(y, half), e, y);
            r = _mm512_mul_ps(av, y);
            break;
        }
        case COGMEM_FAN_LINEAR:
            r = _mm512_div_ps(av, _mm512_cvtepu32_ps(_mm512_max_epu32(fv, one_i)));
            break;
        case COGMEM_FAN_ACTR: {
            __m512 l = log_ge1(_mm512_add_ps(_mm512_cvtepu32_ps(fv), one));
            r = _mm512_add_ps(av, _mm512_max_ps(zero, _mm512_sub_ps(sv, l)));
            break;
        }
        default:
            r = av;
            break;
        }
        _mm512_mask_storeu_ps(out + i, m, r);
    }
}

/* ----------------------------------------------------------- hypervectors */


static void hv_xor(const uint8_t *a, const uint8_t *b, size_t nbytes,
                   uint8_t *out)
{
    for (size_t i = 0; i < nbytes; i += 64) {
        __mmask64 m = mask64(nbytes - i);
        _mm512_mask_storeu_epi8(out + i, m,
            _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, a + i),
                             _mm512_maskz_loadu_epi8(m, b + i)));
    }
}

/* Per-byte popcount by nibble lookups, for CPUs with AVX-512BW but no
 * VPOPCNTDQ (Skylake-SP, Cascade Lake). */
static inline __m512i popcnt_bytes(__m512i v)
{
    const __m512i lut = _mm512_set_epi8(
        4, 3, 3, 2, 3, 2, 2, 1, 3, 2, 2, 1, 2, 1, 1, 0, 4, 3, 3, 2, 3, 2, 2, 1,
        3, 2, 2, 1, 2, 1, 1, 0, 4, 3, 3, 2, 3, 2, 2, 1, 3, 2, 2, 1, 2, 1, 1, 0,
        4, 3, 3, 2, 3, 2, 2, 1, 3, 2, 2, 1, 2, 1, 1, 0);
    const __m512i lo4 = _mm512_set1_epi8(0x0f);
    __m512i lo = _mm512_and_si512(v, lo4);
    __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), lo4);
    return _mm512_add_epi8(_mm512_shuffle_epi8(lut, lo),
                           _mm512_shuffle_epi8(lut, hi));
}

static void hv_hamming_lut(const uint8_t *q, const uint8_t *rows, size_t n,
                           size_t nbytes, uint32_t *out)
{
    if (nbytes == 0) { /* no row is read: rows may be NULL (no offset on it) */
        memset(out, 0, n * sizeof *out);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const uint8_t *r = rows + i * nbytes;
        __m512i acc = _mm512_setzero_si512();
        size_t j = 0;
        for (; j + 64 <= nbytes; j += 64) {
            __m512i x = _mm512_xor_si512(_mm512_loadu_si512(q + j),
                                         _mm512_loadu_si512(r + j));
            acc = _mm512_add_epi64(acc, _mm512_sad_epu8(popcnt_bytes(x),
                                                        _mm512_setzero_si512()));
        }
        if (j < nbytes) {
            __mmask64 m = mask64(nbytes - j);
            __m512i x = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, q + j),
                                         _mm512_maskz_loadu_epi8(m, r + j));
            acc = _mm512_add_epi64(acc, _mm512_sad_epu8(popcnt_bytes(x),
                                                        _mm512_setzero_si512()));
        }
        out[i] = (uint32_t)_mm512_reduce_add_epi64(acc);
    }
}

cogmem__hamming_fn cogmem__simd_avx512_hamming_lut(void)
{
    return hv_hamming_lut;
}

/* Bit-sliced majority as in scalar.c, 512 bit positions per pass. */
static void hv_bundle(const uint8_t *rows, size_t n, size_t nbytes,
                      uint8_t *out)
{
    if (n == 0) {
        memset(out, 0, nbytes);
        return;
    }
    unsigned L = cogmem__bitlen(n);
    size_t half = n / 2;
    for (size_t w = 0; w < nbytes; w += 64) {
        __mmask64 m = mask64(nbytes - w);
        __m512i P[64];
        for (unsigned l = 0; l < L; l++)
            P[l] = _mm512_setzero_si512();
        unsigned lr = 1;
        size_t next_pow = 2;
        for (size_t r = 0; r < n; r++) {
            if (r + 1 == next_pow) {
                lr++;
                next_pow <<= 1;
            }
            __m512i carry = _mm512_maskz_loadu_epi8(m, rows + r * nbytes + w);
            for (unsigned l = 0; l < lr; l++) {
                __m512i t = _mm512_and_si512(P[l], carry);
                P[l] = _mm512_xor_si512(P[l], carry);
                carry = t;
            }
        }
        __m512i gt = _mm512_setzero_si512(), eq = _mm512_set1_epi8(-1);
        for (unsigned l = L; l-- > 0;) {
            if ((half >> l) & 1u) {
                eq = _mm512_and_si512(eq, P[l]);
            } else {
                gt = _mm512_or_si512(gt, _mm512_and_si512(eq, P[l]));
                eq = _mm512_andnot_si512(P[l], eq);
            }
        }
        if ((n & 1u) == 0)
            gt = _mm512_or_si512(gt, _mm512_and_si512(eq,
                     _mm512_maskz_loadu_epi8(m, rows + w)));
        _mm512_mask_storeu_epi8(out + w, m, gt);
    }
}

/* As rot_seg in avx2.c: vpsrlq by 64 yields 0, which is exactly b == 0. */
static void rot_seg(uint8_t *out, const uint8_t *a, const uint8_t *p,
                    size_t cnt, unsigned b)
{
    __m128i sl = _mm_cvtsi32_si128((int)b), sr = _mm_cvtsi32_si128((int)(64 - b));
    for (size_t j = 0; j < cnt; j += 8) {
        __mmask8 m = cnt - j >= 8 ? (__mmask8)0xff
                                  : (__mmask8)((1u << (cnt - j)) - 1u);
        __m512i av = _mm512_maskz_loadu_epi64(m, a + 8 * j);
        __m512i pv = _mm512_maskz_loadu_epi64(m, p + 8 * j);
        _mm512_mask_storeu_epi64(out + 8 * j, m,
                                 _mm512_or_si512(_mm512_sll_epi64(av, sl),
                                                 _mm512_srl_epi64(pv, sr)));
    }
}

static void hv_permute(const uint8_t *in, size_t nbytes, uint64_t shift,
                       uint8_t *out)
{
    if (nbytes % 8) {
        cogmem__permute_bytes(in, nbytes, shift, out);
        return;
    }
    size_t W = nbytes / 8, w = (size_t)(shift / 64);
    unsigned b = (unsigned)(shift % 64);
    if (w)
        rot_seg(out, in + 8 * (W - w), in + 8 * (W - w - 1), w, b);
    cogmem__store64(out + 8 * w, cogmem__rot_word(in, W, w, w, b));
    rot_seg(out + 8 * (w + 1), in + 8, in, W - w - 1, b);
}

/* --------------------------------------------------------------- ge_mask */

/* Sixteen scores per compare: the valid bits are the load's and the
 * compare's mask, so lanes the caller never wrote are not read. */
static void ge_mask(const float *s, size_t n, float bar, const uint64_t *valid,
                    uint64_t *out)
{
    const __m512 bv = _mm512_set1_ps(bar);
    for (size_t w = 0; w * 64 < n; w++) {
        uint64_t v = valid[w], r = 0;
        if (n - w * 64 < 64)
            v &= ((uint64_t)1 << (n - w * 64)) - 1;
        for (unsigned g = 0; g < 4 && v >> (16 * g); g++) {
            __mmask16 m = (__mmask16)(v >> (16 * g));
            __m512 x = _mm512_maskz_loadu_ps(m, s + w * 64 + 16 * g);
            r |= (uint64_t)_mm512_mask_cmp_ps_mask(m, x, bv, _CMP_GE_OQ) << (16 * g);
        }
        out[w] = r;
    }
}

/* ------------------------------------------------------ multi-query dot */

/* Eight accumulators to [sum x0, ..., sum x7] (the low half of the
 * result), each summed in exactly reduce16()'s and reduce1()'s order
 * (quarters q0+q2 and q1+q3, their sum, then (t0+t1) + (t2+t3)), so a
 * pair's score has dot_batch's bits. */
static inline __m256 reduce8(__m512 x0, __m512 x1, __m512 x2, __m512 x3,
                             __m512 x4, __m512 x5, __m512 x6, __m512 x7)
{
    __m512 l2a = pair_h(pair_q(x0, x1), pair_q(x2, x3));
    __m512 l2b = pair_h(pair_q(x4, x5), pair_q(x6, x7));
    /* l2a/l2b: quarter k holds 4 partial sums of row k / row 4 + k */
    __m512 l3 = pair_e(l2a, l2b);
    /* quarter k = [row k (2), row 4+k (2)] */
    __m512 l4 = pair_e(l3, l3);
    /* quarter k = [row k, row 4+k, row k, row 4+k] */
    const __m512i perm = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 0, 0, 0,
                                           0, 0, 0, 0, 0);
    return _mm512_castps512_ps256(_mm512_permutexvar_ps(perm, l4));
}

/* A 4-query x 6-row tile: 24 accumulators, 6 row registers and 1 query
 * register (31 of the 32 zmm), 10 loads per 24 FMAs where a 4 x 4 tile
 * needs 8 per 16, so the FMA pipes rather than the load ports set the
 * pace. The accumulators are named variables, not an array: the former
 * array-based 4 x 4 tile had GCC 12 write its accumulators to the stack
 * around the masked tail (26 zmm stores per call); with names neither
 * tile stores a zmm to the stack (objdump). Each accumulator sees dot_batch's FMA sequence (full 16-float
 * chunks, then the masked tail) and is reduced in its order, so every
 * pair has dot_batch's bits (cogmem-checkasm's block and position tests).
 *
 * With `pf`, each step also prefetches the matching line of each of the
 * next tile's 6 rows: one line per row per step, so the next tile is in
 * L1 by the time this one ends. The driver asks for it only in a row
 * tile's first query group: the later groups find the rows in L1. */
static inline __attribute__((always_inline)) void
tile46(const float *q, size_t qs, const float *r, size_t rs, size_t dim,
       float *out, size_t os, const float *nx, const int pf)
{
    const float *q0 = q, *q1 = q + qs, *q2 = q + 2 * qs, *q3 = q + 3 * qs;
    const float *r0 = r, *r1 = r + rs, *r2 = r + 2 * rs, *r3 = r + 3 * rs,
                *r4 = r + 4 * rs, *r5 = r + 5 * rs;
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c02 = c00, c03 = c00,
           c04 = c00, c05 = c00;
    __m512 c10 = c00, c11 = c00, c12 = c00, c13 = c00, c14 = c00, c15 = c00;
    __m512 c20 = c00, c21 = c00, c22 = c00, c23 = c00, c24 = c00, c25 = c00;
    __m512 c30 = c00, c31 = c00, c32 = c00, c33 = c00, c34 = c00, c35 = c00;
    size_t j = 0;
#define TILE46_Q(LOAD, qp, c0, c1, c2, c3, c4, c5)                             \
    do {                                                                       \
        __m512 qv = LOAD(qp + j);                                              \
        c0 = _mm512_fmadd_ps(v0, qv, c0);                                      \
        c1 = _mm512_fmadd_ps(v1, qv, c1);                                      \
        c2 = _mm512_fmadd_ps(v2, qv, c2);                                      \
        c3 = _mm512_fmadd_ps(v3, qv, c3);                                      \
        c4 = _mm512_fmadd_ps(v4, qv, c4);                                      \
        c5 = _mm512_fmadd_ps(v5, qv, c5);                                      \
    } while (0)
#define TILE46_STEP(LOAD)                                                      \
    do {                                                                       \
        __m512 v0 = LOAD(r0 + j), v1 = LOAD(r1 + j), v2 = LOAD(r2 + j),        \
               v3 = LOAD(r3 + j), v4 = LOAD(r4 + j), v5 = LOAD(r5 + j);        \
        TILE46_Q(LOAD, q0, c00, c01, c02, c03, c04, c05);                      \
        TILE46_Q(LOAD, q1, c10, c11, c12, c13, c14, c15);                      \
        TILE46_Q(LOAD, q2, c20, c21, c22, c23, c24, c25);                      \
        TILE46_Q(LOAD, q3, c30, c31, c32, c33, c34, c35);                      \
    } while (0)
    for (; j + 16 <= dim; j += 16) {
        if (pf)
            for (int b = 0; b < 6; b++)
                _mm_prefetch((const char *)(nx + (size_t)b * rs + j), _MM_HINT_T0);
        TILE46_STEP(_mm512_loadu_ps);
    }
    if (j < dim) {
        __mmask16 m = mask16(dim - j);
        if (pf)
            for (int b = 0; b < 6; b++)
                _mm_prefetch((const char *)(nx + (size_t)b * rs + j), _MM_HINT_T0);
#define TILE46_MASKED(p) _mm512_maskz_loadu_ps(m, (p))
        TILE46_STEP(TILE46_MASKED);
#undef TILE46_MASKED
    }
#undef TILE46_STEP
#undef TILE46_Q
    /* Rows 0-3: lane 4a + b = query a . row b. Rows 4-5: lane 2a + b - 4. */
    const __m512 lo[16] = {c00, c01, c02, c03, c10, c11, c12, c13,
                           c20, c21, c22, c23, c30, c31, c32, c33};
    __m512 s = reduce16(lo);
    __m256 t = reduce8(c04, c05, c14, c15, c24, c25, c34, c35);
    __m128 t01 = _mm256_castps256_ps128(t), t23 = _mm256_extractf128_ps(t, 1);
    _mm_storeu_ps(out, _mm512_castps512_ps128(s));
    _mm_storel_pi((__m64 *)(out + 4), t01);
    _mm_storeu_ps(out + os, _mm512_extractf32x4_ps(s, 1));
    _mm_storeh_pi((__m64 *)(out + os + 4), t01);
    _mm_storeu_ps(out + 2 * os, _mm512_extractf32x4_ps(s, 2));
    _mm_storel_pi((__m64 *)(out + 2 * os + 4), t23);
    _mm_storeu_ps(out + 3 * os, _mm512_extractf32x4_ps(s, 3));
    _mm_storeh_pi((__m64 *)(out + 3 * os + 4), t23);
}

static void tile46_plain(const float *q, size_t qs, const float *r, size_t rs,
                         size_t dim, float *out, size_t os)
{
    tile46(q, qs, r, rs, dim, out, os, NULL, 0);
}

static void tile46_pf(const float *q, size_t qs, const float *r, size_t rs,
                      size_t dim, float *out, size_t os, const float *nx)
{
    tile46(q, qs, r, rs, dim, out, os, nx, 1);
}

/* The edge tile, 4 queries x 4 rows, for a chunk's last 4 or 5 rows: 16
 * accumulators, one reduce16; bits as dot_batch's, as for tile46. */
static void tile44(const float *q, size_t qs, const float *r, size_t rs,
                   size_t dim, float *out, size_t os)
{
    const float *q0 = q, *q1 = q + qs, *q2 = q + 2 * qs, *q3 = q + 3 * qs;
    const float *r0 = r, *r1 = r + rs, *r2 = r + 2 * rs, *r3 = r + 3 * rs;
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c02 = c00, c03 = c00;
    __m512 c10 = c00, c11 = c00, c12 = c00, c13 = c00;
    __m512 c20 = c00, c21 = c00, c22 = c00, c23 = c00;
    __m512 c30 = c00, c31 = c00, c32 = c00, c33 = c00;
    size_t j = 0;
#define TILE44_Q(LOAD, qp, c0, c1, c2, c3)                                     \
    do {                                                                       \
        __m512 qv = LOAD(qp + j);                                              \
        c0 = _mm512_fmadd_ps(v0, qv, c0);                                      \
        c1 = _mm512_fmadd_ps(v1, qv, c1);                                      \
        c2 = _mm512_fmadd_ps(v2, qv, c2);                                      \
        c3 = _mm512_fmadd_ps(v3, qv, c3);                                      \
    } while (0)
#define TILE44_STEP(LOAD)                                                      \
    do {                                                                       \
        __m512 v0 = LOAD(r0 + j), v1 = LOAD(r1 + j), v2 = LOAD(r2 + j),        \
               v3 = LOAD(r3 + j);                                              \
        TILE44_Q(LOAD, q0, c00, c01, c02, c03);                                \
        TILE44_Q(LOAD, q1, c10, c11, c12, c13);                                \
        TILE44_Q(LOAD, q2, c20, c21, c22, c23);                                \
        TILE44_Q(LOAD, q3, c30, c31, c32, c33);                                \
    } while (0)
    for (; j + 16 <= dim; j += 16)
        TILE44_STEP(_mm512_loadu_ps);
    if (j < dim) {
        __mmask16 m = mask16(dim - j);
#define TILE44_MASKED(p) _mm512_maskz_loadu_ps(m, (p))
        TILE44_STEP(TILE44_MASKED);
#undef TILE44_MASKED
    }
#undef TILE44_STEP
#undef TILE44_Q
    /* lane 4a + b = query a . row b */
    const __m512 acc[16] = {c00, c01, c02, c03, c10, c11, c12, c13,
                            c20, c21, c22, c23, c30, c31, c32, c33};
    __m512 s = reduce16(acc);
    _mm_storeu_ps(out, _mm512_castps512_ps128(s));
    _mm_storeu_ps(out + os, _mm512_extractf32x4_ps(s, 1));
    _mm_storeu_ps(out + 2 * os, _mm512_extractf32x4_ps(s, 2));
    _mm_storeu_ps(out + 3 * os, _mm512_extractf32x4_ps(s, 3));
}

/* cogmem__dot_block_drive (simd_internal.h) with two row tiles: 4 x 6
 * (prefetching the next six rows in a row tile's first query group), then
 * 4 x 4 for 4 or 5 leftover rows, then dot_batch for the last 1-3 rows
 * and for the last nq % 4 queries. A row chunk (128 KiB: 42 rows of 768
 * floats) is a multiple of 6 rows, so only the array's last chunk has an
 * edge; recall's blocks are multiples of 12 rows for the same reason. */
static void dot_block(const float *q, size_t nq, size_t qs, const float *rows,
                      size_t n, size_t dim, size_t rs, float *out, size_t os)
{
    cogmem__dot_block_drive(q, nq, qs, rows, n, dim, rs, out, os, 4, 6, tile46_plain,
                            tile46_pf, 4, tile44, dot_batch);
}

void cogmem__simd_fill_avx512(cogmem__simd_ops *ops)
{
    ops->name = "avx512";
    ops->dot_batch = dot_batch;
    ops->cosine_batch = cosine_batch;
    ops->topk = topk;
    ops->scale = scale;
    ops->decay_exp = decay_exp;
    ops->prune = prune;
    ops->fan = fan;
    ops->hv_xor = hv_xor;
    ops->hv_hamming = hv_hamming_lut;
    ops->hv_bundle = hv_bundle;
    ops->hv_permute = hv_permute;
    ops->dot_block = dot_block;
    ops->ge_mask = ge_mask;
    ops->splat_u64 = splat_u64;
    ops->sum_squares = sum_squares;
}
