/* cogmem — journaling the value words that spreading and forgetting store:
 * a node's activation (cogmem_spread with store_activation) and an
 * episode's strength (cogmem_forget). Both are results of a computation
 * over the whole graph, so the journal keeps the value (J_WORD), not the
 * call, and replay stores it back.
 *
 * Order: the word is stored and its record appended holding the id's
 * stripe (hooks.h), so that two calls storing into one node append in the
 * order their stores happened, a removal of the node is ordered with the
 * store, and a snapshot's copy (which holds the stripe too) splits them
 * exactly at its LSN mark. */
#include <errno.h>

#include "src/bind.h"
#include "src/persist/internal.h"

static _Atomic uint32_t *word_of(struct cogmem__node *n, enum cogmem_kind kind,
                                 unsigned field)
{
    if (field == COGMEM__WORD_ACTIVATION)
        return &n->activation_bits;
    if (field == COGMEM__WORD_STRENGTH && kind == COGMEM_EPISODE)
        return &n->strength_bits;
    return NULL;
}

int cogmem__pj_word(cogmem_store *st, enum cogmem_kind kind, uint64_t id, unsigned field,
                    float value, uint64_t *last)
{
    struct cogmem__persist *p = st->persist;
    if (atomic_load_explicit(&p->jr.failed, memory_order_relaxed))
        return -EIO;
    if (cogmem__rcu_in_reader())
        return -EDEADLK;
    cogmem__stripes_lock(p, id, 0);
    cogmem__rcu_lock();
    struct cogmem__node *n = cogmem__find_live(st, kind, id);
    _Atomic uint32_t *w = n ? word_of(n, kind, field) : NULL;
    int rc = w ? 0 : -ENOENT;
    if (w) {
        uint32_t bits = cogmem__f2u(value);
        /* Relaxed: a value for readers; the stripe orders it with the
         * record (and the append's release with a snapshot's copy). */
        atomic_store_explicit(w, bits, memory_order_relaxed);
        struct cogmem__jp_word r = {.id = id, .kind = (uint32_t)kind, .field = field,
                                    .bits = bits};
        uint64_t lsn = cogmem__jr_append(&p->jr, COGMEM__J_WORD, &r, sizeof r, NULL, 0);
        if (lsn > *last)
            *last = lsn;
    }
    cogmem__rcu_unlock();
    cogmem__stripes_unlock(p, id, 0);
    return rc;
}

int cogmem__pj_word_wait(cogmem_store *st, uint64_t last)
{
    struct cogmem__persist *p = st->persist;
    if (!p->jr.on)
        return 0;
    if (last == 0) /* nothing stored, or stored but the journal had stopped */
        return atomic_load_explicit(&p->jr.failed, memory_order_relaxed) ? -EIO : 0;
    return cogmem__jr_wait(&p->jr, last, 0);
}

int cogmem__jr_apply_word(cogmem_store *st, const struct cogmem__jp_word *a)
{
    if ((a->kind != COGMEM_CONCEPT && a->kind != COGMEM_EPISODE) || a->pad)
        return -EBADMSG;
    cogmem__rcu_lock();
    struct cogmem__node *n = cogmem__find_live(st, (enum cogmem_kind)a->kind, a->id);
    _Atomic uint32_t *w = n ? word_of(n, (enum cogmem_kind)a->kind, a->field) : NULL;
    if (w)
        atomic_store_explicit(w, a->bits, memory_order_relaxed);
    cogmem__rcu_unlock();
    if (w)
        return 0;
    return n || (a->field != COGMEM__WORD_ACTIVATION && a->field != COGMEM__WORD_STRENGTH)
               ? -EBADMSG
               : -ENOENT;
}
