/* Checkpoints: safetensors with PyTorch parameter names, the model's
 * buffers (batch-norm running statistics, PyTorch names and dtypes), the
 * optimiser state, extra tensors a trainer adds (a projector, a sampler)
 * and the configuration as metadata; written atomically. */
#include "base/base.h"
#include "spurcl/train.h"
#include "train/train_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *sc__model_config_json(const sc_model_config *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", sc_model_kind_name(c->kind));
    cJSON_AddNumberToObject(o, "in_channels", c->in_channels);
    cJSON_AddNumberToObject(o, "height", c->height);
    cJSON_AddNumberToObject(o, "width", c->width);
    cJSON_AddNumberToObject(o, "num_classes", c->num_classes);
    cJSON_AddNumberToObject(o, "cnn_c1", c->cnn_c1);
    cJSON_AddNumberToObject(o, "cnn_c2", c->cnn_c2);
    cJSON_AddNumberToObject(o, "cnn_fc", c->cnn_fc);
    cJSON_AddStringToObject(o, "cnn_norm", sc_cnn_norm_name(c->cnn_norm));
    cJSON_AddNumberToObject(o, "patch", c->patch);
    cJSON_AddNumberToObject(o, "dim", c->dim);
    cJSON_AddNumberToObject(o, "depth", c->depth);
    cJSON_AddNumberToObject(o, "heads", c->heads);
    cJSON_AddNumberToObject(o, "mlp", c->mlp);
    cJSON_AddNumberToObject(o, "ln_eps", c->ln_eps);
    cJSON_AddNumberToObject(o, "resnet_width", c->resnet_width);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* An integer field of the "model" metadata: absent, *v keeps its value;
 * present, it must be a whole number in [0, 2^24] (false otherwise: 10.5
 * classes or a size of 1e12 are not rounded or wrapped into something else). */
static bool jint(const cJSON *o, const char *k, int *v)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!j)
        return true;
    double x = cJSON_IsNumber(j) ? j->valuedouble : NAN;
    if (!(x >= 0 && x <= 16777216.0) || x != floor(x))
        return false;
    *v = (int)x;
    return true;
}

/* An integer in the metadata: absent is 0; present it must be all digits of
 * one integer in [lo, hi]. */
static sc_status meta_i64(const sc_safetensors *st, const char *key, int64_t lo, int64_t hi,
                          int64_t *out)
{
    *out = 0;
    const char *s = sc_safetensors_meta(st, key);
    if (!s)
        return SC_OK;
    if (!sc_parse_i64(s, lo, hi, out))
        return sc_error_set(SC_ERR_FORMAT, "%s: metadata '%s' is \"%.40s\", not an integer in "
                                           "[%lld, %lld]",
                            sc_safetensors_name(st), key, s, (long long)lo, (long long)hi);
    return SC_OK;
}

sc_status sc__checkpoint_epoch(const sc_safetensors *st, int *epoch)
{
    int64_t ep = 0;
    sc_status s = meta_i64(st, "epoch", 0, SC_CKPT_MAX_EPOCH, &ep);
    *epoch = (int)ep;
    return s;
}

sc_status sc__checkpoint_optim_steps(const sc_safetensors *st, int64_t *steps)
{
    return meta_i64(st, "optim_steps", 0, SC_CKPT_MAX_STEPS, steps);
}

/* ---- the tensors of a file being written --------------------------------- */

typedef struct ckpt_out {
    sc_st_tensor *t;
    void **buf;   /* host copies we own (NULL for borrowed host data) */
    char **name;  /* names we own */
    size_t n, cap;
} ckpt_out;

static void out_free(ckpt_out *o)
{
    for (size_t i = 0; i < o->n; i++) {
        free(o->buf[i]);
        free(o->name[i]);
    }
    free(o->t);
    free(o->buf);
    free(o->name);
}

