/* cogmem — a store with a known history, its statistics written as JSON
 * and Prometheus text for check_formats.py (which knows the history):
 *
 *   stats_dump OUT.json OUT.prom
 *
 * History: concepts 1..40 and episodes 1001..1030 added; concept_info of
 * ids 1..64 (40 hits, 24 misses) and episode_info of 1001..1064 (30 hits,
 * 34 misses), then 1920 more concept_info of id 40 (hits): 2048 lookups,
 * the first this thread makes, so exactly 2048 / SAMPLE_EVERY are timed;
 * concepts 1..10 removed; centroids of 20 and 21 replaced; through the
 * internal hooks, 3 recall queries timed at 1000, 2000 and 1000000 ns.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "src/store.h"

#define DIM 16

static int dump(cogmem_store *s, int fmt, const char *path)
{
    size_t need = 0;
    if (cogmem_stats_format(s, fmt, NULL, 0, &need) != -ERANGE)
        return -1;
    char *buf = malloc(need);
    FILE *f = fopen(path, "w");
    if (!buf || !f || cogmem_stats_format(s, fmt, buf, need, NULL) != 0)
        return -1;
    fputs(buf, f);
    free(buf);
    return fclose(f) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: stats_dump OUT.json OUT.prom\n");
        return 2;
    }
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = DIM;
    cogmem_store *s;
    if (cogmem_open(&cfg, &s) != 0)
        return 1;
    float v[DIM], w[DIM];
    for (int i = 0; i < DIM; i++)
        v[i] = 1.0f, w[i] = (float)i + 1.0f;
    int bad = 0;
    for (uint64_t id = 1; id <= 40; id++)
        bad |= cogmem_concept_add(s, id, v);
    for (uint64_t id = 1001; id <= 1030; id++)
        bad |= cogmem_episode_add(s, id, v, id);
    struct cogmem_concept_info ci;
    struct cogmem_episode_info ei;
    for (uint64_t id = 1; id <= 64; id++)
        bad |= (cogmem_concept_info(s, id, &ci) == 0) != (id <= 40);
    for (uint64_t id = 1001; id <= 1064; id++)
        bad |= (cogmem_episode_info(s, id, &ei) == 0) != (id <= 1030);
    for (int i = 0; i < 1920; i++)
        bad |= cogmem_concept_info(s, 40, &ci);
    for (uint64_t id = 1; id <= 10; id++)
        bad |= cogmem_concept_remove(s, id);
    bad |= cogmem_concept_set_centroid(s, 20, w);
    bad |= cogmem_concept_set_centroid(s, 21, w);
    const uint64_t recall_ns[3] = {1000, 2000, 1000000};
    for (int i = 0; i < 3; i++) {
        cogmem__stats_event(s, COGMEM__EV_RECALL);
        cogmem__hist_record(&s->stats, COGMEM_OP_RECALL, recall_ns[i]);
    }
    cogmem__rcu_barrier(); /* no deferred free pending in the dump */
    if (bad || dump(s, COGMEM_FMT_JSON, argv[1]) || dump(s, COGMEM_FMT_PROMETHEUS, argv[2])) {
        fprintf(stderr, "stats_dump: an operation or the output failed\n");
        return 1;
    }
    return cogmem_close(&s) == 0 ? 0 : 1;
}
