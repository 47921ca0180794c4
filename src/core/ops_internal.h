/* Internal helpers shared by the host wrappers of kernels. */
#ifndef SC_CORE_OPS_INTERNAL_H
#define SC_CORE_OPS_INTERNAL_H

#include "core/core.h"

sc_status sc_op_fill_f32(sc_tensor *t, float v);

/* Checks that t is float32 and addressable with 32-bit indices. */
sc_status sc_check_f32(const sc_tensor *t, const char *op, const char *name);

/* A 1-D grid for a grid-stride kernel over n elements. */
size_t sc_grid_1d(const sc_context *ctx, size_t n);

#endif
