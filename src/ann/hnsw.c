/* cogmem — the concurrent HNSW graph (see hnsw.h for the protocol). */
#include "src/ann/hnsw.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <string.h>
#include <time.h>

#include "cogmem_simd.h"
#include "shards/rcu.h"
#include "shards/vec.h"

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

struct pool {
    _Atomic uint32_t busy;
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
    _Atomic uint32_t repairing;
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

static inline struct vref vref_load(struct slot *x)
{
    /* Acquire: the row's data was published before the pointer (by the
     * node's release, which the storing writer acquired). */
    return (struct vref){atomic_load_explicit(&x->hot->data, memory_order_acquire),
                         cogmem__u2f(atomic_load_explicit(&x->hot->inv, memory_order_relaxed))};
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

static inline int live_state(uint32_t st)
{
    return st == S_PENDING || st == S_LINKED;
}

/* ------------------------------------------------------- setup, teardown */

int cogmem__ann_new(struct cogmem__ann **out, struct cogmem__mem *mem,
                    struct cogmem__slab *sl, uint32_t m, uint32_t efc, uint64_t seed)
{
    struct cogmem__ann *a = cogmem__mem_alloc(mem, COGMEM__MEM_META, sizeof *a);
    if (!a)
        return -ENOMEM;
    memset(a, 0, sizeof *a);
    a->mem = mem;
    a->sl = sl;
    a->m = m;
    a->m0 = 2 * m;
    a->efc = efc;
    a->dim = sl->dim;
    a->slot_bytes = (sizeof(struct slot) + (1 + (size_t)a->m0) * sizeof(uint32_t) + 63) & ~(size_t)63;
    a->ml = 1.0 / log((double)m);
    a->seed = seed | 1;
    a->free_head = NONE32;
    atomic_init(&a->entry, NO_ENTRY);
    *out = a;
    return 0;
}

void cogmem__ann_release(struct cogmem__ann *a)
{
    uint32_t used = atomic_load_explicit(&a->used, memory_order_acquire);
    for (uint32_t s = 0; s < used; s++) {
        if (!atomic_load_explicit(&a->seg[s >> SEG_BITS], memory_order_acquire))
            continue;
        struct slot *x = slot_at(a, s);
        if (x->vec) {
            cogmem__vec_unref(x->vec);
            x->vec = NULL;
        }
    }
}

static void pool_fini(struct cogmem__ann *a, struct pool *p)
{
    cogmem__mem_free(a->mem, COGMEM__MEM_META, p->tags, (size_t)p->tags_cap * sizeof *p->tags);
    cogmem__mem_free(a->mem, COGMEM__MEM_META, p->cq, p->cq_cap * sizeof *p->cq);
    cogmem__mem_free(a->mem, COGMEM__MEM_META, p->res, p->res_cap * sizeof *p->res);
    memset(p, 0, sizeof *p);
}

void cogmem__ann_free(struct cogmem__ann *a)
{
    if (!a)
        return;
    for (uint32_t i = 0; i < MAX_SEGS; i++) {
        char *seg = atomic_load_explicit(&a->seg[i], memory_order_acquire);
        if (!seg)
            continue;
        for (uint32_t j = 0; j < SEG_SLOTS; j++) {
            struct slot *x = (struct slot *)(seg + HOT_BYTES + (size_t)j * a->slot_bytes);
            _Atomic uint32_t *up = atomic_load_explicit(&x->upper, memory_order_relaxed);
            if (up)
                cogmem__mem_free(a->mem, COGMEM__MEM_META, (void *)up,
                                 upper_bytes(a, x));
        }
        cogmem__mem_free(a->mem, COGMEM__MEM_META, seg, HOT_BYTES + SEG_SLOTS * a->slot_bytes);
    }
    for (uint32_t i = 0; i < POOL; i++)
        pool_fini(a, &a->pool[i]);
    cogmem__mem_free(a->mem, COGMEM__MEM_META, a, sizeof *a);
}

/* --------------------------------------------------------- reservation */

static uint32_t random_level(struct cogmem__ann *a)
{
    /* One xorshift state per thread: levels need no shared state. */
    static _Thread_local uint64_t x;
    if (!x) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        x = a->seed ^ (uint64_t)(uintptr_t)&x ^ (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull;
        if (!x)
            x = 1;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    double u = ((double)(x >> 11) + 0.5) * 0x1p-53;
    double l = -log(u) * a->ml;
    return l >= MAX_LEVEL ? MAX_LEVEL : (uint32_t)l;
}

static int ensure_seg(struct cogmem__ann *a, uint32_t i)
{
    if (atomic_load_explicit(&a->seg[i], memory_order_acquire))
        return 0;
    size_t bytes = HOT_BYTES + SEG_SLOTS * a->slot_bytes;
    char *seg = cogmem__mem_alloc(a->mem, COGMEM__MEM_META, bytes);
    if (!seg)
        return -ENOMEM;
    memset(seg, 0, bytes);
    for (uint32_t j = 0; j < SEG_SLOTS; j++)
        ((struct slot *)(seg + HOT_BYTES + (size_t)j * a->slot_bytes))->hot = (struct hot *)seg + j;
    char *expect = NULL;
    /* Release: the zeroed slots before the pointer (slot_at acquires). */
    if (!atomic_compare_exchange_strong_explicit(&a->seg[i], &expect, seg,
                                                 memory_order_acq_rel,
                                                 memory_order_acquire))
        cogmem__mem_free(a->mem, COGMEM__MEM_META, seg, bytes);
    return 0;
}

int cogmem__ann_reserve(struct cogmem__ann *a, uint32_t *out)
{
    uint32_t s = NONE32;
    spin_lock(&a->free_lock);
    if (a->free_head != NONE32) {
        s = a->free_head;
        a->free_head = slot_at(a, s)->next_free;
    }
    spin_unlock(&a->free_lock);
    if (s == NONE32) {
        s = atomic_load_explicit(&a->used, memory_order_relaxed);
        do {
            if (s >= MAX_SEGS * SEG_SLOTS)
                return -ENOMEM;
            if (ensure_seg(a, s >> SEG_BITS))
                return -ENOMEM;
        } while (!atomic_compare_exchange_weak_explicit(&a->used, &s, s + 1,
                                                        memory_order_release,
                                                        memory_order_relaxed));
    }
    struct slot *x = slot_at(a, s);
    uint32_t level = random_level(a);
    _Atomic uint32_t *up = NULL;
    if (level) {
        size_t words = (size_t)level * (a->m + 1);
        up = cogmem__mem_alloc(a->mem, COGMEM__MEM_META, words * sizeof(uint32_t));
        if (!up) {
            cogmem__ann_unreserve(a, s);
            return -ENOMEM;
        }
        for (size_t i = 0; i < words; i++)
            atomic_init(&up[i], 0);
    }
    /* Nothing links to a RESERVED slot yet: relaxed stores, published by
     * the release of the first link or tail entry naming it. */
    atomic_store_explicit(&x->upper, up, memory_order_relaxed);
    atomic_store_explicit(&x->level, level, memory_order_relaxed);
    atomic_store_explicit(&x->l0[0], 0, memory_order_relaxed);
    atomic_store_explicit(&x->indeg, 0, memory_order_relaxed);
    x->drift = 0.0f;
    x->vec = NULL;
    atomic_store_explicit(&x->hot->state, S_RESERVED, memory_order_relaxed);
    *out = s;
    return 0;
}

static void free_push(struct cogmem__ann *a, uint32_t s)
{
    struct slot *x = slot_at(a, s);
    _Atomic uint32_t *up = atomic_load_explicit(&x->upper, memory_order_relaxed);
    if (up) {
        atomic_store_explicit(&x->upper, NULL, memory_order_relaxed);
        cogmem__mem_free(a->mem, COGMEM__MEM_META, (void *)up,
                         upper_bytes(a, x));
    }
    atomic_store_explicit(&x->hot->state, S_FREE, memory_order_relaxed);
    spin_lock(&a->free_lock);
    x->next_free = a->free_head;
    a->free_head = s;
    spin_unlock(&a->free_lock);
}

void cogmem__ann_unreserve(struct cogmem__ann *a, uint32_t s)
{
    free_push(a, s); /* never visible: no grace period needed */
}

/* --------------------------------------------------------- search core */

static struct pool *pool_get(struct cogmem__ann *a, struct pool *spare)
{
    for (uint32_t i = 0; i < POOL; i++) {
        uint32_t z = 0;
        if (!atomic_load_explicit(&a->pool[i].busy, memory_order_relaxed) &&
            atomic_compare_exchange_strong_explicit(&a->pool[i].busy, &z, 1,
                                                    memory_order_acquire,
                                                    memory_order_relaxed))
            return &a->pool[i];
    }
    memset(spare, 0, sizeof *spare); /* all busy: a private one, freed after */
    return spare;
}

static void pool_put(struct cogmem__ann *a, struct pool *p)
{
    if (p >= a->pool && p < a->pool + POOL)
        atomic_store_explicit(&p->busy, 0, memory_order_release);
    else
        pool_fini(a, p);
}

static int grow(struct cogmem__ann *a, struct cand **arr, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 256;
    while (n < need)
        n *= 2;
    struct cand *b = cogmem__mem_alloc(a->mem, COGMEM__MEM_META, n * sizeof *b);
    if (!b)
        return -ENOMEM;
    if (*cap)
        memcpy(b, *arr, *cap * sizeof *b);
    cogmem__mem_free(a->mem, COGMEM__MEM_META, *arr, *cap * sizeof **arr);
    *arr = b;
    *cap = n;
    return 0;
}

/* A new visit epoch with room for every slot handed out so far. */
static int pool_begin(struct cogmem__ann *a, struct pool *p, uint32_t ef)
{
    uint32_t used = atomic_load_explicit(&a->used, memory_order_acquire);
    if (p->tags_cap < used) {
        uint32_t n = used + used / 2 + 1024;
        uint32_t *t = cogmem__mem_alloc(a->mem, COGMEM__MEM_META, (size_t)n * sizeof *t);
        if (!t)
            return -ENOMEM;
        memset(t, 0, (size_t)n * sizeof *t);
        cogmem__mem_free(a->mem, COGMEM__MEM_META, p->tags, (size_t)p->tags_cap * sizeof *p->tags);
        p->tags = t;
        p->tags_cap = n;
        p->epoch = 0;
    }
    if (++p->epoch == 0) {
        memset(p->tags, 0, (size_t)p->tags_cap * sizeof *p->tags);
        p->epoch = 1;
    }
    if (grow(a, &p->res, &p->res_cap, (size_t)ef + 1))
        return -ENOMEM;
    return grow(a, &p->cq, &p->cq_cap, (size_t)ef + 64);
}

/* Max-heap (candidates) and min-heap (results) on struct cand. */
static void heap_push(struct cand *h, size_t *n, struct cand c, int max)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (max ? !(h[p].s < c.s) : !(h[p].s > c.s))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = c;
}

static struct cand heap_pop(struct cand *h, size_t *n, int max)
{
    struct cand top = h[0], c = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= *n)
            break;
        size_t r = l + 1, b = l;
        if (r < *n && (max ? h[r].s > h[l].s : h[r].s < h[l].s))
            b = r;
        if (max ? !(h[b].s > c.s) : !(h[b].s < c.s))
            break;
        h[i] = h[b];
        i = b;
    }
    if (*n)
        h[i] = c;
    return top;
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

/* Greedy descent at level l from *cur (similarity *cs). */
static void greedy(struct cogmem__ann *a, struct query *q, uint32_t l, uint32_t *cur, float *cs)
{
    uint32_t used = atomic_load_explicit(&a->used, memory_order_acquire);
    for (int changed = 1; changed;) {
        changed = 0;
        _Atomic uint32_t *list = list_of(a, slot_at(a, *cur), l);
        if (!list)
            return;
        uint32_t n = atomic_load_explicit(&list[0], memory_order_acquire);
        if (n > cap_of(a, l))
            n = cap_of(a, l);
        for (uint32_t i = 1; i <= n; i++) {
            uint32_t nb = atomic_load_explicit(&list[i], memory_order_acquire);
            if (nb >= used)
                continue;
            struct slot *y = slot_at(a, nb);
            if (atomic_load_explicit(&y->hot->state, memory_order_acquire) < S_PENDING)
                continue;
            float s = score(a, q, vref_load(y));
            if (s > *cs) {
                *cs = s;
                *cur = nb;
                changed = 1;
            }
        }
    }
}

/* Beam search at level l from `ep`: the ef best non-deleted slots end up
 * in p->res (a min-heap of *nres). Slots in `skip` state >= S_DELETED are
 * walked but not kept. */
static int search_layer(struct cogmem__ann *a, struct pool *p, struct query *q,
                        uint32_t ep, float eps, uint32_t ef, uint32_t l, size_t *nres)
{
    /* Slots handed out after the scratch was sized are not walked. */
    uint32_t used = atomic_load_explicit(&a->used, memory_order_acquire);
    if (used > p->tags_cap)
        used = p->tags_cap;
    size_t ncq = 0, nr = 0;
    uint32_t ep_state = atomic_load_explicit(&slot_at(a, ep)->hot->state, memory_order_acquire);
    p->tags[ep] = p->epoch;
    heap_push(p->cq, &ncq, (struct cand){eps, ep}, 1);
    if (live_state(ep_state))
        heap_push(p->res, &nr, (struct cand){eps, ep}, 0);
    uint32_t batch[2 * COGMEM__ANN_M_MAX];
    struct vref brn[2 * COGMEM__ANN_M_MAX];
    uint32_t bst[2 * COGMEM__ANN_M_MAX];
    while (ncq) {
        struct cand c = heap_pop(p->cq, &ncq, 1);
        if (nr >= ef && c.s < p->res[0].s)
            break;
        _Atomic uint32_t *list = list_of(a, slot_at(a, c.slot), l);
        if (!list)
            continue;
        uint32_t n = atomic_load_explicit(&list[0], memory_order_acquire);
        if (n > cap_of(a, l))
            n = cap_of(a, l);
        uint32_t nb_n = 0;
        for (uint32_t i = 1; i <= n; i++) {
            uint32_t nb = atomic_load_explicit(&list[i], memory_order_acquire);
            if (nb >= used || p->tags[nb] == p->epoch)
                continue;
            p->tags[nb] = p->epoch;
            batch[nb_n++] = nb;
            __builtin_prefetch(hot_at(a, nb));
        }
        for (uint32_t i = 0; i < nb_n; i++) {
            struct hot *y = hot_at(a, batch[i]);
            bst[i] = atomic_load_explicit(&y->state, memory_order_acquire);
            brn[i] = (struct vref){atomic_load_explicit(&y->data, memory_order_acquire),
                                   cogmem__u2f(atomic_load_explicit(&y->inv, memory_order_relaxed))};
            if (bst[i] >= S_PENDING) {
                __builtin_prefetch(brn[i].d);
                __builtin_prefetch((const char *)brn[i].d + 64);
            }
        }
        /* The rest of the next row (up to 1 KiB; the hardware streams
         * the remainder of longer rows) while this one is scored. */
        size_t pf = (size_t)a->dim * sizeof(float);
        pf = pf > 1024 ? 1024 : pf;
        for (uint32_t i = 0; i < nb_n; i++) {
            if (bst[i] < S_PENDING)
                continue;
            if (i + 1 < nb_n && bst[i + 1] >= S_PENDING) {
                const char *nx = (const char *)brn[i + 1].d;
                for (size_t o = 128; o < pf; o += 64)
                    __builtin_prefetch(nx + o);
            }
            float s = score(a, q, brn[i]);
            if (nr < ef || s > p->res[0].s) {
                if (grow(a, &p->cq, &p->cq_cap, ncq + 1))
                    return -ENOMEM;
                heap_push(p->cq, &ncq, (struct cand){s, batch[i]}, 1);
                if (live_state(bst[i])) {
                    heap_push(p->res, &nr, (struct cand){s, batch[i]}, 0);
                    if (nr > ef)
                        (void)heap_pop(p->res, &nr, 0);
                }
            }
        }
    }
    *nres = nr;
    return 0;
}

static int cmp_desc(const void *x, const void *y)
{
    const struct cand *a = x, *b = y;
    return a->s > b->s ? -1 : a->s < b->s ? 1 : (a->slot > b->slot) - (a->slot < b->slot);
}

static inline uint64_t entry_load(struct cogmem__ann *a)
{
    return atomic_load_explicit(&a->entry, memory_order_acquire);
}

int cogmem__ann_search(struct cogmem__ann *a, const float *qv, float qnorm,
                       int cosine, uint32_t ef, struct cogmem__ann_hit *out,
                       size_t *n_out, uint64_t *visits)
{
    struct query q = {qv, cosine ? 1.0f / qnorm : 1.0f, cosine, 0};
    size_t n = 0;
    uint64_t e = entry_load(a);
    int rc = 0;
    if (e != NO_ENTRY) {
        struct pool spare, *p = pool_get(a, &spare);
        rc = pool_begin(a, p, ef);
        if (rc == 0) {
            uint32_t cur = (uint32_t)e;
            float cs = score(&*a, &q, vref_load(slot_at(a, cur)));
            for (uint32_t l = (uint32_t)(e >> 32); l > 0; l--)
                greedy(a, &q, l, &cur, &cs);
            size_t nr = 0;
            rc = search_layer(a, p, &q, cur, cs, ef, 0, &nr);
            if (rc == 0) {
                qsort(p->res, nr, sizeof *p->res, cmp_desc);
                for (size_t i = 0; i < nr; i++) {
                    struct slot *x = slot_at(a, p->res[i].slot);
                    out[n++] = (struct cogmem__ann_hit){
                        p->res[i].s, p->res[i].slot,
                        atomic_load_explicit(&x->id, memory_order_relaxed)};
                }
            }
        }
        pool_put(a, p);
    }
    /* The tail: slots whose insertion is in flight, scored exactly. */
    for (uint32_t i = 0; rc == 0 && i < COGMEM__ANN_TAIL; i++) {
        uint32_t t = atomic_load_explicit(&a->tail[i], memory_order_acquire);
        if (!t)
            continue;
        struct slot *x = slot_at(a, t - 1);
        if (!live_state(atomic_load_explicit(&x->hot->state, memory_order_acquire)))
            continue;
        out[n++] = (struct cogmem__ann_hit){score(a, &q, vref_load(x)), t - 1,
                                            atomic_load_explicit(&x->id, memory_order_relaxed)};
    }
    *n_out = n;
    *visits = q.visits;
    return rc;
}

/* ------------------------------------------------------------- linking */

/* HNSW's neighbour heuristic: from cands (sorted best first by similarity
 * to the base), keep c unless a kept r is more similar to c than the base
 * is. Tombstones and `self` are never kept. Returns how many went to out. */
static uint32_t select_nbrs(struct cogmem__ann *a, const struct cand *cands, size_t n,
                            uint32_t max, uint32_t self, uint32_t *out)
{
    struct vref orn[2 * COGMEM__ANN_M_MAX];
    uint32_t k = 0;
    for (size_t i = 0; i < n && k < max; i++) {
        uint32_t c = cands[i].slot;
        if (c == self)
            continue;
        struct slot *y = slot_at(a, c);
        if (!live_state(atomic_load_explicit(&y->hot->state, memory_order_acquire)))
            continue;
        struct vref rn = vref_load(y);
        int good = 1;
        for (uint32_t j = 0; j < k && good; j++)
            if (sim_rows(a, rn, orn[j]) > cands[i].s)
                good = 0;
        if (good) {
            orn[k] = rn;
            out[k++] = c;
        }
    }
    return k;
}

static int in_set(const uint32_t *v, uint32_t n, uint32_t x)
{
    for (uint32_t i = 0; i < n; i++)
        if (v[i] == x)
            return 1;
    return 0;
}

static inline _Atomic uint32_t *indeg_of(struct cogmem__ann *a, uint32_t s)
{
    return &slot_at(a, s)->indeg;
}

/* Replace a list at level l by nb[0..n), keeping only links to slots not
 * deleted (checked under the owner's lock, see hnsw.h). Caller holds the
 * owner's lock. At level 0 the in-degrees follow the change, and a live
 * slot that would lose its last in-link stays in the list (in place of
 * the least similar entry that others also link to, or a new one): the
 * pruning heuristic alone can orphan a node, which then no search reaches.
 * The in-degree's fetch_sub is what decides, so two prunes dropping the
 * same slot at once cannot both take it away. */
static void write_list(struct cogmem__ann *a, _Atomic uint32_t *list, uint32_t l,
                       const uint32_t *nb, uint32_t n)
{
    uint32_t cap = cap_of(a, l), fin[2 * COGMEM__ANN_M_MAX], k = 0;
    for (uint32_t i = 0; i < n && k < cap; i++)
        if (atomic_load_explicit(&slot_at(a, nb[i])->hot->state, memory_order_acquire) < S_DELETED)
            fin[k++] = nb[i];
    if (l == 0) {
        uint32_t old[2 * COGMEM__ANN_M_MAX], drop[2 * COGMEM__ANN_M_MAX], on, nd = 0;
        on = atomic_load_explicit(&list[0], memory_order_relaxed);
        if (on > cap)
            on = cap;
        for (uint32_t i = 0; i < on; i++) {
            old[i] = atomic_load_explicit(&list[1 + i], memory_order_relaxed);
            if (!in_set(fin, k, old[i]))
                drop[nd++] = old[i];
        }
        for (uint32_t i = 0; i < nd; i++) {
            uint32_t y = drop[i];
            if (atomic_fetch_sub_explicit(indeg_of(a, y), 1, memory_order_relaxed) != 1 ||
                !live_state(atomic_load_explicit(&slot_at(a, y)->hot->state, memory_order_acquire)))
                continue;
            int placed = 0;
            if (k < cap) {
                fin[k++] = y;
                placed = 1;
            }
            for (uint32_t j = k; !placed && j-- > 0;) {
                uint32_t z = fin[j];
                if (!in_set(old, on, z)) { /* new here: not counted yet */
                    fin[j] = y;
                    placed = 1;
                } else if (atomic_fetch_sub_explicit(indeg_of(a, z), 1, memory_order_relaxed) > 1) {
                    fin[j] = y;
                    placed = 1;
                } else {
                    atomic_fetch_add_explicit(indeg_of(a, z), 1, memory_order_relaxed);
                }
            }
            if (placed) /* y stays: its link is counted again */
                atomic_fetch_add_explicit(indeg_of(a, y), 1, memory_order_relaxed);
        }
        for (uint32_t i = 0; i < k; i++)
            if (!in_set(old, on, fin[i]))
                atomic_fetch_add_explicit(indeg_of(a, fin[i]), 1, memory_order_relaxed);
    }
    for (uint32_t i = 0; i < k; i++)
        atomic_store_explicit(&list[1 + i], fin[i], memory_order_release);
    atomic_store_explicit(&list[0], k, memory_order_release);
}

/* Link u -> y at level 0 (u live, y not deleted): appended, or in place
 * of an entry that keeps another in-link (or is a tombstone). 1 if y is
 * now in u's list. Must not hold any lock. */
static int try_link_into(struct cogmem__ann *a, uint32_t u, uint32_t y)
{
    struct slot *U = slot_at(a, u), *Y = slot_at(a, y);
    spin_lock(&U->lock);
    if (!live_state(atomic_load_explicit(&U->hot->state, memory_order_acquire)) ||
        atomic_load_explicit(&Y->hot->state, memory_order_acquire) >= S_DELETED) {
        spin_unlock(&U->lock);
        return 0;
    }
    _Atomic uint32_t *list = U->l0;
    uint32_t c = atomic_load_explicit(&list[0], memory_order_relaxed), at = 0;
    for (uint32_t j = 1; j <= c; j++)
        if (atomic_load_explicit(&list[j], memory_order_relaxed) == y)
            at = j;
    if (!at && c < a->m0) {
        atomic_store_explicit(&list[1 + c], y, memory_order_release);
        atomic_store_explicit(&list[0], c + 1, memory_order_release);
        at = c + 1;
        atomic_fetch_add_explicit(&Y->indeg, 1, memory_order_relaxed);
    }
    for (uint32_t j = c; !at && j > 0; j--) {
        uint32_t z = atomic_load_explicit(&list[j], memory_order_relaxed);
        struct slot *Z = slot_at(a, z);
        int zlive = live_state(atomic_load_explicit(&Z->hot->state, memory_order_acquire));
        if (atomic_fetch_sub_explicit(&Z->indeg, 1, memory_order_relaxed) > 1 || !zlive) {
            atomic_store_explicit(&list[j], y, memory_order_release);
            atomic_fetch_add_explicit(&Y->indeg, 1, memory_order_relaxed);
            at = j;
        } else {
            atomic_fetch_add_explicit(&Z->indeg, 1, memory_order_relaxed);
        }
    }
    spin_unlock(&U->lock);
    return at != 0;
}

/* Give live slot y an in-link if it has none (a node linked when every
 * reverse link was pruned, or whose only in-link came from a drained
 * slot): from one of its own neighbours, or from the entry point. Must not
 * hold any lock. */
static void ensure_inlink(struct cogmem__ann *a, uint32_t y)
{
    struct slot *Y = slot_at(a, y);
    if (!live_state(atomic_load_explicit(&Y->hot->state, memory_order_acquire)) ||
        atomic_load_explicit(&Y->indeg, memory_order_relaxed) > 0)
        return;
    uint64_t e = atomic_load_explicit(&a->entry, memory_order_acquire);
    if (e != NO_ENTRY && (uint32_t)e == y)
        return;
    uint32_t n = atomic_load_explicit(&Y->l0[0], memory_order_acquire);
    for (uint32_t i = 1; i <= n && i <= a->m0; i++)
        if (try_link_into(a, atomic_load_explicit(&Y->l0[i], memory_order_acquire), y))
            return;
    if (e != NO_ENTRY)
        (void)try_link_into(a, (uint32_t)e, y);
}

/* Add link u -> x at level l (x's reverse link), pruning u's list when full. */
static void add_reverse(struct cogmem__ann *a, uint32_t u, uint32_t xs, uint32_t l)
{
    struct slot *U = slot_at(a, u), *X = slot_at(a, xs);
    spin_lock(&U->lock);
    _Atomic uint32_t *list = list_of(a, U, l);
    if (!list || !live_state(atomic_load_explicit(&U->hot->state, memory_order_acquire)) ||
        atomic_load_explicit(&X->hot->state, memory_order_acquire) >= S_DELETED) {
        spin_unlock(&U->lock);
        return;
    }
    uint32_t cap = cap_of(a, l);
    uint32_t n = atomic_load_explicit(&list[0], memory_order_relaxed);
    for (uint32_t i = 1; i <= n; i++)
        if (atomic_load_explicit(&list[i], memory_order_relaxed) == xs) {
            spin_unlock(&U->lock);
            return;
        }
    if (n < cap) {
        atomic_store_explicit(&list[1 + n], xs, memory_order_release);
        atomic_store_explicit(&list[0], n + 1, memory_order_release);
        if (l == 0)
            atomic_fetch_add_explicit(&X->indeg, 1, memory_order_relaxed);
    } else {
        struct cand c[2 * COGMEM__ANN_M_MAX + 1];
        struct vref urn = vref_load(U);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t y = atomic_load_explicit(&list[1 + i], memory_order_relaxed);
            c[i] = (struct cand){sim_rows(a, urn, vref_load(slot_at(a, y))),
                                 y};
        }
        c[n] = (struct cand){sim_rows(a, urn, vref_load(X)),
                             xs};
        qsort(c, n + 1, sizeof *c, cmp_desc);
        uint32_t nb[2 * COGMEM__ANN_M_MAX];
        uint32_t k = select_nbrs(a, c, n + 1, cap, u, nb);
        write_list(a, list, l, nb, k);
    }
    spin_unlock(&U->lock);
}

