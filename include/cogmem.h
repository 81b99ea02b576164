/* cogmem — a dual-memory cognitive store with lock-free lookups.
 *
 * A store holds CONCEPTS (semantic memory: an id, a 64-byte metadata record
 * and a refcounted embedding centroid) and EPISODES (episodic memory: an id,
 * a 64-byte record and a refcounted embedding). Every embedding has the
 * store's dimension `dim`, is 64-byte aligned, immutable once published, and
 * carries its precomputed L2 norm.
 *
 * Conventions (they hold for every function below unless its comment says
 * otherwise):
 *  - Errors: functions return 0 or a negative errno (-EINVAL, -ENOENT,
 *    -EEXIST, -ENOMEM, -ERANGE, -EBUSY). cogmem_strerror() names them.
 *    A call that fails changes nothing.
 *  - Threads: any thread may call any function at any time, concurrently,
 *    with no registration step (except cogmem_close(), see there). A thread
 *    that exits releases what the library held for it.
 *  - Progress: "lock-free" below means the call takes no lock and never
 *    waits for another thread. Lookups (*_info, kind_of, count, vec_get/
 *    vec_put, fan_out/fan_in, binding_get) are. Writers are not, in these
 *    cases only: an add or remove that meets its shard's hash table being
 *    copied waits (yielding) for the copy, which takes time linear in the
 *    shard's slots and waits for nothing itself; the add that grows a
 *    table makes that copy; a remove of a node with bindings, and every
 *    binding call, takes short per-concept spinlocks (cogmem_bind.h); with
 *    cfg.index an add or replacement links under per-slot spinlocks and a
 *    remove may repair the graph (cogmem_recall.h); on a store with a path
 *    mutating calls serialise per id on a striped mutex (cogmem_persist.h).
 *    cogmem_reserve() and cogmem_recall_batch() block (see there).
 *  - Ids: uint64_t chosen by the host, unique across both kinds; 0 is
 *    reserved and always -EINVAL.
 *  - Vectors passed in are read during the call only; the library keeps its
 *    own copy. They must hold `dim` finite floats (NaN/Inf is -EINVAL) and
 *    be non-zero (cosine needs a norm: a zero vector is -EINVAL).
 *  - Copy-out: *_info and listing functions copy into caller memory; nothing
 *    they return points into the store. Zero-copy access to embeddings is
 *    only through cogmem_vec_get()/cogmem_vec_put().
 *
 * Caveats
 *  - cogmem_close() must not run concurrently with any other call on the
 *    same store, and every cogmem_vec reference must be put first
 *    (otherwise it fails with -EBUSY and the store stays open).
 *  - Counts and iteration are exact only at quiescence: while writers run
 *    they are sums of per-shard figures read at slightly different times.
 *  - The library uses liburcu's "bulletproof" flavour (urcu-bp): host
 *    threads need not register, and a host that itself uses urcu-bp shares
 *    its grace periods. cogmem installs pthread_atfork handlers so that a
 *    forked child can keep using the library; a child must not assume any
 *    other thread of the parent exists. fork() waits for a hash-table
 *    migration in progress and for every binding-list lock other threads
 *    hold (a binding call or a remove of a node with bindings finishes its
 *    list work first), so every call is safe in the child. fork() must
 *    therefore not be called from a cogmem_foreach() callback.
 *  - Built with the jemalloc option, the library cannot be dlopen()ed
 *    (Debian's libjemalloc uses static TLS). See README.
 *  - NUMA placement (cogmem_config.numa_policy) is applied to the per-kind
 *    jemalloc arenas' memory; without jemalloc or libnuma the store runs
 *    unplaced and cogmem_stats.numa_fallback says why (cogmem_stats.h).
 *  - Statistics counters cost a few percent of a lookup; latencies are
 *    sampled (cogmem_stats.h). cogmem_config.stats turns them off.
 *  - Worker threads the library starts (RCU reclamation, recall batch
 *    workers) block every signal, so a host that consumes signals through
 *    signalfd loses none. Growing a hash table starts no thread.
 *  - Binding calls (cogmem_bind.h) serialise per concept on a short
 *    spinlock (no global lock); a host thread must not be suspended by the
 *    host (e.g. a signal handler calling back into cogmem) in the middle of
 *    one. Node lookups, counts and fan-out queries take no lock.
 *  - An add that takes its shard's hash table past half full grows the
 *    table; if the new table cannot be allocated, that add fails with
 *    -ENOMEM and changes nothing. Sizing hints (cogmem_config's
 *    expected_concepts, expected_episodes) and cogmem_reserve() are advice:
 *    never refused for being large, and capped (see expected_concepts).
 *  - Sizes are checked before anything is allocated or written, and work
 *    and memory follow what the store holds, not the caller's sizes
 *    (cogmem_recall's k, cogmem_spread's max_depth and max_nodes); each
 *    function's comment says its bounds. Only 64-bit targets are supported
 *    (meson setup refuses others).
 */
