/* The cnn, vit and resnet classifiers. */
#include "nn/graph.h"
#include "nn/models_internal.h"
#include "spurcl/model.h"
#include "spurcl/nn.h"
#include "spurcl/rng.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PARAMS 256
#define MAX_BUFFERS 96

/* PyTorch's BatchNorm2d defaults */
#define BN_MOMENTUM 0.1f
#define BN_EPS 1e-5f

typedef struct vit_block {
    sc_var *n1w, *n1b, *qkvw, *qkvb, *projw, *projb, *n2w, *n2b, *f1w, *f1b, *f2w, *f2b;
} vit_block;

/* A batch norm: affine parameters and its buffers. */
typedef struct bn_layer {
    sc_var *w, *b;
    sc_tensor *mean, *var;
    int64_t tracked;
} bn_layer;

/* A torchvision BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)),
 * shortcut = downsample (1x1 conv with the block's stride, then bn) or x. */
typedef struct res_block {
    sc_var *c1, *c2, *dw;
    bn_layer bn1, bn2, dbn;
    int stride;
} res_block;

#define RESNET_BLOCKS 8 /* 4 stages of 2 */

struct sc_model {
    sc_context *ctx;
    sc_model_config cfg;
    sc_var *params[MAX_PARAMS];
    size_t nparams;
    /* cnn */
    sc_var *c1w, *c1b, *c2w, *c2b, *f1w, *f1b, *f2w, *f2b;
    bn_layer cbn1, cbn2; /* with cnn_norm batch; the convs then have no bias */
    /* vit */
    sc_var *pew, *peb, *cls, *pos, *nw, *nb, *hw, *hb;
    vit_block *blocks;
    /* resnet */
    sc_var *rc1, *fcw, *fcb;
    bn_layer rbn1;
    res_block rblocks[RESNET_BLOCKS];
    sc_model_buffer buffers[MAX_BUFFERS];
    char buffer_names[MAX_BUFFERS][64];
    size_t nbuffers;
    char capture[64];
    sc_var *captured;
    /* sc__model_plan: the builders run without a device; add_param and
     * add_buffer only count what they would create */
    bool dry;
    int64_t dry_params, dry_numel;
};

void sc_model_config_default(sc_model_config *c, sc_model_kind kind, int in_channels,
                             int height, int width, int num_classes)
{
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->in_channels = in_channels;
    c->height = height;
    c->width = width;
    c->num_classes = num_classes;
    c->cnn_c1 = 32;
    c->cnn_c2 = 64;
    c->cnn_fc = 128;
    c->patch = 0; /* auto: 7 for 28-pixel inputs, else 4 */
    c->dim = 64;
    c->depth = 4;
    c->heads = 4;
    c->mlp = 128;
    c->ln_eps = 1e-5f;
    c->resnet_width = 64;
}

static sc_status add_param(sc_model *m, sc_var **slot, const char *name, int ndim, ...)
{
    if (m->nparams == MAX_PARAMS)
        return sc_error_set(SC_ERR_UNSUPPORTED, "model has more than %d parameters", MAX_PARAMS);
    int64_t shape[SC_MAX_DIMS];
    va_list ap;
    va_start(ap, ndim);
    for (int i = 0; i < ndim; i++)
        shape[i] = va_arg(ap, int64_t);
    va_end(ap);
    if (m->dry) {
        int64_t n = 1;
        for (int i = 0; i < ndim; i++) {
            if (shape[i] < 0 || (shape[i] && n > INT64_MAX / shape[i]))
                return sc_error_set(SC_ERR_INVALID_ARG, "model: parameter %s has a negative or "
                                                        "overflowing shape", name);
            n *= shape[i];
        }
        if (n > INT64_MAX - m->dry_numel)
            return sc_error_set(SC_ERR_INVALID_ARG, "model: the parameter count overflows");
        m->dry_numel += n;
        m->dry_params++;
        *slot = NULL;
        return SC_OK;
    }
    SC_TRY(sc_param_create(m->ctx, name, ndim, shape, slot));
    m->params[m->nparams++] = *slot;
    return SC_OK;
}

