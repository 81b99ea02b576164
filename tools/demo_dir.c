/* cogmem demo --dir DIR: the demo on a persistent store.
 *
 * Each run opens (or creates) the store in DIR. If an earlier run left
 * its report (DIR/demo-report.txt: counts and a fingerprint of the whole
 * state), the reopened store is checked against it first: the exit status
 * is 1 if anything differs. Then it runs a concurrent workload (bind,
 * adjust, blend, touch, episode add/remove, decay) with a snapshot in the
 * middle, so that the next open has a snapshot and a journal after it to
 * recover, and writes the new report. The store is opened with
 * COGMEM_DURABLE_INTERVAL (100 ms), closed cleanly at the end. Public API
 * only. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cogmem.h"

#define REPORT "demo-report.txt"
#define EP_BASE 1000000000ull

struct dstate {
    cogmem_store *s;
    uint32_t dim;
    uint64_t concepts, episodes, seed;
    atomic_bool stop;
    atomic_ullong ops;
    atomic_int failed;
};

static uint64_t next_rng(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static void make_vec(float *v, uint32_t dim, uint64_t key)
{
    uint64_t x = key * 0x9E3779B97F4A7C15ull + 1;
    for (uint32_t i = 0; i < dim; i++)
        v[i] = (float)(next_rng(&x) % 2001) / 1000.0f - 1.0f;
    v[0] += 3.0f; /* never zero */
}

/* ---------------------------------------------------------- fingerprint */

struct ids {
    uint64_t *v;
    size_t n, cap;
};

static int collect(uint64_t id, enum cogmem_kind kind, void *arg)
{
    (void)kind;
    struct ids *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        uint64_t *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = id;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void fnv(uint64_t *h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        *h = (*h ^ c[i]) * 0x100000001b3ull;
}

struct summary {
    uint64_t concepts, episodes, bindings, fingerprint;
};

/* Counts and an FNV-1a over every node (id, kind, vector bits, record
 * fields, presentations) and every binding (ids, strength, times), in id
 * order: equal fingerprints mean equal states. */
static int summarise(cogmem_store *s, uint32_t dim, struct summary *out)
{
    struct ids l = {0};
    int rc = cogmem_foreach(s, COGMEM_ALL_KINDS, collect, &l);
    if (rc)
        return rc;
    qsort(l.v, l.n, sizeof *l.v, cmp_u64);
    uint64_t h = 0xcbf29ce484222325ull;
    memset(out, 0, sizeof *out);
    uint64_t *peer = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < l.n && rc == 0; i++) {
        uint64_t id = l.v[i];
        int kind = cogmem_kind_of(s, id);
        const cogmem_vec *v;
        rc = cogmem_vec_get(s, id, &v);
        if (rc)
            break;
        fnv(&h, &id, sizeof id);
        fnv(&h, &kind, sizeof kind);
        fnv(&h, cogmem_vec_data(v), dim * sizeof(float));
        cogmem_vec_put(v);
        cogmem_actr_result ar = {.struct_size = sizeof ar};
        if ((rc = cogmem_actr_activation(s, id, NULL, 0, 1, &ar)))
            break;
        fnv(&h, &ar.presentations, sizeof ar.presentations);
        if (kind == COGMEM_EPISODE) {
            struct cogmem_episode_info ei;
            if ((rc = cogmem_episode_info(s, id, &ei)))
                break;
            fnv(&h, &ei.time_ns, sizeof ei.time_ns);
            fnv(&h, &ei.fan_in, sizeof ei.fan_in);
            out->episodes++;
            continue;
        }
        struct cogmem_concept_info ci;
        if ((rc = cogmem_concept_info(s, id, &ci)))
            break;
        fnv(&h, &ci.created_ns, sizeof ci.created_ns);
        fnv(&h, &ci.touched_ns, sizeof ci.touched_ns);
        fnv(&h, &ci.centroid_version, sizeof ci.centroid_version);
        fnv(&h, &ci.binding_version, sizeof ci.binding_version);
        out->concepts++;
        size_t n = 0;
        if ((rc = cogmem_concept_episodes(s, id, peer, NULL, cap, &n)))
            break;
        if (n > cap) {
            cap = n * 2;
            uint64_t *np = realloc(peer, cap * sizeof *np);
            if (!np) {
                rc = -ENOMEM;
                break;
            }
            peer = np;
            if ((rc = cogmem_concept_episodes(s, id, peer, NULL, cap, &n)))
                break;
        }
        for (size_t j = 0; j < n; j++) {
            struct cogmem_binding_info bi;
            if ((rc = cogmem_binding_info(s, peer[j], id, &bi)))
                break;
            fnv(&h, &bi.episode, sizeof bi.episode);
            fnv(&h, &bi.strength, sizeof bi.strength);
            fnv(&h, &bi.created_ns, sizeof bi.created_ns);
            fnv(&h, &bi.touched_ns, sizeof bi.touched_ns);
            fnv(&h, &bi.decayed_ns, sizeof bi.decayed_ns);
        }
        out->bindings += n;
    }
    out->fingerprint = h;
    free(peer);
    free(l.v);
    return rc;
}