/* Link slot xs (PENDING or LINKED; a re-link rewrites its lists): every
 * level's forward links, then the reverse links, then the entry point.
 * Caller holds the RCU read lock. */
static void link_slot(struct cogmem__ann *a, uint32_t xs)
{
    struct slot *X = slot_at(a, xs);
    uint32_t L = atomic_load_explicit(&X->level, memory_order_relaxed);
    uint64_t e;
    for (;;) {
        e = entry_load(a);
        if (e != NO_ENTRY)
            break;
        spin_lock(&a->entry_lock);
        e = atomic_load_explicit(&a->entry, memory_order_relaxed);
        if (e == NO_ENTRY && atomic_load_explicit(&X->hot->state, memory_order_acquire) < S_DELETED)
            atomic_store_explicit(&a->entry, (uint64_t)L << 32 | xs, memory_order_release);
        spin_unlock(&a->entry_lock);
        if (e == NO_ENTRY)
            return; /* we are the first node (or deleted already) */
    }
    if ((uint32_t)e == xs)
        return; /* a re-link of the entry point: its lists stay */
    struct vref xrn = vref_load(X);
    struct query q = {xrn.d, xrn.inv, 1, 0};
    uint32_t top = (uint32_t)(e >> 32), cur = (uint32_t)e;
    float cs = score(a, &q, vref_load(slot_at(a, cur)));
    for (uint32_t l = top; l > L; l--)
        greedy(a, &q, l, &cur, &cs);
    uint32_t chosen[MAX_LEVEL + 1][COGMEM__ANN_M_MAX];
    uint32_t nchosen[MAX_LEVEL + 1] = {0};
    struct pool spare, *p = pool_get(a, &spare);
    for (uint32_t l = (L < top ? L : top) + 1; l-- > 0;) {
        size_t nr = 0;
        if (pool_begin(a, p, a->efc) || search_layer(a, p, &q, cur, cs, a->efc, l, &nr))
            break; /* no scratch: keep what is linked so far */
        qsort(p->res, nr, sizeof *p->res, cmp_desc);
        nchosen[l] = select_nbrs(a, p->res, nr, a->m, xs, chosen[l]);
        spin_lock(&X->lock);
        write_list(a, list_of(a, X, l), l, chosen[l], nchosen[l]);
        spin_unlock(&X->lock);
        for (size_t i = 0; i < nr; i++)
            if (p->res[i].slot != xs) {
                cur = p->res[i].slot;
                cs = p->res[i].s;
                break;
            }
    }
    pool_put(a, p);
    for (uint32_t l = 0; l <= L && l <= top; l++)
        for (uint32_t i = 0; i < nchosen[l]; i++)
            add_reverse(a, chosen[l][i], xs, l);
    ensure_inlink(a, xs);
    if (L > top) {
        spin_lock(&a->entry_lock);
        e = atomic_load_explicit(&a->entry, memory_order_relaxed);
        if ((e == NO_ENTRY || L > (uint32_t)(e >> 32)) &&
            atomic_load_explicit(&X->hot->state, memory_order_acquire) < S_DELETED)
            atomic_store_explicit(&a->entry, (uint64_t)L << 32 | xs, memory_order_release);
        spin_unlock(&a->entry_lock);
    }
}

