/* cogmem — AVX2 + FMA kernels (Haswell / Zen 1 and later).
 *
 * Compiled with -mavx2 -mfma -mpopcnt; reached only when dispatch.c has
 * seen AVX2, FMA, POPCNT and OS-enabled YMM state.
 */
#include <immintrin.h>
#include <math.h>

#include "simd_internal.h"

/* All-ones in the first `rem` (0..8) lanes: masked loads read no byte past
 * the end of a row, so a row ending at a page boundary cannot fault. */
static inline __m256i tail_mask(size_t rem)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)rem),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* [sum a, sum b, ..., sum h]: 6 hadds and one cross-lane add instead of
 * eight separate horizontal reductions. */
static inline __m256 hsum8(__m256 a, __m256 b, __m256 c, __m256 d, __m256 e,
                           __m256 f, __m256 g, __m256 h)
{
    __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    __m256 efgh = _mm256_hadd_ps(_mm256_hadd_ps(e, f), _mm256_hadd_ps(g, h));
    return _mm256_add_ps(_mm256_permute2f128_ps(abcd, efgh, 0x20),
                         _mm256_permute2f128_ps(abcd, efgh, 0x31));
}

/* ------------------------------------------------------------------ dot */

/* Eight rows per pass: each query load feeds eight FMAs and the eight
 * accumulators are independent chains, enough to cover FMA latency. With
 * `pf`, the same offset of the next block's rows is prefetched, one line
 * per 64 bytes consumed, so DRAM misses overlap with the FMAs. */
static inline __attribute__((always_inline)) void
dot8(const float *q, const float *r, size_t dim, size_t stride, float *out,
     const int pf)
{
    const float *r0 = r, *r1 = r + stride, *r2 = r + 2 * stride,
                *r3 = r + 3 * stride, *r4 = r + 4 * stride,
                *r5 = r + 5 * stride, *r6 = r + 6 * stride,
                *r7 = r + 7 * stride;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0,
           a5 = a0, a6 = a0, a7 = a0;
    size_t j = 0;
#define STEP8(J)                                                               \
    do {                                                                       \
        __m256 qv = _mm256_loadu_ps(q + (J));                                  \
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(r0 + (J)), qv, a0);               \
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(r1 + (J)), qv, a1);               \
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(r2 + (J)), qv, a2);               \
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(r3 + (J)), qv, a3);               \
        a4 = _mm256_fmadd_ps(_mm256_loadu_ps(r4 + (J)), qv, a4);               \
        a5 = _mm256_fmadd_ps(_mm256_loadu_ps(r5 + (J)), qv, a5);               \
        a6 = _mm256_fmadd_ps(_mm256_loadu_ps(r6 + (J)), qv, a6);               \
        a7 = _mm256_fmadd_ps(_mm256_loadu_ps(r7 + (J)), qv, a7);               \
    } while (0)
    for (; j + 16 <= dim; j += 16) {
        if (pf) {
            const float *nx = r + 8 * stride + j;
            for (int k = 0; k < 8; k++)
                _mm_prefetch((const char *)(nx + (size_t)k * stride),
                             _MM_HINT_T0);
        }
        STEP8(j);
        STEP8(j + 8);
    }
    if (j + 8 <= dim) {
        STEP8(j);
        j += 8;
    }
#undef STEP8
    if (j < dim) {
        __m256i m = tail_mask(dim - j);
        __m256 qv = _mm256_maskload_ps(q + j, m);
        a0 = _mm256_fmadd_ps(_mm256_maskload_ps(r0 + j, m), qv, a0);
        a1 = _mm256_fmadd_ps(_mm256_maskload_ps(r1 + j, m), qv, a1);
        a2 = _mm256_fmadd_ps(_mm256_maskload_ps(r2 + j, m), qv, a2);
        a3 = _mm256_fmadd_ps(_mm256_maskload_ps(r3 + j, m), qv, a3);
        a4 = _mm256_fmadd_ps(_mm256_maskload_ps(r4 + j, m), qv, a4);
        a5 = _mm256_fmadd_ps(_mm256_maskload_ps(r5 + j, m), qv, a5);
        a6 = _mm256_fmadd_ps(_mm256_maskload_ps(r6 + j, m), qv, a6);
        a7 = _mm256_fmadd_ps(_mm256_maskload_ps(r7 + j, m), qv, a7);
    }
    _mm256_storeu_ps(out, hsum8(a0, a1, a2, a3, a4, a5, a6, a7));
}