#ifndef COGMEM_H
#define COGMEM_H

#include <stddef.h>
#include <stdint.h>

#include "cogmem_export.h"
#include "cogmem_simd.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- basics */

#define COGMEM_VERSION_MAJOR 0
#define COGMEM_VERSION_MINOR 1
#define COGMEM_VERSION_PATCH 0

/* Largest embedding dimension a store accepts (a 256 KiB vector). */
#define COGMEM_MAX_DIM 65536u

/* Node kinds. The values are bits so that they combine as a kind mask
 * (COGMEM_CONCEPT | COGMEM_EPISODE) wherever a function takes `kinds`. */
enum cogmem_kind {
    COGMEM_CONCEPT = 1,
    COGMEM_EPISODE = 2
};
#define COGMEM_ALL_KINDS (COGMEM_CONCEPT | COGMEM_EPISODE)

/* Opaque store handle. */
typedef struct cogmem_store cogmem_store;

/* The library's version as "MAJOR.MINOR.PATCH". Static string; thread-safe. */
COGMEM_API const char *cogmem_version(void);

/* A static, human-readable description of a value returned by this
 * library (0 or a negative errno); unknown values give "unknown error".
 * Thread-safe; the string lives forever. */
COGMEM_API const char *cogmem_strerror(int err);

/* ------------------------------------------------------------- lifecycle */

