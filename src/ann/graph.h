/* cogmem — the graph index's shared internals: slot layout, locks, the
 * inline accessors every part uses, and the functions the parts call
 * across files (internal to src/ann/; the protocol is in hnsw.h).
 * setup.c: setup and slot reservation; search.c: the searches; link.c:
 * insert, remove, replace; repair.c: repair passes and reachability. */
#ifndef COGMEM_SRC_ANN_GRAPH_H
#define COGMEM_SRC_ANN_GRAPH_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "cogmem_simd.h"
#include "shards/rcu.h"
#include "shards/vec.h"
#include "src/ann/hnsw.h"

#define SEG_BITS 12u
#define SEG_SLOTS (1u << SEG_BITS)
#define MAX_SEGS 8192u
#define MAX_LEVEL 15u
#define NONE32 UINT32_MAX
#define NO_ENTRY UINT64_MAX
/* Search scratch kept per index, claimed by one search at a time. */
#define POOL 8u

enum slot_state {
    S_FREE = 0,     /* on the free list or never used */
    S_RESERVED = 1, /* handed to an adder, not yet visible */
    S_PENDING = 2,  /* on the tail, being linked */
    S_LINKED = 3,
    S_DELETED = 4,  /* tombstone: walked through, never returned */
    S_DRAINING = 5  /* collected by a repair pass, freed after it */
};

/* A slot: this 64-byte header, then the level-0 list [count, 2M links]. */
/* What a search reads of every slot it scores, 16 bytes per slot in a
 * dense array at the head of each segment (so that, unlike the slots' own
 * lines, a search's working set of them stays in cache): the data of the
 * slot's vector and the bits of 1/|vector| (a reader may pair a new pointer
 * with the old norm for a moment: a ranking error, never a bad read), and
 * the slot's state. */
struct hot {
    _Atomic(const float *) data;
    _Atomic uint32_t inv;
    _Atomic uint32_t state; /* enum slot_state */
};
_Static_assert(sizeof(struct hot) == 16, "four per line");

struct slot {
    struct hot *hot;        /* this slot's entry (fixed at segment creation) */
    _Atomic uint64_t id;
    _Atomic uint32_t level;
    _Atomic uint32_t lock;  /* spinlock over the lists and vec/drift */
    /* Levels 1..level: (m + 1) words each, [count, m links]. */
    _Atomic uint32_t *_Atomic upper;
    struct cogmem_vec *vec; /* our reference (under `lock`) */
    /* Level-0 lists that link to this slot: a prune never takes away a
     * live slot's last in-link (see write_list), so every live slot stays
     * reachable. */
    _Atomic uint32_t indeg;
    float drift;            /* radians since the last link (under `lock`) */
    uint32_t next_free;     /* free-list link (under the free lock) */
    uint32_t pad[3];
    _Atomic uint32_t l0[];
};
_Static_assert(sizeof(struct slot) == 64, "slot header is one line; lists follow");

/* A line (or more) each: searches on different threads never share one. */
struct pool {
    alignas(64) _Atomic uint32_t busy;
    uint32_t epoch;
    uint32_t tags_cap;
    uint32_t *tags; /* tags[s] == epoch: visited in this search */
    struct cand *cq;
    size_t cq_cap;
    struct cand *res;
    size_t res_cap;
};

struct cand {
    float s;
    uint32_t slot;
};

/* The repair pass in progress (repair.c), sliced over the calls that find
 * repair due: only the holder of cogmem__ann.repairing reads or writes
 * it (the flag's acquire/release orders one holder's writes before the
 * next holder's reads). */
enum pass_phase {
    P_IDLE = 0,  /* no pass */
    P_COLLECT,   /* cursor over [0, used): DELETED -> DRAINING */
    P_REWIRE,    /* cursor over [0, used): lists off DRAINING slots */
    P_ROUND,     /* a reconnect round begins: walk from the entry point */
    P_WALK,      /* the breadth-first walk, queue[h..t) to go */
    P_LINK,      /* cursor over [0, rused): link what the walk missed */
    P_DROP       /* cursor over the drain list: vectors and lists go */
};

