/* cogmem — adding and removing nodes, and id uniqueness across kinds.
 *
 * Concepts and episodes live in separate shard sets, yet an id may be live
 * in only one of them. An add therefore links its node PENDING into its own
 * set (cogmem__set_link settles same-kind races) and only then looks for
 * the id in the other set. Two racing adds of one id in different kinds
 * cannot both miss each other: between link and look each does a seq_cst
 * read-modify-write of one word shared by both kinds' shard (Dekker's
 * store-load ordering; whichever RMW comes second in their total order sees
 * the other's link). When both see
 * the other PENDING, the tie is broken by kind without waiting:
 *  - a concept that meets a PENDING episode tries to kill it
 *    (PENDING -> DEAD); if the episode went LIVE first, the concept backs
 *    out;
 *  - an episode backs out on meeting any PENDING or LIVE concept, and
 *    otherwise commits with PENDING -> LIVE, which fails if a concept killed
 *    it meanwhile.
 * Exactly one of the two commits. (An add can thus report -EEXIST against
 * an add that itself is still in flight; that add then always commits.)
 */
#include <errno.h>
#include <string.h>

#include "src/ann_hooks.h"
#include "src/store.h"

struct cogmem_vec *cogmem__vec_from(cogmem_store *st, struct cogmem__set *s,
                                    uint64_t id, uint64_t hash,
                                    const float *data, double sumsq, int *rc)
{
    struct cogmem_vec *v = cogmem__vec_alloc(&s->kind, id, hash, st->dim);
    if (!v) {
        *rc = -ENOMEM;
        return NULL;
    }
    memcpy(cogmem__vec_data(v), data, (size_t)st->dim * sizeof(float));
    cogmem__vec_seal_sumsq(v, sumsq);
    cogmem__vec_fill_bf16(v);
    *rc = cogmem__check_norm(v);
    if (*rc) {
        cogmem__vec_free_now(v);
        return NULL;
    }
    return v;
}

/* With our node linked PENDING: 1 if it may go LIVE (and it is LIVE on
 * return), 0 if it must back out. */
static int commit_across_kinds(cogmem_store *st, struct cogmem__node *n,
                               enum cogmem_kind kind, struct cogmem__set *other,
                               uint64_t id, uint64_t hash)
{
    /* Order our link (a store) before the look into the other set (loads).
     * An RMW rather than atomic_thread_fence: ThreadSanitizer models the
     * former and rejects the latter, and the contention is per shard. */
    atomic_fetch_add_explicit(&st->sets[0].shard[cogmem__shard_of(hash)].add_handshake,
                              1, memory_order_seq_cst);
    struct cogmem__node *o = cogmem__set_find(other, id, hash, COGMEM__FIND_ANY);
    unsigned expect = COGMEM__PENDING;
    if (kind == COGMEM_CONCEPT) {
        if (o && !atomic_compare_exchange_strong_explicit(
                     &o->state, &expect, COGMEM__DEAD, memory_order_acq_rel,
                     memory_order_acquire) &&
            expect == COGMEM__LIVE)
            return 0;
        /* Only concepts kill, so nobody races this store. Release: a reader
         * that sees LIVE sees the whole record. */
        atomic_store_explicit(&n->state, COGMEM__LIVE, memory_order_release);
        return 1;
    }
    if (o) {
        atomic_store_explicit(&n->state, COGMEM__DEAD, memory_order_release);
        return 0;
    }
    return atomic_compare_exchange_strong_explicit(
        &n->state, &expect, COGMEM__LIVE, memory_order_acq_rel,
        memory_order_acquire);
}

