/* cogmem — per-node binding lists and presentation histories (bindex.h). */
#include "shards/bindex.h"

#include <errno.h>
#include <sched.h>
#include <string.h>

_Static_assert(COGMEM__FORK_CELLS == COGMEM__STRIPE_SLOTS, "a fork cell per stripe slot");

_Thread_local struct cogmem__spin_tls cogmem__spin_tls;

void cogmem__spin_lock_slow(_Atomic uint32_t *l, int outer, int held)
{
    for (unsigned spins = 0;;) {
        if (held) {
            if (!outer ||
                !atomic_load_explicit(&cogmem__fork_lists.closed, memory_order_seq_cst))
                return;
            /* A fork waits for every held list lock: step out of its way. */
            atomic_store_explicit(l, 0, memory_order_release);
            cogmem__fork_cell_add(cogmem__spin_tls.slot, -1);
            cogmem__fork_lists_wait();
            cogmem__fork_cell_add(cogmem__spin_tls.slot, 1);
        }
        while (atomic_load_explicit(l, memory_order_relaxed)) {
            /* More threads than cores is normal for a library: after a
             * short spin give the holder our core instead of burning it. */
            if (++spins < 64)
                __builtin_ia32_pause();
            else
                sched_yield();
        }
        /* seq_cst as the inline path's exchange (bindex.h) */
        held = !atomic_exchange_explicit(l, 1, memory_order_seq_cst);
    }
}

static size_t align64(size_t x) { return (x + 63) & ~(size_t)63; }

/* ------------------------------------------------------------ registry */

/* Registry shard of a list: its address, Fibonacci-hashed (lists of one
 * creator are allocated close together; any spread will do). */
static uint32_t reg_shard_of(const struct cogmem__blist *bl)
{
    return (uint32_t)(((uint64_t)(uintptr_t)bl * 0x9E3779B97F4A7C15ull) >> 60) &
           (COGMEM__BREG_SHARDS - 1);
}

static size_t reg_arr_bytes(uint32_t cap)
{
    return sizeof(struct cogmem__breg_arr) + (size_t)cap * sizeof(void *) +
           (size_t)cap * sizeof(uint32_t);
}

static void reg_arr_reclaim(struct rcu_head *h)
{
    COGMEM__RCU_RECLAIM_BEGIN();
    struct cogmem__breg_arr *a = caa_container_of(h, struct cogmem__breg_arr, rcu);
    struct cogmem__mem *mem = a->mem;
    cogmem__mem_free(mem, COGMEM__MEM_META, a, reg_arr_bytes(a->cap));
    COGMEM__RCU_RECLAIM_END(mem);
}

/* Replace the shard's array by one twice as large. Caller holds the
 * shard's lock. 0 or -ENOMEM (nothing changed). */
static int reg_grow(struct cogmem__breg_shard *sh, struct cogmem__mem *mem)
{
    struct cogmem__breg_arr *old = atomic_load_explicit(&sh->arr, memory_order_relaxed);
    uint32_t cap = old ? old->cap * 2 : 64;
    if (old && old->cap > (UINT32_MAX >> 2))
        return -ENOMEM;
    struct cogmem__breg_arr *a = cogmem__mem_alloc(mem, COGMEM__MEM_META, reg_arr_bytes(cap));
    if (!a)
        return -ENOMEM;
    a->cap = cap;
    a->mem = mem;
    a->free = (uint32_t *)(void *)&a->slot[cap];
    a->nfree = 0;
    uint32_t used = atomic_load_explicit(&sh->used, memory_order_relaxed);
    for (uint32_t i = 0; i < cap; i++)
        atomic_init(&a->slot[i],
                    i < used ? atomic_load_explicit(&old->slot[i], memory_order_relaxed)
                             : NULL);
    if (old) {
        a->nfree = old->nfree;
        if (old->nfree)
            memcpy(a->free, old->free, (size_t)old->nfree * sizeof(uint32_t));
    }
    /* Release: a walker that reads the new array sees its slots. The old
     * one may still be walked: freed after a grace period. */
    atomic_store_explicit(&sh->arr, a, memory_order_release);
    if (old)
        cogmem__rcu_defer(mem, &old->rcu, reg_arr_reclaim);
    return 0;
}

/* Enter bl (initialised, not yet published) in the registry. 0 or
 * -ENOMEM (not entered). */
