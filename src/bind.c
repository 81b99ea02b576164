/* cogmem — bindings: bind, adjust, get, unbind, fan-out, listings, and the
 * unbinding that node removal does (see shards/bindex.h for the locking).
 *
 * Lock order: a concept's list, then an episode's list; never the other
 * way. The episode removal therefore freezes its list (marks it dead) and
 * releases it before it visits the concepts.
 */
#include <errno.h>
#include <math.h>
#include <time.h>

#include "src/bind.h"
#include "src/persist/hooks.h"

uint64_t cogmem__coarse_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void bump_version(struct cogmem__node *cn)
{
    atomic_fetch_add_explicit(&cn->bind_version, 1, memory_order_relaxed);
}

void cogmem__drop_episode_side(cogmem_store *st, uint64_t concept,
                               uint64_t episode)
{
    struct cogmem__node *en = cogmem__find_live(st, COGMEM_EPISODE, episode);
    if (!en)
        return; /* being removed: its removal drops its own list */
    int enomem = 0;
    struct cogmem__blist *el = cogmem__elist(st, en, 0, &enomem);
    if (!el)
        return;
    cogmem__spin_lock(&el->lock);
    if (!el->dead) {
        int32_t j = cogmem__blist_find(el, concept);
        if (j >= 0) {
            cogmem__blist_del(el, (uint32_t)j);
            cogmem__set_fan(en, el->n);
            cogmem__jr_edrop(st, episode, concept);
        }
    }
    cogmem__spin_unlock(&el->lock);
}

void cogmem__bind_node_removed(cogmem_store *st, enum cogmem_kind kind,
                               struct cogmem__node *n, uint64_t id)
{
    cogmem__pres_drop(n);
    struct cogmem__blist *bl = cogmem__blist_detach(n);
    if (!bl)
        return;
    cogmem__rcu_lock();
    cogmem__spin_lock(&bl->lock);
    bl->dead = 1;
    if (kind == COGMEM_CONCEPT) {
        /* Concept -> episode is the lock order: unbind with ours held. */
        for (uint32_t i = 0; i < bl->n; i++)
            cogmem__drop_episode_side(st, id, bl->peer[i]);
        cogmem__bind_count(st, id, -(int64_t)bl->n);
        atomic_store_explicit(&bl->n, 0, memory_order_relaxed); /* under the lock */
        cogmem__set_fan(n, 0);
        cogmem__spin_unlock(&bl->lock);
    } else {
        /* Dead, the list is frozen: nobody else writes it any more, so we
         * may read it after letting go of its lock. */
        cogmem__spin_unlock(&bl->lock);
        for (uint32_t i = 0; i < bl->n; i++) {
            uint64_t c = bl->peer[i];
            struct cogmem__node *cn = cogmem__find_live(st, COGMEM_CONCEPT, c);
            int enomem = 0;
            struct cogmem__blist *cl = cn ? cogmem__clist(st, cn, 0, &enomem) : NULL;
            if (!cl)
                continue; /* being removed: it empties its own list */
            cogmem__spin_lock(&cl->lock);
            int32_t j = cl->dead ? -1 : cogmem__blist_find(cl, id);
            if (j >= 0) {
                cogmem__blist_del(cl, (uint32_t)j);
                cogmem__set_fan(cn, cl->n);
                bump_version(cn);
                cogmem__bind_count(st, c, -1);
                cogmem__jr_unbind(st, cn, id, c);
            }
            cogmem__spin_unlock(&cl->lock);
        }
        cogmem__set_fan(n, 0);
    }
    cogmem__rcu_unlock();
    cogmem__blist_retire(bl);
}

