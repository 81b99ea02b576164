/* cogmem — XXH3 through the kernel for the CPU's ISA (see sum.h).
 *
 * libxxhash's shared object has run-time dispatched entry points, but its
 * static archive does not, and the persistence code used to reach XXH3
 * inlined through shards/route.h's XXH_INLINE_ALL, compiled for baseline
 * x86-64 (SSE2). So the kernels are built here, one object per level
 * (sum_isa.c), and picked with the SIMD layer's CPU detection (which also
 * checks that the OS saves the AVX-512 state). */
#include "src/persist/sum.h"

#include <stdlib.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#if COGMEM_SUM_HAVE_AVX2 || COGMEM_SUM_HAVE_AVX512
#include "simd/simd_internal.h"
#endif

uint64_t cogmem__sum_sse2(const void *p, size_t n, uint64_t seed);
void cogmem__sum_add_sse2(void *state, const void *p, size_t n);
#if COGMEM_SUM_HAVE_AVX2
uint64_t cogmem__sum_avx2(const void *p, size_t n, uint64_t seed);
void cogmem__sum_add_avx2(void *state, const void *p, size_t n);
#endif
#if COGMEM_SUM_HAVE_AVX512
uint64_t cogmem__sum_avx512(const void *p, size_t n, uint64_t seed);
void cogmem__sum_add_avx512(void *state, const void *p, size_t n);
#endif

#if COGMEM_SUM_HAVE_AVX2 || COGMEM_SUM_HAVE_AVX512
/* The level, read once per call from the SIMD layer's published result
 * (an acquire load after the first call). Without a vector level built
 * (tools/fuzz.sh compiles the parsers with the SSE2 kernel alone) the
 * SIMD layer is not needed. */
static inline int level(void) { return cogmem__simd_best(); }
#endif

uint64_t cogmem__sum_seeded(const void *p, size_t n, uint64_t seed)
{
    /* seed 0 is XXH3's unseeded hash (XXH3_64bits_withSeed(p, n, 0) ==
     * XXH3_64bits(p, n)), so one entry point serves both. */
#if COGMEM_SUM_HAVE_AVX512
    if (level() >= COGMEM__ISA_AVX512)
        return cogmem__sum_avx512(p, n, seed);
#endif
#if COGMEM_SUM_HAVE_AVX2
    if (level() >= COGMEM__ISA_AVX2)
        return cogmem__sum_avx2(p, n, seed);
#endif
    return cogmem__sum_sse2(p, n, seed);
}

uint64_t cogmem__sum(const void *p, size_t n) { return cogmem__sum_seeded(p, n, 0); }

/* The stream is XXH3's state; reset and digest have no vector kernel
 * worth dispatching (the digest folds at most one stripe block). */
struct cogmem__sum_stream *cogmem__sum_stream_new(void)
{
    XXH3_state_t *s = XXH3_createState();
    if (s)
        XXH3_64bits_reset(s);
    return (struct cogmem__sum_stream *)s;
}

void cogmem__sum_stream_free(struct cogmem__sum_stream *s)
{
    XXH3_freeState((XXH3_state_t *)s);
}

void cogmem__sum_stream_reset(struct cogmem__sum_stream *s)
{
    XXH3_64bits_reset((XXH3_state_t *)s);
}

void cogmem__sum_stream_add(struct cogmem__sum_stream *s, const void *p, size_t n)
{
#if COGMEM_SUM_HAVE_AVX512
    if (level() >= COGMEM__ISA_AVX512) {
        cogmem__sum_add_avx512(s, p, n);
        return;
    }
#endif
#if COGMEM_SUM_HAVE_AVX2
    if (level() >= COGMEM__ISA_AVX2) {
        cogmem__sum_add_avx2(s, p, n);
        return;
    }
#endif
    cogmem__sum_add_sse2(s, p, n);
}

uint64_t cogmem__sum_stream_end(const struct cogmem__sum_stream *s)
{
    return XXH3_64bits_digest((const XXH3_state_t *)s);
}
