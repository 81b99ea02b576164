/* cogmem — the journal: record appends, group commit, segments, parsing.
 *
 * Append: a record is serialised into the shared buffer under `mu` and
 * gets the next LSN there. Callers append while holding the locks that
 * order their mutation (hooks.h), so buffer order = LSN order = commit
 * order per id. Nothing blocks on I/O under `mu`.
 *
 * Group commit: a caller that needs its record written (PROCESS,
 * INTERVAL) or synced (SYNC) waits on gc_cv for the durable mark while one
 * caller, the leader, swaps the whole buffer out (appends go on into the
 * spare meanwhile), writes it and (SYNC) fdatasyncs, covering every record
 * appended before it took the buffer by any thread. A SYNC leader first
 * gives the callers the previous fsync released a moment to append their
 * next record (collect()), so that each fsync serves every writing thread:
 * one fsync per batch, not per call, and no thread registers.
 *
 * Failure: the first failed write or fsync stores its errno in `failed`;
 * from then on nothing more is written (a later success would hide a hole)
 * and `written`/`synced` never move again, so no call can report a record
 * durable that is not.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shards/sigmask.h"
#include "src/persist/fileops.h"
#include "src/persist/internal.h"
#include "src/persist/sum.h"

_Thread_local uint64_t cogmem__pj_last_lsn;

int cogmem__jr_init(struct cogmem__journal *jr, int durability, uint32_t interval_ms)
{
    memset(jr, 0, sizeof *jr);
    jr->on = durability != COGMEM_DURABLE_NONE;
    jr->durability = durability;
    jr->interval_ms = interval_ms;
    jr->fd = -1;
    pthread_mutex_init(&jr->mu, NULL);
    pthread_mutex_init(&jr->io, NULL);
    pthread_mutex_init(&jr->gc_mu, NULL);
    pthread_cond_init(&jr->gc_cv, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&jr->gc_lead_cv, &ca);
    pthread_condattr_destroy(&ca);
    jr->gc_lat_ns = 1000000; /* until measured: 1 ms */
    pthread_cond_init(&jr->th_cv, NULL);
    atomic_init(&jr->next_lsn, 1);
    atomic_init(&jr->written, 1);
    atomic_init(&jr->synced, 1);
    atomic_init(&jr->failed, 0);
    return 0;
}

void cogmem__jr_fini(struct cogmem__journal *jr)
{
    if (jr->th_started) {
        pthread_mutex_lock(&jr->mu);
        jr->th_stop = 1;
        pthread_cond_signal(&jr->th_cv);
        pthread_mutex_unlock(&jr->mu);
        pthread_join(jr->th, NULL);
        jr->th_started = 0;
    }
    if (jr->fd >= 0)
        cogmem__fops->close(jr->fd);
    jr->fd = -1;
    free(jr->buf);
    free(jr->spare);
    pthread_mutex_destroy(&jr->mu);
    pthread_mutex_destroy(&jr->io);
    pthread_mutex_destroy(&jr->gc_mu);
    pthread_cond_destroy(&jr->gc_cv);
    pthread_cond_destroy(&jr->gc_lead_cv);
    pthread_cond_destroy(&jr->th_cv);
}

static uint64_t fresh_salt(uint64_t seq)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x[3] = {(uint64_t)ts.tv_sec, (uint64_t)ts.tv_nsec, seq};
    return cogmem__sum(x, sizeof x) | 1u;
}

static void seg_name(char *out, size_t cap, const char *dir, uint64_t seq)
{
    snprintf(out, cap, "%s/jrn-%016llx.cgj", dir, (unsigned long long)seq);
}

/* Create segment `seq` starting at first_lsn with `salt`, header fsynced
 * and the directory too; it becomes the segment appends are written to. */
