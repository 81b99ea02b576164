/* cogmem command-line program — WordNet 3.0 as a cogmem store.
 *
 * Reads Debian's wordnet-base files (man 5WN wndb, man 5WN cntlist) from a
 * directory:
 *   data.{noun,verb,adj,adv}   synsets: each becomes a concept;
 *   index.{noun,verb,adj,adv}  lemmas: each distinct lemma (over all parts
 *                              of speech) becomes an episode, and each of
 *                              its senses a binding lemma -> synset;
 *   cntlist.rev                tag counts per sense (how often the sense
 *                              was seen in the semantic concordances);
 *                              optional: without it every sense counts 0.
 *
 * Ids (readable on purpose): a synset is POS * 10^8 + its byte offset in
 * data.POS (POS 1 noun, 2 verb, 3 adjective and satellite, 4 adverb), a
 * lemma is WORDNET_LEMMA_BASE + its number (1, 2, ... in index order).
 *
 * Binding strength from the tag count c of the sense:
 *   0.1 + 0.9 * ln(1 + c) / ln(1 + c_max)
 * (c_max the largest count in the files), so a sense never seen in the
 * concordances binds at 0.1 and the most frequent one at 1.
 *
 * Embeddings: feature hashing, deterministic and with no training. A
 * synset's vector sums, over the lowercased alphanumeric tokens of its
 * gloss (examples included, a short stop-word list left out) and of its
 * words (split at '_', counted twice), +-1 at coordinate h % dim with the
 * sign from h's top bit (h = 64-bit FNV-1a of the token, mixed by
 * MurmurHash3's finalizer), then is scaled
 * to unit length. A lemma's vector is the unit-length sum of its synsets'
 * vectors weighted by the bindings' strengths. Similar glosses share words
 * and so point alike; the cost is one hash per token (a few million in
 * all) and collisions between unrelated words, which grow as dim shrinks.
 */
#ifndef COGMEM_TOOLS_WORDNET_H
#define COGMEM_TOOLS_WORDNET_H

#include <stddef.h>
#include <stdint.h>

#include "cogmem.h"

#define WORDNET_DEFAULT_DIR "/usr/share/wordnet"
#define WORDNET_LEMMA_BASE UINT64_C(1000000000)
#define WORDNET_POS_SCALE UINT64_C(100000000)

struct wordnet;

/* What the load did. */
struct wordnet_counts {
    uint64_t synsets;     /* concepts added */
    uint64_t lemmas;      /* episodes added */
    uint64_t senses;      /* (lemma, synset) pairs in the index files */
    uint64_t bindings;    /* bindings created (senses naming a synset that
                             is missing from data.POS are left out) */
    uint64_t missing;     /* senses whose synset was not found */
    uint64_t tagged;      /* senses with a tag count > 0 */
    uint32_t tag_max;     /* c_max */
    double seconds[4];    /* read+concepts, lemmas, episodes, bindings */
};

/* Load the WordNet files in `dir` into a new store of dimension `dim`
 * (opened here with sizing hints). `progress` non-zero draws a progress
 * bar on stderr for each phase. Returns 0 and *out, or a negative errno
 * after printing what failed on stderr (a file missing or malformed:
 * -ENOENT / -EINVAL). The caller owns *out (wordnet_close()). */
int wordnet_load(const char *dir, uint32_t dim, int progress,
                 struct wordnet **out);

/* wordnet_load() into a store living in directory `path` (cogmem_persist.h;
 * NULL: in memory only), opened with COGMEM_DURABLE_NONE: nothing is
 * durable until the caller calls cogmem_snapshot(). The directory must be
 * new or empty (a store already in it makes the adds fail with -EEXIST);
 * another opener holding it gives -EBUSY. */
int wordnet_load_at(const char *dir, uint32_t dim, const char *path,
                    int progress, struct wordnet **out);

/* Open the store in directory `path` that wordnet_load_at() wrote from the
 * WordNet files in `dir`, and read from those files only the names
 * (lemma -> id, descriptions): no vectors, adds or binds. The store is
 * opened with COGMEM_DURABLE_NONE and the caller must not mutate it.
 * Errors: -ENOENT (no such directory; nothing is created), -EINVAL (the
 * store's dim is not `dim`), -EBUSY (opened elsewhere), -ESTALE (its
 * counts do not match the files: loaded from other files), or as
 * wordnet_load(). Only counts.synsets and counts.lemmas are filled. */
int wordnet_attach(const char *dir, uint32_t dim, const char *path,
                   struct wordnet **out);

/* Close the store and free everything (NULL is ignored). Returns what
 * cogmem_close() returned. */
int wordnet_close(struct wordnet *wn);

cogmem_store *wordnet_store(const struct wordnet *wn);
const struct wordnet_counts *wordnet_counts(const struct wordnet *wn);

/* The episode id of lemma `word` (case-insensitive, spaces as '_'), or 0. */
uint64_t wordnet_lemma_id(const struct wordnet *wn, const char *word);

/* The lemma of episode `id`, or NULL. */
const char *wordnet_lemma_name(const struct wordnet *wn, uint64_t id);

/* Write a one-line description of node `id` into buf: a synset as
 * "n. dog, domestic_dog, Canis_familiaris: a member of the genus ..."
 * (gloss truncated to fit), a lemma as its word. Returns 0, or -ENOENT if
 * `id` is neither. */
int wordnet_describe(const struct wordnet *wn, uint64_t id, char *buf,
                     size_t cap);

/* The feature-hashed unit vector of free text (the synsets' recipe, once
 * per token) into out[dim]. Returns 0, or -EINVAL if no token was found. */
int wordnet_text_vector(const struct wordnet *wn, const char *text,
                        float *out);

#endif /* COGMEM_TOOLS_WORDNET_H */
