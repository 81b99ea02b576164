/* cogmem snapshot inspect|verify PATH [--json]: what a snapshot file holds
 * and whether it is intact, through cogmem_snapshot_verify() (which checks
 * every checksum and the structure of every record; inspect and verify
 * run the same checks, inspect prints everything, verify one line). PATH
 * is a snapshot file, or a store directory (its newest snapshot). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "cogmem.h"

#define CMD "snapshot"

void cli_snapshot_usage(FILE *out)
{
    fprintf(out,
            "Usage: cogmem snapshot inspect PATH [--json]\n"
            "       cogmem snapshot verify PATH [--json]\n\n"
            "Check a snapshot file without opening a store: magics, format version,\n"
            "feature words, header/table/footer checksums, every section's XXH3, every\n"
            "vector chunk's XXH3 and the structure of every record. PATH is a\n"
            "snapshot file (snap-*.cgs) or a store directory (its newest snapshot).\n"
            "inspect prints the header, the sections and the counts; verify prints\n"
            "one line. Exit status 0 when intact, 1 when not (the output names the\n"
            "section and offset), 2 on a usage error.\n");
}

/* The newest snap-*.cgs in dir (names sort by LSN), into out. */
static int newest_in(const char *dir, char *out, size_t cap)
{
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    char best[256] = "";
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l == 25 && !strncmp(e->d_name, "snap-", 5) && !strcmp(e->d_name + 21, ".cgs") &&
            strcmp(e->d_name, best) > 0)
            snprintf(best, sizeof best, "%s", e->d_name);
    }
    closedir(d);
    if (!best[0])
        return -ENOENT;
    snprintf(out, cap, "%s/%s", dir, best);
    return 0;
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    putchar('"');
}

static void print_json(const char *path, int rc, const cogmem_snapshot_summary *s, int full)
{
    printf("{\"path\": ");
    json_str(path);
    printf(", \"ok\": %s", rc == 0 ? "true" : "false");
    if (rc) {
        printf(", \"error\": ");
        json_str(cogmem_strerror(rc));
        printf(", \"section\": ");
        json_str(s->bad_section);
        printf(", \"offset\": %llu, \"detail\": ", (unsigned long long)s->bad_offset);
        json_str(s->detail);
    }
    if (rc == 0 || full) {
        printf(", \"format\": \"%u.%u\", \"compat\": %llu, \"ro_compat\": %llu, "
               "\"incompat\": %llu, \"dim\": %u, \"row_bytes\": %u, \"begin_lsn\": %llu, "
               "\"created_ns\": %llu, \"bytes\": %llu",
               s->format_major, s->format_minor, (unsigned long long)s->compat,
               (unsigned long long)s->ro_compat, (unsigned long long)s->incompat, s->dim,
               s->row_bytes, (unsigned long long)s->begin_lsn,
               (unsigned long long)s->created_ns, (unsigned long long)s->file_bytes);
        printf(", \"concepts\": %llu, \"episodes\": %llu, \"bindings\": %llu, "
               "\"histories\": %llu, \"vector_chunks\": %llu",
               (unsigned long long)s->concepts, (unsigned long long)s->episodes,
               (unsigned long long)s->bindings, (unsigned long long)s->histories,
               (unsigned long long)s->vector_chunks);
        printf(", \"settings\": {\"fan_mode\": %d, \"actr_max_assoc\": %g, \"actr_decay\": %g, "
               "\"actr_history\": %u, \"actr_latency_factor\": %g, \"actr_threshold\": %g, "
               "\"actr_noise\": %g}",
               s->fan_mode, s->actr_max_assoc, s->actr_decay, s->actr_history,
               s->actr_latency_factor, s->actr_threshold, s->actr_noise);
        printf(", \"sections\": [");
        for (uint32_t i = 0; i < s->nsections && i < COGMEM_SNAPSHOT_MAX_SECTIONS; i++) {
            const cogmem_snapshot_section *x = &s->sections[i];
            printf("%s{\"name\": ", i ? ", " : "");
            json_str(x->name);
            printf(", \"offset\": %llu, \"length\": %llu, \"count\": %llu, "
                   "\"xxh3\": \"%016llx\"}",
                   (unsigned long long)x->offset, (unsigned long long)x->length,
                   (unsigned long long)x->count, (unsigned long long)x->xxh3);
        }
        printf("]");
    }
    printf("}\n");
}

