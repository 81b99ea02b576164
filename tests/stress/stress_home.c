/* cogmem — records at their home positions (shards/node.h): where adds put
 * them, when a position is reused, what a table's growth does to records
 * placed in the old array, and adds, removes and lookups racing on a few
 * positions while tables grow.
 *
 * The first three checks are sequential and look inside the store (the
 * home array of a shard, its reference count, the addresses lookups
 * return); the last runs threads over the public API and checks that
 * every lookup finds the record of the id it asked for. Bounded in
 * operations, not time.
 *
 *   stress_home [--rounds N] [--ops N]   (defaults 8 and 60000)
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/store.h"
#include "tests/check.h"

#define DIM 4

static cogmem_store *open_store(void)
{
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = DIM;
    cogmem_store *s = NULL;
    CHECK(cogmem_open(&cfg, &s) == 0);
    return s;
}

/* The vector of id: every lookup checks that it got this one back. */
static void vec_of(uint64_t id, float *v)
{
    for (int i = 0; i < DIM; i++)
        v[i] = (float)(id % 100000) + 1.0f + (float)i;
}

static void add(cogmem_store *s, uint64_t id)
{
    float v[DIM];
    vec_of(id, v);
    CHECK(cogmem_concept_add(s, id, v) == 0);
}

static struct cogmem__node *node_of(cogmem_store *s, uint64_t id)
{
    cogmem__rcu_lock();
    struct cogmem__node *n =
        cogmem__set_find(&s->sets[0], id, cogmem__hash(s, id), COGMEM__FIND_LIVE);
    cogmem__rcu_unlock();
    return n;
}

static unsigned shard_of_id(cogmem_store *s, uint64_t id)
{
    return cogmem__shard_of(cogmem__hash(s, id));
}

static struct cogmem__home *home_of(cogmem_store *s, unsigned shard)
{
    struct cogmem__home *h = atomic_load(&s->sets[0].kind.home[shard]);
    CHECK(h != NULL);
    return h;
}

/* Position of n in h, or -1 when n is not in h. */
static int64_t pos_in(struct cogmem__home *h, struct cogmem__node *n)
{
    const char *a = (const char *)h->pos, *p = (const char *)n;
    if (p < a || p >= a + (h->mask + 1) * sizeof(struct cogmem__node_mem))
        return -1;
    CHECK((size_t)(p - a) % sizeof(struct cogmem__node_mem) == 0);
    return (int64_t)((size_t)(p - a) / sizeof(struct cogmem__node_mem));
}

static uint64_t refs(struct cogmem__home *h)
{
    return atomic_load(&h->refs);
}

/* Add, remove, wait for the grace period: the position is FREE again and
 * the next add of an id homed there gets it. */
static void check_reuse(void)
{
    cogmem_store *s = open_store();
    uint64_t id = 12345, hash = cogmem__hash(s, id);
    struct cogmem__home *h = home_of(s, cogmem__shard_of(hash));
    uint64_t p = hash & h->mask;
    CHECK(refs(h) == 1); /* its table's */
    add(s, id);
    struct cogmem__node *n = node_of(s, id);
    CHECK(n == &h->pos[p].rec);
    CHECK(refs(h) == 2);
    CHECK(cogmem_concept_remove(s, id) == 0);
    /* Readers may still hold it: not FREE before the grace period. The
     * deferred free runs after it; the barrier waits for that. */
    cogmem__rcu_barrier();
    CHECK(atomic_load(&h->pos[p].rec.state) == COGMEM__FREE);
    CHECK(refs(h) == 1);
    add(s, id);
    CHECK(node_of(s, id) == n);
    CHECK(refs(h) == 2);
    CHECK(cogmem_close(&s) == 0);
}

/* Three ids of one shard homed at the same position p: the first takes
 * p, the second p + 1, the third comes from the allocator; all three are
 * found, and the allocated one is freed back to the allocator. */
