/* spurcl: supervised training (ERM), group evaluation and checkpoints.
 *
 * Training reads only labels; attributes and groups are read by evaluation
 * (per-group tables) and, when asked, by model selection on val worst-group
 * accuracy, which is then reported as using group labels. */
#ifndef SPURCL_TRAIN_H
#define SPURCL_TRAIN_H

#include <stdint.h>
#include <stdio.h>

#include "spurcl/data.h"
#include "spurcl/model.h"
#include "spurcl/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- evaluation -------------------------------------------------------- */

typedef struct sc_group_metrics {
    int num_classes, num_attrs, num_groups;
    int64_t *correct, *total;   /* [num_groups], group g = label * num_attrs + attr */
    int64_t n;
    double accuracy;            /* over all samples of the split */
    double mean_group;          /* unweighted mean over non-empty groups */
    double weighted;            /* sum_g p_train(g) * acc_g (training group proportions) */
    double worst_group;         /* min over non-empty groups */
    int worst_group_index;
    double loss;                /* mean cross-entropy */
} sc_group_metrics;

/* Evaluates `model` on `split`. train_props[num_groups] are the training
 * split's group proportions (sc_group_props) for the weighted average; NULL
 * leaves `weighted` at NaN. */
SC_API sc_status sc_evaluate(sc_context *ctx, sc_model *model, const sc_dataset *d, sc_split split,
                             const double *train_props, int64_t batch_size, sc_group_metrics *out);
SC_API void sc_group_metrics_free(sc_group_metrics *m);
/* Predicted class of every sample of `split`, written at its dataset index
 * (pred has d->n entries; other splits' entries are left untouched). */
SC_API sc_status sc_predict(sc_context *ctx, sc_model *model, const sc_dataset *d, sc_split split,
                            int64_t batch_size, int32_t *pred);
/* Proportions of each group in a split (array of num_classes*num_attrs). */
SC_API sc_status sc_group_props(const sc_dataset *d, sc_split split, double **props);

/* ---- checkpoints ---------------------------------------------------------- */

/* Writes params (PyTorch names), optimiser state ("optim.<name>.<state>")
 * and metadata (format, model config, epoch, steps, seed, extra JSON)
 * to `path` atomically (temporary file, then rename). opt may be NULL. */
SC_API sc_status sc_checkpoint_save(const char *path, const sc_model *m, const sc_optim *opt,
                                    int epoch, uint64_t seed, const char *config_json);
/* Loads parameters (and optimiser state when opt is non-NULL). epoch may be NULL. */
SC_API sc_status sc_checkpoint_load(const char *path, sc_model *m, sc_optim *opt, int *epoch);
/* Reads the model configuration stored in a checkpoint. */
SC_API sc_status sc_checkpoint_model_config(const char *path, sc_model_config *cfg);

/* ---- ERM training ------------------------------------------------------------ */

typedef enum sc_select {
    SC_SELECT_LAST = 0,     /* the last epoch (default) */
    SC_SELECT_VAL_AVG = 1,  /* best val accuracy (no group labels) */
    SC_SELECT_VAL_WGA = 2   /* best val worst-group accuracy (uses group labels) */
} sc_select;
SC_API sc_status sc_select_parse(const char *s, sc_select *out);
SC_API const char *sc_select_name(sc_select s);

typedef struct sc_train_progress {
    int epoch, epochs;
    int64_t step, steps_per_epoch;
    double loss, accuracy;      /* running means over the epoch (accuracy NAN: none) */
    double penalty;             /* ULE: the teacher's running mean penalty */
    bool has_penalty;
    double images_per_s;
    double elapsed_s, eta_s;
    bool epoch_done;
    const sc_group_metrics *val; /* at the end of an epoch */
} sc_train_progress;

typedef struct sc_train_config {
    sc_model_config model;
    sc_optim_config optim;
    int epochs;                  /* default 5 */
    int64_t batch_size;          /* default 128 */
    uint64_t seed;               /* shuffling and initialisation */
    const char *run_dir;         /* metrics.jsonl, last.safetensors, best.safetensors */
    bool resume;                 /* continue from run_dir/last.safetensors */
    sc_select select;
    const float *sample_weights; /* per dataset index (JTT), or NULL */
    bool eval_test_each_epoch;   /* also log test metrics at every evaluation */
    int64_t eval_every;          /* also evaluate (and select) every N steps; 0: at epoch
                                    ends only */
    void (*progress)(const sc_train_progress *p, void *ud);
    void *progress_ud;
} sc_train_config;

SC_API void sc_train_config_default(sc_train_config *cfg);

typedef struct sc_train_result {
    sc_model *model;             /* the selected model (caller frees) */
    int selected_epoch;          /* the epoch the selected evaluation fell in */
    int64_t selected_step;       /* optimiser steps taken at that evaluation */
    sc_group_metrics val, test;  /* of the selected model */
    double seconds;
} sc_train_result;

SC_API sc_status sc_train_erm(sc_context *ctx, const sc_dataset *d, const sc_train_config *cfg,
                              sc_train_result *out);
SC_API void sc_train_result_free(sc_train_result *r);

/* ---- JTT (Just Train Twice, Liu et al. 2021) ------------------------------ */

typedef struct sc_jtt_config {
    sc_train_config train;   /* the final model's training */
    int id_epochs;           /* T: epochs of the identification model (default 1) */
    float upweight;          /* factor for its training errors (default 20) */
} sc_jtt_config;

typedef struct sc_jtt_result {
    sc_train_result final;
    int64_t errors;          /* training samples the first model got wrong */
} sc_jtt_result;

/* Stage 1 in run_dir/identify, stage 2 in run_dir. No group labels used. */
SC_API sc_status sc_train_jtt(sc_context *ctx, const sc_dataset *d, const sc_jtt_config *cfg,
                              sc_jtt_result *out);

#ifdef __cplusplus
}
#endif
#endif
