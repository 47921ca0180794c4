/* spurcl: ULE (UnLearning from Experience), arXiv 2409.02792.
 *
 * The teacher solves the task while its input saliency is pushed away from
 * the student's: with n(.) the per-sample normalisation and g_S the
 * student's map (a constant for the teacher's update),
 *   additive (default)  L_T = CE(T(x), y) + lambda * mean_i (n(g_T)_i + n(g_S)_i)^2
 *   convex              L_T = lambda * CE + (1 - lambda) * MSE
 * Details marked (reconstruction) in docs/methods.md, section 1, are options
 * with the defaults below. */
#ifndef SPURCL_ULE_H
#define SPURCL_ULE_H

#include "spurcl/model.h"
#include "spurcl/nn.h"
#include "spurcl/train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sc_ule_form { SC_ULE_ADDITIVE = 0, SC_ULE_CONVEX = 1 } sc_ule_form;

/* The saliency penalty (the paper's MSE is the default; the other two are
 * alternatives from docs/methods.md, section 1, not in the paper):
 *   MSE      mean_i (n(g_T)_i + n(g_S)_i)^2
 *   COS2     mean over samples of cos(g_T, g_S)^2
 *   OVERLAP  mean_i |n(g_T)_i| * |n(g_S)_i|  */
typedef enum sc_ule_penalty {
    SC_ULE_PENALTY_MSE = 0,
    SC_ULE_PENALTY_COS2 = 1,
    SC_ULE_PENALTY_OVERLAP = 2
} sc_ule_penalty;

/* "additive", "convex"; "mse", "cos2", "overlap". */
SC_API sc_status sc_ule_form_parse(const char *s, sc_ule_form *out);
SC_API const char *sc_ule_form_name(sc_ule_form f);
SC_API sc_status sc_ule_penalty_parse(const char *s, sc_ule_penalty *out);
SC_API const char *sc_ule_penalty_name(sc_ule_penalty p);

typedef struct sc_ule_loss_config {
    float lambda;                 /* default 100 (additive) */
    sc_saliency_target target;    /* default true-class logit (reconstruction) */
    sc_saliency_norm norm;        /* default max-abs (reconstruction) */
    sc_ule_form form;             /* default additive (reconstruction) */
    sc_ule_penalty penalty;       /* default MSE (the paper's) */
    float eps;                    /* normalisation epsilon, default 1e-8 */
} sc_ule_loss_config;

SC_API void sc_ule_loss_config_default(sc_ule_loss_config *cfg);

/* The pieces of one teacher loss evaluation (graph variables). */
typedef struct sc_ule_loss_parts {
    sc_var *logits;   /* T(x) */
    sc_var *ce;       /* mean cross-entropy */
    sc_var *penalty;  /* the saliency penalty (cfg->penalty) */
    sc_var *loss;     /* L_T */
    sc_var *map;      /* n(g_T), differentiable */
} sc_ule_loss_parts;

/* Builds L_T on graph g for images x [N,C,H,W] (a constant input is fine:
 * a differentiable copy is made for the saliency), labels int32 [N] and the
 * student's normalised map student_map (shape of x, constant). The result
 * is differentiable with respect to the teacher's parameters (second order
 * through the saliency). */
SC_API sc_status sc_ule_teacher_loss(sc_graph *g, sc_model *teacher, sc_var *x, sc_var *labels,
                                     sc_var *student_map, const sc_ule_loss_config *cfg,
                                     sc_ule_loss_parts *out);

/* ---- training ------------------------------------------------------------ */

typedef struct sc_ule_config {
    sc_model_config student, teacher;   /* input size and classes come from the data */
    SC_RUN_CONFIG_GROUP;                /* defaults: 1 epoch, batch 128, AdamW 1e-3 (one
                                           optimiser per model), selection last or val-avg
                                           (the teacher's; no group labels) */
    sc_ule_loss_config loss;            /* default: the paper's loss but the overlap
                                           penalty with lambda 1000 (see below) */
    const char *saliency_layer;         /* NULL or "input": the pixels */
    bool freeze_backbone;               /* train only the last layer of both models */
    const char *init;                   /* checkpoint loaded into both models, or NULL */
} sc_ule_config;

/* Defaults of `spurcl ule`: the best mean validation setting of the
 * README's MNIST-SC search (overlap penalty, lambda 1000, one epoch), where
 * the paper's mse penalty with lambda 100 left the teacher below its
 * student. For the paper's loss, sc_ule_loss_config_default(&cfg->loss). */
SC_API void sc_ule_config_default(sc_ule_config *cfg);

typedef struct sc_ule_result {
    sc_model *student, *teacher;        /* the selected evaluation's models (caller frees) */
    int selected_epoch;                 /* the epoch the selected evaluation fell in */
    int64_t selected_step;              /* optimiser steps taken at that evaluation */
    sc_group_metrics student_val, student_test, teacher_val, teacher_test;
    double seconds;
    double step_ms;                     /* mean time of one teacher + student step */
    double eval_seconds;                /* time spent in evaluations during training */
    double student_mark_share, teacher_mark_share; /* sc_saliency_mark_share on val (1000
                                           images) of the selected run of a sweep on
                                           patch data; NaN otherwise */
} sc_ule_result;

/* Trains student and teacher in parallel on the same batches. */
SC_API sc_status sc_train_ule(sc_context *ctx, const sc_dataset *d, const sc_ule_config *cfg,
                              sc_ule_result *out);
SC_API void sc_ule_result_free(sc_ule_result *r);

/* A lambda sweep: one ULE run per lambda (in run_dir/lambda-L when there is
 * more than one, else in run_dir itself), the run with the best teacher val
 * average accuracy selected (no group labels). With cfg->resume each lambda
 * whose run exists is resumed and the others start. results[n] receive every
 * run (free each with sc_ule_result_free); *best the selected index. Writes
 * run_dir/results.json: the selection rule, the selected lambda and per
 * lambda its selected step and epoch, step time, and the student's and
 * teacher's val and test metrics (sc_group_metrics_json's keys). */
SC_API sc_status sc_train_ule_sweep(sc_context *ctx, const sc_dataset *d, const sc_ule_config *cfg,
                                    const double *lambdas, int n, sc_ule_result *results,
                                    int *best);

/* ---- saliency evaluation ----------------------------------------------------- */

/* Raw input-gradient maps of `model` for the dataset samples idx[0..n):
 * maps float [n, c, h, w], preds int32 [n] (either may be NULL). */
SC_API sc_status sc_saliency_maps(sc_context *ctx, sc_model *model, const sc_dataset *d,
                                  const int64_t *idx, int64_t n, sc_saliency_target target, float *maps,
                                  int32_t *preds);
/* For a patch-variant data set: the mean over the first n samples of
 * `split` (whose images carry a mark) of the share of the map's absolute
 * mass that lies inside the sample's mark square. A model that looks at the
 * mark scores near 1; a uniform map scores the mark's area share. */
/* A PNG of the first (up to) 8 validation images and, one row per model
 * named by titles[k], each model's input-gradient map (true-class logit)
 * over them, with the data set's class and attribute names
 * (sc_render_saliency_png). nm in 1..8. */
SC_API sc_status sc_saliency_picture(sc_context *ctx, const sc_dataset *d, sc_model *const *models,
                                     const char *const *titles, int nm, const char *path);
SC_API sc_status sc_saliency_mark_share(sc_context *ctx, sc_model *model, const sc_dataset *d,
                                        sc_split split, int64_t n, sc_saliency_target target,
                                        double *share);

#ifdef __cplusplus
}
#endif
#endif
