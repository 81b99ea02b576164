/* cogmem — batch concept formation (cogmem_form_concepts) and the
 * incremental path (cogmem_consolidate). Algorithms: hac.c, dpmeans.c.
 *
 * Writes go through the public cogmem_concept_add / cogmem_bind /
 * cogmem_concept_blend, i.e. the same internal paths (and hooks) as a
 * host's own calls; nothing here touches a node or a list directly.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "src/life/life.h"

#define DEFAULT_EXACT_MAX 30000u

void cogmem_form_params_init(cogmem_form_params *p)
{
    if (!p)
        return;
    memset(p, 0, sizeof *p);
    p->struct_size = sizeof *p;
    p->min_similarity = 0.55f;
    p->min_coherence = 0.0f;
    p->min_members = 3;
    p->select = COGMEM_FORM_UNBOUND;
    p->method = COGMEM_FORM_AUTO;
    p->exact_max = DEFAULT_EXACT_MAX;
    p->refine_passes = 2;
}

int cogmem__life_form_params_in(const cogmem_form_params *in, cogmem_form_params *p)
{
    cogmem_form_params_init(p);
    if (in && cogmem__struct_in(p, sizeof *p, in, in->struct_size, COGMEM_FORM_PARAMS_V1_SIZE))
        return -EINVAL;
    if (!(p->min_similarity >= -1.0f && p->min_similarity <= 1.0f) ||
        !(p->min_coherence >= -1.0f && p->min_coherence <= 1.0f) ||
        p->min_members < 1 || p->select < COGMEM_FORM_UNBOUND ||
        p->select > COGMEM_FORM_IDS || p->method < COGMEM_FORM_AUTO ||
        p->method > COGMEM_FORM_DPMEANS ||
        (p->select == COGMEM_FORM_IDS && p->n_ids && !p->ids))
        return -EINVAL;
    return 0;
}

void cogmem_form_result_free(cogmem_form_result *out)
{
    if (!out)
        return;
    free(out->selected);
    free(out->labels);
    free(out->concepts);
    free(out->members);
    free(out->contribution);
    out->selected = NULL;
    out->labels = NULL;
    out->concepts = NULL;
    out->members = NULL;
    out->contribution = NULL;
}

/* The concepts of a labelling: the filter, the means, the contributions. */
struct plan {
    size_t nc;                 /* concepts kept */
    cogmem_form_concept *c;
    uint64_t *members;
    float *contrib;
    size_t nm;
    float *mu;                 /* nc x dim */
};

static void plan_free(struct plan *pl)
{
    free(pl->c);
    free(pl->members);
    free(pl->contrib);
    free(pl->mu);
}