static void check_fallback(void)
{
    cogmem_store *s = open_store();
    uint64_t id0 = 1, hash0 = cogmem__hash(s, id0);
    struct cogmem__home *h = home_of(s, cogmem__shard_of(hash0));
    uint64_t p = hash0 & h->mask;
    uint64_t ids[4] = {id0, 0, 0, 0};
    unsigned found = 1;
    for (uint64_t id = 2; found < 4; id++) {
        uint64_t hh = cogmem__hash(s, id);
        if (cogmem__shard_of(hh) == cogmem__shard_of(hash0) && (hh & h->mask) == p)
            ids[found++] = id;
    }
    for (int i = 0; i < 3; i++)
        add(s, ids[i]);
    CHECK(pos_in(h, node_of(s, ids[0])) == (int64_t)p);
    CHECK(pos_in(h, node_of(s, ids[1])) == (int64_t)((p + 1) & h->mask));
    CHECK(pos_in(h, node_of(s, ids[2])) == -1);
    CHECK(cogmem__node_mem_of(node_of(s, ids[2]))->rec.home == NULL);
    CHECK(refs(h) == 3);
    for (int i = 0; i < 3; i++) {
        struct cogmem_concept_info info;
        CHECK(cogmem_concept_info(s, ids[i], &info) == 0);
        CHECK(info.id == ids[i]);
    }
    /* p freed (after the grace period): the fourth id takes it. */
    CHECK(cogmem_concept_remove(s, ids[0]) == 0);
    CHECK(cogmem_concept_remove(s, ids[2]) == 0);
    cogmem__rcu_barrier();
    CHECK(refs(h) == 2);
    add(s, ids[3]);
    CHECK(pos_in(h, node_of(s, ids[3])) == (int64_t)p);
    CHECK(cogmem_kind_of(s, ids[1]) == COGMEM_CONCEPT);
    CHECK(cogmem_close(&s) == 0);
}

/* Records placed in a shard's array stay where they are when the table
 * grows, and stay valid: the new table gets a new array for new adds, the
 * old array lives while a record sits in it, with the references to show
 * it. */
static void check_resize(void)
{
    cogmem_store *s = open_store();
    const unsigned sh = 3;
    struct cogmem__shard *shard = &s->sets[0].shard[sh];
    struct cogmem__home *old = home_of(s, sh);
    uint64_t old_slots = old->mask + 1;
    enum { MAXN = 4096 };
    static uint64_t ids[MAXN];
    static struct cogmem__node *nodes[MAXN];
    unsigned n = 0;
    uint64_t placed = 0, id = 1;
    for (;; id++) {
        if (shard_of_id(s, id) != sh)
            continue;
        struct cogmem__table *t = atomic_load(&shard->cur);
        if (atomic_load(&t->used) + 1 > (t->mask + 1) / 2)
            break; /* id grows the table */
        CHECK(n < MAXN);
        add(s, id);
        ids[n] = id;
        nodes[n] = node_of(s, id);
        placed += pos_in(old, nodes[n]) >= 0;
        n++;
    }
    CHECK(placed > n / 2); /* at load <= 1/2 most positions are free */
    CHECK(refs(old) == 1 + placed);
    add(s, id); /* grows */
    struct cogmem__home *nw = home_of(s, sh);
    CHECK(nw != old);
    CHECK(nw->mask + 1 == 2 * old_slots);
    /* The growing add took its position before its link grew the table:
     * in the old array, if it was free there. */
    CHECK(pos_in(nw, node_of(s, id)) == -1);
    if (pos_in(old, node_of(s, id)) >= 0) {
        ids[n] = id;
        nodes[n++] = node_of(s, id);
        placed++;
    } else {
        CHECK(cogmem__node_mem_of(node_of(s, id))->rec.home == NULL);
    }
    for (unsigned i = 0; i < n; i++) {
        CHECK(node_of(s, ids[i]) == nodes[i]); /* same record, same address */
        struct cogmem_concept_info info;
        CHECK(cogmem_concept_info(s, ids[i], &info) == 0 && info.id == ids[i]);
    }
    /* The old table's deferred free drops its reference; the placed
     * records keep the array. */
    cogmem__rcu_barrier();
    CHECK(refs(old) == placed);
    /* Remove all but one placed record: the array stays for the last. */
    uint64_t keep = 0;
    for (unsigned i = 0; i < n; i++) {
        if (!keep && pos_in(old, nodes[i]) >= 0) {
            keep = ids[i];
            continue;
        }
        CHECK(cogmem_concept_remove(s, ids[i]) == 0);
    }
    cogmem__rcu_barrier();
    CHECK(refs(old) == 1);
    const cogmem_vec *v = NULL;
    float want[DIM];
    vec_of(keep, want);
    CHECK(cogmem_vec_get(s, keep, &v) == 0);
    CHECK(memcmp(cogmem_vec_data(v), want, sizeof want) == 0);
    cogmem_vec_put(v);
    /* Its free frees the old array (AddressSanitizer would report any
     * later use of it). New adds go to the new array. */
    CHECK(cogmem_concept_remove(s, keep) == 0);
    cogmem__rcu_barrier();
    uint64_t fresh = id + 1;
    while (shard_of_id(s, fresh) != sh)
        fresh++;
    add(s, fresh);
    struct cogmem__node *fn = node_of(s, fresh);
    CHECK(pos_in(nw, fn) >= 0 || cogmem__node_mem_of(fn)->rec.home == NULL);
    CHECK(cogmem_close(&s) == 0);
}

