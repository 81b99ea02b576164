/* cogmem — batch decay and pruning of bindings (see cogmem_decay()).
 *
 * The pass walks the registry of concept binding lists (shards/bindex.h),
 * so it costs the lists there are, not the concept tables' buckets. Per
 * concept, under its lock: the strengths are contiguous (the list is a
 * structure of arrays), so the kernels run straight over them, a chunk at
 * a time with the per-binding elapsed times in a stack buffer; then the
 * prune kernel picks what fell below the threshold, walked from the end so
 * that the swap-remove of one entry never moves an entry not yet judged.
 */
#include <errno.h>
#include <stddef.h>
#include <math.h>
#include <string.h>

#include "src/bind.h"
#include "src/persist/hooks.h"
#include "simd/splat.h"

/* Bindings per kernel call: the dt[] and idx[] buffers (4 KiB each) stay
 * in L1, and a chunk's decay times (8 KiB) are still there when the pass
 * writes them back after reading them. */
#define CHUNK 1024u

void cogmem_decay_params_init(cogmem_decay_params *p)
{
    if (!p)
        return;
    memset(p, 0, sizeof *p);
    p->struct_size = sizeof *p;
    p->model = COGMEM_DECAY_EXP;
    p->half_life_ns = 3600ull * 1000000000ull;
    p->power_d = 0.5f;
    p->power_scale_ns = 1000000000ull;
    p->factor = 0.5f;
    p->prune_below = 0.01f;
}

/* The first cogmem_decay_params / cogmem_decay_result the library shipped;
 * callers compiled against them or anything larger are accepted. */
#define DECAY_V1_SIZE (offsetof(cogmem_decay_params, prune_below) + sizeof(float))
#define RESULT_V1_SIZE (offsetof(cogmem_decay_result, pruned) + sizeof(uint64_t))

static int params_ok(const cogmem_decay_params *p)
{
    if (!(p->prune_below >= 0.0f && p->prune_below <= 1.0f))
        return 0;
    switch (p->model) {
    case COGMEM_DECAY_EXP:
        return p->half_life_ns > 0;
    case COGMEM_DECAY_POWER:
        return p->power_d > 0.0f && isfinite(p->power_d) && p->power_scale_ns > 0;
    case COGMEM_DECAY_FACTOR:
        return p->factor >= 0.0f && p->factor <= 1.0f;
    default:
        return 0;
    }
}

struct run {
    cogmem_store *st;
    const cogmem_decay_params *p;
    uint64_t now;
    float rate;          /* EXP: ln 2 / half-life in s; POWER: d */
    double inv_scale;    /* POWER: 1 / scale in ns */
    /* EXP: the factor of the last decay time a whole list or chunk shared
     * (f_from; UINT64_MAX = none yet: every d0 is below now). After one pass every list's decay times are
     * that pass's `now`, so the next pass computes one expf for all of
     * them instead of one per list (at 100 bindings a list, the expf was
     * a tenth of the list's time). */
    uint64_t f_from;
    float f;
    int journal;         /* the store has a journal: describe each list */
    cogmem_decay_result res;
};

/* EXP: the factor that takes a strength current as of d0 (< now) to now. */
static inline float exp_factor(struct run *r, uint64_t d0)
{
    if (d0 != r->f_from) {
        r->f = expf(-(r->rate * (float)((double)(r->now - d0) * 1e-9)));
        r->f_from = d0;
    }
    return r->f;
}

/* Ask for the first lines of a run of m bindings up front (12 KiB at
 * most): the two short streams of a list then arrive in parallel instead
 * of each paying the hardware prefetcher's ramp-up. */
static inline void prefetch_run(const float *s, const uint64_t *dec, uint32_t m)
{
    if (m > CHUNK)
        m = CHUNK;
    for (uint32_t i = 0; i < m; i += 16) {
        __builtin_prefetch(s + i, 1, 3);
        __builtin_prefetch(dec + i, 1, 3);
        __builtin_prefetch(dec + i + 8, 1, 3);
    }
}