static int open_segment(struct cogmem__persist *p, uint64_t seq, uint64_t first_lsn,
                        uint64_t salt)
{
    struct cogmem__journal *jr = &p->jr;
    char path[PATH_MAX];
    seg_name(path, sizeof path, p->dir, seq);
    struct cogmem__jrn_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, COGMEM__JRN_MAGIC, 8);
    h.major = COGMEM_FORMAT_MAJOR;
    h.minor = COGMEM_FORMAT_MINOR;
    h.probe = COGMEM__PROBE;
    h.incompat = COGMEM__FEAT_INCOMPAT_WORDS;
    h.seq = seq;
    h.first_lsn = first_lsn;
    h.salt = salt;
    h.dim = p->dim;
    h.cfg = p->cfg;
    h.xxh3 = cogmem__sum(&h, sizeof h);
    int fd = cogmem__fops->open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    if (fd < 0)
        return -errno;
    int rc = cogmem__write_all(fd, &h, sizeof h);
    if (rc == 0 && cogmem__fops->fsync(fd))
        rc = -errno;
    if (rc == 0)
        rc = cogmem__fsync_dir(p->dir);
    if (rc) {
        cogmem__fops->close(fd);
        cogmem__fops->unlink(path);
        return rc;
    }
    if (jr->fd >= 0)
        cogmem__fops->close(jr->fd);
    jr->fd = fd;
    jr->seq = seq;
    return 0;
}

int cogmem__jr_new_segment(struct cogmem__persist *p, uint64_t seq)
{
    struct cogmem__journal *jr = &p->jr;
    pthread_mutex_lock(&jr->mu);
    uint64_t first = atomic_load_explicit(&jr->next_lsn, memory_order_relaxed);
    uint64_t salt = jr->salt = fresh_salt(seq);
    pthread_mutex_unlock(&jr->mu);
    return open_segment(p, seq, first, salt);
}

uint64_t cogmem__jr_append(struct cogmem__journal *jr, uint16_t type,
                           const void *a, size_t na, const void *b, size_t nb)
{
    if (!jr->on || atomic_load_explicit(&jr->failed, memory_order_relaxed))
        return 0;
    size_t len = na + nb, bytes = cogmem__jrn_rec_bytes(len);
    pthread_mutex_lock(&jr->mu);
    if (jr->len + bytes > jr->cap) {
        size_t cap = jr->cap ? jr->cap : 65536;
        while (cap < jr->len + bytes)
            cap *= 2;
        char *nbuf = realloc(jr->buf, cap);
        if (!nbuf) {
            /* The mutation already happened in memory and cannot be
             * journaled: the journal stops, as after a failed write. */
            int expect = 0;
            atomic_compare_exchange_strong_explicit(&jr->failed, &expect, -ENOMEM,
                                                    memory_order_relaxed,
                                                    memory_order_relaxed);
            pthread_mutex_unlock(&jr->mu);
            return 0;
        }
        jr->buf = nbuf;
        jr->cap = cap;
    }
    uint64_t lsn = atomic_load_explicit(&jr->next_lsn, memory_order_relaxed);
    char *o = jr->buf + jr->len;
    struct cogmem__jrn_rec r = {.len = (uint32_t)len, .type = type, .lsn = lsn};
    memcpy(o, &r, sizeof r);
    if (na)
        memcpy(o + sizeof r, a, na);
    if (nb)
        memcpy(o + sizeof r + na, b, nb);
    size_t body = sizeof r + cogmem__pad8(len);
    memset(o + sizeof r + len, 0, body - sizeof r - len);
    uint64_t sum = cogmem__sum_seeded(o, body, jr->salt);
    memcpy(o + body, &sum, 8);
    jr->len += bytes;
    /* Release: a snapshot that reads lsn + 1 under a node's lock sees the
     * mutation this record describes (it committed before the append). */
    atomic_store_explicit(&jr->next_lsn, lsn + 1, memory_order_release);
    pthread_mutex_unlock(&jr->mu);
    cogmem__pj_last_lsn = lsn;
    return lsn;
}

static void fail(struct cogmem__journal *jr, int rc)
{
    int expect = 0;
    atomic_compare_exchange_strong_explicit(&jr->failed, &expect, rc,
                                            memory_order_relaxed, memory_order_relaxed);
}

/* Under mu, with io held: take the buffered records (LSNs below the
 * returned one) and leave the spare buffer in their place; new_salt, if
 * non-zero, is the salt records appended from now on are summed with. */
struct taken {
    char *b;
    size_t n, cap;
};
static uint64_t take_buffer(struct cogmem__journal *jr, struct taken *t, uint64_t new_salt)
{
    pthread_mutex_lock(&jr->mu);
    t->b = jr->buf;
    t->n = jr->len;
    t->cap = jr->cap;
    uint64_t end = atomic_load_explicit(&jr->next_lsn, memory_order_relaxed);
    jr->buf = jr->spare;
    jr->cap = jr->spare_cap;
    jr->len = 0;
    if (new_salt)
        jr->salt = new_salt;
    pthread_mutex_unlock(&jr->mu);
    return end;
}