/* One row: the remainder of a batch and single-vector scoring. One
 * accumulator, reduced by hsum8's tree (lane 0 of hsum8 with the other
 * rows zero), the FMA and addition order of dot8's, so a row's score never
 * depends on which path computed it (cogmem-checkasm's position test). */
static float dot1(const float *q, const float *r, size_t dim)
{
    __m256 a = _mm256_setzero_ps(), z = a;
    size_t j = 0;
    for (; j + 8 <= dim; j += 8)
        a = _mm256_fmadd_ps(_mm256_loadu_ps(r + j), _mm256_loadu_ps(q + j), a);
    if (j < dim) {
        __m256i m = tail_mask(dim - j);
        a = _mm256_fmadd_ps(_mm256_maskload_ps(r + j, m),
                            _mm256_maskload_ps(q + j, m), a);
    }
    return _mm256_cvtss_f32(hsum8(a, z, z, z, z, z, z, z));
}

static void dot_batch(const float *q, const float *rows, size_t n, size_t dim,
                      size_t stride, float *out)
{
    if (dim == 0) { /* no row is read: rows may be NULL (no offset on it) */
        memset(out, 0, n * sizeof *out);
        return;
    }
    size_t i = 0;
    int pf = n * stride * sizeof(float) > COGMEM__PREFETCH_BYTES;
    if (pf) {
        /* The last block must not prefetch past the base (harmless for
         * prefetch, but it would pull useless lines from DRAM). */
        for (; i + 16 <= n; i += 8)
            dot8(q, rows + i * stride, dim, stride, out + i, 1);
    }
    for (; i + 8 <= n; i += 8)
        dot8(q, rows + i * stride, dim, stride, out + i, 0);
    for (; i < n; i++)
        out[i] = dot1(q, rows + i * stride, dim);
}

/* ------------------------------------------------------------- cosine */

/* cogmem__cos_finish (simd_internal.h) in eight lanes: 0 where den == 0
 * or where den is NaN (0 * inf) but the dot is not. */
static inline __m256 cos_zero_mask(__m256 d, __m256 den)
{
    __m256 z = _mm256_cmp_ps(den, _mm256_setzero_ps(), _CMP_EQ_OQ);
    __m256 nan_den = _mm256_cmp_ps(den, den, _CMP_UNORD_Q);
    __m256 ord_d = _mm256_cmp_ps(d, d, _CMP_ORD_Q);
    return _mm256_or_ps(z, _mm256_and_ps(nan_den, ord_d));
}

static inline __m256 cos_finish(__m256 d, __m256 rn, __m256 qn)
{
    __m256 den = _mm256_mul_ps(qn, rn);
    __m256 r = _mm256_div_ps(d, den);
    return _mm256_andnot_ps(cos_zero_mask(d, den), r);
}

static inline float cos_finish1(float d, float rn, float qn)
{
    return cogmem__cos_finish(d, rn, qn);
}

/* Four rows, dot and sum of squares in one pass: the rows are read once
 * (what matters when the base is in DRAM). Eight accumulators. */