/* Appends a tensor: a device tensor (downloaded) or borrowed host data. */
static sc_status out_add(ckpt_out *o, char *name, const char *borrowed_name, const sc_tensor *dev,
                         sc_st_dtype dtype, int ndim, const int64_t *shape, const void *host)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 64;
        sc_st_tensor *t = realloc(o->t, cap * sizeof *t);
        if (t)
            o->t = t;
        void **b = realloc(o->buf, cap * sizeof *b);
        if (b)
            o->buf = b;
        char **nm = realloc(o->name, cap * sizeof *nm);
        if (nm)
            o->name = nm;
        if (!t || !b || !nm) {
            free(name);
            return sc_oom("checkpoint");
        }
        o->cap = cap;
    }
    size_t k = o->n++;
    sc_st_tensor *t = &o->t[k];
    memset(t, 0, sizeof *t);
    o->name[k] = name;
    o->buf[k] = NULL;
    t->name = name ? name : borrowed_name;
    if (!t->name)
        return sc_oom("checkpoint");
    if (dev) {
        o->buf[k] = malloc((size_t)sc_tensor_numel(dev) * sizeof(float) + 1);
        if (!o->buf[k])
            return sc_oom("checkpoint");
        SC_TRY(sc_tensor_download(dev, o->buf[k]));
        t->dtype = SC_ST_F32;
        t->ndim = sc_tensor_ndim(dev);
        for (int d = 0; d < t->ndim; d++)
            t->shape[d] = sc_tensor_dim(dev, d);
        t->data = o->buf[k];
    } else {
        t->dtype = dtype;
        t->ndim = ndim;
        for (int d = 0; d < ndim; d++)
            t->shape[d] = shape[d];
        t->data = host;
    }
    return SC_OK;
}

static sc_status check_extra(const sc_checkpoint_tensor *e)
{
    if (!e->name || !*e->name || (!e->tensor == !e->host) || e->ndim < 0 ||
        e->ndim > SC_ST_MAX_DIMS)
        return sc_error_set(SC_ERR_INVALID_ARG,
                            "checkpoint: extra tensor '%s' needs a name and exactly one of a "
                            "device tensor and host data",
                            e->name ? e->name : "");
    return SC_OK;
}

static sc_status collect(ckpt_out *o, const sc_model *m, const sc_optim *opt,
                         const sc_checkpoint_tensor *extra, size_t nextra)
{
    for (size_t i = 0; i < sc_model_param_count(m); i++) {
        const sc_var *p = sc_model_param(m, i);
        SC_TRY(out_add(o, NULL, sc_var_name(p), sc_var_tensor(p), 0, 0, NULL, NULL));
    }
    /* the optimiser's state under the names of the parameters it updates
     * (a frozen backbone's are absent; a projector's are there) */
    size_t ns = opt ? sc_optim_state_count(opt) : 0;
    for (size_t i = 0; opt && i < sc_optim_param_count(opt); i++) {
        const sc_var *p = sc_optim_param(opt, i);
        for (size_t s = 0; s < ns; s++) {
            const sc_tensor *t = sc_optim_state(opt, i, s);
            if (t)
                SC_TRY(out_add(o, sc_strprintf("optim.%s.%s", sc_var_name(p),
                                               sc_optim_state_name(opt, s)),
                               NULL, t, 0, 0, NULL, NULL));
        }
    }
    /* buffers: running statistics F32 [C]; num_batches_tracked I64 [] as in
     * PyTorch's state_dict */
    for (size_t i = 0; i < sc_model_buffer_count(m); i++) {
        const sc_model_buffer *b = sc_model_buffer_at(m, i);
        if (b->tensor) {
            int64_t n = sc_tensor_numel(b->tensor);
            SC_TRY(out_add(o, NULL, b->name, b->tensor, 0, 0, NULL, NULL));
            o->t[o->n - 1].ndim = 1;
            o->t[o->n - 1].shape[0] = n;
        } else {
            SC_TRY(out_add(o, NULL, b->name, NULL, SC_ST_I64, 0, NULL, b->count));
        }
    }
    for (size_t i = 0; i < nextra; i++) {
        const sc_checkpoint_tensor *e = &extra[i];
        SC_TRY(check_extra(e));
        SC_TRY(out_add(o, NULL, e->name, e->tensor, e->dtype, e->ndim, e->shape, e->host));
    }
    return SC_OK;
}

