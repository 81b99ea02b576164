/* cogmem demo, step: load WordNet into a store (mission.h). */
#include "mission.h"

#include <errno.h>
#include <stdlib.h>

static bool run(struct mission *m)
{
    if (wordnet_load(m->o->dir, (uint32_t)m->o->dim, 1, &m->wn)) {
        m->wn = NULL;
        return mission_check(false, "loading WordNet from %s (is wordnet-base "
                             "installed?)", m->o->dir);
    }
    const struct wordnet_counts *c = wordnet_counts(m->wn);
    cli_load_report(m->wn, 0, stdout);
    uint64_t b = 0;
    int rc = cogmem_binding_count(wordnet_store(m->wn), &b);
    return mission_check(rc == 0 && c->synsets > 0 && c->lemmas > 0 &&
                             b == c->bindings && c->bindings + c->missing == c->senses,
                         "%llu bindings in the store, one per sense found",
                         (unsigned long long)b);
}

const struct demo_step demo_step_load = {"load WordNet 3.0", run};

int mission_senses(cogmem_store *s, uint64_t lemma, uint64_t **ids,
                   float **strengths, size_t *n)
{
    size_t cap = 0;
    int rc;
    *ids = NULL;
    *strengths = NULL;
    for (;;) {
        rc = cogmem_episode_concepts(s, lemma, *ids, *strengths, cap, n);
        if (rc || *n <= cap)
            return rc;
        cap = *n;
        free(*ids);
        free(*strengths);
        *ids = malloc(cap * sizeof **ids);
        *strengths = malloc(cap * sizeof **strengths);
        if (!*ids || !*strengths)
            return -ENOMEM;
    }
}
