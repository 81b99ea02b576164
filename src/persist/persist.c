/* cogmem — persistence entry points: the wrappers that order the journal
 * (see hooks.h), the in-lock hooks, attach/detach at open and close, and
 * the public cogmem_snapshot / cogmem_sync / cogmem_open_report. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "shards/bindex.h"
#include "src/persist/fileops.h"
#include "src/persist/internal.h"

_Thread_local int cogmem__pj_inside;

/* The report cogmem_open_report() wants filled: cogmem_open() reaches
 * cogmem__persist_attach() with no way to pass it along, so it travels
 * in a thread-local for the duration of that one call. */
static _Thread_local struct cogmem_open_report *open_report;

void cogmem__stripes_lock(struct cogmem__persist *p, uint64_t a, uint64_t b)
{
    unsigned i = a ? cogmem__stripe_of(a) : COGMEM__PSTRIPES;
    unsigned j = b ? cogmem__stripe_of(b) : COGMEM__PSTRIPES;
    if (i > j) {
        unsigned t = i;
        i = j;
        j = t;
    }
    if (i < COGMEM__PSTRIPES)
        pthread_mutex_lock(&p->stripe[i]);
    if (j < COGMEM__PSTRIPES && j != i)
        pthread_mutex_lock(&p->stripe[j]);
}

void cogmem__stripes_unlock(struct cogmem__persist *p, uint64_t a, uint64_t b)
{
    unsigned i = a ? cogmem__stripe_of(a) : COGMEM__PSTRIPES;
    unsigned j = b ? cogmem__stripe_of(b) : COGMEM__PSTRIPES;
    if (j < COGMEM__PSTRIPES && j != i)
        pthread_mutex_unlock(&p->stripe[j]);
    if (i < COGMEM__PSTRIPES)
        pthread_mutex_unlock(&p->stripe[i]);
}

/* ------------------------------------------------------------ wrappers */

/* Before a wrapped mutation: refuse it after a journal failure, and from
 * inside a read-side section (hooks.h). */
static int enter(cogmem_store *st, uint64_t a, uint64_t b)
{
    struct cogmem__persist *p = st->persist;
    int f = atomic_load_explicit(&p->jr.failed, memory_order_relaxed);
    if (f)
        return -EIO;
    if (cogmem__rcu_in_reader())
        return -EDEADLK;
    cogmem__stripes_lock(p, a, b);
    cogmem__pj_inside = 1;
    cogmem__pj_last_lsn = 0;
    return 0;
}

/* After it: release the stripes, then wait until the records this call
 * appended are as durable as the level says. */
static int leave(cogmem_store *st, uint64_t a, uint64_t b, int rc)
{
    struct cogmem__persist *p = st->persist;
    cogmem__pj_inside = 0;
    cogmem__stripes_unlock(p, a, b);
    uint64_t lsn = cogmem__pj_last_lsn;
    cogmem__pj_last_lsn = 0;
    if (rc == 0 && p->jr.on) {
        if (lsn == 0) /* the mutation happened but could not be journaled */
            return atomic_load_explicit(&p->jr.failed, memory_order_relaxed) ? -EIO : 0;
        return cogmem__jr_wait(&p->jr, lsn, 0);
    }
    return rc;
}

/* Journal a node's current record: ADD (with its vector) or CENTROID.
 * The caller holds the id's stripe, so the node is the one its call just
 * committed and nobody else changes it meanwhile. */
static void log_node(cogmem_store *st, enum cogmem_kind kind, uint64_t id, int add)
{
    struct cogmem__journal *jr = &st->persist->jr;
    if (!jr->on)
        return;
    cogmem__rcu_lock();
    struct cogmem__node *n = cogmem__set_find(cogmem__set_of(st, kind), id,
                                              cogmem__hash(st, id), COGMEM__FIND_LIVE);
    struct cogmem_vec *v = n ? atomic_load_explicit(&n->vec, memory_order_acquire) : NULL;
    if (v) {
        const float *d = cogmem__vec_data(v);
        size_t nb = (size_t)v->dim * sizeof(float);
        uint64_t touched = atomic_load_explicit(&n->touched_ns, memory_order_relaxed);
        if (add) {
            struct cogmem__jp_add a = {
                .id = id,
                .kind = (uint32_t)kind,
                .vec_version = v->version,
                .stamp = atomic_load_explicit(&n->stamp, memory_order_relaxed),
                .touched_ns = touched,
                .activation_bits = atomic_load_explicit(&n->activation_bits,
                                                        memory_order_relaxed),
                .word44 = atomic_load_explicit(&n->bind_version, memory_order_relaxed),
            };
            cogmem__jr_append(jr, COGMEM__J_ADD, &a, sizeof a, d, nb);
        } else {
            struct cogmem__jp_centroid c = {.id = id, .vec_version = v->version,
                                            .touched_ns = touched};
            cogmem__jr_append(jr, COGMEM__J_CENTROID, &c, sizeof c, d, nb);
        }
    }
    /* The vector cannot go away while we copy it: it is the node's current
     * one and only this stripe's holder replaces or removes it. */
    cogmem__rcu_unlock();
}