static void cos4(const float *q, const float *r, size_t dim, size_t stride,
                 float qn, float *out)
{
    const float *r0 = r, *r1 = r + stride, *r2 = r + 2 * stride,
                *r3 = r + 3 * stride;
    __m256 d0 = _mm256_setzero_ps(), d1 = d0, d2 = d0, d3 = d0, s0 = d0,
           s1 = d0, s2 = d0, s3 = d0;
    size_t j = 0;
    for (; j < dim; j += 8) {
        __m256 qv, x0, x1, x2, x3;
        if (j + 8 <= dim) {
            qv = _mm256_loadu_ps(q + j);
            x0 = _mm256_loadu_ps(r0 + j);
            x1 = _mm256_loadu_ps(r1 + j);
            x2 = _mm256_loadu_ps(r2 + j);
            x3 = _mm256_loadu_ps(r3 + j);
        } else {
            __m256i m = tail_mask(dim - j);
            qv = _mm256_maskload_ps(q + j, m);
            x0 = _mm256_maskload_ps(r0 + j, m);
            x1 = _mm256_maskload_ps(r1 + j, m);
            x2 = _mm256_maskload_ps(r2 + j, m);
            x3 = _mm256_maskload_ps(r3 + j, m);
        }
        d0 = _mm256_fmadd_ps(x0, qv, d0);
        d1 = _mm256_fmadd_ps(x1, qv, d1);
        d2 = _mm256_fmadd_ps(x2, qv, d2);
        d3 = _mm256_fmadd_ps(x3, qv, d3);
        s0 = _mm256_fmadd_ps(x0, x0, s0);
        s1 = _mm256_fmadd_ps(x1, x1, s1);
        s2 = _mm256_fmadd_ps(x2, x2, s2);
        s3 = _mm256_fmadd_ps(x3, x3, s3);
    }
    __m256 h = hsum8(d0, d1, d2, d3, s0, s1, s2, s3);
    __m128 dots = _mm256_castps256_ps128(h);
    __m128 rn = _mm_sqrt_ps(_mm256_extractf128_ps(h, 1));
    __m128 den = _mm_mul_ps(_mm_set1_ps(qn), rn);
    __m128 res = _mm_div_ps(dots, den);
    __m128 nan_den = _mm_cmpunord_ps(den, den), ord_d = _mm_cmpord_ps(dots, dots);
    res = _mm_andnot_ps(_mm_or_ps(_mm_cmpeq_ps(den, _mm_setzero_ps()),
                                  _mm_and_ps(nan_den, ord_d)),
                        res);
    _mm_storeu_ps(out, res);
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
        __m256 qv = _mm256_set1_ps(qn);
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(out + i,
                             cos_finish(_mm256_loadu_ps(out + i),
                                        _mm256_loadu_ps(row_norms + i), qv));
        for (; i < n; i++)
            out[i] = cos_finish1(out[i], row_norms[i], qn);
        return;
    }
    for (; i + 4 <= n; i += 4)
        cos4(q, rows + i * stride, dim, stride, qn, out + i);
    for (; i < n; i++) {
        const float *r = rows + i * stride;
        out[i] = cos_finish1(dot1(q, r, dim), sqrtf(dot1(r, r, dim)), qn);
    }
}

/* ----------------------------------------------------------------- top-k */

static size_t topk(const float *s, size_t n, size_t k, uint32_t *h)
{
    size_t cnt = 0;
    size_t i = cogmem__topk_fill(s, n, k, h, &cnt);
    if (cnt < k) /* ran out of scores while filling */
        goto done;
    /* Most scores lose to the running k-th best: test 32 at a time with
     * compares and only walk the lanes that beat it. */
    __m256 thr = _mm256_set1_ps(s[h[0]]);
    for (; i + 32 <= n; i += 32) {
        __m256 c0 = _mm256_cmp_ps(_mm256_loadu_ps(s + i), thr, _CMP_GT_OQ);
        __m256 c1 = _mm256_cmp_ps(_mm256_loadu_ps(s + i + 8), thr, _CMP_GT_OQ);
        __m256 c2 = _mm256_cmp_ps(_mm256_loadu_ps(s + i + 16), thr, _CMP_GT_OQ);
        __m256 c3 = _mm256_cmp_ps(_mm256_loadu_ps(s + i + 24), thr, _CMP_GT_OQ);
        __m256 any = _mm256_or_ps(_mm256_or_ps(c0, c1), _mm256_or_ps(c2, c3));
        if (_mm256_testz_ps(any, any))
            continue;
        uint32_t bits = (uint32_t)_mm256_movemask_ps(c0) |
                        (uint32_t)_mm256_movemask_ps(c1) << 8 |
                        (uint32_t)_mm256_movemask_ps(c2) << 16 |
                        (uint32_t)_mm256_movemask_ps(c3) << 24;
        while (bits) {
            unsigned b = (unsigned)__builtin_ctz(bits);
            bits &= bits - 1;
            cogmem__idxheap_offer(s, h, cnt, (uint32_t)(i + b));
        }
        thr = _mm256_set1_ps(s[h[0]]);
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
    __m256 fv = _mm256_set1_ps(f);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), fv));
        _mm256_storeu_ps(x + i + 8,
                         _mm256_mul_ps(_mm256_loadu_ps(x + i + 8), fv));
        _mm256_storeu_ps(x + i + 16,
                         _mm256_mul_ps(_mm256_loadu_ps(x + i + 16), fv));
        _mm256_storeu_ps(x + i + 24,
                         _mm256_mul_ps(_mm256_loadu_ps(x + i + 24), fv));
    }
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), fv));
    for (; i < n; i++)
        x[i] *= f;
}

