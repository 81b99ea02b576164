/* cogmem tests — bindings: bind, adjust, get, unbind, fan-out, listings,
 * removal hooks and allocation failures. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "numa/mem.h"
#include "src/bind.h"
#include "unit/util.h"

#define DIM 8

static void add_c(cogmem_store *s, uint64_t id) { test_add_concept(s, id, DIM, (float)id); }

static void add_e(cogmem_store *s, uint64_t id) { test_add_episode(s, id, DIM, (float)id); }

static uint32_t fan_out(cogmem_store *s, uint64_t c)
{
    uint32_t f = 0xdead;
    assert_int_equal(cogmem_fan_out(s, c, &f), 0);
    return f;
}

static uint32_t fan_in(cogmem_store *s, uint64_t e)
{
    uint32_t f = 0xdead;
    assert_int_equal(cogmem_fan_in(s, e, &f), 0);
    return f;
}

static uint64_t nbind(cogmem_store *s)
{
    uint64_t n = 0;
    assert_int_equal(cogmem_binding_count(s, &n), 0);
    return n;
}

static void test_bind_basics(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    add_c(s, 1);
    add_e(s, 100);
    add_e(s, 101);
    struct cogmem_concept_info ci;
    assert_int_equal(cogmem_concept_info(s, 1, &ci), 0);
    uint32_t v0 = ci.binding_version;

    assert_int_equal(cogmem_bind(s, 100, 1, 0.5f), 0);
    assert_int_equal(cogmem_bind(s, 100, 1, 0.5f), -EEXIST);
    assert_int_equal(cogmem_bind(s, 101, 1, 1.0f), 0);
    assert_int_equal(fan_out(s, 1), 2);
    assert_int_equal(fan_in(s, 100), 1);
    assert_int_equal(nbind(s), 2);
    assert_int_equal(cogmem_concept_info(s, 1, &ci), 0);
    assert_int_equal(ci.fan_out, 2);
    assert_int_equal(ci.binding_version, v0 + 2);
    struct cogmem_episode_info ei;
    assert_int_equal(cogmem_episode_info(s, 100, &ei), 0);
    assert_int_equal(ei.fan_in, 1);

    float x = -1;
    assert_int_equal(cogmem_binding_get(s, 100, 1, &x), 0);
    assert_true(x == 0.5f);
    assert_int_equal(cogmem_binding_adjust(s, 100, 1, 0.25f, &x), 0);
    assert_true(x == 0.75f);
    assert_int_equal(cogmem_binding_adjust(s, 100, 1, 5.0f, &x), 0);
    assert_true(x == 1.0f);
    assert_int_equal(cogmem_binding_adjust(s, 100, 1, -7.0f, NULL), 0);
    assert_int_equal(cogmem_binding_get(s, 100, 1, &x), 0);
    assert_true(x == 0.0f);

    struct cogmem_binding_info bi;
    assert_int_equal(cogmem_binding_info(s, 101, 1, &bi), 0);
    assert_true(bi.strength == 1.0f);
    assert_int_equal(bi.episode, 101);
    assert_int_equal(bi.concept, 1);
    assert_true(bi.created_ns > 0 && bi.touched_ns >= bi.created_ns &&
                bi.decayed_ns == bi.touched_ns);

    assert_int_equal(cogmem_unbind(s, 100, 1), 0);
    assert_int_equal(cogmem_unbind(s, 100, 1), -ENOENT);
    assert_int_equal(cogmem_binding_get(s, 100, 1, &x), -ENOENT);
    assert_int_equal(fan_out(s, 1), 1);
    assert_int_equal(fan_in(s, 100), 0);
    assert_int_equal(nbind(s), 1);
    /* bind again after unbind */
    assert_int_equal(cogmem_bind(s, 100, 1, 0.125f), 0);
    assert_int_equal(cogmem_binding_get(s, 100, 1, &x), 0);
    assert_true(x == 0.125f);
    test_close(&s);
}

