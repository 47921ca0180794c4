/* spurcl eval: per-group accuracy of a checkpoint on a data set. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "opts.h"

static void defaults(sc_cli_args *a)
{
    a->run = &a->run_store;
    a->run->batch_size = 512; /* evaluation only: no library config holds it */
    a->split = -1;            /* val and test */
}

static int run(const sc_cli_global *g, sc_cli_args *a, sc_cli_session *s)
{
    (void)g;
    double *props = NULL;
    int rc = SC_EXIT_OK;
    if (sc_group_props(s->d, SC_SPLIT_TRAIN, &props) != SC_OK)
        rc = sc_cli_fail("eval");
    for (int k = SC_SPLIT_VAL; k <= SC_SPLIT_TEST && rc == SC_EXIT_OK; k++) {
        sc_group_metrics gm;
        if (a->split >= 0 && a->split != k)
            continue;
        if (sc_evaluate(s->ctx, s->model, s->d, (sc_split)k, props, a->run->batch_size, &gm) !=
            SC_OK) {
            rc = sc_cli_fail("eval");
            break;
        }
        sc_cli_print_groups(stdout, sc_split_name((sc_split)k), &gm, s->d);
        sc_group_metrics_free(&gm);
    }
    free(props);
    return rc;
}

static const sc_cli_spec spec = {
    "eval", SC_CLI_EVAL,
    "spurcl [--device SEL] eval --model CKPT --data FILE [--split val|test|both]",
    "Per-group accuracy of a checkpoint (written by train, jtt or ule) on a\n"
    "data set: worst-group accuracy, the average over all samples, the mean of\n"
    "group accuracies and the average weighted by the training split's group\n"
    "proportions, then the table label x attribute.\n",
    defaults, NULL, SC_CLI_OPENS_CHECKPOINT, run, .flat = true,
};

SC_CLI_COMMAND(sc_cmd_eval, spec)
