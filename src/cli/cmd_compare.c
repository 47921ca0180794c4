/* spurcl compare: methods x seeds x grid on one data set, one table. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "opts.h"
#include "spurcl/dist.h"

static void defaults(sc_cli_args *a)
{
    sc_compare_config_default(&a->compare);
    /* a fixed default directory: running again resumes the comparison */
    sc_cli_bind(a, &a->compare.train.run, &a->compare.train.model, NULL);
    a->compare.train.run_dir = a->compare.out;
    sc_jtt_config_default(&a->jtt);
    sc_dro_config_default(&a->dro);
    sc_dfr_config_default(&a->dfr);
    sc_ule_config_default(&a->ule);
    a->ule.loss = a->compare.ule_loss;
}

int sc_cli_compare_run(const sc_cli_global *g, sc_cli_args *a, sc_cli_session *s)
{
    sc_compare_config *c = &a->compare;
    c->out = c->train.run_dir;
    c->jtt_id_epochs = a->jtt.id_epochs;
    c->jtt_upweight = a->jtt.upweight;
    c->dro_eta = a->dro.eta;
    c->dro_adjustment = a->dro.adjustment;
    c->dro_balanced = a->dro.balanced;
    c->dfr = a->dfr;
    c->ule_loss = a->ule.loss;
    if (a->nlambdas == 1)
        c->ule_loss.lambda = (float)a->lambdas[0];
    c->progress = sc_cli_progress;
    c->progress_ud = &s->progress;
    if (c->methods[SC_METHOD_JTT] && sc_dist_writes()) /* once under mpirun */
        sc_cli_warn_jtt_no_minority(a->spec->name, s->d);
    sc_compare_result r;
    if (sc_compare_run(s->ctx, s->d, c, &r) != SC_OK)
        return sc_cli_fail(a->spec->name);
    sc_cli_print_comparison(stdout, &r, c->seeds);
    if (!g->quiet)
        fprintf(stderr, "%s: %d runs trained, %d found finished, %.0f s\n", a->spec->name,
                r.runs, r.skipped, r.seconds);
    printf("files: %s/results.csv, results.json, chart.png; every run in %s/<method>/...\n",
           c->out, c->out);
    return SC_EXIT_OK;
}

/* A --lambda list is the grid's ule.lambda sweep (as 'spurcl ule' sweeps
 * it): appended to --grid, which must not sweep it too. */
static int check(sc_cli_args *a)
{
    if (a->nlambdas < 2)
        return SC_CLI_CONTINUE;
    const char *grid = a->compare.grid;
    if (grid && strstr(grid, "ule.lambda"))
        return sc_cli_usage_error("compare", "--lambda and --grid '%s' both sweep the ULE "
                                             "lambda: give it once", grid);
    char *buf = a->grid_buf;
    size_t cap = sizeof a->grid_buf;
    int n = snprintf(buf, cap, "%s%sule.lambda=", grid ? grid : "", grid ? ";" : "");
    for (int i = 0; i < a->nlambdas && n > 0 && (size_t)n < cap; i++)
        n += snprintf(buf + n, cap - (size_t)n, "%s%.9g", i ? "," : "", a->lambdas[i]);
    if (n <= 0 || (size_t)n >= cap)
        return sc_cli_usage_error("compare", "--grid and --lambda together are too long");
    a->compare.grid = buf;
    return SC_CLI_CONTINUE;
}

static const sc_cli_spec spec = {
    "compare", SC_CLI_COMPARE, "spurcl [--device SEL] compare --data FILE [options]",
    "A robustness comparison: ERM, JTT, GroupDRO, DFR and ULE x seeds (x an\n"
    "optional hyperparameter grid) on one data set. Every run evaluates val and\n"
    "test every --eval-every steps; each run's model is selected twice, by val\n"
    "average accuracy (no group labels) and, in a separate column, by val\n"
    "worst-group accuracy; a grid's setting is chosen the same way by its mean\n"
    "over seeds. The table gives mean and standard deviation over seeds of test\n"
    "worst-group accuracy and of test average accuracy weighted by the training\n"
    "groups' shares. ULE runs the paper's setting by default: both models start\n"
    "from the seed's ERM model and train their last layers on the frozen\n"
    "backbone; DFR refits the same model's last layer. Runs are kept in\n"
    "DIR/<method>/[<setting>/]seed-<s>; a finished run is skipped, so running\n"
    "the same command again resumes (a run finished with other settings, data\n"
    "or model is an error, never reused): DIR may hold files, and --resume and\n"
    "--force are not needed. Every run's directory gets its config.json (the\n"
    "command's settings, the run's own, the data checksum, the version); DIR's\n"
    "records the latest invocation. Before each run it trains, a line gives the\n"
    "runs done of all, the time so far and an ETA from the mean time of the runs\n"
    "trained (also in DIR/log.txt). Writes DIR/results.csv, results.json\n"
    "and chart.png.\n"
    "Data-parallel (a build with MPI): under 'mpirun -np N spurcl compare ...'\n"
    "every run runs on all the ranks (as 'spurcl train', 'dfr', ... do there)\n"
    "and rank 0 alone reads and writes DIR: the same files and table as one\n"
    "process, up to float32 rounding.\n",
    defaults, check, SC_CLI_OPENS_DATA, sc_cli_compare_run, .flat = false,
};

SC_CLI_COMMAND(sc_cmd_compare, spec)
