/* Whole models against PyTorch (tests/fixtures/make_fixtures.py): logits,
 * cross-entropy parameter gradients, input saliency (three targets, two
 * normalisations) and the parameter gradients of the ULE teacher loss that
 * PyTorch computes with create_graph=True. Agreement per tensor:
 *   max |spurcl - torch| <= 1e-4 * max |torch| + 1e-6
 * (ULE gradients are compared with the float64 PyTorch run of the same
 * weights; the others with the float32 run).
 *
 * resnet (batch norm): logits in eval and train mode, the running statistics
 * after one train-mode forward, CE gradients and ULE config a gradients in
 * train mode; layer4's four largest ULE gradients by their per-output-channel
 * sums (the fixture stores only those, see make_fixtures.py). */
#include "suite.h"
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
static char worst_name[256]; /* and the fixture and tensor it was seen on */
static const char *current_fixture = "";

static void note_ratio(const char *name, double ratio)
{
    if (ratio > worst_seen) {
        worst_seen = ratio;
        snprintf(worst_name, sizeof worst_name, "%.60s %.180s", current_fixture, name);
    }
}

static sc_safetensors *open_fixture(const char *file)
{
    const char *src = getenv("SPURCL_TEST_SRCDIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/%s", src ? src : ".", file);
    current_fixture = file;
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
    note_ratio(name, ratio);
    ck_assert_msg(maxd <= RTOL * maxref + ATOL,
                  "%s: max|diff| %.3g > %.0e * max|ref| (%.3g) + %.0e (ratio %.3g)", name, maxd,
                  RTOL, maxref, ATOL, ratio);
}

/* Compares the per-row sums (over all axes but the first) of a device
 * tensor with a float64 reference [rows]. */
static void compare_rowsum(const sc_safetensors *st, const char *name, const sc_tensor *got_t)
{
    const sc_st_tensor *ref;
    TU_OK(sc_safetensors_get(st, name, SC_ST_F64, 1, &ref));
    int64_t rows = sc_tensor_dim(got_t, 0), cols = sc_tensor_numel(got_t) / rows;
    ck_assert_msg(ref->shape[0] == rows, "%s: %lld rows, reference %lld", name, (long long)rows,
                  (long long)ref->shape[0]);
    float *got = tu_download(got_t);
    double maxref = 0, maxd = 0;
    for (int64_t r = 0; r < rows; r++) {
        double sum = 0, want = ((const double *)ref->data)[r];
        for (int64_t c = 0; c < cols; c++)
            sum += got[r * cols + c];
        maxref = fmax(maxref, fabs(want));
        maxd = isnan(sum) ? INFINITY : fmax(maxd, fabs(sum - want));
    }
    free(got);
    double ratio = maxd / (maxref + 1e-30);
    note_ratio(name, ratio);
    ck_assert_msg(maxd <= RTOL * maxref + ATOL,
                  "%s: max|diff| %.3g > %.0e * max|ref| (%.3g) + %.0e (ratio %.3g)", name, maxd,
                  RTOL, maxref, ATOL, ratio);
}

typedef enum fixture_kind { FX_CNN, FX_VIT, FX_RESNET, FX_CNN_BN } fixture_kind;

/* the batch-norm models' files (make_fixtures.py's make_resnet) */
static const char *bn_fixture(fixture_kind k)
{
    return k == FX_RESNET ? "resnet.safetensors" : "cnn_bn.safetensors";
}

static sc_model *load_model_kind(const sc_safetensors *st, fixture_kind k)
{
    sc_model_config cfg;
    if (k == FX_RESNET) {
        sc_model_config_default(&cfg, SC_MODEL_RESNET, 3, 16, 16, 10);
        cfg.resnet_width = 8;
    } else if (k == FX_CNN_BN) {
        sc_model_config_default(&cfg, SC_MODEL_CNN, 1, 16, 16, 10);
        cfg.cnn_c1 = 8;
        cfg.cnn_c2 = 16;
        cfg.cnn_fc = 32;
        cfg.cnn_norm = SC_CNN_NORM_BATCH;
    } else {
        sc_model_config_default(&cfg, k == FX_VIT ? SC_MODEL_VIT : SC_MODEL_CNN, 1, 16, 16, 10);
        cfg.depth = 2;
        cfg.patch = 4;
    }
    sc_model *m;
    TU_OK(sc_model_create(tu_ctx(), &cfg, &m));
    TU_OK(sc_model_load(m, st, "param."));
    return m;
}

