/* Contrastive losses (NT-Xent, BarlowTwins), row norms, and the saliency
 * helpers (max over an axis with its first maximal index, the scatter /
 * gather pair of its gradient, one-hot seeds). Host side:
 * src/nn/ops_contrastive.c and src/nn/ops_saliency.c.
 *
 * Every reduction has a fixed decomposition and order (one work-item or one
 * work-group per output, tree order in local memory): no atomics, so the
 * same input on the same device gives the same bits. Kernels whose name
 * ends in _group are launched with one work-group of SC_WG per output.
 *
 * No contraction into fma unless written (the same value computed in two
 * places must round the same way). */
#pragma OPENCL FP_CONTRACT OFF

/* ---- row L2 norms: y[r] = sqrt(sum_j x[r, j]^2) ------------------------- */

__kernel void sc_contrastive_row_norm_serial(__global float *y, uint yo, __global const float *x,
                                             uint xo, uint rows, uint len)
{
    SC_FOR_EACH(r, rows) {
        __global const float *p = x + xo + (size_t)r * len;
        float acc = 0.0f;
        for (uint j = 0; j < len; j++)
            acc = fma(p[j], p[j], acc);
        y[yo + r] = sqrt(acc);
    }
}

__kernel __attribute__((reqd_work_group_size(SC_WG, 1, 1)))
void sc_contrastive_row_norm_group(__global float *y, uint yo, __global const float *x, uint xo,
                                   uint rows, uint len)
{
    __local float buf[SC_WG];
    uint lid = (uint)get_local_id(0), r = (uint)get_group_id(0);
    __global const float *p = x + xo + (size_t)r * len;
    float acc = 0.0f;
    for (uint j = lid; j < len; j += SC_WG)
        acc = fma(p[j], p[j], acc);
    buf[lid] = acc;
    SC_LOCAL_REDUCE(buf, lid, SC_OP_SUM);
    if (lid == 0 && r < rows)
        y[yo + r] = sqrt(buf[0]);
}

/* y = 1 / x where x > 0, else 0 (the gradient of a norm at a zero row is
 * taken as 0, as PyTorch's norm backward does). */
__kernel void sc_contrastive_safe_recip(__global float *y, uint yo, __global const float *x,
                                        uint xo, uint n)
{
    SC_FOR_EACH(i, n) {
        float v = x[xo + i];
        y[yo + i] = v > 0.0f ? 1.0f / v : 0.0f;
    }
}

/* y = max(x, lo) and the mask m = (x >= lo) of its gradient (PyTorch's
 * clamp_min passes the gradient where x >= lo). */
__kernel void sc_contrastive_clamp_min(__global float *y, uint yo, __global float *m, uint mo,
                                       __global const float *x, uint xo, uint n, float lo)
{
    SC_FOR_EACH(i, n) {
        float v = x[xo + i];
        bool keep = !(v < lo); /* NaN propagates */
        y[yo + i] = keep ? v : lo;
        m[mo + i] = keep ? 1.0f : 0.0f;
    }
}

/* ---- NT-Xent ------------------------------------------------------------
 * s: the [rows, rows] similarity matrix u u^T of the 2N = rows views (rows
 * 0..nhalf-1 are the first views, nhalf..rows-1 the second; the positive of
 * k is k +- nhalf). One work-group per anchor k:
 *   loss[k] = logsumexp_{m != k}(s_km / tau) - s_k,pos / tau
 * and s is overwritten in place by P, the softmax over m != k (P_kk = 0),
 * which the backward needs. */
