/* Strided copies of concat, slice and its zero-padded adjoint, on tensors
 * seen as [outer, width] (width = the extent of the axis times the extent of
 * the axes after it). Host side: src/kernels/shape.c. */

/* y[o, :] = [a[o, 0:wa], b[o, 0:wb]] */
__kernel void sc_shape_concat(__global float *restrict y, uint yo,
                              __global const float *restrict a, uint ao,
                              __global const float *restrict b, uint bo, uint outer, uint wa,
                              uint wb)
{
    uint w = wa + wb;
    SC_FOR_EACH(i, outer * w) {
        uint o = i / w, j = i - o * w;
        y[yo + i] = j < wa ? a[ao + o * wa + j] : b[bo + o * wb + (j - wa)];
    }
}

/* y[o, 0:w] = x[o, start:start + w] of x [outer, width] */
__kernel void sc_shape_slice(__global float *restrict y, uint yo, __global const float *restrict x,
                             uint xo, uint outer, uint width, uint start, uint w)
{
    SC_FOR_EACH(i, outer * w) {
        uint o = i / w, j = i - o * w;
        y[yo + i] = x[xo + o * width + start + j];
    }
}

/* y [outer, width] = x [outer, w] placed at columns start:start + w, zeros
 * elsewhere (the adjoint of sc_shape_slice). */
__kernel void sc_shape_pad(__global float *restrict y, uint yo, __global const float *restrict x,
                           uint xo, uint outer, uint width, uint start, uint w)
{
    SC_FOR_EACH(i, outer * width) {
        uint o = i / width, j = i - o * width;
        y[yo + i] = (j >= start && j - start < w) ? x[xo + o * w + (j - start)] : 0.0f;
    }
}
