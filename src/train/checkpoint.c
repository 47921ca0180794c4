/* Checkpoints: safetensors with PyTorch parameter names, the model's
 * buffers (batch-norm running statistics, PyTorch names and dtypes), the
 * optimiser state and the configuration as metadata; written atomically. */
#include "nn/graph.h"
#include "spurcl/train.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CKPT_FORMAT "spurcl-checkpoint-1"

static char *model_config_json(const sc_model_config *c)
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

static int jint(const cJSON *o, const char *k, int def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valueint : def;
}

sc_status sc_checkpoint_save(const char *path, const sc_model *m, const sc_optim *opt,
                             int epoch, uint64_t seed, const char *config_json)
{
    size_t np = sc_model_param_count(m);
    size_t nb = sc_model_buffer_count(m);
    size_t ns = opt ? sc_optim_state_count(opt) : 0;
    size_t nt = np * (1 + ns) + nb;
    sc_st_tensor *ts = calloc(nt ? nt : 1, sizeof *ts);
    void **bufs = calloc(nt ? nt : 1, sizeof *bufs);
    char **names = calloc(nt ? nt : 1, sizeof *names);
    sc_status st = SC_OK;
    if (!ts || !bufs || !names)
        st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (checkpoint)");
    size_t k = 0;
    for (size_t i = 0; st == SC_OK && i < np; i++) {
        const sc_var *p = sc_model_param(m, i);
        for (size_t s = 0; st == SC_OK && s <= ns; s++) {
            const sc_tensor *t = s == 0 ? sc_var_tensor(p) : sc_optim_state(opt, i, s - 1);
            if (!t)
                continue;
            size_t len = strlen(sc_var_name(p)) + 64;
            names[k] = malloc(len);
            bufs[k] = malloc((size_t)sc_tensor_numel(t) * sizeof(float) + 1);
            if (!names[k] || !bufs[k]) {
                st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (checkpoint)");
                break;
            }
            if (s == 0)
                snprintf(names[k], len, "%s", sc_var_name(p));
            else
                snprintf(names[k], len, "optim.%s.%s", sc_var_name(p),
                         sc_optim_state_name(opt, s - 1));
            st = sc_tensor_download(t, bufs[k]);
            ts[k].name = names[k];
            ts[k].dtype = SC_ST_F32;
            ts[k].ndim = sc_tensor_ndim(t);
            for (int d = 0; d < ts[k].ndim; d++)
                ts[k].shape[d] = sc_tensor_dim(t, d);
            ts[k].data = bufs[k];
            k++;
        }
    }
    /* buffers: running statistics F32 [C]; num_batches_tracked I64 [] as in
     * PyTorch's state_dict */
    for (size_t i = 0; st == SC_OK && i < nb; i++) {
        const sc_model_buffer *b = sc_model_buffer_at(m, i);
        size_t bytes = b->tensor ? (size_t)sc_tensor_numel(b->tensor) * sizeof(float)
                                 : sizeof(int64_t);
        bufs[k] = malloc(bytes);
        if (!bufs[k]) {
            st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (checkpoint)");
            break;
        }
        ts[k].name = b->name;
        if (b->tensor) {
            st = sc_tensor_download(b->tensor, bufs[k]);
            ts[k].dtype = SC_ST_F32;
            ts[k].ndim = 1;
            ts[k].shape[0] = sc_tensor_numel(b->tensor);
        } else {
            memcpy(bufs[k], b->count, sizeof(int64_t));
            ts[k].dtype = SC_ST_I64;
            ts[k].ndim = 0;
        }
        ts[k].data = bufs[k];
        k++;
    }
    if (st == SC_OK) {
        char *mj = model_config_json(sc_model_get_config(m));
        char ep[32], steps[32], sd[32];
        snprintf(ep, sizeof ep, "%d", epoch);
        snprintf(steps, sizeof steps, "%lld", (long long)(opt ? sc_optim_steps(opt) : 0));
        snprintf(sd, sizeof sd, "%llu", (unsigned long long)seed);
        sc_st_meta meta[6] = {{"format", CKPT_FORMAT}, {"model", mj ? mj : "{}"},
                              {"epoch", ep},           {"optim_steps", steps},
                              {"seed", sd},            {"config", config_json ? config_json : "{}"}};
        st = sc_safetensors_write(path, ts, k, meta, 6);
        cJSON_free(mj);
    }
    for (size_t i = 0; i < nt; i++) {
        free(bufs ? bufs[i] : NULL);
        free(names ? names[i] : NULL);
    }
    free(ts);
    free(bufs);
    free(names);
    return st == SC_OK ? st : sc_error_wrap(st, "writing checkpoint %s", path);
}

