/* cogmem — approximate recall over the graph indexes (the rules are in
 * cogmem_recall.h, "Approximate recall"; the dispatch is at the top of
 * cogmem_recall in src/recall.c). */
#include <errno.h>
#include <math.h>
#include <stddef.h>

#include "src/ann_hooks.h"
#include "src/recall.h"

static inline int contends(const struct cogmem__topk *t, float s, uint64_t id)
{
    if (t->n < t->k)
        return s == s;
    return t->h[0].score < s || (t->h[0].score == s && t->h[0].id > id);
}

/* One candidate, validated as the exact scan validates a row. Returns 1
 * when the filter turned it down. Caller holds the RCU read lock. */
static int offer_hit(const struct cogmem__rscan *sc, struct cogmem__rq *rq,
                     struct cogmem__set *set, enum cogmem_kind kind,
                     const struct cogmem__ann_hit *h)
{
    /* Without blending, a candidate whose graph similarity is clearly
     * below the k-th score cannot enter (the graph's cosine differs from
     * the exact one by rounding only). */
    if (!sc->blend && rq->top.n == rq->top.k &&
        h->sim + 1e-3f * (fabsf(h->sim) + 1e-3f) < rq->top.h[0].score)
        return 0;
    struct cogmem__node *n = cogmem__set_find(set, h->id, cogmem__hash(sc->st, h->id),
                                              COGMEM__FIND_LIVE);
    if (!n)
        return 0; /* removed: never returned */
    /* Acquire: pairs with the release that published the vector's data. */
    struct cogmem_vec *cur = atomic_load_explicit(&n->vec, memory_order_acquire);
    if (!cur)
        return 0;
    float sim = cogmem__recall_score_vec(sc, rq, cur);
    float s = sc->blend ? cogmem__recall_blend(sc, sim, n, kind) : sim;
    if (!(s >= sc->p.min_score) || !contends(&rq->top, s, h->id))
        return 0;
    if (sc->p.filter && !sc->p.filter(h->id, (int)kind, sc->p.filter_arg))
        return 1;
    cogmem__topk_offer(&rq->top, s, (int)kind, h->id);
    return 0;
}

int cogmem__ann_recall(cogmem_store *st, const float *query, unsigned kinds, size_t k,
                       const cogmem_recall_params *p, cogmem_recall_hit *out,
                       size_t *n_out)
{
    if (!p || p->struct_size < offsetof(cogmem_recall_params, ef) + sizeof p->ef)
        return COGMEM__ANN_EXACT;
    if (p->ef > COGMEM__ANN_EF_MAX) {
        if (n_out)
            *n_out = 0;
        return -EINVAL;
    }
    if (!p->approximate || !st || !st->ann[0] || !n_out || (k && !out) ||
        !cogmem__kinds_ok(kinds) || k > COGMEM__ANN_EF_MAX)
        return COGMEM__ANN_EXACT;
    struct cogmem__rscan sc;
    struct cogmem__rq rq = {.q = query};
    if (cogmem__recall_prepare(&sc, st, p) ||
        cogmem__recall_check_query(&sc, query, &rq.qnorm))
        return COGMEM__ANN_EXACT; /* the exact path reports the error */
    *n_out = 0;
    if (k == 0)
        return 0;
    uint32_t ef = p->ef ? p->ef : st->cfg.index_ef_search;
    if (ef < k)
        ef = (uint32_t)k;
    /* Scratch: the candidates of one kind, then the k-heap and its id
     * index (as the exact path lays them out). */
    size_t cap = (size_t)ef + COGMEM__ANN_TAIL;
    size_t tslots = cogmem__topk_slots(k);
    size_t bytes = cap * sizeof(struct cogmem__ann_hit) + k * sizeof(struct cogmem__cand) +
                   tslots * sizeof(struct cogmem__tslot);
    struct cogmem__ann_hit *hits = cogmem__mem_alloc(&st->mem, COGMEM__MEM_META, bytes);
    if (!hits) {
        cogmem__stats_event(st, COGMEM__EV_INDEX_FALLBACKS);
        return COGMEM__ANN_EXACT;
    }
    rq.top.k = k;
    rq.top.h = (struct cogmem__cand *)(hits + cap);
    if (tslots) {
        rq.top.tab = (struct cogmem__tslot *)(rq.top.h + k);
        rq.top.tmask = tslots - 1;
        memset(rq.top.tab, 0, tslots * sizeof *rq.top.tab);
    }
    int cosine = sc.p.metric == COGMEM_METRIC_COSINE, rc = 0;
    uint64_t visits = 0, vk;
    size_t rejected = 0, nh;
    cogmem__rcu_lock();
    for (int kind = COGMEM_CONCEPT; kind <= COGMEM_EPISODE && rc == 0; kind++) {
        if (!(kinds & (unsigned)kind))
            continue;
        struct cogmem__ann *a = cogmem__ann_of(st, (enum cogmem_kind)kind);
        rc = cogmem__ann_search(a, query, rq.qnorm, cosine, ef, hits, &nh, &vk);
        visits += vk;
        struct cogmem__set *set = cogmem__set_of(st, (enum cogmem_kind)kind);
        for (size_t i = 0; rc == 0 && i < nh; i++)
            rejected += (size_t)offer_hit(&sc, &rq, set, (enum cogmem_kind)kind, &hits[i]);
    }
    cogmem__rcu_unlock();
    cogmem__stats_add(st, COGMEM__EV_INDEX_VISITS, visits);
    if (rc || (rejected && rq.top.n < k)) {
        /* No scratch, or a filter too selective for ef candidates. */
        cogmem__mem_free(&st->mem, COGMEM__MEM_META, hits, bytes);
        cogmem__stats_event(st, COGMEM__EV_INDEX_FALLBACKS);
        return COGMEM__ANN_EXACT;
    }
    *n_out = cogmem__topk_emit(&rq.top, out);
    cogmem__mem_free(&st->mem, COGMEM__MEM_META, hits, bytes);
    return 0;
}
