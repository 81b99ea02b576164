/* cogmem — stress test of the binding-list registry (shards/bindex.h) that
 * decay walks: binders creating concept lists (first bind of a concept),
 * removers detaching them (concept removal, then a re-add: a new node and,
 * at its first bind, a new list), unbinders and decayers (pruning) running
 * together, so that lists are created, retired and die in the middle of
 * decay passes.
 *
 *   stress_breg [--threads N] [--seconds S] [--concepts C] [--episodes E]
 *
 * Runs for --seconds (default $COGMEM_STRESS_SECONDS, else 3) on nproc
 * threads (at least 4, so that every role runs). Checked at quiescence:
 *  - the registry holds exactly the lists attached to live concepts (a
 *    walk of the concept table and a walk of the registry agree; no
 *    registered list is dead or detached from its owner);
 *  - one decay pass (FACTOR 0.5, no pruning) halves every binding's
 *    strength exactly once and reports every concept with bindings once;
 *  - fan-outs and fan-ins equal the bindings listed on each side, and the
 *    binding count equals their sum.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "src/bind.h"
#include "src/store.h"

#define DIM 4
#define EP_BASE 1000000u
#define SEC 1000000000ull

static struct {
    unsigned threads, seconds;
    uint64_t concepts, episodes;
} opt = {0, 3, 128, 256};

static cogmem_store *store;
static _Atomic int stop;
static _Atomic uint64_t failures;
static _Atomic uint64_t n_bind, n_remove, n_unbind, n_decay, n_pruned;
static _Atomic uint64_t clock_ns;

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (!(cond)) {                                                        \
            if (atomic_fetch_add(&failures, 1) < 20) {                        \
                fprintf(stderr, "stress_breg: %s:%d: ", __FILE__, __LINE__);  \
                fprintf(stderr, __VA_ARGS__);                                 \
                fputc('\n', stderr);                                          \
            }                                                                 \
        }                                                                     \
    } while (0)

static uint64_t next_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void add_concept(uint64_t id)
{
    float v[DIM] = {1, 2, 3, (float)(id % 7 + 1)};
    int rc = cogmem_concept_add(store, id, v);
    CHECK(rc == 0 || rc == -EEXIST, "concept add: %d", rc);
}

struct worker {
    pthread_t tid;
    unsigned idx;
    uint64_t rng;
};

static void *run(void *p)
{
    struct worker *w = p;
    cogmem_decay_params dp;
    cogmem_decay_params_init(&dp);
    dp.model = COGMEM_DECAY_EXP;
    dp.half_life_ns = 2 * SEC;
    dp.prune_below = 0.05f; /* prunes happen: lists shrink under decay */
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        uint64_t c = 1 + next_rand(&w->rng) % opt.concepts;
        uint64_t e = EP_BASE + 1 + next_rand(&w->rng) % opt.episodes;
        switch (w->idx % 4) {
        case 0: /* binder: a concept's first bind creates its list */
        case 1: {
            float s = 0.2f + 0.8f * (float)(next_rand(&w->rng) % 1000) / 1000.0f;
            int rc = cogmem_bind(store, e, c, s);
            CHECK(rc == 0 || rc == -EEXIST || rc == -ENOENT, "bind: %d", rc);
            if (rc == 0)
                atomic_fetch_add(&n_bind, 1);
            if (rc == -ENOENT && next_rand(&w->rng) % 2)
                add_concept(c); /* removed meanwhile: bring it back */
            if (next_rand(&w->rng) % 4 == 0 && cogmem_unbind(store, e, c) == 0)
                atomic_fetch_add(&n_unbind, 1);
            break;
        }
        case 2: /* remover: detaches and retires the list, then re-adds */
            if (next_rand(&w->rng) % 8 == 0) {
                if (cogmem_concept_remove(store, c) == 0)
                    atomic_fetch_add(&n_remove, 1);
                add_concept(c);
            } else {
                (void)cogmem_binding_adjust(store, e, c, -0.01f, NULL);
            }
            break;
        default: { /* decayer: walks the registry while it changes */
            cogmem_decay_result r = {.struct_size = sizeof r};
            uint64_t now = atomic_fetch_add(&clock_ns, SEC / 4) + SEC / 4;
            int rc = cogmem_decay(store, &dp, now, &r);
            CHECK(rc == 0, "decay: %d", rc);
            CHECK(r.pruned <= r.decayed, "pruned %" PRIu64 " > decayed %" PRIu64,
                  r.pruned, r.decayed);
            atomic_fetch_add(&n_decay, 1);
            atomic_fetch_add(&n_pruned, r.pruned);
            break;
        }
        }
    }
    return NULL;
}

