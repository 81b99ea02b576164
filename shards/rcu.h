/* cogmem — RCU glue: the only file that knows which liburcu flavour we use.
 *
 * Flavour: urcu-bp ("bulletproof"). A library cannot ask its host to
 * register threads; urcu-bp registers a thread on its first read-side lock
 * and unregisters it when the thread exits, and it costs the same as memb on
 * the read side. (urcu-memb aborts when the host already registered the
 * thread with another flavour's rules.)
 *
 * ThreadSanitizer does not see liburcu's grace periods. So that TSan still
 * checks our code, TSan builds annotate them: every read-side unlock is a
 * release on one sync address and every reclaim callback starts with an
 * acquire on it. That is exactly the ordering a grace period provides (a
 * callback runs after every reader that could see the object has unlocked),
 * made visible, and it adds nothing to non-TSan builds.
 */
#ifndef COGMEM_SHARDS_RCU_H
#define COGMEM_SHARDS_RCU_H

#ifndef _LGPL_SOURCE
#define _LGPL_SOURCE /* inline read-side lock/unlock: ~1 ns instead of a call */
#endif
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <urcu-bp.h>

#include "numa/mem.h"

#if defined(__SANITIZE_THREAD__)
#define COGMEM__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define COGMEM__TSAN 1
#endif
#endif

#ifdef COGMEM__TSAN
#include <sanitizer/tsan_interface.h>
extern char cogmem__rcu_tsan_sync;
#define COGMEM__TSAN_RELEASE() __tsan_release(&cogmem__rcu_tsan_sync)
#define COGMEM__TSAN_ACQUIRE() __tsan_acquire(&cogmem__rcu_tsan_sync)
#else
#define COGMEM__TSAN_RELEASE() ((void)0)
#define COGMEM__TSAN_ACQUIRE() ((void)0)
#endif

/* One-time process setup (idempotent, thread-safe): installs the fork
 * handlers and makes sure the call_rcu worker exists with every signal
 * blocked. Called by cogmem_open(). Returns 0 or -ENOMEM. */
int cogmem__rcu_init(void);

/* Thread churn, for TSan: urcu-bp gives an exited reader's registry slot
 * to the next thread that registers, whose inlined read-side lock then
 * touches the word the old thread's unlock wrote, ordered only by
 * liburcu's own mutex, which TSan does not see. So every unlock also ends
 * with a release on a second address, and a thread's first lock registers
 * the thread (in liburcu, uninstrumented) and only then acquires it: the
 * acquire must come after the slot's handover, or the old owner's last
 * unlocks could still follow it. */
#ifdef COGMEM__TSAN
extern char cogmem__rcu_tsan_thread_sync;
extern _Thread_local int cogmem__rcu_tsan_thread_seen;
#define COGMEM__TSAN_THREAD_FIRST()                                            \
    do {                                                                       \
        if (!cogmem__rcu_tsan_thread_seen) {                                   \
            cogmem__rcu_tsan_thread_seen = 1;                                  \
            urcu_bp_register_thread();                                         \
            __tsan_acquire(&cogmem__rcu_tsan_thread_sync);                     \
        }                                                                      \
    } while (0)
#define COGMEM__TSAN_THREAD_LAST() __tsan_release(&cogmem__rcu_tsan_thread_sync)
#else
#define COGMEM__TSAN_THREAD_FIRST() ((void)0)
#define COGMEM__TSAN_THREAD_LAST() ((void)0)
#endif

static inline void cogmem__rcu_lock(void)
{
    COGMEM__TSAN_THREAD_FIRST();
    urcu_bp_read_lock();
}

static inline void cogmem__rcu_unlock(void)
{
    COGMEM__TSAN_RELEASE();
    urcu_bp_read_unlock();
    COGMEM__TSAN_THREAD_LAST();
}

/* Non-zero inside a read-side section of the calling thread. */
static inline int cogmem__rcu_in_reader(void) { return urcu_bp_read_ongoing(); }

/* Callbacks queued and finished so far, process-wide: they let
 * cogmem__rcu_barrier() skip liburcu's barrier (a grace period and a
 * round trip through the call_rcu worker) when nothing is outstanding. */
extern _Atomic uint64_t cogmem__rcu_queued;
extern _Atomic uint64_t cogmem__rcu_done;

