/* cogmem — bindings between episodes and concepts, fan-out, decay,
 * spreading activation and ACT-R base-level activation.
 *
 * Included by cogmem.h; compiles alone too. The conventions of cogmem.h
 * hold here: 0 or a negative errno, a failed call changes nothing, any
 * thread at any time, ids are the host's (0 is -EINVAL).
 *
 * A binding links one episode to one concept with a strength in [0, 1]. A
 * concept's fan-out and an episode's fan-in are their numbers of bindings;
 * both are kept in the node record and are exact whenever no call that
 * changes bindings of that node is running.
 *
 * Concurrency model: the bindings of one concept are guarded by a
 * per-concept spinlock (and an episode's list of concepts by a per-episode
 * one), held for a few instructions, or for one SIMD pass over that
 * concept's strengths during decay. There is no global lock: calls on
 * different concepts never wait for each other. Lookups of nodes and
 * fan-out queries take no lock.
 *
 * Removing a node (cogmem_concept_remove / cogmem_episode_remove) removes
 * every binding it has before it returns and keeps every fan-out exact.
 * Calls on those bindings that run concurrently with the removal may or
 * may not still see them; that includes calls naming an id that was
 * removed and added again while the old node's removal is still running.
 *
 * Times: bindings record CLOCK_REALTIME nanoseconds (as cogmem_concept_info
 * does); cogmem_decay()'s now_ns is on the same clock.
 */
#ifndef COGMEM_BIND_H
#define COGMEM_BIND_H

#include <stddef.h>
#include <stdint.h>

#include "cogmem_export.h"
#include "cogmem_simd.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The opaque store handle of cogmem.h (C11 and C++ allow repeating an
 * identical typedef, so this header needs nothing else from cogmem.h). */
typedef struct cogmem_store cogmem_store;

/* ------------------------------------------------------------- bindings */

/* Bind episode `episode` to concept `concept` with `strength` in [0, 1].
 * Raises the concept's fan-out and the episode's fan-in by one and bumps
 * the concept's binding_version. Errors: -EINVAL (NULL store, id 0,
 * strength NaN or outside [0, 1]), -ENOENT (`episode` is not a live
 * episode or `concept` not a live concept), -EEXIST (already bound),
 * -ENOMEM. Thread-safe; of concurrent binds of one pair exactly one
 * succeeds. */
COGMEM_API int cogmem_bind(cogmem_store *store, uint64_t episode,
                           uint64_t concept, float strength);

/* strength <- clamp(strength + delta, 0, 1), atomically: concurrent adjusts
 * of one binding are never lost (they serialise on the concept's lock).
 * Also records the binding as touched now (see cogmem_decay() for what that
 * means for decay). *new_strength (may be NULL) receives the result.
 * Errors: -EINVAL (bad id, NaN or infinite delta), -ENOENT (no such
 * binding). Thread-safe. */
COGMEM_API int cogmem_binding_adjust(cogmem_store *store, uint64_t episode,
                                     uint64_t concept, float delta,
                                     float *new_strength);

/* The binding's current strength into *strength. Errors: -EINVAL, -ENOENT.
 * Thread-safe. */
COGMEM_API int cogmem_binding_get(cogmem_store *store, uint64_t episode,
                                  uint64_t concept, float *strength);

/* Copy-out view of one binding. */
struct cogmem_binding_info {
    uint64_t episode;
    uint64_t concept;
    float strength;
    uint64_t created_ns; /* when bound */
    uint64_t touched_ns; /* last bind or adjust */
    uint64_t decayed_ns; /* `strength` is current as of this time */
};

/* Copy binding (episode, concept) into *out. Errors: -EINVAL, -ENOENT.
 * Thread-safe; the fields are read together under the concept's lock. */
COGMEM_API int cogmem_binding_info(cogmem_store *store, uint64_t episode,
                                   uint64_t concept,
                                   struct cogmem_binding_info *out);

/* Remove the binding: fan-out and fan-in drop by one. Errors: -EINVAL,
 * -ENOENT (no such binding). Thread-safe; of concurrent unbinds of one
 * pair exactly one succeeds. */
COGMEM_API int cogmem_unbind(cogmem_store *store, uint64_t episode,
                             uint64_t concept);

/* The concept's fan-out (number of bindings) into *out, read from its
 * record without a lock. Errors: -EINVAL, -ENOENT (not a live concept).
 * Thread-safe, lock-free. */
COGMEM_API int cogmem_fan_out(cogmem_store *store, uint64_t concept,
                              uint32_t *out);

/* The episode's fan-in, as cogmem_fan_out(). */
COGMEM_API int cogmem_fan_in(cogmem_store *store, uint64_t episode,
                             uint32_t *out);

