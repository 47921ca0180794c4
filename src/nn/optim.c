/* Optimisers over named parameters: state, schedules and the public API of
 * include/spurcl/optim.h. The elementwise updates and the partial sums of
 * the gradient norm are kernels (src/kernels/optim.c). */
#include "kernels/kernels.h"
#include "nn/graph.h"
#include "spurcl/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NORM_GROUPS SC_K_OPTIM_NORM_GROUPS

struct sc_optim {
    sc_context *ctx;
    sc_optim_config cfg;
    size_t n;
    sc_var **params;
    sc_tensor **s0, **s1;   /* SGD: momentum; AdamW: exp_avg, exp_avg_sq */
    sc_tensor *partials;    /* [n * NORM_GROUPS] */
    float *host_partials;
    int64_t steps;
};

void sc_optim_config_default(sc_optim_config *c, sc_optim_kind kind)
{
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->lr = 1e-3f;
    c->momentum = 0.9f;
    c->weight_decay = kind == SC_OPT_ADAMW ? 0.01f : 0.0f;
    c->beta1 = 0.9f;
    c->beta2 = 0.999f;
    c->eps = 1e-8f;
    c->gamma = 0.1f;
    c->schedule = SC_SCHED_CONSTANT;
}

void sc_optim_free(sc_optim *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->n; i++) {
        sc_tensor_free(o->s0 ? o->s0[i] : NULL);
        sc_tensor_free(o->s1 ? o->s1[i] : NULL);
    }
    free(o->s0);
    free(o->s1);
    free(o->params);
    sc_tensor_free(o->partials);
    free(o->host_partials);
    free(o);
}

sc_status sc_optim_create(sc_context *ctx, const sc_optim_config *cfg, sc_var *const *params,
                          size_t n, sc_optim **out)
{
    *out = NULL;
    if (!(cfg->lr > 0) || cfg->weight_decay < 0 || cfg->momentum < 0 || cfg->momentum >= 1 ||
        cfg->beta1 < 0 || cfg->beta1 >= 1 || cfg->beta2 < 0 || cfg->beta2 >= 1 ||
        !(cfg->eps > 0) || cfg->clip_norm < 0)
        return sc_error_set(SC_ERR_INVALID_ARG,
                            "optimiser: lr must be > 0, momentum and betas in [0, 1), eps > 0, "
                            "weight decay and clip norm >= 0");
    sc_optim *o = calloc(1, sizeof *o);
    if (!o)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (optimiser)");
    o->ctx = ctx;
    o->cfg = *cfg;
    o->n = n;
    o->params = calloc(n ? n : 1, sizeof *o->params);
    o->s0 = calloc(n ? n : 1, sizeof *o->s0);
    o->s1 = calloc(n ? n : 1, sizeof *o->s1);
    o->host_partials = calloc((n ? n : 1) * NORM_GROUPS, sizeof(float));
    sc_status st = SC_OK;
    if (!o->params || !o->s0 || !o->s1 || !o->host_partials)
        st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (optimiser)");
    for (size_t i = 0; st == SC_OK && i < n; i++) {
        o->params[i] = params[i];
        const sc_tensor *p = params[i]->t;
        st = sc_tensor_zeros(ctx, SC_F32, p->ndim, p->shape, &o->s0[i]);
        if (st == SC_OK && cfg->kind == SC_OPT_ADAMW)
            st = sc_tensor_zeros(ctx, SC_F32, p->ndim, p->shape, &o->s1[i]);
    }
    int64_t pn = (int64_t)(n ? n : 1) * NORM_GROUPS;
    if (st == SC_OK)
        st = sc_tensor_zeros(ctx, SC_F32, 1, &pn, &o->partials);
    if (st != SC_OK) {
        sc_optim_free(o);
        return st;
    }
    *out = o;
    return SC_OK;
}

float sc_optim_lr(const sc_optim *o)
{
    const sc_optim_config *c = &o->cfg;
    int64_t s = o->steps;
    if (c->warmup_steps > 0 && s < c->warmup_steps)
        return c->lr * (float)(s + 1) / (float)c->warmup_steps;
    int64_t t = s - c->warmup_steps;
    switch (c->schedule) {
    case SC_SCHED_STEP:
        return c->step_size > 0 ? c->lr * powf(c->gamma, (float)(t / c->step_size)) : c->lr;
    case SC_SCHED_COSINE: {
        int64_t T = c->total_steps - c->warmup_steps;
        if (T <= 0)
            return c->lr;
        double frac = t >= T ? 1.0 : (double)t / (double)T;
        return (float)(0.5 * c->lr * (1.0 + cos(3.14159265358979323846 * frac)));
    }
    default:
        return c->lr;
    }
}

