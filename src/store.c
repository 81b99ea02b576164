/* cogmem — store lifecycle, counts, iteration and shared checks. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "cogmem_config.h"
#include "cogmem_simd.h"
#include "shards/bindex.h"
#include "src/persist/hooks.h"
#include "src/store.h"

/* The first cogmem_config the library shipped: callers compiled against it
 * (or a later, larger one) are accepted. */
#define CONFIG_V1_SIZE (offsetof(cogmem_config, expected_episodes) + sizeof(uint64_t))

const char *cogmem_version(void) { return COGMEM_VERSION_STRING; }

uint64_t cogmem__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int cogmem__check_finite(const float *v, uint32_t dim)
{
    if (!v)
        return -EINVAL;
    /* NaN and Inf are the floats whose exponent bits are all ones. An
     * integer OR-reduction vectorises (a float sum does not: the compiler
     * may not reorder it; measured 13% of a journal replay). */
    uint32_t bad = 0;
    for (uint32_t i = 0; i < dim; i++) {
        uint32_t u;
        memcpy(&u, &v[i], sizeof u);
        bad |= (u & 0x7f800000u) == 0x7f800000u;
    }
    return bad ? -EINVAL : 0;
}

int cogmem__check_vector(const float *v, uint32_t dim, double *sumsq)
{
    if (!v)
        return -EINVAL;
    double s = cogmem_sum_squares(v, dim);
    if (!(s < INFINITY)) /* NaN or +Inf: an element was NaN or Inf */
        return -EINVAL;
    *sumsq = s;
    return 0;
}

int cogmem__check_norm(const struct cogmem_vec *v)
{
    if (v->norm == 0.0f)
        return -EINVAL;
    if (!isfinite(v->norm))
        return -ERANGE;
    return 0;
}

void cogmem_config_init(cogmem_config *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->struct_size = sizeof *cfg;
    cfg->fan_mode = COGMEM_FAN_INV_SQRT;
    cfg->actr_max_assoc = 2.0f;
    cfg->actr_decay = 0.5f;
    cfg->actr_history = 10;
    cfg->actr_latency_factor = 1.0f;
    cfg->actr_threshold = 0.0f;
    cfg->actr_noise = 0.25f;
    cfg->numa_policy = COGMEM_NUMA_INTERLEAVE;
    cfg->concept_node = -1;
    cfg->episode_node = -1;
    cfg->stats = COGMEM_STATS_COUNTERS | COGMEM_STATS_LATENCY;
    cfg->durability = COGMEM_DURABLE_PROCESS;
    cfg->sync_interval_ms = 1000;
    cogmem__ann_config_defaults(cfg);
}

/* The binding and ACT-R settings make sense. */
static int config_actr_ok(const cogmem_config *c)
{
    return c->fan_mode >= COGMEM_FAN_INV_SQRT && c->fan_mode <= COGMEM_FAN_NONE &&
           isfinite(c->actr_max_assoc) && c->actr_decay > 0.0f &&
           c->actr_decay < 1.0f && c->actr_history <= COGMEM__PRES_MAX &&
           c->actr_latency_factor > 0.0f && isfinite(c->actr_latency_factor) &&
           isfinite(c->actr_threshold) && c->actr_noise > 0.0f &&
           isfinite(c->actr_noise);
}

/* A fresh random seed for the store's id hash (shards/route.h). Without
 * the kernel's randomness (no getrandom: a sandbox), a mix of the clock,
 * the store's address and a process-wide counter still differs between
 * stores, which is what defeats ids precomputed against another store. */
static uint64_t hash_seed(const void *st)
{
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) == (ssize_t)sizeof seed)
        return seed;
    static _Atomic uint64_t opened;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t mix[3] = {(uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec,
                       (uint64_t)(uintptr_t)st,
                       atomic_fetch_add_explicit(&opened, 1, memory_order_relaxed)};
    return XXH3_64bits(mix, sizeof mix);
}

/* Sizing hints (cfg.expected_*, cogmem_reserve) are advice: a kind's
 * tables are pre-sized for at most HINT_MAX nodes, and for no more than
 * fit in 1/64 of the machine's physical memory (a table slot is 8 bytes,
 * a node needs two at load 1/2, and a power-of-two size at most doubles
 * that: 32 bytes a node). Beyond that an add grows its shard as usual, an
 * amortised O(1) copy per add. A hint of 10^8 used to commit gigabytes of
 * table at open (2^40: killed for lack of memory), for nodes that might
 * never come: HINT_MAX keeps a pre-sized open at 16 MiB of tables a kind
 * (2^17 slots a shard), and past half a million nodes the growth copies
 * cost little next to the adds. */
