/* The kernels layer: one host file per kernel family, same stem
 * (src/kernels/conv.c <-> cl/conv.cl), as CLBlast pairs each routine with
 * its kernel file.
 *
 * Each function takes tensors and returns a status: it checks what the
 * kernel itself needs (dtype, 32-bit indices), derives the grid, sets the
 * arguments and enqueues. It knows nothing of the autodiff graph: the
 * differentiable ops of src/nn/ check shapes, call these and record nodes.
 * The context is the output tensor's. Outputs are caller-made tensors
 * (pooled temporaries or graph variables); the queue is in order, so an
 * input freed right after a call is never overwritten before the kernel
 * has read it.
 *
 * Kernel names follow their file: sc_<family>_<op>; the host function of
 * kernel sc_F_op is sc_k_F_op. The public float32 ops of
 * include/spurcl/ops.h (sc_op_add, sc_op_reduce, ...) live here too, as
 * does sc_augment_apply (include/spurcl/ssl.h). */
#ifndef SC_KERNELS_KERNELS_H
#define SC_KERNELS_KERNELS_H

#include "core/core.h"

/* The op codes of cl/math.cl, shared with it (SC_BOP_*, SC_UOP_*). */
#include "../../cl/sc_ops.h"

/* ---- helpers ------------------------------------------------------------ */

/* t's shape right-aligned to rank r (NumPy broadcasting), leading 1s. */
static inline void sc_k_align(const sc_tensor *t, int r, int64_t *out)
{
    int pad = r - t->ndim;
    for (int i = 0; i < r; i++)
        out[i] = i < pad ? 1 : t->shape[i - pad];
}

/* SC_OK when t starts at its buffer's start: the kernels that take a
 * scratch buffer (an unfolded input, a channel-major layout) pass it without
 * an offset; else an error naming op and what the buffer is. */
static inline sc_status sc_k_whole(const sc_tensor *t, const char *op, const char *what)
{
    return t->offset ? sc_error_set(SC_ERR_STATE, "%s: the %s buffer is a view with an offset",
                                    op, what)
                     : SC_OK;
}

/* t seen as [outer, len, inner] around axis ax (0 <= ax < rank). */
typedef struct sc_k_axis {
    uint32_t outer, len, inner;
} sc_k_axis;

sc_k_axis sc_k_axis_split(const sc_tensor *t, int ax);

/* True when `outputs` reductions of `len` elements each should run one
 * work-group per output rather than one work-item per output: the one
 * place every row-reducing kernel (sum_to, axis reductions, softmax, the
 * norms' statistics, NT-Xent's rows, row norms, saliency maxima) decides.
 * ctx->forms.rows (SPURCL_ROWS) forces either. Else a GPU takes groups
 * for long reductions too few to fill it with one work-item each; a CPU
 * device only when there are fewer reductions than compute units and each
 * is 4,096 long or more: PoCL runs a work-group on one thread, where the
 * lanes' strided visits and the tree's barriers lost to a work-item per
 * output at every shape measured (sum_to, NT-Xent's rows), and
 * sc_launch_1d spreads even a few work-items over the cores. Both orders
 * are fixed, so either way results repeat run to run. */
bool sc_k_use_group(const sc_context *ctx, size_t outputs, size_t len);

/* ---- math.cl: elementwise math (and the public sc_op_add, mul, scale,
 * axpy of spurcl/ops.h) ----------------------------------------------------- */

/* The names of the op codes ("add", "gelu''"), for messages. */
const char *sc_k_math_bop_name(int bop);
const char *sc_k_math_uop_name(int uop);

/* y = a (bop) b, a and b broadcast to y's shape (SC_BOP_COPY: y = a, b
 * NULL). Fails (SC_ERR_UNSUPPORTED) when the pattern needs more than four
 * collapsed dimensions. */
sc_status sc_k_math_binary(int bop, sc_tensor *y, const sc_tensor *a, const sc_tensor *b);
/* y = uop(x) with the scalar parameter p (scale, add, exponent). */
sc_status sc_k_math_unary(int uop, sc_tensor *y, const sc_tensor *x, float p);
/* y = gy where x > 0, else 0 (relu's backward); same element counts. */
sc_status sc_k_math_relu_mask(sc_tensor *y, const sc_tensor *gy, const sc_tensor *x);
/* y = gy * gelu'(x) (erf form), one kernel; same element counts. */
sc_status sc_k_math_gelu_backward(sc_tensor *y, const sc_tensor *gy, const sc_tensor *x);
/* The backward of that op given gg = dL/dy: dgy = gg * gelu'(x) and dx =
 * gg * gy * gelu''(x), one kernel; same element counts. */
