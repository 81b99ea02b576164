/* cogmem — the graph index's repair passes and reachability (hnsw.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "src/ann/graph.h"

/* Breadth-first at level 0 from queue[0..*t): marks seen[], appends what
 * it reaches to queue; returns the live slots it dequeued. It walks
 * through tombstones (DELETED: their links stay until a pass drains
 * them) but never through DRAINING slots: the pass that collected them
 * drops their lists (its DROP phase, below) after its reconnect
 * walk, so a path through one is gone by the end of the pass. Counting
 * such paths let reconnect pass over whole clusters whose only way in was
 * a drained bridge; cut off by the DROP phase, they stayed unreachable
 * (stress-ann under ASan: 112 of 3999 live nodes). At most *budget dequeues, each
 * taken from it (the pass walks in slices; the queue and marks keep the
 * walk's place). */
static uint64_t bfs(struct cogmem__ann *a, uint32_t used, uint8_t *seen, uint32_t *queue,
                    size_t *h, size_t *t, uint64_t *budget)
{
    uint64_t reached = 0;
    while (*h < *t && *budget) {
        --*budget;
        struct slot *x = slot_at(a, queue[(*h)++]);
        reached += live_state(atomic_load_explicit(&x->hot->state, memory_order_acquire));
        uint32_t n = atomic_load_explicit(&x->l0[0], memory_order_acquire);
        for (uint32_t i = 1; i <= n && i <= a->m0; i++) {
            uint32_t y = atomic_load_explicit(&x->l0[i], memory_order_acquire);
            uint32_t st = y < used ? atomic_load_explicit(&slot_at(a, y)->hot->state,
                                                          memory_order_acquire)
                                   : S_FREE;
            if (st >= S_PENDING && st != S_DRAINING && !seen[y]) {
                seen[y] = 1;
                queue[(*t)++] = y;
            }
        }
    }
    return reached;
}

/* -------------------------------------------------------------- repair */

struct drain {
    struct rcu_head rcu;
    struct cogmem__ann *a;
    size_t n, bytes;
    uint32_t slot[];
};

static void drain_reclaim(struct rcu_head *head)
{
    COGMEM__RCU_RECLAIM_BEGIN();
    struct drain *d = caa_container_of(head, struct drain, rcu);
    struct cogmem__ann *a = d->a;
    struct cogmem__mem *mem = a->mem;
    for (size_t i = 0; i < d->n; i++)
        cogmem__ann_free_push(a, d->slot[i]);
    cogmem__mem_free(mem, COGMEM__MEM_META, d, d->bytes);
    COGMEM__RCU_RECLAIM_END(mem);
}

/* Rewire u's list at level l if it points to DRAINING slots; 1 if it did. */
static int repair_list(struct cogmem__ann *a, uint32_t u, uint32_t l, struct cand *buf)
{
    struct slot *U = slot_at(a, u);
    spin_lock(&U->lock);
    _Atomic uint32_t *list = list_of(a, U, l);
    uint32_t n = list ? atomic_load_explicit(&list[0], memory_order_relaxed) : 0;
    int hit = 0;
    for (uint32_t i = 1; i <= n && !hit; i++)
        hit = atomic_load_explicit(&slot_at(a, atomic_load_explicit(&list[i],
                                                                    memory_order_relaxed))->hot->state,
                                   memory_order_acquire) == S_DRAINING;
    if (!hit) {
        spin_unlock(&U->lock);
        return 0;
    }
    struct vref urn = vref_load(U);
    size_t nc = 0;
    uint32_t cap = cap_of(a, l);
    for (uint32_t i = 1; i <= n; i++) {
        uint32_t y = atomic_load_explicit(&list[i], memory_order_relaxed);
        struct slot *Y = slot_at(a, y);
        if (atomic_load_explicit(&Y->hot->state, memory_order_acquire) != S_DRAINING) {
            buf[nc++].slot = y;
            continue;
        }
        _Atomic uint32_t *dl = list_of(a, Y, l);
        uint32_t dn = dl ? atomic_load_explicit(&dl[0], memory_order_acquire) : 0;
        for (uint32_t j = 1; j <= dn && j <= cap; j++) {
            uint32_t z = atomic_load_explicit(&dl[j], memory_order_acquire);
            if (z == u)
                continue;
            size_t k = 0;
            while (k < nc && buf[k].slot != z)
                k++;
            if (k == nc)
                buf[nc++].slot = z;
        }
    }
    for (size_t i = 0; i < nc; i++)
        buf[i].s = sim_rows(a, urn, vref_load(slot_at(a, buf[i].slot)));
    qsort(buf, nc, sizeof *buf, cogmem__ann_cmp_desc);
    uint32_t nb[2 * COGMEM__ANN_M_MAX];
    uint32_t k = cogmem__ann_select_nbrs(a, buf, nc, cap, u, nb);
    cogmem__ann_write_list(a, list, l, nb, k);
    spin_unlock(&U->lock);
    return 1;
}

