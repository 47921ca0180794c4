/* Error reporting, the opening of data, device and checkpoint, and the
 * parse-check-open-run sequence shared by every command. */
#define _GNU_SOURCE
#include "cli.h"
#include "opts.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "spurcl/device.h"
#include "spurcl/train.h"

int sc_cli_fail(const char *what)
{
    const char *detail = sc_last_error();
    if (what && *what)
        fprintf(stderr, "spurcl: %s: %s\n", what, *detail ? detail : "unknown error");
    else
        fprintf(stderr, "spurcl: %s\n", *detail ? detail : "unknown error");
    return SC_EXIT_FAIL;
}

int sc_cli_refuse_ssl_encoder(const char *cmd, const char *ckpt)
{
    bool ssl = false;
    if (sc_checkpoint_is_ssl_encoder(ckpt, &ssl) != SC_OK)
        return sc_cli_fail(cmd);
    if (!ssl)
        return SC_EXIT_OK;
    fprintf(stderr, "spurcl: %s: %s is a self-supervised encoder: its classification head was "
                    "never trained, so its accuracies and saliency would be a random head's; "
                    "evaluate it with 'spurcl probe --model %s'\n",
            cmd, ckpt, ckpt);
    return SC_EXIT_FAIL;
}

int sc_cli_usage_verror(const char *cmd, const char *fmt, va_list ap)
{
    fprintf(stderr, "spurcl %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'spurcl %s --help'.\n", cmd);
    return SC_EXIT_USAGE;
}

int sc_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sc_cli_usage_verror(cmd, fmt, ap);
    va_end(ap);
    return SC_EXIT_USAGE;
}

bool sc_cli_progress_enabled(const sc_cli_global *g)
{
    return !g->quiet && isatty(STDERR_FILENO);
}

/* Reads the checkpoint's model config first (when ckpt is not NULL), loads
 * the data set, opens the device and creates the checkpoint's model with its
 * weights (load_weights) or zero parameters. False when a step failed
 * (sc_last_error() says which). */
static bool open_session(sc_cli_session *s, const sc_cli_global *g, const char *data,
                         const char *ckpt, bool load_weights)
{
    sc_model_config mc;
    return (!ckpt || sc_checkpoint_model_config(ckpt, &mc) == SC_OK) &&
           sc_dataset_load(data, &s->d) == SC_OK &&
           sc_context_create(g->device, &s->ctx) == SC_OK &&
           (!ckpt || sc_model_create(s->ctx, &mc, &s->model) == SC_OK) &&
           (!ckpt || !load_weights || sc_checkpoint_load(ckpt, s->model, NULL, NULL) == SC_OK);
}

static void close_session(sc_cli_session *s)
{
    sc_model_free(s->model);
    sc_context_free(s->ctx);
    sc_dataset_free(s->d);
}

int sc_cli_run(const sc_cli_spec *spec, const sc_cli_global *g, int argc, char **argv)
{
    sc_cli_args *a = malloc(sizeof *a);
    if (!a)
        return sc_cli_fail(spec->name);
    int rc = sc_cli_parse(spec, argc, argv, a);
    if (rc == SC_CLI_CONTINUE && spec->check)
        rc = spec->check(a);
    sc_cli_session s = {.progress = {.quiet = g->quiet, .tty = sc_cli_progress_enabled(g)}};
    if (rc == SC_CLI_CONTINUE && spec->opens != SC_CLI_OPENS_NOTHING &&
        !open_session(&s, g, a->data, spec->opens == SC_CLI_OPENS_CHECKPOINT ? a->ckpt : NULL,
                     !a->random_encoder))
        rc = sc_cli_fail(spec->name);
    if (rc == SC_CLI_CONTINUE)
        rc = spec->run(g, a, &s);
    close_session(&s);
    free(a);
    return rc;
}
