/* cogmem demo — the mission on real data, as a list of steps.
 *
 * `cogmem demo` loads WordNet (wordnet.h) and runs the steps below in
 * order on that one store, while the synthetic mixed workload of demo.c
 * runs concurrently in a child process on every core with its own
 * self-checks. Each step is a `struct demo_step` in its own file
 * (tools/step_*.c); adding one (concept formation, a snapshot and reopen,
 * ...) means writing that file and adding a row to `steps` in mission.c.
 */
#ifndef COGMEM_TOOLS_MISSION_H
#define COGMEM_TOOLS_MISSION_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cogmem.h"
#include "wordnet.h"

#define MISSION_MAX_WORDS 16

struct mission_opts {
    const char *dir;      /* WordNet files */
    uint64_t dim;         /* embedding dimension */
    double seconds;       /* the concurrent workload runs at least this long */
    uint64_t threads;     /* its threads */
    const char *words[MISSION_MAX_WORDS]; /* cue words */
    unsigned n_words;
};

/* What the steps share. A step may replace `wn` (a reopen would). */
struct mission {
    const struct mission_opts *o;
    struct wordnet *wn;
    /* The temporary directory the store lives in (step_load.c), "" once
     * removed (step_persist.c). */
    char store_dir[256];
};

struct demo_step {
    const char *title;
    /* Run the step, printing what it shows on stdout. Returns true when
     * its checks held; false stops nothing (later steps still run) but
     * makes the demo fail. */
    bool (*run)(struct mission *m);
};

extern const struct demo_step demo_step_load;
extern const struct demo_step demo_step_recall;
extern const struct demo_step demo_step_spread;
extern const struct demo_step demo_step_decay;
extern const struct demo_step demo_step_form;
extern const struct demo_step demo_step_stats;
extern const struct demo_step demo_step_persist;

/* Remove the store's temporary directory and its files (nothing if done). */
void mission_remove_store(struct mission *m);

/* Copy node `id`'s embedding (dim floats) into out. 0 or a negative errno
 * (cogmem_vec_get()'s). */
int mission_vector(cogmem_store *s, uint64_t id, float *out, uint32_t dim);

/* Print a check's outcome ("  ok: ..." or "  FAILED: ...") and return ok. */
bool mission_check(bool ok, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* load.c: print what a WordNet load holds (text, or JSON). */
int cli_load_report(struct wordnet *wn, int json, FILE *out);

/* The synsets bound to lemma `lemma` into *ids (malloc'd, caller frees)
 * and their number into *n. Returns 0 or a negative errno. */
int mission_senses(cogmem_store *s, uint64_t lemma, uint64_t **ids,
                   float **strengths, size_t *n);

/* Entry of `cogmem demo` without --synthetic. */
int cli_mission_run(int argc, char **argv);
void cli_mission_usage(FILE *out);

/* demo.c: ask a running synthetic workload to stop (async-signal-safe). */
void cli_demo_request_stop(void);

#endif /* COGMEM_TOOLS_MISSION_H */
