/* cogmem — writing and parsing snapshot files (format.h).
 *
 * Writing runs beside the store's other threads: the ids of each kind are
 * collected first (one read-side section per kind, no lock taken in it),
 * then each node is copied holding its stripe mutex and, for a concept,
 * its binding list's lock, with one reference taken on its vector; the
 * journal's next LSN read there is the copy's "as of" mark (hooks.h).
 * No lock is ever waited for inside a read-side section: a thread holding
 * a stripe may be growing a table, which waits for every reader. The rows
 * are written after all copies are made, from the references, which are
 * dropped at the end. Rows that a COGMEM_OPEN_MMAP open mapped without
 * checking are checked before any byte is written (check_mapped).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/uio.h>

#include "shards/bindex.h"
#include "src/persist/fileops.h"
#include "src/persist/internal.h"
#include "src/persist/sum.h"

static size_t row_bytes_of(uint32_t dim)
{
    return ((size_t)dim * sizeof(float) + 63) & ~(size_t)63;
}

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

static uint64_t chunks_of(uint64_t bytes)
{
    return (bytes + COGMEM__VEC_CHUNK - 1) / COGMEM__VEC_CHUNK;
}

/* ------------------------------------------------------------- copying */

struct grow {
    void *p;
    size_t n, cap, size;
};

static void *grow_push(struct grow *g, size_t k)
{
    if (g->n + k > g->cap) {
        size_t cap = g->cap ? g->cap : 256;
        while (cap < g->n + k)
            cap *= 2;
        void *np = realloc(g->p, cap * g->size);
        if (!np)
            return NULL;
        g->p = np;
        g->cap = cap;
    }
    void *r = (char *)g->p + g->n * g->size;
    g->n += k;
    return r;
}

struct copy {
    struct grow ids[2];   /* uint64_t */
    struct grow nodes[2]; /* cogmem__snap_node */
    struct grow vecs[2];  /* struct cogmem_vec * */
    struct grow binds;    /* raw BINDS section bytes */
    struct grow hists;    /* cogmem__snap_hist */
    struct grow ebinds;   /* raw EBINDS section bytes */
    uint64_t nbinds, nebinds;
};

static int collect_id(struct cogmem__node *n, void *arg)
{
    uint64_t *slot = grow_push(arg, 1);
    if (!slot)
        return -ENOMEM;
    *slot = atomic_load_explicit(&n->id, memory_order_relaxed);
    return 0;
}

/* Copy node `id` of `kind` (its stripe held by the caller). 0, or
 * -ENOMEM; a node removed meanwhile is simply left out. */
