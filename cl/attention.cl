/* Fused scaled dot-product attention, forward and backward, flash-style:
 * the scores and probabilities of a query row are never written to memory.
 * Host side: src/kernels/attention.c; the op (and its composed path for
 * recorded backward passes) in src/nn/ops_attention.c.
 *
 * Layout: H heads side by side in the last axis (timm's, before the head
 * split): q and k [B, T or S, H*E], v [B, S, H*F], o [B, T, H*F]; head h
 * of batch b (bh = b*H + h) reads columns h*E .. h*E + E - 1 of its rows.
 * With H = 1 this is plain [B, T, E] attention. The head widths are
 * compile-time constants (-DSC_ATTN_E=, -DSC_ATTN_F=, one program per
 * pair): the rows a work-item keeps are private arrays of exactly that
 * size and every loop over them has a constant bound.
 *
 * Grid: (rows rounded up to the work-group size, B*H); a work-item owns one
 * row (a query row forward and in the q backward, a key row in the k/v
 * backward). The work-group walks the other side in tiles of SC_ATTN_TILE
 * rows (staged in local memory on GPUs, SC_ATTN_STAGE), with the running
 * maximum rescaled once per tile (online softmax). Within a work-item the
 * work is vector code: the row products in vectors of the widest of 16, 8,
 * 4 lanes that divides the head width, and the exps of a whole tile in
 * float16s (PoCL runs a work-item's scalar exp as a library call: one exp
 * per score made the forward 2x slower than the composed path on a CPU).
 * Every sum has a fixed order: the same input gives the same bits run to
 * run.
 *
 * Forward writes o and lse = log sum_j exp(s_ij) per query row (s = scale *
 * q k^T). Backward, with P = exp(s - lse) recomputed, dO the cotangent and
 * D_i = dO_i . o_i:
 *   dS_ij = P_ij (dO_i . v_j - D_i)
 *   dq_i = scale sum_j dS_ij k_j          (sc_attention_backward_q, also D)
 *   dk_j = scale sum_i dS_ij q_i,
 *   dv_j = sum_i P_ij dO_i                (sc_attention_backward_kv) */

#ifndef SC_ATTN_E
#define SC_ATTN_E 16
#endif
#ifndef SC_ATTN_F
#define SC_ATTN_F 16
#endif
#define SC_ATTN_TILE 32 /* a multiple of 16 */
#ifndef SC_ATTN_STAGE
#define SC_ATTN_STAGE 1
#endif

#define ATTN_CAT_(a, b) a##b
#define ATTN_CAT(a, b) ATTN_CAT_(a, b)

/* The vector width of a head width: the widest of 16, 8, 4, 1 dividing it. */
#if SC_ATTN_E % 16 == 0
#define ATTN_EV 16
#elif SC_ATTN_E % 8 == 0
#define ATTN_EV 8
#elif SC_ATTN_E % 4 == 0
#define ATTN_EV 4
#else
#define ATTN_EV 1
#endif
#if SC_ATTN_F % 16 == 0
#define ATTN_FV 16
#elif SC_ATTN_F % 8 == 0
#define ATTN_FV 8
#elif SC_ATTN_F % 4 == 0
#define ATTN_FV 4
#else
#define ATTN_FV 1
#endif

#define ATTN_T1 float
#define ATTN_T4 float4
#define ATTN_T8 float8
#define ATTN_T16 float16
#define attn_load1(p) (*(p))
#define attn_load4(p) vload4(0, p)
#define attn_load8(p) vload8(0, p)
#define attn_load16(p) vload16(0, p)
#define attn_store1(x, p) (*(p) = (x))
#define attn_store4(x, p) vstore4(x, 0, p)
#define attn_store8(x, p) vstore8(x, 0, p)
#define attn_store16(x, p) vstore16(x, 0, p)
inline float attn_hsum1(float x) { return x; }
inline float attn_hsum4(float4 x) { return (x.x + x.y) + (x.z + x.w); }
inline float attn_hsum8(float8 x) { return attn_hsum4(x.lo + x.hi); }
inline float attn_hsum16(float16 x) { return attn_hsum8(x.lo + x.hi); }

#define ATTN_VE ATTN_CAT(ATTN_T, ATTN_EV)
#define ATTN_VF ATTN_CAT(ATTN_T, ATTN_FV)
#define ATTN_NE (SC_ATTN_E / ATTN_EV)
#define ATTN_NF (SC_ATTN_F / ATTN_FV)

/* A row kept by a work-item is an array of n vectors of VW lanes (with
 * constant indices once the loops unroll: registers). */

