/* cogmem — stress test of bindings: binders, unbinders, adjusters, readers,
 * decayers, spreaders and node churn (remove + re-add) running together.
 *
 *   stress_bind [--threads N] [--seconds S] [--concepts C] [--episodes E]
 *
 * Runs for --seconds (default $COGMEM_STRESS_SECONDS, else 5) on nproc
 * threads (at least 4, so that every role runs). Checked while running:
 * every strength read is in [0, 1]; listings agree with their own counts;
 * spreading returns sorted, finite hits. Checked at quiescence: for every
 * live concept, fan-out == the number of its bindings == what the listing
 * returns; every binding is listed on both sides; every episode's fan-in
 * matches its list; the per-shard binding counters sum to the number of
 * bindings; close succeeds.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cogmem.h"

#define DIM 4
#define EP_BASE 1000000u

static struct {
    unsigned threads, seconds;
    uint64_t concepts, episodes;
} opt = {0, 5, 64, 512};

static cogmem_store *store;
static _Atomic int stop;
static _Atomic uint64_t failures;
static _Atomic uint64_t n_ops[16];

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (!(cond)) {                                                     \
            if (atomic_fetch_add(&failures, 1) < 20) {                     \
                fprintf(stderr, "stress_bind: %s:%d: ", __FILE__, __LINE__); \
                fprintf(stderr, __VA_ARGS__);                              \
                fputc('\n', stderr);                                       \
            }                                                              \
        }                                                                  \
    } while (0)

static uint64_t next_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rand_c(uint64_t *r) { return 1 + next_rand(r) % opt.concepts; }
static uint64_t rand_e(uint64_t *r) { return EP_BASE + 1 + next_rand(r) % opt.episodes; }

static int add_node(uint64_t id)
{
    float v[DIM] = {1, 2, 3, (float)(id % 7 + 1)};
    return id > EP_BASE ? cogmem_episode_add(store, id, v, id)
                        : cogmem_concept_add(store, id, v);
}

static int remove_node(uint64_t id)
{
    return id > EP_BASE ? cogmem_episode_remove(store, id)
                        : cogmem_concept_remove(store, id);
}

enum { OP_BIND, OP_UNBIND, OP_ADJUST, OP_GET, OP_FAN, OP_LIST_C, OP_LIST_E,
       OP_CHURN, OP_SPREAD, OP_TOUCH, OP_DECAY, N_OP };
static const char *op_names[N_OP] = {"bind", "unbind", "adjust", "get", "fan",
                                     "list_c", "list_e", "churn", "spread",
                                     "touch", "decay"};

struct worker {
    pthread_t tid;
    unsigned idx;
    uint64_t rng;
};

static void check_strength(float x, const char *what)
{
    CHECK(x >= 0.0f && x <= 1.0f, "%s: strength %g outside [0,1]", what, x);
}

/* Nodes are removed and re-added only by their owner (id % threads), so
 * that the owner knows the node is absent between the two. */
static void churn(struct worker *w)
{
    uint64_t id = next_rand(&w->rng) & 1 ? rand_c(&w->rng) : rand_e(&w->rng);
    if (id % opt.threads != w->idx)
        return;
    int rc = remove_node(id);
    CHECK(rc == 0, "remove of owned live node %" PRIu64 ": %d", id, rc);
    /* gone with its bindings */
    uint32_t f;
    CHECK((id > EP_BASE ? cogmem_fan_in(store, id, &f) : cogmem_fan_out(store, id, &f)) ==
              -ENOENT, "removed node %" PRIu64 " still has a fan", id);
    rc = add_node(id);
    CHECK(rc == 0, "re-add of owned node %" PRIu64 ": %d", id, rc);
}

