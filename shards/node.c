/* cogmem — node allocation: home positions or the allocator (see node.h;
 * freeing everything hung off a node is reclaim.c's). */
#include "shards/node.h"

#include <stddef.h>

#include "shards/kind.h"
#include "shards/route.h"
#include "shards/vec.h"

#if defined(__SANITIZE_ADDRESS__)
#define COGMEM__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COGMEM__ASAN 1
#endif
#endif

#ifdef COGMEM__ASAN
#include <sanitizer/asan_interface.h>
/* A freed position: everything but the 8-byte granule of `state` (which
 * `fan` shares), since a claimant's CAS reads state before it owns it. */
#define STATE_GRANULE ((size_t)offsetof(struct cogmem__node, state) & ~(size_t)7)
static void pos_poison(struct cogmem__node_mem *m)
{
    char *p = (char *)m;
    ASAN_POISON_MEMORY_REGION(p, STATE_GRANULE);
    ASAN_POISON_MEMORY_REGION(p + STATE_GRANULE + 8, sizeof *m - STATE_GRANULE - 8);
}
static void pos_unpoison(struct cogmem__node_mem *m)
{
    ASAN_UNPOISON_MEMORY_REGION(m, sizeof *m);
}
#else
static void pos_poison(struct cogmem__node_mem *m) { (void)m; }
static void pos_unpoison(struct cogmem__node_mem *m) { (void)m; }
#endif

static size_t home_bytes(uint64_t slots)
{
    return offsetof(struct cogmem__home, pos) + (size_t)slots * sizeof(struct cogmem__node_mem);
}

struct cogmem__home *cogmem__home_new(struct cogmem__mem *mem, int mem_kind,
                                      uint64_t slots)
{
    /* Zeroed: every position's state is FREE, and the pages are touched
     * only as records are placed. Published later with the table (a
     * release store), so plain initialisation suffices. */
    struct cogmem__home *h = cogmem__mem_alloc_zeroed(mem, (enum cogmem__mem_kind)mem_kind,
                                                      home_bytes(slots));
    if (!h)
        return NULL;
    h->mem = mem;
    h->mem_kind = mem_kind;
    h->mask = slots - 1;
    atomic_init(&h->refs, 1);
    /* Positions no record ever took are left unpoisoned: no pointer to
     * them can exist, and poisoning them all would write the shadow of
     * the whole array (32 MiB for 2^21 positions) at every open. */
    return h;
}

void cogmem__home_ref(struct cogmem__home *h)
{
    /* Relaxed: the caller holds a reference already. */
    atomic_fetch_add_explicit(&h->refs, 1, memory_order_relaxed);
}

void cogmem__home_unref(struct cogmem__home *h)
{
    /* acq_rel: every holder's last use of the array (a free storing FREE,
     * a reader's prefetch address) happens before the free below. */
    if (atomic_fetch_sub_explicit(&h->refs, 1, memory_order_acq_rel) != 1)
        return;
    uint64_t slots = h->mask + 1;
#ifdef COGMEM__ASAN
    ASAN_UNPOISON_MEMORY_REGION(h, home_bytes(slots)); /* the allocator may reuse it */
#endif
    cogmem__mem_free(h->mem, (enum cogmem__mem_kind)h->mem_kind, h, home_bytes(slots));
}

/* Take position hash & mask, or the next one, if FREE. */
static struct cogmem__node_mem *home_claim(struct cogmem__home *h, uint64_t hash)
{
    for (uint64_t k = 0; k < 2; k++) {
        struct cogmem__node_mem *m = &h->pos[(hash + k) & h->mask];
        uint32_t want = COGMEM__FREE;
        /* Acquire: pairs with the release store of FREE by the previous
         * occupant's free, whose writes to the position happen before our
         * initialisation. Strong: a spurious failure would only send the
         * record to the allocator, but needlessly. */
        if (atomic_compare_exchange_strong_explicit(&m->rec.state, &want, COGMEM__PENDING,
                                                    memory_order_acquire,
                                                    memory_order_relaxed)) {
            pos_unpoison(m);
            cogmem__home_ref(h); /* ours now; the caller's RCU section covered h until here */
            m->rec.home = h;
            return m;
        }
    }
    return NULL;
}

void cogmem__node_mem_free(struct cogmem__node_mem *m)
{
    struct cogmem__home *h = m->rec.home;
    if (!h) {
        cogmem__mem_free(m->kind->mem, m->kind->mem_kind, m, sizeof *m);
        return;
    }
    pos_poison(m);
    /* Release: our last accesses to the record happen before the next
     * claimant's (its CAS is an acquire). */
    atomic_store_explicit(&m->rec.state, COGMEM__FREE, memory_order_release);
    cogmem__home_unref(h);
}

struct cogmem__node *cogmem__node_new(struct cogmem__kind *k,
                                      struct cogmem_vec *vec, uint64_t hash)
{
    struct cogmem__node_mem *m = NULL;
    /* A read-side section (nested if the caller is in one): the array
     * read from k->home stays referenced by its table until a grace period
     * after it stops being current, so it cannot be freed before the
     * claim has taken a reference of its own. */
    cogmem__rcu_lock();
    struct cogmem__home *h =
        atomic_load_explicit(&k->home[cogmem__shard_of(hash)], memory_order_acquire);
    if (h)
        m = home_claim(h, hash); /* state already PENDING */
    cogmem__rcu_unlock();
    if (!m) {
        m = cogmem__mem_alloc(k->mem, k->mem_kind, sizeof *m);
        if (!m)
            return NULL;
        m->rec.home = NULL;
        atomic_init(&m->rec.state, COGMEM__PENDING);
    }
    struct cogmem__node *n = &m->rec;
    atomic_init(&n->id, 0);
    atomic_init(&n->vec, vec);
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
