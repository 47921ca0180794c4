/* spurcl: optimisers and learning-rate schedules, with PyTorch's update rules.
 *
 *   SGD    d = g + wd*p;  b = momentum*b + d (b = d on the first step);  p -= lr*b
 *   AdamW  p *= 1 - lr*wd;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2;
 *          p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
 * Schedules (per step): constant, step (lr * gamma^floor(s/step_size)),
 * cosine (to 0 at total_steps), each after `warmup` steps of linear warm-up
 * from lr/warmup. Optional clipping of the global gradient norm. */
#ifndef SPURCL_OPTIM_H
#define SPURCL_OPTIM_H

#include <stdint.h>

#include "spurcl/autograd.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sc_optim_kind { SC_OPT_SGD = 0, SC_OPT_ADAMW = 1 } sc_optim_kind;
typedef enum sc_schedule { SC_SCHED_CONSTANT = 0, SC_SCHED_STEP = 1, SC_SCHED_COSINE = 2 } sc_schedule;

typedef struct sc_optim_config {
    sc_optim_kind kind;
    float lr;              /* default 1e-3 */
    float momentum;        /* SGD, default 0.9 */
    float weight_decay;    /* default 0 (SGD), 0.01 (AdamW) */
    float beta1, beta2, eps; /* AdamW: 0.9, 0.999, 1e-8 */
    float clip_norm;       /* 0: no clipping */
    sc_schedule schedule;
    int64_t warmup_steps;
    int64_t step_size;     /* step schedule */
    float gamma;           /* step schedule, default 0.1 */
    int64_t total_steps;   /* cosine schedule */
} sc_optim_config;

SC_API void sc_optim_config_default(sc_optim_config *cfg, sc_optim_kind kind);
SC_API sc_status sc_optim_kind_parse(const char *s, sc_optim_kind *out);
SC_API sc_status sc_schedule_parse(const char *s, sc_schedule *out);
/* "sgd", "adamw"; "constant", "step", "cosine". */
SC_API const char *sc_optim_kind_name(sc_optim_kind k);
SC_API const char *sc_schedule_name(sc_schedule s);

typedef struct sc_optim sc_optim;

/* The optimiser keeps its state (momentum, moments) per parameter. */
SC_API sc_status sc_optim_create(sc_context *ctx, const sc_optim_config *cfg, sc_var *const *params,
                                 size_t n, sc_optim **out);
SC_API void sc_optim_free(sc_optim *o);

/* One update with grads[i] for params[i] (NULL: that parameter is skipped).
 * Returns the global gradient norm before clipping in *grad_norm (may be NULL). */
SC_API sc_status sc_optim_step(sc_optim *o, sc_var *const *grads, float *grad_norm);

/* The learning rate the next step will use. */
SC_API float sc_optim_lr(const sc_optim *o);
SC_API int64_t sc_optim_steps(const sc_optim *o);

/* State for checkpoints: the step count and, per parameter, its state
 * tensors (SGD: momentum buffer; AdamW: exp_avg, exp_avg_sq). Tensors may be
 * NULL before the first step (SGD momentum). */
SC_API size_t sc_optim_state_count(const sc_optim *o);   /* tensors per parameter */
/* The parameters it updates, in the order it was given them; their state
 * is sc_optim_state(o, i, ...). */
SC_API size_t sc_optim_param_count(const sc_optim *o);
SC_API sc_var *sc_optim_param(const sc_optim *o, size_t i);
SC_API sc_tensor *sc_optim_state(const sc_optim *o, size_t param, size_t which);
SC_API const char *sc_optim_state_name(const sc_optim *o, size_t which); /* "momentum_buffer", ... */
SC_API void sc_optim_set_steps(sc_optim *o, int64_t steps);

#ifdef __cplusplus
}
#endif
#endif
