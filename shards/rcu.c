/* cogmem — RCU glue (see rcu.h). */
#include "shards/rcu.h"
#include "shards/sigmask.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>

#ifdef COGMEM__TSAN
char cogmem__rcu_tsan_sync;
char cogmem__rcu_tsan_thread_sync;
_Thread_local int cogmem__rcu_tsan_thread_seen;
#endif

/* liburcu 0.13's call_rcu worker inherits the signal mask of whichever
 * thread happens to create it. If that thread had signals unblocked, the
 * worker can take a signal a host meant to read through signalfd. We create
 * the default worker ourselves, once, with every signal blocked. */
static void make_worker_with_signals_blocked(void)
{
    sigset_t old;
    cogmem__signals_block_all(&old);
    (void)urcu_bp_get_default_call_rcu_data();
    cogmem__signals_restore(&old);
}

/* Fork: urcu-bp must hold its registry lock across fork() and the call_rcu
 * worker must be stopped, or a child that synchronises (any remove, close)
 * deadlocks on a lock held by a thread that no longer exists. Prepare
 * handlers run in reverse registration order, so one handler set keeps the
 * order explicit: stop call_rcu first, then bp; resume in the reverse. */
static void before_fork(void)
{
    urcu_bp_call_rcu_before_fork();
    urcu_bp_before_fork();
}

static void after_fork_parent(void)
{
    urcu_bp_after_fork_parent();
    urcu_bp_call_rcu_after_fork_parent();
}

static void after_fork_child(void)
{
    /* call_rcu_after_fork_child() starts the child's new default worker
     * from this thread: block signals around it as at first creation. */
    sigset_t old;
    cogmem__signals_block_all(&old);
    urcu_bp_after_fork_child();
    urcu_bp_call_rcu_after_fork_child();
    cogmem__signals_restore(&old);
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int init_rc;

static void init_once(void)
{
    make_worker_with_signals_blocked();
    if (pthread_atfork(before_fork, after_fork_parent, after_fork_child) != 0)
        init_rc = -ENOMEM;
}

int cogmem__rcu_init(void)
{
    pthread_once(&once, init_once);
    return init_rc;
}

_Atomic uint64_t cogmem__rcu_queued;
_Atomic uint64_t cogmem__rcu_done;

void cogmem__rcu_barrier(void)
{
    /* done first (acquire: pairs with each callback's release increment),
     * queued second. Each callback counts in `done` only after it counted
     * in `queued`, so done == queued here means that every callback queued
     * before the first load has finished, and those include every one
     * deferred by what happens before this call. A concurrent deferral
     * only makes us wait. */
    uint64_t done = atomic_load_explicit(&cogmem__rcu_done, memory_order_acquire);
    if (done != atomic_load_explicit(&cogmem__rcu_queued, memory_order_relaxed))
        urcu_bp_barrier();
    /* For ThreadSanitizer: what the callbacks wrote (they end with a
     * release on the sync address, COGMEM__RCU_RECLAIM_END) happens before
     * what the caller does next, e.g. cogmem_close freeing slab chunks. */
    COGMEM__TSAN_ACQUIRE();
}
