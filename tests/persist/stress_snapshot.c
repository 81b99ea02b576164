/* Online snapshots under writers: nproc writer threads mutate a small,
 * shared id range (so that calls on one id race: the journal's order must
 * still be their commit order), one thread decays, one snapshots over and
 * over. After COGMEM_STRESS_SECONDS (default 5) everything stops; the
 * live store's whole state is the model. The store is closed and
 * reopened (newest snapshot + the journal after it) and must equal the
 * model bit for bit; then once more after a final snapshot. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "tests/persist/state.h"

#define DIM 12
#define NC 64
#define NE 128
#define EBASE 10000

static cogmem_store *st;
static atomic_int stop, stop_snap;
static atomic_ulong snaps, ops;

static void *writer(void *arg)
{
    uint64_t x = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ull + 1;
    float v[DIM];
    unsigned long n = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        test_xorshift(&x);
        uint64_t c = 1 + x % NC, e = EBASE + 1 + (x >> 16) % NE;
        int rc;
        switch ((x >> 32) % 12) {
        case 0:
            test_vec(v, DIM, x);
            rc = cogmem_concept_add(st, c, v);
            CHECK(rc == 0 || rc == -EEXIST);
            break;
        case 1:
            test_vec(v, DIM, x);
            rc = cogmem_episode_add(st, e, v, x >> 40);
            CHECK(rc == 0 || rc == -EEXIST);
            break;
        case 2:
            rc = (x >> 40) % 4 ? 0 : cogmem_concept_remove(st, c);
            CHECK(rc == 0 || rc == -ENOENT);
            break;
        case 3:
            rc = (x >> 40) % 4 ? 0 : cogmem_episode_remove(st, e);
            CHECK(rc == 0 || rc == -ENOENT);
            break;
        case 4:
            test_vec(v, DIM, x);
            rc = cogmem_concept_set_centroid(st, c, v);
            CHECK(rc == 0 || rc == -ENOENT);
            break;
        case 5:
            test_vec(v, DIM, x);
            rc = cogmem_concept_blend(st, c, v, 0.25f);
            CHECK(rc == 0 || rc == -ENOENT);
            break;
        case 6:
        case 7:
            rc = cogmem_bind(st, e, c, (float)((x >> 40) % 100) / 100.0f);
            CHECK(rc == 0 || rc == -ENOENT || rc == -EEXIST);
            break;
        case 8:
            rc = cogmem_binding_adjust(st, e, c, (float)((int)((x >> 40) % 61) - 30) / 100.0f,
                                       NULL);
            CHECK(rc == 0 || rc == -ENOENT);
            break;
        case 9:
            rc = cogmem_unbind(st, e, c);
            CHECK(rc == 0 || rc == -ENOENT);
            break;
        default:
            rc = cogmem_touch(st, (x >> 40) & 1 ? c : e, 1000000000ull + (x >> 24));
            CHECK(rc == 0 || rc == -ENOENT);
            break;
        }
        n++;
    }
    atomic_fetch_add(&ops, n);
    return NULL;
}

static void *decayer(void *arg)
{
    (void)arg;
    cogmem_decay_params dp;
    cogmem_decay_params_init(&dp);
    int i = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        dp.model = i++ % 2 ? COGMEM_DECAY_FACTOR : COGMEM_DECAY_EXP;
        dp.factor = 0.95f;
        dp.prune_below = 0.05f;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        CHECK_RC(cogmem_decay(st, &dp, (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec,
                              NULL), 0);
        struct timespec d = {0, 2000000};
        nanosleep(&d, NULL);
    }
    return NULL;
}

static void *snapshotter(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&stop_snap, memory_order_relaxed)) {
        CHECK_RC(cogmem_snapshot(st), 0);
        atomic_fetch_add(&snaps, 1);
    }
    return NULL;
}

int main(void)
{
    double secs = getenv("COGMEM_STRESS_SECONDS") ? atof(getenv("COGMEM_STRESS_SECONDS")) : 5;
    long np = sysconf(_SC_NPROCESSORS_ONLN);
    int nw = np < 2 ? 2 : (int)np;
    char *dir = test_tmpdir("stress-snap");
    st = test_open_or_exit(dir, DIM, COGMEM_DURABLE_PROCESS);
    pthread_t th[64];
    int nt = 0;
    for (int i = 0; i < nw && nt < 62; i++)
        CHECK(pthread_create(&th[nt++], NULL, writer, (void *)(uintptr_t)(i + 1)) == 0);
    CHECK(pthread_create(&th[nt++], NULL, decayer, NULL) == 0);
    CHECK(pthread_create(&th[nt++], NULL, snapshotter, NULL) == 0);
    struct timespec d = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
    nanosleep(&d, NULL);
    /* The last snapshot runs with the writers busy, and they go on for a
     * while after it: the reopen replays a journal that began during a
     * copy (records about nodes the copy missed included). */
    atomic_store(&stop_snap, 1);
    pthread_join(th[nt - 1], NULL);
    struct timespec after = {0, 100000000};
    nanosleep(&after, NULL);
    atomic_store(&stop, 1);
    for (int i = 0; i < nt - 1; i++)
        pthread_join(th[i], NULL);
    CHECK(atomic_load(&snaps) > 0);
    struct sbuf model = {0}, got = {0};
    state_dump(st, &model, NULL, 0);
    if (test_reopen_same(&st, dir, DIM, COGMEM_DURABLE_PROCESS, &model, &got,
                         "reopen after online snapshots"))
        return 1;
    CHECK_RC(cogmem_snapshot(st), 0);
    if (test_reopen_same(&st, dir, DIM, COGMEM_DURABLE_PROCESS, &model, &got,
                         "reopen after a final snapshot"))
        return 1;
    CHECK_RC(cogmem_close(&st), 0);
    test_rmdir(dir);
    free(dir);
    fprintf(stderr, "stress snapshot ok: %d writers, %lu calls, %lu snapshots\n", nw,
            atomic_load(&ops), atomic_load(&snaps));
    free(model.p);
    free(got.p);
    return 0;
}
