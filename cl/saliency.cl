/* Max over an axis with its first maximal index, the scatter / gather pair
 * of its gradient, and one-hot rows (saliency seeds, the cross-entropy
 * gradient). Host side: src/kernels/saliency.c.
 *
 * Every output has a fixed decomposition and order (one work-item, or one
 * work-group with a tree in local memory, per output): no atomics, the same
 * input gives the same bits. Kernels whose name ends in _group are launched
 * with one work-group of SC_WG per output. */

/* ---- max over an axis, first maximal index --------------------------------
 * x viewed as [outer, len, inner]; outputs (o, i) in row-major order. NaN
 * counts as the largest value (PyTorch's max propagates NaN). */

inline bool sc_max_beats(float vb, uint ib, float va, uint ia)
{
    bool nb = isnan(vb), na = isnan(va);
    if (nb || na)
        return nb && (!na || ib < ia);
    return vb > va || (vb == va && ib < ia);
}

__kernel void sc_saliency_max_serial(__global float *y, uint yo, __global int *idx, uint io,
                                     __global const float *x, uint xo, uint outer, uint len,
                                     uint inner)
{
    uint n = outer * inner;
    SC_FOR_EACH(k, n) {
        uint o = k / inner, i = k - o * inner;
        __global const float *p = x + xo + (size_t)o * len * inner + i;
        float best = p[0];
        uint bi = 0;
        for (uint j = 1; j < len; j++) {
            float v = p[(size_t)j * inner];
            if (sc_max_beats(v, j, best, bi)) {
                best = v;
                bi = j;
            }
        }
        y[yo + k] = best;
        idx[io + k] = (int)bi;
    }
}

__kernel __attribute__((reqd_work_group_size(SC_WG, 1, 1)))
void sc_saliency_max_group(__global float *y, uint yo, __global int *idx, uint io,
                           __global const float *x, uint xo, uint outer, uint len, uint inner)
{
    __local float bv[SC_WG];
    __local uint bi[SC_WG];
    uint lid = (uint)get_local_id(0), k = (uint)get_group_id(0);
    uint o = k / inner, i = k - o * inner;
    __global const float *p = x + xo + (size_t)o * len * inner + i;
    float best = -INFINITY;
    uint bj = UINT_MAX;
    for (uint j = lid; j < len; j += SC_WG) {
        float v = p[(size_t)j * inner];
        if (sc_max_beats(v, j, best, bj)) {
            best = v;
            bj = j;
        }
    }
    bv[lid] = best;
    bi[lid] = bj;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint s = SC_WG / 2; s > 0; s >>= 1) {
        if (lid < s && sc_max_beats(bv[lid + s], bi[lid + s], bv[lid], bi[lid])) {
            bv[lid] = bv[lid + s];
            bi[lid] = bi[lid + s];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0 && k < outer * inner) {
        y[yo + k] = bv[0];
        idx[io + k] = (int)bi[0];
    }
}

/* y [outer, len, inner] = g[o, i] where j == idx[o, i], else 0. */
__kernel void sc_saliency_scatter(__global float *y, uint yo, __global const float *g, uint go,
                                  __global const int *idx, uint io, uint len, uint inner, uint n)
{
    SC_FOR_EACH(e, n) {
        uint i = e % inner, r = e / inner;
        uint j = r % len, o = r / len;
        uint k = o * inner + i;
        y[yo + e] = idx[io + k] == (int)j ? g[go + k] : 0.0f;
    }
}

/* y [outer, inner] = x[o, idx[o, i], i]. */
__kernel void sc_saliency_gather(__global float *y, uint yo, __global const float *x, uint xo,
                                 __global const int *idx, uint io, uint len, uint inner, uint n)
{
    SC_FOR_EACH(k, n) {
        uint o = k / inner, i = k - o * inner;
        y[yo + k] = x[xo + ((size_t)o * len + (uint)idx[io + k]) * inner + i];
    }
}

/* y [rows, k] = the one-hot rows of labels [rows]: 1 at (r, labels[r]),
 * else 0. A label outside [0, k) makes its whole row NaN (never a write
 * outside the row), so a bad label shows in the loss and gradients it
 * reaches. */
__kernel void sc_saliency_one_hot(__global float *y, uint yo, __global const int *labels, uint lo,
                                  uint rows, uint k)
{
    SC_FOR_EACH(e, rows * k) {
        uint r = e / k, c = e - r * k;
        int l = labels[lo + r];
        y[yo + e] = (l < 0 || (uint)l >= k) ? NAN : (l == (int)c ? 1.0f : 0.0f);
    }
}