/* acc + x[0..3]^2 in double. */
static inline __m256d sq4(__m256d acc, const float *x)
{
    __m256d v = _mm256_cvtps_pd(_mm_loadu_ps(x));
    return _mm256_fmadd_pd(v, v, acc);
}

/* The same for the first `left` of the four floats only (left may be <= 0
 * or >= 4): the others are not read and add 0 * 0. */
static inline __m256d sq4_masked(__m256d acc, const float *x, int left)
{
    __m128i m = _mm_cmpgt_epi32(_mm_set1_epi32(left), _mm_setr_epi32(0, 1, 2, 3));
    __m256d v = _mm256_cvtps_pd(_mm_maskload_ps(x, m));
    return _mm256_fmadd_pd(v, v, acc);
}

/* cogmem_sum_squares: lanes 4k..4k+3 in accumulator a<k>; the partial
 * round through masked loads and the fold in registers, as in avx512.c.
 * Named accumulators, not an array: GCC kept an array of them in memory,
 * zeroed by a rep stos that cost more than a short vector's whole sum. */
static double sum_squares(const float *x, size_t n)
{
    __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0,
            a6 = a0, a7 = a0;
    size_t i = 0;
    for (; i + COGMEM__SUMSQ_LANES <= n; i += COGMEM__SUMSQ_LANES) {
        a0 = sq4(a0, x + i);
        a1 = sq4(a1, x + i + 4);
        a2 = sq4(a2, x + i + 8);
        a3 = sq4(a3, x + i + 12);
        a4 = sq4(a4, x + i + 16);
        a5 = sq4(a5, x + i + 20);
        a6 = sq4(a6, x + i + 24);
        a7 = sq4(a7, x + i + 28);
    }
    if (i < n) {
        int r = (int)(n - i); /* 1..31; a mask past the end is empty */
        a0 = sq4_masked(a0, x + i, r);
        a1 = sq4_masked(a1, x + i + 4, r - 4);
        a2 = sq4_masked(a2, x + i + 8, r - 8);
        a3 = sq4_masked(a3, x + i + 12, r - 12);
        a4 = sq4_masked(a4, x + i + 16, r - 16);
        a5 = sq4_masked(a5, x + i + 20, r - 20);
        a6 = sq4_masked(a6, x + i + 24, r - 24);
        a7 = sq4_masked(a7, x + i + 28, r - 28);
    }
    /* Lanes j += j + 16, j + 8, j + 4, then the halves of 2 and 1. */
    a0 = _mm256_add_pd(a0, a4);
    a1 = _mm256_add_pd(a1, a5);
    a2 = _mm256_add_pd(a2, a6);
    a3 = _mm256_add_pd(a3, a7);
    __m256d a = _mm256_add_pd(_mm256_add_pd(a0, a2), _mm256_add_pd(a1, a3));
    __m128d q = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
    return _mm_cvtsd_f64(_mm_add_sd(q, _mm_unpackhi_pd(q, q)));
}

/* See avx512.c: the same, 32 bytes a store, the tail one u64 at a time. */
static void splat_u64(uint64_t *d, size_t n, uint64_t v)
{
    __m256i x = _mm256_set1_epi64x((long long)v);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm256_storeu_si256((__m256i *)(d + i), x);
        _mm256_storeu_si256((__m256i *)(d + i + 4), x);
        _mm256_storeu_si256((__m256i *)(d + i + 8), x);
        _mm256_storeu_si256((__m256i *)(d + i + 12), x);
    }
    for (; i + 4 <= n; i += 4)
        _mm256_storeu_si256((__m256i *)(d + i), x);
    for (; i < n; i++)
        d[i] = v;
}

