/* cogmem — sixteen open-addressed shards per kind: the map alone (see set.h). */
#include "shards/set.h"

#include <errno.h>
#include <sched.h>
#include <string.h>

/* Growth is due when an add would claim more than half the slots. A link
 * may go past that only while a fork holds migrations off, and never past
 * HARD_NUM/HARD_DEN: a probe then always ends at an EMPTY slot soon. */
#define HARD_NUM 7u
#define HARD_DEN 8u
#define MAX_SLOTS (1ull << 40) /* far above any slab's rows */

static uint64_t pow2ceil(uint64_t x)
{
    if (x <= COGMEM__MIN_SLOTS)
        return COGMEM__MIN_SLOTS;
    return 1ull << (64 - __builtin_clzll(x - 1));
}

/* Slots for `per_shard` nodes at load at most 1/2. */
static uint64_t slots_for(uint64_t per_shard)
{
    return pow2ceil(per_shard > MAX_SLOTS / 2 ? MAX_SLOTS : 2 * per_shard);
}

static size_t table_bytes(uint64_t slots)
{
    return sizeof(struct cogmem__table) + (size_t)slots * sizeof(uintptr_t);
}

/* A table of `slots` EMPTY slots naming `home` (whose reference it takes
 * over; NULL: none), or NULL (the reference is the caller's again). */
static struct cogmem__table *table_new(struct cogmem__kind *k, uint64_t slots,
                                       struct cogmem__home *home)
{
    if (slots > MAX_SLOTS)
        return NULL;
    /* Zeroed memory is a table of EMPTY slots: no memset where the
     * allocator knows the block is zero already (fresh pages, or a clean
     * block back from table_free_clean), so a large pre-sized table costs
     * only the pages its adds touch. The table is published later with a
     * release store. */
    struct cogmem__table *t =
        cogmem__mem_alloc_zeroed(k->mem, k->mem_kind, table_bytes(slots));
    if (!t)
        return NULL;
    t->kind = k;
    t->mask = slots - 1;
    t->home = home;
    atomic_init(&t->used, 0);
    return t;
}

/* A new home array for a table of `slots` (one table_new made: at most
 * MAX_SLOTS), or NULL: records then come from the allocator, which is all
 * a home array saves (no add fails for it). */
static struct cogmem__home *home_new(struct cogmem__kind *k, uint64_t slots)
{
    return cogmem__home_new(k->mem, (int)k->mem_kind, slots);
}

/* Drop the table's reference to its home array: the array goes once no
 * record sits in it either (node.h). */
static void table_drop_home(struct cogmem__table *t)
{
    if (t->home)
        cogmem__home_unref(t->home);
    t->home = NULL;
}

static void table_free(struct cogmem__table *t)
{
    table_drop_home(t);
    cogmem__mem_free(t->kind->mem, t->kind->mem_kind, t, table_bytes(t->mask + 1));
}

/* Free a quiescent table that no slot was ever claimed in (used == 0) or
 * that cogmem__set_drain emptied (it resets used): every slot is EMPTY,
 * i.e. zero, so zeroing the header makes the block clean again and the
 * allocator may hand it to the next table_new without a memset. */
static void table_free_clean(struct cogmem__table *t)
{
    if (atomic_load_explicit(&t->used, memory_order_relaxed) != 0) {
        table_free(t);
        return;
    }
    struct cogmem__kind *k = t->kind;
    size_t bytes = table_bytes(t->mask + 1);
    table_drop_home(t);
    memset((void *)t, 0, offsetof(struct cogmem__table, slot));
    cogmem__mem_free_zeroed(k->mem, k->mem_kind, t, bytes);
}

static void table_reclaim(struct rcu_head *h)
{
    COGMEM__RCU_RECLAIM_BEGIN();
    struct cogmem__table *t = caa_container_of(h, struct cogmem__table, rcu);
    struct cogmem__mem *mem = t->kind->mem;
    table_free(t);
    COGMEM__RCU_RECLAIM_END(mem);
}

