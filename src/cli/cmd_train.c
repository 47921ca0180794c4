/* spurcl train: plain supervised training (ERM). */
#define _GNU_SOURCE
#include <stdio.h>

#include "cli.h"
#include "opts.h"
#include "spurcl/dist.h"

static void defaults(sc_cli_args *a)
{
    sc_train_config_default(&a->train);
    sc_cli_bind(a, &a->train.run, &a->train.model, "runs/train");
}

static int run(const sc_cli_global *g, sc_cli_args *a, sc_cli_session *s)
{
    sc_train_config *c = &a->train;
    c->progress = sc_cli_progress;
    c->progress_ud = &s->progress;
    if (!g->quiet)
        fprintf(stderr, "train: %s model, %d epochs, batch %lld, on %s; run directory %s\n",
                sc_model_kind_name(c->model.kind), c->epochs, (long long)c->batch_size,
                sc_context_device(s->ctx)->name, c->run_dir);
    sc_train_result r;
    if (sc_train_erm(s->ctx, s->d, c, &r) != SC_OK) {
        if (s->progress.tty && !g->quiet)
            fputs("\n", stderr);
        return sc_cli_fail("train");
    }
    if (!sc_dist_writes()) { /* rank 0 reports and writes the files */
        sc_train_result_free(&r);
        return SC_EXIT_OK;
    }
    printf("selected model: step %lld, epoch %d (selection: %s%s)\n", (long long)r.selected_step,
           r.selected_epoch, sc_select_name(c->select),
           c->select == SC_SELECT_VAL_WGA ? "; uses the validation split's group labels" : "");
    int rc = sc_cli_report_run("train", "erm", &r, s->d, c->run_dir);
    sc_train_result_free(&r);
    return rc;
}

static const sc_cli_spec spec = {
    "train", SC_CLI_TRAIN, "spurcl [--device SEL] train --data FILE [options]",
    "Plain supervised training (ERM), the floor every robustness table starts\n"
    "from. Training reads labels only. After every epoch (and every --eval-every\n"
    "steps) the validation split is evaluated per group; metrics go to\n"
    "DIR/metrics.jsonl (one JSON object a line) and checkpoints to\n"
    "DIR/last.safetensors (and best.safetensors with a --select other than last).\n"
    "Off a terminal, a progress line every --log-every seconds (step, images/s,\n"
    "ETA, last evaluation) and one per evaluation and per epoch; DIR/log.txt\n"
    "keeps them, timestamped, and DIR/curves.png plots the training loss and\n"
    "the val average and worst-group accuracy over steps. At the end the\n"
    "per-group tables of the selected model on val and test are printed and\n"
    "written to DIR/eval.json and DIR/groups.csv ('spurcl report DIR' draws\n"
    "them on one page).\n"
    "Data-parallel (a build with MPI): under 'mpirun -np N spurcl train ...'\n"
    "--batch is the global batch, cut into N contiguous slices (one a rank,\n"
    "sizes within one of each other); every step averages the gradients over\n"
    "the global batch (one all-reduce), so --lr and the schedule mean what they\n"
    "mean for one process with the same --batch, and the weights match it up to\n"
    "float32 rounding. Each epoch's shuffle is the same on every rank, so every\n"
    "sample is used once per epoch. Each rank takes the device its node-local\n"
    "rank picks. Evaluation is sharded (every rank its slice, the counts\n"
    "summed); rank 0 alone prints and writes the run directory. --resume works\n"
    "under mpirun: rank 0 resumes, the others load the same checkpoints.\n",
    defaults, NULL, SC_CLI_OPENS_DATA, run, .flat = false,
};

SC_CLI_COMMAND(sc_cmd_train, spec)
