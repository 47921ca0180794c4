/* spurcl: image classifiers built from the differentiable ops.
 *
 * Parameter names follow PyTorch's state_dict of the equivalent module, so
 * checkpoints map one to one:
 *   cnn  conv1.weight/bias, conv2.*, fc1.*, fc2.*   (Conv-ReLU-MaxPool x2, FC-ReLU-FC)
 *   vit  patch_embed.*, cls_token, pos_embed, blocks.{i}.norm1.*,
 *        blocks.{i}.attn.qkv.*, blocks.{i}.attn.proj.*, blocks.{i}.norm2.*,
 *        blocks.{i}.mlp.fc1.*, blocks.{i}.mlp.fc2.*, norm.*, head.*   (timm layout) */
#ifndef SPURCL_MODEL_H
#define SPURCL_MODEL_H

#include <stdint.h>

#include "spurcl/autograd.h"
#include "spurcl/io.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sc_model_kind { SC_MODEL_CNN = 0, SC_MODEL_VIT = 1 } sc_model_kind;

typedef struct sc_model_config {
    sc_model_kind kind;
    int in_channels, height, width, num_classes;
    /* cnn widths (defaults 32, 64, 128) */
    int cnn_c1, cnn_c2, cnn_fc;
    /* vit (defaults: patch 4, or 7 for 28 px; dim 64, depth 4, heads 4, mlp 128) */
    int patch, dim, depth, heads, mlp;
    float ln_eps; /* layer-norm epsilon (default 1e-5, PyTorch's) */
} sc_model_config;

/* Fills the defaults for `kind` and the given input and class count. */
void sc_model_config_default(sc_model_config *cfg, sc_model_kind kind, int in_channels,
                             int height, int width, int num_classes);
/* "cnn" / "vit" -> kind; SC_ERR_INVALID_ARG naming the valid values otherwise. */
sc_status sc_model_kind_parse(const char *name, sc_model_kind *out);
const char *sc_model_kind_name(sc_model_kind kind);

typedef struct sc_model sc_model;

/* Creates the parameters (zeros); call sc_model_init or load weights. */
sc_status sc_model_create(sc_context *ctx, const sc_model_config *cfg, sc_model **out);
void sc_model_free(sc_model *m);
const sc_model_config *sc_model_get_config(const sc_model *m);

/* PyTorch's default initialisation for each layer type, from `seed`:
 * conv/linear weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
 * layer norms 1 and 0, cls_token and pos_embed N(0, 0.02^2). */
sc_status sc_model_init(sc_model *m, uint64_t seed);

size_t sc_model_param_count(const sc_model *m);
sc_var *sc_model_param(const sc_model *m, size_t i);
sc_var *sc_model_find_param(const sc_model *m, const char *name);
/* Total number of scalar parameters. */
int64_t sc_model_numel(const sc_model *m);

/* Logits [N, classes] for images x [N, C, H, W]. */
sc_var *sc_model_forward(sc_model *m, sc_graph *g, sc_var *x, bool training);

/* The representation before the last layer, [N, sc_model_feature_dim]:
 * cnn fc1 after its ReLU; vit the class token after the final norm. The
 * encoder output for self-supervised training and linear probes. */
sc_var *sc_model_features(sc_model *m, sc_graph *g, sc_var *x, bool training);
int sc_model_feature_dim(const sc_model *m);

/* Names a hidden layer whose output the next forwards keep (NULL: none):
 * cnn conv1, pool1, conv2, pool2, fc1; vit patch_embed, blocks.I. Returns
 * SC_ERR_INVALID_ARG listing the valid names for an unknown one. */
sc_status sc_model_set_capture(sc_model *m, const char *layer);
/* The captured output of the last forward (a variable of its graph). */
sc_var *sc_model_captured(const sc_model *m);

/* Names of the last layer's parameters (the head trained with a frozen
 * backbone): cnn fc2.weight/bias, vit head.weight/bias. */
bool sc_model_is_head_param(const sc_model *m, const char *name);

/* Copies every parameter from tensors named prefix + name (float32, same
 * shape); SC_ERR_FORMAT names the first missing or mismatched tensor. */
sc_status sc_model_load(sc_model *m, const sc_safetensors *st, const char *prefix);

#ifdef __cplusplus
}
#endif
#endif