sc_status sc_checkpoint_model_config(const char *path, sc_model_config *cfg)
{
    sc_safetensors *st;
    SC_TRY(sc_safetensors_open(path, &st));
    const char *fmt = sc_safetensors_meta(st, "format");
    const char *mj = sc_safetensors_meta(st, "model");
    cJSON *o = mj ? cJSON_Parse(mj) : NULL;
    sc_status s = SC_OK;
    if (!fmt || strcmp(fmt, CKPT_FORMAT) != 0 || !o) {
        s = sc_error_set(SC_ERR_FORMAT, "%s: not a spurcl checkpoint (metadata 'format' is %s)",
                         path, fmt ? fmt : "missing");
    } else {
        sc_model_kind kind;
        const cJSON *kv = cJSON_GetObjectItemCaseSensitive(o, "kind");
        s = sc_model_kind_parse(cJSON_IsString(kv) ? kv->valuestring : "?", &kind);
        if (s == SC_OK) {
            sc_model_config_default(cfg, kind, jint(o, "in_channels", 1), jint(o, "height", 28),
                                    jint(o, "width", 28), jint(o, "num_classes", 10));
            cfg->cnn_c1 = jint(o, "cnn_c1", cfg->cnn_c1);
            cfg->cnn_c2 = jint(o, "cnn_c2", cfg->cnn_c2);
            cfg->cnn_fc = jint(o, "cnn_fc", cfg->cnn_fc);
            cfg->patch = jint(o, "patch", cfg->patch);
            cfg->dim = jint(o, "dim", cfg->dim);
            cfg->depth = jint(o, "depth", cfg->depth);
            cfg->heads = jint(o, "heads", cfg->heads);
            cfg->mlp = jint(o, "mlp", cfg->mlp);
            cfg->resnet_width = jint(o, "resnet_width", cfg->resnet_width);
            const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "ln_eps");
            if (cJSON_IsNumber(e))
                cfg->ln_eps = (float)e->valuedouble;
        } else {
            s = sc_error_wrap(s, "%s", path);
        }
    }
    cJSON_Delete(o);
    sc_safetensors_close(st);
    return s;
}

sc_status sc_checkpoint_load(const char *path, sc_model *m, sc_optim *opt, int *epoch)
{
    sc_safetensors *st;
    SC_TRY(sc_safetensors_open(path, &st));
    sc_status s = sc_model_load(m, st, "");
    if (s == SC_OK && opt) {
        for (size_t i = 0; s == SC_OK && i < sc_model_param_count(m); i++)
            for (size_t k = 0; s == SC_OK && k < sc_optim_state_count(opt); k++) {
                sc_tensor *t = sc_optim_state(opt, i, k);
                char name[300];
                snprintf(name, sizeof name, "optim.%s.%s", sc_var_name(sc_model_param(m, i)),
                         sc_optim_state_name(opt, k));
                const sc_st_tensor *ref;
                s = sc_safetensors_get(st, name, SC_ST_F32, sc_tensor_ndim(t), &ref);
                if (s == SC_OK)
                    s = sc_tensor_upload(t, ref->data);
            }
        const char *steps = sc_safetensors_meta(st, "optim_steps");
        if (s == SC_OK)
            sc_optim_set_steps(opt, steps ? atoll(steps) : 0);
    }
    if (s == SC_OK && epoch) {
        const char *ep = sc_safetensors_meta(st, "epoch");
        *epoch = ep ? atoi(ep) : 0;
    }
    sc_safetensors_close(st);
    return s;
}
