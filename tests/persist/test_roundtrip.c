/* Round trip: a store built with every kind of mutation comes back
 * bit-exact (records, vectors, bindings with all their times, histories,
 * recall and spread results) after
 *   1. a reopen that replays the journal alone,
 *   2. a snapshot, more mutations, and a reopen (snapshot + journal),
 *   3. a snapshot and a reopen with nothing to replay,
 * and the settings that shape the store's meaning come back from the
 * directory, not from the reopening config. Also: an in-memory store is
 * untouched by all of this (cfg.path NULL), and the report says what was
 * loaded. All of it twice: every reopen COGMEM_OPEN_COPY, then every
 * reopen COGMEM_OPEN_MMAP (vectors served from the mapped snapshot, and
 * snapshots written from a store whose rows are mapped). */
#include <math.h>
#include <time.h>

#include "tests/persist/state.h"

#define DIM 13
#define NQ 4

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static float rndf(void) { return (float)(rnd() % 2000001) / 1000000.0f - 1.0f; }

static void rvec(float *v)
{
    for (int i = 0; i < DIM; i++)
        v[i] = rndf();
    v[0] += 2.0f; /* never zero */
}

static int open_mode = COGMEM_OPEN_COPY;

static cogmem_store *open_dir(const char *dir, int durability, struct cogmem_open_report *rep)
{
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.open_mode = open_mode;
    cfg.dim = DIM;
    cfg.path = dir;
    cfg.durability = durability;
    cogmem_store *s = NULL;
    CHECK_RC(cogmem_open_report(&cfg, &s, rep), 0);
    return s;
}

/* A burst of every mutation on ids [base, base + n). */
static void mutate(cogmem_store *s, uint64_t base, int n)
{
    float v[DIM];
    for (int i = 0; i < n; i++) {
        rvec(v);
        CHECK_RC(cogmem_concept_add(s, base + i, v), 0);
        rvec(v);
        CHECK_RC(cogmem_episode_add(s, base + 1000 + i, v, 1000000u * (uint64_t)i), 0);
    }
    for (int i = 0; i < 4 * n; i++) {
        uint64_t c = base + rnd() % n, e = base + 1000 + rnd() % n;
        int rc = cogmem_bind(s, e, c, (float)(rnd() % 1000) / 1000.0f);
        CHECK(rc == 0 || rc == -EEXIST);
    }
    for (int i = 0; i < n; i++) {
        uint64_t c = base + rnd() % n, e = base + 1000 + rnd() % n;
        float ns;
        int rc = cogmem_binding_adjust(s, e, c, 0.25f, &ns);
        CHECK(rc == 0 || rc == -ENOENT);
        rvec(v);
        CHECK_RC(cogmem_concept_blend(s, base + rnd() % n, v, 0.3f), 0);
        rvec(v);
        CHECK_RC(cogmem_concept_set_centroid(s, base + rnd() % n, v), 0);
        CHECK_RC(cogmem_touch(s, base + rnd() % n, 5000000000ull + rnd() % 1000000), 0);
        CHECK_RC(cogmem_touch(s, base + 1000 + rnd() % n, 5000000000ull + rnd() % 1000000), 0);
        rc = cogmem_unbind(s, base + 1000 + rnd() % n, base + rnd() % n);
        CHECK(rc == 0 || rc == -ENOENT);
    }
    /* Every decay model, with pruning. */
    cogmem_decay_params dp;
    cogmem_decay_params_init(&dp);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    dp.model = COGMEM_DECAY_EXP;
    dp.half_life_ns = 1000000000ull;
    CHECK_RC(cogmem_decay(s, &dp, now + 500000000ull, NULL), 0);
    dp.model = COGMEM_DECAY_POWER;
    CHECK_RC(cogmem_decay(s, &dp, now + 900000000ull, NULL), 0);
    dp.model = COGMEM_DECAY_FACTOR;
    dp.factor = 0.9f;
    dp.prune_below = 0.1f;
    CHECK_RC(cogmem_decay(s, &dp, now, NULL), 0);
    /* Removals of both kinds (with their bindings). */
    for (int i = 0; i < n / 8; i++) {
        int rc = cogmem_concept_remove(s, base + rnd() % n);
        CHECK(rc == 0 || rc == -ENOENT);
        rc = cogmem_episode_remove(s, base + 1000 + rnd() % n);
        CHECK(rc == 0 || rc == -ENOENT);
    }
}

static void dump(cogmem_store *s, struct sbuf *b, const float *q)
{
    b->n = 0;
    state_dump(s, b, q, NQ);
}