/* exp(t) for f32 lanes: t = n ln2 + r with |r| <= ln2/2 (Cody-Waite split
 * of ln2 so r is exact), e^r by the Cephes expf polynomial (1.7e-7
 * relative), and 2^n applied as two factors so that results down in the
 * denormals (n to -150) and up to overflow (n = 128) need no special case.
 * The clamp keeps n in that range; max/min take t as the second operand so
 * a NaN t passes through (maxps returns its second operand on NaN). */
static inline __m256 exp_ps(__m256 t)
{
    t = _mm256_min_ps(_mm256_set1_ps(89.0f),
                      _mm256_max_ps(_mm256_set1_ps(-104.0f), t));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(t, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), t);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
    p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i n1 = _mm256_srai_epi32(ni, 1);
    __m256i n2 = _mm256_sub_epi32(ni, n1);
    __m256i bias = _mm256_set1_epi32(127);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

static void decay_exp(float *x, const float *dt, size_t n, float rate)
{
    __m256 rv = _mm256_set1_ps(rate);
    __m256 neg = _mm256_set1_ps(-0.0f);
    size_t i = 0;
    for (; i < n; i += 8) {
        if (i + 8 <= n) {
            __m256 t = _mm256_xor_ps(_mm256_mul_ps(rv, _mm256_loadu_ps(dt + i)), neg);
            _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), exp_ps(t)));
        } else {
            __m256i m = tail_mask(n - i);
            __m256 t = _mm256_xor_ps(_mm256_mul_ps(rv, _mm256_maskload_ps(dt + i, m)), neg);
            __m256 v = _mm256_mul_ps(_mm256_maskload_ps(x + i, m), exp_ps(t));
            _mm256_maskstore_ps(x + i, m, v);
        }
    }
}

static size_t prune(const float *x, size_t n, float thr, uint32_t *idx)
{
    __m256 tv = _mm256_set1_ps(thr);
    size_t c = 0, i = 0;
    for (; i + 8 <= n; i += 8) {
        unsigned bits = (unsigned)_mm256_movemask_ps(
            _mm256_cmp_ps(_mm256_loadu_ps(x + i), tv, _CMP_NGE_UQ));
        while (bits) {
            idx[c++] = (uint32_t)(i + (unsigned)__builtin_ctz(bits));
            bits &= bits - 1;
        }
    }
    for (; i < n; i++)
        if (!(x[i] >= thr))
            idx[c++] = (uint32_t)i;
    return c;
}

/* ------------------------------------------------------------------- fan */

/* uint32 -> f32 rounded to nearest like a C cast: AVX2 only converts signed
 * lanes, so convert the two 16-bit halves (exact) and let one FMA do the
 * single rounding of hi * 65536 + lo. */
static inline __m256 u32_to_ps(__m256i v)
{
    __m256 hi = _mm256_cvtepi32_ps(_mm256_srli_epi32(v, 16));
    __m256 lo = _mm256_cvtepi32_ps(_mm256_and_si256(v, _mm256_set1_epi32(0xffff)));
    return _mm256_fmadd_ps(hi, _mm256_set1_ps(65536.0f), lo);
}

/* ln(x) for x >= 1 (finite): Cephes logf reduction to m in [sqrt(.5),
 * sqrt(2)) and its degree-9 polynomial, about 1e-7 relative. */
