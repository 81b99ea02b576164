/* cogmem — exact top-k recall: the slab scan and cogmem_recall().
 *
 * A scan reads each row's state word (acquire) for a block of rows, runs
 * cogmem_dot_batch over each maximal run of CURRENT rows (the kernel never
 * reads a row that is being written: UNPUB rows are skipped, and a CURRENT
 * row's data was written before the release that made it CURRENT and is
 * immutable until the row is reused, which needs a grace period that our
 * read-side section holds off), then offers the scores to each query's heap.
 *
 * Why the guarantees of cogmem_recall.h hold:
 *
 * Removed before the call => never returned. Nothing enters a heap without
 * VALIDATION: a lookup of the id among the LIVE nodes of its kind and an
 * acquire load of the node's current vector. A node whose remove returned
 * is DEAD and unlinked, so the lookup fails (if the id was added again, the
 * new node is live and its own current vector is what gets scored).
 * Validation runs only for rows whose score would enter the top k, i.e.
 * about k ln(n/k) times per query, not per row.
 *
 * Added before the call and not removed => scored. Let X be such a node.
 * At any instant while X is live, some row of X is CURRENT or REPLACED and
 * not yet queued for reclamation: X's current vector v_m is such a row if
 * its adder/replacer already marked it; otherwise that replacer is still
 * running and holds (un-dropped) the previous vector v_{m-1}, which it
 * marks REPLACED before dropping; and so on down to the add's row, which
 * the add marked CURRENT before returning (src/lifecycle.c, src/concept.c). Take
 * that row r at the instant the scan's read-side section begins: r cannot
 * be reclaimed during the section (its free is queued later, so the grace
 * period waits for us), and its state can only move to REPLACED (REMOVED
 * needs X's removal). When the scan reaches r it reads CURRENT -- scored
 * from r's own data and, if it would enter the heap, validated (X is live;
 * if r is no longer X's vector the current one is scored instead) -- or
 * REPLACED, for which the scan always looks X up and scores its current
 * vector. Either way X is offered with a score it had during the call.
 * r's index is below the slab extent the scan reads after taking the lock
 * (r was allocated earlier). A batch that splits the rows over threads
 * reads the extent once, so its caller holds a section from that read until
 * every range is done (src/recall_batch.c): the stress test caught a node
 * missed when that section was missing (its row reclaimed and its new row
 * allocated past the extent before a worker's section began).
 *
 * An id can be offered twice (two rows of X during a replacement); the heap
 * keeps the higher score, so the result is the top k of one consistent
 * choice of a vector per node.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "simd/cosine_wide.h"
#include "simd/ge_mask.h"
#include "src/recall.h"

/* Rows per block: the state words, run list and scores of a block stay in
 * L1, and in a batch the block's rows (up to ~256 KiB) stay in L2 while
 * every query is scored against them. */
#define BLOCK_MAX 256u
#define BLOCK_BYTES (256u << 10)
#define SINGLE_BLOCK_BYTES (64u << 10)
/* One query: rows per block (state pass, then the kernel). */
#define SINGLE_BLOCK_ROWS 64u

void cogmem_recall_params_init(cogmem_recall_params *p)
{
    if (!p)
        return;
    memset(p, 0, sizeof *p);
    p->struct_size = sizeof *p;
    p->metric = COGMEM_METRIC_COSINE;
    p->min_score = -INFINITY;
    p->w_sim = 1.0f;
    p->half_life_ns = 3600ull * 1000000000ull;
    p->parallel_min_work = 1ull << 23;
    p->bf16_rerank = 4;
}

/* The first cogmem_recall_params the library shipped. */
#define PARAMS_V1_SIZE (offsetof(cogmem_recall_params, parallel_min_work) + sizeof(uint64_t))

