/* cogmem — regression tests for the known hazards of Debian's liburcu
 * 0.13.2 as a library's RCU: fork, signals in worker threads, and shards
 * left too small after a bulk load. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sched.h>

#include "shards/bindex.h"
#include "src/store.h"
#include "unit/util.h"

/* --- fork ---------------------------------------------------------------- */

static _Atomic int reader_stop;

static void *reader(void *arg)
{
    cogmem_store *s = arg;
    struct cogmem_concept_info ci;
    uint64_t i = 0;
    while (!atomic_load_explicit(&reader_stop, memory_order_relaxed))
        (void)cogmem_concept_info(s, 1 + (i++ % 100), &ci);
    return NULL;
}

/* Work that needs grace periods and the call_rcu worker: removes, a
 * replacement, a close. A child whose RCU state was copied mid-operation
 * hangs here; the alarm turns a hang into a failure. */
static int rcu_heavy_work(cogmem_store *s)
{
    float v[8];
    fill(v, 8, 4.0f);
    for (uint64_t id = 1; id <= 50; id++)
        if (cogmem_concept_remove(s, id) != 0)
            return 1;
    if (cogmem_concept_set_centroid(s, 60, v) != 0)
        return 2;
    if (cogmem_concept_add(s, 1000, v) != 0)
        return 3;
    return cogmem_close(&s) == 0 ? 0 : 4;
}

static void test_fork_child_can_synchronise(void **state)
{
    (void)state;
    cogmem_store *s = test_open(8);
    float v[8];
    fill(v, 8, 1.0f);
    for (uint64_t id = 1; id <= 100; id++)
        assert_int_equal(cogmem_concept_add(s, id, v), 0);
    /* Leave deferred frees queued and a reader running across the fork. */
    for (uint64_t id = 91; id <= 100; id++)
        assert_int_equal(cogmem_concept_remove(s, id), 0);
    atomic_store(&reader_stop, 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, reader, s), 0);
    for (int round = 0; round < 3; round++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            alarm(30);
            _exit(rcu_heavy_work(s));
        }
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    atomic_store(&reader_stop, 1);
    pthread_join(t, NULL);
    /* the parent is unaffected */
    assert_int_equal(cogmem_concept_remove(s, 1), 0);
    uint64_t n;
    assert_int_equal(cogmem_count(s, COGMEM_CONCEPT, &n), 0);
    assert_int_equal(n, 89);
    test_close(&s);
}

/* --- fork while binding lists are locked -------------------------------- */

/* Concept `id`'s binding list (it has one: it was bound). */
static struct cogmem__blist *concept_list(cogmem_store *s, uint64_t id)
{
    cogmem__rcu_lock();
    struct cogmem__node *n =
        cogmem__set_find(&s->sets[0], id, cogmem__hash(s, id), COGMEM__FIND_LIVE);
    struct cogmem__blist *bl =
        n ? atomic_load(&cogmem__node_mem_of(n)->bind) : NULL;
    cogmem__rcu_unlock();
    return bl; /* nothing is removed in these tests: it stays valid */
}

/* Binding work on concepts 1-2 and episodes 100-101, as a child does it
 * after the fork. A list lock copied held makes it spin forever. */
static int binding_work(cogmem_store *s)
{
    float st;
    if (cogmem_bind(s, 101, 1, 0.5f) != 0)
        return 1;
    if (cogmem_binding_adjust(s, 100, 1, 0.1f, &st) != 0)
        return 2;
    if (cogmem_unbind(s, 101, 1) != 0)
        return 3;
    if (cogmem_bind(s, 101, 2, 0.5f) != 0 || cogmem_unbind(s, 101, 2) != 0)
        return 4;
    cogmem_decay_params dp;
    cogmem_decay_params_init(&dp);
    if (cogmem_decay(s, &dp, cogmem__now_ns() + 1000000000ull, NULL) != 0)
        return 5;
    if (cogmem_episode_remove(s, 100) != 0) /* detaches both lists' entries */
        return 6;
    return 0;
}

