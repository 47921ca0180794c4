/* The op codes of cl/math.cl, shared by the kernels and their host.
 *
 *   BOP  selects sc_math_binary   (y = a op b, broadcasting)
 *   UOP  selects sc_math_unary    (y = op(x) with a scalar parameter p)
 *
 * This one file is read by both compilers: cl/math.cl has
 * `#include "sc_ops.h"` (src/core/program.c resolves it from the embedded
 * sources, or from $SPURCL_KERNEL_DIR with the family), and
 * src/kernels/kernels.h includes it for the host. So it holds preprocessor
 * macros only, valid C and OpenCL C alike.
 *
 * Adding an op: give it the next code, raise the COUNT, add its branch in
 * cl/math.cl and its name in src/kernels/math.c; the _Static_asserts there
 * pin both counts and the name tables' lengths, and cl/math.cl stops with
 * #error on a code outside [0, COUNT). */
#ifndef SC_OPS_H
#define SC_OPS_H

#define SC_BOP_ADD 0
#define SC_BOP_SUB 1
#define SC_BOP_MUL 2
#define SC_BOP_DIV 3
#define SC_BOP_COPY 4 /* y = a broadcast to y's shape (expand); b unused */
#define SC_BOP_COUNT 5

#define SC_UOP_RELU 0
#define SC_UOP_ABS 1
#define SC_UOP_SIGN 2   /* 0 at 0 */
#define SC_UOP_EXP 3
#define SC_UOP_LOG 4
#define SC_UOP_RSQRT 5
#define SC_UOP_GELU 6   /* x * Phi(x), the erf form */
#define SC_UOP_GELU2 7  /* gelu'' (gelu' is fused into GELU's backward kernels) */
#define SC_UOP_GELU3 8  /* gelu''' */
#define SC_UOP_SCALE 9  /* p * x */
#define SC_UOP_ADDS 10  /* x + p */
#define SC_UOP_POW 11   /* x^p (p an integer with |p| <= 8: -DPOW_INT=p) */
#define SC_UOP_COUNT 12

#endif
