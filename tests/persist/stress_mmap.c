/* A store opened COGMEM_OPEN_MMAP under concurrent writers and recallers.
 * The snapshot holds NC concepts and NE episodes. nproc writer threads
 * replace, blend, remove and re-add the concepts and episodes of the
 * "moving" half (so mapped rows are retired, reclaimed and never reused
 * while scans run over them) and one thread snapshots the store over and
 * over (reading mapped rows while new snapshots replace the mapped file)
 * while another walks the mapped rows' put-off checks
 * (cogmem_check_mapped_rows: none may fail);
 * nproc recaller threads check, for a random "still" concept (never
 * touched, so its row stays mapped), that its own vector recalls it first
 * with similarity 1, and that every hit list is sorted. After
 * COGMEM_STRESS_SECONDS (default 5) the live state is the model; a COPY
 * reopen must equal it bit for bit. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "tests/persist/state.h"

#define DIM 48
#define NC 3000
#define NE 3000
#define EBASE 100000
#define MOVING 1000 /* ids 1..MOVING of each kind move; the rest stay */

static cogmem_store *st;
static atomic_int stop;
static atomic_ulong wops, rops, snaps, walks;

static uint64_t step(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Distinct seeds give distinct directions (DIM random coordinates). */
static void vec(float *v, uint64_t x)
{
    x = x * 0x9E3779B97F4A7C15ull + 1;
    for (int i = 0; i < DIM; i++)
        v[i] = (float)(step(&x) % 20001) / 10000.0f - 1.0f;
}

static void *writer(void *arg)
{
    uint64_t x = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ull + 1;
    float v[DIM];
    unsigned long n = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        uint64_t r = step(&x), c = 1 + r % MOVING, e = EBASE + 1 + (r >> 20) % MOVING;
        vec(v, r);
        int rc;
        switch ((r >> 40) % 6) {
        case 0:
            rc = cogmem_concept_set_centroid(st, c, v);
            CHECK(rc == 0 || rc == -ENOENT);
            break;
        case 1:
            rc = cogmem_concept_blend(st, c, v, 0.5f);
            CHECK(rc == 0 || rc == -ENOENT);
            break;
        case 2:
            rc = cogmem_concept_remove(st, c);
            CHECK(rc == 0 || rc == -ENOENT);
            break;
        case 3:
            rc = cogmem_concept_add(st, c, v);
            CHECK(rc == 0 || rc == -EEXIST);
            break;
        case 4:
            rc = cogmem_episode_remove(st, e);
            CHECK(rc == 0 || rc == -ENOENT);
            break;
        default:
            rc = cogmem_episode_add(st, e, v, r >> 30);
            CHECK(rc == 0 || rc == -EEXIST);
            break;
        }
        n++;
    }
    atomic_fetch_add(&wops, n);
    return NULL;
}

static void *recaller(void *arg)
{
    uint64_t x = (uint64_t)(uintptr_t)arg * 0xD1B54A32D192ED03ull + 7;
    cogmem_recall_params p;
    cogmem_recall_params_init(&p);
    cogmem_recall_hit hit[8];
    float q[DIM];
    unsigned long n = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        uint64_t id = MOVING + 1 + step(&x) % (NC - MOVING);
        const cogmem_vec *v;
        CHECK_RC(cogmem_vec_get(st, id, &v), 0);
        memcpy(q, cogmem_vec_data(v), sizeof q);
        cogmem_vec_put(v);
        size_t got;
        CHECK_RC(cogmem_recall(st, q, COGMEM_ALL_KINDS, 8, &p, hit, &got), 0);
        CHECK(got == 8 && hit[0].id == id && fabsf(hit[0].score - 1.0f) < 1e-5f);
        for (size_t i = 1; i < got; i++)
            CHECK(hit[i].score <= hit[i - 1].score);
        n++;
    }
    atomic_fetch_add(&rops, n);
    return NULL;
}