int cogmem__pj_concept_add(cogmem_store *st, uint64_t id, const float *v)
{
    int rc = enter(st, id, 0);
    if (rc)
        return rc;
    rc = cogmem_concept_add(st, id, v);
    if (rc == 0)
        log_node(st, COGMEM_CONCEPT, id, 1);
    return leave(st, id, 0, rc);
}

int cogmem__pj_episode_add(cogmem_store *st, uint64_t id, const float *v,
                           uint64_t time_ns)
{
    int rc = enter(st, id, 0);
    if (rc)
        return rc;
    rc = cogmem_episode_add(st, id, v, time_ns);
    if (rc == 0)
        log_node(st, COGMEM_EPISODE, id, 1);
    return leave(st, id, 0, rc);
}

int cogmem__pj_remove(cogmem_store *st, enum cogmem_kind kind, uint64_t id)
{
    int rc = enter(st, id, 0);
    if (rc)
        return rc;
    rc = kind == COGMEM_CONCEPT ? cogmem_concept_remove(st, id)
                                : cogmem_episode_remove(st, id);
    if (rc == 0) {
        /* After the removal's unbinding (each logged under its concept's
         * lock): replay drops whatever bindings the node still has. */
        struct cogmem__jp_remove r = {.id = id, .kind = (uint32_t)kind};
        cogmem__jr_append(&st->persist->jr, COGMEM__J_REMOVE, &r, sizeof r, NULL, 0);
    }
    return leave(st, id, 0, rc);
}

int cogmem__pj_set_centroid(cogmem_store *st, uint64_t id, const float *v)
{
    int rc = enter(st, id, 0);
    if (rc)
        return rc;
    rc = cogmem_concept_set_centroid(st, id, v);
    if (rc == 0)
        log_node(st, COGMEM_CONCEPT, id, 0);
    return leave(st, id, 0, rc);
}

int cogmem__pj_blend(cogmem_store *st, uint64_t id, const float *x, float rate)
{
    int rc = enter(st, id, 0);
    if (rc)
        return rc;
    rc = cogmem_concept_blend(st, id, x, rate);
    if (rc == 0)
        log_node(st, COGMEM_CONCEPT, id, 0); /* the result, not the inputs */
    return leave(st, id, 0, rc);
}

int cogmem__pj_touch(cogmem_store *st, uint64_t id, uint64_t now_ns)
{
    int rc = enter(st, id, 0);
    if (rc)
        return rc;
    rc = cogmem_touch(st, id, now_ns);
    if (rc == 0) {
        struct cogmem__jp_touch t = {.id = id, .now_ns = now_ns};
        cogmem__jr_append(&st->persist->jr, COGMEM__J_TOUCH, &t, sizeof t, NULL, 0);
    }
    return leave(st, id, 0, rc);
}

int cogmem__pj_bind(cogmem_store *st, uint64_t e, uint64_t c, float s)
{
    int rc = enter(st, e, c);
    if (rc)
        return rc;
    rc = cogmem_bind(st, e, c, s); /* journaled inside, under the list lock */
    return leave(st, e, c, rc);
}

int cogmem__pj_adjust(cogmem_store *st, uint64_t e, uint64_t c, float delta,
                      float *new_strength)
{
    int rc = enter(st, e, c);
    if (rc)
        return rc;
    rc = cogmem_binding_adjust(st, e, c, delta, new_strength);
    return leave(st, e, c, rc);
}

int cogmem__pj_unbind(cogmem_store *st, uint64_t e, uint64_t c)
{
    int rc = enter(st, e, c);
    if (rc)
        return rc;
    rc = cogmem_unbind(st, e, c);
    return leave(st, e, c, rc);
}

int cogmem__pj_decay(cogmem_store *st, const cogmem_decay_params *p, uint64_t now_ns,
                     cogmem_decay_result *out)
{
    int rc = enter(st, 0, 0);
    if (rc)
        return rc;
    rc = cogmem_decay(st, p, now_ns, out);
    /* One wait for the last record: the records are consecutive per
     * thread, so everything this decay appended is covered. */
    return leave(st, 0, 0, rc);
}