int cogmem__set_init(struct cogmem__set *s, uint64_t expected)
{
    uint64_t slots = slots_for(expected / COGMEM__NSHARDS + 1);
    for (unsigned i = 0; i < COGMEM__NSHARDS; i++) {
        struct cogmem__shard *sh = &s->shard[i];
        struct cogmem__table *t = table_new(&s->kind, slots, NULL);
        if (!t) {
            while (i--) {
                table_free(atomic_load_explicit(&s->shard[i].cur, memory_order_relaxed));
                atomic_store_explicit(&s->kind.home[i], NULL, memory_order_relaxed);
            }
            return -ENOMEM;
        }
        /* After the table: only the table's failure fails the open. */
        t->home = home_new(&s->kind, slots);
        atomic_init(&sh->cur, t);
        atomic_store_explicit(&s->kind.home[i], t->home, memory_order_relaxed); /* published with the store */
        atomic_init(&sh->count, 0);
        atomic_init(&sh->slots, slots);
        atomic_init(&sh->add_handshake, 0);
        atomic_flag_clear(&sh->migrating);
    }
    return 0;
}

void cogmem__set_fini(struct cogmem__set *s)
{
    for (unsigned i = 0; i < COGMEM__NSHARDS; i++) {
        /* The home arrays go when the last record in them is freed too
         * (deferred frees of this store may still be queued: node.h). */
        atomic_store_explicit(&s->kind.home[i], NULL, memory_order_relaxed);
        table_free_clean(atomic_load_explicit(&s->shard[i].cur, memory_order_relaxed));
        atomic_store_explicit(&s->shard[i].cur, NULL, memory_order_relaxed);
    }
}

/* A writer met a FROZEN slot of t: wait until the migrator has published
 * t's successor. The migrator allocated before freezing anything, so it
 * only copies now and never waits for anything itself: waiting here is
 * safe inside a read-side section. */
static void wait_moved(struct cogmem__shard *sh, struct cogmem__table *t)
{
    while (atomic_load_explicit(&sh->cur, memory_order_acquire) == t)
        sched_yield();
}

/* Copy one frozen slot word into the new table (not yet published). The
 * node cannot be freed meanwhile: it is linked, and its unlink waits for
 * this migration. */
static void copy_word(struct cogmem__set *s, struct cogmem__table *to, uintptr_t w)
{
    struct cogmem__node *n = (struct cogmem__node *)(w & COGMEM__SLOT_PTR);
    uint64_t h = cogmem__hash_id(s->kind.hash_seed,
                                 atomic_load_explicit(&n->id, memory_order_relaxed));
    uint64_t i = h & to->mask;
    while (atomic_load_explicit(&to->slot[i], memory_order_relaxed) != COGMEM__SLOT_EMPTY)
        i = (i + 1) & to->mask;
    atomic_store_explicit(&to->slot[i], w & ~(uintptr_t)COGMEM__SLOT_FROZEN,
                          memory_order_relaxed);
}

/* Replace shard sh's table by a larger (or, when tombstones fill it, an
 * equally large) one. `seen`: the table the caller found full (NULL for a
 * reserve); `target`: slots a reserve asks for (0 for a link). Returns 0
 * when the caller should retry on `cur` (we migrated, or another migrator
 * did, or nothing was needed), -ENOMEM if the new table could not be
 * allocated (nothing changed), -EAGAIN if `in_reader` and a fork is under
 * way (nothing done: see cogmem__set_link). */
