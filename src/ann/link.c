/* cogmem — linking a node into the graph index, tombstoning it, and
 * following its centroid (hnsw.h). */
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdlib.h>

#include "src/ann/graph.h"

/* ------------------------------------------------------------- linking */

/* Cosine at or above which two vectors count as copies of each other. */
#define DUPLICATE_SIM 0.99999f

/* HNSW's neighbour heuristic: from cands (sorted best first by similarity
 * to the base), keep c unless a kept r is more similar to c than the base
 * is. Tombstones and `self` are never kept. Returns how many went to out. */
uint32_t cogmem__ann_select_nbrs(struct cogmem__ann *a, const struct cand *cands, size_t n,
                            uint32_t max, uint32_t self, uint32_t *out)
{
    struct vref orn[2 * COGMEM__ANN_M_MAX];
    uint32_t k = 0;
    for (size_t i = 0; i < n && k < max; i++) {
        uint32_t c = cands[i].slot;
        if (c == self)
            continue;
        struct slot *y = slot_at(a, c);
        if (!live_state(atomic_load_explicit(&y->hot->state, memory_order_acquire)))
            continue;
        struct vref rn = vref_load(y);
        int good = 1;
        for (uint32_t j = 0; j < k && good; j++) {
            /* Also never a second copy of a kept vector: with strict ">"
             * alone, equal vectors tie and every copy is kept, so a group
             * of copies fills each other's lists and becomes an island. */
            float sr = sim_rows(a, rn, orn[j]);
            if (sr > cands[i].s || sr >= DUPLICATE_SIM)
                good = 0;
        }
        if (good) {
            orn[k] = rn;
            out[k++] = c;
        }
    }
    return k;
}

static int in_set(const uint32_t *v, uint32_t n, uint32_t x)
{
    for (uint32_t i = 0; i < n; i++)
        if (v[i] == x)
            return 1;
    return 0;
}


/* Replace a list at level l by nb[0..n), keeping only links to slots not
 * deleted (checked under the owner's lock, see hnsw.h). Caller holds the
 * owner's lock. At level 0 the in-degrees follow the change, and a live
 * slot that would lose its last in-link stays in the list (in place of
 * the least similar entry that others also link to, or a new one): the
 * pruning heuristic alone can orphan a node, which then no search reaches.
 * The in-degree's fetch_sub is what decides, so two prunes dropping the
 * same slot at once cannot both take it away. */
void cogmem__ann_write_list(struct cogmem__ann *a, _Atomic uint32_t *list, uint32_t l,
                       const uint32_t *nb, uint32_t n)
{
    uint32_t cap = cap_of(a, l), fin[2 * COGMEM__ANN_M_MAX], k = 0;
    for (uint32_t i = 0; i < n && k < cap; i++)
        if (atomic_load_explicit(&slot_at(a, nb[i])->hot->state, memory_order_acquire) < S_DELETED)
            fin[k++] = nb[i];
    if (l == 0) {
        uint32_t old[2 * COGMEM__ANN_M_MAX], drop[2 * COGMEM__ANN_M_MAX], on, nd = 0;
        on = atomic_load_explicit(&list[0], memory_order_relaxed);
        if (on > cap)
            on = cap;
        for (uint32_t i = 0; i < on; i++) {
            old[i] = atomic_load_explicit(&list[1 + i], memory_order_relaxed);
            if (!in_set(fin, k, old[i]))
                drop[nd++] = old[i];
        }
        for (uint32_t i = 0; i < nd; i++) {
            uint32_t y = drop[i];
            if (atomic_fetch_sub_explicit(indeg_of(a, y), 1, memory_order_relaxed) != 1 ||
                !live_state(atomic_load_explicit(&slot_at(a, y)->hot->state, memory_order_acquire)))
                continue;
            int placed = 0;
            if (k < cap) {
                fin[k++] = y;
                placed = 1;
            }
            for (uint32_t j = k; !placed && j-- > 0;) {
                uint32_t z = fin[j];
                if (!in_set(old, on, z)) { /* new here: not counted yet */
                    fin[j] = y;
                    placed = 1;
                } else if (atomic_fetch_sub_explicit(indeg_of(a, z), 1, memory_order_relaxed) > 1) {
                    fin[j] = y;
                    placed = 1;
                } else {
                    atomic_fetch_add_explicit(indeg_of(a, z), 1, memory_order_relaxed);
                }
            }
            if (placed) /* y stays: its link is counted again */
                atomic_fetch_add_explicit(indeg_of(a, y), 1, memory_order_relaxed);
        }
        for (uint32_t i = 0; i < k; i++)
            if (!in_set(old, on, fin[i]))
                atomic_fetch_add_explicit(indeg_of(a, fin[i]), 1, memory_order_relaxed);
    }
    for (uint32_t i = 0; i < k; i++)
        atomic_store_explicit(&list[1 + i], fin[i], memory_order_release);
    atomic_store_explicit(&list[0], k, memory_order_release);
}