struct pass {
    uint32_t phase;
    uint32_t used;   /* slots the current sweep covers */
    uint32_t cur;    /* the sweep's cursor */
    struct drain *dr;
    size_t dr_cap, dr_bytes;
    struct cand *buf;
    size_t bufn;
    uint64_t best;   /* best entry candidate the rewire sweep saw */
    uint64_t e;      /* the entry point of the reconnect round */
    uint32_t *queue; /* reconnect: walk queue and marks over [0, rused) */
    uint8_t *seen;
    uint32_t rused;
    size_t h, t;
    uint64_t unreached, prev;
};

struct cogmem__ann {
    struct cogmem__mem *mem;
    struct cogmem__slab *sl;
    uint32_t m, m0, efc, dim;
    size_t slot_bytes;
    double ml;
    uint64_t seed;
    alignas(64) _Atomic uint32_t used; /* slots ever handed out by the bump */
    alignas(64) _Atomic uint32_t free_lock;
    uint32_t free_head;
    alignas(64) _Atomic uint64_t entry; /* level << 32 | slot, or NO_ENTRY */
    _Atomic uint32_t entry_lock;
    alignas(64) _Atomic uint64_t linked;
    _Atomic uint64_t deleted;
    _Atomic uint64_t relinks;
    _Atomic uint32_t repairing; /* try-lock over `pass` */
    _Atomic uint32_t pass_active; /* a pass is in progress (set by its holder) */
    struct pass pass;
    alignas(64) _Atomic uint32_t tail[COGMEM__ANN_TAIL];
    struct pool pool[POOL];
    char *_Atomic seg[MAX_SEGS];
};

/* ------------------------------------------------------------- basics */

static inline void spin_lock(_Atomic uint32_t *l)
{
    /* Acquire: the previous holder's writes are ours to read. */
    while (atomic_exchange_explicit(l, 1, memory_order_acquire)) {
        while (atomic_load_explicit(l, memory_order_relaxed)) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        }
    }
}

static inline void spin_unlock(_Atomic uint32_t *l)
{
    atomic_store_explicit(l, 0, memory_order_release);
}

/* A segment: SEG_SLOTS hot entries, then SEG_SLOTS slots. */
#define HOT_BYTES ((size_t)SEG_SLOTS * sizeof(struct hot))

static inline struct slot *slot_at(struct cogmem__ann *a, uint32_t s)
{
    /* Acquire: the segment's initialisation happens before our reads. */
    char *seg = atomic_load_explicit(&a->seg[s >> SEG_BITS], memory_order_acquire);
    return (struct slot *)(seg + HOT_BYTES + (size_t)(s & (SEG_SLOTS - 1)) * a->slot_bytes);
}

static inline struct hot *hot_at(struct cogmem__ann *a, uint32_t s)
{
    char *seg = atomic_load_explicit(&a->seg[s >> SEG_BITS], memory_order_acquire);
    return (struct hot *)seg + (s & (SEG_SLOTS - 1));
}

/* The list of slot x at level l: [count, links...], or NULL. */
static inline _Atomic uint32_t *list_of(struct cogmem__ann *a, struct slot *x, uint32_t l)
{
    if (l == 0)
        return x->l0;
    if (l > atomic_load_explicit(&x->level, memory_order_relaxed))
        return NULL;
    _Atomic uint32_t *up = atomic_load_explicit(&x->upper, memory_order_acquire);
    return up ? up + (size_t)(l - 1) * (a->m + 1) : NULL;
}

/* Size of a slot's upper lists (its level is set before they exist). */
static inline size_t upper_bytes(const struct cogmem__ann *a, struct slot *x)
{
    return (size_t)atomic_load_explicit(&x->level, memory_order_relaxed) * (a->m + 1) *
           sizeof(uint32_t);
}

static inline uint32_t cap_of(const struct cogmem__ann *a, uint32_t l)
{
    return l ? a->m : a->m0;
}

/* What a search needs of a slot's vector. */
struct vref {
    const float *d;
    float inv;
};

static inline struct vref hot_vref(struct hot *h)
{
    /* Acquire: the row's data was published before the pointer (by the
     * node's release, which the storing writer acquired). */
    return (struct vref){atomic_load_explicit(&h->data, memory_order_acquire),
                         cogmem__u2f(atomic_load_explicit(&h->inv, memory_order_relaxed))};
}

static inline struct vref vref_load(struct slot *x)
{
    return hot_vref(x->hot);
}

/* Point slot x at vector v (its data through the slab's accessor, which
 * knows where a row's floats live). Caller owns x (lock or reservation). */