static int reg_enter(struct cogmem__breg *reg, struct cogmem__blist *bl)
{
    uint32_t si = reg_shard_of(bl);
    struct cogmem__breg_shard *sh = &reg->sh[si];
    cogmem__spin_lock(&sh->lock);
    struct cogmem__breg_arr *a = atomic_load_explicit(&sh->arr, memory_order_relaxed);
    uint32_t used = atomic_load_explicit(&sh->used, memory_order_relaxed);
    uint32_t idx;
    if (a && a->nfree)
        idx = a->free[--a->nfree];
    else {
        if (!a || used == a->cap) {
            if (reg_grow(sh, bl->mem)) {
                cogmem__spin_unlock(&sh->lock);
                return -ENOMEM;
            }
            a = atomic_load_explicit(&sh->arr, memory_order_relaxed);
        }
        idx = used;
    }
    bl->reg = reg;
    bl->reg_shard = si;
    bl->reg_slot = idx;
    /* Release: a walker that loads the pointer sees the list initialised. */
    atomic_store_explicit(&a->slot[idx], bl, memory_order_release);
    if (idx == used) /* release: the slot's store before the larger bound */
        atomic_store_explicit(&sh->used, used + 1, memory_order_release);
    cogmem__spin_unlock(&sh->lock);
    return 0;
}

static void reg_leave(struct cogmem__blist *bl)
{
    struct cogmem__breg_shard *sh = &bl->reg->sh[bl->reg_shard];
    cogmem__spin_lock(&sh->lock);
    struct cogmem__breg_arr *a = atomic_load_explicit(&sh->arr, memory_order_relaxed);
    /* Relaxed: a walker that still reads the old pointer finds the list
     * dead (set under its lock before we were called). */
    atomic_store_explicit(&a->slot[bl->reg_slot], NULL, memory_order_relaxed);
    a->free[a->nfree++] = bl->reg_slot;
    cogmem__spin_unlock(&sh->lock);
    bl->reg = NULL;
}

/* Prefetch distances of the registry walk, in lists: the first line of
 * the list WALK_AHEAD slots on, and the decay arrays of the list
 * WALK_VALUES slots on (whose first line the first prefetch made present
 * by then). */
#define WALK_AHEAD 8u
#define WALK_VALUES 4u

/* Lines of one array the walk asks for ahead of a list, at most: 4 KiB,
 * so that the WALK_VALUES lists in flight stay well inside L1 with the
 * kernels' buffers; a longer list's later lines are decay's own
 * prefetch_run and the hardware prefetcher's (a stream by then). */
#define WALK_LINES 64u

/* Ask for the lines of a[0, bytes) (write intent: decay writes them), at
 * most WALK_LINES. */
static inline void walk_prefetch(const void *a, size_t bytes)
{
    const char *p = a;
    size_t lines = (bytes + 63) / 64;
    if (lines > WALK_LINES)
        lines = WALK_LINES;
    for (size_t l = 0; l < lines; l++)
        __builtin_prefetch(p + l * 64, 1, 3);
}