#define HINT_MAX ((uint64_t)1 << 19)

static uint64_t hint_cap(uint64_t hint)
{
    uint64_t cap = HINT_MAX;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0) {
        uint64_t by_memory = (uint64_t)pages * (uint64_t)page / 64 / 32;
        if (by_memory < cap)
            cap = by_memory;
    }
    return hint < cap ? hint : cap;
}

/* The last hold on a closed store's memory is gone (cogmem_close's, or
 * that of the last RCU callback still to free into it: numa/mem.h): free
 * the rows and the store. May run on liburcu's call_rcu worker. */
static void store_release(struct cogmem__mem *m)
{
    cogmem_store *st = (cogmem_store *)((char *)m - offsetof(cogmem_store, mem));
    cogmem__ann_close_free(st);
    /* A store that filled at most one chunk of rows per kind leaves its
     * pages mapped for the next one (numa/mem.c's pool and cache); a
     * larger one gives them back to the system. */
    int small = 1;
    for (int k = 0; k < 2; k++) {
        struct cogmem__slab *sl = &st->sets[k].kind.slab;
        small &= cogmem__slab_small(sl);
        cogmem__slab_fini(sl);
    }
    cogmem__mem_fini(&st->mem, small);
    cogmem__mem_boot_free(st, sizeof *st);
}

int cogmem_open(const cogmem_config *cfg, cogmem_store **out)
{
    if (!cfg || !out || cfg->struct_size < CONFIG_V1_SIZE)
        return -EINVAL;
    cogmem_config c;
    cogmem_config_init(&c);
    memcpy(&c, cfg, cfg->struct_size < sizeof c ? cfg->struct_size : sizeof c);
    c.struct_size = sizeof c;
    if (c.dim == 0 || c.dim > COGMEM_MAX_DIM || !config_actr_ok(&c) || !cogmem__ann_config_ok(&c) ||
        (c.stats & ~(COGMEM_STATS_COUNTERS | COGMEM_STATS_LATENCY)) != 0)
        return -EINVAL;
    int rc = cogmem__mem_check_policy(&c.numa_policy, &c.concept_node, &c.episode_node);
    if (rc)
        return rc;

    rc = cogmem__rcu_init();
    if (rc)
        return rc;
    cogmem_store *st = cogmem__mem_boot_alloc(sizeof *st);
    if (!st)
        return -ENOMEM;
    memset(st, 0, sizeof *st);
    st->cfg = c;
    st->dim = c.dim;
    st->stats.flags = c.stats;
    rc = cogmem__mem_init(&st->mem, store_release);
    if (rc)
        goto fail_store;
    st->numa_fallback = cogmem__mem_place(&st->mem, c.numa_policy, c.concept_node,
                                          c.episode_node);

    uint64_t seed = hash_seed(st);
    for (int k = 0; k < 2; k++)
        cogmem__kind_init(&st->sets[k].kind, &st->mem,
                          k ? COGMEM__MEM_EPISODE : COGMEM__MEM_CONCEPT,
                          (c.stats & COGMEM_STATS_COUNTERS) != 0, seed);
    rc = cogmem__slab_init(&st->sets[0].kind.slab, &st->mem, COGMEM__MEM_CONCEPT, c.dim,
                           c.bf16_rows != 0);
    if (rc)
        goto fail_mem;
    rc = cogmem__slab_init(&st->sets[1].kind.slab, &st->mem, COGMEM__MEM_EPISODE, c.dim,
                           c.bf16_rows != 0);
    if (rc)
        goto fail_slab;
    /* Hints are advice, capped (hint_cap): never a reason to fail. */
    rc = cogmem__set_init(&st->sets[0], hint_cap(c.expected_concepts));
    if (rc == 0) {
        rc = cogmem__set_init(&st->sets[1], hint_cap(c.expected_episodes));
        if (rc)
            cogmem__set_fini(&st->sets[0]);
    }
    if (rc)
        goto fail_slabs;
    rc = cogmem__persist_attach(st);
    if (rc == 0)
        rc = cogmem__ann_open(st); /* after recovery: rebuilds from the nodes */
    if (rc) {
        cogmem_close(&st); /* nothing else holds it: frees what was loaded */
        return rc;
    }
    *out = st;
    return 0;

fail_slabs:
    cogmem__slab_fini(&st->sets[1].kind.slab);
fail_slab:
    cogmem__slab_fini(&st->sets[0].kind.slab);
fail_mem:
    cogmem__mem_fini(&st->mem, 1);
fail_store:
    cogmem__mem_boot_free(st, sizeof *st);
    return rc;
}

static void drop_node(struct cogmem__node *n, void *arg)
{
    (void)arg;
    cogmem__node_free_now(n);
}

