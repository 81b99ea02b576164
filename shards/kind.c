/* cogmem — a kind's leaf context and the counter stripes (see kind.h). */
#include "shards/kind.h"

#include <pthread.h>
#include <stdint.h>

_Thread_local unsigned cogmem__stripe_tls;

/* 1 while a live thread owns the stripe. */
static _Atomic unsigned char stripe_owned[COGMEM__STRIPES];
static pthread_key_t stripe_key;
static pthread_once_t stripe_once = PTHREAD_ONCE_INIT;
/* 1 while the key exists. Atomic (relaxed): the library's destructor
 * clears it while, at process exit, other threads may still count. */
static _Atomic int stripe_key_ok;

/* Thread exit: give the stripe back. Release: our last plain stores to its
 * cells happen before the next owner's loads (its claim is an acquire). A
 * destructor of the host's that runs after this one and counts still
 * counts correctly, in the shared slot. */
static void stripe_release(void *v)
{
    unsigned slot = (unsigned)(uintptr_t)v - 1;
    cogmem__stripe_tls = COGMEM__STRIPE_SHARED + 1;
    atomic_store_explicit(&stripe_owned[slot], 0, memory_order_release);
}

static void stripe_key_init(void)
{
    atomic_store_explicit(&stripe_key_ok,
                          pthread_key_create(&stripe_key, stripe_release) == 0,
                          memory_order_relaxed);
}

/* When the library is unloaded (dlclose of a build without jemalloc) or
 * the process exits: delete the key, so that no thread that exits later
 * calls stripe_release, whose code may be gone. A thread that counts
 * afterwards finds no key and uses the shared slot. */
__attribute__((destructor)) static void stripe_key_fini(void)
{
    if (atomic_exchange_explicit(&stripe_key_ok, 0, memory_order_relaxed))
        (void)pthread_key_delete(stripe_key);
}

unsigned cogmem__stripe_draw(void)
{
    unsigned slot = COGMEM__STRIPE_SHARED;
    pthread_once(&stripe_once, stripe_key_init);
    for (unsigned i = 0; atomic_load_explicit(&stripe_key_ok, memory_order_relaxed) &&
                       i < COGMEM__STRIPES; i++) {
        unsigned char free_ = 0;
        /* Acquire: the previous owner's stores to the cells happen before
         * ours (it released the stripe at exit). */
        if (atomic_compare_exchange_strong_explicit(&stripe_owned[i], &free_, 1,
                                                    memory_order_acquire,
                                                    memory_order_relaxed)) {
            if (pthread_setspecific(stripe_key, (void *)(uintptr_t)(i + 1)) != 0) {
                atomic_store_explicit(&stripe_owned[i], 0, memory_order_release);
                break;
            }
            slot = i;
            break;
        }
    }
    cogmem__stripe_tls = slot + 1;
    return slot + 1;
}

void cogmem__kind_init(struct cogmem__kind *k, struct cogmem__mem *mem,
                       enum cogmem__mem_kind mem_kind, int counting,
                       uint64_t hash_seed)
{
    k->hash_seed = hash_seed;
    k->mem = mem;
    k->mem_kind = mem_kind;
    k->counting = counting;
    for (unsigned t = 0; t < COGMEM__STRIPE_SLOTS; t++)
        atomic_init(&k->vec_refs[t].n, 0);
    for (unsigned i = 0; i < COGMEM__NSHARDS; i++) {
        atomic_init(&k->home[i], NULL);
        for (unsigned t = 0; t < COGMEM__STRIPE_SLOTS; t++)
            for (unsigned c = 0; c < 8; c++)
                atomic_init(&k->ctr[t][i].v[c], 0);
    }
}

int64_t cogmem__kind_vec_refs(struct cogmem__kind *k)
{
    int64_t sum = 0;
    for (unsigned t = 0; t < COGMEM__STRIPE_SLOTS; t++)
        sum += atomic_load_explicit(&k->vec_refs[t].n, memory_order_acquire);
    return sum;
}
