/* cogmem — spreading activation (see cogmem_spread()).
 *
 * Working memory, allocated per call from the store's META arena (starting
 * at 256 entries, doubling up to max_nodes): an open-addressing map id -> entry, and per entry its id, kind, node (valid
 * for the call: the whole spread is one RCU read-side section), total
 * activation, what it received in the last hop and what it receives in
 * this one. Entries are created in a deterministic order (sources as
 * given, then neighbours in list order), so the result is too.
 */
#include <errno.h>
#include <stddef.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "src/bind.h"
#include "src/persist/hooks.h"

void cogmem_spread_params_init(cogmem_spread_params *p)
{
    if (!p)
        return;
    memset(p, 0, sizeof *p);
    p->struct_size = sizeof *p;
    p->max_depth = 2;
    p->hop_decay = 0.5f;
    p->threshold = 1e-3f;
    p->max_nodes = 10000;
    p->use_strength = 1;
    p->fan_mode = COGMEM_FAN_DEFAULT;
    p->add_base_level = 0;
    p->now_ns = 0;
}

struct ent {
    uint64_t id;
    struct cogmem__node *node;
    double total;
    float cur, next;
    uint32_t fan;
    int32_t kind;
};

struct work {
    cogmem_store *st;
    struct ent *e;
    uint32_t n, cap, lim; /* entries used, allocated, allowed (max_nodes) */
    uint32_t *map;        /* entry + 1, 0 empty; map_slots(cap) slots */
    uint32_t mask;
    /* neighbour scratch: ids and strengths of one node's bindings */
    uint64_t *nid;
    float *nstr;
    uint32_t ncap;
    size_t nbytes;
    /* per-hop kernel buffers, cap entries each */
    float *a, *f;
    uint32_t *fan, *front;
};

static uint32_t hash_of(uint64_t id)
{
    return (uint32_t)((id * 0x9E3779B97F4A7C15ull) >> 32);
}

static size_t up64(size_t x) { return (x + 63) & ~(size_t)63; }

/* Map slots for cap entries: a power of two, at most half full. */
static size_t map_slots(uint32_t cap)
{
    size_t h = 16;
    while (h < 2 * (size_t)cap)
        h *= 2;
    return h;
}

/* Bytes of one block holding entries, map and kernel buffers for cap. */
static size_t block_bytes(uint32_t cap)
{
    return up64((size_t)cap * sizeof(struct ent)) + up64(map_slots(cap) * 4) +
           4 * up64((size_t)cap * 4);
}

/* (Re)allocate for `cap` entries, keeping the current ones. 0 or -ENOMEM.
 * The working set starts small and doubles: a query that touches a few
 * hundred nodes must not pay for max_nodes. */
static int work_grow(struct work *w, uint32_t cap)
{
    char *b = cogmem__mem_alloc(&w->st->mem, COGMEM__MEM_META, block_bytes(cap));
    if (!b)
        return -ENOMEM;
    struct ent *e = (struct ent *)(void *)b;
    size_t o = up64((size_t)cap * sizeof(struct ent));
    uint32_t *map = (uint32_t *)(void *)(b + o);
    o += up64(map_slots(cap) * 4);
    uint32_t mask = (uint32_t)map_slots(cap) - 1;
    memset(map, 0, map_slots(cap) * 4);
    if (w->n)
        memcpy(e, w->e, (size_t)w->n * sizeof *e);
    for (uint32_t k = 0; k < w->n; k++) {
        uint32_t h = hash_of(e[k].id) & mask;
        while (map[h])
            h = (h + 1) & mask;
        map[h] = k + 1;
    }
    size_t per = up64((size_t)cap * 4);
    float *a = (float *)(void *)(b + o), *f = (float *)(void *)(b + o + per);
    uint32_t *fan = (uint32_t *)(void *)(b + o + 2 * per);
    uint32_t *front = (uint32_t *)(void *)(b + o + 3 * per);
    if (w->e) {
        /* A hop that grows the set is still reading its frontier. */
        memcpy(a, w->a, (size_t)w->cap * 4);
        memcpy(f, w->f, (size_t)w->cap * 4);
        memcpy(fan, w->fan, (size_t)w->cap * 4);
        memcpy(front, w->front, (size_t)w->cap * 4);
        cogmem__mem_free(&w->st->mem, COGMEM__MEM_META, w->e, block_bytes(w->cap));
    }
    w->e = e;
    w->map = map;
    w->mask = mask;
    w->cap = cap;
    w->a = a;
    w->f = f;
    w->fan = fan;
    w->front = front;
    return 0;
}

/* The entry of id, created if the cap allows; NULL when it does not, or
 * (with *rc = -ENOMEM) when growing failed. May move the entries. */