__kernel __attribute__((reqd_work_group_size(SC_WG, 1, 1)))
void sc_contrastive_ntxent_rows(__global float *s, uint so, uint rows, uint nhalf, float inv_tau,
                                __global float *loss, uint lo)
{
    __local float buf[SC_WG];
    uint lid = (uint)get_local_id(0), k = (uint)get_group_id(0);
    __global float *row = s + so + (size_t)k * rows;
    uint pos = k < nhalf ? k + nhalf : k - nhalf;
    /* read before any element of the row is overwritten (barriers follow) */
    float spos = row[pos] * inv_tau;

    float m = -INFINITY;
    for (uint j = lid; j < rows; j += SC_WG)
        if (j != k)
            m = fmax(m, row[j] * inv_tau);
    buf[lid] = m;
    SC_LOCAL_REDUCE(buf, lid, SC_OP_MAX);
    m = buf[0];
    barrier(CLK_LOCAL_MEM_FENCE);

    /* the negatives' sum apart: loss = log1p(negatives / positive) keeps its
     * relative precision when the positive dominates (a small loss) */
    float acc = 0.0f;
    for (uint j = lid; j < rows; j += SC_WG)
        if (j != k && j != pos)
            acc += exp(row[j] * inv_tau - m);
    buf[lid] = acc;
    SC_LOCAL_REDUCE(buf, lid, SC_OP_SUM);
    float neg = buf[0], d = m - spos, epos = exp(-d), sum = epos + neg;
    barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);

    float rsum = 1.0f / sum;
    for (uint j = lid; j < rows; j += SC_WG)
        row[j] = j == k ? 0.0f : exp(row[j] * inv_tau - m) * rsum;
    if (lid == 0)
        loss[lo + k] = d < 60.0f ? log1p(neg / epos) : d + log(sum);
}

/* The gradient of the mean NT-Xent with respect to the similarity logits,
 * folded into one symmetric matrix so that dL/du = W u:
 *   W_km = gy * scale * (P_km + P_mk - 2 [m == pos(k)]),  scale = 1/(2N tau). */
__kernel void sc_contrastive_ntxent_w(__global float *w, uint wo, __global const float *p, uint po,
                                      uint rows, uint nhalf, __global const float *gy, uint gyo,
                                      float scale)
{
    uint n = rows * rows;
    float c = gy[gyo] * scale;
    SC_FOR_EACH(e, n) {
        uint k = e / rows, m = e - k * rows;
        uint pos = k < nhalf ? k + nhalf : k - nhalf;
        float v = p[po + e] + p[po + (size_t)m * rows + k] - (m == pos ? 2.0f : 0.0f);
        w[wo + e] = c * v;
    }
}

/* ---- BarlowTwins ----------------------------------------------------------
 * c: the [d, d] cross-correlation. One work-group per row i:
 *   part[i] = (1 - c_ii)^2 + lambda * sum_{j != i} c_ij^2 */
__kernel __attribute__((reqd_work_group_size(SC_WG, 1, 1)))
void sc_contrastive_barlow_rows(__global const float *c, uint co, uint d, float lambda,
                                __global float *part, uint po)
{
    __local float buf[SC_WG];
    uint lid = (uint)get_local_id(0), i = (uint)get_group_id(0);
    __global const float *row = c + co + (size_t)i * d;
    float acc = 0.0f;
    for (uint j = lid; j < d; j += SC_WG) {
        float v = row[j];
        if (j != i)
            acc = fma(v * v, lambda, acc);
    }
    buf[lid] = acc;
    SC_LOCAL_REDUCE(buf, lid, SC_OP_SUM);
    if (lid == 0) {
        float t = 1.0f - row[i];
        part[po + i] = t * t + buf[0];
    }
}

/* dL/dC scaled by gy / N (the 1/N of C = Z1^T Z2 / N folded in):
 *   G_ij = gy * scale * 2 * (c_ii - 1)          on the diagonal
 *   G_ij = gy * scale * 2 * lambda * c_ij       off it */
__kernel void sc_contrastive_barlow_grad(__global float *gc, uint go, __global const float *c,
                                         uint co, uint d, float lambda, __global const float *gy,
                                         uint gyo, float scale)
{
    uint n = d * d;
    float s = 2.0f * gy[gyo] * scale;
    SC_FOR_EACH(e, n) {
        uint i = e / d, j = e - i * d;
        float v = c[co + e];
        gc[go + e] = i == j ? s * (v - 1.0f) : s * lambda * v;
    }
}

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

/* y [rows, k] = one-hot of lab (an index outside [0, k) gives a zero row). */
__kernel void sc_saliency_onehot(__global float *y, uint yo, __global const int *lab, uint lo,
                                 uint k, uint n)
{
    SC_FOR_EACH(e, n) {
        uint r = e / k, c = e - r * k;
        y[yo + e] = lab[lo + r] == (int)c ? 1.0f : 0.0f;
    }
}