#define P(slot, name, ...) SC_TRY(add_param(m, &(slot), name, __VA_ARGS__))
#define I(x) ((int64_t)(x))

/* A buffer named prefix.suffix: a float32 [c] tensor filled with `value`,
 * or (tensor NULL) the int64 counter *count. */
static sc_status add_buffer(sc_model *m, const char *prefix, const char *suffix, int64_t c,
                            double value, sc_tensor **tensor, int64_t *count)
{
    if (m->nbuffers == MAX_BUFFERS)
        return sc_error_set(SC_ERR_UNSUPPORTED, "model has more than %d buffers", MAX_BUFFERS);
    size_t i = m->nbuffers;
    snprintf(m->buffer_names[i], sizeof m->buffer_names[i], "%s.%s", prefix, suffix);
    m->buffers[i].name = m->buffer_names[i];
    if (m->dry) {
        if (tensor)
            *tensor = NULL;
        else
            *count = 0;
        m->nbuffers++;
        return SC_OK;
    }
    if (tensor) {
        SC_TRY(sc_tensor_create(m->ctx, SC_F32, 1, &c, tensor));
        m->buffers[i].tensor = *tensor;
        m->nbuffers++; /* freed with the model from here on */
        SC_TRY(sc_tensor_fill(*tensor, value));
    } else {
        *count = 0;
        m->buffers[i].count = count;
        m->nbuffers++;
    }
    return SC_OK;
}

static sc_status add_bn(sc_model *m, bn_layer *l, const char *prefix, int64_t c);

static sc_status build_cnn(sc_model *m)
{
    const sc_model_config *c = &m->cfg;
    if (c->height % 4 || c->width % 4)
        return sc_error_set(SC_ERR_INVALID_ARG,
                            "cnn: input %dx%d must be divisible by 4 (two 2x2 pools)", c->height,
                            c->width);
    int64_t flat = I(c->cnn_c2) * (c->height / 4) * (c->width / 4);
    bool bn = c->cnn_norm == SC_CNN_NORM_BATCH;
    P(m->c1w, "conv1.weight", 4, I(c->cnn_c1), I(c->in_channels), I(3), I(3));
    if (bn)
        SC_TRY(add_bn(m, &m->cbn1, "bn1", I(c->cnn_c1)));
    else
        P(m->c1b, "conv1.bias", 1, I(c->cnn_c1));
    P(m->c2w, "conv2.weight", 4, I(c->cnn_c2), I(c->cnn_c1), I(3), I(3));
    if (bn)
        SC_TRY(add_bn(m, &m->cbn2, "bn2", I(c->cnn_c2)));
    else
        P(m->c2b, "conv2.bias", 1, I(c->cnn_c2));
    P(m->f1w, "fc1.weight", 2, I(c->cnn_fc), flat);
    P(m->f1b, "fc1.bias", 1, I(c->cnn_fc));
    P(m->f2w, "fc2.weight", 2, I(c->num_classes), I(c->cnn_fc));
    P(m->f2b, "fc2.bias", 1, I(c->num_classes));
    return SC_OK;
}

