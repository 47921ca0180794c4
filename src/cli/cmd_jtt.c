/* spurcl jtt: the JTT baseline (Just Train Twice, Liu et al. 2021). */
#define _GNU_SOURCE
#include <stdio.h>

#include "cli.h"
#include "opts.h"
#include "spurcl/dist.h"

static void defaults(sc_cli_args *a)
{
    sc_jtt_config_default(&a->jtt);
    sc_cli_bind(a, &a->jtt.train.run, &a->jtt.train.model, "runs/jtt");
}

static int run(const sc_cli_global *g, sc_cli_args *a, sc_cli_session *s)
{
    (void)g;
    sc_jtt_config *jc = &a->jtt;
    jc->train.progress = sc_cli_progress;
    jc->train.progress_ud = &s->progress;
    sc_cli_warn_jtt_no_minority("jtt", s->d);
    sc_jtt_result r;
    if (sc_train_jtt(s->ctx, s->d, jc, &r) != SC_OK)
        return sc_cli_fail("jtt");
    if (!sc_dist_writes()) { /* rank 0 reports and writes the files */
        sc_train_result_free(&r.final);
        return SC_EXIT_OK;
    }
    if (r.errors == 0)
        fprintf(stderr, "jtt: warning: the stage-1 model misclassified no training sample, so "
                        "--upweight had no effect: stage 2 trained as plain ERM (fewer "
                        "--id-epochs leave errors to upweight)\n");
    printf("JTT: %lld training samples upweighted x%g; final model step %lld, epoch %d\n",
           (long long)r.errors, (double)jc->upweight, (long long)r.final.selected_step,
           r.final.selected_epoch);
    int rc = sc_cli_report_run("jtt", "jtt", &r.final, s->d, jc->train.run_dir);
    sc_train_result_free(&r.final);
    return rc;
}

static const sc_cli_spec spec = {
    "jtt", SC_CLI_JTT, "spurcl [--device SEL] jtt --data FILE [options]",
    "JTT (Just Train Twice, Liu et al. 2021): train an identification model for\n"
    "T epochs, upweight the training samples it gets wrong, retrain from scratch.\n"
    "No group labels are used for training. Stage 1 runs in DIR/identify; the\n"
    "progress lines say 'jtt stage 1 (ERM)' and 'jtt stage 2 (upweighted)'. A\n"
    "training split without a minority group (rho 1.0), or a stage 1 without\n"
    "errors, is warned about: JTT then has nothing to upweight.\n",
    defaults, NULL, SC_CLI_OPENS_DATA, run, .flat = false,
};

SC_CLI_COMMAND(sc_cmd_jtt, spec)
