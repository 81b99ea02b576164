/* cogmem — recovering a store directory at open: the newest snapshot,
 * then the journal after it, then what is derived (episode lists,
 * fan-outs, binding counts), then a fresh journal segment.
 *
 * Runs before the store is handed to anyone, on one thread, with
 * st->persist still NULL: the replay uses the ordinary add/remove/
 * centroid/touch paths (their persistence gates and hooks are off), and
 * writes the record fields they do not take (times, versions) directly.
 *
 * Skip rule (hooks.h): a record about node X with an LSN below the
 * snapshot's mark for X is already in the snapshot. Records about ids the
 * snapshot does not hold are all replayed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shards/bindex.h"
#include "src/bind.h"
#include "src/persist/fileops.h"
#include "src/persist/internal.h"

/* ------------------------------------------------ id -> snapshot mark */

struct mark {
    uint64_t id, lsn;
    struct cogmem__node *node; /* as loaded from the snapshot */
    uint64_t kind;             /* enum cogmem_kind */
};

struct marks {
    struct mark *m; /* open addressing, id 0 = empty */
    size_t mask;
};

static int marks_init(struct marks *m, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n + 2)
        cap *= 2;
    m->m = calloc(cap, sizeof *m->m);
    m->mask = cap - 1;
    return m->m ? 0 : -ENOMEM;
}

static struct mark *marks_find(const struct marks *m, uint64_t id)
{
    if (!m->m)
        return NULL;
    size_t i = cogmem__hash_id(0, id) & m->mask;
    while (m->m[i].id) {
        if (m->m[i].id == id)
            return &m->m[i];
        i = (i + 1) & m->mask;
    }
    return NULL;
}

static void marks_put(struct marks *m, uint64_t id, uint64_t lsn, struct cogmem__node *n,
                      enum cogmem_kind kind)
{
    size_t i = cogmem__hash_id(0, id) & m->mask;
    while (m->m[i].id && m->m[i].id != id)
        i = (i + 1) & m->mask;
    m->m[i] = (struct mark){id, lsn, n, (uint64_t)kind};
}

static uint64_t marks_get(const struct marks *m, uint64_t id)
{
    const struct mark *k = marks_find(m, id);
    return k ? k->lsn : 0;
}

/* While the snapshot loads (nothing is removed before the replay): the
 * node of `kind` the snapshot held with this id, without a map lookup. */
static struct cogmem__node *snap_node(const struct marks *m, enum cogmem_kind kind, uint64_t id)
{
    const struct mark *k = marks_find(m, id);
    return k && k->kind == (uint64_t)kind ? k->node : NULL;
}

/* ------------------------------------------------------------ helpers */

struct rec {
    cogmem_store *st;
    struct cogmem__persist *p;
    struct cogmem_open_report *rep;
    struct marks marks;
    uint64_t replayed, skipped;
    uint64_t begin; /* the snapshot's first LSN: older records are in it */
    uint64_t end;   /* records below it may name nodes the copy missed */
    uint32_t dim;
    int mmap;             /* cfg.open_mode == COGMEM_OPEN_MMAP */
    const char *snap_path; /* the snapshot being loaded (MMAP maps it again) */
    uint32_t row_bytes;
    uint32_t index[2];    /* rows of each kind delivered so far */
    float *vbuf;          /* record_vector()'s buffer */
    const uint8_t *buf;   /* the mapped snapshot while it loads */
    struct cogmem__vload vload; /* COPY: the vector workers */
};

static struct cogmem__node *live(cogmem_store *st, enum cogmem_kind kind, uint64_t id)
{
    /* Single-threaded here: the node stays valid after the section. */
    cogmem__rcu_lock();
    struct cogmem__node *n = cogmem__find_live(st, kind, id);
    cogmem__rcu_unlock();
    return n;
}

static struct cogmem__blist *clist_of(cogmem_store *st, struct cogmem__node *cn, int create)
{
    int enomem = 0;
    return cogmem__clist(st, cn, create, &enomem);
}

/* Add a node with a journal ADD record's fields. -EBADMSG if it cannot be
 * (the id is taken, or the vector is not finite). The record carries no
 * norm: the add computes it from the row, as the original add did. */
static int load_node(cogmem_store *st, enum cogmem_kind kind, uint64_t id, const float *row,
                     uint64_t stamp, uint64_t touched, uint32_t act, uint32_t w44,
                     uint32_t version)
{
    double sumsq;
    if (cogmem__check_vector(row, st->dim, &sumsq))
        return -EBADMSG;
    int rc = cogmem__node_add(st, kind, id, row, sumsq, stamp);
    if (rc)
        return rc == -ENOMEM ? rc : -EBADMSG;
    struct cogmem__node *n = live(st, kind, id);
    struct cogmem_vec *v = atomic_load_explicit(&n->vec, memory_order_relaxed);
    /* Nobody else can see the store yet: plain stores of fields that are
     * otherwise set before publication are safe. */
    v->version = version;
    cogmem__node_set_vec(n, version, v->norm); /* the record's copy of both */
    atomic_store_explicit(&n->touched_ns, touched, memory_order_relaxed);
    atomic_store_explicit(&n->activation_bits, act, memory_order_relaxed);
    atomic_store_explicit(&n->bind_version, w44, memory_order_relaxed);
    return 0;
}

