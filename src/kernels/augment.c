/* Host of cl/augment.cl: sc_augment_apply (include/spurcl/ssl.h), both
 * views of a batch in one kernel from parameters drawn on the host
 * (src/train/augment.c). */
#include "kernels/kernels.h"
#include "spurcl/ssl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    if (st == SC_OK && (x->offset || tp->offset || tk->offset || y->offset))
        st = sc_error_set(SC_ERR_STATE, "augmentation: fresh tensors with an offset");
    if (st == SC_OK) {
        char defs[96];
        snprintf(defs, sizeof defs, "-DSC_AC=%du -DSC_AH=%du -DSC_AW=%du", c, h, w);
        cl_mem om = y->buf->mem, xm = x->buf->mem, pm = tp->buf->mem, km = tk->buf->mem;
        cl_uint nn = (cl_uint)n;
        sc_karg args[] = {SC_ARG(om), SC_ARG(xm), SC_ARG(pm), SC_ARG(km), SC_ARG(nn),
                          SC_ARG(noise_std)};
        st = sc_launch_1d(ctx, "augment", defs, "sc_augment_views", (size_t)(nv * c * h * w), 6,
                          args);
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