static inline void vref_store(struct cogmem__ann *a, struct slot *x, struct cogmem_vec *v)
{
    atomic_store_explicit(&x->hot->inv, cogmem__f2u(1.0f / v->norm), memory_order_relaxed);
    atomic_store_explicit(&x->hot->data, cogmem__slab_data_of(a->sl, v, v->row),
                          memory_order_release);
}

static inline float dot(struct cogmem__ann *a, const float *q, const float *r)
{
    float d;
    cogmem_dot_batch(q, r, 1, a->dim, a->dim, &d);
    return d;
}

/* Similarity of two slots' rows (cosine). */
static inline float sim_rows(struct cogmem__ann *a, struct vref x, struct vref y)
{
    return dot(a, x.d, y.d) * x.inv * y.inv;
}

static inline _Atomic uint32_t *indeg_of(struct cogmem__ann *a, uint32_t s)
{
    return &slot_at(a, s)->indeg;
}

static inline int live_state(uint32_t st)
{
    return st == S_PENDING || st == S_LINKED;
}

struct query {
    const float *q;
    float qinv; /* 1/|q| for cosine, 1 for dot */
    int cosine;
    uint64_t visits;
};

static inline float score(struct cogmem__ann *a, struct query *q, struct vref rn)
{
    q->visits++;
    float d = dot(a, q->q, rn.d);
    return q->cosine ? d * q->qinv * rn.inv : d;
}

static inline uint64_t entry_load(struct cogmem__ann *a)
{
    return atomic_load_explicit(&a->entry, memory_order_acquire);
}

/* A slice of repair is due: a pass is in progress, or tombstones reached
 * 1/10 of the linked slots (and 16). */
static inline int repair_due(struct cogmem__ann *a)
{
    if (atomic_load_explicit(&a->pass_active, memory_order_relaxed))
        return 1;
    uint64_t d = atomic_load_explicit(&a->deleted, memory_order_relaxed);
    return d >= 16 && d * 10 >= atomic_load_explicit(&a->linked, memory_order_relaxed);
}

/* Across the index's files (internal to src/ann/). */
void cogmem__ann_free_push(struct cogmem__ann *a, uint32_t s);              /* setup.c */
void cogmem__ann_pass_fini(struct cogmem__ann *a); /* repair.c */
void cogmem__ann_pool_fini(struct cogmem__ann *a, struct pool *p);          /* search.c */
struct pool *cogmem__ann_pool_get(struct cogmem__ann *a, struct pool *spare);
void cogmem__ann_pool_put(struct cogmem__ann *a, struct pool *p);
int cogmem__ann_pool_begin(struct cogmem__ann *a, struct pool *p, uint32_t ef);
void cogmem__ann_greedy(struct cogmem__ann *a, struct query *q, uint32_t l, uint32_t *cur,
                        float *cs);
int cogmem__ann_search_layer(struct cogmem__ann *a, struct pool *p, struct query *q,
                             uint32_t ep, float eps, uint32_t ef, uint32_t l, size_t *nres);
int cogmem__ann_cmp_desc(const void *x, const void *y);
uint32_t cogmem__ann_select_nbrs(struct cogmem__ann *a, const struct cand *cands, size_t n,
                                 uint32_t max, uint32_t self, uint32_t *out); /* link.c */
void cogmem__ann_write_list(struct cogmem__ann *a, _Atomic uint32_t *list, uint32_t l,
                            const uint32_t *nb, uint32_t n);
int cogmem__ann_try_link_into(struct cogmem__ann *a, uint32_t u, uint32_t y);
/* Link u -> y at level 0 (u reached from the entry point, y not) even
 * when u's list is full, without cutting anything off: an entry z of u's
 * list goes into y's list first (or is there already), then y takes z's
 * place in u's, so every path that ran u -> z runs u -> y -> z. In y's
 * full list z takes the place of an entry reached[] marks (slots below
 * nreached: reachable without y), else of y's last. At quiescence the
 * slots reachable before stay reachable and y joins them; concurrent
 * writers may undo that (hnsw.h). 1 if y is in u's list. Must not hold
 * any lock. */
int cogmem__ann_link_by_swap(struct cogmem__ann *a, uint32_t u, uint32_t y,
                             const uint8_t *reached, uint32_t nreached);
void cogmem__ann_ensure_inlink(struct cogmem__ann *a, uint32_t y);

#endif /* COGMEM_SRC_ANN_GRAPH_H */