static int list_append(struct cogmem__blist *cl, const struct cogmem__snap_bind *b)
{
    if (cogmem__blist_find(cl, b->episode) >= 0)
        return -EBADMSG;
    if (cogmem__blist_reserve(cl))
        return -ENOMEM;
    uint32_t i = cogmem__blist_append(cl, b->episode, b->strength, b->created_ns);
    cogmem__blist_set_times(cl, i, b->touched_ns, b->decayed_ns);
    return 0;
}

/* ------------------------------------------------------ snapshot sink */

static int sink_config(void *arg, const struct cogmem__snap_header *h)
{
    struct rec *r = arg;
    if (h->dim != r->dim)
        return -EINVAL;
    r->end = h->end_lsn;
    r->p->cfg = h->cfg;
    r->row_bytes = h->row_bytes;
    return 0;
}

/* Map rows [off, off + count * row_bytes) of the snapshot read-only and
 * hand them to the slab (which unmaps them at close). */
static int map_rows(struct rec *r, struct cogmem__slab *sl, uint64_t count, uint64_t off)
{
    if (count == 0)
        return 0;
    if (r->row_bytes != sl->stride)
        return -EBADMSG;
    long pg = sysconf(_SC_PAGESIZE);
    uint64_t start = off & ~(uint64_t)(pg - 1);
    size_t len = (size_t)(off - start + count * sl->stride);
    int fd = cogmem__fops->open(r->snap_path, O_RDONLY, 0);
    if (fd < 0)
        return -errno;
    /* Shared, read-only: the pages are the page cache's, shared with
     * every other process mapping the file, and never dirtied. */
    void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, (off_t)start);
    int e = m == MAP_FAILED ? -errno : 0;
    cogmem__fops->close(fd); /* the mapping keeps the file */
    if (e)
        return e;
    return cogmem__slab_map(sl, (const char *)m + (off - start), (uint32_t)count, m, len);
}

/* MMAP: keep what the snapshots need to make the row checks this open
 * skips (src/persist/internal.h, struct cogmem__mapcheck): the file's
 * chunk sums of kind k (concepts' first, then episodes'; the parser has
 * checked them against the section checksum) and room for the marks. */
static int put_off_checks(struct rec *r, int k, const uint64_t count[2], uint64_t sums_off)
{
    struct cogmem__mapcheck *mc = &r->p->mcheck[k];
    uint64_t ch[2];
    for (int q = 0; q < 2; q++)
        ch[q] = (count[q] * r->row_bytes + COGMEM__VEC_CHUNK - 1) / COGMEM__VEC_CHUNK;
    if (count[k] == 0)
        return 0;
    mc->sums = malloc(ch[k] * sizeof *mc->sums);
    mc->chunk_ok = calloc(ch[k], 1);
    mc->row_ok = calloc((count[k] + 7) / 8, 1);
    if (!mc->sums || !mc->chunk_ok || !mc->row_ok)
        return -ENOMEM; /* freed with the persist state */
    memcpy(mc->sums, r->buf + sums_off + 8 * (k ? ch[0] : 0), ch[k] * sizeof *mc->sums);
    snprintf(r->p->mapped_file, sizeof r->p->mapped_file, "%s", r->rep->snapshot);
    return 0;
}

/* Before the first node: size the maps for what the file holds (one
 * growth instead of a cascade), and with MMAP map the vector sections. */
static int sink_layout(void *arg, const uint64_t count[2], const uint64_t off[2],
                       const uint64_t moff[2], uint64_t sums_off)
{
    struct rec *r = arg;
    /* Sized for exactly the file's nodes: a bound from the file's length
     * made the table most of the MMAP open's page faults. */
    if (marks_init(&r->marks, count[0] + count[1]))
        return -ENOMEM;
    for (int k = 0; k < 2; k++) {
        struct cogmem__set *s = &r->st->sets[k];
        if (count[k] > s->kind.slab.max_rows)
            return -EBADMSG; /* more rows than a store can hold */
        cogmem__set_reserve(s, count[k]);
        if (r->mmap) {
            int rc = map_rows(r, &s->kind.slab, count[k], off[k]);
            if (rc == 0)
                rc = put_off_checks(r, k, count, sums_off);
            if (rc)
                return rc;
        }
    }
    /* COPY: the rows are copied and checked beside the record loading. */
    if (!r->mmap)
        return cogmem__vload_start(&r->vload, r->st, r->buf, count, off, moff,
                                   r->buf + sums_off, r->row_bytes);
    return 0;
}

