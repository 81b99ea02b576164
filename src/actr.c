/* cogmem — ACT-R base-level learning, activation, latency and retrieval
 * probability (see cogmem_touch() and cogmem_actr_activation()). */
#include <errno.h>
#include <stddef.h>
#include <math.h>
#include <string.h>

#include "src/bind.h"
#include "src/persist/hooks.h"

/* ACT-R floors presentation ages so that a presentation "now" does not
 * give an infinite activation. */
#define MIN_AGE_S 0.05

static struct cogmem__node *find_any_kind(cogmem_store *st, uint64_t id,
                                          enum cogmem_kind *kind)
{
    struct cogmem__node *n = cogmem__find_live(st, COGMEM_CONCEPT, id);
    *kind = COGMEM_CONCEPT;
    if (!n) {
        n = cogmem__find_live(st, COGMEM_EPISODE, id);
        *kind = COGMEM_EPISODE;
    }
    return n;
}

int cogmem_touch(cogmem_store *store, uint64_t id, uint64_t now_ns)
{
    if (!store || id == 0)
        return -EINVAL;
    COGMEM__PERSIST_GATE(store, cogmem__pj_touch(store, id, now_ns));
    int enomem = 0, rc = 0;
    enum cogmem_kind kind;
    cogmem__rcu_lock();
    struct cogmem__node *n = find_any_kind(store, id, &kind);
    struct cogmem__presentations *h =
        n ? cogmem__pres_get(n, &store->mem,
                             kind == COGMEM_CONCEPT ? COGMEM__MEM_CONCEPT
                                                    : COGMEM__MEM_EPISODE,
                             1, &enomem)
          : NULL;
    if (!h) {
        rc = enomem ? -ENOMEM : -ENOENT;
    } else {
        cogmem__spin_lock(&h->lock);
        if (h->total == 0)
            h->first_ns = now_ns;
        h->t[h->head] = now_ns;
        h->head = (h->head + 1) % COGMEM__PRES_MAX;
        h->total++;
        cogmem__spin_unlock(&h->lock);
    }
    cogmem__rcu_unlock();
    return rc;
}

static double age_s(uint64_t now, uint64_t t)
{
    double a = now > t ? (double)(now - t) * 1e-9 : 0.0;
    return a < MIN_AGE_S ? MIN_AGE_S : a;
}

int cogmem__base_level(cogmem_store *st, struct cogmem__node *n,
                       uint64_t now_ns, double *b)
{
    int enomem = 0;
    struct cogmem__presentations *h = cogmem__pres_get(n, &st->mem, COGMEM__MEM_META, 0, &enomem);
    if (!h)
        return 0;
    double d = st->cfg.actr_decay;
    uint32_t kmax = st->cfg.actr_history;
    cogmem__spin_lock(&h->lock);
    uint64_t total = h->total;
    uint64_t first = h->first_ns;
    uint32_t k = total < kmax ? (uint32_t)total : kmax;
    double sum = 0.0, t_k = 0.0;
    for (uint32_t j = 0; j < k; j++) {
        /* j-th most recent */
        uint32_t slot = (h->head + COGMEM__PRES_MAX - 1 - j) % COGMEM__PRES_MAX;
        double t = age_s(now_ns, h->t[slot]);
        sum += pow(t, -d);
        t_k = t;
    }
    cogmem__spin_unlock(&h->lock);
    if (total == 0)
        return 0;
    if (total > k) {
        double t_n = age_s(now_ns, first);
        double rest = (double)(total - k);
        if (t_n > t_k)
            sum += rest * (pow(t_n, 1.0 - d) - (k ? pow(t_k, 1.0 - d) : 0.0)) /
                   ((1.0 - d) * (t_n - t_k));
        else
            sum += rest * pow(t_n, -d); /* all at the same (floored) age */
    }
    *b = log(sum);
    return 1;
}

/* The first cogmem_actr_result the library shipped; callers compiled
 * against it or anything larger are accepted. */
#define ACTR_RESULT_V1_SIZE (offsetof(cogmem_actr_result, probability) + sizeof(double))

int cogmem_actr_activation(cogmem_store *store, uint64_t id,
                           const cogmem_source *src, size_t n, uint64_t now_ns,
                           cogmem_actr_result *out)
{
    if (!store || id == 0 || !out || out->struct_size < ACTR_RESULT_V1_SIZE || (n && !src))
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (src[i].id == 0 || !isfinite(src[i].weight))
            return -EINVAL;
    cogmem_actr_result r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    enum cogmem_kind kind;
    int enomem = 0;
    cogmem__rcu_lock();
    struct cogmem__node *node = find_any_kind(store, id, &kind);
    if (!node) {
        cogmem__rcu_unlock();
        return -ENOENT;
    }
    struct cogmem__presentations *h = cogmem__pres_get(node, &store->mem, COGMEM__MEM_META, 0, &enomem);
    if (h) {
        cogmem__spin_lock(&h->lock);
        r.presentations = h->total;
        cogmem__spin_unlock(&h->lock);
    }
    double b = 0.0;
    if (cogmem__base_level(store, node, now_ns, &b))
        r.base_level = b;
    /* Sources bound to i, a batch at a time through the fan kernel. */
    enum { BATCH = 64 };
    float zero[BATCH], sji[BATCH], w[BATCH];
    uint32_t fan[BATCH];
    for (size_t base = 0; base < n; base += BATCH) {
        size_t m = 0;
        for (size_t i = base; i < n && i < base + BATCH; i++) {
            /* j is bound to i: i's kind is the other one, and the concept
             * side's list holds the binding. */
            enum cogmem_kind jk = kind == COGMEM_CONCEPT ? COGMEM_EPISODE : COGMEM_CONCEPT;
            struct cogmem__node *jn = cogmem__find_live(store, jk, src[i].id);
            if (!jn)
                continue;
            struct cogmem__node *cn = kind == COGMEM_CONCEPT ? node : jn;
            uint64_t eid = kind == COGMEM_CONCEPT ? src[i].id : id;
            struct cogmem__blist *cl = cogmem__clist(store, cn, 0, &enomem);
            if (!cl)
                continue;
            cogmem__spin_lock(&cl->lock);
            int bound = !cl->dead && cogmem__blist_find(cl, eid) >= 0;
            cogmem__spin_unlock(&cl->lock);
            if (!bound)
                continue;
            zero[m] = 0.0f;
            w[m] = src[i].weight;
            fan[m] = atomic_load_explicit(&jn->fan, memory_order_relaxed);
            m++;
        }
        cogmem_fan_divide(zero, fan, m, COGMEM_FAN_ACTR, store->cfg.actr_max_assoc, sji);
        for (size_t q = 0; q < m; q++)
            r.spreading += (double)w[q] * sji[q];
    }
    cogmem__rcu_unlock();
    r.activation = r.base_level + r.spreading;
    r.latency_s = store->cfg.actr_latency_factor * exp(-r.activation);
    r.probability = 1.0 / (1.0 + exp((store->cfg.actr_threshold - r.activation) /
                                     store->cfg.actr_noise));
    cogmem__struct_out(out, &r, sizeof r);
    return 0;
}
