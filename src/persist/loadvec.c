/* cogmem — the COPY open's vector work, in parallel with the rest of the
 * load: copying the snapshot's vector rows into the (preallocated) slab
 * rows of the same index, checking each row (zero padding, finite, norm
 * agreeing with its record), writing bf16 copies, and checking every
 * 4 MiB vector chunk's XXH3.
 *
 * The snapshot parser hands the nodes to the loader one by one on the
 * opening thread (records, map links: src/persist/recover.c); that work
 * touches no vector data, so the vector work runs beside it on worker
 * threads (all signals blocked: shards/sigmask.h), and the opening thread
 * joins in when its parse is done. Work items are whole slab chunks and
 * whole file chunks, taken from one atomic counter. Nothing reads a row
 * before cogmem__vload_finish() has joined every worker (the store is
 * not yet shared, and the replay that may read rows comes after), so the
 * join is the only ordering needed. A failed check makes the open fail
 * (-EBADMSG with where, the first failure found); the store is then
 * discarded whole, so nodes linked before the failure are never seen.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "shards/sigmask.h"
#include "src/persist/internal.h"

/* Whether a row agrees with its record, as a write would have
 * stored it: finite, its norm as a float finite (a write refuses a row
 * whose norm overflows float, -ERANGE; a tolerance alone would let a row
 * of norm just above FLT_MAX pass with FLT_MAX recorded), and that norm,
 * recomputed as a write computes it (cogmem__check_vector's one pass, the
 * fixed-order cogmem_sum_squares, so bit-exact for what this version
 * wrote), the recorded one up to rounding, which allows for snapshots
 * whose norms an earlier version summed in another order. (That the
 * recorded norm is positive and finite the parser checks: snapparse.c.) */
int cogmem__row_ok(const float *row, uint32_t dim, float norm)
{
    double sumsq;
    if (cogmem__check_vector(row, dim, &sumsq))
        return 0;
    double r = sqrt(sumsq);
    return isfinite((float)r) && fabs(r - (double)norm) <= 1e-3 * (double)norm;
}

