/* cogmem load — bring a data set into a store and describe it.
 *
 * `load` loads, prints what it loaded (counts, time per phase, the
 * distribution of senses per word) and closes; with --out STOREDIR the
 * store lives in that directory (cogmem_persist.h) and is snapshotted
 * before the close, so a later cogmem_open() of the directory finds it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cogmem.h"
#include "json.h"
#include "wordnet.h"

#define CMD "load"

/* Senses per lemma (its fan-in) in buckets 1, 2, 3-4, 5-8, 9-16, 17-32, 33+. */
#define FAN_BUCKETS 7
static const char *const fan_label[FAN_BUCKETS] = {
    "1", "2", "3-4", "5-8", "9-16", "17-32", "33+"};

struct fan_summary {
    uint64_t bucket[FAN_BUCKETS];
    uint64_t max_id;
    uint32_t max;
};

static int fan_bucket(uint32_t fan)
{
    int b = 0;
    for (uint32_t edge = 1; b < FAN_BUCKETS - 1 && fan > edge; edge *= 2)
        b++;
    return b;
}

static int summarize_fans(struct wordnet *wn, struct fan_summary *s)
{
    const struct wordnet_counts *c = wordnet_counts(wn);
    memset(s, 0, sizeof *s);
    for (uint64_t i = 1; i <= c->lemmas; i++) {
        uint32_t fan;
        int rc = cogmem_fan_in(wordnet_store(wn), WORDNET_LEMMA_BASE + i, &fan);
        if (rc)
            return rc;
        if (fan == 0)
            continue;
        s->bucket[fan_bucket(fan)]++;
        if (fan > s->max) {
            s->max = fan;
            s->max_id = WORDNET_LEMMA_BASE + i;
        }
    }
    return 0;
}

int cli_load_report(struct wordnet *wn, int json, FILE *out)
{
    const struct wordnet_counts *c = wordnet_counts(wn);
    struct fan_summary f;
    uint64_t bindings = 0, concepts = 0, episodes = 0;
    int rc = summarize_fans(wn, &f);
    if (!rc)
        rc = cogmem_binding_count(wordnet_store(wn), &bindings);
    if (!rc)
        rc = cogmem_count(wordnet_store(wn), COGMEM_CONCEPT, &concepts);
    if (!rc)
        rc = cogmem_count(wordnet_store(wn), COGMEM_EPISODE, &episodes);
    if (rc) {
        cli_report("reading the store", rc);
        return CLI_EXIT_FAIL;
    }
    const char *top = wordnet_lemma_name(wn, f.max_id);
    if (json) {
        fprintf(out, "{\"synsets\": %llu, \"lemmas\": %llu, \"senses\": %llu, "
                "\"bindings\": %llu, \"missing\": %llu, \"tagged\": %llu, "
                "\"tag_max\": %u, \"concepts\": %llu, \"episodes\": %llu, "
                "\"store_bindings\": %llu, \"seconds\": [%.3f, %.3f, %.3f, %.3f], "
                "\"senses_per_lemma\": {",
                (unsigned long long)c->synsets, (unsigned long long)c->lemmas,
                (unsigned long long)c->senses, (unsigned long long)c->bindings,
                (unsigned long long)c->missing, (unsigned long long)c->tagged,
                c->tag_max, (unsigned long long)concepts,
                (unsigned long long)episodes, (unsigned long long)bindings,
                c->seconds[0], c->seconds[1], c->seconds[2], c->seconds[3]);
        for (int b = 0; b < FAN_BUCKETS; b++)
            fprintf(out, "%s\"%s\": %llu", b ? ", " : "", fan_label[b],
                    (unsigned long long)f.bucket[b]);
        fprintf(out, "}, \"most_senses\": ");
        json_string(out, top ? top : "");
        fprintf(out, ", \"most_senses_count\": %u}\n", f.max);
        return CLI_EXIT_OK;
    }
    fprintf(out, "WordNet: %llu synsets -> concepts, %llu lemmas -> episodes, "
            "%llu senses -> %llu bindings",
            (unsigned long long)c->synsets, (unsigned long long)c->lemmas,
            (unsigned long long)c->senses, (unsigned long long)c->bindings);
    if (c->missing)
        fprintf(out, " (%llu senses name no synset)", (unsigned long long)c->missing);
    fprintf(out, "\n  %llu senses tagged in the concordances (max count %u); "
            "strength 0.1 + 0.9 ln(1+c)/ln(1+%u)\n",
            (unsigned long long)c->tagged, c->tag_max, c->tag_max);
    fprintf(out, "  time: synsets %.2f s, index %.2f s, lemma vectors %.2f s, "
            "bindings %.2f s\n", c->seconds[0], c->seconds[1], c->seconds[2],
            c->seconds[3]);
    fprintf(out, "  senses per word (fan):");
    for (int b = 0; b < FAN_BUCKETS; b++)
        fprintf(out, "  %s: %llu", fan_label[b], (unsigned long long)f.bucket[b]);
    fprintf(out, "\n  most senses: '%s' (%u)\n", top ? top : "-", f.max);
    return CLI_EXIT_OK;
}

