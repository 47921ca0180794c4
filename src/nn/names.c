/* Names of the nn enums: the _parse/_name pairs of include/spurcl/model.h,
 * optim.h and nn_loss.h, each name table written once. */
#include "base/base.h"
#include "spurcl/model.h"
#include "spurcl/nn.h"
#include "spurcl/optim.h"

static const char *const model_names[] = {"cnn", "vit", "resnet"};
SC_ENUM_FUNCS(sc_model_kind, model_kind, "model", model_names, NULL)

static const char *const cnn_norm_names[] = {"none", "batch"};
SC_ENUM_FUNCS(sc_cnn_norm, cnn_norm, "cnn normalisation", cnn_norm_names, NULL)

static const char *const optim_names[] = {"sgd", "adamw"};
SC_ENUM_FUNCS(sc_optim_kind, optim_kind, "optimiser", optim_names, NULL)

static const char *const schedule_names[] = {"constant", "step", "cosine"};
SC_ENUM_FUNCS(sc_schedule, schedule, "schedule", schedule_names, NULL)

static const char *const target_names[] = {"true-logit", "pred-logit", "loss"};
SC_ENUM_FUNCS(sc_saliency_target, saliency_target, "saliency target", target_names, NULL)

static const char *const norm_names[] = {"maxabs", "l2", "none"};
SC_ENUM_FUNCS(sc_saliency_norm, saliency_norm, "saliency normalisation", norm_names, NULL)