void cogmem__breg_walk(struct cogmem__breg *reg,
                       void (*fn)(struct cogmem__blist *bl, void *arg), void *arg)
{
    for (unsigned s = 0; s < COGMEM__BREG_SHARDS; s++) {
        struct cogmem__breg_shard *sh = &reg->sh[s];
        /* One read-side section per shard: long enough to amortise, short
         * enough not to hold back reclamation for the whole walk. */
        cogmem__rcu_lock();
        /* Acquire, bound first: every slot below it was stored in this
         * array or one published before the bound (reg_grow, reg_enter). */
        uint32_t used = atomic_load_explicit(&sh->used, memory_order_acquire);
        struct cogmem__breg_arr *a = atomic_load_explicit(&sh->arr, memory_order_acquire);
        if (a) {
            uint32_t m = used < a->cap ? used : a->cap;
            for (uint32_t i = 0; i < m; i++) {
                /* The list WALK_AHEAD slots on: its first line (lock,
                 * counts, arrays) is on its way while fn works on this
                 * one; and for the list WALK_VALUES on, whose line that
                 * made present, every line of its strength[] and
                 * decayed[] up to n (capped: walk_prefetch), so that a
                 * short list's pass finds them all in L1 instead of
                 * waiting for its first lines and then for the hardware
                 * prefetcher's ramp-up. Measured: without them a decay
                 * pass over lists of 100 bindings waited on those first
                 * touches most of the time. Registered lists are not
                 * freed during our section; a prefetch of arrays
                 * replaced meanwhile is harmless (the pointers and the
                 * count are read relaxed and unlocked: a hint, not a
                 * use). */
                if (i + WALK_AHEAD < m) {
                    struct cogmem__blist *nx =
                        atomic_load_explicit(&a->slot[i + WALK_AHEAD], memory_order_relaxed);
                    if (nx)
                        __builtin_prefetch(nx, 1);
                }
                if (i + WALK_VALUES < m) {
                    /* Acquire (pairs with reg_enter's release): the list's
                     * initialisation happens before our reads of it. */
                    struct cogmem__blist *nx =
                        atomic_load_explicit(&a->slot[i + WALK_VALUES], memory_order_acquire);
                    if (nx) {
                        float *sv = atomic_load_explicit(&nx->strength, memory_order_relaxed);
                        uint64_t *dv = atomic_load_explicit(&nx->decayed, memory_order_relaxed);
                        /* Unlocked, relaxed (bindex.h: n): it only
                         * sizes the hint. */
                        uint32_t nb = atomic_load_explicit(&nx->n, memory_order_relaxed);
                        if (sv && dv) {
                            walk_prefetch(sv, (size_t)nb * sizeof(float));
                            walk_prefetch(dv, (size_t)nb * sizeof(uint64_t));
                        }
                    }
                }
                /* Acquire: pairs with reg_enter's release. */
                struct cogmem__blist *bl = atomic_load_explicit(&a->slot[i], memory_order_acquire);
                if (bl)
                    fn(bl, arg);
            }
        }
        cogmem__rcu_unlock();
    }
}

uint64_t cogmem__breg_count(struct cogmem__breg *reg)
{
    uint64_t n = 0;
    for (unsigned s = 0; s < COGMEM__BREG_SHARDS; s++) {
        struct cogmem__breg_shard *sh = &reg->sh[s];
        cogmem__spin_lock(&sh->lock);
        struct cogmem__breg_arr *a = atomic_load_explicit(&sh->arr, memory_order_relaxed);
        if (a)
            n += atomic_load_explicit(&sh->used, memory_order_relaxed) - a->nfree;
        cogmem__spin_unlock(&sh->lock);
    }
    return n;
}

void cogmem__breg_fini(struct cogmem__breg *reg)
{
    for (unsigned s = 0; s < COGMEM__BREG_SHARDS; s++) {
        struct cogmem__breg_arr *a =
            atomic_load_explicit(&reg->sh[s].arr, memory_order_relaxed);
        if (a)
            cogmem__mem_free(a->mem, COGMEM__MEM_META, a, reg_arr_bytes(a->cap));
        reg->sh[s].arr = NULL;
        atomic_store_explicit(&reg->sh[s].used, 0, memory_order_relaxed);
    }
    cogmem__bpool_fini(&reg->pool);
}

/* -------------------------------------------------------------- lists */

/* The decay arrays (strength[cap], then decayed[cap]: bpool.h) of a
 * concept list of capacity cap: from the registry's pool when it takes
 * that capacity, else directly. NULL when out of memory. */
static float *values_alloc(struct cogmem__blist *bl, uint32_t cap)
{
    struct cogmem__bpool *p = bl->pool;
    if (!p || !cogmem__bpool_pooled(cap))
        return cogmem__mem_alloc(bl->mem, bl->kind, cogmem__bpool_bytes(cap));
    cogmem__spin_lock(&p->lock);
    float *b = cogmem__bpool_alloc(p, bl->mem, bl->kind, cap);
    cogmem__spin_unlock(&p->lock);
    return b;
}

static void values_free(struct cogmem__blist *bl, float *b, uint32_t cap)
{
    struct cogmem__bpool *p = bl->pool;
    if (!p || !cogmem__bpool_pooled(cap)) {
        cogmem__mem_free(bl->mem, bl->kind, b, cogmem__bpool_bytes(cap));
        return;
    }
    cogmem__spin_lock(&p->lock);
    cogmem__bpool_free(p, b, cap);
    cogmem__spin_unlock(&p->lock);
}

/* Give back the decay arrays of a list nobody reads any more (dead, or
 * being freed). Relaxed stores of NULL: a registry walker may still load
 * the pointers, for a prefetch only. */