/* Give slot X node n's current vector if it is newer than X's; returns 1
 * when X has drifted past the re-link threshold (its drift then restarts). */
static int refresh(struct cogmem__ann *a, struct slot *X, struct cogmem__node *n)
{
    spin_lock(&X->lock);
    struct cogmem_vec *nv = atomic_load_explicit(&n->vec, memory_order_acquire);
    struct cogmem_vec *old = X->vec;
    if (!live_state(atomic_load_explicit(&X->hot->state, memory_order_relaxed)) || !nv ||
        nv == old || (old && nv->version <= old->version) || !cogmem__vec_tryget(nv)) {
        spin_unlock(&X->lock);
        return 0;
    }
    int due = 0;
    if (old) {
        float c = dot(a, cogmem__slab_data_of(a->sl, old, old->row),
                      cogmem__slab_data_of(a->sl, nv, nv->row)) /
                  (old->norm * nv->norm);
        X->drift += acosf(c > 1.0f ? 1.0f : c < -1.0f ? -1.0f : c);
        if (X->drift > COGMEM__ANN_RELINK_DRIFT) {
            X->drift = 0.0f;
            due = 1;
        }
    }
    X->vec = nv;
    vref_store(a, X, nv);
    spin_unlock(&X->lock);
    if (old)
        cogmem__vec_unref(old);
    return due;
}