/* --------------------------------------------------------------- hooks */

void cogmem__jr_bind_rec(cogmem_store *st, struct cogmem__node *cn, uint64_t e,
                         uint64_t c, float s, uint64_t now_ns)
{
    struct cogmem__jp_bind b = {
        .episode = e, .concept = c, .strength = s,
        .bind_version = atomic_load_explicit(&cn->bind_version, memory_order_relaxed),
        .now_ns = now_ns};
    cogmem__jr_append(&st->persist->jr, COGMEM__J_BIND, &b, sizeof b, NULL, 0);
}

void cogmem__jr_adjust_rec(cogmem_store *st, uint64_t e, uint64_t c, float s,
                           uint64_t now_ns)
{
    struct cogmem__jp_bind b = {.episode = e, .concept = c, .strength = s, .now_ns = now_ns};
    cogmem__jr_append(&st->persist->jr, COGMEM__J_ADJUST, &b, sizeof b, NULL, 0);
}

void cogmem__jr_unbind_rec(cogmem_store *st, struct cogmem__node *cn, uint64_t e,
                           uint64_t c)
{
    struct cogmem__jp_bind b = {
        .episode = e, .concept = c,
        .bind_version = atomic_load_explicit(&cn->bind_version, memory_order_relaxed)};
    cogmem__jr_append(&st->persist->jr, COGMEM__J_UNBIND, &b, sizeof b, NULL, 0);
}

void cogmem__jr_edrop_rec(cogmem_store *st, uint64_t e, uint64_t concept)
{
    struct cogmem__jp_bind b = {.episode = e, .concept = concept};
    cogmem__jr_append(&st->persist->jr, COGMEM__J_EDROP, &b, sizeof b, NULL, 0);
}

void cogmem__jr_clist_rec(cogmem_store *st, struct cogmem__node *cn,
                          const struct cogmem__blist *cl)
{
    if (!st->persist->jr.on)
        return;
    size_t bytes = (size_t)cl->n * sizeof(struct cogmem__snap_bind);
    struct cogmem__snap_bind *e = bytes ? malloc(bytes) : NULL;
    if (bytes && !e) {
        /* Cannot describe the decay's result: stop the journal (the
         * decaying call then reports -EIO). */
        int expect = 0;
        atomic_compare_exchange_strong_explicit(&st->persist->jr.failed, &expect,
                                                -ENOMEM, memory_order_relaxed,
                                                memory_order_relaxed);
        return;
    }
    for (uint32_t i = 0; i < cl->n; i++)
        e[i] = (struct cogmem__snap_bind){.episode = cl->peer[i],
                                          .strength = cl->strength[i],
                                          .created_ns = cl->created[i],
                                          .touched_ns = cl->touched[i],
                                          .decayed_ns = cl->decayed[i]};
    struct cogmem__jp_clist h = {
        .concept = atomic_load_explicit(&cn->id, memory_order_relaxed), .n = cl->n,
        .bind_version = atomic_load_explicit(&cn->bind_version, memory_order_relaxed)};
    cogmem__jr_append(&st->persist->jr, COGMEM__J_CLIST, &h, sizeof h, e, bytes);
    free(e);
}

/* ------------------------------------------------------ attach, detach */

static void persist_free(struct cogmem__persist *p)
{
    cogmem__jr_fini(&p->jr);
    for (unsigned i = 0; i < COGMEM__PSTRIPES; i++)
        pthread_mutex_destroy(&p->stripe[i]);
    pthread_mutex_destroy(&p->snap_mu);
    for (int k = 0; k < 2; k++) {
        free(p->mcheck[k].sums);
        free(p->mcheck[k].chunk_ok);
        free(p->mcheck[k].row_ok);
    }
    if (p->lock_fd >= 0)
        cogmem__fops->close(p->lock_fd); /* releases the flock */
    free(p->dir);
    free(p);
}

/* Take the directory: create it if missing, then an exclusive flock on
 * LOCK. flock dies with the process (and with this descriptor), so a lock
 * left by a killed process blocks nobody. */
static int take_dir(struct cogmem__persist *p)
{
    if (cogmem__fops->mkdir(p->dir, 0755) && errno != EEXIST)
        return -errno;
    char path[4096];
    snprintf(path, sizeof path, "%s/LOCK", p->dir);
    int fd = cogmem__fops->open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0)
        return -errno;
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        int e = errno;
        cogmem__fops->close(fd);
        return e == EWOULDBLOCK ? -EBUSY : -e;
    }
    p->lock_fd = fd;
    return 0;
}

