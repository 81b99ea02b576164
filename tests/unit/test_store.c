/* cogmem — unit tests of the store API: every public function, every bad
 * input, and the promise that a failed call changes nothing. */
#include <errno.h>
#include <math.h>
#include <stdalign.h>
#include <string.h>

#include "numa/mem.h"
#include "unit/util.h"

#define DIM 19 /* odd on purpose: no code may assume a multiple of 16 */

static void test_version_and_strerror(void **state)
{
    (void)state;
    assert_string_equal(cogmem_version(), "0.1.0");
    assert_string_equal(cogmem_strerror(0), "success");
    assert_string_equal(cogmem_strerror(-ENOENT), "no such id");
    assert_string_equal(cogmem_strerror(-EEXIST), "id already exists");
    assert_string_equal(cogmem_strerror(-EINVAL), "invalid argument");
    assert_string_equal(cogmem_strerror(-ENOMEM), "out of memory");
    assert_string_equal(cogmem_strerror(-ERANGE), "result out of range");
    assert_string_equal(cogmem_strerror(-EBUSY), "vector references still held");
    assert_string_equal(cogmem_strerror(12345), "unknown error");
}

static void test_open_bad_config(void **state)
{
    (void)state;
    cogmem_config cfg;
    cogmem_store *s = (cogmem_store *)0x1;
    cogmem_config_init(&cfg);
    assert_int_equal(cfg.struct_size, sizeof cfg);
    assert_int_equal(cfg.dim, 0);
    assert_int_equal(cogmem_open(&cfg, &s), -EINVAL); /* dim 0 */
    cfg.dim = COGMEM_MAX_DIM + 1;
    assert_int_equal(cogmem_open(&cfg, &s), -EINVAL);
    cfg.dim = 4;
    cfg.struct_size = 8;
    assert_int_equal(cogmem_open(&cfg, &s), -EINVAL);
    cfg.struct_size = sizeof cfg;
    assert_int_equal(cogmem_open(NULL, &s), -EINVAL);
    assert_int_equal(cogmem_open(&cfg, NULL), -EINVAL);
    assert_ptr_equal(s, (cogmem_store *)0x1); /* untouched on error */
    cfg.dim = COGMEM_MAX_DIM;
    s = NULL;
    assert_int_equal(cogmem_open(&cfg, &s), 0);
    assert_int_equal(cogmem_dim(s), COGMEM_MAX_DIM);
    test_close(&s);
    assert_int_equal(cogmem_close(&s), 0); /* NULL store: no-op */
    assert_int_equal(cogmem_close(NULL), -EINVAL);
}