int cogmem__recall_prepare(struct cogmem__rscan *sc, cogmem_store *st,
                           const cogmem_recall_params *p)
{
    cogmem_recall_params_init(&sc->p);
    if (p) {
        if (p->struct_size < PARAMS_V1_SIZE)
            return -EINVAL;
        memcpy(&sc->p, p, p->struct_size < sizeof sc->p ? p->struct_size : sizeof sc->p);
        sc->p.struct_size = sizeof sc->p;
    }
    const cogmem_recall_params *q = &sc->p;
    if ((q->metric != COGMEM_METRIC_COSINE && q->metric != COGMEM_METRIC_DOT) ||
        isnan(q->min_score) || !isfinite(q->w_sim) || !isfinite(q->w_recency) ||
        !isfinite(q->w_act) || q->half_life_ns == 0 || q->bf16_rerank == 0)
        return -EINVAL;
    sc->st = st;
    sc->blend = q->w_sim != 1.0f || q->w_recency != 0.0f || q->w_act != 0.0f;
    sc->rec_bound = q->w_recency > 0.0f ? q->w_recency : 0.0f;
    sc->now = q->now_ns ? q->now_ns : cogmem__now_ns();
    sc->inv_half_life = 1.0 / (double)q->half_life_ns;
    return 0;
}

int cogmem__recall_check_query(const struct cogmem__rscan *sc, const float *q,
                               float *qnorm)
{
    if (sc->p.metric == COGMEM_METRIC_DOT) {
        if (!q || cogmem__check_finite(q, sc->st->dim))
            return -EINVAL;
        *qnorm = 1.0f;
        return 0;
    }
    /* The check and the norm in one pass, as for a stored vector
     * (cogmem__check_vector): the same kernel, the same bits on every ISA. */
    double ss;
    if (cogmem__check_vector(q, sc->st->dim, &ss))
        return -EINVAL;
    float n = (float)sqrt(ss);
    if (n == 0.0f || !isfinite(n))
        return -EINVAL;
    *qnorm = n;
    return 0;
}

/* ------------------------------------------------------------- the heap */

/* a is worse than b: lower score, or equal score and higher id. */
static inline int worse(float as, uint64_t aid, float bs, uint64_t bid)
{
    return as < bs || (as == bs && aid > bid);
}

/* The score a row must reach to be worth offering: any while the heap is
 * not full, else the worst kept (offer_row makes the exact decision). */
static inline float top_bar(const struct cogmem__topk *t)
{
    return t->n < t->k ? -INFINITY : t->h[0].score;
}

/* Would (s, id) enter the heap? NaN never does (and min_score has been
 * applied by the caller). */
static inline int admits(const struct cogmem__topk *t, float s, uint64_t id)
{
    if (t->n < t->k)
        return s == s;
    return worse(t->h[0].score, t->h[0].id, s, id);
}

/* The id index (struct cogmem__topk.tab): linear probing, deletion by
 * backward shift, so no tombstones accumulate over a long scan. */
static inline size_t tab_home(const struct cogmem__topk *t, uint64_t id)
{
    return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 20) & t->tmask;
}

static size_t tab_slot(const struct cogmem__topk *t, uint64_t id)
{
    size_t i = tab_home(t, id);
    while (t->tab[i].id && t->tab[i].id != id)
        i = (i + 1) & t->tmask;
    return i;
}

/* h[pos] now holds id. */
static inline void tab_put(struct cogmem__topk *t, uint64_t id, size_t pos)
{
    if (!t->tab)
        return;
    size_t i = tab_slot(t, id);
    t->tab[i].id = id;
    t->tab[i].pos = pos;
}

static void tab_del(struct cogmem__topk *t, uint64_t id)
{
    size_t i = tab_slot(t, id);
    t->tab[i].id = 0;
    for (size_t j = (i + 1) & t->tmask; t->tab[j].id; j = (j + 1) & t->tmask) {
        size_t h = tab_home(t, t->tab[j].id);
        /* j's entry may move to the hole at i unless its home lies
         * cyclically in (i, j]. */
        if (i <= j ? (h > i && h <= j) : (h > i || h <= j))
            continue;
        t->tab[i] = t->tab[j];
        t->tab[j].id = 0;
        i = j;
    }
}

static void sift_down(struct cogmem__topk *t, size_t i)
{
    struct cogmem__cand c = t->h[i];
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= t->n)
            break;
        size_t r = l + 1;
        size_t m = (r < t->n && worse(t->h[r].score, t->h[r].id, t->h[l].score, t->h[l].id)) ? r : l;
        if (!worse(t->h[m].score, t->h[m].id, c.score, c.id))
            break;
        t->h[i] = t->h[m];
        tab_put(t, t->h[i].id, i);
        i = m;
    }
    t->h[i] = c;
    tab_put(t, c.id, i);
}

