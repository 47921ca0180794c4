/* spurcl: image classifiers built from the differentiable ops.
 *
 * Parameter names follow PyTorch's state_dict of the equivalent module, so
 * checkpoints map one to one:
 *   cnn  conv1.weight/bias, conv2.*, fc1.*, fc2.*   (Conv-ReLU-MaxPool x2, FC-ReLU-FC)
 *   vit  patch_embed.*, cls_token, pos_embed, blocks.{i}.norm1.*,
 *        blocks.{i}.attn.qkv.*, blocks.{i}.attn.proj.*, blocks.{i}.norm2.*,
 *        blocks.{i}.mlp.fc1.*, blocks.{i}.mlp.fc2.*, norm.*, head.*   (timm layout)
 *   resnet torchvision's resnet18 with a small-image stem: conv1.weight, bn1.*,
 *        layer{1-4}.{0,1}.conv1.weight, .bn1.*, .conv2.weight, .bn2.*,
 *        layer{2-4}.0.downsample.0.weight (1x1 conv), .downsample.1.* (its
 *        batch norm), fc.weight/bias. Convolutions have no bias.
 *
 * Batch-norm layers (resnet) also have buffers, PyTorch's name for state
 * that is saved with the weights but not trained: <bn>.running_mean and
 * <bn>.running_var (float32 [C]) and <bn>.num_batches_tracked (int64
 * scalar). Buffers are not parameters: optimisers never see them and they
 * have no gradient. */
#ifndef SPURCL_MODEL_H
#define SPURCL_MODEL_H

#include <stdint.h>

#include "spurcl/autograd.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sc_model_kind { SC_MODEL_CNN = 0, SC_MODEL_VIT = 1, SC_MODEL_RESNET = 2 } sc_model_kind;

/* The cnn's normalisation after each convolution: none (conv with bias, then
 * ReLU) or batch (conv without bias, BatchNorm2d with PyTorch's defaults,
 * then ReLU; running statistics in eval mode). */
typedef enum sc_cnn_norm { SC_CNN_NORM_NONE = 0, SC_CNN_NORM_BATCH = 1 } sc_cnn_norm;

typedef struct sc_model_config {
    sc_model_kind kind;
    int in_channels, height, width, num_classes;
    /* cnn widths (defaults 32, 64, 128) */
    int cnn_c1, cnn_c2, cnn_fc;
    sc_cnn_norm cnn_norm; /* default none */
    /* vit (defaults: patch 4, or 7 for 28 px; dim 64, depth 4, heads 4, mlp 128) */
    int patch, dim, depth, heads, mlp;
    float ln_eps; /* layer-norm epsilon (default 1e-5, PyTorch's) */
    /* resnet base width w: stages of w, 2w, 4w, 8w channels (default 64).
     * Its batch norms use PyTorch's defaults: eps 1e-5, momentum 0.1. */
    int resnet_width;
} sc_model_config;

/* Fills the defaults for `kind` and the given input and class count. */
SC_API void sc_model_config_default(sc_model_config *cfg, sc_model_kind kind, int in_channels,
                                    int height, int width, int num_classes);
/* "cnn" / "vit" / "resnet" -> kind; SC_ERR_INVALID_ARG naming the valid values otherwise. */
SC_API sc_status sc_model_kind_parse(const char *name, sc_model_kind *out);
SC_API const char *sc_model_kind_name(sc_model_kind kind);
/* "none" / "batch" -> norm; SC_ERR_INVALID_ARG naming the valid values otherwise. */
SC_API sc_status sc_cnn_norm_parse(const char *name, sc_cnn_norm *out);
SC_API const char *sc_cnn_norm_name(sc_cnn_norm norm);

typedef struct sc_model sc_model;

/* Creates the parameters (zeros); call sc_model_init or load weights. */
SC_API sc_status sc_model_create(sc_context *ctx, const sc_model_config *cfg, sc_model **out);
SC_API void sc_model_free(sc_model *m);
SC_API const sc_model_config *sc_model_get_config(const sc_model *m);

/* PyTorch's default initialisation for each layer type, from `seed`:
 * conv/linear weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
 * layer norms 1 and 0, cls_token and pos_embed N(0, 0.02^2). resnet as
 * torchvision: convolutions N(0, 2 / fan_out) (kaiming_normal_, fan_out,
 * relu), batch norms weight 1 and bias 0, fc the Linear default; buffers
 * running_mean 0, running_var 1, num_batches_tracked 0. */
SC_API sc_status sc_model_init(sc_model *m, uint64_t seed);

