/* cogmem — concepts: add, centroid replacement and blending, info. */
#include <errno.h>
#include <string.h>

#include "src/persist/hooks.h"
#include "src/ann_hooks.h"
#include "src/store.h"

int cogmem_concept_add(cogmem_store *store, uint64_t id, const float *centroid)
{
    if (!store || id == 0)
        return -EINVAL;
    COGMEM__PERSIST_GATE(store, cogmem__pj_concept_add(store, id, centroid));
    double sumsq;
    int rc = cogmem__check_vector(centroid, store->dim, &sumsq);
    if (rc)
        return rc;
    return cogmem__node_add(store, COGMEM_CONCEPT, id, centroid, sumsq, cogmem__now_ns());
}

int cogmem_concept_remove(cogmem_store *store, uint64_t id)
{
    if (!store || id == 0)
        return -EINVAL;
    COGMEM__PERSIST_GATE(store, cogmem__pj_remove(store, COGMEM_CONCEPT, id));
    return cogmem__node_remove(store, COGMEM_CONCEPT, id);
}

/* Fills a new vector from the current one. Returns 0 or -ERANGE (the
 * result is unusable). */
typedef int (*derive_fn)(const struct cogmem_vec *cur, struct cogmem_vec *nv,
                         const void *arg);

/* The one publication path for a concept's centroid: derive a new vector
 * from the current one and compare-and-swap it in; retry on a concurrent
 * replacement so that no update is lost. The node's reference to the old
 * vector passes to us with the swap, and we drop it. */
static int replace_centroid(cogmem_store *st, uint64_t id, derive_fn derive,
                            const void *arg)
{
    struct cogmem__set *s = &st->sets[0];
    uint64_t hash = cogmem__hash(st, id);
    struct cogmem_vec *nv = cogmem__vec_alloc(&s->kind, id, hash, st->dim);
    if (!nv)
        return -ENOMEM;

    cogmem__rcu_lock();
    struct cogmem__node *n = cogmem__set_find(s, id, hash, COGMEM__FIND_LIVE);
    struct cogmem_vec *cur = n ? atomic_load_explicit(&n->vec, memory_order_acquire)
                               : NULL;
    int rc = 0, repair = 0;
    for (;;) {
        if (!cur) {
            rc = -ENOENT;
            break;
        }
        rc = derive(cur, nv, arg);
        if (rc)
            break;
        nv->version = cogmem__version_next(cur->version);
        /* Release: publishes nv's data; acquire on failure: the reload of
         * `cur` must see the competing vector's data. */
        if (atomic_compare_exchange_weak_explicit(&n->vec, &cur, nv,
                                                  memory_order_acq_rel,
                                                  memory_order_acquire))
            break;
    }
    if (rc == 0) {
        /* Still inside the read-side section: once it ends, a concurrent
         * remove may free the node and nv (we hold no reference to
         * either; cur's reference passed to us with the swap). */
        atomic_store_explicit(&n->touched_ns, cogmem__now_ns(), memory_order_relaxed);
        cogmem__node_note_vec(n, nv->version, nv->norm);
        /* New row first, so that a scan always finds one of the two
         * counting (the REPLACED one through a lookup, src/recall.c). */
        cogmem__vec_mark_current(nv);
        cogmem__vec_mark_retired(cur, COGMEM__ROW_REPLACED);
        repair = cogmem__ann_on_replace(st, n);
    }
    cogmem__rcu_unlock();
    if (rc) {
        cogmem__vec_free_now(nv);
        return rc;
    }
    cogmem__ctr_bump(&s->kind, cogmem__shard_of(hash), COGMEM__CTR_REPLACE);
    cogmem__vec_unref(cur);
    if (repair)
        cogmem__ann_repair_due(st, COGMEM_CONCEPT);
    return 0;
}

/* set_centroid's vector, checked, and its sum of squares. */
struct copy_arg {
    const float *v;
    double sumsq;
};

static int derive_copy(const struct cogmem_vec *cur, struct cogmem_vec *nv,
                       const void *arg)
{
    (void)cur;
    const struct copy_arg *c = arg;
    if (nv->norm != 0.0f) /* already filled on an earlier attempt */
        return 0;
    memcpy(cogmem__vec_data(nv), c->v, (size_t)nv->dim * sizeof(float));
    cogmem__vec_seal_sumsq(nv, c->sumsq);
    cogmem__vec_fill_bf16(nv);
    return cogmem__check_norm(nv);
}

int cogmem_concept_set_centroid(cogmem_store *store, uint64_t id,
                                const float *centroid)
{
    if (!store || id == 0)
        return -EINVAL;
    COGMEM__PERSIST_GATE(store, cogmem__pj_set_centroid(store, id, centroid));
    struct copy_arg c = {.v = centroid};
    int rc = cogmem__check_vector(centroid, store->dim, &c.sumsq);
    if (rc)
        return rc;
    return replace_centroid(store, id, derive_copy, &c);
}

struct blend_arg {
    const float *x;
    float rate;
};

