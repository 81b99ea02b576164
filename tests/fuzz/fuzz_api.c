/* cogmem — model-based fuzzer of the public API (libFuzzer).
 *
 * An input is a program: a hostile configuration, then up to MAX_OPS calls
 * on the one store it opens, each with arguments drawn from the bytes
 * (ids 0 and UINT64_MAX among a dozen, NaN/Inf/denormal/FLT_MAX/zero
 * vectors, sizes from 0 to 2^40 with NULL buffers, tiny format caps, every
 * params field out of range, struct_size too small or larger than ours,
 * an injected allocation failure before a call). A small model keeps what
 * the store must hold: each id's kind and vector, the bindings and their
 * strengths, so every fan-out. After each call the harness checks
 *  - the return is 0 or an errno the header documents for that function,
 *    and exactly the one the model predicts where it is determined;
 *  - a failed call changed nothing (the model is not updated; after every
 *    call the counts and everything about the ids the call named are
 *    compared with the model, the whole store every FULL_EVERY calls and
 *    at the end);
 *  - what a successful call returned (counts, kinds, vectors, listings,
 *    recall hits and scores, spreading's order and cap) agrees with the
 *    model.
 * Any disagreement aborts (libFuzzer records the input); crashes, sanitizer
 * reports, hangs (-timeout) and OOM (-rss_limit_mb) are findings too.
 *
 * Built two ways (tests/fuzz/meson.build): with -fsanitize=fuzzer in the
 * clang build of tools/test.sh (the CI run of about a minute), and with
 * replay.c's main() in every build, which runs the committed corpus
 * (tests/fuzz/corpus) as a plain test.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cogmem.h"
#include "cogmem_simd.h"
#include "numa/mem.h" /* cogmem__mem_fail_nth: the fault-injection hook */

#define NIDS 12
#define MAX_OPS 160
#define MAX_DIM 17
#define OUTCAP 256 /* > rows a program can allocate (two per op at most) */
#define NOTE_MAX 24
#define FULL_EVERY 16 /* calls between two full comparisons */

/* ------------------------------------------------------------- reporting */

static const char *cur_op = "open";
/* An allocation failure is injected for this call: -ENOMEM may come before
 * an argument error the call finds only after allocating (a zero vector's
 * norm is computed in the row it was copied to). */
static int armed_now;

#define FAIL(...)                                                             \
    do {                                                                      \
        fprintf(stderr, "fuzz_api finding in %s (line %d): ", cur_op,        \
                __LINE__);                                                    \
        fprintf(stderr, __VA_ARGS__);                                         \
        fputc('\n', stderr);                                                  \
        abort();                                                              \
    } while (0)

/* rc must be 0 or one of the listed negative errnos (0-terminated). */
static void rc_in(int rc, const int *ok)
{
    if (rc == 0)
        return;
    for (; *ok; ok++)
        if (rc == *ok)
            return;
    FAIL("undocumented return %d (%s)", rc, cogmem_strerror(rc));
}
#define RC_IN(rc, ...) rc_in((rc), (const int[]){__VA_ARGS__, 0})

/* --------------------------------------------------------------- input */

struct in {
    const uint8_t *p;
    size_t n;
};

static uint8_t u8(struct in *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

static uint32_t u32(struct in *in)
{
    uint32_t x = 0;
    for (int i = 0; i < 4; i++)
        x = x << 8 | u8(in);
    return x;
}

static float f_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* A float that is often hostile. */
static float hostile_f(struct in *in)
{
    static const float tab[] = {0.0f, -0.0f, 1.0f, -1.0f, 0.5f, 2.0f,
                                1e-45f, -1e-45f, 1e-38f, FLT_MIN, FLT_MAX,
                                -FLT_MAX, 1e30f, 1e-20f, 3.0f, 0.25f};
    uint8_t b = u8(in);
    switch (b >> 5) {
    case 0:
        return NAN;
    case 1:
        return (b & 1) ? INFINITY : -INFINITY;
    case 2:
        return f_from_bits(u32(in));
    default:
        return tab[b & 15];
    }
}

/* A float for a field that wants [0, 1] mostly, out of range sometimes. */
static float unit_f(struct in *in)
{
    uint8_t b = u8(in);
    if (b < 200)
        return (float)b / 199.0f;
    return hostile_f(in);
}

static const uint64_t id_tab[NIDS] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                      UINT64_MAX, UINT64_MAX - 1};

/* Bit i: the current call named id_tab[i] (id_idx, live_idx), so it may
 * have changed that node, its vector or its bindings. */
static uint32_t touched;
#define ALL_IDS ((1u << NIDS) - 1)

/* An index into id_tab, or -1 for id 0. */
static int id_idx(struct in *in)
{
    uint8_t b = u8(in);
    int i = b % 13 == 12 ? -1 : (int)(b % 13);
    if (i >= 0)
        touched |= 1u << i;
    return i;
}

static uint64_t id_of(int i) { return i < 0 ? 0 : id_tab[i]; }

/* A count: small, or huge (2^40, SIZE_MAX); `*null` says the buffer that
 * goes with it is to be NULL (always for huge ones: no buffer is that big).
 */
static size_t count_of(struct in *in, size_t small_max, int *null)
{
    uint8_t b = u8(in);
    *null = (b & 0x80) != 0;
    switch (b & 7) {
    case 6:
        *null = 1;
        return (size_t)1 << 40;
    case 7:
        *null = 1;
        return SIZE_MAX;
    default:
        return (size_t)(b >> 3 & 15) % (small_max + 1);
    }
}

/* A sizing hint (cfg.expected_*, cogmem_reserve): up to 2^16, and one in
 * 32 up to about 2^48. Hints are advice, capped by the store
 * (include/cogmem.h), so any of them must open and reserve with 0 (or
 * -ENOMEM). Huge ones are rare: a capped hint still makes 16 MiB of tables
 * a kind, which the open zeroes and the close scans (about 10 ms here);
 * drawn as often as small ones (the draw before) they took half the run,
 * one in eight still more than a third of it. */
static uint64_t hint_of(struct in *in)
{
    uint64_t n = u8(in);
    uint8_t b = u8(in);
    return n << ((b & 0xf8) == 0xf8 ? b % 41 : b % 9);
}
/* The first published cogmem_spread_params ended at now_ns: every size
 * from there up is a valid caller's (fields past it take their defaults). */
#define SPREAD_V1_SIZE (offsetof(cogmem_spread_params, now_ns) + sizeof(uint64_t))

/* --------------------------------------------------------------- model */

struct model {
    uint32_t dim;
    int kind[NIDS];          /* 0 absent, COGMEM_CONCEPT, COGMEM_EPISODE */
    float vec[NIDS][MAX_DIM];
    int bound[NIDS][NIDS];   /* [episode][concept] */
    float strength[NIDS][NIDS];
    int strength_known[NIDS][NIDS];
    int decayed;             /* a decay ran: bindings may have been pruned */
    const cogmem_vec *held[4];
    int nheld;
};

