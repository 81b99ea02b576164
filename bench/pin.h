/* cogmem benchmarks — pinning timed threads to CPUs.
 *
 * The CPUs of the shared VMs these benchmarks run on are not alike: on the
 * 2026-12-03 machine one CPU ran the same single-thread loop 1.4-1.7x
 * slower than the other. An unpinned thread is priced on whichever CPU it
 * lands on, so a ratio of two runs could compare CPUs instead of code.
 * A benchmark that includes this header pins each timed thread with
 * bench_pin_self(k), k counted in the process's own affinity mask (so
 * taskset is respected), and says in its header how it picks k.
 *
 * Static state: include it in one translation unit per program. */
#ifndef COGMEM_BENCH_PIN_H
#define COGMEM_BENCH_PIN_H

#include <pthread.h>
#include <sched.h>

static int bench_cpus[64], bench_ncpus;
static cpu_set_t bench_cpus_orig;

/* Read the process's CPUs; call once from main before any thread starts.
 * Without them (the call failed) nothing is ever pinned. */
static inline void bench_cpus_init(void)
{
    if (pthread_getaffinity_np(pthread_self(), sizeof bench_cpus_orig, &bench_cpus_orig) != 0)
        return;
    for (int c = 0; c < CPU_SETSIZE && bench_ncpus < 64; c++)
        if (CPU_ISSET(c, &bench_cpus_orig))
            bench_cpus[bench_ncpus++] = c;
}

/* Pin the calling thread to the k-th CPU (mod their number). */
static inline void bench_pin_self(unsigned k)
{
    if (bench_ncpus == 0)
        return;
    cpu_set_t m;
    CPU_ZERO(&m);
    CPU_SET(bench_cpus[k % (unsigned)bench_ncpus], &m);
    (void)pthread_setaffinity_np(pthread_self(), sizeof m, &m);
}

/* Undo bench_pin_self: every CPU the process started with. */
static inline void bench_unpin_self(void)
{
    if (bench_ncpus)
        (void)pthread_setaffinity_np(pthread_self(), sizeof bench_cpus_orig,
                                     &bench_cpus_orig);
}

#endif /* COGMEM_BENCH_PIN_H */
