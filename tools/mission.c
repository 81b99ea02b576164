/* cogmem demo — the mission on WordNet, with the synthetic workload running
 * concurrently (see mission.h).
 *
 * The workload runs in a child process (fork before any thread exists)
 * with its output in a temporary file, so that its report does not
 * interleave with the steps'; the parent prints it once the steps are
 * done and the child has stopped (SIGUSR1, once the workload has run for
 * at least --seconds) and passed its own checks.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "mission.h"
#include "progress.h"

#define CMD "demo"

/* The steps, in order. New steps go here (and in mission.h). */
static const struct demo_step *const steps[] = {
    &demo_step_load,
    &demo_step_recall,
    &demo_step_spread,
    &demo_step_decay,
    &demo_step_form,
    &demo_step_stats,
    &demo_step_persist, /* last: it closes and reopens the store */
};
#define N_STEPS (sizeof steps / sizeof steps[0])

static const char *const default_words[] = {"dog", "bank", "music", "run"};

int mission_vector(cogmem_store *s, uint64_t id, float *out, uint32_t dim)
{
    const cogmem_vec *v;
    int rc = cogmem_vec_get(s, id, &v);
    if (rc)
        return rc;
    memcpy(out, cogmem_vec_data(v), dim * sizeof *out);
    cogmem_vec_put(v);
    return 0;
}

bool mission_check(bool ok, const char *fmt, ...)
{
    va_list ap;
    printf("  %s: ", ok ? "ok" : "FAILED");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    return ok;
}

void cli_mission_usage(FILE *out)
{
    fprintf(out,
            "Usage: cogmem demo [OPTIONS]\n"
            "       cogmem demo --synthetic [SYNTHETIC OPTIONS]\n"
            "\n"
            "The mission on real data: load WordNet 3.0 (synsets as concepts,\n"
            "lemmas as episodes, senses as bindings), recall by a word's\n"
            "embedding, spreading activation from cue words and the fan\n"
            "effect, decay and pruning, and the store's statistics; meanwhile\n"
            "the synthetic mixed workload (--synthetic) runs on every core in\n"
            "a second store with its own checks. Exit status 1 if any check\n"
            "fails.\n"
            "\n"
            "Options:\n"
            "  --wordnet DIR  the WordNet files (default " WORDNET_DEFAULT_DIR ")\n"
            "  --dim N        embedding dimension (default 256)\n"
            "  --seconds N    the concurrent workload runs at least N s (default 3)\n"
            "  --threads N    its threads (default: online CPUs)\n"
            "  --words W,...  cue words (default dog,bank,music,run)\n"
            "  --synthetic    run only the synthetic workload demo (its\n"
            "                 options follow)\n"
            "  -h, --help     show this help\n");
}

/* ------------------------------------------------- the concurrent workload */

static void on_stop(int sig)
{
    (void)sig;
    cli_demo_request_stop();
}

struct workload {
    pid_t pid;
    FILE *log; /* the child's stdout */
};

/* Fork the synthetic demo with its stdout in a temporary file. SIGUSR1 is
 * blocked around the fork so that a stop sent early waits for the child's
 * handler instead of killing it. */
static int workload_start(struct workload *w, const struct mission_opts *o)
{
    sigset_t usr1, old;
    char seconds[32], threads[32];

    w->log = tmpfile();
    if (!w->log)
        return -errno;
    snprintf(seconds, sizeof seconds, "%d", 3600);
    snprintf(threads, sizeof threads, "%llu", (unsigned long long)o->threads);
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, &old);
    fflush(stdout);
    fflush(stderr);
    w->pid = fork();
    if (w->pid < 0) {
        int err = errno;
        sigprocmask(SIG_SETMASK, &old, NULL);
        fclose(w->log);
        return -err;
    }
    if (w->pid == 0) {
        /* Open-ended (an hour at most): the parent stops it. */
        char *argv[] = {"demo", "--seconds", seconds, "--threads", threads, NULL};
        struct sigaction sa = {.sa_handler = on_stop};
        FILE *null = fopen("/dev/null", "w");
        sigaction(SIGUSR1, &sa, NULL);
        sigprocmask(SIG_SETMASK, &old, NULL);
        if (dup2(fileno(w->log), STDOUT_FILENO) < 0 || !null)
            _exit(CLI_EXIT_FAIL);
        /* The statistics table of the workload's store is left out: the
         * demo ends with the WordNet store's. */
        int rc = cli_demo_main(5, argv, COGMEM_FMT_TABLE, null);
        fflush(stdout);
        _exit(rc);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    return 0;
}

/* Stop the child (after it has run `min_s` seconds since t0), print its
 * report, and return whether it passed its checks. */