sc_status sc_checkpoint_save_extra(const char *path, const sc_model *m, const sc_optim *opt,
                                   int epoch, uint64_t seed, const char *config_json,
                                   const sc_checkpoint_tensor *extra, size_t nextra)
{
    ckpt_out o = {0};
    sc_status st = collect(&o, m, opt, extra, nextra);
    if (st == SC_OK) {
        char *mj = sc__model_config_json(sc_model_get_config(m));
        char ep[32], steps[32], sd[32];
        snprintf(ep, sizeof ep, "%d", epoch);
        snprintf(steps, sizeof steps, "%lld", (long long)(opt ? sc_optim_steps(opt) : 0));
        snprintf(sd, sizeof sd, "%llu", (unsigned long long)seed);
        sc_st_meta meta[6] = {{"format", SC_CKPT_FORMAT}, {"model", mj ? mj : "{}"},
                              {"epoch", ep},           {"optim_steps", steps},
                              {"seed", sd},            {"config", config_json ? config_json : "{}"}};
        st = sc_safetensors_write(path, o.t, o.n, meta, 6);
        cJSON_free(mj);
    }
    out_free(&o);
    return sc_io_write_error(st, path);
}

sc_status sc_checkpoint_save(const char *path, const sc_model *m, const sc_optim *opt, int epoch,
                             uint64_t seed, const char *config_json)
{
    return sc_checkpoint_save_extra(path, m, opt, epoch, seed, config_json, NULL, 0);
}

/* ---- reading ------------------------------------------------------------------ */

sc_status sc_checkpoint_model_config(const char *path, sc_model_config *cfg)
{
    sc_safetensors *st;
    SC_TRY(sc_safetensors_open(path, &st));
    const char *fmt = sc_safetensors_meta(st, "format");
    const char *mj = sc_safetensors_meta(st, "model");
    cJSON *o = mj ? cJSON_Parse(mj) : NULL;
    sc_status s = SC_OK;
    if (!fmt || strcmp(fmt, SC_CKPT_FORMAT) != 0 || !o) {
        s = sc_error_set(SC_ERR_FORMAT, "%s: not a spurcl checkpoint (metadata 'format' is %s)",
                         path, fmt ? fmt : "missing");
    } else {
        sc_model_kind kind;
        const cJSON *kv = cJSON_GetObjectItemCaseSensitive(o, "kind");
        s = sc_model_kind_parse(cJSON_IsString(kv) ? kv->valuestring : "?", &kind);
        bool kind_bad = s != SC_OK;
        int in_ch = 1, h = 28, w = 28, classes = 10;
        if (s == SC_OK && (!jint(o, "in_channels", &in_ch) || !jint(o, "height", &h) ||
                           !jint(o, "width", &w) || !jint(o, "num_classes", &classes)))
            s = sc_error_set(SC_ERR_FORMAT, "%s: metadata 'model' has an input shape or class "
                                            "count that is not a whole number in [0, 2^24]",
                             path);
        if (s == SC_OK) {
            sc_model_config_default(cfg, kind, in_ch, h, w, classes);
            const struct { const char *key; int *v; } f[] = {
                {"cnn_c1", &cfg->cnn_c1}, {"cnn_c2", &cfg->cnn_c2}, {"cnn_fc", &cfg->cnn_fc},
                {"patch", &cfg->patch}, {"dim", &cfg->dim}, {"depth", &cfg->depth},
                {"heads", &cfg->heads}, {"mlp", &cfg->mlp},
                {"resnet_width", &cfg->resnet_width}};
            for (size_t i = 0; s == SC_OK && i < sizeof f / sizeof f[0]; i++)
                if (!jint(o, f[i].key, f[i].v))
                    s = sc_error_set(SC_ERR_FORMAT, "%s: metadata 'model': %s is not a whole "
                                                    "number in [0, 2^24]",
                                     path, f[i].key);
            /* absent in checkpoints from before the option: none */
            const cJSON *cn = cJSON_GetObjectItemCaseSensitive(o, "cnn_norm");
            if (s == SC_OK && cn) {
                sc_status ns = sc_cnn_norm_parse(cJSON_IsString(cn) ? cn->valuestring : "?",
                                                 &cfg->cnn_norm);
                if (ns != SC_OK)
                    s = sc_error_wrap(ns, "%s: metadata 'model': cnn_norm", path);
            }
            const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "ln_eps");
            if (s == SC_OK && e) {
                /* as a float: 1e-60 would be 0 and 0.9999999999 would be 1
                 * (found by fuzz_ckpt_meta) */
                double x = cJSON_IsNumber(e) ? e->valuedouble : 0.0;
                float eps = x > 0 && x < 1 ? (float)x : 0.0f;
                if (eps > 0 && eps < 1)
                    cfg->ln_eps = eps;
                else
                    s = sc_error_set(SC_ERR_FORMAT, "%s: metadata 'model': ln_eps must be a "
                                                    "float32 in (0, 1)", path);
            }
        } else if (kind_bad) {
            s = sc_error_wrap(s, "%s", path);
        }
    }
    cJSON_Delete(o);
    sc_safetensors_close(st);
    return s;
}