static int make_plan(const struct cogmem__life_set *set, const uint32_t *labels,
                     size_t nlab, const cogmem_form_params *p, struct plan *pl)
{
    memset(pl, 0, sizeof *pl);
    size_t n = set->n, dim = set->dim;
    /* Members of each cluster in ascending row order: a counting sort. */
    size_t *start = calloc(nlab + 1, sizeof *start);
    uint32_t *order = malloc((n ? n : 1) * sizeof *order);
    double *sum = malloc(dim * sizeof *sum);
    pl->c = malloc((nlab ? nlab : 1) * sizeof *pl->c);
    pl->members = malloc((n ? n : 1) * sizeof *pl->members);
    pl->contrib = malloc((n ? n : 1) * sizeof *pl->contrib);
    pl->mu = malloc((nlab ? nlab : 1) * dim * sizeof *pl->mu);
    if (!start || !order || !sum || !pl->c || !pl->members || !pl->contrib || !pl->mu) {
        free(start);
        free(order);
        free(sum);
        plan_free(pl);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        start[labels[i] + 1]++;
    for (size_t c = 0; c < nlab; c++)
        start[c + 1] += start[c];
    for (size_t i = 0; i < n; i++)
        order[start[labels[i]]++] = (uint32_t)i;
    for (size_t c = nlab; c > 0; c--)
        start[c] = start[c - 1];
    start[0] = 0;

    for (size_t c = 0; c < nlab; c++) {
        size_t a = start[c], b = start[c + 1], m = b - a;
        if (m < p->min_members)
            continue;
        /* D4: the sum runs in ascending id order, in double. */
        memset(sum, 0, dim * sizeof *sum);
        for (size_t q = a; q < b; q++) {
            const float *x = set->x + (size_t)order[q] * set->stride;
            for (size_t d = 0; d < dim; d++)
                sum[d] += x[d];
        }
        double ss = 0.0;
        for (size_t d = 0; d < dim; d++)
            ss += sum[d] * sum[d];
        double coh = m > 1 ? (ss - (double)m) / ((double)m * (double)(m - 1)) : 1.0;
        double norm = sqrt(ss) / (double)m;
        if (coh < p->min_coherence || !(norm > 0.0))
            continue; /* a zero mean cannot be a centroid */
        float *mu = pl->mu + pl->nc * dim;
        for (size_t d = 0; d < dim; d++)
            mu[d] = (float)(sum[d] / (double)m);
        cogmem_form_concept *fc = &pl->c[pl->nc++];
        fc->id = 0;
        fc->first = pl->nm;
        fc->count = (uint32_t)m;
        fc->coherence = (float)coh;
        fc->norm = (float)norm;
        for (size_t q = a; q < b; q++) {
            const float *x = set->x + (size_t)order[q] * set->stride;
            double dot = 0.0;
            for (size_t d = 0; d < dim; d++)
                dot += (double)x[d] * sum[d];
            double cosv = dot / sqrt(ss); /* x is a unit vector */
            pl->members[pl->nm] = set->ids[order[q]];
            pl->contrib[pl->nm] = (float)(cosv < 0.0 ? 0.0 : cosv > 1.0 ? 1.0 : cosv);
            pl->nm++;
        }
    }
    free(start);
    free(order);
    free(sum);
    return 0;
}

/* Assign ids, refuse taken ones, then create; undo on a failure. */
static int write_plan(cogmem_store *st, const cogmem_form_params *p, struct plan *pl)
{
    for (size_t c = 0; c < pl->nc; c++) {
        uint64_t id;
        if (p->id_fn)
            id = p->id_fn(p->id_arg, pl->members[pl->c[c].first], c);
        else
            id = p->next_id ? p->next_id + c : 0;
        if (id == 0 || (!p->id_fn && id < p->next_id))
            return -EINVAL; /* no id source, or next_id + c wrapped */
        if (cogmem_kind_of(st, id) != -ENOENT)
            return -EEXIST;
        pl->c[c].id = id;
    }
    if (p->dry_run)
        return 0;
    size_t made = 0;
    int rc = 0;
    for (; made < pl->nc && rc == 0; made++) {
        cogmem_form_concept *fc = &pl->c[made];
        rc = cogmem_concept_add(st, fc->id, pl->mu + made * st->dim);
        if (rc)
            break;
        size_t w = fc->first;
        for (size_t q = fc->first; q < fc->first + fc->count; q++) {
            int b = cogmem_bind(st, pl->members[q], fc->id, pl->contrib[q]);
            if (b == -ENOENT)
                continue; /* removed meanwhile: left out */
            if (b && b != -EEXIST) {
                rc = b;
                break;
            }
            pl->members[w] = pl->members[q];
            pl->contrib[w++] = pl->contrib[q];
        }
        fc->count = (uint32_t)(w - fc->first);
        if (rc)
            made++; /* it exists: undo it too */
    }
    if (rc) {
        for (size_t c = 0; c < made; c++)
            cogmem_concept_remove(st, pl->c[c].id);
        return rc;
    }
    cogmem__stats_add(st, COGMEM__EV_FORM_CONCEPTS, pl->nc);
    return 0;
}

/* Members of a concept whose bind was skipped leave holes: compact. */
static void compact(struct plan *pl)
{
    size_t w = 0;
    for (size_t c = 0; c < pl->nc; c++) {
        cogmem_form_concept *fc = &pl->c[c];
        memmove(pl->members + w, pl->members + fc->first, fc->count * sizeof *pl->members);
        memmove(pl->contrib + w, pl->contrib + fc->first, fc->count * sizeof *pl->contrib);
        fc->first = w;
        w += fc->count;
    }
    pl->nm = w;
}

static int form_body(cogmem_store *store, const cogmem_form_params *in,
                     cogmem_form_result *out)
{
    cogmem_form_params p;
    if (!store || !out || out->struct_size < COGMEM_FORM_RESULT_V1_SIZE)
        return -EINVAL;
    /* On error the result owns nothing (cogmem_form_result_free is safe). */
    memset((char *)out + sizeof out->struct_size, 0,
           (out->struct_size < sizeof *out ? out->struct_size : sizeof *out) -
               sizeof out->struct_size);
    int rc = cogmem__life_form_params_in(in, &p);
    if (rc)
        return rc;
    struct cogmem__life_set set;
    rc = cogmem__life_gather(store, &p, &set);
    if (rc)
        return rc;
    int method = p.method;
    if (method == COGMEM_FORM_AUTO)
        method = set.n <= p.exact_max ? COGMEM_FORM_EXACT : COGMEM_FORM_DPMEANS;
    uint32_t *labels = malloc((set.n ? set.n : 1) * sizeof *labels);
    unsigned nt = cogmem__life_threads(p.threads);
    long nlab = !labels ? -ENOMEM
                : method == COGMEM_FORM_EXACT
                    ? cogmem__life_hac(&set, p.min_similarity, nt, labels)
                    : cogmem__life_dpmeans(&set, p.min_similarity, p.refine_passes, nt,
                                           labels);
    struct plan pl = {0};
    rc = nlab < 0 ? (int)nlab : make_plan(&set, labels, (size_t)nlab, &p, &pl);
    if (rc == 0) {
        rc = write_plan(store, &p, &pl);
        if (rc)
            plan_free(&pl);
    }
    if (rc) {
        free(labels);
        cogmem__life_set_free(&set);
        return rc;
    }
    compact(&pl);
    free(pl.mu);
    cogmem_form_result r = {.struct_size = sizeof r};
    r.n_selected = set.n;
    r.n_clusters = (size_t)nlab;
    r.n_concepts = pl.nc;
    r.n_members = pl.nm;
    r.method = method;
    r.selected = set.ids;
    r.labels = labels;
    r.concepts = pl.c;
    r.members = pl.members;
    r.contribution = pl.contrib;
    free(set.x);
    cogmem__struct_out(out, &r, sizeof r);
    return 0;
}

int cogmem_form_concepts(cogmem_store *store, const cogmem_form_params *p,
                         cogmem_form_result *out)
{
    uint64_t t0 = store ? cogmem__lat_begin(store) : 0;
    int rc = form_body(store, p, out);
    if (rc == 0) {
        cogmem__stats_event(store, COGMEM__EV_FORM_RUN);
        cogmem__lat_end(store, COGMEM_OP_FORM, t0);
    }
    return rc;
}
