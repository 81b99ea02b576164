/* cogmem command-line program — WordNet 3.0 as a cogmem store (see
 * wordnet.h for the mapping, the ids and the embedding recipe). */
#include "wordnet.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "progress.h"

#define N_POS 4
#define HASH_PROBES 4
#define PROBE_WEIGHT 0.5f /* 1 / sqrt(HASH_PROBES) */
static const char *const pos_name[N_POS] = {"noun", "verb", "adj", "adv"};
static const char pos_letter[N_POS] = {'n', 'v', 'a', 'r'};

/* ------------------------------------------------- a string -> u64 map */

/* Open addressing with linear probing; keys point into buffers the caller
 * keeps alive; the table only grows (load <= 1/2). */
struct smap {
    const char **key;
    uint32_t *len;
    uint64_t *val;
    size_t cap, n;
};

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

static int smap_init(struct smap *m, size_t want)
{
    size_t cap = 64;
    while (cap < 2 * want)
        cap *= 2;
    m->key = calloc(cap, sizeof *m->key);
    m->len = calloc(cap, sizeof *m->len);
    m->val = calloc(cap, sizeof *m->val);
    m->cap = cap;
    m->n = 0;
    return m->key && m->len && m->val ? 0 : -ENOMEM;
}

static void smap_free(struct smap *m)
{
    free(m->key);
    free(m->len);
    free(m->val);
}

/* The slot of key (s, n): where it is, or the empty slot it would go. */
static size_t smap_slot(const struct smap *m, const char *s, size_t n)
{
    size_t i = fnv1a(s, n) & (m->cap - 1);
    while (m->key[i] && !(m->len[i] == n && memcmp(m->key[i], s, n) == 0))
        i = (i + 1) & (m->cap - 1);
    return i;
}

static uint64_t *smap_get(const struct smap *m, const char *s, size_t n)
{
    size_t i = smap_slot(m, s, n);
    return m->key[i] ? &m->val[i] : NULL;
}

/* Insert (s, n) -> v unless present; returns the value slot. */
static int smap_put(struct smap *m, const char *s, size_t n, uint64_t v,
                    uint64_t **slot)
{
    size_t i;
    if (2 * (m->n + 1) > m->cap) {
        struct smap g;
        if (smap_init(&g, m->cap))
            return -ENOMEM;
        for (size_t j = 0; j < m->cap; j++)
            if (m->key[j]) {
                size_t k = smap_slot(&g, m->key[j], m->len[j]);
                g.key[k] = m->key[j];
                g.len[k] = m->len[j];
                g.val[k] = m->val[j];
            }
        g.n = m->n;
        smap_free(m);
        *m = g;
    }
    i = smap_slot(m, s, n);
    if (!m->key[i]) {
        m->key[i] = s;
        m->len[i] = (uint32_t)n;
        m->val[i] = v;
        m->n++;
    }
    *slot = &m->val[i];
    return 0;
}

/* ------------------------------------------------------------- the db */

struct synset {
    uint64_t id;
    const char *words; /* the line from w_cnt on */
    const char *gloss; /* after "| ", NUL-terminated */
};

struct sense {
    uint64_t lemma;   /* episode id */
    uint64_t synset;  /* concept id */
    uint32_t count;   /* tag count */
};

struct wordnet {
    cogmem_store *store;
    uint32_t dim;
    char *files[2 * N_POS + 1]; /* data.*, index.*, cntlist.rev buffers */
    struct synset *syn;
    size_t n_syn, cap_syn;
    const char **lemma; /* lemma[i] is episode WORDNET_LEMMA_BASE + 1 + i */
    size_t n_lemma, cap_lemma;
    struct smap lemma_ids;
    struct wordnet_counts counts;
    bool attached; /* the store came from its directory: never written */
};