int cogmem_close(cogmem_store **store)
{
    if (!store)
        return -EINVAL;
    cogmem_store *st = *store;
    if (!st)
        return 0;
    if (cogmem__rcu_in_reader())
        return -EDEADLK;
    if (cogmem__kind_vec_refs(&st->sets[0].kind) + cogmem__kind_vec_refs(&st->sets[1].kind) != 0)
        return -EBUSY;
    cogmem__persist_detach(st);
    cogmem__ann_close_release(st);
    for (int k = 0; k < 2; k++) {
        cogmem__set_drain(&st->sets[k], drop_node, NULL);
        cogmem__set_fini(&st->sets[k]);
    }
    cogmem__breg_fini(&st->breg); /* after the drain: node frees leave it */
    /* Deferred frees of this store's removes and replacements may still
     * be queued: each holds the store's memory, and whichever of them (or
     * we) drops the last hold frees it (store_release). Closing does not
     * wait for liburcu's worker, which sleeps 10 ms after every wake-up
     * (measured: 11 ms a close after one remove). No callback needs the
     * tables or the registry, so they go now; the graph indexes go in
     * store_release, since their deferred drains (src/ann/repair.c) still
     * push freed slots into them. */
    *store = NULL;
    cogmem__mem_unhold(&st->mem);
    return 0;
}

uint32_t cogmem_dim(const cogmem_store *store)
{
    return store ? store->dim : 0;
}

int cogmem_reserve(cogmem_store *store, unsigned kinds, uint64_t n)
{
    if (!store || !cogmem__kinds_ok(kinds))
        return -EINVAL;
    if (cogmem__rcu_in_reader())
        return -EDEADLK;
    /* Advice, as cogmem_open's hints: capped, so bounded in time and
     * memory whatever n is. */
    n = hint_cap(n);
    int rc = 0;
    if (kinds & COGMEM_CONCEPT)
        rc = cogmem__set_reserve(&store->sets[0], n);
    if (rc == 0 && (kinds & COGMEM_EPISODE))
        rc = cogmem__set_reserve(&store->sets[1], n);
    return rc;
}

int cogmem_kind_of(cogmem_store *store, uint64_t id)
{
    if (!store || id == 0)
        return -EINVAL;
    uint64_t t0 = cogmem__lat_begin(store);
    uint64_t hash = cogmem__hash(store, id);
    int kind = -ENOENT;
    cogmem__rcu_lock();
    if (cogmem__set_find(&store->sets[0], id, hash, COGMEM__FIND_LIVE))
        kind = COGMEM_CONCEPT;
    else if (cogmem__set_find(&store->sets[1], id, hash, COGMEM__FIND_LIVE))
        kind = COGMEM_EPISODE;
    cogmem__rcu_unlock();
    cogmem__note_lookup(&store->sets[0], hash, kind == COGMEM_CONCEPT);
    if (kind != COGMEM_CONCEPT)
        cogmem__note_lookup(&store->sets[1], hash, kind == COGMEM_EPISODE);
    cogmem__lat_end(store, COGMEM_OP_LOOKUP, t0);
    return kind;
}

int cogmem_count(cogmem_store *store, unsigned kinds, uint64_t *out)
{
    if (!store || !out || !cogmem__kinds_ok(kinds))
        return -EINVAL;
    uint64_t n = 0;
    if (kinds & COGMEM_CONCEPT)
        n += cogmem__set_count(&store->sets[0]);
    if (kinds & COGMEM_EPISODE)
        n += cogmem__set_count(&store->sets[1]);
    *out = n;
    return 0;
}

struct visit {
    cogmem_visit_fn fn;
    void *arg;
    enum cogmem_kind kind;
};

static int visit_node(struct cogmem__node *n, void *arg)
{
    struct visit *v = arg;
    return v->fn(atomic_load_explicit(&n->id, memory_order_relaxed), v->kind, v->arg);
}

int cogmem_foreach(cogmem_store *store, unsigned kinds, cogmem_visit_fn fn,
                   void *arg)
{
    if (!store || !fn || !cogmem__kinds_ok(kinds))
        return -EINVAL;
    int rc = 0;
    cogmem__rcu_lock();
    if (kinds & COGMEM_CONCEPT) {
        struct visit v = {fn, arg, COGMEM_CONCEPT};
        rc = cogmem__set_foreach(&store->sets[0], visit_node, &v);
    }
    if (rc == 0 && (kinds & COGMEM_EPISODE)) {
        struct visit v = {fn, arg, COGMEM_EPISODE};
        rc = cogmem__set_foreach(&store->sets[1], visit_node, &v);
    }
    cogmem__rcu_unlock();
    return rc;
}
