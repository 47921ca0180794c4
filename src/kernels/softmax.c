/* Host of cl/softmax.cl: row kernels over the last axis. The softmax and
 * cross-entropy ops are in src/nn/ops_softmax.c. */
#include "kernels/kernels.h"

/* A tensor seen as [rows, len] over its last axis. */
static void rows_of(const sc_tensor *t, cl_uint *rows, cl_uint *len)
{
    int64_t l = t->ndim > 0 ? t->shape[t->ndim - 1] : 1;
    *len = (cl_uint)l;
    *rows = l > 0 ? (cl_uint)(t->numel / l) : 0;
}

/* A row kernel of cl/softmax.cl: its tensor arguments t[0..nt) as (buffer,
 * offset) pairs, then rows and len of `rows_of_t`, then `flag` when
 * has_flag. One work-group per row when rows are long and too few to fill
 * the device with one work-item each (cl/common.cl's row-reduction
 * prologue). */
static sc_status row_kernel(const char *name, const sc_tensor *rows_of_t, int nt,
                            const sc_tensor *const *t, bool has_flag, cl_uint flag)
{
    cl_uint rows, len;
    rows_of(rows_of_t, &rows, &len);
    if (rows == 0 || len == 0)
        return SC_OK;
    cl_mem mem[4];
    cl_uint off[4];
    sc_karg args[11];
    size_t n = 0;
    for (int i = 0; i < nt; i++) {
        mem[i] = t[i]->buf->mem;
        off[i] = (cl_uint)t[i]->offset;
        args[n++] = SC_ARG(mem[i]);
        args[n++] = SC_ARG(off[i]);
    }
    args[n++] = SC_ARG(rows);
    args[n++] = SC_ARG(len);
    if (has_flag)
        args[n++] = SC_ARG(flag);
    sc_context *ctx = t[0]->ctx;
    if (sc_k_use_group(ctx, rows, len))
        return sc_launch_groups(ctx, "softmax", "-DSC_ROW_GROUP", name, rows, n, args);
    return sc_launch_1d(ctx, "softmax", NULL, name, rows, n, args);
}

sc_status sc_k_softmax_forward(sc_tensor *y, const sc_tensor *x, bool logmode)
{
    const sc_tensor *t[2] = {y, x};
    return row_kernel("sc_softmax_forward", x, 2, t, true, logmode);
}

sc_status sc_k_softmax_backward(sc_tensor *z, const sc_tensor *y, const sc_tensor *gy)
{
    const sc_tensor *t[3] = {z, y, gy};
    return row_kernel("sc_softmax_backward", y, 3, t, false, 0);
}

sc_status sc_k_softmax_backward_y(sc_tensor *z, const sc_tensor *y, const sc_tensor *gy,
                                  const sc_tensor *gg)
{
    const sc_tensor *t[4] = {z, y, gy, gg};
    return row_kernel("sc_softmax_backward_y", y, 4, t, false, 0);
}

sc_status sc_k_softmax_cross_entropy(sc_tensor *loss, const sc_tensor *x, const sc_tensor *labels)
{
    const sc_tensor *t[3] = {loss, x, labels};
    return row_kernel("sc_softmax_cross_entropy", x, 3, t, false, 0);
}

sc_status sc_k_softmax_log_backward(sc_tensor *gx, const sc_tensor *y, const sc_tensor *gy)
{
    const sc_tensor *t[3] = {gx, y, gy};
    return row_kernel("sc_softmax_log_backward", y, 3, t, false, 0);
}

sc_status sc_k_softmax_cross_entropy_backward(sc_tensor *gx, const sc_tensor *x,
                                              const sc_tensor *labels, const sc_tensor *gy)
{
    const sc_tensor *t[4] = {gx, x, labels, gy};
    return row_kernel("sc_softmax_cross_entropy_backward", x, 4, t, false, 0);
}
