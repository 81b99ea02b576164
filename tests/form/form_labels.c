/* cogmem tests — write a fixed-seed clustered data set and cogmem's raw
 * formation labels for it, for tests/form/check_sklearn.py:
 *
 *   form_labels N DIM K SPREAD NOISE SEED TAU OUTDIR
 *
 * OUTDIR/data.f32 (N x DIM floats), OUTDIR/truth.i32, OUTDIR/labels.u32
 * (cluster of point i, before the size filter). Episodes are added in a
 * shuffled order with id = point + 1, so labels are in point order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cogmem.h"
#include "form/gen.h"

static int dump(const char *dir, const char *name, const void *p, size_t bytes)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, bytes, f) != bytes || fclose(f) != 0) {
        perror(path);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 9) {
        fprintf(stderr, "usage: form_labels N DIM K SPREAD NOISE SEED TAU OUTDIR\n");
        return 2;
    }
    size_t n = strtoull(argv[1], NULL, 10);
    uint32_t dim = (uint32_t)strtoul(argv[2], NULL, 10);
    uint32_t k = (uint32_t)strtoul(argv[3], NULL, 10);
    double spread = strtod(argv[4], NULL);
    size_t noise = strtoull(argv[5], NULL, 10);
    uint64_t seed = strtoull(argv[6], NULL, 10);
    float tau = strtof(argv[7], NULL);
    float *x = malloc(n * dim * sizeof *x);
    int32_t *truth = malloc(n * sizeof *truth);
    size_t *order = malloc(n * sizeof *order);
    gen_clusters(seed, n, dim, k, spread, noise, x, truth);
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = dim;
    cogmem_store *s = NULL;
    if (cogmem_open(&cfg, &s))
        return 1;
    gen_shuffle(seed ^ 0x5eed, order, n);
    for (size_t q = 0; q < n; q++)
        if (cogmem_episode_add(s, order[q] + 1, x + order[q] * dim, 1))
            return 1;
    cogmem_form_params p;
    cogmem_form_params_init(&p);
    p.min_similarity = tau;
    p.dry_run = 1;
    p.next_id = n + 1;
    cogmem_form_result r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    int rc = cogmem_form_concepts(s, &p, &r);
    if (rc || r.n_selected != n) {
        fprintf(stderr, "form: %s\n", cogmem_strerror(rc));
        return 1;
    }
    printf("n=%zu clusters=%zu concepts=%zu method=%d\n", r.n_selected, r.n_clusters,
           r.n_concepts, r.method);
    int bad = dump(argv[8], "data.f32", x, n * dim * sizeof *x) ||
              dump(argv[8], "truth.i32", truth, n * sizeof *truth) ||
              dump(argv[8], "labels.u32", r.labels, n * sizeof *r.labels);
    cogmem_form_result_free(&r);
    cogmem_close(&s);
    free(x);
    free(truth);
    free(order);
    return bad;
}