static inline __m256 log_ge1(__m256 x)
{
    __m256i xi = _mm256_castps_si256(x);
    __m256i e = _mm256_sub_epi32(_mm256_srli_epi32(xi, 23), _mm256_set1_epi32(126));
    __m256 m = _mm256_castsi256_ps(_mm256_or_si256(
        _mm256_and_si256(xi, _mm256_set1_epi32(0x007fffff)),
        _mm256_set1_epi32(0x3f000000)));
    __m256 ef = _mm256_cvtepi32_ps(e);
    __m256 lt = _mm256_cmp_ps(m, _mm256_set1_ps(0.707106781186547524f), _CMP_LT_OQ);
    ef = _mm256_sub_ps(ef, _mm256_and_ps(lt, _mm256_set1_ps(1.0f)));
    m = _mm256_add_ps(_mm256_sub_ps(m, _mm256_set1_ps(1.0f)), _mm256_and_ps(lt, m));
    __m256 z = _mm256_mul_ps(m, m);
    __m256 p = _mm256_set1_ps(7.0376836292e-2f);
    p = _mm256_fmadd_ps(p, m, _mm256_set1_ps(-1.1514610310e-1f));
    p = _mm256_fmadd_ps(p, m, _mm256_set1_ps(1.1676998740e-1f));
    p = _mm256_fmadd_ps(p, m, _mm256_set1_ps(-1.2420140846e-1f));
    p = _mm256_fmadd_ps(p, m, _mm256_set1_ps(1.4249322787e-1f));
    p = _mm256_fmadd_ps(p, m, _mm256_set1_ps(-1.6668057665e-1f));
    p = _mm256_fmadd_ps(p, m, _mm256_set1_ps(2.0000714765e-1f));
    p = _mm256_fmadd_ps(p, m, _mm256_set1_ps(-2.4999993993e-1f));
    p = _mm256_fmadd_ps(p, m, _mm256_set1_ps(3.3333331174e-1f));
    __m256 y = _mm256_mul_ps(_mm256_mul_ps(p, m), z);
    y = _mm256_fmadd_ps(ef, _mm256_set1_ps(-2.12194440e-4f), y);
    y = _mm256_fmadd_ps(z, _mm256_set1_ps(-0.5f), y);
    __m256 r = _mm256_add_ps(m, y);
    return _mm256_fmadd_ps(ef, _mm256_set1_ps(0.693359375f), r);
}

static inline float fan1(float a, uint32_t f, int mode, float s)
{
    uint32_t f1 = f ? f : 1u;
    switch (mode) {
    case COGMEM_FAN_INV_SQRT:
        return a / sqrtf((float)f1);
    case COGMEM_FAN_LINEAR:
        return a / (float)f1;
    case COGMEM_FAN_ACTR: {
        float sji = s - logf((float)f + 1.0f);
        if (sji < 0.0f)
            sji = 0.0f;
        return a + sji;
    }
    default:
        return a;
    }
}

static void fan(const float *a, const uint32_t *fan, size_t n, int mode,
                float s, float *out)
{
    const __m256i one_i = _mm256_set1_epi32(1);
    const __m256 one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
    const __m256 sv = _mm256_set1_ps(s), zero = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 av = _mm256_loadu_ps(a + i);
        __m256i fv = _mm256_loadu_si256((const __m256i *)(fan + i));
        __m256 r;
        switch (mode) {
        case COGMEM_FAN_INV_SQRT: {
            __m256 f = u32_to_ps(_mm256_max_epu32(fv, one_i));
            /* rsqrt is 12 bits; one Newton step y(1.5 - f y^2 / 2),
             * written as y + y/2 (1 - f y y) to keep it accurate, brings
             * it to ~2e-7, well inside the 1e-6 contract, at a fraction
             * of the cost of sqrt + divide. */
            __m256 y = _mm256_rsqrt_ps(f);
            __m256 e = _mm256_fnmadd_ps(_mm256_mul_ps(f, y), y, one);
            y = _mm256_fmadd_ps(_mm256_mul_ps(y, half), e, y);
            r = _mm256_mul_ps(av, y);
            break;
        }
        case COGMEM_FAN_LINEAR:
            r = _mm256_div_ps(av, u32_to_ps(_mm256_max_epu32(fv, one_i)));
            break;
        case COGMEM_FAN_ACTR: {
            __m256 l = log_ge1(_mm256_add_ps(u32_to_ps(fv), one));
            /* max(0, x) with x second: NaN in S survives. */
            r = _mm256_add_ps(av, _mm256_max_ps(zero, _mm256_sub_ps(sv, l)));
            break;
        }
        default:
            r = av;
            break;
        }
        _mm256_storeu_ps(out + i, r);
    }
    for (; i < n; i++)
        out[i] = fan1(a[i], fan[i], mode, s);
}

/* ----------------------------------------------------------- hypervectors */

static void hv_xor(const uint8_t *a, const uint8_t *b, size_t nbytes,
                   uint8_t *out)
{
    size_t i = 0;
    for (; i + 32 <= nbytes; i += 32)
        _mm256_storeu_si256((__m256i *)(out + i),
            _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(a + i)),
                             _mm256_loadu_si256((const __m256i *)(b + i))));
    for (; i < nbytes; i++)
        out[i] = (uint8_t)(a[i] ^ b[i]);
}

