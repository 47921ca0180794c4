/* spurcl demo: the robustness demo, the comparison of every method on the
 * SpuCo-style default data set at a ten-minute budget (sc_demo_run). */
#define _GNU_SOURCE
#include <stdio.h>

#include "cli.h"
#include "opts.h"

static void defaults(sc_cli_args *a)
{
    sc_demo_config_default(&a->demo);
    /* the demo's run settings share the trainers' options */
    a->run = &a->run_store;
    a->run->epochs = a->demo.epochs;
    a->run->eval_every = a->demo.eval_every;
    a->run->log_every = a->demo.log_every;
    a->run->seed = a->demo.seed;
    a->run->run_dir = a->demo.out;
}

/* The data set the demo builds, for config.json. */
static int check(sc_cli_args *a)
{
    snprintf(a->data_buf, sizeof a->data_buf, "%s/spuco.safetensors", a->run->run_dir);
    return SC_CLI_CONTINUE;
}

static int run(const sc_cli_global *g, sc_cli_args *a, sc_cli_session *s)
{
    sc_demo_config *dc = &a->demo;
    dc->epochs = a->run->epochs;
    dc->eval_every = a->run->eval_every;
    dc->log_every = a->run->log_every;
    dc->seed = a->run->seed;
    dc->out = a->run->run_dir;
    dc->record = a->run->record;
    if (sc_demo_build_data(dc, &s->d) != SC_OK)
        return sc_cli_fail("demo");
    if (!g->quiet)
        fprintf(stderr, "demo: %s/spuco.safetensors built (%lld images: %d super-classes of "
                        "Fashion-MNIST, background colour %s with rho %g); %d methods x %d seeds "
                        "follow\n",
                dc->out, (long long)s->d->n, s->d->num_classes,
                sc_spuco_difficulty_name(dc->difficulty), dc->rho, SC_METHOD_COUNT, dc->seeds);
    if (sc_context_create(g->device, &s->ctx) != SC_OK)
        return sc_cli_fail("demo");
    dc->progress = sc_cli_progress;
    dc->progress_ud = &s->progress;
    sc_compare_result r;
    if (sc_demo_run(s->ctx, s->d, dc, &r) != SC_OK)
        return sc_cli_fail("demo");
    int64_t ntrain = 0;
    for (int64_t i = 0; i < s->d->n; i++)
        ntrain += s->d->split[i] == SC_SPLIT_TRAIN;
    printf("SpuCo-style Fashion-MNIST: %d classes x %d background colours, %s, rho %g; %lld "
           "training images\ncnn, %d epoch(s) per method, val every %lld steps; %.0f s on %s "
           "(%d runs trained, %d found finished)\n\n",
           s->d->num_classes, s->d->num_attrs, sc_spuco_difficulty_name(dc->difficulty), dc->rho,
           (long long)ntrain, dc->epochs, (long long)dc->eval_every, r.seconds,
           sc_context_device(s->ctx)->name, r.runs, r.skipped);
    sc_cli_print_comparison(stdout, &r, dc->seeds);
    printf("\ngroup labels used: none = training and selection without them; val = DFR fits on "
           "group-balanced val;\ntrain = GroupDRO trains on them (the oracle). ULE: the "
           "teacher's last layer on the seed's frozen ERM model.\n");
    printf("files: %s/results.csv, results.json, chart.png; every run in %s/<method>/seed-<s>\n",
           dc->out, dc->out);
    return SC_EXIT_OK;
}

static const sc_cli_spec spec = {
    "demo", SC_CLI_DEMO, "spurcl [--device SEL] demo [options]",
    "The robustness demo: builds the SpuCo-style data set from Fashion-MNIST\n"
    "(5 super-classes, each with its own background colour on 99.5% of its\n"
    "training images; val and test balanced) and compares ERM, JTT, GroupDRO,\n"
    "DFR and ULE over several seeds, as 'spurcl compare' does: each run's model\n"
    "is selected by val average accuracy (no group labels) and, in a separate\n"
    "column, by val worst-group accuracy; the table gives test worst-group and\n"
    "average accuracy, mean +- sd over seeds. The budget is sized to finish in\n"
    "about ten minutes on a 2-core CPU. It always resumes: running it again\n"
    "with the same --out skips the finished runs and trains the rest (no\n"
    "--resume needed; the default DIR stays runs/demo for that). Every run's\n"
    "directory gets its config.json. Before each run, a line gives the runs done\n"
    "of all, the time so far and the ETA (also in DIR/log.txt). Writes\n"
    "DIR/results.csv, results.json and chart.png.\n"
    "Data-parallel (a build with MPI): under 'mpirun -np N spurcl demo ...'\n"
    "every rank builds the data set (the same, checked), rank 0 alone writes\n"
    "it and DIR, and the comparison runs as 'spurcl compare' does there.\n",
    defaults, check, SC_CLI_OPENS_NOTHING, run, .flat = true,
};

SC_CLI_COMMAND(sc_cmd_demo, spec)