static void print_table(const char *path, const cogmem_snapshot_summary *s)
{
    printf("snapshot   %s\n", path);
    printf("format     %u.%u  features compat %#llx ro_compat %#llx incompat %#llx\n",
           s->format_major, s->format_minor, (unsigned long long)s->compat,
           (unsigned long long)s->ro_compat, (unsigned long long)s->incompat);
    printf("dim        %u  (rows of %u bytes, 64-byte aligned)\n", s->dim, s->row_bytes);
    printf("begins at  LSN %llu   created %llu ns   %llu bytes\n",
           (unsigned long long)s->begin_lsn, (unsigned long long)s->created_ns,
           (unsigned long long)s->file_bytes);
    printf("settings   fan mode %d, ACT-R S %g d %g k %u F %g tau %g s %g\n", s->fan_mode,
           s->actr_max_assoc, s->actr_decay, s->actr_history, s->actr_latency_factor,
           s->actr_threshold, s->actr_noise);
    printf("holds      %llu concepts, %llu episodes, %llu bindings, %llu histories, "
           "%llu vector chunks\n\n",
           (unsigned long long)s->concepts, (unsigned long long)s->episodes,
           (unsigned long long)s->bindings, (unsigned long long)s->histories,
           (unsigned long long)s->vector_chunks);
    printf("%-16s %12s %12s %10s  %s\n", "section", "offset", "length", "count", "xxh3");
    for (uint32_t i = 0; i < s->nsections && i < COGMEM_SNAPSHOT_MAX_SECTIONS; i++) {
        const cogmem_snapshot_section *x = &s->sections[i];
        printf("%-16s %12llu %12llu %10llu  %016llx\n", x->name, (unsigned long long)x->offset,
               (unsigned long long)x->length, (unsigned long long)x->count,
               (unsigned long long)x->xxh3);
    }
    printf("\nall checksums and records verified\n");
}

int cli_snapshot_run(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        cli_snapshot_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (argc < 3 || (strcmp(argv[1], "inspect") && strcmp(argv[1], "verify"))) {
        cli_usage_error(CMD, "expected 'inspect PATH' or 'verify PATH'");
        return CLI_EXIT_USAGE;
    }
    int inspect = !strcmp(argv[1], "inspect"), json = 0;
    const char *path = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (argv[i][0] == '-' || path) {
            cli_usage_error(CMD, "unexpected argument '%s'", argv[i]);
            return CLI_EXIT_USAGE;
        } else
            path = argv[i];
    }
    if (!path) {
        cli_usage_error(CMD, "missing PATH");
        return CLI_EXIT_USAGE;
    }
    char file[4096];
    struct stat sb;
    snprintf(file, sizeof file, "%s", path);
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        int rc = newest_in(path, file, sizeof file);
        if (rc) {
            cli_report("no snapshot in the directory", rc);
            return CLI_EXIT_FAIL;
        }
    }
    cogmem_snapshot_summary s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    int rc = cogmem_snapshot_verify(file, &s);
    if (json) {
        print_json(file, rc, &s, inspect);
    } else if (rc) {
        printf("%s: %s", file, cogmem_strerror(rc));
        if (s.bad_section[0])
            printf(" in %s at offset %llu: %s", s.bad_section,
                   (unsigned long long)s.bad_offset, s.detail);
        printf("\n");
    } else if (inspect) {
        print_table(file, &s);
    } else {
        printf("%s: ok (%llu concepts, %llu episodes, %llu bindings, LSN %llu)\n", file,
               (unsigned long long)s.concepts, (unsigned long long)s.episodes,
               (unsigned long long)s.bindings, (unsigned long long)s.begin_lsn);
    }
    return rc ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
