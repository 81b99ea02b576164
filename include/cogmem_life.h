/* cogmem — the memory life cycle: concept formation from episodes
 * (batch and incremental) and forgetting under a budget.
 *
 * Included by cogmem.h; compiles alone too. The conventions of cogmem.h
 * hold: 0 or a negative errno, any thread at any time, ids are the host's.
 *
 * The one identity everything here rests on: for unit vectors, the
 * average-linkage cosine similarity between two clusters (the mean of all
 * cross-pair cosines) equals the dot product of their un-normalised mean
 * vectors. So a concept formed here stores as its centroid mu the MEAN OF
 * ITS MEMBERS' UNIT-NORMALISED EMBEDDINGS (not re-normalised; for unit
 * embeddings that is the plain mean of the embeddings), and one threshold,
 * min_similarity (tau), drives merging, the coherence filter and the
 * incremental path: an episode x joins concept C when x/|x| . mu_C >= tau,
 * which is exactly "its mean cosine to C's members is at least tau".
 *
 * Params and result structs begin with struct_size (set by the _init
 * functions, or by the caller for results). The library accepts any
 * struct_size from the first published size (COGMEM_*_V1_SIZE) up, reads
 * and writes only the fields inside it and uses defaults for the rest.
 */
#ifndef COGMEM_LIFE_H
#define COGMEM_LIFE_H

#include <stddef.h>
#include <stdint.h>

#include "cogmem_export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cogmem_store cogmem_store;

/* --------------------------------------------------------- formation */

/* Which episodes cogmem_form_concepts() clusters. */
enum cogmem_form_select {
    COGMEM_FORM_UNBOUND = 0, /* episodes bound to no concept (fan-in 0) */
    COGMEM_FORM_ALL = 1,     /* every episode */
    COGMEM_FORM_IDS = 2      /* the ids in params->ids (episodes only) */
};

/* How cogmem_form_concepts() clusters. */
enum cogmem_form_method {
    /* EXACT when the selection has at most exact_max episodes, else
     * DPMEANS. */
    COGMEM_FORM_AUTO = 0,
    /* Exact average-linkage agglomerative clustering: the n(n-1)/2
     * similarities are kept as a packed f32 triangle (2 n^2 bytes: 1.8 GB at
     * 3*10^4), merged by a nearest-neighbour chain (O(n^2) time, no
     * rescans) until the best pair falls below min_similarity. Equal to
     * scikit-learn's AgglomerativeClustering(linkage="average",
     * metric="cosine", distance_threshold=1-tau) up to float ties. */
    COGMEM_FORM_EXACT = 1,
    /* No n^2 memory: deterministic DP-means (spherical, threshold tau). One
     * assign-or-create pass in ascending id order (blocks of 256 episodes
     * are scored against the means as they stood at the start of the
     * block), then refine_passes Lloyd passes (assign each episode to the
     * best mean of a cluster with >= 2 members if it reaches tau, else it
     * is alone; recompute the means). Memory O((n + clusters) * dim).
     * Approximates the exact partition (bench/formation measures ARI). */
    COGMEM_FORM_DPMEANS = 2
};

/* Concept id for the index-th new concept (index 0, 1, ... in output
 * order) whose smallest member id is min_member. Must be deterministic for
 * deterministic results; a returned 0 fails the call with -EINVAL. May be
 * called from the calling thread only, before anything is written. */
typedef uint64_t (*cogmem_form_id_fn)(void *arg, uint64_t min_member,
                                      size_t index);