static void values_drop(struct cogmem__blist *bl)
{
    float *s = atomic_load_explicit(&bl->strength, memory_order_relaxed);
    if (!s)
        return;
    atomic_store_explicit(&bl->strength, NULL, memory_order_relaxed);
    atomic_store_explicit(&bl->decayed, NULL, memory_order_relaxed);
    values_free(bl, s, bl->cap);
}

static void blist_free_now(struct cogmem__blist *bl)
{
    values_drop(bl);
    if (bl->bytes)
        cogmem__mem_free(bl->mem, bl->kind, bl->peer, bl->bytes);
    cogmem__mem_free(bl->mem, bl->kind, bl, sizeof *bl);
}

static void blist_reclaim(struct rcu_head *h)
{
    COGMEM__RCU_RECLAIM_BEGIN();
    struct cogmem__blist *bl = caa_container_of(h, struct cogmem__blist, rcu);
    struct cogmem__mem *mem = bl->mem;
    blist_free_now(bl);
    COGMEM__RCU_RECLAIM_END(mem);
}

void cogmem__blist_retire(struct cogmem__blist *bl)
{
    /* Dead: every reader checks `dead` under the lock before it reads the
     * arrays, so the pool may hand this block out again right away (and
     * the pool may be gone before the grace period ends: cogmem_close). */
    values_drop(bl);
    if (bl->reg)
        reg_leave(bl);
    cogmem__rcu_defer(bl->mem, &bl->rcu, blist_reclaim);
}

struct cogmem__blist *cogmem__blist_create(struct cogmem__node *n, struct cogmem__mem *mem,
                                           enum cogmem__mem_kind kind, int values,
                                           int *enomem, struct cogmem__breg *reg)
{
    struct cogmem__node_mem *m = cogmem__node_mem_of(n);
    /* Read again: another creator may have won since the caller looked;
     * acquire as there. */
    struct cogmem__blist *bl = atomic_load_explicit(&m->bind, memory_order_acquire);
    if (bl == COGMEM__SIDE_GONE)
        return NULL;
    if (bl)
        return bl;
    struct cogmem__blist *nb = cogmem__mem_alloc(mem, kind, sizeof *nb);
    if (!nb) {
        *enomem = 1;
        return NULL;
    }
    memset(nb, 0, sizeof *nb);
    atomic_init(&nb->lock, 0);
    nb->values = (uint32_t)values;
    nb->kind = kind;
    nb->mem = mem;
    nb->owner = n;
    nb->pool = values && reg ? &reg->pool : NULL;
    /* Entered before publication: once a node shows a concept list, a
     * decay can find it (and a registry that cannot grow fails here, with
     * nothing published). */
    if (values && reg && reg_enter(reg, nb)) {
        cogmem__mem_free(mem, kind, nb, sizeof *nb);
        *enomem = 1;
        return NULL;
    }
    /* Release on success publishes nb; acquire on failure reads the winner. */
    if (atomic_compare_exchange_strong_explicit(&m->bind, &bl, nb,
                                                memory_order_acq_rel,
                                                memory_order_acquire))
        return nb;
    if (nb->reg) {
        /* A walker may already hold nb: kill it as a removal would, then
         * free it after a grace period. */
        cogmem__spin_lock(&nb->lock);
        nb->dead = 1;
        cogmem__spin_unlock(&nb->lock);
        cogmem__blist_retire(nb);
    } else
        cogmem__mem_free(mem, kind, nb, sizeof *nb);
    return bl == COGMEM__SIDE_GONE ? NULL : bl;
}

struct cogmem__blist *cogmem__blist_detach(struct cogmem__node *n)
{
    struct cogmem__node_mem *m = cogmem__node_mem_of(n);
    /* Acquire: we take over the list and read what its creator wrote. */
    struct cogmem__blist *bl =
        atomic_exchange_explicit(&m->bind, COGMEM__SIDE_GONE, memory_order_acq_rel);
    return bl == COGMEM__SIDE_GONE ? NULL : bl;
}

/* The index entry that points at `slot` (whose peer is `peer`): a list may
 * briefly hold one peer id twice (an id removed and re-added while the old
 * node's removal is still unbinding), so match the slot, not the id. */
static uint32_t *hprobe_slot(const struct cogmem__blist *bl, uint64_t peer,
                             uint32_t slot)
{
    uint32_t h = cogmem__blist_hash_peer(peer) & bl->hmask;
    while (bl->hslot[h] != slot + 1)
        h = (h + 1) & bl->hmask;
    return &bl->hslot[h];
}