/* Wait for the child, at most about 30 s (a bounded wait, not a speed
 * check: a child that hangs on a copied lock never exits). Returns its
 * exit status, or -1 when it hung (it is killed). */
static int wait_child(pid_t pid)
{
    int status = 0;
    for (int i = 0; i < 3000; i++) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

static cogmem_store *bound_store(void)
{
    cogmem_store *s = test_open(4);
    test_add_concept(s, 1, 4, 1.0f);
    test_add_concept(s, 2, 4, 2.0f);
    test_add_episode(s, 100, 4, 1.0f);
    test_add_episode(s, 101, 4, 2.0f);
    assert_int_equal(cogmem_bind(s, 100, 1, 0.5f), 0);
    assert_int_equal(cogmem_bind(s, 100, 2, 0.5f), 0);
    return s;
}

static _Atomic int lock_held;

static void *hold_list_lock(void *arg)
{
    struct cogmem__blist *bl = arg;
    cogmem__spin_lock(&bl->lock);
    atomic_store(&lock_held, 1);
    /* Long enough that the main thread's fork() comes while it is held
     * (fork waits for it now; before, the child got it held). */
    struct timespec ts = {0, 200000000};
    nanosleep(&ts, NULL);
    cogmem__spin_unlock(&bl->lock);
    return NULL;
}

/* fork() while another thread holds concept 1's list lock: the child can
 * still bind, adjust, unbind, decay and remove on that list. */
static void test_fork_while_list_locked(void **state)
{
    (void)state;
    cogmem_store *s = bound_store();
    struct cogmem__blist *bl = concept_list(s, 1);
    assert_non_null(bl);
    atomic_store(&lock_held, 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, hold_list_lock, bl), 0);
    while (!atomic_load(&lock_held))
        sched_yield();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(binding_work(s));
    assert_int_equal(wait_child(pid), 0);
    pthread_join(t, NULL);
    assert_int_equal(binding_work(s), 0); /* and the parent too */
    test_close(&s);
}

static _Atomic int binders_stop;

static void *binder(void *arg)
{
    cogmem_store *s = arg;
    float st;
    while (!atomic_load_explicit(&binders_stop, memory_order_relaxed)) {
        (void)cogmem_binding_adjust(s, 100, 1, 0.01f, &st);
        (void)cogmem_bind(s, 101, 2, 0.5f);
        (void)cogmem_unbind(s, 101, 2);
    }
    return NULL;
}

/* fork() 40 times while threads a and b run on the store's lists (until
 * binders_stop): every child can still use those lists. */
static void fork_beside(void *(*a)(void *), void *(*b)(void *))
{
    cogmem_store *s = bound_store();
    atomic_store(&binders_stop, 0);
    pthread_t t[2];
    assert_int_equal(pthread_create(&t[0], NULL, a, s), 0);
    assert_int_equal(pthread_create(&t[1], NULL, b, s), 0);
    for (int round = 0; round < 40; round++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            cogmem_unbind(s, 101, 2); /* whichever state the binders left */
            _exit(binding_work(s));
        }
        assert_int_equal(wait_child(pid), 0);
    }
    atomic_store(&binders_stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    test_close(&s);
}

/* fork() while other threads bind and adjust on the same lists, many
 * times: every child can use those lists. */
static void test_fork_during_binds(void **state)
{
    (void)state;
    fork_beside(binder, binder);
}

/* Decay passes back to back: the registry walk holds a fork-gate count
 * for a whole registry shard and takes every list lock inside it as an
 * inner one (shards/bindex.c, cogmem__breg_walk). */
static void *decayer(void *arg)
{
    cogmem_store *s = arg;
    cogmem_decay_params dp;
    cogmem_decay_params_init(&dp);
    dp.prune_below = 0.0f;
    while (!atomic_load_explicit(&binders_stop, memory_order_relaxed))
        if (cogmem_decay(s, &dp, cogmem__now_ns(), NULL) != 0)
            abort();
    return NULL;
}