typedef struct cogmem_form_params {
    /* sizeof(cogmem_form_params) as the caller compiled it; set by
     * cogmem_form_params_init(); >= COGMEM_FORM_PARAMS_V1_SIZE. */
    size_t struct_size;
    /* tau: clusters merge while their average-linkage cosine is >= tau;
     * also the incremental join threshold. In [-1, 1]; default 0.55.
     * tau = 1 merges only pairs whose computed cosine is >= 1: rounding
     * leaves even exact duplicates a few ulps short, so 1 in practice
     * merges nothing (use 0.9999 for duplicates); tau = -1 merges
     * everything into one cluster. */
    float min_similarity;
    /* A cluster becomes a concept only if its coherence (mean pairwise
     * cosine of its members, computed from the member sum:
     * (|sum|^2 - m) / (m (m - 1)) over unit vectors) is >= this. In
     * [-1, 1]; default 0.0 (the merge threshold already bounds it). */
    float min_coherence;
    /* ... and only if it has at least this many members; >= 1; default 3. */
    uint32_t min_members;
    /* enum cogmem_form_select; default COGMEM_FORM_UNBOUND. */
    int32_t select;
    /* COGMEM_FORM_IDS: n_ids episode ids (any order, duplicates ignored;
     * a concept id or an unknown id is -ENOENT). */
    const uint64_t *ids;
    size_t n_ids;
    /* Only episodes whose time_ns is in [t_from_ns, t_to_ns); t_to_ns 0
     * means no upper bound. Default 0, 0: all. */
    uint64_t t_from_ns;
    uint64_t t_to_ns;
    /* Threads for the similarity tiles and the DP-means assignments,
     * including the caller's; 0 (default) = online CPUs. Results never
     * depend on it. */
    uint32_t threads;
    /* enum cogmem_form_method; default COGMEM_FORM_AUTO. */
    int32_t method;
    /* AUTO picks EXACT up to this many selected episodes; default 30000. */
    uint64_t exact_max;
    /* DPMEANS refinement passes; default 2. */
    uint32_t refine_passes;
    /* Non-zero: compute and report, write nothing (ids still assigned). */
    int32_t dry_run;
    /* Concept ids: id_fn if set, else next_id, next_id + 1, ... in output
     * order. next_id 0 with no id_fn is -EINVAL when a concept would be
     * created. Default 0 / NULL. */
    uint64_t next_id;
    cogmem_form_id_fn id_fn;
    void *id_arg;
} cogmem_form_params;

#define COGMEM_FORM_PARAMS_V1_SIZE \
    (offsetof(cogmem_form_params, id_arg) + sizeof(void *))

/* Fill *p with the defaults above and p->struct_size. Thread-safe. */
COGMEM_API void cogmem_form_params_init(cogmem_form_params *p);

/* One formed concept; its members are members[first .. first + count). */
typedef struct cogmem_form_concept {
    uint64_t id;
    size_t first;
    uint32_t count;
    float coherence; /* mean pairwise cosine of the members */
    float norm;      /* |mu|; |mu|^2 = 1/m + (m-1)/m * coherence */
} cogmem_form_concept;

typedef struct cogmem_form_result {
    /* sizeof(cogmem_form_result) as the caller compiled it: set it
     * (>= COGMEM_FORM_RESULT_V1_SIZE). */
    size_t struct_size;
    size_t n_selected;   /* episodes clustered */
    size_t n_clusters;   /* clusters before the size/coherence filter */
    size_t n_concepts;   /* concepts formed (or, dry run, that would be) */
    size_t n_members;    /* bindings made: members of formed concepts */
    int32_t method;      /* the enum cogmem_form_method actually run */
    /* Arrays owned by the result, freed by cogmem_form_result_free():
     *  selected[n_selected]: the clustered episode ids, ascending;
     *  labels[n_selected]: the raw cluster of selected[i] (0-based,
     *    numbered by smallest member id), before the filter;
     *  concepts[n_concepts]: ordered by smallest member id;
     *  members[n_members], contribution[n_members]: per concept, member
     *    ids ascending, and the strength each was bound with. */
    uint64_t *selected;
    uint32_t *labels;
    cogmem_form_concept *concepts;
    uint64_t *members;
    float *contribution;
} cogmem_form_result;

#define COGMEM_FORM_RESULT_V1_SIZE \
    (offsetof(cogmem_form_result, contribution) + sizeof(float *))