static char *read_file(const char *dir, const char *name, bool optional,
                       int *rc)
{
    char path[4096];
    FILE *f;
    long n;
    char *buf;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (!f) {
        *rc = -errno;
        if (!optional)
            fprintf(stderr, "cogmem: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0 || !(buf = malloc((size_t)n + 1))) {
        fclose(f);
        *rc = -ENOMEM;
        return NULL;
    }
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "cogmem: %s: short read\n", path);
        free(buf);
        fclose(f);
        *rc = -EIO;
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    *rc = 0;
    return buf;
}

/* Next line of *p (NUL-terminated in place), or NULL at the end. The
 * license header's lines start with two spaces and are skipped. */
static char *next_line(char **p)
{
    for (;;) {
        char *s = *p, *e;
        if (!s || !*s)
            return NULL;
        e = strchr(s, '\n');
        if (e) {
            *e = '\0';
            *p = e + 1;
        } else {
            *p = s + strlen(s);
        }
        if (!(s[0] == ' ' && s[1] == ' ') && s[0] != '\0')
            return s;
    }
}

static const char *const stop_words[] = {
    "a", "an", "the", "of", "or", "and", "to", "in", "on", "for", "by",
    "with", "as", "at", "from", "that", "which", "is", "be", "it", "its",
    "who", "whom", "something", "someone", "etc", "especially", "used",
};

static bool is_stop(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof stop_words / sizeof stop_words[0]; i++)
        if (strlen(stop_words[i]) == n && memcmp(stop_words[i], s, n) == 0)
            return true;
    return false;
}

/* Add the hashed tokens of s[0..n) (weight w) to acc[dim]; returns how
 * many tokens. Tokens: runs of letters and digits, lowercased. */
static unsigned hash_tokens(const char *s, size_t n, float w, float *acc,
                            uint32_t dim)
{
    char tok[64];
    unsigned count = 0;
    size_t i = 0;

    while (i < n) {
        size_t len = 0;
        while (i < n && !isalnum((unsigned char)s[i]))
            i++;
        while (i < n && isalnum((unsigned char)s[i])) {
            if (len < sizeof tok)
                tok[len++] = (char)tolower((unsigned char)s[i]);
            i++;
        }
        if (len == 0 || is_stop(tok, len))
            continue;
        /* Each token lands on HASH_PROBES coordinates (each with its own
         * sign, weight w / sqrt(probes)), so that two tokens sharing one
         * coordinate (with ~150k distinct tokens in a few hundred
         * dimensions, most share some) overlap by 1/probes, not fully.
         * FNV-1a's low bits mix poorly (mod 256 they depend on little more
         * than the bytes' low bits), so each probe's hash goes through
         * MurmurHash3's 64-bit finalizer. */
        uint64_t h0 = fnv1a(tok, len);
        for (unsigned k = 0; k < HASH_PROBES; k++) {
            uint64_t h = h0 + k * UINT64_C(0x9e3779b97f4a7c15);
            h ^= h >> 33;
            h *= UINT64_C(0xff51afd7ed558ccd);
            h ^= h >> 33;
            h *= UINT64_C(0xc4ceb9fe1a85ec53);
            h ^= h >> 33;
            acc[h % dim] += (h >> 63) ? -w * PROBE_WEIGHT : w * PROBE_WEIGHT;
        }
        count++;
    }
    return count;
}

static void normalize(float *v, uint32_t dim)
{
    double s = 0;
    for (uint32_t i = 0; i < dim; i++)
        s += (double)v[i] * v[i];
    if (s > 0) {
        float inv = (float)(1.0 / sqrt(s));
        for (uint32_t i = 0; i < dim; i++)
            v[i] *= inv;
    }
}

/* The words part of a data line: "w_cnt word lex_id [word lex_id...] ..."
 * Calls fn for each word (without an adjective marker such as "(p)"). */