static void hinsert(struct cogmem__blist *bl, uint64_t peer, uint32_t slot)
{
    uint32_t h = cogmem__blist_hash_peer(peer) & bl->hmask;
    while (bl->hslot[h])
        h = (h + 1) & bl->hmask;
    bl->hslot[h] = slot + 1;
}

int cogmem__blist_reserve(struct cogmem__blist *bl)
{
    if (bl->n < bl->cap)
        return 0;
    if (bl->cap >= (UINT32_MAX >> 2))
        return -ENOMEM;
    uint32_t cap = bl->cap ? bl->cap * 2 : 4;
    uint32_t hsize = cogmem__blist_index_size(cap);
    /* One block for the peer ids, the touch and creation times and the
     * index (bindex.h: cogmem__blist_index_of); strength and decayed, what
     * a decay pass reads and writes, in one block of their own from the
     * pool (bpool.h), side by side. */
    const size_t arr = cogmem__blist_array_bytes(cap);
    size_t bytes = (bl->values ? 3 : 1) * arr + align64((size_t)hsize * 4);
    char *b = cogmem__mem_alloc(bl->mem, bl->kind, bytes);
    if (!b)
        return -ENOMEM;
    float *str = NULL;
    if (bl->values && !(str = values_alloc(bl, cap))) {
        cogmem__mem_free(bl->mem, bl->kind, b, bytes);
        return -ENOMEM;
    }
    uint64_t *peer = (uint64_t *)(void *)b;
    if (bl->n) /* memcpy from a NULL array is undefined even for 0 bytes */
        memcpy(peer, bl->peer, (size_t)bl->n * 8);
    uint64_t *touch = NULL, *dec = NULL, *cre = NULL;
    if (bl->values) {
        dec = (uint64_t *)(void *)((char *)str + cogmem__bpool_dec_off(cap));
        touch = cogmem__blist_touched_of(peer, cap);
        cre = (uint64_t *)(void *)(b + 2 * arr);
        if (bl->n) {
            memcpy(str, bl->strength, (size_t)bl->n * 4);
            memcpy(touch, bl->touched, (size_t)bl->n * 8);
            memcpy(dec, bl->decayed, (size_t)bl->n * 8);
            memcpy(cre, bl->created, (size_t)bl->n * 8);
        }
        /* Under the lock, so no reader of the old arrays is left (a
         * walker's prefetch is not a read). */
        values_drop(bl);
    }
    if (bl->bytes)
        cogmem__mem_free(bl->mem, bl->kind, bl->peer, bl->bytes);
    bl->peer = peer;
    bl->strength = str;
    bl->touched = touch;
    bl->decayed = dec;
    bl->created = cre;
    bl->bytes = bytes;
    bl->cap = cap;
    bl->hmask = hsize ? hsize - 1 : 0;
    bl->hslot = hsize ? cogmem__blist_index_of(peer, cap, bl->values) : NULL;
    /* The owner's hints follow the arrays (shards/node.h). Relaxed: a
     * reader only prefetches through them, and until it sees these it
     * prefetches the old, still mapped or harmlessly wrong, lines. Only
     * the list published in the node grows (a list that lost the race
     * to be published never gets arrays), so this writes its own node's
     * hints only. */
    struct cogmem__node_mem *om = cogmem__node_mem_of(bl->owner);
    atomic_store_explicit(&om->bl_peer, peer, memory_order_relaxed);
    atomic_store_explicit(&om->bl_strength, str, memory_order_relaxed);
    atomic_store_explicit(&om->bl_cap, cap, memory_order_relaxed);
    if (hsize) {
        memset(bl->hslot, 0, (size_t)hsize * 4);
        for (uint32_t i = 0; i < bl->n; i++)
            hinsert(bl, peer[i], i);
    }
    return 0;
}

uint32_t cogmem__blist_append(struct cogmem__blist *bl, uint64_t peer,
                              float strength, uint64_t now_ns)
{
    uint32_t i = bl->n;
    atomic_store_explicit(&bl->n, i + 1, memory_order_relaxed); /* under the lock */
    bl->peer[i] = peer;
    if (bl->values) {
        bl->strength[i] = strength;
        bl->created[i] = now_ns;
        cogmem__blist_set_times(bl, i, now_ns, now_ns);
    }
    if (bl->hmask)
        hinsert(bl, peer, i);
    return i;
}

