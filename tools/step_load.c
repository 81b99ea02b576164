/* cogmem demo, step: load WordNet into a store (mission.h). */
#include "mission.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static bool run(struct mission *m)
{
    /* A store in a directory of its own, so that the last step can snapshot
     * and reopen it (step_persist.c). */
    const char *tmp = getenv("TMPDIR");
    snprintf(m->store_dir, sizeof m->store_dir, "%s/cogmem-demo-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(m->store_dir)) {
        m->store_dir[0] = '\0';
        return mission_check(false, "creating a temporary store directory");
    }
    if (wordnet_load_at(m->o->dir, (uint32_t)m->o->dim, m->store_dir, 1, &m->wn)) {
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