static int each_word(const char *words, void (*fn)(const char *, size_t, void *),
                     void *arg)
{
    char *end;
    unsigned long w = strtoul(words, &end, 16);
    const char *p = end;

    if (end == words || w == 0)
        return -EINVAL;
    for (unsigned long k = 0; k < w; k++) {
        while (*p == ' ')
            p++;
        const char *s = p;
        while (*p && *p != ' ')
            p++;
        size_t n = (size_t)(p - s);
        const char *paren = memchr(s, '(', n);
        if (n == 0)
            return -EINVAL;
        fn(s, paren ? (size_t)(paren - s) : n, arg);
        while (*p == ' ')
            p++;
        while (*p && *p != ' ') /* lex_id */
            p++;
    }
    return 0;
}

struct vec_arg {
    float *acc;
    uint32_t dim;
};

static void hash_word(const char *s, size_t n, void *arg)
{
    struct vec_arg *a = arg;
    hash_tokens(s, n, 2.0f, a->acc, a->dim);
}

/* Parse data.POS into synsets and add them as concepts. */
static int load_synsets(struct wordnet *wn, int pos, char *buf, float *vec,
                        struct progress_bar *bar, size_t *bytes_done)
{
    char *p = buf, *line;
    int rc;

    while ((line = next_line(&p))) {
        char *end, *bar_at;
        unsigned long off = strtoul(line, &end, 10);
        if (end == line || end[0] != ' ' || off >= WORDNET_POS_SCALE)
            goto bad;
        /* offset lex_filenum ss_type w_cnt ... */
        const char *q = end + 1;
        for (int field = 0; field < 2; field++) {
            while (*q && *q != ' ')
                q++;
            while (*q == ' ')
                q++;
        }
        bar_at = strstr(q, "| ");
        if (!*q || !bar_at)
            goto bad;
        *bar_at = '\0'; /* the words part ends there; the gloss follows */
        if (wn->n_syn == wn->cap_syn) {
            size_t cap = wn->cap_syn ? 2 * wn->cap_syn : 65536;
            struct synset *s = realloc(wn->syn, cap * sizeof *s);
            if (!s)
                return -ENOMEM;
            wn->syn = s;
            wn->cap_syn = cap;
        }
        struct synset *s = &wn->syn[wn->n_syn];
        s->id = (uint64_t)(pos + 1) * WORDNET_POS_SCALE + off;
        s->words = q;
        s->gloss = bar_at + 2;
        size_t gl = strlen(s->gloss);
        while (gl && s->gloss[gl - 1] == ' ')
            gl--;

        if (wn->attached) { /* the vectors are in the store already */
            wn->n_syn++;
            continue;
        }
        memset(vec, 0, wn->dim * sizeof *vec);
        struct vec_arg a = {vec, wn->dim};
        if (each_word(q, hash_word, &a))
            goto bad;
        hash_tokens(s->gloss, gl, 1.0f, vec, wn->dim);
        normalize(vec, wn->dim);
        if (vec[0] == 0.0f) { /* all-zero (no token at all): mark it */
            bool zero = true;
            for (uint32_t i = 0; i < wn->dim && zero; i++)
                zero = vec[i] == 0.0f;
            if (zero)
                vec[s->id % wn->dim] = 1.0f;
        }
        rc = cogmem_concept_add(wn->store, s->id, vec);
        if (rc) {
            fprintf(stderr, "cogmem: adding synset %llu: %s\n",
                    (unsigned long long)s->id, cogmem_strerror(rc));
            return rc;
        }
        wn->n_syn++;
        progress_update(bar, *bytes_done + (size_t)(p - buf));
    }
    *bytes_done += (size_t)(p - buf);
    return 0;
bad:
    fprintf(stderr, "cogmem: data.%s: malformed line: %.60s\n", pos_name[pos],
            line);
    return -EINVAL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static const struct synset *find_synset(const struct wordnet *wn, uint64_t id)
{
    /* synset is sorted by id: the files come in POS order, each by offset. */
    const struct synset *s = bsearch(&id, wn->syn, wn->n_syn, sizeof *wn->syn,
                                     cmp_u64);
    return s;
}

/* cntlist.rev: "lemma%ss_type:lex_filenum:lex_id:head:head_id sense_no
 * tag_cnt". Key "lemma<TAB>POS<TAB>sense_no" -> count. The keys are
 * written over the line itself (which is long enough). */
static int load_counts(char *buf, struct smap *m, uint32_t *max)
{
    char *p = buf, *line;
    while ((line = next_line(&p))) {
        char *pct = strchr(line, '%'), *sp = strchr(line, ' ');
        unsigned long sense, cnt;
        char *end;
        int pos;
        uint64_t *slot;

        if (!pct || !sp || pct > sp || !pct[1])
            return -EINVAL;
        pos = pct[1] - '1';
        if (pos == 4) /* adjective satellite: listed in data.adj */
            pos = 2;
        if (pos < 0 || pos >= N_POS)
            return -EINVAL;
        sense = strtoul(sp + 1, &end, 10);
        cnt = strtoul(end, &end, 10);
        size_t n = (size_t)(pct - line);
        n += (size_t)sprintf(line + n, "\t%d\t%lu", pos, sense);
        if (smap_put(m, line, n, cnt, &slot))
            return -ENOMEM;
        if (cnt > *max)
            *max = (uint32_t)cnt;
    }
    return 0;
}

/* index.POS: "lemma pos synset_cnt p_cnt [ptr_symbol...] sense_cnt
 * tagsense_cnt synset_offset..." -> lemmas and senses. */
static int load_index(struct wordnet *wn, int pos, char *buf,
                      const struct smap *counts, struct sense **senses,
                      size_t *n_senses, size_t *cap_senses)
{
    char *p = buf, *line;
    while ((line = next_line(&p))) {
        char *sp = strchr(line, ' '), *q, *end;
        unsigned long n_syn, p_cnt;
        uint64_t *slot, lemma;
        char key[512];

        if (!sp)
            goto bad;
        *sp = '\0';
        q = sp + 1;
        while (*q && *q != ' ') /* pos */
            q++;
        n_syn = strtoul(q, &end, 10);
        p_cnt = strtoul(end, &end, 10);
        if (end == q || n_syn == 0)
            goto bad;
        for (unsigned long k = 0; k < p_cnt; k++) {
            while (*end == ' ')
                end++;
            while (*end && *end != ' ')
                end++;
        }
        strtoul(end, &end, 10); /* sense_cnt */
        strtoul(end, &end, 10); /* tagsense_cnt */

        size_t len = strlen(line);
        if (smap_put(&wn->lemma_ids, line, len, 0, &slot))
            return -ENOMEM;
        if (*slot == 0) {
            if (wn->n_lemma == wn->cap_lemma) {
                size_t cap = wn->cap_lemma ? 2 * wn->cap_lemma : 65536;
                const char **l = realloc(wn->lemma, cap * sizeof *l);
                if (!l)
                    return -ENOMEM;
                wn->lemma = l;
                wn->cap_lemma = cap;
            }
            wn->lemma[wn->n_lemma++] = line;
            *slot = WORDNET_LEMMA_BASE + wn->n_lemma;
        }
        lemma = *slot;
        for (unsigned long k = 1; k <= n_syn; k++) {
            unsigned long off = strtoul(end, &end, 10);
            if (off == 0 || off >= WORDNET_POS_SCALE)
                goto bad;
            if (*n_senses == *cap_senses) {
                size_t cap = *cap_senses ? 2 * *cap_senses : 262144;
                struct sense *s = realloc(*senses, cap * sizeof *s);
                if (!s)
                    return -ENOMEM;
                *senses = s;
                *cap_senses = cap;
            }
            struct sense *s = &(*senses)[(*n_senses)++];
            s->lemma = lemma;
            s->synset = (uint64_t)(pos + 1) * WORDNET_POS_SCALE + off;
            int kn = snprintf(key, sizeof key, "%s\t%d\t%lu", line, pos, k);
            uint64_t *c = kn > 0 && (size_t)kn < sizeof key
                              ? smap_get(counts, key, (size_t)kn) : NULL;
            s->count = c ? (uint32_t)*c : 0;
        }
    }
    return 0;
bad:
    fprintf(stderr, "cogmem: index.%s: malformed line: %.60s\n", pos_name[pos],
            line);
    return -EINVAL;
}

static int cmp_sense_lemma(const void *a, const void *b)
{
    const struct sense *x = a, *y = b;
    if (x->lemma != y->lemma)
        return x->lemma < y->lemma ? -1 : 1;
    return x->synset < y->synset ? -1 : x->synset > y->synset;
}

static float strength_of(uint32_t count, uint32_t max)
{
    if (max == 0)
        return 0.1f;
    return (float)(0.1 + 0.9 * log1p((double)count) / log1p((double)max));
}

int wordnet_load(const char *dir, uint32_t dim, int progress,
                 struct wordnet **out)
{
    return wordnet_load_at(dir, dim, NULL, progress, out);
}

/* attach: open the store already in `path` and read only the names from
 * the files (no vectors, no adds, no binds). */
static int load(const char *dir, uint32_t dim, const char *path, bool attach,
                int progress, struct wordnet **out);

int wordnet_load_at(const char *dir, uint32_t dim, const char *path,
                    int progress, struct wordnet **out)
{
    return load(dir, dim, path, false, progress, out);
}

int wordnet_attach(const char *dir, uint32_t dim, const char *path,
                   struct wordnet **out)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "cogmem: %s: no store directory\n", path);
        return -ENOENT;
    }
    return load(dir, dim, path, true, 0, out);
}