typedef struct cogmem_config {
    /* sizeof(cogmem_config) as the caller compiled it; set by
     * cogmem_config_init(). Lets the struct grow without an ABI break. */
    size_t struct_size;
    /* Embedding dimension, 1..COGMEM_MAX_DIM. Required (default 0 is
     * refused by cogmem_open). */
    uint32_t dim;
    /* Sizing hints, advice only: each kind's sixteen shard tables are
     * created with enough slots for min(hint, cap) nodes at load 1/2, so a
     * bulk load does not start with a cascade of growths; past that, adds
     * grow the tables as usual. cap = min(2^19, physical memory / 2 KiB):
     * at most 16 MiB of tables a kind, and at most 1/64 of the machine's
     * memory. Any value is accepted (10^8, 2^40, UINT64_MAX: the cap);
     * a hint never makes cogmem_open fail, except with -ENOMEM if the
     * capped tables cannot be allocated. 0 means a small default (64
     * slots a shard). Each table slot also has a 128-byte home position
     * for a node record (so that a lookup fetches the record together
     * with its slot): 16 times the table's bytes, up to 256 MiB a kind,
     * address space whose pages are touched as records are placed there
     * (records placed there take no memory elsewhere); its allocation
     * failing fails nothing (records then come from the allocator). Rows
     * (the embeddings) are never pre-allocated: a kind's rows come in
     * chunks of about 4 MiB as adds need them. */
    uint64_t expected_concepts;
    uint64_t expected_episodes;
    /* --- bindings and activation (cogmem_bind.h) --- */
    /* Fan mode cogmem_spread() uses unless its params override it
     * (a cogmem_fan_mode). Default COGMEM_FAN_INV_SQRT. */
    int32_t fan_mode;
    /* S, the maximum associative strength of ACT-R 7's spreading equation
     * S_ji = S - ln(fan_j) (ACT-R's :mas). Default 2.0; finite. */
    float actr_max_assoc;
    /* d, the decay of ACT-R's base-level learning equation
     * B_i = ln(sum_j t_j^-d) (ACT-R's :bll). Default 0.5; in (0, 1). */
    float actr_decay;
    /* k, how many most recent presentations cogmem_touch() keeps exactly;
     * older ones enter through the optimized-learning approximation
     * (ACT-R's :ol k). Default 10; 0..32. */
    uint32_t actr_history;
    /* F, the latency factor of retrieval time F * e^-A (ACT-R's :lf).
     * Default 1.0 (seconds); > 0. */
    float actr_latency_factor;
    /* tau, the retrieval threshold (ACT-R's :rt). Default 0.0. */
    float actr_threshold;
    /* s, the activation noise scale of the retrieval probability
     * 1 / (1 + e^((tau - A) / s)) (ACT-R's :ans). Default 0.25; > 0. */
    float actr_noise;
    /* Memory placement (enum cogmem_numa_policy, cogmem_stats.h); default
     * COGMEM_NUMA_INTERLEAVE. For COGMEM_NUMA_SEPARATE, the nodes for
     * concept and episode memory; -1 (the default) means node 0 for
     * concepts and the highest node for episodes. A node the machine does
     * not have makes cogmem_open fail with -ENODEV. */
    int numa_policy;
    int concept_node;
    int episode_node;
    /* What the store counts: COGMEM_STATS_COUNTERS | COGMEM_STATS_LATENCY
     * (the default); 0 turns statistics off (cogmem_stats_get then reports
     * zero counters and latencies, but still the gauges). */
    unsigned stats;
    /* Non-zero: every embedding row also keeps a bfloat16 copy (+50%
     * memory, a conversion per add or centroid change), which
     * cogmem_recall() scans instead of the f32 data when its params ask
     * for it (cogmem_recall.h, `bf16`). The copy sits after the f32 data
     * in each row, so exact (f32) scans of such a store stride over it and
     * run slower than on a plain store (bench/recall). Default 0. */
    uint32_t bf16_rows;
    /* --- persistence (cogmem_persist.h) --- */
    /* A directory the store lives in (created if missing, one level), or
     * NULL (the default): an in-memory store that forgets everything at
     * close. The string is copied by cogmem_open. */
    const char *path;
    /* enum cogmem_durability; default COGMEM_DURABLE_PROCESS. Ignored
     * without a path. */
    int32_t durability;
    /* COGMEM_DURABLE_INTERVAL: fsync period in ms, > 0; default 1000. */
    uint32_t sync_interval_ms;
    /* Episode budget of cogmem_forget() (cogmem_life.h) when its params
     * give none: keep at most this many episodes. 0 (default): no budget.
     * The store never forgets on its own; the host calls cogmem_forget. */
    uint64_t max_episodes;
    /* --- approximate recall (cogmem_recall.h, `approximate`) --- */
    /* Non-zero: keep a graph index (HNSW) per kind over the nodes' current
     * vectors, maintained by every add, remove and centroid change, and
     * rebuilt from the nodes when a persistent store is opened. Default 0:
     * no index, and cogmem_recall is always exact. What it costs the
     * writers (bench/ann measures each):
     *  - an add links its node before returning: one graph search of
     *    index_ef_construction candidates per level of the node, then up
     *    to 2 x index_m reverse links (each a list rewrite under one
     *    slot's lock);
     *  - a remove is a tombstone (constant time). Once its kind's
     *    tombstones reach 1/10 of the linked nodes, a repair pass begins:
     *    it rewires each link list that points to a tombstone (HNSW's
     *    pruning over the tombstones' own lists: a few hundred distance
     *    computations per list), walks the bottom level and runs a graph
     *    search per node found cut off, then frees the tombstones. No
     *    single call runs the whole pass: each remove (or far centroid
     *    change) made while a pass is due or in progress runs one bounded
     *    slice of it (about 30 lists rewired, or one reconnecting search;
     *    a caller that finds another running a slice skips it, never
     *    waits), and so does each add while a pass is in progress: the
     *    pass's work, the same as before, is spread over the calls that
     *    follow. At 10^5 nodes of dim 128 bench/ann measured the slowest
     *    remove at 2.7-5.8 ms (a slice) and 1-4% of removes above 1 ms,
     *    where the unsliced pass took 2.1-2.3 s in the one remove that
     *    ran it (load 1, 2 cores). Tombstones are never returned while
     *    they wait;
     *  - a centroid change costs a vector swap, and an add's linking once
     *    the node has drifted 0.2 rad since it was linked. */
    uint32_t index;
    /* Links per node and level (2 x index_m at the bottom level), in
     * [2, 100]. Default 16. */
    uint32_t index_m;
    /* Candidates examined while linking a node, in [1, 65536]. Default 200. */
    uint32_t index_ef_construction;
    /* Candidates an approximate recall examines when its params give no
     * `ef`, in [1, 65536]. Default 64. */
    uint32_t index_ef_search;
    /* enum cogmem_open_mode (cogmem_persist.h): how a store directory's
     * snapshot is loaded; default COGMEM_OPEN_COPY. Ignored without a
     * path. */
    int32_t open_mode;
} cogmem_config;

