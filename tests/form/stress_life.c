/* cogmem — stress test of the memory life cycle beside readers and
 * writers.
 *
 *   stress_life [--threads N] [--seconds S]
 *
 * Threads (default max(5, nproc), bounded by --seconds, default
 * $COGMEM_STRESS_SECONDS else 5) take roles round-robin: a WRITER adds and
 * removes episodes of its own id range (clustered vectors) and sometimes
 * removes a concept; a READER runs recall over both kinds and info calls;
 * a CONSOLIDATOR consolidates random episodes; a FORMER runs batch
 * formation over unbound episodes (concept ids from a shared counter, so
 * never -EEXIST); a FORGETTER keeps the store under an episode budget.
 * Invariants checked as they go: every call returns 0 or an errno its
 * header allows under concurrency; recall hits are ordered and finite;
 * formed concepts have members ascending with contributions in [0, 1];
 * a bound consolidation scored >= tau. At quiescence: every concept's
 * fan-out equals its listing, every listed episode is live and lists the
 * concept back with the same count of bindings, and the sums of fan-outs,
 * of fan-ins and the binding count agree.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cogmem.h"
#include "form/gen.h"

#define DIM 16
#define CENTRES 12
#define PER_WRITER 1500u
#define TAU 0.6f


enum role { WRITER, READER, CONSOLIDATOR, FORMER, FORGETTER, N_ROLES };
static const char *role_name[N_ROLES] = {"writer", "reader", "consolidator", "former",
                                         "forgetter"};

static cogmem_store *store;
static _Atomic int stop;
static _Atomic uint64_t failures, next_concept, clock_ns, ops[N_ROLES];
static float centre[CENTRES][DIM];
static unsigned nthreads, nwriters;

#define FAIL(...)                                                          \
    do {                                                                   \
        fprintf(stderr, __VA_ARGS__);                                      \
        fputc('\n', stderr);                                               \
        atomic_fetch_add_explicit(&failures, 1, memory_order_relaxed);     \
    } while (0)

static void point(uint64_t *rng, float *v)
{
    const float *c = centre[gen_next(rng) % CENTRES];
    for (int d = 0; d < DIM; d++)
        v[d] = c[d] + (float)(0.25 * gen_normal(rng));
}

static uint64_t now(void)
{
    /* Host time for episodes and forgetting: a shared logical clock, so
     * the test reads no wall clock for what it checks. */
    return atomic_fetch_add_explicit(&clock_ns, 1000000, memory_order_relaxed);
}

static void writer(unsigned w, uint64_t *rng)
{
    uint64_t id = 1 + w * PER_WRITER + gen_next(rng) % PER_WRITER;
    float v[DIM];
    if (gen_next(rng) % 3) {
        point(rng, v);
        int rc = cogmem_episode_add(store, id, v, now());
        if (rc && rc != -EEXIST)
            FAIL("episode_add: %d", rc);
    } else {
        int rc = cogmem_episode_remove(store, id);
        if (rc && rc != -ENOENT)
            FAIL("episode_remove: %d", rc);
    }
    if (gen_next(rng) % 64 == 0) {
        uint64_t top = atomic_load_explicit(&next_concept, memory_order_relaxed);
        uint64_t c = (1ull << 40) + gen_next(rng) % (top - (1ull << 40) + 1);
        int rc = cogmem_concept_remove(store, c);
        if (rc && rc != -ENOENT)
            FAIL("concept_remove: %d", rc);
    }
}

static void reader(uint64_t *rng)
{
    float q[DIM];
    point(rng, q);
    cogmem_recall_hit hit[8];
    size_t n = 0;
    int rc = cogmem_recall(store, q, COGMEM_ALL_KINDS, 8, NULL, hit, &n);
    if (rc)
        FAIL("recall: %d", rc);
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(hit[i].score))
            FAIL("recall: score not finite");
        if (i && (hit[i].score > hit[i - 1].score ||
                  (hit[i].score == hit[i - 1].score && hit[i].id < hit[i - 1].id)))
            FAIL("recall: out of order");
        if (hit[i].kind == COGMEM_CONCEPT) {
            struct cogmem_concept_info ci;
            rc = cogmem_concept_info(store, hit[i].id, &ci);
            if (rc == 0 && !(ci.norm > 0.0f && isfinite(ci.norm)))
                FAIL("concept %" PRIu64 ": bad norm", hit[i].id);
            else if (rc && rc != -ENOENT)
                FAIL("concept_info: %d", rc);
        }
    }
}