sc_status sc_checkpoint_is_ssl_encoder(const char *path, bool *out)
{
    *out = false;
    sc_safetensors *st;
    SC_TRY(sc_safetensors_open(path, &st));
    const char *cj = sc_safetensors_meta(st, "config");
    cJSON *o = cj ? cJSON_Parse(cj) : NULL;
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "kind");
    *out = cJSON_IsString(k) && strcmp(k->valuestring, "ssl") == 0;
    cJSON_Delete(o);
    sc_safetensors_close(st);
    return SC_OK;
}

/* A float32 tensor of `want`'s shape, uploaded into it. */
static sc_status load_f32(const sc_safetensors *st, const char *name, sc_tensor *want)
{
    const sc_st_tensor *t;
    SC_TRY(sc_safetensors_get(st, name, SC_ST_F32, sc_tensor_ndim(want), &t));
    for (int d = 0; d < sc_tensor_ndim(want); d++)
        if (t->shape[d] != sc_tensor_dim(want, d)) {
            char shape[96];
            return sc_error_set(SC_ERR_FORMAT, "%s: tensor %s has dimension %d = %lld, this run "
                                               "needs shape %s",
                                sc_safetensors_name(st), name, d, (long long)t->shape[d],
                                sc_tensor_shape_str(want, shape, sizeof shape));
        }
    /* a NaN or infinite weight would be evaluated, pictured and trained on
     * without a word */
    const float *v = t->data;
    int64_t n = sc_tensor_numel(want);
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return sc_error_set(SC_ERR_FORMAT, "%s: tensor %s holds a non-finite value (%g at "
                                               "flat index %lld)",
                                sc_safetensors_name(st), name, (double)v[i], (long long)i);
    return sc_tensor_upload(want, t->data);
}

sc_status sc_model_load(sc_model *m, const sc_safetensors *st, const char *prefix)
{
    if (!prefix)
        prefix = "";
    char name[320];
    for (size_t i = 0; i < sc_model_param_count(m); i++) {
        sc_var *p = sc_model_param(m, i);
        snprintf(name, sizeof name, "%s%s", prefix, sc_var_name(p));
        SC_TRY(load_f32(st, name, sc_var_tensor(p)));
    }
    for (size_t i = 0; i < sc_model_buffer_count(m); i++) {
        const sc_model_buffer *b = sc_model_buffer_at(m, i);
        snprintf(name, sizeof name, "%s%s", prefix, b->name);
        if (b->tensor) {
            const sc_st_tensor *t;
            SC_TRY(sc_safetensors_get(st, name, SC_ST_F32, 1, &t));
            if (t->shape[0] != sc_tensor_numel(b->tensor))
                return sc_error_set(SC_ERR_FORMAT, "%s: tensor %s has %lld elements, the model "
                                                   "needs %lld",
                                    sc_safetensors_name(st), name, (long long)t->shape[0],
                                    (long long)sc_tensor_numel(b->tensor));
            SC_TRY(sc_tensor_upload(b->tensor, t->data));
            continue;
        }
        /* num_batches_tracked: PyTorch's int64 scalar; int32 and [1] accepted */
        const sc_st_tensor *t = sc_safetensors_find(st, name);
        if (!t)
            return sc_error_set(SC_ERR_FORMAT, "%s: no tensor %s", sc_safetensors_name(st), name);
        if ((t->dtype != SC_ST_I64 && t->dtype != SC_ST_I32) || t->ndim > 1 ||
            (t->ndim == 1 && t->shape[0] != 1))
            return sc_error_set(SC_ERR_FORMAT, "%s: tensor %s must be one I64 (or I32) value, "
                                               "not %s of rank %d",
                                sc_safetensors_name(st), name, sc_st_dtype_name(t->dtype),
                                t->ndim);
        if (t->dtype == SC_ST_I64) {
            memcpy(b->count, t->data, sizeof *b->count);
        } else {
            int32_t v;
            memcpy(&v, t->data, sizeof v);
            *b->count = v;
        }
    }
    return SC_OK;
}

