/* cogmem — zero-copy access to embeddings. */
#include <errno.h>

#include "src/store.h"

int cogmem_vec_get(cogmem_store *store, uint64_t id, const cogmem_vec **out)
{
    if (!store || id == 0 || !out)
        return -EINVAL;
    uint64_t t0 = cogmem__lat_begin(store);
    uint64_t hash = cogmem__hash(store, id);
    int rc = -ENOENT;
    cogmem__rcu_lock();
    struct cogmem__node *n =
        cogmem__set_find(&store->sets[0], id, hash, COGMEM__FIND_LIVE);
    cogmem__note_lookup(&store->sets[0], hash, n != NULL);
    if (!n) {
        n = cogmem__set_find(&store->sets[1], id, hash, COGMEM__FIND_LIVE);
        cogmem__note_lookup(&store->sets[1], hash, n != NULL);
    }
    struct cogmem_vec *v = n ? cogmem__node_vec_ref(n) : NULL; /* NULL: removed since */
    if (v) {
        /* cogmem_close reads these counters only after the host has
         * ordered its gets and puts before it (thread join etc.). */
        cogmem__kind_ref(v->kind, 1);
        *out = v;
        rc = 0;
    }
    cogmem__rcu_unlock();
    cogmem__lat_end(store, COGMEM_OP_LOOKUP, t0);
    return rc;
}

const float *cogmem_vec_data(const cogmem_vec *v)
{
    return cogmem__vec_data((struct cogmem_vec *)v);
}

uint32_t cogmem_vec_dim(const cogmem_vec *v) { return v->dim; }

float cogmem_vec_norm(const cogmem_vec *v) { return v->norm; }

uint64_t cogmem_vec_id(const cogmem_vec *v) { return cogmem__vec_id(v); }

void cogmem_vec_put(const cogmem_vec *cv)
{
    if (!cv)
        return;
    struct cogmem_vec *v = (struct cogmem_vec *)cv;
    /* Read the kind before dropping the reference: the drop may let the
     * vector be freed (the kind outlives it: the store is open). */
    struct cogmem__kind *k = v->kind;
    cogmem__vec_unref(v);
    /* After the drop (release): it happens before a close that reads zero. */
    cogmem__kind_ref(k, -1);
}
