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

#ifdef __cplusplus
}
#endif

#endif /* COGMEM_BIND_H */
