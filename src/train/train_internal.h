/* Helpers shared by the trainers and evaluation (not installed). */
#ifndef SC_TRAIN_INTERNAL_H
#define SC_TRAIN_INTERNAL_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "base/base.h"
#include "spurcl/train.h"

/* The one JSON encoding of group metrics: <prefix>acc, wga, mean_group,
 * weighted, loss (-1 for NaN), and with `groups` the per-group accuracy
 * (-1: no sample) and counts as arrays group_acc, group_n. prefix "" gives
 * the keys of a nested object, "val_" those of a metrics.jsonl line. */
void sc__json_add_metrics(cJSON *o, const char *prefix, const sc_group_metrics *m, bool groups);

/* Appends one JSON object as a line to DIR/metrics.jsonl (truncate: start
 * the file anew). */
sc_status sc__append_jsonl(const char *dir, cJSON *o, bool truncate);

/* Appends a line to DIR/log.txt, the run's log for people, after the local
 * time ("2025-01-31 14:02:03  LINE"); truncate: start the file anew. Not
 * synced: the log is read, never resumed from. */
sc_status sc__log_append(const char *dir, bool truncate, const char *line);

/* Allocates out->correct and out->total for the data set's groups. */
sc_status sc__group_metrics_init(sc_group_metrics *out, const sc_dataset *d);
/* Fills n, accuracy, mean_group, worst_group(_index) and weighted (by the
 * training split's group proportions, renormalised over the groups present;
 * NAN without them) from out->total / out->correct. */
void sc__group_metrics_summarize(sc_group_metrics *out, const double *train_props);

/* Index of the largest of row[0..k) (the first on ties). */
int sc__argmax(const float *row, int k);

/* SC_ERR_NUMERIC naming the first non-finite value ("the <what> <name>
 * became nan"), else SC_OK. */
sc_status sc__check_finite(const char *what, const double *v, const char *const *names, int n);

/* DFR's head on given standardised features z [d->n, F] (row i: dataset
 * index i): the averaged head avg [K * F + K] (W row-major, then b), the
 * chosen C, each C's held-out worst-group accuracy (cfg->n_c entries) and
 * the final balanced subsets' size (src/train/dfr.c). */
sc_status sc__dfr_head(sc_context *ctx, const sc_dataset *d, const float *z, int F,
                       const sc_dfr_config *cfg, double *avg, double *chosen, double *tune_wga,
                       int64_t *subset);

/* The comparison's results.csv, results.json (with `runs`, an array of the
 * runs' selected evaluations) and chart.png in dir (src/train/compare_out.c). */
struct sc_compare_result;
sc_status sc__compare_write(const char *dir, const struct sc_compare_result *r, cJSON *runs);

/* Training samples of a data set. */
/* The encoder features of the first `limit` samples of `split` in split
 * order (limit <= 0: all); sc_probe_features is the whole split. */
sc_status sc__features_first(sc_context *ctx, sc_model *encoder, const sc_dataset *d,
                             sc_split split, int64_t batch_size, int64_t limit, float **feats,
                             int64_t **idx, int64_t *n);

/* A model configuration as compact JSON (malloc'd; NULL when out of
 * memory): checkpoint metadata "model", and compare's run settings. */
char *sc__model_config_json(const sc_model_config *c);

/* The format and counters of a checkpoint's metadata (checkpoint.c), read
 * without a device: "epoch" and "optim_steps" must each be one decimal
 * integer (strtoll, nothing after it) in [0, SC_CKPT_MAX_EPOCH] and
 * [0, SC_CKPT_MAX_STEPS]; absent is 0. sc_checkpoint_load_extra reads them
 * through these, and so does the checkpoint fuzzer (fuzz/fuzz_ckpt_meta.c). */
#define SC_CKPT_FORMAT "spurcl-checkpoint-1" /* metadata "format" */
#define SC_CKPT_MAX_EPOCH 1000000
#define SC_CKPT_MAX_STEPS (INT64_MAX / 2)
sc_status sc__checkpoint_epoch(const sc_safetensors *st, int *epoch);
sc_status sc__checkpoint_optim_steps(const sc_safetensors *st, int64_t *steps);

int64_t sc__train_count(const sc_dataset *d);

/* A data set's identity: FNV-1a over its shape, images, labels, attributes
 * and splits (compare's done.json and every run's config.json). */
uint64_t sc__data_hash(const sc_dataset *d);

#endif