static sc_status build_vit(sc_model *m)
{
    const sc_model_config *c = &m->cfg;
    if (c->patch <= 0 || c->height % c->patch || c->width % c->patch)
        return sc_error_set(SC_ERR_INVALID_ARG, "vit: input %dx%d is not divisible by patch %d",
                            c->height, c->width, c->patch);
    if (c->heads <= 0 || c->dim % c->heads)
        return sc_error_set(SC_ERR_INVALID_ARG, "vit: dim %d is not divisible by heads %d", c->dim,
                            c->heads);
    int64_t D = c->dim, T = I(c->height / c->patch) * (c->width / c->patch) + 1;
    P(m->pew, "patch_embed.weight", 4, D, I(c->in_channels), I(c->patch), I(c->patch));
    P(m->peb, "patch_embed.bias", 1, D);
    P(m->cls, "cls_token", 3, I(1), I(1), D);
    P(m->pos, "pos_embed", 3, I(1), T, D);
    m->blocks = calloc((size_t)c->depth, sizeof *m->blocks);
    if (!m->blocks)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (model)");
    for (int i = 0; i < c->depth; i++) {
        vit_block *b = &m->blocks[i];
        char n[64];
#define BP(slot, suffix, ...)                                                  \
    snprintf(n, sizeof n, "blocks.%d." suffix, i);                             \
    P(b->slot, n, __VA_ARGS__)
        BP(n1w, "norm1.weight", 1, D);
        BP(n1b, "norm1.bias", 1, D);
        BP(qkvw, "attn.qkv.weight", 2, 3 * D, D);
        BP(qkvb, "attn.qkv.bias", 1, 3 * D);
        BP(projw, "attn.proj.weight", 2, D, D);
        BP(projb, "attn.proj.bias", 1, D);
        BP(n2w, "norm2.weight", 1, D);
        BP(n2b, "norm2.bias", 1, D);
        BP(f1w, "mlp.fc1.weight", 2, I(c->mlp), D);
        BP(f1b, "mlp.fc1.bias", 1, I(c->mlp));
        BP(f2w, "mlp.fc2.weight", 2, D, I(c->mlp));
        BP(f2b, "mlp.fc2.bias", 1, D);
#undef BP
    }
    P(m->nw, "norm.weight", 1, D);
    P(m->nb, "norm.bias", 1, D);
    P(m->hw, "head.weight", 2, I(c->num_classes), D);
    P(m->hb, "head.bias", 1, I(c->num_classes));
    return SC_OK;
}

/* weight, bias, running_mean, running_var, num_batches_tracked: state_dict order */
static sc_status add_bn(sc_model *m, bn_layer *l, const char *prefix, int64_t c)
{
    char n[96];
    snprintf(n, sizeof n, "%s.weight", prefix);
    P(l->w, n, 1, c);
    snprintf(n, sizeof n, "%s.bias", prefix);
    P(l->b, n, 1, c);
    SC_TRY(add_buffer(m, prefix, "running_mean", c, 0.0, &l->mean, NULL));
    SC_TRY(add_buffer(m, prefix, "running_var", c, 1.0, &l->var, NULL));
    return add_buffer(m, prefix, "num_batches_tracked", 0, 0.0, NULL, &l->tracked);
}

/* Parameters and buffers in the order of torchvision's resnet18 state_dict
 * (BasicBlock registers conv1, bn1, conv2, bn2, downsample). */
static sc_status build_resnet(sc_model *m)
{
    const sc_model_config *c = &m->cfg;
    int64_t w = c->resnet_width, in = w;
    P(m->rc1, "conv1.weight", 4, w, I(c->in_channels), I(3), I(3));
    SC_TRY(add_bn(m, &m->rbn1, "bn1", w));
    for (int s = 0; s < 4; s++) {
        int64_t out = w << s;
        for (int j = 0; j < 2; j++) {
            res_block *b = &m->rblocks[2 * s + j];
            b->stride = (s > 0 && j == 0) ? 2 : 1;
            char pre[48], n[96];
            snprintf(pre, sizeof pre, "layer%d.%d", s + 1, j);
            snprintf(n, sizeof n, "%s.conv1.weight", pre);
            P(b->c1, n, 4, out, in, I(3), I(3));
            snprintf(n, sizeof n, "%s.bn1", pre);
            SC_TRY(add_bn(m, &b->bn1, n, out));
            snprintf(n, sizeof n, "%s.conv2.weight", pre);
            P(b->c2, n, 4, out, out, I(3), I(3));
            snprintf(n, sizeof n, "%s.bn2", pre);
            SC_TRY(add_bn(m, &b->bn2, n, out));
            if (b->stride != 1 || in != out) {
                snprintf(n, sizeof n, "%s.downsample.0.weight", pre);
                P(b->dw, n, 4, out, in, I(1), I(1));
                snprintf(n, sizeof n, "%s.downsample.1", pre);
                SC_TRY(add_bn(m, &b->dbn, n, out));
            }
            in = out;
        }
    }
    P(m->fcw, "fc.weight", 2, I(c->num_classes), 8 * w);
    P(m->fcb, "fc.bias", 1, I(c->num_classes));
    return SC_OK;
}

