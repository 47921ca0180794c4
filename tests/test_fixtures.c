/* Whole models against PyTorch (tests/fixtures/make_fixtures.py): logits,
 * cross-entropy parameter gradients, input saliency (three targets, two
 * normalisations) and the parameter gradients of the ULE teacher loss that
 * PyTorch computes with create_graph=True. Agreement per tensor:
 *   max |spurcl - torch| <= 1e-4 * max |torch| + 1e-6
 * (ULE gradients are compared with the float64 PyTorch run of the same
 * weights; the others with the float32 run). */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spurcl/io.h"
#include "spurcl/model.h"
#include "spurcl/ule.h"

#define RTOL 1e-4
#define ATOL 1e-6

static double worst_seen; /* largest max|d| / max|ref| over all tensors */

static sc_safetensors *open_fixture(const char *file)
{
    const char *src = getenv("SPURCL_TEST_SRCDIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/%s", src ? src : ".", file);
    sc_safetensors *st;
    TU_OK(sc_safetensors_open(path, &st));
    return st;
}

/* Compares a device tensor with a float32 or float64 reference tensor. */
static void compare(const sc_safetensors *st, const char *name, const sc_tensor *got_t)
{
    const sc_st_tensor *ref = sc_safetensors_find(st, name);
    ck_assert_msg(ref != NULL, "fixture has no tensor %s", name);
    size_t n = (size_t)sc_tensor_numel(got_t);
    uint64_t rn;
    size_t bytes;
    TU_OK(sc_st_tensor_nbytes(ref, &rn, &bytes));
    ck_assert_msg(rn == n, "%s: %zu elements, reference %llu", name, n, (unsigned long long)rn);
    float *got = malloc(n * sizeof *got);
    TU_OK(sc_tensor_download(got_t, got));
    double maxref = 0, maxd = 0;
    for (size_t i = 0; i < n; i++) {
        double r = ref->dtype == SC_ST_F64 ? ((const double *)ref->data)[i]
                                           : (double)((const float *)ref->data)[i];
        maxref = fmax(maxref, fabs(r));
        double d = fabs((double)got[i] - r);
        maxd = isnan(got[i]) ? INFINITY : fmax(maxd, d);
    }
    free(got);
    double ratio = maxd / (maxref + 1e-30);
    worst_seen = fmax(worst_seen, ratio);
    ck_assert_msg(maxd <= RTOL * maxref + ATOL,
                  "%s: max|diff| %.3g > %.0e * max|ref| (%.3g) + %.0e (ratio %.3g)", name, maxd,
                  RTOL, maxref, ATOL, ratio);
}

static sc_model *load_model(const sc_safetensors *st, bool vit)
{
    sc_model_config cfg;
    sc_model_config_default(&cfg, vit ? SC_MODEL_VIT : SC_MODEL_CNN, 1, 16, 16, 10);
    cfg.depth = 2;
    cfg.patch = 4;
    sc_model *m;
    TU_OK(sc_model_create(tu_ctx(), &cfg, &m));
    TU_OK(sc_model_load(m, st, "param."));
    return m;
}

static sc_var *fixture_var(sc_graph *g, const sc_safetensors *st, const char *name, bool grad)
{
    const sc_st_tensor *t;
    TU_OK(sc_safetensors_get(st, name, SC_ST_F32, -1, &t));
    return sc_var_from_host(g, t->ndim, t->shape, t->data, grad);
}

static sc_var *labels_var(sc_graph *g, const sc_safetensors *st)
{
    const sc_st_tensor *t;
    TU_OK(sc_safetensors_get(st, "labels", SC_ST_I32, 1, &t));
    return sc_var_from_host_i32(g, 1, t->shape, t->data);
}

static void check_forward_and_ce(bool vit)
{
    sc_safetensors *st = open_fixture(vit ? "vit.safetensors" : "cnn.safetensors");
    sc_model *m = load_model(st, vit);
    sc_graph *g;
    TU_OK(sc_graph_create(tu_ctx(), &g));
    sc_var *x = fixture_var(g, st, "input", false);
    sc_var *y = labels_var(g, st);
    sc_var *logits = sc_model_forward(m, g, x, true);
    sc_var *ce = sc_nn_cross_entropy(g, logits, y, NULL, SC_LOSS_MEAN);
    TU_OK(sc_graph_status(g));
    compare(st, "logits", sc_var_tensor(logits));
    compare(st, "ce_loss", sc_var_tensor(ce));
    size_t np = sc_model_param_count(m);
    sc_var **params = malloc(np * sizeof *params), **grads = malloc(np * sizeof *grads);
    for (size_t i = 0; i < np; i++)
        params[i] = sc_model_param(m, i);
    TU_OK(sc_grad(g, 1, &ce, NULL, (int)np, params, false, grads));
    for (size_t i = 0; i < np; i++) {
        char name[256];
        snprintf(name, sizeof name, "grad_ce.%s", sc_var_name(params[i]));
        ck_assert_msg(grads[i] != NULL, "no gradient for %s", sc_var_name(params[i]));
        compare(st, name, sc_var_tensor(grads[i]));
    }
    free(params);
    free(grads);
    sc_graph_free(g);
    sc_model_free(m);
    sc_safetensors_close(st);
}