static void run(void)
{
    char *dir = test_tmpdir("roundtrip");
    float q[NQ * DIM];
    for (int i = 0; i < NQ; i++)
        rvec(q + i * DIM);
    struct sbuf before = {0}, after = {0};
    struct cogmem_open_report rep = {.struct_size = sizeof rep};

    /* Non-default semantics settings, to see them come back. */
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = DIM;
    cfg.path = dir;
    cfg.durability = COGMEM_DURABLE_PROCESS;
    cfg.fan_mode = COGMEM_FAN_ACTR;
    cfg.actr_decay = 0.3f;
    cfg.actr_max_assoc = 3.5f;
    cfg.open_mode = open_mode;
    cogmem_store *s = NULL;
    CHECK_RC(cogmem_open_report(&cfg, &s, &rep), 0);
    CHECK(rep.snapshot[0] == 0 && rep.records_replayed == 0);
    mutate(s, 1, 64);
    dump(s, &before, q);
    CHECK_RC(cogmem_close(&s), 0);

    /* 1. journal only */
    s = open_dir(dir, COGMEM_DURABLE_PROCESS, &rep);
    CHECK(rep.snapshot[0] == 0 && rep.records_replayed > 0 && rep.tail_bytes_dropped == 0);
    CHECK(s->cfg.fan_mode == COGMEM_FAN_ACTR && s->cfg.actr_decay == 0.3f &&
          s->cfg.actr_max_assoc == 3.5f);
    dump(s, &after, q);
    CHECK(!state_diff(&before, &after, "journal replay"));

    /* 2. snapshot, then more (first on nodes the snapshot holds: their
     * first records after it are exactly at its marks), then reopen */
    CHECK_RC(cogmem_snapshot(s), 0);
    float w[DIM];
    rvec(w);
    for (uint64_t id = 1; id <= 64; id++) {
        if (cogmem_kind_of(s, id) != COGMEM_CONCEPT)
            continue;
        CHECK_RC(cogmem_concept_set_centroid(s, id, w), 0);
        CHECK_RC(cogmem_touch(s, id, 9000000000ull), 0);
        break;
    }
    for (uint64_t e = 1001; e <= 1064; e++) {
        uint64_t ids[64];
        size_t n = 0;
        if (cogmem_episode_concepts(s, e, ids, NULL, 64, &n) == 0 && n > 0) {
            CHECK_RC(cogmem_binding_adjust(s, e, ids[0], -0.125f, NULL), 0);
            CHECK_RC(cogmem_unbind(s, e, ids[n - 1]), 0);
            CHECK_RC(cogmem_episode_remove(s, e), 0);
            break;
        }
    }
    mutate(s, 5000, 48);
    dump(s, &before, q);
    CHECK_RC(cogmem_close(&s), 0);
    s = open_dir(dir, COGMEM_DURABLE_SYNC, &rep);
    CHECK(rep.snapshot[0] != 0 && rep.concepts > 0 && rep.bindings > 0 &&
          rep.records_replayed > 0);
    /* The rows the snapshot held are served from it (MMAP) or copied. */
    CHECK((s->sets[0].kind.slab.mapped_rows > 0) == (open_mode == COGMEM_OPEN_MMAP));
    dump(s, &after, q);
    CHECK(!state_diff(&before, &after, "snapshot + journal"));

    /* 3. snapshot only */
    CHECK_RC(cogmem_snapshot(s), 0);
    CHECK_RC(cogmem_close(&s), 0);
    s = open_dir(dir, COGMEM_DURABLE_NONE, &rep);
    CHECK(rep.records_replayed == 0 && rep.records_skipped == 0);
    dump(s, &after, q);
    CHECK(!state_diff(&before, &after, "snapshot only"));
    /* NONE: mutations after the last snapshot are not kept ... */
    float v[DIM];
    rvec(v);
    CHECK_RC(cogmem_concept_add(s, 777777, v), 0);
    CHECK_RC(cogmem_close(&s), 0);
    s = open_dir(dir, COGMEM_DURABLE_PROCESS, &rep);
    CHECK_RC(cogmem_kind_of(s, 777777), -ENOENT);
    /* ... and a snapshot keeps them. */
    CHECK_RC(cogmem_concept_add(s, 777777, v), 0);
    CHECK_RC(cogmem_sync(s), 0);
    CHECK_RC(cogmem_close(&s), 0);
    s = open_dir(dir, COGMEM_DURABLE_PROCESS, NULL);
    CHECK_RC(cogmem_kind_of(s, 777777), COGMEM_CONCEPT);

    /* The directory's dim must match. */
    cogmem_store *t = NULL;
    CHECK_RC(cogmem_close(&s), 0);
    cfg.dim = DIM + 1;
    CHECK_RC(cogmem_open(&cfg, &t), -EINVAL);
    CHECK(t == NULL);

    /* Bad durability values. */
    cfg.dim = DIM;
    cfg.durability = 7;
    CHECK_RC(cogmem_open(&cfg, &t), -EINVAL);
    cfg.durability = COGMEM_DURABLE_INTERVAL;
    cfg.sync_interval_ms = 0;
    CHECK_RC(cogmem_open(&cfg, &t), -EINVAL);
    cfg.sync_interval_ms = 5;
    CHECK_RC(cogmem_open(&cfg, &t), 0);
    CHECK_RC(cogmem_snapshot(t), 0);
    CHECK_RC(cogmem_close(&t), 0);
    /* The report's struct_size is checked. */
    struct cogmem_open_report small = {.struct_size = 8};
    CHECK_RC(cogmem_open_report(&cfg, &t, &small), -EINVAL);

    /* In memory: no path, snapshot refused. */
    cogmem_config mc;
    cogmem_config_init(&mc);
    mc.dim = DIM;
    CHECK_RC(cogmem_open(&mc, &t), 0);
    CHECK_RC(cogmem_snapshot(t), -EINVAL);
    CHECK_RC(cogmem_sync(t), 0);
    CHECK_RC(cogmem_close(&t), 0);

    test_rmdir(dir);
    free(dir);
    free(before.p);
    free(after.p);
}