/* Link the live slot y, which the walk of the reconnect round did not
 * reach, from the best reached hit of a search for its vector: appended
 * where a reached list has room, else by a swap
 * (cogmem__ann_link_by_swap, which cuts nothing off), as a last resort
 * into the entry point's list. 1 if linked; *failed: a search had no
 * scratch. Caller holds the RCU read lock. */
static int link_unreached(struct cogmem__ann *a, struct pass *ps, uint32_t y, int *failed)
{
    uint32_t used = ps->rused;
    uint64_t e = ps->e;
    const uint8_t *seen = ps->seen;
    struct vref yrn = vref_load(slot_at(a, y));
    struct query q = {yrn.d, yrn.inv, 1, 0};
    uint32_t cur = (uint32_t)e;
    float cs = score(a, &q, vref_load(slot_at(a, cur)));
    for (uint32_t l = (uint32_t)(e >> 32); l > 0; l--)
        cogmem__ann_greedy(a, &q, l, &cur, &cs);
    struct pool spare, *p = cogmem__ann_pool_get(a, &spare);
    size_t nr = 0;
    int done = 0;
    if (cogmem__ann_pool_begin(a, p, a->efc) ||
        cogmem__ann_search_layer(a, p, &q, cur, cs, a->efc, 0, &nr)) {
        *failed = 1;
        cogmem__ann_pool_put(a, p);
        return 0;
    }
    qsort(p->res, nr, sizeof *p->res, cogmem__ann_cmp_desc);
    for (size_t i = 0; i < nr && !done; i++) {
        uint32_t u = p->res[i].slot;
        done = u != y && u < used && seen[u] && cogmem__ann_try_link_into(a, u, y);
    }
    for (size_t i = 0; i < nr && !done; i++) {
        uint32_t u = p->res[i].slot;
        /* The entry point's list last: it is every search's way in. */
        done = u != y && u < used && seen[u] && u != (uint32_t)e &&
               cogmem__ann_link_by_swap(a, u, y, seen, used);
    }
    if (!done)
        done = cogmem__ann_link_by_swap(a, (uint32_t)e, y, seen, used);
    cogmem__ann_pool_put(a, p);
    return done;
}

/* ---------------------------------------------------------- the pass */

/* A pass is one sweep of each phase of struct pass (graph.h), in order,
 * cut into slices of COGMEM__ANN_REPAIR_BUDGET units (hnsw.h), one slice
 * per call that finds repair due, so that no remove pays for the whole
 * pass (at 10^5 nodes x 128 the whole pass took 3.5 s inside one remove).
 * What makes the slicing safe:
 * - COLLECT before REWIRE: a slot is DRAINING from its collection on, and
 *   from then on no writer adds a link to it (hnsw.h), so every list that
 *   points to it belongs to a slot handed out before that, which the
 *   REWIRE sweep (over `used` read after COLLECT ended) visits.
 * - A list REWIRE has passed gains no link to a DRAINING slot later, for
 *   the same reason; so when the sweep ends, no list points to one.
 * - The entry point moves off a DRAINING slot when REWIRE ends, before
 *   the reconnect walk (which must not count paths through DRAINING
 *   slots) and before DROP (which empties their lists). Until then
 *   searches start from it: its lists are intact.
 * - DROP after everything, then the grace period, then FREE: as before.
 * Between slices other threads add, remove and re-link; that only makes
 * the reconnect walk see a graph that moved under it (what a concurrent
 * writer did to the unsliced pass too). A forced pass runs every slice
 * in one call. Only the holder of a->repairing runs a slice. */

static void pass_clear(struct cogmem__ann *a)
{
    struct pass *ps = &a->pass;
    if (ps->dr)
        cogmem__mem_free(a->mem, COGMEM__MEM_META, ps->dr, ps->dr_bytes);
    cogmem__mem_free(a->mem, COGMEM__MEM_META, ps->buf, ps->bufn * sizeof *ps->buf);
    cogmem__mem_free(a->mem, COGMEM__MEM_META, ps->queue,
                     (size_t)ps->rused * sizeof(uint32_t) + 64);
    cogmem__mem_free(a->mem, COGMEM__MEM_META, ps->seen, (size_t)ps->rused + 64);
    memset(ps, 0, sizeof *ps);
    atomic_store_explicit(&a->pass_active, 0, memory_order_relaxed);
}