SC_API size_t sc_model_param_count(const sc_model *m);
SC_API sc_var *sc_model_param(const sc_model *m, size_t i);
SC_API sc_var *sc_model_find_param(const sc_model *m, const char *name);
/* Total number of scalar parameters. */
SC_API int64_t sc_model_numel(const sc_model *m);

/* A buffer: exactly one of `tensor` (a float32 device tensor: running_mean,
 * running_var) and `count` (a host int64 counter: num_batches_tracked) is
 * set. Owned by the model; training-mode forwards update them. */
typedef struct sc_model_buffer {
    const char *name;   /* PyTorch state_dict name, e.g. "layer1.0.bn1.running_var" */
    sc_tensor *tensor;
    int64_t *count;
} sc_model_buffer;

/* Buffers in state_dict order (none for cnn and vit); NULL past the end. */
SC_API size_t sc_model_buffer_count(const sc_model *m);
SC_API const sc_model_buffer *sc_model_buffer_at(const sc_model *m, size_t i);
SC_API const sc_model_buffer *sc_model_find_buffer(const sc_model *m, const char *name);

/* Logits [N, classes] for images x [N, C, H, W]. training (PyTorch's
 * model.train()): batch norms use the batch's statistics and update their
 * running statistics and counters, once per forward; otherwise
 * (model.eval()) they use the running statistics and change nothing. cnn
 * and vit compute the same either way. */
SC_API sc_var *sc_model_forward(sc_model *m, sc_graph *g, sc_var *x, bool training);

/* The representation before the last layer, [N, sc_model_feature_dim]:
 * cnn fc1 after its ReLU; vit the class token after the final norm; resnet
 * the global average pool of layer4 (8 * resnet_width). The
 * encoder output for self-supervised training and linear probes. */
SC_API sc_var *sc_model_features(sc_model *m, sc_graph *g, sc_var *x, bool training);
SC_API int sc_model_feature_dim(const sc_model *m);

/* Names a hidden layer whose output the next forwards keep (NULL: none):
 * cnn conv1, pool1, conv2, pool2, fc1; vit patch_embed, blocks.I; resnet
 * conv1 (the stem after its ReLU), layer1 .. layer4, avgpool. Returns
 * SC_ERR_INVALID_ARG listing the valid names for an unknown one. */
SC_API sc_status sc_model_set_capture(sc_model *m, const char *layer);
/* The captured output of the last forward (a variable of its graph). */
SC_API sc_var *sc_model_captured(const sc_model *m);

/* Names of the last layer's parameters (the head trained with a frozen
 * backbone): cnn fc2.weight/bias, vit head.weight/bias, resnet fc.weight/bias. */
SC_API bool sc_model_is_head_param(const sc_model *m, const char *name);

/* ---- multi-layer perceptrons (projectors, probes) ---------------------------
 *
 * Linear layers with a ReLU between consecutive ones, PyTorch's
 * nn.Sequential(Linear, ReLU, Linear, ...): dims[0] inputs, dims[i + 1] the
 * outputs of layer i. Parameters are named as that module's state_dict under
 * `prefix`: "<prefix>.<2i>.weight" and ".bias" (a single layer: nn.Linear's
 * "<prefix>.weight", ".bias"). */
typedef struct sc_mlp sc_mlp;

SC_API sc_status sc_mlp_create(sc_context *ctx, const char *prefix, const int *dims, int nlayers,
                               sc_mlp **out);
SC_API void sc_mlp_free(sc_mlp *m);
/* Off by default. On: a batch norm without affine parameters, always on the
 * batch's statistics (nn.BatchNorm1d(affine=False) in training mode), before
 * each hidden ReLU, as SimCLR's and BarlowTwins' projectors have. Only for
 * MLPs that are trained and run on whole batches (a projector): it keeps no
 * running statistics and couples the samples of a batch. */
SC_API void sc_mlp_set_hidden_batch_norm(sc_mlp *m, bool on);
/* PyTorch's nn.Linear initialisation, every weight and bias U(-1/sqrt(fan_in),
 * 1/sqrt(fan_in)), drawn in parameter order from one stream (seed, 0). */
SC_API sc_status sc_mlp_init(sc_mlp *m, uint64_t seed);
SC_API sc_var *sc_mlp_forward(const sc_mlp *m, sc_graph *g, sc_var *x);
/* Parameters in state_dict order (weight, bias of each layer). */
SC_API size_t sc_mlp_param_count(const sc_mlp *m);
SC_API sc_var *sc_mlp_param(const sc_mlp *m, size_t i);



#ifdef __cplusplus
}
#endif
#endif
