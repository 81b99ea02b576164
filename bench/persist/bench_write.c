/* Persistence benchmark, the write side (issue 9): every figure is a
 * ratio against a baseline doing the same work in the same run, on the
 * same disk, as medians of REPS interleaved repetitions [min, max].
 *
 *   snapshot write  cogmem_snapshot() of a quiescent store of N vectors vs
 *                   write() + fsync() of the snapshot's own bytes (read
 *                   back into memory first, so the baseline copies cold
 *                   bytes as the snapshot does) to a file in the same
 *                   directory, in 4 MiB writes (ratio = write time /
 *                   snapshot time, goal >= 0.8);
 *   checksums       the XXH3 the snapshot computes (libxxhash's
 *                   XXH3_64bits_dispatch, what src/persist/sum.c calls),
 *                   run over the file's bytes in memory in 4 MiB chunks,
 *                   as a share of the snapshot write (goal <= 0.05);
 *   writers         bind/touch calls per second of nproc - 1 and nproc
 *                   threads on a PROCESS store while snapshots run back to
 *                   back, vs without (goal >= 0.8);
 *   SYNC            touches per second from 1, 2, 8, 32 threads on a SYNC
 *                   store vs threads / (latency of one 64-byte append +
 *                   fdatasync to a file in the same directory, measured
 *                   just before and just after each run and averaged):
 *                   group commit should keep it >= 0.8.
 * The open side (COPY/MMAP open, replay) is bench_persist.
 * Usage: bench_write [--n N] [--dim D] [--reps R] [--dir DIR] [--secs S]
 *                    [--only snap|writers|sync]
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>
#include <xxh_x86dispatch.h>

#include "cogmem.h"

static uint32_t dim = 768;
static uint64_t n = 100000;
static int reps = 5;
static double secs = 1.0;
static char dir[1024];

#include "bench_util.h"

static cogmem_store *open_store(int durability)
{
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = dim;
    cfg.path = dir;
    cfg.durability = durability;
    cfg.expected_concepts = n / 2;
    cfg.expected_episodes = n - n / 2;
    cogmem_store *s = NULL;
    CK(cogmem_open(&cfg, &s));
    return s;
}

static void clear_dir(void)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -f '%s'/snap-* '%s'/jrn-* '%s'/plain.bin", dir, dir, dir);
    if (system(cmd))
        exit(1);
}

/* n vectors (odd ids concepts, even ids episodes) and a binding per
 * concept among the first 20000 ids. */
static void fill(cogmem_store *s)
{
    float *v = malloc(dim * sizeof *v);
    uint64_t x = 88172645463325252ull;
    for (uint64_t id = 1; id <= n; id++) {
        for (uint32_t i = 0; i < dim; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v[i] = (float)(x % 20001) / 10000.0f - 1.0f;
        }
        v[0] += 2.0f;
        if (id % 2)
            CK(cogmem_concept_add(s, id, v));
        else
            CK(cogmem_episode_add(s, id, v, id));
    }
    for (uint64_t c = 1; c + 1 <= n && c < 20000; c += 2)
        CK(cogmem_bind(s, c + 1, c, 0.5f));
    free(v);
}

static void load_avg(char *out, size_t cap)
{
    double l[3] = {-1, -1, -1};
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) {
        if (fscanf(la, "%lf %lf %lf", &l[0], &l[1], &l[2]) != 3)
            l[0] = -1;
        fclose(la);
    }
    snprintf(out, cap, "%.2f %.2f %.2f", l[0], l[1], l[2]);
}

/* -------------------------------------------------------- snapshot write */

static double plain_write(const char *bytes, size_t len)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/plain.bin", dir);
    double t0 = now_s();
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    size_t chunk = 4u << 20;
    for (size_t off = 0; off < len; off += chunk) {
        size_t m = len - off < chunk ? len - off : chunk;
        if (write(fd, bytes + off, m) != (ssize_t)m)
            exit(1);
    }
    if (fd < 0 || fsync(fd))
        exit(1);
    close(fd);
    double t = now_s() - t0;
    unlink(p);
    return t;
}

static char *read_file(const char *p, size_t *len)
{
    struct stat sb;
    int fd = open(p, O_RDONLY);
    if (fd < 0 || fstat(fd, &sb))
        exit(1);
    char *b = malloc((size_t)sb.st_size);
    size_t got = 0;
    ssize_t r;
    while (b && got < (size_t)sb.st_size && (r = read(fd, b + got, (size_t)sb.st_size - got)) > 0)
        got += (size_t)r;
    close(fd);
    if (!b || got != (size_t)sb.st_size)
        exit(1);
    *len = got;
    return b;
}

