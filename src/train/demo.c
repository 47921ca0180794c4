/* The robustness demo (include/spurcl/demo.h): the SpuCo-style data set
 * and the comparison at the demo's budget. */
#include "base/base.h"
#include "spurcl/demo.h"
#include "spurcl/dist.h"
#include "train/train_internal.h"

#include <stdio.h>
#include <string.h>

/* The budget: 15,000 source images (13,500 train, 1,500 val; the full
 * 10,000-image test, 400 per group), one epoch of 106 steps per method,
 * evaluated at step 53 and at the end, 5 seeds: about 9 minutes on the
 * 2-core CPU machine (README). */
void sc_demo_config_default(sc_demo_config *c)
{
    memset(c, 0, sizeof *c);
    c->out = "runs/demo";
    c->seeds = 5;
    c->epochs = 1;
    c->eval_every = 53;
    c->log_every = SC_LOG_EVERY_DEFAULT;
    c->max_train = 15000;
    c->max_test = 0;
    c->rho = 0.995;
    c->difficulty = SC_SPUCO_MAGNITUDE_LARGE;
}

/* Under mpirun every rank builds the data set in memory (the build is
 * seeded, so all get the same images: checked by its hash against rank
 * 0's) and rank 0 alone makes the directory and writes the file, so no
 * rank reads a file another is writing. */
sc_status sc_demo_build_data(const sc_demo_config *cfg, sc_dataset **out)
{
    *out = NULL;
    bool writes = sc_dist_writes();
    if (writes)
        SC_TRY(sc_mkdir_p(cfg->out));
    sc_build_opts bo;
    sc_build_opts_default(&bo);
    bo.variant = SC_VARIANT_SPUCO;
    bo.spuco_difficulty = cfg->difficulty;
    bo.rho = cfg->rho;
    bo.seed = cfg->seed;
    bo.source.max_train = cfg->max_train;
    bo.source.max_test = cfg->max_test;
    if (cfg->source_dir)
        bo.source.dir = cfg->source_dir;
    sc_dataset *d;
    sc_status st = sc_dataset_build(&bo, &d);
    if (st != SC_OK)
        return sc_error_wrap(st, "building the demo's data set");
    if (sc_dist_size() > 1) {
        uint64_t mine = sc__data_hash(d), first = mine;
        st = sc_dist_bcast(&first, sizeof first, "the demo data set's hash");
        if (st == SC_OK && first != mine)
            st = sc_error_set(SC_ERR_STATE, "building the demo's data set: rank %d built other "
                                            "images than rank 0 (hash %016llx, rank 0 %016llx)",
                              sc_dist_rank(), (unsigned long long)mine,
                              (unsigned long long)first);
        if (st != SC_OK) {
            sc_dataset_free(d);
            return st;
        }
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/spuco.safetensors", cfg->out);
    if (writes && (st = sc_dataset_save(d, path)) != SC_OK) {
        sc_dataset_free(d);
        return st;
    }
    *out = d;
    return SC_OK;
}

void sc_demo_compare_config(const sc_demo_config *cfg, sc_compare_config *c)
{
    sc_compare_config_default(c);
    c->out = cfg->out;
    c->seeds = cfg->seeds;
    c->train.epochs = cfg->epochs;
    c->train.eval_every = cfg->eval_every;
    c->train.log_every = cfg->log_every;
    c->train.record = cfg->record;
    c->progress = cfg->progress;
    c->progress_ud = cfg->progress_ud;
}

sc_status sc_demo_run(sc_context *ctx, const sc_dataset *d, const sc_demo_config *cfg,
                      sc_compare_result *out)
{
    sc_compare_config c;
    sc_demo_compare_config(cfg, &c);
    return sc_compare_run(ctx, d, &c, out);
}