sc_status sc_k_math_gelu_backward2(sc_tensor *dgy, sc_tensor *dx, const sc_tensor *gg,
                                   const sc_tensor *gy, const sc_tensor *x);
/* y = x summed over the axes where y (right-aligned) has extent 1. */
sc_status sc_k_math_sum_to(sc_tensor *y, const sc_tensor *x);
/* y = x with its axes permuted (rank <= 4): y.shape[i] = x.shape[perm[i]]. */
sc_status sc_k_math_permute(sc_tensor *y, const sc_tensor *x, const int *perm);

/* One GEMM operand: the tensor's buffer from its own offset plus `off`,
 * row-major with leading dimension ld, batch members `stride` apart. */
typedef struct sc_k_mat {
    const sc_tensor *t;
    size_t off, ld, stride;
} sc_k_mat;

/* ---- kernel forms: the tunable families' choices (core/forms.c) -------- */

/* True when the conv layout moves run a work-item per (n, o) row (the CPU
 * rule), false for a work-item per element; tuned on first use. */
bool sc_k_conv_layout_rows(const sc_context *ctx);
/* True when batch norm over [outer > 1, C, inner >= 8] runs the slice
 * kernels (the CPU rule), false for the channel kernels; tuned on first use. */
bool sc_k_norm_slices_form(const sc_context *ctx);

/* c = alpha * op(a) @ op(b) for each of `batch` members (m x k times k x n;
 * op transposes when ta / tb), through the GEMM providers of core/gemm.h. */
sc_status sc_k_gemm(bool ta, bool tb, size_t m, size_t n, size_t k, float alpha, sc_k_mat a,
                    sc_k_mat b, sc_k_mat c, size_t batch);

/* ---- conv.cl: im2col convolution's data movement ---------------------- */

typedef struct sc_k_conv_geom {
    int64_t n, c, h, w;     /* input */
    int64_t o, kh, kw;      /* weight [o, c, kh, kw] */
    int64_t s, p;           /* stride, padding */
    int64_t oh, ow;         /* output */
} sc_k_conv_geom;

/* col [C*KH*KW, N*OH*OW] (offset 0) <- x [N, C, H, W] */
sc_status sc_k_conv_im2col(sc_tensor *col, const sc_tensor *x, const sc_k_conv_geom *cg);
/* gx [N, C, H, W] <- the adjoint of im2col applied to col */
sc_status sc_k_conv_col2im(sc_tensor *gx, const sc_tensor *col, const sc_k_conv_geom *cg);
/* gT [O, N*OH*OW] <- gy [N, O, OH, OW] */
sc_status sc_k_conv_to_cnp(sc_tensor *gT, const sc_tensor *gy, const sc_k_conv_geom *cg);
/* y [N, O, OH, OW] <- yT [O, N*OH*OW] (+ b [O], may be NULL) */
sc_status sc_k_conv_from_cnp(sc_tensor *y, const sc_tensor *yT, const sc_tensor *b,
                             const sc_k_conv_geom *cg);

/* The most filter taps (C*KH*KW) sc_k_conv_filter_pooled takes: its sums
 * are private to a work-item. */
#define SC_K_CONV_POOLED_MAX_CKK 32
/* The filter gradient of a convolution a max pooling reads, per sample,
 * from the pooled gradient alone: part [N, O*C*KH*KW] (offset 0), part[n]
 * the terms of sample n of gw = gT @ col^T at gT's nonzeros (gT = gp
 * scattered to the convolution's output): gp and idx (int32, the argmaxes'
 * positions in the OH*OW plane) [N, O, OH', OW'], col [C*KH*KW, N*OH*OW]
 * (offset 0). The caller sums part over n. At most
 * SC_K_CONV_POOLED_MAX_CKK taps. */
sc_status sc_k_conv_filter_pooled(sc_tensor *part, const sc_tensor *gp, const sc_tensor *idx,
                                  const sc_tensor *col, const sc_k_conv_geom *cg);

/* ---- pool.c: k x k windows, stride s, no padding ---------------------- */

typedef struct sc_k_pool_geom {
    uint32_t planes, h, w, oh, ow, k, s; /* planes = N * C */
} sc_k_pool_geom;

