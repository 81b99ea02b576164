/* cogmem — the store object and helpers shared by src/ (internal). */
#ifndef COGMEM_SRC_STORE_H
#define COGMEM_SRC_STORE_H

#include <stdint.h>

#include "cogmem.h"
#include "numa/mem.h"
#include "shards/node.h"
#include "shards/set.h"
#include "shards/vec.h"

struct cogmem_store {
    struct cogmem__set sets[2]; /* [0] concepts, [1] episodes */
    struct cogmem__mem mem;
    uint32_t dim;
    cogmem_config cfg;
};

static inline struct cogmem__set *cogmem__set_of(cogmem_store *st,
                                                 enum cogmem_kind kind)
{
    return &st->sets[kind == COGMEM_EPISODE];
}

static inline int cogmem__kinds_ok(unsigned kinds)
{
    return kinds != 0 && (kinds & ~(unsigned)COGMEM_ALL_KINDS) == 0;
}

/* CLOCK_REALTIME in ns. */
uint64_t cogmem__now_ns(void);

/* -EINVAL unless v holds dim finite floats. */
int cogmem__check_finite(const float *v, uint32_t dim);

/* Write v's bfloat16 copy when its slab keeps one (cfg.bf16_rows); with
 * the data, before publication. */
static inline void cogmem__vec_fill_bf16(struct cogmem_vec *v)
{
    size_t off = v->set->slab.bf16_off;
    if (off)
        cogmem_f32_to_bf16(cogmem__vec_data(v), v->dim, (uint16_t *)((char *)v + off));
}

/* After cogmem__vec_seal: -EINVAL for a zero vector, -ERANGE when the norm
 * overflows float. */
int cogmem__check_norm(const struct cogmem_vec *v);

/* A sealed, unpublished copy of data for node id, or a negative errno
 * (-EINVAL, -ERANGE, -ENOMEM) in *rc. */
struct cogmem_vec *cogmem__vec_from(cogmem_store *st, struct cogmem__set *s,
                                    uint64_t id, uint64_t hash,
                                    const float *data, int *rc);

/* Add a node of `kind` (validated arguments). `stamp`: created_ns for a
 * concept, the host's time for an episode. */
int cogmem__node_add(cogmem_store *st, enum cogmem_kind kind, uint64_t id,
                     const float *data, uint64_t stamp);

/* Remove a LIVE node of `kind`. 0 or -ENOENT. */
int cogmem__node_remove(cogmem_store *st, enum cogmem_kind kind, uint64_t id);

#endif /* COGMEM_SRC_STORE_H */