static int load(const char *dir, uint32_t dim, const char *path, bool attach,
                int progress, struct wordnet **out)
{
    struct wordnet *wn = calloc(1, sizeof *wn);
    struct smap counts = {0};
    struct sense *senses = NULL;
    size_t n_senses = 0, cap_senses = 0, data_bytes = 0, done = 0;
    float *vec = NULL;
    struct progress_bar bar;
    int rc;
    char name[32];

    if (!wn)
        return -ENOMEM;
    wn->dim = dim;
    wn->attached = attach;
    vec = malloc((size_t)dim * sizeof *vec);
    if (!vec || smap_init(&wn->lemma_ids, 160000) || smap_init(&counts, 40000)) {
        rc = -ENOMEM;
        goto fail;
    }
    for (int pos = 0; pos < N_POS; pos++) {
        snprintf(name, sizeof name, "data.%s", pos_name[pos]);
        wn->files[pos] = read_file(dir, name, false, &rc);
        if (!wn->files[pos])
            goto fail;
        data_bytes += strlen(wn->files[pos]);
        snprintf(name, sizeof name, "index.%s", pos_name[pos]);
        wn->files[N_POS + pos] = read_file(dir, name, false, &rc);
        if (!wn->files[N_POS + pos])
            goto fail;
    }
    wn->files[2 * N_POS] = read_file(dir, "cntlist.rev", true, &rc);
    if (wn->files[2 * N_POS] &&
        (rc = load_counts(wn->files[2 * N_POS], &counts, &wn->counts.tag_max))) {
        fprintf(stderr, "cogmem: cntlist.rev: malformed\n");
        goto fail;
    }

    cogmem_config cfg;
    cogmem_config_init(&cfg);
    cfg.dim = dim;
    /* WordNet 3.0 has 117,659 synsets and 147,306 lemmas. */
    cfg.expected_concepts = 120000;
    cfg.expected_episodes = 150000;
    /* A bulk load journals nothing: the caller snapshots once at the end
     * (one sequential write instead of ~470,000 journal records). */
    cfg.path = path;
    cfg.durability = COGMEM_DURABLE_NONE;
    /* An attached store is only queried: serve its vectors from the
     * mapped snapshot instead of copying 300 MB at every query. */
    cfg.open_mode = attach ? COGMEM_OPEN_MMAP : COGMEM_OPEN_COPY;
    rc = cogmem_open(&cfg, &wn->store);
    if (rc) {
        fprintf(stderr, "cogmem: cogmem_open: %s\n", cogmem_strerror(rc));
        goto fail;
    }

    progress_begin(&bar, "synsets -> concepts", data_bytes, progress);
    for (int pos = 0; pos < N_POS; pos++) {
        rc = load_synsets(wn, pos, wn->files[pos], vec, &bar, &done);
        if (rc)
            goto fail;
    }
    wn->counts.seconds[0] = progress_end(&bar);
    wn->counts.synsets = wn->n_syn;

    progress_begin(&bar, "index -> lemmas, senses", N_POS, progress);
    for (int pos = 0; pos < N_POS; pos++) {
        rc = load_index(wn, pos, wn->files[N_POS + pos], &counts, &senses,
                        &n_senses, &cap_senses);
        if (rc)
            goto fail;
        progress_update(&bar, (uint64_t)pos + 1);
    }
    wn->counts.seconds[1] = progress_end(&bar);
    wn->counts.senses = n_senses;
    /* Group the senses by lemma: each lemma's vector is built from its
     * synsets' in one pass. */
    qsort(senses, n_senses, sizeof *senses, cmp_sense_lemma);
    if (attach) {
        /* Ids are positions in these files: they name the store's nodes
         * only if the store was loaded from the same files. */
        uint64_t concepts = 0, episodes = 0;
        rc = cogmem_count(wn->store, COGMEM_CONCEPT, &concepts);
        if (!rc)
            rc = cogmem_count(wn->store, COGMEM_EPISODE, &episodes);
        if (!rc && (concepts != wn->n_syn || episodes != wn->n_lemma)) {
            fprintf(stderr, "cogmem: %s holds %llu concepts and %llu episodes; the "
                    "WordNet files in %s have %zu synsets and %zu lemmas: load the "
                    "store from these files\n", path, (unsigned long long)concepts,
                    (unsigned long long)episodes, dir, wn->n_syn, wn->n_lemma);
            rc = -ESTALE;
        }
        if (rc)
            goto fail;
        wn->counts.synsets = concepts;
        wn->counts.lemmas = episodes;
        free(senses);
        free(vec);
        smap_free(&counts);
        *out = wn;
        return 0;
    }

    progress_begin(&bar, "lemmas -> episodes", n_senses, progress);
    uint64_t now = (uint64_t)time(NULL) * UINT64_C(1000000000);
    for (size_t i = 0; i < n_senses;) {
        size_t j = i;
        memset(vec, 0, (size_t)dim * sizeof *vec);
        for (; j < n_senses && senses[j].lemma == senses[i].lemma; j++) {
            const cogmem_vec *v;
            float w = strength_of(senses[j].count, wn->counts.tag_max);
            if (senses[j].count)
                wn->counts.tagged++;
            /* The synset's own centroid, read in place (no copy). */
            if (cogmem_vec_get(wn->store, senses[j].synset, &v) != 0)
                continue;
            const float *x = cogmem_vec_data(v);
            for (uint32_t d = 0; d < dim; d++)
                vec[d] += w * x[d];
            cogmem_vec_put(v);
        }
        normalize(vec, dim);
        if (vec[0] == 0.0f) {
            bool zero = true;
            for (uint32_t d = 0; d < dim && zero; d++)
                zero = vec[d] == 0.0f;
            if (zero)
                vec[senses[i].lemma % dim] = 1.0f;
        }
        rc = cogmem_episode_add(wn->store, senses[i].lemma, vec, now);
        if (rc) {
            fprintf(stderr, "cogmem: adding lemma %llu: %s\n",
                    (unsigned long long)senses[i].lemma, cogmem_strerror(rc));
            goto fail;
        }
        wn->counts.lemmas++;
        i = j;
        progress_update(&bar, i);
    }
    wn->counts.seconds[2] = progress_end(&bar);

    progress_begin(&bar, "senses -> bindings", n_senses, progress);
    for (size_t i = 0; i < n_senses; i++) {
        rc = cogmem_bind(wn->store, senses[i].lemma, senses[i].synset,
                         strength_of(senses[i].count, wn->counts.tag_max));
        if (rc == -ENOENT) {
            wn->counts.missing++;
            continue;
        }
        if (rc) {
            fprintf(stderr, "cogmem: binding lemma %llu to synset %llu: %s\n",
                    (unsigned long long)senses[i].lemma,
                    (unsigned long long)senses[i].synset, cogmem_strerror(rc));
            goto fail;
        }
        wn->counts.bindings++;
        if ((i & 1023) == 0)
            progress_update(&bar, i);
    }
    wn->counts.seconds[3] = progress_end(&bar);

    free(senses);
    free(vec);
    smap_free(&counts);
    *out = wn;
    return 0;
fail:
    free(senses);
    free(vec);
    smap_free(&counts);
    wordnet_close(wn);
    return rc ? rc : -EINVAL;
}