/* ------------------------------------------------------------- workload */

static void *worker(void *arg)
{
    struct dstate *d = arg;
    static atomic_uint next_index;
    uint64_t t = atomic_fetch_add(&next_index, 1);
    uint64_t x = d->seed * 0x100000001b3ull + t * 7919 + (uint64_t)time(NULL);
    float *v = malloc(d->dim * sizeof *v);
    unsigned long long n = 0;
    while (v && !atomic_load(&d->stop)) {
        uint64_t r = next_rng(&x);
        uint64_t c = 1 + r % d->concepts, e = EP_BASE + 1 + (r >> 20) % d->episodes;
        int rc = 0;
        switch ((r >> 40) % 8) {
        case 0:
        case 1:
            rc = cogmem_bind(d->s, e, c, (float)((r >> 8) % 1000) / 1000.0f);
            rc = rc == -EEXIST || rc == -ENOENT ? 0 : rc;
            break;
        case 2:
            rc = cogmem_binding_adjust(d->s, e, c, 0.05f, NULL);
            rc = rc == -ENOENT ? 0 : rc;
            break;
        case 3:
            make_vec(v, d->dim, r);
            rc = cogmem_concept_blend(d->s, c, v, 0.1f);
            break;
        case 4:
            rc = cogmem_touch(d->s, (r >> 8) & 1 ? c : e, (uint64_t)time(NULL) * 1000000000ull);
            rc = rc == -ENOENT ? 0 : rc;
            break;
        case 5:
            rc = cogmem_episode_remove(d->s, e);
            rc = rc == -ENOENT ? 0 : rc;
            break;
        default:
            make_vec(v, d->dim, r);
            rc = cogmem_episode_add(d->s, e, v, r >> 24);
            rc = rc == -EEXIST ? 0 : rc;
            break;
        }
        if (rc) {
            cli_report("workload call", rc);
            atomic_store(&d->failed, 1);
            break;
        }
        n++;
    }
    free(v);
    atomic_fetch_add(&d->ops, n);
    return NULL;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static int read_report(const char *path, struct summary *s)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    unsigned long long a, b, c, h;
    int n = fscanf(f, "concepts %llu episodes %llu bindings %llu fingerprint %llx", &a, &b,
                   &c, &h);
    fclose(f);
    if (n != 4)
        return -EBADMSG;
    *s = (struct summary){a, b, c, h};
    return 0;
}

static int write_report(const char *path, const struct summary *s)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -errno;
    fprintf(f, "concepts %llu episodes %llu bindings %llu fingerprint %016llx\n",
            (unsigned long long)s->concepts, (unsigned long long)s->episodes,
            (unsigned long long)s->bindings, (unsigned long long)s->fingerprint);
    return fclose(f) ? -errno : 0;
}

static void print_summary(const char *what, const struct summary *s)
{
    printf("%s: %llu concepts, %llu episodes, %llu bindings, fingerprint %016llx\n", what,
           (unsigned long long)s->concepts, (unsigned long long)s->episodes,
           (unsigned long long)s->bindings, (unsigned long long)s->fingerprint);
}

