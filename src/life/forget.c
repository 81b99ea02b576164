/* cogmem — forgetting under an episode budget (cogmem_forget). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "src/bind.h"
#include "src/life/life.h"
#include "src/persist/hooks.h"

#define MIN_AGE_S 0.05 /* as ACT-R ages in src/actr.c */

void cogmem_forget_params_init(cogmem_forget_params *p)
{
    if (!p)
        return;
    memset(p, 0, sizeof *p);
    p->struct_size = sizeof *p;
    p->w_binding = 1.0f;
    p->consolidated_bonus = 1.0f;
}

struct cand {
    double r;
    uint64_t t, id;
    uint32_t fan;
    float prob; /* the strength it gets (not with dry_run) */
};

struct scan {
    cogmem_store *st;
    const cogmem_forget_params *p;
    struct cand *c;
    size_t n, cap;
    int enomem;
};

/* Sum of the strengths of episode id's bindings. */
static double strength_sum(cogmem_store *st, uint64_t id)
{
    enum { SMALL = 64 };
    uint64_t ids[SMALL];
    float s[SMALL];
    size_t n = 0;
    if (cogmem_episode_concepts(st, id, ids, s, SMALL, &n))
        return 0.0; /* removed meanwhile */
    const float *v = s;
    size_t m = n < SMALL ? n : SMALL;
    float *big = NULL;
    uint64_t *bid = NULL;
    if (n > SMALL) { /* bound to many concepts: list them all */
        size_t cap = n;
        big = malloc(cap * sizeof *big);
        bid = malloc(cap * sizeof *bid);
        if (big && bid && cogmem_episode_concepts(st, id, bid, big, cap, &n) == 0) {
            v = big;
            m = n < cap ? n : cap;
        }
    }
    double sum = 0.0;
    for (size_t i = 0; i < m; i++)
        sum += v[i];
    free(big);
    free(bid);
    return sum;
}

static int visit(struct cogmem__node *n, void *arg)
{
    struct scan *sc = arg;
    const cogmem_forget_params *p = sc->p;
    if (sc->n == sc->cap) {
        size_t cap = sc->cap ? 2 * sc->cap : 1024;
        struct cand *c = realloc(sc->c, cap * sizeof *c);
        if (!c) {
            sc->enomem = 1;
            return 1;
        }
        sc->c = c;
        sc->cap = cap;
    }
    struct cand *c = &sc->c[sc->n++];
    c->id = atomic_load_explicit(&n->id, memory_order_relaxed);
    c->t = atomic_load_explicit(&n->stamp, memory_order_relaxed);
    c->fan = atomic_load_explicit(&n->fan, memory_order_relaxed);
    double b;
    if (!cogmem__base_level(sc->st, n, p->now_ns, &b)) {
        /* Never touched: one presentation at the episode's own time. */
        double age = p->now_ns > c->t ? (double)(p->now_ns - c->t) * 1e-9 : 0.0;
        b = -(double)sc->st->cfg.actr_decay * log(age < MIN_AGE_S ? MIN_AGE_S : age);
    }
    if (c->fan) {
        b += p->consolidated_bonus;
        if (p->w_binding != 0.0f)
            b += p->w_binding * strength_sum(sc->st, c->id);
    }
    c->r = b;
    if (!p->dry_run) {
        const cogmem_config *cfg = &sc->st->cfg;
        double prob = 1.0 / (1.0 + exp(((double)cfg->actr_threshold - b) / cfg->actr_noise));
        c->prob = (float)prob;
        /* Relaxed: a value for readers (cogmem_episode_info), nothing else.
         * With a directory it is stored (and journaled) after the scan. */
        if (!sc->st->persist)
            atomic_store_explicit(&n->strength_bits, cogmem__f2u(c->prob),
                                  memory_order_relaxed);
    }
    return 0;
}

static int cmp_cand(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->r != y->r)
        return x->r < y->r ? -1 : 1;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static int forget_body(cogmem_store *st, const cogmem_forget_params *in,
                       cogmem_forget_result *out)
{
    if (!st || (out && out->struct_size < COGMEM_FORGET_RESULT_V1_SIZE))
        return -EINVAL;
    cogmem_forget_params p;
    cogmem_forget_params_init(&p);
    if (!in || cogmem__struct_in(&p, sizeof p, in, in->struct_size,
                                 COGMEM_FORGET_PARAMS_V1_SIZE))
        return -EINVAL;
    uint64_t budget = p.max_episodes ? p.max_episodes : st->cfg.max_episodes;
    if (budget == 0 || p.now_ns == 0 || !(p.w_binding >= 0.0f) || !isfinite(p.w_binding) ||
        !(p.consolidated_bonus >= 0.0f) || !isfinite(p.consolidated_bonus))
        return -EINVAL;
    struct scan sc = {.st = st, .p = &p};
    cogmem__rcu_lock();
    cogmem__set_foreach(&st->sets[1], visit, &sc);
    cogmem__rcu_unlock();
    if (sc.enomem) {
        free(sc.c);
        return -ENOMEM;
    }
    if (!p.dry_run && st->persist) {
        /* Journaled (src/persist/words.c), outside the read-side section. */
        uint64_t last = 0;
        int rc = 0;
        for (size_t i = 0; i < sc.n && rc == 0; i++) {
            rc = cogmem__pj_word(st, COGMEM_EPISODE, sc.c[i].id, COGMEM__WORD_STRENGTH,
                                 sc.c[i].prob, &last);
            if (rc == -ENOENT) /* removed since the scan */
                rc = 0;
        }
        int wrc = cogmem__pj_word_wait(st, last);
        if (rc || wrc) {
            free(sc.c);
            return rc ? rc : wrc;
        }
    }
    if (sc.n)
        qsort(sc.c, sc.n, sizeof *sc.c, cmp_cand);
    cogmem_forget_result r = {.struct_size = sizeof r, .examined = sc.n,
                              .max_retention = -INFINITY};
    uint64_t live = 0;
    cogmem_count(st, COGMEM_EPISODE, &live);
    uint64_t excess = live > budget ? live - budget : 0;
    for (size_t i = 0; i < sc.n && r.removed < excess; i++) {
        int rc = p.dry_run ? 0 : cogmem_episode_remove(st, sc.c[i].id);
        if (rc == -ENOENT) {
            excess--; /* someone else removed it: it counts toward the target */
            continue;
        }
        r.removed++;
        r.unbound += sc.c[i].fan;
        r.max_retention = sc.c[i].r;
    }
    free(sc.c);
    if (!p.dry_run)
        cogmem__stats_add(st, COGMEM__EV_FORGET_REMOVED, r.removed);
    if (out)
        cogmem__struct_out(out, &r, sizeof r);
    return 0;
}

int cogmem_forget(cogmem_store *store, const cogmem_forget_params *p,
                  cogmem_forget_result *out)
{
    uint64_t t0 = store ? cogmem__lat_begin(store) : 0;
    int rc = forget_body(store, p, out);
    if (rc == 0) {
        cogmem__stats_event(store, COGMEM__EV_FORGET_RUN);
        cogmem__lat_end(store, COGMEM_OP_FORGET, t0);
    }
    return rc;
}