/* fork() while other threads decay (walking the registry) and bind:
 * every child can use the lists the walk was locking. */
static void test_fork_during_decay(void **state)
{
    (void)state;
    fork_beside(decayer, binder);
}

/* --- signals -------------------------------------------------------------- */

/* SigBlk of thread `tid` from /proc, as a bit mask (bit n-1 = signal n). */
static uint64_t sigblk_of(const char *tid)
{
    char path[320], line[256];
    snprintf(path, sizeof path, "/proc/self/task/%s/status", tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return UINT64_MAX; /* thread gone meanwhile: nothing to check */
    uint64_t mask = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "SigBlk: %" SCNx64, &mask) == 1)
            break;
    fclose(f);
    return mask;
}

/* Every thread but the caller must block the signals a host could route to
 * a signalfd. (SIGKILL/SIGSTOP cannot be blocked; glibc keeps its two
 * internal signals, 32 and 33, unblocked.) Returns the number of threads
 * checked. */
static int check_other_threads_block_signals(void)
{
    const int sigs[] = {SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE,
                        SIGALRM, SIGTERM, SIGCHLD, SIGWINCH, SIGRTMIN + 2, SIGRTMAX};
    char self[32];
    snprintf(self, sizeof self, "%d", (int)gettid());
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    int checked = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, self) == 0)
            continue;
        uint64_t m = sigblk_of(e->d_name);
        for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
            if (!(m >> (sigs[i] - 1) & 1))
                fail_msg("thread %s does not block signal %d (SigBlk %016" PRIx64 ")",
                         e->d_name, sigs[i], m);
        checked++;
    }
    closedir(d);
    return checked;
}

static void test_worker_threads_block_signals(void **state)
{
    (void)state;
    /* This thread has every signal unblocked, like a typical host thread
     * that opens a store before setting up its signalfd. */
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, NULL);
    for (int round = 0; round < 2; round++) {
        cogmem_store *s = test_open(4);
        float v[4] = {1, 2, 3, 4};
        for (uint64_t id = 1; id <= 2000; id++) /* grows shards, too */
            assert_int_equal(cogmem_concept_add(s, id, v), 0);
        for (uint64_t id = 1; id <= 2000; id += 2)
            assert_int_equal(cogmem_concept_remove(s, id), 0);
        assert_int_equal(cogmem_concept_set_centroid(s, 2, v), 0);
        /* the library's one thread exists now: the call_rcu worker */
        assert_true(check_other_threads_block_signals() >= 1);
        test_close(&s);
    }
    sigset_t mine;
    pthread_sigmask(SIG_SETMASK, NULL, &mine);
    assert_false(sigismember(&mine, SIGTERM)); /* ours is left as it was */
}

/* --- shard sizing after a bulk load ------------------------------------- */

static void assert_shards_sized(cogmem_store *s, struct cogmem__set *set,
                                uint64_t total)
{
    (void)s;
    uint64_t sum = 0;
    for (unsigned i = 0; i < COGMEM__NSHARDS; i++) {
        struct cogmem__shard *sh = &set->shard[i];
        uint64_t count = (uint64_t)atomic_load(&sh->count);
        uint64_t slots = atomic_load(&sh->slots);
        sum += count;
        /* growth keeps the load at most 1/2 */
        if (count > slots / 2)
            fail_msg("shard %u: %" PRIu64 " nodes in %" PRIu64 " slots", i, count, slots);
        /* a routing that sends everything to a few shards would also pass
         * the check above: require a fair share in each shard */
        assert_true(count > total / COGMEM__NSHARDS / 2);
    }
    assert_int_equal(sum, total);
}

#define BULK 1000000u