static void one_op(struct worker *w, unsigned op)
{
    uint64_t *r = &w->rng;
    uint64_t c = rand_c(r), e = rand_e(r);
    float x;
    int rc;
    uint64_t ids[64];
    float str[64];
    size_t n;
    switch (op) {
    case OP_BIND:
        rc = cogmem_bind(store, e, c, (float)(next_rand(r) % 1025) / 1024.0f);
        CHECK(rc == 0 || rc == -EEXIST || rc == -ENOENT, "bind: %d", rc);
        break;
    case OP_UNBIND:
        rc = cogmem_unbind(store, e, c);
        CHECK(rc == 0 || rc == -ENOENT, "unbind: %d", rc);
        break;
    case OP_ADJUST:
        rc = cogmem_binding_adjust(store, e, c,
                                   ((float)(next_rand(r) % 2001) - 1000.0f) / 2000.0f, &x);
        CHECK(rc == 0 || rc == -ENOENT, "adjust: %d", rc);
        if (rc == 0)
            check_strength(x, "adjust");
        break;
    case OP_GET:
        rc = cogmem_binding_get(store, e, c, &x);
        CHECK(rc == 0 || rc == -ENOENT, "get: %d", rc);
        if (rc == 0)
            check_strength(x, "get");
        break;
    case OP_FAN: {
        uint32_t f;
        rc = cogmem_fan_out(store, c, &f);
        CHECK(rc == 0 || rc == -ENOENT, "fan_out: %d", rc);
        if (rc == 0)
            CHECK(f <= opt.episodes, "fan-out %u > episodes", f);
        break;
    }
    case OP_LIST_C:
        rc = cogmem_concept_episodes(store, c, ids, str, 64, &n);
        CHECK(rc == 0 || rc == -ENOENT, "concept_episodes: %d", rc);
        for (size_t i = 0; rc == 0 && i < n && i < 64; i++) {
            check_strength(str[i], "list_c");
            CHECK(ids[i] > EP_BASE, "concept lists a non-episode id");
        }
        break;
    case OP_LIST_E:
        rc = cogmem_episode_concepts(store, e, ids, str, 64, &n);
        CHECK(rc == 0 || rc == -ENOENT, "episode_concepts: %d", rc);
        for (size_t i = 0; rc == 0 && i < n && i < 64; i++) {
            check_strength(str[i], "list_e");
            CHECK(ids[i] >= 1 && ids[i] <= opt.concepts, "episode lists a non-concept");
        }
        break;
    case OP_CHURN:
        churn(w);
        break;
    case OP_SPREAD: {
        cogmem_spread_params p;
        cogmem_spread_params_init(&p);
        p.fan_mode = (int32_t)(next_rand(r) % 4);
        p.add_base_level = (int32_t)(next_rand(r) & 1);
        p.max_nodes = 256;
        cogmem_source src[2] = {{c, 1.0f}, {e, 0.5f}};
        cogmem_hit h[16];
        rc = cogmem_spread(store, src, 2, &p, h, 16, &n);
        CHECK(rc == 0, "spread: %d", rc);
        for (size_t i = 0; rc == 0 && i < n; i++) {
            CHECK(isfinite(h[i].activation), "spread: activation not finite");
            CHECK(i == 0 || h[i - 1].activation > h[i].activation ||
                      (h[i - 1].activation == h[i].activation && h[i - 1].id < h[i].id),
                  "spread: hits out of order");
        }
        break;
    }
    case OP_TOUCH:
        rc = cogmem_touch(store, next_rand(r) & 1 ? c : e, 1000000000ull + next_rand(r) % 1000000000ull);
        CHECK(rc == 0 || rc == -ENOENT, "touch: %d", rc);
        break;
    case OP_DECAY: {
        cogmem_decay_params p;
        cogmem_decay_params_init(&p);
        p.model = (int32_t)(next_rand(r) % 3);
        p.half_life_ns = 2000000000ull;
        p.factor = 0.9f;
        p.prune_below = 0.05f;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        cogmem_decay_result res;
        memset(&res, 0, sizeof res);
        res.struct_size = sizeof res;
        rc = cogmem_decay(store, &p, now + next_rand(r) % 1000000000u, &res);
        CHECK(rc == 0, "decay: %d", rc);
        CHECK(res.pruned <= res.decayed, "decay pruned more than it visited");
        break;
    }
    }
    atomic_fetch_add_explicit(&n_ops[op], 1, memory_order_relaxed);
}

/* Decay visits every binding: rare, yet a few hundred times a second. */
static const unsigned weight[N_OP] = {30, 12, 30, 10, 6, 4, 4, 1, 1, 3, 0};