/* sc_model_create, or with `dry` its plan: the same checks and builders,
 * which then create nothing on the device. */
static sc_status model_new(sc_context *ctx, const sc_model_config *cfg, bool dry, sc_model **out)
{
    *out = NULL;
    if (cfg->in_channels <= 0 || cfg->height <= 0 || cfg->width <= 0 || cfg->num_classes <= 0)
        return sc_error_set(SC_ERR_INVALID_ARG, "model: input %dx%dx%d with %d classes is invalid",
                            cfg->in_channels, cfg->height, cfg->width, cfg->num_classes);
    /* Bounds that keep every shape product inside int64 (a checkpoint's
     * model JSON is read from a file): far above any model this library
     * trains, so only a hostile or corrupt value meets them. */
    static const struct { const char *name; size_t off; int max; } lim[] = {
        {"in_channels", offsetof(sc_model_config, in_channels), 64},
        {"height", offsetof(sc_model_config, height), 8192},
        {"width", offsetof(sc_model_config, width), 8192},
        {"num_classes", offsetof(sc_model_config, num_classes), 1000000},
        {"cnn_c1", offsetof(sc_model_config, cnn_c1), 65536},
        {"cnn_c2", offsetof(sc_model_config, cnn_c2), 65536},
        {"cnn_fc", offsetof(sc_model_config, cnn_fc), 65536},
        {"patch", offsetof(sc_model_config, patch), 8192},
        {"dim", offsetof(sc_model_config, dim), 65536},
        {"depth", offsetof(sc_model_config, depth), 1024},
        {"heads", offsetof(sc_model_config, heads), 65536},
        {"mlp", offsetof(sc_model_config, mlp), 65536},
    };
    for (size_t k = 0; k < sizeof lim / sizeof lim[0]; k++) {
        int v = *(const int *)((const char *)cfg + lim[k].off);
        if (v > lim[k].max)
            return sc_error_set(SC_ERR_INVALID_ARG, "model: %s %d is too large (at most %d)",
                                lim[k].name, v, lim[k].max);
    }
    sc_model *m = calloc(1, sizeof *m);
    if (!m)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (model)");
    m->ctx = ctx;
    m->dry = dry;
    m->cfg = *cfg;
    if (m->cfg.patch <= 0)
        m->cfg.patch = (cfg->height == 28 && cfg->width == 28) ? 7 : 4;
    if (m->cfg.ln_eps <= 0)
        m->cfg.ln_eps = 1e-5f;
    if (m->cfg.resnet_width <= 0)
        m->cfg.resnet_width = 64;
    sc_status st;
    if (cfg->kind == SC_MODEL_RESNET && m->cfg.resnet_width > 4096)
        st = sc_error_set(SC_ERR_INVALID_ARG, "resnet: width %d is too large (at most 4096)",
                          m->cfg.resnet_width);
    else
        st = cfg->kind == SC_MODEL_VIT      ? build_vit(m)
             : cfg->kind == SC_MODEL_RESNET ? build_resnet(m)
                                            : build_cnn(m);
    if (st != SC_OK) {
        sc_model_free(m);
        return st;
    }
    *out = m;
    return SC_OK;
}

sc_status sc_model_create(sc_context *ctx, const sc_model_config *cfg, sc_model **out)
{
    return model_new(ctx, cfg, false, out);
}

sc_status sc__model_plan(const sc_model_config *cfg, int64_t *nparams, int64_t *numel)
{
    sc_model *m;
    SC_TRY(model_new(NULL, cfg, true, &m));
    *nparams = m->dry_params;
    *numel = m->dry_numel;
    sc_model_free(m);
    return SC_OK;
}

