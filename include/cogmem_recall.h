/* cogmem — top-k similarity recall over concepts and episodes.
 *
 * A recall scores the query against every embedding of the requested kinds
 * by a linear pass over the kinds' slabs (contiguous 64-byte aligned rows;
 * see shards/slab.h) with the batch kernels of cogmem_simd.h, and keeps the
 * k best. It is exact: no index, no approximation -- unless the store was
 * opened with cfg.index and the params ask for `approximate` (see
 * "Approximate recall" below).
 *
 * Guarantees while other threads add, replace and remove (the call is the
 * interval from entry to return):
 *  - no crash, torn row or freed row is ever read;
 *  - a node whose add returned before the call and which is not removed
 *    before the call returns is always scored (with its embedding or
 *    centroid as of some instant during the call);
 *  - a node whose remove returned before the call is never returned;
 *  - an id appears at most once in a result.
 * Nodes added, replaced or removed during the call may or may not count.
 *
 * Caveat: a call holds one RCU read-side section for its whole scan, so
 * vectors removed or replaced meanwhile are reclaimed (their rows reused)
 * only after it returns.
 */
#ifndef COGMEM_RECALL_H
#define COGMEM_RECALL_H

#include <stddef.h>
#include <stdint.h>

#include "cogmem_export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Opaque store handle (the same typedef as in cogmem.h). */
typedef struct cogmem_store cogmem_store;

/* Similarity measures. */
enum cogmem_metric {
    COGMEM_METRIC_COSINE = 0, /* dot / (|q| |row|), the default */
    COGMEM_METRIC_DOT = 1     /* plain inner product */
};

/* One result. For recall, `score` is the ranking score: the similarity, or
 * the blended score when recency or activation weights are set. `kind` is
 * COGMEM_CONCEPT or COGMEM_EPISODE. (Spreading activation has its own hit
 * type, whose field is the activation.) */
typedef struct cogmem_recall_hit {
    uint64_t id;
    int kind;
    float score;
} cogmem_recall_hit;

/* Optional filter: return non-zero to keep the node. It is called only for
 * nodes whose score would place them in the current top k (so usually far
 * fewer times than there are rows), at most a few times per node, inside an
 * RCU read-side section: it must not call cogmem_close() or
 * cogmem_reserve() and should be quick. With cogmem_recall_batch() it may
 * run on library threads, concurrently: it must be thread-safe. */
typedef int (*cogmem_recall_filter_fn)(uint64_t id, int kind, void *arg);

typedef struct cogmem_recall_params {
    /* sizeof(cogmem_recall_params) as the caller compiled it. */
    size_t struct_size;
    /* enum cogmem_metric. Default COGMEM_METRIC_COSINE. */
    int metric;
    /* Results scoring below this (the final, possibly blended, score) are
     * not returned. Default -INFINITY. NaN is -EINVAL. */
    float min_score;
    /* Optional filter and its argument. Default NULL. */
    cogmem_recall_filter_fn filter;
    void *filter_arg;
    /* Blended ranking: score = w_sim * similarity + w_recency * recency
     * + w_act * activation, where recency = 2^(-(now - t) / half_life) in
     * (0, 1] (1 for t >= now) with t an episode's time_ns or a concept's
     * last centroid change (touched_ns), and activation the node's stored
     * activation. Default 1, 0, 0: plain similarity. Any non-default weight
     * costs a record lookup for each row that could enter the top k (every
     * row when w_act != 0). */
    float w_sim;
    float w_recency;
    float w_act;
    /* Half-life of recency, > 0. Default one hour. */
    uint64_t half_life_ns;
    /* "Now" for recency, in the host's time base; 0 (default) means
     * CLOCK_REALTIME at the call. */
    uint64_t now_ns;
    /* cogmem_recall_batch(): at most this many threads including the
     * caller's; 0 (default) means the number of online CPUs. */
    unsigned threads;
    /* cogmem_recall_batch() stays on the caller's thread when queries x
     * rows x dim is below this. Default 1 << 23 (a few milliseconds). */
    uint64_t parallel_min_work;
    /* cogmem_recall() only, on a store opened with cfg.bf16_rows: non-zero
     * scans the rows' bfloat16 copies (half the bytes), keeps the
     * bf16_rerank * k best by that approximate score (per kind), and
     * re-ranks them exactly in f32. The result is approximate: a node whose
     * exact score is in the top k can be missed if its bf16 score falls
     * outside the candidates (bench/recall reports recall@10 against
     * exact); scores returned are exact, and the removal guarantee holds.
     * Ignored without bf16 rows. Default 0. */
    int bf16;
    /* Candidates per result for the bf16 scan, >= 1. Default 4. */
    uint32_t bf16_rerank;
    /* cogmem_recall() only: non-zero records a presentation
     * (cogmem_touch) of every returned hit at now_ns (0: CLOCK_REALTIME at
     * the call), so retrieval feeds ACT-R base levels and
     * cogmem_forget's retention. A hit removed meanwhile, or whose
     * history cannot be allocated, is not touched; the recall still
     * succeeds. Default 0. */
    int32_t touch;
    /* cogmem_recall() only, on a store opened with cfg.index: non-zero
     * searches the kinds' graph indexes instead of scanning every row (see
     * "Approximate recall" below). Ignored without an index. Default 0. */
    int32_t approximate;
    /* Candidates the graph search keeps per kind (larger: higher recall,
     * slower), in [1, 65536]; 0 (default) means cfg.index_ef_search. At
     * least k candidates are always examined. */
    uint32_t ef;
} cogmem_recall_params;

