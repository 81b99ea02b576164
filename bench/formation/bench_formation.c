/* cogmem formation benchmark: the timed pieces, each in its own process
 * mode so that bench/formation/run.py can interleave them with the Python
 * and FAISS peers on the same bytes.
 *
 *   bench_formation gen N DIM K SPREAD NOISE SEED OUTDIR
 *       write OUTDIR/data.f32 and OUTDIR/truth.i32 (tests/form/gen.h)
 *   bench_formation form DATA N DIM TAU METHOD THREADS LABELS [REPS [CPU]]
 *       load DATA as episodes (ids 1..N, shuffled insertion order), time
 *       REPS cogmem_form_concepts calls (dry run: the selection, the
 *       clustering, the means and contributions; nothing written), print
 *       the median, write the raw labels
 *   bench_formation sgemm DATA N DIM THREADS [CPU]
 *       time OpenBLAS cblas_sgemm of the N x N product X X^T alone (the
 *       pairwise similarities; THREADS BLAS threads)
 *   bench_formation consolidate C DIM REPS [CPU]
 *       C concepts (random unit centroids), REPS fresh episodes each near
 *       a concept: time each cogmem_consolidate (recall top-1 + bind +
 *       blend) against one exact top-1 cogmem_recall (dot) over the
 *       concepts with the same query, interleaved; print both medians
 *
 * Every mode prints "key=value" lines; times are wall-clock ns of the timed
 * call only (CLOCK_MONOTONIC).
 *
 * Placement (why: bench/pin.h). A timed piece on one thread runs pinned,
 * its data built and every call timed on the CPU given as CPU (default
 * 0, counted in the process's own CPUs): consolidate always, on one CPU
 * throughout (its two sides alternate op by op over the same concepts;
 * rotating CPUs would have each op first pull them from the other CPU's
 * cache, which made bench_bind's decay pass 2-3x slower), form and sgemm
 * when THREADS is 1 (so run.py can put both sides of a repetition on one
 * CPU). With more threads nothing is pinned: form's workers are threads
 * cogmem_form_concepts creates per call (src/life/common.c) and OpenBLAS's
 * are created when it loads, neither with a hook to place them, and the
 * library's inherit the caller's mask, so a pinned caller would put them
 * all on its one CPU. The store is opened before the pin, so the call_rcu
 * worker cogmem_open creates keeps the process's mask. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../pin.h"
#include "cogmem.h"
#include "form/gen.h"

#if defined(COGMEM_HAVE_OPENBLAS) && COGMEM_HAVE_OPENBLAS
#include <cblas.h>
void openblas_set_num_threads(int);
#endif

static uint64_t mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int save(const char *path, const void *p, size_t bytes)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, bytes, f) != bytes || fclose(f)) {
        perror(path);
        return 1;
    }
    return 0;
}

static float *load(const char *path, size_t n, uint32_t dim)
{
    float *x = malloc(n * dim * sizeof *x);
    FILE *f = fopen(path, "rb");
    if (!x || !f || fread(x, sizeof *x, n * dim, f) != n * dim) {
        perror(path);
        exit(1);
    }
    fclose(f);
    return x;
}

static cogmem_store *open_store(uint32_t dim, uint64_t n)
{
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = dim;
    cfg.expected_episodes = n;
    cfg.expected_concepts = n;
    cfg.stats = 0;
    cogmem_store *s = NULL;
    if (cogmem_open(&cfg, &s)) {
        fprintf(stderr, "open failed\n");
        exit(1);
    }
    return s;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int mode_gen(char **a)
{
    size_t n = strtoull(a[0], NULL, 10), noise = strtoull(a[4], NULL, 10);
    uint32_t dim = (uint32_t)atoi(a[1]), k = (uint32_t)atoi(a[2]);
    float *x = malloc(n * dim * sizeof *x);
    int32_t *t = malloc(n * sizeof *t);
    gen_clusters(strtoull(a[5], NULL, 10), n, dim, k, strtod(a[3], NULL), noise, x, t);
    char p[4096];
    snprintf(p, sizeof p, "%s/data.f32", a[6]);
    int bad = save(p, x, n * dim * sizeof *x);
    snprintf(p, sizeof p, "%s/truth.i32", a[6]);
    bad |= save(p, t, n * sizeof *t);
    return bad;
}

static int mode_form(char **a, unsigned cpu)
{
    size_t n = strtoull(a[1], NULL, 10);
    uint32_t dim = (uint32_t)atoi(a[2]);
    uint32_t threads = (uint32_t)atoi(a[5]);
    cogmem_store *s = open_store(dim, n);
    if (threads == 1)
        bench_pin_self(cpu); /* see Placement */
    float *x = load(a[0], n, dim);
    size_t *order = malloc(n * sizeof *order);
    gen_shuffle(12345, order, n);
    for (size_t q = 0; q < n; q++)
        if (cogmem_episode_add(s, order[q] + 1, x + order[q] * dim, 1))
            return 1;
    cogmem_form_params p;
    cogmem_form_params_init(&p);
    p.min_similarity = strtof(a[3], NULL);
    p.method = atoi(a[4]);
    p.threads = threads;
    p.dry_run = 1;
    p.next_id = n + 1;
    cogmem_form_result r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    /* REPS calls (default 1); the median is reported, the first call
     * included (it pays the page faults of the similarity triangle). */
    size_t reps = a[7] ? strtoull(a[7], NULL, 10) : 1;
    uint64_t *t = malloc(reps * sizeof *t);
    for (size_t q = 0; q < reps; q++) {
        if (q)
            cogmem_form_result_free(&r);
        uint64_t t0 = mono();
        int rc = cogmem_form_concepts(s, &p, &r);
        t[q] = mono() - t0;
        if (rc) {
            fprintf(stderr, "form: %s\n", cogmem_strerror(rc));
            return 1;
        }
    }
    qsort(t, reps, sizeof *t, cmp_u64);
    printf("form_ns=%llu\nform_min_ns=%llu\nform_max_ns=%llu\nclusters=%zu\nconcepts=%zu\n"
           "method=%d\n",
           (unsigned long long)t[reps / 2], (unsigned long long)t[0],
           (unsigned long long)t[reps - 1], r.n_clusters, r.n_concepts, r.method);
    free(t);
    int bad = save(a[6], r.labels, n * sizeof *r.labels);
    cogmem_form_result_free(&r);
    cogmem_close(&s);
    return bad;
}

