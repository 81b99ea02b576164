/* cogmem demo — a synthetic store under a concurrent mixed workload.
 *
 * The demo loads concepts (cluster centroids) and episodes (points scattered
 * around them) generated from a fixed seed, then lets `nproc` threads hammer
 * the one store for a few seconds with lookups, zero-copy vector reads,
 * centroid replacements and blends, and episodes coming and going. None of
 * the threads registers with the library: that is the thread model being
 * shown.
 *
 * It is also a check. Threads verify what they read as they go, and at the
 * end the store must agree with the demo's own bookkeeping (counts,
 * iteration, the fate of every id added or removed, and that no centroid
 * update was lost). Any disagreement makes the exit status non-zero, so the
 * demo can run as a test.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cogmem.h"
#include "mission.h"

#define CMD "demo"

/* Id layout: the three populations live in disjoint id ranges so that the
 * checks can tell from an id alone what it is and which thread owns it. */
#define CONCEPT_BASE UINT64_C(1)
#define EPISODE_BASE (UINT64_C(1) << 32)
#define CHURN_BASE (UINT64_C(1) << 40)
#define CHURN_STRIDE (UINT64_C(1) << 24) /* churn ids per thread */

#define MAX_THREADS 1024
#define MAX_CONCEPTS (UINT64_C(1) << 24)
#define MAX_EPISODES (UINT64_C(1) << 31)
#define MAX_CLUSTERS 32
/* Noise rows shared read-only by all threads: writing a vector then costs
 * `dim` multiply-adds rather than `dim` Gaussian draws, so the workload
 * measures the store, not the random number generator. */
#define NOISE_ROWS 256

/* Spread of concepts around their cluster, and of episodes around their
 * concept, in units of the clusters' own (unit) per-coordinate spread. */
#define CONCEPT_SPREAD 0.35f
#define EPISODE_SPREAD 0.5f

/* A vector read must reproduce the norm the store computed when the vector
 * was sealed; anything looser than float rounding means the data changed
 * under a held reference. Both sides accumulate in double. */
#define NORM_TOLERANCE 1e-4

enum op {
    OP_CONCEPT_INFO,
    OP_EPISODE_INFO,
    OP_VEC_READ,
    OP_SET_CENTROID,
    OP_BLEND,
    OP_EPISODE_ADD,
    OP_EPISODE_REMOVE,
    OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
    [OP_CONCEPT_INFO] = "concept_info",
    [OP_EPISODE_INFO] = "episode_info",
    [OP_VEC_READ] = "vec_get+read+put",
    [OP_SET_CENTROID] = "set_centroid",
    [OP_BLEND] = "blend",
    [OP_EPISODE_ADD] = "episode_add",
    [OP_EPISODE_REMOVE] = "episode_remove",
};

struct demo_opts {
    double seconds;
    uint64_t threads;
    uint64_t dim;
    uint64_t concepts;
    uint64_t episodes;
    uint64_t churn; /* episode ids per thread that come and go */
    uint64_t seed;
};

struct demo {
    struct demo_opts o;
    uint32_t dim;
    cogmem_store *store;
    float *centroids; /* concepts x dim: each concept's centroid at load */
    float *noise;     /* NOISE_ROWS x dim, standard normal */
    /* `go` is stored with release and loaded with acquire: it publishes
     * o.threads, which the main thread lowers if not every worker could be
     * started. `stop` carries no data (pthread_join orders everything the
     * workers did before the main thread reads it), so it is relaxed. */
    atomic_bool go;
    atomic_bool stop;
    /* The store's statistics are printed as stats_fmt (COGMEM_FMT_*) to
     * stats_out at the end of a run, before the store is closed. */
    int stats_fmt;
    FILE *stats_out;
};

struct worker {
    /* Written by this worker only and read by the main thread for progress.
     * First member, 64-byte aligned: each worker's counters start their own
     * cache line, so counting does not bounce lines between cores. */
    _Alignas(64) _Atomic uint64_t ops[OP_COUNT];
    struct demo *d;
    unsigned index;
    pthread_t thread;
    uint64_t rng;
    uint8_t *live; /* churn slot -> 1 while its episode exists */
    uint64_t live_count;
    float *buf;    /* scratch vector, dim floats */
    double sink;   /* keeps the vector reads' arithmetic observable */
    /* The first failure, if any. */
    bool failed;
    const char *fail_call;
    uint64_t fail_id;
    int fail_rc;            /* the library's error, or 0 for a bad result */
    const char *fail_why;   /* for a bad result */
};

/* ----------------------------------------------------------- utilities */

/* splitmix64: tiny, fast, and good enough to drive a workload; every thread
 * gets its own stream from the seed so a run's data is reproducible. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Uniform in [0, n); the modulo bias is far below anything a demo sees. */
