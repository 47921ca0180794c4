/* Self-supervised augmentation: per-view parameters drawn on the host from
 * seeded streams (torchvision's RandomResizedCrop algorithm). The whole
 * batch (both views) is made by sc_augment_apply (src/kernels/augment.c,
 * one kernel of cl/augment.cl). */
#include "base/base.h"
#include "spurcl/ssl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sc_augment_config_default(sc_augment_config *c)
{
    c->scale_min = 0.2f;
    c->scale_max = 1.0f;
    c->ratio_min = 3.0f / 4.0f;
    c->ratio_max = 4.0f / 3.0f;
    c->flip_prob = 0.0f;
    c->jitter_prob = 0.8f;
    c->brightness = 0.4f;
    c->contrast = 0.4f;
    c->noise_std = 0.05f;
}

sc_status sc_augment_config_check(const sc_augment_config *c)
{
    if (!(c->scale_min > 0 && c->scale_min <= c->scale_max && c->scale_max <= 1))
        return sc_error_set(SC_ERR_INVALID_ARG,
                            "augmentation crop scale must satisfy 0 < min <= max <= 1 (got %g, %g)",
                            (double)c->scale_min, (double)c->scale_max);
    if (!(c->ratio_min > 0 && c->ratio_min <= c->ratio_max && isfinite(c->ratio_max)))
        return sc_error_set(SC_ERR_INVALID_ARG,
                            "augmentation crop ratio must satisfy 0 < min <= max (got %g, %g)",
                            (double)c->ratio_min, (double)c->ratio_max);
    if (!(c->flip_prob >= 0 && c->flip_prob <= 1))
        return sc_error_set(SC_ERR_INVALID_ARG, "augmentation flip probability %g not in [0, 1]",
                            (double)c->flip_prob);
    if (!(c->jitter_prob >= 0 && c->jitter_prob <= 1))
        return sc_error_set(SC_ERR_INVALID_ARG, "augmentation jitter probability %g not in [0, 1]",
                            (double)c->jitter_prob);
    if (!(c->brightness >= 0 && c->brightness <= 1) || !(c->contrast >= 0 && c->contrast <= 1))
        return sc_error_set(SC_ERR_INVALID_ARG,
                            "augmentation brightness / contrast strengths must be in [0, 1] "
                            "(got %g, %g)",
                            (double)c->brightness, (double)c->contrast);
    if (!(c->noise_std >= 0 && c->noise_std <= 10))
        return sc_error_set(SC_ERR_INVALID_ARG, "augmentation noise std %g not in [0, 10]",
                            (double)c->noise_std);
    return SC_OK;
}

uint64_t sc_augment_stream(uint64_t epoch, uint64_t id, int view)
{
    return (epoch << 40) ^ (id << 1) ^ (uint64_t)(view & 1);
}

void sc_augment_draw(const sc_augment_config *cfg, int h, int w, uint64_t seed, uint64_t epoch,
                     uint64_t id, int view, sc_augment_params *out)
{
    sc_rng r;
    sc_rng_seed_stream(&r, seed ^ SC_AUGMENT_SALT, sc_augment_stream(epoch, id, view));
    memset(out, 0, sizeof *out);
    /* torchvision RandomResizedCrop.get_params */
    double area = (double)h * (double)w;
    double lr0 = log((double)cfg->ratio_min), lr1 = log((double)cfg->ratio_max);
    bool found = false;
    for (int t = 0; t < 10 && !found; t++) {
        double target = area * ((double)cfg->scale_min +
                                ((double)cfg->scale_max - (double)cfg->scale_min) *
                                    sc_rng_uniform(&r));
        double aspect = exp(lr0 + (lr1 - lr0) * sc_rng_uniform(&r));
        double cw = nearbyint(sqrt(target * aspect)), ch = nearbyint(sqrt(target / aspect));
        if (cw > 0 && cw <= w && ch > 0 && ch <= h) {
            out->ch = (int32_t)ch;
            out->cw = (int32_t)cw;
            out->y0 = (int32_t)sc_rng_below(&r, (uint64_t)(h - out->ch + 1));
            out->x0 = (int32_t)sc_rng_below(&r, (uint64_t)(w - out->cw + 1));
            found = true;
        }
    }
    if (!found) { /* centre crop with the ratio clamped into range */
        double in_ratio = (double)w / (double)h;
        if (in_ratio < cfg->ratio_min) {
            out->cw = w;
            out->ch = (int32_t)nearbyint(w / (double)cfg->ratio_min);
        } else if (in_ratio > cfg->ratio_max) {
            out->ch = h;
            out->cw = (int32_t)nearbyint(h * (double)cfg->ratio_max);
        } else {
            out->cw = w;
            out->ch = h;
        }
        if (out->ch < 1) out->ch = 1;
        if (out->ch > h) out->ch = h;
        if (out->cw < 1) out->cw = 1;
        if (out->cw > w) out->cw = w;
        out->y0 = (h - out->ch) / 2;
        out->x0 = (w - out->cw) / 2;
    }
    out->flip = sc_rng_uniform(&r) < (double)cfg->flip_prob;
    bool jitter = sc_rng_uniform(&r) < (double)cfg->jitter_prob;
    double ub = sc_rng_uniform(&r), uc = sc_rng_uniform(&r);
    out->brightness = jitter ? (float)(1.0 - cfg->brightness + 2.0 * cfg->brightness * ub) : 1.0f;
    out->contrast = jitter ? (float)(1.0 - cfg->contrast + 2.0 * cfg->contrast * uc) : 1.0f;
    out->noise_key = sc_rng_u64(&r);
    out->mean = 0.0f;
}

void sc_augment_set_mean(sc_augment_params *p, const float *image, int c, int h, int w)
{
    double s = 0;
    for (int k = 0; k < c; k++)
        for (int y = p->y0; y < p->y0 + p->ch; y++)
            for (int x = p->x0; x < p->x0 + p->cw; x++)
                s += image[((size_t)k * (size_t)h + (size_t)y) * (size_t)w + (size_t)x];
    double cnt = (double)c * (double)p->ch * (double)p->cw;
    p->mean = (float)((double)p->brightness * (cnt > 0 ? s / cnt : 0.0));
}

sc_status sc_augment_batch(sc_context *ctx, const sc_augment_config *cfg, const float *images,
                           int64_t n, int c, int h, int w, uint64_t seed, uint64_t epoch,
                           const uint64_t *ids, sc_augment_params *params, sc_tensor **out)
{
    *out = NULL;
    SC_TRY(sc_augment_config_check(cfg));
    if (n < 1)
        return sc_error_set(SC_ERR_INVALID_ARG, "augmentation needs a non-empty batch");
    sc_augment_params *p = params ? params : malloc((size_t)(2 * n) * sizeof *p);
    if (!p)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (augmentation)");
    size_t per = (size_t)c * (size_t)h * (size_t)w;
    for (int v = 0; v < 2; v++)
        for (int64_t i = 0; i < n; i++) {
            sc_augment_params *q = &p[v * n + i];
            sc_augment_draw(cfg, h, w, seed, epoch, ids[i], v, q);
            sc_augment_set_mean(q, images + (size_t)i * per, c, h, w);
        }
    sc_status st = sc_augment_apply(ctx, images, n, c, h, w, p, cfg->noise_std, out);
    if (!params)
        free(p);
    return st;
}
