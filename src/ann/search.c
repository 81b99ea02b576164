/* cogmem — the graph index's searches: greedy descent, the level beam
 * search (also used while linking) and the approximate top-ef search with
 * the tail (hnsw.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "src/ann/graph.h"

/* --------------------------------------------------------- search core */

struct pool *cogmem__ann_pool_get(struct cogmem__ann *a, struct pool *spare)
{
    for (uint32_t i = 0; i < POOL; i++) {
        uint32_t z = 0;
        if (!atomic_load_explicit(&a->pool[i].busy, memory_order_relaxed) &&
            atomic_compare_exchange_strong_explicit(&a->pool[i].busy, &z, 1,
                                                    memory_order_acquire,
                                                    memory_order_relaxed))
            return &a->pool[i];
    }
    memset(spare, 0, sizeof *spare); /* all busy: a private one, freed after */
    return spare;
}

void cogmem__ann_pool_put(struct cogmem__ann *a, struct pool *p)
{
    if (p >= a->pool && p < a->pool + POOL)
        atomic_store_explicit(&p->busy, 0, memory_order_release);
    else
        cogmem__ann_pool_fini(a, p);
}

static int grow(struct cogmem__ann *a, struct cand **arr, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 256;
    while (n < need)
        n *= 2;
    struct cand *b = cogmem__mem_alloc(a->mem, COGMEM__MEM_META, n * sizeof *b);
    if (!b)
        return -ENOMEM;
    if (*cap)
        memcpy(b, *arr, *cap * sizeof *b);
    cogmem__mem_free(a->mem, COGMEM__MEM_META, *arr, *cap * sizeof **arr);
    *arr = b;
    *cap = n;
    return 0;
}

/* A new visit epoch with room for every slot handed out so far. */
int cogmem__ann_pool_begin(struct cogmem__ann *a, struct pool *p, uint32_t ef)
{
    uint32_t used = atomic_load_explicit(&a->used, memory_order_acquire);
    if (p->tags_cap < used) {
        uint32_t n = used + used / 2 + 1024;
        uint32_t *t = cogmem__mem_alloc(a->mem, COGMEM__MEM_META, (size_t)n * sizeof *t);
        if (!t)
            return -ENOMEM;
        memset(t, 0, (size_t)n * sizeof *t);
        cogmem__mem_free(a->mem, COGMEM__MEM_META, p->tags, (size_t)p->tags_cap * sizeof *p->tags);
        p->tags = t;
        p->tags_cap = n;
        p->epoch = 0;
    }
    if (++p->epoch == 0) {
        memset(p->tags, 0, (size_t)p->tags_cap * sizeof *p->tags);
        p->epoch = 1;
    }
    if (grow(a, &p->res, &p->res_cap, (size_t)ef + 1))
        return -ENOMEM;
    return grow(a, &p->cq, &p->cq_cap, (size_t)ef + 64);
}

/* Max-heap (candidates) and min-heap (results) on struct cand. */
static void heap_push(struct cand *h, size_t *n, struct cand c, int max)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (max ? !(h[p].s < c.s) : !(h[p].s > c.s))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = c;
}

static struct cand heap_pop(struct cand *h, size_t *n, int max)
{
    struct cand top = h[0], c = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= *n)
            break;
        size_t r = l + 1, b = l;
        if (r < *n && (max ? h[r].s > h[l].s : h[r].s < h[l].s))
            b = r;
        if (max ? !(h[b].s > c.s) : !(h[b].s < c.s))
            break;
        h[i] = h[b];
        i = b;
    }
    if (*n)
        h[i] = c;
    return top;
}



/* Greedy descent at level l from *cur (similarity *cs). */
void cogmem__ann_greedy(struct cogmem__ann *a, struct query *q, uint32_t l, uint32_t *cur, float *cs)
{
    uint32_t used = atomic_load_explicit(&a->used, memory_order_acquire);
    for (int changed = 1; changed;) {
        changed = 0;
        _Atomic uint32_t *list = list_of(a, slot_at(a, *cur), l);
        if (!list)
            return;
        uint32_t n = atomic_load_explicit(&list[0], memory_order_acquire);
        if (n > cap_of(a, l))
            n = cap_of(a, l);
        for (uint32_t i = 1; i <= n; i++) {
            uint32_t nb = atomic_load_explicit(&list[i], memory_order_acquire);
            if (nb >= used)
                continue;
            /* The hot entry, not the slot's own line (one miss less). */
            struct hot *y = hot_at(a, nb);
            if (atomic_load_explicit(&y->state, memory_order_acquire) < S_PENDING)
                continue;
            float s = score(a, q, hot_vref(y));
            if (s > *cs) {
                *cs = s;
                *cur = nb;
                changed = 1;
            }
        }
    }
}

