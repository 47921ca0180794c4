/* Model internals used outside models.c (not installed). */
#ifndef SC_NN_MODELS_INTERNAL_H
#define SC_NN_MODELS_INTERNAL_H

#include <stdint.h>

#include "spurcl/model.h"

/* What sc_model_create would build from cfg, without a device: the same
 * checks and the same builders, which only count here. On success
 * *nparams is the number of parameter tensors and *numel their total
 * number of elements; an error is the one sc_model_create would give for
 * the configuration (before any device allocation). The checkpoint
 * fuzzer (fuzz/fuzz_ckpt_meta.c) runs a checkpoint's model JSON through
 * it. */
sc_status sc__model_plan(const sc_model_config *cfg, int64_t *nparams, int64_t *numel);

#endif