/* res = a . b: a an array of n vectors of VW, b a row (any address space). */
#define ATTN_DOT(res, a, b, n, VW)                                             \
    do {                                                                       \
        ATTN_CAT(ATTN_T, VW) acc_ = (a)[0] * ATTN_CAT(attn_load, VW)(b);       \
        for (uint c_ = 1; c_ < (n); c_++)                                      \
            acc_ += (a)[c_] * ATTN_CAT(attn_load, VW)((b) + c_ * (VW));        \
        (res) = ATTN_CAT(attn_hsum, VW)(acc_);                                 \
    } while (0)

/* y += alpha * x: y an array of n vectors of VW, x a row. */
#define ATTN_AXPY(y, alpha, x, n, VW)                                          \
    for (uint c_ = 0; c_ < (n); c_++)                                          \
        (y)[c_] += (alpha) * ATTN_CAT(attn_load, VW)((x) + c_ * (VW))

/* y = alpha * x for the row x (n vectors of VW), or 0 */
#define ATTN_LOADROW(y, x, alpha, n, VW)                                       \
    for (uint c_ = 0; c_ < (n); c_++)                                          \
        (y)[c_] = (alpha) * ATTN_CAT(attn_load, VW)((x) + c_ * (VW))
#define ATTN_ZERO(y, n)                                                        \
    for (uint c_ = 0; c_ < (n); c_++)                                          \
        (y)[c_] = 0.0f
#define ATTN_STOREROW(x, y, alpha, n, VW)                                      \
    for (uint c_ = 0; c_ < (n); c_++)                                          \
        ATTN_CAT(attn_store, VW)((alpha) * (y)[c_], (x) + c_ * (VW))

/* Row r of head bh: a pointer to its `width` columns in a tensor of `rows`
 * rows per batch element and H heads of `width` each. */
#define ATTN_ROW(base, off, bh, H, rows, r, width)                             \
    ((base) + (off) + ((size_t)((bh) / (H)) * (rows) + (r)) * (size_t)(H) * (width) \
     + (size_t)((bh) % (H)) * (width))

/* A tile of rows r0 .. r0 + n - 1 of head bh (width columns): `name` points
 * at its first row and name_ld is its row stride. With SC_ATTN_STAGE (GPUs)
 * the work-group first copies it into local memory (lbuf, row-major),
 * between barriers; without (CPUs: PoCL runs a work-group on one thread,
 * whose cache holds the tile anyway, and barriers split the kernel into
 * work-item loops that keep every private array in memory) the rows are
 * read in place. */
#if SC_ATTN_STAGE
#define ATTN_LOCAL(decl) __local float decl
#define ATTN_SYNC() barrier(CLK_LOCAL_MEM_FENCE)
#define ATTN_TILE(name, lbuf, src, off, rows, r0, n, width)                    \
    attn_stage(lbuf, src, off, bh, H, rows, r0, n, width);                     \
    ATTN_SYNC();                                                               \
    __local const float *name = (lbuf);                                        \
    const uint name##_ld = (width)
#else
#define ATTN_LOCAL(decl)
#define ATTN_SYNC()
#define ATTN_TILE(name, lbuf, src, off, rows, r0, n, width)                    \
    __global const float *name = ATTN_ROW(src, off, bh, H, rows, r0, width);   \
    const uint name##_ld = H * (width)
#endif

/* Stages rows r0 .. r0 + n - 1 of head bh (width columns) into local
 * memory, row-major; the work-group copies together. */
inline void attn_stage(__local float *dst, __global const float *src, uint off, uint bh, uint H,
                       uint rows, uint r0, uint n, uint width)
{
    const uint lid = (uint)get_local_id(0), wg = (uint)get_local_size(0);
    for (uint idx = lid; idx < n * width; idx += wg) {
        uint r = idx / width, c = idx - r * width;
        dst[idx] = ATTN_ROW(src, off, bh, H, rows, r0 + r, width)[c];
    }
}

/* s[j] = row . tile row j for the tile's n rows, -inf for the rest (exp
 * gives 0): the scores of a work-item's row against a tile (`tile` and
 * tile_ld as ATTN_TILE declares them; row an array of ATTN_N vectors). */