/* The snapshot's node: its vector row (copied into a fresh slab row, or
 * the mapped row of the same index), its record, linked LIVE. The open is
 * single-threaded and nothing else sees the store, so this skips what an
 * add must do against racing adders (the cross-kind handshake) and what
 * the record already holds (the norm). -EBADMSG for a duplicate id or a
 * row that disagrees with its record. */
static int bulk_node(struct rec *r, enum cogmem_kind kind, const struct cogmem__snap_node *sn,
                     const float *row, struct cogmem__node **out)
{
    cogmem_store *st = r->st;
    struct cogmem__set *own = cogmem__set_of(st, kind);
    struct cogmem__set *other =
        cogmem__set_of(st, kind == COGMEM_CONCEPT ? COGMEM_EPISODE : COGMEM_CONCEPT);
    struct cogmem__slab *sl = &own->kind.slab;
    uint64_t id = sn->id, hash = cogmem__hash(st, id);
    uint32_t index = r->index[kind == COGMEM_EPISODE]++;
    (void)row; /* copied and checked by the vector workers (loadvec.c), or mapped */
    struct cogmem_vec *v = cogmem__slab_take(sl, index);
    if (!v)
        return -EBADMSG;
    cogmem__vec_init(&own->kind, v, id, hash);
    v->norm = sn->norm;
    v->version = sn->vec_version;
    struct cogmem__node *n = cogmem__node_new(&own->kind, v, hash);
    if (!n) {
        cogmem__vec_free_now(v);
        return -ENOMEM;
    }
    /* Plain (relaxed) stores: nobody else can see the store yet. */
    atomic_store_explicit(&n->stamp, sn->stamp, memory_order_relaxed);
    atomic_store_explicit(&n->touched_ns, sn->touched_ns, memory_order_relaxed);
    atomic_store_explicit(&n->activation_bits, sn->activation_bits, memory_order_relaxed);
    atomic_store_explicit(&n->bind_version, sn->word44, memory_order_relaxed);
    cogmem__node_set_vec(n, sn->vec_version, sn->norm);
    cogmem__node_publish(n, id);
    cogmem__rcu_lock();
    if (cogmem__set_find(other, id, hash, COGMEM__FIND_ANY) ||
        cogmem__set_link(own, n, hash) != 0) {
        cogmem__rcu_unlock();
        cogmem__node_free_now(n); /* never linked, or not reachable by anyone */
        return -EBADMSG;
    }
    atomic_store_explicit(&n->state, COGMEM__LIVE, memory_order_release);
    cogmem__vec_mark_current(v);
    cogmem__rcu_unlock();
    cogmem__set_note_added(own, hash);
    cogmem__ctr_bump(&own->kind, cogmem__shard_of(hash), COGMEM__CTR_ADD);
    *out = n;
    return 0;
}

static int sink_node(void *arg, enum cogmem_kind kind, const struct cogmem__snap_node *n,
                     const float *row)
{
    struct rec *r = arg;
    struct cogmem__node *node;
    int rc = bulk_node(r, kind, n, row, &node);
    if (rc)
        return rc;
    marks_put(&r->marks, n->id, n->lsn, node, kind);
    if (kind == COGMEM_CONCEPT)
        r->rep->concepts++;
    else
        r->rep->episodes++;
    return 0;
}

static int sink_blist(void *arg, const struct cogmem__snap_blist *h,
                      const struct cogmem__snap_bind *e)
{
    struct rec *r = arg;
    struct cogmem__node *cn = snap_node(&r->marks, COGMEM_CONCEPT, h->concept);
    struct cogmem__blist *cl = cn ? clist_of(r->st, cn, 1) : NULL;
    if (!cl)
        return cn ? -ENOMEM : -EBADMSG;
    if (cl->n)
        return -EBADMSG; /* a second list for one concept */
    for (uint32_t i = 0; i < h->n; i++) {
        struct cogmem__snap_bind b;
        memcpy(&b, &e[i], sizeof b);
        int rc = list_append(cl, &b);
        if (rc)
            return rc;
    }
    r->rep->bindings += h->n;
    return 0;
}

static int sink_hist(void *arg, const struct cogmem__snap_hist *h)
{
    struct rec *r = arg;
    enum cogmem_kind kind = COGMEM_CONCEPT;
    struct cogmem__node *n = snap_node(&r->marks, COGMEM_CONCEPT, h->id);
    if (!n) {
        n = snap_node(&r->marks, COGMEM_EPISODE, h->id);
        kind = COGMEM_EPISODE;
    }
    if (!n)
        return -EBADMSG;
    int enomem = 0;
    struct cogmem__presentations *hh = cogmem__pres_get(
        n, &r->st->mem, kind == COGMEM_CONCEPT ? COGMEM__MEM_CONCEPT : COGMEM__MEM_EPISODE, 1,
        &enomem);
    if (!hh)
        return -ENOMEM;
    if (hh->total)
        return -EBADMSG;
    hh->head = h->head;
    hh->total = h->total;
    hh->first_ns = h->first_ns;
    memcpy(hh->t, h->t, sizeof hh->t);
    return 0;
}

