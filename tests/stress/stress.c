/* cogmem — the parameterised stress harness.
 *
 *   stress [--threads N] [--seconds S] [--keys K] [--contested C]
 *          [--dim D] [--hold H] [--seed X] [--mix op=w,op=w,...]
 *
 * Threads (default: nproc) run a weighted mix of operations on random keys
 * for a bounded time (default: $COGMEM_STRESS_SECONDS, else 5 s) and check
 * invariants as they go; the main thread checks the rest at quiescence.
 *
 * Keys 1..K are partitioned: thread t alone adds and removes the keys
 * k with k % threads == t (so it knows exactly what is live, and that what
 * it removed cannot reappear), while every thread reads, replaces, blends
 * and holds references to any key. Keys K+1..K+C are contested: any thread
 * adds them (as a concept or an episode, at random) and removes them, to
 * race same-id adds across kinds; the harness counts successes per key.
 *
 * Every vector the harness writes has all its elements equal, so a torn
 * read (elements of two versions) or a vector changing under a reference is
 * visible. Invariants:
 *  - a vector read is never torn: all floats equal, and the norm matches;
 *  - a held vector never changes, across replacements and removal;
 *  - a removed id is not found afterwards by the thread that removed it;
 *  - of concurrent adds of one id (either kind) at most one is live:
 *    at the end, presence == successful adds - successful removes, in {0,1},
 *    and no id is both a concept and an episode;
 *  - at quiescence counts and iteration match what the threads did, and
 *    every vector reference is back to zero (close succeeds).
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

#include "src/store.h"

enum op {
    OP_INFO, OP_VEC, OP_KIND, OP_BATCH, OP_REPLACE, OP_BLEND, OP_HOLD,
    OP_ADD, OP_REMOVE, OP_CONTEST, OP_FOREACH, OP_COUNT, N_OPS
};
static const char *op_name[N_OPS] = {
    "info", "vec", "kind", "batch", "replace", "blend", "hold",
    "add", "remove", "contest", "foreach", "count"};
static unsigned weight[N_OPS] = {20, 20, 5, 3, 10, 5, 5, 10, 10, 8, 1, 3};

static struct {
    unsigned threads, seconds, dim, hold;
    uint64_t keys, contested, seed;
} opt = {0, 5, 16, 8, 4096, 64, 1};

static cogmem_store *store;
static _Atomic int stop;
static _Atomic uint64_t failures;
static _Atomic uint64_t *contest_adds, *contest_removes; /* per contested key */

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (!(cond)) {                                                     \
            if (atomic_fetch_add(&failures, 1) < 20) {                     \
                fprintf(stderr, "stress: %s:%d: ", __FILE__, __LINE__);    \
                fprintf(stderr, __VA_ARGS__);                              \
                fputc('\n', stderr);                                       \
            }                                                              \
        }                                                                  \
    } while (0)

struct held {
    const cogmem_vec *v;
    float value;
};

struct worker {
    pthread_t tid;
    unsigned idx;
    uint64_t rng;
    uint8_t *live;          /* owned keys: 0 absent, 1 concept, 2 episode */
    uint64_t n_live;
    struct held *held;
    uint64_t ops[N_OPS];
    float *buf;
};

