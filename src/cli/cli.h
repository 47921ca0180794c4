/* Shared pieces of the spurcl command-line tool.
 *
 * Each command is `int sc_cmd_NAME(const sc_cli_global *g, int argc, char **argv)`
 * with argv[0] the command's name, in its own cmd_NAME.c; it parses its
 * options with sc_cli_parse (opts.h, from the one option table), calls the
 * library and returns the process exit code: 0 ok, 1 failure (message from
 * sc_last_error()), 2 bad usage. */
#ifndef SC_CLI_H
#define SC_CLI_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "report.h"
#include "spurcl/error.h"
#include "spurcl/model.h"

enum { SC_EXIT_OK = 0, SC_EXIT_FAIL = 1, SC_EXIT_USAGE = 2 };

typedef struct sc_cli_global {
    const char *device;   /* --device SEL, or NULL (then $SPURCL_DEVICE / auto) */
    bool quiet;           /* --quiet: no progress output */
    int argc;             /* the whole command line, for config.json */
    char **argv;
} sc_cli_global;

/* Prints "spurcl: <what>: <sc_last_error()>" on stderr and returns 1. */
int sc_cli_fail(const char *what);
/* For commands that read a checkpoint's classification head (eval,
 * saliency): SC_EXIT_FAIL with a message when `ckpt` is a self-supervised
 * encoder, whose head was never trained; else SC_EXIT_OK. */
int sc_cli_refuse_ssl_encoder(const char *cmd, const char *ckpt);
/* JTT upweights the training samples its first model gets wrong, meant to
 * be the minority groups': one line on stderr when the training split has
 * none (every class with one attribute value, as at rho 1.0). */
void sc_cli_warn_jtt_no_minority(const char *cmd, const sc_dataset *d);

/* Prints "spurcl <cmd>: <message>" and a hint to --help on stderr; returns 2. */
int sc_cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int sc_cli_usage_verror(const char *cmd, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* True when stderr is a terminal and progress output is wanted. */
bool sc_cli_progress_enabled(const sc_cli_global *g);

/* What a command works on (opened and closed by sc_cli_run, opts.h): its
 * data set, the device, the model of a checkpoint when it names one, and
 * the state of the trainers' progress callback. */
typedef struct sc_cli_session {
    sc_dataset *d;
    sc_context *ctx;
    sc_model *model;
    sc_cli_progress_state progress;
} sc_cli_session;

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
int sc_cmd_groupdro(const sc_cli_global *g, int argc, char **argv);
int sc_cmd_dfr(const sc_cli_global *g, int argc, char **argv);
int sc_cmd_compare(const sc_cli_global *g, int argc, char **argv);
int sc_cmd_report(const sc_cli_global *g, int argc, char **argv);

#endif
