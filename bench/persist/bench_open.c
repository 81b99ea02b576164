/* Open-side persistence benchmark (issue 9): how fast a store directory
 * comes back, every figure a ratio against a baseline in the same run on
 * the same files (the page cache is warm for both: the machine is shared,
 * so no cache dropping).
 *
 *   COPY open   cogmem_open() of a directory holding one snapshot
 *               (parsed, every checksum verified, every node loaded) vs
 *               read() of the snapshot file into a buffer;
 *   MMAP open   cogmem_open() with COGMEM_OPEN_MMAP of the same
 *               directory vs the COPY open (goal: <= 0.1x its time);
 *   recall      cogmem_recall() top-10 over both kinds on an MMAP-opened
 *               store vs a COPY-opened one, after one untimed recall has
 *               made the mapped pages resident (goal: >= 0.9x);
 *   replay      journal bytes per second replayed at open (a directory
 *               with a journal of adds and no snapshot; goal >= 1 GB/s);
 *   snapshot    cogmem_snapshot() of the store just opened: the first
 *               one after an MMAP open (which checks every mapped row it
 *               writes, its chunk's XXH3 and its norm, and faults the
 *               pages in) and the second (the rows checked and resident)
 *               vs the first one after a COPY open (rows already checked
 *               and in memory). Each writes and fsyncs the whole file.
 * Open times exclude cogmem_close(). Medians of REPS interleaved
 * repetitions, with min and max.
 * Usage: bench_open [--n N] [--dim D] [--reps R] [--dir DIR] [--csv FILE]
 *                   [--loop-copy K | --loop-mmap K | --loop-replay K]
 *                   (profiling: only K opens of the prepared directory)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cogmem.h"

static uint32_t dim = 768;
static uint64_t n = 100000;
static char dir[1024], jdir[1100];

#include "bench_util.h"

static cogmem_store *open_at(const char *path, int durability, int mode)
{
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = dim;
    cfg.path = path;
    cfg.durability = durability;
    cfg.open_mode = mode;
    cogmem_store *s = NULL;
    CK(cogmem_open(&cfg, &s));
    return s;
}

static void vec_of(uint64_t id, float *v)
{
    uint64_t x = 88172645463325252ull ^ (id * 0x9E3779B97F4A7C15ull);
    for (uint32_t i = 0; i < dim; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v[i] = (float)(x % 20001) / 10000.0f - 1.0f;
    }
    v[0] += 2.0f;
}

static void fill(cogmem_store *s, uint64_t from, uint64_t to)
{
    float *v = malloc(dim * sizeof *v);
    for (uint64_t id = from; id < to; id++) {
        vec_of(id, v);
        if (id % 2)
            CK(cogmem_concept_add(s, id, v));
        else
            CK(cogmem_episode_add(s, id, v, id));
    }
    free(v);
}

static void sh(const char *fmt, const char *a)
{
    char cmd[4400];
    snprintf(cmd, sizeof cmd, fmt, a, a, a);
    if (system(cmd))
        exit(1);
}

static double plain_read(const char *p, char *buf, size_t bytes)
{
    double t0 = now_s();
    int fd = open(p, O_RDONLY);
    size_t got = 0;
    ssize_t r;
    while (fd >= 0 && got < bytes && (r = read(fd, buf + got, bytes - got)) > 0)
        got += (size_t)r;
    if (fd < 0 || got != bytes)
        exit(1); /* a baseline that read nothing would flatter the ratio */
    close(fd);
    return now_s() - t0;
}

static double timed_snapshot(cogmem_store *s)
{
    double t0 = now_s();
    CK(cogmem_snapshot(s));
    return now_s() - t0;
}

static double timed_open(const char *path, int mode)
{
    double t0 = now_s();
    cogmem_store *s = open_at(path, COGMEM_DURABLE_NONE, mode);
    double t = now_s() - t0;
    CK(cogmem_close(&s));
    return t;
}

/* Seconds for `q` top-10 recalls over both kinds (after one untimed). */
static double recall_time(cogmem_store *s, const float *qs, int q)
{
    cogmem_recall_params p;
    cogmem_recall_params_init(&p);
    cogmem_recall_hit hits[10];
    size_t got;
    CK(cogmem_recall(s, qs, COGMEM_ALL_KINDS, 10, &p, hits, &got));
    double t0 = now_s();
    for (int i = 0; i < q; i++)
        CK(cogmem_recall(s, qs + (size_t)i * dim, COGMEM_ALL_KINDS, 10, &p, hits, &got));
    return now_s() - t0;
}

