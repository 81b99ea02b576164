/* cogmem persistence tests — the whole observable state of a store as one
 * byte string, so that "reopened equals before" is one comparison: every
 * node's record fields and vector bits, every binding with its times, the
 * raw ACT-R histories, counts, and the results of fixed recall and spread
 * queries. */
#ifndef COGMEM_TEST_PERSIST_STATE_H
#define COGMEM_TEST_PERSIST_STATE_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cogmem.h"
#include "shards/bindex.h"
#include "src/store.h"
#include "tests/check.h"

#define CHECK_RC(e, want)                                                      \
    do {                                                                       \
        int rc_ = (e);                                                         \
        if (rc_ != (want)) {                                                   \
            fprintf(stderr, "%s:%d: %s = %d (%s), want %d\n", __FILE__, __LINE__, \
                    #e, rc_, cogmem_strerror(rc_), (want));                    \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

struct sbuf {
    unsigned char *p;
    size_t n, cap;
};

static inline void sput(struct sbuf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->n + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        CHECK(b->p);
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

struct idk {
    uint64_t id;
    int kind;
};

struct idlist {
    struct idk *v;
    size_t n, cap;
};

static inline int state_collect(uint64_t id, enum cogmem_kind kind, void *arg)
{
    struct idlist *l = arg;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        CHECK(l->v);
    }
    l->v[l->n++] = (struct idk){id, kind};
    return 0;
}

static inline int state_cmp_idk(const void *a, const void *b)
{
    uint64_t x = ((const struct idk *)a)->id, y = ((const struct idk *)b)->id;
    return x < y ? -1 : x > y;
}

static inline int state_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static inline void state_hist(cogmem_store *s, uint64_t id, int kind, struct sbuf *b)
{
    cogmem__rcu_lock();
    struct cogmem__node *n = cogmem__set_find(cogmem__set_of(s, kind), id,
                                              cogmem__hash(s, id), COGMEM__FIND_LIVE);
    int enomem = 0;
    struct cogmem__presentations *h =
        n ? cogmem__pres_get(n, &s->mem, COGMEM__MEM_META, 0, &enomem) : NULL;
    uint64_t rec[35] = {0};
    if (h) {
        cogmem__spin_lock(&h->lock);
        rec[0] = h->head;
        rec[1] = h->total;
        rec[2] = h->first_ns;
        memcpy(rec + 3, h->t, sizeof h->t);
        cogmem__spin_unlock(&h->lock);
    }
    cogmem__rcu_unlock();
    if (!rec[1])
        memset(rec, 0, sizeof rec); /* no history and an empty one look alike */
    sput(b, rec, sizeof rec);
}

/* The state of s into *b (appended). `queries` (nq x dim floats) run
 * through recall and, from the first hits, spread. */
static inline void state_dump(cogmem_store *s, struct sbuf *b, const float *queries, int nq)
{
    uint32_t dim = cogmem_dim(s);
    struct idlist l = {0};
    CHECK_RC(cogmem_foreach(s, COGMEM_ALL_KINDS, state_collect, &l), 0);
    if (l.n) /* qsort's base must not be NULL, even for 0 elements */
        qsort(l.v, l.n, sizeof *l.v, state_cmp_idk);
    uint64_t cnt[3];
    CHECK_RC(cogmem_count(s, COGMEM_CONCEPT, &cnt[0]), 0);
    CHECK_RC(cogmem_count(s, COGMEM_EPISODE, &cnt[1]), 0);
    CHECK_RC(cogmem_binding_count(s, &cnt[2]), 0);
    CHECK(cnt[0] + cnt[1] == l.n);
    sput(b, cnt, sizeof cnt);
    size_t cap = 1024;
    uint64_t *ids = malloc(cap * sizeof *ids);
    float *str = malloc(cap * sizeof *str);
    uint64_t bsum = 0;
    for (size_t i = 0; i < l.n; i++) {
        uint64_t id = l.v[i].id;
        int32_t kind = l.v[i].kind;
        sput(b, &id, sizeof id);
        sput(b, &kind, sizeof kind);
        const cogmem_vec *v;
        CHECK_RC(cogmem_vec_get(s, id, &v), 0);
        sput(b, cogmem_vec_data(v), dim * sizeof(float));
        cogmem_vec_put(v);
        size_t n = 0;
        if (l.v[i].kind == COGMEM_CONCEPT) {
            struct cogmem_concept_info ci;
            memset(&ci, 0, sizeof ci); /* padding is compared too */
            CHECK_RC(cogmem_concept_info(s, id, &ci), 0);
            sput(b, &ci, sizeof ci);
            CHECK_RC(cogmem_concept_episodes(s, id, ids, str, cap, &n), 0);
            CHECK(n <= cap && n == ci.fan_out);
            bsum += n;
            for (size_t j = 0; j < n; j++) {
                struct cogmem_binding_info bi;
                memset(&bi, 0, sizeof bi);
                CHECK_RC(cogmem_binding_info(s, ids[j], id, &bi), 0);
                CHECK(bi.strength == str[j]);
                sput(b, &bi, sizeof bi);
            }
        } else {
            struct cogmem_episode_info ei;
            memset(&ei, 0, sizeof ei);
            CHECK_RC(cogmem_episode_info(s, id, &ei), 0);
            sput(b, &ei, sizeof ei);
            CHECK_RC(cogmem_episode_concepts(s, id, ids, str, cap, &n), 0);
            CHECK(n <= cap && n == ei.fan_in);
            /* The order of an episode's list is rebuilt at open
             * (cogmem_persist.h): compare it as a set. */
            qsort(ids, n, sizeof *ids, state_cmp_u64);
            sput(b, ids, n * sizeof *ids);
        }
        state_hist(s, id, l.v[i].kind, b);
    }
    CHECK(bsum == cnt[2]);
    for (int q = 0; q < nq; q++) {
        cogmem_recall_hit hits[16];
        memset(hits, 0, sizeof hits);
        size_t nh = 0;
        CHECK_RC(cogmem_recall(s, queries + (size_t)q * dim, COGMEM_ALL_KINDS, 16, NULL, hits,
                               &nh), 0);
        /* Ids and kinds exactly; not the scores: the batch kernels round
         * a row's dot product differently by its position in a block
         * (8-row body, 1-row tail), and rows land elsewhere in the slabs
         * after a reopen, so scores may differ in the last bit. */
        for (size_t j = 0; j < nh; j++) {
            sput(b, &hits[j].id, sizeof hits[j].id);
            sput(b, &hits[j].kind, sizeof hits[j].kind);
        }
        if (nh) {
            cogmem_source src[3];
            size_t ns = nh < 3 ? nh : 3;
            for (size_t j = 0; j < ns; j++)
                src[j] = (cogmem_source){hits[j].id, 1.0f};
            cogmem_spread_params sp;
            cogmem_spread_params_init(&sp);
            sp.max_depth = 3;
            cogmem_hit out[64];
            memset(out, 0, sizeof out);
            size_t no = 0;
            CHECK_RC(cogmem_spread(s, src, ns, &sp, out, 64, &no), 0);
            sput(b, out, (no < 64 ? no : 64) * sizeof *out);
        }
    }
    free(ids);
    free(str);
    free(l.v);
}

/* 0 if equal; otherwise prints where they differ. */
static inline int state_diff(const struct sbuf *a, const struct sbuf *b, const char *what)
{
    if (a->n == b->n && memcmp(a->p, b->p, a->n) == 0)
        return 0;
    size_t i = 0;
    while (i < a->n && i < b->n && a->p[i] == b->p[i])
        i++;
    fprintf(stderr, "%s: states differ at byte %zu (sizes %zu, %zu)\n", what, i, a->n, b->n);
    if (getenv("STATE_DUMP")) {
        FILE *f = fopen("/tmp/st_a", "wb");
        fwrite(a->p, 1, a->n, f);
        fclose(f);
        f = fopen("/tmp/st_b", "wb");
        fwrite(b->p, 1, b->n, f);
        fclose(f);
    }
    return 1;
}

/* A config for a store of dimension dim in directory dir. */
static inline cogmem_config test_config(const char *dir, uint32_t dim, int durability)
{
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = dim;
    cfg.path = dir;
    cfg.durability = durability;
    return cfg;
}

/* Open the store in dir; NULL (after printing the open report) if the
 * open fails. */
static inline cogmem_store *test_open_store(const char *dir, uint32_t dim, int durability)
{
    cogmem_config cfg = test_config(dir, dim, durability);
    cogmem_store *s = NULL;
    struct cogmem_open_report rep = {.struct_size = sizeof rep};
    int rc = cogmem_open_report(&cfg, &s, &rep);
    if (rc) {
        fprintf(stderr, "open: %s; %s %s @%llu: %s\n", cogmem_strerror(rc), rep.bad_file,
                rep.bad_section, (unsigned long long)rep.bad_offset, rep.detail);
        return NULL;
    }
    return s;
}

/* A fresh empty directory under TMPDIR (or /tmp). */
static inline char *test_tmpdir(const char *tag)
{
    const char *t = getenv("TMPDIR");
    char *p = malloc(4096);
    snprintf(p, 4096, "%s/cogmem-%s-XXXXXX", t && *t ? t : "/tmp", tag);
    CHECK(mkdtemp(p));
    return p;
}

/* test_open_store(), or the test ends here (exit status 1) once the open
 * has printed why. */
static inline cogmem_store *test_open_or_exit(const char *dir, uint32_t dim, int durability)
{
    cogmem_store *s = test_open_store(dir, dim, durability);
    if (!s)
        exit(1);
    return s;
}

/* Close *st, reopen dir into *st (test_open_or_exit) and dump it into
 * `got` (emptied first): 0 if that equals `model`, else 1 with the
 * difference printed (state_diff). */
static inline int test_reopen_same(cogmem_store **st, const char *dir, uint32_t dim,
                                   int durability, const struct sbuf *model,
                                   struct sbuf *got, const char *what)
{
    CHECK_RC(cogmem_close(st), 0);
    *st = test_open_or_exit(dir, dim, durability);
    got->n = 0;
    state_dump(*st, got, NULL, 0);
    return state_diff(model, got, what);
}

/* The next state of a xorshift64 generator (x non-zero). */
static inline uint64_t test_xorshift(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* `dim` components in [1, 5) drawn from x: distinct x, distinct vectors. */
static inline void test_vec(float *v, uint32_t dim, uint64_t x)
{
    for (uint32_t i = 0; i < dim; i++)
        v[i] = 1.0f + (float)((x * 2654435761u + (uint64_t)i * 40503u) % 1000) / 250.0f;
}

/* Remove a directory of plain files (what a store directory holds). */
static inline void test_rmdir(const char *dir)
{
    DIR *d = opendir(dir);
    CHECK(d);
    struct dirent *e;
    char path[4200];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            CHECK(unlink(path) == 0);
        }
    closedir(d);
    CHECK(rmdir(dir) == 0);
}

/* Copy the plain files of directory `from` into the empty `to`. */
static inline void test_copydir(const char *from, const char *to)
{
    DIR *d = opendir(from);
    CHECK(d);
    struct dirent *e;
    char a[4200], b[4200];
    static char buf[1 << 16];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(a, sizeof a, "%s/%s", from, e->d_name);
        snprintf(b, sizeof b, "%s/%s", to, e->d_name);
        FILE *in = fopen(a, "rb"), *out = fopen(b, "wb");
        CHECK(in && out);
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, in)) > 0)
            CHECK(fwrite(buf, 1, n, out) == n);
        fclose(in);
        CHECK(fclose(out) == 0);
    }
    closedir(d);
}

#endif