void sc_model_free(sc_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nparams; i++)
        sc_param_free(m->params[i]);
    for (size_t i = 0; i < m->nbuffers; i++)
        sc_tensor_free(m->buffers[i].tensor);
    free(m->blocks);
    free(m);
}

const sc_model_config *sc_model_get_config(const sc_model *m) { return &m->cfg; }
size_t sc_model_param_count(const sc_model *m) { return m->nparams; }
sc_var *sc_model_param(const sc_model *m, size_t i) { return i < m->nparams ? m->params[i] : NULL; }

sc_var *sc_model_find_param(const sc_model *m, const char *name)
{
    for (size_t i = 0; i < m->nparams; i++)
        if (strcmp(sc_var_name(m->params[i]), name) == 0)
            return m->params[i];
    return NULL;
}

int64_t sc_model_numel(const sc_model *m)
{
    int64_t n = 0;
    for (size_t i = 0; i < m->nparams; i++)
        n += sc_var_numel(m->params[i]);
    return n;
}

size_t sc_model_buffer_count(const sc_model *m) { return m->nbuffers; }

const sc_model_buffer *sc_model_buffer_at(const sc_model *m, size_t i)
{
    return i < m->nbuffers ? &m->buffers[i] : NULL;
}

const sc_model_buffer *sc_model_find_buffer(const sc_model *m, const char *name)
{
    for (size_t i = 0; i < m->nbuffers; i++)
        if (strcmp(m->buffers[i].name, name) == 0)
            return &m->buffers[i];
    return NULL;
}

/* ---- initialisation ------------------------------------------------------ */

static sc_status fill_host(sc_var *p, sc_rng *rng, int mode, double a)
{
    /* mode 0: U(-a, a); 1: N(0, a^2); 2: constant a */
    size_t n = (size_t)sc_var_numel(p);
    float *h = malloc(n * sizeof *h);
    if (!h)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (init)");
    for (size_t i = 0; i < n; i++)
        h[i] = mode == 0 ? (float)((2.0 * sc_rng_uniform(rng) - 1.0) * a)
               : mode == 1 ? (float)(sc_rng_normal(rng) * a)
                           : (float)a;
    sc_status st = sc_tensor_upload(sc_var_tensor(p), h);
    free(h);
    return st;
}

/* torchvision's ResNet init: kaiming_normal_(mode="fan_out",
 * nonlinearity="relu") for convolutions, batch norms 1 and 0, fc the Linear
 * default; the buffers back to their initial values. */
static sc_status init_resnet(sc_model *m, sc_rng *rng)
{
    for (size_t i = 0; i < m->nparams; i++) {
        sc_var *p = m->params[i];
        const sc_tensor *t = sc_var_tensor(p);
        const char *name = sc_var_name(p);
        size_t len = strlen(name);
        bool is_bias = len > 5 && strcmp(name + len - 5, ".bias") == 0;
        if (sc_tensor_ndim(t) == 4) {
            int64_t fan_out = sc_tensor_dim(t, 0) * sc_tensor_dim(t, 2) * sc_tensor_dim(t, 3);
            SC_TRY(fill_host(p, rng, 1, sqrt(2.0 / (double)fan_out)));
        } else if (strncmp(name, "fc.", 3) == 0) {
            const sc_tensor *wt = sc_var_tensor(m->fcw);
            SC_TRY(fill_host(p, rng, 0, 1.0 / sqrt((double)sc_tensor_dim(wt, 1))));
        } else {
            SC_TRY(fill_host(p, rng, 2, is_bias ? 0.0 : 1.0));
        }
    }
    for (size_t i = 0; i < m->nbuffers; i++) {
        sc_model_buffer *b = &m->buffers[i];
        if (b->count)
            *b->count = 0;
        else
            SC_TRY(sc_tensor_fill(b->tensor, strstr(b->name, "running_var") ? 1.0 : 0.0));
    }
    return SC_OK;
}

