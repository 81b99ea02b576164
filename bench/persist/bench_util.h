/* cogmem bench/persist — what bench_persist.c, bench_open.c and
 * bench_write.c share: a monotonic clock, an error check that exits, the
 * median and range of repetitions, and the newest snapshot of the bench
 * directory. Each bench is one translation unit that defines `dir` (the
 * store directory) before including this header. */
#ifndef COGMEM_BENCH_PERSIST_UTIL_H
#define COGMEM_BENCH_PERSIST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cogmem.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#define CK(e)                                                                  \
    do {                                                                       \
        int rc_ = (e);                                                         \
        if (rc_) {                                                             \
            fprintf(stderr, "%s: %s\n", #e, cogmem_strerror(rc_));             \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct stat3 {
    double med, lo, hi;
};

/* Median, minimum and maximum of v[0..k) (sorts v). */
static struct stat3 stat_of(double *v, int k)
{
    qsort(v, (size_t)k, sizeof *v, cmpd);
    return (struct stat3){v[k / 2], v[0], v[k - 1]};
}

/* The newest snap-*.cgs in `dir` (a static buffer); exits if there is none. */
static char *newest_snapshot(void)
{
    static char path[4200];
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "ls '%s'/snap-*.cgs | tail -1", dir);
    FILE *p = popen(cmd, "r");
    if (!p || !fgets(path, sizeof path, p))
        exit(1);
    pclose(p);
    path[strcspn(path, "\n")] = 0;
    return path;
}

#endif