/* Batch ("sleep") formation: cluster the episodes p selects (p NULL =
 * defaults) and turn every cluster that passes min_members and
 * min_coherence into a new concept with centroid mu = mean of its members'
 * unit embeddings (summed in double, in ascending id order), bound to each
 * member with strength = contribution = max(0, cos(x_i, mu)) (the member's
 * cosine to the concept). Concepts and bindings are made through the same
 * paths as cogmem_concept_add() and cogmem_bind().
 *
 * Determinism: the result is a function of the selected ids, their
 * embedding bits and p only: bit-identical for any `threads` and any order
 * in which the episodes were added (each similarity comes from one kernel
 * call with a fixed reduction order; threads split tiles, never a sum;
 * merges are sequential, ties to the lower index). No clock is read. With
 * COGMEM_FORM_UNBOUND, a second run on an unchanged store creates nothing:
 * the episodes left unbound are whole clusters that failed the filter,
 * and clustering them alone reproduces those clusters.
 *
 * Episodes added, removed or bound while the call runs may or may not be
 * selected; one removed between selection and binding is left out of its
 * concept (the centroid still counts it). Ownership: on success out's
 * arrays belong to the caller until cogmem_form_result_free(); on error
 * out is zeroed (beyond struct_size) and owns nothing.
 *
 * Errors: -EINVAL (NULL store/out, a struct_size too small, a parameter
 * out of range, no id source when a concept is to be created, id_fn
 * returned 0), -ENOENT (an id of COGMEM_FORM_IDS is not a live episode),
 * -EEXIST (a concept id is taken; checked before anything is written),
 * -ENOMEM. If creating a concept or binding fails midway, what this call
 * created is removed again before it returns the error. Thread-safe with
 * every call but cogmem_close(); two concurrent formations over
 * overlapping selections may both bind an episode. */
COGMEM_API int cogmem_form_concepts(cogmem_store *store,
                                    const cogmem_form_params *p,
                                    cogmem_form_result *out);

/* Free the arrays of a result filled by cogmem_form_concepts() and zero
 * them. NULL is ignored. Not thread-safe for one result. */
COGMEM_API void cogmem_form_result_free(cogmem_form_result *out);

typedef struct cogmem_consolidate_result {
    size_t struct_size; /* set it (>= COGMEM_CONSOLIDATE_RESULT_V1_SIZE) */
    uint64_t concept;   /* the nearest concept (0 when there is none) */
    float score;        /* x/|x| . mu of that concept */
    float strength;     /* the binding strength if bound: max(0, cos) */
    int32_t bound;      /* 1: bound and blended; 0: left unbound */
} cogmem_consolidate_result;

#define COGMEM_CONSOLIDATE_RESULT_V1_SIZE \
    (offsetof(cogmem_consolidate_result, bound) + sizeof(int32_t))

/* Incremental consolidation of one episode: find the concept whose centroid
 * has the highest dot product with the episode's unit embedding (exact,
 * ties to the lower id; through cogmem_recall with COGMEM_METRIC_DOT). If
 * that score is >= p->min_similarity, bind the episode to it (strength
 * max(0, cosine)) and blend the centroid toward the unit embedding with
 * rate 1/(n+1), n the concept's fan-out before this bind, so a concept
 * formed by cogmem_form_concepts() keeps the mean of its members. Below
 * the threshold, or with no concept at all, nothing changes and the
 * episode stays unbound for the next batch (bound = 0, returns 0).
 * Only min_similarity of p is used (p NULL = defaults).
 *
 * Safe while other threads read, write and recall. Linearisable per step,
 * not as a whole: concurrent consolidations into one concept each bind,
 * and their blends all apply (compare-and-swap), but a rate computed from
 * a fan-out another call has just changed makes the centroid a slightly
 * different weighted mean; the batch call is the deterministic path.
 * Errors: -EINVAL (NULL store, id 0, bad params, out with a too small
 * struct_size), -ENOENT (not a live episode), -EEXIST (the episode is
 * already bound to a concept), -ENOMEM. If the blend fails after the bind
 * (-ENOENT: the concept was removed meanwhile) the bind is undone. out may
 * be NULL. */