/* With io held: the written buffer becomes the spare. */
static void give_back(struct cogmem__journal *jr, const struct taken *t)
{
    jr->spare = t->b;
    jr->spare_cap = t->cap;
}

/* With io held: write everything buffered (and sync if asked). */
static int flush_locked(struct cogmem__journal *jr, int sync)
{
    int rc = atomic_load_explicit(&jr->failed, memory_order_relaxed);
    if (rc)
        return rc;
    struct taken t;
    uint64_t end = take_buffer(jr, &t, 0);
    char *b = t.b;
    size_t n = t.n;
    if (n) {
        rc = cogmem__write_all(jr->fd, b, n);
        if (rc) {
            fail(jr, rc);
        } else {
            /* Release: pairs with the acquire of waiters that then report
             * success without taking io. */
            atomic_store_explicit(&jr->written, end, memory_order_release);
        }
    }
    give_back(jr, &t);
    if (rc == 0 && sync && atomic_load_explicit(&jr->synced, memory_order_relaxed) < end) {
        if (cogmem__fops->fdatasync(jr->fd)) {
            rc = -errno;
            fail(jr, rc);
        } else {
            atomic_store_explicit(&jr->synced, end, memory_order_release);
        }
    }
    return rc;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The leader of a SYNC batch, under gc_mu, before it takes the buffer:
 * wait until gc_expect callers are pending or about one fsync's time has
 * passed (internal.h). A caller that stopped writing costs one such wait,
 * after which gc_expect no longer counts it. */
static void collect(struct cogmem__journal *jr)
{
    unsigned want = jr->gc_expect;
    if (want <= 1 || jr->gc_pending >= want)
        return;
    uint64_t wait = jr->gc_lat_ns;
    wait = wait < 20000 ? 20000 : wait > 5000000 ? 5000000 : wait;
    uint64_t dl = mono_ns() + wait;
    struct timespec ts = {(time_t)(dl / 1000000000u), (long)(dl % 1000000000u)};
    jr->gc_collecting = 1;
    while (jr->gc_pending < want && !atomic_load_explicit(&jr->failed, memory_order_relaxed))
        if (pthread_cond_timedwait(&jr->gc_lead_cv, &jr->gc_mu, &ts) == ETIMEDOUT)
            break;
    jr->gc_collecting = 0;
}

int cogmem__jr_wait(struct cogmem__journal *jr, uint64_t target, int sync)
{
    if (!jr->on || target == 0)
        return 0;
    sync = sync || jr->durability == COGMEM_DURABLE_SYNC;
    _Atomic uint64_t *mark = sync ? &jr->synced : &jr->written;
    if (atomic_load_explicit(mark, memory_order_acquire) > target)
        return 0;
    int rc = 0;
    pthread_mutex_lock(&jr->gc_mu);
    uint64_t gen = jr->gc_gen;
    if (sync) {
        jr->gc_pending++;
        if (jr->gc_collecting)
            pthread_cond_signal(&jr->gc_lead_cv);
    }
    while (atomic_load_explicit(mark, memory_order_acquire) <= target &&
           !atomic_load_explicit(&jr->failed, memory_order_relaxed)) {
        if (jr->flushing) {
            pthread_cond_wait(&jr->gc_cv, &jr->gc_mu);
            continue;
        }
        /* Leader: everything appended so far goes in this one batch. */
        jr->flushing = 1;
        unsigned batch = 0;
        if (sync) {
            collect(jr);
            batch = jr->gc_pending;
            jr->gc_pending = 0;
            jr->gc_gen++;
        }
        pthread_mutex_unlock(&jr->gc_mu);
        uint64_t t0 = mono_ns();
        pthread_mutex_lock(&jr->io);
        if (atomic_load_explicit(mark, memory_order_acquire) <= target)
            rc = flush_locked(jr, sync);
        pthread_mutex_unlock(&jr->io);
        uint64_t took = mono_ns() - t0;
        pthread_mutex_lock(&jr->gc_mu);
        jr->flushing = 0;
        if (sync) {
            jr->gc_lat_ns = (jr->gc_lat_ns * 7 + took) / 8;
            /* The next batch: this one's callers (they come back) and
             * those that queued meanwhile. */
            jr->gc_expect = batch + jr->gc_pending;
        }
        pthread_cond_broadcast(&jr->gc_cv);
        if (rc)
            break;
    }
    /* Still counted in gc_pending (no batch closed since we came): our
     * record went out in a batch another caller's wait had closed. */
    if (sync && gen == jr->gc_gen)
        jr->gc_pending--;
    pthread_mutex_unlock(&jr->gc_mu);
    if (atomic_load_explicit(mark, memory_order_acquire) > target)
        return 0;
    /* Not durable: the first failure's errno for the call that met it,
     * -EIO for everyone after. */
    return rc ? rc : -EIO;
}

int cogmem__jr_rotate(struct cogmem__persist *p, uint64_t *begin, uint64_t *seq)
{
    struct cogmem__journal *jr = &p->jr;
    pthread_mutex_lock(&jr->io);
    int rc = atomic_load_explicit(&jr->failed, memory_order_relaxed);
    if (rc) {
        pthread_mutex_unlock(&jr->io);
        return rc;
    }
    /* One step under mu: take every record buffered so far (they belong to
     * the old segment) and switch the salt, so that records appended from
     * here on are checksummed for the new segment, whose first LSN is the
     * boundary. */
    uint64_t nseq = jr->seq + 1, salt = fresh_salt(nseq);
    struct taken t;
    uint64_t boundary = take_buffer(jr, &t, salt);
    if (t.n)
        rc = cogmem__write_all(jr->fd, t.b, t.n);
    if (rc == 0 && cogmem__fops->fdatasync(jr->fd))
        rc = -errno;
    give_back(jr, &t);
    if (rc == 0)
        rc = open_segment(p, nseq, boundary, salt);
    if (rc) {
        /* Records after the boundary have no segment to go to. */
        fail(jr, rc);
    } else {
        atomic_store_explicit(&jr->written, boundary, memory_order_release);
        atomic_store_explicit(&jr->synced, boundary, memory_order_release);
        *begin = boundary;
        *seq = nseq;
    }
    pthread_mutex_unlock(&jr->io);
    return rc;
}

static void *interval_main(void *arg)
{
    struct cogmem__journal *jr = arg;
    pthread_mutex_lock(&jr->mu);
    while (!jr->th_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)jr->interval_ms * 1000000u;
        ts.tv_sec += (time_t)(ns / 1000000000u);
        ts.tv_nsec = (long)(ns % 1000000000u);
        pthread_cond_timedwait(&jr->th_cv, &jr->mu, &ts);
        if (jr->th_stop)
            break;
        pthread_mutex_unlock(&jr->mu);
        pthread_mutex_lock(&jr->io);
        if (atomic_load_explicit(&jr->synced, memory_order_relaxed) <
            atomic_load_explicit(&jr->next_lsn, memory_order_acquire))
            (void)flush_locked(jr, 1); /* a failure is in jr->failed */
        pthread_mutex_unlock(&jr->io);
        pthread_mutex_lock(&jr->mu);
    }
    pthread_mutex_unlock(&jr->mu);
    return NULL;
}