static void test_bind_errors(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    add_c(s, 1);
    add_e(s, 100);
    float x;
    uint32_t f;
    size_t n;
    uint64_t ids[4];
    assert_int_equal(cogmem_bind(NULL, 100, 1, 0.5f), -EINVAL);
    assert_int_equal(cogmem_bind(s, 0, 1, 0.5f), -EINVAL);
    assert_int_equal(cogmem_bind(s, 100, 0, 0.5f), -EINVAL);
    assert_int_equal(cogmem_bind(s, 100, 1, -0.01f), -EINVAL);
    assert_int_equal(cogmem_bind(s, 100, 1, 1.01f), -EINVAL);
    assert_int_equal(cogmem_bind(s, 100, 1, NAN), -EINVAL);
    assert_int_equal(cogmem_bind(s, 100, 1, INFINITY), -EINVAL);
    assert_int_equal(cogmem_bind(s, 100, 2, 0.5f), -ENOENT);  /* no concept */
    assert_int_equal(cogmem_bind(s, 102, 1, 0.5f), -ENOENT);  /* no episode */
    assert_int_equal(cogmem_bind(s, 1, 100, 0.5f), -ENOENT);  /* kinds swapped */
    assert_int_equal(cogmem_bind(s, 1, 1, 0.5f), -ENOENT);
    assert_int_equal(nbind(s), 0);
    assert_int_equal(cogmem_bind(s, 100, 1, 0.5f), 0);
    assert_int_equal(cogmem_binding_adjust(s, 100, 1, NAN, &x), -EINVAL);
    assert_int_equal(cogmem_binding_adjust(s, 100, 1, INFINITY, &x), -EINVAL);
    assert_int_equal(cogmem_binding_adjust(s, 0, 1, 0.1f, &x), -EINVAL);
    assert_int_equal(cogmem_binding_adjust(s, 101, 1, 0.1f, &x), -ENOENT);
    assert_int_equal(cogmem_binding_adjust(s, 100, 2, 0.1f, &x), -ENOENT);
    assert_int_equal(cogmem_binding_get(s, 100, 1, NULL), -EINVAL);
    assert_int_equal(cogmem_binding_get(s, 101, 1, &x), -ENOENT);
    assert_int_equal(cogmem_binding_info(s, 100, 1, NULL), -EINVAL);
    assert_int_equal(cogmem_unbind(s, 0, 1), -EINVAL);
    assert_int_equal(cogmem_unbind(s, 100, 2), -ENOENT);
    assert_int_equal(cogmem_fan_out(s, 1, NULL), -EINVAL);
    assert_int_equal(cogmem_fan_out(s, 100, &f), -ENOENT); /* an episode */
    assert_int_equal(cogmem_fan_in(s, 1, &f), -ENOENT);    /* a concept */
    assert_int_equal(cogmem_fan_out(s, 0, &f), -EINVAL);
    assert_int_equal(cogmem_concept_episodes(s, 1, NULL, NULL, 1, &n), -EINVAL);
    assert_int_equal(cogmem_concept_episodes(s, 1, ids, NULL, 4, NULL), -EINVAL);
    assert_int_equal(cogmem_concept_episodes(s, 100, ids, NULL, 4, &n), -ENOENT);
    assert_int_equal(cogmem_episode_concepts(s, 1, ids, NULL, 4, &n), -ENOENT);
    assert_int_equal(cogmem_binding_count(s, NULL), -EINVAL);
    /* nothing changed by the failures */
    assert_int_equal(cogmem_binding_get(s, 100, 1, &x), 0);
    assert_true(x == 0.5f);
    assert_int_equal(fan_out(s, 1), 1);
    assert_int_equal(nbind(s), 1);
    test_close(&s);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Many bindings on one concept (the hash index path), removed in a
 * scattered order: listings and lookups stay right at every step. */
static void test_listing_and_index(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    enum { N = 300 };
    add_c(s, 1);
    add_c(s, 2);
    for (uint64_t e = 1000; e < 1000 + N; e++) {
        add_e(s, e);
        assert_int_equal(cogmem_bind(s, e, 1, (float)(e % 100) / 100.0f), 0);
        if (e % 3 == 0)
            assert_int_equal(cogmem_bind(s, e, 2, 0.5f), 0);
    }
    assert_int_equal(fan_out(s, 1), N);
    assert_int_equal(fan_out(s, 2), 100);
    uint64_t ids[N];
    float str[N];
    size_t n = 0;
    /* too small: total reported, cap entries written */
    assert_int_equal(cogmem_concept_episodes(s, 1, ids, str, 5, &n), 0);
    assert_int_equal(n, N);
    assert_int_equal(cogmem_concept_episodes(s, 1, NULL, NULL, 0, &n), 0);
    assert_int_equal(n, N);
    /* remove every other one in a scattered order */
    int gone[N] = {0};
    for (unsigned k = 0; k < N; k++) {
        unsigned i = (k * 7919u) % N;
        if (i % 2)
            continue;
        assert_int_equal(cogmem_unbind(s, 1000 + i, 1), 0);
        gone[i] = 1;
        float x;
        for (unsigned j = 0; j < N; j += 13)
            assert_int_equal(cogmem_binding_get(s, 1000 + j, 1, &x),
                             gone[j] ? -ENOENT : 0);
    }
    assert_int_equal(fan_out(s, 1), N / 2);
    assert_int_equal(cogmem_concept_episodes(s, 1, ids, str, N, &n), 0);
    assert_int_equal(n, N / 2);
    qsort(ids, n, sizeof ids[0], cmp_u64);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ids[i], 1000 + 2 * i + 1);
    for (size_t i = 0; i < n; i++) {
        float x;
        assert_int_equal(cogmem_binding_get(s, ids[i], 1, &x), 0);
        assert_true(x == (float)(ids[i] % 100) / 100.0f);
    }
    /* an episode's concepts with strengths */
    assert_int_equal(cogmem_episode_concepts(s, 1005, ids, str, N, &n), 0);
    assert_int_equal(n, 2);
    qsort(ids, n, sizeof ids[0], cmp_u64);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 2);
    assert_int_equal(fan_in(s, 1005), 2);
    assert_int_equal(fan_in(s, 1004), 0);
    assert_int_equal(nbind(s), N / 2 + 100);
    test_close(&s);
}

