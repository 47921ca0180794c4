/* Host of cl/pool.cl: max and average pooling and their gather-form
 * adjoints. The pooling ops are in src/nn/ops_pool.c. */
#include "kernels/kernels.h"

#include <stdio.h>

sc_k_pool_geom sc_k_pool_geom_of(const int64_t *shape, int k, int s)
{
    return (sc_k_pool_geom){.planes = (uint32_t)(shape[0] * shape[1]),
                            .h = (uint32_t)shape[2],
                            .w = (uint32_t)shape[3],
                            .oh = (uint32_t)((shape[2] - k) / s + 1),
                            .ow = (uint32_t)((shape[3] - k) / s + 1),
                            .k = (uint32_t)k,
                            .s = (uint32_t)s};
}

/* One work-item per row of the output (the kernels loop along it), the
 * program specialised to the geometry (cl/pool.cl; planes stay an
 * argument). A full grid (sc_launch_1d): on PoCL a grid capped at a few
 * thousand work-items that each stride over the whole tensor runs ~20x
 * slower. */
static sc_status launch(sc_context *ctx, const char *name, const sc_k_pool_geom *pg, size_t rows,
                        size_t nargs, const sc_karg *args)
{
    char defs[160];
    snprintf(defs, sizeof defs,
             "-DSC_GEOM -DSC_H=%uu -DSC_W=%uu -DSC_OH=%uu -DSC_OW=%uu -DSC_K=%uu -DSC_S=%uu",
             pg->h, pg->w, pg->oh, pg->ow, pg->k, pg->s);
    return sc_launch_1d(ctx, "pool", defs, name, rows, nargs, args);
}

/* The max pair's kernels over three tensors (a, b, c) and the whole
 * geometry: max_fwd (y, idx, x), max_scatter (gx, gy, idx). */
static sc_status max3(const char *name, sc_tensor *a, const sc_tensor *b, const sc_tensor *c,
                      const sc_k_pool_geom *pg, size_t rows)
{
    SC_TRY(sc_check_distinct(name, a, 2, (const sc_tensor *const[]){b, c}));
    SC_TRY(sc_check_distinct(name, b, 1, &c)); /* max_fwd's idx is an output too */
    cl_mem am = a->buf->mem, bm = b->buf->mem, cm = c->buf->mem;
    cl_uint ao = (cl_uint)a->offset, bo = (cl_uint)b->offset, co = (cl_uint)c->offset;
    sc_karg args[] = {SC_ARG(am), SC_ARG(ao), SC_ARG(bm), SC_ARG(bo), SC_ARG(cm),
                      SC_ARG(co), SC_ARG(pg->planes), SC_ARG(pg->h), SC_ARG(pg->w),
                      SC_ARG(pg->oh), SC_ARG(pg->ow), SC_ARG(pg->k), SC_ARG(pg->s)};
    return launch(a->ctx, name, pg, rows, 13, args);
}

sc_status sc_k_pool_max_fwd(sc_tensor *y, sc_tensor *idx, const sc_tensor *x,
                            const sc_k_pool_geom *pg)
{
    return max3("sc_pool_max_fwd", y, idx, x, pg, (size_t)pg->planes * pg->oh);
}

sc_status sc_k_pool_max_fwd_cnp(sc_tensor *y, sc_tensor *idx, const sc_tensor *xT,
                                const sc_tensor *b, uint32_t n, const sc_k_pool_geom *pg)
{
    const char *name = "sc_pool_max_fwd_cnp";
    SC_TRY(sc_check_distinct(name, y, 3, (const sc_tensor *const[]){idx, xT, b}));
    SC_TRY(sc_check_distinct(name, idx, 2, (const sc_tensor *const[]){xT, b}));
    SC_TRY(sc_k_whole(xT, name, "channel-major"));
    cl_mem ym = y->buf->mem, im = idx->buf->mem, xm = xT->buf->mem,
           bm = b ? b->buf->mem : xT->buf->mem;
    cl_uint yo = (cl_uint)y->offset, io = (cl_uint)idx->offset, bo = b ? (cl_uint)b->offset : 0,
            hb = b != NULL, c = pg->planes / n;
    sc_karg args[] = {SC_ARG(ym),    SC_ARG(yo),    SC_ARG(im),    SC_ARG(io),   SC_ARG(xm),
                      SC_ARG(bm),    SC_ARG(bo),    SC_ARG(hb),    SC_ARG(n),    SC_ARG(c),
                      SC_ARG(pg->h), SC_ARG(pg->w), SC_ARG(pg->oh), SC_ARG(pg->ow), SC_ARG(pg->k),
                      SC_ARG(pg->s)};
    return launch(y->ctx, name, pg, (size_t)pg->planes * pg->oh, 16, args);
}