int cogmem__jr_start_thread(struct cogmem__journal *jr)
{
    if (jr->durability != COGMEM_DURABLE_INTERVAL)
        return 0;
    sigset_t old;
    cogmem__signals_block_all(&old);
    int rc = pthread_create(&jr->th, NULL, interval_main, jr);
    cogmem__signals_restore(&old);
    if (rc)
        return -rc;
    jr->th_started = 1;
    return 0;
}

/* ------------------------------------------------------------- parsing */

size_t cogmem__jrn_payload_len(uint16_t type, uint32_t dim, const void *payload,
                               size_t avail)
{
    size_t v = (size_t)dim * sizeof(float);
    switch (type) {
    case COGMEM__J_ADD:
        return sizeof(struct cogmem__jp_add) + v;
    case COGMEM__J_REMOVE:
        return sizeof(struct cogmem__jp_remove);
    case COGMEM__J_CENTROID:
        return sizeof(struct cogmem__jp_centroid) + v;
    case COGMEM__J_TOUCH:
        return sizeof(struct cogmem__jp_touch);
    case COGMEM__J_BIND:
    case COGMEM__J_ADJUST:
    case COGMEM__J_UNBIND:
    case COGMEM__J_EDROP:
        return sizeof(struct cogmem__jp_bind);
    case COGMEM__J_WORD:
        return sizeof(struct cogmem__jp_word);
    case COGMEM__J_CLIST: {
        struct cogmem__jp_clist h;
        if (avail < sizeof h)
            return SIZE_MAX;
        memcpy(&h, payload, sizeof h);
        return sizeof h + (size_t)h.n * sizeof(struct cogmem__snap_bind);
    }
    default:
        return 0;
    }
}

