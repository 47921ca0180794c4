/* The cnn and vit classifiers. */
#include "nn/graph.h"
#include "spurcl/model.h"
#include "spurcl/nn.h"
#include "spurcl/rng.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PARAMS 256

typedef struct vit_block {
    sc_var *n1w, *n1b, *qkvw, *qkvb, *projw, *projb, *n2w, *n2b, *f1w, *f1b, *f2w, *f2b;
} vit_block;

struct sc_model {
    sc_context *ctx;
    sc_model_config cfg;
    sc_var *params[MAX_PARAMS];
    size_t nparams;
    /* cnn */
    sc_var *c1w, *c1b, *c2w, *c2b, *f1w, *f1b, *f2w, *f2b;
    /* vit */
    sc_var *pew, *peb, *cls, *pos, *nw, *nb, *hw, *hb;
    vit_block *blocks;
    char capture[64];
    sc_var *captured;
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
}

sc_status sc_model_kind_parse(const char *name, sc_model_kind *out)
{
    if (strcmp(name, "cnn") == 0)
        *out = SC_MODEL_CNN;
    else if (strcmp(name, "vit") == 0)
        *out = SC_MODEL_VIT;
    else
        return sc_error_set(SC_ERR_INVALID_ARG, "unknown model '%s' (expected cnn or vit)", name);
    return SC_OK;
}

const char *sc_model_kind_name(sc_model_kind kind) { return kind == SC_MODEL_VIT ? "vit" : "cnn"; }

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
    SC_TRY(sc_param_create(m->ctx, name, ndim, shape, slot));
    m->params[m->nparams++] = *slot;
    return SC_OK;
}

#define P(slot, name, ...) SC_TRY(add_param(m, &(slot), name, __VA_ARGS__))
#define I(x) ((int64_t)(x))