/* Decay entries [base, base + m) of a locked list to r->now. Returns
 * non-zero when one of them has a decay time later than now (left as it
 * is, so the list's decay times may differ afterwards). */
static int decay_chunk(struct run *r, struct cogmem__blist *cl, uint32_t base,
                       uint32_t m)
{
    float dt[CHUNK];
    uint64_t now = r->now;
    float *s = cl->strength + base;
    uint64_t *dec = cl->decayed + base;
    const uint64_t *ref = cl->touched + base;
    prefetch_run(s, dec, m);
    switch (r->p->model) {
    case COGMEM_DECAY_EXP: {
        /* Every binding of the chunk decayed by one pass and not adjusted
         * since: one factor, the multiply kernel alone. */
        uint64_t d0 = dec[0], diff = 0;
        for (uint32_t i = 0; i < m; i++) /* no early exit: it vectorises */
            diff |= dec[i] ^ d0;
        if (diff == 0) {
            if (now <= d0)
                return now < d0;
            cogmem_decay_f32(s, m, exp_factor(r, d0));
            cogmem__splat_u64(dec, m, now);
            return 0;
        }
        for (uint32_t i = 0; i < m; i++)
            dt[i] = now > dec[i] ? (float)((double)(now - dec[i]) * 1e-9) : 0.0f;
        cogmem_decay_exp_f32(s, dt, m, r->rate);
        break;
    }
    case COGMEM_DECAY_POWER:
        /* x * ratio^-d == x * exp(-d * ln ratio): the exp kernel with the
         * logarithm of the ratio as its "elapsed time". */
        for (uint32_t i = 0; i < m; i++) {
            if (now <= dec[i]) {
                dt[i] = 0.0f;
                continue;
            }
            double a = (double)(dec[i] - ref[i]) * r->inv_scale;
            double b = (double)(now - ref[i]) * r->inv_scale;
            dt[i] = (float)(log1p(b) - log1p(a));
        }
        cogmem_decay_exp_f32(s, dt, m, r->rate);
        break;
    default: /* COGMEM_DECAY_FACTOR */
        cogmem_decay_f32(s, m, r->p->factor);
        break;
    }
    int later = 0;
    for (uint32_t i = 0; i < m; i++) {
        later |= dec[i] > now;
        dec[i] = dec[i] > now ? dec[i] : now;
    }
    return later;
}

static void decay_concept(struct run *r, struct cogmem__blist *cl)
{
    uint32_t n = cl->n;
    uint64_t now = r->now, d0 = cl->dec_same;
    if (d0 && r->p->model == COGMEM_DECAY_EXP) {
        /* The steady state (bindex.h: dec_same): one factor for the whole
         * list, the multiply kernel over its strengths and a fill of its
         * decay times; decayed[] is not read. */
        if (now > d0) {
            float *s = cl->strength;
            uint64_t *dec = cl->decayed;
            prefetch_run(s, dec, n);
            cogmem_decay_f32(s, n, exp_factor(r, d0));
            cogmem__splat_u64(dec, n, now);
            cl->dec_same = now;
        }
    } else {
        int later = 0;
        for (uint32_t base = 0; base < n; base += CHUNK)
            later |= decay_chunk(r, cl, base, n - base < CHUNK ? n - base : CHUNK);
        /* Every decay time is now max(its own, now): all equal unless one
         * was later. */
        cl->dec_same = later ? 0 : now;
    }
    r->res.decayed += n;
    r->res.concepts++;
    if (r->p->prune_below <= 0.0f)
        return;
    /* The list's second line (owner) and the node's line only once
     * something is pruned: a pass that prunes nothing reads neither. */
    struct cogmem__node *cn = NULL;
    uint64_t cid = 0;
    uint32_t idx[CHUNK];
    uint32_t pruned = 0;
    /* Chunks from the last: deleting slot i moves the current last entry,
     * which has already been judged, into i. */
    for (uint32_t end = n; end > 0;) {
        uint32_t base = end > CHUNK ? end - CHUNK : 0;
        size_t k = cogmem_prune_f32(cl->strength + base, end - base,
                                    r->p->prune_below, idx);
        if (k && !cn) {
            cn = cl->owner;
            cid = atomic_load_explicit(&cn->id, memory_order_relaxed);
        }
        while (k-- > 0) {
            uint32_t i = base + idx[k];
            cogmem__drop_episode_side(r->st, cid, cl->peer[i]);
            cogmem__blist_del(cl, i);
            pruned++;
        }
        end = base;
    }
    if (pruned) {
        cogmem__set_fan(cn, cl->n);
        atomic_fetch_add_explicit(&cn->bind_version, 1, memory_order_relaxed);
        cogmem__bind_count(r->st, cid, -(int64_t)pruned);
        r->res.pruned += pruned;
    }
}