/* Run fn(head) after a grace period, on the call_rcu worker; fn frees into
 * `mem`, which it holds until then (cogmem__mem_hold), so that closing a
 * store never waits for the worker: the last callback to finish releases
 * a closed store's memory instead (liburcu's worker sleeps 10 ms after
 * each wake-up to batch callbacks, which a barrier at every close paid).
 * Every fn must begin with COGMEM__RCU_RECLAIM_BEGIN() and end with
 * COGMEM__RCU_RECLAIM_END(mem), and defer nothing itself. The hand-off is
 * a release point too: a thread that retires an object outside any
 * read-side section (the last cogmem_vec_put) has touched it last. */
static inline void cogmem__rcu_defer(struct cogmem__mem *mem, struct rcu_head *head,
                                     void (*fn)(struct rcu_head *))
{
    COGMEM__TSAN_RELEASE();
    cogmem__mem_hold(mem);
    /* Relaxed: counted before the enqueue, whose full barriers (liburcu's)
     * order it before the callback's increment of cogmem__rcu_done. */
    atomic_fetch_add_explicit(&cogmem__rcu_queued, 1, memory_order_relaxed);
    urcu_bp_call_rcu(head, fn);
}

#define COGMEM__RCU_RECLAIM_BEGIN() COGMEM__TSAN_ACQUIRE()

/* Ends every reclaim callback, with the memory it freed into (read before
 * the free: the object is gone). Its writes may outlive it (a row returned
 * to a slab's free list is written by the callback, then freed with the
 * store): the hold's acq_rel drop orders them before the store's release,
 * and the release increment (and, for ThreadSanitizer, the release on the
 * sync address) before a barrier that sees the count. The hold goes
 * first, so that a barrier that sees the count also sees a closed store
 * released (the library's destructor relies on it: rcu.c). */
#define COGMEM__RCU_RECLAIM_END(mem)                                           \
    do {                                                                       \
        COGMEM__TSAN_RELEASE();                                                \
        cogmem__mem_unhold(mem);                                               \
        atomic_fetch_add_explicit(&cogmem__rcu_done, 1, memory_order_release); \
    } while (0)

/* Bracket work that must never be caught half done by fork(): a child
 * would inherit its locks held by a thread that does not exist there.
 * Shared among such sections (they may overlap each other); the fork
 * handlers take it exclusively, so fork() waits for sections in progress
 * and holds new ones off until the child and parent have resumed. Used
 * around our hash tables' migrations (shards/set.c), which freeze a table
 * that writers then wait on. A section may not wait for anything a fork
 * waits for. */
void cogmem__fork_exclude_begin(void);
void cogmem__fork_exclude_end(void);

/* Begin a section unless a fork is under way (then 0, nothing begun). For
 * callers inside a read-side section, which must not wait for a fork: the
 * fork handlers stop the call_rcu worker, which may be waiting for that
 * section to end. */
int cogmem__fork_exclude_try_begin(void);

/* The fork gate of the binding lists' spinlocks (shards/bindex.h), which
 * are taken far too often for the gate above (one shared counter): each
 * thread counts the list locks it holds in its counter stripe's cell
 * (shards/kind.h; a plain store, it is the cell's only writer), and the
 * fork prepare handler sets `closed`, then waits until every cell is 0.
 * A thread that takes its outermost list lock and then finds the gate
 * closed lets the lock go and waits for the fork to finish. So no list
 * lock is held when the child's memory is copied. */
#define COGMEM__FORK_CELLS 9u /* = COGMEM__STRIPE_SLOTS (kind.h) */
struct cogmem__fork_cell {
    alignas(64) _Atomic uint64_t held;
};
extern struct cogmem__fork_cell cogmem__fork_cells[COGMEM__FORK_CELLS];
/* The gate word, on a line of its own: every outermost list lock reads
 * it (bindex.h), so a word written often beside it would cost each of
 * them a miss. The linker had put it in the line of cogmem__rcu_queued,
 * which every deferred free increments: an adjust on one CPU beside
 * centroid replacements on the other took 1.37-1.47x its time alone, and
 * 1.00-1.01x with the line its own (bench_bind's "adjust beside a
 * centroid writer" line, three alternating rounds). */
struct cogmem__fork_gate {
    alignas(64) _Atomic uint32_t closed;
};
_Static_assert(sizeof(struct cogmem__fork_gate) == 64, "the gate fills its line");
extern struct cogmem__fork_gate cogmem__fork_lists;

/* Spin (yielding) until the fork under way has finished. */
void cogmem__fork_lists_wait(void);

/* Wait until every callback deferred so far (by anything that happens
 * before this call) has run; returns at once when none is outstanding.
 * Must not be called in a read-side section. */
void cogmem__rcu_barrier(void);

#endif /* COGMEM_SHARDS_RCU_H */
