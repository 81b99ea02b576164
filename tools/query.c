/* cogmem query — ask a WordNet store questions from the command line.
 *
 * Either each query loads WordNet into a store in this process first
 * (--wordnet: a few seconds; `cogmem load wordnet` prints the time per
 * phase), or it opens the store that `cogmem load wordnet --out STOREDIR`
 * left in a directory (--store STOREDIR). The store holds ids, vectors and
 * bindings but no words: the words and glosses are read again from the
 * WordNet files (parsing only, no embedding or adds), and the counts must
 * match the files'. Then it answers:
 *   recall WORD...   the synsets (or, --kinds, lemmas) nearest to the word's
 *                    embedding (a single known lemma) or to the hashed text;
 *   spread WORD...   spreading activation from the words' lemmas;
 *   info ID|WORD     a node and its bindings.
 * as a table or, with --json, one JSON object.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cogmem.h"
#include "json.h"
#include "wordnet.h"

#define CMD "query"
#define MAX_WORDS 64
#define DESC 400

struct query_opts {
    const char *dir, *store;
    uint64_t dim, k, depth;
    unsigned kinds;
    int json;
    int fan_mode;
};

static const char *kind_name(int kind)
{
    return kind == COGMEM_CONCEPT ? "synset" : kind == COGMEM_EPISODE ? "lemma" : "?";
}

static void print_hits(struct wordnet *wn, const struct query_opts *o,
                       const char *what, const cogmem_hit *h, size_t n)
{
    char desc[DESC];
    if (o->json) {
        printf("{\"%s\": [", what);
        for (size_t i = 0; i < n; i++) {
            wordnet_describe(wn, h[i].id, desc, sizeof desc);
            printf("%s{\"id\": %llu, \"kind\": \"%s\", \"score\": %.6g, \"text\": ",
                   i ? ", " : "", (unsigned long long)h[i].id, kind_name(h[i].kind),
                   (double)h[i].score);
            json_string(stdout, desc);
            printf("}");
        }
        printf("]}\n");
        return;
    }
    printf("%4s  %-10s  %-6s  %8s  %s\n", "rank", "id", "kind",
           strcmp(what, "spread") == 0 ? "activ." : "score", "synset / lemma");
    for (size_t i = 0; i < n; i++) {
        wordnet_describe(wn, h[i].id, desc, sizeof desc);
        printf("%4zu  %-10llu  %-6s  %8.4f  %.90s\n", i + 1,
               (unsigned long long)h[i].id, kind_name(h[i].kind),
               (double)h[i].score, desc);
    }
}

static int do_recall(struct wordnet *wn, const struct query_opts *o,
                     char **words, int n)
{
    cogmem_store *s = wordnet_store(wn);
    uint32_t dim = (uint32_t)o->dim;
    float *q = malloc(dim * sizeof *q);
    cogmem_recall_hit *hits = calloc(o->k, sizeof *hits);
    size_t n_out = 0;
    int rc = -ENOMEM;
    char text[4096] = "";

    if (!q || !hits)
        goto out;
    uint64_t lemma = n == 1 ? wordnet_lemma_id(wn, words[0]) : 0;
    if (lemma) {
        /* A known word: recall by the word's own embedding. */
        const cogmem_vec *v;
        rc = cogmem_vec_get(s, lemma, &v);
        if (rc)
            goto out;
        memcpy(q, cogmem_vec_data(v), dim * sizeof *q);
        cogmem_vec_put(v);
    } else {
        for (int i = 0; i < n; i++) {
            strncat(text, words[i], sizeof text - strlen(text) - 2);
            strcat(text, " ");
        }
        rc = wordnet_text_vector(wn, text, q);
        if (rc) {
            fprintf(stderr, "cogmem query: no word to recall by\n");
            goto out;
        }
    }
    rc = cogmem_recall(s, q, o->kinds, o->k, NULL, hits, &n_out);
    if (rc == 0) {
        /* cogmem_recall_hit and cogmem_hit have one layout (score). */
        cogmem_hit *h = calloc(n_out ? n_out : 1, sizeof *h);
        if (!h) {
            rc = -ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < n_out; i++) {
            h[i].id = hits[i].id;
            h[i].kind = hits[i].kind;
            h[i].score = hits[i].score;
        }
        print_hits(wn, o, "recall", h, n_out);
        free(h);
    }
out:
    if (rc)
        cli_report("recall", rc);
    free(q);
    free(hits);
    return rc;
}