static uint64_t rng_below(uint64_t *s, uint64_t n)
{
    return rng_next(s) % n;
}

/* Standard normal by Box-Muller; used only while generating data. */
static float rng_gauss(uint64_t *s)
{
    double u1 = (double)((rng_next(s) >> 11) + 1) * 0x1.0p-53; /* (0, 1] */
    double u2 = (double)(rng_next(s) >> 11) * 0x1.0p-53;       /* [0, 1) */
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t now_realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

static void sleep_seconds(double s)
{
    struct timespec ts;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* 1234567 -> "1,234,567" into buf (at least 32 bytes). */
static const char *fmt_u64(char *buf, uint64_t v)
{
    char digits[24];
    int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)v);
    int out = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            buf[out++] = ',';
        buf[out++] = digits[i];
    }
    buf[out] = '\0';
    return buf;
}

static uint64_t round_rate(double count, double seconds)
{
    return seconds > 0 ? (uint64_t)(count / seconds + 0.5) : 0;
}

/* ----------------------------------------------------------------- data */

static const float *centroid_of(const struct demo *d, uint64_t concept)
{
    return d->centroids + concept * d->dim;
}

static const float *noise_row(const struct demo *d, uint64_t row)
{
    return d->noise + row * d->dim;
}

/* out = base + scale * noise (dim floats). */
static void jitter(const struct demo *d, float *out, const float *base,
                   const float *noise, float scale)
{
    for (uint32_t j = 0; j < d->dim; j++)
        out[j] = base[j] + scale * noise[j];
}

/* A vector near concept `c`: its load-time centroid plus a scaled noise
 * row, the scale itself drawn so that vectors sharing a row still differ. */
static void near_concept(const struct demo *d, uint64_t *rng, float *out,
                         uint64_t c, float spread)
{
    float scale = spread * (0.5f + (float)rng_below(rng, 1000) / 1000.0f);
    jitter(d, out, centroid_of(d, c), noise_row(d, rng_below(rng, NOISE_ROWS)),
           scale);
}

/* Generate the host-side data: cluster centres, concept centroids around
 * them, and the shared noise rows. */
static int make_data(struct demo *d)
{
    uint64_t rng = d->o.seed;
    uint64_t n_clusters = d->o.concepts < MAX_CLUSTERS ? d->o.concepts
                                                       : MAX_CLUSTERS;
    size_t dim = d->dim;
    float *clusters = malloc(n_clusters * dim * sizeof(float));

    d->centroids = malloc(d->o.concepts * dim * sizeof(float));
    d->noise = malloc(NOISE_ROWS * dim * sizeof(float));
    if (!clusters || !d->centroids || !d->noise) {
        free(clusters);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n_clusters * dim; i++)
        clusters[i] = rng_gauss(&rng);
    for (size_t i = 0; i < NOISE_ROWS * dim; i++)
        d->noise[i] = rng_gauss(&rng);
    for (uint64_t c = 0; c < d->o.concepts; c++) {
        const float *centre = clusters + (c % n_clusters) * dim;
        float *out = d->centroids + c * dim;
        for (size_t j = 0; j < dim; j++)
            out[j] = centre[j] + CONCEPT_SPREAD * rng_gauss(&rng);
    }
    free(clusters);
    return 0;
}

/* Load concepts and episodes into the store, single-threaded (the timed
 * part is the workload). Returns 0 or the library's error. */
static int load(struct demo *d, double *seconds)
{
    uint64_t rng = d->o.seed ^ UINT64_C(0x5eed);
    uint64_t t0 = now_realtime_ns();
    double start = now_mono();
    float *buf = malloc((size_t)d->dim * sizeof(float));
    int rc = 0;

    if (!buf)
        return -ENOMEM;
    for (uint64_t c = 0; c < d->o.concepts && rc == 0; c++) {
        rc = cogmem_concept_add(d->store, CONCEPT_BASE + c, centroid_of(d, c));
        if (rc)
            cli_report("cogmem_concept_add", rc);
    }
    /* Episodes a millisecond apart ending now, as if recorded live. */
    t0 -= d->o.episodes * UINT64_C(1000000);
    for (uint64_t e = 0; e < d->o.episodes && rc == 0; e++) {
        near_concept(d, &rng, buf, rng_below(&rng, d->o.concepts),
                     EPISODE_SPREAD);
        rc = cogmem_episode_add(d->store, EPISODE_BASE + e, buf,
                                t0 + e * UINT64_C(1000000));
        if (rc)
            cli_report("cogmem_episode_add", rc);
    }
    free(buf);
    *seconds = now_mono() - start;
    return rc;
}

/* ------------------------------------------------------------- workload */

