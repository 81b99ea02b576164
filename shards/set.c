/* cogmem — sixteen cds_lfht shards per kind: the map alone (see set.h). */
#include "shards/set.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>

#include "shards/sigmask.h"

struct match_key {
    uint64_t id;
    unsigned mask; /* accepted states, bit per enum cogmem__state */
};

/* Called by liburcu for nodes whose hash equals the key's. The acquire load
 * of `id` is the reader's side of the node's publication (see node.h). */
static int match(struct cds_lfht_node *ln, const void *k)
{
    const struct match_key *key = k;
    struct cogmem__node *n = cogmem__node_of(ln);
    if (atomic_load_explicit(&n->id, memory_order_acquire) != key->id)
        return 0;
    unsigned st = atomic_load_explicit(&n->state, memory_order_acquire);
    return (int)((key->mask >> st) & 1u);
}

static unsigned long pow2ceil(uint64_t x)
{
    if (x <= COGMEM__MIN_BUCKETS)
        return COGMEM__MIN_BUCKETS;
    return 1ul << (64 - __builtin_clzll(x - 1));
}

static unsigned long buckets_for(uint64_t per_shard)
{
    return pow2ceil((per_shard + COGMEM__GROW_LOAD - 1) / COGMEM__GROW_LOAD);
}

int cogmem__set_init(struct cogmem__set *s, uint64_t expected)
{
    unsigned long init = buckets_for(expected / COGMEM__NSHARDS + 1);
    for (unsigned i = 0; i < COGMEM__NSHARDS; i++) {
        struct cogmem__shard *sh = &s->shard[i];
        /* No CDS_LFHT_AUTO_RESIZE: we own resizing (see set.h). */
        sh->ht = cds_lfht_new_flavor(init, 1, 0, 0, &urcu_bp_flavor, NULL);
        if (!sh->ht) {
            while (i--)
                cds_lfht_destroy(s->shard[i].ht, NULL);
            return -ENOMEM;
        }
        atomic_init(&sh->count, 0);
        atomic_init(&sh->buckets, init);
        atomic_init(&sh->add_handshake, 0);
        atomic_flag_clear(&sh->resizing);
    }
    return 0;
}

void cogmem__set_fini(struct cogmem__set *s)
{
    for (unsigned i = 0; i < COGMEM__NSHARDS; i++) {
        cds_lfht_destroy(s->shard[i].ht, NULL);
        s->shard[i].ht = NULL;
    }
}

struct cogmem__node *cogmem__set_find(struct cogmem__set *s, uint64_t id,
                                      uint64_t hash, unsigned mask)
{
    struct match_key key = {id, mask};
    struct cds_lfht_iter it;
    cds_lfht_lookup(s->shard[cogmem__shard_of(hash)].ht, hash, match, &key, &it);
    struct cds_lfht_node *ln = cds_lfht_iter_get_node(&it);
    return ln ? cogmem__node_of(ln) : NULL;
}

int cogmem__set_link(struct cogmem__set *s, struct cogmem__node *n,
                     uint64_t hash)
{
    struct match_key key = {atomic_load_explicit(&n->id, memory_order_relaxed),
                            COGMEM__FIND_ANY};
    struct cds_lfht_node *got = cds_lfht_add_unique(
        s->shard[cogmem__shard_of(hash)].ht, hash, match, &key, &n->lfn);
    return got == &n->lfn ? 0 : -EEXIST;
}

void cogmem__set_unlink(struct cogmem__set *s, struct cogmem__node *n,
                        uint64_t hash)
{
    cds_lfht_del(s->shard[cogmem__shard_of(hash)].ht, &n->lfn);
}

/* Resize one shard to `target` buckets unless it is already that big.
 * `wait`: reserve waits for a concurrent resizer; an adder just leaves the
 * work to whoever is already doing it. */