static uint64_t next_rand(uint64_t *s)
{
    /* splitmix64: fast, good enough, reproducible per thread */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static float value_for(struct worker *w)
{
    /* Non-zero, exactly representable, varied. */
    return (float)(1 + next_rand(&w->rng) % 4096) / 64.0f;
}

/* All elements equal and the norm consistent: not torn. Returns the value. */
static float check_vec(const cogmem_vec *v, const char *what)
{
    const float *d = cogmem_vec_data(v);
    uint32_t dim = cogmem_vec_dim(v);
    CHECK(dim == opt.dim, "%s: dim %u", what, dim);
    for (uint32_t i = 1; i < dim; i++)
        if (memcmp(&d[i], &d[0], sizeof d[0]) != 0) {
            CHECK(0, "%s: torn vector of id %" PRIu64 ": [0]=%g [%u]=%g", what,
                  cogmem_vec_id(v), d[0], i, d[i]);
            break;
        }
    float want = fabsf(d[0]) * sqrtf((float)dim);
    CHECK(fabsf(cogmem_vec_norm(v) - want) <= 1e-4f * want,
          "%s: norm %g does not match data (%g)", what, cogmem_vec_norm(v), want);
    return d[0];
}

static uint64_t any_key(struct worker *w)
{
    return 1 + next_rand(&w->rng) % opt.keys;
}

static uint64_t owned_key(struct worker *w)
{
    uint64_t per = opt.keys / opt.threads;
    uint64_t k = next_rand(&w->rng) % per;
    return 1 + k * opt.threads + w->idx; /* (key - 1) % threads == idx */
}

static void op_add(struct worker *w)
{
    uint64_t k = owned_key(w);
    int as_episode = next_rand(&w->rng) & 1;
    float x = value_for(w);
    for (uint32_t i = 0; i < opt.dim; i++)
        w->buf[i] = x;
    int rc = as_episode ? cogmem_episode_add(store, k, w->buf, k)
                        : cogmem_concept_add(store, k, w->buf);
    if (w->live[k]) {
        CHECK(rc == -EEXIST, "add of live owned key %" PRIu64 ": %d", k, rc);
    } else {
        CHECK(rc == 0, "add of absent owned key %" PRIu64 ": %d", k, rc);
        if (rc == 0) {
            w->live[k] = as_episode ? 2 : 1;
            w->n_live++;
        }
    }
}

static void op_remove(struct worker *w)
{
    uint64_t k = owned_key(w);
    int kind = w->live[k];
    int rc = kind == 2 ? cogmem_episode_remove(store, k)
                       : cogmem_concept_remove(store, k);
    if (!kind) {
        CHECK(rc == -ENOENT, "remove of absent owned key %" PRIu64 ": %d", k, rc);
        return;
    }
    CHECK(rc == 0, "remove of live owned key %" PRIu64 ": %d", k, rc);
    w->live[k] = 0;
    w->n_live--;
    /* the remover never finds it again */
    CHECK(cogmem_kind_of(store, k) == -ENOENT, "removed key %" PRIu64 " found", k);
    const cogmem_vec *v;
    CHECK(cogmem_vec_get(store, k, &v) == -ENOENT, "removed key %" PRIu64 " has a vector", k);
}

static void op_contest(struct worker *w)
{
    uint64_t c = next_rand(&w->rng) % opt.contested;
    uint64_t k = opt.keys + 1 + c;
    unsigned r = next_rand(&w->rng) % 4;
    int rc;
    if (r < 2) {
        float x = value_for(w);
        for (uint32_t i = 0; i < opt.dim; i++)
            w->buf[i] = x;
        rc = r ? cogmem_episode_add(store, k, w->buf, 1) : cogmem_concept_add(store, k, w->buf);
        CHECK(rc == 0 || rc == -EEXIST, "contested add: %d", rc);
        if (rc == 0)
            atomic_fetch_add(&contest_adds[c], 1);
    } else {
        rc = r == 2 ? cogmem_concept_remove(store, k) : cogmem_episode_remove(store, k);
        CHECK(rc == 0 || rc == -ENOENT, "contested remove: %d", rc);
        if (rc == 0)
            atomic_fetch_add(&contest_removes[c], 1);
    }
}

static void op_hold(struct worker *w)
{
    unsigned slot = next_rand(&w->rng) % opt.hold;
    struct held *h = &w->held[slot];
    if (h->v) {
        /* unchanged since we took it, whatever happened to the node */
        float now = check_vec(h->v, "held");
        CHECK(memcmp(&now, &h->value, sizeof now) == 0,
              "held vector changed: %g -> %g", h->value, now);
        cogmem_vec_put(h->v);
        h->v = NULL;
        return;
    }
    const cogmem_vec *v;
    if (cogmem_vec_get(store, any_key(w), &v) == 0) {
        h->v = v;
        h->value = check_vec(v, "hold");
    }
}

struct tally {
    uint64_t concepts, episodes;
};

static int tally(uint64_t id, enum cogmem_kind kind, void *arg)
{
    (void)id;
    struct tally *t = arg;
    if (kind == COGMEM_CONCEPT)
        t->concepts++;
    else
        t->episodes++;
    return 0;
}

static void run_op(struct worker *w, enum op o)
{
    uint64_t k;
    int rc;
    switch (o) {
    case OP_INFO: {
        struct cogmem_concept_info ci;
        struct cogmem_episode_info ei;
        k = any_key(w);
        rc = cogmem_concept_info(store, k, &ci);
        CHECK(rc == 0 || rc == -ENOENT, "info: %d", rc);
        if (rc == 0)
            CHECK(ci.id == k && ci.centroid_version >= 1 && ci.norm > 0, "info fields");
        rc = cogmem_episode_info(store, k, &ei);
        CHECK(rc == 0 || rc == -ENOENT, "episode info: %d", rc);
        if (rc == 0)
            CHECK(ei.id == k && ei.time_ns == k, "episode info fields");
        break;
    }
    case OP_VEC: {
        const cogmem_vec *v;
        k = any_key(w);
        rc = cogmem_vec_get(store, k, &v);
        CHECK(rc == 0 || rc == -ENOENT, "vec_get: %d", rc);
        if (rc == 0) {
            CHECK(cogmem_vec_id(v) == k, "vec id");
            check_vec(v, "get");
            cogmem_vec_put(v);
        }
        break;
    }
    case OP_KIND:
        rc = cogmem_kind_of(store, any_key(w));
        CHECK(rc == COGMEM_CONCEPT || rc == COGMEM_EPISODE || rc == -ENOENT, "kind_of: %d", rc);
        break;
    case OP_BATCH: {
        uint64_t ids[24];
        struct cogmem_concept_info out[24];
        size_t found;
        for (int i = 0; i < 24; i++)
            ids[i] = any_key(w);
        rc = cogmem_concept_info_batch(store, ids, 24, out, &found);
        CHECK(rc == 0 && found <= 24, "batch: %d", rc);
        for (int i = 0; i < 24; i++)
            CHECK(out[i].id == 0 || out[i].id == ids[i], "batch slot %d", i);
        break;
    }
    case OP_REPLACE: {
        float x = value_for(w);
        for (uint32_t i = 0; i < opt.dim; i++)
            w->buf[i] = x;
        rc = cogmem_concept_set_centroid(store, any_key(w), w->buf);
        CHECK(rc == 0 || rc == -ENOENT, "replace: %d", rc);
        break;
    }
    case OP_BLEND: {
        float x = value_for(w);
        for (uint32_t i = 0; i < opt.dim; i++)
            w->buf[i] = x;
        rc = cogmem_concept_blend(store, any_key(w), w->buf, 0.5f);
        CHECK(rc == 0 || rc == -ENOENT, "blend: %d", rc);
        break;
    }
    case OP_HOLD: op_hold(w); break;
    case OP_ADD: op_add(w); break;
    case OP_REMOVE: op_remove(w); break;
    case OP_CONTEST: op_contest(w); break;
    case OP_FOREACH: {
        struct tally t = {0, 0};
        rc = cogmem_foreach(store, COGMEM_ALL_KINDS, tally, &t);
        CHECK(rc == 0 && t.concepts + t.episodes <= opt.keys + opt.contested,
              "foreach under load: %d, %" PRIu64 " nodes", rc, t.concepts + t.episodes);
        break;
    }
    case OP_COUNT: {
        uint64_t n;
        rc = cogmem_count(store, COGMEM_ALL_KINDS, &n);
        CHECK(rc == 0 && n <= opt.keys + opt.contested, "count %" PRIu64, n);
        break;
    }
    default: break;
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    unsigned total = 0;
    for (int o = 0; o < N_OPS; o++)
        total += weight[o];
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        for (int batch = 0; batch < 64; batch++) {
            unsigned r = next_rand(&w->rng) % total;
            int o = 0;
            while (r >= weight[o])
                r -= weight[o++];
            run_op(w, (enum op)o);
            w->ops[o]++;
        }
    }
    for (unsigned i = 0; i < opt.hold; i++)
        if (w->held[i].v) {
            float now = check_vec(w->held[i].v, "held at end");
            CHECK(memcmp(&now, &w->held[i].value, sizeof now) == 0, "held vector changed");
            cogmem_vec_put(w->held[i].v);
            w->held[i].v = NULL;
        }
    return NULL;
}

static void parse_mix(char *s)
{
    memset(weight, 0, sizeof weight);
    for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
        char *eq = strchr(tok, '=');
        int found = 0;
        if (eq) {
            *eq = 0;
            for (int o = 0; o < N_OPS; o++)
                if (strcmp(tok, op_name[o]) == 0) {
                    weight[o] = (unsigned)strtoul(eq + 1, NULL, 10);
                    found = 1;
                }
        }
        if (!found) {
            fprintf(stderr, "stress: bad --mix item '%s'\n", tok);
            exit(2);
        }
    }
}