/* ------------------------------------------------------- quiescence */

static uint64_t table_lists;

static int count_attached(struct cogmem__node *n, void *arg)
{
    (void)arg;
    struct cogmem__blist *bl = atomic_load_explicit(&cogmem__node_mem_of(n)->bind,
                                                    memory_order_acquire);
    if (bl && bl != COGMEM__SIDE_GONE) {
        table_lists++;
        CHECK(bl->reg == &store->breg, "a live concept's list is not registered");
        CHECK(!bl->dead, "a live concept's list is dead");
    }
    return 0;
}

static uint64_t walked;

static void check_registered(struct cogmem__blist *bl, void *arg)
{
    (void)arg;
    walked++;
    cogmem__spin_lock(&bl->lock);
    CHECK(!bl->dead, "registry holds a dead list");
    struct cogmem__node *o = bl->owner;
    CHECK(atomic_load(&o->state) == COGMEM__LIVE, "registered list of a node not live");
    CHECK(atomic_load(&cogmem__node_mem_of(o)->bind) == bl,
          "registered list not attached to its owner");
    cogmem__spin_unlock(&bl->lock);
}

static void check_quiescent(void)
{
    cogmem__rcu_lock();
    cogmem__set_foreach(&store->sets[0], count_attached, NULL);
    cogmem__rcu_unlock();
    cogmem__breg_walk(&store->breg, check_registered, NULL);
    uint64_t nreg = cogmem__breg_count(&store->breg);
    CHECK(nreg == table_lists && walked == table_lists,
          "registry %" PRIu64 ", walked %" PRIu64 ", lists on live concepts %" PRIu64,
          nreg, walked, table_lists);

    /* Every binding's strength, then one pass that halves each (an exact
     * f32 multiply): visited twice shows as a quarter, missed as unchanged. */
    size_t cap = opt.episodes;
    uint64_t *ids = calloc(cap, sizeof *ids);
    float *before = calloc(opt.concepts * cap, sizeof *before);
    float *after = calloc(cap, sizeof *after);
    size_t *nb = calloc(opt.concepts + 1, sizeof *nb);
    uint64_t total = 0, with_bindings = 0;
    for (uint64_t c = 1; c <= opt.concepts; c++) {
        size_t n = 0;
        int rc = cogmem_concept_episodes(store, c, ids, before + (c - 1) * cap, cap, &n);
        CHECK(rc == 0 || rc == -ENOENT, "listing: %d", rc);
        nb[c] = rc == 0 ? n : 0;
        total += nb[c];
        with_bindings += nb[c] > 0;
    }
    cogmem_decay_params dp;
    cogmem_decay_params_init(&dp);
    dp.model = COGMEM_DECAY_FACTOR;
    dp.factor = 0.5f;
    dp.prune_below = 0.0f;
    cogmem_decay_result r = {.struct_size = sizeof r};
    CHECK(cogmem_decay(store, &dp, atomic_load(&clock_ns) + SEC, &r) == 0, "decay");
    CHECK(r.concepts == with_bindings && r.decayed == total,
          "decay visited %" PRIu64 " concepts / %" PRIu64 " bindings, want %" PRIu64
          " / %" PRIu64, r.concepts, r.decayed, with_bindings, total);
    uint64_t sum_fan = 0;
    for (uint64_t c = 1; c <= opt.concepts; c++) {
        size_t n = 0;
        if (cogmem_concept_episodes(store, c, ids, after, cap, &n) != 0)
            continue;
        CHECK(n == nb[c], "concept %" PRIu64 ": %zu bindings, had %zu", c, n, nb[c]);
        for (size_t i = 0; i < n && i < nb[c]; i++)
            CHECK(after[i] == before[(c - 1) * cap + i] * 0.5f,
                  "concept %" PRIu64 " binding %zu: %g after %g (decayed once?)", c, i,
                  (double)after[i], (double)before[(c - 1) * cap + i]);
        uint32_t fan = 0;
        CHECK(cogmem_fan_out(store, c, &fan) == 0 && fan == n,
              "concept %" PRIu64 ": fan-out %u, %zu bindings", c, fan, n);
        sum_fan += fan;
    }
    uint64_t sum_in = 0;
    for (uint64_t e = EP_BASE + 1; e <= EP_BASE + opt.episodes; e++) {
        size_t n = 0;
        uint32_t fan = 0;
        CHECK(cogmem_episode_concepts(store, e, ids, NULL, cap, &n) == 0, "episode listing");
        CHECK(cogmem_fan_in(store, e, &fan) == 0 && fan == n,
              "episode %" PRIu64 ": fan-in %u, %zu bindings", e, fan, n);
        sum_in += n;
    }
    uint64_t count = 0;
    CHECK(cogmem_binding_count(store, &count) == 0 && count == sum_fan && sum_fan == sum_in,
          "binding count %" PRIu64 ", fan-outs %" PRIu64 ", fan-ins %" PRIu64, count,
          sum_fan, sum_in);
    free(ids);
    free(before);
    free(after);
    free(nb);
}