/* The geometry over an input of shape [N, C, H, W] (H, W >= k >= 1,
 * s >= 1: checked by the caller). */
sc_k_pool_geom sc_k_pool_geom_of(const int64_t *shape, int k, int s);

/* y [N, C, OH, OW] = window maxima of x, idx (int32) = the position h*W + w
 * in the plane of each window's first maximal element. */
sc_status sc_k_pool_max_fwd(sc_tensor *y, sc_tensor *idx, const sc_tensor *x,
                            const sc_k_pool_geom *pg);
/* The same over xT [C, N, H, W] (a convolution's channel-major result,
 * offset 0), each element plus b [C] (may be NULL): y and idx
 * [N, C, OH, OW] as if pooling the convolution's [N, C, H, W] output;
 * pg->planes = N * C. */
sc_status sc_k_pool_max_fwd_cnp(sc_tensor *y, sc_tensor *idx, const sc_tensor *xT,
                                const sc_tensor *b, uint32_t n, const sc_k_pool_geom *pg);
/* gx [N, C, H, W] = the sum of gy over the windows whose argmax each
 * element is (the adjoint of the gather). */
sc_status sc_k_pool_max_scatter(sc_tensor *gx, const sc_tensor *gy, const sc_tensor *idx,
                                const sc_k_pool_geom *pg);
/* The same into gT [C, N*H*W] (a convolution's channel-major layout,
 * offset 0); pg->planes = N * C. */
sc_status sc_k_pool_max_scatter_cnp(sc_tensor *gT, const sc_tensor *gy, const sc_tensor *idx,
                                    uint32_t n, const sc_k_pool_geom *pg);
/* y [N, C, OH, OW] = x at idx. */
sc_status sc_k_pool_max_gather(sc_tensor *y, const sc_tensor *x, const sc_tensor *idx,
                               const sc_k_pool_geom *pg);
/* y = the window means of x; gx = its adjoint applied to gy. */
sc_status sc_k_pool_avg_fwd(sc_tensor *y, const sc_tensor *x, const sc_k_pool_geom *pg);
sc_status sc_k_pool_avg_bwd(sc_tensor *gx, const sc_tensor *gy, const sc_k_pool_geom *pg);

/* ---- attention.cl: fused scaled dot-product attention -------------------- */

/* The widest head (E or F) the fused kernels take: their rows are private
 * arrays of the head's width. */
#define SC_K_ATTN_MAX_HD 128

/* True when attention with head widths e (q, k) and f (v) runs fused:
 * only when ctx->forms.attention (SPURCL_ATTENTION) asks for the kernels
 * (tiles: key tiles staged in local memory, the GPU form; rows: read in
 * place, the CPU form) and both widths are at most SC_K_ATTN_MAX_HD. The
 * device's own choice is the composed ops (recorded, as a recorded
 * backward always is): on the 2-core EPYC (PoCL) the rows form's forward
 * is faster but its backward slower, even overall and within the noise
 * inside the ViT step, and slower in ULE's teacher
 * (bench/results/pocl-2core-epyc-6a5a972); no GPU has run them yet. */
bool sc_k_attention_fused(const sc_context *ctx, int64_t e, int64_t f);

/* q [B,T,H*E], k [B,S,H*E], v [B,S,H*F] (H = heads side by side in the
 * last axis, S >= 1): o [B,T,H*F] = softmax(scale q k^T) v per head, and
 * lse [B*H*T] the log-sum-exp of each query row's scores, which the
 * backward needs. */
sc_status sc_k_attention_forward(sc_tensor *o, sc_tensor *lse, const sc_tensor *q,
                                 const sc_tensor *k, const sc_tensor *v, int heads, float scale);

/* The gradients dq, dk, dv (shaped as q, k, v) of the forward above for the
 * cotangent go (shaped as o); dd [B*H*T] is scratch (rowsum(go * o)). */
sc_status sc_k_attention_backward(sc_tensor *dq, sc_tensor *dk, sc_tensor *dv, sc_tensor *dd,
                                  const sc_tensor *q, const sc_tensor *k, const sc_tensor *v,
                                  const sc_tensor *o, const sc_tensor *lse, const sc_tensor *go,
                                  int heads, float scale);

/* ---- softmax.cl: rows of the last axis ------------------------------------ */