int wordnet_close(struct wordnet *wn)
{
    int rc = 0;
    if (!wn)
        return 0;
    if (wn->store)
        rc = cogmem_close(&wn->store);
    for (size_t i = 0; i < sizeof wn->files / sizeof wn->files[0]; i++)
        free(wn->files[i]);
    free(wn->syn);
    free(wn->lemma);
    smap_free(&wn->lemma_ids);
    free(wn);
    return rc;
}

cogmem_store *wordnet_store(const struct wordnet *wn)
{
    return wn->store;
}

const struct wordnet_counts *wordnet_counts(const struct wordnet *wn)
{
    return &wn->counts;
}

uint64_t wordnet_lemma_id(const struct wordnet *wn, const char *word)
{
    char buf[512];
    size_t n = 0;
    for (; word[n] && n < sizeof buf; n++)
        buf[n] = word[n] == ' ' ? '_' : (char)tolower((unsigned char)word[n]);
    if (n == 0 || n == sizeof buf)
        return 0;
    uint64_t *v = smap_get(&wn->lemma_ids, buf, n);
    return v ? *v : 0;
}

const char *wordnet_lemma_name(const struct wordnet *wn, uint64_t id)
{
    if (id <= WORDNET_LEMMA_BASE || id > WORDNET_LEMMA_BASE + wn->n_lemma)
        return NULL;
    return wn->lemma[id - WORDNET_LEMMA_BASE - 1];
}