/* Per-byte popcount by two nibble lookups (Mula's vpshufb method). */
static inline __m256i popcnt_bytes(__m256i v)
{
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2,
                                         3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2,
                                         2, 3, 2, 3, 3, 4);
    const __m256i lo4 = _mm256_set1_epi8(0x0f);
    __m256i lo = _mm256_and_si256(v, lo4);
    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), lo4);
    return _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo),
                           _mm256_shuffle_epi8(lut, hi));
}

static void hv_hamming(const uint8_t *q, const uint8_t *rows, size_t n,
                       size_t nbytes, uint32_t *out)
{
    if (nbytes == 0) { /* no row is read: rows may be NULL (no offset on it) */
        memset(out, 0, n * sizeof *out);
        return;
    }
    size_t vb = nbytes & ~(size_t)31;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *r = rows + i * nbytes;
        __m256i acc = _mm256_setzero_si256();
        for (size_t j = 0; j < vb; j += 32) {
            __m256i x = _mm256_xor_si256(
                _mm256_loadu_si256((const __m256i *)(q + j)),
                _mm256_loadu_si256((const __m256i *)(r + j)));
            acc = _mm256_add_epi64(acc, _mm256_sad_epu8(popcnt_bytes(x),
                                                        _mm256_setzero_si256()));
        }
        __m128i s = _mm_add_epi64(_mm256_castsi256_si128(acc),
                                  _mm256_extracti128_si256(acc, 1));
        s = _mm_add_epi64(s, _mm_unpackhi_epi64(s, s));
        out[i] = (uint32_t)_mm_cvtsi128_si64(s) +
                 cogmem__hamming_tail(q, r, vb, nbytes);
    }
}

/* Bit-sliced counters as in scalar.c, 256 bit positions per pass. Rows
 * are added with a ripple that only touches the planes the count can have
 * reached so far (bitlen(r + 1)). */
static void hv_bundle(const uint8_t *rows, size_t n, size_t nbytes,
                      uint8_t *out)
{
    if (n == 0) {
        memset(out, 0, nbytes);
        return;
    }
    unsigned L = cogmem__bitlen(n);
    size_t half = n / 2;
    size_t w = 0;
    for (; w + 32 <= nbytes; w += 32) {
        __m256i P[64];
        for (unsigned l = 0; l < L; l++)
            P[l] = _mm256_setzero_si256();
        unsigned lr = 1;
        size_t next_pow = 2;
        for (size_t r = 0; r < n; r++) {
            if (r + 1 == next_pow) {
                lr++;
                next_pow <<= 1;
            }
            __m256i carry = _mm256_loadu_si256((const __m256i *)(rows + r * nbytes + w));
            for (unsigned l = 0; l < lr; l++) {
                __m256i t = _mm256_and_si256(P[l], carry);
                P[l] = _mm256_xor_si256(P[l], carry);
                carry = t;
            }
        }
        __m256i gt = _mm256_setzero_si256(), eq = _mm256_set1_epi8(-1);
        for (unsigned l = L; l-- > 0;) {
            if ((half >> l) & 1u) {
                eq = _mm256_and_si256(eq, P[l]);
            } else {
                gt = _mm256_or_si256(gt, _mm256_and_si256(eq, P[l]));
                eq = _mm256_andnot_si256(P[l], eq);
            }
        }
        if ((n & 1u) == 0)
            gt = _mm256_or_si256(gt, _mm256_and_si256(eq,
                     _mm256_loadu_si256((const __m256i *)(rows + w))));
        _mm256_storeu_si256((__m256i *)(out + w), gt);
    }
    cogmem__bundle_bytes(rows, n, nbytes, w, out);
}

/* out word j = (a word j << b) | (p word j >> (64 - b)) for j < cnt; a
 * shift count of 64 yields 0 in vpsrlq, which is exactly b == 0. */
