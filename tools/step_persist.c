/* cogmem demo, step: a snapshot and a reopen (mission.h).
 *
 * The mission's store lives in a temporary directory from the start
 * (step_load.c, COGMEM_DURABLE_NONE: nothing is journaled, so what the
 * earlier steps did is durable only once this step snapshots it). The step
 * records the store's counts and a recall, writes a snapshot, closes the
 * store, reopens the directory with cogmem_open_report() and checks that
 * the counts, the bindings and the recall came back identical. It runs
 * last: the reopened store's statistics start from zero (statistics are
 * not persisted), and it is closed here, so no step may follow.
 */
#include "mission.h"
#include "progress.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define K 10

void mission_remove_store(struct mission *m)
{
    if (!m->store_dir[0])
        return;
    DIR *d = opendir(m->store_dir);
    if (d) {
        char path[sizeof m->store_dir + 300];
        for (struct dirent *e; (e = readdir(d)) != NULL;) {
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(path, sizeof path, "%s/%s", m->store_dir, e->d_name);
                unlink(path);
            }
        }
        closedir(d);
    }
    rmdir(m->store_dir);
    m->store_dir[0] = '\0';
}

struct fingerprint {
    uint64_t concepts, episodes, bindings;
    size_t n;
    cogmem_recall_hit hits[K];
};

static int take(cogmem_store *s, const float *q, struct fingerprint *f)
{
    int rc = cogmem_count(s, COGMEM_CONCEPT, &f->concepts);
    if (rc == 0)
        rc = cogmem_count(s, COGMEM_EPISODE, &f->episodes);
    if (rc == 0)
        rc = cogmem_binding_count(s, &f->bindings);
    f->n = 0;
    if (rc == 0 && q)
        rc = cogmem_recall(s, q, COGMEM_ALL_KINDS, K, NULL, f->hits, &f->n);
    return rc;
}

static bool same_hits(const struct fingerprint *a, const struct fingerprint *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (a->hits[i].id != b->hits[i].id || a->hits[i].kind != b->hits[i].kind)
            return false;
    return true;
}

static bool run(struct mission *m)
{
    cogmem_store *s = wordnet_store(m->wn);
    uint32_t dim = (uint32_t)m->o->dim;
    struct fingerprint before, after;
    float *q = NULL;
    bool ok = true;

    /* The first cue word's embedding, copied: the store is closed below. */
    uint64_t cue = wordnet_lemma_id(m->wn, m->o->words[0]);
    if (cue && (q = malloc(dim * sizeof *q)) != NULL && mission_vector(s, cue, q, dim)) {
        free(q);
        q = NULL;
    }
    int rc = take(s, q, &before);
    double t0 = progress_now();
    if (rc == 0)
        rc = cogmem_snapshot(s);
    double t_snap = progress_now() - t0;
    if (rc) {
        free(q);
        return mission_check(false, "cogmem_snapshot: %s", cogmem_strerror(rc));
    }
    rc = wordnet_close(m->wn);
    m->wn = NULL;
    if (rc) {
        free(q);
        return mission_check(false, "cogmem_close: %s", cogmem_strerror(rc));
    }

    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = dim;
    cfg.path = m->store_dir;
    cfg.durability = COGMEM_DURABLE_NONE;
    struct cogmem_open_report rep = {.struct_size = sizeof rep};
    cogmem_store *r = NULL;
    t0 = progress_now();
    rc = cogmem_open_report(&cfg, &r, &rep);
    double t_open = progress_now() - t0;
    if (rc) {
        free(q);
        return mission_check(false, "reopening %s: %s (%s %s)", m->store_dir,
                             cogmem_strerror(rc), rep.bad_file, rep.detail);
    }
    rc = take(r, q, &after);
    free(q);
    printf("  snapshot of %llu concepts, %llu episodes, %llu bindings in %.2f s; "
           "store closed\n", (unsigned long long)before.concepts,
           (unsigned long long)before.episodes, (unsigned long long)before.bindings, t_snap);
    printf("  reopened from %s (%s) in %.2f s: %llu concepts, %llu episodes, "
           "%llu bindings\n", m->store_dir, rep.snapshot, t_open,
           (unsigned long long)after.concepts, (unsigned long long)after.episodes,
           (unsigned long long)after.bindings);
    ok = mission_check(rc == 0 && after.concepts == before.concepts &&
                           after.episodes == before.episodes &&
                           after.bindings == before.bindings,
                       "the reopened store holds what was snapshotted") && ok;
    ok = mission_check(rc == 0 && same_hits(&before, &after),
                       "recall by '%s' gives the same %zu hits after the reopen",
                       m->o->words[0], before.n) && ok;
    rc = cogmem_close(&r);
    ok = mission_check(rc == 0, "closing the reopened store") && ok;
    mission_remove_store(m);
    return ok;
}

const struct demo_step demo_step_persist = {"a snapshot and a reopen", run};
