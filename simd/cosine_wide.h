/* cogmem — the double-precision cosine used where f32 loses it (internal,
 * for src/ and the public cogmem_cosine_batch wrapper). */
#ifndef COGMEM_SIMD_COSINE_WIDE_H
#define COGMEM_SIMD_COSINE_WIDE_H

#include <stddef.h>

/* dot(q, r) / (q_norm * r_norm) with the dot summed in double (the product
 * of two floats, and a sum of 65536 of them, is exact in range there), for
 * vectors whose f32 dot or product of norms under- or overflows. q_norm or
 * r_norm <= 0 (or NaN) means "compute it in double". 0 when a norm is 0;
 * NaN when the data holds NaN or Inf. Thread-safe, no allocation. */
float cogmem__cosine_wide(const float *q, const float *r, size_t dim,
                          float q_norm, float r_norm);

#endif /* COGMEM_SIMD_COSINE_WIDE_H */
