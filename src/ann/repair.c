/* cogmem — the graph index's repair passes and reachability (hnsw.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "src/ann/graph.h"

/* Breadth-first at level 0 from queue[0..*t): marks seen[], appends what
 * it reaches to queue; returns the live slots it dequeued. It walks
 * through tombstones (DELETED: their links stay until a pass drains
 * them) but never through DRAINING slots: the pass that collected them
 * drops their lists (step 5 of cogmem__ann_repair) after its reconnect
 * walk, so a path through one is gone by the end of the pass. Counting
 * such paths let reconnect pass over whole clusters whose only way in was
 * a drained bridge; cut off by step 5, they stayed unreachable (stress-ann
 * under ASan: 112 of 3999 live nodes). */
static uint64_t bfs(struct cogmem__ann *a, uint32_t used, uint8_t *seen, uint32_t *queue,
                    size_t *h, size_t *t)
{
    uint64_t reached = 0;
    while (*h < *t) {
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

/* One round of reconnect (below): walk from the entry point, then link
 * every live slot the walk did not reach from the best reached hit of a
 * search for its vector -- appended where a reached list has room, else
 * by a swap (cogmem__ann_link_by_swap, which cuts nothing off), as a last
 * resort into the entry point's list -- and mark what it reaches.
 * *unreached: the live slots the walk did not reach; *failed: a search
 * had no scratch. Returns the links added. */
static uint64_t reconnect_round(struct cogmem__ann *a, uint32_t used, uint64_t e, uint32_t *queue,
                                uint8_t *seen, struct pool *p, uint64_t *unreached, int *failed)
{
    uint64_t added = 0;
    *unreached = 0;
    memset(seen, 0, (size_t)used);
    size_t h = 0, t = 0;
    queue[t++] = (uint32_t)e;
    seen[(uint32_t)e] = 1;
    (void)bfs(a, used, seen, queue, &h, &t);
    for (uint32_t y = 0; y < used; y++) {
        struct slot *Y = slot_at(a, y);
        if (seen[y] || !live_state(atomic_load_explicit(&Y->hot->state, memory_order_acquire)))
            continue;
        ++*unreached;
        struct vref yrn = vref_load(Y);
        struct query q = {yrn.d, yrn.inv, 1, 0};
        uint32_t cur = (uint32_t)e;
        float cs = score(a, &q, vref_load(slot_at(a, cur)));
        for (uint32_t l = (uint32_t)(e >> 32); l > 0; l--)
            cogmem__ann_greedy(a, &q, l, &cur, &cs);
        size_t nr = 0;
        if (cogmem__ann_pool_begin(a, p, a->efc) ||
            cogmem__ann_search_layer(a, p, &q, cur, cs, a->efc, 0, &nr)) {
            *failed = 1;
            break;
        }
        qsort(p->res, nr, sizeof *p->res, cogmem__ann_cmp_desc);
        int done = 0;
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
        if (!done)
            continue; /* its island's other nodes get their own tries */
        added++;
        seen[y] = 1; /* and what it reaches: one link serves its island */
        queue[t++] = y;
        (void)bfs(a, used, seen, queue, &h, &t);
    }
    return added;
}

/* Rounds of the above until a walk reaches every live slot. A link never
 * cuts off a reached slot (appends and swaps only), so at quiescence each
 * round with something unreached links at least one slot more into the
 * reached part and the next walk finds fewer unreached: the loop ends
 * with none. It also ends when a round's walk found no fewer than the
 * round before (only concurrent writers can cut slots off again; the next
 * pass links them) or when a search had no scratch. (A bound of four
 * rounds, with links that replaced entries outright and so could cut
 * their part of the graph off, left 1 of 8422 nodes unreachable in 1 of
 * 18 stress-ann runs.) Caller holds the RCU read lock. Returns the links
 * added. */
static uint64_t reconnect(struct cogmem__ann *a)
{
    uint64_t e = entry_load(a), added = 0;
    if (e == NO_ENTRY)
        return 0;
    /* Read after the entry: the entry may be a slot handed out after the
     * pass began (a new top-level node), and the walk's arrays must cover
     * it (an older `used` overflowed them). The entry's slot was counted
     * in `used` before it was published, so this load sees it; the check
     * only makes that visible here. */
    uint32_t used = atomic_load_explicit(&a->used, memory_order_acquire);
    if ((uint32_t)e >= used)
        used = (uint32_t)e + 1;
    size_t qb = (size_t)used * sizeof(uint32_t) + 64, sb = (size_t)used + 64;
    uint32_t *queue = cogmem__mem_alloc(a->mem, COGMEM__MEM_META, qb);
    uint8_t *seen = cogmem__mem_alloc(a->mem, COGMEM__MEM_META, sb);
    struct pool spare, *p = cogmem__ann_pool_get(a, &spare);
    uint64_t prev = UINT64_MAX, un = 0;
    int failed = 0;
    while (queue && seen && !failed) {
        added += reconnect_round(a, used, e, queue, seen, p, &un, &failed);
        if (un == 0 || un >= prev)
            break;
        prev = un;
    }
    cogmem__ann_pool_put(a, p);
    cogmem__mem_free(a->mem, COGMEM__MEM_META, queue, qb);
    cogmem__mem_free(a->mem, COGMEM__MEM_META, seen, sb);
    return added;
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

uint64_t cogmem__ann_repair(struct cogmem__ann *a, int force)
{
    uint64_t d0 = atomic_load_explicit(&a->deleted, memory_order_relaxed);
    if (!force && !repair_due(a))
        return 0;
    uint32_t z = 0;
    if (!atomic_compare_exchange_strong_explicit(&a->repairing, &z, 1, memory_order_acquire,
                                                 memory_order_relaxed))
        return 0; /* another pass runs */
    uint32_t used = atomic_load_explicit(&a->used, memory_order_acquire);
    size_t cap = d0 + d0 / 2 + 64;
    size_t bytes = sizeof(struct drain) + cap * sizeof(uint32_t);
    size_t bufn = (size_t)a->m0 * (a->m0 + 1) + 1;
    struct drain *dr = cogmem__mem_alloc(a->mem, COGMEM__MEM_META, bytes);
    struct cand *buf = cogmem__mem_alloc(a->mem, COGMEM__MEM_META, bufn * sizeof *buf);
    uint64_t fixed = 0;
    if (!dr || !buf)
        goto out; /* no memory: the tombstones wait for the next remove */
    dr->a = a;
    dr->bytes = bytes;
    dr->n = 0;
    cogmem__rcu_lock();
    /* 1. Collect: every tombstone seen now is DRAINING from here on. */
    for (uint32_t s = 0; s < used && dr->n < cap; s++) {
        struct slot *x = slot_at(a, s);
        spin_lock(&x->lock);
        if (atomic_load_explicit(&x->hot->state, memory_order_relaxed) == S_DELETED) {
            atomic_store_explicit(&x->hot->state, S_DRAINING, memory_order_release);
            dr->slot[dr->n++] = s;
        }
        spin_unlock(&x->lock);
    }
    /* 2. The entry point off a drained slot: the live slot of top level. */
    spin_lock(&a->entry_lock);
    uint64_t e = atomic_load_explicit(&a->entry, memory_order_relaxed);
    if (e != NO_ENTRY &&
        atomic_load_explicit(&slot_at(a, (uint32_t)e)->hot->state, memory_order_acquire) == S_DRAINING) {
        uint64_t best = NO_ENTRY;
        for (uint32_t s = 0; s < used; s++) {
            struct slot *x = slot_at(a, s);
            if (!live_state(atomic_load_explicit(&x->hot->state, memory_order_acquire)))
                continue;
            uint32_t lv = atomic_load_explicit(&x->level, memory_order_relaxed);
            if (best == NO_ENTRY || lv > (uint32_t)(best >> 32))
                best = (uint64_t)lv << 32 | s;
        }
        atomic_store_explicit(&a->entry, best, memory_order_release);
    }
    spin_unlock(&a->entry_lock);
    /* 3. Rewire every list that points to a drained slot. */
    for (uint32_t s = 0; s < used; s++) {
        struct slot *x = slot_at(a, s);
        uint32_t st = atomic_load_explicit(&x->hot->state, memory_order_acquire);
        if (st < S_PENDING || st == S_DRAINING)
            continue;
        uint32_t lv = atomic_load_explicit(&x->level, memory_order_relaxed);
        for (uint32_t l = 0; l <= lv; l++)
            fixed += (uint64_t)repair_list(a, s, l, buf);
    }
    /* 4. Link every live slot the level-0 walk does not reach (hnsw.h). */
    fixed += reconnect(a);
    /* 5. Drop the drained slots' vectors; the slots follow after a grace
     * period (searches that loaded a link to them are still running). */
    for (size_t i = 0; i < dr->n; i++) {
        struct slot *x = slot_at(a, dr->slot[i]);
        uint32_t orphan[2 * COGMEM__ANN_M_MAX], no = 0;
        spin_lock(&x->lock);
        struct cogmem_vec *v = x->vec;
        x->vec = NULL;
        /* Its level-0 links go with it. */
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
    cogmem__rcu_unlock();
    atomic_fetch_sub_explicit(&a->deleted, dr->n, memory_order_relaxed);
    cogmem__rcu_defer(a->mem, &dr->rcu, drain_reclaim);
    dr = NULL;
out:
    if (dr)
        cogmem__mem_free(a->mem, COGMEM__MEM_META, dr, bytes);
    cogmem__mem_free(a->mem, COGMEM__MEM_META, buf, bufn * sizeof *buf);
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
        uint64_t reached = bfs(a, used, seen, queue, &h, &t);
        cogmem__rcu_unlock();
        rc = (int64_t)(nlive - reached);
    }
    cogmem__mem_free(a->mem, COGMEM__MEM_META, queue, qb);
    cogmem__mem_free(a->mem, COGMEM__MEM_META, seen, sb);
    return rc;
}
