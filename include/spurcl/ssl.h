/* spurcl: self-supervised pre-training (SimCLR, BarlowTwins) with
 * learning-speed aware sampling (LA-SSL, arXiv 2311.16361), device-side
 * augmentation, and the linear probe that evaluates a frozen encoder.
 *
 * Details the LA-SSL paper does not give are marked (reconstruction); their
 * defaults come from docs/methods.md, section 2, and every one is
 * an option. Attribute labels are read only for logging (per-group learning
 * speeds, weight mass on aligned vs conflicting samples) and by the probe's
 * per-group evaluation; sampling never reads them. */
#ifndef SPURCL_SSL_H
#define SPURCL_SSL_H

#include <stdbool.h>
#include <stdint.h>

#include "spurcl/data.h"
#include "spurcl/model.h"
#include "spurcl/optim.h"
#include "spurcl/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- augmentation (cl/augment.cl) ------------------------------------------
 *
 * Per view, in this order, on images in [0, 1]:
 *   1. random resized crop: torchvision's RandomResizedCrop.get_params (area
 *      fraction U(scale_min, scale_max), log-uniform aspect ratio in
 *      [ratio_min, ratio_max], 10 tries, then a centre crop), an integer
 *      box resampled back to H x W bilinearly (align_corners = false, reads
 *      clamped to the box: no pixel outside the box is ever read);
 *   2. horizontal flip with probability flip_prob (exact mirror);
 *   3. with probability jitter_prob: brightness x' = clamp(b x, 0, 1),
 *      b ~ U(1 - brightness, 1 + brightness); then contrast
 *      x'' = clamp(c x' + (1 - c) m, 0, 1), c ~ U(1 - contrast, 1 + contrast),
 *      m = b * (mean of the source pixels inside the crop box, all channels)
 *      (torchvision blends with the mean of the jittered output; here the
 *      box mean, computed on the host);
 *   4. Gaussian noise: x''' = clamp(x'' + noise_std * z, 0, 1), z ~ N(0, 1)
 *      per element from a counter-based hash (splitmix64 of the view's key
 *      and the element index, Box-Muller) inside the kernel.
 * Every per-view draw (crop, flip, jitter, noise key) comes from
 * sc_rng_seed_stream(seed ^ SC_AUGMENT_SALT, stream(epoch, id, view)), so
 * the same seed, epoch, ids and images give the same bits. */

#define SC_AUGMENT_SALT 0x6175676d656e7421ULL /* "augment!" */

typedef struct sc_augment_config {
    float scale_min, scale_max;   /* crop area fraction, default 0.2, 1.0 (ssl: 0.5, 1.0) */
    float ratio_min, ratio_max;   /* crop aspect ratio w/h, default 3/4, 4/3 */
    float flip_prob;              /* default 0 (off for digits and garments) */
    float jitter_prob;            /* default 0.8 (SimCLR's) */
    float brightness, contrast;   /* jitter strengths, default 0.4, 0.4 */
    float noise_std;              /* default 0.05 (ssl: 0) */
} sc_augment_config;

SC_API void sc_augment_config_default(sc_augment_config *cfg);
/* SC_ERR_INVALID_ARG naming the field when a value is out of range. */
SC_API sc_status sc_augment_config_check(const sc_augment_config *cfg);

/* The drawn parameters of one view. */
typedef struct sc_augment_params {
    int32_t y0, x0, ch, cw;       /* crop box in source pixels */
    int32_t flip;                 /* 0 or 1 */
    float brightness, contrast;   /* factors (1 when jitter was not applied) */
    float mean;                   /* contrast centre m (set by sc_augment_apply's
                                   * callers from the image; see above) */
    uint64_t noise_key;
} sc_augment_params;

/* The stream of view `view` of the sample with stream id `id` at `epoch`. */
SC_API uint64_t sc_augment_stream(uint64_t epoch, uint64_t id, int view);

/* Draws the parameters of one view for an image of h x w pixels. */
SC_API void sc_augment_draw(const sc_augment_config *cfg, int h, int w, uint64_t seed, uint64_t epoch,
                            uint64_t id, int view, sc_augment_params *out);

/* Sets p->mean from the host image (c x h x w, [0, 1]) and p's crop box and
 * brightness. */
SC_API void sc_augment_set_mean(sc_augment_params *p, const float *image, int c, int h, int w);

/* The kernel on explicit parameters: images [n, c, h, w] (host, [0, 1]) ->
 * *out, a new tensor [2n, c, h, w] whose row v * n + i is view v of image i,
 * made with params[v * n + i] (2n entries, means already set). */
SC_API sc_status sc_augment_apply(sc_context *ctx, const float *images, int64_t n, int c, int h, int w,
                                  const sc_augment_params *params, float noise_std, sc_tensor **out);

/* Draws both views of every image (ids[i] is image i's stream id: ssl uses
 * its position in the epoch's order, so a sample drawn twice in one epoch
 * gets different views), sets the means and runs the kernel. params (may be
 * NULL) receives the 2n drawn parameter sets. */
SC_API sc_status sc_augment_batch(sc_context *ctx, const sc_augment_config *cfg, const float *images,
                                  int64_t n, int c, int h, int w, uint64_t seed, uint64_t epoch,
                                  const uint64_t *ids, sc_augment_params *params, sc_tensor **out);

/* ---- the LA sampler (src/train/lassl.c) ------------------------------------
 *
 *   sim_i = exp(cos(z1_i, z2_i) / tau)                  (InfoNCE numerator)
 *   v_i  <- (1 - eta) v_i + eta sim_i   each time i is drawn; the first
 *            observation sets v_i = sim_i (reconstruction: the paper gives
 *            neither eta nor the start value)
 *   s*   = the r-quantile of {v_i : i seen}, linear interpolation between
 *          order statistics (numpy's default): with v sorted ascending and
 *          m seen samples, pos = r (m - 1), s* = v[floor(pos)] +
 *          (pos - floor(pos)) (v[floor(pos) + 1] - v[floor(pos)])
 *   h(v) = max(0, s* - gamma (v - s*))
 *   p_i  = h(v_i) / sum_j h(v_j), never-seen samples taking the mean h of
 *          the seen ones (uniform p if the sum is not positive).
 * Epochs 0 .. warmup-1 sample uniformly (the caller's shuffled
 * permutation); at the start of epoch e >= warmup with (e - warmup) % every
 * == 0 the weights are recomputed; every epoch from warmup on draws N
 * indices with replacement from p (stream (seed, epoch)). Defaults
 * (reconstruction, CelebA settings): r 0.1, gamma 10, warmup 10, every 2,
 * eta 0.1. */

typedef struct sc_la_config {
    double quantile;   /* r in [0, 1], default 0.1 */
    double gamma;      /* >= 0, default 10 */
    double eta;        /* EMA coefficient in (0, 1], default 0.1 */
    int warmup;        /* epochs of uniform sampling, default 10 */
    int every;         /* recompute period in epochs, default 2 */
    double tau;        /* temperature of sim; default 0.5 (ssl passes --temperature, 0.2) */
} sc_la_config;

SC_API void sc_la_config_default(sc_la_config *cfg);
SC_API sc_status sc_la_config_check(const sc_la_config *cfg);

/* The r-quantile of x[0..n) as defined above (n >= 1; x is not modified). */
SC_API double sc_la_quantile(const double *x, int64_t n, double r);

/* The weights from speeds: p[i] for n samples, seen[i] != 0 marking the
 * samples with a speed. *s_star (may be NULL) receives s*. With no seen
 * sample, p is uniform and s* NaN. */
SC_API sc_status sc_la_weights(const double *v, const uint8_t *seen, int64_t n, double r, double gamma,
                               double *p, double *s_star);

typedef struct sc_la_sampler sc_la_sampler;

/* A sampler over the dataset indices idx[0..n) (e.g. the training split). */
SC_API sc_status sc_la_sampler_create(const sc_la_config *cfg, const int64_t *idx, int64_t n,
                                      uint64_t seed, sc_la_sampler **out);
SC_API void sc_la_sampler_free(sc_la_sampler *s);

/* Records the positive-pair cosines of the drawn samples (dataset indices
 * ids[0..m)); an index outside the sampler's set gives SC_ERR_INVALID_ARG. */
SC_API sc_status sc_la_sampler_observe(sc_la_sampler *s, const int64_t *ids, const float *cos,
                                       int64_t m);
/* Recomputes p from the current speeds. */
SC_API sc_status sc_la_sampler_recompute(sc_la_sampler *s);
/* Draws n dataset indices with replacement from p (stream (seed, epoch)). */
SC_API sc_status sc_la_sampler_draw(const sc_la_sampler *s, uint64_t epoch, int64_t *order);
/* The schedule: for epoch < warmup, *use_order = false (sample uniformly);
 * else recomputes p when due (or when it was never computed), draws the
 * epoch's n indices into order and sets *use_order = true. */
SC_API sc_status sc_la_sampler_begin_epoch(sc_la_sampler *s, int epoch, int64_t *order,
                                           bool *use_order);

SC_API const sc_la_config *sc_la_sampler_config(const sc_la_sampler *s);
SC_API int64_t sc_la_sampler_size(const sc_la_sampler *s);
SC_API const int64_t *sc_la_sampler_indices(const sc_la_sampler *s);  /* slot -> dataset index */
/* Per slot (the order of idx): speeds v, times seen, weights p. */
SC_API const double *sc_la_sampler_speeds(const sc_la_sampler *s);
SC_API const int64_t *sc_la_sampler_seen(const sc_la_sampler *s);
SC_API const double *sc_la_sampler_weights(const sc_la_sampler *s);
/* Whether p has been computed (false: p is uniform), and s* of the last
 * recompute (NaN before). */
SC_API bool sc_la_sampler_active(const sc_la_sampler *s);
SC_API double sc_la_sampler_s_star(const sc_la_sampler *s);
/* Replaces the state (resume): n entries each; weights NULL = not active. */
SC_API sc_status sc_la_sampler_restore(sc_la_sampler *s, const double *speeds, const int64_t *seen,
                                       const double *weights, double s_star);

/* ---- k-NN monitor (src/train/knn.c) ------------------------------------------- */

/* Weighted k nearest neighbours on encoder features (Wu et al. 2018, as
 * solo-learn monitors SSL): features L2-normalised, each query's k most
 * cosine-similar samples of the labelled bank vote for their class with
 * weight exp(similarity / temperature). The bank is the training split, the
 * queries a held-out split; labels are read for this measurement only. */
typedef struct sc_knn_config {
    int k;                  /* default 20 */
    float temperature;      /* default 0.07 */
    int64_t bank;           /* the first N training samples (0: all; default 10000) */
    int64_t queries;        /* the first N samples of the query split (0: all; default 2000) */
} sc_knn_config;

SC_API void sc_knn_config_default(sc_knn_config *cfg);

/* k-NN accuracy of `split`'s samples against the training split, per group
 * (the definitions of sc_evaluate; loss NaN). */
SC_API sc_status sc_knn_evaluate(sc_context *ctx, sc_model *encoder, const sc_dataset *d,
                                 sc_split split, const sc_knn_config *cfg, sc_group_metrics *out);

/* ---- self-supervised training (src/train/ssl.c) ----------------------------- */

typedef enum sc_ssl_method { SC_SSL_SIMCLR = 0, SC_SSL_BARLOW = 1 } sc_ssl_method;
typedef enum sc_ssl_sampler { SC_SAMPLER_UNIFORM = 0, SC_SAMPLER_LA = 1 } sc_ssl_sampler;

SC_API sc_status sc_ssl_method_parse(const char *s, sc_ssl_method *out);
SC_API const char *sc_ssl_method_name(sc_ssl_method m);
SC_API sc_status sc_ssl_sampler_parse(const char *s, sc_ssl_sampler *out);
SC_API const char *sc_ssl_sampler_name(sc_ssl_sampler s);

typedef struct sc_ssl_config {
    sc_model_config model;       /* encoder, default a resnet of width 8 with batch norm;
                                    input size and classes come from the data */
    SC_RUN_CONFIG_GROUP;         /* defaults: epochs 0 (the method's: 2 for simclr, 4
                                    for barlow), batch 256, AdamW 4e-3 with 100
                                    warm-up steps and a cosine decay; run_dir
                                    holds metrics.jsonl, last.safetensors, speeds.png */
    sc_ssl_method method;        /* default simclr */
    float temperature;           /* NT-Xent tau, default 0.2 (also the LA speed's tau) */
    float offdiag;               /* BarlowTwins lambda, default 0.0051 */
    int proj_hidden, proj_dim;   /* projector Linear-[BN]-ReLU-Linear; 0 (default): the
                                    method's, 512, 128 for simclr, 1024, 1024 for barlow */
    sc_cnn_norm proj_norm;       /* batch (default): a batch norm without affine
                                    parameters on the hidden layer; or none */
    sc_augment_config augment;
    sc_ssl_sampler sampler;      /* default uniform */
    sc_la_config la;             /* la.tau <= 0: use `temperature` */
    int knn_every;               /* k-NN accuracy on the validation split every N epochs
                                    and at the last (0: never); default 1 */
    sc_knn_config knn;
} sc_ssl_config;

SC_API void sc_ssl_config_default(sc_ssl_config *cfg);

/* Fills what the defaults leave to the method: a projector size of 0 (512,
 * 128 for SimCLR; 1024, 1024 for BarlowTwins), epochs 0 (2 for SimCLR, 4
 * for BarlowTwins) and la.tau <= 0 (the NT-Xent temperature). sc_train_ssl does it on its copy; a caller that records its
 * settings calls it first so the record holds the sizes trained. */
SC_API void sc_ssl_config_resolve(sc_ssl_config *c);

typedef struct sc_ssl_result {
    sc_model *encoder;           /* the final encoder (caller frees) */
    int epochs;                  /* epochs trained in total */
    double last_loss;            /* mean loss of the last epoch */
    double speed_aligned, speed_conflicting;   /* at the end */
    double mass_conflicting;     /* of the last epoch's sampling distribution */
    double epoch_s;              /* mean seconds per epoch of this call */
    double sampler_s;            /* seconds spent in sampler bookkeeping (all epochs) */
    double seconds;
} sc_ssl_result;

/* Trains encoder + projector on the training split (labels and attributes
 * are never read for training). Per epoch: a JSON line in
 * run_dir/metrics.jsonl (loss, positive cosine, lr, mean learning speed
 * per group and for aligned (a == y mod num_attrs) / conflicting samples,
 * the sampling distribution's and the LA weights' mass on aligned /
 * conflicting samples, timings) and run_dir/last.safetensors (encoder
 * under its model names, loadable by sc_checkpoint_load into a plain model;
 * projector "projector.{0,2}.{weight,bias}"; optimiser state; sampler state
 * "la.speed", "la.seen", "la.weight"). Every knn_every epochs (and after
 * the last) the encoder's k-NN accuracy on the validation split goes into
 * the epoch's line ("knn_acc", "knn_wga": average and worst-group; labels
 * are read for this measurement only, never for training). At the end
 * run_dir/speeds.png plots the loss, the k-NN accuracy, the speed and mass
 * curves over epochs and the final weight distribution.
 * A non-finite loss stops with SC_ERR_NUMERIC naming the epoch and step. */
SC_API sc_status sc_train_ssl(sc_context *ctx, const sc_dataset *d, const sc_ssl_config *cfg,
                              sc_ssl_result *out);
SC_API void sc_ssl_result_free(sc_ssl_result *r);

/* Plots a run's metrics.jsonl and the sampler's final state into a PNG with
 * five panels: the training loss over epochs; the k-NN accuracy on the
 * validation split (average blue, worst group red) at the epochs that have
 * one; mean learning speed of aligned (blue) and conflicting (red)
 * samples over epochs; the mass on conflicting samples over epochs of the
 * sampling distribution (red) and of the LA weights computed from the
 * current speeds (orange); the histogram of N p_i, p = the LA weights
 * computed from the final speeds, as the share of aligned (blue) and of
 * conflicting (red) samples per bin. */
SC_API sc_status sc_ssl_plot(const char *metrics_jsonl, const sc_dataset *d, const sc_la_sampler *s,
                             const char *png_path);

/* ---- linear probe (src/train/probe.c) ---------------------------------------- */

typedef struct sc_probe_config {
    SC_RUN_CONFIG_GROUP;         /* defaults: 100 epochs, batch 256, AdamW lr 3e-3 with no
                                    weight decay, no run directory */
    bool standardize;            /* z-score features with train mean/std (default true) */
} sc_probe_config;

SC_API void sc_probe_config_default(sc_probe_config *cfg);

typedef struct sc_probe_result {
    int feature_dim;
    double train_acc;            /* of the final linear layer on the train split */
    sc_group_metrics val, test;  /* weighted: by the train split's group shares */
    double seconds;
} sc_probe_result;

/* Encoder features [n, feature_dim] of the samples of `split` (graph not
 * recording), in split order; *feats and *idx (dataset indices) malloc'd. */
SC_API sc_status sc_probe_features(sc_context *ctx, sc_model *encoder, const sc_dataset *d,
                                   sc_split split, int64_t batch_size, float **feats, int64_t **idx,
                                   int64_t *n);

/* A linear classifier on the frozen encoder's features, trained on the
 * labelled training split, evaluated per group on val and test. */
SC_API sc_status sc_probe(sc_context *ctx, sc_model *encoder, const sc_dataset *d,
                          const sc_probe_config *cfg, sc_probe_result *out);
SC_API void sc_probe_result_free(sc_probe_result *r);

#ifdef __cplusplus
}
#endif
#endif