/* Beam search at level l from `ep`: the ef best non-deleted slots end up
 * in p->res (a min-heap of *nres). Slots in `skip` state >= S_DELETED are
 * walked but not kept. */
int cogmem__ann_search_layer(struct cogmem__ann *a, struct pool *p, struct query *q,
                             uint32_t ep, float eps, uint32_t ef, uint32_t l, size_t *nres)
{
    /* Slots handed out after the scratch was sized are not walked. */
    uint32_t used = atomic_load_explicit(&a->used, memory_order_acquire);
    if (used > p->tags_cap)
        used = p->tags_cap;
    /* The scratch in locals: the atomics below would make the compiler
     * reload it from *p on every use. */
    uint32_t *tags = p->tags, epoch = p->epoch;
    struct cand *cq = p->cq, *res = p->res;
    size_t ncq = 0, nr = 0, cq_cap = p->cq_cap;
    uint64_t visits = 0;
    const uint32_t cap = cap_of(a, l);
    const size_t pf = (size_t)a->dim * sizeof(float) > 1024 ? 1024 : (size_t)a->dim * sizeof(float);
    uint32_t ep_state = atomic_load_explicit(&hot_at(a, ep)->state, memory_order_acquire);
    /* ep may be newer than the scratch: the greedy descent that found it
     * read `used` later than cogmem__ann_pool_begin did (ASan: a write
     * past tags[] in stress-ann). Untagged, it is not walked twice: its
     * number is at or above `used`, which the walk skips. */
    if (ep < used)
        tags[ep] = epoch;
    heap_push(cq, &ncq, (struct cand){eps, ep}, 1);
    if (live_state(ep_state))
        heap_push(res, &nr, (struct cand){eps, ep}, 0);
    uint32_t batch[2 * COGMEM__ANN_M_MAX];
    struct vref brn[2 * COGMEM__ANN_M_MAX];
    uint32_t bst[2 * COGMEM__ANN_M_MAX];
    int rc = 0;
    while (ncq) {
        struct cand c = heap_pop(cq, &ncq, 1);
        if (nr >= ef && c.s < res[0].s)
            break;
        _Atomic uint32_t *list = list_of(a, slot_at(a, c.slot), l);
        if (!list)
            continue;
        uint32_t n = atomic_load_explicit(&list[0], memory_order_acquire);
        if (n > cap)
            n = cap;
        /* The entries first, with a prefetch of each one's visit tag and
         * hot entry (read below: the tags and the hot entries' misses
         * then overlap instead of stalling one by one). */
        uint32_t nb_n = 0, all[2 * COGMEM__ANN_M_MAX];
        for (uint32_t i = 1; i <= n; i++) {
            uint32_t nb = atomic_load_explicit(&list[i], memory_order_acquire);
            if (nb >= used)
                continue;
            all[nb_n++] = nb;
            __builtin_prefetch(&tags[nb]);
            __builtin_prefetch(hot_at(a, nb));
        }
        uint32_t na = nb_n;
        nb_n = 0;
        for (uint32_t i = 0; i < na; i++) {
            uint32_t nb = all[i];
            if (tags[nb] == epoch)
                continue;
            tags[nb] = epoch;
            batch[nb_n++] = nb;
        }
        for (uint32_t i = 0; i < nb_n; i++) {
            struct hot *y = hot_at(a, batch[i]);
            bst[i] = atomic_load_explicit(&y->state, memory_order_acquire);
            brn[i] = (struct vref){atomic_load_explicit(&y->data, memory_order_acquire),
                                   cogmem__u2f(atomic_load_explicit(&y->inv, memory_order_relaxed))};
            if (bst[i] >= S_PENDING) {
                __builtin_prefetch(brn[i].d);
                __builtin_prefetch((const char *)brn[i].d + 64);
            }
        }
        for (uint32_t i = 0; i < nb_n; i++) {
            if (bst[i] < S_PENDING)
                continue;
            /* The rest of the next row (up to 1 KiB; the hardware
             * streams the remainder of longer rows) while this one is
             * scored. */
            if (i + 1 < nb_n && bst[i + 1] >= S_PENDING) {
                const char *nx = (const char *)brn[i + 1].d;
                for (size_t o = 128; o < pf; o += 64)
                    __builtin_prefetch(nx + o);
            }
            visits++;
            float d = dot(a, q->q, brn[i].d);
            float s = q->cosine ? d * q->qinv * brn[i].inv : d;
            if (nr < ef || s > res[0].s) {
                if (ncq == cq_cap) {
                    p->cq = cq;
                    if ((rc = grow(a, &p->cq, &p->cq_cap, ncq + 1)))
                        goto out;
                    cq = p->cq;
                    cq_cap = p->cq_cap;
                }
                heap_push(cq, &ncq, (struct cand){s, batch[i]}, 1);
                /* Its list, for when it is expanded: the slot's lines are
                 * apart from the row just scored (hnswlib's are next to
                 * its vector, so its list comes with it). */
                if (l == 0) {
                    const char *ll = (const char *)slot_at(a, batch[i])->l0;
                    __builtin_prefetch(ll);
                    __builtin_prefetch(ll + 64);
                }
                if (live_state(bst[i])) {
                    heap_push(res, &nr, (struct cand){s, batch[i]}, 0);
                    if (nr > ef)
                        (void)heap_pop(res, &nr, 0);
                }
            }
        }
    }
out:
    q->visits += visits;
    *nres = nr;
    return rc;
}