static sc_status load_extra_one(const sc_safetensors *st, const sc_checkpoint_tensor *e)
{
    SC_TRY(check_extra(e));
    if (e->tensor)
        return load_f32(st, e->name, e->tensor);
    const sc_st_tensor *t;
    SC_TRY(sc_safetensors_get(st, e->name, e->dtype, e->ndim, &t));
    uint64_t numel = 1;
    for (int d = 0; d < e->ndim; d++) {
        if (t->shape[d] != e->shape[d])
            return sc_error_set(SC_ERR_FORMAT, "%s: tensor %s has dimension %d = %lld where this "
                                               "run needs %lld",
                                sc_safetensors_name(st), e->name, d, (long long)t->shape[d],
                                (long long)e->shape[d]);
        numel *= (uint64_t)e->shape[d];
    }
    memcpy(e->host, t->data, (size_t)numel * sc_st_dtype_size(e->dtype));
    return SC_OK;
}

sc_status sc_checkpoint_load_extra(const char *path, sc_model *m, sc_optim *opt, int *epoch,
                                   const sc_checkpoint_tensor *extra, size_t nextra)
{
    sc_safetensors *st;
    SC_TRY(sc_safetensors_open(path, &st));
    sc_status s = sc_model_load(m, st, "");
    if (s == SC_OK && opt) {
        char name[320];
        for (size_t i = 0; s == SC_OK && i < sc_optim_param_count(opt); i++)
            for (size_t k = 0; s == SC_OK && k < sc_optim_state_count(opt); k++) {
                snprintf(name, sizeof name, "optim.%s.%s", sc_var_name(sc_optim_param(opt, i)),
                         sc_optim_state_name(opt, k));
                s = load_f32(st, name, sc_optim_state(opt, i, k));
            }
        int64_t steps = 0;
        if (s == SC_OK)
            s = sc__checkpoint_optim_steps(st, &steps);
        if (s == SC_OK)
            sc_optim_set_steps(opt, steps);
    }
    for (size_t i = 0; s == SC_OK && i < nextra; i++)
        s = load_extra_one(st, &extra[i]);
    if (s == SC_OK && epoch)
        s = sc__checkpoint_epoch(st, epoch);
    sc_safetensors_close(st);
    return s;
}

sc_status sc_checkpoint_load(const char *path, sc_model *m, sc_optim *opt, int *epoch)
{
    return sc_checkpoint_load_extra(path, m, opt, epoch, NULL, 0);
}

sc_status sc_checkpoint_load_model(sc_context *ctx, const char *path, sc_model **out)
{
    *out = NULL;
    sc_model_config mc;
    SC_TRY(sc_checkpoint_model_config(path, &mc));
    sc_model *m;
    SC_TRY(sc_model_create(ctx, &mc, &m));
    sc_status st = sc_checkpoint_load(path, m, NULL, NULL);
    if (st != SC_OK) {
        sc_model_free(m);
        return st;
    }
    *out = m;
    return SC_OK;
}
