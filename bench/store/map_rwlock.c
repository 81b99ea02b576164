/* bench/store — peer (a): sixteen shards, each a pthread_rwlock_t over an
 * ordinary open-addressing hash table (what Rust's DashMap does).
 *
 * Routing is cogmem's: one XXH3 hash per id, the top four bits pick the
 * shard, the low bits the home slot. Slots are the 64-byte records
 * themselves (linear probing, load factor at most 1/2, id 0 = empty), so a
 * lookup usually reads the shard's lock line and one record line. The lock
 * is glibc's default (reader-preferring) rwlock; every reader writes its
 * cache line, which is the cost this baseline exists to show.
 */
#include <pthread.h>
#include <stdio.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "harness.h"
#include "peer.h"

#define RW_SHARD_BITS 4
#define RW_NSHARDS (1u << RW_SHARD_BITS)
#define RW_MIN_SLOTS 64u

struct rw_shard {
    _Alignas(64) pthread_rwlock_t lock;
    struct peer_record *slots;
    uint64_t mask;  /* slots - 1; slots is a power of two */
    uint64_t count; /* keys held */
};

struct rw_map {
    struct rw_shard shard[RW_NSHARDS];
    uint32_t dim;
};

static uint64_t rw_hash(uint64_t id)
{
    return XXH3_64bits(&id, sizeof id);
}

static struct rw_shard *rw_shard_of(struct rw_map *m, uint64_t h)
{
    return &m->shard[h >> (64 - RW_SHARD_BITS)];
}

/* The slot holding id, or the empty slot where it would go. The load
 * factor bound guarantees an empty slot, so the probe ends. */
static struct peer_record *rw_probe(const struct rw_shard *sh, uint64_t id,
                                    uint64_t h)
{
    for (uint64_t i = h & sh->mask;; i = (i + 1) & sh->mask) {
        struct peer_record *r = &sh->slots[i];
        if (r->id == id || r->id == 0)
            return r;
    }
}

static struct peer_record *rw_find(const struct rw_shard *sh, uint64_t id, uint64_t h)
{
    struct peer_record *r = rw_probe(sh, id, h);
    return r->id ? r : NULL;
}

static struct peer_record *rw_slots(uint64_t n)
{
    struct peer_record *s = aligned_alloc(64, n * sizeof *s);
    if (s)
        memset(s, 0, n * sizeof *s);
    return s;
}

/* Double the table (exclusive lock held). */
static int rw_grow(struct rw_shard *sh)
{
    uint64_t n = (sh->mask + 1) * 2;
    struct peer_record *old = sh->slots, *s = rw_slots(n);
    if (!s)
        return -ENOMEM;
    uint64_t old_n = sh->mask + 1;
    sh->slots = s;
    sh->mask = n - 1;
    for (uint64_t i = 0; i < old_n; i++)
        if (old[i].id)
            *rw_probe(sh, old[i].id, rw_hash(old[i].id)) = old[i];
    free(old);
    return 0;
}

static void *rw_open(uint64_t n_expected, uint32_t dim)
{
    struct rw_map *m = aligned_alloc(64, sizeof *m);
    if (!m)
        return NULL;
    memset(m, 0, sizeof *m);
    m->dim = dim;
    uint64_t want = 2 * (n_expected / RW_NSHARDS + 1), slots = RW_MIN_SLOTS;
    while (slots < want)
        slots *= 2;
    for (unsigned i = 0; i < RW_NSHARDS; i++) {
        struct rw_shard *sh = &m->shard[i];
        pthread_rwlock_init(&sh->lock, NULL);
        sh->mask = slots - 1;
        sh->slots = rw_slots(slots);
        if (!sh->slots) {
            fprintf(stderr, "rwlock: out of memory\n");
            exit(2);
        }
    }
    return m;
}