/* Link u -> y at level 0 (u live, y not deleted) by appending, if u's
 * list has room. 1 if y is now in u's list. Must not hold any lock. */
int cogmem__ann_try_link_into(struct cogmem__ann *a, uint32_t u, uint32_t y)
{
    struct slot *U = slot_at(a, u), *Y = slot_at(a, y);
    spin_lock(&U->lock);
    if (!live_state(atomic_load_explicit(&U->hot->state, memory_order_acquire)) ||
        atomic_load_explicit(&Y->hot->state, memory_order_acquire) >= S_DELETED) {
        spin_unlock(&U->lock);
        return 0;
    }
    _Atomic uint32_t *list = U->l0;
    uint32_t c = atomic_load_explicit(&list[0], memory_order_relaxed), at = 0;
    for (uint32_t j = 1; j <= c; j++)
        if (atomic_load_explicit(&list[j], memory_order_relaxed) == y)
            at = j;
    if (!at && c < a->m0) {
        atomic_store_explicit(&list[1 + c], y, memory_order_release);
        atomic_store_explicit(&list[0], c + 1, memory_order_release);
        at = c + 1;
        atomic_fetch_add_explicit(&Y->indeg, 1, memory_order_relaxed);
    }
    spin_unlock(&U->lock);
    return at != 0;
}

static int list_has(_Atomic uint32_t *list, uint32_t cap, uint32_t x)
{
    uint32_t n = atomic_load_explicit(&list[0], memory_order_acquire);
    for (uint32_t j = 1; j <= n && j <= cap; j++)
        if (atomic_load_explicit(&list[j], memory_order_acquire) == x)
            return 1;
    return 0;
}

/* Put z into y's level-0 list (y not deleted, z live): appended, or in
 * place of the last entry that reached[] marks (reachable without y, so
 * it loses nothing; reached covers slots below nreached), else of the
 * last entry with another in-link, else of the last entry (then left
 * without in-link: it was not reachable either, and the reconnect round
 * that called us links it in its turn). 1 if z is now there. Must not
 * hold any lock. */
static int give_successor(struct cogmem__ann *a, uint32_t y, uint32_t z, const uint8_t *reached,
                          uint32_t nreached)
{
    struct slot *Y = slot_at(a, y), *Z = slot_at(a, z);
    spin_lock(&Y->lock);
    if (atomic_load_explicit(&Y->hot->state, memory_order_acquire) >= S_DELETED ||
        !live_state(atomic_load_explicit(&Z->hot->state, memory_order_acquire))) {
        spin_unlock(&Y->lock);
        return 0;
    }
    _Atomic uint32_t *list = Y->l0;
    uint32_t c = atomic_load_explicit(&list[0], memory_order_relaxed), at = 0;
    for (uint32_t j = 1; j <= c; j++) {
        uint32_t x = atomic_load_explicit(&list[j], memory_order_relaxed);
        if (x == z) {
            spin_unlock(&Y->lock);
            return 1; /* there already */
        }
        if (x < nreached && reached[x])
            at = j;
    }
    if (c < a->m0) {
        atomic_store_explicit(&list[1 + c], z, memory_order_release);
        atomic_store_explicit(&list[0], c + 1, memory_order_release);
    } else {
        if (at) /* a reached entry: it keeps another in-link */
            atomic_fetch_sub_explicit(indeg_of(a, atomic_load_explicit(&list[at],
                                                                       memory_order_relaxed)),
                                      1, memory_order_relaxed);
        /* Else one that keeps another in-link: the in-degree's fetch_sub
         * decides, as in write_list. */
        for (uint32_t j = c; !at && j > 0; j--) {
            uint32_t x = atomic_load_explicit(&list[j], memory_order_relaxed);
            if (atomic_fetch_sub_explicit(indeg_of(a, x), 1, memory_order_relaxed) > 1)
                at = j;
            else
                atomic_fetch_add_explicit(indeg_of(a, x), 1, memory_order_relaxed);
        }
        if (!at) {
            at = c;
            atomic_fetch_sub_explicit(indeg_of(a, atomic_load_explicit(&list[at],
                                                                       memory_order_relaxed)),
                                      1, memory_order_relaxed);
        }
        atomic_store_explicit(&list[at], z, memory_order_release);
    }
    atomic_fetch_add_explicit(&Z->indeg, 1, memory_order_relaxed);
    spin_unlock(&Y->lock);
    return 1;
}