int main(int argc, char **argv)
{
    const char *env = getenv("COGMEM_STRESS_SECONDS");
    if (env && atoi(env) > 0)
        opt.seconds = (unsigned)atoi(env);
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--threads")) opt.threads = (unsigned)atoi(v);
        else if (!strcmp(a, "--seconds")) opt.seconds = (unsigned)atoi(v);
        else if (!strcmp(a, "--keys")) opt.keys = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--contested")) opt.contested = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--dim")) opt.dim = (unsigned)atoi(v);
        else if (!strcmp(a, "--hold")) opt.hold = (unsigned)atoi(v);
        else if (!strcmp(a, "--seed")) opt.seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--mix")) parse_mix(argv[i + 1]);
        else {
            fprintf(stderr, "stress: unknown option %s\n", a);
            return 2;
        }
    }
    if (opt.threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        opt.threads = n > 0 ? (unsigned)n : 2;
    }
    if (opt.keys < opt.threads || opt.contested == 0 || opt.hold == 0 || opt.dim == 0) {
        fprintf(stderr, "stress: need keys >= threads, contested, hold, dim > 0\n");
        return 2;
    }

    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = opt.dim;
    int rc = cogmem_open(&cfg, &store);
    if (rc) {
        fprintf(stderr, "stress: open: %s\n", cogmem_strerror(rc));
        return 1;
    }
    contest_adds = calloc(opt.contested, sizeof *contest_adds);
    contest_removes = calloc(opt.contested, sizeof *contest_removes);
    struct worker *w = calloc(opt.threads, sizeof *w);
    if (!contest_adds || !contest_removes || !w)
        return 1;
    for (unsigned t = 0; t < opt.threads; t++) {
        w[t].idx = t;
        w[t].rng = opt.seed * 1000003u + t;
        w[t].live = calloc(opt.keys + 1, 1);
        w[t].held = calloc(opt.hold, sizeof *w[t].held);
        w[t].buf = aligned_alloc(64, ((opt.dim * sizeof(float)) + 63) / 64 * 64);
        if (!w[t].live || !w[t].held || !w[t].buf)
            return 1;
    }
    printf("stress: %u threads, %u s, keys %" PRIu64 " + %" PRIu64 " contested, dim %u\n",
           opt.threads, opt.seconds, opt.keys, opt.contested, opt.dim);
    for (unsigned t = 0; t < opt.threads; t++)
        pthread_create(&w[t].tid, NULL, worker_main, &w[t]);
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += opt.seconds;
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &end, NULL) == EINTR)
        ;
    atomic_store(&stop, 1);
    for (unsigned t = 0; t < opt.threads; t++)
        pthread_join(w[t].tid, NULL);

    /* --- quiescence: exact checks -------------------------------------- */
    uint64_t want_c = 0, want_e = 0, total_ops = 0, per_op[N_OPS] = {0};
    for (unsigned t = 0; t < opt.threads; t++) {
        for (uint64_t k = 1; k <= opt.keys; k++) {
            int kind = cogmem_kind_of(store, k);
            if (w[t].live[k] == 1) {
                want_c++;
                CHECK(kind == COGMEM_CONCEPT, "owned concept %" PRIu64 ": kind %d", k, kind);
            } else if (w[t].live[k] == 2) {
                want_e++;
                CHECK(kind == COGMEM_EPISODE, "owned episode %" PRIu64 ": kind %d", k, kind);
            } else if ((k - 1) % opt.threads == t) {
                CHECK(kind == -ENOENT, "owned absent %" PRIu64 ": kind %d", k, kind);
            }
        }
        for (int o = 0; o < N_OPS; o++) {
            per_op[o] += w[t].ops[o];
            total_ops += w[t].ops[o];
        }
    }
    for (uint64_t c = 0; c < opt.contested; c++) {
        uint64_t k = opt.keys + 1 + c;
        int64_t net = (int64_t)atomic_load(&contest_adds[c]) -
                      (int64_t)atomic_load(&contest_removes[c]);
        struct cogmem_concept_info ci;
        struct cogmem_episode_info ei;
        int is_c = cogmem_concept_info(store, k, &ci) == 0;
        int is_e = cogmem_episode_info(store, k, &ei) == 0;
        CHECK(!(is_c && is_e), "contested %" PRIu64 " is both kinds", k);
        CHECK(net == is_c + is_e, "contested %" PRIu64 ": adds-removes %" PRId64
              " but present %d", k, net, is_c + is_e);
        want_c += is_c;
        want_e += is_e;
    }
    uint64_t nc, ne;
    cogmem_count(store, COGMEM_CONCEPT, &nc);
    cogmem_count(store, COGMEM_EPISODE, &ne);
    CHECK(nc == want_c && ne == want_e, "counts %" PRIu64 "/%" PRIu64 " want %" PRIu64
          "/%" PRIu64, nc, ne, want_c, want_e);
    struct tally tl = {0, 0};
    cogmem_foreach(store, COGMEM_ALL_KINDS, tally, &tl);
    CHECK(tl.concepts == want_c && tl.episodes == want_e, "foreach %" PRIu64 "/%" PRIu64,
          tl.concepts, tl.episodes);
    int64_t refs = cogmem__kind_vec_refs(&store->sets[0].kind) + cogmem__kind_vec_refs(&store->sets[1].kind);
    CHECK(refs == 0, "%" PRId64 " vector references left", refs);
    rc = cogmem_close(&store);
    CHECK(rc == 0 && store == NULL, "close: %s", cogmem_strerror(rc));

    printf("stress: %" PRIu64 " ops (", total_ops);
    for (int o = 0; o < N_OPS; o++)
        printf("%s%s %" PRIu64, o ? ", " : "", op_name[o], per_op[o]);
    printf("); live %" PRIu64 " concepts, %" PRIu64 " episodes\n", want_c, want_e);
    for (unsigned t = 0; t < opt.threads; t++) {
        free(w[t].live);
        free(w[t].held);
        free(w[t].buf);
    }
    free(w);
    free(contest_adds);
    free(contest_removes);
    uint64_t f = atomic_load(&failures);
    if (f) {
        printf("stress: %" PRIu64 " invariant violations\n", f);
        return 1;
    }
    printf("stress: all invariants held\n");
    return 0;
}
