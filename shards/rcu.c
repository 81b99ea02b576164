/* cogmem — RCU glue (see rcu.h). */
#include "shards/rcu.h"
#include "shards/sigmask.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>

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
/* The fork gate: bit 31 says a fork is under way, the low bits count the
 * sections in progress. C11 atomics, not a pthread rwlock: glibc's
 * rwlock remembers its writer's thread id, which the child's thread does
 * not have, so the child could not unlock it. `forking` keeps two threads
 * that fork at once from sharing the writer's bit. */
#define GATE_FORK 0x80000000u
static _Atomic uint32_t gate;
static atomic_flag forking = ATOMIC_FLAG_INIT;

void cogmem__fork_exclude_begin(void)
{
    for (;;) {
        /* Acquire: a section after a fork sees what the fork handlers did. */
        if (!(atomic_fetch_add_explicit(&gate, 1, memory_order_acquire) & GATE_FORK))
            return;
        atomic_fetch_sub_explicit(&gate, 1, memory_order_relaxed);
        while (atomic_load_explicit(&gate, memory_order_relaxed) & GATE_FORK)
            sched_yield();
    }
}

int cogmem__fork_exclude_try_begin(void)
{
    if (!(atomic_fetch_add_explicit(&gate, 1, memory_order_acquire) & GATE_FORK))
        return 1;
    atomic_fetch_sub_explicit(&gate, 1, memory_order_relaxed);
    return 0;
}

void cogmem__fork_exclude_end(void)
{
    /* Release: the section's work happens before the fork that waits. */
    atomic_fetch_sub_explicit(&gate, 1, memory_order_release);
}

static void gate_close(void)
{
    while (atomic_flag_test_and_set_explicit(&forking, memory_order_acquire))
        sched_yield();
    atomic_fetch_or_explicit(&gate, GATE_FORK, memory_order_relaxed);
    /* Acquire: pairs with the sections' release at their end. */
    while (atomic_load_explicit(&gate, memory_order_acquire) & ~GATE_FORK)
        sched_yield();
}

static void gate_open(void)
{
    atomic_fetch_and_explicit(&gate, ~GATE_FORK, memory_order_release);
    atomic_flag_clear_explicit(&forking, memory_order_release);
}

struct cogmem__fork_cell cogmem__fork_cells[COGMEM__FORK_CELLS];
struct cogmem__fork_gate cogmem__fork_lists;

void cogmem__fork_lists_wait(void)
{
    /* Acquire: what the fork handlers did happens before our section. */
    while (atomic_load_explicit(&cogmem__fork_lists.closed, memory_order_acquire))
        sched_yield();
}

/* Close the list gate, then wait until no thread holds a list lock. The
 * seq_cst store pairs with the lockers' seq_cst exchange and gate load
 * (shards/bindex.c): either a locker sees the gate closed, or we see its
 * cell. Acquire loads: the holders' sections (and their release of the
 * lock words) happen before the copy of the memory. */
static void lists_close(void)
{
    atomic_store_explicit(&cogmem__fork_lists.closed, 1, memory_order_seq_cst);
    for (;;) {
        uint64_t held = 0;
        for (unsigned i = 0; i < COGMEM__FORK_CELLS; i++)
            held += atomic_load_explicit(&cogmem__fork_cells[i].held, memory_order_seq_cst);
        if (held == 0)
            return;
        sched_yield();
    }
}

static void lists_open(void)
{
    atomic_store_explicit(&cogmem__fork_lists.closed, 0, memory_order_release);
}

static void before_fork(void)
{
    /* First, so that no table migration is half done in the child (its
     * writers would wait for the frozen table forever). No list lock is
     * held across a migration, so the list gate can close after it.
     * The call_rcu worker is paused BEFORE the list gate closes: a thread
     * that meets the closed gate waits inside its read-side section, so a
     * grace period the worker might be waiting for could not end, and
     * pausing the worker (which waits for its current batch) would never
     * return (test hazards/test_fork_during_binds hung so once tables and
     * the list registry deferred frees of their own). Paused first, the
     * worker waits for nothing while the lockers drain. */
    gate_close();
    urcu_bp_call_rcu_before_fork();
    lists_close();
    urcu_bp_before_fork();
}

static void after_fork_parent(void)
{
    urcu_bp_after_fork_parent();
    urcu_bp_call_rcu_after_fork_parent();
    lists_open();
    gate_open();
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
    /* No section was in progress when the memory was copied, and the
     * child's only thread is the one that closed the gate; no list lock
     * was held, and the cells of the parent's other threads were 0. */
    lists_open();
    gate_open();
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int init_rc;

/* dlclose(): liburcu-bp 0.13 registers a thread-exit key destructor of
 * its own and never deletes it, so if unloading us also unloaded it (we
 * are often its only user), a reader thread exiting afterwards would jump
 * into unmapped code. Mark it never to be unloaded (RTLD_NOLOAD finds the
 * copy already mapped; RTLD_NODELETE then sticks to it). Our own key is
 * deleted by a destructor (shards/kind.c). */
static void pin_urcu_bp(void)
{
    Dl_info info;
    if (dladdr((void *)&urcu_bp_barrier, &info) && info.dli_fname) {
        void *h = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
        if (h)
            dlclose(h); /* drops our extra reference; NODELETE stays */
    }
}

static void init_once(void)
{
    pin_urcu_bp();
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

/* Unloading the library (dlclose) or exit: callbacks still queued would
 * run our code, and closed stores whose memory they hold would never be
 * freed. Wait for them. A full barrier whenever anything was ever
 * deferred: the count alone could be read while the worker is still
 * returning from the last callback's code. Then, and only then (one
 * destructor: the order of several is not defined), empty numa/mem.c's
 * pools, into which those callbacks released their stores. */
__attribute__((destructor)) static void rcu_fini(void)
{
    if (atomic_load_explicit(&cogmem__rcu_queued, memory_order_relaxed) != 0)
        urcu_bp_barrier();
    cogmem__mem_pools_fini();
}