/* y = softmax(x), or log_softmax(x) when logmode. */
sc_status sc_k_softmax_forward(sc_tensor *y, const sc_tensor *x, bool logmode);
/* z = y * (gy - sum(gy * y)) (y a softmax output). */
sc_status sc_k_softmax_backward(sc_tensor *z, const sc_tensor *y, const sc_tensor *gy);
/* z = gg * (gy - sum(gy * y)) - gy * sum(gg * y). */
sc_status sc_k_softmax_backward_y(sc_tensor *z, const sc_tensor *y, const sc_tensor *gy,
                                  const sc_tensor *gg);
/* loss [N] = logsumexp(x_i) - x_i[labels_i] for logits x [N, K] and int32
 * labels [N]; NaN for a sample whose label is outside [0, K). */
sc_status sc_k_softmax_cross_entropy(sc_tensor *loss, const sc_tensor *x,
                                     const sc_tensor *labels);

/* gx = gy - exp(y) * sum(gy) (y a log-softmax output): its backward. */
sc_status sc_k_softmax_log_backward(sc_tensor *gx, const sc_tensor *y, const sc_tensor *gy);
/* gx [N, K] = gy[i] * (softmax(x_i) - onehot(labels_i)): the backward of
 * sc_k_softmax_cross_entropy for the cotangent gy [N]; NaN rows for labels
 * outside [0, K). */
sc_status sc_k_softmax_cross_entropy_backward(sc_tensor *gx, const sc_tensor *x,
                                              const sc_tensor *labels, const sc_tensor *gy);

/* ---- norm.cl: layer and batch norm statistics ------------------------------ */

/* For x3 [outer, C, inner]: xh = (x - mean_c) * rstd_c, rstd [1, C, 1] =
 * 1 / sqrt(var_c + eps); with rm and rv (else NULL) also the running
 * statistics, PyTorch's rule with `momentum`. With y (else NULL; then w
 * and b are ignored) also y = xh * w + b in the same pass (either of w and b
 * may be NULL, not both): per_channel, batch norm's w and b [C]; else
 * layer norm's [inner]. */
sc_status sc_k_norm_forward(sc_tensor *xh, sc_tensor *rstd, const sc_tensor *x3, float eps,
                            sc_tensor *rm, sc_tensor *rv, float momentum, sc_tensor *y,
                            const sc_tensor *w, const sc_tensor *b, bool per_channel);
/* gx = rstd_c * (g - mean_c(g) - xh * mean_c(g * xh)) per channel of xh
 * [outer, C, inner], g = gy * w (w [C] when per_channel, else [inner]; or
 * NULL: g = gy); one kernel. The backward of xh (or of the affine y) with
 * respect to x when no graph is recorded. gx may be NULL when only the
 * per-channel sums are wanted: gw [C] = sum gy * xh and gb [C] = sum gy
 * (batch norm's affine gradients; each may be NULL; only with per_channel). */
sc_status sc_k_norm_backward(sc_tensor *gx, const sc_tensor *gy, const sc_tensor *xh,
                             const sc_tensor *rstd, const sc_tensor *w, bool per_channel,
                             sc_tensor *gw, sc_tensor *gb);
/* Layer norm's backward without recording, xh [1, rows, D]: gx (as
 * sc_k_norm_backward with w [D] or NULL) and gw, gb [D] (as
 * sc_k_norm_affine_grad; either may be NULL), reading gy and xh once on a
 * CPU device when the row kernels apply (D a multiple of 4, a work-item per
 * row), else by those two calls. */
sc_status sc_k_norm_backward_affine(sc_tensor *gx, sc_tensor *gw, sc_tensor *gb,
                                    const sc_tensor *gy, const sc_tensor *xh,
                                    const sc_tensor *rstd, const sc_tensor *w);
/* The backward of sc_k_norm_backward's rule without w, R = rstd_c * (u -
 * mean_c(u) - xh * mean_c(u * xh)), given gr = dL/dR: gu = dL/du and gxh =
 * dL/dxh (like xh [outer, C, inner]) and grstd = dL/drstd [1, C, 1], each
 * NULL when not wanted (not all three); one kernel (cl/norm.cl). */
sc_status sc_k_norm_rule_backward(sc_tensor *gu, sc_tensor *gxh, sc_tensor *grstd,
                                  const sc_tensor *gr, const sc_tensor *u, const sc_tensor *xh,
                                  const sc_tensor *rstd);
/* For gy and xh seen as [rows, D], D = numel of gw (or gb): gw = column
 * sums of gy * xh, gb = column sums of gy; either may be NULL. */
