/* bench/store — cogmem itself, through the public API and the shared
 * library (what a host links), one thin wrapper per op. */
#include <cogmem.h>
#include <errno.h>

#include "harness.h"

_Static_assert(sizeof(struct cogmem_concept_info) <= BENCH_INFO_MAX,
               "info fits the harness's per-lookup buffer");

static void *cg_open(uint64_t n_expected, uint32_t dim)
{
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = dim;
    cfg.expected_concepts = n_expected;
    cogmem_store *s = NULL;
    return cogmem_open(&cfg, &s) == 0 ? s : NULL;
}

static int cg_add(void *m, uint64_t id, const float *vec)
{
    return cogmem_concept_add(m, id, vec);
}

/* What cogmem's documentation asks of a host after a bulk load. */
static void cg_loaded(void *m, uint64_t n)
{
    cogmem_reserve(m, COGMEM_CONCEPT, n);
}

static int cg_info(void *m, uint64_t id, void *out)
{
    return cogmem_concept_info(m, id, out);
}

static int cg_info_batch(void *m, const uint64_t *ids, size_t n, void *out,
                         size_t *n_found)
{
    return cogmem_concept_info_batch(m, ids, n, out, n_found);
}

static int cg_kind_of(void *m, uint64_t id)
{
    int rc = cogmem_kind_of(m, id);
    return rc == COGMEM_CONCEPT ? 0 : rc < 0 ? rc : -EINVAL;
}

static int cg_fan_out(void *m, uint64_t id, uint32_t *out)
{
    return cogmem_fan_out(m, id, out);
}

static int cg_vec_get_put(void *m, uint64_t id)
{
    const cogmem_vec *v;
    int rc = cogmem_vec_get(m, id, &v);
    if (rc == 0)
        cogmem_vec_put(v);
    return rc;
}

static int cg_set_centroid(void *m, uint64_t id, const float *vec)
{
    return cogmem_concept_set_centroid(m, id, vec);
}

static void cg_close(void *m)
{
    cogmem_store *s = m;
    cogmem_close(&s);
}

const struct bench_map bench_map_cogmem = {
    .name = "cogmem",
    .info_size = sizeof(struct cogmem_concept_info),
    .open = cg_open,
    .add = cg_add,
    .loaded = cg_loaded,
    .info = cg_info,
    .info_batch = cg_info_batch,
    .kind_of = cg_kind_of,
    .fan_out = cg_fan_out,
    .vec_get_put = cg_vec_get_put,
    .set_centroid = cg_set_centroid,
    .close = cg_close,
};