static void check_saliency(bool vit)
{
    sc_safetensors *st = open_fixture(vit ? "vit.safetensors" : "cnn.safetensors");
    sc_model *m = load_model(st, vit);
    sc_graph *g;
    TU_OK(sc_graph_create(tu_ctx(), &g));
    const char *names[3] = {"saliency.true_logit", "saliency.pred_logit", "saliency.loss"};
    for (int target = 0; target < 3; target++) {
        sc_var *x = fixture_var(g, st, "input", true);
        sc_var *y = labels_var(g, st);
        sc_var *logits = sc_model_forward(m, g, x, true);
        sc_var *map = sc_nn_saliency(g, x, logits, y, (sc_saliency_target)target, false);
        TU_OK(sc_graph_status(g));
        compare(st, names[target], sc_var_tensor(map));
        if (target == SC_SAL_TRUE_LOGIT) {
            compare(st, "saliency.true_logit.maxabs",
                    sc_var_tensor(sc_nn_saliency_normalize(g, map, SC_NORM_MAXABS, 1e-8f)));
            compare(st, "saliency.true_logit.l2",
                    sc_var_tensor(sc_nn_saliency_normalize(g, map, SC_NORM_L2, 1e-8f)));
            TU_OK(sc_graph_status(g));
        }
        sc_graph_reset(g);
    }
    sc_graph_free(g);
    sc_model_free(m);
    sc_safetensors_close(st);
}

static void check_ule(bool vit)
{
    sc_safetensors *st = open_fixture(vit ? "vit.safetensors" : "cnn.safetensors");
    sc_model *m = load_model(st, vit);
    sc_graph *g;
    TU_OK(sc_graph_create(tu_ctx(), &g));
    struct {
        const char *name;
        sc_saliency_target target;
        sc_saliency_norm norm;
        sc_ule_form form;
    } cfgs[3] = {{"a", SC_SAL_TRUE_LOGIT, SC_NORM_MAXABS, SC_ULE_ADDITIVE},
                 {"b", SC_SAL_LOSS, SC_NORM_L2, SC_ULE_ADDITIVE},
                 {"c", SC_SAL_TRUE_LOGIT, SC_NORM_NONE, SC_ULE_CONVEX}};
    size_t np = sc_model_param_count(m);
    sc_var **params = malloc(np * sizeof *params), **grads = malloc(np * sizeof *grads);
    for (size_t i = 0; i < np; i++)
        params[i] = sc_model_param(m, i);
    for (int c = 0; c < 3; c++) {
        char name[256];
        sc_ule_loss_config lc;
        sc_ule_loss_config_default(&lc);
        lc.target = cfgs[c].target;
        lc.norm = cfgs[c].norm;
        lc.form = cfgs[c].form;
        snprintf(name, sizeof name, "ule.%s.lambda", cfgs[c].name);
        const sc_st_tensor *lt;
        TU_OK(sc_safetensors_get(st, name, SC_ST_F32, 1, &lt));
        lc.lambda = ((const float *)lt->data)[0];

        sc_var *x = fixture_var(g, st, "input", false);
        sc_var *y = labels_var(g, st);
        snprintf(name, sizeof name, "student_saliency.%s", cfgs[c].name);
        sc_var *smap = fixture_var(g, st, name, false);
        sc_ule_loss_parts parts;
        TU_OK(sc_ule_teacher_loss(g, m, x, y, smap, &lc, &parts));
        snprintf(name, sizeof name, "ule.%s.loss.f64", cfgs[c].name);
        compare(st, name, sc_var_tensor(parts.loss));
        TU_OK(sc_grad(g, 1, &parts.loss, NULL, (int)np, params, false, grads));
        for (size_t i = 0; i < np; i++) {
            snprintf(name, sizeof name, "ule.%s.grad.%s.f64", cfgs[c].name,
                     sc_var_name(params[i]));
            ck_assert_msg(grads[i] != NULL, "no ULE gradient for %s", sc_var_name(params[i]));
            compare(st, name, sc_var_tensor(grads[i]));
        }
        sc_graph_reset(g);
    }
    free(params);
    free(grads);
    sc_graph_free(g);
    sc_model_free(m);
    sc_safetensors_close(st);
}

START_TEST(cnn_forward_ce) { check_forward_and_ce(false); }
END_TEST
START_TEST(cnn_saliency) { check_saliency(false); }
END_TEST
START_TEST(cnn_ule_teacher_grad) { check_ule(false); }
END_TEST
START_TEST(vit_forward_ce) { check_forward_and_ce(true); }
END_TEST
START_TEST(vit_saliency) { check_saliency(true); }
END_TEST
START_TEST(vit_ule_teacher_grad) { check_ule(true); }
END_TEST

START_TEST(report_tolerance)
{
    printf("  largest max|diff|/max|ref| over all fixture tensors: %.3g (limit %.0e + atol)\n",
           worst_seen, RTOL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fixtures");
    TCase *tc = tcase_create("pytorch");
    tcase_add_test(tc, cnn_forward_ce);
    tcase_add_test(tc, cnn_saliency);
    tcase_add_test(tc, cnn_ule_teacher_grad);
    tcase_add_test(tc, vit_forward_ce);
    tcase_add_test(tc, vit_saliency);
    tcase_add_test(tc, vit_ule_teacher_grad);
    tcase_add_test(tc, report_tolerance);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
