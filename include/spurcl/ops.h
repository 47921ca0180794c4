/* spurcl: basic tensor operations on the device (float32).
 *
 * Outputs are caller-created tensors; outputs may alias inputs. Element
 * counts must match (shapes may differ: these ops are shape-agnostic).
 * Reductions are deterministic: fixed decomposition and order, no atomics. */
#ifndef SPURCL_OPS_H
#define SPURCL_OPS_H

#include "spurcl/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* y = a + b */
SC_API sc_status sc_op_add(sc_tensor *y, const sc_tensor *a, const sc_tensor *b);
/* y = a * b (elementwise) */
SC_API sc_status sc_op_mul(sc_tensor *y, const sc_tensor *a, const sc_tensor *b);
/* y = alpha * a */
SC_API sc_status sc_op_scale(sc_tensor *y, const sc_tensor *a, float alpha);
/* y = alpha * x + y */
SC_API sc_status sc_op_axpy(sc_tensor *y, float alpha, const sc_tensor *x);

typedef enum sc_reduce_op { SC_REDUCE_SUM = 0, SC_REDUCE_MAX = 1, SC_REDUCE_MEAN = 2 } sc_reduce_op;

/* out (one element) = reduction of every element of x. */
SC_API sc_status sc_op_reduce(sc_tensor *out, const sc_tensor *x, sc_reduce_op op);
/* Reduces axis `axis` (negative counts from the end): out has x's shape
 * without that axis (any shape with that element count is accepted). */
SC_API sc_status sc_op_reduce_axis(sc_tensor *out, const sc_tensor *x, int axis, sc_reduce_op op);

#ifdef __cplusplus
}
#endif
#endif