static void bench_snapshot(void)
{
    clear_dir();
    cogmem_store *s = open_store(COGMEM_DURABLE_NONE);
    fill(s);
    double snap_t[64], plain_t[64], hash_t[64], ratio[64];
    size_t len = 0;
    uint64_t acc = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        CK(cogmem_snapshot(s));
        snap_t[r] = now_s() - t0;
        char *b = read_file(newest_snapshot(), &len);
        plain_t[r] = plain_write(b, len);
        t0 = now_s();
        for (size_t off = 0; off < len; off += 4u << 20)
            acc += XXH3_64bits_dispatch(b + off, len - off < (4u << 20) ? len - off : 4u << 20);
        hash_t[r] = now_s() - t0;
        ratio[r] = plain_t[r] / snap_t[r];
        free(b);
    }
    CK(cogmem_close(&s));
    struct stat3 st = stat_of(snap_t, reps), pw = stat_of(plain_t, reps),
                 hs = stat_of(hash_t, reps), q = stat_of(ratio, reps);
    char la[64];
    load_avg(la, sizeof la);
    printf("\n### snapshot write, %llu x %u (%zu bytes), load %s\n\n",
           (unsigned long long)n, dim, len, la);
    printf("| measure | cogmem s [min, max] | baseline s [min, max] | ratio | per-run ratio "
           "[min, max] |\n|---|---|---|---|---|\n");
    printf("| snapshot vs write+fsync | %.3f [%.3f, %.3f] | %.3f [%.3f, %.3f] | %.2f | %.2f "
           "[%.2f, %.2f] |\n",
           st.med, st.lo, st.hi, pw.med, pw.lo, pw.hi, pw.med / st.med, q.med, q.lo, q.hi);
    printf("| XXH3 share of the snapshot | %.3f [%.3f, %.3f] | %.3f | %.3f | |\n", hs.med,
           hs.lo, hs.hi, st.med, hs.med / st.med);
    printf("\n(XXH3 %.1f GB/s over the file in memory; checksum %llx)\n",
           (double)len / hs.med / 1e9, (unsigned long long)(acc & 0xff));
}

/* --------------------------------------------------------------- writers */

static atomic_int stop_w, stop_s;
static atomic_ullong wops;
static cogmem_store *ws;

static void *writer(void *arg)
{
    uint64_t x = (uintptr_t)arg * 0x9E3779B97F4A7C15ull + 1;
    unsigned long long k = 0;
    while (!atomic_load_explicit(&stop_w, memory_order_relaxed)) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t c = 1 + 2 * (x % (n / 2)), e = 2 + 2 * ((x >> 24) % (n / 2));
        int rc = (x >> 50) & 1 ? cogmem_touch(ws, c, x >> 8) : cogmem_bind(ws, e, c, 0.5f);
        if (rc && rc != -EEXIST && rc != -ENOENT) {
            fprintf(stderr, "writer: %s\n", cogmem_strerror(rc));
            exit(1);
        }
        k++;
    }
    atomic_fetch_add(&wops, k);
    return NULL;
}

static atomic_int snaps;

static void *snapper(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_s)) {
        CK(cogmem_snapshot(ws));
        atomic_fetch_add(&snaps, 1);
    }
    return NULL;
}

static double writers_rate(int threads, int with_snap)
{
    pthread_t th[64], sn;
    atomic_store(&stop_w, 0);
    atomic_store(&stop_s, 0);
    atomic_store(&wops, 0);
    if (with_snap)
        pthread_create(&sn, NULL, snapper, NULL);
    double t0 = now_s();
    for (int i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, writer, (void *)(uintptr_t)(i + 1));
    struct timespec d = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
    nanosleep(&d, NULL);
    atomic_store(&stop_w, 1);
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    double t = now_s() - t0;
    atomic_store(&stop_s, 1);
    if (with_snap)
        pthread_join(sn, NULL);
    return (double)atomic_load(&wops) / t;
}

/* With nproc writer threads and with nproc - 1: the snapshot thread is one
 * more runnable thread, so on P cores nproc writers can get at most about
 * P / (P + 1) of the CPU while it runs (2/3 on 2 cores). */
static void bench_writers(void)
{
    clear_dir();
    ws = open_store(COGMEM_DURABLE_PROCESS);
    fill(ws);
    long np = sysconf(_SC_NPROCESSORS_ONLN);
    int all = np < 1 ? 1 : np > 64 ? 64 : (int)np;
    char la[64];
    load_avg(la, sizeof la);
    printf("\n### writers during snapshots, PROCESS, %llu x %u, %d cores, load %s\n\n",
           (unsigned long long)n, dim, all, la);
    printf("| writer threads | with snapshots /s [min, max] | without /s [min, max] | ratio | "
           "snapshots |\n|---|---|---|---|---|\n");
    for (int wt = all > 1 ? all - 1 : all; wt <= all; wt++) {
        double with[64], without[64];
        atomic_store(&snaps, 0);
        for (int r = 0; r < reps; r++) {
            without[r] = writers_rate(wt, 0);
            with[r] = writers_rate(wt, 1);
        }
        struct stat3 w0 = stat_of(without, reps), w1 = stat_of(with, reps);
        printf("| %d | %.0f [%.0f, %.0f] | %.0f [%.0f, %.0f] | %.2f | %d |\n", wt, w1.med, w1.lo,
               w1.hi, w0.med, w0.lo, w0.hi, w1.med / w0.med, atomic_load(&snaps));
        fflush(stdout);
    }
    CK(cogmem_close(&ws));
}

