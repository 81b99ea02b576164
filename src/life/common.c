/* cogmem — what formation's paths share: params copy, the snapshot of the
 * selected episodes, the thread fan-out and the tile product.
 *
 * Scratch and result arrays come from libc (malloc/aligned_alloc), not the
 * store's per-kind arenas: they live for one call (or in a result the
 * caller frees without a store handle) and are not node memory.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shards/sigmask.h"
#include "src/bind.h"
#include "src/life/life.h"

#define MAX_THREADS 64u

unsigned cogmem__life_threads(uint32_t want)
{
    long t = want;
    if (t == 0) {
        t = sysconf(_SC_NPROCESSORS_ONLN);
        if (t < 1)
            t = 1;
    }
    return (unsigned)(t > (long)MAX_THREADS ? MAX_THREADS : t);
}

struct par {
    _Atomic size_t next;
    size_t ntasks;
    void (*task)(void *arg, size_t t);
    void *arg;
};

static void *par_main(void *a)
{
    struct par *p = a;
    /* Relaxed: the counter only hands out task numbers; the tasks' results
     * are published to the caller by pthread_join. */
    for (size_t t; (t = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed)) <
                   p->ntasks;)
        p->task(p->arg, t);
    return NULL;
}

void cogmem__life_parallel(unsigned nt, size_t ntasks,
                           void (*task)(void *arg, size_t t), void *arg)
{
    struct par p = {.ntasks = ntasks, .task = task, .arg = arg};
    atomic_init(&p.next, 0);
    if (nt > ntasks)
        nt = (unsigned)ntasks;
    if (nt > MAX_THREADS)
        nt = MAX_THREADS;
    pthread_t th[MAX_THREADS];
    uint8_t ok[MAX_THREADS] = {0};
    if (nt > 1) {
        sigset_t old; /* library threads block every signal (cogmem.h) */
        cogmem__signals_block_all(&old);
        for (unsigned t = 1; t < nt; t++)
            ok[t] = pthread_create(&th[t], NULL, par_main, &p) == 0;
        cogmem__signals_restore(&old);
    }
    par_main(&p); /* threads that failed to start leave their share to us */
    for (unsigned t = 1; t < nt; t++)
        if (ok[t])
            pthread_join(th[t], NULL);
}

void cogmem__life_tile(const float *x, size_t stride, uint32_t dim,
                       size_t i0, size_t i1, const float *y, size_t j0,
                       size_t j1, float *const *dst)
{
    if (j1 <= j0)
        return;
    for (size_t i = i0; i < i1; i++)
        cogmem_dot_batch(x + i * stride, y + j0 * stride, j1 - j0, dim, stride,
                         dst[i - i0]);
}

void cogmem__life_block(const float *x, size_t stride, uint32_t dim, size_t i0,
                        size_t i1, size_t j0, size_t j1, float *out)
{
    cogmem_dot_block(x + i0 * stride, i1 - i0, stride, x + j0 * stride, j1 - j0, dim, stride,
                     out, j1 - j0);
}

size_t cogmem__life_renumber(uint32_t *labels, size_t n, uint32_t *map, size_t nlab)
{
    for (size_t c = 0; c < nlab; c++)
        map[c] = UINT32_MAX;
    uint32_t next = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t *m = &map[labels[i]];
        if (*m == UINT32_MAX)
            *m = next++;
        labels[i] = *m;
    }
    return next;
}

/* ------------------------------------------------------------ gathering */

struct gather {
    const cogmem_form_params *p;
    uint64_t *ids;
    size_t n, cap;
    int enomem;
};

static int keep(const cogmem_form_params *p, struct cogmem__node *n)
{
    uint64_t t = atomic_load_explicit(&n->stamp, memory_order_relaxed);
    if (t < p->t_from_ns || (p->t_to_ns && t >= p->t_to_ns))
        return 0;
    if (p->select == COGMEM_FORM_UNBOUND &&
        atomic_load_explicit(&n->fan, memory_order_relaxed) != 0)
        return 0;
    return 1;
}

static int visit(struct cogmem__node *n, void *arg)
{
    struct gather *g = arg;
    if (!keep(g->p, n))
        return 0;
    if (g->n == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 1024;
        uint64_t *ids = realloc(g->ids, cap * sizeof *ids);
        if (!ids) {
            g->enomem = 1;
            return 1;
        }
        g->ids = ids;
        g->cap = cap;
    }
    g->ids[g->n++] = atomic_load_explicit(&n->id, memory_order_relaxed);
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

void cogmem__life_set_free(struct cogmem__life_set *set)
{
    free(set->ids);
    free(set->x);
    memset(set, 0, sizeof *set);
}

int cogmem__life_gather(cogmem_store *st, const cogmem_form_params *p,
                        struct cogmem__life_set *set)
{
    memset(set, 0, sizeof *set);
    struct gather g = {.p = p};
    if (p->select == COGMEM_FORM_IDS) {
        g.ids = malloc((p->n_ids ? p->n_ids : 1) * sizeof *g.ids);
        if (!g.ids)
            return -ENOMEM;
        if (p->n_ids)
            memcpy(g.ids, p->ids, p->n_ids * sizeof *g.ids);
        g.n = p->n_ids;
    } else {
        cogmem__rcu_lock();
        cogmem__set_foreach(&st->sets[1], visit, &g);
        cogmem__rcu_unlock();
        if (g.enomem) {
            free(g.ids);
            return -ENOMEM;
        }
    }
    /* D1: the input is the id-sorted snapshot, so neither insertion order
     * nor shard layout can change the result. */
    if (g.n) /* qsort's pointer must not be NULL, even for 0 items */
        qsort(g.ids, g.n, sizeof *g.ids, cmp_u64);
    size_t m = 0;
    for (size_t i = 0; i < g.n; i++)
        if (m == 0 || g.ids[i] != g.ids[m - 1])
            g.ids[m++] = g.ids[i];
    g.n = m;

    uint32_t dim = st->dim;
    size_t stride = ((size_t)dim + 15u) & ~(size_t)15u; /* 64-byte rows */
    float *x = NULL;
    if (g.n) {
        x = aligned_alloc(64, g.n * stride * sizeof(float));
        if (!x) {
            free(g.ids);
            return -ENOMEM;
        }
    }
    /* Copy each embedding, scaled to unit length, under the RCU read lock:
     * an episode's vector never changes, and the lock keeps the memory of
     * one that is being removed valid while we read it. */
    size_t kept = 0;
    int rc = 0;
    cogmem__rcu_lock();
    for (size_t i = 0; i < g.n; i++) {
        uint64_t id = g.ids[i];
        struct cogmem__node *n = id ? cogmem__find_live(st, COGMEM_EPISODE, id) : NULL;
        struct cogmem_vec *v = n ? atomic_load_explicit(&n->vec, memory_order_acquire)
                                 : NULL;
        if (!v) {
            if (p->select == COGMEM_FORM_IDS) {
                rc = -ENOENT;
                break;
            }
            continue; /* removed since the scan */
        }
        const float *src = cogmem__vec_data(v);
        float *dst = x + kept * stride;
        float inv = 1.0f / v->norm;
        for (uint32_t d = 0; d < dim; d++)
            dst[d] = src[d] * inv;
        for (size_t d = dim; d < stride; d++)
            dst[d] = 0.0f;
        g.ids[kept++] = id;
    }
    cogmem__rcu_unlock();
    if (rc) {
        free(g.ids);
        free(x);
        return rc;
    }
    set->n = kept;
    set->dim = dim;
    set->stride = stride;
    set->ids = g.ids;
    set->x = x;
    return 0;
}
