/* Saliency maps for pictures, and how much of them sits on the mark. */
#include "train/train_internal.h"
#include "spurcl/nn.h"
#include "spurcl/render.h"
#include "spurcl/ule.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

sc_status sc_saliency_maps(sc_context *ctx, sc_model *model, const sc_dataset *d,
                           const int64_t *idx, int64_t n, sc_saliency_target target, float *maps,
                           int32_t *preds)
{
    const int64_t B = 256;
    sc_batch_opts bo = {.batch_size = B};
    sc_batcher *b;
    SC_TRY(sc_batcher_create(d, SC_SPLIT_TRAIN, &bo, &b));
    sc_graph *g = NULL;
    sc_status st = sc_graph_create(ctx, &g);
    size_t per = (size_t)d->c * (size_t)d->h * (size_t)d->w;
    float *logits = malloc((size_t)B * (size_t)d->num_classes * sizeof *logits);
    if (st == SC_OK && !logits)
        st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (saliency)");
    for (int64_t start = 0; st == SC_OK && start < n; start += B) {
        int64_t cnt = n - start < B ? n - start : B;
        const sc_batch *bt;
        if ((st = sc_batcher_gather(b, idx + start, cnt, &bt)) != SC_OK)
            break;
        int64_t xs[4] = {bt->size, bt->c, bt->h, bt->w}, ls[1] = {bt->size};
        sc_var *x = sc_var_from_host(g, 4, xs, bt->images, true);
        sc_var *y = sc_var_from_host_i32(g, 1, ls, bt->labels);
        sc_var *lg = sc_model_forward(model, g, x, false);
        sc_var *map = sc_nn_saliency(g, x, lg, y, target, false);
        if ((st = sc_graph_status(g)) == SC_OK && maps)
            st = sc_tensor_download(sc_var_tensor(map), maps + (size_t)start * per);
        if (st == SC_OK && preds &&
            (st = sc_tensor_download(sc_var_tensor(lg), logits)) == SC_OK)
            for (int64_t i = 0; i < cnt; i++)
                preds[start + i] = sc__argmax(logits + i * d->num_classes, d->num_classes);
        sc_graph_reset(g);
    }
    free(logits);
    sc_graph_free(g);
    sc_batcher_free(b);
    return st;
}

sc_status sc_saliency_mark_share(sc_context *ctx, sc_model *model, const sc_dataset *d,
                                 sc_split split, int64_t n, sc_saliency_target target,
                                 double *share)
{
    sc_patch_layout layout;
    int s;
    SC_TRY(sc_dataset_patch_params(d, &layout, &s));
    int64_t *all, count;
    SC_TRY(sc_dataset_split_indices(d, split, &all, &count));
    if (n > count)
        n = count;
    if (n <= 0) {
        free(all);
        return sc_error_set(SC_ERR_INVALID_ARG, "the %s split is empty", sc_split_name(split));
    }
    size_t per = (size_t)d->c * (size_t)d->h * (size_t)d->w, plane = (size_t)d->h * (size_t)d->w;
    float *maps = malloc((size_t)n * per * sizeof *maps);
    sc_status st = maps ? sc_saliency_maps(ctx, model, d, all, n, target, maps, NULL)
                        : sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (saliency)");
    double sum = 0;
    for (int64_t i = 0; st == SC_OK && i < n; i++) {
        int y0, x0;
        sc_patch_position(layout, s, d->h, d->w, d->num_attrs, d->attrs[all[i]], &y0, &x0);
        const float *m = maps + (size_t)i * per;
        double in = 0, tot = 0;
        for (int c = 0; c < d->c; c++)
            for (int y = 0; y < d->h; y++)
                for (int x = 0; x < d->w; x++) {
                    double v = fabs(m[(size_t)c * plane + (size_t)y * d->w + x]);
                    tot += v;
                    if (y >= y0 && y < y0 + s && x >= x0 && x < x0 + s)
                        in += v;
                }
        sum += tot > 0 ? in / tot : 0;
    }
    free(maps);
    free(all);
    if (st == SC_OK)
        *share = sum / (double)n;
    return st;
}

sc_status sc_saliency_picture(sc_context *ctx, const sc_dataset *d, sc_model *const *models,
                             const char *const *titles, int nm, const char *path)
{
    enum { MAX_MODELS = 8 };
    if (nm < 1 || nm > MAX_MODELS)
        return sc_error_set(SC_ERR_INVALID_ARG, "a saliency picture shows 1 to %d models, not %d",
                            MAX_MODELS, nm);
    int64_t *idx, count;
    sc_status st = sc_dataset_split_indices(d, SC_SPLIT_VAL, &idx, &count);
    if (st != SC_OK)
        return st;
    int64_t n = count < 8 ? count : 8;
    if (n < 1) {
        free(idx);
        return sc_error_set(SC_ERR_INVALID_ARG, "saliency picture: the val split is empty");
    }
    size_t per = (size_t)d->c * (size_t)d->h * (size_t)d->w;
    float *maps[MAX_MODELS] = {0};
    int32_t *preds[MAX_MODELS] = {0};
    uint8_t *imgs = malloc((size_t)n * per);
    int32_t *labels = malloc((size_t)n * sizeof *labels), *attrs = malloc((size_t)n * sizeof *attrs);
    if (!imgs || !labels || !attrs)
        st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of memory");
    for (int k = 0; st == SC_OK && k < nm; k++) {
        maps[k] = malloc((size_t)n * per * sizeof(float));
        preds[k] = malloc((size_t)n * sizeof(int32_t));
        st = maps[k] && preds[k]
                 ? sc_saliency_maps(ctx, models[k], d, idx, n, SC_SAL_TRUE_LOGIT, maps[k], preds[k])
                 : sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of memory");
    }
    for (int64_t i = 0; st == SC_OK && i < n; i++) {
        memcpy(imgs + (size_t)i * per, d->images + (size_t)idx[i] * per, per);
        labels[i] = d->labels[idx[i]];
        attrs[i] = d->attrs[idx[i]];
    }
    char title[128];
    snprintf(title, sizeof title, "input-gradient saliency (true-class logit), first %lld val images",
             (long long)n);
    sc_saliency_figure fig = {
        .title = title, .n = (int)n, .c = d->c, .h = d->h, .w = d->w, .images = imgs,
        .labels = labels, .attrs = attrs,
        .class_names = (const char *const *)d->class_names, .num_classes = d->num_classes,
        .attr_names = (const char *const *)d->attr_names, .num_attrs = d->num_attrs,
        .nmethods = nm, .methods = titles, .maps = (const float *const *)maps,
        .preds = (const int32_t *const *)preds, .scale = 4,
    };
    if (st == SC_OK)
        st = sc_render_saliency_png(path, &fig);
    for (int k = 0; k < nm; k++) {
        free(maps[k]);
        free(preds[k]);
    }
    free(imgs);
    free(labels);
    free(attrs);
    free(idx);
    return st;
}