static struct cogmem__blist *elist_of(cogmem_store *st, struct cogmem__node *en, int create)
{
    int enomem = 0;
    return cogmem__elist(st, en, create, &enomem);
}

static int elist_append(struct cogmem__blist *el, uint64_t concept)
{
    if (cogmem__blist_find(el, concept) >= 0)
        return -EBADMSG;
    if (cogmem__blist_reserve(el))
        return -ENOMEM;
    cogmem__blist_append(el, concept, 0.0f, 0);
    return 0;
}

static int sink_elist(void *arg, const struct cogmem__snap_blist *h, const uint64_t *ids)
{
    struct rec *r = arg;
    struct cogmem__node *en = snap_node(&r->marks, COGMEM_EPISODE, h->concept);
    struct cogmem__blist *el = en ? elist_of(r->st, en, 1) : NULL;
    if (!el)
        return en ? -ENOMEM : -EBADMSG;
    if (el->n)
        return -EBADMSG;
    for (uint32_t i = 0; i < h->n; i++) {
        uint64_t c;
        memcpy(&c, &ids[i], 8);
        int rc = elist_append(el, c);
        if (rc)
            return rc;
    }
    return 0;
}

static const struct cogmem__snap_sink load_sink = {sink_config, sink_node, sink_blist,
                                                   sink_hist,   sink_elist, sink_layout};

/* -------------------------------------------------------------- replay */

/* The episode side of a binding record: applied unless the snapshot's
 * copy of the episode (or of its absence) already has it. */
static int episode_side(struct rec *r, const struct cogmem__jrn_rec *h,
                        const struct cogmem__jp_bind *a)
{
    if (h->lsn < r->begin || h->lsn < marks_get(&r->marks, a->episode))
        return 0;
    struct cogmem__node *en = live(r->st, COGMEM_EPISODE, a->episode);
    if (!en)
        return 0; /* removed later in the journal, or before its copy */
    struct cogmem__blist *el = elist_of(r->st, en, 1);
    if (!el)
        return -ENOMEM;
    if (h->type == COGMEM__J_BIND)
        return elist_append(el, a->concept);
    int32_t j = cogmem__blist_find(el, a->concept);
    if (j >= 0)
        cogmem__blist_del(el, (uint32_t)j);
    else if (h->type == COGMEM__J_EDROP)
        return -EBADMSG;
    return 0;
}

/* A record about a node that is not there, written while the snapshot's
 * copy ran: the node was removed before the copy reached it (its removal
 * is in the journal too). A no-op. */
static int missed(const struct rec *r, const struct cogmem__jrn_rec *h)
{
    return h->lsn >= r->begin && h->lsn < r->end;
}

/* A record's vector (it may be unaligned in the mapping): an aligned
 * copy in r->vbuf (reused from record to record), or NULL. */
static float *record_vector(struct rec *r, const void *pl, size_t head)
{
    if (!r->vbuf && !(r->vbuf = malloc((size_t)r->dim * sizeof *r->vbuf)))
        return NULL;
    memcpy(r->vbuf, (const char *)pl + head, (size_t)r->dim * sizeof *r->vbuf);
    return r->vbuf;
}

static int skip(struct rec *r, uint64_t id, uint64_t lsn)
{
    if (lsn < r->begin || lsn < marks_get(&r->marks, id)) {
        r->skipped++;
        return 1;
    }
    r->replayed++;
    return 0;
}