/* Copy-out listing of the episodes bound to `concept`: up to `cap` episode
 * ids into ids[] and (unless strengths is NULL) their strengths into
 * strengths[], in the list's internal order; *n_out receives the total
 * number of bindings, which may exceed cap (then call again with more
 * room). The listing is a snapshot of the concept's bindings (taken under
 * its lock). Errors: -EINVAL (NULL store or n_out, NULL ids with cap > 0),
 * -ENOENT. Thread-safe. */
COGMEM_API int cogmem_concept_episodes(cogmem_store *store, uint64_t concept,
                                       uint64_t *ids, float *strengths,
                                       size_t cap, size_t *n_out);

/* Copy-out listing of the concepts bound to `episode`, as
 * cogmem_concept_episodes(). The ids are a snapshot of the episode's list;
 * each strength is then read from its concept, so with concurrent writers
 * a binding removed in between is left out (and *n_out counts it out). */
COGMEM_API int cogmem_episode_concepts(cogmem_store *store, uint64_t episode,
                                       uint64_t *ids, float *strengths,
                                       size_t cap, size_t *n_out);

/* Total number of bindings in the store (sum of sixteen per-shard counters;
 * exact at quiescence). Errors: -EINVAL. Thread-safe, lock-free. */
COGMEM_API int cogmem_binding_count(cogmem_store *store, uint64_t *out);

/* ---------------------------------------------------------------- decay */

/* How cogmem_decay() lowers strengths. Each binding keeps the strength it
 * had at its reference time t_ref (its last bind or adjust) and the time
 * t_dec up to which decay has already been applied (t_dec >= t_ref). A
 * decay at time `now` brings it up to `now`:
 *   COGMEM_DECAY_EXP:    s *= 2^(-(now - t_dec) / half_life), so that
 *                        after any sequence of decays
 *                        s = s_ref * 2^(-(now - t_ref) / half_life);
 *   COGMEM_DECAY_POWER:  s(t) = s_ref * (1 + (t - t_ref) / scale)^-d, i.e.
 *                        s *= ((1 + (now - t_ref) / scale) /
 *                              (1 + (t_dec - t_ref) / scale))^-d;
 *   COGMEM_DECAY_FACTOR: s *= factor, whatever the time (one "tick").
 * The values are part of the ABI. */
typedef enum cogmem_decay_model {
    COGMEM_DECAY_EXP = 0,
    COGMEM_DECAY_POWER = 1,
    COGMEM_DECAY_FACTOR = 2
} cogmem_decay_model;

typedef struct cogmem_decay_params {
    size_t struct_size;     /* set by cogmem_decay_params_init() */
    int32_t model;          /* a cogmem_decay_model; default EXP */
    uint64_t half_life_ns;  /* EXP: > 0; default 3600 s */
    float power_d;          /* POWER: exponent d > 0; default 0.5 */
    uint64_t power_scale_ns; /* POWER: time scale > 0; default 1 s */
    float factor;           /* FACTOR: in [0, 1]; default 0.5 */
    /* After decaying, bindings whose strength is below this are removed
     * (unbound: fan-outs and fan-ins drop). In [0, 1]; 0 keeps every
     * binding. Default 0.01. */
    float prune_below;
} cogmem_decay_params;

typedef struct cogmem_decay_result {
    size_t struct_size;   /* sizeof as the caller compiled it: set it */
    uint64_t concepts;    /* concepts whose bindings were visited */
    uint64_t decayed;     /* bindings decayed (pruned ones included) */
    uint64_t pruned;      /* bindings removed */
} cogmem_decay_result;

/* Fill *p with the defaults above and p->struct_size. NULL is ignored. */
COGMEM_API void cogmem_decay_params_init(cogmem_decay_params *p);

/* Decay every binding of the store to time `now_ns` (CLOCK_REALTIME ns;
 * a binding whose t_dec is later than now_ns is left as it is), then
 * remove those below p->prune_below. Runs concept by concept (over the
 * store's registry of binding lists, so a pass costs the concepts that have
 * bindings, not the size of the concept table), through the SIMD kernels cogmem_decay_exp_f32() (EXP, and POWER
 * with the ratio's logarithm as the "time"), cogmem_decay_f32() (FACTOR,
 * and EXP for a run of bindings that share their decay time, the steady
 * state: one factor, computed with libm expf())
 * and cogmem_prune_f32(). Keeps every fan-out and fan-in exact.
 *
 * Concurrency: other threads may bind, adjust, read, spread and remove
 * meanwhile. Each concept's bindings are decayed and pruned as one step
 * under that concept's lock, so a concurrent cogmem_binding_adjust() of a
 * binding lands entirely before or after its decay, never in between:
 *  - adjust first: the adjust sets t_ref = t_dec = its time and the
 *    strength to clamp(s + delta); the decay then decays that value for the
 *    time since the adjust (little or nothing);
 *  - decay first: the adjust adds its delta to the decayed value.
 * Either way the delta is applied exactly once (no lost adjust) and every
 * strength stays in [0, 1]. An adjust also forgives the decay owed between
 * t_dec and its own time: adjusting means "this binding was just used".
 * Bindings created while a decay runs may or may not be visited by it. A
 * binding being adjusted can be pruned only by a decay that runs after the
 * adjust and finds it below the threshold.
 *
 * out (may be NULL) receives the counts; set out->struct_size first.
 * Errors: -EINVAL (NULL store or params, bad params, out->struct_size too
 * small). The call allocates nothing and cannot fail once it starts.
 * Thread-safe; concurrent decays serialise per concept (a binding is
 * brought up to the later `now` once). */