static uint64_t churn_id(unsigned thread, uint64_t slot)
{
    return CHURN_BASE + (uint64_t)thread * CHURN_STRIDE + slot;
}

/* Record the worker's first failure; returns -1 for the caller to return. */
static int fail(struct worker *w, const char *call, uint64_t id, int rc,
                const char *why)
{
    if (!w->failed) {
        w->failed = true;
        w->fail_call = call;
        w->fail_id = id;
        w->fail_rc = rc;
        w->fail_why = why;
    }
    return -1;
}

/* Each action performs one operation and returns the enum op it counted
 * as, or -1 after recording a failure. */
typedef int (*action_fn)(struct worker *w);

static int act_concept_info(struct worker *w)
{
    struct demo *d = w->d;
    uint64_t id = CONCEPT_BASE + rng_below(&w->rng, d->o.concepts);
    struct cogmem_concept_info info;
    int rc = cogmem_concept_info(d->store, id, &info);

    if (rc)
        return fail(w, "cogmem_concept_info", id, rc, NULL);
    if (info.id != id || info.centroid_version == 0 || !(info.norm > 0.0f) ||
        !isfinite(info.norm))
        return fail(w, "cogmem_concept_info", id, 0,
                    "the record does not describe the concept asked for");
    return OP_CONCEPT_INFO;
}

static int act_episode_info(struct worker *w)
{
    struct demo *d = w->d;
    struct cogmem_episode_info info;
    uint64_t id;
    int rc;

    if (rng_below(&w->rng, 2) == 0) {
        /* A loaded episode: nobody removes those, so it must be there. */
        id = EPISODE_BASE + rng_below(&w->rng, d->o.episodes);
        rc = cogmem_episode_info(d->store, id, &info);
        if (rc)
            return fail(w, "cogmem_episode_info", id, rc, NULL);
    } else {
        /* A churned episode of some thread. Another thread's may or may
         * not exist at this instant; for our own we know exactly, and in
         * particular an episode we removed must stay gone. */
        unsigned owner = (unsigned)rng_below(&w->rng, d->o.threads);
        uint64_t slot = rng_below(&w->rng, d->o.churn);
        id = churn_id(owner, slot);
        rc = cogmem_episode_info(d->store, id, &info);
        if (rc != 0 && rc != -ENOENT)
            return fail(w, "cogmem_episode_info", id, rc, NULL);
        if (owner == w->index && (rc == 0) != (w->live[slot] != 0))
            return fail(w, "cogmem_episode_info", id, 0,
                        w->live[slot] ? "an episode this thread added is missing"
                                      : "an episode this thread removed is still found");
    }
    if (rc == 0 && (info.id != id || !(info.norm > 0.0f) || info.strength < 0.0f))
        return fail(w, "cogmem_episode_info", id, 0,
                    "the record does not describe the episode asked for");
    return OP_EPISODE_INFO;
}

/* Zero-copy read: take a reference, score the vector against a query in
 * place (as a host would), and check the data against the norm the store
 * sealed it with — a vector torn by a concurrent replacement or freed
 * under the reference would not match. */
static int act_vec_read(struct worker *w)
{
    struct demo *d = w->d;
    uint64_t id = rng_below(&w->rng, 2) == 0
                      ? CONCEPT_BASE + rng_below(&w->rng, d->o.concepts)
                      : EPISODE_BASE + rng_below(&w->rng, d->o.episodes);
    const float *q = noise_row(d, rng_below(&w->rng, NOISE_ROWS));
    const cogmem_vec *v;
    int rc = cogmem_vec_get(d->store, id, &v);

    if (rc)
        return fail(w, "cogmem_vec_get", id, rc, NULL);
    const float *x = cogmem_vec_data(v);
    bool shape_ok = cogmem_vec_id(v) == id && cogmem_vec_dim(v) == d->dim;
    double norm = cogmem_vec_norm(v);
    double ss = 0.0;
    float score = 0.0f;
    if (shape_ok) {
        /* The score uses the library's own kernel, straight on the
         * store's memory; the check sums in double, as the store did. */
        cogmem_dot_batch(q, x, 1, d->dim, d->dim, &score);
        for (uint32_t j = 0; j < d->dim; j++)
            ss += (double)x[j] * (double)x[j];
    }
    cogmem_vec_put(v);
    if (!shape_ok)
        return fail(w, "cogmem_vec_get", id, 0,
                    "the vector's id or dimension is wrong");
    if (fabs(sqrt(ss) - norm) > NORM_TOLERANCE * norm)
        return fail(w, "cogmem_vec_get", id, 0,
                    "the vector's data does not match its norm (torn read?)");
    w->sink += (double)score / norm;
    return OP_VEC_READ;
}