static int apply(const struct cogmem__jrn_rec *h, const void *pl, void *arg)
{
    struct rec *r = arg;
    cogmem_store *st = r->st;
    switch (h->type) {
    case COGMEM__J_ADD: {
        struct cogmem__jp_add a;
        memcpy(&a, pl, sizeof a);
        if (skip(r, a.id, h->lsn))
            return 0;
        /* A record no add writes: a node with id 0, or version 0, which
         * the store's next snapshot would write and its reopen refuse. */
        if ((a.kind != COGMEM_CONCEPT && a.kind != COGMEM_EPISODE) || a.id == 0 ||
            a.vec_version == 0)
            return -EBADMSG;
        float *v = record_vector(r, pl, sizeof a);
        if (!v)
            return -ENOMEM;
        return load_node(st, (enum cogmem_kind)a.kind, a.id, v, a.stamp, a.touched_ns,
                         a.activation_bits, a.word44, a.vec_version);
    }
    case COGMEM__J_REMOVE: {
        struct cogmem__jp_remove a;
        memcpy(&a, pl, sizeof a);
        if (skip(r, a.id, h->lsn))
            return 0;
        if (a.kind != COGMEM_CONCEPT && a.kind != COGMEM_EPISODE)
            return -EBADMSG;
        if (cogmem__node_remove(st, (enum cogmem_kind)a.kind, a.id) == 0)
            return 0;
        return missed(r, h) ? 0 : -EBADMSG;
    }
    case COGMEM__J_CENTROID: {
        struct cogmem__jp_centroid a;
        memcpy(&a, pl, sizeof a);
        if (skip(r, a.id, h->lsn))
            return 0;
        if (a.id == 0 || a.vec_version == 0 || a.pad) /* as for ADD */
            return -EBADMSG;
        float *v = record_vector(r, pl, sizeof a);
        if (!v)
            return -ENOMEM;
        int rc = cogmem_concept_set_centroid(st, a.id, v);
        if (rc == -ENOENT && missed(r, h))
            return 0;
        if (rc)
            return rc == -ENOMEM ? rc : -EBADMSG;
        struct cogmem__node *n = live(st, COGMEM_CONCEPT, a.id);
        struct cogmem_vec *nv = atomic_load_explicit(&n->vec, memory_order_relaxed);
        nv->version = a.vec_version;
        cogmem__node_set_vec(n, a.vec_version, nv->norm); /* the record's copy */
        atomic_store_explicit(&n->touched_ns, a.touched_ns, memory_order_relaxed);
        return 0;
    }
    case COGMEM__J_TOUCH: {
        struct cogmem__jp_touch a;
        memcpy(&a, pl, sizeof a);
        if (skip(r, a.id, h->lsn))
            return 0;
        int rc = cogmem_touch(st, a.id, a.now_ns);
        if (rc == -ENOENT && missed(r, h))
            return 0;
        return rc ? (rc == -ENOMEM ? rc : -EBADMSG) : 0;
    }
    case COGMEM__J_WORD: {
        struct cogmem__jp_word a;
        memcpy(&a, pl, sizeof a);
        if (skip(r, a.id, h->lsn))
            return 0;
        int rc = cogmem__jr_apply_word(st, &a);
        return rc == -ENOENT && missed(r, h) ? 0 : rc ? -EBADMSG : 0;
    }
    case COGMEM__J_EDROP: {
        struct cogmem__jp_bind a;
        memcpy(&a, pl, sizeof a);
        if (skip(r, a.episode, h->lsn))
            return 0;
        int rc = episode_side(r, h, &a);
        /* The concept side goes too. A concept's removal and a decay's
         * prune log the episode sides (EDROP) before the record that ends
         * the concept side (REMOVE, CLIST); a journal cut between them (a
         * crash in the middle of the call) must still replay to a store
         * whose two sides agree, as if the binding had been unbound. */
        if (rc || h->lsn < marks_get(&r->marks, a.concept))
            return rc;
        struct cogmem__node *cn = live(st, COGMEM_CONCEPT, a.concept);
        struct cogmem__blist *cl = cn ? clist_of(st, cn, 0) : NULL;
        int32_t i = cl ? cogmem__blist_find(cl, a.episode) : -1;
        if (i >= 0)
            cogmem__blist_del(cl, (uint32_t)i);
        return 0;
    }
    case COGMEM__J_BIND:
    case COGMEM__J_ADJUST:
    case COGMEM__J_UNBIND: {
        struct cogmem__jp_bind a;
        memcpy(&a, pl, sizeof a);
        if (h->type != COGMEM__J_ADJUST) {
            int rc = episode_side(r, h, &a);
            if (rc)
                return rc;
        }
        if (skip(r, a.concept, h->lsn))
            return 0;
        struct cogmem__node *cn = live(st, COGMEM_CONCEPT, a.concept);
        if (!cn && missed(r, h))
            return 0;
        struct cogmem__blist *cl = cn ? clist_of(st, cn, 1) : NULL;
        if (!cl)
            return cn ? -ENOMEM : -EBADMSG;
        int32_t i = cogmem__blist_find(cl, a.episode);
        if (h->type == COGMEM__J_BIND) {
            if (!(a.strength >= 0.0f && a.strength <= 1.0f))
                return -EBADMSG;
            struct cogmem__snap_bind b = {.episode = a.episode, .strength = a.strength,
                                          .created_ns = a.now_ns, .touched_ns = a.now_ns,
                                          .decayed_ns = a.now_ns};
            int rc = list_append(cl, &b);
            if (rc)
                return rc;
            atomic_store_explicit(&cn->bind_version, a.bind_version, memory_order_relaxed);
        } else if (h->type == COGMEM__J_ADJUST) {
            if (i < 0 || !(a.strength >= 0.0f && a.strength <= 1.0f))
                return -EBADMSG;
            cl->strength[i] = a.strength;
            cogmem__blist_set_times(cl, (uint32_t)i, a.now_ns, a.now_ns);
        } else {
            if (i < 0)
                return -EBADMSG;
            cogmem__blist_del(cl, (uint32_t)i);
            atomic_store_explicit(&cn->bind_version, a.bind_version, memory_order_relaxed);
        }
        return 0;
    }
    case COGMEM__J_CLIST: {
        struct cogmem__jp_clist a;
        memcpy(&a, pl, sizeof a);
        if (skip(r, a.concept, h->lsn))
            return 0;
        struct cogmem__node *cn = live(st, COGMEM_CONCEPT, a.concept);
        if (!cn && missed(r, h))
            return 0;
        struct cogmem__blist *cl = cn ? clist_of(st, cn, 1) : NULL;
        if (!cl)
            return cn ? -ENOMEM : -EBADMSG;
        while (cl->n) /* deleting the last entry moves nothing */
            cogmem__blist_del(cl, cl->n - 1);
        const struct cogmem__snap_bind *e =
            (const struct cogmem__snap_bind *)((const char *)pl + sizeof a);
        for (uint32_t i = 0; i < a.n; i++) {
            struct cogmem__snap_bind b;
            memcpy(&b, &e[i], sizeof b);
            if (!cogmem__snap_bind_ok(&b))
                return -EBADMSG;
            int rc = list_append(cl, &b);
            if (rc)
                return rc;
        }
        atomic_store_explicit(&cn->bind_version, a.bind_version, memory_order_relaxed);
        return 0;
    }
    default:
        return -EBADMSG;
    }
}

