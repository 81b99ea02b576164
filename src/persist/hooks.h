/* cogmem — the persistence hooks src/ calls (see cogmem_persist.h); defined in persist.c.
 *
 * How the journal's order is made the commit order, without a global
 * lock:
 *  - Node-level mutations (add, remove, set_centroid, blend, touch) run,
 *    on a store with a path, inside a wrapper that holds the id's stripe
 *    mutex across the mutation and the append of its record (the GATE
 *    below, one line at the top of each public function). Two mutations of
 *    one id therefore append in the order they committed.
 *  - A concept's binding list is changed only under its spinlock; the
 *    record of each such change (bind, adjust, unbind, the unbinding done by
 *    an episode's removal, a decay's result) is appended before that lock
 *    is released (the in-lock HOOKS below). An episode's list likewise:
 *    bind and unbind hold its lock too when they append, and a concept
 *    leaving it by a concept's removal or a prune is logged under it, so
 *    replay reproduces the order of both kinds of list. bind/adjust/unbind also hold
 *    the stripes of both ids, so a binding's record follows the add of
 *    both its nodes.
 *  - A snapshot copies each node holding its stripe and its list's lock,
 *    and stores the journal's next LSN read there: every record about that
 *    node with a smaller LSN is in the copy, every later one is not. Replay
 *    skips the former (struct cogmem__snap_node.lsn). A node the walk did
 *    not see was either added after the journal rotated (its ADD follows
 *    the snapshot's first LSN) or being removed: the copy then takes every
 *    stripe once, so such a removal has appended its REMOVE before the
 *    copy's end LSN is read, and replay takes the records below that end
 *    about absent nodes as no-ops (struct cogmem__snap_header.end_lsn).
 * Waiting for durability (write / fdatasync) happens in the wrapper after
 * every lock is released.
 *
 * Lock order: stripe mutexes (ascending index) -> concept list spinlock ->
 * episode list spinlock -> journal buffer mutex. The journal's I/O mutex
 * is taken only with no other of these held.
 */
#ifndef COGMEM_SRC_PERSIST_PERSIST_H
#define COGMEM_SRC_PERSIST_PERSIST_H

#include <stdint.h>

#include "src/store.h"

struct cogmem__persist;

/* Non-zero while this thread runs inside a persistence wrapper: the
 * wrapped public function must then do its work instead of re-entering. */
extern _Thread_local int cogmem__pj_inside;

/* Route a public mutating call through its wrapper when the store has a
 * directory. `call` is the wrapper call (it calls the public function
 * again, which then passes this gate). */
#define COGMEM__PERSIST_GATE(st, call)                                         \
    do {                                                                       \
        if ((st) && (st)->persist && !cogmem__pj_inside)                       \
            return (call);                                                     \
    } while (0)

int cogmem__pj_concept_add(cogmem_store *st, uint64_t id, const float *v);
int cogmem__pj_episode_add(cogmem_store *st, uint64_t id, const float *v,
                           uint64_t time_ns);
int cogmem__pj_remove(cogmem_store *st, enum cogmem_kind kind, uint64_t id);
int cogmem__pj_set_centroid(cogmem_store *st, uint64_t id, const float *v);
int cogmem__pj_blend(cogmem_store *st, uint64_t id, const float *x, float rate);
int cogmem__pj_touch(cogmem_store *st, uint64_t id, uint64_t now_ns);
int cogmem__pj_bind(cogmem_store *st, uint64_t e, uint64_t c, float s);
int cogmem__pj_adjust(cogmem_store *st, uint64_t e, uint64_t c, float delta,
                      float *new_strength);
int cogmem__pj_unbind(cogmem_store *st, uint64_t e, uint64_t c);
int cogmem__pj_decay(cogmem_store *st, const cogmem_decay_params *p, uint64_t now_ns,
                     cogmem_decay_result *out);