int cogmem__ann_link_by_swap(struct cogmem__ann *a, uint32_t u, uint32_t y,
                             const uint8_t *reached, uint32_t nreached)
{
    struct slot *U = slot_at(a, u), *Y = slot_at(a, y);
    _Atomic uint32_t *list = U->l0;
    for (int tries = 0; tries < 4; tries++) {
        spin_lock(&U->lock);
        if (!live_state(atomic_load_explicit(&U->hot->state, memory_order_acquire)) ||
            atomic_load_explicit(&Y->hot->state, memory_order_acquire) >= S_DELETED) {
            spin_unlock(&U->lock);
            return 0;
        }
        uint32_t c = atomic_load_explicit(&list[0], memory_order_relaxed), pick = 0, z = 0;
        int in_y = 0;
        for (uint32_t j = c; j > 0; j--) {
            uint32_t x = atomic_load_explicit(&list[j], memory_order_relaxed);
            if (x == y) { /* linked meanwhile */
                spin_unlock(&U->lock);
                return 1;
            }
            if (in_y || !live_state(atomic_load_explicit(&slot_at(a, x)->hot->state,
                                                         memory_order_acquire)))
                continue;
            /* An entry y already links to needs no move; else the last live one. */
            if (list_has(slot_at(a, y)->l0, a->m0, x))
                pick = j, z = x, in_y = 1;
            else if (!pick)
                pick = j, z = x;
        }
        if (c < a->m0) { /* room now: an append cuts nothing */
            spin_unlock(&U->lock);
            return cogmem__ann_try_link_into(a, u, y);
        }
        if (!pick) { /* no live entry to move under y */
            spin_unlock(&U->lock);
            return 0;
        }
        if (!in_y) {
            /* First y -> z (one lock at a time: u's is released), then
             * u -> y in z's place if u's list did not change meanwhile. */
            spin_unlock(&U->lock);
            if (!give_successor(a, y, z, reached, nreached))
                return 0;
            spin_lock(&U->lock);
            if (!live_state(atomic_load_explicit(&U->hot->state, memory_order_acquire)) ||
                atomic_load_explicit(&Y->hot->state, memory_order_acquire) >= S_DELETED ||
                atomic_load_explicit(&list[0], memory_order_relaxed) != c ||
                atomic_load_explicit(&list[pick], memory_order_relaxed) != z) {
                spin_unlock(&U->lock);
                continue; /* changed under us: y -> z stays, an extra link */
            }
        }
        atomic_store_explicit(&list[pick], y, memory_order_release);
        atomic_fetch_add_explicit(&Y->indeg, 1, memory_order_relaxed);
        atomic_fetch_sub_explicit(indeg_of(a, z), 1, memory_order_relaxed);
        spin_unlock(&U->lock);
        return 1;
    }
    return 0;
}

/* Give live slot y an in-link if it has none (a node linked when every
 * reverse link was pruned, or whose only in-link came from a drained
 * slot): from one of its own neighbours, or from the entry point, where a
 * list has room. Must not hold any lock. */
void cogmem__ann_ensure_inlink(struct cogmem__ann *a, uint32_t y)
{
    struct slot *Y = slot_at(a, y);
    if (!live_state(atomic_load_explicit(&Y->hot->state, memory_order_acquire)) ||
        atomic_load_explicit(&Y->indeg, memory_order_relaxed) > 0)
        return;
    uint64_t e = atomic_load_explicit(&a->entry, memory_order_acquire);
    if (e != NO_ENTRY && (uint32_t)e == y)
        return;
    uint32_t n = atomic_load_explicit(&Y->l0[0], memory_order_acquire);
    if (n > a->m0)
        n = a->m0;
    /* Appending only: a replacement could cut off the replaced entry's
     * part of the graph (measured: repeated replacements in the entry
     * point's list, for a cluster of equal vectors, cut off most of the
     * graph). Without room anywhere, the next repair pass reconnects y. */
    for (uint32_t i = 1; i <= n; i++)
        if (cogmem__ann_try_link_into(a, atomic_load_explicit(&Y->l0[i], memory_order_acquire),
                                      y))
            return;
    if (e != NO_ENTRY)
        (void)cogmem__ann_try_link_into(a, (uint32_t)e, y);
}

