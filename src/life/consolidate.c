/* cogmem — incremental consolidation: one episode into its nearest
 * concept, or left for the next batch. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "src/life/life.h"

static int consolidate_body(cogmem_store *store, uint64_t episode,
                            const cogmem_form_params *in,
                            cogmem_consolidate_result *out)
{
    if (!store || episode == 0 ||
        (out && out->struct_size < COGMEM_CONSOLIDATE_RESULT_V1_SIZE))
        return -EINVAL;
    cogmem_form_params p;
    int rc = cogmem__life_form_params_in(in, &p);
    if (rc)
        return rc;
    cogmem_consolidate_result r = {.struct_size = sizeof r};
    uint32_t fan = 0;
    rc = cogmem_fan_in(store, episode, &fan);
    if (rc)
        return rc; /* -ENOENT also for a concept id */
    if (fan)
        return -EEXIST;
    const cogmem_vec *v;
    rc = cogmem_vec_get(store, episode, &v);
    if (rc)
        return rc;
    uint32_t dim = store->dim;
    float *x = aligned_alloc(64, (((size_t)dim * sizeof *x) + 63) & ~(size_t)63);
    if (!x) {
        cogmem_vec_put(v);
        return -ENOMEM;
    }
    const float *src = cogmem_vec_data(v);
    float inv = 1.0f / cogmem_vec_norm(v);
    for (uint32_t d = 0; d < dim; d++)
        x[d] = src[d] * inv;
    cogmem_vec_put(v);

    /* x . mu is x's average-linkage similarity to the concept's members
     * (cogmem_life.h), so the plain dot product ranks. */
    cogmem_recall_params rp;
    cogmem_recall_params_init(&rp);
    rp.metric = COGMEM_METRIC_DOT;
    cogmem_recall_hit hit;
    size_t nh = 0;
    rc = cogmem_recall(store, x, COGMEM_CONCEPT, 1, &rp, &hit, &nh);
    if (rc == 0 && nh == 1) {
        r.concept = hit.id;
        r.score = hit.score;
    }
    if (rc == 0 && nh == 1 && hit.score >= p.min_similarity) {
        struct cogmem_concept_info ci;
        uint32_t n = 0;
        rc = cogmem_concept_info(store, hit.id, &ci);
        if (rc == 0) {
            n = ci.fan_out;
            double c = (double)hit.score / (double)ci.norm;
            r.strength = (float)(c < 0.0 ? 0.0 : c > 1.0 ? 1.0 : c);
            rc = cogmem_bind(store, episode, hit.id, r.strength);
        }
        if (rc == 0) {
            rc = cogmem_concept_blend(store, hit.id, x, 1.0f / ((float)n + 1.0f));
            if (rc)
                cogmem_unbind(store, episode, hit.id); /* a failed call changes nothing */
            else
                r.bound = 1;
        }
    }
    free(x);
    if (rc)
        return rc;
    cogmem__stats_event(store, r.bound ? COGMEM__EV_CONSOLIDATE_BOUND
                                       : COGMEM__EV_CONSOLIDATE_DEFERRED);
    if (out)
        cogmem__struct_out(out, &r, sizeof r);
    return 0;
}

int cogmem_consolidate(cogmem_store *store, uint64_t episode,
                       const cogmem_form_params *p, cogmem_consolidate_result *out)
{
    uint64_t t0 = store ? cogmem__lat_begin(store) : 0;
    int rc = consolidate_body(store, episode, p, out);
    if (rc == 0)
        cogmem__lat_end(store, COGMEM_OP_CONSOLIDATE, t0);
    return rc;
}