static void *run(void *arg)
{
    struct worker *w = arg;
    unsigned total = 0;
    for (unsigned i = 0; i < N_OP; i++)
        total += weight[i];
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        /* Thread 0 is the decayer; it also does the common mix. */
        if (w->idx == 0)
            one_op(w, OP_DECAY);
        for (int k = 0; k < 64; k++) {
            unsigned p = (unsigned)(next_rand(&w->rng) % total), op = 0;
            while (p >= weight[op])
                p -= weight[op++];
            one_op(w, op);
        }
    }
    return NULL;
}

static void check_quiescent(void)
{
    size_t cap = opt.episodes + 1;
    uint64_t *ids = calloc(cap, sizeof *ids);
    float *str = calloc(cap, sizeof *str);
    uint64_t sum_out = 0, sum_in = 0;
    for (uint64_t c = 1; c <= opt.concepts; c++) {
        uint32_t f;
        size_t n;
        CHECK(cogmem_fan_out(store, c, &f) == 0, "concept %" PRIu64 " missing", c);
        CHECK(cogmem_concept_episodes(store, c, ids, str, cap, &n) == 0, "listing");
        CHECK(n == f, "concept %" PRIu64 ": fan-out %u but %zu bindings", c, f, n);
        sum_out += n;
        for (size_t i = 0; i < n; i++) {
            check_strength(str[i], "quiescent");
            float x;
            CHECK(cogmem_binding_get(store, ids[i], c, &x) == 0 && x == str[i],
                  "listed binding not found");
            uint64_t back[256];
            size_t m;
            CHECK(cogmem_episode_concepts(store, ids[i], back, NULL, 256, &m) == 0,
                  "bound episode %" PRIu64 " missing", ids[i]);
            int seen = 0;
            for (size_t j = 0; j < m && j < 256; j++)
                seen += back[j] == c;
            CHECK(seen == 1, "binding (%" PRIu64 ", %" PRIu64 ") listed %d times on the episode side",
                  ids[i], c, seen);
        }
    }
    for (uint64_t e = EP_BASE + 1; e <= EP_BASE + opt.episodes; e++) {
        uint32_t f;
        size_t n;
        CHECK(cogmem_fan_in(store, e, &f) == 0, "episode missing");
        CHECK(cogmem_episode_concepts(store, e, ids, NULL, cap, &n) == 0, "listing");
        CHECK(n == f, "episode %" PRIu64 ": fan-in %u but %zu bindings", e, f, n);
        sum_in += n;
    }
    uint64_t total;
    CHECK(cogmem_binding_count(store, &total) == 0, "count");
    CHECK(sum_out == sum_in && sum_in == total,
          "bindings: %" PRIu64 " by concepts, %" PRIu64 " by episodes, counter %" PRIu64,
          sum_out, sum_in, total);
    printf("stress_bind: %" PRIu64 " bindings at the end\n", total);
    free(ids);
    free(str);
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
            fprintf(stderr, "stress_bind: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (!opt.threads || !opt.concepts || !opt.episodes)
        return 2;
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = DIM;
    if (cogmem_open(&cfg, &store) != 0)
        return 1;
    for (uint64_t c = 1; c <= opt.concepts; c++)
        CHECK(add_node(c) == 0, "add concept");
    for (uint64_t e = EP_BASE + 1; e <= EP_BASE + opt.episodes; e++)
        CHECK(add_node(e) == 0, "add episode");

    struct worker *w = calloc(opt.threads, sizeof *w);
    for (unsigned t = 0; t < opt.threads; t++) {
        w[t].idx = t;
        w[t].rng = 0x1234567ull * (t + 1);
        pthread_create(&w[t].tid, NULL, run, &w[t]);
    }
    struct timespec ts = {.tv_sec = opt.seconds};
    nanosleep(&ts, NULL);
    atomic_store(&stop, 1);
    for (unsigned t = 0; t < opt.threads; t++)
        pthread_join(w[t].tid, NULL);
    free(w);

    check_quiescent();
    printf("stress_bind: %u threads, %u s:", opt.threads, opt.seconds);
    for (unsigned i = 0; i < N_OP; i++)
        printf(" %s=%" PRIu64, op_names[i], atomic_load(&n_ops[i]));
    printf("\n");
    if (cogmem_close(&store) != 0)
        CHECK(0, "close failed");
    uint64_t f = atomic_load(&failures);
    if (f)
        fprintf(stderr, "stress_bind: %" PRIu64 " failures\n", f);
    return f ? 1 : 0;
}
