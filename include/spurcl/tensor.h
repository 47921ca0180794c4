/* spurcl: N-dimensional device tensors (row-major, contiguous).
 *
 * A tensor is a shape, a dtype and a reference to a device buffer plus an
 * element offset into it. Buffers come from the context's pool: freeing a
 * tensor returns its buffer to the pool when the last tensor referring to
 * it is gone, so a loop that creates and frees the same shapes allocates
 * nothing new after its first iteration. Views (reshape, slices along the
 * first axis) share the buffer. */
#ifndef SPURCL_TENSOR_H
#define SPURCL_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "spurcl/device.h"
#include "spurcl/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SC_MAX_DIMS 6

typedef enum sc_dtype { SC_F32 = 0, SC_I32 = 1, SC_U8 = 2 } sc_dtype;

typedef struct sc_tensor sc_tensor;

SC_API size_t sc_dtype_size(sc_dtype dtype);
SC_API const char *sc_dtype_name(sc_dtype dtype);

/* Creates an uninitialised tensor. `ndim` may be 0 (a scalar). */
SC_API sc_status sc_tensor_create(sc_context *ctx, sc_dtype dtype, int ndim,
                                  const int64_t *shape, sc_tensor **out);
/* Same, filled with zeros. */
SC_API sc_status sc_tensor_zeros(sc_context *ctx, sc_dtype dtype, int ndim,
                                 const int64_t *shape, sc_tensor **out);
/* Creates a tensor and uploads `data` (numel * dtype size bytes). */
SC_API sc_status sc_tensor_from_host(sc_context *ctx, sc_dtype dtype, int ndim,
                                     const int64_t *shape, const void *data,
                                     sc_tensor **out);
/* NULL is allowed. */
SC_API void sc_tensor_free(sc_tensor *t);

/* A view of `t` with a new shape of the same element count (one entry may be
 * -1: inferred). The view shares the buffer and must be freed too. */
SC_API sc_status sc_tensor_reshape(sc_tensor *t, int ndim, const int64_t *shape,
                                   sc_tensor **out);
/* A view of rows [start, start + count) along axis 0. */
SC_API sc_status sc_tensor_slice(sc_tensor *t, int64_t start, int64_t count,
                                 sc_tensor **out);

/* Blocking copies between host and device (bytes = numel * dtype size). */
SC_API sc_status sc_tensor_upload(sc_tensor *t, const void *data);
SC_API sc_status sc_tensor_download(const sc_tensor *t, void *data);
/* Non-blocking upload: `data` must stay valid until the queue reaches it
 * (sc_context_finish, or a later blocking call). */
SC_API sc_status sc_tensor_upload_async(sc_tensor *t, const void *data);

/* dst <- src (same dtype and element count; shapes may differ). */
SC_API sc_status sc_tensor_copy(sc_tensor *dst, const sc_tensor *src);
/* Every element <- value (converted to the tensor's dtype). */
SC_API sc_status sc_tensor_fill(sc_tensor *t, double value);

SC_API sc_context *sc_tensor_context(const sc_tensor *t);
SC_API sc_dtype sc_tensor_dtype(const sc_tensor *t);
SC_API int sc_tensor_ndim(const sc_tensor *t);
SC_API int64_t sc_tensor_dim(const sc_tensor *t, int axis); /* negative axis counts from the end */
SC_API const int64_t *sc_tensor_shape(const sc_tensor *t);
SC_API int64_t sc_tensor_numel(const sc_tensor *t);
/* Writes "[2, 3, 4]" into buf. */
SC_API const char *sc_tensor_shape_str(const sc_tensor *t, char *buf, size_t size);

/* Buffer pool statistics of a context. */
typedef struct sc_pool_stats {
    uint64_t buffers_allocated;  /* cl_mem objects created, ever */
    uint64_t buffers_live;       /* cl_mem objects existing now */
    uint64_t bytes_live;         /* their total size */
    uint64_t bytes_in_use;       /* of which held by tensors */
    uint64_t bytes_peak;         /* largest bytes_in_use seen */
    uint64_t reuses;             /* requests served from the free lists */
} sc_pool_stats;

SC_API void sc_pool_get_stats(const sc_context *ctx, sc_pool_stats *stats);
/* Starts a new peak: bytes_peak becomes bytes_in_use (a benchmark's peak
 * per measured step). */
SC_API void sc_pool_reset_peak(sc_context *ctx);
/* Releases every free (unused) pooled buffer to the driver. */
SC_API void sc_pool_trim(sc_context *ctx);

#ifdef __cplusplus
}
#endif
#endif