static int do_spread(struct wordnet *wn, const struct query_opts *o,
                     char **words, int n)
{
    cogmem_source src[MAX_WORDS];
    cogmem_spread_params p;
    cogmem_hit *hits = calloc(o->k, sizeof *hits);
    size_t n_out = 0;
    int rc;

    if (!hits)
        return -ENOMEM;
    for (int i = 0; i < n; i++) {
        src[i].id = wordnet_lemma_id(wn, words[i]);
        src[i].weight = 1.0f;
        if (!src[i].id) {
            fprintf(stderr, "cogmem query: '%s' is not a WordNet lemma\n", words[i]);
            free(hits);
            return -ENOENT;
        }
    }
    cogmem_spread_params_init(&p);
    p.max_depth = (uint32_t)o->depth;
    p.fan_mode = o->fan_mode;
    rc = cogmem_spread(wordnet_store(wn), src, (size_t)n, &p, hits, o->k, &n_out);
    if (rc)
        cli_report("cogmem_spread", rc);
    else
        print_hits(wn, o, "spread", hits, n_out);
    free(hits);
    return rc;
}

static int do_info(struct wordnet *wn, const struct query_opts *o, const char *arg)
{
    cogmem_store *s = wordnet_store(wn);
    char *end, desc[DESC];
    uint64_t id = strtoull(arg, &end, 10);
    if (*end != '\0' || end == arg)
        id = wordnet_lemma_id(wn, arg);
    int kind = id ? cogmem_kind_of(s, id) : -ENOENT;
    if (kind < 0) {
        fprintf(stderr, "cogmem query: no node '%s'\n", arg);
        return kind;
    }
    size_t n = 0, cap = 0;
    uint64_t *ids = NULL;
    float *st = NULL;
    int rc;
    /* Listing of the bindings, grown until it fits. */
    for (;;) {
        rc = kind == COGMEM_CONCEPT
                 ? cogmem_concept_episodes(s, id, ids, st, cap, &n)
                 : cogmem_episode_concepts(s, id, ids, st, cap, &n);
        if (rc || n <= cap)
            break;
        cap = n;
        free(ids);
        free(st);
        ids = malloc(cap * sizeof *ids);
        st = malloc(cap * sizeof *st);
        if (!ids || !st) {
            rc = -ENOMEM;
            break;
        }
    }
    if (rc) {
        cli_report("listing bindings", rc);
        goto out;
    }
    wordnet_describe(wn, id, desc, sizeof desc);
    if (o->json) {
        printf("{\"id\": %llu, \"kind\": \"%s\", \"text\": ",
               (unsigned long long)id, kind_name(kind));
        json_string(stdout, desc);
        printf(", \"bindings\": [");
        for (size_t i = 0; i < n; i++) {
            char d2[DESC];
            wordnet_describe(wn, ids[i], d2, sizeof d2);
            printf("%s{\"id\": %llu, \"strength\": %.6g, \"text\": ", i ? ", " : "",
                   (unsigned long long)ids[i], (double)st[i]);
            json_string(stdout, d2);
            printf("}");
        }
        printf("]}\n");
    } else {
        printf("%llu  %s  %s\n  %zu binding%s (%s):\n", (unsigned long long)id,
               kind_name(kind), desc, n, n == 1 ? "" : "s",
               kind == COGMEM_CONCEPT ? "its lemmas" : "its senses");
        for (size_t i = 0; i < n; i++) {
            char d2[DESC];
            wordnet_describe(wn, ids[i], d2, sizeof d2);
            printf("  %-10llu  %.3f  %.90s\n", (unsigned long long)ids[i],
                   (double)st[i], d2);
        }
    }
out:
    free(ids);
    free(st);
    return rc;
}

void cli_query_usage(FILE *out)
{
    fprintf(out,
            "Usage: cogmem query [--wordnet [DIR]] [--store STOREDIR] [OPTIONS] recall WORD...\n"
            "       cogmem query [--wordnet [DIR]] [--store STOREDIR] [OPTIONS] spread WORD...\n"
            "       cogmem query [--wordnet [DIR]] [--store STOREDIR] [OPTIONS] info ID|WORD\n"
            "\n"
            "Load WordNet 3.0 into a store in this process, or open the store\n"
            "`cogmem load wordnet --out STOREDIR` wrote (--store), and answer:\n"
            "  recall  synsets nearest to a word's embedding (a known lemma)\n"
            "          or to the feature-hashed words given\n"
            "  spread  spreading activation from the words' lemmas\n"
            "  info    a node (id or lemma) and its bindings\n"
            "\n"
            "Options:\n"
            "  --wordnet [DIR]  the WordNet files (default " WORDNET_DEFAULT_DIR ")\n"
            "  --store STOREDIR open this store instead of loading; the words\n"
            "                   are still read from the WordNet files\n"
            "  --dim N          embedding dimension (default 256)\n"
            "  -k N             results (default 10)\n"
            "  --kinds K        recall over synsets|lemmas|all (default synsets)\n"
            "  --depth N        spreading hops (default 2)\n"
            "  --fan MODE       inv_sqrt|linear|actr|none (default inv_sqrt)\n"
            "  --json           one JSON object instead of a table\n"
            "  -h, --help       show this help\n");
}

static int parse_kinds(const char *v, unsigned *out)
{
    if (strcmp(v, "synsets") == 0)
        *out = COGMEM_CONCEPT;
    else if (strcmp(v, "lemmas") == 0)
        *out = COGMEM_EPISODE;
    else if (strcmp(v, "all") == 0)
        *out = COGMEM_ALL_KINDS;
    else
        return -1;
    return 0;
}