static void test_remove_unbinds(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    for (uint64_t c = 1; c <= 3; c++)
        add_c(s, c);
    for (uint64_t e = 10; e < 20; e++) {
        add_e(s, e);
        for (uint64_t c = 1; c <= 3; c++)
            assert_int_equal(cogmem_bind(s, e, c, 0.5f), 0);
    }
    assert_int_equal(nbind(s), 30);
    /* an episode goes: every concept loses one */
    assert_int_equal(cogmem_episode_remove(s, 10), 0);
    for (uint64_t c = 1; c <= 3; c++)
        assert_int_equal(fan_out(s, c), 9);
    assert_int_equal(nbind(s), 27);
    /* a concept goes: every episode loses one */
    assert_int_equal(cogmem_concept_remove(s, 2), 0);
    for (uint64_t e = 11; e < 20; e++)
        assert_int_equal(fan_in(s, e), 2);
    assert_int_equal(nbind(s), 18);
    float x;
    assert_int_equal(cogmem_binding_get(s, 11, 2, &x), -ENOENT);
    /* the ids come back as fresh nodes without bindings */
    add_c(s, 2);
    add_e(s, 10);
    assert_int_equal(fan_out(s, 2), 0);
    assert_int_equal(fan_in(s, 10), 0);
    assert_int_equal(cogmem_binding_get(s, 10, 1, &x), -ENOENT);
    assert_int_equal(cogmem_bind(s, 10, 2, 0.5f), 0);
    uint64_t ids[8];
    size_t n;
    assert_int_equal(cogmem_episode_concepts(s, 11, ids, NULL, 8, &n), 0);
    assert_int_equal(n, 2);
    test_close(&s);
}

/* Every allocation a bind makes, failed in turn: -ENOMEM, nothing changes,
 * and a retry succeeds. */
static void test_bind_enomem(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    add_c(s, 1);
    for (uint64_t e = 10; e < 60; e++)
        add_e(s, e);
    for (uint64_t e = 10; e < 60; e++) {
        for (long k = 1;; k++) {
            cogmem__mem_fail_nth(k);
            int rc = cogmem_bind(s, e, 1, 0.5f);
            cogmem__mem_fail_nth(0);
            if (rc == 0)
                break;
            assert_int_equal(rc, -ENOMEM);
            float x;
            assert_int_equal(cogmem_binding_get(s, e, 1, &x), -ENOENT);
            assert_int_equal(fan_out(s, 1), e - 10);
            assert_int_equal(fan_in(s, e), 0);
        }
    }
    assert_int_equal(fan_out(s, 1), 50);
    assert_int_equal(nbind(s), 50);
    test_close(&s);
}

/* Threads adjust one binding; none of their deltas is lost. */
enum { ADJ_THREADS = 4, ADJ_ROUNDS = 20000 };
static cogmem_store *adj_store;

static void *adjuster(void *arg)
{
    float d = *(float *)arg;
    for (int i = 0; i < ADJ_ROUNDS; i++)
        if (cogmem_binding_adjust(adj_store, 100, 1, d, NULL) != 0)
            return (void *)1;
    return NULL;
}