int cogmem__node_add(cogmem_store *st, enum cogmem_kind kind, uint64_t id,
                     const float *data, double sumsq, uint64_t stamp)
{
    struct cogmem__set *own = cogmem__set_of(st, kind);
    struct cogmem__set *other =
        cogmem__set_of(st, kind == COGMEM_CONCEPT ? COGMEM_EPISODE : COGMEM_CONCEPT);
    uint64_t hash = cogmem__hash(st, id);
    int rc;

    /* The common conflicts, answered before allocating anything. */
    cogmem__rcu_lock();
    int taken = cogmem__set_find(own, id, hash, COGMEM__FIND_LIVE) ||
                cogmem__set_find(other, id, hash, COGMEM__FIND_LIVE);
    cogmem__rcu_unlock();
    if (taken)
        return -EEXIST;

    struct cogmem_vec *v = cogmem__vec_from(st, own, id, hash, data, sumsq, &rc);
    if (!v)
        return rc;
    struct cogmem__node *n = cogmem__node_new(&own->kind, v, hash);
    if (!n) {
        cogmem__vec_free_now(v);
        return -ENOMEM;
    }
    uint64_t now = cogmem__now_ns();
    atomic_store_explicit(&n->stamp, stamp, memory_order_relaxed);
    atomic_store_explicit(&n->touched_ns, now, memory_order_relaxed);
    if (kind == COGMEM_EPISODE)
        atomic_store_explicit(&n->strength_bits, cogmem__f2u(1.0f),
                              memory_order_relaxed);
    cogmem__node_publish(n, id);
    uint32_t aslot = 0;
    if (cogmem__ann_add_reserve(st, kind, &aslot)) {
        cogmem__node_free_now(n);
        return -ENOMEM;
    }

    cogmem__rcu_lock();
    rc = cogmem__set_link(own, n, hash); /* -EEXIST, or -ENOMEM: no growth */
    if (rc != 0) {
        cogmem__rcu_unlock();
        cogmem__ann_add_abort(st, kind, aslot);
        cogmem__node_free_now(n); /* never linked: nobody else saw it */
        return rc;
    }
    if (!commit_across_kinds(st, n, kind, other, id, hash)) {
        cogmem__set_unlink(own, n, hash);
        cogmem__rcu_unlock();
        cogmem__ann_add_abort(st, kind, aslot);
        cogmem__node_retire(n); /* the other add may still be looking at it */
        return -EEXIST;
    }
    /* Before returning, and inside the read-side section (after it a
     * racing remove could free v): a recall that starts after this add
     * counts the row, unless a racing remove or replacement retired it. */
    cogmem__vec_mark_current(v);
    cogmem__ann_add_commit(st, kind, aslot, n, v); /* links it (slow) */
    cogmem__rcu_unlock();
    cogmem__set_note_added(own, hash);
    cogmem__ctr_bump(&own->kind, cogmem__shard_of(hash), COGMEM__CTR_ADD);
    return 0;
}

int cogmem__node_remove(cogmem_store *st, enum cogmem_kind kind, uint64_t id)
{
    struct cogmem__set *s = cogmem__set_of(st, kind);
    uint64_t hash = cogmem__hash(st, id);

    cogmem__rcu_lock();
    struct cogmem__node *n = cogmem__set_find(s, id, hash, COGMEM__FIND_LIVE);
    unsigned expect = COGMEM__LIVE;
    /* The CAS is the linearisation point: of concurrent removes exactly one
     * wins, and from here no lookup returns the node. */
    if (!n || !atomic_compare_exchange_strong_explicit(
                  &n->state, &expect, COGMEM__DEAD, memory_order_acq_rel,
                  memory_order_relaxed)) {
        cogmem__rcu_unlock();
        return -ENOENT;
    }
    cogmem__set_unlink(s, n, hash);
    /* Unpublish the vector so that readers who still hold the node stop
     * retrying on it (they see NULL: gone) and replacements fail. Acquire:
     * we take over the node's reference to it. */
    struct cogmem_vec *v =
        atomic_exchange_explicit(&n->vec, NULL, memory_order_acq_rel);
    int repair = cogmem__ann_on_remove(st, kind, n); /* before the unref */
    cogmem__rcu_unlock();
    if (v) {
        /* Before returning: a recall that starts after this remove skips
         * the row (src/recall.c). */
        cogmem__vec_mark_retired(v, COGMEM__ROW_REMOVED);
        cogmem__vec_unref(v);
    }
    cogmem__set_note_removed(s, hash);
    /* Before the retire: the unbinding still reads the node's side
     * records, and a node's bindings must be gone when remove returns. */
    cogmem__bind_node_removed(st, kind, n, id);
    cogmem__ctr_bump(&s->kind, cogmem__shard_of(hash), COGMEM__CTR_REMOVE);
    cogmem__node_retire(n);
    if (repair)
        cogmem__ann_repair_due(st, kind);
    return 0;
}
