/* cogmem — AVX-512 VPOPCNTDQ kernels (Ice Lake, Zen 4/5): Hamming
 * distance with a native 64-bit popcount.
 *
 * A file of its own so that -mavx512vpopcntdq cannot leak into code that
 * runs on AVX-512 CPUs without it (Skylake-SP): the compiler may use any
 * enabled instruction anywhere in a translation unit.
 */
#include <immintrin.h>

#include "avx512_util.h"
#include "simd_internal.h"

/* [sum a, ..., sum h] of eight u64 accumulators, folded together as in
 * reduce16 (avx512_util.h): quarters, then halves, then 64-bit lanes. */
static inline __m256i reduce8_u64(const __m512i x[8])
{
    __m512i l1[4], l2[2];
    for (int i = 0; i < 4; i++)
        l1[i] = _mm512_add_epi64(_mm512_shuffle_i64x2(x[2 * i], x[2 * i + 1], 0x44),
                                 _mm512_shuffle_i64x2(x[2 * i], x[2 * i + 1], 0xee));
    for (int i = 0; i < 2; i++)
        l2[i] = _mm512_add_epi64(_mm512_shuffle_i64x2(l1[2 * i], l1[2 * i + 1], 0x88),
                                 _mm512_shuffle_i64x2(l1[2 * i], l1[2 * i + 1], 0xdd));
    /* l2[i]: quarter k holds 2 partial sums of row 4i + k */
    __m512i l3 = _mm512_add_epi64(_mm512_unpacklo_epi64(l2[0], l2[1]),
                                  _mm512_unpackhi_epi64(l2[0], l2[1]));
    /* l3: quarter k = [row k, row 4 + k] */
    const __m512i perm = _mm512_setr_epi64(0, 2, 4, 6, 1, 3, 5, 7);
    return _mm512_cvtepi64_epi32(_mm512_permutexvar_epi64(perm, l3));
}

/* Eight rows per pass so that the horizontal sums are shared (one
 * 8-way reduction instead of eight). */
static void hv_hamming(const uint8_t *q, const uint8_t *rows, size_t n,
                       size_t nbytes, uint32_t *out)
{
    if (nbytes == 0) { /* no row is read: rows may be NULL (no offset on it) */
        memset(out, 0, n * sizeof *out);
        return;
    }
    size_t full = nbytes & ~(size_t)63;
    __mmask64 tm = mask64(nbytes - full);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const uint8_t *r = rows + i * nbytes;
        __m512i acc[8];
        for (int k = 0; k < 8; k++)
            acc[k] = _mm512_setzero_si512();
        /* Row by row, so memory is read strictly in address order: the
         * query is reloaded per row from L1, which measured cheaper than
         * the chunk-major order's 256-byte-strided reads (0.87 against
         * 0.70 of DRAM read bandwidth on Zen 5, and faster in L2 too). */
        for (int k = 0; k < 8; k++)
            for (size_t j = 0; j < full; j += 64)
                acc[k] = _mm512_add_epi64(acc[k], _mm512_popcnt_epi64(_mm512_xor_si512(
                    _mm512_loadu_si512(q + j),
                    _mm512_loadu_si512(r + (size_t)k * nbytes + j))));
        if (tm) {
            __m512i qv = _mm512_maskz_loadu_epi8(tm, q + full);
            for (int k = 0; k < 8; k++)
                acc[k] = _mm512_add_epi64(acc[k], _mm512_popcnt_epi64(
                    _mm512_xor_si512(qv, _mm512_maskz_loadu_epi8(
                                             tm, r + (size_t)k * nbytes + full))));
        }
        _mm256_storeu_si256((__m256i *)(out + i), reduce8_u64(acc));
    }
    for (; i < n; i++) {
        const uint8_t *r = rows + i * nbytes;
        __m512i acc = _mm512_setzero_si512();
        for (size_t j = 0; j < nbytes; j += 64) {
            __mmask64 m = mask64(nbytes - j);
            acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(_mm512_xor_si512(
                _mm512_maskz_loadu_epi8(m, q + j), _mm512_maskz_loadu_epi8(m, r + j))));
        }
        out[i] = (uint32_t)_mm512_reduce_add_epi64(acc);
    }
}

void cogmem__simd_fill_avx512_vpopcntdq(cogmem__simd_ops *ops)
{
    ops->hv_hamming = hv_hamming;
}
