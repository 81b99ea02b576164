/* bench/store — the C program: cogmem and peer (a), the sixteen-shard
 * rwlock map, selected with --map (one map per process, so that one map's
 * memory and background threads never disturb another's numbers). */
#include "harness.h"

extern const struct bench_map bench_map_cogmem;
extern const struct bench_map bench_map_rwlock;

int main(int argc, char **argv)
{
    const struct bench_map *const maps[] = {&bench_map_cogmem, &bench_map_rwlock};
    return bench_main(argc, argv, maps, sizeof maps / sizeof maps[0]);
}