int cogmem_bind(cogmem_store *store, uint64_t episode, uint64_t concept,
                float strength)
{
    if (!store || episode == 0 || concept == 0 ||
        !(strength >= 0.0f && strength <= 1.0f))
        return -EINVAL;
    COGMEM__PERSIST_GATE(store, cogmem__pj_bind(store, episode, concept, strength));
    uint64_t now = cogmem__coarse_ns();
    int rc = 0, enomem = 0;
    cogmem__rcu_lock();
    struct cogmem__node *cn = cogmem__find_live(store, COGMEM_CONCEPT, concept);
    struct cogmem__node *en = cn ? cogmem__find_live(store, COGMEM_EPISODE, episode)
                                 : NULL;
    struct cogmem__blist *cl = en ? cogmem__clist(store, cn, 1, &enomem) : NULL;
    struct cogmem__blist *el = cl ? cogmem__elist(store, en, 1, &enomem) : NULL;
    if (!el) {
        cogmem__rcu_unlock();
        return enomem ? -ENOMEM : -ENOENT;
    }
    cogmem__spin_lock(&cl->lock);
    cogmem__spin_lock(&el->lock);
    if (cl->dead || el->dead)
        rc = -ENOENT;
    else if (cogmem__blist_find(cl, episode) >= 0)
        rc = -EEXIST;
    else if (cogmem__blist_reserve(cl) || cogmem__blist_reserve(el))
        rc = -ENOMEM; /* a list that grew keeps its room: nothing visible */
    else {
        cogmem__blist_append(cl, episode, strength, now);
        cogmem__blist_append(el, concept, 0.0f, now);
        cogmem__set_fan(cn, cl->n);
        cogmem__set_fan(en, el->n);
        bump_version(cn);
        cogmem__bind_count(store, concept, 1);
        cogmem__stats_event(store, COGMEM__EV_BIND_CREATED);
        cogmem__jr_bind(store, cn, episode, concept, strength, now);
    }
    cogmem__spin_unlock(&el->lock);
    cogmem__spin_unlock(&cl->lock);
    cogmem__rcu_unlock();
    return rc;
}

/* Ask for every line a locked access of the concept list `cl` (node m)
 * will touch, all at once, from the node's cold-line hints (shards/node.h)
 * rather than from the list's first line: the list's first line itself,
 * the peer ids a short list is scanned through (or, with an index, the
 * index slot of `episode`) and, for a write, the lines of the values
 * where the write lands (strength, touch and decay time; for a short list
 * all of them, since the slot is not known yet). Issued before the lock,
 * whose exchange (a full barrier on x86) would hold them back. The hints
 * are read relaxed: a list that grows meanwhile just wastes them. */
static inline void locate_prefetch(struct cogmem__node_mem *m, struct cogmem__blist *cl,
                                   uint64_t episode, int for_write)
{
    __builtin_prefetch(cl, 1);
    uint64_t *peer = atomic_load_explicit(&m->bl_peer, memory_order_relaxed);
    if (!peer)
        return; /* no arrays yet: an empty list */
    uint32_t cap = atomic_load_explicit(&m->bl_cap, memory_order_relaxed);
    float *str = atomic_load_explicit(&m->bl_strength, memory_order_relaxed);
    uint64_t *touch = cogmem__blist_touched_of(peer, cap);
    uint64_t *dec = str ? (uint64_t *)(void *)((char *)str + cogmem__bpool_dec_off(cap)) : NULL;
    uint32_t hsize = cogmem__blist_index_size(cap);
    if (!hsize) {
        /* At most 8 entries a line for the ids and times, 16 for the
         * strengths: two lines each at most. */
        __builtin_prefetch(peer);
        if (cap > 8)
            __builtin_prefetch(peer + 8);
        if (for_write && str) {
            __builtin_prefetch(str, 1);
            __builtin_prefetch(touch, 1);
            __builtin_prefetch(dec, 1);
            if (cap > 8) {
                __builtin_prefetch(touch + 8, 1);
                __builtin_prefetch(dec + 8, 1);
            }
        }
        return;
    }
    /* The probe's first slot, where the search starts. */
    __builtin_prefetch(cogmem__blist_index_of(peer, cap, 1) +
                       (cogmem__blist_hash_peer(episode) & (hsize - 1)));
}

/* Lock the concept's list and find the binding. On success returns the
 * slot with the list locked (*out_cl) and the RCU read lock held; on error
 * returns a negative errno with neither held. When `now` is given, the
 * coarse clock is read into it while the prefetches are in flight.
 * Forced inline, as is release(): GCC kept both out of line for their
 * three callers. Inlined, the calls go and each caller's constant
 * for_write and now fold away; measured, 5-7 ns of adjust's 38
 * (bench_bind --only latency --reps 7, 1 thread, three alternating
 * rounds: adjust 37.8-38.9 -> 32.4-33.0 ns, binding_get 25.1-26.0 ->
 * 18.3-19.3 ns). */
static inline __attribute__((always_inline)) int32_t
locate(cogmem_store *st, uint64_t episode, uint64_t concept,
       struct cogmem__blist **out_cl, int for_write, uint64_t *now)
{
    cogmem__rcu_lock();
    struct cogmem__node *cn = cogmem__find_live(st, COGMEM_CONCEPT, concept);
    if (cn) {
        struct cogmem__node_mem *m = cogmem__node_mem_of(cn);
        /* Acquire: as cogmem__blist_get_in (the list's fields were
         * initialised before its publication). */
        struct cogmem__blist *cl = atomic_load_explicit(&m->bind, memory_order_acquire);
        if (cl && cl != COGMEM__SIDE_GONE) {
            locate_prefetch(m, cl, episode, for_write);
            if (now)
                *now = cogmem__coarse_ns();
            cogmem__spin_lock(&cl->lock);
            int32_t i = cl->dead ? -1 : cogmem__blist_find(cl, episode);
            if (i >= 0) {
                *out_cl = cl;
                return i;
            }
            cogmem__spin_unlock(&cl->lock);
        }
    }
    cogmem__rcu_unlock();
    return -ENOENT;
}

