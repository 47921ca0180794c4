/* Shared pieces of the spurcl command-line tool.
 *
 * Each command is `int sc_cmd_NAME(const sc_cli_global *g, int argc, char **argv)`
 * with argv[0] the command's name; it parses its own options (getopt_long),
 * calls one library function and returns the process exit code:
 * 0 ok, 1 failure (message from sc_last_error()), 2 bad usage. */
#ifndef SC_CLI_H
#define SC_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "spurcl/error.h"
#include "spurcl/nn.h"

enum { SC_EXIT_OK = 0, SC_EXIT_FAIL = 1, SC_EXIT_USAGE = 2 };

typedef struct sc_cli_global {
    const char *device;   /* --device SEL, or NULL (then $SPURCL_DEVICE / auto) */
    bool quiet;           /* --quiet: no progress output */
} sc_cli_global;

/* Prints "spurcl: <what>: <sc_last_error()>" on stderr and returns 1. */
int sc_cli_fail(const char *what);

/* Prints "spurcl <cmd>: <message>" and a hint to --help on stderr; returns 2. */
int sc_cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Strict number parsing: the whole string must be a number inside [lo, hi].
 * On failure prints a usage error naming the option and returns false. */
bool sc_cli_parse_double(const char *cmd, const char *opt, const char *s,
                         double lo, double hi, double *out);
bool sc_cli_parse_int(const char *cmd, const char *opt, const char *s,
                      long long lo, long long hi, long long *out);

/* true-logit | pred-logit | loss -> the saliency target; on anything else
 * prints a usage error naming the option and returns false. */
bool sc_cli_parse_saliency_target(const char *cmd, const char *opt, const char *s,
                                  sc_saliency_target *out);

/* Resets getopt so a command can parse its own argv. */
void sc_cli_reset_getopt(void);

/* True when stderr is a terminal and progress output is wanted. */
bool sc_cli_progress_enabled(const sc_cli_global *g);

int sc_cmd_devices(const sc_cli_global *g, int argc, char **argv);
int sc_cmd_selftest(const sc_cli_global *g, int argc, char **argv);
int sc_cmd_data(const sc_cli_global *g, int argc, char **argv);
int sc_cmd_train(const sc_cli_global *g, int argc, char **argv);
int sc_cmd_eval(const sc_cli_global *g, int argc, char **argv);
int sc_cmd_jtt(const sc_cli_global *g, int argc, char **argv);
int sc_cmd_ule(const sc_cli_global *g, int argc, char **argv);
int sc_cmd_saliency(const sc_cli_global *g, int argc, char **argv);
int sc_cmd_demo(const sc_cli_global *g, int argc, char **argv);
int sc_cmd_ssl(const sc_cli_global *g, int argc, char **argv);
int sc_cmd_probe(const sc_cli_global *g, int argc, char **argv);

#endif
