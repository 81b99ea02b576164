/* cogmem — AVX512_BF16 kernels (Cooper Lake, Sapphire Rapids, Zen 4/5):
 * batch dot of bf16 rows with vdpbf16ps, for quantised scans that read
 * half the bytes of an f32 scan.
 *
 * A file of its own so that -mavx512bf16 cannot leak into code that runs
 * on AVX-512 CPUs without it.
 */
#include <immintrin.h>

#include "avx512_util.h"
#include "simd_internal.h"

static inline __mmask32 mask32(size_t rem)
{
    return rem >= 32 ? ~(__mmask32)0 : (__mmask32)((1u << rem) - 1u);
}

static inline __m512bh load_bh(__mmask32 m, const uint16_t *p)
{
    return (__m512bh)_mm512_maskz_loadu_epi16(m, p);
}

/* Sixteen rows per pass as the f32 kernel: one query load feeds sixteen
 * vdpbf16ps (32 products each). Prefetch of the next block as there. */
static inline __attribute__((always_inline)) void
dot16(const uint16_t *q, const uint16_t *r, size_t dim, size_t stride,
      float *out, const int pf)
{
    __m512 acc[16];
    for (int k = 0; k < 16; k++)
        acc[k] = _mm512_setzero_ps();
    size_t j = 0;
    for (; j + 32 <= dim; j += 32) {
        __m512bh qv = (__m512bh)_mm512_loadu_si512(q + j);
        const uint16_t *p = r + j;
        if (pf && (j & 32) == 0) { /* one prefetch per 64-byte line pair */
            const uint16_t *nx = p + 16 * stride;
            for (int k = 0; k < 16; k++) {
                _mm_prefetch((const char *)(nx + (size_t)k * stride), _MM_HINT_T0);
                _mm_prefetch((const char *)(nx + (size_t)k * stride + 32), _MM_HINT_T0);
            }
        }
        for (int k = 0; k < 16; k++)
            acc[k] = _mm512_dpbf16_ps(acc[k], (__m512bh)_mm512_loadu_si512(
                                                  p + (size_t)k * stride), qv);
    }
    if (j < dim) {
        __mmask32 m = mask32(dim - j);
        __m512bh qv = load_bh(m, q + j);
        for (int k = 0; k < 16; k++)
            acc[k] = _mm512_dpbf16_ps(acc[k], load_bh(m, r + (size_t)k * stride + j), qv);
    }
    _mm512_storeu_ps(out, reduce16(acc));
}

/* One row: one accumulator and reduce1(), dot16's order, so that a row's
 * score does not depend on its position in a run (see reduce1). */
static float dot1(const uint16_t *q, const uint16_t *r, size_t dim)
{
    __m512 a = _mm512_setzero_ps();
    size_t j = 0;
    for (; j + 32 <= dim; j += 32)
        a = _mm512_dpbf16_ps(a, (__m512bh)_mm512_loadu_si512(r + j),
                             (__m512bh)_mm512_loadu_si512(q + j));
    if (j < dim) {
        __mmask32 m = mask32(dim - j);
        a = _mm512_dpbf16_ps(a, load_bh(m, r + j), load_bh(m, q + j));
    }
    return reduce1(a);
}

static void dot_bf16(const uint16_t *q, const uint16_t *rows, size_t n,
                     size_t dim, size_t stride, float *out)
{
    size_t i = 0;
    if (n * stride * sizeof(uint16_t) > COGMEM__PREFETCH_BYTES)
        for (; i + 32 <= n; i += 16)
            dot16(q, rows + i * stride, dim, stride, out + i, 1);
    for (; i + 16 <= n; i += 16)
        dot16(q, rows + i * stride, dim, stride, out + i, 0);
    for (; i < n; i++)
        out[i] = dot1(q, rows + i * stride, dim);
}

void cogmem__simd_fill_avx512_bf16(cogmem__simd_ops *ops)
{
    ops->dot_bf16 = dot_bf16;
}
