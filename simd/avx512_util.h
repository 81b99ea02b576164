/* cogmem — helpers shared by the AVX-512 files (avx512*.c), compiled with
 * each file's flags. */
#ifndef COGMEM_AVX512_UTIL_H
#define COGMEM_AVX512_UTIL_H

#include <immintrin.h>
#include <stddef.h>

static inline __mmask16 mask16(size_t rem)
{
    return (__mmask16)((1u << rem) - 1u); /* rem in 0..16 */
}

static inline __mmask64 mask64(size_t rem)
{
    return rem >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << rem) - 1);
}

/* Reduce 16 accumulators to one vector [sum x0, ..., sum x15] with 15
 * shuffle+add pairs and one permute, instead of 16 separate reductions
 * (which would cost more than a 16 x 64 block's FMAs). Each level halves
 * the floats per row and doubles the rows per register. */
static inline __m512 pair_q(__m512 a, __m512 b)
{
    /* [a.q0+a.q2, a.q1+a.q3, b.q0+b.q2, b.q1+b.q3] (128-bit quarters) */
    return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44),
                         _mm512_shuffle_f32x4(a, b, 0xee));
}

static inline __m512 pair_h(__m512 a, __m512 b)
{
    /* rows of a (quarters 0,1 and 2,3) and of b: 4 floats per row */
    return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x88),
                         _mm512_shuffle_f32x4(a, b, 0xdd));
}

static inline __m512 pair_e(__m512 a, __m512 b)
{
    /* within each quarter: 2 floats per row, rows of a then of b */
    return _mm512_add_ps(_mm512_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
}

static inline __m512 reduce16(const __m512 x[16])
{
    __m512 l1[8], l2[4], l3[2];
    for (int i = 0; i < 8; i++)
        l1[i] = pair_q(x[2 * i], x[2 * i + 1]);
    for (int i = 0; i < 4; i++)
        l2[i] = pair_h(l1[2 * i], l1[2 * i + 1]);
    /* l2[i]: quarter k holds 4 partial sums of row 4i + k */
    for (int i = 0; i < 2; i++)
        l3[i] = pair_e(l2[2 * i], l2[2 * i + 1]);
    /* l3[i]: quarter k = [row 8i+k (2), row 8i+4+k (2)] */
    __m512 l4 = pair_e(l3[0], l3[1]);
    /* l4: quarter k = [row k, row 4+k, row 8+k, row 12+k] */
    const __m512i perm = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10,
                                           14, 3, 7, 11, 15);
    return _mm512_permutexvar_ps(perm, l4);
}

/* The sum of one accumulator's 16 lanes in exactly reduce16()'s order
 * (lane l + lane l+8, then + the pair 4 lanes on, then (t0+t1) + (t2+t3)),
 * so that a row's dot product has the same bits whichever path computed
 * it: a 16-row block, the 4-row remainder or a single row. GCC's
 * _mm512_reduce_add_ps ends with (t0+t2) + (t1+t3) instead, which made a
 * row's score depend on its position in a run (and so changed scores by an
 * ulp across a snapshot and reopen, which lays rows out anew). */
static inline float reduce1(__m512 x)
{
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(x),
                             _mm512_extractf32x8_ps(x, 1));
    __m128 t = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    __m128 s = _mm_add_ps(t, _mm_movehdup_ps(t)); /* [t0+t1, ., t2+t3, .] */
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehl_ps(s, s)));
}

#endif /* COGMEM_AVX512_UTIL_H */
