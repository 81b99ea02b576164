/* cogmem — the scalable formation path: deterministic spherical DP-means.
 *
 * No n^2 memory: the state is one mean per cluster. A cluster's mean mu is
 * the average of its members' unit vectors, not re-normalised, so x . mu is
 * x's average-linkage similarity to the cluster and tau means what it
 * means on the exact path.
 *
 * Pass 1 (assign or create) walks the episodes in id order, in blocks of
 * BLOCK: the block is scored against the means as they stood at its start
 * (parallel), then each episode, in order, joins the best cluster if that
 * score is >= tau, else starts a new cluster; clusters created inside the
 * block are scored on the spot. Refinement passes assign every episode to
 * its best mean (parallel; those below tau become singletons) and
 * recompute the means in ascending id order; clusters of one member sit
 * refinement out (their member joins a real cluster it reaches tau of, or
 * stays alone). Everything a thread computes
 * is one kernel dot per (episode, mean) pair and every sum runs in one
 * fixed order, so the result does not depend on the thread count.
 */
#include <errno.h>
#include <stdatomic.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "src/life/life.h"

#define BLOCK 256u
#define ROWS_PER_TASK 8u
#define NONE UINT32_MAX

struct means {
    size_t n, cap, stride;
    uint32_t dim;
    float *mu;   /* n x stride */
    double *sum; /* n x dim */
    uint32_t *cnt;
};

static int means_grow(struct means *m)
{
    if (m->n < m->cap)
        return 0;
    size_t cap = m->cap ? 2 * m->cap : 256;
    float *mu = aligned_alloc(64, cap * m->stride * sizeof *mu);
    double *sum = malloc(cap * m->dim * sizeof *sum);
    uint32_t *cnt = malloc(cap * sizeof *cnt);
    if (!mu || !sum || !cnt) {
        free(mu);
        free(sum);
        free(cnt);
        return -ENOMEM;
    }
    if (m->n) {
        memcpy(mu, m->mu, m->n * m->stride * sizeof *mu);
        memcpy(sum, m->sum, m->n * m->dim * sizeof *sum);
        memcpy(cnt, m->cnt, m->n * sizeof *cnt);
    }
    free(m->mu);
    free(m->sum);
    free(m->cnt);
    m->mu = mu;
    m->sum = sum;
    m->cnt = cnt;
    m->cap = cap;
    return 0;
}

static void means_set(struct means *m, size_t c)
{
    float *mu = m->mu + c * m->stride;
    const double *s = m->sum + c * m->dim;
    double inv = 1.0 / m->cnt[c];
    for (uint32_t d = 0; d < m->dim; d++)
        mu[d] = (float)(s[d] * inv);
    for (size_t d = m->dim; d < m->stride; d++)
        mu[d] = 0.0f;
}

static void means_add(struct means *m, size_t c, const float *x)
{
    double *s = m->sum + c * m->dim;
    for (uint32_t d = 0; d < m->dim; d++)
        s[d] += x[d];
    m->cnt[c]++;
}

/* Best mean in [0, nc) for rows [r0, r1): argmax, ties to the lower mean. */
struct score_job {
    const struct cogmem__life_set *set;
    const struct means *m;
    size_t r0, r1, nc;
    float *scores;   /* pass 1: (r1 - r0) x nc, or NULL */
    uint32_t *best;  /* refinement: per row, or NULL */
    float *best_s;
    _Atomic int enomem;
};

static uint32_t argmax(const float *s, size_t nc, float *out)
{
    uint32_t b = NONE;
    float bs = -INFINITY;
    for (size_t c = 0; c < nc; c++)
        if (s[c] > bs) {
            bs = s[c];
            b = (uint32_t)c;
        }
    *out = bs;
    return b;
}

static void score_task(void *arg, size_t t)
{
    struct score_job *j = arg;
    size_t a = j->r0 + t * ROWS_PER_TASK, b = a + ROWS_PER_TASK;
    if (b > j->r1)
        b = j->r1;
    float *rows[ROWS_PER_TASK] = {0};
    float *tmp = NULL;
    if (j->scores) {
        for (size_t i = a; i < b; i++)
            rows[i - a] = j->scores + (i - j->r0) * j->nc;
    } else {
        tmp = malloc(ROWS_PER_TASK * (j->nc ? j->nc : 1) * sizeof *tmp);
        if (!tmp) {
            /* Relaxed: read after the join, which orders it. */
            atomic_store_explicit(&j->enomem, 1, memory_order_relaxed);
            return;
        }
        for (size_t i = a; i < b; i++)
            rows[i - a] = tmp + (i - a) * j->nc;
    }
    cogmem__life_tile(j->set->x, j->set->stride, j->set->dim, a, b, j->m->mu, 0,
                      j->nc, rows);
    if (tmp) {
        for (size_t i = a; i < b; i++)
            j->best[i] = argmax(rows[i - a], j->nc, &j->best_s[i]);
        free(tmp);
    }
}