static uint32_t tail_add(struct cogmem__ann *a, uint32_t s)
{
    for (;;) {
        for (uint32_t i = 0; i < COGMEM__ANN_TAIL; i++) {
            uint32_t z = 0;
            /* Release: the slot's initialisation before a search sees it. */
            if (!atomic_load_explicit(&a->tail[i], memory_order_relaxed) &&
                atomic_compare_exchange_strong_explicit(&a->tail[i], &z, s + 1,
                                                        memory_order_release,
                                                        memory_order_relaxed))
                return i;
        }
        sched_yield(); /* more adders than tail entries: wait for one */
    }
}

/* Onto the tail in reserved slot s, if n's slot word still is `expect`
 * (0 for an add, the old slot + 1 for a re-link); 0 if not inserted. */
static uint32_t begin_at(struct cogmem__ann *a, uint32_t s, struct cogmem__node *n,
                         struct cogmem_vec *v, uint32_t expect)
{
    struct cogmem__node_mem *nm = (struct cogmem__node_mem *)n;
    struct slot *X = slot_at(a, s);
    if (!cogmem__vec_tryget(v)) { /* removed meanwhile */
        cogmem__ann_unreserve(a, s);
        return 0;
    }
    X->vec = v;
    atomic_store_explicit(&X->id, atomic_load_explicit(&n->id, memory_order_relaxed),
                          memory_order_relaxed);
    vref_store(a, X, v);
    atomic_store_explicit(&X->hot->state, S_PENDING, memory_order_release);
    uint32_t z = expect;
    /* A removal exchanges the word for GONE: after it we must not insert. */
    if (!atomic_compare_exchange_strong_explicit(&nm->ann_slot, &z, s + 1,
                                                 memory_order_seq_cst,
                                                 memory_order_seq_cst)) {
        X->vec = NULL;
        cogmem__vec_unref(v);
        cogmem__ann_unreserve(a, s);
        return 0;
    }
    /* A replacement whose hook ran before our CAS: take its vector now. */
    (void)refresh(a, X, n);
    return tail_add(a, s) + 1;
}