/* Add link u -> x at level l (x's reverse link), pruning u's list when full. */
static void add_reverse(struct cogmem__ann *a, uint32_t u, uint32_t xs, uint32_t l)
{
    struct slot *U = slot_at(a, u), *X = slot_at(a, xs);
    spin_lock(&U->lock);
    _Atomic uint32_t *list = list_of(a, U, l);
    if (!list || !live_state(atomic_load_explicit(&U->hot->state, memory_order_acquire)) ||
        atomic_load_explicit(&X->hot->state, memory_order_acquire) >= S_DELETED) {
        spin_unlock(&U->lock);
        return;
    }
    uint32_t cap = cap_of(a, l);
    uint32_t n = atomic_load_explicit(&list[0], memory_order_relaxed);
    for (uint32_t i = 1; i <= n; i++)
        if (atomic_load_explicit(&list[i], memory_order_relaxed) == xs) {
            spin_unlock(&U->lock);
            return;
        }
    if (n < cap) {
        atomic_store_explicit(&list[1 + n], xs, memory_order_release);
        atomic_store_explicit(&list[0], n + 1, memory_order_release);
        if (l == 0)
            atomic_fetch_add_explicit(&X->indeg, 1, memory_order_relaxed);
    } else {
        struct cand c[2 * COGMEM__ANN_M_MAX + 1];
        struct vref urn = vref_load(U);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t y = atomic_load_explicit(&list[1 + i], memory_order_relaxed);
            c[i] = (struct cand){sim_rows(a, urn, vref_load(slot_at(a, y))),
                                 y};
        }
        c[n] = (struct cand){sim_rows(a, urn, vref_load(X)),
                             xs};
        qsort(c, n + 1, sizeof *c, cogmem__ann_cmp_desc);
        uint32_t nb[2 * COGMEM__ANN_M_MAX];
        uint32_t k = cogmem__ann_select_nbrs(a, c, n + 1, cap, u, nb);
        cogmem__ann_write_list(a, list, l, nb, k);
    }
    spin_unlock(&U->lock);
}

/* Link slot xs (PENDING or LINKED; a re-link rewrites its lists): every
 * level's forward links, then the reverse links, then the entry point.
 * Caller holds the RCU read lock. */
static void link_slot(struct cogmem__ann *a, uint32_t xs)
{
    struct slot *X = slot_at(a, xs);
    uint32_t L = atomic_load_explicit(&X->level, memory_order_relaxed);
    uint64_t e;
    for (;;) {
        e = entry_load(a);
        if (e != NO_ENTRY)
            break;
        spin_lock(&a->entry_lock);
        e = atomic_load_explicit(&a->entry, memory_order_relaxed);
        if (e == NO_ENTRY && atomic_load_explicit(&X->hot->state, memory_order_acquire) < S_DELETED)
            atomic_store_explicit(&a->entry, (uint64_t)L << 32 | xs, memory_order_release);
        spin_unlock(&a->entry_lock);
        if (e == NO_ENTRY)
            return; /* we are the first node (or deleted already) */
    }
    if ((uint32_t)e == xs)
        return; /* a re-link of the entry point: its lists stay */
    struct vref xrn = vref_load(X);
    struct query q = {xrn.d, xrn.inv, 1, 0};
    uint32_t top = (uint32_t)(e >> 32), cur = (uint32_t)e;
    float cs = score(a, &q, vref_load(slot_at(a, cur)));
    for (uint32_t l = top; l > L; l--)
        cogmem__ann_greedy(a, &q, l, &cur, &cs);
    uint32_t chosen[MAX_LEVEL + 1][COGMEM__ANN_M_MAX];
    uint32_t nchosen[MAX_LEVEL + 1] = {0};
    struct pool spare, *p = cogmem__ann_pool_get(a, &spare);
    for (uint32_t l = (L < top ? L : top) + 1; l-- > 0;) {
        size_t nr = 0;
        if (cogmem__ann_pool_begin(a, p, a->efc) || cogmem__ann_search_layer(a, p, &q, cur, cs, a->efc, l, &nr))
            break; /* no scratch: keep what is linked so far */
        qsort(p->res, nr, sizeof *p->res, cogmem__ann_cmp_desc);
        nchosen[l] = cogmem__ann_select_nbrs(a, p->res, nr, a->m, xs, chosen[l]);
        spin_lock(&X->lock);
        cogmem__ann_write_list(a, list_of(a, X, l), l, chosen[l], nchosen[l]);
        spin_unlock(&X->lock);
        for (size_t i = 0; i < nr; i++)
            if (p->res[i].slot != xs) {
                cur = p->res[i].slot;
                cs = p->res[i].s;
                break;
            }
    }
    cogmem__ann_pool_put(a, p);
    for (uint32_t l = 0; l <= L && l <= top; l++)
        for (uint32_t i = 0; i < nchosen[l]; i++)
            add_reverse(a, chosen[l][i], xs, l);
    cogmem__ann_ensure_inlink(a, xs);
    if (L > top) {
        spin_lock(&a->entry_lock);
        e = atomic_load_explicit(&a->entry, memory_order_relaxed);
        if ((e == NO_ENTRY || L > (uint32_t)(e >> 32)) &&
            atomic_load_explicit(&X->hot->state, memory_order_acquire) < S_DELETED)
            atomic_store_explicit(&a->entry, (uint64_t)L << 32 | xs, memory_order_release);
        spin_unlock(&a->entry_lock);
    }
}

