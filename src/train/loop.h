/* The one training loop every trainer runs on (ERM and JTT's two stages,
 * ULE, self-supervised pre-training, the linear probe).
 *
 * The loop owns the run directory (refused when it is not empty, unless
 * resume or force), its config.json (the run's record, compared on resume),
 * epochs and steps, the evaluation cadence and model selection, progress
 * with an ETA, metrics.jsonl, last/best checkpoints and resume. A trainer supplies what is its own through
 * sc_trainer: its step, its evaluation, the models it checkpoints and any
 * extra state (ULE's second model, SSL's projector and sampler).
 *
 * Per epoch: the trainer may supply the epoch's order of dataset indices
 * (else the batcher's seeded shuffle of the training split); each batch
 * goes to step(), which reports the batch means of the trainer's values;
 * every run.eval_every steps inside the epoch and at its end the loop calls
 * evaluate() and writes one JSON line; at the end of an epoch it also
 * writes each part's last checkpoint; when selection improves, each part's
 * best checkpoint. A step that fails stops the run with the epoch and step
 * in the message; a non-finite value (SC_ERR_NUMERIC) also names the last
 * good checkpoint. */
#ifndef SC_TRAIN_LOOP_H
#define SC_TRAIN_LOOP_H

#include <cjson/cJSON.h>

#include "base/base.h"
#include "spurcl/train.h"

#define SC_LOOP_MAX_VALUES 6
#define SC_LOOP_MAX_PARTS 2

/* A value a step reports: its metrics.jsonl key and its progress label. */
typedef struct sc_loop_value {
    const char *key;     /* "train_loss" */
    const char *label;   /* "loss" */
} sc_loop_value;

/* A model the loop checkpoints (with its optimiser, if any). */
typedef struct sc_loop_part {
    const char *file;       /* last checkpoint, relative to the run directory */
    const char *best_file;  /* best checkpoint (written when selection improves) */
    const char *role;       /* metadata "role", or NULL */
    sc_model *model;
    sc_optim *optim;        /* may be NULL */
} sc_loop_part;

typedef struct sc_trainer {
    const char *name;       /* progress label and messages: "train", "ule" */
    void *self;
    int nparts;
    sc_loop_part parts[SC_LOOP_MAX_PARTS];
    int nvalues;
    sc_loop_value values[SC_LOOP_MAX_VALUES];
    bool no_images;         /* batches without images (the probe reads features) */

    /* One optimisation step on a batch: the batch means of the values in
     * values[0..nvalues) and the samples they stand for in *weight (0: the
     * batch does not count). A step checks its values are finite before it
     * updates (sc__check_finite). Required. */
    sc_status (*step)(void *self, sc_graph *g, const sc_batch *bt, double *values,
                      int64_t *weight);
    /* The epoch's order of dataset indices, or *order = NULL for the
     * batcher's seeded shuffle. Optional. */
    sc_status (*begin_epoch)(void *self, int epoch, const int64_t **order, int64_t *n);
    /* An evaluation: adds its metrics to `line`, sets *select_value (higher
     * is better) and *shown (the validation metrics progress shows; owned
     * by the trainer, valid until the next call). Optional: without it
     * nothing is evaluated and only the last epoch can be selected. */
    sc_status (*evaluate)(void *self, bool epoch_end, cJSON *line, double *select_value,
                          const sc_group_metrics **shown);
    /* After an epoch's last step, before its evaluation: extra keys for the
     * epoch's line and a note for progress. Optional. */
    sc_status (*end_epoch)(void *self, int epoch, cJSON *line, const char **note);
    /* Extra tensors and metadata of part 0's last checkpoint. With
     * loading = false the tensors are read (saving) and `meta` receives the
     * trainer's keys; with loading = true they are filled from the file.
     * Optional. */
    sc_status (*extra)(void *self, bool loading, const sc_checkpoint_tensor **tensors,
                       size_t *n, cJSON *meta);
    /* After a resume has loaded every part and the extras: the metadata of
     * part 0's last checkpoint, to restore the trainer's own state. Optional. */
    sc_status (*resumed)(void *self, const cJSON *meta);
} sc_trainer;

typedef struct sc_loop_result {
    int selected_epoch;        /* 1-based epoch of the selected evaluation */
    int64_t selected_step;     /* steps at it */
    bool selected_best;        /* an evaluation other than the last was selected: its
                                  weights are in each part's best checkpoint */
    int64_t steps;             /* global steps at the end */
    int epochs_run;            /* epochs trained by this call */
    double values[SC_LOOP_MAX_VALUES]; /* the last epoch's means (NaN: none ran) */
    double seconds, step_seconds, eval_seconds, epoch_seconds;
    int64_t steps_run;         /* steps taken by this call */
} sc_loop_result;

/* Runs the training loop; the parts' models end with the last step's
 * weights. */
sc_status sc_loop_run(sc_context *ctx, const sc_dataset *d, const sc_run_config *run,
                      sc_trainer *t, sc_loop_result *out);

/* The record of a run in two halves (src/train/loop_record.c; sc_run_record
 * is both): _begin refuses a run directory that is not empty (without
 * resume or force), creates it, builds config.json and, on resume, compares
 * it with the stored one; _write writes it (after a resume has loaded its
 * checkpoints) and frees it. Without a run directory *config is NULL and
 * _write does nothing. */
sc_status sc__record_begin(sc_context *ctx, const sc_dataset *d, const sc_run_config *run,
                           const char *trainer, cJSON **config);
sc_status sc__record_write(const sc_run_config *run, cJSON *config);

/* Loads a part's best checkpoint (model weights only) into `into`. */
sc_status sc_loop_load_best(const sc_run_config *run, const sc_loop_part *part, sc_model *into);

/* Steps in one epoch of `batch` over the training split. */
int64_t sc_loop_steps_per_epoch(const sc_dataset *d, int64_t batch);

/* The optimiser of a run: a cosine schedule without total_steps spans all
 * the run's steps. */
sc_status sc_loop_optim_create(sc_context *ctx, const sc_dataset *d, const sc_run_config *run,
                               sc_var *const *params, size_t n, sc_optim **out);

#endif
