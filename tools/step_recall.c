/* cogmem demo, step: recall by a word's embedding (mission.h).
 *
 * Each cue word's lemma embedding (the strength-weighted sum of its
 * senses' gloss vectors) is the query; the synsets nearest to it are
 * listed, its own senses marked '*'. Then the same queries for many lemmas
 * at once through cogmem_recall_batch(), which must agree with one
 * cogmem_recall() per query.
 */
#include "mission.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "progress.h"

#define K 5
#define BATCH 64

static bool run(struct mission *m)
{
    cogmem_store *s = wordnet_store(m->wn);
    uint32_t dim = (uint32_t)m->o->dim;
    float *q = malloc((size_t)BATCH * dim * sizeof *q);
    cogmem_recall_hit *hits = malloc((size_t)BATCH * K * sizeof *hits);
    cogmem_recall_hit one[K];
    size_t n_out[BATCH], n1;
    char desc[400];
    bool ok = true;
    unsigned found = 0;

    if (!q || !hits) {
        free(q);
        free(hits);
        return mission_check(false, "allocating queries");
    }
    for (unsigned w = 0; w < m->o->n_words; w++) {
        uint64_t lemma = wordnet_lemma_id(m->wn, m->o->words[w]);
        if (!lemma || mission_vector(s, lemma, q, dim) ||
            cogmem_recall(s, q, COGMEM_CONCEPT, K, NULL, hits, &n1)) {
            ok = mission_check(false, "'%s' is not a lemma here", m->o->words[w]) && ok;
            continue;
        }
        unsigned own = 0;
        printf("  recall by the embedding of '%s' (synsets, * = a sense of the word):\n",
               m->o->words[w]);
        for (size_t i = 0; i < n1; i++) {
            float st;
            bool mine = cogmem_binding_get(s, lemma, hits[i].id, &st) == 0;
            own += mine;
            wordnet_describe(m->wn, hits[i].id, desc, sizeof desc);
            printf("    %c %.3f  %-10llu %.80s\n", mine ? '*' : ' ',
                   (double)hits[i].score, (unsigned long long)hits[i].id, desc);
        }
        found += own > 0;
    }
    ok = mission_check(found == m->o->n_words,
                       "%u of %u words find one of their own senses in their top %d",
                       found, m->o->n_words, K) && ok;

    /* A batch: the embeddings of BATCH lemmas spread over the ids. */
    const struct wordnet_counts *c = wordnet_counts(m->wn);
    unsigned nq = 0;
    for (unsigned i = 0; i < BATCH && c->lemmas; i++) {
        uint64_t id = WORDNET_LEMMA_BASE + 1 + (uint64_t)i * c->lemmas / BATCH;
        if (mission_vector(s, id, q + (size_t)nq * dim, dim) == 0)
            nq++;
    }
    struct progress_bar bar;
    progress_begin(&bar, "recall: batch vs single", 2, true);
    double t0 = progress_now();
    int rc = cogmem_recall_batch(s, q, nq, COGMEM_CONCEPT, K, NULL, hits, n_out);
    double t_batch = progress_now() - t0;
    progress_update(&bar, 1);
    unsigned same = 0;
    t0 = progress_now();
    for (unsigned i = 0; rc == 0 && i < nq; i++) {
        if (cogmem_recall(s, q + (size_t)i * dim, COGMEM_CONCEPT, K, NULL, one, &n1))
            break;
        /* The batch kernel may round a score differently from the single
         * one (a block of rows against many queries at once), so two
         * nearly tied synsets may swap: a rank agrees when its id or its
         * score does. */
        bool eq = n1 == n_out[i];
        for (size_t j = 0; eq && j < n1; j++) {
            const cogmem_recall_hit *b = &hits[(size_t)i * K + j];
            eq = one[j].id == b->id || fabsf(one[j].score - b->score) < 1e-5f;
        }
        same += eq;
        progress_update(&bar, 1);
    }
    double t_single = progress_now() - t0;
    progress_end(&bar);
    printf("  %u lemma queries over %llu synsets: batch %.3f s, one by one "
           "%.3f s (%.1fx)\n", nq, (unsigned long long)c->synsets, t_batch,
           t_single, t_batch > 0 ? t_single / t_batch : 0.0);
    ok = mission_check(rc == 0 && same == nq,
                       "the batch returns what %u single recalls return", nq) && ok;
    free(q);
    free(hits);
    return ok;
}

const struct demo_step demo_step_recall = {"recall by a word's embedding", run};
