/* cogmem — cogmem_recall_batch(): many queries per pass, on several threads.
 *
 * Blocking: the scan engine scores every query of the batch against one
 * block of rows (<= 256 KiB) before moving on, so DRAM is read once per
 * batch instead of once per query and the kernels run from L2.
 *
 * Threads: the rows of the requested kinds (taken as one concatenated index
 * range) are split into equal contiguous ranges, one per thread; each
 * thread keeps its own heaps for every query, and the caller merges them
 * (offer() dedupes ids). Splitting rows rather than queries keeps each
 * thread's memory stream sequential and works for a batch of one.
 * Mechanism: plain pthreads created for the call and joined before it
 * returns. A persistent pool would save the ~20-50 us of creating a thread,
 * which the size threshold (parallel_min_work) already makes negligible,
 * and would need lifetime rules (fork, close, signal masks) that a library
 * linked into an arbitrary host should not impose; with per-call threads,
 * concurrent callers never wait for one another's work.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "shards/sigmask.h"
#include "src/recall.h"

#define MAX_THREADS 64u

struct range {
    pthread_t th;
    const struct cogmem__rscan *sc;
    struct cogmem__rq *qs;
    size_t nq;
    uint32_t lo[2], hi[2]; /* per kind: [0] concepts, [1] episodes */
};

static void run_range(struct range *r)
{
    /* The worker's own read-side section; the caller's, held around the
     * whole call, is what keeps the rows of the snapshot from being
     * reclaimed before this one begins (see cogmem_recall_batch). */
    cogmem__rcu_lock();
    if (r->hi[0] > r->lo[0])
        cogmem__recall_scan(r->sc, r->qs, r->nq, COGMEM_CONCEPT, r->lo[0], r->hi[0]);
    if (r->hi[1] > r->lo[1])
        cogmem__recall_scan(r->sc, r->qs, r->nq, COGMEM_EPISODE, r->lo[1], r->hi[1]);
    cogmem__rcu_unlock();
}

static void *range_main(void *arg)
{
    run_range(arg);
    return NULL;
}

static unsigned pick_threads(const struct cogmem__rscan *sc, size_t nq,
                             uint64_t rows)
{
    unsigned t = sc->p.threads;
    if (t == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        t = n > 0 ? (unsigned)n : 1u;
    }
    if (t > MAX_THREADS)
        t = MAX_THREADS;
    /* Work in multiply-adds; saturate instead of overflowing. */
    uint64_t dim = sc->st->dim;
    uint64_t work = rows > UINT64_MAX / dim / (nq ? nq : 1) ? UINT64_MAX
                                                            : rows * dim * nq;
    if (work < sc->p.parallel_min_work || rows < 2u * t)
        return 1;
    return t;
}