/* ------------------------------------------------------------- derived */

struct derive {
    cogmem_store *st;
    int rc;
    uint64_t dangling;
    uint64_t total, etotal; /* entries of concept lists / episode lists */
};

static int derive_concept(struct cogmem__node *cn, void *arg)
{
    struct derive *d = arg;
    cogmem_store *st = d->st;
    uint64_t cid = atomic_load_explicit(&cn->id, memory_order_relaxed);
    struct cogmem__blist *cl = clist_of(st, cn, 0);
    uint32_t n = cl && !cl->dead ? cl->n : 0;
    for (uint32_t i = 0; i < n; i++) {
        struct cogmem__node *en = cogmem__find_live(st, COGMEM_EPISODE, cl->peer[i]);
        struct cogmem__blist *el = en ? elist_of(st, en, 0) : NULL;
        if (!el || cogmem__blist_find(el, cid) < 0) {
            d->dangling = cl->peer[i];
            d->rc = -EBADMSG;
            return 1;
        }
    }
    d->total += n;
    cogmem__set_fan(cn, n);
    atomic_fetch_add_explicit(&st->bshard[cogmem__shard_of(cogmem__hash(st, cid))].bindings,
                              n, memory_order_relaxed);
    return 0;
}

static int derive_episode(struct cogmem__node *en, void *arg)
{
    struct derive *d = arg;
    struct cogmem__blist *el = elist_of(d->st, en, 0);
    uint32_t n = el && !el->dead ? el->n : 0;
    d->etotal += n;
    cogmem__set_fan(en, n);
    return 0;
}

static int derive_all(cogmem_store *st, struct cogmem__bad *bad)
{
    for (unsigned i = 0; i < COGMEM__NSHARDS; i++)
        atomic_store_explicit(&st->bshard[i].bindings, 0, memory_order_relaxed);
    struct derive d = {st, 0, 0, 0, 0};
    cogmem__rcu_lock();
    cogmem__set_foreach(&st->sets[0], derive_concept, &d);
    if (d.rc == 0)
        cogmem__set_foreach(&st->sets[1], derive_episode, &d);
    cogmem__rcu_unlock();
    if (d.rc == -EBADMSG)
        cogmem__bad_set(bad, "bindings", 0,
                        "after replay a binding names episode %llu, which does not have it",
                        (unsigned long long)d.dangling);
    else if (d.rc == 0 && d.total != d.etotal) {
        cogmem__bad_set(bad, "episode-lists", 0,
                        "after replay concepts hold %llu bindings, episodes %llu",
                        (unsigned long long)d.total, (unsigned long long)d.etotal);
        d.rc = -EBADMSG;
    }
    return d.rc;
}

/* ------------------------------------------------------------ directory */

struct seg {
    uint64_t seq;
};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void report_bad(struct cogmem_open_report *rep, const char *file, const struct cogmem__bad *b)
{
    snprintf(rep->bad_file, sizeof rep->bad_file, "%s", file);
    snprintf(rep->bad_section, sizeof rep->bad_section, "%s", b->section);
    rep->bad_offset = b->offset;
    snprintf(rep->detail, sizeof rep->detail, "%s", b->detail);
}