/* --- adds, removes and lookups racing ------------------------------------ */

#define WRITERS 2
#define KEYS 3000 /* ~190 a shard: every round grows the tables twice */

static cogmem_store *store;
static uint64_t ops = 60000;
static _Atomic uint64_t lookups_ok, wrong;

static uint64_t rnd(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static void *writer(void *arg)
{
    uint64_t x = 0x9e3779b97f4a7c15ull * ((uintptr_t)arg + 1);
    float v[DIM];
    for (uint64_t i = 0; i < ops; i++) {
        uint64_t id = rnd(&x) % KEYS + 1;
        if (rnd(&x) & 1) {
            vec_of(id, v);
            int rc = cogmem_concept_add(store, id, v);
            CHECK(rc == 0 || rc == -EEXIST);
        } else {
            int rc = cogmem_concept_remove(store, id);
            CHECK(rc == 0 || rc == -ENOENT);
        }
    }
    return NULL;
}

/* Every lookup that finds the id must see that id's record and vector. */
static void reader(void)
{
    uint64_t x = 0x243f6a8885a308d3ull;
    float want[DIM];
    for (uint64_t i = 0; i < 2 * ops; i++) {
        uint64_t id = rnd(&x) % KEYS + 1;
        struct cogmem_concept_info info;
        if (cogmem_concept_info(store, id, &info) == 0) {
            if (info.id != id)
                atomic_fetch_add(&wrong, 1);
            atomic_fetch_add_explicit(&lookups_ok, 1, memory_order_relaxed);
        }
        const cogmem_vec *v = NULL;
        if (cogmem_vec_get(store, id, &v) == 0) {
            vec_of(id, want);
            if (memcmp(cogmem_vec_data(v), want, sizeof want) != 0)
                atomic_fetch_add(&wrong, 1);
            cogmem_vec_put(v);
        }
        int k = cogmem_kind_of(store, id);
        CHECK(k == COGMEM_CONCEPT || k == -ENOENT);
    }
}

static void check_races(unsigned rounds)
{
    for (unsigned r = 0; r < rounds; r++) {
        store = open_store();
        pthread_t t[WRITERS];
        for (uintptr_t i = 0; i < WRITERS; i++)
            CHECK(pthread_create(&t[i], NULL, writer, (void *)(i + r * WRITERS)) == 0);
        reader();
        for (int i = 0; i < WRITERS; i++)
            CHECK(pthread_join(t[i], NULL) == 0);
        /* Quiescent: every live id is found, with its own record. */
        uint64_t live = 0, count = 0;
        for (uint64_t id = 1; id <= KEYS; id++) {
            struct cogmem_concept_info info;
            if (cogmem_concept_info(store, id, &info) == 0) {
                CHECK(info.id == id);
                live++;
            }
        }
        CHECK(cogmem_count(store, COGMEM_CONCEPT, &count) == 0 && count == live);
        CHECK(cogmem_close(&store) == 0);
    }
    CHECK(atomic_load(&wrong) == 0);
    CHECK(atomic_load(&lookups_ok) > 0);
}

int main(int argc, char **argv)
{
    unsigned rounds = 8;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--rounds"))
            rounds = (unsigned)strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--ops"))
            ops = strtoull(argv[i + 1], NULL, 10);
    }
    check_reuse();
    check_fallback();
    check_resize();
    check_races(rounds);
    printf("stress home ok: %u rounds, %llu lookups found\n", rounds,
           (unsigned long long)atomic_load(&lookups_ok));
    return 0;
}
