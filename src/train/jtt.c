/* JTT: train an identification model for T epochs, upweight the training
 * samples it misclassifies by a factor, retrain from scratch. Labels only. */
#include "train/train_internal.h"
#include "base/dist.h"
#include "spurcl/train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sc_jtt_config_default(sc_jtt_config *c)
{
    memset(c, 0, sizeof *c);
    sc_train_config_default(&c->train);
    c->id_epochs = 1;
    c->upweight = 20;
}

sc_status sc_train_jtt(sc_context *ctx, const sc_dataset *d, const sc_jtt_config *cfg,
                       sc_jtt_result *out)
{
    memset(out, 0, sizeof *out);
    if (cfg->id_epochs < 1 || !(cfg->upweight >= 1))
        return sc_error_set(SC_ERR_INVALID_ARG,
                            "jtt needs identification epochs >= 1 and an upweight factor >= 1");
    if (!cfg->train.run_dir)
        return sc_error_set(SC_ERR_INVALID_ARG, "jtt needs a run directory");
    /* the whole run's directory is checked and recorded once, here, by rank
     * 0 under mpirun (the one that writes); its two stages then run in it
     * (stage 1 in DIR/identify, always anew), each data-parallel */
    sc_status st = sc_dist_writes() ? sc_run_record(ctx, d, &cfg->train.run, "jtt") : SC_OK;
    if (st != SC_OK)
        return st;
    char id_dir[4096];
    snprintf(id_dir, sizeof id_dir, "%s/identify", cfg->train.run_dir);

    /* progress and the logs tell the two stages apart */
    const char *base = cfg->train.label ? cfg->train.label : "jtt";
    char id_label[128], fin_label[128];
    snprintf(id_label, sizeof id_label, "%s stage 1 (ERM)", base);
    snprintf(fin_label, sizeof fin_label, "%s stage 2 (upweighted)", base);
    sc_train_config id = cfg->train;
    id.label = id_label;
    id.epochs = cfg->id_epochs;
    id.select = SC_SELECT_LAST;
    id.resume = false;
    id.force = true;
    id.sample_weights = NULL;
    id.run_dir = id_dir;
    sc_train_result r1;
    st = sc_train_erm(ctx, d, &id, &r1);
    if (st != SC_OK)
        return sc_error_wrap(st, "jtt identification model");

    int32_t *pred = malloc((size_t)d->n * sizeof *pred);
    float *w = malloc((size_t)d->n * sizeof *w);
    if (!pred || !w)
        st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (jtt)");
    if (st == SC_OK)
        st = sc_predict(ctx, r1.model, d, SC_SPLIT_TRAIN, 512, pred);
    /* every rank holds the same weights, but ranks on different devices
     * could round a near-tie differently: rank 0's error set is everyone's */
    if (st == SC_OK)
        st = sc_dist_bcast(pred, (size_t)d->n * sizeof *pred, "jtt's error set");
    sc_train_result_free(&r1);
    int64_t errors = 0;
    for (int64_t i = 0; st == SC_OK && i < d->n; i++) {
        bool wrong = d->split[i] == SC_SPLIT_TRAIN && pred[i] != d->labels[i];
        w[i] = wrong ? cfg->upweight : 1.0f;
        errors += wrong;
    }
    free(pred);
    if (st == SC_OK) {
        sc_train_config fin = cfg->train;
        fin.label = fin_label;
        fin.force = true; /* DIR holds identify/ and config.json */
        fin.sample_weights = w;
        st = sc_train_erm(ctx, d, &fin, &out->final);
    }
    free(w);
    out->errors = errors;
    return st;
}