void cogmem__ann_pass_fini(struct cogmem__ann *a)
{
    pass_clear(a); /* the drain list's slots go with the index */
}

/* A new pass over the tombstones now: 0, or -ENOMEM (they wait). */
static int pass_start(struct cogmem__ann *a)
{
    struct pass *ps = &a->pass;
    uint64_t d0 = atomic_load_explicit(&a->deleted, memory_order_relaxed);
    ps->dr_cap = d0 + d0 / 2 + 64;
    ps->dr_bytes = sizeof(struct drain) + ps->dr_cap * sizeof(uint32_t);
    ps->bufn = (size_t)a->m0 * (a->m0 + 1) + 1;
    ps->dr = cogmem__mem_alloc(a->mem, COGMEM__MEM_META, ps->dr_bytes);
    ps->buf = cogmem__mem_alloc(a->mem, COGMEM__MEM_META, ps->bufn * sizeof *ps->buf);
    if (!ps->dr || !ps->buf) {
        pass_clear(a);
        return -ENOMEM;
    }
    ps->dr->a = a;
    ps->dr->bytes = ps->dr_bytes;
    ps->dr->n = 0;
    ps->phase = P_COLLECT;
    ps->cur = 0;
    ps->used = atomic_load_explicit(&a->used, memory_order_acquire);
    atomic_store_explicit(&a->pass_active, 1, memory_order_relaxed);
    return 0;
}

/* End of REWIRE: the entry point off a drained slot, onto the live slot
 * of top level the sweep saw (a full scan only if that one has gone
 * since), then the reconnect walk's arrays. */
static void rewire_end(struct cogmem__ann *a, struct pass *ps)
{
    spin_lock(&a->entry_lock);
    uint64_t e = atomic_load_explicit(&a->entry, memory_order_relaxed);
    if (e != NO_ENTRY &&
        atomic_load_explicit(&slot_at(a, (uint32_t)e)->hot->state, memory_order_acquire) == S_DRAINING) {
        uint64_t best = ps->best;
        if (best == NO_ENTRY ||
            !live_state(atomic_load_explicit(&slot_at(a, (uint32_t)best)->hot->state,
                                             memory_order_acquire))) {
            best = NO_ENTRY;
            for (uint32_t s = 0; s < ps->used; s++) {
                struct slot *x = slot_at(a, s);
                if (!live_state(atomic_load_explicit(&x->hot->state, memory_order_acquire)))
                    continue;
                uint32_t lv = atomic_load_explicit(&x->level, memory_order_relaxed);
                if (best == NO_ENTRY || lv > (uint32_t)(best >> 32))
                    best = (uint64_t)lv << 32 | s;
            }
        }
        atomic_store_explicit(&a->entry, best, memory_order_release);
    }
    spin_unlock(&a->entry_lock);
    ps->rused = atomic_load_explicit(&a->used, memory_order_acquire);
    ps->queue = cogmem__mem_alloc(a->mem, COGMEM__MEM_META,
                                  (size_t)ps->rused * sizeof(uint32_t) + 64);
    ps->seen = cogmem__mem_alloc(a->mem, COGMEM__MEM_META, (size_t)ps->rused + 64);
    ps->prev = UINT64_MAX;
    ps->cur = 0;
    /* No memory: no reconnect this time (the next pass tries again). */
    ps->phase = ps->queue && ps->seen ? P_ROUND : P_DROP;
}

/* DROP one drained slot: its vector goes; its level-0 links go with it. */
static void drop_slot(struct cogmem__ann *a, uint32_t s)
{
    struct slot *x = slot_at(a, s);
    uint32_t orphan[2 * COGMEM__ANN_M_MAX], no = 0;
    spin_lock(&x->lock);
    struct cogmem_vec *v = x->vec;
    x->vec = NULL;
    uint32_t n = atomic_load_explicit(&x->l0[0], memory_order_relaxed);
    for (uint32_t j = 1; j <= n && j <= a->m0; j++) {
        uint32_t y = atomic_load_explicit(&x->l0[j], memory_order_relaxed);
        if (atomic_fetch_sub_explicit(indeg_of(a, y), 1, memory_order_relaxed) == 1)
            orphan[no++] = y;
    }
    atomic_store_explicit(&x->l0[0], 0, memory_order_release);
    spin_unlock(&x->lock);
    if (v)
        cogmem__vec_unref(v);
    for (uint32_t j = 0; j < no; j++)
        cogmem__ann_ensure_inlink(a, orphan[j]);
}

