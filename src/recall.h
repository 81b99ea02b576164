/* cogmem — the recall scan engine shared by cogmem_recall() and
 * cogmem_recall_batch() (internal). */
#ifndef COGMEM_SRC_RECALL_H
#define COGMEM_SRC_RECALL_H

#include <stddef.h>
#include <stdint.h>

#include "cogmem_recall.h"
#include "src/store.h"

/* Heaps up to this k search for duplicate ids linearly. */
#define COGMEM__TOPK_LINEAR 64

/* One slot of a heap's id index. */
struct cogmem__tslot {
    uint64_t id;
    uint64_t pos;
};

_Static_assert(sizeof(struct cogmem__tslot) == 16,
               "recall_batch carves heaps and id indexes in 16-byte units");

/* Slots of the id index of a heap of k (0 for k <= COGMEM__TOPK_LINEAR):
 * a power of two >= 2k. */
static inline size_t cogmem__topk_slots(size_t k)
{
    if (k <= COGMEM__TOPK_LINEAR)
        return 0;
    size_t n = 2 * COGMEM__TOPK_LINEAR;
    while (n < 2 * k)
        n *= 2;
    return n;
}

/* A candidate: 16 bytes so that a k-heap of them is dense. */
struct cogmem__cand {
    float score;
    int32_t kind;
    uint64_t id;
};

/* The k best so far: a heap whose root is the worst kept candidate (lowest
 * score; among equal scores the highest id), ids unique. */
struct cogmem__topk {
    struct cogmem__cand *h;
    size_t k, n;
    /* For k > COGMEM__TOPK_LINEAR: where each id sits in h (open
     * addressing, id 0 = empty, tmask + 1 >= 2k slots), so that the
     * per-offer "is this id already here" is O(1) instead of O(k). NULL:
     * a linear search, cheaper for small k. */
    struct cogmem__tslot *tab;
    size_t tmask;
};

/* One query of a scan. */
struct cogmem__rq {
    const float *q;
    float qnorm; /* 1 for the dot metric */
    struct cogmem__topk top;
};

/* What every scan of one call shares (read-only during the scan). */
struct cogmem__rscan {
    cogmem_store *st;
    cogmem_recall_params p; /* validated, full-size copy */
    int blend;              /* weights other than (1, 0, 0) */
    float rec_bound;        /* max(w_recency, 0): recency is in (0, 1] */
    uint64_t now;
    double inv_half_life;
};

/* Validate and complete the params (NULL: defaults) into sc. 0/-EINVAL. */
int cogmem__recall_prepare(struct cogmem__rscan *sc, cogmem_store *st,
                           const cogmem_recall_params *p);

/* -EINVAL unless query is usable with the metric; sets *qnorm. */
int cogmem__recall_check_query(const struct cogmem__rscan *sc, const float *q,
                               float *qnorm);

/* Scan rows [lo, hi) of `kind`'s slab for the nq queries, updating their
 * heaps. The queries must be contiguous (qs[j].q == qs[0].q + j * dim),
 * as a batch's are: the scan scores groups of them with one
 * cogmem_dot_block call. Takes the RCU read lock itself (one section for the whole call). */
void cogmem__recall_scan(const struct cogmem__rscan *sc, struct cogmem__rq *qs,
                         size_t nq, enum cogmem_kind kind, uint32_t lo,
                         uint32_t hi);

/* The exact score of vector v for query rq (dot, or cosine with the
 * double fallback where the norms' product leaves f32's safe range): the
 * one definition both the scan and the approximate path use, so they
 * return identical scores. */
float cogmem__recall_score_vec(const struct cogmem__rscan *sc, const struct cogmem__rq *rq,
                               struct cogmem_vec *v);

/* A similarity blended with node n's recency and activation by the
 * params' weights (sc->blend set). Caller holds the RCU read lock. */
float cogmem__recall_blend(const struct cogmem__rscan *sc, float sim,
                           struct cogmem__node *n, enum cogmem_kind kind);

/* Offer a finished candidate (already validated and filtered). */
void cogmem__topk_offer(struct cogmem__topk *t, float score, int kind,
                        uint64_t id);

/* Sort t's candidates best first into out (as hits); returns the count. */
size_t cogmem__topk_emit(struct cogmem__topk *t, cogmem_recall_hit *out);

/* The approximate path of cogmem_recall (src/ann_recall.c; cogmem_recall.h
 * has the rules): the result, an error, or COGMEM__ANN_EXACT when the call
 * is the exact scan's (no index, not asked for, an argument the exact path
 * rejects, or the fallback). */
#define COGMEM__ANN_EXACT 1
int cogmem__ann_recall(cogmem_store *st, const float *query, unsigned kinds, size_t k,
                       const cogmem_recall_params *p, cogmem_recall_hit *out,
                       size_t *n_out);

#endif /* COGMEM_SRC_RECALL_H */
