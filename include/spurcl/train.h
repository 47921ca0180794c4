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
#include "spurcl/io.h"
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
 * leaves `weighted` at NaN. Under mpirun (sc_dist_size() > 1) it is
 * collective: every rank calls it, evaluates its slice of each batch, and
 * the counts are summed, so every rank gets the whole split's metrics. */
SC_API sc_status sc_evaluate(sc_context *ctx, sc_model *model, const sc_dataset *d, sc_split split,
                             const double *train_props, int64_t batch_size, sc_group_metrics *out);
SC_API void sc_group_metrics_free(sc_group_metrics *m);
/* The metrics as one JSON object (malloc'd text; free() it; NULL when out of
 * memory): acc, wga, mean_group, weighted, loss (-1 where undefined), and
 * per group (index y * num_attrs + a) group_acc (-1: no sample) and group_n.
 * metrics.jsonl lines use the same keys with a prefix ("val_acc"). */
SC_API char *sc_group_metrics_json(const sc_group_metrics *m);
/* Predicted class of every sample of `split`, written at its dataset index
 * (pred has d->n entries; other splits' entries are left untouched). */
SC_API sc_status sc_predict(sc_context *ctx, sc_model *model, const sc_dataset *d, sc_split split,
                            int64_t batch_size, int32_t *pred);
/* Proportions of each group in a split (array of num_classes*num_attrs). */
SC_API sc_status sc_group_props(const sc_dataset *d, sc_split split, double **props);

/* ---- checkpoints ---------------------------------------------------------- */

/* A tensor a checkpoint carries beside the model and its optimiser state
 * (a projector, a sampler's state). Exactly one of `tensor` (a float32
 * device tensor) and `host` (host memory of `dtype` with `ndim` and
 * `shape`) is set. Saving reads it; loading checks its dtype and shape
 * against the file and fills it. */
typedef struct sc_checkpoint_tensor {
    const char *name;
    sc_tensor *tensor;
    sc_st_dtype dtype;
    int ndim;
    int64_t shape[SC_ST_MAX_DIMS];
    void *host;
} sc_checkpoint_tensor;

/* Writes params (PyTorch names), buffers, optimiser state
 * ("optim.<name>.<state>") and metadata (format, model config, epoch,
 * steps, seed, config JSON) to `path` atomically (temporary file, then
 * rename). opt may be NULL. */
SC_API sc_status sc_checkpoint_save(const char *path, const sc_model *m, const sc_optim *opt,
                                    int epoch, uint64_t seed, const char *config_json);
/* The same with `extra` tensors written beside them. */
SC_API sc_status sc_checkpoint_save_extra(const char *path, const sc_model *m,
                                          const sc_optim *opt, int epoch, uint64_t seed,
                                          const char *config_json,
                                          const sc_checkpoint_tensor *extra, size_t nextra);
/* Loads parameters and buffers, and the optimiser state when opt is
 * non-NULL. epoch may be NULL. */
SC_API sc_status sc_checkpoint_load(const char *path, sc_model *m, sc_optim *opt, int *epoch);
/* The same, also filling the `extra` tensors (dtype and shape checked). */
SC_API sc_status sc_checkpoint_load_extra(const char *path, sc_model *m, sc_optim *opt,
                                          int *epoch, const sc_checkpoint_tensor *extra,
                                          size_t nextra);
/* Reads the model configuration stored in a checkpoint. */
SC_API sc_status sc_checkpoint_model_config(const char *path, sc_model_config *cfg);
/* A new model with the configuration and weights of a checkpoint. */
SC_API sc_status sc_checkpoint_load_model(sc_context *ctx, const char *path, sc_model **out);
/* Whether a checkpoint holds a self-supervised encoder (`spurcl ssl`): its
 * classification head was never trained, so accuracies and saliency of its
 * logits mean nothing (probe it instead). */
SC_API sc_status sc_checkpoint_is_ssl_encoder(const char *path, bool *out);