static int mode_sgemm(char **a, unsigned cpu)
{
#if defined(COGMEM_HAVE_OPENBLAS) && COGMEM_HAVE_OPENBLAS
    size_t n = strtoull(a[1], NULL, 10);
    uint32_t dim = (uint32_t)atoi(a[2]);
    if (atoi(a[3]) == 1)
        bench_pin_self(cpu); /* see Placement */
    float *x = load(a[0], n, dim);
    float *c = malloc(n * n * sizeof *c);
    openblas_set_num_threads(atoi(a[3]));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)n, (int)dim, 1.0f, x,
                (int)dim, x, (int)dim, 0.0f, c, (int)n); /* warm-up: threads, pages */
    uint64_t t0 = mono();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)n, (int)dim, 1.0f, x,
                (int)dim, x, (int)dim, 0.0f, c, (int)n);
    uint64_t t1 = mono();
    printf("sgemm_ns=%llu\ncheck=%g\n", (unsigned long long)(t1 - t0), (double)c[n + 1]);
    return 0;
#else
    (void)a;
    (void)cpu;
    fprintf(stderr, "built without OpenBLAS\n");
    return 1;
#endif
}

static int mode_consolidate(char **a, unsigned cpu)
{
    size_t c = strtoull(a[0], NULL, 10), reps = strtoull(a[2], NULL, 10);
    uint32_t dim = (uint32_t)atoi(a[1]);
    cogmem_store *s = open_store(dim, c + reps);
    bench_pin_self(cpu); /* see Placement */
    uint64_t rng = 777;
    float *v = malloc(dim * sizeof *v), *cen = malloc(c * dim * sizeof *cen);
    for (size_t i = 0; i < c; i++) {
        gen_unit(&rng, cen + i * dim, dim);
        if (cogmem_concept_add(s, 1 + i, cen + i * dim))
            return 1;
    }
    cogmem_form_params p;
    cogmem_form_params_init(&p);
    p.min_similarity = 0.5f;
    cogmem_recall_params rp;
    cogmem_recall_params_init(&rp);
    rp.metric = COGMEM_METRIC_DOT;
    uint64_t *tc = malloc(reps * sizeof *tc), *tr = malloc(reps * sizeof *tr);
    size_t bound = 0;
    for (size_t r = 0; r < reps; r++) {
        const float *ce = cen + (gen_next(&rng) % c) * dim;
        double nn = 0;
        for (uint32_t d = 0; d < dim; d++) {
            v[d] = ce[d] + (float)(0.5 * gen_normal(&rng) / 27.7);
            nn += (double)v[d] * v[d];
        }
        for (uint32_t d = 0; d < dim; d++)
            v[d] /= (float)sqrt(nn);
        uint64_t id = c + 1 + r;
        if (cogmem_episode_add(s, id, v, 1))
            return 1;
        cogmem_recall_hit h;
        size_t nh;
        /* interleaved, order alternating: neither always runs cache-warm */
        for (int k = 0; k < 2; k++) {
            if ((k == 0) == (r % 2 == 0)) {
                uint64_t t0 = mono();
                cogmem_recall(s, v, COGMEM_CONCEPT, 1, &rp, &h, &nh);
                tr[r] = mono() - t0;
            } else {
                cogmem_consolidate_result cr = {.struct_size = sizeof cr};
                uint64_t t0 = mono();
                int rc = cogmem_consolidate(s, id, &p, &cr);
                tc[r] = mono() - t0;
                if (rc)
                    return 1;
                bound += cr.bound;
            }
        }
    }
    qsort(tc, reps, sizeof *tc, cmp_u64);
    qsort(tr, reps, sizeof *tr, cmp_u64);
    printf("consolidate_ns=%llu\nrecall_ns=%llu\nconsolidate_p10_ns=%llu\nconsolidate_p90_ns=%llu\n"
           "recall_p10_ns=%llu\nrecall_p90_ns=%llu\nbound=%zu\nreps=%zu\n",
           (unsigned long long)tc[reps / 2], (unsigned long long)tr[reps / 2],
           (unsigned long long)tc[reps / 10], (unsigned long long)tc[reps * 9 / 10],
           (unsigned long long)tr[reps / 10], (unsigned long long)tr[reps * 9 / 10], bound, reps);
    cogmem_close(&s);
    return 0;
}

/* The optional CPU argument, argv[i]: bench_pin_self's k, default 0. */
static unsigned cpu_arg(int argc, char **argv, int i)
{
    return i < argc ? (unsigned)strtoul(argv[i], NULL, 10) : 0;
}

int main(int argc, char **argv)
{
    bench_cpus_init();
    if (argc >= 9 && !strcmp(argv[1], "gen"))
        return mode_gen(argv + 2);
    if (argc >= 9 && !strcmp(argv[1], "form")) /* argv[argc] is NULL: REPS optional */
        return mode_form(argv + 2, cpu_arg(argc, argv, 10));
    if (argc >= 6 && !strcmp(argv[1], "sgemm"))
        return mode_sgemm(argv + 2, cpu_arg(argc, argv, 6));
    if (argc >= 5 && !strcmp(argv[1], "consolidate"))
        return mode_consolidate(argv + 2, cpu_arg(argc, argv, 5));
    fprintf(stderr, "usage: see the top of bench/formation/bench_formation.c\n");
    return 2;
}