static int parse_fan(const char *v, int *out)
{
    static const char *const names[] = {"inv_sqrt", "linear", "actr", "none"};
    for (int i = 0; i < 4; i++)
        if (strcmp(v, names[i]) == 0) {
            *out = i; /* the cogmem_fan_mode values, in order */
            return 0;
        }
    return -1;
}

int cli_query_run(int argc, char **argv)
{
    struct query_opts o = {WORDNET_DEFAULT_DIR, NULL, 256, 10, 2, COGMEM_CONCEPT, 0,
                           COGMEM_FAN_INV_SQRT};
    const char *cmd = NULL, *value;
    char *words[MAX_WORDS];
    int n_words = 0;

    for (int i = 1; i < argc; i++) {
        int m;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            cli_query_usage(stdout);
            return CLI_EXIT_OK;
        }
        if (strcmp(argv[i], "--json") == 0) {
            o.json = 1;
            continue;
        }
        if (strcmp(argv[i], "--wordnet") == 0) {
            /* The directory is optional: a next argument that is not a
             * subcommand or an option is it. */
            if (!cmd && i + 1 < argc && argv[i + 1][0] != '-' &&
                strcmp(argv[i + 1], "recall") && strcmp(argv[i + 1], "spread") &&
                strcmp(argv[i + 1], "info"))
                o.dir = argv[++i];
            continue;
        }
        if (strncmp(argv[i], "--wordnet=", 10) == 0) {
            o.dir = argv[i] + 10;
            continue;
        }
        if ((m = cli_option(argc, argv, &i, "--store", &value)) > 0) {
            o.store = value;
            continue;
        }
        if (m == 0 && (m = cli_option(argc, argv, &i, "--dim", &value)) > 0) {
            if (cli_parse_u64(CMD, "--dim", value, 1, COGMEM_MAX_DIM, &o.dim))
                return CLI_EXIT_USAGE;
            continue;
        }
        if (m == 0 && (m = cli_option(argc, argv, &i, "-k", &value)) > 0) {
            if (cli_parse_u64(CMD, "-k", value, 1, 100000, &o.k))
                return CLI_EXIT_USAGE;
            continue;
        }
        if (m == 0 && (m = cli_option(argc, argv, &i, "--depth", &value)) > 0) {
            if (cli_parse_u64(CMD, "--depth", value, 0, 16, &o.depth))
                return CLI_EXIT_USAGE;
            continue;
        }
        if (m == 0 && (m = cli_option(argc, argv, &i, "--kinds", &value)) > 0) {
            if (parse_kinds(value, &o.kinds)) {
                cli_usage_error(CMD, "--kinds wants synsets, lemmas or all");
                return CLI_EXIT_USAGE;
            }
            continue;
        }
        if (m == 0 && (m = cli_option(argc, argv, &i, "--fan", &value)) > 0) {
            if (parse_fan(value, &o.fan_mode)) {
                cli_usage_error(CMD, "--fan wants inv_sqrt, linear, actr or none");
                return CLI_EXIT_USAGE;
            }
            continue;
        }
        if (m < 0) {
            cli_usage_error(CMD, "option '%s' needs a value", argv[i]);
            return CLI_EXIT_USAGE;
        }
        if (argv[i][0] == '-' && argv[i][1] == '-') {
            cli_usage_error(CMD, "unknown option '%s'", argv[i]);
            return CLI_EXIT_USAGE;
        }
        if (!cmd) {
            cmd = argv[i];
            continue;
        }
        if (n_words == MAX_WORDS) {
            cli_usage_error(CMD, "at most %d words", MAX_WORDS);
            return CLI_EXIT_USAGE;
        }
        words[n_words++] = argv[i];
    }
    if (!cmd || (strcmp(cmd, "recall") && strcmp(cmd, "spread") && strcmp(cmd, "info"))) {
        cli_usage_error(CMD, "want recall, spread or info");
        return CLI_EXIT_USAGE;
    }
    if (n_words == 0 || (strcmp(cmd, "info") == 0 && n_words != 1)) {
        cli_usage_error(CMD, "%s wants %s", cmd,
                        strcmp(cmd, "info") == 0 ? "one id or word" : "words");
        return CLI_EXIT_USAGE;
    }

    struct wordnet *wn;
    if (o.store ? wordnet_attach(o.dir, (uint32_t)o.dim, o.store, &wn)
                : wordnet_load(o.dir, (uint32_t)o.dim, !o.json, &wn))
        return CLI_EXIT_FAIL;
    int rc = strcmp(cmd, "recall") == 0   ? do_recall(wn, &o, words, n_words)
             : strcmp(cmd, "spread") == 0 ? do_spread(wn, &o, words, n_words)
                                          : do_info(wn, &o, words[0]);
    int crc = wordnet_close(wn);
    if (crc)
        cli_report("cogmem_close", crc);
    return rc || crc ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