struct words_buf {
    char *buf;
    size_t cap, n;
};

static void append_word(const char *s, size_t n, void *arg)
{
    struct words_buf *w = arg;
    int k = snprintf(w->buf + w->n, w->cap - w->n, "%s%.*s",
                     w->n ? ", " : "", (int)n, s);
    if (k > 0)
        w->n = w->n + (size_t)k < w->cap ? w->n + (size_t)k : w->cap - 1;
}

int wordnet_describe(const struct wordnet *wn, uint64_t id, char *buf,
                     size_t cap)
{
    const char *lemma = wordnet_lemma_name(wn, id);
    const struct synset *s;

    if (cap == 0)
        return -EINVAL;
    if (lemma) {
        snprintf(buf, cap, "%s", lemma);
        return 0;
    }
    s = find_synset(wn, id);
    if (!s)
        return -ENOENT;
    int k = snprintf(buf, cap, "%c. ", pos_letter[id / WORDNET_POS_SCALE - 1]);
    struct words_buf w = {buf + k, cap - (size_t)k, 0};
    each_word(s->words, append_word, &w);
    size_t n = (size_t)k + w.n;
    if (n + 3 < cap) {
        snprintf(buf + n, cap - n, ": %s", s->gloss);
        n = strlen(buf);
        while (n && buf[n - 1] == ' ')
            buf[--n] = '\0';
    }
    return 0;
}

int wordnet_text_vector(const struct wordnet *wn, const char *text,
                        float *out)
{
    memset(out, 0, wn->dim * sizeof *out);
    if (hash_tokens(text, strlen(text), 1.0f, out, wn->dim) == 0)
        return -EINVAL;
    normalize(out, wn->dim);
    for (uint32_t i = 0; i < wn->dim; i++)
        if (out[i] != 0.0f)
            return 0;
    return -EINVAL; /* the tokens' +-1 cancelled out */
}
