/* spurcl dfr: last-layer retraining of a trained model (Kirichenko et al. 2022). */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "opts.h"
#include "spurcl/dist.h"
#include "spurcl/sys.h"

static void defaults(sc_cli_args *a)
{
    sc_dfr_config_default(&a->dfr);
    sc_cli_bind(a, &a->run_store, NULL, "runs/dfr");
}

static int run(const sc_cli_global *g, sc_cli_args *a, sc_cli_session *s)
{
    (void)g;
    sc_dfr_config *c = &a->dfr;
    c->seed = a->run->seed;
    /* the directory is checked and config.json written before the fits;
     * dfr has no --resume, so its refusal offers --force alone. Under
     * mpirun rank 0 alone checks and writes (another rank would find the
     * files rank 0 has begun to write); a refusal there ends the job. */
    bool writes = sc_dist_writes();
    DIR *dp = a->run->force || !writes ? NULL : opendir(a->run->run_dir);
    bool used = false;
    for (const struct dirent *e; dp && !used && (e = readdir(dp)) != NULL;)
        used = strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (dp)
        closedir(dp);
    if (used) {
        fprintf(stderr, "spurcl: dfr: %s is not empty: pass --force to write the new model over "
                        "its files, or give another --out\n", a->run->run_dir);
        return SC_EXIT_FAIL;
    }
    if (writes && sc_run_record(s->ctx, s->d, a->run, "dfr") != SC_OK)
        return sc_cli_fail("dfr");
    sc_dfr_result r;
    if (sc_dfr(s->ctx, s->model, s->d, c, &r) != SC_OK)
        return sc_cli_fail("dfr");
    if (!writes) { /* every rank has the same head: rank 0 reports and writes */
        sc_dfr_result_free(&r);
        return SC_EXIT_OK;
    }
    printf("DFR: held-out worst-group accuracy of each C (fit on a balanced subset of half of "
           "val, scored on the other half):\n");
    for (int i = 0; i < c->n_c; i++)
        printf("%c C %-8g %.4f\n", c->c_grid[i] == r.c ? '*' : ' ', c->c_grid[i], r.tune_wga[i]);
    printf("final head: the mean of %d fits with C %g on balanced subsets of %lld val samples "
           "(%.1f s)\n", c->fits, r.c, (long long)r.subset, r.seconds);
    sc_cli_print_groups(stdout, "val (the head was fitted on it)", &r.val, s->d);
    sc_cli_print_groups(stdout, "test", &r.test, s->d);
    char path[4096];
    int rc = SC_EXIT_OK;
    snprintf(path, sizeof path, "%s/dfr.safetensors", a->run->run_dir);
    char meta[64];
    snprintf(meta, sizeof meta, "{\"dfr_c\": %g}", r.c);
    if (sc_checkpoint_save(path, r.model, NULL, 0, c->seed, meta) != SC_OK ||
        sc_cli_write_eval_json(a->run->run_dir, "dfr", -1, 0, &r.val, &r.test, s->d) != SC_OK)
        rc = sc_cli_fail("dfr");
    else
        printf("model with the new head: %s\n", path);
    sc_dfr_result_free(&r);
    return rc;
}

static const sc_cli_spec spec = {
    "dfr", SC_CLI_DFR, "spurcl [--device SEL] dfr --model CKPT --data FILE [options]",
    "DFR (Kirichenko et al. 2022): retrain the last layer of a trained model on\n"
    "its penultimate features (standardised with the training split's\n"
    "statistics) with an L1-regularised logistic regression on group-balanced\n"
    "subsets of the validation split; C is chosen by worst-group accuracy on a\n"
    "held-out half of val, and the final head averages --fits fits on all of\n"
    "val. Reads the validation split's group labels, as the paper does. Writes\n"
    "DIR/config.json (the settings, data checksum, version) and\n"
    "DIR/dfr.safetensors: the model with the new head (eval, saliency take it),\n"
    "and DIR/eval.json: its val and test tables ('spurcl report DIR').\n"
    "Data-parallel (a build with MPI): under 'mpirun -np N spurcl dfr ...' the\n"
    "features are computed sharded and gathered, the values of C and the fits\n"
    "are shared out among the ranks (each fit whole on one rank) and their\n"
    "scores and heads exchanged, and rank 0 writes the files: the head is one\n"
    "process's up to the features' float32 rounding.\n",
    defaults, NULL, SC_CLI_OPENS_CHECKPOINT, run, .flat = false,
};

SC_CLI_COMMAND(sc_cmd_dfr, spec)