static int derive_blend(const struct cogmem_vec *cur, struct cogmem_vec *nv,
                        const void *arg)
{
    const struct blend_arg *b = arg;
    const float *c = cogmem__vec_data((struct cogmem_vec *)cur);
    float *o = cogmem__vec_data(nv);
    float keep = 1.0f - b->rate;
    for (uint32_t i = 0; i < nv->dim; i++)
        o[i] = keep * c[i] + b->rate * b->x[i];
    cogmem__vec_seal(nv);
    cogmem__vec_fill_bf16(nv);
    /* The norm is summed in double over these very floats, so a finite
     * norm already means no element is NaN or Inf: no second scan. A zero
     * or overflowing result is the caller's -ERANGE, not bad input. */
    return cogmem__check_norm(nv) ? -ERANGE : 0;
}

int cogmem_concept_blend(cogmem_store *store, uint64_t id, const float *x,
                         float rate)
{
    if (!store || id == 0 || !(rate >= 0.0f && rate <= 1.0f))
        return -EINVAL;
    COGMEM__PERSIST_GATE(store, cogmem__pj_blend(store, id, x, rate));
    int rc = cogmem__check_finite(x, store->dim);
    if (rc)
        return rc;
    struct blend_arg b = {x, rate};
    return replace_centroid(store, id, derive_blend, &b);
}

/* Copy a LIVE concept's record; 0, or -ENOENT if it was removed meanwhile.
 * Caller holds the RCU read lock. */
static int copy_info(struct cogmem__node *n, struct cogmem_concept_info *out)
{
    /* The record's line only, no vector header. Removed since
     * the lookup: the remove's LIVE -> DEAD is its linearisation point. */
    if (atomic_load_explicit(&n->state, memory_order_relaxed) != COGMEM__LIVE)
        return -ENOENT;
    uint64_t nvw = cogmem__node_normver(n);
    /* Relaxed loads: each field is individually atomic; the info is a
     * consistent-enough view, not a snapshot, as documented. */
    out->id = atomic_load_explicit(&n->id, memory_order_relaxed);
    out->created_ns = atomic_load_explicit(&n->stamp, memory_order_relaxed);
    out->touched_ns = atomic_load_explicit(&n->touched_ns, memory_order_relaxed);
    out->fan_out = atomic_load_explicit(&n->fan, memory_order_relaxed);
    out->binding_version = atomic_load_explicit(&n->bind_version, memory_order_relaxed);
    out->activation = cogmem__u2f(
        atomic_load_explicit(&n->activation_bits, memory_order_relaxed));
    out->centroid_version = (uint32_t)(nvw >> 32);
    out->norm = cogmem__u2f((uint32_t)nvw);
    return 0;
}

int cogmem_concept_info(cogmem_store *store, uint64_t id, struct cogmem_concept_info *out)
{
    if (!store || id == 0 || !out)
        return -EINVAL;
    uint64_t t0 = cogmem__lat_begin(store);
    uint64_t hash = cogmem__hash(store, id);
    cogmem__rcu_lock();
    struct cogmem__node *n = cogmem__set_find(&store->sets[0], id, hash,
                                              COGMEM__FIND_LIVE);
    int rc = n ? copy_info(n, out) : -ENOENT;
    cogmem__rcu_unlock();
    cogmem__note_lookup(&store->sets[0], hash, rc == 0);
    cogmem__lat_end(store, COGMEM_OP_LOOKUP, t0);
    return rc;
}

/* Ids per group: enough independent misses in flight to cover DRAM
 * latency (each stage issues one per id before the next stage waits for
 * the first), few enough that the hashes stay in L1. */
#define BATCH_GROUP 32

int cogmem_concept_info_batch(cogmem_store *store, const uint64_t *ids,
                              size_t n, struct cogmem_concept_info *out,
                              size_t *n_found)
{
    if (!store || (n && (!ids || !out)))
        return -EINVAL;
    struct cogmem__set *s = &store->sets[0];
    size_t found = 0;
    cogmem__rcu_lock();
    for (size_t base = 0; base < n; base += BATCH_GROUP) {
        size_t m = n - base < BATCH_GROUP ? n - base : BATCH_GROUP;
        const uint64_t *id = ids + base;
        uint64_t hash[BATCH_GROUP];
        /* Staged so that no stage waits on a miss the previous one did not
         * already start: 1. hash every id and fetch its first slot line;
         * 2. read the slots, fetch the matching records; 3. look up (both
         * lines now cached) and copy out. */
        for (size_t i = 0; i < m; i++) {
            hash[i] = cogmem__hash(store, id[i]);
            cogmem__set_prefetch_slots(s, hash[i]);
        }
        for (size_t i = 0; i < m; i++)
            cogmem__set_prefetch_node(s, hash[i]);
        for (size_t i = 0; i < m; i++) {
            struct cogmem_concept_info *o = &out[base + i];
            struct cogmem__node *nd =
                id[i] ? cogmem__set_find(s, id[i], hash[i], COGMEM__FIND_LIVE) : NULL;
            int hit = nd && copy_info(nd, o) == 0;
            if (hit)
                found++;
            else
                memset(o, 0, sizeof *o);
            if (id[i])
                cogmem__note_lookup(s, hash[i], hit);
        }
    }
    cogmem__rcu_unlock();
    if (n_found)
        *n_found = found;
    return 0;
}