COGMEM_API int cogmem_decay(cogmem_store *store, const cogmem_decay_params *p,
                            uint64_t now_ns, cogmem_decay_result *out);

/* ------------------------------------------------------------ spreading */

/* A cue: a node and the activation it starts with. */
typedef struct cogmem_source {
    uint64_t id;
    float weight;
} cogmem_source;

/* A result row: a node, its kind (enum cogmem_kind) and its activation.
 * `score` names the same float for similarity results (cogmem_recall). */
#ifndef COGMEM_HIT_DEFINED
#define COGMEM_HIT_DEFINED
typedef struct cogmem_hit {
    uint64_t id;
    int32_t kind;
    union {
        float activation;
        float score;
    };
} cogmem_hit;
#endif

/* The largest cogmem_spread_params.max_nodes (above it: -EINVAL). */
#define COGMEM_SPREAD_MAX_NODES (1u << 28)

/* cogmem_spread_params.fan_mode: use the store's cfg.fan_mode. */
#define COGMEM_FAN_DEFAULT (-1)

typedef struct cogmem_spread_params {
    size_t struct_size;      /* set by cogmem_spread_params_init() */
    /* Hops; default 2; 0 returns the sources. Spreading stops early at
     * the first hop whose frontier (nodes with |received| >= threshold) is
     * empty, so the work is bounded by the hops that carry activation, not
     * by max_depth. */
    uint32_t max_depth;
    float hop_decay;         /* factor per hop, >= 0; default 0.5 */
    /* A node spreads what it received in the previous hop only when its
     * magnitude is at least this; >= 0; default 1e-3. */
    float threshold;
    /* Most distinct nodes that get an activation (sources included):
     * only a source with a non-zero weight, or a node that is sent a
     * non-zero amount, counts (an ACT-R S_ji of 0 or a binding of strength
     * 0 sends nothing); activation reaching a node beyond the cap is
     * dropped. 1..COGMEM_SPREAD_MAX_NODES; default 10000. Working memory
     * grows with the nodes reached (about 60 bytes each), not with the cap.
     */
    uint32_t max_nodes;
    int32_t use_strength;    /* scale by binding strength; default 1 */
    int32_t fan_mode;        /* a cogmem_fan_mode or COGMEM_FAN_DEFAULT */
    /* Add each hit's ACT-R base-level activation B_i (cogmem_touch();
     * nodes never touched add 0) at time now_ns (0: the current time).
     * Default 0. */
    int32_t add_base_level;
    uint64_t now_ns;
    /* Non-zero: store each hit's activation (the value returned in its
     * cogmem_hit, before the cap) in its node, where
     * cogmem_concept_info / cogmem_episode_info report it and recall's
     * w_act ranks by it. The stored value is the one of the last spread
     * that stored it (0 for a node never reached); concurrent spreads
     * overwrite each other node by node. Default 0. */
    int32_t store_activation;
} cogmem_spread_params;

/* Fill *p with the defaults above and p->struct_size. NULL is ignored. */
COGMEM_API void cogmem_spread_params_init(cogmem_spread_params *p);