static int copy_node(cogmem_store *st, struct copy *cp, enum cogmem_kind kind, uint64_t id)
{
    struct cogmem__persist *p = st->persist;
    int k = kind == COGMEM_EPISODE, rc = 0;
    struct cogmem__snap_node rec;
    memset(&rec, 0, sizeof rec);
    struct cogmem__snap_hist hrec;
    int have_hist = 0;
    size_t bind_mark = cp->binds.n, ebind_mark = cp->ebinds.n;
    cogmem__rcu_lock();
    struct cogmem__node *n = cogmem__set_find(cogmem__set_of(st, kind), id,
                                              cogmem__hash(st, id), COGMEM__FIND_LIVE);
    struct cogmem_vec *v = n ? cogmem__node_vec_ref(n) : NULL;
    if (!v) {
        cogmem__rcu_unlock();
        return 0;
    }
    struct cogmem__blist *cl = NULL;
    if (kind == COGMEM_EPISODE) {
        /* The episode's list, in its order: changed only under its lock. */
        int enomem = 0;
        cl = cogmem__blist_get(n, &st->mem, COGMEM__MEM_EPISODE, 0, 0, &enomem);
        if (cl)
            cogmem__spin_lock(&cl->lock);
        if (cl && !cl->dead && cl->n) {
            size_t bytes = sizeof(struct cogmem__snap_blist) + (size_t)cl->n * 8;
            uint8_t *o = grow_push(&cp->ebinds, bytes);
            if (!o) {
                rc = -ENOMEM;
            } else {
                struct cogmem__snap_blist h = {.concept = id, .n = cl->n};
                memcpy(o, &h, sizeof h);
                memcpy(o + sizeof h, cl->peer, (size_t)cl->n * 8);
                cp->nebinds += cl->n;
            }
        }
    } else {
        int enomem = 0;
        cl = cogmem__blist_get(n, &st->mem, COGMEM__MEM_CONCEPT, 1, 0, &enomem);
        if (cl)
            cogmem__spin_lock(&cl->lock);
        if (cl && !cl->dead && cl->n) {
            size_t bytes = sizeof(struct cogmem__snap_blist) +
                           (size_t)cl->n * sizeof(struct cogmem__snap_bind);
            uint8_t *o = grow_push(&cp->binds, bytes);
            if (!o) {
                rc = -ENOMEM;
            } else {
                struct cogmem__snap_blist h = {.concept = id, .n = cl->n};
                memcpy(o, &h, sizeof h);
                struct cogmem__snap_bind *e = (struct cogmem__snap_bind *)(o + sizeof h);
                for (uint32_t i = 0; i < cl->n; i++) {
                    struct cogmem__snap_bind b = {
                        .episode = cl->peer[i], .strength = cl->strength[i],
                        .created_ns = cl->created[i], .touched_ns = cl->touched[i],
                        .decayed_ns = cl->decayed[i]};
                    memcpy(&e[i], &b, sizeof b);
                }
                cp->nbinds += cl->n;
            }
        }
    }
    /* Under the stripe and the list lock: no record about this node is
     * being appended, so this splits the journal exactly (hooks.h). */
    rec.lsn = atomic_load_explicit(&p->jr.next_lsn, memory_order_acquire);
    rec.id = id;
    rec.stamp = atomic_load_explicit(&n->stamp, memory_order_relaxed);
    rec.touched_ns = atomic_load_explicit(&n->touched_ns, memory_order_relaxed);
    rec.activation_bits = atomic_load_explicit(&n->activation_bits, memory_order_relaxed);
    rec.word44 = atomic_load_explicit(&n->bind_version, memory_order_relaxed);
    rec.vec_version = v->version;
    rec.norm = v->norm;
    if (cl)
        cogmem__spin_unlock(&cl->lock);
    int enomem = 0;
    struct cogmem__presentations *h = cogmem__pres_get(n, &st->mem, COGMEM__MEM_META, 0, &enomem);
    if (h) {
        cogmem__spin_lock(&h->lock);
        if (h->total) {
            memset(&hrec, 0, sizeof hrec);
            hrec.id = id;
            hrec.head = h->head;
            hrec.total = h->total;
            hrec.first_ns = h->first_ns;
            memcpy(hrec.t, h->t, sizeof hrec.t);
            have_hist = 1;
            rec.flags |= COGMEM__SNODE_HIST;
        }
        cogmem__spin_unlock(&h->lock);
    }
    cogmem__rcu_unlock();
    struct cogmem__snap_node *slot = rc ? NULL : grow_push(&cp->nodes[k], 1);
    struct cogmem_vec **vslot = slot ? grow_push(&cp->vecs[k], 1) : NULL;
    struct cogmem__snap_hist *hslot = vslot && have_hist ? grow_push(&cp->hists, 1) : NULL;
    if (!vslot || (have_hist && !hslot)) {
        if (slot)
            cp->nodes[k].n--;
        if (vslot)
            cp->vecs[k].n--;
        cp->binds.n = bind_mark;
        cp->ebinds.n = ebind_mark;
        cogmem__vec_unref(v);
        return -ENOMEM;
    }
    *slot = rec;
    *vslot = v;
    if (hslot)
        *hslot = hrec;
    return 0;
}

static void copy_free(struct copy *cp)
{
    for (int k = 0; k < 2; k++) {
        struct cogmem_vec **v = cp->vecs[k].p;
        for (size_t i = 0; i < cp->vecs[k].n; i++)
            cogmem__vec_unref(v[i]);
        free(cp->ids[k].p);
        free(cp->nodes[k].p);
        free(cp->vecs[k].p);
    }
    free(cp->binds.p);
    free(cp->hists.p);
    free(cp->ebinds.p);
}

/* ------------------------------------------------------------- writing */