/* ------------------------------------------------------------------ SYNC */

static double fsync_latency(int k)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/plain.bin", dir);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    char rec[64] = {1};
    double t0 = now_s();
    for (int i = 0; i < k; i++) {
        if (write(fd, rec, sizeof rec) != (ssize_t)sizeof rec || fdatasync(fd))
            exit(1);
    }
    double t = (now_s() - t0) / k;
    close(fd);
    unlink(p);
    return t;
}

static void *sync_writer(void *arg)
{
    uint64_t c = 1 + 2 * ((uintptr_t)arg % (n / 2));
    unsigned long long k = 0;
    while (!atomic_load_explicit(&stop_w, memory_order_relaxed)) {
        CK(cogmem_touch(ws, c, k));
        k++;
    }
    atomic_fetch_add(&wops, k);
    return NULL;
}

static double sync_rate(int threads)
{
    pthread_t th[64];
    atomic_store(&stop_w, 0);
    atomic_store(&wops, 0);
    double t0 = now_s();
    for (int i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, sync_writer, (void *)(uintptr_t)i);
    struct timespec d = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
    nanosleep(&d, NULL);
    atomic_store(&stop_w, 1);
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    return (double)atomic_load(&wops) / (now_s() - t0);
}

static void bench_sync(void)
{
    clear_dir();
    ws = open_store(COGMEM_DURABLE_SYNC);
    /* The touched concepts exist (1 per thread); no vectors beyond them. */
    float *v = calloc(dim, sizeof *v);
    v[0] = 1;
    for (uint64_t c = 1; c < 2 * 32 + 2; c += 2)
        CK(cogmem_concept_add(ws, c, v));
    free(v);
    int tcounts[] = {1, 2, 8, 32};
    char la[64];
    load_avg(la, sizeof la);
    printf("\n### SYNC group commit, load %s\n\n", la);
    printf("| threads | cogmem commits/s [min, max] | threads / fsync latency [min, max] | "
           "fsync latency ms | ratio |\n|---|---|---|---|---|\n");
    for (int k = 0; k < 4; k++) {
        double rate[64], ideal[64], lat[64];
        for (int r = 0; r < reps; r++) {
            double l0 = fsync_latency(30);
            rate[r] = sync_rate(tcounts[k]);
            lat[r] = (l0 + fsync_latency(30)) / 2;
            ideal[r] = tcounts[k] / lat[r];
        }
        /* The ratio of medians of the per-run ratios' terms. */
        double ratio[64];
        for (int r = 0; r < reps; r++)
            ratio[r] = rate[r] / ideal[r];
        struct stat3 a = stat_of(rate, reps), b = stat_of(ideal, reps), l = stat_of(lat, reps),
                     q = stat_of(ratio, reps);
        printf("| %d | %.0f [%.0f, %.0f] | %.0f [%.0f, %.0f] | %.3f | %.2f [%.2f, %.2f] |\n",
               tcounts[k], a.med, a.lo, a.hi, b.med, b.lo, b.hi, l.med * 1e3, q.med, q.lo,
               q.hi);
        fflush(stdout);
    }
    CK(cogmem_close(&ws));
}

int main(int argc, char **argv)
{
    const char *only = NULL;
    snprintf(dir, sizeof dir, "bench-write-dir");
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--n") && i + 1 < argc)
            n = strtoull(argv[++i], 0, 0);
        else if (!strcmp(argv[i], "--dim") && i + 1 < argc)
            dim = (uint32_t)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--secs") && i + 1 < argc)
            secs = atof(argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            snprintf(dir, sizeof dir, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else {
            fprintf(stderr, "usage: bench_write [--n N] [--dim D] [--reps R] [--secs S] "
                            "[--dir DIR] [--only snap|writers|sync]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > 64 || n < 4 || secs <= 0 || secs > 60)
        return 2;
    mkdir(dir, 0755);
    printf("bench_write: %llu vectors x dim %u in %s, %d repetitions of %.1f s runs\n",
           (unsigned long long)n, dim, dir, reps, secs);
    if (!only || !strcmp(only, "snap"))
        bench_snapshot();
    if (!only || !strcmp(only, "writers"))
        bench_writers();
    if (!only || !strcmp(only, "sync"))
        bench_sync();
    clear_dir();
    return 0;
}