static int act_set_centroid(struct worker *w)
{
    struct demo *d = w->d;
    uint64_t c = rng_below(&w->rng, d->o.concepts);
    int rc;

    near_concept(d, &w->rng, w->buf, c, CONCEPT_SPREAD);
    rc = cogmem_concept_set_centroid(d->store, CONCEPT_BASE + c, w->buf);
    if (rc)
        return fail(w, "cogmem_concept_set_centroid", CONCEPT_BASE + c, rc, NULL);
    return OP_SET_CENTROID;
}

static int act_blend(struct worker *w)
{
    struct demo *d = w->d;
    uint64_t c = rng_below(&w->rng, d->o.concepts);
    float rate = 0.05f + (float)rng_below(&w->rng, 26) / 100.0f; /* .05-.30 */
    int rc;

    /* Blending toward a point of the concept's own cluster keeps the
     * centroid well away from zero, so -ERANGE cannot happen here. */
    near_concept(d, &w->rng, w->buf, c, EPISODE_SPREAD);
    rc = cogmem_concept_blend(d->store, CONCEPT_BASE + c, w->buf, rate);
    if (rc)
        return fail(w, "cogmem_concept_blend", CONCEPT_BASE + c, rc, NULL);
    return OP_BLEND;
}

/* Toggle one of this thread's churn slots: remove its episode if present,
 * add one otherwise. Owning the slots keeps the expected count exact. */
static int act_churn(struct worker *w)
{
    struct demo *d = w->d;
    uint64_t slot = rng_below(&w->rng, d->o.churn);
    uint64_t id = churn_id(w->index, slot);
    int rc;

    if (w->live[slot]) {
        rc = cogmem_episode_remove(d->store, id);
        if (rc)
            return fail(w, "cogmem_episode_remove", id, rc, NULL);
        w->live[slot] = 0;
        w->live_count--;
        return OP_EPISODE_REMOVE;
    }
    near_concept(d, &w->rng, w->buf, rng_below(&w->rng, d->o.concepts),
                 EPISODE_SPREAD);
    rc = cogmem_episode_add(d->store, id, w->buf, now_realtime_ns());
    if (rc)
        return fail(w, "cogmem_episode_add", id, rc, NULL);
    w->live[slot] = 1;
    w->live_count++;
    return OP_EPISODE_ADD;
}

/* The op mix, in percent: read-mostly, as a memory store serving queries
 * is, with enough writes that readers keep meeting replaced centroids and
 * vanishing episodes. */
static const struct {
    action_fn fn;
    unsigned percent;
} op_mix[] = {
    {act_concept_info, 30},
    {act_episode_info, 25},
    {act_vec_read, 25},
    {act_set_centroid, 4},
    {act_blend, 6},
    {act_churn, 10},
};

static void count_op(struct worker *w, int op)
{
    /* Single writer: a relaxed load and store suffice (no other thread
     * writes this counter) and avoid a locked read-modify-write per
     * operation, which would slow down the very rates being measured. */
    uint64_t n = atomic_load_explicit(&w->ops[op], memory_order_relaxed);
    atomic_store_explicit(&w->ops[op], n + 1, memory_order_relaxed);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct demo *d = w->d;

    while (!atomic_load_explicit(&d->go, memory_order_acquire)) {
        if (atomic_load_explicit(&d->stop, memory_order_relaxed))
            return NULL;
        sched_yield();
    }
    while (!atomic_load_explicit(&d->stop, memory_order_relaxed)) {
        unsigned roll = (unsigned)rng_below(&w->rng, 100);
        size_t i = 0;
        while (roll >= op_mix[i].percent) {
            roll -= op_mix[i].percent;
            i++;
        }
        int op = op_mix[i].fn(w);
        if (op < 0) {
            /* Stop everyone: the report should show the first failure, not
             * a cascade of consequences. */
            atomic_store_explicit(&d->stop, true, memory_order_relaxed);
            break;
        }
        count_op(w, op);
    }
    return NULL;
}

/* ------------------------------------------------------------- progress */

static uint64_t total_ops(struct worker *ws, unsigned n)
{
    uint64_t sum = 0;
    for (unsigned t = 0; t < n; t++)
        for (int op = 0; op < OP_COUNT; op++)
            sum += atomic_load_explicit(&ws[t].ops[op], memory_order_relaxed);
    return sum;
}

/* Set by cli_demo_request_stop() (from a signal handler: `cogmem demo`
 * runs this workload in a child process and stops it with SIGUSR1 when its
 * own steps are done). A lock-free atomic, so the handler may store it;
 * relaxed, as it publishes no data. */
static atomic_int stop_requested;

void cli_demo_request_stop(void)
{
    atomic_store_explicit(&stop_requested, 1, memory_order_relaxed);
}

