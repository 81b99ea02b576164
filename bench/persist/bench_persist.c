/* Persistence benchmark (issue 9): every figure is a ratio against a
 * baseline doing the same work in the same run, on the same disk.
 *
 *   snapshot write  cogmem_snapshot() of a quiescent store vs write() +
 *                   fsync() of as many bytes to a file in the same
 *                   directory (ratio = baseline time / snapshot time);
 *   COPY open       cogmem_open() of that directory (snapshot parsed,
 *                   every checksum verified, every node added) vs read()
 *                   of the snapshot file; both from the page cache (the
 *                   machine is shared: no cache dropping);
 *   checksums       XXH3 over the file's bytes, as a share of the
 *                   snapshot write and of the open;
 *   replay          journal bytes per second replayed at open (a store
 *                   with a journal and no snapshot).
 * Writers during snapshots and the SYNC group-commit table are in
 * bench_write.c (the write side), with the snapshot write measured there
 * against a plain write of the snapshot's own bytes.
 * Medians of REPS interleaved repetitions, with min and max.
 * Usage: bench_persist [--n N] [--dim D] [--reps R] [--dir DIR] [--csv FILE]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>
#include <xxh_x86dispatch.h> /* the kernel src/persist/sum.c runs: AVX-512/AVX2 */

#include "cogmem.h"

static uint32_t dim = 768;
static uint64_t n = 100000;
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

static void fill(cogmem_store *s, uint64_t from, uint64_t to)
{
    float *v = malloc(dim * sizeof *v);
    uint64_t x = 88172645463325252ull;
    for (uint64_t id = from; id < to; id++) {
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
    free(v);
}

static void clear_dir(void)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -f '%s'/snap-* '%s'/jrn-* '%s'/plain.bin", dir, dir, dir);
    if (system(cmd))
        exit(1);
}

static size_t file_size(const char *p)
{
    struct stat sb;
    return stat(p, &sb) ? 0 : (size_t)sb.st_size;
}

static double plain_write(size_t bytes, const char *buf, size_t chunk)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/plain.bin", dir);
    double t0 = now_s();
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    for (size_t off = 0; off < bytes; off += chunk) {
        size_t m = bytes - off < chunk ? bytes - off : chunk;
        if (write(fd, buf, m) != (ssize_t)m)
            exit(1);
    }
    fsync(fd);
    close(fd);
    double t = now_s() - t0;
    unlink(p);
    return t;
}

static double plain_read(const char *p, char *buf, size_t chunk, uint64_t *sum)
{
    double t0 = now_s();
    int fd = open(p, O_RDONLY);
    ssize_t r;
    uint64_t acc = 0;
    while ((r = read(fd, buf, chunk)) > 0)
        acc += (unsigned char)buf[0];
    close(fd);
    *sum = acc;
    return now_s() - t0;
}