static sc_status build_cnn(sc_model *m)
{
    const sc_model_config *c = &m->cfg;
    if (c->height % 4 || c->width % 4)
        return sc_error_set(SC_ERR_INVALID_ARG,
                            "cnn: input %dx%d must be divisible by 4 (two 2x2 pools)", c->height,
                            c->width);
    int64_t flat = I(c->cnn_c2) * (c->height / 4) * (c->width / 4);
    P(m->c1w, "conv1.weight", 4, I(c->cnn_c1), I(c->in_channels), I(3), I(3));
    P(m->c1b, "conv1.bias", 1, I(c->cnn_c1));
    P(m->c2w, "conv2.weight", 4, I(c->cnn_c2), I(c->cnn_c1), I(3), I(3));
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

sc_status sc_model_create(sc_context *ctx, const sc_model_config *cfg, sc_model **out)
{
    *out = NULL;
    if (cfg->in_channels <= 0 || cfg->height <= 0 || cfg->width <= 0 || cfg->num_classes <= 0)
        return sc_error_set(SC_ERR_INVALID_ARG, "model: input %dx%dx%d with %d classes is invalid",
                            cfg->in_channels, cfg->height, cfg->width, cfg->num_classes);
    sc_model *m = calloc(1, sizeof *m);
    if (!m)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (model)");
    m->ctx = ctx;
    m->cfg = *cfg;
    if (m->cfg.patch <= 0)
        m->cfg.patch = (cfg->height == 28 && cfg->width == 28) ? 7 : 4;
    if (m->cfg.ln_eps <= 0)
        m->cfg.ln_eps = 1e-5f;
    sc_status st = cfg->kind == SC_MODEL_VIT ? build_vit(m) : build_cnn(m);
    if (st != SC_OK) {
        sc_model_free(m);
        return st;
    }
    *out = m;
    return SC_OK;
}

void sc_model_free(sc_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nparams; i++)
        sc_param_free(m->params[i]);
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

sc_status sc_model_init(sc_model *m, uint64_t seed)
{
    sc_rng rng;
    sc_rng_seed(&rng, seed);
    for (size_t i = 0; i < m->nparams; i++) {
        sc_var *p = m->params[i];
        const char *name = sc_var_name(p);
        size_t len = strlen(name);
        bool is_bias = len > 5 && strcmp(name + len - 5, ".bias") == 0;
        bool is_norm = strstr(name, "norm") != NULL;
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

/* cnn up to fc1 (after its ReLU) */
static sc_var *cnn_features(sc_model *m, sc_graph *g, sc_var *x)
{
    sc_var *h = tap(m, "conv1", sc_nn_relu(g, sc_nn_conv2d(g, x, m->c1w, m->c1b, 1, 1)));
    h = tap(m, "pool1", sc_nn_maxpool2d(g, h, 2, 2));
    h = tap(m, "conv2", sc_nn_relu(g, sc_nn_conv2d(g, h, m->c2w, m->c2b, 1, 1)));
    h = tap(m, "pool2", sc_nn_maxpool2d(g, h, 2, 2));
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

sc_var *sc_model_features(sc_model *m, sc_graph *g, sc_var *x, bool training)
{
    (void)training; /* no dropout or batch norm in these models */
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
    return c->kind == SC_MODEL_VIT ? vit_features(m, g, x) : cnn_features(m, g, x);
}

int sc_model_feature_dim(const sc_model *m)
{
    return m->cfg.kind == SC_MODEL_VIT ? m->cfg.dim : m->cfg.cnn_fc;
}

sc_var *sc_model_forward(sc_model *m, sc_graph *g, sc_var *x, bool training)
{
    sc_var *f = sc_model_features(m, g, x, training);
    if (!f)
        return NULL;
    return m->cfg.kind == SC_MODEL_VIT ? sc_nn_linear(g, f, m->hw, m->hb)
                                       : sc_nn_linear(g, f, m->f2w, m->f2b);
}

sc_status sc_model_set_capture(sc_model *m, const char *layer)
{
    if (!layer || !*layer || strcmp(layer, "input") == 0) {
        m->capture[0] = '\0';
        return SC_OK;
    }
    bool ok = false;
    if (m->cfg.kind == SC_MODEL_CNN) {
        const char *names[] = {"conv1", "pool1", "conv2", "pool2", "fc1"};
        for (size_t i = 0; i < 5; i++)
            ok |= strcmp(layer, names[i]) == 0;
    } else {
        int i;
        char tail;
        ok = strcmp(layer, "patch_embed") == 0 ||
             (sscanf(layer, "blocks.%d%c", &i, &tail) == 1 && i >= 0 && i < m->cfg.depth);
    }
    if (!ok || strlen(layer) >= sizeof m->capture)
        return sc_error_set(SC_ERR_INVALID_ARG,
                            "no layer '%s' in the %s model (valid: input, %s)", layer,
                            sc_model_kind_name(m->cfg.kind),
                            m->cfg.kind == SC_MODEL_CNN ? "conv1, pool1, conv2, pool2, fc1"
                                                        : "patch_embed, blocks.0 .. blocks.DEPTH-1");
    snprintf(m->capture, sizeof m->capture, "%s", layer);
    return SC_OK;
}

sc_var *sc_model_captured(const sc_model *m) { return m->captured; }

bool sc_model_is_head_param(const sc_model *m, const char *name)
{
    const char *prefix = m->cfg.kind == SC_MODEL_CNN ? "fc2." : "head.";
    return strncmp(name, prefix, strlen(prefix)) == 0;
}

/* ---- loading -------------------------------------------------------------- */

sc_status sc_model_load(sc_model *m, const sc_safetensors *st, const char *prefix)
{
    for (size_t i = 0; i < m->nparams; i++) {
        sc_var *p = m->params[i];
        char name[256];
        snprintf(name, sizeof name, "%s%s", prefix ? prefix : "", sc_var_name(p));
        const sc_st_tensor *t;
        const sc_tensor *pt = sc_var_tensor(p);
        SC_TRY(sc_safetensors_get(st, name, SC_ST_F32, sc_tensor_ndim(pt), &t));
        for (int d = 0; d < sc_tensor_ndim(pt); d++)
            if (t->shape[d] != sc_tensor_dim(pt, d)) {
                char want[96];
                return sc_error_set(SC_ERR_FORMAT, "%s: tensor %s has dimension %d = %lld, the "
                                                   "model needs shape %s",
                                    sc_safetensors_name(st), name, d, (long long)t->shape[d],
                                    sc_tensor_shape_str(pt, want, sizeof want));
            }
        SC_TRY(sc_tensor_upload(sc_var_tensor(p), t->data));
    }
    return SC_OK;
}