/* Copies every parameter and buffer of `m` from the tensors named prefix +
 * name in an open safetensors file (float32 of the same shape;
 * num_batches_tracked int64 (or int32) of shape [] or [1]); SC_ERR_FORMAT
 * names the first missing or mismatched tensor. Other tensors are ignored. */
SC_API sc_status sc_model_load(sc_model *m, const sc_safetensors *st, const char *prefix);

/* ---- the run every trainer shares --------------------------------------------
 *
 * ERM, JTT, ULE, self-supervised pre-training and the linear probe all run on
 * one loop: seeded shuffling (or an order the trainer draws), an optimiser
 * step per batch, evaluation at every epoch's end and every `eval_every`
 * steps, model selection, progress with an ETA, one JSON line per
 * evaluation in run_dir/metrics.jsonl, last/best checkpoints written
 * atomically, and --resume that continues bit-identically. */

typedef enum sc_select {
    SC_SELECT_LAST = 0,     /* the last epoch (default) */
    SC_SELECT_VAL_AVG = 1,  /* best val accuracy (no group labels) */
    SC_SELECT_VAL_WGA = 2   /* best val worst-group accuracy (uses group labels) */
} sc_select;
SC_API sc_status sc_select_parse(const char *s, sc_select *out);
SC_API const char *sc_select_name(sc_select s);

#define SC_PROGRESS_MAX_VALUES 8

/* What a trainer reports to its progress callback: during an epoch after
 * each step, after each evaluation inside an epoch (evaluated), and once at
 * the end of each epoch (epoch_done, with the epoch's values).
 *
 * `line` is set on the reports that make a line of the run's log (the same
 * text, timestamped, goes to run_dir/log.txt): every evaluation, every
 * epoch's end, and a timed line (`timed`) every run.log_every seconds with
 * the global step of the total, images per second, the ETA and the last
 * evaluation's val average and worst-group accuracy. Runners of several
 * runs (the comparison, the demo) report their overall progress as a line
 * alone (epochs 0). A console prints the lines, or off a terminal only
 * them; a live bar needs no timed line. */
typedef struct sc_train_progress {
    const char *label;           /* the run's label (sc_run_config.label, else the trainer) */
    int epoch, epochs;           /* 1-based */
    int64_t step, steps_per_epoch;
    int nvalues;                 /* running means over the epoch: "loss", "acc", ... */
    const char *names[SC_PROGRESS_MAX_VALUES];
    double values[SC_PROGRESS_MAX_VALUES];
    double images_per_s;
    double elapsed_s, eta_s;     /* since the call started; to the end of the run */
    bool epoch_done;
    bool evaluated;              /* an evaluation just ran (also at epoch ends) */
    const sc_group_metrics *val; /* the validation metrics selection reads, when evaluated */
    const char *note;            /* a trainer's remark for this epoch ("LA weights"), or NULL */
    const char *line;            /* the log line of this report, or NULL (see above) */
    bool timed;                  /* line is a timed progress line */
} sc_train_progress;

/* The default of sc_run_config.log_every, in seconds. */
#define SC_LOG_EVERY_DEFAULT 30.0

/* The settings every trainer shares, as one struct. A trainer's config
 * embeds them with SC_RUN_CONFIG_GROUP, which makes both the group
 * (cfg.run, to pass or copy as a whole) and its fields (cfg.epochs) names
 * of the same storage, as Linux's struct_group() does. */
#define SC_RUN_CONFIG_MEMBERS                                                                      \
    int epochs;                  /* epochs in all (a resumed run continues to this) */            \
    int64_t batch_size;                                                                            \
    uint64_t seed;               /* initialisation, shuffling and every other draw */             \
    sc_optim_config optim;       /* cosine schedules with total_steps 0 span the run */           \
    const char *run_dir;         /* config.json, metrics.jsonl, checkpoints; NULL: no files */    \
    bool resume;                 /* continue from run_dir's last checkpoints */                   \
    bool force;                  /* start a new run in a run_dir that is not empty */            \
    const char *overrides;       /* settings a resume may change, "lr,batch" (or NULL) */       \
    sc_select select;            /* which evaluation's model is kept */                           \
    int64_t eval_every;          /* also evaluate (and select) every N steps; 0: epoch ends */    \
    bool eval_test;              /* also log test metrics at each evaluation (never selects) */   \
    const char *label;           /* progress label, NULL: the trainer's name */                   \
    double log_every;            /* seconds between timed progress lines; 0: none */              \
    const char *record;          /* the caller's JSON object for config.json (sc_run_record) */   \
    void (*progress)(const sc_train_progress *p, void *ud);                                        \
    void *progress_ud;