static sc_model *load_model(const sc_safetensors *st, bool vit)
{
    return load_model_kind(st, vit ? FX_VIT : FX_CNN);
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

/* A cnn or vit fixture file, its model and a graph. */
typedef struct fixture {
    sc_safetensors *st;
    sc_model *m;
    sc_graph *g;
} fixture;

static fixture fixture_open(bool vit)
{
    fixture f;
    f.st = open_fixture(vit ? "vit.safetensors" : "cnn.safetensors");
    f.m = load_model(f.st, vit);
    TU_OK(sc_graph_create(tu_ctx(), &f.g));
    return f;
}

static void fixture_close(fixture *f)
{
    sc_graph_free(f->g);
    sc_model_free(f->m);
    sc_safetensors_close(f->st);
}

/* Every parameter's gradient of `ce` against the fixture's grad_ce.<name>. */
static void compare_ce_grads(const sc_safetensors *st, sc_graph *g, sc_model *m, sc_var *ce)
{
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
}

static void check_forward_and_ce(bool vit)
{
    fixture f = fixture_open(vit);
    sc_safetensors *st = f.st;
    sc_model *m = f.m;
    sc_graph *g = f.g;
    sc_var *x = fixture_var(g, st, "input", false);
    sc_var *y = labels_var(g, st);
    sc_var *logits = sc_model_forward(m, g, x, true);
    sc_var *ce = sc_nn_cross_entropy(g, logits, y, NULL, SC_LOSS_MEAN);
    TU_OK(sc_graph_status(g));
    compare(st, "logits", sc_var_tensor(logits));
    compare(st, "ce_loss", sc_var_tensor(ce));
    compare_ce_grads(st, g, m, ce);
    fixture_close(&f);
}

static void check_saliency(bool vit)
{
    fixture f = fixture_open(vit);
    sc_safetensors *st = f.st;
    sc_model *m = f.m;
    sc_graph *g = f.g;
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
    fixture_close(&f);
}

/* head_only: the gradient with respect to the last layer alone, as ULE on a
 * frozen backbone takes it (the graph pruned to the head, second order
 * still through the backbone): the fixture's head entries. */
static void check_ule(bool vit, bool head_only)
{
    fixture f = fixture_open(vit);
    sc_safetensors *st = f.st;
    sc_model *m = f.m;
    sc_graph *g = f.g;
    struct {
        const char *name;
        sc_saliency_target target;
        sc_saliency_norm norm;
        sc_ule_form form;
    } cfgs[3] = {{"a", SC_SAL_TRUE_LOGIT, SC_NORM_MAXABS, SC_ULE_ADDITIVE},
                 {"b", SC_SAL_LOSS, SC_NORM_L2, SC_ULE_ADDITIVE},
                 {"c", SC_SAL_TRUE_LOGIT, SC_NORM_NONE, SC_ULE_CONVEX}};
    size_t np = 0;
    sc_var **params = malloc(sc_model_param_count(m) * sizeof *params);
    sc_var **grads = malloc(sc_model_param_count(m) * sizeof *grads);
    for (size_t i = 0; i < sc_model_param_count(m); i++)
        if (!head_only || sc_model_is_head_param(m, sc_var_name(sc_model_param(m, i))))
            params[np++] = sc_model_param(m, i);
    ck_assert_uint_eq(np, head_only ? 2 : sc_model_param_count(m));
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
    fixture_close(&f);
}

/* Every buffer against the fixture tensor prefix + name; counters exactly. */
static void compare_buffers(const sc_safetensors *st, const sc_model *m, const char *prefix)
{
    /* resnet: 20 batch norms, cnn: 2 */
    bool resnet = sc_model_get_config(m)->kind == SC_MODEL_RESNET;
    ck_assert_uint_eq(sc_model_buffer_count(m), 3 * (resnet ? 20 : 2));
    for (size_t i = 0; i < sc_model_buffer_count(m); i++) {
        const sc_model_buffer *b = sc_model_buffer_at(m, i);
        char name[256];
        snprintf(name, sizeof name, "%s%s", prefix, b->name);
        if (b->tensor) {
            compare(st, name, b->tensor);
        } else {
            const sc_st_tensor *t;
            TU_OK(sc_safetensors_get(st, name, SC_ST_I64, 0, &t));
            ck_assert_msg(*b->count == *(const int64_t *)t->data, "%s: %lld, PyTorch %lld", name,
                          (long long)*b->count, (long long)*(const int64_t *)t->data);
        }
    }
}

/* eval-mode logits (running statistics, which stay put), then train-mode
 * logits, the updated running statistics and the CE gradients */
static void check_bn_forward_ce(fixture_kind kind)
{
    sc_safetensors *st = open_fixture(bn_fixture(kind));
    sc_model *m = load_model_kind(st, kind);
    size_t np = sc_model_param_count(m);
    for (size_t i = 0; i < np; i++)
        ck_assert_msg(!strstr(sc_var_name(sc_model_param(m, i)), "running_") &&
                          !strstr(sc_var_name(sc_model_param(m, i)), "num_batches"),
                      "buffer %s listed as a parameter", sc_var_name(sc_model_param(m, i)));
    sc_graph *g;
    TU_OK(sc_graph_create(tu_ctx(), &g));
    sc_var *x = fixture_var(g, st, "input", false);
    sc_var *logits = sc_model_forward(m, g, x, false);
    TU_OK(sc_graph_status(g));
    compare(st, "logits.eval", sc_var_tensor(logits));
    compare_buffers(st, m, "param."); /* eval mode changed nothing */
    sc_graph_reset(g);

    x = fixture_var(g, st, "input", false);
    sc_var *y = labels_var(g, st);
    logits = sc_model_forward(m, g, x, true);
    sc_var *ce = sc_nn_cross_entropy(g, logits, y, NULL, SC_LOSS_MEAN);
    TU_OK(sc_graph_status(g));
    compare(st, "logits", sc_var_tensor(logits));
    compare(st, "ce_loss", sc_var_tensor(ce));
    compare_buffers(st, m, "after.");
    compare_ce_grads(st, g, m, ce);
    compare_buffers(st, m, "after."); /* the backward pass does not count */
    sc_graph_free(g);
    sc_model_free(m);
    sc_safetensors_close(st);
}

static void check_bn_ule(fixture_kind kind)
{
    sc_safetensors *st = open_fixture(bn_fixture(kind));
    sc_model *m = load_model_kind(st, kind);
    sc_graph *g;
    TU_OK(sc_graph_create(tu_ctx(), &g));
    sc_ule_loss_config lc;
    sc_ule_loss_config_default(&lc);
    lc.target = SC_SAL_TRUE_LOGIT;
    lc.norm = SC_NORM_MAXABS;
    lc.form = SC_ULE_ADDITIVE;
    const sc_st_tensor *lt;
    TU_OK(sc_safetensors_get(st, "ule.a.lambda", SC_ST_F32, 1, &lt));
    lc.lambda = ((const float *)lt->data)[0];
    ck_assert_float_eq(lc.lambda, 100.0f);
    size_t np = sc_model_param_count(m);
    sc_var **params = malloc(np * sizeof *params), **grads = malloc(np * sizeof *grads);
    for (size_t i = 0; i < np; i++)
        params[i] = sc_model_param(m, i);
    sc_var *x = fixture_var(g, st, "input", false);
    sc_var *y = labels_var(g, st);
    sc_var *smap = fixture_var(g, st, "student_saliency.a", false);
    sc_ule_loss_parts parts;
    TU_OK(sc_ule_teacher_loss(g, m, x, y, smap, &lc, &parts));
    compare(st, "ule.a.loss.f64", sc_var_tensor(parts.loss));
    TU_OK(sc_grad(g, 1, &parts.loss, NULL, (int)np, params, false, grads));
    int full = 0, rowsums = 0;
    for (size_t i = 0; i < np; i++) {
        char name[256];
        ck_assert_msg(grads[i] != NULL, "no ULE gradient for %s", sc_var_name(params[i]));
        snprintf(name, sizeof name, "ule.a.grad.%s.f64", sc_var_name(params[i]));
        if (sc_safetensors_find(st, name)) {
            compare(st, name, sc_var_tensor(grads[i]));
            full++;
        } else {
            snprintf(name, sizeof name, "ule.a.grad.%s.rowsum.f64", sc_var_name(params[i]));
            compare_rowsum(st, name, sc_var_tensor(grads[i]));
            rowsums++;
        }
    }
    printf("  %s ULE a: %d gradients compared in full, %d by row sums\n", bn_fixture(kind), full,
           rowsums);
    ck_assert_int_eq(rowsums, kind == FX_RESNET ? 4 : 0);
    free(params);
    free(grads);
    sc_graph_free(g);
    sc_model_free(m);
    sc_safetensors_close(st);
}

/* sc_model_init for resnet: torchvision's init in distribution, buffers reset. */
static void check_resnet_init(void)
{
    sc_model_config cfg;
    sc_model_config_default(&cfg, SC_MODEL_RESNET, 3, 32, 32, 10);
    cfg.resnet_width = 16;
    sc_model *m;
    TU_OK(sc_model_create(tu_ctx(), &cfg, &m));
    ck_assert_uint_eq(sc_model_param_count(m), 62); /* resnet18: 20 convs + 20 BNs x 2 + fc x 2 */
    ck_assert_int_eq(sc_model_feature_dim(m), 128);
    TU_OK(sc_model_init(m, 7));
    for (size_t i = 0; i < sc_model_param_count(m); i++) {
        const sc_tensor *t = sc_var_tensor(sc_model_param(m, i));
        const char *name = sc_var_name(sc_model_param(m, i));
        float *h = tu_download(t);
        int64_t n = sc_tensor_numel(t);
        double s1 = 0, s2 = 0, mx = 0;
        for (int64_t k = 0; k < n; k++) {
            s1 += h[k];
            s2 += (double)h[k] * h[k];
            mx = fmax(mx, fabs(h[k]));
        }
        double mean = s1 / (double)n, sd = sqrt(s2 / (double)n - mean * mean);
        if (sc_tensor_ndim(t) == 4) {
            double want = sqrt(2.0 / (double)(sc_tensor_dim(t, 0) * sc_tensor_dim(t, 2) *
                                              sc_tensor_dim(t, 3)));
            /* n >= 432 normal samples: the sd is within ~4 standard errors */
            ck_assert_msg(fabs(sd / want - 1) < 4 / sqrt(2.0 * (double)n) + 0.01 &&
                              fabs(mean) < 4 * want / sqrt((double)n),
                          "%s: mean %g sd %g, want N(0, %g^2)", name, mean, sd, want);
        } else if (strncmp(name, "fc.", 3) == 0) {
            double bound = 1 / sqrt(128.0);
            ck_assert_msg(mx <= bound && mx > 0.5 * bound, "%s: max|w| %g, bound %g", name, mx,
                          bound);
        } else {
            double want = strstr(name, ".bias") ? 0.0 : 1.0;
            ck_assert_msg(mx == want && fabs(mean - want) == 0, "%s: not constant %g", name, want);
        }
        free(h);
    }
    for (size_t i = 0; i < sc_model_buffer_count(m); i++) {
        const sc_model_buffer *b = sc_model_buffer_at(m, i);
        if (b->count) {
            ck_assert_int_eq(*b->count, 0);
            continue;
        }
        float *h = tu_download(b->tensor);
        float want = strstr(b->name, "running_var") ? 1.0f : 0.0f;
        for (int64_t k = 0; k < sc_tensor_numel(b->tensor); k++)
            ck_assert_msg(h[k] == want, "%s[%lld] = %g", b->name, (long long)k, (double)h[k]);
        free(h);
    }
    ck_assert_ptr_nonnull(sc_model_find_buffer(m, "layer2.0.downsample.1.running_var"));
    ck_assert_ptr_null(sc_model_find_buffer(m, "layer1.0.downsample.1.running_var"));
    ck_assert(sc_model_is_head_param(m, "fc.weight") && !sc_model_is_head_param(m, "conv1.weight"));
    sc_model_free(m);
}

START_TEST(resnet_forward_ce) { check_bn_forward_ce(FX_RESNET); }
END_TEST
START_TEST(resnet_ule_teacher_grad) { check_bn_ule(FX_RESNET); }
END_TEST
/* the cnn with --cnn-norm batch, on both batch-norm kernels of a CPU device */
START_TEST(cnn_bn_forward_ce)
{
    for (int mode = 0; mode < 2; mode++) {
        TU_OK(sc_context_set_form(tu_ctx(), "norm", mode ? "channels" : "slices"));
        check_bn_forward_ce(FX_CNN_BN);
    }
    TU_OK(sc_context_set_form(tu_ctx(), "norm", NULL));
}
END_TEST
START_TEST(cnn_bn_ule_teacher_grad) { check_bn_ule(FX_CNN_BN); }
END_TEST
START_TEST(resnet_init) { check_resnet_init(); }
END_TEST

/* sc_model_init for the cnn with batch norm: torch's state_dict names and
 * order, no conv biases, BN weight 1 and bias 0, running statistics 0 and
 * 1, conv and linear weights inside PyTorch's bound 1/sqrt(fan_in). */
START_TEST(cnn_bn_init)
{
    sc_model_config cfg;
    sc_model_config_default(&cfg, SC_MODEL_CNN, 1, 28, 28, 10);
    cfg.cnn_norm = SC_CNN_NORM_BATCH;
    sc_model *m;
    TU_OK(sc_model_create(tu_ctx(), &cfg, &m));
    const char *names[] = {"conv1.weight", "bn1.weight", "bn1.bias",   "conv2.weight",
                           "bn2.weight",   "bn2.bias",   "fc1.weight", "fc1.bias",
                           "fc2.weight",   "fc2.bias"};
    ck_assert_uint_eq(sc_model_param_count(m), 10);
    TU_OK(sc_model_init(m, 3));
    for (size_t i = 0; i < 10; i++) {
        const char *name = sc_var_name(sc_model_param(m, i));
        ck_assert_str_eq(name, names[i]);
        const sc_tensor *t = sc_var_tensor(sc_model_param(m, i));
        float *h = tu_download(t);
        int64_t n = sc_tensor_numel(t);
        double mx = 0, mn = INFINITY;
        for (int64_t k = 0; k < n; k++) {
            mx = fmax(mx, fabs(h[k]));
            mn = fmin(mn, h[k]);
        }
        if (strncmp(name, "bn", 2) == 0) {
            double want = strstr(name, ".bias") ? 0.0 : 1.0;
            ck_assert_msg(mx == want && mn == want, "%s: not constant %g", name, want);
        } else if (!strstr(name, ".bias")) {
            double bound = 1 / sqrt((double)(n / sc_tensor_dim(t, 0)));
            ck_assert_msg(mx <= bound && mx > 0.5 * bound, "%s: max|w| %g, bound %g", name, mx,
                          bound);
        }
        free(h);
    }
    const char *bufs[] = {"bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked",
                          "bn2.running_mean", "bn2.running_var", "bn2.num_batches_tracked"};
    ck_assert_uint_eq(sc_model_buffer_count(m), 6);
    for (size_t i = 0; i < 6; i++) {
        const sc_model_buffer *b = sc_model_buffer_at(m, i);
        ck_assert_str_eq(b->name, bufs[i]);
        if (b->count) {
            ck_assert_int_eq(*b->count, 0);
            continue;
        }
        float *h = tu_download(b->tensor);
        for (int64_t k = 0; k < sc_tensor_numel(b->tensor); k++)
            ck_assert_float_eq(h[k], strstr(b->name, "var") ? 1.0f : 0.0f);
        free(h);
    }
    ck_assert_ptr_null(sc_model_find_param(m, "conv1.bias"));
    sc_model_free(m);
    /* the default cnn keeps its conv biases and has no buffers */
    cfg.cnn_norm = SC_CNN_NORM_NONE;
    TU_OK(sc_model_create(tu_ctx(), &cfg, &m));
    ck_assert_uint_eq(sc_model_param_count(m), 8);
    ck_assert_uint_eq(sc_model_buffer_count(m), 0);
    ck_assert_ptr_nonnull(sc_model_find_param(m, "conv1.bias"));
    sc_model_free(m);
}
END_TEST

/* cnn, then vit */
START_TEST(forward_ce) { for (int v = 0; v < 2; v++) check_forward_and_ce(v); }
END_TEST
START_TEST(saliency) { for (int v = 0; v < 2; v++) check_saliency(v); }
END_TEST
START_TEST(ule_teacher_grad) { for (int v = 0; v < 2; v++) check_ule(v, false); }
END_TEST
START_TEST(ule_frozen_backbone_grad) { for (int v = 0; v < 2; v++) check_ule(v, true); }
END_TEST

/* The cnn pools before its ReLUs unless a full-size activation is captured
 * (src/nn/models.c, cnn_block): the two orders must agree bit for bit in
 * the logits, the input saliency and the second-order gradient of a
 * saliency penalty with respect to every parameter (none for the biases,
 * on which the map depends only through the ReLU masks, or not at all). Capturing "fc1" keeps
 * both blocks in the pooled-first order, "conv1" and "conv2" put one block
 * back in the other. Training-mode forwards: with batch norm, each run
 * updates the running statistics, which the forwards here do not read. */
static void pool_relu_run(sc_model *m, const sc_safetensors *st, const char *capture,
                          float **out, size_t *cnt)
{
    TU_OK(sc_model_set_capture(m, capture));
    sc_graph *g;
    TU_OK(sc_graph_create(tu_ctx(), &g));
    sc_var *x = fixture_var(g, st, "input", true);
    sc_var *y = labels_var(g, st);
    sc_var *logits = sc_model_forward(m, g, x, true);
    sc_var *map = sc_nn_saliency(g, x, logits, y, SC_SAL_TRUE_LOGIT, true);
    sc_var *pen = sc_nn_sum(g, sc_nn_mul(g, map, map));
    size_t np = sc_model_param_count(m);
    ck_assert_uint_le(np, 14);
    sc_var *params[14], *grads[14];
    for (size_t i = 0; i < np; i++)
        params[i] = sc_model_param(m, i);
    TU_OK(sc_grad(g, 1, &pen, NULL, (int)np, params, false, grads));
    /* a parameter the map does not depend on (a conv bias: the ReLU masks
     * are piecewise constant) has no gradient: NULL, in either order */
    const sc_tensor *ts[16] = {sc_var_tensor(logits), sc_var_tensor(map)};
    for (size_t i = 0; i < np; i++)
        ts[2 + i] = grads[i] ? sc_var_tensor(grads[i]) : NULL;
    for (size_t i = 0; i < np + 2; i++) {
        out[i] = ts[i] ? tu_download(ts[i]) : NULL;
        cnt[i] = ts[i] ? (size_t)sc_tensor_numel(ts[i]) : 0;
    }
    sc_graph_free(g);
}

static void check_pool_relu_order(fixture_kind kind)
{
    sc_safetensors *st = open_fixture(kind == FX_CNN_BN ? bn_fixture(kind) : "cnn.safetensors");
    sc_model *m = load_model_kind(st, kind);
    size_t n = sc_model_param_count(m) + 2;
    float *want[16], *got[16];
    size_t cw[16], cg[16];
    pool_relu_run(m, st, "fc1", want, cw);
    const char *orders[2] = {"conv1", "conv2"};
    for (int o = 0; o < 2; o++) {
        pool_relu_run(m, st, orders[o], got, cg);
        for (size_t i = 0; i < n; i++) {
            const char *what = i < 2 ? (i ? "saliency" : "logits")
                                     : sc_var_name(sc_model_param(m, i - 2));
            ck_assert_msg(!got[i] == !want[i], "%s: a gradient in one order only", what);
            ck_assert_uint_eq(cg[i], cw[i]);
            if (!want[i]) {
                ck_assert_msg(strstr(what, ".bias") != NULL, "no gradient for %s", what);
                continue;
            }
            double mx = 0;
            for (size_t k = 0; k < cw[i]; k++)
                mx = fmax(mx, fabs(want[i][k]));
            ck_assert_msg(mx > 0, "%s is all zeros", what);
            ck_assert_msg(memcmp(got[i], want[i], cw[i] * sizeof(float)) == 0,
                          "%s differs with %s captured", what, orders[o]);
            free(got[i]);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(want[i]);
    TU_OK(sc_model_set_capture(m, NULL));
    sc_model_free(m);
    sc_safetensors_close(st);
}

START_TEST(cnn_pool_relu_order)
{
    check_pool_relu_order(FX_CNN);
    check_pool_relu_order(FX_CNN_BN);
}
END_TEST

START_TEST(report_tolerance)
{
    printf("  largest max|diff|/max|ref| over all fixture tensors: %.3g (%s; limit %.0e + atol)\n",
           worst_seen, worst_name, RTOL);
}
END_TEST

int main(void)
{
    const tu_case cases[] = {
        {"pytorch", 0, {forward_ce, saliency, ule_teacher_grad, ule_frozen_backbone_grad,
                         resnet_forward_ce, resnet_ule_teacher_grad, resnet_init,
                         cnn_bn_forward_ce, cnn_bn_ule_teacher_grad, cnn_bn_init,
                         cnn_pool_relu_order, report_tolerance}},
    };
    return tu_run(TU_SUITE("fixtures", cases));
}
