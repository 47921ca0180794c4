/* Host of cl/norm.cl: the fused normalisation statistics of layer and batch
 * norm. The norm ops are in src/nn/ops_norm.c. */
#include "kernels/kernels.h"

sc_status sc_k_norm_forward(sc_tensor *xh, sc_tensor *rstd, const sc_tensor *x3, float eps,
                            sc_tensor *rm, sc_tensor *rv, float momentum)
{
    cl_uint outer = (cl_uint)x3->shape[0], C = (cl_uint)x3->shape[1],
            inner = (cl_uint)x3->shape[2];
    size_t m = (size_t)outer * inner;
    if (C == 0 || m == 0)
        return SC_OK;
    cl_mem xhm = xh->buf->mem, rsm = rstd->buf->mem, xm = x3->buf->mem;
    cl_uint xho = (cl_uint)xh->offset, rso = (cl_uint)rstd->offset, xo = (cl_uint)x3->offset;
    cl_uint update = rm != NULL;
    cl_mem rmm = rm ? rm->buf->mem : rsm, rvm = rv ? rv->buf->mem : rsm;
    cl_uint rmo = rm ? (cl_uint)rm->offset : 0, rvo = rv ? (cl_uint)rv->offset : 0;
    sc_karg args[] = {SC_ARG(xhm),   SC_ARG(xho), SC_ARG(rsm),    SC_ARG(rso),
                      SC_ARG(xm),    SC_ARG(xo),  SC_ARG(outer),  SC_ARG(C),
                      SC_ARG(inner), SC_ARG(eps), SC_ARG(update), SC_ARG(momentum),
                      SC_ARG(rmm),   SC_ARG(rmo), SC_ARG(rvm),    SC_ARG(rvo)};
    /* a channel per work-group when channels are long and too few to fill
     * the device (cl/common.cl's row-reduction prologue) */
    if (sc_k_use_group(xh->ctx, C, m))
        return sc_launch_groups(xh->ctx, "norm", "-DSC_ROW_GROUP", "sc_norm_forward", C, 16,
                                args);
    return sc_launch_1d(xh->ctx, "norm", NULL, "sc_norm_forward", C, 16, args);
}