/* Give slot X node n's current vector if it is newer than X's; returns 1
 * when X has drifted past the re-link threshold (its drift then restarts). */
static int refresh(struct cogmem__ann *a, struct slot *X, struct cogmem__node *n)
{
    spin_lock(&X->lock);
    struct cogmem_vec *nv = atomic_load_explicit(&n->vec, memory_order_acquire);
    struct cogmem_vec *old = X->vec;
    if (!live_state(atomic_load_explicit(&X->hot->state, memory_order_relaxed)) || !nv ||
        nv == old || (old && !cogmem__version_newer(nv->version, old->version)) ||
        !cogmem__vec_tryget(nv)) {
        spin_unlock(&X->lock);
        return 0;
    }
    int due = 0;
    if (old) {
        float c = dot(a, cogmem__slab_data_of(a->sl, old, old->row),
                      cogmem__slab_data_of(a->sl, nv, nv->row)) /
                  (old->norm * nv->norm);
        X->drift += acosf(c > 1.0f ? 1.0f : c < -1.0f ? -1.0f : c);
        if (X->drift > COGMEM__ANN_RELINK_DRIFT) {
            X->drift = 0.0f;
            due = 1;
        }
    }
    X->vec = nv;
    vref_store(a, X, nv);
    spin_unlock(&X->lock);
    if (old)
        cogmem__vec_unref(old);
    return due;
}

static uint32_t tail_add(struct cogmem__ann *a, uint32_t s)
{
    for (;;) {
        for (uint32_t i = 0; i < COGMEM__ANN_TAIL; i++) {
            uint32_t z = 0;
            /* Release: the slot's initialisation before a search sees it. */
            if (!atomic_load_explicit(&a->tail[i], memory_order_relaxed) &&
                atomic_compare_exchange_strong_explicit(&a->tail[i], &z, s + 1,
                                                        memory_order_release,
                                                        memory_order_relaxed))
                return i;
        }
        sched_yield(); /* more adders than tail entries: wait for one */
    }
}

/* Onto the tail in reserved slot s, if n's slot word still is `expect`
 * (0 for an add, the old slot + 1 for a re-link); 0 if not inserted. */
static uint32_t begin_at(struct cogmem__ann *a, uint32_t s, struct cogmem__node *n,
                         struct cogmem_vec *v, uint32_t expect)
{
    struct cogmem__node_mem *nm = (struct cogmem__node_mem *)n;
    struct slot *X = slot_at(a, s);
    if (!cogmem__vec_tryget(v)) { /* removed meanwhile */
        cogmem__ann_unreserve(a, s);
        return 0;
    }
    X->vec = v;
    atomic_store_explicit(&X->id, atomic_load_explicit(&n->id, memory_order_relaxed),
                          memory_order_relaxed);
    vref_store(a, X, v);
    atomic_store_explicit(&X->hot->state, S_PENDING, memory_order_release);
    uint32_t z = expect;
    /* A removal exchanges the word for GONE: after it we must not insert. */
    if (!atomic_compare_exchange_strong_explicit(&nm->ann_slot, &z, s + 1,
                                                 memory_order_seq_cst,
                                                 memory_order_seq_cst)) {
        X->vec = NULL;
        cogmem__vec_unref(v);
        cogmem__ann_unreserve(a, s);
        return 0;
    }
    /* A replacement whose hook ran before our CAS: take its vector now. */
    (void)refresh(a, X, n);
    return tail_add(a, s) + 1;
}