#define ATTN_SCORES(s, row, tile, n, N, VW)                                    \
    for (uint j_ = 0; j_ < SC_ATTN_TILE; j_++) {                               \
        if (j_ < (n))                                                          \
            ATTN_DOT((s)[j_], row, tile + j_ * tile##_ld, N, VW);              \
        else                                                                   \
            (s)[j_] = -INFINITY;                                               \
    }

/* x[j] = exp(x[j] - m) over a tile, in float16s; returns the sum. */
inline float attn_exp_tile(float *x, float m)
{
    float l = 0.0f;
    for (uint c = 0; c < SC_ATTN_TILE; c += 16) {
        float16 p = exp(vload16(0, x + c) - m);
        vstore16(p, 0, x + c);
        l += attn_hsum16(p);
    }
    return l;
}

/* o [B,T,H*F] and lse [B*H*T] of q [B,T,H*E], k [B,S,H*E], v [B,S,H*F]. */
__kernel void sc_attention_forward(__global float *o, uint oo, __global float *lse, uint lo,
                                   __global const float *q, uint qo, __global const float *k,
                                   uint ko, __global const float *v, uint vo, uint T, uint S,
                                   uint H, float scale)
{
    ATTN_LOCAL(ks[SC_ATTN_TILE * SC_ATTN_E]);
    ATTN_LOCAL(vs[SC_ATTN_TILE * SC_ATTN_F]);
    const uint i = (uint)get_global_id(0), bh = (uint)get_global_id(1);
    const bool live = i < T;
    ATTN_VE qr[ATTN_NE];
    ATTN_VF acc[ATTN_NF];
    float s[SC_ATTN_TILE];
    if (live)
        ATTN_LOADROW(qr, ATTN_ROW(q, qo, bh, H, T, i, SC_ATTN_E), scale, ATTN_NE, ATTN_EV);
    ATTN_ZERO(acc, ATTN_NF);
    float m = -INFINITY, l = 0.0f;
    for (uint j0 = 0; j0 < S; j0 += SC_ATTN_TILE) {
        const uint n = min((uint)SC_ATTN_TILE, S - j0);
        ATTN_SYNC(); /* the previous tile is read */
        ATTN_TILE(kt, ks, k, ko, S, j0, n, SC_ATTN_E);
        ATTN_TILE(vt, vs, v, vo, S, j0, n, SC_ATTN_F);
        if (live) {
            ATTN_SCORES(s, qr, kt, n, ATTN_NE, ATTN_EV);
            float mt = m;
            for (uint j = 0; j < n; j++)
                mt = fmax(mt, s[j]);
            float c = exp(m - mt); /* 0 on the first tile: m = -inf */
            l = l * c + attn_exp_tile(s, mt);
            for (uint f = 0; f < ATTN_NF; f++)
                acc[f] *= c;
            for (uint j = 0; j < n; j++)
                ATTN_AXPY(acc, s[j], vt + j * vt_ld, ATTN_NF, ATTN_FV);
            m = mt;
        }
    }
    if (live) {
        ATTN_STOREROW(ATTN_ROW(o, oo, bh, H, T, i, SC_ATTN_F), acc, 1.0f / l, ATTN_NF, ATTN_FV);
        lse[lo + (size_t)bh * T + i] = m + log(l);
    }
}

/* dq [B,T,H*E] and D [B*H*T] = rowsum(dO * o), from the forward's o, lse
 * and the cotangent go [B,T,H*F]. */
__kernel void sc_attention_backward_q(__global float *dq, uint dqo, __global float *dd, uint ddo,
                                      __global const float *q, uint qo, __global const float *k,
                                      uint ko, __global const float *v, uint vo,
                                      __global const float *o, uint oo, __global const float *lse,
                                      uint lo, __global const float *go, uint goo, uint T, uint S,
                                      uint H, float scale)
{
    ATTN_LOCAL(ks[SC_ATTN_TILE * SC_ATTN_E]);
    ATTN_LOCAL(vs[SC_ATTN_TILE * SC_ATTN_F]);
    const uint i = (uint)get_global_id(0), bh = (uint)get_global_id(1);
    const bool live = i < T;
    ATTN_VE qr[ATTN_NE], acc[ATTN_NE];
    ATTN_VF gr[ATTN_NF];
    float s[SC_ATTN_TILE];
    float di = 0.0f, li = 0.0f;
    if (live) {
        ATTN_LOADROW(qr, ATTN_ROW(q, qo, bh, H, T, i, SC_ATTN_E), scale, ATTN_NE, ATTN_EV);
        ATTN_LOADROW(gr, ATTN_ROW(go, goo, bh, H, T, i, SC_ATTN_F), 1.0f, ATTN_NF, ATTN_FV);
        ATTN_DOT(di, gr, ATTN_ROW(o, oo, bh, H, T, i, SC_ATTN_F), ATTN_NF, ATTN_FV);
        li = lse[lo + (size_t)bh * T + i];
    }
    ATTN_ZERO(acc, ATTN_NE);
    for (uint j0 = 0; j0 < S; j0 += SC_ATTN_TILE) {
        const uint n = min((uint)SC_ATTN_TILE, S - j0);
        ATTN_SYNC();
        ATTN_TILE(kt, ks, k, ko, S, j0, n, SC_ATTN_E);
        ATTN_TILE(vt, vs, v, vo, S, j0, n, SC_ATTN_F);
        if (live) {
            ATTN_SCORES(s, qr, kt, n, ATTN_NE, ATTN_EV);
            attn_exp_tile(s, li); /* s = P */
            for (uint j = 0; j < n; j++) {
                float dp;
                ATTN_DOT(dp, gr, vt + j * vt_ld, ATTN_NF, ATTN_FV);
                ATTN_AXPY(acc, s[j] * (dp - di), kt + j * kt_ld, ATTN_NE, ATTN_EV);
            }
        }
    }
    if (live) {
        ATTN_STOREROW(ATTN_ROW(dq, dqo, bh, H, T, i, SC_ATTN_E), acc, scale, ATTN_NE, ATTN_EV);
        dd[ddo + (size_t)bh * T + i] = di;
    }
}

/* dk [B,S,H*E] and dv [B,S,H*F], with D from sc_attention_backward_q. */
__kernel void sc_attention_backward_kv(__global float *dk, uint dko, __global float *dv, uint dvo,
                                       __global const float *q, uint qo,
                                       __global const float *k, uint ko,
                                       __global const float *v, uint vo,
                                       __global const float *lse, uint lo,
                                       __global const float *dd, uint ddo,
                                       __global const float *go, uint goo, uint T, uint S,
                                       uint H, float scale)
{
    ATTN_LOCAL(qs[SC_ATTN_TILE * SC_ATTN_E]);
    ATTN_LOCAL(gs[SC_ATTN_TILE * SC_ATTN_F]);
    const uint j = (uint)get_global_id(0), bh = (uint)get_global_id(1);
    const bool live = j < S;
    ATTN_VE kr[ATTN_NE], ak[ATTN_NE];
    ATTN_VF vr[ATTN_NF], av[ATTN_NF];
    float s[SC_ATTN_TILE];
    if (live) {
        ATTN_LOADROW(kr, ATTN_ROW(k, ko, bh, H, S, j, SC_ATTN_E), scale, ATTN_NE, ATTN_EV);
        ATTN_LOADROW(vr, ATTN_ROW(v, vo, bh, H, S, j, SC_ATTN_F), 1.0f, ATTN_NF, ATTN_FV);
    }
    ATTN_ZERO(ak, ATTN_NE);
    ATTN_ZERO(av, ATTN_NF);
    for (uint i0 = 0; i0 < T; i0 += SC_ATTN_TILE) {
        const uint n = min((uint)SC_ATTN_TILE, T - i0);
        ATTN_SYNC();
        ATTN_TILE(qt, qs, q, qo, T, i0, n, SC_ATTN_E);
        ATTN_TILE(gt, gs, go, goo, T, i0, n, SC_ATTN_F);
        if (live) {
            __global const float *lp = lse + lo + (size_t)bh * T + i0;
            __global const float *dp = dd + ddo + (size_t)bh * T + i0;
            for (uint r = 0; r < n; r++) {
                ATTN_DOT(s[r], kr, qt + r * qt_ld, ATTN_NE, ATTN_EV);
                s[r] -= lp[r];
            }
            for (uint r = n; r < SC_ATTN_TILE; r++)
                s[r] = -INFINITY;
            attn_exp_tile(s, 0.0f); /* s = P */
            for (uint r = 0; r < n; r++) {
                float g;
                ATTN_DOT(g, vr, gt + r * gt_ld, ATTN_NF, ATTN_FV);
                ATTN_AXPY(av, s[r], gt + r * gt_ld, ATTN_NF, ATTN_FV);
                ATTN_AXPY(ak, s[r] * (g - dp[r]), qt + r * qt_ld, ATTN_NE, ATTN_EV);
            }
        }
    }
    if (live) {
        ATTN_STOREROW(ATTN_ROW(dk, dko, bh, H, S, j, SC_ATTN_E), ak, scale, ATTN_NE, ATTN_EV);
        ATTN_STOREROW(ATTN_ROW(dv, dvo, bh, H, S, j, SC_ATTN_F), av, 1.0f, ATTN_NF, ATTN_FV);
    }
}