static void test_adjust_no_lost_update(void **state)
{
    (void)state;
    adj_store = test_open(DIM);
    add_c(adj_store, 1);
    add_e(adj_store, 100);
    assert_int_equal(cogmem_bind(adj_store, 100, 1, 0.0f), 0);
    /* 2^-20 steps: every partial sum is exact in float and stays < 1 */
    float d = 1.0f / 1048576.0f;
    pthread_t t[ADJ_THREADS];
    for (int i = 0; i < ADJ_THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, adjuster, &d), 0);
    for (int i = 0; i < ADJ_THREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        assert_null(r);
    }
    float x;
    assert_int_equal(cogmem_binding_get(adj_store, 100, 1, &x), 0);
    assert_true(x == (float)(ADJ_THREADS * ADJ_ROUNDS) * d);
    test_close(&adj_store);
}

/* Concept c's list's decay arrays (strength[], decayed[] follows). */
static float *values_of(cogmem_store *s, uint64_t c, uint32_t *cap)
{
    int enomem = 0;
    cogmem__rcu_lock();
    struct cogmem__node *cn = cogmem__find_live(s, COGMEM_CONCEPT, c);
    assert_non_null(cn);
    struct cogmem__blist *cl = cogmem__clist(s, cn, 0, &enomem);
    assert_non_null(cl);
    cogmem__spin_lock(&cl->lock);
    float *v = cl->strength;
    *cap = cl->cap;
    /* decayed[] lies in the same block, one line-padded strength[] on */
    assert_ptr_equal((char *)cl->decayed, (char *)v + cogmem__bpool_dec_off(cl->cap));
    cogmem__spin_unlock(&cl->lock);
    cogmem__rcu_unlock();
    return v;
}

/* Concept lists' decay arrays are packed back to back in the store's pool
 * (shards/bpool.h), on one huge-page chunk; a removed concept's block is
 * the next list's of that capacity; one that grows moves to its class. */
static void test_decay_arrays_pooled(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    for (uint64_t c = 1; c <= 3; c++) {
        add_c(s, c);
        add_e(s, 100 + c);
        assert_int_equal(cogmem_bind(s, 100 + c, c, 0.5f), 0);
    }
    uint32_t cap;
    float *v1 = values_of(s, 1, &cap);
    assert_int_equal(cap, 4);
    float *v2 = values_of(s, 2, &cap);
    float *v3 = values_of(s, 3, &cap);
    assert_ptr_equal((char *)v2, (char *)v1 + cogmem__bpool_bytes(4));
    assert_ptr_equal((char *)v3, (char *)v2 + cogmem__bpool_bytes(4));
    assert_true((uintptr_t)v1 >> 21 == (uintptr_t)v3 >> 21);
    /* concept 2 dies: its block is handed out again, at once */
    assert_int_equal(cogmem_concept_remove(s, 2), 0);
    add_c(s, 4);
    add_e(s, 104);
    assert_int_equal(cogmem_bind(s, 104, 4, 0.25f), 0);
    assert_ptr_equal(values_of(s, 4, &cap), v2);
    /* concept 1 grows to 8: a block of the next class, after concept 3's;
     * its old one goes to the next list of 4 */
    for (uint64_t e = 200; e < 204; e++) {
        add_e(s, e);
        assert_int_equal(cogmem_bind(s, e, 1, 0.5f), 0);
    }
    float *v1b = values_of(s, 1, &cap);
    assert_int_equal(cap, 8);
    assert_ptr_equal((char *)v1b, (char *)v3 + cogmem__bpool_bytes(4));
    float x;
    assert_int_equal(cogmem_binding_get(s, 101, 1, &x), 0);
    assert_true(x == 0.5f);
    add_c(s, 5);
    add_e(s, 105);
    assert_int_equal(cogmem_bind(s, 105, 5, 0.5f), 0);
    assert_ptr_equal(values_of(s, 5, &cap), v1);
    test_close(&s);
}

/* The pool's hand-outs are failure points of their own (a block from a
 * free list calls no allocator), and a failed one hands out nothing. */