sc_status sc_model_init(sc_model *m, uint64_t seed)
{
    sc_rng rng;
    sc_rng_seed(&rng, seed);
    if (m->cfg.kind == SC_MODEL_RESNET)
        return init_resnet(m, &rng);
    for (size_t i = 0; i < m->nparams; i++) {
        sc_var *p = m->params[i];
        const char *name = sc_var_name(p);
        size_t len = strlen(name);
        bool is_bias = len > 5 && strcmp(name + len - 5, ".bias") == 0;
        /* layer norms (vit) and the cnn's batch norms: weight 1, bias 0 */
        bool is_norm = strstr(name, "norm") != NULL || strncmp(name, "bn", 2) == 0;
        if (strcmp(name, "cls_token") == 0 || strcmp(name, "pos_embed") == 0) {
            SC_TRY(fill_host(p, &rng, 1, 0.02));
        } else if (is_norm) {
            SC_TRY(fill_host(p, &rng, 2, is_bias ? 0.0 : 1.0));
        } else {
            /* kaiming_uniform(a = sqrt(5)) for weights and the matching bias
             * bound: both U(-1/sqrt(fan_in), 1/sqrt(fan_in)); fan_in from the
             * weight of the same layer. */
            sc_var *w = p;
            if (is_bias) {
                char wname[128];
                snprintf(wname, sizeof wname, "%.*s.weight", (int)(len - 5), name);
                w = sc_model_find_param(m, wname);
            }
            const sc_tensor *wt = sc_var_tensor(w);
            int64_t fan_in = sc_tensor_numel(wt) / sc_tensor_dim(wt, 0);
            SC_TRY(fill_host(p, &rng, 0, 1.0 / sqrt((double)fan_in)));
        }
    }
    return SC_OK;
}

/* ---- forward ----------------------------------------------------------------- */

/* Keeps v when `name` is the layer asked for. */
static sc_var *tap(sc_model *m, const char *name, sc_var *v)
{
    if (m->capture[0] && strcmp(m->capture, name) == 0)
        m->captured = v;
    return v;
}

static sc_var *bn(sc_graph *g, bn_layer *l, sc_var *x, bool training);

/* conv 3x3, the batch norm with cnn_norm batch, ReLU, then 2x2 max pooling;
 * `conv` and `pool` name the taps after the ReLU and after the pooling.
 * Max pooling commutes with ReLU: a window's first maximum is the ReLU'd
 * window's first maximum wherever it is positive, and the gradient is 0
 * wherever it is not, either way; values and gradients of every order are
 * the same, bit for bit (both ops are exact). Pooling first runs ReLU and
 * its backward on a quarter of the elements, so that is the order unless
 * the full-size activation is the layer a caller captures. */
static sc_var *cnn_block(sc_model *m, sc_graph *g, sc_var *x, sc_var *w, sc_var *b, bn_layer *l,
                         bool training, const char *conv, const char *pool)
{
    bool full = m->capture[0] && strcmp(m->capture, conv) == 0;
    if (!full && m->cfg.cnn_norm != SC_CNN_NORM_BATCH) /* pooled from the conv's product */
        return tap(m, pool, sc_nn_relu(g, sc_nn_conv2d_maxpool(g, x, w, b, 1, 1, 2, 2)));
    sc_var *h = sc_nn_conv2d(g, x, w, b, 1, 1);
    if (m->cfg.cnn_norm == SC_CNN_NORM_BATCH)
        h = bn(g, l, h, training);
    if (full)
        return tap(m, pool, sc_nn_maxpool2d(g, tap(m, conv, sc_nn_relu(g, h)), 2, 2));
    return tap(m, pool, sc_nn_relu(g, sc_nn_maxpool2d(g, h, 2, 2)));
}

/* cnn up to fc1 (after its ReLU) */
static sc_var *cnn_features(sc_model *m, sc_graph *g, sc_var *x, bool training)
{
    sc_var *h = cnn_block(m, g, x, m->c1w, m->c1b, &m->cbn1, training, "conv1", "pool1");
    h = cnn_block(m, g, h, m->c2w, m->c2b, &m->cbn2, training, "conv2", "pool2");
    if (!h)
        return NULL;
    int64_t flat[2] = {sc_var_dim(h, 0), -1};
    h = sc_nn_reshape(g, h, 2, flat);
    return tap(m, "fc1", sc_nn_relu(g, sc_nn_linear(g, h, m->f1w, m->f1b)));
}