static void rot_seg(uint8_t *out, const uint8_t *a, const uint8_t *p,
                    size_t cnt, unsigned b)
{
    __m128i sl = _mm_cvtsi32_si128((int)b), sr = _mm_cvtsi32_si128((int)(64 - b));
    size_t j = 0;
    for (; j + 4 <= cnt; j += 4) {
        __m256i av = _mm256_loadu_si256((const __m256i *)(a + 8 * j));
        __m256i pv = _mm256_loadu_si256((const __m256i *)(p + 8 * j));
        _mm256_storeu_si256((__m256i *)(out + 8 * j),
                            _mm256_or_si256(_mm256_sll_epi64(av, sl),
                                            _mm256_srl_epi64(pv, sr)));
    }
    for (; j < cnt; j++) {
        uint64_t v = cogmem__load64(a + 8 * j) << b;
        if (b)
            v |= cogmem__load64(p + 8 * j) >> (64 - b);
        cogmem__store64(out + 8 * j, v);
    }
}

/* Output words split into three runs whose source words are contiguous:
 * [0, w) reads the top of the input, word w wraps around, (w, W) reads
 * from the start. */
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

/* ------------------------------------------------------ multi-query dot */

/* A 2-query x 4-row tile: 8 accumulators, 4 row and 2 query registers of
 * the 16, 6 loads per 8 FMAs; hsum8 reduces the 8 accumulators at once.
 * Tolerance as dot_batch. */
static void dot_tile24(const float *q, size_t qs, const float *r, size_t rs,
                       size_t dim, float *out, size_t os)
{
    const float *q0 = q, *q1 = q + qs;
    const float *r0 = r, *r1 = r + rs, *r2 = r + 2 * rs, *r3 = r + 3 * rs;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0,
           b1 = a0, b2 = a0, b3 = a0;
    size_t j = 0;
#define STEP24(LOAD)                                                           \
    do {                                                                       \
        __m256 v0 = LOAD(r0 + j), v1 = LOAD(r1 + j), v2 = LOAD(r2 + j),        \
               v3 = LOAD(r3 + j);                                              \
        __m256 x = LOAD(q0 + j), y = LOAD(q1 + j);                             \
        a0 = _mm256_fmadd_ps(v0, x, a0);                                       \
        a1 = _mm256_fmadd_ps(v1, x, a1);                                       \
        a2 = _mm256_fmadd_ps(v2, x, a2);                                       \
        a3 = _mm256_fmadd_ps(v3, x, a3);                                       \
        b0 = _mm256_fmadd_ps(v0, y, b0);                                       \
        b1 = _mm256_fmadd_ps(v1, y, b1);                                       \
        b2 = _mm256_fmadd_ps(v2, y, b2);                                       \
        b3 = _mm256_fmadd_ps(v3, y, b3);                                       \
    } while (0)
    for (; j + 8 <= dim; j += 8)
        STEP24(_mm256_loadu_ps);
    if (j < dim) {
        __m256i m = tail_mask(dim - j);
#define MASKED(p) _mm256_maskload_ps((p), m)
        STEP24(MASKED);
#undef MASKED
    }
#undef STEP24
    __m256 s = hsum8(a0, a1, a2, a3, b0, b1, b2, b3);
    _mm_storeu_ps(out, _mm256_castps256_ps128(s));
    _mm_storeu_ps(out + os, _mm256_extractf128_ps(s, 1));
}

static void dot_block(const float *q, size_t nq, size_t qs, const float *rows,
                      size_t n, size_t dim, size_t rs, float *out, size_t os)
{
    cogmem__dot_block_drive(q, nq, qs, rows, n, dim, rs, out, os, 2, 4,
                            dot_tile24, NULL, 0, NULL, dot_batch);
}

void cogmem__simd_fill_avx2(cogmem__simd_ops *ops)
{
    ops->name = "avx2";
    ops->dot_batch = dot_batch;
    ops->cosine_batch = cosine_batch;
    ops->topk = topk;
    ops->scale = scale;
    ops->decay_exp = decay_exp;
    ops->prune = prune;
    ops->fan = fan;
    ops->hv_xor = hv_xor;
    ops->hv_hamming = hv_hamming;
    ops->hv_bundle = hv_bundle;
    ops->hv_permute = hv_permute;
    ops->dot_block = dot_block;
    ops->splat_u64 = splat_u64;
    ops->sum_squares = sum_squares;
}