uint32_t cogmem__ann_insert_begin(struct cogmem__ann *a, uint32_t s, struct cogmem__node *n,
                                  struct cogmem_vec *v)
{
    return begin_at(a, s, n, v, 0);
}

void cogmem__ann_insert_finish(struct cogmem__ann *a, uint32_t s, uint32_t t)
{
    struct slot *X = slot_at(a, s);
    link_slot(a, s);
    uint32_t expect = S_PENDING;
    if (atomic_compare_exchange_strong_explicit(&X->hot->state, &expect, S_LINKED,
                                                memory_order_release,
                                                memory_order_relaxed))
        atomic_fetch_add_explicit(&a->linked, 1, memory_order_relaxed);
    atomic_store_explicit(&a->tail[t - 1], 0, memory_order_release);
}

void cogmem__ann_insert(struct cogmem__ann *a, uint32_t s, struct cogmem__node *n,
                        struct cogmem_vec *v)
{
    uint32_t t = cogmem__ann_insert_begin(a, s, n, v);
    if (t)
        cogmem__ann_insert_finish(a, s, t);
}


/* Make X a tombstone; 1 when a repair pass is due. */
static int tombstone(struct cogmem__ann *a, struct slot *X)
{
    spin_lock(&X->lock);
    uint32_t st = atomic_load_explicit(&X->hot->state, memory_order_relaxed);
    /* A CAS, not a store: cogmem__ann_insert_finish turns PENDING into
     * LINKED without the lock, and a plain store after reading PENDING
     * lost that (LINKED counted, never uncounted: stress-ann once found
     * linked 13968 of 13967). Release: a writer that sees the tombstone
     * under a lock we order against (hnsw.h) skips the link. */
    while (live_state(st) &&
           !atomic_compare_exchange_weak_explicit(&X->hot->state, &st, S_DELETED,
                                                  memory_order_release, memory_order_relaxed)) {
    }
    if (live_state(st)) {
        if (st == S_LINKED)
            atomic_fetch_sub_explicit(&a->linked, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&a->deleted, 1, memory_order_relaxed);
    }
    spin_unlock(&X->lock);
    return repair_due(a);
}

int cogmem__ann_remove(struct cogmem__ann *a, struct cogmem__node *n)
{
    struct cogmem__node_mem *nm = (struct cogmem__node_mem *)n;
    uint32_t s = atomic_exchange_explicit(&nm->ann_slot, COGMEM__ANN_SLOT_GONE,
                                          memory_order_seq_cst);
    if (s == 0 || s == COGMEM__ANN_SLOT_GONE)
        return 0;
    return tombstone(a, slot_at(a, s - 1));
}

int cogmem__ann_replaced(struct cogmem__ann *a, struct cogmem__node *n)
{
    struct cogmem__node_mem *nm = (struct cogmem__node_mem *)n;
    /* A read-modify-write, not a load: it reads the latest word, so either
     * we see the adder's slot or the adder's CAS comes after our
     * replacement's publication and its refresh() sees the new vector. */
    uint32_t s = atomic_fetch_or_explicit(&nm->ann_slot, 0, memory_order_seq_cst);
    if (s == 0 || s == COGMEM__ANN_SLOT_GONE || !refresh(a, slot_at(a, s - 1), n))
        return 0;
    /* Drifted: the node moves to a new slot linked where its vector now
     * is, and the old slot becomes a tombstone whose links keep serving
     * searches until a repair pass rewires them (rewriting the old slot's
     * lists in place would cut off nodes reachable only through them). */
    uint32_t s2;
    if (cogmem__ann_reserve(a, &s2))
        return 0; /* no memory: it stays linked where it was */
    struct cogmem_vec *v = atomic_load_explicit(&n->vec, memory_order_acquire);
    uint32_t t = v ? begin_at(a, s2, n, v, s) : 0;
    if (!t) {
        if (!v)
            cogmem__ann_unreserve(a, s2);
        return 0; /* removed meanwhile (begin_at gave s2 back) */
    }
    int due = tombstone(a, slot_at(a, s - 1));
    cogmem__ann_insert_finish(a, s2, t);
    atomic_fetch_add_explicit(&a->relinks, 1, memory_order_relaxed);
    return due;
}