uint32_t cogmem__ann_insert_begin(struct cogmem__ann *a, uint32_t s, struct cogmem__node *n,
                                  struct cogmem_vec *v)
{
    return begin_at(a, s, n, v, 0);
}

void cogmem__ann_insert_finish(struct cogmem__ann *a, uint32_t s, uint32_t t)
{
    struct slot *X = slot_at(a, s);
    link_slot(a, s);
    uint32_t expect = S_PENDING;
    if (atomic_compare_exchange_strong_explicit(&X->hot->state, &expect, S_LINKED,
                                                memory_order_release,
                                                memory_order_relaxed))
        atomic_fetch_add_explicit(&a->linked, 1, memory_order_relaxed);
    atomic_store_explicit(&a->tail[t - 1], 0, memory_order_release);
}

void cogmem__ann_insert(struct cogmem__ann *a, uint32_t s, struct cogmem__node *n,
                        struct cogmem_vec *v)
{
    uint32_t t = cogmem__ann_insert_begin(a, s, n, v);
    if (t)
        cogmem__ann_insert_finish(a, s, t);
}

static int repair_due(struct cogmem__ann *a)
{
    uint64_t d = atomic_load_explicit(&a->deleted, memory_order_relaxed);
    return d >= 16 && d * 8 >= atomic_load_explicit(&a->linked, memory_order_relaxed);
}