typedef struct sc_run_config {
    SC_RUN_CONFIG_MEMBERS
} sc_run_config;

#define SC_RUN_CONFIG_GROUP                                                                        \
    union {                                                                                        \
        sc_run_config run;                                                                         \
        struct {                                                                                   \
            SC_RUN_CONFIG_MEMBERS                                                                  \
        };                                                                                         \
    }

/* The start of a run in run->run_dir: sc_loop_run calls it for every
 * trainer, and runners of several runs (JTT's stages, a ULE sweep, the
 * comparison, DFR in the tool) call it for their own directory.
 *
 * - A run_dir that exists and is not empty is refused unless run->resume
 *   (continue the run in it) or run->force (start a new run over it).
 * - run_dir/config.json is written atomically: "spurcl" (version), "git"
 *   (git describe of the build), "trainer", every key of run->record (a
 *   JSON object; the tool gives "command", "argv" and "settings", every
 *   option of the command with its final value, generated from its option
 *   table, and "data_path"), "run" (this run's sc_run_config), "data" (its
 *   path, FNV-1a checksum and size), "device", "created".
 * - With run->resume the stored config.json is compared first: the
 *   "settings" (the record's, else "run") key by key over the keys both
 *   files have, and the data checksum (key "data"). "epochs" (raised to
 *   train on), "out", "resume", "force", "override", "log-every" and the
 *   keys of the record's "free" array may change. Any other change is refused with one
 *   line naming each key with its old and new value, unless run->overrides
 *   (a comma-separated list) names it; then the new values are recorded and
 *   "history" gets an entry with what changed. A run_dir without
 *   config.json (made by an older spurcl) resumes unchecked.
 * ctx and d may be NULL (no device, no data recorded). */
SC_API sc_status sc_run_record(sc_context *ctx, const sc_dataset *d, const sc_run_config *run,
                               const char *trainer);

/* ---- ERM training ------------------------------------------------------------ */

typedef struct sc_train_config {
    sc_model_config model;
    SC_RUN_CONFIG_GROUP;         /* defaults: 5 epochs, batch 128, AdamW 1e-3, last */
    const float *sample_weights; /* per dataset index (JTT), or NULL */
} sc_train_config;

SC_API void sc_train_config_default(sc_train_config *cfg);

typedef struct sc_train_result {
    sc_model *model;             /* the selected model (caller frees) */
    sc_model *last_model;        /* the model after the last step when another one was
                                    selected (caller frees), else NULL */
    int selected_epoch;          /* the epoch the selected evaluation fell in */
    int64_t selected_step;       /* optimiser steps taken at that evaluation */
    int64_t last_step;           /* optimiser steps at the end */
    sc_group_metrics val, test;  /* of the selected model */
    double seconds;
} sc_train_result;

/* Under mpirun with N > 1 ranks (spurcl/dist.h) every rank calls it with the
 * same arguments and the run is data-parallel (src/train/loop.h): batch_size
 * is the global batch, split across the ranks, with the gradients averaged
 * over it every step. Rank 0 evaluates and writes the run directory; the
 * other ranks' results have no val and test metrics. */
SC_API sc_status sc_train_erm(sc_context *ctx, const sc_dataset *d, const sc_train_config *cfg,
                              sc_train_result *out);
SC_API void sc_train_result_free(sc_train_result *r);

