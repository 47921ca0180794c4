/* Optimisers against double-precision host implementations of PyTorch's
 * update rules (torch.optim.SGD, torch.optim.AdamW), schedules, clipping. */
#include "suite.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "spurcl/optim.h"

#define N 13
#define STEPS 7

static void run(sc_optim_kind kind, float wd, float momentum, float clip)
{
    sc_context *ctx = tu_ctx();
    sc_var *p;
    int64_t shape[1] = {N};
    TU_OK(sc_param_create(ctx, "w", 1, shape, &p));
    sc_rng rng;
    sc_rng_seed(&rng, 3);
    float p0[N];
    double ref[N], m[N] = {0}, v[N] = {0};
    tu_normal(&rng, p0, N);
    for (int i = 0; i < N; i++) ref[i] = p0[i];
    TU_OK(sc_tensor_upload(sc_var_tensor(p), p0));

    sc_optim_config cfg;
    sc_optim_config_default(&cfg, kind);
    cfg.lr = 0.05f;
    cfg.weight_decay = wd;
    cfg.momentum = momentum;
    cfg.clip_norm = clip;
    sc_optim *o;
    TU_OK(sc_optim_create(ctx, &cfg, &p, 1, &o));
    sc_graph *g;
    TU_OK(sc_graph_create(ctx, &g));
    for (int t = 1; t <= STEPS; t++) {
        float gh[N];
        tu_normal(&rng, gh, N);
        sc_var *gv = sc_var_from_host(g, 1, shape, gh, false);
        float norm;
        TU_OK(sc_optim_step(o, &gv, &norm));
        double gn = 0;
        for (int i = 0; i < N; i++) gn += (double)gh[i] * gh[i];
        gn = sqrt(gn);
        ck_assert_msg(fabs(norm - gn) <= 1e-5 * gn, "norm %g vs %g", (double)norm, gn);
        double scale = clip > 0 && gn > clip ? clip / (gn + 1e-6) : 1.0;
        for (int i = 0; i < N; i++) {
            double gi = scale * gh[i];
            if (kind == SC_OPT_SGD) {
                double d = gi + wd * ref[i];
                if (momentum != 0) {
                    m[i] = t == 1 ? d : momentum * m[i] + d;
                    d = m[i];
                }
                ref[i] -= cfg.lr * d;
            } else {
                ref[i] *= 1.0 - cfg.lr * wd;
                m[i] = cfg.beta1 * m[i] + (1 - cfg.beta1) * gi;
                v[i] = cfg.beta2 * v[i] + (1 - cfg.beta2) * gi * gi;
                double c1 = 1 - pow(cfg.beta1, t), c2 = 1 - pow(cfg.beta2, t);
                ref[i] -= cfg.lr / c1 * m[i] / (sqrt(v[i]) / sqrt(c2) + cfg.eps);
            }
        }
        sc_graph_reset(g);
    }
    float got[N];
    TU_OK(sc_tensor_download(sc_var_tensor(p), got));
    tu_assert_close(kind == SC_OPT_SGD ? "sgd" : "adamw", got, ref, N, 1e-5, 1e-6);
    ck_assert_int_eq(sc_optim_steps(o), STEPS);
    sc_graph_free(g);
    sc_optim_free(o);
    sc_param_free(p);
}

START_TEST(sgd_plain) { run(SC_OPT_SGD, 0, 0, 0); }
END_TEST
START_TEST(sgd_momentum_wd) { run(SC_OPT_SGD, 0.01f, 0.9f, 0); }
END_TEST
START_TEST(sgd_clipped) { run(SC_OPT_SGD, 0, 0.9f, 1.0f); }
END_TEST
START_TEST(adamw) { run(SC_OPT_ADAMW, 0.01f, 0, 0); }
END_TEST
START_TEST(adamw_clipped) { run(SC_OPT_ADAMW, 0.05f, 0, 0.5f); }
END_TEST

START_TEST(schedules)
{
    sc_context *ctx = tu_ctx();
    sc_var *p;
    int64_t one = 1;
    TU_OK(sc_param_create(ctx, "w", 1, &one, &p));
    sc_optim_config c;
    sc_optim_config_default(&c, SC_OPT_SGD);
    c.lr = 0.1f;
    c.warmup_steps = 4;
    c.schedule = SC_SCHED_COSINE;
    c.total_steps = 14;
    sc_optim *o;
    TU_OK(sc_optim_create(ctx, &c, &p, 1, &o));
    const double want_cos[] = {0.025, 0.05, 0.075, 0.1};
    for (int s = 0; s < 4; s++) {
        sc_optim_set_steps(o, s);
        ck_assert_double_eq_tol(sc_optim_lr(o), want_cos[s], 1e-7);
    }
    for (int s = 4; s <= 16; s++) {
        sc_optim_set_steps(o, s);
        double frac = s - 4 >= 10 ? 1.0 : (s - 4) / 10.0;
        ck_assert_double_eq_tol(sc_optim_lr(o), 0.05 * (1 + cos(3.14159265358979 * frac)), 1e-7);
    }
    sc_optim_free(o);
    c.schedule = SC_SCHED_STEP;
    c.warmup_steps = 0;
    c.step_size = 3;
    c.gamma = 0.5f;
    TU_OK(sc_optim_create(ctx, &c, &p, 1, &o));
    for (int s = 0; s < 10; s++) {
        sc_optim_set_steps(o, s);
        ck_assert_double_eq_tol(sc_optim_lr(o), 0.1 * pow(0.5, s / 3), 1e-7);
    }
    sc_optim_free(o);
    c.lr = -1;
    ck_assert_int_eq(sc_optim_create(ctx, &c, &p, 1, &o), SC_ERR_INVALID_ARG);
    sc_optim_kind k;
    ck_assert_int_eq(sc_optim_kind_parse("adam", &k), SC_ERR_INVALID_ARG);
    sc_param_free(p);
}
END_TEST

START_TEST(nan_gradient_refused)
{
    sc_context *ctx = tu_ctx();
    sc_var *p;
    int64_t n = 3;
    TU_OK(sc_param_create(ctx, "w", 1, &n, &p));
    sc_optim_config c;
    sc_optim_config_default(&c, SC_OPT_ADAMW);
    sc_optim *o;
    TU_OK(sc_optim_create(ctx, &c, &p, 1, &o));
    sc_graph *g;
    TU_OK(sc_graph_create(ctx, &g));
    float bad[3] = {1, NAN, 2};
    sc_var *gv = sc_var_from_host(g, 1, &n, bad, false);
    float norm;
    ck_assert_int_eq(sc_optim_step(o, &gv, &norm), SC_ERR_NUMERIC);
    ck_assert_int_eq(sc_optim_steps(o), 0);
    float h[3];
    TU_OK(sc_tensor_download(sc_var_tensor(p), h));
    ck_assert_float_eq(h[0], 0.0f); /* parameters untouched */
    sc_graph_free(g);
    sc_optim_free(o);
    sc_param_free(p);
}
END_TEST

int main(void)
{
    const tu_case cases[] = {
        {"optim", 0, {sgd_plain, sgd_momentum_wd, sgd_clipped, adamw, adamw_clipped, schedules,
                nan_gradient_refused}},
    };
    return tu_run(TU_SUITE("optim", cases));
}