/* The file is written front to back: the small sections through a 1 MiB
 * buffer, the vector rows in place from the vectors the copy references,
 * by writev (no copy in user space: the kernel's copy into the page cache
 * is the only one). Every section is one contiguous array in memory, so
 * its XXH3 is one call over it; the rows are summed per 4 MiB chunk with a
 * stream, each batch of rows just before it is written, while it is in
 * cache. Every WB_STEP bytes written start their writeback (fileops.h):
 * the device writes while later rows are copied, and the final fsync has
 * little left (without it, all 300 MB of a 10^5 x 768 snapshot were
 * written back inside that fsync). */
#define WB_STEP (16u << 20)
#define ROWS_BATCH (4u << 20) /* bytes of rows per writev */
#define IOV_BATCH 512

struct wr {
    int fd;
    uint8_t *buf;
    size_t len, cap;
    uint64_t off;     /* file offset of buf[0] + len */
    uint64_t wb_from; /* writeback started for [0, wb_from) */
    int rc;
};

/* After bytes up to w->off - w->len reached the file. */
static void wr_hint(struct wr *w)
{
    uint64_t done = w->off - w->len;
    if (w->rc == 0 && done - w->wb_from >= WB_STEP) {
        (void)cogmem__fops->writeback(w->fd, (off_t)w->wb_from, (off_t)(done - w->wb_from));
        w->wb_from = done;
    }
}

static void wr_flush(struct wr *w)
{
    if (w->rc == 0 && w->len)
        w->rc = cogmem__write_all(w->fd, w->buf, w->len);
    w->len = 0;
    wr_hint(w);
}

static void wr_put(struct wr *w, const void *p, size_t n)
{
    const uint8_t *s = p;
    while (n && w->rc == 0) {
        size_t m = w->cap - w->len < n ? w->cap - w->len : n;
        memcpy(w->buf + w->len, s, m);
        w->len += m;
        w->off += m;
        s += m;
        n -= m;
        if (w->len == w->cap)
            wr_flush(w);
    }
}

/* n zero bytes. */
static void wr_zero(struct wr *w, uint64_t n)
{
    static const uint8_t zero[4096];
    while (n) {
        size_t m = n < sizeof zero ? (size_t)n : sizeof zero;
        wr_put(w, zero, m);
        n -= m;
    }
}

/* Zeros up to the next multiple of align (between sections: outside
 * every checksum). */
static void wr_pad(struct wr *w, uint64_t align)
{
    wr_zero(w, align_up(w->off, align) - w->off);
}

/* One section from one contiguous array. */
static void put_section(struct wr *w, struct cogmem__snap_section *s, uint32_t kind,
                        uint64_t count, const void *p, size_t n)
{
    wr_pad(w, COGMEM__SNAP_ALIGN);
    s->kind = kind;
    s->off = w->off;
    s->count = count;
    wr_put(w, p, n);
    s->len = n;
    s->xxh3 = cogmem__sum(p, n);
}

/* Rows of one kind, summing each 4 MiB of the section into sums[] (a row
 * may straddle two chunks: its bytes are split at the boundary). */
static void put_rows(struct wr *w, struct cogmem__sum_stream *chunk, struct cogmem_vec **v,
                     size_t n, uint32_t dim, uint64_t *sums)
{
    static const uint8_t pad[64];
    size_t rb = row_bytes_of(dim), db = (size_t)dim * sizeof(float);
    struct iovec iov[IOV_BATCH];
    int k = 0;
    size_t batch = 0;
    uint64_t in_chunk = 0, c = 0;
    wr_flush(w); /* the buffer is empty: rows go straight to w->off */
    cogmem__sum_stream_reset(chunk);
    for (size_t i = 0; i < n && w->rc == 0; i++) {
        const uint8_t *parts[2] = {(const uint8_t *)cogmem__vec_data(v[i]), pad};
        size_t lens[2] = {db, rb - db};
        for (int q = 0; q < 2; q++) {
            if (!lens[q])
                continue;
            iov[k++] = (struct iovec){(void *)parts[q], lens[q]};
            const uint8_t *s = parts[q];
            size_t m = lens[q];
            while (m) {
                size_t take = COGMEM__VEC_CHUNK - in_chunk < m ? COGMEM__VEC_CHUNK - in_chunk : m;
                cogmem__sum_stream_add(chunk, s, take);
                in_chunk += take;
                s += take;
                m -= take;
                if (in_chunk == COGMEM__VEC_CHUNK) {
                    sums[c++] = cogmem__sum_stream_end(chunk);
                    cogmem__sum_stream_reset(chunk);
                    in_chunk = 0;
                }
            }
        }
        batch += rb;
        if (k > IOV_BATCH - 2 || batch >= ROWS_BATCH || i + 1 == n) {
            w->rc = cogmem__writev_all(w->fd, iov, k);
            w->off += batch;
            wr_hint(w);
            k = 0;
            batch = 0;
        }
    }
    if (in_chunk)
        sums[c++] = cogmem__sum_stream_end(chunk);
}