int cogmem__ann_cmp_desc(const void *x, const void *y)
{
    const struct cand *a = x, *b = y;
    return a->s > b->s ? -1 : a->s < b->s ? 1 : (a->slot > b->slot) - (a->slot < b->slot);
}


int cogmem__ann_search(struct cogmem__ann *a, const float *qv, float qnorm,
                       int cosine, uint32_t ef, struct cogmem__ann_hit *out,
                       size_t *n_out, uint64_t *visits)
{
    struct query q = {qv, cosine ? 1.0f / qnorm : 1.0f, cosine, 0};
    size_t n = 0;
    uint64_t e = entry_load(a);
    int rc = 0;
    if (e != NO_ENTRY) {
        struct pool spare, *p = cogmem__ann_pool_get(a, &spare);
        rc = cogmem__ann_pool_begin(a, p, ef);
        if (rc == 0) {
            uint32_t cur = (uint32_t)e;
            float cs = score(&*a, &q, vref_load(slot_at(a, cur)));
            for (uint32_t l = (uint32_t)(e >> 32); l > 0; l--)
                cogmem__ann_greedy(a, &q, l, &cur, &cs);
            size_t nr = 0;
            rc = cogmem__ann_search_layer(a, p, &q, cur, cs, ef, 0, &nr);
            if (rc == 0) {
                qsort(p->res, nr, sizeof *p->res, cogmem__ann_cmp_desc);
                for (size_t i = 0; i < nr; i++) {
                    struct slot *x = slot_at(a, p->res[i].slot);
                    out[n++] = (struct cogmem__ann_hit){
                        p->res[i].s, p->res[i].slot,
                        atomic_load_explicit(&x->id, memory_order_relaxed)};
                }
            }
        }
        cogmem__ann_pool_put(a, p);
    }
    /* The tail: slots whose insertion is in flight, scored exactly. */
    for (uint32_t i = 0; rc == 0 && i < COGMEM__ANN_TAIL; i++) {
        uint32_t t = atomic_load_explicit(&a->tail[i], memory_order_acquire);
        if (!t)
            continue;
        struct slot *x = slot_at(a, t - 1);
        if (!live_state(atomic_load_explicit(&x->hot->state, memory_order_acquire)))
            continue;
        out[n++] = (struct cogmem__ann_hit){score(a, &q, vref_load(x)), t - 1,
                                            atomic_load_explicit(&x->id, memory_order_relaxed)};
    }
    *n_out = n;
    *visits = q.visits;
    return rc;
}
