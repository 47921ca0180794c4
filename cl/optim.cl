/* Optimiser updates, elementwise (PyTorch's formulas; see optim.h), and the
 * partial sums of squares of the global gradient norm. Host side:
 * src/kernels/optim.c (state and schedules: src/nn/optim.c). */

/* SGD with weight decay and momentum. first != 0 on the first step
 * (PyTorch: the buffer starts as the first gradient). scale multiplies the
 * gradient (clipping). */
__kernel void sc_optim_sgd(__global float *p, __global const float *g, uint go,
                           __global float *buf, uint n, float lr, float momentum, float wd,
                           uint first, float scale)
{
    SC_EACH(i, n) {
        float d = fma(wd, p[i], scale * g[go + i]);
        if (momentum != 0.0f) {
            d = first ? d : fma(momentum, buf[i], d);
            buf[i] = d;
        }
        p[i] -= lr * d;
    }
}

/* AdamW; c1 = 1 - b1^t, c2sqrt = sqrt(1 - b2^t). */
__kernel void sc_optim_adamw(__global float *p, __global const float *g, uint go,
                             __global float *m, __global float *v, uint n, float lr, float wd,
                             float b1, float b2, float eps, float c1, float c2sqrt, float scale)
{
    SC_EACH(i, n) {
        float gi = scale * g[go + i];
        float pi = p[i] * (1.0f - lr * wd);
        float mi = fma(b1, m[i], (1.0f - b1) * gi);
        float vi = fma(b2, v[i], (1.0f - b2) * gi * gi);
        m[i] = mi;
        v[i] = vi;
        p[i] = pi - (lr / c1) * mi / (sqrt(vi) / c2sqrt + eps);
    }
}

/* Per-group partial sums of squares, for the global gradient norm. */
__kernel __attribute__((reqd_work_group_size(SC_WG, 1, 1)))
void sc_optim_sumsq(__global const float *g, uint go, uint n, __global float *out, uint oo)
{
    __local float buf[SC_WG];
    uint lid = (uint)get_local_id(0), grp = (uint)get_group_id(0), ng = (uint)get_num_groups(0);
    float acc = 0.0f;
    for (uint i = grp * SC_WG + lid; i < n; i += ng * SC_WG) {
        float x = g[go + i];
        acc = fma(x, x, acc);
    }
    buf[lid] = acc;
    SC_LOCAL_REDUCE(buf, lid, SC_OP_SUM);
    if (lid == 0)
        out[oo + grp] = buf[0];
}