COGMEM_API int cogmem_consolidate(cogmem_store *store, uint64_t episode,
                                  const cogmem_form_params *p,
                                  cogmem_consolidate_result *out);

/* --------------------------------------------------------- forgetting */

typedef struct cogmem_forget_params {
    /* set by cogmem_forget_params_init(); >= COGMEM_FORGET_PARAMS_V1_SIZE */
    size_t struct_size;
    /* Keep at most this many episodes; 0 (default) = cfg.max_episodes.
     * Both 0: -EINVAL. */
    uint64_t max_episodes;
    /* "Now" in the time base of episode times and cogmem_touch(); required
     * (0 is -EINVAL): forgetting reads no clock, so it is reproducible. */
    uint64_t now_ns;
    /* Weight of the sum of the episode's binding strengths; >= 0, default 1. */
    float w_binding;
    /* Added to the retention of an episode bound to at least one concept
     * (consolidated); >= 0, default 1.0 (in ACT-R log-odds units: with
     * d = 0.5 it is worth an age e^2 = 7.4 times shorter). */
    float consolidated_bonus;
    /* Non-zero: report what would be removed, remove nothing. */
    int32_t dry_run;
} cogmem_forget_params;

#define COGMEM_FORGET_PARAMS_V1_SIZE \
    (offsetof(cogmem_forget_params, dry_run) + sizeof(int32_t))

/* Fill *p with the defaults above and p->struct_size. Thread-safe. */
COGMEM_API void cogmem_forget_params_init(cogmem_forget_params *p);

typedef struct cogmem_forget_result {
    size_t struct_size;      /* set it (>= COGMEM_FORGET_RESULT_V1_SIZE) */
    uint64_t examined;       /* live episodes scored */
    uint64_t removed;        /* episodes removed (dry run: would be) */
    uint64_t unbound;        /* bindings those episodes had */
    double max_retention;    /* highest retention removed (-inf if none) */
} cogmem_forget_result;

#define COGMEM_FORGET_RESULT_V1_SIZE \
    (offsetof(cogmem_forget_result, max_retention) + sizeof(double))

/* Remove the episodes of lowest retention until at most max_episodes are
 * left. Retention of episode i at now_ns:
 *   R_i = B_i + w_binding * sum of its binding strengths
 *             + (fan-in > 0 ? consolidated_bonus : 0)
 * with B_i ACT-R's base level (cogmem_actr_activation) over the
 * presentations recorded by cogmem_touch(), or, for an episode never
 * touched, over one presentation at its time_ns: B = -d ln(age_s), the age
 * floored at 0.05 s. So old, untouched, unconsolidated episodes go first;
 * a consolidated one survives as if consolidated_bonus + its strengths
 * younger in log time. Ties go to the older time_ns, then the lower id.
 * Removal is cogmem_episode_remove(): every binding goes, fan-outs stay
 * exact. Every episode scored (unless dry_run) gets its retention
 * probability 1 / (1 + e^((cfg.actr_threshold - R) / cfg.actr_noise)) as
 * its strength (cogmem_episode_info), so a host can see how close each
 * one is to being forgotten. Concurrent adds are not waited for (the count may exceed the
 * budget again when the call returns); an episode removed meanwhile by
 * someone else counts toward the target. Cost: one pass over the episodes
 * (an RCU read per node, a sort of n (key, id) pairs: 24 n bytes).
 * Errors: -EINVAL (NULL store, bad params, a too small out->struct_size),
 * -ENOMEM (scratch; nothing removed); on a store with a directory (the
 * strengths are journaled, cogmem_persist.h) also -EIO (the journal had
 * failed: nothing stored or removed) and -EDEADLK (called inside a
 * read-side section). out may be NULL. Thread-safe. */
COGMEM_API int cogmem_forget(cogmem_store *store, const cogmem_forget_params *p,
                             cogmem_forget_result *out);

#ifdef __cplusplus
}
#endif

#endif /* COGMEM_LIFE_H */