static void take(uint64_t *budget, uint64_t n)
{
    *budget -= n < *budget ? n : *budget;
}

/* Runs the pass in progress for `budget` units or to its end; returns
 * the lists rewired plus the links added. Caller holds a->repairing and
 * no read-side section. */
static uint64_t pass_run(struct cogmem__ann *a, uint64_t budget)
{
    struct pass *ps = &a->pass;
    uint64_t fixed = 0;
    int failed = 0, done = 0;
    cogmem__rcu_lock();
    while (budget && !done) {
        switch (ps->phase) {
        case P_COLLECT: {
            /* Every tombstone seen now is DRAINING from here on. */
            if (ps->cur == ps->used) {
                ps->phase = P_REWIRE;
                ps->cur = 0;
                ps->best = NO_ENTRY;
                ps->used = atomic_load_explicit(&a->used, memory_order_acquire);
                break;
            }
            struct slot *x = slot_at(a, ps->cur);
            take(&budget, 1);
            spin_lock(&x->lock);
            if (atomic_load_explicit(&x->hot->state, memory_order_relaxed) == S_DELETED &&
                ps->dr->n < ps->dr_cap) {
                atomic_store_explicit(&x->hot->state, S_DRAINING, memory_order_release);
                ps->dr->slot[ps->dr->n++] = ps->cur;
            }
            spin_unlock(&x->lock);
            ps->cur++;
            break;
        }
        case P_REWIRE: {
            /* Every list that points to a drained slot, rewired. */
            if (ps->cur == ps->used) {
                rewire_end(a, ps);
                break;
            }
            uint32_t s = ps->cur++;
            struct slot *x = slot_at(a, s);
            uint32_t st = atomic_load_explicit(&x->hot->state, memory_order_acquire);
            take(&budget, 1);
            if (st < S_PENDING || st == S_DRAINING)
                break;
            uint32_t lv = atomic_load_explicit(&x->level, memory_order_relaxed);
            if (live_state(st) && (ps->best == NO_ENTRY || lv > (uint32_t)(ps->best >> 32)))
                ps->best = (uint64_t)lv << 32 | s;
            for (uint32_t l = 0; l <= lv; l++)
                if (repair_list(a, s, l, ps->buf)) {
                    fixed++;
                    take(&budget, COGMEM__ANN_REWIRE_COST);
                }
            break;
        }
        case P_ROUND: {
            /* Link every live slot the level-0 walk does not reach
             * (hnsw.h): rounds until a walk reaches them all, or reaches
             * no more than the round before (concurrent writers), or a
             * search had no scratch. */
            uint64_t e = entry_load(a);
            if (e == NO_ENTRY || (uint32_t)e >= ps->rused || failed) {
                ps->phase = P_DROP; /* a new top node since: the next pass */
                ps->cur = 0;
                break;
            }
            ps->e = e;
            memset(ps->seen, 0, (size_t)ps->rused);
            ps->h = ps->t = 0;
            ps->queue[ps->t++] = (uint32_t)e;
            ps->seen[(uint32_t)e] = 1;
            ps->unreached = 0;
            ps->cur = 0;
            ps->phase = P_WALK;
            take(&budget, 1);
            break;
        }
        case P_WALK:
            (void)bfs(a, ps->rused, ps->seen, ps->queue, &ps->h, &ps->t, &budget);
            if (ps->h == ps->t)
                ps->phase = P_LINK;
            break;
        case P_LINK: {
            if (ps->cur == ps->rused || failed) {
                int again = !failed && ps->unreached && ps->unreached < ps->prev;
                ps->prev = ps->unreached;
                ps->phase = again ? P_ROUND : P_DROP;
                ps->cur = 0;
                break;
            }
            uint32_t y = ps->cur++;
            take(&budget, 1);
            if (ps->seen[y] ||
                !live_state(atomic_load_explicit(&slot_at(a, y)->hot->state, memory_order_acquire)))
                break;
            ps->unreached++;
            take(&budget, a->efc);
            if (!link_unreached(a, ps, y, &failed))
                break; /* its island's other nodes get their own tries */
            fixed++;
            /* And what it reaches: one link serves its island. */
            ps->seen[y] = 1;
            ps->queue[ps->t++] = y;
            ps->phase = P_WALK;
            break;
        }
        case P_DROP:
            /* The drained slots' vectors go; the slots follow after a
             * grace period (searches that loaded a link to them are still
             * running). */
            if (ps->cur == ps->dr->n) {
                done = 1;
                break;
            }
            drop_slot(a, ps->dr->slot[ps->cur++]);
            take(&budget, 1 + a->m0);
            break;
        default:
            done = 1; /* P_IDLE: nothing in progress */
            break;
        }
    }
    cogmem__rcu_unlock();
    if (done && ps->phase == P_DROP) {
        atomic_fetch_sub_explicit(&a->deleted, ps->dr->n, memory_order_relaxed);
        cogmem__rcu_defer(a->mem, &ps->dr->rcu, drain_reclaim);
        ps->dr = NULL;
        pass_clear(a);
    }
    return fixed;
}