static int recall_batch_body(cogmem_store *store, const float *queries, size_t nq,
                        unsigned kinds, size_t k, const cogmem_recall_params *p,
                        cogmem_recall_hit *out, size_t *n_out)
{
    /* Sizes first: nq queries of dim floats, and query nq - 1's hits at
     * out + (nq - 1) * k, must be addressable at all (nothing is written
     * for a size that is not). */
    if (!store || (nq && nq > SIZE_MAX / sizeof(float) / store->dim) ||
        (nq > 1 && k > SIZE_MAX / sizeof(cogmem_recall_hit) / (nq - 1)))
        return -EINVAL;
    if (n_out)
        for (size_t j = 0; j < nq; j++)
            n_out[j] = 0;
    if ( (nq && (!queries || !n_out || (k && !out))) ||
        !cogmem__kinds_ok(kinds))
        return -EINVAL;
    struct cogmem__rscan sc;
    int rc = cogmem__recall_prepare(&sc, store, p);
    if (rc)
        return rc;
    const size_t dim = store->dim;
    for (size_t j = 0; j < nq; j++) {
        float qn;
        rc = cogmem__recall_check_query(&sc, queries + j * dim, &qn);
        if (rc)
            return rc;
    }
    /* Held from the snapshot of the slabs' extent until every range is
     * scanned: no row below the snapshot can be reclaimed (and a node's
     * only counting row replaced by one beyond the ranges) before the
     * workers' own sections begin. Joining inside a read-side section only
     * delays reclamation; nothing here waits for a grace period. */
    cogmem__rcu_lock();
    uint32_t used[2] = {
        (kinds & COGMEM_CONCEPT) ? cogmem__slab_used(&store->sets[0].kind.slab) : 0,
        (kinds & COGMEM_EPISODE) ? cogmem__slab_used(&store->sets[1].kind.slab) : 0};
    uint64_t rows = (uint64_t)used[0] + used[1];
    /* k bounded as in cogmem_recall: by the rows the scan will read (each
     * offers at most one id), so scratch is threads x queries x
     * min(k, rows), bounded by what the store holds. */
    size_t kk = k < rows ? k : (size_t)rows;
    if (nq == 0 || kk == 0) {
        cogmem__rcu_unlock();
        return 0;
    }
    unsigned nt = pick_threads(&sc, nq, rows);

    /* Scratch: per thread, nq query states and nq heaps of kk, each with
     * its id index (cogmem__topk_slots; 16-byte slots like the entries). */
    size_t per_heap = kk + cogmem__topk_slots(kk);
    if (per_heap > SIZE_MAX / sizeof(struct cogmem__cand) / nq / nt) {
        cogmem__rcu_unlock();
        return -ENOMEM;
    }
    size_t rq_bytes = (size_t)nt * nq * sizeof(struct cogmem__rq);
    size_t heap_bytes = (size_t)nt * nq * per_heap * sizeof(struct cogmem__cand);
    size_t bytes = sizeof(struct range) * nt + rq_bytes + heap_bytes;
    char *mem = cogmem__mem_alloc(&store->mem, COGMEM__MEM_META, bytes);
    if (!mem) {
        cogmem__rcu_unlock();
        return -ENOMEM;
    }
    struct range *rg = (struct range *)mem;
    struct cogmem__rq *rqs = (struct cogmem__rq *)(mem + sizeof(struct range) * nt);
    struct cogmem__cand *heaps = (struct cogmem__cand *)((char *)rqs + rq_bytes);
    for (unsigned t = 0; t < nt; t++) {
        struct range *r = &rg[t];
        r->sc = &sc;
        r->qs = rqs + (size_t)t * nq;
        r->nq = nq;
        for (size_t j = 0; j < nq; j++) {
            struct cogmem__rq *q = &r->qs[j];
            q->q = queries + j * dim;
            cogmem__recall_check_query(&sc, q->q, &q->qnorm);
            q->top.h = heaps + ((size_t)t * nq + j) * per_heap;
            q->top.k = kk;
            q->top.n = 0;
            q->top.tab = NULL;
            q->top.tmask = 0;
            if (per_heap > kk) {
                q->top.tab = (struct cogmem__tslot *)(q->top.h + kk);
                q->top.tmask = per_heap - kk - 1;
                memset(q->top.tab, 0, (per_heap - kk) * sizeof *q->top.tab);
            }
        }
        /* Thread t's share of the concatenated rows [concepts | episodes]. */
        uint64_t a = rows * t / nt, b = rows * (t + 1) / nt;
        r->lo[0] = (uint32_t)(a < used[0] ? a : used[0]);
        r->hi[0] = (uint32_t)(b < used[0] ? b : used[0]);
        r->lo[1] = (uint32_t)(a > used[0] ? a - used[0] : 0);
        r->hi[1] = (uint32_t)(b > used[0] ? b - used[0] : 0);
    }

    /* Library threads block every signal (cogmem.h, Caveats). */
    uint8_t ok[MAX_THREADS] = {0};
    if (nt > 1) {
        sigset_t old;
        cogmem__signals_block_all(&old);
        for (unsigned t = 1; t < nt; t++) {
            ok[t] = pthread_create(&rg[t].th, NULL, range_main, &rg[t]) == 0;
        }
        cogmem__signals_restore(&old);
    }
    run_range(&rg[0]);
    for (unsigned t = 1; t < nt; t++) {
        if (ok[t])
            pthread_join(rg[t].th, NULL);
        else
            run_range(&rg[t]); /* could not start it: do its share here */
    }
    cogmem__rcu_unlock();

    for (size_t j = 0; j < nq; j++) {
        struct cogmem__topk *top = &rg[0].qs[j].top;
        for (unsigned t = 1; t < nt; t++) {
            const struct cogmem__topk *o = &rg[t].qs[j].top;
            for (size_t i = 0; i < o->n; i++)
                cogmem__topk_offer(top, o->h[i].score, o->h[i].kind, o->h[i].id);
        }
        n_out[j] = cogmem__topk_emit(top, out + j * k);
    }
    cogmem__mem_free(&store->mem, COGMEM__MEM_META, mem, bytes);
    return 0;
}

/* The public entry: counts the call for cogmem_stats and times a sample
 * of them; the work is in recall_batch_body. */
int cogmem_recall_batch(cogmem_store *store, const float *queries, size_t nq,
                        unsigned kinds, size_t k, const cogmem_recall_params *p,
                        cogmem_recall_hit *out, size_t *n_out)
{
    uint64_t t0 = store ? cogmem__lat_begin(store) : 0;
    int rc = recall_batch_body(store, queries, nq, kinds, k, p, out, n_out);
    if (rc == 0) {
        cogmem__stats_add(store, COGMEM__EV_RECALL, nq); /* counts queries */
        cogmem__lat_end(store, COGMEM_OP_RECALL, t0);
    }
    return rc;
}