int64_t sc_optim_steps(const sc_optim *o) { return o->steps; }
void sc_optim_set_steps(sc_optim *o, int64_t steps) { o->steps = steps; }
size_t sc_optim_state_count(const sc_optim *o) { return o->cfg.kind == SC_OPT_ADAMW ? 2 : 1; }
size_t sc_optim_param_count(const sc_optim *o) { return o->n; }
sc_var *sc_optim_param(const sc_optim *o, size_t i) { return i < o->n ? o->params[i] : NULL; }

sc_tensor *sc_optim_state(const sc_optim *o, size_t param, size_t which)
{
    if (param >= o->n)
        return NULL;
    return which == 0 ? o->s0[param] : which == 1 ? o->s1[param] : NULL;
}

const char *sc_optim_state_name(const sc_optim *o, size_t which)
{
    if (o->cfg.kind == SC_OPT_ADAMW)
        return which == 0 ? "exp_avg" : "exp_avg_sq";
    return "momentum_buffer";
}

static sc_status check_grad(const sc_optim *o, size_t i, const sc_var *g)
{
    const sc_tensor *p = o->params[i]->t;
    if (g->t->numel != p->numel || g->t->dtype != SC_F32)
        return sc_error_set(SC_ERR_INVALID_ARG, "optimiser: gradient %zu does not match parameter %s",
                            i, sc_var_name(o->params[i]));
    return SC_OK;
}

/* Global gradient norm, summed on the host in double (deterministic). */
static sc_status grad_norm(sc_optim *o, sc_var *const *grads, double *norm)
{
    SC_TRY(sc_tensor_fill(o->partials, 0.0));
    for (size_t i = 0; i < o->n; i++)
        if (grads[i])
            SC_TRY(sc_k_optim_sumsq(o->partials, i, grads[i]->t));
    SC_TRY(sc_tensor_download(o->partials, o->host_partials));
    double s = 0;
    for (size_t i = 0; i < o->n * NORM_GROUPS; i++)
        s += o->host_partials[i];
    *norm = sqrt(s);
    return SC_OK;
}

sc_status sc_optim_step(sc_optim *o, sc_var *const *grads, float *norm_out)
{
    for (size_t i = 0; i < o->n; i++)
        if (grads[i])
            SC_TRY(check_grad(o, i, grads[i]));
    const sc_optim_config *c = &o->cfg;
    float scale = 1.0f;
    if (c->clip_norm > 0 || norm_out) {
        double norm;
        SC_TRY(grad_norm(o, grads, &norm));
        if (norm_out)
            *norm_out = (float)norm;
        if (!isfinite(norm))
            return sc_error_set(SC_ERR_NUMERIC, "optimiser: the gradient norm is %g at step %lld",
                                norm, (long long)o->steps);
        if (c->clip_norm > 0 && norm > c->clip_norm)
            scale = (float)(c->clip_norm / (norm + 1e-6)); /* torch.nn.utils.clip_grad_norm_ */
    }
    float lr = sc_optim_lr(o);
    int64_t t = o->steps + 1;
    for (size_t i = 0; i < o->n; i++) {
        if (!grads[i])
            continue;
        sc_tensor *p = o->params[i]->t;
        if (c->kind == SC_OPT_ADAMW) {
            float c1 = 1.0f - powf(c->beta1, (float)t);
            float c2s = sqrtf(1.0f - powf(c->beta2, (float)t));
            SC_TRY(sc_k_optim_adamw(p, grads[i]->t, o->s0[i], o->s1[i], lr, c->weight_decay,
                                    c->beta1, c->beta2, c->eps, c1, c2s, scale));
        } else {
            SC_TRY(sc_k_optim_sgd(p, grads[i]->t, o->s0[i], lr, c->momentum, c->weight_decay,
                                  o->steps == 0, scale));
        }
    }
    o->steps++;
    return SC_OK;
}