static void sift_up(struct cogmem__topk *t, size_t i)
{
    struct cogmem__cand c = t->h[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!worse(c.score, c.id, t->h[p].score, t->h[p].id))
            break;
        t->h[i] = t->h[p];
        tab_put(t, t->h[i].id, i);
        i = p;
    }
    t->h[i] = c;
    tab_put(t, c.id, i);
}

void cogmem__topk_offer(struct cogmem__topk *t, float score, int kind,
                        uint64_t id)
{
    if (!admits(t, score, id))
        return;
    /* Ids are unique in the heap: a second row of one node (a replacement
     * seen half-way) only raises its score. Found through the id index
     * for a large k (O(1)), by a scan of at most COGMEM__TOPK_LINEAR
     * entries otherwise. */
    size_t at = t->n;
    if (t->tab) {
        size_t sl = tab_slot(t, id);
        if (t->tab[sl].id == id)
            at = (size_t)t->tab[sl].pos;
    } else {
        for (size_t i = 0; i < t->n; i++)
            if (t->h[i].id == id) {
                at = i;
                break;
            }
    }
    if (at < t->n) {
        if (score > t->h[at].score) {
            t->h[at].score = score;
            t->h[at].kind = kind;
            sift_down(t, at); /* better means further from the root */
        }
        return;
    }
    struct cogmem__cand c = {score, kind, id};
    if (t->n < t->k) {
        t->h[t->n] = c;
        sift_up(t, t->n++);
    } else {
        if (t->tab)
            tab_del(t, t->h[0].id);
        t->h[0] = c;
        sift_down(t, 0);
    }
}