/* vit up to the class token after the final norm */
static sc_var *vit_features(sc_model *m, sc_graph *g, sc_var *x)
{
    const sc_model_config *c = &m->cfg;
    int64_t B = sc_var_dim(x, 0), D = c->dim;
    int64_t P = (int64_t)(c->height / c->patch) * (c->width / c->patch);
    sc_var *t = tap(m, "patch_embed", sc_nn_conv2d(g, x, m->pew, m->peb, c->patch, 0));
    int64_t s3[3] = {B, D, P};
    int perm[3] = {0, 2, 1};
    t = sc_nn_permute(g, sc_nn_reshape(g, t, 3, s3), perm); /* [B,P,D] */
    int64_t cs[3] = {B, 1, D};
    t = sc_nn_concat(g, sc_nn_expand(g, m->cls, 3, cs), t, 1);
    t = sc_nn_add(g, t, m->pos);
    for (int i = 0; i < c->depth; i++) {
        vit_block *b = &m->blocks[i];
        sc_var *a = sc_nn_attention(g, sc_nn_layer_norm(g, t, b->n1w, b->n1b, c->ln_eps),
                                    b->qkvw, b->qkvb, b->projw, b->projb, c->heads);
        t = sc_nn_add(g, t, a);
        sc_var *h = sc_nn_layer_norm(g, t, b->n2w, b->n2b, c->ln_eps);
        h = sc_nn_linear(g, sc_nn_gelu(g, sc_nn_linear(g, h, b->f1w, b->f1b)), b->f2w, b->f2b);
        t = sc_nn_add(g, t, h);
        char name[32];
        snprintf(name, sizeof name, "blocks.%d", i);
        tap(m, name, t);
    }
    /* layer norm is per token, so taking the class token first is exact */
    int64_t s2[2] = {B, D};
    sc_var *cls = sc_nn_reshape(g, sc_nn_slice(g, t, 1, 0, 1), 2, s2);
    return sc_nn_layer_norm(g, cls, m->nw, m->nb, c->ln_eps);
}

/* Batch norm with the layer's buffers; a training-mode forward counts one
 * batch, as PyTorch's num_batches_tracked. */
static sc_var *bn(sc_graph *g, bn_layer *l, sc_var *x, bool training)
{
    sc_var *y = sc_nn_batch_norm(g, x, l->w, l->b, l->mean, l->var, training, BN_MOMENTUM, BN_EPS);
    if (y && training)
        l->tracked++;
    return y;
}

/* resnet up to the global average pool */
static sc_var *resnet_features(sc_model *m, sc_graph *g, sc_var *x, bool training)
{
    sc_var *h = sc_nn_conv2d(g, x, m->rc1, NULL, 1, 1);
    h = tap(m, "conv1", sc_nn_relu(g, bn(g, &m->rbn1, h, training)));
    for (int i = 0; i < RESNET_BLOCKS; i++) {
        res_block *b = &m->rblocks[i];
        sc_var *o = sc_nn_conv2d(g, h, b->c1, NULL, b->stride, 1);
        o = sc_nn_relu(g, bn(g, &b->bn1, o, training));
        o = bn(g, &b->bn2, sc_nn_conv2d(g, o, b->c2, NULL, 1, 1), training);
        sc_var *id = h;
        if (b->dw)
            id = bn(g, &b->dbn, sc_nn_conv2d(g, h, b->dw, NULL, b->stride, 0), training);
        h = sc_nn_relu(g, sc_nn_add(g, o, id));
        if (i % 2 == 1) {
            char name[16];
            snprintf(name, sizeof name, "layer%d", i / 2 + 1);
            tap(m, name, h);
        }
    }
    return tap(m, "avgpool", sc_nn_global_avgpool(g, h));
}

