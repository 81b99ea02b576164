/* cogmem tests — the library as a plugin (issue 12): 100 rounds of
 * dlopen(), use from threads, cogmem_close(), dlclose(), with the threads
 * that made calls exiting only after the dlclose(). Whatever the library
 * left registered for those threads (TLS destructors, thread-exit
 * callbacks of counter stripes, RCU reader registrations) must not run
 * code that is no longer mapped. Built only with -Djemalloc=disabled
 * (Debian's libjemalloc uses static TLS: cogmem.h, Caveats); meaningful
 * under ASan, which also checks that every round freed what it took.
 *
 * Usage: dlopen_loop PATH_TO_LIBCOGMEM_SO
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cogmem.h"

#define ROUNDS 100
#define THREADS 4
#define DIM 8

struct api {
    void (*config_init)(cogmem_config *);
    int (*open)(const cogmem_config *, cogmem_store **);
    int (*close)(cogmem_store **);
    int (*concept_add)(cogmem_store *, uint64_t, const float *);
    int (*episode_add)(cogmem_store *, uint64_t, const float *, uint64_t);
    int (*bind)(cogmem_store *, uint64_t, uint64_t, float);
    int (*recall)(cogmem_store *, const float *, unsigned, size_t,
                  const cogmem_recall_params *, cogmem_recall_hit *, size_t *);
    int (*spread)(cogmem_store *, const cogmem_source *, size_t,
                  const cogmem_spread_params *, cogmem_hit *, size_t, size_t *);
    int (*concept_remove)(cogmem_store *, uint64_t);
};

struct worker {
    pthread_t th;
    const struct api *api;
    cogmem_store *store;
    uint64_t base;
    int failed;
    /* the main thread releases the workers only after dlclose() */
    pthread_mutex_t *mu;
    pthread_cond_t *cv;
    int *released;
    int *done;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    const struct api *a = w->api;
    float v[DIM];
    for (int i = 0; i < DIM; i++)
        v[i] = (float)(i + 1 + w->base % 7);
    int bad = 0;
    for (uint64_t k = 0; k < 8; k++) {
        bad |= a->concept_add(w->store, w->base + 2 * k, v) != 0;
        bad |= a->episode_add(w->store, w->base + 2 * k + 1, v, k) != 0;
        bad |= a->bind(w->store, w->base + 2 * k + 1, w->base + 2 * k, 0.5f) != 0;
    }
    cogmem_recall_hit h[4];
    size_t n;
    bad |= a->recall(w->store, v, COGMEM_ALL_KINDS, 4, NULL, h, &n) != 0;
    cogmem_source src = {w->base, 1.0f};
    cogmem_hit sh[4];
    bad |= a->spread(w->store, &src, 1, NULL, sh, 4, &n) != 0;
    bad |= a->concept_remove(w->store, w->base) != 0;
    w->failed = bad;
    pthread_mutex_lock(w->mu);
    (*w->done)++;
    pthread_cond_broadcast(w->cv);
    while (!*w->released)
        pthread_cond_wait(w->cv, w->mu);
    pthread_mutex_unlock(w->mu);
    return NULL; /* exits after the library is gone */
}

#define SYM(field, name)                                                     \
    do {                                                                     \
        *(void **)&api.field = dlsym(h, name);                               \
        if (!api.field) {                                                    \
            fprintf(stderr, "dlsym %s: %s\n", name, dlerror());              \
            return 1;                                                        \
        }                                                                    \
    } while (0)

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s libcogmem.so\n", argv[0]);
        return 2;
    }
    for (int round = 0; round < ROUNDS; round++) {
        void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            fprintf(stderr, "round %d: dlopen: %s\n", round, dlerror());
            return 1;
        }
        struct api api;
        SYM(config_init, "cogmem_config_init");
        SYM(open, "cogmem_open");
        SYM(close, "cogmem_close");
        SYM(concept_add, "cogmem_concept_add");
        SYM(episode_add, "cogmem_episode_add");
        SYM(bind, "cogmem_bind");
        SYM(recall, "cogmem_recall");
        SYM(spread, "cogmem_spread");
        SYM(concept_remove, "cogmem_concept_remove");
        cogmem_config cfg;
        api.config_init(&cfg);
        cfg.dim = DIM;
        cogmem_store *s = NULL;
        if (api.open(&cfg, &s) != 0) {
            fprintf(stderr, "round %d: open failed\n", round);
            return 1;
        }
        pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
        pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
        int released = 0, done = 0;
        struct worker w[THREADS];
        for (int t = 0; t < THREADS; t++) {
            w[t] = (struct worker){.api = &api, .store = s,
                                   .base = 1 + (uint64_t)t * 1000,
                                   .mu = &mu, .cv = &cv, .released = &released,
                                   .done = &done};
            if (pthread_create(&w[t].th, NULL, work, &w[t]) != 0) {
                fprintf(stderr, "round %d: pthread_create\n", round);
                return 1;
            }
        }
        pthread_mutex_lock(&mu);
        while (done < THREADS)
            pthread_cond_wait(&cv, &mu);
        pthread_mutex_unlock(&mu);
        if (api.close(&s) != 0 || s) {
            fprintf(stderr, "round %d: close failed\n", round);
            return 1;
        }
        if (dlclose(h) != 0) {
            fprintf(stderr, "round %d: dlclose: %s\n", round, dlerror());
            return 1;
        }
        pthread_mutex_lock(&mu);
        released = 1;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
        for (int t = 0; t < THREADS; t++) {
            pthread_join(w[t].th, NULL);
            if (w[t].failed) {
                fprintf(stderr, "round %d: a call failed in thread %d\n", round, t);
                return 1;
            }
        }
    }
    printf("%d rounds of dlopen/use/close/dlclose, threads exiting after dlclose\n",
           ROUNDS);
    return 0;
}