static void fail(struct cogmem__vload *j, const char *section, uint64_t off,
                 const char *what, unsigned long long n)
{
    pthread_mutex_lock(&j->mu);
    if (!atomic_load_explicit(&j->failed, memory_order_relaxed)) {
        cogmem__bad_set(&j->bad, section, off, what, n);
        atomic_store_explicit(&j->failed, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&j->mu);
}

static const char *const vec_name[2] = {"concept-vectors", "episode-vectors"};
static const char *const meta_name[2] = {"concept-meta", "episode-meta"};

/* Slab chunk c of kind k: its rows, copied and checked. */
static void copy_chunk(struct cogmem__vload *j, int k, uint32_t c)
{
    struct cogmem__slab *sl = &j->st->sets[k].kind.slab;
    uint64_t lo = (uint64_t)c * sl->rows_per_chunk, hi = lo + sl->rows_per_chunk;
    if (hi > j->count[k])
        hi = j->count[k];
    char *chunk = cogmem__slab_chunk(sl, c);
    const size_t rb = j->row_bytes, fb = (size_t)j->dim * sizeof(float);
    for (uint64_t i = lo; i < hi; i++) {
        const uint8_t *src = j->buf + j->voff[k] + i * rb;
        for (size_t b = fb; b < rb; b++)
            if (src[b]) {
                fail(j, vec_name[k], j->voff[k] + i * rb + b, "non-zero row padding (row %llu)",
                     (unsigned long long)i);
                return;
            }
        void *hdr = chunk + (i - lo) * sizeof(struct cogmem_vec);
        float *dst = cogmem__slab_data_of(sl, hdr, (uint32_t)i);
        memcpy(dst, src, rb);
        float norm;
        uint64_t at = j->moff[k] + i * sizeof(struct cogmem__snap_node);
        memcpy(&norm, j->buf + at + offsetof(struct cogmem__snap_node, norm), sizeof norm);
        if (!cogmem__row_ok(dst, j->dim, norm)) {
            fail(j, meta_name[k], at,
                 "node record %llu does not load (its vector disagrees with its norm)",
                 (unsigned long long)i);
            return;
        }
        uint16_t *b16 = cogmem__slab_bf16_of(sl, hdr, (uint32_t)i);
        if (b16)
            cogmem_f32_to_bf16(dst, j->dim, b16);
    }
}

/* File chunk c (4 MiB of the section) of kind k: its checksum. */
static void hash_chunk(struct cogmem__vload *j, int k, uint64_t c)
{
    uint64_t len = j->count[k] * j->row_bytes, o = c * COGMEM__VEC_CHUNK;
    uint64_t n = len - o < COGMEM__VEC_CHUNK ? len - o : COGMEM__VEC_CHUNK;
    uint64_t want;
    memcpy(&want, j->sums + 8 * (k ? j->fchunks[0] + c : c), sizeof want);
    if (XXH3_64bits(j->buf + j->voff[k] + o, n) != want)
        fail(j, vec_name[k], j->voff[k] + o, "vector chunk %llu checksum mismatch",
             (unsigned long long)c);
}

/* Items: slab chunks of kind 0, of kind 1, then file chunks of 0, of 1. */
static void work(struct cogmem__vload *j)
{
    for (;;) {
        if (atomic_load_explicit(&j->failed, memory_order_relaxed))
            return;
        uint64_t it = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (it < j->schunks[0])
            copy_chunk(j, 0, (uint32_t)it);
        else if ((it -= j->schunks[0]) < j->schunks[1])
            copy_chunk(j, 1, (uint32_t)it);
        else if ((it -= j->schunks[1]) < j->fchunks[0])
            hash_chunk(j, 0, it);
        else if ((it -= j->fchunks[0]) < j->fchunks[1])
            hash_chunk(j, 1, it);
        else
            return;
    }
}

static void *worker(void *arg)
{
    work(arg);
    return NULL;
}

int cogmem__vload_start(struct cogmem__vload *j, cogmem_store *st, const uint8_t *buf,
                        const uint64_t count[2], const uint64_t voff[2],
                        const uint64_t moff[2], const uint8_t *sums, uint32_t row_bytes)
{
    memset(j, 0, sizeof *j);
    j->st = st;
    j->buf = buf;
    j->sums = sums;
    j->row_bytes = row_bytes;
    j->dim = st->dim;
    pthread_mutex_init(&j->mu, NULL);
    j->inited = 1;
    for (int k = 0; k < 2; k++) {
        struct cogmem__slab *sl = &st->sets[k].kind.slab;
        j->count[k] = count[k];
        j->voff[k] = voff[k];
        j->moff[k] = moff[k];
        j->schunks[k] = (count[k] + sl->rows_per_chunk - 1) / sl->rows_per_chunk;
        j->fchunks[k] = (count[k] * row_bytes + COGMEM__VEC_CHUNK - 1) / COGMEM__VEC_CHUNK;
        if (row_bytes != sl->stride)
            return -EBADMSG;
        int rc = cogmem__slab_prealloc(sl, (uint32_t)count[k]);
        if (rc)
            return rc == -EINVAL ? -EBADMSG : rc;
    }
    /* One worker per other CPU (the opening thread is busy with the
     * records, then joins in); none on one CPU. Fewer if creation fails:
     * whatever is left the opening thread does in cogmem__vload_finish. */
    long np = sysconf(_SC_NPROCESSORS_ONLN);
    int want = np > 1 ? (int)(np - 1) : 0;
    if (want > COGMEM__VLOAD_MAX_THREADS)
        want = COGMEM__VLOAD_MAX_THREADS;
    sigset_t old;
    cogmem__signals_block_all(&old);
    for (int t = 0; t < want; t++) {
        if (pthread_create(&j->th[j->nth], NULL, worker, j) != 0)
            break;
        j->nth++;
    }
    cogmem__signals_restore(&old);
    return 0;
}

int cogmem__vload_finish(struct cogmem__vload *j, struct cogmem__bad *bad)
{
    if (!j->inited)
        return 0;
    work(j);
    for (int t = 0; t < j->nth; t++)
        pthread_join(j->th[t], NULL);
    j->nth = 0;
    pthread_mutex_destroy(&j->mu);
    j->inited = 0;
    if (atomic_load_explicit(&j->failed, memory_order_relaxed)) {
        if (bad)
            *bad = j->bad;
        return -EBADMSG;
    }
    return 0;
}
