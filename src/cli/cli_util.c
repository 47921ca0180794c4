/* Error reporting and option parsing shared by every command. */
#define _GNU_SOURCE
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

int sc_cli_fail(const char *what)
{
    const char *detail = sc_last_error();
    if (what && *what)
        fprintf(stderr, "spurcl: %s: %s\n", what, *detail ? detail : "unknown error");
    else
        fprintf(stderr, "spurcl: %s\n", *detail ? detail : "unknown error");
    return SC_EXIT_FAIL;
}

int sc_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "spurcl %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'spurcl %s --help'.\n", cmd);
    return SC_EXIT_USAGE;
}

bool sc_cli_parse_saliency_target(const char *cmd, const char *opt, const char *s,
                                  sc_saliency_target *out)
{
    if (sc_saliency_target_parse(s, out) != SC_OK) {
        sc_cli_usage_error(cmd, "%s: %s", opt, sc_last_error());
        return false;
    }
    return true;
}

bool sc_cli_parse_double(const char *cmd, const char *opt, const char *s,
                         double lo, double hi, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !isfinite(v)) {
        sc_cli_usage_error(cmd, "%s expects a number, got '%s'", opt, s);
        return false;
    }
    if (v < lo || v > hi) {
        sc_cli_usage_error(cmd, "%s must be in [%g, %g], got %s", opt, lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

bool sc_cli_parse_int(const char *cmd, const char *opt, const char *s,
                      long long lo, long long hi, long long *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end != '\0') {
        sc_cli_usage_error(cmd, "%s expects an integer, got '%s'", opt, s);
        return false;
    }
    if (v < lo || v > hi) {
        sc_cli_usage_error(cmd, "%s must be in [%lld, %lld], got %s", opt, lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

void sc_cli_reset_getopt(void)
{
    optind = 0; /* glibc: 0 re-initialises getopt completely */
    opterr = 0; /* commands print their own messages */
}

bool sc_cli_progress_enabled(const sc_cli_global *g)
{
    return !g->quiet && isatty(STDERR_FILENO);
}