static int migrate(struct cogmem__set *s, struct cogmem__shard *sh,
                   struct cogmem__table *seen, uint64_t target, int in_reader)
{
    /* A migration is never caught half done by fork() (rcu.h): the child
     * would wait for a FROZEN table forever. Inside a read-side section we
     * may not wait for a fork (its handlers wait for the call_rcu worker,
     * which may wait for our section to end). */
    if (in_reader) {
        if (!cogmem__fork_exclude_try_begin())
            return -EAGAIN;
    } else {
        cogmem__fork_exclude_begin();
    }
    int rc = 0;
    while (atomic_flag_test_and_set_explicit(&sh->migrating, memory_order_acquire)) {
        if (seen && atomic_load_explicit(&sh->cur, memory_order_acquire) != seen)
            goto out; /* someone else replaced it already */
        sched_yield();
    }
    struct cogmem__table *t = atomic_load_explicit(&sh->cur, memory_order_relaxed);
    uint64_t slots = t->mask + 1, want;
    if (seen) {
        if (t != seen)
            goto done;
        int64_t live = atomic_load_explicit(&sh->count, memory_order_relaxed);
        /* Mostly tombstones: rehash at the same size. Nodes in the table
         * (at most `used` <= 7/8 of the old size) always fit. */
        want = (live < 0 || (uint64_t)live + 1 <= slots / 4) ? slots : 2 * slots;
    } else {
        if (slots >= target)
            goto done;
        want = target;
    }
    /* Same size (a rehash of tombstones): the positions are the same, so
     * the array is too. Larger: a new array; the records placed in the old
     * one stay there (their addresses are what slots, readers and
     * bindings hold) and keep it alive until they are freed. */
    struct cogmem__table *nt = table_new(&s->kind, want, NULL);
    if (!nt) {
        rc = -ENOMEM;
        goto done;
    }
    /* After the table: the add fails only for the table, never for its
     * array. */
    struct cogmem__home *nh;
    if (want == slots) {
        nh = t->home;
        if (nh)
            cogmem__home_ref(nh);
    } else {
        nh = home_new(&s->kind, want);
    }
    nt->home = nh;
    /* Freeze first, then copy: once every slot is FROZEN no writer can
     * change the old table, so the copy is exact. acq_rel: the acquire
     * side makes each node's initialisation visible to the copy (and from
     * it, through the release store of cur, to the new table's readers). */
    uint64_t copied = 0;
    for (uint64_t i = 0; i < slots; i++) {
        uintptr_t w = atomic_fetch_or_explicit(&t->slot[i], COGMEM__SLOT_FROZEN,
                                               memory_order_acq_rel);
        uintptr_t p = w & COGMEM__SLOT_PTR;
        if (p != COGMEM__SLOT_EMPTY && p != COGMEM__SLOT_TOMB) {
            copy_word(s, nt, w);
            copied++;
        }
    }
    atomic_store_explicit(&nt->used, copied, memory_order_relaxed);
    atomic_store_explicit(&sh->slots, want, memory_order_relaxed);
    /* Release: the copied slots happen before any reader of nt. */
    atomic_store_explicit(&sh->cur, nt, memory_order_release);
    /* New records go to nt's array from now on. Release: its positions'
     * zeroed state happens before a claim. Before t's deferral: an add
     * that read t's array in its read-side section has taken its
     * reference before t's drops. */
    atomic_store_explicit(&s->kind.home[(unsigned)(sh - s->shard)], nh, memory_order_release);
    /* Readers that loaded t before the store may still be probing it. */
    cogmem__rcu_defer(t->kind->mem, &t->rcu, table_reclaim);
done:
    atomic_flag_clear_explicit(&sh->migrating, memory_order_release);
out:
    cogmem__fork_exclude_end();
    return rc;
}

/* Claim the first EMPTY slot of n's probe sequence in t, unless a PENDING
 * or LIVE node of n's id comes first. 0, -EEXIST, -EAGAIN (t is being
 * migrated: retry on its successor) or -ENOSPC (no EMPTY slot: only if
 * racing adders overshot the hard limit of a table that could not grow).
 *
 * Uniqueness: slots never return to EMPTY within a table, so when an adder
 * claims slot j every slot before j in the sequence was already claimed.
 * A racing adder of the same id walks the same sequence: it either reaches
 * j after the claim and sees our node, or claims an earlier slot first, in
 * which case we see its node on our way to j (or lose the CAS at j itself
 * and then see it there). */