/* Fill *cfg with defaults (dim 0, which the caller must set; no sizing
 * hints) and cfg->struct_size. Thread-safe; no allocation. */
COGMEM_API void cogmem_config_init(cogmem_config *cfg);

/* Create a store. On success *out is a new store owned by the caller, to be
 * released with cogmem_close(). Errors: -EINVAL (NULL argument, struct_size
 * too small, dim 0 or > COGMEM_MAX_DIM), -ENOMEM. On error *out is
 * untouched. Thread-safe (distinct stores are independent). */
COGMEM_API int cogmem_open(const cogmem_config *cfg, cogmem_store **out);

/* Close *store: free every node and embedding and set *store to NULL.
 * It does not wait for a grace period: memory whose frees are still
 * deferred (of earlier removes and replacements) is freed by the last of
 * them, milliseconds later, on liburcu's call_rcu worker. Not thread-safe with respect to the same
 * store: no other call on it may be running or start. Errors: -EINVAL
 * (NULL), -EBUSY (cogmem_vec references are still held; nothing was
 * freed and the store is still usable). cogmem_close(&p) with p == NULL
 * returns 0. */
COGMEM_API int cogmem_close(cogmem_store **store);

/* The store's embedding dimension. Thread-safe; `store` must be open. */
COGMEM_API uint32_t cogmem_dim(const cogmem_store *store);

/* Pre-size each shard table of the given kinds for min(n, cap) nodes in
 * total (cap as for cogmem_config.expected_concepts: tables of at most
 * 16 MiB a kind), growing it now instead of during inserts; a table
 * already that large is left alone, nothing ever shrinks. Advice: any n is
 * accepted, and the call takes time linear in the capped size (and the
 * nodes already held) whatever n is. Call it before or after a bulk load;
 * inserts also grow shards on their own. Blocks until the growth is done
 * (and for a fork in progress); must not be called from a cogmem_foreach()
 * callback (-EDEADLK). Errors: -EINVAL (NULL store, bad kinds), -EDEADLK,
 * -ENOMEM (a table could not be allocated; shards grown before it stay
 * grown, which changes no content). Thread-safe. */
COGMEM_API int cogmem_reserve(cogmem_store *store, unsigned kinds, uint64_t n);

/* ------------------------------------------------------------ ids, kinds */

/* COGMEM_CONCEPT or COGMEM_EPISODE for a live id, -ENOENT if no node has
 * it, -EINVAL for id 0 or a NULL store. Thread-safe, lock-free. */
COGMEM_API int cogmem_kind_of(cogmem_store *store, uint64_t id);

/* Number of live nodes of the given kinds. Exact at quiescence; while
 * writers run, a sum of sixteen per-shard counters read one after another.
 * Errors: -EINVAL. Thread-safe, lock-free. */
COGMEM_API int cogmem_count(cogmem_store *store, unsigned kinds, uint64_t *out);

/* Callback for cogmem_foreach(): return 0 to go on, anything else to stop
 * (cogmem_foreach then returns that value). */
