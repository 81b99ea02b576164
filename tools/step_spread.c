/* cogmem demo, step: spreading activation from cue words, and the fan
 * effect (mission.h).
 *
 * A lemma bound to many synsets (a word with many senses) divides the
 * activation it spreads among them: with one hop, hop decay 1 and
 * strengths ignored, each sense of a word with fan f receives exactly
 * 1/sqrt(f) (COGMEM_FAN_INV_SQRT) or max(0, S - ln(f + 1)) (ACT-R's S_ji,
 * S = 2). The table takes one lemma for each of several fans and checks
 * both against those formulas.
 */
#include "mission.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>

#define TOP 6
#define MAX_FAN 128

/* The mean activation the senses of `lemma` receive in one hop. */
static int sense_mean(cogmem_store *s, uint64_t lemma, int fan_mode,
                      int use_strength, double *mean)
{
    cogmem_source src = {lemma, 1.0f};
    cogmem_spread_params p;
    cogmem_hit hits[MAX_FAN + 1];
    size_t n = 0;
    double sum = 0;
    unsigned senses = 0;

    cogmem_spread_params_init(&p);
    p.max_depth = 1;
    p.hop_decay = 1.0f;
    p.use_strength = use_strength;
    p.fan_mode = fan_mode;
    int rc = cogmem_spread(s, &src, 1, &p, hits, MAX_FAN + 1, &n);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (hits[i].id != lemma) {
            sum += hits[i].activation;
            senses++;
        }
    *mean = senses ? sum / senses : 0.0;
    return 0;
}

static bool show_cues(struct mission *m)
{
    cogmem_store *s = wordnet_store(m->wn);
    bool ok = true;
    char desc[400];

    for (unsigned w = 0; w < m->o->n_words; w++) {
        cogmem_source src = {wordnet_lemma_id(m->wn, m->o->words[w]), 1.0f};
        cogmem_hit hits[TOP + 1];
        size_t n = 0;
        uint32_t fan = 0;
        if (!src.id || cogmem_fan_in(s, src.id, &fan) ||
            cogmem_spread(s, &src, 1, NULL, hits, TOP + 1, &n)) {
            ok = mission_check(false, "spreading from '%s'", m->o->words[w]) && ok;
            continue;
        }
        printf("  from '%s' (%u senses), two hops, the most active nodes:\n",
               m->o->words[w], fan);
        for (size_t i = 1; i < n; i++) { /* hits[0] is the cue itself */
            wordnet_describe(m->wn, hits[i].id, desc, sizeof desc);
            printf("    %.4f  %-10llu %.80s\n", (double)hits[i].activation,
                   (unsigned long long)hits[i].id, desc);
        }
    }
    return ok;
}

/* A lemma made of letters only reads better in the table than "'hood". */
static bool plain_word(const char *w)
{
    for (; *w; w++)
        if (!isalpha((unsigned char)*w))
            return false;
    return true;
}

static bool run(struct mission *m)
{
    /* The last row is filled with the word of the most senses. */
    uint32_t fans[] = {1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 0};
    enum { NF = sizeof fans / sizeof fans[0] };
    cogmem_store *s = wordnet_store(m->wn);
    const struct wordnet_counts *c = wordnet_counts(m->wn);
    uint64_t pick[NF] = {0};
    bool ok = show_cues(m);

    /* The first lemma with each fan (over every lemma: a lock-free read
     * of each one's record). */
    for (uint64_t i = 1; i <= c->lemmas; i++) {
        uint32_t fan;
        uint64_t id = WORDNET_LEMMA_BASE + i;
        if (cogmem_fan_in(s, id, &fan) || !plain_word(wordnet_lemma_name(m->wn, id)))
            continue;
        for (unsigned k = 0; k + 1 < NF; k++)
            if (fan == fans[k] && !pick[k])
                pick[k] = id;
        if (fan > fans[NF - 1] && fan > fans[NF - 2] && fan <= MAX_FAN) {
            fans[NF - 1] = fan;
            pick[NF - 1] = id;
        }
    }
    printf("\n  the fan effect: activation each sense receives from its word, one hop\n");
    printf("  %5s  %-22s %10s %10s %12s\n", "fan", "word", "1/sqrt(f)", "ACT-R S_ji",
           "x strength");
    double prev = INFINITY, prev_actr = INFINITY;
    unsigned rows = 0, exact = 0, falling = 0;
    for (unsigned k = 0; k < NF; k++) {
        double inv, actr, st;
        if (!pick[k])
            continue;
        if (sense_mean(s, pick[k], COGMEM_FAN_INV_SQRT, 0, &inv) ||
            sense_mean(s, pick[k], COGMEM_FAN_ACTR, 0, &actr) ||
            sense_mean(s, pick[k], COGMEM_FAN_INV_SQRT, 1, &st)) {
            ok = mission_check(false, "spreading from lemma %llu",
                               (unsigned long long)pick[k]) && ok;
            continue;
        }
        printf("  %5u  %-22.22s %10.4f %10.4f %12.4f\n", fans[k],
               wordnet_lemma_name(m->wn, pick[k]), inv, actr, st);
        double want_actr = 2.0 - log((double)fans[k] + 1.0);
        rows++;
        exact += fabs(inv - 1.0 / sqrt((double)fans[k])) < 1e-5 &&
                 fabs(actr - (want_actr > 0 ? want_actr : 0.0)) < 1e-5;
        falling += inv < prev && actr <= prev_actr;
        prev = inv;
        prev_actr = actr;
    }
    ok = mission_check(rows >= 2 && exact == rows && falling == rows,
                       "over %u fans each sense gets 1/sqrt(fan) and ACT-R's "
                       "max(0, 2 - ln(fan + 1)): more senses, less each", rows) && ok;
    return ok;
}

const struct demo_step demo_step_spread = {
    "spreading activation from cue words, and the fan effect", run};
