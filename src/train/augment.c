/* Self-supervised augmentation: per-view parameters drawn on the host from
 * seeded streams (torchvision's RandomResizedCrop algorithm), the whole
 * batch (both views) made by one kernel of cl/augment.cl. */
#include "core/ops_internal.h"
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

static sc_status check_params(const sc_augment_params *p, int64_t k, int h, int w)
{
    if (p->ch < 1 || p->cw < 1 || p->y0 < 0 || p->x0 < 0 || p->y0 + p->ch > h ||
        p->x0 + p->cw > w || !isfinite(p->brightness) || !isfinite(p->contrast) ||
        !isfinite(p->mean))
        return sc_error_set(SC_ERR_INVALID_ARG,
                            "augmentation parameters of view %lld: crop box (%d, %d, %d x %d) "
                            "outside the %d x %d image or non-finite factors",
                            (long long)k, p->y0, p->x0, p->ch, p->cw, h, w);
    return SC_OK;
}

sc_status sc_augment_apply(sc_context *ctx, const float *images, int64_t n, int c, int h, int w,
                           const sc_augment_params *params, float noise_std, sc_tensor **out)
{
    *out = NULL;
    if (n < 1 || c < 1 || h < 1 || w < 1)
        return sc_error_set(SC_ERR_INVALID_ARG, "augmentation needs a non-empty batch (got %lld "
                            "images of %dx%dx%d)", (long long)n, c, h, w);
    if ((double)n * 2.0 * c * h * w >= 4294967295.0)
        return sc_error_set(SC_ERR_INVALID_ARG, "augmentation batch too large for 32-bit indexing");
    if (!(noise_std >= 0) || !isfinite(noise_std))
        return sc_error_set(SC_ERR_INVALID_ARG, "augmentation noise std %g is invalid",
                            (double)noise_std);
    int64_t nv = 2 * n;
    for (int64_t k = 0; k < nv; k++)
        SC_TRY(check_params(&params[k], k, h, w));
    float *pf = malloc((size_t)nv * 8 * sizeof *pf);
    int32_t *keys = malloc((size_t)nv * 2 * sizeof *keys);
    if (!pf || !keys) {
        free(pf);
        free(keys);
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (augmentation)");
    }
    for (int64_t k = 0; k < nv; k++) {
        const sc_augment_params *p = &params[k];
        float *q = pf + k * 8;
        q[0] = (float)p->y0;
        q[1] = (float)p->x0;
        q[2] = (float)p->ch;
        q[3] = (float)p->cw;
        q[4] = p->flip ? 1.0f : 0.0f;
        q[5] = p->brightness;
        q[6] = p->contrast;
        q[7] = p->mean;
        uint32_t lo = (uint32_t)p->noise_key, hi = (uint32_t)(p->noise_key >> 32);
        memcpy(&keys[2 * k], &lo, 4);
        memcpy(&keys[2 * k + 1], &hi, 4);
    }
    int64_t xs[4] = {n, c, h, w}, os[4] = {nv, c, h, w}, ps[1] = {nv * 8}, ks[1] = {nv * 2};
    sc_tensor *x = NULL, *tp = NULL, *tk = NULL, *y = NULL;
    sc_status st = sc_tensor_from_host(ctx, SC_F32, 4, xs, images, &x);
    if (st == SC_OK)
        st = sc_tensor_from_host(ctx, SC_F32, 1, ps, pf, &tp);
    if (st == SC_OK)
        st = sc_tensor_from_host(ctx, SC_I32, 1, ks, keys, &tk);
    if (st == SC_OK)
        st = sc_tensor_create(ctx, SC_F32, 4, os, &y);
    free(pf);
    free(keys);
    cl_kernel k = NULL;
    if (st == SC_OK) {
        char defs[96];
        snprintf(defs, sizeof defs, "-DSC_AC=%du -DSC_AH=%du -DSC_AW=%du", c, h, w);
        st = sc_kernel_get(ctx, "augment", defs, "sc_augment_views", &k);
    }
    if (st == SC_OK && (x->offset || tp->offset || tk->offset || y->offset))
        st = sc_error_set(SC_ERR_STATE, "augmentation: fresh tensors with an offset");
    if (st == SC_OK) {
        cl_mem om = y->buf->mem, xm = x->buf->mem, pm = tp->buf->mem, km = tk->buf->mem;
        cl_uint nn = (cl_uint)n;
        sc_karg args[] = {SC_ARG(om), SC_ARG(xm), SC_ARG(pm), SC_ARG(km), SC_ARG(nn),
                          SC_ARG(noise_std)};
        size_t global = sc_grid_1d(ctx, (size_t)(nv * c * h * w)), local = ctx->wg_size;
        st = sc_launch(ctx, k, "sc_augment_views", 1, &global, &local, 6, args);
    }
    sc_tensor_free(x);
    sc_tensor_free(tp);
    sc_tensor_free(tk);
    if (st != SC_OK) {
        sc_tensor_free(y);
        return sc_error_wrap(st, "augmenting a batch of %lld images", (long long)n);
    }
    *out = y;
    return SC_OK;
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