static void test_concept_lifecycle(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    float v[DIM], w[DIM];
    fill(v, DIM, 1.0f);
    fill(w, DIM, 3.0f);

    assert_int_equal(cogmem_concept_add(s, 42, v), 0);
    assert_int_equal(cogmem_kind_of(s, 42), COGMEM_CONCEPT);
    assert_int_equal(cogmem_concept_add(s, 42, w), -EEXIST);

    struct cogmem_concept_info ci;
    assert_int_equal(cogmem_concept_info(s, 42, &ci), 0);
    assert_int_equal(ci.id, 42);
    assert_int_equal(ci.fan_out, 0);
    assert_int_equal(ci.binding_version, 0);
    assert_int_equal(ci.centroid_version, 1);
    assert_float_equal(ci.norm, sqrtf((float)DIM), 1e-5);
    assert_true(ci.created_ns > 0 && ci.touched_ns >= ci.created_ns);

    assert_int_equal(cogmem_concept_set_centroid(s, 42, w), 0);
    assert_int_equal(cogmem_concept_info(s, 42, &ci), 0);
    assert_int_equal(ci.centroid_version, 2);
    assert_float_equal(ci.norm, 3.0f * sqrtf((float)DIM), 1e-4);

    /* centroid <- 0.75 * 3 + 0.25 * 1 = 2.5 */
    assert_int_equal(cogmem_concept_blend(s, 42, v, 0.25f), 0);
    const cogmem_vec *vec;
    assert_int_equal(cogmem_vec_get(s, 42, &vec), 0);
    for (int i = 0; i < DIM; i++)
        assert_float_equal(cogmem_vec_data(vec)[i], 2.5f, 1e-6);
    assert_int_equal(cogmem_vec_dim(vec), DIM);
    assert_int_equal(cogmem_vec_id(vec), 42);
    assert_float_equal(cogmem_vec_norm(vec), 2.5f * sqrtf((float)DIM), 1e-4);
    assert_int_equal(((uintptr_t)cogmem_vec_data(vec)) % 64, 0);
    cogmem_vec_put(vec);
    assert_int_equal(cogmem_concept_info(s, 42, &ci), 0);
    assert_int_equal(ci.centroid_version, 3);

    /* rate 0 and 1 are the ends of the allowed range */
    assert_int_equal(cogmem_concept_blend(s, 42, v, 1.0f), 0);
    assert_int_equal(cogmem_vec_get(s, 42, &vec), 0);
    assert_float_equal(cogmem_vec_data(vec)[DIM - 1], 1.0f, 0);
    cogmem_vec_put(vec);
    assert_int_equal(cogmem_concept_blend(s, 42, w, 0.0f), 0);

    uint64_t n;
    assert_int_equal(cogmem_count(s, COGMEM_CONCEPT, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(cogmem_concept_remove(s, 42), 0);
    assert_int_equal(cogmem_concept_remove(s, 42), -ENOENT);
    assert_int_equal(cogmem_kind_of(s, 42), -ENOENT);
    assert_int_equal(cogmem_concept_info(s, 42, &ci), -ENOENT);
    assert_int_equal(cogmem_concept_set_centroid(s, 42, v), -ENOENT);
    assert_int_equal(cogmem_concept_blend(s, 42, v, 0.5f), -ENOENT);
    assert_int_equal(cogmem_vec_get(s, 42, &vec), -ENOENT);
    assert_int_equal(cogmem_count(s, COGMEM_ALL_KINDS, &n), 0);
    assert_int_equal(n, 0);
    /* an id is reusable after removal, in either kind */
    assert_int_equal(cogmem_episode_add(s, 42, v, 7), 0);
    assert_int_equal(cogmem_kind_of(s, 42), COGMEM_EPISODE);
    test_close(&s);
}

static void test_episode_lifecycle(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    float v[DIM];
    fill(v, DIM, -2.0f);
    assert_int_equal(cogmem_episode_add(s, 7, v, 123456789), 0);
    assert_int_equal(cogmem_episode_add(s, 7, v, 1), -EEXIST);
    assert_int_equal(cogmem_kind_of(s, 7), COGMEM_EPISODE);
    struct cogmem_episode_info ei;
    assert_int_equal(cogmem_episode_info(s, 7, &ei), 0);
    assert_int_equal(ei.id, 7);
    assert_int_equal(ei.time_ns, 123456789);
    assert_int_equal(ei.fan_in, 0);
    assert_float_equal(ei.strength, 1.0f, 0);
    assert_float_equal(ei.activation, 0.0f, 0);
    assert_float_equal(ei.norm, 2.0f * sqrtf((float)DIM), 1e-4);
    /* kinds do not mix */
    struct cogmem_concept_info ci;
    assert_int_equal(cogmem_concept_info(s, 7, &ci), -ENOENT);
    assert_int_equal(cogmem_concept_remove(s, 7), -ENOENT);
    assert_int_equal(cogmem_concept_set_centroid(s, 7, v), -ENOENT);
    assert_int_equal(cogmem_concept_add(s, 7, v), -EEXIST);
    const cogmem_vec *vec;
    assert_int_equal(cogmem_vec_get(s, 7, &vec), 0);
    assert_float_equal(cogmem_vec_data(vec)[0], -2.0f, 0);
    cogmem_vec_put(vec);
    uint64_t n;
    assert_int_equal(cogmem_count(s, COGMEM_EPISODE, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(cogmem_count(s, COGMEM_CONCEPT, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(cogmem_episode_remove(s, 7), 0);
    assert_int_equal(cogmem_episode_remove(s, 7), -ENOENT);
    assert_int_equal(cogmem_episode_info(s, 7, &ei), -ENOENT);
    test_close(&s);
}

static void test_bad_input(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    float ok[DIM], bad[DIM], zero[DIM], huge[DIM];
    fill(ok, DIM, 0.5f);
    fill(zero, DIM, 0.0f);
    fill(huge, DIM, 3e38f);
    const cogmem_vec *vec;
    struct cogmem_concept_info ci;
    struct cogmem_episode_info ei;
    uint64_t n;

    /* NULL store everywhere */
    assert_int_equal(cogmem_concept_add(NULL, 1, ok), -EINVAL);
    assert_int_equal(cogmem_concept_set_centroid(NULL, 1, ok), -EINVAL);
    assert_int_equal(cogmem_concept_blend(NULL, 1, ok, 0.5f), -EINVAL);
    assert_int_equal(cogmem_concept_info(NULL, 1, &ci), -EINVAL);
    assert_int_equal(cogmem_concept_remove(NULL, 1), -EINVAL);
    assert_int_equal(cogmem_episode_add(NULL, 1, ok, 0), -EINVAL);
    assert_int_equal(cogmem_episode_info(NULL, 1, &ei), -EINVAL);
    assert_int_equal(cogmem_episode_remove(NULL, 1), -EINVAL);
    assert_int_equal(cogmem_vec_get(NULL, 1, &vec), -EINVAL);
    assert_int_equal(cogmem_kind_of(NULL, 1), -EINVAL);
    assert_int_equal(cogmem_count(NULL, COGMEM_CONCEPT, &n), -EINVAL);
    assert_int_equal(cogmem_reserve(NULL, COGMEM_CONCEPT, 10), -EINVAL);
    assert_int_equal(cogmem_concept_info_batch(NULL, NULL, 0, NULL, NULL), -EINVAL);
    assert_int_equal(cogmem_dim(NULL), 0);

    /* id 0 is reserved */
    assert_int_equal(cogmem_concept_add(s, 0, ok), -EINVAL);
    assert_int_equal(cogmem_episode_add(s, 0, ok, 0), -EINVAL);
    assert_int_equal(cogmem_kind_of(s, 0), -EINVAL);
    assert_int_equal(cogmem_vec_get(s, 0, &vec), -EINVAL);
    assert_int_equal(cogmem_concept_info(s, 0, &ci), -EINVAL);
    assert_int_equal(cogmem_concept_remove(s, 0), -EINVAL);
    assert_int_equal(cogmem_episode_remove(s, 0), -EINVAL);

    /* NULL vectors and out-pointers */
    assert_int_equal(cogmem_concept_add(s, 1, NULL), -EINVAL);
    assert_int_equal(cogmem_episode_add(s, 1, NULL, 0), -EINVAL);
    assert_int_equal(cogmem_concept_info(s, 1, NULL), -EINVAL);
    assert_int_equal(cogmem_episode_info(s, 1, NULL), -EINVAL);
    assert_int_equal(cogmem_vec_get(s, 1, NULL), -EINVAL);
    assert_int_equal(cogmem_count(s, COGMEM_CONCEPT, NULL), -EINVAL);

    /* NaN, +Inf, -Inf anywhere, zero vectors, norms beyond float */
    const float poison[] = {NAN, INFINITY, -INFINITY};
    for (int p = 0; p < 3; p++) {
        for (int at = 0; at < DIM; at += DIM - 1) {
            fill(bad, DIM, 1.0f);
            bad[at] = poison[p];
            assert_int_equal(cogmem_concept_add(s, 1, bad), -EINVAL);
            assert_int_equal(cogmem_episode_add(s, 1, bad, 0), -EINVAL);
        }
    }
    assert_int_equal(cogmem_concept_add(s, 1, zero), -EINVAL);
    assert_int_equal(cogmem_episode_add(s, 1, zero, 0), -EINVAL);
    assert_int_equal(cogmem_concept_add(s, 1, huge), -ERANGE);
    assert_int_equal(cogmem_count(s, COGMEM_ALL_KINDS, &n), 0);
    assert_int_equal(n, 0); /* nothing was added by any failed call */

    /* bad kinds masks */
    assert_int_equal(cogmem_count(s, 0, &n), -EINVAL);
    assert_int_equal(cogmem_count(s, 4, &n), -EINVAL);
    assert_int_equal(cogmem_reserve(s, 0, 10), -EINVAL);

    /* replacement and blend reject bad input and leave the centroid */
    assert_int_equal(cogmem_concept_add(s, 5, ok), 0);
    fill(bad, DIM, 1.0f);
    bad[3] = NAN;
    assert_int_equal(cogmem_concept_set_centroid(s, 5, bad), -EINVAL);
    assert_int_equal(cogmem_concept_set_centroid(s, 5, zero), -EINVAL);
    assert_int_equal(cogmem_concept_set_centroid(s, 5, NULL), -EINVAL);
    assert_int_equal(cogmem_concept_blend(s, 5, bad, 0.5f), -EINVAL);
    assert_int_equal(cogmem_concept_blend(s, 5, ok, -0.1f), -EINVAL);
    assert_int_equal(cogmem_concept_blend(s, 5, ok, 1.1f), -EINVAL);
    assert_int_equal(cogmem_concept_blend(s, 5, ok, NAN), -EINVAL);
    assert_int_equal(cogmem_concept_blend(s, 5, NULL, 0.5f), -EINVAL);
    /* a blend whose result is zero is refused: 0.5*0.5 + 0.5*(-0.5) */
    float neg[DIM];
    fill(neg, DIM, -0.5f);
    assert_int_equal(cogmem_concept_blend(s, 5, neg, 0.5f), -ERANGE);
    /* and one whose result overflows */
    assert_int_equal(cogmem_concept_set_centroid(s, 5, huge), -ERANGE);
    assert_int_equal(cogmem_concept_info(s, 5, &ci), 0);
    assert_int_equal(ci.centroid_version, 1);
    assert_int_equal(cogmem_vec_get(s, 5, &vec), 0);
    assert_memory_equal(cogmem_vec_data(vec), ok, sizeof ok);
    cogmem_vec_put(vec);
    cogmem_vec_put(NULL); /* ignored */
    test_close(&s);
}

static void test_enomem_changes_nothing(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    float v[DIM];
    fill(v, DIM, 1.0f);
    uint64_t n;
    /* Each add allocates a vector then a record: fail each in turn. */
    for (long k = 1; k <= 2; k++) {
        cogmem__mem_fail_nth(k);
        assert_int_equal(cogmem_concept_add(s, 9, v), -ENOMEM);
        cogmem__mem_fail_nth(k);
        assert_int_equal(cogmem_episode_add(s, 9, v, 1), -ENOMEM);
        cogmem__mem_fail_nth(0);
        assert_int_equal(cogmem_kind_of(s, 9), -ENOENT);
        assert_int_equal(cogmem_count(s, COGMEM_ALL_KINDS, &n), 0);
        assert_int_equal(n, 0);
    }
    assert_int_equal(cogmem_concept_add(s, 9, v), 0);
    float w[DIM];
    fill(w, DIM, 2.0f);
    cogmem__mem_fail_nth(1);
    assert_int_equal(cogmem_concept_set_centroid(s, 9, w), -ENOMEM);
    cogmem__mem_fail_nth(1);
    assert_int_equal(cogmem_concept_blend(s, 9, w, 0.5f), -ENOMEM);
    cogmem__mem_fail_nth(0);
    const cogmem_vec *vec;
    assert_int_equal(cogmem_vec_get(s, 9, &vec), 0);
    assert_memory_equal(cogmem_vec_data(vec), v, sizeof v);
    cogmem_vec_put(vec);
    struct cogmem_concept_info ci;
    assert_int_equal(cogmem_concept_info(s, 9, &ci), 0);
    assert_int_equal(ci.centroid_version, 1);
    /* remove never allocates */
    cogmem__mem_fail_nth(1);
    assert_int_equal(cogmem_concept_remove(s, 9), 0);
    cogmem__mem_fail_nth(0);
    test_close(&s);

    /* open: the store object, then its tables */
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = 4;
    cogmem__mem_fail_nth(1);
    assert_int_equal(cogmem_open(&cfg, &s), -ENOMEM);
    cogmem__mem_fail_nth(0);
    assert_null(s);
}

static void test_vec_survives_replace_and_remove(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    float a[DIM], b[DIM];
    fill(a, DIM, 1.0f);
    fill(b, DIM, 2.0f);
    assert_int_equal(cogmem_concept_add(s, 3, a), 0);
    const cogmem_vec *old, *old2, *cur;
    assert_int_equal(cogmem_vec_get(s, 3, &old), 0);
    assert_int_equal(cogmem_vec_get(s, 3, &old2), 0);
    assert_ptr_equal(old, old2); /* zero-copy: the same vector */
    assert_int_equal(cogmem_concept_set_centroid(s, 3, b), 0);
    assert_int_equal(cogmem_vec_get(s, 3, &cur), 0);
    assert_ptr_not_equal(old, cur);
    assert_int_equal(cogmem_concept_remove(s, 3), 0);
    /* both still readable and unchanged after replacement and removal */
    assert_memory_equal(cogmem_vec_data(old), a, sizeof a);
    assert_memory_equal(cogmem_vec_data(cur), b, sizeof b);
    /* close refuses while references are held, and stays usable */
    assert_int_equal(cogmem_close(&s), -EBUSY);
    assert_non_null(s);
    assert_int_equal(cogmem_concept_add(s, 4, a), 0);
    cogmem_vec_put(old);
    cogmem_vec_put(old2);
    assert_int_equal(cogmem_close(&s), -EBUSY);
    cogmem_vec_put(cur);
    test_close(&s);
}

struct seen {
    uint64_t concepts, episodes, sum;
    int stop_after;
};

static int visit(uint64_t id, enum cogmem_kind kind, void *arg)
{
    struct seen *s = arg;
    if (kind == COGMEM_CONCEPT)
        s->concepts++;
    else
        s->episodes++;
    s->sum += id;
    if (s->stop_after && (int)(s->concepts + s->episodes) == s->stop_after)
        return 77;
    return 0;
}

static cogmem_store *g_store;

/* A callback may call back into the store (here: remove what it visits). */
static int remove_visited(uint64_t id, enum cogmem_kind kind, void *arg)
{
    (void)arg;
    assert_int_equal(cogmem_reserve(g_store, COGMEM_CONCEPT, 1000), -EDEADLK);
    assert_int_equal(cogmem_close(&g_store), -EDEADLK);
    return kind == COGMEM_CONCEPT ? cogmem_concept_remove(g_store, id)
                                  : cogmem_episode_remove(g_store, id);
}

static void test_foreach_and_count(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    float v[DIM];
    fill(v, DIM, 1.0f);
    uint64_t want_sum = 0;
    for (uint64_t id = 1; id <= 300; id++) {
        if (id % 3 == 0)
            assert_int_equal(cogmem_episode_add(s, id, v, id), 0);
        else
            assert_int_equal(cogmem_concept_add(s, id, v), 0);
        want_sum += id;
    }
    struct seen seen = {0};
    assert_int_equal(cogmem_foreach(s, COGMEM_ALL_KINDS, visit, &seen), 0);
    assert_int_equal(seen.concepts, 200);
    assert_int_equal(seen.episodes, 100);
    assert_int_equal(seen.sum, want_sum);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(cogmem_foreach(s, COGMEM_EPISODE, visit, &seen), 0);
    assert_int_equal(seen.concepts, 0);
    assert_int_equal(seen.episodes, 100);
    memset(&seen, 0, sizeof seen);
    seen.stop_after = 10;
    assert_int_equal(cogmem_foreach(s, COGMEM_ALL_KINDS, visit, &seen), 77);
    assert_int_equal(seen.concepts + seen.episodes, 10);
    assert_int_equal(cogmem_foreach(s, COGMEM_ALL_KINDS, NULL, NULL), -EINVAL);
    assert_int_equal(cogmem_foreach(s, 0, visit, &seen), -EINVAL);
    assert_int_equal(cogmem_foreach(NULL, COGMEM_CONCEPT, visit, &seen), -EINVAL);
    uint64_t n;
    assert_int_equal(cogmem_count(s, COGMEM_ALL_KINDS, &n), 0);
    assert_int_equal(n, 300);

    g_store = s;
    assert_int_equal(cogmem_foreach(s, COGMEM_ALL_KINDS, remove_visited, NULL), 0);
    assert_int_equal(cogmem_count(s, COGMEM_ALL_KINDS, &n), 0);
    assert_int_equal(n, 0);
    test_close(&s);
}

static void test_info_batch(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    float v[DIM];
    fill(v, DIM, 1.0f);
    for (uint64_t id = 1; id <= 100; id++)
        assert_int_equal(cogmem_concept_add(s, id * 1000, v), 0);
    assert_int_equal(cogmem_episode_add(s, 5, v, 1), 0);
    /* 37 ids: two full groups and a tail; some missing, 0, an episode */
    uint64_t ids[37];
    struct cogmem_concept_info out[37];
    size_t want = 0;
    for (int i = 0; i < 37; i++) {
        ids[i] = (i % 4 == 3) ? (uint64_t)i * 1000 + 1 : (uint64_t)(i + 1) * 1000;
        want += (i % 4 != 3);
    }
    ids[5] = 0;
    ids[6] = 5;
    want -= 2;
    memset(out, 0xff, sizeof out);
    size_t found = 999;
    assert_int_equal(cogmem_concept_info_batch(s, ids, 37, out, &found), 0);
    assert_int_equal(found, want);
    for (int i = 0; i < 37; i++) {
        struct cogmem_concept_info one;
        int rc = ids[i] ? cogmem_concept_info(s, ids[i], &one) : -EINVAL;
        if (rc == 0) {
            assert_int_equal(out[i].id, ids[i]);
            assert_int_equal(out[i].centroid_version, one.centroid_version);
            assert_int_equal(out[i].created_ns, one.created_ns);
        } else {
            assert_int_equal(out[i].id, 0);
            assert_int_equal(out[i].norm, 0);
        }
    }
    assert_int_equal(cogmem_concept_info_batch(s, ids, 0, NULL, NULL), 0);
    assert_int_equal(cogmem_concept_info_batch(s, NULL, 3, out, NULL), -EINVAL);
    assert_int_equal(cogmem_concept_info_batch(s, ids, 3, NULL, NULL), -EINVAL);
    test_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_and_strerror),
        cmocka_unit_test(test_open_bad_config),
        cmocka_unit_test(test_concept_lifecycle),
        cmocka_unit_test(test_episode_lifecycle),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_enomem_changes_nothing),
        cmocka_unit_test(test_vec_survives_replace_and_remove),
        cmocka_unit_test(test_foreach_and_count),
        cmocka_unit_test(test_info_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