static int rw_add(void *mp, uint64_t id, const float *vec)
{
    struct rw_map *m = mp;
    if (id == 0)
        return -EINVAL;
    int rc;
    struct peer_vec *v = peer_vec_new(id, m->dim, vec, &rc);
    if (!v)
        return rc;
    uint64_t h = rw_hash(id);
    struct rw_shard *sh = rw_shard_of(m, h);
    pthread_rwlock_wrlock(&sh->lock);
    rc = 0;
    if (2 * (sh->count + 1) > sh->mask + 1)
        rc = rw_grow(sh);
    struct peer_record *r = rc ? NULL : rw_probe(sh, id, h);
    if (r && r->id)
        rc = -EEXIST;
    if (!rc) {
        peer_record_init(r, id, v);
        sh->count++;
    }
    pthread_rwlock_unlock(&sh->lock);
    if (rc)
        peer_vec_unref(v);
    return rc;
}

static int rw_info(void *mp, uint64_t id, void *out)
{
    struct rw_map *m = mp;
    uint64_t h = rw_hash(id);
    struct rw_shard *sh = rw_shard_of(m, h);
    pthread_rwlock_rdlock(&sh->lock);
    struct peer_record *r = rw_find(sh, id, h);
    if (r)
        peer_record_copy(r, out);
    pthread_rwlock_unlock(&sh->lock);
    return r ? 0 : -ENOENT;
}

static int rw_kind_of(void *mp, uint64_t id)
{
    struct rw_map *m = mp;
    uint64_t h = rw_hash(id);
    struct rw_shard *sh = rw_shard_of(m, h);
    pthread_rwlock_rdlock(&sh->lock);
    struct peer_record *r = rw_find(sh, id, h);
    pthread_rwlock_unlock(&sh->lock);
    return r ? 0 : -ENOENT;
}

static int rw_fan_out(void *mp, uint64_t id, uint32_t *out)
{
    struct rw_map *m = mp;
    uint64_t h = rw_hash(id);
    struct rw_shard *sh = rw_shard_of(m, h);
    pthread_rwlock_rdlock(&sh->lock);
    struct peer_record *r = rw_find(sh, id, h);
    if (r)
        *out = r->fan_out;
    pthread_rwlock_unlock(&sh->lock);
    return r ? 0 : -ENOENT;
}

static int rw_vec_get_put(void *mp, uint64_t id)
{
    struct rw_map *m = mp;
    uint64_t h = rw_hash(id);
    struct rw_shard *sh = rw_shard_of(m, h);
    struct peer_vec *v = NULL;
    pthread_rwlock_rdlock(&sh->lock);
    struct peer_record *r = rw_find(sh, id, h);
    if (r) {
        v = r->vec;
        peer_vec_ref(v);
    }
    pthread_rwlock_unlock(&sh->lock);
    if (!v)
        return -ENOENT;
    peer_vec_unref(v);
    return 0;
}

static int rw_set_centroid(void *mp, uint64_t id, const float *vec)
{
    struct rw_map *m = mp;
    int rc;
    struct peer_vec *v = peer_vec_new(id, m->dim, vec, &rc);
    if (!v)
        return rc;
    uint64_t now = peer_now_ns();
    uint64_t h = rw_hash(id);
    struct rw_shard *sh = rw_shard_of(m, h);
    pthread_rwlock_wrlock(&sh->lock);
    struct peer_record *r = rw_find(sh, id, h);
    struct peer_vec *old = r ? peer_record_swap(r, v, now) : v;
    pthread_rwlock_unlock(&sh->lock);
    peer_vec_unref(old);
    return r ? 0 : -ENOENT;
}

static void rw_close(void *mp)
{
    struct rw_map *m = mp;
    for (unsigned i = 0; i < RW_NSHARDS; i++) {
        struct rw_shard *sh = &m->shard[i];
        for (uint64_t j = 0; j <= sh->mask; j++)
            if (sh->slots[j].id)
                peer_vec_unref(sh->slots[j].vec);
        free(sh->slots);
        pthread_rwlock_destroy(&sh->lock);
    }
    free(m);
}

const struct bench_map bench_map_rwlock = {
    .name = "rwlock",
    .info_size = sizeof(struct peer_info),
    .open = rw_open,
    .add = rw_add,
    .info = rw_info,
    .kind_of = rw_kind_of,
    .fan_out = rw_fan_out,
    .vec_get_put = rw_vec_get_put,
    .set_centroid = rw_set_centroid,
    .close = rw_close,
};