static int no_bad_row(uint64_t id, int kind, void *arg)
{
    (void)arg;
    fprintf(stderr, "stress mmap: a good mapped row failed its checks (kind %d, id %llu)\n",
            kind, (unsigned long long)id);
    abort();
}

/* Walks every mapped row's put-off checks beside the snapshots, which
 * share its marks, and the writers, which retire the rows it visits. */
static void *walker(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        uint64_t failed = 1;
        CHECK_RC(cogmem_check_mapped_rows(st, no_bad_row, NULL, &failed), 0);
        CHECK(failed == 0);
        atomic_fetch_add(&walks, 1);
    }
    return NULL;
}

static void *snapshotter(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        CHECK_RC(cogmem_snapshot(st), 0);
        atomic_fetch_add(&snaps, 1);
        struct timespec d = {0, 50000000};
        nanosleep(&d, NULL);
    }
    return NULL;
}

int main(void)
{
    double secs = getenv("COGMEM_STRESS_SECONDS") ? atof(getenv("COGMEM_STRESS_SECONDS")) : 5;
    long np = sysconf(_SC_NPROCESSORS_ONLN);
    int nw = np < 2 ? 2 : np > 30 ? 30 : (int)np;
    char *dir = test_tmpdir("stress-mmap");
    cogmem_store *s = test_open_store(dir, DIM, COGMEM_DURABLE_NONE);
    CHECK(s);
    float v[DIM];
    for (uint64_t i = 1; i <= NC; i++) {
        vec(v, i * 7919);
        CHECK_RC(cogmem_concept_add(s, i, v), 0);
    }
    for (uint64_t i = 1; i <= NE; i++) {
        vec(v, i * 104729 + 3);
        CHECK_RC(cogmem_episode_add(s, EBASE + i, v, i), 0);
    }
    CHECK_RC(cogmem_snapshot(s), 0);
    CHECK_RC(cogmem_close(&s), 0);

    cogmem_config cfg = test_config(dir, DIM, COGMEM_DURABLE_PROCESS);
    cfg.open_mode = COGMEM_OPEN_MMAP;
    CHECK_RC(cogmem_open(&cfg, &st), 0);
    CHECK(st->sets[0].kind.slab.mapped_rows == NC);
    pthread_t th[64];
    int nt = 0;
    for (int i = 0; i < nw; i++)
        CHECK(pthread_create(&th[nt++], NULL, writer, (void *)(uintptr_t)(i + 1)) == 0);
    for (int i = 0; i < nw; i++)
        CHECK(pthread_create(&th[nt++], NULL, recaller, (void *)(uintptr_t)(i + 1)) == 0);
    CHECK(pthread_create(&th[nt++], NULL, snapshotter, NULL) == 0);
    CHECK(pthread_create(&th[nt++], NULL, walker, NULL) == 0);
    struct timespec d = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
    nanosleep(&d, NULL);
    atomic_store(&stop, 1);
    for (int i = 0; i < nt; i++)
        pthread_join(th[i], NULL);
    CHECK(atomic_load(&snaps) > 0 && atomic_load(&rops) > 0 && atomic_load(&walks) > 0);
    struct sbuf model = {0}, got = {0};
    state_dump(st, &model, NULL, 0);
    CHECK_RC(cogmem_close(&st), 0);
    st = test_open_store(dir, DIM, COGMEM_DURABLE_PROCESS);
    CHECK(st);
    state_dump(st, &got, NULL, 0);
    if (state_diff(&model, &got, "COPY reopen after an MMAP store's writers"))
        return 1;
    CHECK_RC(cogmem_close(&st), 0);
    test_rmdir(dir);
    free(dir);
    fprintf(stderr, "stress mmap ok: %d writers, %d recallers, %lu writes, %lu recalls, "
                    "%lu snapshots, %lu walks of the mapped rows\n",
            nw, nw, atomic_load(&wops), atomic_load(&rops), atomic_load(&snaps),
            atomic_load(&walks));
    free(model.p);
    free(got.p);
    return 0;
}
