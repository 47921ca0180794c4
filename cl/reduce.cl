/* Deterministic reductions: fixed work decomposition and tree order, no
 * atomics, so the same input on the same device gives the same bits.
 * REDUCE_MAX selects max (default: sum). Host side: src/kernels/reduce.c
 * (sc_op_reduce, sc_op_reduce_axis); src/core/gemm.c sums its split-K
 * partial products with sc_reduce_axis_serial. */
#ifdef REDUCE_MAX
#define RED_OP SC_OP_MAX
#define RED_INIT (-INFINITY)
#else
#define RED_OP SC_OP_SUM
#define RED_INIT 0.0f
#endif

/* Group g reduces x[xo + g*chunk .. min(n, (g+1)*chunk)) into out[oo + g],
 * times `scale` (1 for partials, 1/N for a mean's last stage). */
__kernel __attribute__((reqd_work_group_size(SC_WG, 1, 1)))
void sc_reduce_chunks(__global const float *x, uint xo, uint n, uint chunk,
                      __global float *out, uint oo, float scale)
{
    __local float buf[SC_WG];
    uint lid = (uint)get_local_id(0), g = (uint)get_group_id(0);
    uint begin = g * chunk;
    uint end = min(n, begin + chunk);
    float acc = RED_INIT;
    for (uint i = begin + lid; i < end; i += SC_WG)
        acc = RED_OP(acc, x[xo + i]);
    buf[lid] = acc;
    SC_LOCAL_REDUCE(buf, lid, RED_OP);
    if (lid == 0)
        out[oo + g] = buf[0] * scale;
}

/* x viewed as [outer, len, inner]; one work-item per output (o, i),
 * accumulating along len in order. For short axes or many outputs. */
__kernel void sc_reduce_axis_serial(__global const float *x, uint xo, uint outer, uint len,
                                    uint inner, __global float *out, uint oo, float scale)
{
    uint n = outer * inner;
    SC_FOR_EACH(k, n) {
        uint o = k / inner, i = k - o * inner;
        __global const float *p = x + xo + (size_t)o * len * inner + i;
        float acc = RED_INIT;
        for (uint j = 0; j < len; j++)
            acc = RED_OP(acc, p[(size_t)j * inner]);
        out[oo + k] = acc * scale;
    }
}

/* One work-group per output (o, i): for long axes and few outputs. */
__kernel __attribute__((reqd_work_group_size(SC_WG, 1, 1)))
void sc_reduce_axis_group(__global const float *x, uint xo, uint outer, uint len, uint inner,
                          __global float *out, uint oo, float scale)
{
    __local float buf[SC_WG];
    uint lid = (uint)get_local_id(0), k = (uint)get_group_id(0);
    uint o = k / inner, i = k - o * inner;
    __global const float *p = x + xo + (size_t)o * len * inner + i;
    float acc = RED_INIT;
    for (uint j = lid; j < len; j += SC_WG)
        acc = RED_OP(acc, p[(size_t)j * inner]);
    buf[lid] = acc;
    SC_LOCAL_REDUCE(buf, lid, RED_OP);
    if (lid == 0)
        out[oo + k] = buf[0] * scale;
}