/* ---- GroupDRO (Sagawa et al. 2020) ---------------------------------------
 *
 * Reads group labels for training: the oracle upper bound of a table. Per
 * step, with l_g the batch's mean cross-entropy of group g (0 for a group
 * not in the batch) and n_g the group's training count:
 *   q_g <- q_g exp(eta (l_g + C / sqrt(n_g))),  q <- q / sum q
 *   loss = sum_g q_g l_g
 * (the reference implementation's online algorithm; q starts uniform). */

typedef struct sc_dro_config {
    sc_train_config train;   /* the model and the run; sample_weights unused */
    double eta;              /* step size of the group weights (default 0.01) */
    double adjustment;       /* C, the group adjustment (default 0) */
    bool balanced;           /* draw each epoch's samples with replacement so that every
                                group is equally likely (default on, as SpuCo's GroupDRO
                                samples; off: the shuffled training split) */
} sc_dro_config;

SC_API void sc_dro_config_default(sc_dro_config *cfg);

/* Trains like sc_train_erm with the robust loss. Per step, run_dir/dro.csv
 * gets a row: step, then q_g and l_g of every group (l_g empty when absent);
 * the evaluation lines of metrics.jsonl carry "group_weights" (q). q is
 * saved in the checkpoints ("dro.q") and restored by --resume. */
SC_API sc_status sc_train_group_dro(sc_context *ctx, const sc_dataset *d, const sc_dro_config *cfg,
                                    sc_train_result *out);

/* ---- DFR (Kirichenko et al. 2022: last-layer retraining) ------------------
 *
 * The penultimate features of a trained model (sc_model_features),
 * standardised with the training split's mean and standard deviation; an
 * L1-regularised logistic regression (multinomial: mean cross-entropy +
 * ||W||_1 / (C n), sklearn's C on n samples) fitted by proximal gradient
 * descent (FISTA) on the device, on group-balanced subsets (every group of
 * the subset cut to its smallest group's size) of the validation split:
 *   tuning  each C of the grid fitted on one balanced subset of a random half
 *           of val, scored by worst-group accuracy on the other half;
 *   final   the average of `fits` heads, each fitted with the chosen C on a
 *           balanced subset of the whole val.
 * Uses group labels of the validation split, as the paper does. */

#define SC_DFR_MAX_C 16

typedef struct sc_dfr_config {
    double c_grid[SC_DFR_MAX_C]; /* default DFR's: 1, 0.7, 0.3, 0.1, 0.07, 0.03, 0.01 */
    int n_c;
    int fits;                    /* heads averaged at the end (default 20) */
    int iterations;              /* FISTA iterations per fit (default 500) */
    uint64_t seed;               /* the val halves and the balanced subsets */
    void (*progress)(const sc_train_progress *p, void *ud);
    void *progress_ud;
} sc_dfr_config;

SC_API void sc_dfr_config_default(sc_dfr_config *cfg);

typedef struct sc_dfr_result {
    sc_model *model;             /* `model` with its last layer replaced by the DFR head
                                    (standardisation folded in; caller frees) */
    double c;                    /* the chosen C */
    double tune_wga[SC_DFR_MAX_C]; /* worst-group accuracy of each C on the held-out half */
    int64_t subset;              /* samples in one final balanced subset */
    sc_group_metrics val, test;  /* of the new model (val: in-sample for the head) */
    double seconds;
} sc_dfr_result;

/* The last-layer retraining of a trained model (left unchanged). */
SC_API sc_status sc_dfr(sc_context *ctx, sc_model *model, const sc_dataset *d,
                        const sc_dfr_config *cfg, sc_dfr_result *out);
SC_API void sc_dfr_result_free(sc_dfr_result *r);

/* ---- JTT (Just Train Twice, Liu et al. 2021) ------------------------------ */

typedef struct sc_jtt_config {
    sc_train_config train;   /* the final model's training */
    int id_epochs;           /* T: epochs of the identification model (default 1) */
    float upweight;          /* factor for its training errors (default 20) */
} sc_jtt_config;

/* Training defaults, identification epochs 1, upweight 20. */
SC_API void sc_jtt_config_default(sc_jtt_config *cfg);

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