/* Make X a tombstone; 1 when a repair pass is due. */
static int tombstone(struct cogmem__ann *a, struct slot *X)
{
    spin_lock(&X->lock);
    uint32_t st = atomic_load_explicit(&X->hot->state, memory_order_relaxed);
    if (live_state(st)) {
        /* Release: a writer that sees the tombstone under a lock we
         * order against (hnsw.h) skips the link. */
        atomic_store_explicit(&X->hot->state, S_DELETED, memory_order_release);
        if (st == S_LINKED)
            atomic_fetch_sub_explicit(&a->linked, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&a->deleted, 1, memory_order_relaxed);
    }
    spin_unlock(&X->lock);
    return repair_due(a);
}

int cogmem__ann_remove(struct cogmem__ann *a, struct cogmem__node *n)
{
    struct cogmem__node_mem *nm = (struct cogmem__node_mem *)n;
    uint32_t s = atomic_exchange_explicit(&nm->ann_slot, COGMEM__ANN_SLOT_GONE,
                                          memory_order_seq_cst);
    if (s == 0 || s == COGMEM__ANN_SLOT_GONE)
        return 0;
    return tombstone(a, slot_at(a, s - 1));
}

int cogmem__ann_replaced(struct cogmem__ann *a, struct cogmem__node *n)
{
    struct cogmem__node_mem *nm = (struct cogmem__node_mem *)n;
    /* A read-modify-write, not a load: it reads the latest word, so either
     * we see the adder's slot or the adder's CAS comes after our
     * replacement's publication and its refresh() sees the new vector. */
    uint32_t s = atomic_fetch_or_explicit(&nm->ann_slot, 0, memory_order_seq_cst);
    if (s == 0 || s == COGMEM__ANN_SLOT_GONE || !refresh(a, slot_at(a, s - 1), n))
        return 0;
    /* Drifted: the node moves to a new slot linked where its vector now
     * is, and the old slot becomes a tombstone whose links keep serving
     * searches until a repair pass rewires them (rewriting the old slot's
     * lists in place would cut off nodes reachable only through them). */
    uint32_t s2;
    if (cogmem__ann_reserve(a, &s2))
        return 0; /* no memory: it stays linked where it was */
    struct cogmem_vec *v = atomic_load_explicit(&n->vec, memory_order_acquire);
    uint32_t t = v ? begin_at(a, s2, n, v, s) : 0;
    if (!t) {
        if (!v)
            cogmem__ann_unreserve(a, s2);
        return 0; /* removed meanwhile (begin_at gave s2 back) */
    }
    int due = tombstone(a, slot_at(a, s - 1));
    cogmem__ann_insert_finish(a, s2, t);
    atomic_fetch_add_explicit(&a->relinks, 1, memory_order_relaxed);
    return due;
}