int cogmem__recover(cogmem_store *st, struct cogmem__persist *p, struct cogmem_open_report *rep_in)
{
    struct cogmem_open_report local;
    struct cogmem_open_report *rep = rep_in ? rep_in : &local;
    if (!rep_in)
        memset(&local, 0, sizeof local);
    struct rec r = {.st = st, .p = p, .rep = rep, .dim = st->dim,
                    .mmap = st->cfg.open_mode == COGMEM_OPEN_MMAP};
    cogmem__cfg_block_of(&st->cfg, &p->cfg);
    DIR *d = opendir(p->dir);
    if (!d)
        return -errno;
    uint64_t *snaps = NULL, *segs = NULL;
    size_t nsnap = 0, nseg = 0, capsnap = 0, capseg = 0;
    struct dirent *e;
    char path[PATH_MAX];
    int rc = 0;
    while ((e = readdir(d)) && rc == 0) {
        unsigned long long x;
        size_t l = strlen(e->d_name);
        if (l > 4 && strcmp(e->d_name + l - 4, ".tmp") == 0) {
            snprintf(path, sizeof path, "%s/%s", p->dir, e->d_name);
            if (cogmem__fops->unlink(path) == 0)
                rep->temp_files_removed++;
            continue;
        }
        uint64_t **arr;
        size_t *n, *cap;
        if (l == 25 && sscanf(e->d_name, "snap-%16llx", &x) == 1 &&
            strcmp(e->d_name + 21, ".cgs") == 0) {
            arr = &snaps, n = &nsnap, cap = &capsnap;
        } else if (l == 24 && sscanf(e->d_name, "jrn-%16llx", &x) == 1 &&
                   strcmp(e->d_name + 20, ".cgj") == 0) {
            arr = &segs, n = &nseg, cap = &capseg;
        } else {
            continue;
        }
        if (*n == *cap) {
            size_t nc = *cap ? *cap * 2 : 16;
            uint64_t *na = realloc(*arr, nc * sizeof *na);
            if (!na) {
                rc = -ENOMEM;
                break;
            }
            *arr = na;
            *cap = nc;
        }
        (*arr)[(*n)++] = x;
    }
    closedir(d);
    if (rc)
        goto out;
    if (nsnap) /* qsort's base must not be NULL, even for 0 elements */
        qsort(snaps, nsnap, sizeof *snaps, cmp_u64);
    if (nseg)
        qsort(segs, nseg, sizeof *segs, cmp_u64);
    uint64_t begin = 1;
    struct cogmem__bad bad = {{0}, 0, {0}};
    if (nsnap) {
        /* The newest only: it was renamed into place complete and synced,
         * so if it does not verify, the disk has damaged it, and silently
         * going back to an older state would lose acknowledged writes. */
        uint64_t lsn = snaps[nsnap - 1];
        snprintf(rep->snapshot, sizeof rep->snapshot, "snap-%016llx.cgs",
                 (unsigned long long)lsn);
        snprintf(path, sizeof path, "%s/%s", p->dir, rep->snapshot);
        const uint8_t *buf;
        size_t len;
        rc = cogmem__map_file(path, &buf, &len);
        if (rc)
            goto out;
        r.snap_path = path;
        /* The parser reads no vector row: COPY's vector workers check
         * them (loadvec.c); MMAP does not (that is the point: their
         * checksums are cogmem_snapshot_verify's business). */
        r.buf = buf;
        rc = cogmem__snap_parse(buf, len, COGMEM__SNAP_SUMS | COGMEM__SNAP_NO_ROWS, &load_sink,
                                &r, NULL, &bad);
        /* Join the vector workers before anything else touches the rows
         * (or the mapping goes): after a failed parse, stop them first. */
        if (rc)
            atomic_store_explicit(&r.vload.failed, 1, memory_order_relaxed);
        int vrc = cogmem__vload_finish(&r.vload, rc ? NULL : &bad);
        if (rc == 0)
            rc = vrc;
        cogmem__unmap_file(buf, len);
        if (rc == -EINVAL) {
            cogmem__bad_set(&bad, "header", 0, "the snapshot's dim differs from cfg.dim");
            report_bad(rep, rep->snapshot, &bad);
            goto out;
        }
        if (rc) {
            report_bad(rep, rep->snapshot, &bad);
            goto out;
        }
        begin = lsn;
        rep->snapshot_lsn = lsn;
    }
    r.begin = begin;
    if (r.end < begin)
        r.end = begin;
    p->snap_lsn = begin;
    uint64_t next = begin, last_seq = 0;
    for (size_t i = 0; i < nseg; i++) {
        char name[32];
        snprintf(name, sizeof name, "jrn-%016llx.cgj", (unsigned long long)segs[i]);
        snprintf(path, sizeof path, "%s/%s", p->dir, name);
        last_seq = segs[i];
        const uint8_t *buf;
        size_t len;
        rc = cogmem__map_file(path, &buf, &len);
        if (rc)
            goto out;
        /* Room in the maps for as many adds as the segment can hold (an
         * add record is the largest kind of node record): one growth per
         * shard instead of a cascade of resizes during the replay. */
        uint64_t adds = len / cogmem__jrn_rec_bytes(sizeof(struct cogmem__jp_add) +
                                                    (size_t)st->dim * sizeof(float));
        for (int k = 0; k < 2; k++)
            cogmem__set_reserve(&st->sets[k], cogmem__set_count(&st->sets[k]) + adds);
        struct cogmem__jrn_header jh;
        memset(&jh, 0, sizeof jh);
        size_t valid = 0;
        int last = i + 1 == nseg;
        /* The header alone first (dim, first LSN), then one pass over the
         * records that checks and applies them together: a record that
         * fails its checks stops the open, which then discards everything
         * (nothing is loaded half), so checking all before applying any
         * would only hash every record twice. */
        rc = cogmem__jrn_parse(buf, len < sizeof jh ? len : sizeof jh, 1, &jh, NULL, NULL,
                               &valid, &bad);
        if (rc >= 0 && valid >= sizeof jh && jh.dim != st->dim) {
            cogmem__bad_set(&bad, "header", 0, "the segment's dim differs from cfg.dim");
            cogmem__unmap_file(buf, len);
            report_bad(rep, name, &bad);
            rc = -EINVAL;
            goto out;
        }
        if (rc >= 0 && valid >= sizeof jh) {
            /* Records: [first_lsn, first_lsn + count). A hole between
             * what we have and this segment is corruption. */
            if (jh.seq != segs[i] || jh.first_lsn > next) {
                cogmem__bad_set(&bad, "header", 0,
                                "segment starts at LSN %llu, expected %llu or earlier",
                                (unsigned long long)jh.first_lsn, (unsigned long long)next);
                rc = -EBADMSG;
            } else {
                rc = cogmem__jrn_parse(buf, len, 1, &jh, apply, &r, &valid, &bad);
                /* First LSN after this segment: replay moves `next` on. */
            }
        }
        if (rc >= 0 && valid >= sizeof jh) {
            /* Count the records the segment held to find where the next
             * one must start. */
            uint64_t cnt = 0;
            for (size_t off = sizeof jh; off < valid;) {
                struct cogmem__jrn_rec hr;
                memcpy(&hr, buf + off, sizeof hr);
                off += cogmem__jrn_rec_bytes(hr.len);
                cnt++;
            }
            if (jh.first_lsn + cnt > next)
                next = jh.first_lsn + cnt;
            if (cnt)
                p->cfg = jh.cfg; /* the latest settings the store ran with */
        }
        cogmem__unmap_file(buf, len);
        rep->segments++;
        if (rc == 1 && last) {
            /* Torn tail of the last segment: keep the valid prefix, cut
             * off the rest so that later segments follow a clean one. */
            rep->tail_bytes_dropped = len - valid;
            if (valid < sizeof jh) {
                rc = cogmem__fops->unlink(path) ? -errno : 0;
            } else {
                int fd = cogmem__fops->open(path, O_WRONLY, 0);
                rc = fd < 0 ? -errno : 0;
                if (rc == 0 && (cogmem__fops->ftruncate(fd, (off_t)valid) ||
                                cogmem__fops->fsync(fd)))
                    rc = -errno;
                if (fd >= 0)
                    cogmem__fops->close(fd);
            }
            if (rc)
                goto out;
        } else if (rc) {
            if (rc == 1)
                rc = -EBADMSG; /* torn in the middle of the journal */
            report_bad(rep, name, &bad);
            goto out;
        }
    }
    rep->records_replayed = r.replayed;
    rep->records_skipped = r.skipped;
    rc = derive_all(st, &bad);
    if (rc) {
        report_bad(rep, "(replayed store)", &bad);
        goto out;
    }
    /* The settings the directory holds replace the caller's. */
    st->cfg.fan_mode = p->cfg.fan_mode;
    st->cfg.actr_max_assoc = p->cfg.actr_max_assoc;
    st->cfg.actr_decay = p->cfg.actr_decay;
    st->cfg.actr_history = p->cfg.actr_history;
    st->cfg.actr_latency_factor = p->cfg.actr_latency_factor;
    st->cfg.actr_threshold = p->cfg.actr_threshold;
    st->cfg.actr_noise = p->cfg.actr_noise;
    p->cfg.bf16_rows = st->cfg.bf16_rows; /* a layout choice, not meaning */
    atomic_store_explicit(&p->jr.next_lsn, next, memory_order_relaxed);
    atomic_store_explicit(&p->jr.written, next, memory_order_relaxed);
    atomic_store_explicit(&p->jr.synced, next, memory_order_relaxed);
    rep->next_lsn = next;
    if (p->jr.on)
        rc = cogmem__jr_new_segment(p, last_seq + 1);
out:
    free(snaps);
    free(segs);
    free(r.marks.m);
    free(r.vbuf);
    return rc;
}