static inline __attribute__((always_inline)) void release(struct cogmem__blist *cl)
{
    cogmem__spin_unlock(&cl->lock);
    cogmem__rcu_unlock();
}

int cogmem_binding_adjust(cogmem_store *store, uint64_t episode,
                          uint64_t concept, float delta, float *new_strength)
{
    if (!store || episode == 0 || concept == 0 || !isfinite(delta))
        return -EINVAL;
    COGMEM__PERSIST_GATE(store, cogmem__pj_adjust(store, episode, concept, delta, new_strength));
    uint64_t now;
    struct cogmem__blist *cl;
    int32_t i = locate(store, episode, concept, &cl, 1, &now);
    if (i < 0)
        return i;
    float s = cl->strength[i] + delta;
    s = s < 0.0f ? 0.0f : s > 1.0f ? 1.0f : s;
    cl->strength[i] = s;
    /* The strength is now current as of `now`: see cogmem_decay(). */
    cogmem__blist_set_times(cl, (uint32_t)i, now, now);
    cogmem__jr_adjust(store, episode, concept, s, now);
    /* Counted on the stripe the lock counted on (the thread's own,
     * bindex.h: cogmem__spin_tls), read from the lock's record instead
     * of a second TLS read and the stripe's drawn-yet test. */
    if (delta != 0.0f)
        cogmem__stats_event_on(store,
                               delta > 0.0f ? COGMEM__EV_BIND_STRENGTHENED
                                            : COGMEM__EV_BIND_WEAKENED,
                               cogmem__spin_tls.slot);
    release(cl);
    if (new_strength)
        *new_strength = s;
    return 0;
}

int cogmem_binding_get(cogmem_store *store, uint64_t episode, uint64_t concept,
                       float *strength)
{
    if (!store || episode == 0 || concept == 0 || !strength)
        return -EINVAL;
    struct cogmem__blist *cl;
    int32_t i = locate(store, episode, concept, &cl, 0, NULL);
    if (i < 0)
        return i;
    float s = cl->strength[i];
    release(cl);
    *strength = s;
    return 0;
}

int cogmem_binding_info(cogmem_store *store, uint64_t episode, uint64_t concept,
                        struct cogmem_binding_info *out)
{
    if (!store || episode == 0 || concept == 0 || !out)
        return -EINVAL;
    struct cogmem__blist *cl;
    int32_t i = locate(store, episode, concept, &cl, 0, NULL);
    if (i < 0)
        return i;
    struct cogmem_binding_info b = {
        .episode = episode,
        .concept = concept,
        .strength = cl->strength[i],
        .created_ns = cl->created[i],
        .touched_ns = cl->touched[i],
        .decayed_ns = cl->decayed[i],
    };
    release(cl);
    *out = b;
    return 0;
}

int cogmem_unbind(cogmem_store *store, uint64_t episode, uint64_t concept)
{
    if (!store || episode == 0 || concept == 0)
        return -EINVAL;
    COGMEM__PERSIST_GATE(store, cogmem__pj_unbind(store, episode, concept));
    int rc = -ENOENT, enomem = 0;
    cogmem__rcu_lock();
    struct cogmem__node *cn = cogmem__find_live(store, COGMEM_CONCEPT, concept);
    struct cogmem__node *en = cn ? cogmem__find_live(store, COGMEM_EPISODE, episode)
                                 : NULL;
    struct cogmem__blist *cl = en ? cogmem__clist(store, cn, 0, &enomem) : NULL;
    struct cogmem__blist *el = cl ? cogmem__elist(store, en, 0, &enomem) : NULL;
    if (el) {
        cogmem__spin_lock(&cl->lock);
        cogmem__spin_lock(&el->lock);
        int32_t i = cl->dead || el->dead ? -1 : cogmem__blist_find(cl, episode);
        if (i >= 0) {
            cogmem__blist_del(cl, (uint32_t)i);
            int32_t j = cogmem__blist_find(el, concept);
            if (j >= 0)
                cogmem__blist_del(el, (uint32_t)j);
            cogmem__set_fan(cn, cl->n);
            cogmem__set_fan(en, el->n);
            bump_version(cn);
            cogmem__bind_count(store, concept, -1);
            cogmem__jr_unbind(store, cn, episode, concept);
            rc = 0;
        }
        cogmem__spin_unlock(&el->lock);
        cogmem__spin_unlock(&cl->lock);
    }
    cogmem__rcu_unlock();
    return rc;
}