/* The checks a COGMEM_OPEN_MMAP open put off (cogmem_persist.h "Open
 * modes") for one mapped row of kind k: the XXH3 of every 4 MiB file
 * chunk the row lies in, then the row against its record's norm, as the
 * COPY open checks them (loadvec.c). A row or chunk that passed is marked
 * for good: the mapping is read-only and a mapped row is never reused or
 * rewritten (its norm with it), so it passes again. The marks need no
 * atomics: the caller holds snap_mu, under which alone they are touched.
 * 0, or -EBADMSG with the failure's format and number in *what, *n;
 * nothing is marked for a row that fails, so it is refused again until
 * its node is removed or its centroid replaced (which retires the row). */
static int check_row(struct cogmem__persist *p, const struct cogmem__slab *sl,
                     struct cogmem__mapcheck *mc, struct cogmem_vec *v, const char **what,
                     unsigned long long *n)
{
    uint32_t r = v->row;
    if (mc->row_ok[r / 8] >> (r % 8) & 1)
        return 0;
    const uint64_t bytes = (uint64_t)sl->mapped_rows * sl->stride;
    uint64_t lo = (uint64_t)r * sl->stride, hi = lo + sl->stride;
    for (uint64_t c = lo / COGMEM__VEC_CHUNK; c <= (hi - 1) / COGMEM__VEC_CHUNK; c++) {
        if (mc->chunk_ok[c])
            continue;
        uint64_t o = c * COGMEM__VEC_CHUNK;
        uint64_t len = bytes - o < COGMEM__VEC_CHUNK ? bytes - o : COGMEM__VEC_CHUNK;
        if (cogmem__sum(sl->map_base + o, len) != mc->sums[c]) {
            *what = "its row is in vector chunk %llu of the mapped snapshot, whose checksum "
                    "fails";
            *n = c;
            return -EBADMSG;
        }
        mc->chunk_ok[c] = 1;
    }
    if (!cogmem__row_ok(cogmem__vec_data(v), p->dim, v->norm)) {
        *what = "its mapped row %llu disagrees with its norm";
        *n = r;
        return -EBADMSG;
    }
    mc->row_ok[r / 8] |= (uint8_t)(1u << (r % 8));
    return 0;
}

/* check_row for each mapped row this snapshot is about to write (under
 * snap_mu): 0, or -EBADMSG naming the first that fails in *rep. */
static int check_mapped(cogmem_store *st, const struct copy *cp,
                        struct cogmem_snapshot_report *rep)
{
    struct cogmem__persist *p = st->persist;
    for (int k = 0; k < 2; k++) {
        struct cogmem__mapcheck *mc = &p->mcheck[k];
        const struct cogmem__slab *sl = &st->sets[k].kind.slab;
        if (!mc->sums)
            continue;
        struct cogmem_vec *const *v = cp->vecs[k].p;
        const struct cogmem__snap_node *rec = cp->nodes[k].p; /* vecs[k]'s records */
        for (size_t i = 0; i < cp->vecs[k].n; i++) {
            const char *what;
            unsigned long long n;
            if (v[i]->row >= sl->mapped_rows || !check_row(p, sl, mc, v[i], &what, &n))
                continue;
            if (rep) {
                rep->bad_kind = k ? COGMEM_EPISODE : COGMEM_CONCEPT;
                rep->bad_id = rec[i].id;
                snprintf(rep->mapped_file, sizeof rep->mapped_file, "%s", p->mapped_file);
                snprintf(rep->detail, sizeof rep->detail, what, n);
            }
            return -EBADMSG;
        }
    }
    return 0;
}

