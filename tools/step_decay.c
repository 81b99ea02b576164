/* cogmem demo, step: decay and pruning (mission.h).
 *
 * Every binding decays exponentially with a one-hour half-life, brought
 * forward two hours (so to a quarter of its strength), and those below
 * 0.03 are pruned: exactly the senses never tagged in the concordances
 * (strength 0.1 -> 0.025), while a tagged sense (>= 0.167 -> >= 0.042)
 * stays. The step checks that and that every fan stays exact.
 */
#include "mission.h"

#include <stdlib.h>
#include <time.h>

#define HOUR_NS UINT64_C(3600000000000)

static bool run(struct mission *m)
{
    cogmem_store *s = wordnet_store(m->wn);
    const struct wordnet_counts *c = wordnet_counts(m->wn);
    uint64_t before = 0, after = 0, fan_sum = 0;
    uint32_t fan_before = 0, fan_after = 0;
    uint64_t cue = wordnet_lemma_id(m->wn, m->o->words[0]);
    cogmem_decay_params p;
    cogmem_decay_result r = {.struct_size = sizeof r};
    struct timespec ts;
    bool ok = true;

    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
    cogmem_decay_params_init(&p);
    p.model = COGMEM_DECAY_EXP;
    p.half_life_ns = HOUR_NS;
    p.prune_below = 0.03f;
    if (cogmem_binding_count(s, &before) || (cue && cogmem_fan_in(s, cue, &fan_before)))
        return mission_check(false, "reading the store");
    int rc = cogmem_decay(s, &p, now + 2 * HOUR_NS, &r);
    if (rc)
        return mission_check(false, "cogmem_decay: %s", cogmem_strerror(rc));
    cogmem_binding_count(s, &after);
    if (cue)
        cogmem_fan_in(s, cue, &fan_after);
    for (uint64_t i = 1; i <= c->lemmas; i++) {
        uint32_t f = 0;
        cogmem_fan_in(s, WORDNET_LEMMA_BASE + i, &f);
        fan_sum += f;
    }
    printf("  exponential decay, half-life 1 h, two hours on; prune below 0.03\n");
    printf("  %llu concepts visited, %llu bindings decayed, %llu pruned; "
           "%llu -> %llu bindings\n", (unsigned long long)r.concepts,
           (unsigned long long)r.decayed, (unsigned long long)r.pruned,
           (unsigned long long)before, (unsigned long long)after);
    if (cue)
        printf("  '%s' keeps %u of its %u senses (the tagged ones)\n",
               m->o->words[0], fan_after, fan_before);
    ok = mission_check(r.decayed == before && r.pruned == before - c->tagged &&
                           after == c->tagged,
                       "exactly the %llu untagged senses were pruned",
                       (unsigned long long)(before - c->tagged)) && ok;
    ok = mission_check(fan_sum == after, "the lemmas' fans add up to the "
                       "bindings left (%llu)", (unsigned long long)fan_sum) && ok;
    return ok;
}

const struct demo_step demo_step_decay = {"decay and pruning", run};