int main(int argc, char **argv)
{
    int reps = 5, loop_copy = 0, loop_replay = 0, loop_mmap = 0;
    const char *csv = NULL;
    snprintf(dir, sizeof dir, "bench-open-dir");
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--n") && i + 1 < argc)
            n = strtoull(argv[++i], 0, 0);
        else if (!strcmp(argv[i], "--dim") && i + 1 < argc)
            dim = (uint32_t)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            snprintf(dir, sizeof dir, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--csv") && i + 1 < argc)
            csv = argv[++i];
        else if (!strcmp(argv[i], "--loop-copy") && i + 1 < argc)
            loop_copy = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--loop-mmap") && i + 1 < argc)
            loop_mmap = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--loop-replay") && i + 1 < argc)
            loop_replay = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_open [--n N] [--dim D] [--reps R] [--dir DIR] "
                            "[--csv FILE] [--loop-copy K | --loop-mmap K | --loop-replay K]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > 64 || n < 4)
        return 2;
    snprintf(jdir, sizeof jdir, "%s-jrn", dir);
    mkdir(dir, 0755);
    mkdir(jdir, 0755);
    double l[3];
    FILE *la = fopen("/proc/loadavg", "r");
    if (!la || fscanf(la, "%lf %lf %lf", &l[0], &l[1], &l[2]) != 3)
        l[0] = l[1] = l[2] = -1;
    if (la)
        fclose(la);
    printf("bench_open: %llu vectors x dim %u in %s, %d repetitions, load %.2f %.2f %.2f, "
           "kernels %s\n",
           (unsigned long long)n, dim, dir, reps, l[0], l[1], l[2], cogmem_simd_isa());

    /* The snapshot directory: n vectors, a few bindings, one snapshot. */
    if (!loop_replay) {
        sh("rm -f '%s'/snap-* '%s'/jrn-*", dir);
        cogmem_store *s = open_at(dir, COGMEM_DURABLE_NONE, COGMEM_OPEN_COPY);
        fill(s, 1, n + 1);
        for (uint64_t c = 1; c + 1 <= n && c < 20000; c += 2)
            CK(cogmem_bind(s, c + 1, c, 0.5f));
        CK(cogmem_snapshot(s));
        CK(cogmem_close(&s));
    }
    /* The journal directory: n / 4 adds, no snapshot. */
    if (!loop_copy && !loop_mmap) {
        sh("rm -f '%s'/snap-* '%s'/jrn-*", jdir);
        cogmem_store *s = open_at(jdir, COGMEM_DURABLE_PROCESS, COGMEM_OPEN_COPY);
        fill(s, 1, n / 4 + 1);
        CK(cogmem_close(&s));
    }
    if (loop_copy) {
        for (int i = 0; i < loop_copy; i++)
            printf("COPY open %.3f s\n", timed_open(dir, COGMEM_OPEN_COPY));
        return 0;
    }
    if (loop_mmap) {
        for (int i = 0; i < loop_mmap; i++)
            printf("MMAP open %.4f s\n", timed_open(dir, COGMEM_OPEN_MMAP));
        return 0;
    }
    if (loop_replay) {
        for (int i = 0; i < loop_replay; i++)
            printf("replay open %.3f s\n", timed_open(jdir, COGMEM_OPEN_COPY));
        return 0;
    }
    const char *sp = newest_snapshot();
    struct stat sb;
    if (stat(sp, &sb))
        return 1;
    size_t bytes = (size_t)sb.st_size;
    char *buf = malloc(bytes);
    if (!buf)
        return 1;
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "du -cb '%s'/jrn-* | tail -1", jdir);
    FILE *p = popen(cmd, "r");
    unsigned long long jbytes = 0;
    if (!p || fscanf(p, "%llu", &jbytes) != 1)
        return 1;
    pclose(p);

    double rd[64], cp[64], mm[64], rp[64], rc_[64], rm[64], sc[64], sm[64], sm2[64];
    int q = 20;
    float *qs = malloc((size_t)q * dim * sizeof *qs);
    for (int i = 0; i < q; i++)
        vec_of(n + 1000 + (uint64_t)i, qs + (size_t)i * dim);
    for (int r = 0; r < reps; r++) {
        /* The snapshots below replace the file (same bytes, new name). */
        sp = newest_snapshot();
        if (stat(sp, &sb) || (size_t)sb.st_size != bytes)
            return 1;
        rd[r] = plain_read(sp, buf, bytes);
        cp[r] = timed_open(dir, COGMEM_OPEN_COPY);
        mm[r] = timed_open(dir, COGMEM_OPEN_MMAP);
        rp[r] = timed_open(jdir, COGMEM_OPEN_COPY);
        cogmem_store *s = open_at(dir, COGMEM_DURABLE_NONE, COGMEM_OPEN_COPY);
        rc_[r] = recall_time(s, qs, q);
        CK(cogmem_close(&s));
        s = open_at(dir, COGMEM_DURABLE_NONE, COGMEM_OPEN_MMAP);
        rm[r] = recall_time(s, qs, q);
        CK(cogmem_close(&s));
        /* Each snapshot replaces the directory's one (same content). */
        s = open_at(dir, COGMEM_DURABLE_NONE, COGMEM_OPEN_COPY);
        sc[r] = timed_snapshot(s);
        CK(cogmem_close(&s));
        s = open_at(dir, COGMEM_DURABLE_NONE, COGMEM_OPEN_MMAP);
        sm[r] = timed_snapshot(s);
        sm2[r] = timed_snapshot(s);
        CK(cogmem_close(&s));
    }
    struct stat3 a = stat_of(rd, reps), b = stat_of(cp, reps), c = stat_of(mm, reps),
                 d = stat_of(rp, reps), e = stat_of(rc_, reps), f = stat_of(rm, reps),
                 g = stat_of(sc, reps), h = stat_of(sm, reps), k = stat_of(sm2, reps);
    printf("\n%-30s %10s %10s %8s   %s\n", "measure (median)", "cogmem", "baseline", "ratio",
           "[min, max] of cogmem");
    printf("%-30s %8.4f s %8.4f s %8.3f   [%.4f, %.4f] (ratio = read / open; %zu bytes)\n",
           "COPY open vs read()", b.med, a.med, a.med / b.med, b.lo, b.hi, bytes);
    printf("%-30s %8.4f s %8.4f s %8.3f   [%.4f, %.4f] (ratio = MMAP / COPY)\n",
           "MMAP open vs COPY open", c.med, b.med, c.med / b.med, c.lo, c.hi);
    printf("%-30s %8.4f s %8.4f s %8.3f   [%.4f, %.4f] (%d top-10 recalls; ratio = COPY "
           "time / MMAP time)\n",
           "recall MMAP vs COPY store", f.med, e.med, e.med / f.med, f.lo, f.hi, q);
    printf("%-30s %8.4f s %10s %6.3f GB/s [%.4f, %.4f] (%llu journal bytes)\n",
           "replay at open", d.med, "", (double)jbytes / d.med / 1e9, d.lo, d.hi, jbytes);
    printf("%-30s %8.4f s %8.4f s %8.3f   [%.4f, %.4f] (ratio = MMAP / COPY)\n",
           "1st snapshot MMAP vs COPY", h.med, g.med, h.med / g.med, h.lo, h.hi);
    printf("%-30s %8.4f s %8.4f s %8.3f   [%.4f, %.4f] (ratio = MMAP / COPY)\n",
           "2nd snapshot MMAP vs COPY", k.med, g.med, k.med / g.med, k.lo, k.hi);
    if (csv) {
        FILE *o = fopen(csv, "w");
        if (!o)
            return 1;
        fprintf(o, "measure,cogmem,baseline,ratio\n");
        fprintf(o, "COPY open vs read,%g,%g,%g\n", b.med, a.med, a.med / b.med);
        fprintf(o, "MMAP open vs COPY open,%g,%g,%g\n", c.med, b.med, c.med / b.med);
        fprintf(o, "recall MMAP vs COPY,%g,%g,%g\n", f.med, e.med, e.med / f.med);
        fprintf(o, "replay GB/s,%g,1,%g\n", (double)jbytes / d.med / 1e9,
                (double)jbytes / d.med / 1e9);
        fprintf(o, "1st snapshot MMAP vs COPY,%g,%g,%g\n", h.med, g.med, h.med / g.med);
        fprintf(o, "2nd snapshot MMAP vs COPY,%g,%g,%g\n", k.med, g.med, k.med / g.med);
        fclose(o);
    }
    free(qs);
    free(buf);
    sh("rm -rf '%s' '%s-jrn'", dir);
    return 0;
}
