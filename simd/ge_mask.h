/* cogmem — which scores of a block reach a bar (internal, for src/recall.c's
 * batched scan). */
#ifndef COGMEM_SIMD_GE_MASK_H
#define COGMEM_SIMD_GE_MASK_H

#include <stddef.h>
#include <stdint.h>

/* Bit i of out (word i / 64, bit i % 64) is set iff bit i of valid is set
 * and s[i] >= bar (an ordered compare: a NaN score or bar never passes);
 * all other bits of the (n + 63) / 64 words of out are clear. s[i] is read
 * only where its valid bit is set, so scores the caller never wrote may
 * sit between the valid ones. Same bits on every ISA. Thread-safe. */
void cogmem__ge_mask(const float *s, size_t n, float bar, const uint64_t *valid,
                     uint64_t *out);

#endif /* COGMEM_SIMD_GE_MASK_H */
