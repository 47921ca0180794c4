/* Elementwise float32 kernels. Every tensor argument is (buffer, element
 * offset); outputs may alias inputs (each element is read and written by
 * the same work-item). */

__kernel void sc_elementwise_fill(__global float *y, uint yo, uint n, float v)
{
    SC_FOR_EACH(i, n) y[yo + i] = v;
}

__kernel void sc_elementwise_add(__global float *y, uint yo, __global const float *a, uint ao,
                                 __global const float *b, uint bo, uint n)
{
    SC_FOR_EACH(i, n) y[yo + i] = a[ao + i] + b[bo + i];
}

__kernel void sc_elementwise_mul(__global float *y, uint yo, __global const float *a, uint ao,
                                 __global const float *b, uint bo, uint n)
{
    SC_FOR_EACH(i, n) y[yo + i] = a[ao + i] * b[bo + i];
}

__kernel void sc_elementwise_scale(__global float *y, uint yo, __global const float *a, uint ao,
                                   uint n, float alpha)
{
    SC_FOR_EACH(i, n) y[yo + i] = alpha * a[ao + i];
}

/* y <- alpha * x + y */
__kernel void sc_elementwise_axpy(__global float *y, uint yo, __global const float *x, uint xo,
                                  uint n, float alpha)
{
    SC_FOR_EACH(i, n) y[yo + i] = fma(alpha, x[xo + i], y[yo + i]);
}
