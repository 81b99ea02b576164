/* SYNC group commit under load: 4 x nproc threads each touch their own
 * concept on a COGMEM_DURABLE_SYNC store (a few also bind and call
 * cogmem_sync), while one thread snapshots over and over (each snapshot
 * rotates the journal under the committers). For COGMEM_STRESS_SECONDS
 * (default 5). Checks:
 *   - when a call returns, the journal's synced mark has passed the LSN
 *     the journal had when the call began (its record is at or after it);
 *   - the fsyncs were shared: fewer fdatasync calls than commits once more
 *     than one thread waited (counted through the fileops table);
 *   - after close and reopen, every concept has exactly as many
 *     presentations as its thread had touches acknowledged.
 * In the stress suite, so the ThreadSanitizer build runs it. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "src/persist/fileops.h"
#include "src/persist/internal.h"
#include "tests/persist/state.h"

#define DIM 8
#define MAXT 64

static cogmem_store *st;
static atomic_int stop;
static atomic_ulong syncs, commits, snaps;
static unsigned long acked[MAXT];

static int c_fdatasync(int fd)
{
    atomic_fetch_add_explicit(&syncs, 1, memory_order_relaxed);
    return cogmem__fops_posix.fdatasync(fd);
}

static struct cogmem__fileops counting;

static uint64_t next_lsn(void)
{
    return atomic_load_explicit(&st->persist->jr.next_lsn, memory_order_acquire);
}

static uint64_t synced(void)
{
    return atomic_load_explicit(&st->persist->jr.synced, memory_order_acquire);
}

static void *committer(void *arg)
{
    int t = (int)(uintptr_t)arg;
    uint64_t c = 1 + (uint64_t)t;
    unsigned long k = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        uint64_t before = next_lsn();
        CHECK_RC(cogmem_touch(st, c, 1000 + k), 0);
        CHECK(synced() > before);
        k++;
        if (t % 4 == 1 && k % 16 == 0) {
            CHECK_RC(cogmem_sync(st), 0);
            CHECK(synced() >= next_lsn() - 1 || synced() > before);
        }
    }
    acked[t] = k;
    atomic_fetch_add_explicit(&commits, k, memory_order_relaxed);
    return NULL;
}

static void *snapshotter(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        CHECK_RC(cogmem_snapshot(st), 0);
        atomic_fetch_add_explicit(&snaps, 1, memory_order_relaxed);
        struct timespec d = {0, 20000000};
        nanosleep(&d, NULL);
    }
    return NULL;
}

int main(void)
{
    double secs = getenv("COGMEM_STRESS_SECONDS") ? atof(getenv("COGMEM_STRESS_SECONDS")) : 5;
    long np = sysconf(_SC_NPROCESSORS_ONLN);
    int nt = np < 1 ? 4 : (int)np * 4;
    if (nt > MAXT - 1)
        nt = MAXT - 1;
    counting = cogmem__fops_posix;
    counting.fdatasync = c_fdatasync;
    cogmem__fops = &counting;
    char *dir = test_tmpdir("stress-sync");
    st = test_open_store(dir, DIM, COGMEM_DURABLE_SYNC);
    CHECK(st);
    float v[DIM];
    for (int i = 0; i < DIM; i++)
        v[i] = 1.0f + (float)i;
    for (int t = 0; t < nt; t++)
        CHECK_RC(cogmem_concept_add(st, 1 + (uint64_t)t, v), 0);
    atomic_store(&syncs, 0);
    pthread_t th[MAXT];
    for (int t = 0; t < nt; t++)
        CHECK(pthread_create(&th[t], NULL, committer, (void *)(uintptr_t)t) == 0);
    CHECK(pthread_create(&th[nt], NULL, snapshotter, NULL) == 0);
    struct timespec d = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
    nanosleep(&d, NULL);
    atomic_store(&stop, 1);
    for (int t = 0; t <= nt; t++)
        pthread_join(th[t], NULL);
    unsigned long fs = atomic_load(&syncs), cm = atomic_load(&commits);
    CHECK(cm > 0);
    /* Shared: far fewer fdatasyncs than commits (the snapshots' rotations
     * and file syncs are in fs too). */
    if (!(fs < cm)) {
        fprintf(stderr, "stress sync: %lu fdatasyncs for %lu commits: not shared\n", fs, cm);
        return 1;
    }
    CHECK_RC(cogmem_close(&st), 0);
    cogmem__fops = &cogmem__fops_posix;
    st = test_open_store(dir, DIM, COGMEM_DURABLE_SYNC);
    CHECK(st);
    for (int t = 0; t < nt; t++) {
        cogmem_actr_result ar = {.struct_size = sizeof ar};
        CHECK_RC(cogmem_actr_activation(st, 1 + (uint64_t)t, NULL, 0, 1, &ar), 0);
        if (ar.presentations != acked[t]) {
            fprintf(stderr, "stress sync: concept %d has %llu presentations, %lu acknowledged\n",
                    t + 1, (unsigned long long)ar.presentations, acked[t]);
            return 1;
        }
    }
    CHECK_RC(cogmem_close(&st), 0);
    test_rmdir(dir);
    free(dir);
    fprintf(stderr, "stress sync ok: %d threads, %lu commits, %lu fdatasyncs, %lu snapshots\n",
            nt, cm, fs, atomic_load(&snaps));
    return 0;
}