int cogmem__check_mapped_rows(cogmem_store *st, cogmem_bad_row_fn fn, void *arg,
                              uint64_t *failed)
{
    struct cogmem__persist *p = st->persist;
    int rc = 0;
    for (int k = 0; k < 2 && rc == 0; k++) {
        struct cogmem__mapcheck *mc = &p->mcheck[k];
        struct cogmem__set *set = &st->sets[k];
        if (!mc->sums)
            continue;
        /* The ids first (no lock may be waited for in a read-side
         * section), then each node's current vector, with a reference. */
        struct grow ids = {.size = sizeof(uint64_t)};
        cogmem__rcu_lock();
        rc = cogmem__set_foreach(set, collect_id, &ids);
        cogmem__rcu_unlock();
        for (size_t i = 0; i < ids.n && rc == 0; i++) {
            uint64_t id = ((const uint64_t *)ids.p)[i];
            cogmem__rcu_lock();
            struct cogmem__node *n =
                cogmem__set_find(set, id, cogmem__hash(st, id), COGMEM__FIND_LIVE);
            struct cogmem_vec *v = n ? cogmem__node_vec_ref(n) : NULL;
            cogmem__rcu_unlock();
            if (!v)
                continue;
            int bad = 0;
            if (v->row < set->kind.slab.mapped_rows) {
                const char *what;
                unsigned long long at;
                pthread_mutex_lock(&p->snap_mu);
                bad = check_row(p, &set->kind.slab, mc, v, &what, &at) != 0;
                pthread_mutex_unlock(&p->snap_mu);
            }
            cogmem__vec_unref(v);
            if (bad) {
                if (failed)
                    (*failed)++;
                rc = fn(id, k ? COGMEM_EPISODE : COGMEM_CONCEPT, arg);
            }
        }
        free(ids.p);
    }
    return rc;
}