static void test_pool_alloc_fails(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    struct cogmem__bpool p;
    memset(&p, 0, sizeof p);
    void *b = cogmem__bpool_alloc(&p, &s->mem, COGMEM__MEM_CONCEPT, 16);
    assert_non_null(b);
    cogmem__bpool_free(&p, b, 16);
    cogmem__mem_fail_nth(1);
    assert_null(cogmem__bpool_alloc(&p, &s->mem, COGMEM__MEM_CONCEPT, 16));
    cogmem__mem_fail_nth(0);
    assert_ptr_equal(cogmem__bpool_alloc(&p, &s->mem, COGMEM__MEM_CONCEPT, 16), b);
    cogmem__bpool_fini(&p);
    test_close(&s);
}

/* The node's cold-line hints (shards/node.h: bl_peer, bl_strength,
 * bl_cap) name the list's current arrays after every growth, through the
 * short-list sizes and past the index threshold, and after unbinds and
 * adjusts; and the arrays a binding adjust prefetches from them are where
 * the list keeps its touch and decay times. A stale hint costs only
 * misses, so nothing else would notice it. */
static void check_hints(cogmem_store *s, uint64_t c, uint32_t want_n)
{
    cogmem__rcu_lock();
    struct cogmem__node *cn = cogmem__find_live(s, COGMEM_CONCEPT, c);
    assert_non_null(cn);
    struct cogmem__node_mem *m = cogmem__node_mem_of(cn);
    int enomem = 0;
    struct cogmem__blist *cl = cogmem__clist(s, cn, 0, &enomem);
    assert_non_null(cl);
    cogmem__spin_lock(&cl->lock);
    assert_int_equal(cl->n, want_n);
    uint64_t *peer = atomic_load_explicit(&m->bl_peer, memory_order_relaxed);
    float *str = atomic_load_explicit(&m->bl_strength, memory_order_relaxed);
    uint32_t cap = atomic_load_explicit(&m->bl_cap, memory_order_relaxed);
    assert_ptr_equal(peer, cl->peer);
    assert_ptr_equal(str, cl->strength);
    assert_int_equal(cap, cl->cap);
    assert_ptr_equal(cogmem__blist_touched_of(peer, cap), cl->touched);
    assert_ptr_equal((char *)str + cogmem__bpool_dec_off(cap), (char *)cl->decayed);
    if (cap >= COGMEM__BLIST_HASH_MIN)
        assert_ptr_equal((char *)cogmem__blist_touched_of(peer, cap) +
                             ((char *)cl->touched - (char *)cl->peer) * 2,
                         (char *)cl->hslot);
    cogmem__spin_unlock(&cl->lock);
    cogmem__rcu_unlock();
}

static void test_cold_line_hints(void **state)
{
    (void)state;
    cogmem_store *s = test_open(DIM);
    add_c(s, 1);
    /* A node without a list yet: no hints. */
    cogmem__rcu_lock();
    struct cogmem__node_mem *m =
        cogmem__node_mem_of(cogmem__find_live(s, COGMEM_CONCEPT, 1));
    assert_null(atomic_load_explicit(&m->bl_peer, memory_order_relaxed));
    assert_null(atomic_load_explicit(&m->bl_strength, memory_order_relaxed));
    assert_int_equal(atomic_load_explicit(&m->bl_cap, memory_order_relaxed), 0);
    cogmem__rcu_unlock();
    enum { N = 100 };
    for (uint64_t e = 1; e <= N; e++) {
        add_e(s, 1000 + e);
        assert_int_equal(cogmem_bind(s, 1000 + e, 1, 0.5f), 0);
        check_hints(s, 1, (uint32_t)e);
        assert_int_equal(cogmem_binding_adjust(s, 1000 + e, 1, 0.25f, NULL), 0);
    }
    for (uint64_t e = 1; e <= N; e += 3)
        assert_int_equal(cogmem_unbind(s, 1000 + e, 1), 0);
    check_hints(s, 1, N - (N + 2) / 3);
    float x;
    assert_int_equal(cogmem_binding_adjust(s, 1000 + 2, 1, 0.125f, &x), 0);
    assert_true(x == 0.875f);
    cogmem_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bind_basics),
        cmocka_unit_test(test_bind_errors),
        cmocka_unit_test(test_listing_and_index),
        cmocka_unit_test(test_remove_unbinds),
        cmocka_unit_test(test_bind_enomem),
        cmocka_unit_test(test_adjust_no_lost_update),
        cmocka_unit_test(test_decay_arrays_pooled),
        cmocka_unit_test(test_pool_alloc_fails),
        cmocka_unit_test(test_cold_line_hints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