/* Approximate recall (p->approximate on a store with cfg.index).
 *  - Each requested kind's graph is searched for max(ef, k) candidates
 *    (similarity through the vector each graph node was last given), and
 *    every node whose add is still linking (the index's "tail", at most
 *    128 nodes) is scored exactly. Each candidate is then treated as the
 *    exact scan treats a row that could enter the top k: looked up among
 *    the live nodes, scored exactly with its current vector, blended,
 *    checked against min_score and the filter. Scores are exact; the
 *    result may miss nodes the exact scan would return (bench/ann reports
 *    recall@10 against exact).
 *  - Guarantees kept: a node whose remove returned before the call is
 *    never returned; an id appears at most once.
 *  - Reachability: the index repairs itself inside removes and centroid
 *    changes (once tombstones reach 1/10 of the linked nodes), a bounded
 *    slice of a repair pass per call (cogmem.h, cfg.index); each pass
 *    ends by linking back every live node no walk from the graph's entry
 *    point reaches. Right after a pass that ran with no concurrent add or
 *    centroid change, every live node is reachable (the removes that run
 *    its slices only leave tombstones, which walks go through). Adds in between can prune away the only way into a group
 *    of nodes (with clustered data, a cluster), which searches then miss
 *    until the next pass; the guarantees above hold throughout.
 *  - Blended ranking re-ranks the similarity candidates only (a node far
 *    from the query but very recent or active can be missed).
 *  - Fallback to the exact scan, counted in cogmem_stats.index_fallbacks:
 *    when the filter turned candidates down and fewer than k passed (a
 *    selective filter: roughly one passing node in ef/k or rarer), and
 *    when the search cannot get scratch memory. min_score alone never
 *    falls back: fewer than k results above it is an answer.
 *  - Errors: as the exact path's, and -EINVAL for ef > 65536 (checked
 *    with or without an index).
 *  - p->bf16 is ignored on this path. */

/* Fill *p with the defaults above and p->struct_size. Thread-safe. */
COGMEM_API void cogmem_recall_params_init(cogmem_recall_params *p);

/* Top-k recall of `query` (exact unless p->approximate, above) (dim floats, read during the call only)
 * over the kinds in `kinds` (COGMEM_CONCEPT, COGMEM_EPISODE or both). Writes
 * up to k hits to out[], best first, equal scores by lower id, and their
 * number to *n_out: min(k, nodes that pass min_score and the filter).
 * A NaN score passes no min_score: with the dot metric, a row whose
 * product with the query overflows float to inf - inf (huge vectors of
 * both signs) is not returned; one that overflows to +-inf scores +-inf.
 * p may be NULL (defaults). Runs on the calling thread.
 * Scratch: a heap of min(k, rows) 16-byte entries, rows being the slab
 * rows of the kinds in use when the scan starts (on the stack up to 64),
 * plus with bf16 min(k * bf16_rerank, rows) candidates: memory and work are
 * bounded by what the store holds, whatever k (k = SIZE_MAX on an empty
 * store allocates nothing). Cosine: dot / (|q| |row|) in f32, or in double
 * for a row where the f32 product of the norms leaves [2^-60, 2^100] (tiny
 * or huge vectors), so such rows score right too. Errors: -EINVAL (NULL
 * store/query/n_out, NULL out with k > 0, bad kinds, bad params, NaN/Inf in
 * the query, a zero query with cosine, or one whose norm overflows float),
 * -ENOMEM (the scratch). On error *n_out is 0.
 * Thread-safe, concurrent with every call but cogmem_close(); see the
 * guarantees at the top of this header. */
COGMEM_API int cogmem_recall(cogmem_store *store, const float *query,
                             unsigned kinds, size_t k,
                             const cogmem_recall_params *p,
                             cogmem_recall_hit *out, size_t *n_out);

/* cogmem_recall() for nq queries (queries + i * dim) in one pass over the
 * slabs: each block of rows is scored against every query while it is in
 * cache, so a batch reads memory once instead of nq times. Query i's hits
 * go to out + i * k and their number to n_out[i].
 *
 * Threads: above p->parallel_min_work the rows are split into contiguous
 * ranges over up to p->threads threads (the caller's plus threads created
 * for this call, with every signal blocked, and joined before return); the
 * per-range top-k lists are merged. No pool is shared between calls: many
 * host threads calling at once each get their own workers, which
 * oversubscribes the CPUs (results stay correct, throughput is shared).
 * Hosts that already run recalls from many threads should set threads = 1.
 * If a thread cannot be created the caller scans its range itself.
 * Scratch: threads x nq x min(k, rows) heap entries (rows as in
 * cogmem_recall()); nq x dim floats and (nq - 1) x k hits must be
 * addressable (else -EINVAL, with n_out untouched).
 * Errors: as cogmem_recall(), checked for every query before any scan
 * (-EINVAL names no query: none is run). Thread-safe as cogmem_recall(). */
COGMEM_API int cogmem_recall_batch(cogmem_store *store, const float *queries,
                                   size_t nq, unsigned kinds, size_t k,
                                   const cogmem_recall_params *p,
                                   cogmem_recall_hit *out, size_t *n_out);

#ifdef __cplusplus
}
#endif

#endif /* COGMEM_RECALL_H */