static void consolidator(uint64_t *rng)
{
    uint64_t id = 1 + gen_next(rng) % (nwriters * PER_WRITER);
    cogmem_form_params p;
    cogmem_form_params_init(&p);
    p.min_similarity = TAU;
    cogmem_consolidate_result r = {.struct_size = sizeof r};
    int rc = cogmem_consolidate(store, id, &p, &r);
    if (rc == 0 && r.bound && !(r.score >= TAU))
        FAIL("consolidate: bound below tau");
    if (rc && rc != -ENOENT && rc != -EEXIST)
        FAIL("consolidate: %d", rc);
}

static uint64_t concept_id(void *arg, uint64_t min_member, size_t index)
{
    (void)arg;
    (void)min_member;
    (void)index;
    return atomic_fetch_add_explicit(&next_concept, 1, memory_order_relaxed);
}

static void former(uint64_t *rng)
{
    cogmem_form_params p;
    cogmem_form_params_init(&p);
    p.min_similarity = TAU;
    p.min_members = 3;
    p.threads = 1 + (unsigned)(gen_next(rng) % 2);
    p.id_fn = concept_id;
    cogmem_form_result r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    int rc = cogmem_form_concepts(store, &p, &r);
    if (rc) {
        FAIL("form: %d", rc);
        return;
    }
    for (size_t c = 0; c < r.n_concepts; c++) {
        const cogmem_form_concept *fc = &r.concepts[c];
        for (size_t q = fc->first; q < fc->first + fc->count; q++) {
            if (q > fc->first && r.members[q] <= r.members[q - 1])
                FAIL("form: members not ascending");
            if (!(r.contribution[q] >= 0.0f && r.contribution[q] <= 1.0f))
                FAIL("form: contribution out of range");
        }
    }
    cogmem_form_result_free(&r);
}

static void forgetter(void)
{
    cogmem_forget_params p;
    cogmem_forget_params_init(&p);
    p.max_episodes = nwriters * PER_WRITER / 3; /* writers keep ~2/3 live */
    p.now_ns = now() + 1;
    cogmem_forget_result r = {.struct_size = sizeof r};
    int rc = cogmem_forget(store, &p, &r);
    if (rc)
        FAIL("forget: %d", rc);
    usleep(2000);
}

static void *run(void *arg)
{
    unsigned t = (unsigned)(uintptr_t)arg;
    enum role role = (enum role)(t % N_ROLES);
    uint64_t rng = 0x1234 + t;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        switch (role) {
        case WRITER: writer(t / N_ROLES, &rng); break;
        case READER: reader(&rng); break;
        case CONSOLIDATOR: consolidator(&rng); break;
        case FORMER: former(&rng); break;
        case FORGETTER: forgetter(); break;
        default: break;
        }
        atomic_fetch_add_explicit(&ops[role], 1, memory_order_relaxed);
    }
    return NULL;
}

struct check {
    uint64_t fan_sum, concepts;
};

static int check_concept(uint64_t id, enum cogmem_kind kind, void *arg)
{
    struct check *ck = arg;
    if (kind != COGMEM_CONCEPT)
        return 0;
    ck->concepts++;
    uint32_t fan = 0;
    size_t n = 0;
    if (cogmem_fan_out(store, id, &fan) || cogmem_concept_episodes(store, id, NULL, NULL, 0, &n)) {
        FAIL("concept %" PRIu64 " vanished at quiescence", id);
        return 0;
    }
    if (fan != n)
        FAIL("concept %" PRIu64 ": fan-out %u, listing %zu", id, fan, n);
    uint64_t *eps = malloc((n ? n : 1) * sizeof *eps);
    size_t m = 0;
    if (cogmem_concept_episodes(store, id, eps, NULL, n, &m) || m != n)
        FAIL("concept %" PRIu64 ": listing changed", id);
    for (size_t i = 0; i < m; i++) {
        uint64_t back[64];
        size_t nb = 0;
        if (cogmem_kind_of(store, eps[i]) != COGMEM_EPISODE)
            FAIL("concept %" PRIu64 " bound to dead episode %" PRIu64, id, eps[i]);
        else if (cogmem_episode_concepts(store, eps[i], back, NULL, 64, &nb))
            FAIL("episode_concepts failed");
        else {
            int found = 0;
            for (size_t j = 0; j < nb && j < 64; j++)
                found |= back[j] == id;
            if (!found)
                FAIL("episode %" PRIu64 " does not list concept %" PRIu64, eps[i], id);
        }
    }
    free(eps);
    ck->fan_sum += fan;
    return 0;
}