static int claim(struct cogmem__table *t, struct cogmem__node *n, uint64_t id,
                 uint64_t hash)
{
    uintptr_t tag = cogmem__slot_tag(hash);
    uintptr_t mine = (uintptr_t)n | tag;
    uint64_t m = t->mask;
    for (uint64_t i = hash & m, k = 0; k <= m; k++, i = (i + 1) & m) {
        uintptr_t w = atomic_load_explicit(&t->slot[i], memory_order_acquire);
        for (;;) {
            if (w & COGMEM__SLOT_FROZEN)
                return -EAGAIN;
            uintptr_t p = w & COGMEM__SLOT_PTR;
            if (p != COGMEM__SLOT_EMPTY)
                break;
            /* Release: the node's fields (and its id's release store)
             * happen before every reader that loads this word. */
            if (atomic_compare_exchange_weak_explicit(&t->slot[i], &w, mine,
                                                      memory_order_acq_rel,
                                                      memory_order_acquire)) {
                atomic_fetch_add_explicit(&t->used, 1, memory_order_relaxed);
                return 0;
            }
        }
        uintptr_t p = w & COGMEM__SLOT_PTR;
        if ((w & COGMEM__SLOT_TAG) != tag || p == COGMEM__SLOT_TOMB)
            continue;
        struct cogmem__node *o = (struct cogmem__node *)p;
        if (atomic_load_explicit(&o->id, memory_order_acquire) == id &&
            atomic_load_explicit(&o->state, memory_order_acquire) != COGMEM__DEAD)
            return -EEXIST;
    }
    return -ENOSPC;
}

int cogmem__set_link(struct cogmem__set *s, struct cogmem__node *n,
                     uint64_t hash)
{
    struct cogmem__shard *sh = &s->shard[cogmem__shard_of(hash)];
    uint64_t id = atomic_load_explicit(&n->id, memory_order_relaxed);
    for (;;) {
        struct cogmem__table *t = atomic_load_explicit(&sh->cur, memory_order_acquire);
        uint64_t slots = t->mask + 1;
        uint64_t used = atomic_load_explicit(&t->used, memory_order_relaxed) + 1;
        if (used > slots / 2) {
            /* This add grows the table: it alone sees the allocation fail
             * and reports it, so a failed add changes nothing. */
            int rc = migrate(s, sh, t, 0, 1);
            if (rc == 0)
                continue;
            if (rc == -ENOMEM || used > slots / HARD_DEN * HARD_NUM)
                return -ENOMEM;
            /* -EAGAIN: a fork holds migrations off; there is room still. */
        }
        int rc = claim(t, n, id, hash);
        if (rc == -ENOSPC)
            return -ENOMEM;
        if (rc != -EAGAIN)
            return rc;
        wait_moved(sh, t);
    }
}

void cogmem__set_unlink(struct cogmem__set *s, struct cogmem__node *n,
                        uint64_t hash)
{
    struct cogmem__shard *sh = &s->shard[cogmem__shard_of(hash)];
    for (;;) {
        struct cogmem__table *t = atomic_load_explicit(&sh->cur, memory_order_acquire);
        uint64_t m = t->mask;
        for (uint64_t i = hash & m, k = 0; k <= m; k++, i = (i + 1) & m) {
            uintptr_t w = atomic_load_explicit(&t->slot[i], memory_order_acquire);
            if ((w & COGMEM__SLOT_PTR) == COGMEM__SLOT_EMPTY)
                break;
            if ((w & COGMEM__SLOT_PTR) != (uintptr_t)n)
                continue;
            /* Only this node's one unlinker writes its slot, so the CAS
             * fails only when a migrator froze it meanwhile. */
            if (!(w & COGMEM__SLOT_FROZEN) &&
                atomic_compare_exchange_strong_explicit(&t->slot[i], &w, COGMEM__SLOT_TOMB,
                                                        memory_order_release,
                                                        memory_order_relaxed))
                return;
            break;
        }
        /* Frozen (or, read from a table already replaced, not there): the
         * node is in the successor. */
        wait_moved(sh, t);
    }
}

void cogmem__set_note_added(struct cogmem__set *s, uint64_t hash)
{
    /* Relaxed: a counter, ordered by nothing; read exactly at quiescence. */
    atomic_fetch_add_explicit(&s->shard[cogmem__shard_of(hash)].count, 1,
                              memory_order_relaxed);
}