static int cmp_best_first(const void *a, const void *b)
{
    const struct cogmem__cand *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

size_t cogmem__topk_emit(struct cogmem__topk *t, cogmem_recall_hit *out)
{
    qsort(t->h, t->n, sizeof *t->h, cmp_best_first);
    for (size_t i = 0; i < t->n; i++) {
        out[i].id = t->h[i].id;
        out[i].kind = t->h[i].kind;
        out[i].score = t->h[i].score;
    }
    return t->n;
}

/* ------------------------------------------------------------- scanning */

/* Products of norms outside this range may have lost the dot (its terms
 * under- or overflowed in f32): such rows are scored in double. */
#define WIDE_LO 0x1p-60f
#define WIDE_HI 0x1p100f

static inline float similarity(const struct cogmem__rscan *sc, float dot,
                               const struct cogmem__rq *rq, const struct cogmem_vec *v)
{
    if (sc->p.metric == COGMEM_METRIC_DOT)
        return dot;
    /* One f32 division by the f32 product of the norms, as
     * cogmem_cosine_batch computes it, unless that product under- or
     * overflows (a stored 1.4e-45 or FLT_MAX), or either norm is an f32
     * denormal, which has lost digits even where the product is in range
     * (a query of 3 x -1.4e-45 against 3 x 2e30 scored -0.866 for -1):
     * then in double, where every product of two floats is exact. */
    float den = rq->qnorm * v->norm;
    if (den >= WIDE_LO && den <= WIDE_HI && rq->qnorm >= FLT_MIN && v->norm >= FLT_MIN)
        return dot / den;
    /* Both norms again in double: a stored norm that is an f32 denormal
     * (a vector of 1e-45s) has lost digits. */
    return cogmem__cosine_wide(rq->q, cogmem__vec_data((struct cogmem_vec *)v),
                               v->dim, 0.0f, 0.0f);
}

float cogmem__recall_score_vec(const struct cogmem__rscan *sc, const struct cogmem__rq *rq,
                               struct cogmem_vec *v)
{
    float d;
    cogmem_dot_batch(rq->q, cogmem__vec_data(v), 1, v->dim, v->dim, &d);
    return similarity(sc, d, rq, v);
}

float cogmem__recall_blend(const struct cogmem__rscan *sc, float sim,
                           struct cogmem__node *n, enum cogmem_kind kind)
{
    /* Relaxed: single fields, each a value the node had during the call. */
    uint64_t t = kind == COGMEM_EPISODE
                     ? atomic_load_explicit(&n->stamp, memory_order_relaxed)
                     : atomic_load_explicit(&n->touched_ns, memory_order_relaxed);
    double rec = t >= sc->now ? 1.0 : exp2(-(double)(sc->now - t) * sc->inv_half_life);
    float act = cogmem__u2f(atomic_load_explicit(&n->activation_bits, memory_order_relaxed));
    return sc->p.w_sim * sim + sc->p.w_recency * (float)rec + sc->p.w_act * act;
}

/* Validate and offer node `id`, seen through row `row` whose similarity is
 * `sim` (row NULL or stale: score the node's current vector). Caller holds
 * the RCU read lock. */
static void offer_node(const struct cogmem__rscan *sc, struct cogmem__rq *rq,
                       struct cogmem__set *set, enum cogmem_kind kind,
                       uint64_t id, struct cogmem_vec *row, float sim)
{
    struct cogmem__node *n = cogmem__set_find(set, id, cogmem__hash(sc->st, id),
                                              COGMEM__FIND_LIVE);
    if (!n)
        return; /* removed (or not yet committed) */
    /* Acquire: pairs with the release that published the vector's data. */
    struct cogmem_vec *cur = atomic_load_explicit(&n->vec, memory_order_acquire);
    if (!cur)
        return; /* removed since the lookup */
    if (cur != row)
        sim = cogmem__recall_score_vec(sc, rq, cur);
    float s = sc->blend ? cogmem__recall_blend(sc, sim, n, kind) : sim;
    if (!(s >= sc->p.min_score) || !admits(&rq->top, s, id))
        return;
    if (sc->p.filter && !sc->p.filter(id, (int)kind, sc->p.filter_arg))
        return;
    cogmem__topk_offer(&rq->top, s, (int)kind, id);
}

/* A CURRENT row with similarity sim: cheap rejection first. */
static inline void offer_row(const struct cogmem__rscan *sc, struct cogmem__rq *rq,
                             struct cogmem__set *set, enum cogmem_kind kind,
                             struct cogmem_vec *v, float sim)
{
    if (!sc->blend) {
        if (!(sim >= sc->p.min_score) || !admits(&rq->top, sim, cogmem__vec_id(v)))
            return;
    } else if (sc->p.w_act == 0.0f) {
        /* Recency is at most 1: an upper bound of the blended score. */
        float ub = sc->p.w_sim * sim + sc->rec_bound;
        if (!(ub >= sc->p.min_score) || !admits(&rq->top, ub, cogmem__vec_id(v)))
            return;
    }
    offer_node(sc, rq, set, kind, cogmem__vec_id(v), v, sim);
}

/* Queries scored together against a block: their scores fit in 32 KiB of
 * stack, and cogmem_dot_block keeps the block's rows in L1/L2 while the
 * group's queries stream past them. */
#define QGROUP 32u

/* Rows [0, nrows) of a block: headers from `first` (64 bytes apart), f32
 * data from `data` (sl->stride bytes apart), see shards/slab.h. */
static void scan_block(const struct cogmem__rscan *sc, struct cogmem__rq *qs,
                       size_t nq, struct cogmem__set *set, enum cogmem_kind kind,
                       char *first, const char *data, uint32_t nrows)
{
    const struct cogmem__slab *sl = &set->kind.slab;
    const size_t stride = sl->stride, hs = sizeof(struct cogmem_vec);
    uint8_t state[BLOCK_MAX];
    uint16_t run_at[BLOCK_MAX], run_len[BLOCK_MAX];
    /* Bit i: row i is CURRENT, i.e. dot[][i] was written. */
    uint64_t cur[BLOCK_MAX / 64] = {0};
    float dot[QGROUP][BLOCK_MAX];
    size_t nruns = 0, nstale = 0;
    size_t pc = SINGLE_BLOCK_BYTES / stride;
    const uint32_t piece = pc < 16 ? 16u : (uint32_t)(pc & ~(size_t)15);

    for (uint32_t i = 0; i < nrows; i++) {
        struct cogmem_vec *v = (struct cogmem_vec *)(first + i * hs);
        /* Acquire: a CURRENT row's data and header were written before the
         * release that made it CURRENT (slab.h). */
        uint32_t s = atomic_load_explicit(&v->state, memory_order_acquire);
        state[i] = (uint8_t)s;
        if (s == COGMEM__ROW_CURRENT) {
            cur[i / 64] |= (uint64_t)1 << (i % 64);
            if (nruns && run_at[nruns - 1] + run_len[nruns - 1] == i)
                run_len[nruns - 1]++;
            else {
                run_at[nruns] = (uint16_t)i;
                run_len[nruns++] = 1;
            }
        } else if (s == COGMEM__ROW_REPLACED) {
            nstale++;
        }
    }
    for (size_t j0 = 0; j0 < nq; j0 += QGROUP) {
        size_t g = nq - j0 < QGROUP ? nq - j0 : QGROUP;
        for (size_t r = 0; r < nruns; r++) {
            const float *rd = (const float *)(data + (size_t)run_at[r] * stride);
            if (nq == 1) {
                /* Pieces of <= 64 KiB (16-row multiples when dim allows):
                 * the dot kernel's DRAM pass, 16 row streams in flight (a
                 * larger call would get its 4-row L2/L3 pass). */
                for (uint32_t i = 0; i < run_len[r]; i += piece) {
                    uint32_t m = run_len[r] - i < piece ? run_len[r] - i : piece;
                    cogmem_dot_batch(qs[0].q, rd + (size_t)i * (stride / sizeof(float)),
                                     m, sl->dim, stride / sizeof(float),
                                     &dot[0][run_at[r] + i]);
                }
            } else {
                /* A batch's queries are contiguous (recall.h): one kernel
                 * call scores the whole group against the run. */
                cogmem_dot_block(qs[j0].q, g, sl->dim, rd, run_len[r], sl->dim,
                                 stride / sizeof(float), &dot[0][run_at[r]], BLOCK_MAX);
            }
        }
        for (size_t j = 0; j < g; j++) {
            struct cogmem__rq *rq = &qs[j0 + j];
            const float *d = dot[j];
            /* Without blending, similarities at or above this can enter
             * the heap; the bound is refreshed only when a row gets in
             * (rare after the first k), so the common row costs one
             * compare (offer_row makes the exact decision). */
            float bar = top_bar(&rq->top);
            if (!sc->blend && sc->p.metric == COGMEM_METRIC_DOT) {
                /* The similarity is the dot: one 16-lane compare per 16
                 * rows against the bar at the block's start, and only
                 * the rows it passes are looked at. The bar only rises
                 * during the block, so each is tested again against the
                 * current one: the rows offered are the loop's below. */
                uint64_t pass[BLOCK_MAX / 64];
                cogmem__ge_mask(d, nrows, bar, cur, pass);
                for (uint32_t w = 0; w * 64 < nrows; w++)
                    for (uint64_t bits = pass[w]; bits; bits &= bits - 1) {
                        uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(bits);
                        if (!(d[i] >= bar))
                            continue;
                        offer_row(sc, rq, set, kind,
                                  (struct cogmem_vec *)(first + i * hs), d[i]);
                        bar = top_bar(&rq->top);
                    }
            } else {
                for (size_t r = 0; r < nruns; r++) {
                    for (uint32_t i = run_at[r]; i < (uint32_t)run_at[r] + run_len[r]; i++) {
                        struct cogmem_vec *v = (struct cogmem_vec *)(first + i * hs);
                        float sim = similarity(sc, d[i], rq, v);
                        if (!sc->blend && !(sim >= bar))
                            continue;
                        offer_row(sc, rq, set, kind, v, sim);
                        bar = top_bar(&rq->top);
                    }
                }
            }
            if (nstale) {
                /* A replaced centroid: its own score is stale and the
                 * node's current row may already be behind us, so always
                 * score the node's current vector (see the top of this
                 * file). */
                for (uint32_t i = 0; i < nrows; i++) {
                    if (state[i] != COGMEM__ROW_REPLACED)
                        continue;
                    struct cogmem_vec *v = (struct cogmem_vec *)(first + i * hs);
                    /* Unlike a CURRENT row, a REPLACED one may have been
                     * queued for reuse before our section began, and be
                     * reused under us: its id is only a hint, and
                     * offer_node scores whatever live node has it (the
                     * dedupe keeps one entry). The row that matters -- X's
                     * -- is not queued (top of file). */
                    offer_node(sc, rq, set, kind, cogmem__vec_id(v), NULL, 0.0f);
                }
            }
        }
    }
}

void cogmem__recall_scan(const struct cogmem__rscan *sc, struct cogmem__rq *qs,
                         size_t nq, enum cogmem_kind kind, uint32_t lo,
                         uint32_t hi)
{
    struct cogmem__set *set = cogmem__set_of(sc->st, kind);
    struct cogmem__slab *sl = &set->kind.slab;
    uint32_t used = cogmem__slab_used(sl);
    if (hi > used)
        hi = used;
    uint32_t rpc = sl->rows_per_chunk;
    /* One query: SINGLE_BLOCK_ROWS rows (their headers: 4 KiB of state
     * words read as one stream, then the rows' data). A batch: blocks that stay in L2 while
     * every query is scored against them, a multiple of 12 rows so that
     * a full block of CURRENT rows runs cogmem_dot_block's 6-row tiles
     * only (its 4-row edge and single rows are for runs cut by other
     * rows and a chunk's last block). */
    size_t b = nq == 1 ? SINGLE_BLOCK_ROWS : BLOCK_BYTES / sl->stride;
    if (nq > 1) /* whole pairs of the 6-row AVX-512 tile (simd/avx512.c) */
        b = b < 12 ? 12 : b > BLOCK_MAX ? BLOCK_MAX - BLOCK_MAX % 12 : b - b % 12;
    uint32_t block = b < 8 ? 8 : b > BLOCK_MAX ? BLOCK_MAX : (uint32_t)b;
    for (uint32_t at = lo; at < hi;) {
        uint32_t c = at / rpc, slot = at % rpc;
        uint32_t end = (c + 1) * rpc < hi ? rpc : hi - c * rpc;
        char *chunk = cogmem__slab_chunk(sl, c);
        while (slot < end) {
            uint32_t n = end - slot < block ? end - slot : block;
            scan_block(sc, qs, nq, set, kind,
                       chunk + (size_t)slot * sizeof(struct cogmem_vec),
                       cogmem__slab_chunk_data(sl, c) + (size_t)slot * sl->stride, n);
            slot += n;
        }
        at = c * rpc + end;
    }
}

/* ------------------------------------------------------------ bf16 path */

/* Rows per bf16 kernel call: fewer than 16, so that the kernel takes its
 * one-row path and reads each row (1.5 KiB at dim 768) as one sequential
 * run, the next row following it. Its 16-row path interleaves sixteen such
 * short streams, which the hardware prefetchers of this project's Zen 4
 * VM follow badly: measured over 10^5 x 768 flat bf16 rows, 25 GB/s in
 * pieces of 15 rows against 10-13 GB/s in pieces of 16 to 256 (or one
 * call), which made the bf16 recall only 1.2-1.4x the exact one; with
 * pieces of 15 it is 2.3-2.5x. (simd/avx512_bf16.c is where a better
 * 16-row kernel would go; this choice is then to be re-measured.) */
#define BF16_PIECE 15u

/* Candidates of the bf16 scan: a min-heap of (approximate score, row). */
struct bcand {
    float s;
    struct cogmem_vec *v;
};

struct bheap {
    struct bcand *h;
    size_t cap, n;
};

static void bheap_push(struct bheap *b, float s, struct cogmem_vec *v)
{
    if (!(s == s))
        return;
    size_t i;
    if (b->n < b->cap) {
        i = b->n++;
        while (i > 0 && b->h[(i - 1) / 2].s > s) {
            b->h[i] = b->h[(i - 1) / 2];
            i = (i - 1) / 2;
        }
        b->h[i] = (struct bcand){s, v};
        return;
    }
    if (!(s > b->h[0].s))
        return;
    i = 0;
    for (;;) {
        size_t l = 2 * i + 1, m;
        if (l >= b->n)
            break;
        m = (l + 1 < b->n && b->h[l + 1].s < b->h[l].s) ? l + 1 : l;
        if (!(b->h[m].s < s))
            break;
        b->h[i] = b->h[m];
        i = m;
    }
    b->h[i] = (struct bcand){s, v};
}

/* Scan one kind's bf16 copies into the candidate heap; REPLACED rows go
 * straight to the exact path (as in scan_block). Caller holds the RCU read
 * lock, which keeps every candidate row (CURRENT when seen, so not queued
 * for reuse) readable until the re-rank. */
static void scan_bf16(const struct cogmem__rscan *sc, struct cogmem__rq *rq,
                      const uint16_t *q16, enum cogmem_kind kind, struct bheap *b,
                      uint32_t hi)
{
    struct cogmem__set *set = cogmem__set_of(sc->st, kind);
    struct cogmem__slab *sl = &set->kind.slab;
    uint32_t used = cogmem__slab_used(sl), rpc = sl->rows_per_chunk;
    if (used > hi)
        used = hi;
    /* Blocks of 16-row multiples whose bf16 copies fill <= 64 KiB: the bf16
     * kernel's DRAM pass, as for f32 rows. */
    size_t blk = SINGLE_BLOCK_BYTES / sl->bstride;
    uint32_t block = blk < 16 ? 16 : blk > BLOCK_MAX ? BLOCK_MAX : (uint32_t)(blk & ~(size_t)15);
    float dot[BLOCK_MAX];
    for (uint32_t c = 0; c * rpc < used; c++) {
        char *chunk = cogmem__slab_chunk(sl, c);
        const char *b16 = chunk + sl->bf16_base;
        uint32_t end = used - c * rpc < rpc ? used - c * rpc : rpc;
        for (uint32_t at = 0; at < end; at += block) {
            uint32_t n = end - at < block ? end - at : block;
            char *first = chunk + (size_t)at * sizeof(struct cogmem_vec);
            uint32_t run = 0;
            for (uint32_t i = 0; i <= n; i++) {
                struct cogmem_vec *v =
                    (struct cogmem_vec *)(first + (size_t)i * sizeof(struct cogmem_vec));
                uint32_t st = i < n ? atomic_load_explicit(&v->state, memory_order_acquire)
                                    : COGMEM__ROW_FREE;
                if (st == COGMEM__ROW_CURRENT) {
                    run++;
                    continue;
                }
                if (run) { /* score the run of CURRENT rows [i - run, i) */
                    uint32_t s0 = at + i - run;
                    for (uint32_t p0 = 0; p0 < run; p0 += BF16_PIECE) {
                        uint32_t pn = run - p0 < BF16_PIECE ? run - p0 : BF16_PIECE;
                        cogmem_dot_batch_bf16(q16, (const uint16_t *)(b16 + (size_t)(s0 + p0) * sl->bstride),
                                              pn, sl->dim, sl->bstride / sizeof(uint16_t), dot + p0);
                    }
                    for (uint32_t j = 0; j < run; j++) {
                        struct cogmem_vec *w =
                            (struct cogmem_vec *)(chunk + (size_t)(s0 + j) * sizeof(struct cogmem_vec));
                        bheap_push(b, similarity(sc, dot[j], rq, w), w);
                    }
                    run = 0;
                }
                if (st == COGMEM__ROW_REPLACED)
                    offer_node(sc, rq, set, kind, cogmem__vec_id(v), NULL, 0.0f);
            }
        }
    }
    for (size_t i = 0; i < b->n; i++) {
        struct cogmem_vec *v = b->h[i].v;
        offer_row(sc, rq, set, kind, v, cogmem__recall_score_vec(sc, rq, v));
    }
    b->n = 0;
}

/* ---------------------------------------------------------------- public */

/* Heaps up to this size live on the stack. */
#define STACK_K 64

static int recall_body(cogmem_store *store, const float *query, unsigned kinds,
                  size_t k, const cogmem_recall_params *p,
                  cogmem_recall_hit *out, size_t *n_out)
{
    if (n_out)
        *n_out = 0;
    if (!store || !n_out || (k && !out) || !cogmem__kinds_ok(kinds))
        return -EINVAL;
    struct cogmem__rscan sc;
    int rc = cogmem__recall_prepare(&sc, store, p);
    if (rc)
        return rc;
    struct cogmem__rq rq = {.q = query};
    rc = cogmem__recall_check_query(&sc, query, &rq.qnorm);
    if (rc)
        return rc;
    if (k == 0)
        return 0;
    /* One read-side section for the whole call (see the top of the file).
     * The scan reads rows [0, used) of each kind, used read here, inside
     * the section: every node live before the call has a row below it
     * (top of the file), and each row offers at most one id, so a heap of
     * min(k, rows) holds every distinct id the scan can offer. Memory and
     * work are bounded by what the store holds, not by k. */
    cogmem__rcu_lock();
    uint32_t used[2] = {
        (kinds & COGMEM_CONCEPT) ? cogmem__slab_used(&store->sets[0].kind.slab) : 0,
        (kinds & COGMEM_EPISODE) ? cogmem__slab_used(&store->sets[1].kind.slab) : 0};
    size_t rows = (size_t)used[0] + used[1];
    if (k > rows)
        k = rows;
    if (k == 0) {
        cogmem__rcu_unlock();
        return 0;
    }
    struct cogmem__cand stack[STACK_K];
    rq.top.k = k;
    rq.top.h = stack;
    /* Above STACK_K: heap and id index in one block. */
    size_t tslots = cogmem__topk_slots(k);
    size_t heap_bytes = k * sizeof *rq.top.h + tslots * sizeof(struct cogmem__tslot);
    if (k > STACK_K) {
        rq.top.h = cogmem__mem_alloc(&store->mem, COGMEM__MEM_META, heap_bytes);
        if (!rq.top.h) {
            cogmem__rcu_unlock();
            return -ENOMEM;
        }
        if (tslots) {
            rq.top.tab = (struct cogmem__tslot *)(rq.top.h + k);
            rq.top.tmask = tslots - 1;
            memset(rq.top.tab, 0, tslots * sizeof *rq.top.tab);
        }
    }
    /* bf16 path: scratch for the bf16 query and k * bf16_rerank candidates
     * (k <= rows here, so at most rows * bf16_rerank). */
    struct bheap bh = {0};
    uint16_t *q16 = NULL;
    size_t b16_bytes = 0;
    if (sc.p.bf16 && store->sets[0].kind.slab.bstride) {
        size_t cap = k > rows / sc.p.bf16_rerank ? rows : k * sc.p.bf16_rerank;
        size_t qb = ((size_t)store->dim * sizeof(uint16_t) + 63) & ~(size_t)63;
        b16_bytes = qb + cap * sizeof(struct bcand);
        q16 = cogmem__mem_alloc(&store->mem, COGMEM__MEM_META, b16_bytes);
        if (!q16) {
            cogmem__rcu_unlock();
            if (rq.top.h != stack)
                cogmem__mem_free(&store->mem, COGMEM__MEM_META, rq.top.h, heap_bytes);
            return -ENOMEM;
        }
        cogmem_f32_to_bf16(query, store->dim, q16);
        bh.h = (struct bcand *)((char *)q16 + qb);
        bh.cap = cap;
    }
    for (int kind = COGMEM_CONCEPT; kind <= COGMEM_EPISODE; kind++) {
        if (!(kinds & (unsigned)kind))
            continue;
        if (q16)
            scan_bf16(&sc, &rq, q16, (enum cogmem_kind)kind, &bh, used[kind - 1]);
        else
            cogmem__recall_scan(&sc, &rq, 1, (enum cogmem_kind)kind, 0, used[kind - 1]);
    }
    cogmem__rcu_unlock();
    if (q16)
        cogmem__mem_free(&store->mem, COGMEM__MEM_META, q16, b16_bytes);
    *n_out = cogmem__topk_emit(&rq.top, out);
    if (rq.top.h != stack)
        cogmem__mem_free(&store->mem, COGMEM__MEM_META, rq.top.h, heap_bytes);
    return 0;
}

/* The public entry: counts the call for cogmem_stats and times a sample
 * of them; the work is in recall_body. */
int cogmem_recall(cogmem_store *store, const float *query, unsigned kinds,
                  size_t k, const cogmem_recall_params *p,
                  cogmem_recall_hit *out, size_t *n_out)
{
    uint64_t t0 = store ? cogmem__lat_begin(store) : 0;
    /* With cfg.index and p->approximate: the graph (src/ann_hooks.c). */
    int rc = cogmem__ann_recall(store, query, kinds, k, p, out, n_out);
    if (rc == COGMEM__ANN_EXACT)
        rc = recall_body(store, query, kinds, k, p, out, n_out);
    if (rc == 0 && p && p->struct_size >= offsetof(cogmem_recall_params, touch) + sizeof p->touch &&
        p->touch) {
        uint64_t now = p->now_ns ? p->now_ns : cogmem__now_ns();
        for (size_t i = 0; i < *n_out; i++)
            (void)cogmem_touch(store, out[i].id, now); /* best effort: see the header */
    }
    if (rc == 0) {
        cogmem__stats_event(store, COGMEM__EV_RECALL);
        cogmem__lat_end(store, COGMEM_OP_RECALL, t0);
    }
    return rc;
}