static uint32_t fan_of(const struct model *m, int i)
{
    uint32_t f = 0;
    for (int j = 0; j < NIDS; j++)
        f += m->kind[i] == COGMEM_CONCEPT ? m->bound[j][i] : m->bound[i][j];
    return f;
}

/* 0, -EINVAL (NaN/Inf/zero) or -ERANGE (norm overflows float) for v. The
 * norm is the store's (cogmem_sum_squares' documented order), so that a
 * norm at the edge of float's range rounds here as it does there. */
static int vec_check(const float *v, uint32_t dim)
{
    for (uint32_t i = 0; i < dim; i++)
        if (!isfinite(v[i]))
            return -EINVAL;
    double acc = cogmem_sum_squares(v, dim);
    if (acc == 0.0)
        return -EINVAL;
    return (float)sqrt(acc) <= FLT_MAX ? 0 : -ERANGE;
}

static void gen_vec(struct in *in, float *v, uint32_t dim)
{
    uint8_t how = u8(in);
    switch (how & 3) {
    case 0: /* all one hostile value */
    {
        float x = hostile_f(in);
        for (uint32_t i = 0; i < dim; i++)
            v[i] = x;
        break;
    }
    case 1: { /* one hostile entry in a small ordinary vector */
        for (uint32_t i = 0; i < dim; i++)
            v[i] = (float)((int)u8(in) - 128) / 64.0f;
        uint32_t at = u8(in) % dim; /* before hostile_f: a fixed byte order */
        v[at] = hostile_f(in);
        break;
    }
    default:
        for (uint32_t i = 0; i < dim; i++)
            v[i] = (float)((int)u8(in) - 128) / 32.0f;
    }
}

/* Whether a float dot product of a and b may overflow (a partial sum or
 * a product past FLT_MAX in magnitude), so that it may come out as +-inf
 * or, with terms of both signs, NaN. In double, which cannot overflow here. */
static int dot_may_overflow(const float *a, const float *b, uint32_t dim)
{
    double acc = 0.0;
    for (uint32_t i = 0; i < dim; i++)
        acc += fabs((double)a[i] * b[i]);
    return acc > FLT_MAX;
}