/* Spreading activation from n cues along bindings (concept -> its
 * episodes, episode -> its concepts), breadth first, hop by hop.
 *
 * Each source starts with its weight (duplicate sources add up; sources
 * that are not live nodes are skipped). In hop h (1..max_depth) every node
 * j that received x_j in hop h-1 (the sources' weights for h = 1), with
 * |x_j| >= threshold, sends to each node i bound to it
 *     f(x_j, fan_j) * hop_decay * (use_strength ? strength_ji : 1)
 * where fan_j is j's fan-out (concept) or fan-in (episode) and f is the fan
 * function, computed with cogmem_fan_divide():
 *     COGMEM_FAN_INV_SQRT  f = x / sqrt(max(fan, 1))
 *     COGMEM_FAN_LINEAR    f = x / max(fan, 1)
 *     COGMEM_FAN_NONE      f = x
 *     COGMEM_FAN_ACTR      f = x * S_ji,  S_ji = max(0, S - ln(fan + 1))
 * The last is ACT-R 7's spreading activation (Anderson & Lebiere 1998,
 * "The Atomic Components of Thought", ch. 3; ACT-R 7 reference manual,
 * "Spreading Activation"): A_i = B_i + sum_j W_j S_ji, with S =
 * cfg.actr_max_assoc (:mas) and fan_j counting the chunks j appears in
 * plus j itself. With max_depth 1, hop_decay 1, use_strength 0 and the
 * sources' weights W_j, a node's activation is exactly sum_j W_j S_ji.
 * A node's activation is the sum of everything it received plus, for a
 * source, its weight (plus B_i with add_base_level).
 *
 * Hits: every node with a non-zero activation, sorted by activation (highest
 * first), ties by id; the first min(cap, number) are written to out[] and
 * *n_out receives how many were written. Deterministic for a given store
 * state; with concurrent writers each node's bindings are read under its
 * lock, but the whole is not a snapshot.
 *
 * p may be NULL (defaults). Errors: -EINVAL (NULL store or n_out, NULL
 * src with n > 0, NULL out with cap > 0, source id 0 or weight not
 * finite, bad params), -ENOMEM (working memory); with store_activation on
 * a store with a directory (the activations are journaled,
 * cogmem_persist.h) also -EIO (the journal had failed: nothing stored) and
 * -EDEADLK (called inside a read-side section). Thread-safe. */
COGMEM_API int cogmem_spread(cogmem_store *store, const cogmem_source *src,
                             size_t n, const cogmem_spread_params *p,
                             cogmem_hit *out, size_t cap, size_t *n_out);

/* ---------------------------------------------------- ACT-R base level */

/* Record a presentation (a use, a retrieval) of node `id`, of either kind,
 * at time now_ns (any clock, as long as cogmem_actr_activation() and
 * cogmem_spread()'s now_ns use the same one; presentations are expected in
 * time order). The node keeps its cfg.actr_history most recent
 * presentation times, the total count and the first time. Errors: -EINVAL,
 * -ENOENT, -ENOMEM. Thread-safe (per-node lock). */
COGMEM_API int cogmem_touch(cogmem_store *store, uint64_t id, uint64_t now_ns);

typedef struct cogmem_actr_result {
    size_t struct_size;      /* sizeof as the caller compiled it: set it */
    uint64_t presentations;  /* n, presentations recorded by cogmem_touch */
    double base_level;       /* B_i (0 when n == 0) */
    double spreading;        /* sum_j W_j S_ji over the given sources */
    double activation;       /* A_i = B_i + spreading */
    double latency_s;        /* F * e^-A_i, seconds */
    double probability;      /* 1 / (1 + e^((tau - A_i) / s)) */
} cogmem_actr_result;

/* ACT-R 7 activation of node `id` at time now_ns (ACT-R reference manual,
 * "Declarative memory"; Anderson et al. 2004, "An integrated theory of the
 * mind"):
 *   B_i = ln( sum_{j=1..k} t_j^-d
 *             + (n - k) (t_n^(1-d) - t_k^(1-d)) / ((1 - d)(t_n - t_k)) )
 * with t_j the ages in seconds of the k = min(n, cfg.actr_history) most
 * recent presentations (t_k the oldest of them), t_n the age of the first
 * one, every age floored at 0.05 s; the second term is the
 * optimized-learning approximation of the older presentations (Petrov
 * 2006; ACT-R's :ol k), k = 0 giving the classic ln(n / (1 - d)) - d ln t_n.
 * d = cfg.actr_decay.
 *   spreading = sum_j W_j S_ji over the sources j bound to i (sources not
 *   bound to i add 0), S_ji = max(0, S - ln(fan_j + 1)),
 *   S = cfg.actr_max_assoc, through cogmem_fan_divide(COGMEM_FAN_ACTR);
 *   latency = F e^-A (F = cfg.actr_latency_factor);
 *   probability = 1 / (1 + e^((tau - A) / s)) (tau = cfg.actr_threshold,
 *   s = cfg.actr_noise).
 * src may be NULL when n == 0. Errors: -EINVAL (NULL store or out,
 * out->struct_size too small, id 0, a source with id 0 or a weight not
 * finite), -ENOENT (no node `id`). Thread-safe. */
COGMEM_API int cogmem_actr_activation(cogmem_store *store, uint64_t id,
                                      const cogmem_source *src, size_t n,
                                      uint64_t now_ns, cogmem_actr_result *out);

#ifdef __cplusplus
}
#endif

#endif /* COGMEM_BIND_H */