static int fan_of(cogmem_store *store, enum cogmem_kind kind, uint64_t id,
                  uint32_t *out)
{
    if (!store || id == 0 || !out)
        return -EINVAL;
    cogmem__rcu_lock();
    struct cogmem__node *n = cogmem__find_live(store, kind, id);
    if (n)
        *out = atomic_load_explicit(&n->fan, memory_order_relaxed);
    cogmem__rcu_unlock();
    return n ? 0 : -ENOENT;
}

int cogmem_fan_out(cogmem_store *store, uint64_t concept, uint32_t *out)
{
    return fan_of(store, COGMEM_CONCEPT, concept, out);
}

int cogmem_fan_in(cogmem_store *store, uint64_t episode, uint32_t *out)
{
    return fan_of(store, COGMEM_EPISODE, episode, out);
}

int cogmem_concept_episodes(cogmem_store *store, uint64_t concept,
                            uint64_t *ids, float *strengths, size_t cap,
                            size_t *n_out)
{
    if (!store || concept == 0 || !n_out || (cap && !ids))
        return -EINVAL;
    int enomem = 0;
    cogmem__rcu_lock();
    struct cogmem__node *cn = cogmem__find_live(store, COGMEM_CONCEPT, concept);
    if (!cn) {
        cogmem__rcu_unlock();
        return -ENOENT;
    }
    struct cogmem__blist *cl = cogmem__clist(store, cn, 0, &enomem);
    size_t total = 0;
    if (cl) {
        cogmem__spin_lock(&cl->lock);
        total = cl->dead ? 0 : cl->n;
        size_t m = total < cap ? total : cap;
        for (size_t i = 0; i < m; i++) {
            ids[i] = cl->peer[i];
            if (strengths)
                strengths[i] = cl->strength[i];
        }
        cogmem__spin_unlock(&cl->lock);
    }
    cogmem__rcu_unlock();
    *n_out = total;
    return 0;
}

int cogmem_episode_concepts(cogmem_store *store, uint64_t episode,
                            uint64_t *ids, float *strengths, size_t cap,
                            size_t *n_out)
{
    if (!store || episode == 0 || !n_out || (cap && !ids))
        return -EINVAL;
    int enomem = 0;
    cogmem__rcu_lock();
    struct cogmem__node *en = cogmem__find_live(store, COGMEM_EPISODE, episode);
    if (!en) {
        cogmem__rcu_unlock();
        return -ENOENT;
    }
    struct cogmem__blist *el = cogmem__elist(store, en, 0, &enomem);
    size_t total = 0, m = 0;
    if (el) {
        cogmem__spin_lock(&el->lock);
        total = el->dead ? 0 : el->n;
        m = total < cap ? total : cap;
        for (size_t i = 0; i < m; i++)
            ids[i] = el->peer[i];
        cogmem__spin_unlock(&el->lock);
    }
    /* The strengths live on the concept side; the lock order forbids
     * taking a concept's lock under the episode's, so read them after. */
    size_t w = 0;
    for (size_t i = 0; i < m; i++) {
        struct cogmem__node *cn = cogmem__find_live(store, COGMEM_CONCEPT, ids[i]);
        struct cogmem__blist *cl = cn ? cogmem__clist(store, cn, 0, &enomem) : NULL;
        int32_t j = -1;
        float s = 0.0f;
        if (cl) {
            cogmem__spin_lock(&cl->lock);
            j = cl->dead ? -1 : cogmem__blist_find(cl, episode);
            if (j >= 0)
                s = cl->strength[j];
            cogmem__spin_unlock(&cl->lock);
        }
        if (j < 0) {
            total--; /* unbound meanwhile */
            continue;
        }
        ids[w] = ids[i];
        if (strengths)
            strengths[w] = s;
        w++;
    }
    cogmem__rcu_unlock();
    *n_out = total;
    return 0;
}

int cogmem_binding_count(cogmem_store *store, uint64_t *out)
{
    if (!store || !out)
        return -EINVAL;
    int64_t n = 0;
    for (unsigned i = 0; i < COGMEM__NSHARDS; i++)
        n += atomic_load_explicit(&store->bshard[i].bindings, memory_order_relaxed);
    *out = n < 0 ? 0 : (uint64_t)n;
    return 0;
}