void cogmem__set_note_removed(struct cogmem__set *s, uint64_t hash)
{
    atomic_fetch_sub_explicit(&s->shard[cogmem__shard_of(hash)].count, 1,
                              memory_order_relaxed);
}

int cogmem__set_reserve(struct cogmem__set *s, uint64_t n_total)
{
    uint64_t target = slots_for(n_total / COGMEM__NSHARDS + 1);
    for (unsigned i = 0; i < COGMEM__NSHARDS; i++) {
        int rc = migrate(s, &s->shard[i], NULL, target, 0);
        if (rc)
            return rc;
    }
    return 0;
}

uint64_t cogmem__set_count(struct cogmem__set *s)
{
    int64_t sum = 0;
    for (unsigned i = 0; i < COGMEM__NSHARDS; i++)
        sum += atomic_load_explicit(&s->shard[i].count, memory_order_relaxed);
    return sum < 0 ? 0 : (uint64_t)sum; /* transiently negative mid-update */
}

int cogmem__set_foreach_shard(struct cogmem__set *s, unsigned shard,
                              int (*fn)(struct cogmem__node *n, void *arg), void *arg)
{
    /* One table throughout: a migration fn causes (or races) leaves this
     * one readable until our read-side section ends. */
    struct cogmem__table *t =
        atomic_load_explicit(&s->shard[shard].cur, memory_order_acquire);
    for (uint64_t i = 0; i <= t->mask; i++) {
        uintptr_t p = atomic_load_explicit(&t->slot[i], memory_order_acquire) &
                      COGMEM__SLOT_PTR;
        if (p == COGMEM__SLOT_EMPTY || p == COGMEM__SLOT_TOMB)
            continue;
        struct cogmem__node *n = (struct cogmem__node *)p;
        (void)atomic_load_explicit(&n->id, memory_order_acquire);
        if (atomic_load_explicit(&n->state, memory_order_acquire) != COGMEM__LIVE)
            continue;
        int rc = fn(n, arg);
        if (rc)
            return rc;
    }
    return 0;
}

int cogmem__set_foreach(struct cogmem__set *s,
                        int (*fn)(struct cogmem__node *n, void *arg), void *arg)
{
    for (unsigned i = 0; i < COGMEM__NSHARDS; i++) {
        int rc = cogmem__set_foreach_shard(s, i, fn, arg);
        if (rc)
            return rc;
    }
    return 0;
}

void cogmem__set_drain(struct cogmem__set *s,
                       void (*fn)(struct cogmem__node *n, void *arg), void *arg)
{
    for (unsigned i = 0; i < COGMEM__NSHARDS; i++) {
        struct cogmem__table *t =
            atomic_load_explicit(&s->shard[i].cur, memory_order_relaxed);
        /* A table no slot was ever claimed in is all EMPTY: skip it, so
         * closing a store with large pre-sized tables does not read (and
         * fault in) pages its adds never touched. Quiescent: `used` is
         * exact (every claim counts itself). */
        if (atomic_load_explicit(&t->used, memory_order_relaxed) == 0)
            continue;
        for (uint64_t j = 0; j <= t->mask; j++) {
            uintptr_t w = atomic_load_explicit(&t->slot[j], memory_order_relaxed);
            if (w == COGMEM__SLOT_EMPTY)
                continue; /* no store: an untouched page stays untouched */
            atomic_store_explicit(&t->slot[j], COGMEM__SLOT_EMPTY, memory_order_relaxed);
            uintptr_t p = w & COGMEM__SLOT_PTR;
            if (p == COGMEM__SLOT_EMPTY || p == COGMEM__SLOT_TOMB)
                continue;
            struct cogmem__node *n = (struct cogmem__node *)p;
            if (atomic_load_explicit(&n->state, memory_order_relaxed) == COGMEM__LIVE)
                atomic_fetch_sub_explicit(&s->shard[i].count, 1, memory_order_relaxed);
            fn(n, arg);
        }
        atomic_store_explicit(&t->used, 0, memory_order_relaxed);
    }
}
