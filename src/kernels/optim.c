/* Host of cl/optim.cl: the elementwise optimiser updates and the partial
 * sums of the global gradient norm. State, schedules and the public API
 * are in src/nn/optim.c. */
#include "kernels/kernels.h"

sc_status sc_k_optim_sumsq(sc_tensor *partials, size_t slot, const sc_tensor *g)
{
    cl_mem gm = g->buf->mem, om = partials->buf->mem;
    cl_uint go = (cl_uint)g->offset, n = (cl_uint)g->numel;
    cl_uint oo = (cl_uint)(partials->offset + slot * SC_K_OPTIM_NORM_GROUPS);
    sc_karg args[] = {SC_ARG(gm), SC_ARG(go), SC_ARG(n), SC_ARG(om), SC_ARG(oo)};
    return sc_launch_groups(partials->ctx, "optim", NULL, "sc_optim_sumsq",
                            SC_K_OPTIM_NORM_GROUPS, 5, args);
}

/* The parameter, its moment buffers and the gradient are whole tensors of
 * the same element count; only the gradient may be a view. */
static sc_status check_state(const sc_tensor *p, const sc_tensor *s)
{
    if (p->offset || (s && (s->offset || s->numel != p->numel)))
        return sc_error_set(SC_ERR_STATE, "optimiser: a parameter or its state is a view");
    return SC_OK;
}

sc_status sc_k_optim_sgd(sc_tensor *p, const sc_tensor *g, sc_tensor *buf, float lr,
                         float momentum, float wd, bool first, float scale)
{
    SC_TRY(check_state(p, buf));
    cl_mem pm = p->buf->mem, gm = g->buf->mem, bm = buf->buf->mem;
    cl_uint go = (cl_uint)g->offset, n = (cl_uint)p->numel, f = first;
    sc_karg args[] = {SC_ARG(pm), SC_ARG(gm), SC_ARG(go), SC_ARG(bm), SC_ARG(n),
                      SC_ARG(lr), SC_ARG(momentum), SC_ARG(wd), SC_ARG(f), SC_ARG(scale)};
    return sc_launch_1d(p->ctx, "optim", NULL, "sc_optim_sgd", n, 10, args);
}

sc_status sc_k_optim_adamw(sc_tensor *p, const sc_tensor *g, sc_tensor *m, sc_tensor *v,
                           float lr, float wd, float b1, float b2, float eps, float c1,
                           float c2sqrt, float scale)
{
    SC_TRY(check_state(p, m));
    SC_TRY(check_state(p, v));
    cl_mem pm = p->buf->mem, gm = g->buf->mem, mm = m->buf->mem, vm = v->buf->mem;
    cl_uint go = (cl_uint)g->offset, n = (cl_uint)p->numel;
    sc_karg args[] = {SC_ARG(pm), SC_ARG(gm), SC_ARG(go), SC_ARG(mm), SC_ARG(vm),
                      SC_ARG(n),  SC_ARG(lr), SC_ARG(wd), SC_ARG(b1), SC_ARG(b2),
                      SC_ARG(eps), SC_ARG(c1), SC_ARG(c2sqrt), SC_ARG(scale)};
    return sc_launch_1d(p->ctx, "optim", NULL, "sc_optim_adamw", n, 14, args);
}
