/* cogmem demo, step: concept formation and consolidation (mission.h).
 *
 * After pruning, the lemmas whose senses were all untagged are bound to
 * no synset: free episodes, as a memory's fresh experiences are. The step
 * forms concepts over a sample of them (cogmem_form_concepts, exact
 * average linkage by cosine), shows the largest, then consolidates one
 * more free lemma incrementally (cogmem_consolidate). Lemmas that share
 * their synsets have near-identical embeddings (hashed glosses), so the
 * concepts found are mostly synonym sets. Checks: bindings, fans and
 * concept counts grew by exactly what the calls reported.
 */
#include "mission.h"

#include <stdlib.h>
#include <time.h>

#define SAMPLE 4000u
#define FORMED_BASE UINT64_C(2000000000) /* above every WordNet id */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The first `cap` lemmas (index order) bound to nothing; one more in
 * *spare (0 if none) for the consolidation. */
static size_t free_lemmas(cogmem_store *s, uint64_t lemmas, uint64_t *ids, size_t cap,
                          uint64_t *spare)
{
    size_t n = 0;
    *spare = 0;
    for (uint64_t i = 1; i <= lemmas; i++) {
        uint32_t f = 1;
        if (cogmem_fan_in(s, WORDNET_LEMMA_BASE + i, &f) || f != 0)
            continue;
        if (n < cap) {
            ids[n++] = WORDNET_LEMMA_BASE + i;
        } else {
            *spare = WORDNET_LEMMA_BASE + i;
            break;
        }
    }
    return n;
}

static void show_largest(const struct mission *m, const cogmem_form_result *r)
{
    size_t shown[3] = {SIZE_MAX, SIZE_MAX, SIZE_MAX};
    for (int k = 0; k < 3; k++) {
        size_t best = SIZE_MAX;
        for (size_t c = 0; c < r->n_concepts; c++) {
            if (c == shown[0] || c == shown[1])
                continue;
            if (best == SIZE_MAX || r->concepts[c].count > r->concepts[best].count)
                best = c;
        }
        if (best == SIZE_MAX)
            return;
        shown[k] = best;
        const cogmem_form_concept *fc = &r->concepts[best];
        printf("    concept %llu: %u members, coherence %.3f:",
               (unsigned long long)fc->id, fc->count, fc->coherence);
        for (size_t q = fc->first; q < fc->first + fc->count && q < fc->first + 6; q++) {
            const char *w = wordnet_lemma_name(m->wn, r->members[q]);
            printf(" %s", w ? w : "?");
        }
        printf("%s\n", fc->count > 6 ? " ..." : "");
    }
}

static bool run(struct mission *m)
{
    cogmem_store *s = wordnet_store(m->wn);
    const struct wordnet_counts *c = wordnet_counts(m->wn);
    uint64_t *ids = malloc(SAMPLE * sizeof *ids), spare = 0;
    uint64_t b0 = 0, b1 = 0, c0 = 0, c1 = 0;
    bool ok = true;

    if (!ids)
        return mission_check(false, "out of memory");
    size_t n = free_lemmas(s, c->lemmas, ids, SAMPLE, &spare);
    cogmem_binding_count(s, &b0);
    cogmem_count(s, COGMEM_CONCEPT, &c0);

    cogmem_form_params p;
    cogmem_form_params_init(&p);
    p.select = COGMEM_FORM_IDS;
    p.ids = ids;
    p.n_ids = n;
    p.min_similarity = 0.8f;
    p.min_members = 2;
    p.next_id = FORMED_BASE;
    p.threads = (uint32_t)m->o->threads;
    cogmem_form_result r = {.struct_size = sizeof r};
    double t0 = now_s();
    int rc = cogmem_form_concepts(s, &p, &r);
    double dt = now_s() - t0;
    free(ids);
    if (rc)
        return mission_check(false, "cogmem_form_concepts: %s", cogmem_strerror(rc));
    printf("  formation over %zu free lemmas (average linkage, cosine >= %.2f, "
           ">= %u members): %zu clusters, %zu concepts, %zu members bound, %.2f s\n",
           r.n_selected, p.min_similarity, p.min_members, r.n_clusters, r.n_concepts,
           r.n_members, dt);
    show_largest(m, &r);
    cogmem_binding_count(s, &b1);
    cogmem_count(s, COGMEM_CONCEPT, &c1);
    ok = mission_check(b1 == b0 + r.n_members && c1 == c0 + r.n_concepts,
                       "the store gained exactly %zu concepts and %zu bindings",
                       r.n_concepts, r.n_members) && ok;
    bool fans = true;
    for (size_t k = 0; k < r.n_concepts; k++) {
        uint32_t f = 0;
        fans = fans && cogmem_fan_out(s, r.concepts[k].id, &f) == 0 &&
               f == r.concepts[k].count;
    }
    ok = mission_check(fans, "every formed concept's fan-out is its member count") && ok;
    cogmem_form_result_free(&r);

    if (spare) {
        cogmem_consolidate_result cr = {.struct_size = sizeof cr};
        cogmem_form_params cp;
        cogmem_form_params_init(&cp);
        cp.min_similarity = p.min_similarity;
        rc = cogmem_consolidate(s, spare, &cp, &cr);
        if (rc)
            return mission_check(false, "cogmem_consolidate: %s", cogmem_strerror(rc));
        const char *w = wordnet_lemma_name(m->wn, spare);
        uint32_t f = 0;
        cogmem_fan_in(s, spare, &f);
        printf("  consolidating '%s': nearest concept %llu at %.3f -> %s\n", w ? w : "?",
               (unsigned long long)cr.concept, cr.score,
               cr.bound ? "bound, centroid blended toward it" : "left free (below the threshold)");
        ok = mission_check(f == (cr.bound ? 1u : 0u),
                           "the lemma's fan-in says what consolidation reported") && ok;
    }
    return ok;
}

const struct demo_step demo_step_form = {"concept formation and consolidation", run};
