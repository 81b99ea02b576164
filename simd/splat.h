/* cogmem — one value written over an array of u64 (internal, for
 * src/decay.c, which sets every decay time of a list to the pass's time). */
#ifndef COGMEM_SIMD_SPLAT_H
#define COGMEM_SIMD_SPLAT_H

#include <stddef.h>
#include <stdint.h>

/* d[0, n) = v, at the widest store the CPU has; d needs only u64
 * alignment, n may be 0. Writes nothing outside d[0, n). Same result on
 * every ISA. Thread-safe (it touches only d). */
void cogmem__splat_u64(uint64_t *d, size_t n, uint64_t v);

#endif /* COGMEM_SIMD_SPLAT_H */