static void test_bulk_load_grows_every_shard(void **state)
{
    (void)state;
    cogmem_store *s = test_open(1); /* no sizing hint: start small */
    float v[1] = {1.0f};
    for (unsigned i = 0; i < COGMEM__NSHARDS; i++)
        assert_int_equal(atomic_load(&s->sets[0].shard[i].slots), COGMEM__MIN_SLOTS);
    for (uint64_t id = 1; id <= BULK; id++)
        if (cogmem_concept_add(s, id * 0x9E3779B97F4A7C15ull, v) != 0)
            fail_msg("add %" PRIu64 " failed", id);
    assert_shards_sized(s, &s->sets[0], BULK);
    /* and lookups still find everything after the resizes */
    for (uint64_t id = 1; id <= BULK; id += 997)
        assert_int_equal(cogmem_kind_of(s, id * 0x9E3779B97F4A7C15ull), COGMEM_CONCEPT);
    test_close(&s);
}

static void test_reserve_and_hint(void **state)
{
    (void)state;
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = 1;
    cfg.expected_episodes = 320000;
    cogmem_store *s = NULL;
    assert_int_equal(cogmem_open(&cfg, &s), 0);
    uint64_t want = 320000 / COGMEM__NSHARDS * 2; /* load 1/2 */
    for (unsigned i = 0; i < COGMEM__NSHARDS; i++) {
        assert_true(atomic_load(&s->sets[1].shard[i].slots) >= want);
        assert_int_equal(atomic_load(&s->sets[0].shard[i].slots), COGMEM__MIN_SLOTS);
    }
    assert_int_equal(cogmem_reserve(s, COGMEM_CONCEPT, 640000), 0);
    for (unsigned i = 0; i < COGMEM__NSHARDS; i++)
        assert_true(atomic_load(&s->sets[0].shard[i].slots) >= 2 * want);
    /* reserve never shrinks */
    assert_int_equal(cogmem_reserve(s, COGMEM_ALL_KINDS, 10), 0);
    for (unsigned i = 0; i < COGMEM__NSHARDS; i++)
        assert_true(atomic_load(&s->sets[0].shard[i].slots) >= 2 * want);
    test_close(&s);
}

/* --- close after a back-out ---------------------------------------------- */

/* A node that loses a cross-kind race is retired while it still owns its
 * vector. Its reclaim must not defer the vector again: cogmem_close's
 * rcu_barrier() would not wait for a callback queued by a callback, and
 * that one would then run on a freed store (ASan: use-after-free on the
 * call_rcu worker; the plain build: a crash in liburcu on the unmapped
 * arena). Retire such nodes by hand and close at once, many times. */
static void test_close_right_after_backed_out_nodes(void **state)
{
    (void)state;
    float v[4] = {1, 2, 3, 4};
    for (int round = 0; round < 50; round++) {
        cogmem_store *s = test_open(4);
        struct cogmem__set *set = &s->sets[1];
        for (uint64_t id = 1; id <= 8; id++) {
            uint64_t hash = cogmem__hash(s, id);
            int rc;
            struct cogmem_vec *vec = cogmem__vec_from(s, set, id, hash, v, 30.0, &rc);
            assert_non_null(vec);
            struct cogmem__node *n = cogmem__node_new(&set->kind, vec, hash);
            assert_non_null(n);
            cogmem__node_publish(n, id);
            cogmem__rcu_lock();
            assert_int_equal(cogmem__set_link(set, n, hash), 0);
            atomic_store(&n->state, COGMEM__DEAD); /* as a vetoed add does */
            cogmem__set_unlink(set, n, hash);
            cogmem__rcu_unlock();
            cogmem__node_retire(n);
        }
        test_close(&s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_close_right_after_backed_out_nodes),
        cmocka_unit_test(test_fork_child_can_synchronise),
        cmocka_unit_test(test_fork_while_list_locked),
        cmocka_unit_test(test_fork_during_binds),
        cmocka_unit_test(test_fork_during_decay),
        cmocka_unit_test(test_worker_threads_block_signals),
        cmocka_unit_test(test_bulk_load_grows_every_shard),
        cmocka_unit_test(test_reserve_and_hint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