typedef int (*cogmem_visit_fn)(uint64_t id, enum cogmem_kind kind, void *arg);

/* Call fn for every live node of the given kinds, shard by shard. A node
 * present for the whole iteration is visited exactly once; one added or
 * removed meanwhile may or may not be. The callback runs inside an RCU
 * read-side section: it may call any cogmem function on this store except
 * cogmem_close() and cogmem_reserve(), and should not block for long (it
 * delays memory reclamation). Returns 0, the callback's non-zero value, or
 * -EINVAL. Thread-safe. */
COGMEM_API int cogmem_foreach(cogmem_store *store, unsigned kinds,
                              cogmem_visit_fn fn, void *arg);

/* -------------------------------------------------------------- concepts */

/* Copy-out view of a concept's metadata. A struct tag, not a typedef:
 * DESIGN names both the function and its record cogmem_concept_info, which
 * C (and C++) allow only in the tag namespace. */
struct cogmem_concept_info {
    uint64_t id;               /* 0 in a batch slot whose id was not found */
    uint64_t created_ns;       /* CLOCK_REALTIME when added */
    uint64_t touched_ns;       /* CLOCK_REALTIME of the last centroid change */
    uint32_t fan_out;          /* number of bindings */
    uint32_t binding_version;  /* bumped on every bind/unbind of the concept */
    uint32_t centroid_version; /* 1 when added, +1 per set_centroid/blend;
                                * after 2^32 - 1 it wraps to 1, never 0 */
    float activation;          /* last stored activation */
    float norm;                /* L2 norm of the current centroid */
};

/* Add concept `id` with a copy of `centroid` (dim floats). Errors: -EINVAL
 * (NULL, id 0, NaN/Inf, zero vector), -ERANGE (finite, but its L2 norm
 * overflows float, e.g. two components of FLT_MAX), -EEXIST (id live as a
 * concept or an episode; a bad vector for a live id may give either
 * error), -ENOMEM. Thread-safe, not lock-free (it may wait for its shard's
 * table copy, or make it: see Progress above); of concurrent adds of one
 * id (of either kind) exactly one succeeds. */
COGMEM_API int cogmem_concept_add(cogmem_store *store, uint64_t id,
                                  const float *centroid);

/* Replace the centroid of concept `id` with a copy of `centroid`. Readers
 * holding the old vector keep it unchanged until they put it; it is freed
 * after the last reference and RCU grace period. Errors: -EINVAL, -ERANGE
 * (as cogmem_concept_add), -ENOENT, -ENOMEM. Thread-safe; lock-free
 * without cfg.index and without a path (Progress above). */
COGMEM_API int cogmem_concept_set_centroid(cogmem_store *store, uint64_t id,
                                           const float *centroid);

/* centroid <- (1 - rate) * centroid + rate * x, published as a new vector.
 * Concurrent blends and replacements of one concept are never lost: each
 * applies to the centroid current when it commits (compare-and-swap, retried
 * on conflict). rate must be in [0, 1]. Errors: -EINVAL (bad argument),
 * -ENOENT, -ERANGE (the result would be zero or not finite; nothing
 * changes), -ENOMEM. Thread-safe; lock-free without cfg.index and without
 * a path (Progress above). */
COGMEM_API int cogmem_concept_blend(cogmem_store *store, uint64_t id,
                                    const float *x, float rate);

/* Copy concept `id`'s metadata into *out. Errors: -EINVAL, -ENOENT (also
 * for an episode id). Thread-safe, lock-free, no allocation. */
COGMEM_API int cogmem_concept_info(cogmem_store *store, uint64_t id,
                                   struct cogmem_concept_info *out);

/* cogmem_concept_info for n ids at once, with the lookups of a group of ids
 * overlapped (software prefetch) so that a DRAM-resident table is read at
 * more than one miss at a time. out[i] describes ids[i]; a missing id leaves
 * out[i] zeroed (out[i].id == 0). *n_found (may be NULL) receives how many
 * were found. Errors: -EINVAL (NULL store, NULL ids/out with n > 0).
 * Thread-safe; each entry is individually consistent, the batch is not a
 * snapshot. */
