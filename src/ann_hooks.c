/* cogmem — the graph indexes' hooks into the store (see src/ann_hooks.h). */
#include <errno.h>

#include "src/ann_hooks.h"

void cogmem__ann_config_defaults(cogmem_config *c)
{
    c->index_m = 16;
    c->index_ef_construction = 200;
    c->index_ef_search = 64;
}

int cogmem__ann_config_ok(const cogmem_config *c)
{
    return c->index_m >= COGMEM__ANN_M_MIN && c->index_m <= COGMEM__ANN_M_MAX &&
           c->index_ef_construction >= 1 && c->index_ef_construction <= COGMEM__ANN_EF_MAX &&
           c->index_ef_search >= 1 && c->index_ef_search <= COGMEM__ANN_EF_MAX;
}

struct build {
    struct cogmem__ann *a;
    int rc;
};

static int build_one(struct cogmem__node *n, void *arg)
{
    struct build *b = arg;
    struct cogmem_vec *v = atomic_load_explicit(&n->vec, memory_order_acquire);
    uint32_t slot;
    if (!v)
        return 0;
    b->rc = cogmem__ann_reserve(b->a, &slot);
    if (b->rc)
        return 1;
    cogmem__ann_insert(b->a, slot, n, v);
    return 0;
}

int cogmem__ann_open(cogmem_store *st)
{
    if (!st->cfg.index)
        return 0;
    for (int k = 0; k < 2; k++) {
        int rc = cogmem__ann_new(&st->ann[k], &st->mem, &st->sets[k].kind.slab,
                                 st->cfg.index_m, st->cfg.index_ef_construction,
                                 st->sets[0].kind.hash_seed + (uint64_t)k);
        if (rc)
            return rc;
    }
    /* Rebuilt, not loaded: the nodes the store recovered are linked one
     * by one, as if added now (nothing else runs on the store yet). */
    struct build b = {NULL, 0};
    cogmem__rcu_lock();
    for (int k = 0; k < 2 && b.rc == 0; k++) {
        b.a = st->ann[k];
        cogmem__set_foreach(&st->sets[k], build_one, &b);
    }
    cogmem__rcu_unlock();
    return b.rc;
}

void cogmem__ann_close_release(cogmem_store *st)
{
    for (int k = 0; k < 2; k++)
        if (st->ann[k])
            cogmem__ann_release(st->ann[k]);
}

void cogmem__ann_close_free(cogmem_store *st)
{
    for (int k = 0; k < 2; k++) {
        cogmem__ann_free(st->ann[k]);
        st->ann[k] = NULL;
    }
}

void cogmem__ann_repair_due(cogmem_store *st, enum cogmem_kind kind)
{
    struct cogmem__ann *a = cogmem__ann_of(st, kind);
    if (a)
        cogmem__stats_add(st, COGMEM__EV_INDEX_REPAIRS, cogmem__ann_repair(a, 0));
}

void cogmem__ann_gauges(cogmem_store *st, cogmem_stats *o)
{
    for (int k = 0; k < 2; k++) {
        if (!st->ann[k])
            continue;
        struct cogmem__ann_stats s;
        cogmem__ann_read_stats(st->ann[k], &s);
        o->index_linked += s.linked;
        o->index_tail += s.tail;
        o->index_tombstones += s.tombstones;
    }
}
