/* The persistence checksum (src/persist/sum.h) against libxxhash's own
 * XXH3 (its shared object's plain entry points): one-shot, seeded and
 * streamed in random pieces, at every length up to 4 KiB and at a few
 * past a stripe block, for every ISA kernel this CPU can run, not only
 * the one sum.c picks. A file written by one kernel must verify under
 * any other. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "simd/simd_internal.h"
#include "src/persist/sum.h"

uint64_t cogmem__sum_sse2(const void *p, size_t n, uint64_t seed);
#if COGMEM_SUM_HAVE_AVX2
uint64_t cogmem__sum_avx2(const void *p, size_t n, uint64_t seed);
#endif
#if COGMEM_SUM_HAVE_AVX512
uint64_t cogmem__sum_avx512(const void *p, size_t n, uint64_t seed);
#endif

static int fails;

#define EXPECT(c, ...)                                                         \
    do {                                                                       \
        if (!(c)) {                                                            \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            if (++fails > 20)                                                  \
                exit(1);                                                       \
        }                                                                      \
    } while (0)

typedef uint64_t (*kernel)(const void *, size_t, uint64_t);

int main(void)
{
    size_t big = (4u << 20) + 777;
    unsigned char *b = malloc(big);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < big; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        b[i] = (unsigned char)x;
    }
    struct {
        const char *name;
        kernel k;
        int isa;
    } ks[] = {{"sse2", cogmem__sum_sse2, COGMEM__ISA_SCALAR},
#if COGMEM_SUM_HAVE_AVX2
              {"avx2", cogmem__sum_avx2, COGMEM__ISA_AVX2},
#endif
#if COGMEM_SUM_HAVE_AVX512
              {"avx512", cogmem__sum_avx512, COGMEM__ISA_AVX512},
#endif
    };
    size_t lens[4200];
    size_t nl = 0;
    for (size_t n = 0; n <= 4096; n++)
        lens[nl++] = n;
    size_t more[] = {65536, 65537, 1u << 20, (1u << 20) + 3, 4u << 20, big};
    for (size_t i = 0; i < sizeof more / sizeof *more; i++)
        lens[nl++] = more[i];
    int ran = 0;
    for (size_t k = 0; k < sizeof ks / sizeof *ks; k++) {
        if (cogmem__simd_best() < ks[k].isa)
            continue;
        ran++;
        for (size_t i = 0; i < nl; i++) {
            size_t n = lens[i], off = i % 7; /* unaligned starts too */
            if (n + off > big)
                off = 0;
            uint64_t seed = i % 3 ? 0 : 0x1234567890abcdefull + i;
            uint64_t want = seed ? XXH3_64bits_withSeed(b + off, n, seed)
                                 : XXH3_64bits(b + off, n);
            EXPECT(ks[k].k(b + off, n, seed) == want, "%s: length %zu seed %llx", ks[k].name,
                   n, (unsigned long long)seed);
        }
    }
    /* The picked kernel through the public helpers, and the stream. */
    struct cogmem__sum_stream *s = cogmem__sum_stream_new();
    EXPECT(s != NULL, "stream_new");
    for (size_t i = 0; i < nl; i++) {
        size_t n = lens[i];
        uint64_t want = XXH3_64bits(b, n);
        EXPECT(cogmem__sum(b, n) == want, "sum: length %zu", n);
        EXPECT(cogmem__sum_seeded(b, n, 99) == XXH3_64bits_withSeed(b, n, 99),
               "sum_seeded: length %zu", n);
        if (n > 70000 && n < big)
            continue; /* streams: the small lengths, 64 KiB and the largest */
        cogmem__sum_stream_reset(s);
        for (size_t o = 0; o < n;) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            size_t m = (size_t)(x % 5000);
            if (m > n - o)
                m = n - o;
            cogmem__sum_stream_add(s, b + o, m);
            o += m;
        }
        EXPECT(cogmem__sum_stream_end(s) == want, "stream: length %zu", n);
    }
    cogmem__sum_stream_free(s);
    free(b);
    printf("test_sum: %d kernels, %zu lengths: %s\n", ran, nl, fails ? "FAILED" : "ok");
    return fails ? 1 : 0;
}
