/* cogmem — adds of one id racing across kinds (and within a kind).
 *
 * Each round, two threads (the main thread is one of them, so that only
 * two spin on a two-core machine) leave a spin barrier together and add the same
 * fresh id: a concept on one side and an episode on the other (or the same
 * kind on both, every fourth round). Exactly one add must succeed, the
 * other must get -EEXIST, and afterwards the id must be live in exactly the
 * winner's kind. Starting both from one barrier puts them inside each
 * other's race window far more often than a random mix does.
 *
 *   race_add [--rounds N]   (default 100000; bounded in count, not time)
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cogmem.h"

#define DIM 8

static cogmem_store *store;
static _Atomic unsigned go;    /* round the helper may start */
static _Atomic unsigned ready; /* round the helper is about to run */
static _Atomic unsigned done;  /* round the helper has finished */
static int result[2];
static unsigned rounds = 100000;

/* Spin until *v >= r; yield now and then so a descheduled partner (a busy
 * or sanitised run) gets the core back. */
static void wait_for(_Atomic unsigned *v, unsigned r)
{
    for (unsigned spins = 0;
         atomic_load_explicit(v, memory_order_acquire) < r; spins++)
        if ((spins & 1023) == 1023)
            sched_yield();
}

static int kind_for(int side, unsigned round)
{
    if (round % 4 == 3)
        return COGMEM_CONCEPT; /* same kind on both sides */
    return side == (int)(round & 1) ? COGMEM_CONCEPT : COGMEM_EPISODE;
}

static void add_side(int side, unsigned r)
{
    float v[DIM];
    for (int i = 0; i < DIM; i++)
        v[i] = (float)(side + 1);
    result[side] = kind_for(side, r) == COGMEM_CONCEPT
                       ? cogmem_concept_add(store, r, v)
                       : cogmem_episode_add(store, r, v, r);
}

static void *helper_main(void *arg)
{
    (void)arg;
    for (unsigned r = 1; r <= rounds; r++) {
        /* Acquire: the main thread's cleanup of the last round is done. */
        wait_for(&go, r);
        atomic_store_explicit(&ready, r, memory_order_release);
        add_side(1, r);
        atomic_store_explicit(&done, r, memory_order_release);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--rounds") == 0)
        rounds = (unsigned)strtoul(argv[2], NULL, 10);
    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = DIM;
    if (cogmem_open(&cfg, &store) != 0)
        return 1;
    pthread_t t;
    pthread_create(&t, NULL, helper_main, NULL);
    unsigned bad = 0, cross = 0;
    for (unsigned r = 1; r <= rounds; r++) {
        atomic_store_explicit(&go, r, memory_order_release);
        wait_for(&ready, r);
        add_side(0, r);
        wait_for(&done, r);
        int won = (result[0] == 0) + (result[1] == 0);
        int lost = (result[0] == -EEXIST) + (result[1] == -EEXIST);
        int kind = cogmem_kind_of(store, r);
        int winner_kind = result[0] == 0 ? kind_for(0, r) : kind_for(1, r);
        if (won != 1 || lost != 1 || kind != winner_kind) {
            if (bad++ < 10)
                fprintf(stderr, "race_add: round %u: results %d/%d, kind %d\n", r,
                        result[0], result[1], kind);
        }
        cross += kind_for(0, r) != kind_for(1, r);
        /* Remove it again so the store stays small; the next round uses
         * a new id, so a slow deferred free cannot mask anything. */
        if (kind == COGMEM_CONCEPT)
            cogmem_concept_remove(store, r);
        else if (kind == COGMEM_EPISODE)
            cogmem_episode_remove(store, r);
    }
    pthread_join(t, NULL);
    uint64_t n = 1;
    cogmem_count(store, COGMEM_ALL_KINDS, &n);
    if (n != 0 || cogmem_close(&store) != 0)
        bad++;
    printf("race_add: %u rounds (%u across kinds), %u violations\n", rounds, cross, bad);
    return bad ? 1 : 0;
}
