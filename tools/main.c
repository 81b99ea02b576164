/* cogmem — the command-line program: subcommand dispatch.
 *
 * Each subcommand is one row of `commands` below; adding one means writing
 * its run/usage pair (in its own file, declared in cli.h) and adding a row.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cogmem.h"

static int version_run(int argc, char **argv);
static void version_usage(FILE *out);
static int help_run(int argc, char **argv);
static void help_usage(FILE *out);

static const struct cli_command commands[] = {
    {"demo", "the mission on WordNet, with the synthetic workload alongside (--synthetic: only that)",
     cli_demo_run, cli_demo_usage},
    {"stats", "run the demo and print the store's statistics (table, JSON, Prometheus)",
     cli_stats_run, cli_stats_usage},
    {"load", "load a data set (WordNet 3.0) into a store and describe it",
     cli_load_run, cli_load_usage},
    {"query", "recall, spread or look up words in WordNet loaded in-process",
     cli_query_run, cli_query_usage},
    {"snapshot", "inspect or verify a snapshot file (cogmem snapshot inspect|verify PATH)",
     cli_snapshot_run, cli_snapshot_usage},
    {"version", "print the library's version", version_run, version_usage},
    {"help", "show help for the program or for one subcommand",
     help_run, help_usage},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct cli_command *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static int is_help_flag(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

static void program_usage(FILE *out)
{
    fprintf(out,
            "Usage: cogmem COMMAND [OPTIONS]\n"
            "       cogmem --help | --version\n"
            "\n"
            "cogmem %s — a lock-free, dual-memory (concepts and episodes)\n"
            "cognitive store. Commands:\n\n",
            cogmem_version());
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun 'cogmem COMMAND --help' for a command's options.\n");
}

static void version_usage(FILE *out)
{
    fprintf(out, "Usage: cogmem version\n\n"
                 "Print the version of the cogmem library in use.\n");
}

static int version_run(int argc, char **argv)
{
    if (argc > 1) {
        if (is_help_flag(argv[1])) {
            version_usage(stdout);
            return CLI_EXIT_OK;
        }
        cli_usage_error(argv[0], "unexpected argument '%s'", argv[1]);
        return CLI_EXIT_USAGE;
    }
    /* The library's version, not a compile-time constant: the program may
     * run against a newer libcogmem.so than it was built with. */
    printf("cogmem %s\n", cogmem_version());
    return CLI_EXIT_OK;
}

static void help_usage(FILE *out)
{
    fprintf(out, "Usage: cogmem help [COMMAND]\n\n"
                 "Show the program's help, or COMMAND's.\n");
}

static int help_run(int argc, char **argv)
{
    const struct cli_command *cmd;

    if (argc < 2) {
        program_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (is_help_flag(argv[1])) {
        help_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (argc > 2) {
        cli_usage_error(argv[0], "unexpected argument '%s'", argv[2]);
        return CLI_EXIT_USAGE;
    }
    cmd = find_command(argv[1]);
    if (cmd == NULL) {
        cli_usage_error(argv[0], "unknown command '%s'", argv[1]);
        return CLI_EXIT_USAGE;
    }
    cmd->usage(stdout);
    return CLI_EXIT_OK;
}

int main(int argc, char **argv)
{
    const struct cli_command *cmd;
    int rc;

    if (argc < 2) {
        program_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (is_help_flag(argv[1])) {
        program_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0)
        return version_run(1, &argv[1]);

    cmd = find_command(argv[1]);
    if (cmd == NULL) {
        fprintf(stderr, "cogmem: unknown command '%s'\n"
                        "Try 'cogmem --help'.\n", argv[1]);
        return CLI_EXIT_USAGE;
    }
    rc = cmd->run(argc - 1, &argv[1]);
    /* A full disk or a closed pipe would otherwise lose the report silently
     * while the exit status claims success. */
    if (fflush(stdout) != 0 && rc == CLI_EXIT_OK) {
        perror("cogmem: writing output");
        rc = CLI_EXIT_FAIL;
    }
    return rc;
}