static void grow(struct cogmem__shard *sh, unsigned long target, int wait)
{
    /* The whole time the `resizing` flag is held is never half done at a
     * fork (rcu.h): the child would find the flag set, or the table's
     * resize mutex held, by a thread it does not have. */
    cogmem__fork_exclude_begin();
    while (atomic_flag_test_and_set_explicit(&sh->resizing, memory_order_acquire)) {
        if (!wait) {
            cogmem__fork_exclude_end();
            return;
        }
        sched_yield();
    }
    if (target > atomic_load_explicit(&sh->buckets, memory_order_relaxed)) {
        /* liburcu splits a large resize among threads it starts here
         * (partition_resize_helper: from 8192 buckets per level on, one per
         * CPU); they inherit this thread's mask, which is the host's. */
        sigset_t old;
        cogmem__signals_block_all(&old);
        cds_lfht_resize(sh->ht, target);
        cogmem__signals_restore(&old);
        /* Relaxed: a stale read only delays or repeats a harmless check. */
        atomic_store_explicit(&sh->buckets, target, memory_order_relaxed);
    }
    atomic_flag_clear_explicit(&sh->resizing, memory_order_release);
    cogmem__fork_exclude_end();
}

void cogmem__set_note_added(struct cogmem__set *s, uint64_t hash)
{
    struct cogmem__shard *sh = &s->shard[cogmem__shard_of(hash)];
    /* Relaxed: a counter, ordered by nothing; read exactly at quiescence. */
    int64_t c = atomic_fetch_add_explicit(&sh->count, 1, memory_order_relaxed) + 1;
    unsigned long b = atomic_load_explicit(&sh->buckets, memory_order_relaxed);
    if ((uint64_t)c > (uint64_t)b * COGMEM__GROW_LOAD && !cogmem__rcu_in_reader())
        grow(sh, buckets_for((uint64_t)c * 2), 0);
}

void cogmem__set_note_removed(struct cogmem__set *s, uint64_t hash)
{
    atomic_fetch_sub_explicit(&s->shard[cogmem__shard_of(hash)].count, 1,
                              memory_order_relaxed);
}

void cogmem__set_reserve(struct cogmem__set *s, uint64_t n_total)
{
    unsigned long target = buckets_for(n_total / COGMEM__NSHARDS + 1);
    for (unsigned i = 0; i < COGMEM__NSHARDS; i++)
        grow(&s->shard[i], target, 1);
}

uint64_t cogmem__set_count(struct cogmem__set *s)
{
    int64_t sum = 0;
    for (unsigned i = 0; i < COGMEM__NSHARDS; i++)
        sum += atomic_load_explicit(&s->shard[i].count, memory_order_relaxed);
    return sum < 0 ? 0 : (uint64_t)sum; /* transiently negative mid-update */
}

int cogmem__set_foreach(struct cogmem__set *s,
                        int (*fn)(struct cogmem__node *n, void *arg), void *arg)
{
    for (unsigned i = 0; i < COGMEM__NSHARDS; i++) {
        struct cds_lfht_iter it;
        struct cds_lfht_node *ln;
        cds_lfht_for_each(s->shard[i].ht, &it, ln) {
            struct cogmem__node *n = cogmem__node_of(ln);
            (void)atomic_load_explicit(&n->id, memory_order_acquire);
            if (atomic_load_explicit(&n->state, memory_order_acquire) != COGMEM__LIVE)
                continue;
            int rc = fn(n, arg);
            if (rc)
                return rc;
        }
    }
    return 0;
}

void cogmem__set_drain(struct cogmem__set *s,
                       void (*fn)(struct cogmem__node *n, void *arg), void *arg)
{
    cogmem__rcu_lock(); /* cds_lfht_del wants it even when we are alone */
    for (unsigned i = 0; i < COGMEM__NSHARDS; i++) {
        struct cds_lfht_iter it;
        struct cds_lfht_node *ln;
        /* The iterator has read the successor before we unlink and free
         * the current node, and del unlinks physically before returning. */
        cds_lfht_for_each(s->shard[i].ht, &it, ln) {
            struct cogmem__node *n = cogmem__node_of(ln);
            if (atomic_load_explicit(&n->state, memory_order_relaxed) == COGMEM__LIVE)
                atomic_fetch_sub_explicit(&s->shard[i].count, 1, memory_order_relaxed);
            cds_lfht_del(s->shard[i].ht, ln);
            fn(n, arg);
        }
    }
    cogmem__rcu_unlock();
}