int main(int argc, char **argv)
{
    int reps = 5;
    const char *csv = NULL;
    snprintf(dir, sizeof dir, "bench-persist-dir");
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
        else {
            fprintf(stderr, "usage: bench_persist [--n N] [--dim D] [--reps R] [--dir DIR] "
                            "[--csv FILE]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > 64 || n < 4)
        return 2;
    mkdir(dir, 0755);
    clear_dir();
    double l[3];
    FILE *la = fopen("/proc/loadavg", "r");
    if (!la || fscanf(la, "%lf %lf %lf", &l[0], &l[1], &l[2]) != 3)
        l[0] = l[1] = l[2] = -1;
    if (la)
        fclose(la);
    printf("bench_persist: %llu vectors x dim %u in %s, %d repetitions, load %.2f %.2f %.2f, "
           "kernels %s\n",
           (unsigned long long)n, dim, dir, reps, l[0], l[1], l[2], cogmem_simd_isa());

    /* A store with n vectors and a few bindings, then a snapshot. */
    cogmem_store *s = open_store(COGMEM_DURABLE_NONE);
    fill(s, 1, n + 1);
    for (uint64_t c = 1; c + 1 <= n && c < 20000; c += 2)
        CK(cogmem_bind(s, c + 1, c, 0.5f));
    double snap_t[64], plain_t[64], open_t[64], read_t[64], hash_t[64];
    size_t chunk = 4u << 20;
    char *buf = malloc(chunk);
    memset(buf, 7, chunk);
    size_t bytes = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        CK(cogmem_snapshot(s));
        snap_t[r] = now_s() - t0;
        bytes = file_size(newest_snapshot());
        plain_t[r] = plain_write(bytes, buf, chunk);
    }
    CK(cogmem_close(&s));
    const char *sp = newest_snapshot();
    /* XXH3 over the file from memory: what checksumming costs. */
    char *all = malloc(bytes);
    uint64_t dummy = 0;
    {
        int fd = open(sp, O_RDONLY);
        size_t got = 0;
        ssize_t rr;
        while (got < bytes && (rr = read(fd, all + got, bytes - got)) > 0)
            got += (size_t)rr;
        close(fd);
    }
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        s = open_store(COGMEM_DURABLE_NONE);
        open_t[r] = now_s() - t0;
        CK(cogmem_close(&s));
        read_t[r] = plain_read(sp, buf, chunk, &dummy);
        t0 = now_s();
        dummy += XXH3_64bits_dispatch(all, bytes);
        hash_t[r] = now_s() - t0;
    }
    free(all);
    struct stat3 st = stat_of(snap_t, reps), pw = stat_of(plain_t, reps),
                 op = stat_of(open_t, reps), rd = stat_of(read_t, reps),
                 hs = stat_of(hash_t, reps);
    printf("\n%-34s %10s %10s %10s\n", "measure (median [min, max])", "cogmem", "baseline",
           "ratio");
    printf("%-34s %8.3f s %8.3f s %10.2f   (%zu bytes; ratio = write time / snapshot time; "
           "snapshot [%.3f, %.3f])\n",
           "snapshot write vs write+fsync", st.med, pw.med, pw.med / st.med, bytes, st.lo,
           st.hi);
    printf("%-34s %8.3f s %8.3f s %10.2f   (ratio = read time / open time; open [%.3f, "
           "%.3f])\n",
           "COPY open vs read() (cached)", op.med, rd.med, rd.med / op.med, op.lo, op.hi);
    printf("%-34s %8.3f s %10s %10.3f   (share of the snapshot write)\n",
           "XXH3 of the file", hs.med, "", hs.med / st.med);
    printf("%-34s %8.3f s %10s %10.3f   (share of the open)\n", "XXH3 of the file", hs.med,
           "", hs.med / op.med);

    /* Writers during snapshots and SYNC group commit: bench_write. */
    FILE *out = csv ? fopen(csv, "w") : NULL;
    if (out)
        fprintf(out, "measure,cogmem,baseline,ratio\n");
    if (out) {
        fprintf(out, "snapshot write,%g,%g,%g\n", st.med, pw.med, pw.med / st.med);
        fprintf(out, "COPY open,%g,%g,%g\n", op.med, rd.med, rd.med / op.med);
    }

    /* Replay: a journal with n/4 adds and no snapshot. */
    clear_dir();
    s = open_store(COGMEM_DURABLE_PROCESS);
    fill(s, 1, n / 4 + 1);
    CK(cogmem_close(&s));
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "du -cb '%s'/jrn-* | tail -1", dir);
    FILE *p = popen(cmd, "r");
    unsigned long long jbytes = 0;
    if (!p || fscanf(p, "%llu", &jbytes) != 1)
        return 1;
    pclose(p);
    double rt[64];
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        s = open_store(COGMEM_DURABLE_NONE);
        rt[r] = now_s() - t0;
        CK(cogmem_close(&s));
    }
    struct stat3 rp = stat_of(rt, reps);
    printf("%-34s %8.3f s %10s %8.2f GB/s (%llu journal bytes; [%.3f, %.3f] s)\n",
           "replay at open", rp.med, "", (double)jbytes / rp.med / 1e9, jbytes, rp.lo, rp.hi);
    if (out) {
        fprintf(out, "replay GB/s,%g,1,%g\n", (double)jbytes / rp.med / 1e9,
                (double)jbytes / rp.med / 1e9);
        fprintf(out, "XXH3 share of write,%g,%g,%g\n", hs.med, st.med, hs.med / st.med);
        fprintf(out, "XXH3 share of open,%g,%g,%g\n", hs.med, op.med, hs.med / op.med);
        fclose(out);
    }
    clear_dir();
    free(buf);
    return dummy == 42 ? 3 : 0; /* keeps the hashing from being optimised out */
}