static size_t tasks_for(size_t rows)
{
    return (rows + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
}

static void means_free(struct means *m)
{
    free(m->mu);
    free(m->sum);
    free(m->cnt);
}

static long pass1(const struct cogmem__life_set *set, float tau, unsigned threads,
                  struct means *m, uint32_t *labels)
{
    float *scores = NULL;
    size_t scores_cap = 0;
    uint8_t *touched = NULL;
    size_t touched_cap = 0;
    for (size_t b0 = 0; b0 < set->n; b0 += BLOCK) {
        size_t b1 = b0 + BLOCK < set->n ? b0 + BLOCK : set->n;
        size_t c0 = m->n;
        if ((b1 - b0) * c0 > scores_cap || c0 > touched_cap) {
            free(scores);
            free(touched);
            scores_cap = (b1 - b0) * (c0 ? 2 * c0 : 1);
            touched_cap = 2 * c0 + 1;
            scores = malloc(scores_cap * sizeof *scores);
            touched = malloc(touched_cap);
            if (!scores || !touched)
                goto enomem;
        }
        if (c0) {
            memset(touched, 0, c0);
            struct score_job j = {set, m, b0, b1, c0, scores, NULL, NULL, 0};
            cogmem__life_parallel(threads, tasks_for(b1 - b0), score_task, &j);
        }
        for (size_t i = b0; i < b1; i++) {
            const float *x = set->x + i * set->stride;
            float bs = -INFINITY;
            uint32_t bc = c0 ? argmax(scores + (i - b0) * c0, c0, &bs) : NONE;
            for (size_t c = c0; c < m->n; c++) { /* born in this block */
                float s;
                cogmem_dot_batch(x, m->mu + c * m->stride, 1, set->dim, m->stride, &s);
                if (s > bs) {
                    bs = s;
                    bc = (uint32_t)c;
                }
            }
            if (bc != NONE && bs >= tau) {
                means_add(m, bc, x);
                if (bc >= c0)
                    means_set(m, bc);
                else
                    touched[bc] = 1;
            } else {
                if (means_grow(m))
                    goto enomem;
                bc = (uint32_t)m->n++;
                memset(m->sum + bc * m->dim, 0, m->dim * sizeof *m->sum);
                m->cnt[bc] = 0;
                means_add(m, bc, x);
                means_set(m, bc);
            }
            labels[i] = bc;
        }
        for (size_t c = 0; c < c0; c++)
            if (touched[c])
                means_set(m, c);
    }
    free(scores);
    free(touched);
    return 0;
enomem:
    free(scores);
    free(touched);
    return -ENOMEM;
}

/* Means from labels (NONE rows skipped), in ascending row order; empty
 * clusters dropped and labels remapped. */
static void recompute(const struct cogmem__life_set *set, struct means *m,
                      uint32_t *labels, uint32_t *map)
{
    if (m->n) {
        memset(m->sum, 0, m->n * m->dim * sizeof *m->sum);
        memset(m->cnt, 0, m->n * sizeof *m->cnt);
    }
    for (size_t i = 0; i < set->n; i++)
        if (labels[i] != NONE)
            means_add(m, labels[i], set->x + i * set->stride);
    size_t k = 0;
    for (size_t c = 0; c < m->n; c++) {
        if (!m->cnt[c]) {
            map[c] = NONE;
            continue;
        }
        map[c] = (uint32_t)k;
        if (k != c) {
            memcpy(m->sum + k * m->dim, m->sum + c * m->dim, m->dim * sizeof *m->sum);
            m->cnt[k] = m->cnt[c];
        }
        means_set(m, k);
        k++;
    }
    m->n = k;
    for (size_t i = 0; i < set->n; i++)
        if (labels[i] != NONE)
            labels[i] = map[labels[i]];
}

long cogmem__life_dpmeans(const struct cogmem__life_set *set, float tau,
                          uint32_t passes, unsigned threads, uint32_t *labels)
{
    size_t n = set->n;
    if (n == 0)
        return 0;
    struct means m = {.stride = set->stride, .dim = set->dim};
    uint32_t *map = malloc(n * sizeof *map);
    float *best_s = malloc(n * sizeof *best_s);
    long rc = map && best_s ? pass1(set, tau, threads, &m, labels) : -ENOMEM;
    for (uint32_t p = 0; rc == 0 && p < passes && m.n; p++) {
        /* Singletons (mostly outliers) take no part in refinement: their
         * member either reaches tau of a real cluster or stays alone,
         * which is what it would be anyway, and leaving them out makes a
         * pass cost n x (real clusters) dots instead of n x (clusters +
         * outliers). */
        for (size_t i = 0; i < n; i++)
            if (labels[i] != NONE && m.cnt[labels[i]] < 2)
                labels[i] = NONE;
        recompute(set, &m, labels, map);
        if (!m.n)
            break;
        struct score_job j = {set, &m, 0, n, m.n, NULL, labels, best_s, 0};
        cogmem__life_parallel(threads, tasks_for(n), score_task, &j);
        if (atomic_load_explicit(&j.enomem, memory_order_relaxed)) {
            rc = -ENOMEM;
            break;
        }
        for (size_t i = 0; i < n; i++)
            if (!(best_s[i] >= tau))
                labels[i] = NONE;
        recompute(set, &m, labels, map);
    }
    if (rc == 0) {
        /* Rows below tau everywhere are clusters of their own. */
        uint32_t next = (uint32_t)m.n;
        for (size_t i = 0; i < n; i++)
            if (labels[i] == NONE)
                labels[i] = next++;
        uint32_t *map2 = realloc(map, (size_t)next * sizeof *map2);
        if (!map2)
            rc = -ENOMEM;
        else {
            map = map2;
            rc = (long)cogmem__life_renumber(labels, n, map, next);
        }
    }
    free(map);
    free(best_s);
    means_free(&m);
    return rc;
}
