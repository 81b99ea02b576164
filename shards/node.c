/* cogmem — node allocation (see node.h; freeing is reclaim.c's). */
#include "shards/node.h"

#include "shards/kind.h"
#include "shards/vec.h"

struct cogmem__node *cogmem__node_new(struct cogmem__kind *k,
                                      struct cogmem_vec *vec)
{
    struct cogmem__node_mem *m =
        cogmem__mem_alloc(k->mem, k->mem_kind, sizeof *m);
    if (!m)
        return NULL;
    struct cogmem__node *n = &m->rec;
    atomic_init(&n->id, 0);
    atomic_init(&n->vec, vec);
    atomic_init(&n->state, COGMEM__PENDING);
    atomic_init(&n->fan, 0);
    atomic_init(&n->activation_bits, cogmem__f2u(0.0f));
    atomic_init(&n->bind_version, 0);
    atomic_init(&n->stamp, 0);
    atomic_init(&n->touched_ns, 0);
    m->kind = k;
    atomic_init(&m->bind, NULL);
    atomic_init(&m->pres, NULL);
    atomic_init(&n->normver, vec ? cogmem__normver(vec->version, vec->norm) : 0);
    atomic_init(&m->ann_slot, 0);
    atomic_init(&m->bl_peer, NULL);
    atomic_init(&m->bl_strength, NULL);
    atomic_init(&m->bl_cap, 0);
    return n;
}
