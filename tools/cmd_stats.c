/* cogmem stats — the demo's store, reported as a host would export it.
 *
 * Runs the demo workload (its options pass through) with the demo's own
 * report sent to stderr, so that stdout carries only the statistics: a
 * table, JSON, or Prometheus text, ready for a pipe or a scrape file.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cogmem.h"

#define CMD "stats"
#define MAX_ARGS 64

void cli_stats_usage(FILE *out)
{
    fprintf(out,
            "Usage: cogmem stats [--format table|json|prometheus] [DEMO OPTIONS]\n"
            "\n"
            "Build the demo store, run the demo workload on it (see 'cogmem demo\n"
            "--help' for its options; its report goes to stderr), then print the\n"
            "store's statistics on stdout.\n"
            "\n"
            "Options:\n"
            "  --format F     table (default), json or prometheus\n"
            "  -h, --help     show this help\n");
}

int cli_stats_run(int argc, char **argv)
{
    int fmt = COGMEM_FMT_TABLE;
    char *pass[MAX_ARGS + 1];
    int n = 0;

    pass[n++] = (char *)"demo";
    for (int i = 1; i < argc; i++) {
        const char *value;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            cli_stats_usage(stdout);
            return CLI_EXIT_OK;
        }
        int m = cli_option(argc, argv, &i, "--format", &value);
        if (m < 0) {
            cli_usage_error(CMD, "option '--format' needs a value");
            return CLI_EXIT_USAGE;
        }
        if (m > 0) {
            if (strcmp(value, "table") == 0)
                fmt = COGMEM_FMT_TABLE;
            else if (strcmp(value, "json") == 0)
                fmt = COGMEM_FMT_JSON;
            else if (strcmp(value, "prometheus") == 0)
                fmt = COGMEM_FMT_PROMETHEUS;
            else {
                cli_usage_error(CMD, "--format wants table, json or prometheus, not '%s'",
                                value);
                return CLI_EXIT_USAGE;
            }
            continue;
        }
        if (n == MAX_ARGS) {
            cli_usage_error(CMD, "too many arguments");
            return CLI_EXIT_USAGE;
        }
        pass[n++] = argv[i];
    }
    pass[n] = NULL;

    /* stdout becomes stderr for the demo's report; the statistics go to
     * the original stdout, kept on a duplicate descriptor. */
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    FILE *out = saved >= 0 ? fdopen(saved, "w") : NULL;
    if (!out || dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
        perror("cogmem stats: redirecting the demo's report");
        if (out)
            fclose(out);
        else if (saved >= 0)
            close(saved);
        return CLI_EXIT_FAIL;
    }
    int rc = cli_demo_main(n, pass, fmt, out);
    fflush(stdout);
    if (dup2(fileno(out), STDOUT_FILENO) < 0 && rc == CLI_EXIT_OK)
        rc = CLI_EXIT_FAIL;
    if (fclose(out) != 0 && rc == CLI_EXIT_OK) {
        perror("cogmem stats: writing the statistics");
        rc = CLI_EXIT_FAIL;
    }
    return rc;
}