static struct ent *entry(struct work *w, uint64_t id, int32_t kind, int *rc)
{
    uint32_t h = hash_of(id) & w->mask;
    for (; w->map[h]; h = (h + 1) & w->mask)
        if (w->e[w->map[h] - 1].id == id)
            return &w->e[w->map[h] - 1];
    if (w->n == w->lim)
        return NULL;
    if (w->n == w->cap) {
        uint32_t cap = w->cap * 2 < w->lim ? w->cap * 2 : w->lim;
        *rc = work_grow(w, cap);
        if (*rc)
            return NULL;
        h = hash_of(id) & w->mask;
        while (w->map[h])
            h = (h + 1) & w->mask;
    }
    struct ent *e = &w->e[w->n];
    memset(e, 0, sizeof *e);
    e->id = id;
    e->kind = kind;
    w->map[h] = ++w->n;
    return e;
}

static int work_init(struct work *w, cogmem_store *st, uint32_t lim)
{
    memset(w, 0, sizeof *w);
    w->st = st;
    w->lim = lim;
    return work_grow(w, lim < 256 ? lim : 256);
}

static void work_fini(struct work *w)
{
    cogmem__mem_free(&w->st->mem, COGMEM__MEM_META, w->e, block_bytes(w->cap));
    if (w->nbytes)
        cogmem__mem_free(&w->st->mem, COGMEM__MEM_META, w->nid, w->nbytes);
}

/* Room for m neighbours. 0 or -ENOMEM. */
static int scratch(struct work *w, uint32_t m)
{
    if (m <= w->ncap)
        return 0;
    uint32_t cap = w->ncap ? w->ncap : 64;
    while (cap < m)
        cap *= 2;
    size_t o = ((size_t)cap * 8 + 63) & ~(size_t)63;
    size_t bytes = o + (((size_t)cap * 4 + 63) & ~(size_t)63);
    char *b = cogmem__mem_alloc(&w->st->mem, COGMEM__MEM_META, bytes);
    if (!b)
        return -ENOMEM;
    if (w->nbytes)
        cogmem__mem_free(&w->st->mem, COGMEM__MEM_META, w->nid, w->nbytes);
    w->nid = (uint64_t *)(void *)b;
    w->nstr = (float *)(void *)(b + o);
    w->ncap = cap;
    w->nbytes = bytes;
    return 0;
}

/* Copy node j's bindings (peer ids, and strengths unless !use_strength)
 * into the scratch; returns their number or -ENOMEM. */
static int64_t neighbours(struct work *w, struct ent *j, int use_strength)
{
    int enomem = 0;
    cogmem_store *st = w->st;
    if (j->kind == COGMEM_CONCEPT) {
        struct cogmem__blist *cl = cogmem__clist(st, j->node, 0, &enomem);
        if (!cl)
            return 0;
        cogmem__spin_lock(&cl->lock);
        uint32_t m = cl->dead ? 0 : cl->n;
        if (scratch(w, m)) {
            cogmem__spin_unlock(&cl->lock);
            return -ENOMEM;
        }
        if (m) { /* the arrays are NULL in a list that never held one */
            memcpy(w->nid, cl->peer, (size_t)m * 8);
            memcpy(w->nstr, cl->strength, (size_t)m * 4);
        }
        cogmem__spin_unlock(&cl->lock);
        return m;
    }
    struct cogmem__blist *el = cogmem__elist(st, j->node, 0, &enomem);
    if (!el)
        return 0;
    cogmem__spin_lock(&el->lock);
    uint32_t m = el->dead ? 0 : el->n;
    if (scratch(w, m)) {
        cogmem__spin_unlock(&el->lock);
        return -ENOMEM;
    }
    if (m)
        memcpy(w->nid, el->peer, (size_t)m * 8);
    cogmem__spin_unlock(&el->lock);
    /* Strengths live with the concepts: read each under its own lock
     * (never under the episode's: lock order). A binding gone meanwhile
     * is dropped (strength NaN marks it). */
    for (uint32_t i = 0; i < m; i++) {
        w->nstr[i] = 1.0f;
        if (!use_strength)
            continue;
        struct cogmem__node *cn = cogmem__find_live(st, COGMEM_CONCEPT, w->nid[i]);
        struct cogmem__blist *cl = cn ? cogmem__clist(st, cn, 0, &enomem) : NULL;
        w->nstr[i] = NAN;
        if (!cl)
            continue;
        cogmem__spin_lock(&cl->lock);
        int32_t k = cl->dead ? -1 : cogmem__blist_find(cl, j->id);
        if (k >= 0)
            w->nstr[i] = cl->strength[k];
        cogmem__spin_unlock(&cl->lock);
    }
    return m;
}

