/* spurcl groupdro: the GroupDRO baseline (Sagawa et al. 2020). */
#define _GNU_SOURCE
#include <stdio.h>

#include "cli.h"
#include "opts.h"

static void defaults(sc_cli_args *a)
{
    sc_dro_config_default(&a->dro);
    sc_cli_bind(a, &a->dro.train.run, &a->dro.train.model, "runs/groupdro");
}

static int run(const sc_cli_global *g, sc_cli_args *a, sc_cli_session *s)
{
    (void)g;
    sc_dro_config *c = &a->dro;
    c->train.progress = sc_cli_progress;
    c->train.progress_ud = &s->progress;
    sc_train_result r;
    if (sc_train_group_dro(s->ctx, s->d, c, &r) != SC_OK)
        return sc_cli_fail("groupdro");
    printf("GroupDRO (eta %g, C %g%s): step %lld, epoch %d (selection: %s)\n", c->eta,
           c->adjustment, c->balanced ? ", group-balanced sampling" : ", shuffled sampling",
           (long long)r.selected_step, r.selected_epoch, sc_select_name(c->train.select));
    int rc = sc_cli_report_run("groupdro", "groupdro", &r, s->d, c->train.run_dir);
    sc_train_result_free(&r);
    return rc;
}

static const sc_cli_spec spec = {
    "groupdro", SC_CLI_GROUPDRO, "spurcl [--device SEL] groupdro --data FILE [options]",
    "GroupDRO (Sagawa et al. 2020), the oracle baseline: it reads the training\n"
    "split's group labels. Per step the group weights move toward the groups\n"
    "with the largest loss, q_g <- q_g exp(eta (loss_g + C / sqrt(n_g))), and\n"
    "the model minimises sum_g q_g loss_g. DIR/dro.csv logs q and the group\n"
    "losses of every step; the rest is as 'spurcl train'.\n",
    defaults, NULL, SC_CLI_OPENS_DATA, run, .flat = false,
};

SC_CLI_COMMAND(sc_cmd_groupdro, spec)