static double cos_model(const float *a, const float *b, uint32_t dim)
{
    double d = 0, na = 0, nb = 0;
    for (uint32_t i = 0; i < dim; i++) {
        d += (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
    }
    return d / (sqrt(na) * sqrt(nb));
}

/* Store and model agree on every count, and on the kind, vector, fan and
 * bindings of each id in `ids` (a mask of id_tab indices; a binding is
 * checked when its episode or its concept is in it). */
static void check_ids(cogmem_store *s, struct model *m, uint32_t ids)
{
    uint64_t nc = 0, ne = 0, nb = 0;
    for (int i = 0; i < NIDS; i++) {
        nc += m->kind[i] == COGMEM_CONCEPT;
        ne += m->kind[i] == COGMEM_EPISODE;
        if (m->kind[i] == COGMEM_EPISODE)
            for (int c = 0; c < NIDS; c++)
                nb += m->kind[c] == COGMEM_CONCEPT && m->bound[i][c];
    }
    for (int i = 0; i < NIDS; i++) {
        if (!(ids & (1u << i)) && m->kind[i] != COGMEM_EPISODE)
            continue; /* an episode's bindings may name a touched concept */
        int k = cogmem_kind_of(s, id_tab[i]);
        int want = m->kind[i] ? m->kind[i] : -ENOENT;
        if (k != want)
            FAIL("id %llu: kind_of %d, model %d", (unsigned long long)id_tab[i], k, want);
        if (!m->kind[i])
            continue;
        const cogmem_vec *v;
        if (!(ids & (1u << i)))
            goto bindings;
        if (cogmem_vec_get(s, id_tab[i], &v) != 0)
            FAIL("vec_get of live id %llu", (unsigned long long)id_tab[i]);
        if (memcmp(cogmem_vec_data(v), m->vec[i], m->dim * sizeof(float)) != 0)
            FAIL("id %llu: vector differs from the model", (unsigned long long)id_tab[i]);
        cogmem_vec_put(v);
        uint32_t f = UINT32_MAX;
        int rc = m->kind[i] == COGMEM_CONCEPT ? cogmem_fan_out(s, id_tab[i], &f)
                                              : cogmem_fan_in(s, id_tab[i], &f);
        if (rc != 0 || f != fan_of(m, i))
            FAIL("id %llu: fan %u rc %d, model %u", (unsigned long long)id_tab[i], f,
                 rc, fan_of(m, i));
    bindings:
        if (m->kind[i] != COGMEM_EPISODE)
            continue;
        for (int c = 0; c < NIDS; c++) {
            if (m->kind[c] != COGMEM_CONCEPT || !((ids >> i | ids >> c) & 1))
                continue;
            float st = -1.0f;
            rc = cogmem_binding_get(s, id_tab[i], id_tab[c], &st);
            if (rc != (m->bound[i][c] ? 0 : -ENOENT))
                FAIL("binding (%d,%d): get %d, model bound %d", i, c, rc, m->bound[i][c]);
            if (rc == 0 && !(st >= 0.0f && st <= 1.0f))
                FAIL("binding (%d,%d): strength %g outside [0,1]", i, c, st);
            if (rc == 0 && m->strength_known[i][c] && st != m->strength[i][c])
                FAIL("binding (%d,%d): strength %.9g, model %.9g", i, c, st,
                     m->strength[i][c]);
        }
    }
    uint64_t n;
    if (cogmem_count(s, COGMEM_CONCEPT, &n) || n != nc)
        FAIL("concept count %llu, model %llu", (unsigned long long)n, (unsigned long long)nc);
    if (cogmem_count(s, COGMEM_EPISODE, &n) || n != ne)
        FAIL("episode count %llu, model %llu", (unsigned long long)n, (unsigned long long)ne);
    if (cogmem_binding_count(s, &n) || n != nb)
        FAIL("binding count %llu, model %llu", (unsigned long long)n, (unsigned long long)nb);
}

static void check_all(cogmem_store *s, struct model *m) { check_ids(s, m, ALL_IDS); }

/* After a decay: bindings may be pruned and strengths lowered; take the
 * store's word for both (checking that strengths only went down). */
static void resync_after_decay(cogmem_store *s, struct model *m)
{
    for (int e = 0; e < NIDS; e++)
        for (int c = 0; c < NIDS; c++) {
            if (!m->bound[e][c])
                continue;
            float st;
            int rc = cogmem_binding_get(s, id_tab[e], id_tab[c], &st);
            if (rc == -ENOENT) {
                m->bound[e][c] = 0;
                continue;
            }
            if (rc != 0)
                FAIL("binding_get after decay: %d", rc);
            if (m->strength_known[e][c] && st > m->strength[e][c])
                FAIL("decay raised a strength: %.9g > %.9g", st, m->strength[e][c]);
            m->strength[e][c] = st;
            m->strength_known[e][c] = 1;
        }
}

/* An index into id_tab biased to live nodes of `kind` (three times in
 * four when there are some), else as id_idx (-1 for id 0): random ids
 * would rarely name a live episode and a live concept at once. */
static int live_idx(struct in *in, const struct model *m, int kind)
{
    uint8_t b = u8(in);
    int live[NIDS], n = 0;
    for (int i = 0; i < NIDS; i++)
        if (m->kind[i] == kind)
            live[n++] = i;
    int i = (b & 3) && n ? live[(b >> 2) % n] : b % 13 == 12 ? -1 : (int)(b % 13);
    if (i >= 0)
        touched |= 1u << i;
    return i;
}

static void remove_node(struct model *m, int i)
{
    for (int j = 0; j < NIDS; j++) {
        m->bound[i][j] = m->bound[j][i] = 0;
    }
    m->kind[i] = 0;
}

/* ------------------------------------------------------------ the calls */

static int visit_count(uint64_t id, enum cogmem_kind kind, void *arg)
{
    (void)id;
    (void)kind;
    int *n = arg;
    (*n)++;
    return *n == 1000 ? 7 : 0;
}

static void op_add(cogmem_store *s, struct model *m, struct in *in, int episode)
{
    cur_op = episode ? "episode_add" : "concept_add";
    int i = id_idx(in);
    float v[MAX_DIM];
    gen_vec(in, v, m->dim);
    int null = (u8(in) & 15) == 0;
    int rc = episode ? cogmem_episode_add(s, id_of(i), null ? NULL : v, u32(in))
                     : cogmem_concept_add(s, id_of(i), null ? NULL : v);
    RC_IN(rc, -EINVAL, -EEXIST, -ENOMEM, -ERANGE);
    int want = i < 0 || null ? -EINVAL : vec_check(v, m->dim);
    /* A bad vector for a live id may be either error (the header does not
     * rank them). */
    int live = i >= 0 && m->kind[i];
    if (want == 0 && live)
        want = -EEXIST;
    if (rc != want && !(rc == -ENOMEM && (want == 0 || armed_now)) && !(rc == -EEXIST && live && !null))
        FAIL("returned %d, model %d", rc, want);
    if (rc == 0) {
        m->kind[i] = episode ? COGMEM_EPISODE : COGMEM_CONCEPT;
        memcpy(m->vec[i], v, m->dim * sizeof(float));
    }
}

static void op_set_centroid(cogmem_store *s, struct model *m, struct in *in)
{
    cur_op = "concept_set_centroid";
    int i = live_idx(in, m, COGMEM_CONCEPT);
    float v[MAX_DIM];
    gen_vec(in, v, m->dim);
    int rc = cogmem_concept_set_centroid(s, id_of(i), v);
    RC_IN(rc, -EINVAL, -ENOENT, -ENOMEM, -ERANGE);
    int bad = i < 0 ? -EINVAL : vec_check(v, m->dim);
    int absent = i < 0 || m->kind[i] != COGMEM_CONCEPT;
    if (rc == 0 && (bad || absent))
        FAIL("succeeded on a bad vector (%d) or a non-concept (%d)", bad, absent);
    if (rc != 0 && rc != -ENOMEM && rc != bad && !(absent && rc == -ENOENT))
        FAIL("returned %d, model vector %d absent %d", rc, bad, absent);
    if (rc == 0)
        memcpy(m->vec[i], v, m->dim * sizeof(float));
}

static void op_blend(cogmem_store *s, struct model *m, struct in *in)
{
    cur_op = "concept_blend";
    int i = live_idx(in, m, COGMEM_CONCEPT);
    float x[MAX_DIM];
    gen_vec(in, x, m->dim);
    float rate = unit_f(in);
    int rc = cogmem_concept_blend(s, id_of(i), x, rate);
    RC_IN(rc, -EINVAL, -ENOENT, -ERANGE, -ENOMEM);
    int bad_arg = i < 0 || !(rate >= 0.0f && rate <= 1.0f);
    for (uint32_t d = 0; d < m->dim; d++)
        bad_arg |= !isfinite(x[d]);
    int absent = i < 0 || m->kind[i] != COGMEM_CONCEPT;
    if (rc == 0 && (bad_arg || absent))
        FAIL("succeeded with a bad argument (%d) or a non-concept (%d)", bad_arg, absent);
    if (rc == -EINVAL && !bad_arg)
        FAIL("-EINVAL for good arguments");
    if (rc == -ENOENT && !absent)
        FAIL("-ENOENT for a live concept");
    if (rc != 0)
        return;
    /* The result's arithmetic order is the library's: take the store's
     * vector, checking it against (1 - rate) c + rate x. */
    const cogmem_vec *v;
    if (cogmem_vec_get(s, id_of(i), &v))
        FAIL("vec_get after blend");
    const float *d = cogmem_vec_data(v);
    for (uint32_t k = 0; k < m->dim; k++) {
        double want = (1.0 - rate) * m->vec[i][k] + (double)rate * x[k];
        double tol = 1e-5 * (fabs(m->vec[i][k]) + fabs(x[k])) + 1e-30;
        if (!(fabs(d[k] - want) <= tol) && isfinite(want))
            FAIL("blend component %u: %.9g, want %.9g", k, d[k], want);
    }
    memcpy(m->vec[i], d, m->dim * sizeof(float));
    cogmem_vec_put(v);
}

static void op_remove(cogmem_store *s, struct model *m, struct in *in, int episode)
{
    cur_op = episode ? "episode_remove" : "concept_remove";
    int i = live_idx(in, m, episode ? COGMEM_EPISODE : COGMEM_CONCEPT);
    int rc = episode ? cogmem_episode_remove(s, id_of(i)) : cogmem_concept_remove(s, id_of(i));
    RC_IN(rc, -EINVAL, -ENOENT, -ENOMEM);
    int kind = episode ? COGMEM_EPISODE : COGMEM_CONCEPT;
    int want = i < 0 ? -EINVAL : m->kind[i] != kind ? -ENOENT : 0;
    if (rc != want && !(rc == -ENOMEM && (want == 0 || armed_now)))
        FAIL("returned %d, model %d", rc, want);
    if (rc == 0)
        remove_node(m, i);
}

static void op_info(cogmem_store *s, struct model *m, struct in *in)
{
    cur_op = "info";
    int i = id_idx(in);
    uint8_t b = u8(in);
    if (b & 1) {
        struct cogmem_concept_info ci;
        int rc = cogmem_concept_info(s, id_of(i), (b & 2) ? NULL : &ci);
        RC_IN(rc, -EINVAL, -ENOENT);
        int want = i < 0 || (b & 2) ? -EINVAL : m->kind[i] != COGMEM_CONCEPT ? -ENOENT : 0;
        if (rc != want)
            FAIL("concept_info %d, model %d", rc, want);
        if (rc == 0 && (ci.id != id_of(i) || ci.fan_out != fan_of(m, i)))
            FAIL("concept_info id/fan_out %u, model %u", ci.fan_out, fan_of(m, i));
    } else {
        struct cogmem_episode_info ei;
        int rc = cogmem_episode_info(s, id_of(i), (b & 2) ? NULL : &ei);
        RC_IN(rc, -EINVAL, -ENOENT);
        int want = i < 0 || (b & 2) ? -EINVAL : m->kind[i] != COGMEM_EPISODE ? -ENOENT : 0;
        if (rc != want)
            FAIL("episode_info %d, model %d", rc, want);
        if (rc == 0 && (ei.id != id_of(i) || ei.fan_in != fan_of(m, i)))
            FAIL("episode_info fan_in %u, model %u", ei.fan_in, fan_of(m, i));
    }
}

static void op_info_batch(cogmem_store *s, struct model *m, struct in *in)
{
    cur_op = "concept_info_batch";
    int null;
    size_t n = count_of(in, NIDS, &null);
    uint64_t ids[NIDS];
    struct cogmem_concept_info out[NIDS];
    int idx[NIDS];
    for (size_t j = 0; j < NIDS; j++) {
        idx[j] = id_idx(in);
        ids[j] = id_of(idx[j]);
    }
    size_t found = 0;
    int rc = cogmem_concept_info_batch(s, null ? NULL : ids, n, null ? NULL : out, &found);
    RC_IN(rc, -EINVAL);
    if ((rc != 0) != (null && n > 0))
        FAIL("returned %d for n %zu null %d", rc, n, null);
    if (rc)
        return;
    size_t want = 0;
    for (size_t j = 0; j < n; j++) {
        int live = idx[j] >= 0 && m->kind[idx[j]] == COGMEM_CONCEPT;
        want += live;
        if (live ? out[j].id != ids[j] || out[j].fan_out != fan_of(m, idx[j]) : out[j].id != 0)
            FAIL("slot %zu: id %llu fan %u", j, (unsigned long long)out[j].id, out[j].fan_out);
    }
    if (found != want)
        FAIL("n_found %zu, model %zu", found, want);
}

static void op_vec(cogmem_store *s, struct model *m, struct in *in)
{
    cur_op = "vec_get";
    int i = id_idx(in);
    uint8_t b = u8(in);
    if ((b & 3) == 3 && m->nheld) { /* put the last held reference */
        cogmem_vec_put(m->held[--m->nheld]);
        return;
    }
    const cogmem_vec *v = NULL;
    int rc = cogmem_vec_get(s, id_of(i), (b & 4) ? NULL : &v);
    RC_IN(rc, -EINVAL, -ENOENT);
    int want = i < 0 || (b & 4) ? -EINVAL : !m->kind[i] ? -ENOENT : 0;
    if (rc != want)
        FAIL("returned %d, model %d", rc, want);
    if (rc)
        return;
    if (cogmem_vec_dim(v) != m->dim || cogmem_vec_id(v) != id_of(i) ||
        memcmp(cogmem_vec_data(v), m->vec[i], m->dim * sizeof(float)) ||
        !(cogmem_vec_norm(v) > 0.0f) || ((uintptr_t)cogmem_vec_data(v) & 63))
        FAIL("vector of id %llu differs from the model", (unsigned long long)id_of(i));
    if ((b & 3) == 1 && m->nheld < 4)
        m->held[m->nheld++] = v; /* kept: cogmem_close must say -EBUSY */
    else
        cogmem_vec_put(v);
}

static void op_bind(cogmem_store *s, struct model *m, struct in *in)
{
    cur_op = "bind";
    int e = live_idx(in, m, COGMEM_EPISODE), c = live_idx(in, m, COGMEM_CONCEPT);
    float st = unit_f(in);
    int rc = cogmem_bind(s, id_of(e), id_of(c), st);
    RC_IN(rc, -EINVAL, -ENOENT, -EEXIST, -ENOMEM);
    int want = e < 0 || c < 0 || !(st >= 0.0f && st <= 1.0f) ? -EINVAL
               : m->kind[e] != COGMEM_EPISODE || m->kind[c] != COGMEM_CONCEPT ? -ENOENT
               : m->bound[e][c] ? -EEXIST
                                : 0;
    if (rc != want && !(rc == -ENOMEM && (want == 0 || armed_now)))
        FAIL("returned %d, model %d", rc, want);
    if (rc == 0) {
        m->bound[e][c] = 1;
        m->strength[e][c] = st;
        m->strength_known[e][c] = 1;
    }
}

static void op_adjust(cogmem_store *s, struct model *m, struct in *in)
{
    cur_op = "binding_adjust";
    int e = live_idx(in, m, COGMEM_EPISODE), c = live_idx(in, m, COGMEM_CONCEPT);
    float d = (u8(in) & 1) ? hostile_f(in) : unit_f(in) - 0.5f;
    float got = -1.0f;
    int rc = cogmem_binding_adjust(s, id_of(e), id_of(c), d, &got);
    RC_IN(rc, -EINVAL, -ENOENT);
    int want = e < 0 || c < 0 || !isfinite(d) ? -EINVAL
               : (m->kind[e] != COGMEM_EPISODE || m->kind[c] != COGMEM_CONCEPT ||
                  !m->bound[e][c])
                   ? -ENOENT
                   : 0;
    if (rc != want)
        FAIL("returned %d, model %d", rc, want);
    if (rc)
        return;
    if (!(got >= 0.0f && got <= 1.0f))
        FAIL("new strength %g outside [0, 1]", got);
    if (m->strength_known[e][c]) {
        float x = m->strength[e][c] + d;
        float w = x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x;
        if (got != w)
            FAIL("new strength %.9g, model %.9g", got, w);
    }
    m->strength[e][c] = got;
    m->strength_known[e][c] = 1;
}

static void op_unbind(cogmem_store *s, struct model *m, struct in *in)
{
    cur_op = "unbind";
    int e = live_idx(in, m, COGMEM_EPISODE), c = live_idx(in, m, COGMEM_CONCEPT);
    int rc = cogmem_unbind(s, id_of(e), id_of(c));
    RC_IN(rc, -EINVAL, -ENOENT);
    int want = e < 0 || c < 0 ? -EINVAL
               : (m->kind[e] == COGMEM_EPISODE && m->kind[c] == COGMEM_CONCEPT &&
                  m->bound[e][c])
                   ? 0
                   : -ENOENT;
    if (rc != want)
        FAIL("returned %d, model %d", rc, want);
    if (rc == 0)
        m->bound[e][c] = 0;
}

static void op_list(cogmem_store *s, struct model *m, struct in *in)
{
    cur_op = "listing";
    int episode = u8(in) & 1;
    int i = live_idx(in, m, episode ? COGMEM_EPISODE : COGMEM_CONCEPT);
    int null;
    size_t cap = count_of(in, NIDS, &null);
    uint64_t ids[NIDS];
    float str[NIDS];
    size_t n = 12345;
    int rc = episode ? cogmem_episode_concepts(s, id_of(i), null ? NULL : ids,
                                               null ? NULL : str, cap, &n)
                     : cogmem_concept_episodes(s, id_of(i), null ? NULL : ids,
                                               null ? NULL : str, cap, &n);
    RC_IN(rc, -EINVAL, -ENOENT);
    int kind = episode ? COGMEM_EPISODE : COGMEM_CONCEPT;
    int want = i < 0 || (null && cap > 0) ? -EINVAL : m->kind[i] != kind ? -ENOENT : 0;
    if (rc != want)
        FAIL("returned %d, model %d", rc, want);
    if (rc)
        return;
    if (n != fan_of(m, i))
        FAIL("*n_out %zu, model fan %u", n, fan_of(m, i));
    for (size_t k = 0; k < n && k < cap; k++) {
        int found = 0;
        for (int j = 0; j < NIDS; j++)
            if (id_tab[j] == ids[k])
                found = episode ? m->bound[i][j] : m->bound[j][i];
        if (!found)
            FAIL("listed id %llu is not bound", (unsigned long long)ids[k]);
    }
}

static void op_decay(cogmem_store *s, struct model *m, struct in *in)
{
    cur_op = "decay";
    cogmem_decay_params p;
    cogmem_decay_params_init(&p);
    uint8_t b = u8(in);
    if (b & 1)
        p.model = (int32_t)(u8(in) % 5) - 1;
    if (b & 2)
        p.half_life_ns = (u8(in) & 1) ? 0 : (uint64_t)u32(in);
    if (b & 4)
        p.power_d = hostile_f(in);
    if (b & 8)
        p.power_scale_ns = u8(in);
    if (b & 16)
        p.factor = unit_f(in);
    if (b & 32)
        p.prune_below = unit_f(in);
    if (b & 64)
        p.struct_size = u8(in) & 1 ? sizeof p - 1 : 0;
    cogmem_decay_result r = {.struct_size = (b & 128) ? 8 : sizeof r};
    uint64_t now = u32(in);
    now <<= u8(in) & 31;
    int pnull = (u8(in) & 31) == 0;
    int rc = cogmem_decay(s, pnull ? NULL : &p, now, &r);
    RC_IN(rc, -EINVAL);
    int ok = !pnull && p.struct_size >= sizeof p && p.prune_below >= 0.0f && p.prune_below <= 1.0f &&
             r.struct_size >= sizeof r;
    switch (p.model) {
    case COGMEM_DECAY_EXP:
        ok &= p.half_life_ns > 0;
        break;
    case COGMEM_DECAY_POWER:
        ok &= p.power_d > 0.0f && isfinite(p.power_d) && p.power_scale_ns > 0;
        break;
    case COGMEM_DECAY_FACTOR:
        ok &= p.factor >= 0.0f && p.factor <= 1.0f;
        break;
    default:
        ok = 0;
    }
    if (rc == 0 && !ok)
        FAIL("accepted bad params (model %d)", p.model);
    if (rc == -EINVAL && ok)
        FAIL("-EINVAL for good params");
    if (rc == 0) {
        if (r.pruned > r.decayed)
            FAIL("pruned %llu > decayed %llu", (unsigned long long)r.pruned,
                 (unsigned long long)r.decayed);
        resync_after_decay(s, m);
        touched = ALL_IDS; /* every binding's strength may have changed */
    }
}

static int cmp_hits_ok(const cogmem_hit *a, const cogmem_hit *b)
{
    if (isnan(a->activation) || isnan(b->activation))
        return !isnan(a->activation) || isnan(b->activation);
    return a->activation > b->activation ||
           (a->activation == b->activation && a->id < b->id);
}

static void op_spread(cogmem_store *s, struct model *m, struct in *in)
{
    cur_op = "spread";
    cogmem_spread_params p;
    cogmem_spread_params_init(&p);
    uint8_t b = u8(in);
    static const uint32_t depths[] = {0, 1, 2, 3, 7, 2000000000u};
    p.max_depth = depths[u8(in) % 6];
    if (b & 1)
        p.hop_decay = (u8(in) & 1) ? hostile_f(in) : unit_f(in);
    if (b & 2)
        p.threshold = (u8(in) & 1) ? hostile_f(in) : unit_f(in) / 100.0f;
    if (b & 4) {
        static const uint32_t caps[] = {0, 1, 2, 3, 1u << 28, (1u << 28) + 1, UINT32_MAX};
        p.max_nodes = caps[u8(in) % 7];
    }
    if (b & 8)
        p.use_strength = u8(in) & 1;
    if (b & 16)
        p.fan_mode = (int32_t)(u8(in) % 7) - 2;
    if (b & 32)
        p.add_base_level = 1;
    if (b & 64)
        p.struct_size = (u8(in) & 1) ? SPREAD_V1_SIZE - 1 : sizeof p + 8;
    /* A huge depth only where activation provably dies out (LINEAR
     * conserves mass and hop_decay halves it): anything else is work the
     * caller asked for, not a hang. */
    if (p.max_depth > 7 && !(p.fan_mode == COGMEM_FAN_LINEAR && p.hop_decay <= 0.5f &&
                             p.use_strength))
        p.max_depth = 7;
    cogmem_source src[4];
    int sidx[4];
    int null;
    size_t n = count_of(in, 4, &null);
    for (int j = 0; j < 4; j++) {
        sidx[j] = live_idx(in, m, (j & 1) ? COGMEM_EPISODE : COGMEM_CONCEPT);
        src[j].id = id_of(sidx[j]);
        src[j].weight = (u8(in) & 7) == 0 ? hostile_f(in) : unit_f(in) * 4.0f - 2.0f;
    }
    int onull;
    size_t cap = count_of(in, 8, &onull);
    cogmem_hit out[OUTCAP];
    size_t nout = 777;
    /* a larger struct_size than ours: bytes past our struct are the
     * caller's, never read. */
    struct {
        cogmem_spread_params p;
        uint64_t tail;
    } big = {p, 0};
    int pnull = (u8(in) & 15) == 0;
    if (pnull)
        cogmem_spread_params_init(&p); /* what the library uses for NULL */
    int rc = cogmem_spread(s, null ? NULL : src, n, pnull ? NULL : &big.p,
                           onull ? NULL : out, cap, &nout);
    RC_IN(rc, -EINVAL, -ENOMEM);
    int bad = (null && n > 0) || (onull && cap > 0) || p.struct_size < SPREAD_V1_SIZE ||
              !(p.hop_decay >= 0.0f && isfinite(p.hop_decay)) ||
              !(p.threshold >= 0.0f && isfinite(p.threshold)) || p.max_nodes < 1 ||
              p.max_nodes > COGMEM_SPREAD_MAX_NODES || p.fan_mode < -1 || p.fan_mode > 3;
    for (size_t j = 0; !null && j < n && j < 4; j++)
        bad |= src[j].id == 0 || !isfinite(src[j].weight);
    if (rc == 0 && bad)
        FAIL("accepted bad arguments");
    if (rc == -EINVAL && !bad)
        FAIL("-EINVAL for good arguments");
    if (rc)
        return;
    if (nout > cap || nout > p.max_nodes)
        FAIL("%zu hits for cap %zu max_nodes %u", nout, cap, p.max_nodes);
    for (size_t k = 0; k < nout; k++) {
        int j = -1;
        for (int t = 0; t < NIDS; t++)
            if (id_tab[t] == out[k].id)
                j = t;
        if (j < 0 || m->kind[j] != out[k].kind)
            FAIL("hit %llu kind %d is not a live node of that kind",
                 (unsigned long long)out[k].id, out[k].kind);
        if (out[k].activation == 0.0f)
            FAIL("hit with activation 0");
        if (k && !cmp_hits_ok(&out[k - 1], &out[k]))
            FAIL("hits out of order at %zu", k);
    }
}

static void op_touch_actr(cogmem_store *s, struct model *m, struct in *in)
{
    int i = id_idx(in);
    uint64_t now = (uint64_t)u32(in) * 1000u;
    if (u8(in) & 1) {
        cur_op = "touch";
        int rc = cogmem_touch(s, id_of(i), now);
        RC_IN(rc, -EINVAL, -ENOENT, -ENOMEM);
        int want = i < 0 ? -EINVAL : !m->kind[i] ? -ENOENT : 0;
        if (rc != want && !(rc == -ENOMEM && (want == 0 || armed_now)))
            FAIL("returned %d, model %d", rc, want);
        return;
    }
    cur_op = "actr_activation";
    cogmem_source src[3];
    int null;
    size_t n = count_of(in, 3, &null);
    for (int j = 0; j < 3; j++) {
        src[j].id = id_of(id_idx(in));
        src[j].weight = (u8(in) & 7) == 0 ? hostile_f(in) : 1.0f;
    }
    cogmem_actr_result r;
    uint8_t b = u8(in);
    r.struct_size = (b & 3) == 0 ? sizeof r - 1 : sizeof r;
    int rc = cogmem_actr_activation(s, id_of(i), null ? NULL : src, n, now,
                                    (b & 12) == 0 ? NULL : &r);
    RC_IN(rc, -EINVAL, -ENOENT);
    int bad = i < 0 || (null && n > 0) || (b & 12) == 0 || r.struct_size < sizeof r;
    for (size_t j = 0; !null && j < n && j < 3; j++)
        bad |= src[j].id == 0 || !isfinite(src[j].weight);
    int want = bad ? -EINVAL : !m->kind[i] ? -ENOENT : 0;
    if (rc != want)
        FAIL("returned %d, model %d", rc, want);
}

static void recall_params(struct in *in, cogmem_recall_params *p, int *plain)
{
    cogmem_recall_params_init(p);
    uint8_t b = u8(in);
    *plain = 1;
    if (b & 1)
        p->metric = (int)(u8(in) % 4) - 1;
    if (b & 2) {
        p->min_score = (u8(in) & 1) ? hostile_f(in) : unit_f(in) * 2.0f - 1.0f;
        *plain = 0;
    }
    if (b & 4) {
        p->w_sim = hostile_f(in);
        p->w_recency = unit_f(in);
        p->w_act = unit_f(in);
        *plain = 0;
    }
    if (b & 8)
        p->half_life_ns = u8(in);
    if (b & 16) {
        p->bf16 = 1;
        p->bf16_rerank = u8(in) % 3;
        *plain = 0;
    }
    if (b & 32)
        p->threads = u8(in) % 4;
    if (b & 64)
        p->parallel_min_work = u8(in) & 1 ? 0 : UINT64_MAX;
    if (b & 128)
        p->struct_size = u8(in) & 1 ? 8 : sizeof *p + 16;
}

static int recall_params_ok(const cogmem_recall_params *p)
{
    return p->struct_size >= offsetof(cogmem_recall_params, parallel_min_work) + 8 &&
           (p->metric == COGMEM_METRIC_COSINE || p->metric == COGMEM_METRIC_DOT) &&
           !isnan(p->min_score) && isfinite(p->w_sim) && isfinite(p->w_recency) &&
           isfinite(p->w_act) && p->half_life_ns > 0 &&
           (p->struct_size < offsetof(cogmem_recall_params, bf16_rerank) + 4 ||
            p->bf16_rerank > 0);
}

/* The hits of one recall against the model: live ids of the right kinds,
 * best first; for plain params also the exact count and the scores. */
static void check_hits(const struct model *m, const float *q, unsigned kinds, size_t k,
                       const cogmem_recall_params *p, int plain,
                       const cogmem_recall_hit *h, size_t n)
{
    size_t live = 0, unsure = 0;
    for (int j = 0; j < NIDS; j++) {
        int in = m->kind[j] && (kinds & (unsigned)m->kind[j]);
        live += in;
        /* A dot product whose terms reach past FLT_MAX may come out as
         * inf - inf = NaN in float, and a NaN score is never returned
         * (cogmem_recall.h): such a row may be missing. */
        unsure += in && p->metric == COGMEM_METRIC_DOT && dot_may_overflow(q, m->vec[j], m->dim);
    }
    if (n > k || n > live)
        FAIL("%zu hits for k %zu, %zu live nodes", n, k, live);
    size_t sure = live - unsure;
    if (plain && (n < (k < sure ? k : sure) || (!unsure && n != (k < live ? k : live))))
        FAIL("%zu hits, model %zu (%zu of them may score NaN)", n, k < live ? k : live, unsure);
    for (size_t t = 0; t < n; t++) {
        int j = -1;
        for (int u = 0; u < NIDS; u++)
            if (id_tab[u] == h[t].id)
                j = u;
        if (j < 0 || m->kind[j] != h[t].kind || !(kinds & (unsigned)h[t].kind))
            FAIL("hit %llu kind %d not live", (unsigned long long)h[t].id, h[t].kind);
        for (size_t u = 0; u < t; u++)
            if (h[u].id == h[t].id)
                FAIL("id %llu twice", (unsigned long long)h[t].id);
        if (t && (h[t - 1].score < h[t].score ||
                  (h[t - 1].score == h[t].score && h[t - 1].id > h[t].id)))
            FAIL("hits out of order at %zu", t);
        if (plain && p->metric == COGMEM_METRIC_COSINE) {
            double want = cos_model(q, m->vec[j], m->dim);
            if (!(fabs(h[t].score - want) <= 1e-4)) {
                for (uint32_t d = 0; d < m->dim; d++)
                    fprintf(stderr, "q[%u] = %a  v[%u] = %a\n", d, q[d], d, m->vec[j][d]);
                FAIL("id %llu: cosine %.9g, model %.9g", (unsigned long long)h[t].id,
                     h[t].score, want);
            }
        }
    }
}

/* The query is refused: NaN/Inf anywhere, or (cosine) zero or a norm that
 * overflows float. */
static int query_bad(const float *q, uint32_t dim, int metric)
{
    int v = vec_check(q, dim);
    if (metric == COGMEM_METRIC_COSINE)
        return v != 0;
    for (uint32_t d = 0; d < dim; d++)
        if (!isfinite(q[d]))
            return 1;
    return 0;
}

static void op_recall(cogmem_store *s, struct model *m, struct in *in)
{
    cur_op = "recall";
    float qs[2 * MAX_DIM];
    gen_vec(in, qs, m->dim);
    gen_vec(in, qs + m->dim, m->dim);
    const float *q[2] = {qs, qs + m->dim};
    unsigned kinds = u8(in) % 5;
    int null;
    size_t k = count_of(in, 70, &null);
    if (u8(in) & 1)
        null = 0; /* k = SIZE_MAX with a real buffer: bounded by the rows */
    cogmem_recall_params p;
    int plain;
    recall_params(in, &p, &plain);
    static cogmem_recall_hit out[2 * OUTCAP];
    size_t n[2] = {99, 99};
    uint8_t b = u8(in);
    int batch = b & 1;
    int qnull = (b & 6) == 0;
    int bad = qnull || (null && k > 0) || kinds == 0 || kinds > 3 || !recall_params_ok(&p);
    int rc;
    if (!batch) {
        rc = cogmem_recall(s, qnull ? NULL : q[0], kinds, k, (b & 8) ? NULL : &p,
                           null ? NULL : out, &n[0]);
        if (b & 8) {
            cogmem_recall_params_init(&p);
            plain = 1;
            bad = qnull || (null && k > 0) || kinds == 0 || kinds > 3;
        }
    } else {
        cur_op = "recall_batch";
        int nnull;
        size_t nq = count_of(in, 2, &nnull);
        /* out + j * k must stay inside out[] for k > OUTCAP */
        if (!null && nq > 1 && k > OUTCAP)
            nq = 1;
        rc = cogmem_recall_batch(s, qnull || nnull ? NULL : qs, nq, kinds, k,
                                 (b & 8) ? NULL : &p, null ? NULL : out,
                                 nnull ? NULL : n);
        if (b & 8) {
            cogmem_recall_params_init(&p);
            plain = 1;
        }
        bad = (nq && ((qnull || nnull) || (null && k > 0))) || kinds == 0 || kinds > 3 ||
              ((b & 8) == 0 && !recall_params_ok(&p)) ||
              (nq > SIZE_MAX / sizeof(float) / m->dim);
        for (size_t j = 0; !bad && j < nq; j++)
            bad |= query_bad(q[j], m->dim, p.metric);
        RC_IN(rc, -EINVAL, -ENOMEM);
        if (rc == 0 && bad)
            FAIL("batch accepted bad arguments");
        if (rc == -EINVAL && !bad)
            FAIL("batch: -EINVAL for good arguments");
        for (size_t j = 0; rc == 0 && j < nq; j++)
            check_hits(m, q[j], kinds, k, &p, plain, out + j * k, n[j]);
        return;
    }
    RC_IN(rc, -EINVAL, -ENOMEM);
    if (!qnull)
        bad |= query_bad(q[0], m->dim, p.metric);
    if (rc == 0 && bad)
        FAIL("accepted bad arguments");
    if (rc == -EINVAL && !bad)
        FAIL("-EINVAL for good arguments");
    if (rc == 0)
        check_hits(m, q[0], kinds, k, &p, plain, out, n[0]);
    else if (n[0] != 0)
        FAIL("*n_out %zu on error", n[0]);
}

/* Statistics calls made by the current program (op_stats). */
static int stats_calls;
#define STATS_MAX 3

static void op_stats(cogmem_store *s, struct model *m, struct in *in)
{
    (void)m;
    uint8_t b = u8(in);
    /* A read of the statistics sums every counter stripe and formats
     * hundreds of lines: in the instrumented build it cost as much as the
     * rest of a program's calls together (measured: two fifths of the
     * run), and a program's fourth read reaches nothing its first three
     * did not. */
    if (++stats_calls > STATS_MAX)
        return;
    if (b & 1) {
        cur_op = "stats_get";
        static cogmem_stats st;
        st.struct_size = (b & 2) ? 8 : (b & 4) ? sizeof st : 64;
        int rc = cogmem_stats_get(s, &st);
        RC_IN(rc, -EINVAL);
        if (b & 8) {
            cur_op = "stats_reset";
            RC_IN(cogmem_stats_reset(s), -EINVAL);
        }
        return;
    }
    cur_op = "stats_format";
    static char buf[1 << 16];
    static const size_t caps[] = {0, 1, 2, 16, 100, 1 << 16};
    size_t cap = caps[u8(in) % 6];
    int fmt = (int)(u8(in) % 4);
    int null = (b & 2) != 0;
    size_t need = 0;
    memset(buf, 'x', 16);
    int rc = cogmem_stats_format(s, fmt, null ? NULL : buf, cap, (b & 4) ? NULL : &need);
    RC_IN(rc, -EINVAL, -ERANGE, -ENOMEM);
    if (rc == 0 && (null || strlen(buf) + 1 > cap))
        FAIL("wrote beyond cap or into NULL");
    if (rc == -ERANGE && !null && cap && buf[0] != 'x')
        FAIL("-ERANGE but buf was touched");
}

static void op_misc(cogmem_store *s, struct model *m, struct in *in)
{
    uint8_t b = u8(in);
    unsigned kinds = u8(in) % 5;
    switch (b % 5) {
    case 0: {
        cur_op = "reserve";
        uint64_t n = hint_of(in);
        int rc = cogmem_reserve(s, kinds, n);
        RC_IN(rc, -EINVAL, -ENOMEM);
        if ((rc == 0) != (kinds >= 1 && kinds <= 3) && rc != -ENOMEM)
            FAIL("returned %d for kinds %u", rc, kinds);
        break;
    }
    case 1: {
        cur_op = "foreach";
        int n = 0;
        int rc = cogmem_foreach(s, kinds, (b & 8) ? NULL : visit_count, &n);
        RC_IN(rc, -EINVAL);
        int want = 0;
        for (int j = 0; j < NIDS; j++)
            want += m->kind[j] && (kinds & (unsigned)m->kind[j]);
        if (rc == 0 && n != want)
            FAIL("visited %d, model %d", n, want);
        break;
    }
    case 2: {
        cur_op = "kind_of/count";
        int i = id_idx(in);
        int k = cogmem_kind_of(s, id_of(i));
        int want = i < 0 ? -EINVAL : m->kind[i] ? m->kind[i] : -ENOENT;
        if (k != want)
            FAIL("kind_of %d, model %d", k, want);
        uint64_t n;
        int rc = cogmem_count(s, kinds, (b & 8) ? NULL : &n);
        RC_IN(rc, -EINVAL);
        break;
    }
    case 3: {
        cur_op = "simd kernels, counts 0 and NULL buffers";
        float out[8], q[4] = {0}, rows[8] = {0};
        uint32_t o32[8];
        uint8_t hv[8] = {0};
        cogmem_dot_batch(NULL, NULL, 0, 4, 4, NULL);
        cogmem_dot_batch(NULL, NULL, 3, 0, 0, out);
        cogmem_cosine_batch(NULL, NULL, 3, 0, 7, NULL, 0.0f, out);
        cogmem_cosine_batch(q, rows, 2, 4, 4, NULL, 0.0f, out);
        if (out[0] != 0.0f || out[1] != 0.0f)
            FAIL("zero vectors: cosine %g %g", out[0], out[1]);
        cogmem_hv_hamming_batch(NULL, NULL, 3, 0, o32);
        cogmem_hv_hamming_batch(hv, hv, 0, 8, NULL);
        cogmem_hv_bind(NULL, NULL, 0, NULL);
        cogmem_hv_bundle(NULL, 0, 0, NULL);
        if (cogmem_topk(NULL, 0, 5, NULL, NULL) != 0)
            FAIL("topk of nothing");
        cogmem_decay_f32(NULL, 0, 0.5f);
        cogmem_prune_f32(NULL, 0, 0.5f, NULL);
        int rc = cogmem_fan_divide(NULL, NULL, 0, (cogmem_fan_mode)(u8(in) % 6), 1.0f, NULL);
        RC_IN(rc, -EINVAL);
        break;
    }
    default: {
        cur_op = "fan_out/fan_in";
        int i = id_idx(in);
        uint32_t f;
        int ep = b & 8;
        int rc = ep ? cogmem_fan_in(s, id_of(i), &f) : cogmem_fan_out(s, id_of(i), &f);
        RC_IN(rc, -EINVAL, -ENOENT);
        int want = i < 0 ? -EINVAL
                   : m->kind[i] != (ep ? COGMEM_EPISODE : COGMEM_CONCEPT) ? -ENOENT
                                                                          : 0;
        if (rc != want || (rc == 0 && f != fan_of(m, i)))
            FAIL("rc %d fan %u, model %d %u", rc, f, want, i < 0 ? 0 : fan_of(m, i));
    }
    }
}

/* -------------------------------------------------------------- the run */

static int open_store(struct in *in, cogmem_store **s, uint32_t *dim)
{
    static const uint32_t dims[] = {1, 2, 3, 4, 8, 16, 17, 0, 65537};
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    uint8_t b = u8(in);
    cfg.dim = dims[b % 9];
    uint8_t h = u8(in);
    if (h & 1)
        cfg.fan_mode = (int32_t)(u8(in) % 6) - 1;
    if (h & 2)
        cfg.actr_max_assoc = hostile_f(in);
    if (h & 4)
        cfg.actr_decay = unit_f(in);
    if (h & 8)
        cfg.actr_history = u8(in) % 40;
    if (h & 16) {
        cfg.actr_latency_factor = hostile_f(in);
        cfg.actr_noise = hostile_f(in);
        cfg.actr_threshold = hostile_f(in);
    }
    if (h & 32)
        cfg.stats = u8(in) % 5;
    if (h & 64)
        cfg.bf16_rows = 1;
    if (h & 128) {
        cfg.expected_concepts = hint_of(in);
        cfg.expected_episodes = hint_of(in);
        cfg.numa_policy = (int)(u8(in) % 5) - 1;
        cfg.concept_node = (int)(u8(in) % 4) - 2;
        cfg.episode_node = (int)(u8(in) % 4) - 2;
    }
    uint8_t z = u8(in);
    if ((z & 7) == 0)
        cfg.struct_size = z & 8 ? 4 : offsetof(cogmem_config, expected_episodes) + 8;
    struct {
        cogmem_config c;
        uint8_t tail[32];
    } big;
    memset(&big, 0xa5, sizeof big);
    big.c = cfg;
    if ((z & 7) == 1)
        big.c.struct_size = sizeof big;
    int rc = cogmem_open((z & 0xf0) == 0x10 ? NULL : &big.c, s);
    RC_IN(rc, -EINVAL, -ENOMEM, -ENODEV);
    if (rc == 0 && (cfg.dim == 0 || cfg.dim > COGMEM_MAX_DIM))
        FAIL("opened a store of dim %u", cfg.dim);
    *dim = cfg.dim;
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct in in = {data, size};
    cogmem_store *s = NULL;
    static struct model m;
    memset(&m, 0, sizeof m);
    stats_calls = 0;
    cur_op = "open";
    if (open_store(&in, &s, &m.dim))
        return 0;
    for (int op = 0; op < MAX_OPS && in.n; op++) {
        uint8_t o = u8(&in);
        touched = 0;
        /* An injected allocation failure for this one call. */
        int armed = (o & 0xe0) == 0xe0;
        armed_now = armed;
        if (armed)
            cogmem__mem_fail_nth(1 + u8(&in) % 6);
        switch (o % 19) {
        case 0: op_add(s, &m, &in, 0); break;
        case 1: op_add(s, &m, &in, 1); break;
        case 2: op_set_centroid(s, &m, &in); break;
        case 3: op_blend(s, &m, &in); break;
        case 4: op_remove(s, &m, &in, 0); break;
        case 5: op_remove(s, &m, &in, 1); break;
        case 6: op_info(s, &m, &in); break;
        case 7: op_info_batch(s, &m, &in); break;
        case 8: op_vec(s, &m, &in); break;
        case 9: case 10: op_bind(s, &m, &in); break;
        case 11: op_adjust(s, &m, &in); break;
        case 12: op_unbind(s, &m, &in); break;
        case 13: op_list(s, &m, &in); break;
        case 14: op_decay(s, &m, &in); break;
        case 15: op_spread(s, &m, &in); break;
        case 16: op_touch_actr(s, &m, &in); break;
        case 17: op_recall(s, &m, &in); break;
        default:
            if (o & 16)
                op_stats(s, &m, &in);
            else
                op_misc(s, &m, &in);
        }
        cogmem__mem_fail_nth(0);
        /* After every call, the counts and what the call named (its ids'
         * nodes, vectors, fans, bindings): what a call, failed or not, may
         * change. Every FULL_EVERY calls, and at the end, the whole store,
         * which also catches a call that changed what it did not name.
         * Measured: the whole store after every call was a fifth of the
         * run once opening and closing stores got cheap. */
        if (op % FULL_EVERY == FULL_EVERY - 1)
            check_all(s, &m);
        else
            check_ids(s, &m, touched);
    }
    cur_op = "final check";
    check_all(s, &m);
    cur_op = "close";
    int rc = cogmem_close(&s);
    if (m.nheld) {
        if (rc != -EBUSY || !s)
            FAIL("close with %d references held: %d", m.nheld, rc);
        while (m.nheld)
            cogmem_vec_put(m.held[--m.nheld]);
        rc = cogmem_close(&s);
    }
    if (rc != 0 || s)
        FAIL("close: %d", rc);
    return 0;
}
