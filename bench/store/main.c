/* bench/store — the C program: cogmem and peer (a), the sixteen-shard
 * rwlock map, selected with --map (one map per process, so that one map's
 * memory and background threads never disturb another's numbers). */
#include <stdio.h>

#include "cogmem_simd.h"
#include "harness.h"
#include "peer.h"

extern const struct bench_map bench_map_cogmem;
extern const struct bench_map bench_map_rwlock;

/* The peers' norm must have cogmem's bits (peer.h): checked over every
 * length around the 32-lane rounds, on values of mixed sizes, against
 * the ISA this process runs cogmem on. */
static int peer_norm_agrees(void)
{
    float x[200];
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (unsigned i = 0; i < 200; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((int64_t)(s >> 11) - (1ll << 52)) * (i % 7 ? 1e-15f : 1e-9f);
    }
    for (uint32_t n = 0; n <= 200; n++)
        if (peer_sum_squares(x, n) != cogmem_sum_squares(x, n)) {
            fprintf(stderr, "bench_store: the peers' norm differs from cogmem's at n=%u\n",
                    n);
            return 0;
        }
    return 1;
}

int main(int argc, char **argv)
{
    if (!peer_norm_agrees())
        return 1;
    const struct bench_map *const maps[] = {&bench_map_cogmem, &bench_map_rwlock};
    return bench_main(argc, argv, maps, sizeof maps / sizeof maps[0]);
}