int cli_demo_dir(const char *dir, double seconds, unsigned threads, uint32_t dim,
                 uint64_t concepts, uint64_t episodes, uint64_t seed)
{
    struct dstate d = {.dim = dim, .concepts = concepts, .episodes = episodes, .seed = seed};
    char rpath[4200];
    snprintf(rpath, sizeof rpath, "%s/%s", dir, REPORT);
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = dim;
    cfg.path = dir;
    cfg.durability = COGMEM_DURABLE_INTERVAL;
    cfg.sync_interval_ms = 100;
    struct cogmem_open_report rep = {.struct_size = sizeof rep};
    int rc = cogmem_open_report(&cfg, &d.s, &rep);
    if (rc) {
        cli_report("cogmem_open", rc);
        if (rep.bad_file[0])
            fprintf(stderr, "cogmem: %s, %s at offset %llu: %s\n", rep.bad_file,
                    rep.bad_section, (unsigned long long)rep.bad_offset, rep.detail);
        return CLI_EXIT_FAIL;
    }
    printf("cogmem %s demo on %s: dim %u, %u threads, %.1f s\n", cogmem_version(), dir, dim,
           threads, seconds);
    printf("opened: snapshot %s, %llu concepts, %llu episodes, %llu bindings from it; "
           "%u journal segments, %llu records replayed, %llu already in the snapshot, "
           "%llu torn bytes dropped\n",
           rep.snapshot[0] ? rep.snapshot : "(none)", (unsigned long long)rep.concepts,
           (unsigned long long)rep.episodes, (unsigned long long)rep.bindings, rep.segments,
           (unsigned long long)rep.records_replayed, (unsigned long long)rep.records_skipped,
           (unsigned long long)rep.tail_bytes_dropped);
    int ok = 1;
    struct summary before = {0}, now = {0};
    rc = read_report(rpath, &before);
    if (rc == 0) {
        print_summary("the last run reported", &before);
        rc = summarise(d.s, dim, &now);
        if (rc) {
            cli_report("reading the store", rc);
            ok = 0;
        } else {
            print_summary("reopened store holds  ", &now);
            ok = memcmp(&before, &now, sizeof now) == 0;
            printf("reopen check %s\n", ok ? "OK" : "FAILED: the store differs");
        }
    } else if (rc != -ENOENT) {
        cli_report("reading " REPORT, rc);
        ok = 0;
    } else {
        printf("first run in this directory: loading\n");
    }
    /* Concepts 1..concepts exist from the first run on. */
    float *v = malloc(dim * sizeof *v);
    for (uint64_t c = 1; ok && v && c <= concepts; c++) {
        make_vec(v, dim, c);
        rc = cogmem_concept_add(d.s, c, v);
        if (rc && rc != -EEXIST) {
            cli_report("cogmem_concept_add", rc);
            ok = 0;
        }
    }
    free(v);
    if (ok) {
        pthread_t th[64];
        unsigned nt = 0;
        for (; nt < threads && nt < 64; nt++)
            if (pthread_create(&th[nt], NULL, worker, &d))
                break;
        sleep_s(seconds / 2);
        rc = cogmem_snapshot(d.s);
        if (rc) {
            cli_report("cogmem_snapshot", rc);
            ok = 0;
        } else {
            printf("snapshot written while %u threads kept writing\n", nt);
        }
        sleep_s(seconds / 2);
        cogmem_decay_params dp;
        cogmem_decay_params_init(&dp);
        rc = cogmem_decay(d.s, &dp, (uint64_t)time(NULL) * 1000000000ull, NULL);
        if (rc) {
            cli_report("cogmem_decay", rc);
            ok = 0;
        }
        atomic_store(&d.stop, true);
        for (unsigned i = 0; i < nt; i++)
            pthread_join(th[i], NULL);
        ok = ok && !atomic_load(&d.failed);
        printf("workload: %llu calls\n", (unsigned long long)atomic_load(&d.ops));
    }
    if (ok) {
        rc = summarise(d.s, dim, &now);
        if (rc == 0)
            rc = write_report(rpath, &now);
        if (rc) {
            cli_report("writing " REPORT, rc);
            ok = 0;
        } else {
            print_summary("this run leaves", &now);
        }
    }
    rc = cogmem_close(&d.s);
    if (rc) {
        cli_report("cogmem_close", rc);
        ok = 0;
    }
    printf("%s\n", ok ? "demo OK" : "demo FAILED");
    return ok ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