int cogmem__persist_attach(cogmem_store *st)
{
    struct cogmem_open_report *rep = open_report;
    const cogmem_config *c = &st->cfg;
    if (!c->path)
        return 0;
    if (c->durability < COGMEM_DURABLE_NONE || c->durability > COGMEM_DURABLE_SYNC ||
        (c->durability == COGMEM_DURABLE_INTERVAL && c->sync_interval_ms == 0) ||
        !c->path[0] || (c->open_mode != COGMEM_OPEN_COPY && c->open_mode != COGMEM_OPEN_MMAP))
        return -EINVAL;
    /* The file has no bf16 copies, and making them would read every row
     * at open, which is what MMAP exists to avoid (cogmem_persist.h). */
    if (c->open_mode == COGMEM_OPEN_MMAP && c->bf16_rows)
        return -EOPNOTSUPP;
    if (strlen(c->path) > PATH_MAX - 64) /* room for our file names */
        return -ENAMETOOLONG;
    struct cogmem__persist *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->lock_fd = -1;
    p->dim = st->dim;
    p->dir = strdup(c->path);
    for (unsigned i = 0; i < COGMEM__PSTRIPES; i++)
        pthread_mutex_init(&p->stripe[i], NULL);
    pthread_mutex_init(&p->snap_mu, NULL);
    cogmem__jr_init(&p->jr, c->durability, c->sync_interval_ms);
    if (!p->dir) {
        persist_free(p);
        return -ENOMEM;
    }
    int rc = take_dir(p);
    if (rc == 0)
        rc = cogmem__recover(st, p, rep); /* fills p->cfg, next LSN, segments */
    if (rc == 0 && p->jr.on)
        rc = cogmem__jr_start_thread(&p->jr);
    if (rc) {
        persist_free(p);
        return rc;
    }
    /* The path string is the caller's: point the store's copy at ours. */
    st->cfg.path = p->dir;
    st->persist = p;
    return 0;
}

void cogmem__persist_detach(cogmem_store *st)
{
    struct cogmem__persist *p = st->persist;
    if (!p)
        return;
    if (p->jr.on && p->jr.fd >= 0) {
        /* A clean close leaves everything written and synced whatever the
         * level (PROCESS included: it costs one fsync per close). */
        uint64_t last = atomic_load_explicit(&p->jr.next_lsn, memory_order_acquire) - 1;
        (void)cogmem__jr_wait(&p->jr, last, 1);
    }
    st->persist = NULL;
    persist_free(p);
}

/* -------------------------------------------------------------- public */

int cogmem_open_report(const cogmem_config *cfg, cogmem_store **out,
                       struct cogmem_open_report *report)
{
    if (report) {
        if (report->struct_size < sizeof *report)
            return -EINVAL;
        memset(report, 0, sizeof *report);
        report->struct_size = sizeof *report;
    }
    open_report = report;
    int rc = cogmem_open(cfg, out);
    open_report = NULL;
    if (report)
        report->error = rc;
    return rc;
}

int cogmem_snapshot_report(cogmem_store *store, struct cogmem_snapshot_report *report)
{
    if (report) {
        if (report->struct_size < sizeof *report)
            return -EINVAL;
        memset(report, 0, sizeof *report);
        report->struct_size = sizeof *report;
    }
    int rc;
    if (!store || !store->persist)
        rc = -EINVAL;
    else if (cogmem__rcu_in_reader())
        rc = -EDEADLK;
    else if (atomic_load_explicit(&store->persist->jr.failed, memory_order_relaxed))
        rc = -EIO;
    else
        rc = cogmem__snapshot_write(store, report);
    if (report)
        report->error = rc;
    return rc;
}

int cogmem_check_mapped_rows(cogmem_store *store, cogmem_bad_row_fn fn, void *arg,
                             uint64_t *failed)
{
    if (failed)
        *failed = 0;
    if (!store || !fn)
        return -EINVAL;
    if (cogmem__rcu_in_reader())
        return -EDEADLK;
    if (!store->persist)
        return 0;
    return cogmem__check_mapped_rows(store, fn, arg, failed);
}

int cogmem_snapshot(cogmem_store *store)
{
    return cogmem_snapshot_report(store, NULL);
}

int cogmem_sync(cogmem_store *store)
{
    if (!store)
        return -EINVAL;
    struct cogmem__persist *p = store->persist;
    if (!p || !p->jr.on)
        return 0;
    uint64_t last = atomic_load_explicit(&p->jr.next_lsn, memory_order_acquire) - 1;
    int rc = cogmem__jr_wait(&p->jr, last, 1);
    if (rc == 0 && atomic_load_explicit(&p->jr.failed, memory_order_relaxed))
        rc = -EIO;
    return rc;
}
