/* cogmem demo, step: the store's statistics (mission.h). */
#include "mission.h"

#include <errno.h>
#include <stdlib.h>

static bool run(struct mission *m)
{
    cogmem_store *s = wordnet_store(m->wn);
    cogmem_stats st = {.struct_size = sizeof st};
    size_t need = 0;
    char *buf = NULL;
    int rc = cogmem_stats_format(s, COGMEM_FMT_TABLE, NULL, 0, &need);

    for (int tries = 0; rc == -ERANGE && tries < 4; tries++) {
        free(buf);
        buf = malloc(need);
        rc = buf ? cogmem_stats_format(s, COGMEM_FMT_TABLE, buf, need, &need) : -ENOMEM;
    }
    if (rc == 0)
        fputs(buf, stdout);
    free(buf);
    if (rc)
        return mission_check(false, "cogmem_stats_format: %s", cogmem_strerror(rc));
    rc = cogmem_stats_get(s, &st);
    uint64_t live = 0;
    if (rc == 0)
        rc = cogmem_binding_count(s, &live);
    /* The WordNet senses and the formed concepts' members were created,
     * decay pruned some, nothing was unbound: what is left is the rest. */
    return mission_check(rc == 0 && st.decay_runs >= 1 && st.recall_queries >= 1 &&
                             st.spread_queries >= 1 && st.formation_runs >= 1 &&
                             st.bindings_created >= wordnet_counts(m->wn)->bindings &&
                             st.bindings_created == st.bindings_pruned + live,
                         "the statistics count what the steps did (%llu recalls, "
                         "%llu spreads, %llu decay runs, %llu formation runs, "
                         "%llu bindings created = %llu pruned + %llu live)",
                         (unsigned long long)st.recall_queries,
                         (unsigned long long)st.spread_queries,
                         (unsigned long long)st.decay_runs,
                         (unsigned long long)st.formation_runs,
                         (unsigned long long)st.bindings_created,
                         (unsigned long long)st.bindings_pruned, (unsigned long long)live);
}

const struct demo_step demo_step_stats = {"the store's statistics", run};
