/* bench/store — the harness every map's benchmark program shares.
 *
 * A map under test is a table of plain C functions. The harness owns
 * everything that must be identical across maps for their numbers to be
 * comparable: the keys (the same ids, in the same random order, for the same
 * thread index), the vectors written, the op mix, the warm-up, the timing
 * and the output format. The C++ peers link it through the C ABI.
 *
 * Every op goes through one indirect call. That costs about a nanosecond,
 * the same for every map; it keeps one harness instead of one per map.
 */
#ifndef BENCH_STORE_HARNESS_H
#define BENCH_STORE_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest copy-out record a map may write per lookup. */
#define BENCH_INFO_MAX 64

/* One map under test. Operations return 0 or a negative errno; the harness
 * counts failures and reports them beside the numbers (every key it asks
 * for was loaded, so any failure is a bug, and the run exits non-zero). */
struct bench_map {
    const char *name;
    /* Bytes one looked-up record occupies in the caller's buffer. */
    size_t info_size;
    /* A new, empty map for about n_expected keys with vectors of dim
     * floats; NULL on failure. */
    void *(*open)(uint64_t n_expected, uint32_t dim);
    /* Insert key `id` (never 0) with a copy of vec. Called concurrently
     * during the load. */
    int (*add)(void *m, uint64_t id, const float *vec);
    /* Optional, may be NULL: called once after the bulk load of n keys. */
    void (*loaded)(void *m, uint64_t n);
    /* Copy the record of `id` into out (info_size bytes, 64-aligned). */
    int (*info)(void *m, uint64_t id, void *out);
    /* Optional, may be NULL: info for n ids at once into out[n]. */
    int (*info_batch)(void *m, const uint64_t *ids, size_t n, void *out,
                      size_t *n_found);
    /* Record-only lookups: is id there (0 or -ENOENT), and its fan-out. */
    int (*kind_of)(void *m, uint64_t id);
    int (*fan_out)(void *m, uint64_t id, uint32_t *out);
    /* Take a reference to id's vector and drop it again. */
    int (*vec_get_put)(void *m, uint64_t id);
    /* Replace id's vector with a copy of vec. */
    int (*set_centroid)(void *m, uint64_t id, const float *vec);
    void (*close)(void *m);
};

/* Parse the command line (see usage in harness.c), load the selected map
 * and run every requested cell, printing one RESULT line per cell. Returns
 * the process exit status. */
int bench_main(int argc, char **argv, const struct bench_map *const *maps,
               size_t n_maps);

#ifdef __cplusplus
}
#endif

#endif /* BENCH_STORE_HARNESS_H */