void cli_load_usage(FILE *out)
{
    fprintf(out,
            "Usage: cogmem load wordnet [--dir DIR] [--dim N] [--out STOREDIR] [--json]\n"
            "\n"
            "Load WordNet 3.0 (Debian's wordnet-base) into a store: synsets\n"
            "become concepts, lemmas episodes, each sense a binding whose\n"
            "strength grows with its tag count (cntlist.rev); embeddings are\n"
            "feature-hashed glosses. Prints what was loaded. Without --out\n"
            "the store lives only while this runs.\n"
            "\n"
            "Options:\n"
            "  --dir DIR   the WordNet files (default " WORDNET_DEFAULT_DIR ")\n"
            "  --dim N     embedding dimension (default 256)\n"
            "  --out STOREDIR  keep the store in this directory (new or empty):\n"
            "              loaded without a journal, then one snapshot\n"
            "  --json      one JSON object instead of text\n"
            "  -h, --help  show this help\n");
}

int cli_load_run(int argc, char **argv)
{
    const char *dir = WORDNET_DEFAULT_DIR, *out = NULL, *value;
    uint64_t dim = 256;
    int json = 0, i = 1;
    struct wordnet *wn;

    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        cli_load_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (argc < 2 || strcmp(argv[1], "wordnet") != 0) {
        cli_usage_error(CMD, "the data set to load: 'wordnet'");
        return CLI_EXIT_USAGE;
    }
    for (i = 2; i < argc; i++) {
        int m;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            cli_load_usage(stdout);
            return CLI_EXIT_OK;
        }
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
            continue;
        }
        if ((m = cli_option(argc, argv, &i, "--dir", &value)) > 0) {
            dir = value;
            continue;
        }
        if (m == 0 && (m = cli_option(argc, argv, &i, "--dim", &value)) > 0) {
            if (cli_parse_u64(CMD, "--dim", value, 1, COGMEM_MAX_DIM, &dim))
                return CLI_EXIT_USAGE;
            continue;
        }
        if (m == 0 && (m = cli_option(argc, argv, &i, "--out", &value)) > 0) {
            out = value;
            continue;
        }
        if (m < 0)
            cli_usage_error(CMD, "option '%s' needs a value", argv[i]);
        else
            cli_usage_error(CMD, "unknown argument '%s'", argv[i]);
        return CLI_EXIT_USAGE;
    }
    if (wordnet_load_at(dir, (uint32_t)dim, out, !json, &wn))
        return CLI_EXIT_FAIL;
    int rc = cli_load_report(wn, json, stdout);
    if (rc == CLI_EXIT_OK && out) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int src = cogmem_snapshot(wordnet_store(wn));
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (src) {
            cli_report("cogmem_snapshot", src);
            rc = CLI_EXIT_FAIL;
        } else if (!json) {
            printf("  snapshot into %s: %.2f s\n", out,
                   (double)(t1.tv_sec - t0.tv_sec) +
                       (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9);
        }
    }
    int crc = wordnet_close(wn);
    if (crc) {
        cli_report("cogmem_close", crc);
        rc = CLI_EXIT_FAIL;
    }
    return rc;
}
