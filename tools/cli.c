/* cogmem command-line program — option parsing and error reporting. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cogmem.h"

void cli_report(const char *what, int rc)
{
    fprintf(stderr, "cogmem: %s: %s\n", what, cogmem_strerror(rc));
}

void cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "cogmem %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'cogmem %s --help'.\n", cmd);
}

int cli_option(int argc, char **argv, int *i, const char *name,
               const char **value)
{
    const char *arg = argv[*i];
    size_t len = strlen(name);

    if (strncmp(arg, name, len) != 0)
        return 0;
    if (arg[len] == '=') {
        *value = arg + len + 1;
        return 1;
    }
    if (arg[len] != '\0')
        return 0; /* a longer option that merely starts with `name` */
    if (*i + 1 >= argc)
        return -1;
    *i += 1;
    *value = argv[*i];
    return 1;
}

int cli_parse_u64(const char *cmd, const char *opt, const char *s,
                  uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    /* strtoull accepts a sign and wraps "-1" to ULLONG_MAX; insist on a
     * leading digit so that a negative count is an error, not a huge one. */
    if (*s < '0' || *s > '9')
        goto bad;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        goto bad;
    *out = (uint64_t)v;
    return 0;
bad:
    cli_usage_error(cmd, "%s wants a whole number from %llu to %llu, not '%s'",
                    opt, (unsigned long long)min, (unsigned long long)max, s);
    return -1;
}

int cli_parse_double(const char *cmd, const char *opt, const char *s,
                     double min, double max, double *out)
{
    char *end;
    double v;

    if ((*s < '0' || *s > '9') && *s != '.')
        goto bad;
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v) || v < min || v > max)
        goto bad;
    *out = v;
    return 0;
bad:
    cli_usage_error(cmd, "%s wants a number from %g to %g, not '%s'",
                    opt, min, max, s);
    return -1;
}
