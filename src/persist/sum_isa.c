/* cogmem — XXH3 compiled for one ISA (see sum.h). Built once per level by
 * src/meson.build with that level's -m flags and SUM_ISA set to its name;
 * libxxhash's header, inlined (XXH_INLINE_ALL), then picks its kernel
 * from the flags (__AVX512F__, __AVX2__, else SSE2). sum.c calls the level
 * the CPU runs. Nothing else may include this file's symbols. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "src/persist/sum.h"

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

uint64_t CAT(cogmem__sum_, SUM_ISA)(const void *p, size_t n, uint64_t seed)
{
    return seed ? XXH3_64bits_withSeed(p, n, seed) : XXH3_64bits(p, n);
}

void CAT(cogmem__sum_add_, SUM_ISA)(void *state, const void *p, size_t n)
{
    (void)XXH3_64bits_update(state, p, n);
}