struct progress {
    bool tty;
    double interval;
    double last_t;
    uint64_t last_ops;
};

/* One progress report: on a terminal a line rewritten in place, otherwise
 * (a log, a pipe, CI) one plain line per report. The rate is over the last
 * interval, so a stall shows up as it happens. */
static void progress_report(struct progress *p, struct demo *d,
                            struct worker *ws, double t)
{
    char a[32], b[32], c[32];
    uint64_t ops = total_ops(ws, (unsigned)d->o.threads);
    uint64_t episodes = 0;
    int rc = cogmem_count(d->store, COGMEM_EPISODE, &episodes);

    printf("%s  %5.1f/%.1f s  %13s ops  %11s ops/s  episodes %s%s",
           p->tty ? "\r" : "", t, d->o.seconds, fmt_u64(a, ops),
           fmt_u64(b, round_rate((double)(ops - p->last_ops), t - p->last_t)),
           rc == 0 ? fmt_u64(c, episodes) : cogmem_strerror(rc),
           p->tty ? "\033[K" : "\n");
    fflush(stdout);
    p->last_t = t;
    p->last_ops = ops;
}

/* --------------------------------------------------------------- checks */

struct visit_counts {
    uint64_t concepts;
    uint64_t episodes;
};

static int count_visit(uint64_t id, enum cogmem_kind kind, void *arg)
{
    struct visit_counts *vc = arg;
    (void)id;
    if (kind == COGMEM_CONCEPT)
        vc->concepts++;
    else
        vc->episodes++;
    return 0;
}