static int write_file(cogmem_store *st, struct copy *cp, const char *path, uint64_t begin,
                      uint64_t end)
{
    struct cogmem__persist *p = st->persist;
    uint32_t dim = p->dim;
    size_t rb = row_bytes_of(dim);
    struct wr w = {.cap = 1u << 20};
    w.buf = malloc(w.cap);
    struct cogmem__sum_stream *chunk = cogmem__sum_stream_new();
    uint64_t nch[2] = {chunks_of(cp->nodes[0].n * rb), chunks_of(cp->nodes[1].n * rb)};
    uint64_t *sums = calloc(nch[0] + nch[1] + 1, sizeof *sums);
    if (!w.buf || !chunk || !sums) {
        free(w.buf);
        cogmem__sum_stream_free(chunk);
        free(sums);
        return -ENOMEM;
    }
    w.fd = cogmem__fops->open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (w.fd < 0) {
        int e = -errno;
        free(w.buf);
        cogmem__sum_stream_free(chunk);
        free(sums);
        return e;
    }
    struct cogmem__snap_section sec[COGMEM__SEC_N];
    memset(sec, 0, sizeof sec);

    /* Header last (it names the table and the size); reserve its page. */
    wr_zero(&w, COGMEM__SNAP_HEADER_BYTES);
    put_section(&w, &sec[0], COGMEM__SEC_CMETA, cp->nodes[0].n, cp->nodes[0].p,
                cp->nodes[0].n * sizeof(struct cogmem__snap_node));
    put_section(&w, &sec[1], COGMEM__SEC_EMETA, cp->nodes[1].n, cp->nodes[1].p,
                cp->nodes[1].n * sizeof(struct cogmem__snap_node));
    for (int k = 0; k < 2; k++) {
        struct cogmem__snap_section *s = &sec[2 + k];
        wr_pad(&w, COGMEM__SNAP_ALIGN);
        s->kind = k ? COGMEM__SEC_EVEC : COGMEM__SEC_CVEC;
        s->off = w.off;
        s->count = cp->nodes[k].n;
        uint64_t *ks = sums + (k ? nch[0] : 0);
        put_rows(&w, chunk, cp->vecs[k].p, cp->vecs[k].n, dim, ks);
        s->len = w.off - s->off;
        s->xxh3 = cogmem__sum(ks, nch[k] * sizeof *ks);
    }
    put_section(&w, &sec[4], COGMEM__SEC_VSUMS, nch[0] + nch[1], sums,
                (nch[0] + nch[1]) * sizeof *sums);
    put_section(&w, &sec[5], COGMEM__SEC_BINDS, cp->nbinds, cp->binds.p, cp->binds.n);
    put_section(&w, &sec[6], COGMEM__SEC_HIST, cp->hists.n, cp->hists.p,
                cp->hists.n * sizeof(struct cogmem__snap_hist));
    put_section(&w, &sec[7], COGMEM__SEC_EBINDS, cp->nebinds, cp->ebinds.p, cp->ebinds.n);
    wr_pad(&w, 64);
    uint64_t table_off = w.off;
    wr_put(&w, sec, sizeof sec);
    uint64_t table_sum = cogmem__sum(sec, sizeof sec);
    wr_put(&w, &table_sum, sizeof table_sum);
    wr_pad(&w, 64);

    struct cogmem__snap_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, COGMEM__SNAP_MAGIC, 8);
    h.major = COGMEM_FORMAT_MAJOR;
    h.minor = COGMEM_FORMAT_MINOR;
    h.probe = COGMEM__PROBE;
    h.dim = dim;
    h.row_bytes = (uint32_t)rb;
    h.begin_lsn = begin;
    h.end_lsn = end;
    h.created_ns = cogmem__now_ns();
    h.cfg = p->cfg;
    h.table_off = table_off;
    h.nsections = COGMEM__SEC_N;
    h.file_bytes = w.off + sizeof(struct cogmem__snap_footer);
    h.xxh3 = cogmem__sum(&h, sizeof h);
    struct cogmem__snap_footer f;
    memset(&f, 0, sizeof f);
    f.table_off = table_off;
    f.nsections = COGMEM__SEC_N;
    f.major = COGMEM_FORMAT_MAJOR;
    f.header_xxh3 = h.xxh3;
    f.table_xxh3 = table_sum;
    f.file_bytes = h.file_bytes;
    memcpy(f.magic, COGMEM__SNAP_TAIL_MAGIC, 8);
    wr_put(&w, &f, sizeof f);
    wr_flush(&w);
    int rc = w.rc;
    /* The header goes into its reserved page with a positioned write, so
     * the file is never readable as valid before it is complete. */
    if (rc == 0)
        rc = cogmem__pwrite_all(w.fd, &h, sizeof h, 0);
    if (rc == 0 && cogmem__fops->fsync(w.fd))
        rc = -errno;
    if (cogmem__fops->close(w.fd) && rc == 0)
        rc = -errno;
    free(w.buf);
    cogmem__sum_stream_free(chunk);
    free(sums);
    return rc;
}

/* Delete the snapshots older than `keep_lsn` and the segments before
 * `keep_seq` (both superseded by the snapshot just installed). The
 * directory is not fsynced after: an unlink a crash undoes leaves a file
 * recovery reads past (it loads the newest snapshot only and skips the
 * records of older segments, which rotation had synced complete), and the
 * next snapshot deletes it again. The fsync cost a 10^5 x 768 snapshot
 * 60-70 ms, the time the file system took to free the old one's blocks. */
static void prune_old(const char *dir, uint64_t keep_lsn, uint64_t keep_seq)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[PATH_MAX];
    while ((e = readdir(d))) {
        unsigned long long x;
        char tail[8];
        if (sscanf(e->d_name, "snap-%16llx.cg%1s", &x, tail) == 2 && strcmp(tail, "s") == 0 &&
            strlen(e->d_name) == 25 && x < keep_lsn) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            cogmem__fops->unlink(path);
        } else if (sscanf(e->d_name, "jrn-%16llx.cg%1s", &x, tail) == 2 &&
                   strcmp(tail, "j") == 0 && strlen(e->d_name) == 24 && x < keep_seq) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            cogmem__fops->unlink(path);
        }
    }
    closedir(d);
}