/* In-lock hooks (the concept's list lock is held; cn is the concept's
 * node). No-ops without a journal: each is an inline test of
 * st->persist in front of an out-of-line recorder (persist.c, the _rec
 * functions, which only these call), so that a store without a directory
 * pays a load and a branch, not a call. Measured on cogmem_binding_adjust
 * (bench_bind --only latency --reps 7, 1 thread, three alternating rounds
 * of the two builds): 39.8-40.8 ns with the test inside the call,
 * 37.8-38.7 ns with it here. */
void cogmem__jr_bind_rec(cogmem_store *st, struct cogmem__node *cn, uint64_t e,
                         uint64_t c, float s, uint64_t now_ns);
void cogmem__jr_adjust_rec(cogmem_store *st, uint64_t e, uint64_t c, float s,
                           uint64_t now_ns);
void cogmem__jr_unbind_rec(cogmem_store *st, struct cogmem__node *cn, uint64_t e,
                           uint64_t c);
void cogmem__jr_edrop_rec(cogmem_store *st, uint64_t e, uint64_t concept);
void cogmem__jr_clist_rec(cogmem_store *st, struct cogmem__node *cn,
                          const struct cogmem__blist *cl);

static inline void cogmem__jr_bind(cogmem_store *st, struct cogmem__node *cn,
                                   uint64_t e, uint64_t c, float s, uint64_t now_ns)
{
    if (st->persist)
        cogmem__jr_bind_rec(st, cn, e, c, s, now_ns);
}

static inline void cogmem__jr_adjust(cogmem_store *st, uint64_t e, uint64_t c,
                                     float s, uint64_t now_ns)
{
    if (st->persist)
        cogmem__jr_adjust_rec(st, e, c, s, now_ns);
}

static inline void cogmem__jr_unbind(cogmem_store *st, struct cogmem__node *cn,
                                     uint64_t e, uint64_t c)
{
    if (st->persist)
        cogmem__jr_unbind_rec(st, cn, e, c);
}

/* `concept` left episode `e`'s list by a concept's removal or a decay's
 * prune (the episode's list lock is held). */
static inline void cogmem__jr_edrop(cogmem_store *st, uint64_t e, uint64_t concept)
{
    if (st->persist)
        cogmem__jr_edrop_rec(st, e, concept);
}

/* After a decay changed concept cn's list `cl` (its whole content). */
static inline void cogmem__jr_clist(cogmem_store *st, struct cogmem__node *cn,
                                    const struct cogmem__blist *cl)
{
    if (st->persist)
        cogmem__jr_clist_rec(st, cn, cl);
}

/* The value words spreading and forgetting store (words.c). With a
 * store that has a directory, cogmem_spread (store_activation) and
 * cogmem_forget store each value through cogmem__pj_word, outside any
 * read-side section: it stores `value` into node (kind, id)'s word
 * (COGMEM__WORD_ACTIVATION, or COGMEM__WORD_STRENGTH of an episode) and
 * journals it, holding the id's stripe, and raises *last to the record's
 * LSN. 0; -ENOENT (no such node now: nothing stored); -EIO (the journal
 * had failed: nothing stored); -EDEADLK (inside a read-side section).
 * Then cogmem__pj_word_wait(st, last) waits until those records are as
 * durable as the level says: 0 or a negative errno. */
int cogmem__pj_word(cogmem_store *st, enum cogmem_kind kind, uint64_t id, unsigned field,
                    float value, uint64_t *last);
int cogmem__pj_word_wait(cogmem_store *st, uint64_t last);
#define COGMEM__WORD_ACTIVATION 1u
#define COGMEM__WORD_STRENGTH 2u

/* From cogmem_open(), once the store is built: with cfg.path, take the
 * directory, recover it into st and start the journal. 0 or a negative
 * errno (then the caller tears the store down). Without a path: 0. */
int cogmem__persist_attach(cogmem_store *st);

/* From cogmem_close(), before anything is freed: flush and sync the
 * journal, stop its thread, release the directory. */
void cogmem__persist_detach(cogmem_store *st);

#endif /* COGMEM_SRC_PERSIST_PERSIST_H */