/* Breadth-first at level 0 from queue[0..*t): marks seen[], appends what
 * it reaches to queue; returns the live slots it dequeued. */
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
            if (y < used && !seen[y] &&
                atomic_load_explicit(&slot_at(a, y)->hot->state, memory_order_acquire) >= S_PENDING) {
                seen[y] = 1;
                queue[(*t)++] = y;
            }
        }
    }
    return reached;
}

static uint64_t reconnect(struct cogmem__ann *a, uint32_t used)
{
    uint64_t e = entry_load(a), added = 0;
    if (e == NO_ENTRY)
        return 0;
    size_t qb = (size_t)used * sizeof(uint32_t) + 64, sb = (size_t)used + 64;
    uint32_t *queue = cogmem__mem_alloc(a->mem, COGMEM__MEM_META, qb);
    uint8_t *seen = cogmem__mem_alloc(a->mem, COGMEM__MEM_META, sb);
    struct pool spare, *p = pool_get(a, &spare);
    if (queue && seen) {
        memset(seen, 0, sb);
        size_t h = 0, t = 0;
        queue[t++] = (uint32_t)e;
        seen[(uint32_t)e] = 1;
        (void)bfs(a, used, seen, queue, &h, &t);
        for (uint32_t y = 0; y < used; y++) {
            struct slot *Y = slot_at(a, y);
            if (seen[y] || !live_state(atomic_load_explicit(&Y->hot->state, memory_order_acquire)))
                continue;
            /* Search for y's vector; link it from the best reached hit. */
            struct vref yrn = vref_load(Y);
            struct query q = {yrn.d, yrn.inv, 1, 0};
            uint32_t cur = (uint32_t)e;
            float cs = score(a, &q, vref_load(slot_at(a, cur)));
            for (uint32_t l = (uint32_t)(e >> 32); l > 0; l--)
                greedy(a, &q, l, &cur, &cs);
            size_t nr = 0;
            if (pool_begin(a, p, a->efc) || search_layer(a, p, &q, cur, cs, a->efc, 0, &nr))
                break;
            qsort(p->res, nr, sizeof *p->res, cmp_desc);
            for (size_t i = 0; i < nr; i++) {
                uint32_t u = p->res[i].slot;
                if (u != y && u < used && seen[u] && try_link_into(a, u, y)) {
                    added++;
                    break;
                }
            }
            seen[y] = 1; /* and what it reaches: one link serves its island */
            queue[t++] = y;
            (void)bfs(a, used, seen, queue, &h, &t);
        }
    }
    pool_put(a, p);
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
    for (size_t i = 0; i < d->n; i++)
        free_push(a, d->slot[i]);
    cogmem__mem_free(a->mem, COGMEM__MEM_META, d, d->bytes);
    COGMEM__RCU_RECLAIM_END();
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
    qsort(buf, nc, sizeof *buf, cmp_desc);
    uint32_t nb[2 * COGMEM__ANN_M_MAX];
    uint32_t k = select_nbrs(a, buf, nc, cap, u, nb);
    write_list(a, list, l, nb, k);
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
    fixed += reconnect(a, used);
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
            ensure_inlink(a, orphan[j]);
    }
    cogmem__rcu_unlock();
    atomic_fetch_sub_explicit(&a->deleted, dr->n, memory_order_relaxed);
    cogmem__rcu_defer(&dr->rcu, drain_reclaim);
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
