/* Error reporting, the opening of data, device and checkpoint, and the
 * parse-check-open-run sequence shared by every command. */
#define _GNU_SOURCE
#include "cli.h"
#include "opts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "spurcl/device.h"
#include "spurcl/dist.h"
#include "spurcl/sys.h"
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

void sc_cli_warn_jtt_no_minority(const char *cmd, const sc_dataset *d)
{
    /* the attribute each class was first seen with in the training split;
     * a second one is a minority */
    int first[4096];
    if (d->num_classes < 1 || d->num_classes > 4096)
        return;
    for (int y = 0; y < d->num_classes; y++)
        first[y] = -1;
    for (int64_t i = 0; i < d->n; i++) {
        if (d->split[i] != SC_SPLIT_TRAIN || d->labels[i] < 0 || d->labels[i] >= d->num_classes)
            continue;
        int *a = &first[d->labels[i]];
        if (*a >= 0 && *a != d->attrs[i])
            return;
        *a = d->attrs[i];
    }
    fprintf(stderr, "%s: warning: the training split has no minority group (every class comes "
                    "with one attribute value, as at rho 1.0): the errors JTT upweights cannot be "
                    "minority samples, so it has nothing to correct\n",
            cmd);
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

/* Without --out: BASE-YYYYMMDD-HHMMSS in local time, or with -2, -3, ...
 * when that exists; created here (mkdir fails on a name another run took
 * in the same second). */
static int fresh_run_dir(sc_cli_args *a)
{
    char stamp[32], parent[4096];
    time_t t = time(NULL);
    struct tm tm;
    if (!localtime_r(&t, &tm) || !strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm))
        snprintf(stamp, sizeof stamp, "%lld", (long long)t);
    snprintf(parent, sizeof parent, "%s", a->fresh_base);
    char *slash = strrchr(parent, '/');
    if (slash) {
        *slash = '\0';
        struct stat sb;
        a->fresh_parent_made = stat(parent, &sb) != 0;
        if (sc_mkdir_p(parent) != SC_OK)
            return sc_cli_fail(a->spec->name);
    }
    int e = EEXIST; /* every name up to -999 taken */
    for (int k = 1; k < 1000; k++) {
        int n = k == 1 ? snprintf(a->run_dir_buf, sizeof a->run_dir_buf, "%s-%s", a->fresh_base,
                                  stamp)
                       : snprintf(a->run_dir_buf, sizeof a->run_dir_buf, "%s-%s-%d",
                                  a->fresh_base, stamp, k);
        if (n < 0 || (size_t)n >= sizeof a->run_dir_buf) {
            e = ENAMETOOLONG;
            break;
        }
        if (mkdir(a->run_dir_buf, 0777) == 0) {
            a->run->run_dir = a->run_dir_buf;
            return SC_CLI_CONTINUE;
        }
        if (errno != EEXIST) {
            e = errno;
            break;
        }
    }
    fprintf(stderr, "spurcl: %s: cannot create a new run directory %s-%s: %s\n", a->spec->name,
            a->fresh_base, stamp, strerror(e));
    return SC_EXIT_FAIL;
}

/* Before a command that writes a run directory opens anything: the options
 * that go together, the directory's name (a new one without --out), the
 * warning for a run an older spurcl made, and the record config.json gets. */
static int prepare_run_dir(sc_cli_args *a, const sc_cli_global *g)
{
    sc_run_config *run = a->run;
    const char *cmd = a->spec->name;
    if (!run || (!run->run_dir && !a->fresh_base))
        return SC_CLI_CONTINUE;
    if (run->resume && run->force)
        return sc_cli_usage_error(cmd, "--resume continues the run in --out and --force starts "
                                       "a new one over it: give one of them");
    if (a->overrides && !run->resume)
        return sc_cli_usage_error(cmd, "--override accepts a changed setting when resuming: it "
                                       "needs --resume");
    run->overrides = a->overrides;
    if (!run->run_dir) {
        if (run->resume)
            return sc_cli_usage_error(cmd, "--resume needs --out DIR, the run to continue "
                                           "(without --out every run gets a new directory)");
        /* under mpirun rank 0 names and makes it, and tells the others */
        int rc = sc_dist_writes() ? fresh_run_dir(a) : SC_CLI_CONTINUE;
        if (rc != SC_CLI_CONTINUE)
            return rc;
        if (sc_dist_bcast(a->run_dir_buf, sizeof a->run_dir_buf, "the run directory's name") !=
            SC_OK)
            return sc_cli_fail(cmd);
        run->run_dir = a->run_dir_buf;
    }
    printf("run directory: %s\n", run->run_dir);
    fflush(stdout);
    char path[4200];
    struct stat sb;
    snprintf(path, sizeof path, "%s/config.json", run->run_dir);
    if (run->resume && stat(run->run_dir, &sb) == 0 && stat(path, &sb) != 0)
        fprintf(stderr, "spurcl %s: warning: %s has no config.json (an older spurcl made it): "
                        "its settings cannot be compared with these; resuming with these\n",
                cmd, run->run_dir);
    /* the data file by its absolute path where it resolves (the setting
     * "data" keeps it as given) */
    const char *data = a->data ? a->data : a->data_buf[0] ? a->data_buf : NULL;
    char *abs = data ? realpath(data, NULL) : NULL;
    a->record = sc_cli_record(a, g, abs ? abs : data);
    free(abs);
    if (!a->record) {
        fprintf(stderr, "spurcl: %s: out of host memory\n", cmd);
        return SC_EXIT_FAIL;
    }
    run->record = a->record;
    return SC_CLI_CONTINUE;
}

/* A directory this invocation created and left empty (it failed before
 * writing anything) goes again, and so does its parent ("runs") when this
 * invocation made it. rmdir fails, as it should, on one that holds files. */
static void drop_empty_fresh_dir(const sc_cli_args *a)
{
    if (!a->run || a->run->run_dir != a->run_dir_buf || !sc_dist_writes() ||
        rmdir(a->run_dir_buf) != 0 ||
        !a->fresh_parent_made)
        return;
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", a->fresh_base);
    char *slash = strrchr(parent, '/');
    if (slash) {
        *slash = '\0';
        rmdir(parent);
    }
}

int sc_cli_run(const sc_cli_spec *spec, const sc_cli_global *g, int argc, char **argv)
{
    sc_cli_args *a = malloc(sizeof *a);
    if (!a)
        return sc_cli_fail(spec->name);
    int rc = sc_cli_parse(spec, argc, argv, a);
    if (rc == SC_CLI_CONTINUE && spec->check)
        rc = spec->check(a);
    if (rc == SC_CLI_CONTINUE)
        rc = prepare_run_dir(a, g);
    sc_cli_session s = {.progress = {.quiet = g->quiet, .tty = sc_cli_progress_enabled(g)}};
    if (rc == SC_CLI_CONTINUE && spec->opens != SC_CLI_OPENS_NOTHING &&
        !open_session(&s, g, a->data, spec->opens == SC_CLI_OPENS_CHECKPOINT ? a->ckpt : NULL,
                     !a->random_encoder))
        rc = sc_cli_fail(spec->name);
    if (rc == SC_CLI_CONTINUE)
        rc = spec->run(g, a, &s);
    close_session(&s);
    drop_empty_fresh_dir(a);
    free(a->record);
    free(a);
    return rc;
}