sc_var *sc_model_features(sc_model *m, sc_graph *g, sc_var *x, bool training)
{
    SC_NN_CHECK(g, 1, x);
    const sc_model_config *c = &m->cfg;
    if (sc_var_ndim(x) != 4 || sc_var_dim(x, 1) != c->in_channels ||
        sc_var_dim(x, 2) != c->height || sc_var_dim(x, 3) != c->width) {
        char b[96];
        return sc__fail(g, sc_error_set(SC_ERR_INVALID_ARG,
                                        "%s model expects images [N, %d, %d, %d], got %s",
                                        sc_model_kind_name(c->kind), c->in_channels, c->height,
                                        c->width, sc__shape(x, b, sizeof b)));
    }
    m->captured = NULL;
    /* batch norms (resnet; cnn with cnn_norm batch) are all `training`
     * depends on: no model has dropout */
    return c->kind == SC_MODEL_VIT      ? vit_features(m, g, x)
           : c->kind == SC_MODEL_RESNET ? resnet_features(m, g, x, training)
                                        : cnn_features(m, g, x, training);
}

int sc_model_feature_dim(const sc_model *m)
{
    switch (m->cfg.kind) {
    case SC_MODEL_VIT: return m->cfg.dim;
    case SC_MODEL_RESNET: return 8 * m->cfg.resnet_width;
    default: return m->cfg.cnn_fc;
    }
}

sc_var *sc_model_forward(sc_model *m, sc_graph *g, sc_var *x, bool training)
{
    sc_var *f = sc_model_features(m, g, x, training);
    if (!f)
        return NULL;
    switch (m->cfg.kind) {
    case SC_MODEL_VIT: return sc_nn_linear(g, f, m->hw, m->hb);
    case SC_MODEL_RESNET: return sc_nn_linear(g, f, m->fcw, m->fcb);
    default: return sc_nn_linear(g, f, m->f2w, m->f2b);
    }
}

sc_status sc_model_set_capture(sc_model *m, const char *layer)
{
    if (!layer || !*layer || strcmp(layer, "input") == 0) {
        m->capture[0] = '\0';
        return SC_OK;
    }
    bool ok = false;
    const char *valid = "patch_embed, blocks.0 .. blocks.DEPTH-1";
    if (m->cfg.kind == SC_MODEL_CNN) {
        const char *names[] = {"conv1", "pool1", "conv2", "pool2", "fc1"};
        for (size_t i = 0; i < 5; i++)
            ok |= strcmp(layer, names[i]) == 0;
        valid = "conv1, pool1, conv2, pool2, fc1";
    } else if (m->cfg.kind == SC_MODEL_RESNET) {
        const char *names[] = {"conv1", "layer1", "layer2", "layer3", "layer4", "avgpool"};
        for (size_t i = 0; i < 6; i++)
            ok |= strcmp(layer, names[i]) == 0;
        valid = "conv1, layer1, layer2, layer3, layer4, avgpool";
    } else {
        int i;
        char tail;
        ok = strcmp(layer, "patch_embed") == 0 ||
             (sscanf(layer, "blocks.%d%c", &i, &tail) == 1 && i >= 0 && i < m->cfg.depth);
    }
    if (!ok || strlen(layer) >= sizeof m->capture)
        return sc_error_set(SC_ERR_INVALID_ARG,
                            "no layer '%s' in the %s model (valid: input, %s)", layer,
                            sc_model_kind_name(m->cfg.kind), valid);
    snprintf(m->capture, sizeof m->capture, "%s", layer);
    return SC_OK;
}

sc_var *sc_model_captured(const sc_model *m) { return m->captured; }

bool sc_model_is_head_param(const sc_model *m, const char *name)
{
    const char *prefix = m->cfg.kind == SC_MODEL_CNN      ? "fc2."
                         : m->cfg.kind == SC_MODEL_RESNET ? "fc."
                                                          : "head.";
    return strncmp(name, prefix, strlen(prefix)) == 0;
}
