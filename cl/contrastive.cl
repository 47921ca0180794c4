/* Contrastive losses (NT-Xent, BarlowTwins) and row norms. Host side:
 * src/kernels/contrastive.c.
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

/* The same, a work-item per anchor (a CPU device): the row's exps in a map
 * loop of their own (PoCL keeps a loop with a sum scalar, and the
 * work-group form's barriers and tree cost it 40 ns per element), the
 * maximum and the negatives' sum in order along the row. The same values
 * up to the order of those sums. */
__kernel void sc_contrastive_ntxent_rows_serial(__global float *s, uint so, uint rows, uint nhalf,
                                                float inv_tau, __global float *loss, uint lo)
{
    SC_EACH(k, rows) {
        __global float *row = s + so + (size_t)k * rows;
        uint pos = k < nhalf ? k + nhalf : k - nhalf;
        float spos = row[pos] * inv_tau;
        float m = -INFINITY;
        for (uint j = 0; j < rows; j++)
            if (j != k)
                m = fmax(m, row[j] * inv_tau);
        for (uint j = 0; j < rows; j++)
            row[j] = exp(row[j] * inv_tau - m);
        float neg = 0.0f;
        for (uint j = 0; j < rows; j++)
            if (j != k && j != pos)
                neg += row[j];
        float d = m - spos, epos = exp(-d), sum = epos + neg;
        float rsum = 1.0f / sum;
        for (uint j = 0; j < rows; j++)
            row[j] = j == k ? 0.0f : row[j] * rsum;
        loss[lo + k] = d < 60.0f ? log1p(neg / epos) : d + log(sum);
    }
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
 * c: the [d, d] cross-correlation. Per row i:
 *   part[i] = (1 - c_ii)^2 + lambda * sum_{j != i} c_ij^2
 * in two forms (the host picks, sc_k_use_group): a work-group per row, or
 * a work-item per row adding its terms in order j = 0, 1, ... */
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

__kernel void sc_contrastive_barlow_rows_serial(__global const float *c, uint co, uint d,
                                                float lambda, __global float *part, uint po)
{
    SC_EACH(i, d) {
        __global const float *row = c + co + (size_t)i * d;
        float acc = 0.0f;
        for (uint j = 0; j < d; j++) {
            float v = row[j];
            if (j != i)
                acc = fma(v * v, lambda, acc);
        }
        float t = 1.0f - row[i];
        part[po + i] = t * t + acc;
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