static bool workload_finish(struct workload *w, double t0, double min_s)
{
    struct progress_bar bar;
    double left = min_s - (progress_now() - t0);
    int status = 0;
    char line[512];

    if (left > 0) {
        progress_begin(&bar, "mixed workload", (uint64_t)(left * 10), true);
        for (double t = 0; t < left; t += 0.1) {
            usleep(100000);
            progress_update(&bar, (uint64_t)(t * 10));
        }
        progress_end(&bar);
    }
    kill(w->pid, SIGUSR1);
    while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR)
        ;
    printf("\n== concurrently: the synthetic mixed workload (`cogmem demo "
           "--synthetic`) ==\n");
    rewind(w->log);
    unsigned progress_lines = 0;
    while (fgets(line, sizeof line, w->log)) {
        /* Its once-a-second progress lines (written to a file here, as
         * its duration was open-ended) are counted, not shown. */
        if (strstr(line, " ops/s  episodes ")) {
            progress_lines++;
            continue;
        }
        printf("  | %s", line);
    }
    if (progress_lines)
        printf("  (%u progress lines left out)\n", progress_lines);
    fclose(w->log);
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == CLI_EXIT_OK;
    return mission_check(ok, "the workload's own checks (exit status %d)",
                         WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* ------------------------------------------------------------- options */

static int split_words(struct mission_opts *o, char *list)
{
    o->n_words = 0;
    for (char *w = strtok(list, ","); w; w = strtok(NULL, ",")) {
        if (o->n_words == MISSION_MAX_WORDS)
            return -1;
        o->words[o->n_words++] = w;
    }
    return o->n_words ? 0 : -1;
}

static int parse(struct mission_opts *o, int argc, char **argv)
{
    /* One row per option: adding one is adding a row. */
    const struct {
        const char *name;
        uint64_t *u64;
        uint64_t min, max;
        double *dbl;
        const char **str;
    } opts[] = {
        {"--wordnet", NULL, 0, 0, NULL, &o->dir},
        {"--dim", &o->dim, 1, COGMEM_MAX_DIM, NULL, NULL},
        {"--threads", &o->threads, 1, 1024, NULL, NULL},
        {"--seconds", NULL, 0, 0, &o->seconds, NULL},
    };
    for (int i = 1; i < argc; i++) {
        const char *value;
        int m = 0;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            cli_mission_usage(stdout);
            return 1;
        }
        if ((m = cli_option(argc, argv, &i, "--words", &value)) > 0) {
            if (split_words(o, (char *)value)) {
                cli_usage_error(CMD, "--words wants 1 to %d words, comma-separated",
                                MISSION_MAX_WORDS);
                return -1;
            }
            continue;
        }
        for (size_t k = 0; m == 0 && k < sizeof opts / sizeof opts[0]; k++) {
            m = cli_option(argc, argv, &i, opts[k].name, &value);
            if (m <= 0)
                continue;
            if (opts[k].u64 && cli_parse_u64(CMD, opts[k].name, value, opts[k].min,
                                             opts[k].max, opts[k].u64))
                return -1;
            if (opts[k].dbl && cli_parse_double(CMD, opts[k].name, value, 0.0,
                                                3600.0, opts[k].dbl))
                return -1;
            if (opts[k].str)
                *opts[k].str = value;
        }
        if (m < 0) {
            cli_usage_error(CMD, "option '%s' needs a value", argv[i]);
            return -1;
        }
        if (m == 0) {
            cli_usage_error(CMD, "unknown argument '%s'", argv[i]);
            return -1;
        }
    }
    return 0;
}

int cli_mission_run(int argc, char **argv)
{
    long nproc = sysconf(_SC_NPROCESSORS_ONLN);
    struct mission_opts o = {
        .dir = WORDNET_DEFAULT_DIR,
        .dim = 256,
        .seconds = 3.0,
        .threads = nproc > 0 ? (uint64_t)nproc : 1,
    };
    struct mission m = {.o = &o};
    struct workload w = {.pid = -1, .log = NULL};
    bool ok = true;
    int rc;

    for (size_t i = 0; i < sizeof default_words / sizeof default_words[0]; i++)
        o.words[o.n_words++] = default_words[i];
    rc = parse(&o, argc, argv);
    if (rc)
        return rc > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;

    printf("cogmem %s demo: WordNet from %s, dim %llu; meanwhile the synthetic "
           "mixed workload on %llu threads\n", cogmem_version(), o.dir,
           (unsigned long long)o.dim, (unsigned long long)o.threads);
    rc = workload_start(&w, &o);
    if (rc) {
        cli_report("starting the concurrent workload", rc);
        return CLI_EXIT_FAIL;
    }
    double t0 = progress_now();
    for (size_t i = 0; i < N_STEPS; i++) {
        printf("\n== %zu. %s ==\n", i + 1, steps[i]->title);
        fflush(stdout);
        bool step_ok = steps[i]->run(&m);
        ok = step_ok && ok;
        fflush(stdout);
        if (!m.wn) /* nothing to go on with (the load failed) */
            break;
    }
    ok = workload_finish(&w, t0, o.seconds) && ok;
    rc = wordnet_close(m.wn);
    if (rc) {
        cli_report("cogmem_close", rc);
        ok = false;
    }
    mission_remove_store(&m); /* if a step failed before step_persist */
    printf("%s\n", ok ? "demo OK" : "demo FAILED");
    return ok ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