static void check_line(bool *all_ok, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void check_line(bool *all_ok, bool ok, const char *fmt, ...)
{
    va_list ap;
    printf("  %-8s", ok ? "ok" : "MISMATCH");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    *all_ok = *all_ok && ok;
}

/* Compare the quiescent store with the demo's own bookkeeping. Returns
 * true when everything agrees. */
static bool verify(struct demo *d, struct worker *ws, const uint64_t *op_totals)
{
    char a[32], b[32], c[32], e[32], f[32];
    unsigned n = (unsigned)d->o.threads;
    uint64_t added = op_totals[OP_EPISODE_ADD];
    uint64_t removed = op_totals[OP_EPISODE_REMOVE];
    uint64_t live = 0, expect_episodes, n_concepts = 0, n_episodes = 0;
    bool ok = true;
    int rc;

    for (unsigned t = 0; t < n; t++)
        live += ws[t].live_count;
    expect_episodes = d->o.episodes + added - removed;

    printf("checks (store at rest vs. the demo's bookkeeping):\n");
    if (added - removed != live)
        check_line(&ok, false, "episode adds minus removes (%s) differ from "
                   "the live churn slots (%s)",
                   fmt_u64(a, added - removed), fmt_u64(b, live));

    rc = cogmem_count(d->store, COGMEM_CONCEPT, &n_concepts);
    if (rc == 0)
        rc = cogmem_count(d->store, COGMEM_EPISODE, &n_episodes);
    if (rc) {
        cli_report("cogmem_count", rc);
        return false;
    }
    check_line(&ok, n_concepts == d->o.concepts,
               "concepts: %s counted, %s loaded", fmt_u64(a, n_concepts),
               fmt_u64(b, d->o.concepts));
    check_line(&ok, n_episodes == expect_episodes,
               "episodes: %s counted, expected %s = %s loaded + %s added - "
               "%s removed", fmt_u64(a, n_episodes), fmt_u64(b, expect_episodes),
               fmt_u64(c, d->o.episodes), fmt_u64(e, added), fmt_u64(f, removed));

    struct visit_counts vc = {0, 0};
    rc = cogmem_foreach(d->store, COGMEM_ALL_KINDS, count_visit, &vc);
    if (rc) {
        cli_report("cogmem_foreach", rc);
        return false;
    }
    check_line(&ok, vc.concepts == d->o.concepts && vc.episodes == expect_episodes,
               "iteration visited %s concepts and %s episodes",
               fmt_u64(a, vc.concepts), fmt_u64(b, vc.episodes));

    /* Every churn id's final state, as each owner last left it. */
    uint64_t wrong = 0, checked = 0;
    for (unsigned t = 0; t < n; t++) {
        for (uint64_t s = 0; s < d->o.churn; s++) {
            int kind = cogmem_kind_of(d->store, churn_id(t, s));
            int want = ws[t].live[s] ? COGMEM_EPISODE : -ENOENT;
            wrong += kind != want;
            checked++;
        }
    }
    check_line(&ok, wrong == 0, "churned ids: %s checked with cogmem_kind_of, "
               "%s in the wrong state", fmt_u64(a, checked), fmt_u64(b, wrong));

    /* centroid_version starts at 1 and every set_centroid or blend adds
     * exactly one, even when they race on the same concept: the sum over
     * all concepts proves that no update was lost. */
    uint64_t applied = 0;
    for (uint64_t c0 = 0; c0 < d->o.concepts; c0++) {
        struct cogmem_concept_info info;
        rc = cogmem_concept_info(d->store, CONCEPT_BASE + c0, &info);
        if (rc) {
            cli_report("cogmem_concept_info", rc);
            return false;
        }
        applied += info.centroid_version - 1u;
    }
    uint64_t updates = op_totals[OP_SET_CENTROID] + op_totals[OP_BLEND];
    check_line(&ok, applied == updates,
               "centroid updates: %s made, %s applied (sum of versions)",
               fmt_u64(a, updates), fmt_u64(b, applied));

    /* The library's own counters are exact at rest. */
    cogmem_stats st;
    st.struct_size = sizeof st;
    rc = cogmem_stats_get(d->store, &st);
    if (rc) {
        cli_report("cogmem_stats_get", rc);
        return false;
    }
    check_line(&ok, st.kind[0].adds == d->o.concepts &&
                        st.kind[1].adds == d->o.episodes + added &&
                        st.kind[1].removes == removed && st.kind[0].replacements == updates,
               "statistics: %s concept adds, %s episode adds, %s removes, %s centroid "
               "replacements counted", fmt_u64(a, st.kind[0].adds),
               fmt_u64(b, st.kind[1].adds), fmt_u64(c, st.kind[1].removes),
               fmt_u64(e, st.kind[0].replacements));
    return ok;
}

/* ------------------------------------------------------------- the run */

static void print_report(struct demo *d, const uint64_t *op_totals,
                         double seconds)
{
    char a[32], b[32];
    uint64_t total = 0;

    for (int op = 0; op < OP_COUNT; op++)
        total += op_totals[op];
    printf("workload: %llu threads for %.2f s\n",
           (unsigned long long)d->o.threads, seconds);
    printf("  %-18s %15s %13s %7s\n", "operation", "ops", "ops/s", "share");
    for (int op = 0; op < OP_COUNT; op++)
        printf("  %-18s %15s %13s %6.1f%%\n", op_names[op],
               fmt_u64(a, op_totals[op]),
               fmt_u64(b, round_rate((double)op_totals[op], seconds)),
               total ? 100.0 * (double)op_totals[op] / (double)total : 0.0);
    printf("  %-18s %15s %13s\n", "total", fmt_u64(a, total),
           fmt_u64(b, round_rate((double)total, seconds)));
}

static void print_failures(struct worker *ws, unsigned n)
{
    for (unsigned t = 0; t < n; t++) {
        struct worker *w = &ws[t];
        if (!w->failed)
            continue;
        if (w->fail_rc)
            fprintf(stderr, "cogmem demo: thread %u: %s(id %llu): %s\n", t,
                    w->fail_call, (unsigned long long)w->fail_id,
                    cogmem_strerror(w->fail_rc));
        else
            fprintf(stderr, "cogmem demo: thread %u: %s(id %llu): %s\n", t,
                    w->fail_call, (unsigned long long)w->fail_id, w->fail_why);
    }
}

/* Start the workers, report progress until the time is up, stop and join
 * them. Returns the measured duration, or a negative value if not even one
 * thread could be started. */
static double run_workload(struct demo *d, struct worker *ws)
{
    unsigned n = (unsigned)d->o.threads, started = 0;
    struct progress p = {
        .tty = isatty(STDOUT_FILENO) == 1,
        /* A terminal line can refresh often; a log gets one line a second. */
        .interval = isatty(STDOUT_FILENO) == 1 ? 0.25 : 1.0,
    };
    double t0, t, next;

    for (; started < n; started++) {
        int err = pthread_create(&ws[started].thread, NULL, worker_main,
                                 &ws[started]);
        if (err) {
            fprintf(stderr, "cogmem demo: starting thread %u: %s; running "
                    "with %u\n", started, strerror(err), started);
            break;
        }
    }
    if (started == 0)
        return -1.0;
    d->o.threads = started;

    t0 = now_mono();
    p.last_t = 0.0;
    atomic_store_explicit(&d->go, true, memory_order_release);
    next = p.interval;
    for (;;) {
        t = now_mono() - t0;
        if (t >= d->o.seconds || atomic_load_explicit(&d->stop, memory_order_relaxed) ||
            atomic_load_explicit(&stop_requested, memory_order_relaxed))
            break;
        if (t >= next) {
            progress_report(&p, d, ws, t);
            next += p.interval;
        }
        double wait = (next < d->o.seconds ? next : d->o.seconds) - t;
        sleep_seconds(wait < 0.05 ? wait : 0.05);
    }
    atomic_store_explicit(&d->stop, true, memory_order_relaxed);
    for (unsigned i = 0; i < started; i++)
        pthread_join(ws[i].thread, NULL);
    t = now_mono() - t0;
    progress_report(&p, d, ws, t);
    if (p.tty)
        putchar('\n');
    return t;
}

/* The library's own account of the run, as the host would export it. */
static bool print_stats(struct demo *d)
{
    size_t need = 0;
    int rc = cogmem_stats_format(d->store, d->stats_fmt, NULL, 0, &need);
    char *buf = NULL;
    /* The store is quiescent now, but allow for growth all the same. */
    for (int tries = 0; rc == -ERANGE && tries < 4; tries++) {
        free(buf);
        buf = malloc(need);
        if (!buf) {
            rc = -ENOMEM;
            break;
        }
        rc = cogmem_stats_format(d->store, d->stats_fmt, buf, need, &need);
    }
    if (rc == 0) {
        if (d->stats_out == stdout)
            putchar('\n');
        fputs(buf, d->stats_out);
    } else {
        cli_report("cogmem_stats_format", rc);
    }
    free(buf);
    return rc == 0;
}

static int demo(struct demo *d)
{
    char a[32], b[32], c[32];
    unsigned n = (unsigned)d->o.threads;
    struct worker *ws = NULL;
    uint64_t op_totals[OP_COUNT] = {0};
    double load_s, run_s;
    bool ok = false;
    int rc;

    rc = make_data(d);
    if (rc) {
        cli_report("generating data", rc);
        goto out;
    }

    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = d->dim;
    cfg.expected_concepts = d->o.concepts;
    cfg.expected_episodes = d->o.episodes + d->o.threads * d->o.churn / 2;
    rc = cogmem_open(&cfg, &d->store);
    if (rc) {
        cli_report("cogmem_open", rc);
        goto out;
    }

    printf("cogmem %s demo: dim %u, seed %llu, %u threads, %.1f s, "
           "kernels %s\n", cogmem_version(), d->dim,
           (unsigned long long)d->o.seed, n, d->o.seconds, cogmem_simd_isa());
    rc = load(d, &load_s);
    if (rc)
        goto out;
    printf("loaded %s concepts and %s episodes in %.2f s (%s adds/s)\n",
           fmt_u64(a, d->o.concepts), fmt_u64(b, d->o.episodes), load_s,
           fmt_u64(c, round_rate((double)(d->o.concepts + d->o.episodes),
                                     load_s)));

    /* Each worker's counters must start a cache line: an aligned array of
     * structs whose size is a multiple of 64 (from the aligned member). */
    ws = aligned_alloc(_Alignof(struct worker), n * sizeof *ws);
    if (!ws) {
        cli_report("allocating workers", -ENOMEM);
        goto out;
    }
    memset(ws, 0, n * sizeof *ws);
    for (unsigned t = 0; t < n; t++) {
        struct worker *w = &ws[t];
        for (int op = 0; op < OP_COUNT; op++)
            atomic_init(&w->ops[op], 0);
        w->d = d;
        w->index = t;
        w->rng = d->o.seed + UINT64_C(0x1000193) * (t + 1);
        w->live = calloc(d->o.churn, 1);
        w->buf = malloc((size_t)d->dim * sizeof(float));
        if (!w->live || !w->buf) {
            cli_report("allocating workers", -ENOMEM);
            n = t + 1;
            goto out_workers;
        }
    }
    printf("running: concept/episode info, zero-copy vector reads, centroid "
           "replace/blend, episode add/remove\n");
    fflush(stdout);

    run_s = run_workload(d, ws);
    if (run_s < 0)
        goto out_workers;
    n = (unsigned)d->o.threads; /* fewer if some could not be started */
    for (unsigned t = 0; t < n; t++)
        for (int op = 0; op < OP_COUNT; op++)
            op_totals[op] += atomic_load_explicit(&ws[t].ops[op],
                                                  memory_order_relaxed);
    print_report(d, op_totals, run_s);

    bool threads_ok = true;
    for (unsigned t = 0; t < n; t++)
        threads_ok = threads_ok && !ws[t].failed;
    if (!threads_ok) {
        printf("checks: a thread met an error or a wrong result "
               "(see stderr); the workload stopped early\n");
        print_failures(ws, n);
    }
    ok = verify(d, ws, op_totals) && threads_ok;
    ok = print_stats(d) && ok;

out_workers:
    for (unsigned t = 0; t < n; t++) {
        free(ws[t].live);
        free(ws[t].buf);
    }
out:
    free(ws);
    if (d->store) {
        rc = cogmem_close(&d->store);
        if (rc) {
            cli_report("cogmem_close", rc);
            ok = false;
        }
    }
    free(d->centroids);
    free(d->noise);
    printf("%s\n", ok ? "demo OK" : "demo FAILED");
    return ok ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

/* --------------------------------------------------------- command line */

static void synthetic_usage(FILE *out)
{
    fprintf(out,
            "Usage: cogmem demo --synthetic [OPTIONS]\n"
            "\n"
            "Build a store with synthetic clustered data, run a concurrent\n"
            "mixed workload on it, print what it did, and check the store's\n"
            "counts against the workload's own bookkeeping (exit status 1 on\n"
            "any mismatch). It ends with the store's statistics table.\n"
            "\n"
            "Options:\n"
            "  --seconds N    how long the workload runs (default 3)\n"
            "  --threads N    worker threads (default: online CPUs)\n"
            "  --dim N        embedding dimension (default 256)\n"
            "  --concepts N   concepts to load (default 1024)\n"
            "  --episodes N   episodes to load (default 16384)\n"
            "  --churn N      episode ids per thread that are added and\n"
            "                 removed during the run (default 4096)\n"
            "  --seed N       seed of the synthetic data (default 42)\n"
            "  --dir DIR      run on a persistent store in DIR; run again, it\n"
            "                 reopens it and checks it against the last run\n"
            "  -h, --help     show this help\n");
}

void cli_demo_usage(FILE *out)
{
    cli_mission_usage(out);
    fputc('\n', out);
    synthetic_usage(out);
}

/* `cogmem demo --synthetic [OPTIONS]` is this synthetic demo; without
 * --synthetic, the mission demo on WordNet (mission.c). */
int cli_demo_run(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--synthetic") == 0) {
            for (int j = i; j + 1 < argc; j++)
                argv[j] = argv[j + 1];
            return cli_demo_main(argc - 1, argv, COGMEM_FMT_TABLE, stdout);
        }
    return cli_mission_run(argc, argv);
}

int cli_demo_main(int argc, char **argv, int stats_fmt, FILE *stats_out)
{
    long nproc = sysconf(_SC_NPROCESSORS_ONLN);
    struct demo d = {
        .o = {
            .seconds = 3.0,
            .threads = nproc > 0 ? (uint64_t)nproc : 1,
            .dim = 256,
            .concepts = 1024,
            .episodes = 16384,
            .churn = 4096,
            .seed = 42,
        },
        .stats_fmt = stats_fmt,
        .stats_out = stats_out,
    };
    const struct {
        const char *name;
        uint64_t *value;
        uint64_t min, max;
    } u64_opts[] = {
        {"--threads", &d.o.threads, 1, MAX_THREADS},
        {"--dim", &d.o.dim, 1, COGMEM_MAX_DIM},
        {"--concepts", &d.o.concepts, 1, MAX_CONCEPTS},
        {"--episodes", &d.o.episodes, 1, MAX_EPISODES},
        {"--churn", &d.o.churn, 1, CHURN_STRIDE},
        {"--seed", &d.o.seed, 0, UINT64_MAX},
    };

    if (d.o.threads > MAX_THREADS)
        d.o.threads = MAX_THREADS;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        const char *value;
        int m;

        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            synthetic_usage(stdout);
            return CLI_EXIT_OK;
        }
        m = cli_option(argc, argv, &i, "--dir", &value);
        if (m > 0) {
            dir = value;
            continue;
        }
        if (m == 0)
            m = cli_option(argc, argv, &i, "--seconds", &value);
        if (m > 0) {
            if (cli_parse_double(CMD, "--seconds", value, 0.1, 3600.0,
                                 &d.o.seconds))
                return CLI_EXIT_USAGE;
            continue;
        }
        for (size_t k = 0; m == 0 && k < sizeof u64_opts / sizeof u64_opts[0]; k++) {
            m = cli_option(argc, argv, &i, u64_opts[k].name, &value);
            if (m > 0 && cli_parse_u64(CMD, u64_opts[k].name, value,
                                       u64_opts[k].min, u64_opts[k].max,
                                       u64_opts[k].value))
                return CLI_EXIT_USAGE;
        }
        if (m < 0) {
            cli_usage_error(CMD, "option '%s' needs a value", argv[i]);
            return CLI_EXIT_USAGE;
        }
        if (m == 0) {
            cli_usage_error(CMD, "unknown argument '%s'", argv[i]);
            return CLI_EXIT_USAGE;
        }
    }
    d.dim = (uint32_t)d.o.dim;
    if (dir)
        return cli_demo_dir(dir, d.o.seconds, (unsigned)d.o.threads, d.dim, d.o.concepts,
                            d.o.episodes, d.o.seed);
    atomic_init(&d.go, false);
    atomic_init(&d.stop, false);
    return demo(&d);
}