sc_status sc_k_norm_affine_grad(sc_tensor *gw, sc_tensor *gb, const sc_tensor *gy,
                                const sc_tensor *xh);

/* ---- shape.cl: concat, slice, pad along an axis ------------------------------ */

/* y = [a, b] along axis ax. */
sc_status sc_k_shape_concat(sc_tensor *y, const sc_tensor *a, const sc_tensor *b, int ax);
/* y = x[start : start + y.shape[ax]] along axis ax. */
sc_status sc_k_shape_slice(sc_tensor *y, const sc_tensor *x, int ax, int64_t start);
/* y = zeros with x placed at [start, start + x.shape[ax]) of axis ax. */
sc_status sc_k_shape_pad(sc_tensor *y, const sc_tensor *x, int ax, int64_t start);

/* ---- contrastive.cl --------------------------------------------------------- */

/* y = 1 / x where x > 0, else 0. */
sc_status sc_k_contrastive_safe_recip(sc_tensor *y, const sc_tensor *x);
/* y = max(x, lo) and mask = (x >= lo) (NaN kept). */
sc_status sc_k_contrastive_clamp_min(sc_tensor *y, sc_tensor *mask, const sc_tensor *x, float lo);
/* y [..., 1] = the L2 norm of each row of x over its last axis. */
sc_status sc_k_contrastive_row_norm(sc_tensor *y, const sc_tensor *x);
/* For the similarities s [2N, 2N] of the views (the positive of k is
 * k +- N): loss [2N] per anchor, and s overwritten by the softmax P. */
sc_status sc_k_contrastive_ntxent_rows(sc_tensor *loss, sc_tensor *s, float inv_tau);
/* w [2N, 2N] = gy * scale * (P + P^T - 2 [positive pairs]). */
sc_status sc_k_contrastive_ntxent_w(sc_tensor *w, const sc_tensor *p, const sc_tensor *gy,
                                    float scale);
/* part [D] = (1 - c_ii)^2 + lambda * sum_{j != i} c_ij^2 for c [D, D]. */
sc_status sc_k_contrastive_barlow_rows(sc_tensor *part, const sc_tensor *c, float lambda);
/* gc [D, D] = dL/dc times gy * scale. */
sc_status sc_k_contrastive_barlow_grad(sc_tensor *gc, const sc_tensor *c, const sc_tensor *gy,
                                       float lambda, float scale);

/* ---- saliency.cl: argmax over an axis, its scatter / gather, one-hot ----- */

/* y, idx (int32): the maximum of x over axis ax and its first index. */
sc_status sc_k_saliency_max(sc_tensor *y, sc_tensor *idx, const sc_tensor *x, int ax);
/* y [outer, len, inner] = g [outer, inner] at idx along len, else 0. */
sc_status sc_k_saliency_scatter(sc_tensor *y, const sc_tensor *g, const sc_tensor *idx,
                                uint32_t len, uint32_t inner);
/* y [outer, inner] = x [outer, len, inner] at idx. */
sc_status sc_k_saliency_gather(sc_tensor *y, const sc_tensor *x, const sc_tensor *idx,
                               uint32_t len, uint32_t inner);
/* y [N, K] = the one-hot rows of the int32 labels [N]; a label outside
 * [0, K) makes its row NaN. */
sc_status sc_k_saliency_one_hot(sc_tensor *y, const sc_tensor *labels);

/* ---- optim.cl ---------------------------------------------------------------- */

/* Work-groups (partial sums) per gradient of the global norm. */
#define SC_K_OPTIM_NORM_GROUPS 8

/* partials[slot * SC_K_OPTIM_NORM_GROUPS + j] = partial sums of g^2. */
sc_status sc_k_optim_sumsq(sc_tensor *partials, size_t slot, const sc_tensor *g);
/* SGD with momentum buffer buf (PyTorch's rule); the gradient times scale. */
sc_status sc_k_optim_sgd(sc_tensor *p, const sc_tensor *g, sc_tensor *buf, float lr,
                         float momentum, float wd, bool first, float scale);
/* AdamW with moments m, v; c1 = 1 - b1^t, c2sqrt = sqrt(1 - b2^t). */
sc_status sc_k_optim_adamw(sc_tensor *p, const sc_tensor *g, sc_tensor *m, sc_tensor *v,
                           float lr, float wd, float b1, float b2, float eps, float c1,
                           float c2sqrt, float scale);

#endif