int cogmem__ann_pass_open(struct cogmem__ann *a)
{
    return atomic_load_explicit(&a->pass_active, memory_order_relaxed) != 0;
}

uint64_t cogmem__ann_repair(struct cogmem__ann *a, int force)
{
    if (!force && !repair_due(a))
        return 0;
    uint32_t z = 0;
    if (!atomic_compare_exchange_strong_explicit(&a->repairing, &z, 1, memory_order_acquire,
                                                 memory_order_relaxed))
        return 0; /* another caller holds the pass: skip, never wait */
    uint64_t fixed = 0;
    if (force) {
        /* The pass in progress to its end, then a whole new one: every
         * tombstone made before this call is drained when it returns. */
        if (a->pass.phase != P_IDLE)
            fixed += pass_run(a, UINT64_MAX);
        if (pass_start(a) == 0)
            fixed += pass_run(a, UINT64_MAX);
    } else if (a->pass.phase != P_IDLE || pass_start(a) == 0) {
        fixed = pass_run(a, COGMEM__ANN_REPAIR_BUDGET);
    }
    atomic_store_explicit(&a->repairing, 0, memory_order_release);
    return fixed;
}

/* --------------------------------------------------------------- stats */

void cogmem__ann_read_stats(struct cogmem__ann *a, struct cogmem__ann_stats *out)
{
    out->linked = atomic_load_explicit(&a->linked, memory_order_relaxed);
    out->tombstones = atomic_load_explicit(&a->deleted, memory_order_relaxed);
    out->relinks = atomic_load_explicit(&a->relinks, memory_order_relaxed);
    out->tail = 0;
    for (uint32_t i = 0; i < COGMEM__ANN_TAIL; i++)
        out->tail += atomic_load_explicit(&a->tail[i], memory_order_relaxed) != 0;
}

int64_t cogmem__ann_unreachable(struct cogmem__ann *a, uint64_t *live)
{
    uint32_t used = atomic_load_explicit(&a->used, memory_order_acquire);
    uint64_t nlive = 0;
    for (uint32_t s = 0; s < used; s++)
        nlive += live_state(atomic_load_explicit(&slot_at(a, s)->hot->state, memory_order_acquire));
    *live = nlive;
    uint64_t e = entry_load(a);
    if (e == NO_ENTRY)
        return (int64_t)nlive;
    if ((uint32_t)e >= used)
        used = (uint32_t)e + 1;
    size_t qb = (size_t)used * sizeof(uint32_t) + 64, sb = (size_t)used + 64;
    uint32_t *queue = cogmem__mem_alloc(a->mem, COGMEM__MEM_META, qb);
    uint8_t *seen = cogmem__mem_alloc(a->mem, COGMEM__MEM_META, sb);
    int64_t rc = -ENOMEM;
    if (queue && seen) {
        memset(seen, 0, sb);
        size_t h = 0, t = 0;
        queue[t++] = (uint32_t)e;
        seen[(uint32_t)e] = 1;
        cogmem__rcu_lock();
        uint64_t all = UINT64_MAX;
        uint64_t reached = bfs(a, used, seen, queue, &h, &t, &all);
        cogmem__rcu_unlock();
        rc = (int64_t)(nlive - reached);
    }
    cogmem__mem_free(a->mem, COGMEM__MEM_META, queue, qb);
    cogmem__mem_free(a->mem, COGMEM__MEM_META, seen, sb);
    return rc;
}