int cogmem__jrn_parse(const uint8_t *buf, size_t len, int check_sums,
                      struct cogmem__jrn_header *hdr_out, cogmem__jrn_fn fn,
                      void *arg, size_t *valid_end, struct cogmem__bad *bad)
{
    struct cogmem__jrn_header h;
    *valid_end = 0;
    if (len < sizeof h) {
        cogmem__bad_set(bad, "header", 0, "segment shorter than its header (%zu bytes)", len);
        return 1; /* a torn header: only acceptable for the last segment */
    }
    memcpy(&h, buf, sizeof h);
    if (memcmp(h.magic, COGMEM__JRN_MAGIC, 8) != 0 || h.probe != COGMEM__PROBE) {
        cogmem__bad_set(bad, "header", 0, "not a cogmem journal segment (magic)");
        return -EBADMSG;
    }
    if (h.major > COGMEM_FORMAT_MAJOR || (h.incompat & ~COGMEM__FEAT_INCOMPAT_KNOWN) ||
        (h.ro_compat & ~COGMEM__FEAT_RO_COMPAT_KNOWN)) {
        cogmem__bad_set(bad, "header", 8, "format %u.%u / features %#llx not supported",
                        h.major, h.minor, (unsigned long long)h.incompat);
        return -EPROTONOSUPPORT;
    }
    uint64_t want = h.xxh3;
    h.xxh3 = 0;
    if (check_sums && cogmem__sum(&h, sizeof h) != want) {
        cogmem__bad_set(bad, "header", offsetof(struct cogmem__jrn_header, xxh3),
                        "header checksum mismatch");
        return -EBADMSG;
    }
    h.xxh3 = want;
    if (h.dim == 0 || h.dim > COGMEM_MAX_DIM || h.first_lsn == 0) {
        cogmem__bad_set(bad, "header", 0, "bad dim %u or first LSN", h.dim);
        return -EBADMSG;
    }
    if (hdr_out)
        *hdr_out = h;
    size_t off = sizeof h;
    uint64_t lsn = h.first_lsn;
    *valid_end = off;
    while (off < len) {
        struct cogmem__jrn_rec r;
        if (len - off < sizeof r + 8) {
            cogmem__bad_set(bad, "record", off, "torn record head");
            return 1;
        }
        memcpy(&r, buf + off, sizeof r);
        size_t bytes = cogmem__jrn_rec_bytes(r.len);
        if (r.len > len || bytes > len - off) {
            cogmem__bad_set(bad, "record", off, "record of %u bytes runs past the end", r.len);
            return 1;
        }
        size_t body = sizeof r + cogmem__pad8(r.len);
        uint64_t sum;
        memcpy(&sum, buf + off + body, 8);
        if (check_sums && cogmem__sum_seeded(buf + off, body, h.salt) != sum) {
            cogmem__bad_set(bad, "record", off, "record checksum mismatch (lsn %llu)",
                            (unsigned long long)lsn);
            /* The very last record: a write cut short. Anything after it
             * means the middle of the journal is damaged. */
            return off + bytes == len ? 1 : -EBADMSG;
        }
        const uint8_t *pl = buf + off + sizeof r;
        if (r.lsn != lsn || r.type == 0 || r.type > COGMEM__J_TYPE_MAX || r.flags != 0 ||
            cogmem__jrn_payload_len(r.type, h.dim, pl, r.len) != r.len) {
            cogmem__bad_set(bad, "record", off,
                            "bad record (type %u, %u bytes, lsn %llu, expected %llu)",
                            r.type, r.len, (unsigned long long)r.lsn,
                            (unsigned long long)lsn);
            return -EBADMSG;
        }
        if (fn) {
            int rc = fn(&r, pl, arg);
            if (rc < 0) {
                cogmem__bad_set(bad, "record", off, "record (type %u, lsn %llu) does not "
                                "apply to the store", r.type, (unsigned long long)lsn);
                return rc;
            }
        }
        off += bytes;
        lsn++;
        *valid_end = off;
    }
    return 0;
}