static int cmp_hit(const void *pa, const void *pb)
{
    const cogmem_hit *a = pa, *b = pb;
    /* A total order even for NaN (inf - inf after a huge hop_decay): NaN
     * sorts last, so qsort always sees a consistent comparison. */
    int an = isnan(a->activation), bn = isnan(b->activation);
    if (an != bn)
        return an - bn;
    if (!an && a->activation != b->activation)
        return a->activation > b->activation ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

/* The first cogmem_spread_params the library shipped (every field up to
 * now_ns); callers compiled against it or anything larger are accepted. */
#define SPREAD_V1_SIZE (offsetof(cogmem_spread_params, now_ns) + sizeof(uint64_t))

static int params_ok(const cogmem_spread_params *p)
{
    return p->hop_decay >= 0.0f &&
           isfinite(p->hop_decay) && p->threshold >= 0.0f && isfinite(p->threshold) &&
           p->max_nodes >= 1 && p->max_nodes <= COGMEM_SPREAD_MAX_NODES &&
           p->fan_mode >= COGMEM_FAN_DEFAULT && p->fan_mode <= COGMEM_FAN_NONE;
}

/* One hop: every frontier entry sends to its neighbours. Returns the
 * frontier's size (0: nothing left to spread, every later hop would be
 * empty too) or a negative errno. */
static int64_t hop(struct work *w, const cogmem_spread_params *p,
               cogmem_fan_mode mode, float actr_s)
{
    uint32_t nf = 0;
    for (uint32_t k = 0; k < w->n; k++) {
        struct ent *e = &w->e[k];
        e->next = 0.0f;
        if (!(fabsf(e->cur) >= p->threshold) || e->cur == 0.0f)
            continue;
        if (!e->node)
            e->node = cogmem__find_live(w->st, (enum cogmem_kind)e->kind, e->id);
        if (!e->node)
            continue;
        w->front[nf] = k;
        w->fan[nf] = atomic_load_explicit(&e->node->fan, memory_order_relaxed);
        /* ACT-R adds S_ji to its input: pass 0, scale by x_j after. */
        w->a[nf] = mode == COGMEM_FAN_ACTR ? 0.0f : e->cur;
        nf++;
    }
    if (cogmem_fan_divide(w->a, w->fan, nf, mode, actr_s, w->f))
        return -EINVAL;
    for (uint32_t q = 0; q < nf; q++) {
        struct ent *j = &w->e[w->front[q]];
        float out = mode == COGMEM_FAN_ACTR ? j->cur * w->f[q] : w->f[q];
        out *= p->hop_decay;
        int32_t nkind = j->kind == COGMEM_CONCEPT ? COGMEM_EPISODE : COGMEM_CONCEPT;
        int64_t m = neighbours(w, j, p->use_strength);
        if (m < 0)
            return (int)m;
        /* entry() may move the entries: j is not used below. */
        for (int64_t i = 0; i < m; i++) {
            float s = p->use_strength ? w->nstr[i] : 1.0f;
            /* Only a non-zero amount creates an entry: max_nodes counts
             * nodes that get an activation (ACT-R's S_ji is 0 for a fan
             * above e^S - 1, and a binding's strength may be 0). */
            if (isnan(s) || out * s == 0.0f)
                continue;
            int rc = 0;
            struct ent *t = entry(w, w->nid[i], nkind, &rc);
            if (rc)
                return rc;
            if (t)
                t->next += out * s;
        }
    }
    for (uint32_t k = 0; k < w->n; k++) {
        struct ent *e = &w->e[k];
        e->total += e->next;
        e->cur = e->next;
    }
    return nf;
}

static int spread_body(cogmem_store *store, const cogmem_source *src, size_t n,
                  const cogmem_spread_params *pp, cogmem_hit *out, size_t cap,
                  size_t *n_out)
{
    cogmem_spread_params prm;
    cogmem_spread_params_init(&prm);
    if (pp && cogmem__struct_in(&prm, sizeof prm, pp, pp->struct_size, SPREAD_V1_SIZE))
        return -EINVAL;
    const cogmem_spread_params *p = &prm;
    if (!store || !n_out || (n && !src) || (cap && !out) || !params_ok(p))
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (src[i].id == 0 || !isfinite(src[i].weight))
            return -EINVAL;
    cogmem_fan_mode mode = (cogmem_fan_mode)(p->fan_mode == COGMEM_FAN_DEFAULT
                                                 ? store->cfg.fan_mode
                                                 : p->fan_mode);
    uint64_t now = p->now_ns ? p->now_ns : cogmem__now_ns();
    struct work w;
    int rc = work_init(&w, store, p->max_nodes);
    if (rc)
        return rc;
    cogmem__rcu_lock();
    for (size_t i = 0; i < n; i++) {
        uint64_t id = src[i].id;
        int32_t kind = COGMEM_CONCEPT;
        struct cogmem__node *node = cogmem__find_live(store, COGMEM_CONCEPT, id);
        if (!node) {
            kind = COGMEM_EPISODE;
            node = cogmem__find_live(store, COGMEM_EPISODE, id);
        }
        if (!node || src[i].weight == 0.0f)
            continue; /* a zero weight gives no activation: not an entry */
        struct ent *e = entry(&w, id, kind, &rc);
        if (!e) {
            if (rc)
                break;
            continue;
        }
        e->node = node;
        e->cur += src[i].weight;
        e->total += src[i].weight;
    }
    /* Stops early once a hop had no frontier: max_depth 2e9 on a store of
     * two nodes returns after the hops that still carry activation. */
    for (uint32_t d = 0; d < p->max_depth && rc == 0; d++) {
        int64_t nf = hop(&w, p, mode, store->cfg.actr_max_assoc);
        if (nf <= 0) {
            rc = (int)nf;
            break;
        }
    }
    if (rc == 0 && p->add_base_level) {
        for (uint32_t k = 0; k < w.n; k++) {
            struct ent *e = &w.e[k];
            if (!e->node)
                e->node = cogmem__find_live(store, (enum cogmem_kind)e->kind, e->id);
            double b;
            if (e->node && cogmem__base_level(store, e->node, now, &b))
                e->total += b;
        }
    }
    if (rc == 0 && p->store_activation && !store->persist) {
        for (uint32_t k = 0; k < w.n; k++) {
            struct ent *e = &w.e[k];
            if (e->total == 0.0) /* not a hit */
                continue;
            if (!e->node)
                e->node = cogmem__find_live(store, (enum cogmem_kind)e->kind, e->id);
            /* Relaxed: a value for readers, ordering nothing else. */
            if (e->node)
                atomic_store_explicit(&e->node->activation_bits,
                                      cogmem__f2u((float)e->total), memory_order_relaxed);
        }
    }
    cogmem__rcu_unlock();
    if (rc == 0 && p->store_activation && store->persist) {
        /* Journaled (src/persist/words.c), outside the read-side section:
         * each store takes its node's stripe. */
        uint64_t last = 0;
        for (uint32_t k = 0; k < w.n && rc == 0; k++) {
            struct ent *e = &w.e[k];
            if (e->total == 0.0)
                continue;
            rc = cogmem__pj_word(store, (enum cogmem_kind)e->kind, e->id,
                                 COGMEM__WORD_ACTIVATION, (float)e->total, &last);
            if (rc == -ENOENT) /* removed since the walk */
                rc = 0;
        }
        int wrc = cogmem__pj_word_wait(store, last);
        if (rc == 0)
            rc = wrc;
    }
    if (rc == 0) {
        /* All hits are sorted, then the best cap copied out. */
        cogmem_hit *all = cogmem__mem_alloc(&store->mem, COGMEM__MEM_META,
                                            (size_t)(w.n ? w.n : 1) * sizeof *all);
        if (!all) {
            rc = -ENOMEM;
        } else {
            uint32_t m = 0;
            for (uint32_t k = 0; k < w.n; k++) {
                /* Non-zero as the float the caller gets (a double total
                 * of 1e-50 is 0 in float). */
                float a = (float)w.e[k].total;
                if (a == 0.0f)
                    continue;
                all[m].id = w.e[k].id;
                all[m].kind = w.e[k].kind;
                all[m].activation = a;
                m++;
            }
            qsort(all, m, sizeof *all, cmp_hit);
            size_t wr = m < cap ? m : cap;
            if (wr)
                memcpy(out, all, wr * sizeof *all);
            *n_out = wr;
            cogmem__mem_free(&store->mem, COGMEM__MEM_META, all,
                             (size_t)(w.n ? w.n : 1) * sizeof *all);
        }
    }
    work_fini(&w);
    return rc;
}

/* The public entry: counts the call for cogmem_stats and times a sample
 * of them; the work is in spread_body. */
int cogmem_spread(cogmem_store *store, const cogmem_source *src, size_t n,
                  const cogmem_spread_params *pp, cogmem_hit *out, size_t cap,
                  size_t *n_out)
{
    uint64_t t0 = store ? cogmem__lat_begin(store) : 0;
    int rc = spread_body(store, src, n, pp, out, cap, n_out);
    if (rc == 0) {
        cogmem__stats_event(store, COGMEM__EV_SPREAD);
        cogmem__lat_end(store, COGMEM_OP_SPREAD, t0);
    }
    return rc;
}