/* A concept's centroid version wraps after 2^32 - 1 replacements, to 1:
 * never 0, which a snapshot refuses. Reaching it takes hours of
 * replacements, so the test sets a concept's version just below the wrap
 * (inside the store: its current vector and the node's copy) and
 * replaces the centroid across it: the info reports each new version and
 * the new norm, and a snapshot of the store (then its journal alone, and
 * the snapshot alone) reopens with version 1 and the last vector. */
static void version_wrap(void)
{
    char *dir = test_tmpdir("roundtrip-wrap");
    cogmem_store *s = open_dir(dir, COGMEM_DURABLE_PROCESS, NULL);
    float v[DIM];
    rvec(v);
    CHECK_RC(cogmem_concept_add(s, 9, v), 0);
    cogmem__rcu_lock();
    struct cogmem__node *n =
        cogmem__set_find(cogmem__set_of(s, COGMEM_CONCEPT), 9, cogmem__hash(s, 9),
                         COGMEM__FIND_LIVE);
    CHECK(n);
    struct cogmem_vec *cur = atomic_load_explicit(&n->vec, memory_order_acquire);
    cur->version = UINT32_MAX - 1;
    cogmem__node_set_vec(n, cur->version, cur->norm);
    cogmem__rcu_unlock();
    CHECK_RC(cogmem_snapshot(s), 0); /* the journal after it has the wrap */
    const uint32_t want[3] = {UINT32_MAX, 1, 2};
    struct cogmem_concept_info ci;
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < DIM; i++)
            v[i] = (float)(k + 2) * (float)(i + 1);
        CHECK_RC(cogmem_concept_set_centroid(s, 9, v), 0);
        CHECK_RC(cogmem_concept_info(s, 9, &ci), 0);
        const cogmem_vec *g;
        CHECK_RC(cogmem_vec_get(s, 9, &g), 0);
        CHECK(ci.centroid_version == want[k] && ci.norm == cogmem_vec_norm(g));
        cogmem_vec_put(g);
    }
    struct sbuf before = {0}, after = {0};
    state_dump(s, &before, NULL, 0);
    CHECK(!test_reopen_same(&s, dir, DIM, COGMEM_DURABLE_PROCESS, &before, &after,
                            "replayed across the wrap"));
    CHECK_RC(cogmem_snapshot(s), 0);
    CHECK(!test_reopen_same(&s, dir, DIM, COGMEM_DURABLE_PROCESS, &before, &after,
                            "a snapshot taken after the wrap"));
    CHECK_RC(cogmem_concept_info(s, 9, &ci), 0);
    CHECK(ci.centroid_version == 2);
    CHECK_RC(cogmem_close(&s), 0);
    test_rmdir(dir);
    free(dir);
    free(before.p);
    free(after.p);
}

int main(void)
{
    version_wrap();
    puts("centroid version wrap ok");
    run();
    puts("roundtrip (COPY) ok");
    open_mode = COGMEM_OPEN_MMAP;
    run();
    puts("roundtrip (MMAP) ok");
    return 0;
}