/* One registered list (registry walker, inside a read-side section). A list
 * met dead belongs to a removed concept; one whose concept is being removed
 * but not yet dead is decayed as a decay a moment earlier would have done
 * (the removal then unbinds what is left). */
static void decay_list(struct cogmem__blist *cl, void *arg)
{
    struct run *r = arg;
    cogmem__spin_lock(&cl->lock);
    if (!cl->dead && cl->n) {
        decay_concept(r, cl);
        /* The owner is on the list's second line: read only to journal. */
        if (r->journal)
            cogmem__jr_clist(r->st, cl->owner, cl);
    }
    cogmem__spin_unlock(&cl->lock);
}

static int decay_body(cogmem_store *store, const cogmem_decay_params *pp,
                 uint64_t now_ns, cogmem_decay_result *out)
{
    cogmem_decay_params prm;
    cogmem_decay_params_init(&prm);
    if (!store || !pp ||
        cogmem__struct_in(&prm, sizeof prm, pp, pp->struct_size, DECAY_V1_SIZE) ||
        !params_ok(&prm) || (out && out->struct_size < RESULT_V1_SIZE))
        return -EINVAL;
    const cogmem_decay_params *p = &prm;
    struct run r = {.st = store, .p = p, .now = now_ns, .f_from = UINT64_MAX,
                    .journal = store->persist != NULL};
    r.res.struct_size = sizeof r.res;
    if (p->model == COGMEM_DECAY_EXP)
        r.rate = (float)(M_LN2 / ((double)p->half_life_ns * 1e-9));
    else if (p->model == COGMEM_DECAY_POWER) {
        r.rate = p->power_d;
        r.inv_scale = 1.0 / (double)p->power_scale_ns;
    }
    /* The registry of concept lists, not the concept tables: a pass costs
     * the lists it visits, whatever the tables' size (bindex.h). */
    cogmem__breg_walk(&store->breg, decay_list, &r);
    if (out)
        cogmem__struct_out(out, &r.res, sizeof r.res);
    return 0;
}

/* The public entry: counts the call for cogmem_stats and times a sample
 * of them; the work is in decay_body. */
int cogmem_decay(cogmem_store *store, const cogmem_decay_params *p,
                 uint64_t now_ns, cogmem_decay_result *out)
{
    /* The pruned count is needed for the statistics even when the caller
     * does not ask for a result. */
    COGMEM__PERSIST_GATE(store, cogmem__pj_decay(store, p, now_ns, out));
    cogmem_decay_result local = {.struct_size = sizeof local};
    cogmem_decay_result *res = out ? out : &local;
    uint64_t t0 = store ? cogmem__lat_begin(store) : 0;
    int rc = decay_body(store, p, now_ns, res);
    if (rc == 0) {
        cogmem__stats_event(store, COGMEM__EV_DECAY_RUN);
        cogmem__stats_add(store, COGMEM__EV_BIND_PRUNED, res->pruned);
        cogmem__lat_end(store, COGMEM_OP_DECAY, t0);
    }
    return rc;
}