sc_status sc_k_pool_max_scatter(sc_tensor *gx, const sc_tensor *gy, const sc_tensor *idx,
                                const sc_k_pool_geom *pg)
{
    return max3("sc_pool_max_scatter", gx, gy, idx, pg, (size_t)pg->planes * pg->h);
}

sc_status sc_k_pool_max_scatter_cnp(sc_tensor *gT, const sc_tensor *gy, const sc_tensor *idx,
                                    uint32_t n, const sc_k_pool_geom *pg)
{
    const char *name = "sc_pool_max_scatter_cnp";
    SC_TRY(sc_check_distinct(name, gT, 2, (const sc_tensor *const[]){gy, idx}));
    SC_TRY(sc_k_whole(gT, name, "channel-major"));
    cl_mem tm = gT->buf->mem, gm = gy->buf->mem, im = idx->buf->mem;
    cl_uint go = (cl_uint)gy->offset, io = (cl_uint)idx->offset, c = pg->planes / n;
    sc_karg args[] = {SC_ARG(tm),    SC_ARG(gm),    SC_ARG(go),     SC_ARG(im),
                      SC_ARG(io),    SC_ARG(n),     SC_ARG(c),      SC_ARG(pg->h),
                      SC_ARG(pg->w), SC_ARG(pg->oh), SC_ARG(pg->ow), SC_ARG(pg->k),
                      SC_ARG(pg->s)};
    return launch(gT->ctx, name, pg, (size_t)pg->planes * pg->h, 13, args);
}

sc_status sc_k_pool_max_gather(sc_tensor *y, const sc_tensor *x, const sc_tensor *idx,
                               const sc_k_pool_geom *pg)
{
    SC_TRY(sc_check_distinct("sc_pool_max_gather", y, 2, (const sc_tensor *const[]){x, idx}));
    cl_mem ym = y->buf->mem, xm = x->buf->mem, im = idx->buf->mem;
    cl_uint yo = (cl_uint)y->offset, xo = (cl_uint)x->offset, io = (cl_uint)idx->offset;
    cl_uint hw = pg->h * pg->w;
    sc_karg args[] = {SC_ARG(ym), SC_ARG(yo), SC_ARG(xm), SC_ARG(xo), SC_ARG(im),
                      SC_ARG(io), SC_ARG(pg->planes), SC_ARG(hw), SC_ARG(pg->oh), SC_ARG(pg->ow)};
    return launch(y->ctx, "sc_pool_max_gather", pg, (size_t)pg->planes * pg->oh, 10, args);
}

/* The average pair: out (rows of `rows` each) from in, scaled by 1/k^2. */
static sc_status avg(const char *name, sc_tensor *out, const sc_tensor *in,
                     const sc_k_pool_geom *pg, size_t rows)
{
    SC_TRY(sc_check_distinct(name, out, 1, &in));
    cl_mem om = out->buf->mem, im = in->buf->mem;
    cl_uint oo = (cl_uint)out->offset, io = (cl_uint)in->offset;
    float inv = 1.0f / (float)(pg->k * pg->k);
    sc_karg args[] = {SC_ARG(om), SC_ARG(oo), SC_ARG(im), SC_ARG(io), SC_ARG(pg->planes),
                      SC_ARG(pg->h), SC_ARG(pg->w), SC_ARG(pg->oh), SC_ARG(pg->ow),
                      SC_ARG(pg->k), SC_ARG(pg->s), SC_ARG(inv)};
    return launch(out->ctx, name, pg, rows, 12, args);
}

sc_status sc_k_pool_avg_fwd(sc_tensor *y, const sc_tensor *x, const sc_k_pool_geom *pg)
{
    return avg("sc_pool_avg_fwd", y, x, pg, (size_t)pg->planes * pg->oh);
}

sc_status sc_k_pool_avg_bwd(sc_tensor *gx, const sc_tensor *gy, const sc_k_pool_geom *pg)
{
    return avg("sc_pool_avg_bwd", gx, gy, pg, (size_t)pg->planes * pg->h);
}
