/* cogmem command-line program — what the subcommands share.
 *
 * The program uses the public API (cogmem.h) only: it is built against the
 * shared library exactly as a host application would be, so it doubles as
 * a check that the public surface is enough to drive the store.
 */
#ifndef COGMEM_TOOLS_CLI_H
#define COGMEM_TOOLS_CLI_H

#include <stdint.h>
#include <stdio.h>

/* Exit statuses of every subcommand. Usage errors are kept apart from run
 * failures so that scripts can tell "called wrongly" from "found a bug". */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAIL = 1,
    CLI_EXIT_USAGE = 2
};

/* A subcommand: `run` gets argv with argv[0] set to the subcommand's name
 * and returns one of the CLI_EXIT_* values; `usage` prints its help. */
struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
    void (*usage)(FILE *out);
};

/* Subcommands defined outside main.c. */
int cli_demo_run(int argc, char **argv);
void cli_demo_usage(FILE *out);
int cli_stats_run(int argc, char **argv);
void cli_stats_usage(FILE *out);
int cli_snapshot_run(int argc, char **argv);
/* `cogmem demo --dir DIR` (tools/demo_dir.c). */
int cli_demo_dir(const char *dir, double seconds, unsigned threads, uint32_t dim,
                 uint64_t concepts, uint64_t episodes, uint64_t seed);
void cli_snapshot_usage(FILE *out);

int cli_load_run(int argc, char **argv);
void cli_load_usage(FILE *out);
int cli_query_run(int argc, char **argv);
void cli_query_usage(FILE *out);

/* The demo with its statistics printed as stats_fmt (COGMEM_FMT_*) to
 * stats_out; cli_demo_run is this with the table on stdout. */
int cli_demo_main(int argc, char **argv, int stats_fmt, FILE *stats_out);

/* Report a failed library call on stderr as "cogmem: WHAT: <strerror>". */
void cli_report(const char *what, int rc);

/* Report a usage error on stderr (printf-style) and hint at --help. */
void cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Match argv[*i] against the option `name` ("--seconds"), given either as
 * "--seconds N" or "--seconds=N". Returns 1 and sets *value (advancing *i
 * past a separate value) on a match, 0 if argv[*i] is another option, and
 * -1 if the option is present but its value is missing. */
int cli_option(int argc, char **argv, int *i, const char *name,
               const char **value);

/* Parse a whole decimal unsigned integer in [min, max]. Returns 0, or -1
 * after reporting a usage error that names `opt`. */
int cli_parse_u64(const char *cmd, const char *opt, const char *s,
                  uint64_t min, uint64_t max, uint64_t *out);

/* Parse a whole decimal number (e.g. "3" or "0.5") in [min, max]. Returns
 * 0, or -1 after reporting a usage error that names `opt`. */
int cli_parse_double(const char *cmd, const char *opt, const char *s,
                     double min, double max, double *out);

#endif /* COGMEM_TOOLS_CLI_H */