int main(int argc, char **argv)
{
    const char *env = getenv("COGMEM_STRESS_SECONDS");
    if (env)
        opt.seconds = (unsigned)strtoul(env, NULL, 10);
    long nproc = sysconf(_SC_NPROCESSORS_ONLN);
    opt.threads = nproc < 4 ? 4 : (unsigned)nproc;
    for (int i = 1; i + 1 < argc; i += 2) {
        unsigned long v = strtoul(argv[i + 1], NULL, 10);
        if (!strcmp(argv[i], "--threads"))
            opt.threads = (unsigned)v;
        else if (!strcmp(argv[i], "--seconds"))
            opt.seconds = (unsigned)v;
        else if (!strcmp(argv[i], "--concepts"))
            opt.concepts = v;
        else if (!strcmp(argv[i], "--episodes"))
            opt.episodes = v;
        else {
            fprintf(stderr, "stress_breg: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (!opt.threads || !opt.concepts || !opt.episodes)
        return 2;
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    atomic_store(&clock_ns, (uint64_t)rt.tv_sec * SEC + (uint64_t)rt.tv_nsec);
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = DIM;
    if (cogmem_open(&cfg, &store) != 0)
        return 1;
    for (uint64_t c = 1; c <= opt.concepts; c++)
        add_concept(c);
    for (uint64_t e = EP_BASE + 1; e <= EP_BASE + opt.episodes; e++) {
        float v[DIM] = {2, 1, 3, 4};
        CHECK(cogmem_episode_add(store, e, v, e) == 0, "add episode");
    }
    struct worker *w = calloc(opt.threads, sizeof *w);
    for (unsigned t = 0; t < opt.threads; t++) {
        w[t].idx = t;
        w[t].rng = 0x9876543ull * (t + 1);
        pthread_create(&w[t].tid, NULL, run, &w[t]);
    }
    struct timespec ts = {.tv_sec = opt.seconds};
    nanosleep(&ts, NULL);
    atomic_store(&stop, 1);
    for (unsigned t = 0; t < opt.threads; t++)
        pthread_join(w[t].tid, NULL);
    free(w);

    check_quiescent();
    printf("stress_breg: %u threads, %u s: bind=%" PRIu64 " unbind=%" PRIu64
           " remove=%" PRIu64 " decay=%" PRIu64 " pruned=%" PRIu64 " lists=%" PRIu64 "\n",
           opt.threads, opt.seconds, atomic_load(&n_bind), atomic_load(&n_unbind),
           atomic_load(&n_remove), atomic_load(&n_decay), atomic_load(&n_pruned),
           table_lists);
    if (cogmem_close(&store) != 0)
        CHECK(0, "close failed");
    uint64_t f = atomic_load(&failures);
    if (f)
        fprintf(stderr, "stress_breg: %" PRIu64 " failures\n", f);
    return f ? 1 : 0;
}