/* Backward-shift deletion for linear probing: no tombstones, so probe
 * lengths stay those of a table that never saw the deleted key. */
static void hremove(struct cogmem__blist *bl, uint32_t *hole)
{
    uint32_t i = (uint32_t)(hole - bl->hslot);
    uint32_t j = i;
    for (;;) {
        j = (j + 1) & bl->hmask;
        uint32_t s = bl->hslot[j];
        if (s == 0)
            break;
        uint32_t home = cogmem__blist_hash_peer(bl->peer[s - 1]) & bl->hmask;
        /* Move s back into the hole unless its home lies cyclically in
         * (i, j]: then it would become unreachable. */
        int keep = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!keep) {
            bl->hslot[i] = s;
            i = j;
        }
    }
    bl->hslot[i] = 0;
}

void cogmem__blist_del(struct cogmem__blist *bl, uint32_t i)
{
    uint32_t last = bl->n - 1;
    if (bl->hmask) {
        hremove(bl, hprobe_slot(bl, bl->peer[i], i));
        if (i != last)
            *hprobe_slot(bl, bl->peer[last], last) = i + 1;
    }
    if (i != last) {
        bl->peer[i] = bl->peer[last];
        if (bl->values) {
            bl->strength[i] = bl->strength[last];
            bl->touched[i] = bl->touched[last];
            bl->decayed[i] = bl->decayed[last];
            bl->created[i] = bl->created[last];
        }
    }
    atomic_store_explicit(&bl->n, last, memory_order_relaxed); /* under the lock */
}

struct cogmem__presentations *cogmem__pres_get(struct cogmem__node *n,
                                      struct cogmem__mem *mem,
                                      enum cogmem__mem_kind kind, int create,
                                      int *enomem)
{
    struct cogmem__node_mem *m = cogmem__node_mem_of(n);
    /* Acquire/release as in cogmem__blist_get. */
    struct cogmem__presentations *h = atomic_load_explicit(&m->pres, memory_order_acquire);
    if (h == COGMEM__SIDE_GONE)
        return NULL;
    if (h || !create)
        return h;
    struct cogmem__presentations *nh = cogmem__mem_alloc(mem, kind, sizeof *nh);
    if (!nh) {
        *enomem = 1;
        return NULL;
    }
    memset(nh, 0, sizeof *nh);
    atomic_init(&nh->lock, 0);
    nh->mem = mem;
    nh->kind = kind;
    if (atomic_compare_exchange_strong_explicit(&m->pres, &h, nh,
                                                memory_order_acq_rel,
                                                memory_order_acquire))
        return nh;
    cogmem__mem_free(mem, kind, nh, sizeof *nh);
    return h == COGMEM__SIDE_GONE ? NULL : h;
}

static void pres_reclaim(struct rcu_head *rh)
{
    COGMEM__RCU_RECLAIM_BEGIN();
    struct cogmem__presentations *h = caa_container_of(rh, struct cogmem__presentations, rcu);
    struct cogmem__mem *mem = h->mem;
    cogmem__mem_free(mem, h->kind, h, sizeof *h);
    COGMEM__RCU_RECLAIM_END(mem);
}

void cogmem__pres_drop(struct cogmem__node *n)
{
    struct cogmem__node_mem *m = cogmem__node_mem_of(n);
    struct cogmem__presentations *h =
        atomic_exchange_explicit(&m->pres, COGMEM__SIDE_GONE, memory_order_acq_rel);
    if (h && h != COGMEM__SIDE_GONE)
        cogmem__rcu_defer(h->mem, &h->rcu, pres_reclaim);
}

void cogmem__side_free_now(struct cogmem__node_mem *m, struct cogmem__mem *mem)
{
    (void)mem;
    struct cogmem__blist *bl = atomic_load_explicit(&m->bind, memory_order_acquire);
    if (bl && bl != COGMEM__SIDE_GONE) {
        if (bl->reg) /* teardown: the registry outlives the nodes */
            reg_leave(bl);
        blist_free_now(bl);
    }
    struct cogmem__presentations *h = atomic_load_explicit(&m->pres, memory_order_acquire);
    if (h && h != COGMEM__SIDE_GONE)
        cogmem__mem_free(h->mem, h->kind, h, sizeof *h);
}