/* Lock and unlock each stripe in turn, holding none of them together
 * (the caller holds no other lock but snap_mu, which no stripe holder
 * takes): returns once every call that held a stripe on entry is done. */
static void wait_stripes(struct cogmem__persist *p)
{
    for (unsigned i = 0; i < COGMEM__PSTRIPES; i++) {
        pthread_mutex_lock(&p->stripe[i]);
        pthread_mutex_unlock(&p->stripe[i]);
    }
}

int cogmem__snapshot_write(cogmem_store *st, struct cogmem_snapshot_report *rep)
{
    struct cogmem__persist *p = st->persist;
    pthread_mutex_lock(&p->snap_mu);
    uint64_t begin, seq = 0;
    int rc = 0;
    if (p->jr.on) {
        rc = cogmem__jr_rotate(p, &begin, &seq);
    } else {
        /* No journal: the LSN only names and orders the snapshots. */
        begin = atomic_load_explicit(&p->jr.next_lsn, memory_order_relaxed) + 1;
        atomic_store_explicit(&p->jr.next_lsn, begin, memory_order_relaxed);
    }
    if (rc) {
        pthread_mutex_unlock(&p->snap_mu);
        return rc;
    }
    struct copy cp;
    memset(&cp, 0, sizeof cp);
    for (int k = 0; k < 2; k++) {
        cp.ids[k].size = sizeof(uint64_t);
        cp.nodes[k].size = sizeof(struct cogmem__snap_node);
        cp.vecs[k].size = sizeof(struct cogmem_vec *);
    }
    cp.binds.size = 1;
    cp.ebinds.size = 1;
    cp.hists.size = sizeof(struct cogmem__snap_hist);
    for (int k = 0; k < 2 && rc == 0; k++) {
        cogmem__rcu_lock();
        rc = cogmem__set_foreach(&st->sets[k], collect_id, &cp.ids[k]);
        cogmem__rcu_unlock();
        const uint64_t *ids = cp.ids[k].p;
        for (size_t i = 0; i < cp.ids[k].n && rc == 0; i++) {
            cogmem__stripes_lock(p, ids[i], 0);
            rc = copy_node(st, &cp, k ? COGMEM_EPISODE : COGMEM_CONCEPT, ids[i]);
            cogmem__stripes_unlock(p, ids[i], 0);
        }
    }
    char tmp[PATH_MAX], fin[PATH_MAX];
    snprintf(fin, sizeof fin, "%s/snap-%016llx.cgs", p->dir, (unsigned long long)begin);
    snprintf(tmp, sizeof tmp, "%s/snap-%016llx.cgs.tmp", p->dir, (unsigned long long)begin);
    /* The walks skip a node whose removal is under way (DEAD, or already
     * unlinked) though its REMOVE, appended at the end of that call, is
     * still to come; no copy took its stripe, so nothing waited for it.
     * Taking every stripe once waits for each call that held one during
     * the walks: their records are all below `end` then, where replay
     * expects records about nodes the copy does not hold. */
    wait_stripes(p);
    uint64_t end = atomic_load_explicit(&p->jr.next_lsn, memory_order_acquire);
    if (rc == 0)
        rc = check_mapped(st, &cp, rep);
    if (rc == 0)
        rc = write_file(st, &cp, tmp, begin, end);
    const uint64_t written[4] = {cp.nodes[0].n, cp.nodes[1].n, cp.nbinds, cp.hists.n};
    copy_free(&cp);
    if (rc == 0 && cogmem__fops->rename(tmp, fin))
        rc = -errno;
    if (rc == 0)
        rc = cogmem__fsync_dir(p->dir);
    if (rc) {
        cogmem__fops->unlink(tmp);
    } else {
        p->snap_lsn = begin;
        prune_old(p->dir, begin, p->jr.on ? seq : UINT64_MAX);
        if (rep) {
            snprintf(rep->snapshot, sizeof rep->snapshot, "%s", strrchr(fin, '/') + 1);
            rep->begin_lsn = begin;
            rep->concepts = written[0];
            rep->episodes = written[1];
            rep->bindings = written[2];
            rep->histories = written[3];
        }
    }
    pthread_mutex_unlock(&p->snap_mu);
    return rc;
}