static int sum_fan_in(uint64_t id, enum cogmem_kind kind, void *arg)
{
    if (kind == COGMEM_EPISODE) {
        uint32_t f = 0;
        if (cogmem_fan_in(store, id, &f) == 0)
            *(uint64_t *)arg += f;
    }
    return 0;
}

int main(int argc, char **argv)
{
    unsigned seconds = 5;
    const char *env = getenv("COGMEM_STRESS_SECONDS");
    if (env && atoi(env) > 0)
        seconds = (unsigned)atoi(env);
    long nproc = sysconf(_SC_NPROCESSORS_ONLN);
    nthreads = nproc < N_ROLES ? N_ROLES : (unsigned)nproc;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads"))
            nthreads = (unsigned)atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds"))
            seconds = (unsigned)atoi(argv[i + 1]);
    }
    if (nthreads < N_ROLES)
        nthreads = N_ROLES;
    nwriters = (nthreads + N_ROLES - 1) / N_ROLES;
    uint64_t rng = 99;
    for (int c = 0; c < CENTRES; c++)
        gen_unit(&rng, centre[c], DIM);
    atomic_store_explicit(&next_concept, 1ull << 40, memory_order_relaxed);
    atomic_store_explicit(&clock_ns, 1000000000ull, memory_order_relaxed);
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = DIM;
    if (cogmem_open(&cfg, &store))
        return 1;
    pthread_t *th = calloc(nthreads, sizeof *th);
    for (unsigned t = 0; t < nthreads; t++)
        if (pthread_create(&th[t], NULL, run, (void *)(uintptr_t)t))
            return 1;
    sleep(seconds);
    /* Every life-cycle path must run (checked below), but on a loaded
     * machine (TSan, CI) the first formation or bound consolidation can
     * come late: go on, up to ten times the budget, until each has run
     * once. A path that never runs still fails, after that bound. */
    for (unsigned waited = 0; waited < 90u * seconds; waited++) {
        cogmem_stats now;
        now.struct_size = sizeof now;
        cogmem_stats_get(store, &now);
        if (now.concepts_formed && now.consolidations_bound && now.episodes_forgotten)
            break;
        usleep(100 * 1000);
    }
    atomic_store_explicit(&stop, 1, memory_order_relaxed);
    for (unsigned t = 0; t < nthreads; t++)
        pthread_join(th[t], NULL);
    free(th);

    struct check ck = {0};
    cogmem_foreach(store, COGMEM_CONCEPT, check_concept, &ck);
    uint64_t fan_in = 0, nb = 0;
    cogmem_foreach(store, COGMEM_EPISODE, sum_fan_in, &fan_in);
    cogmem_binding_count(store, &nb);
    if (ck.fan_sum != fan_in || ck.fan_sum != nb)
        FAIL("fan-outs %" PRIu64 ", fan-ins %" PRIu64 ", bindings %" PRIu64, ck.fan_sum,
             fan_in, nb);
    cogmem_stats st;
    st.struct_size = sizeof st;
    cogmem_stats_get(store, &st);
    printf("threads %u, %u s:", nthreads, seconds);
    for (int r = 0; r < N_ROLES; r++)
        printf(" %s %" PRIu64, role_name[r], atomic_load(&ops[r]));
    printf("\nconcepts %" PRIu64 ", bindings %" PRIu64 ", formed %" PRIu64
           ", consolidated %" PRIu64 "/%" PRIu64 ", forgotten %" PRIu64 "\n",
           ck.concepts, nb, st.concepts_formed, st.consolidations_bound,
           st.consolidations_deferred, st.episodes_forgotten);
    if (st.concepts_formed == 0 || st.consolidations_bound == 0 || st.episodes_forgotten == 0)
        FAIL("a life-cycle path never ran");
    if (cogmem_close(&store))
        FAIL("close failed");
    uint64_t f = atomic_load(&failures);
    if (f)
        fprintf(stderr, "%" PRIu64 " failures\n", f);
    return f ? 1 : 0;
}
