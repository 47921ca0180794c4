/* spurcl: losses (cross-entropy, MSE, contrastive) and input-gradient
 * saliency. */
#ifndef SPURCL_NN_LOSS_H
#define SPURCL_NN_LOSS_H

#include "spurcl/autograd.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sc_loss_reduction {
    SC_LOSS_MEAN = 0,  /* sum_i w_i l_i / N (w_i = 1 without weights) */
    SC_LOSS_SUM = 1,   /* sum_i w_i l_i */
    SC_LOSS_NONE = 2   /* the per-sample vector [N] */
} sc_loss_reduction;

/* Cross-entropy of logits [N,K] against int32 labels [N]; optional float32
 * per-sample weights [N] (JTT's upweighting). Twice (any times)
 * differentiable with respect to the logits.
 *
 * The labels are not read back to the host: checking them here would be a
 * blocking device sync on every call. A label outside [0, K) makes its
 * sample's loss NaN, and its row of the logits' gradient NaN, without any
 * read outside the row: a reduced loss is then NaN, which a training
 * loop's finiteness check catches. To reject bad labels with a message
 * naming the sample, upload them with sc_var_labels_from_host (autograd.h),
 * which checks them on the host first. */
SC_API sc_var *sc_nn_cross_entropy(sc_graph *g, sc_var *logits, sc_var *labels, sc_var *weights,
                                   sc_loss_reduction reduction);
/* mean((a - b)^2) over every element. */
SC_API sc_var *sc_nn_mse(sc_graph *g, sc_var *a, sc_var *b);

/* Rows of x [N,D] divided by max(||row||_2, eps) (PyTorch F.normalize). */
SC_API sc_var *sc_nn_l2_normalize(sc_graph *g, sc_var *x, float eps);
/* cos(a_i, b_i) for rows of a, b [N,D] -> [N] (PyTorch cosine_similarity). */
SC_API sc_var *sc_nn_cosine_rows(sc_graph *g, sc_var *a, sc_var *b, float eps);
/* NT-Xent / InfoNCE over the 2N views z1, z2 [N,D] (normalised inside),
 * averaged over all 2N anchors; N is the true batch size (any N >= 1). */
SC_API sc_var *sc_nn_nt_xent(sc_graph *g, sc_var *z1, sc_var *z2, float tau);
/* BarlowTwins: per-dimension standardisation over the batch, C = Z1^T Z2 / N,
 * sum_d (1 - C_dd)^2 + lambda_offdiag * sum_{d != e} C_de^2. */
SC_API sc_var *sc_nn_barlow_twins(sc_graph *g, sc_var *z1, sc_var *z2, float lambda_offdiag);

/* Max over one axis, kept with extent 1; the gradient goes to the first
 * maximal element. */
SC_API sc_var *sc_nn_max_axis(sc_graph *g, sc_var *x, int axis);

typedef enum sc_saliency_target {
    SC_SAL_TRUE_LOGIT = 0,  /* the logit of the true class (default) */
    SC_SAL_PRED_LOGIT = 1,  /* the logit of the predicted class */
    SC_SAL_LOSS = 2         /* the per-sample cross-entropy */
} sc_saliency_target;

typedef enum sc_saliency_norm {
    SC_NORM_MAXABS = 0,     /* g / (max_i |g_i| + eps) per sample (default) */
    SC_NORM_L2 = 1,         /* g / (||g||_2 + eps) per sample */
    SC_NORM_NONE = 2
} sc_saliency_norm;

/* "true-logit", "pred-logit", "loss" and back; "maxabs", "l2", "none" and back. */
SC_API sc_status sc_saliency_target_parse(const char *s, sc_saliency_target *out);
SC_API const char *sc_saliency_target_name(sc_saliency_target t);
SC_API sc_status sc_saliency_norm_parse(const char *s, sc_saliency_norm *out);
SC_API const char *sc_saliency_norm_name(sc_saliency_norm n);

/* The per-sample input gradient d s / d x (shape of x) where `logits` [N,K]
 * were computed from x on graph g and s is the chosen target for each sample
 * (labels: int32 [N]). With create_graph the map is differentiable (its
 * gradient with respect to the parameters is what the ULE teacher needs).
 * As for sc_nn_cross_entropy, the labels stay on the device: a label
 * outside [0, K) makes that sample's map NaN (sc_var_labels_from_host
 * rejects it on the host instead). */
SC_API sc_var *sc_nn_saliency(sc_graph *g, sc_var *x, sc_var *logits, sc_var *labels,
                              sc_saliency_target target, bool create_graph);
/* Per-sample normalisation of a map [N,...]. */
SC_API sc_var *sc_nn_saliency_normalize(sc_graph *g, sc_var *map, sc_saliency_norm norm, float eps);

#ifdef __cplusplus
}
#endif
#endif
