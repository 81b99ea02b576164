/* cogmem — starting library threads with every signal blocked.
 *
 * A thread inherits its creator's signal mask. Every thread the library
 * causes to exist (liburcu's call_rcu and hash-table workers, recall batch
 * workers) must block all signals, or it can take a signal a host meant to
 * read through signalfd. So whatever starts one brackets it with these.
 */
#ifndef COGMEM_SHARDS_SIGMASK_H
#define COGMEM_SHARDS_SIGMASK_H

#include <pthread.h>
#include <signal.h>

/* Block every signal in the calling thread; the previous mask goes to *old. */
static inline void cogmem__signals_block_all(sigset_t *old)
{
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, old);
}

/* Put back the mask saved by cogmem__signals_block_all. */
static inline void cogmem__signals_restore(const sigset_t *old)
{
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

#endif /* COGMEM_SHARDS_SIGMASK_H */