COGMEM_API int cogmem_concept_info_batch(cogmem_store *store,
                                         const uint64_t *ids, size_t n,
                                         struct cogmem_concept_info *out,
                                         size_t *n_found);

/* Remove concept `id`. Its memory is freed once no reader can see it and
 * no cogmem_vec reference to its centroid remains. Errors: -EINVAL,
 * -ENOENT, -ENOMEM (the small deferred-free record could not be
 * allocated; the concept stays). Of concurrent removes of one id exactly
 * one succeeds. Thread-safe, not lock-free (it may wait for its shard's
 * table copy and takes its binding lists' spinlocks: Progress above). */
COGMEM_API int cogmem_concept_remove(cogmem_store *store, uint64_t id);

/* -------------------------------------------------------------- episodes */

/* Copy-out view of an episode's record (a struct tag, as above). */
struct cogmem_episode_info {
    uint64_t id;
    uint64_t time_ns;   /* the host's time given to cogmem_episode_add */
    uint32_t fan_in;    /* number of bindings */
    /* 1.0 when added; then the retention probability the last
     * (non-dry-run) cogmem_forget() computed for it: 1 / (1 + e^((tau -
     * R) / s)) with R its retention (cogmem_life.h), tau =
     * cfg.actr_threshold, s = cfg.actr_noise. */
    float strength;
    float activation;   /* last stored activation */
    float norm;         /* L2 norm of the embedding */
};

/* Add episode `id` with a copy of `embedding` (dim floats) at the host's
 * time `time_ns`. Errors and thread-safety as cogmem_concept_add(). */
COGMEM_API int cogmem_episode_add(cogmem_store *store, uint64_t id,
                                  const float *embedding, uint64_t time_ns);

/* Copy episode `id`'s record into *out. Errors: -EINVAL, -ENOENT (also for
 * a concept id). Thread-safe, lock-free. */
COGMEM_API int cogmem_episode_info(cogmem_store *store, uint64_t id,
                                   struct cogmem_episode_info *out);

/* Remove episode `id`. As cogmem_concept_remove(). */
COGMEM_API int cogmem_episode_remove(cogmem_store *store, uint64_t id);

/* ------------------------------------------------------ zero-copy vectors */

/* An immutable, refcounted embedding owned by the store. */
typedef struct cogmem_vec cogmem_vec;

/* Take a reference to the current embedding of node `id` (a concept's
 * centroid or an episode's embedding) into *out. The vector's data never
 * changes while referenced, even if the node's centroid is replaced or the
 * node removed; release it with cogmem_vec_put(). No copy is made.
 * Errors: -EINVAL, -ENOENT. Thread-safe, lock-free; a reference may be put
 * by any thread. */
COGMEM_API int cogmem_vec_get(cogmem_store *store, uint64_t id,
                              const cogmem_vec **out);

/* The vector's dim floats, 64-byte aligned. Valid until cogmem_vec_put(). */
COGMEM_API const float *cogmem_vec_data(const cogmem_vec *v);

/* The vector's dimension (the store's dim). */
COGMEM_API uint32_t cogmem_vec_dim(const cogmem_vec *v);

/* The vector's L2 norm, computed once when it was created. */
COGMEM_API float cogmem_vec_norm(const cogmem_vec *v);

/* The id of the node the vector was created for. */
COGMEM_API uint64_t cogmem_vec_id(const cogmem_vec *v);

/* Drop a reference taken by cogmem_vec_get(). NULL is ignored. After the
 * call the caller must not touch v. Thread-safe. */
COGMEM_API void cogmem_vec_put(const cogmem_vec *v);

#include "cogmem_bind.h" /* bindings, decay, spreading, ACT-R */

#ifdef __cplusplus
}
#endif

#include "cogmem_stats.h"
#include "cogmem_recall.h" /* cogmem_recall(), cogmem_recall_batch() */
#include "cogmem_persist.h" /* store directory, snapshots, journal */
#include "cogmem_life.h"   /* formation, consolidation, forgetting */

#endif /* COGMEM_H */
