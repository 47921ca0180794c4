/* Device tensors over pooled buffers. */
#include "core/core.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t sc_dtype_size(sc_dtype dtype)
{
    switch (dtype) {
    case SC_F32: return 4;
    case SC_I32: return 4;
    case SC_U8: return 1;
    }
    return 0;
}

const char *sc_dtype_name(sc_dtype dtype)
{
    switch (dtype) {
    case SC_F32: return "float32";
    case SC_I32: return "int32";
    case SC_U8: return "uint8";
    }
    return "unknown";
}

sc_status sc_check_f32(const sc_tensor *t, const char *op, const char *name)
{
    if (t->dtype != SC_F32)
        return sc_error_set(SC_ERR_INVALID_ARG, "%s: %s must be float32, not %s", op, name,
                            sc_dtype_name(t->dtype));
    if ((uint64_t)t->numel + t->offset > UINT_MAX)
        return sc_error_set(SC_ERR_UNSUPPORTED, "%s: %s has %" PRId64 " elements (limit %u)", op,
                            name, t->numel, UINT_MAX);
    return SC_OK;
}

sc_status sc_check_distinct(const char *op, const sc_tensor *out, int n,
                            const sc_tensor *const *in)
{
    for (int i = 0; i < n; i++)
        if (in[i] && in[i]->buf == out->buf)
            return sc_error_set(SC_ERR_STATE,
                                "%s: the output shares its buffer with input %d (the kernel "
                                "needs distinct buffers)",
                                op, i + 1);
    return SC_OK;
}

static sc_status check_shape(int ndim, const int64_t *shape, int64_t *numel)
{
    if (ndim < 0 || ndim > SC_MAX_DIMS)
        return sc_error_set(SC_ERR_INVALID_ARG, "tensor rank %d is outside [0, %d]", ndim,
                            SC_MAX_DIMS);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return sc_error_set(SC_ERR_INVALID_ARG, "tensor dimension %d is negative (%" PRId64 ")",
                                i, shape[i]);
        if (shape[i] && n > INT64_MAX / shape[i])
            return sc_error_set(SC_ERR_INVALID_ARG, "tensor shape overflows");
        n *= shape[i];
    }
    *numel = n;
    return SC_OK;
}

sc_status sc_tensor_create(sc_context *ctx, sc_dtype dtype, int ndim, const int64_t *shape,
                           sc_tensor **out)
{
    *out = NULL;
    int64_t numel = 0;
    SC_TRY(check_shape(ndim, shape, &numel));
    if (!sc_dtype_size(dtype))
        return sc_error_set(SC_ERR_INVALID_ARG, "unknown dtype %d", (int)dtype);
    sc_tensor *t = calloc(1, sizeof *t);
    if (!t)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (tensor)");
    t->ctx = ctx;
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    t->numel = numel;
    sc_status st = sc_pool_acquire(ctx->pool, (size_t)numel * sc_dtype_size(dtype), &t->buf);
    if (st != SC_OK) {
        free(t);
        return st;
    }
    *out = t;
    return SC_OK;
}

sc_status sc_tensor_zeros(sc_context *ctx, sc_dtype dtype, int ndim, const int64_t *shape,
                          sc_tensor **out)
{
    SC_TRY(sc_tensor_create(ctx, dtype, ndim, shape, out));
    sc_status st = sc_tensor_fill(*out, 0.0);
    if (st != SC_OK) {
        sc_tensor_free(*out);
        *out = NULL;
    }
    return st;
}

sc_status sc_tensor_from_host(sc_context *ctx, sc_dtype dtype, int ndim, const int64_t *shape,
                              const void *data, sc_tensor **out)
{
    SC_TRY(sc_tensor_create(ctx, dtype, ndim, shape, out));
    sc_status st = sc_tensor_upload(*out, data);
    if (st != SC_OK) {
        sc_tensor_free(*out);
        *out = NULL;
    }
    return st;
}

void sc_tensor_free(sc_tensor *t)
{
    if (!t)
        return;
    sc_pool_release(t->ctx->pool, t->buf);
    free(t);
}

static sc_status make_view(sc_tensor *t, int ndim, const int64_t *shape, size_t offset,
                           sc_tensor **out)
{
    sc_tensor *v = calloc(1, sizeof *v);
    if (!v)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (tensor view)");
    *v = *t;
    v->ndim = ndim;
    v->numel = 1;
    for (int i = 0; i < ndim; i++) {
        v->shape[i] = shape[i];
        v->numel *= shape[i];
    }
    v->offset = offset;
    v->buf->refs++;
    *out = v;
    return SC_OK;
}

sc_status sc_tensor_reshape(sc_tensor *t, int ndim, const int64_t *shape, sc_tensor **out)
{
    *out = NULL;
    if (ndim < 0 || ndim > SC_MAX_DIMS)
        return sc_error_set(SC_ERR_INVALID_ARG, "reshape: rank %d is outside [0, %d]", ndim,
                            SC_MAX_DIMS);
    int64_t s[SC_MAX_DIMS];
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < ndim; i++) {
        s[i] = shape[i];
        if (s[i] == -1) {
            if (infer >= 0)
                return sc_error_set(SC_ERR_INVALID_ARG, "reshape: more than one -1 dimension");
            infer = i;
        } else if (s[i] < 0) {
            return sc_error_set(SC_ERR_INVALID_ARG, "reshape: negative dimension %" PRId64, s[i]);
        } else {
            known *= s[i];
        }
    }
    if (infer >= 0) {
        if (known == 0 || t->numel % known)
            goto mismatch;
        s[infer] = t->numel / known;
        known *= s[infer];
    }
    if (known != t->numel)
        goto mismatch;
    return make_view(t, ndim, s, t->offset, out);
mismatch: {
    char buf[96];
    return sc_error_set(SC_ERR_INVALID_ARG,
                        "reshape: cannot view a tensor of shape %s (%" PRId64
                        " elements) with the requested shape",
                        sc_tensor_shape_str(t, buf, sizeof buf), t->numel);
}
}

sc_status sc_tensor_slice(sc_tensor *t, int64_t start, int64_t count, sc_tensor **out)
{
    *out = NULL;
    if (t->ndim < 1)
        return sc_error_set(SC_ERR_INVALID_ARG, "slice: a scalar has no axis 0");
    if (start < 0 || count < 0 || start + count > t->shape[0])
        return sc_error_set(SC_ERR_INVALID_ARG,
                            "slice: rows [%" PRId64 ", %" PRId64 ") outside [0, %" PRId64 ")",
                            start, start + count, t->shape[0]);
    int64_t row = t->shape[0] ? t->numel / t->shape[0] : 0;
    int64_t s[SC_MAX_DIMS];
    memcpy(s, t->shape, sizeof s);
    s[0] = count;
    return make_view(t, t->ndim, s, t->offset + (size_t)(start * row), out);
}

static size_t nbytes(const sc_tensor *t) { return (size_t)t->numel * sc_dtype_size(t->dtype); }
static size_t byte_offset(const sc_tensor *t) { return t->offset * sc_dtype_size(t->dtype); }

sc_status sc_tensor_upload(sc_tensor *t, const void *data)
{
    if (!nbytes(t))
        return SC_OK;
    t->ctx->qstats.transfers++;
    t->ctx->qstats.host_waits++;
    cl_command_queue q;
    SC_TRY(sc_queue_pick(t->ctx, 0, &q));
    SC_CL_CHECK(clEnqueueWriteBuffer(q, t->buf->mem, CL_TRUE, byte_offset(t), nbytes(t), data, 0,
                                     NULL, NULL));
    sc_queue_waited(t->ctx, q);
    return SC_OK;
}

sc_status sc_tensor_upload_async(sc_tensor *t, const void *data)
{
    if (!nbytes(t))
        return SC_OK;
    t->ctx->qstats.transfers++;
    cl_command_queue q;
    SC_TRY(sc_queue_pick(t->ctx, 0, &q));
    SC_CL_CHECK(clEnqueueWriteBuffer(q, t->buf->mem, CL_FALSE, byte_offset(t), nbytes(t), data,
                                     0, NULL, NULL));
    return SC_OK;
}

sc_status sc_tensor_download(const sc_tensor *t, void *data)
{
    if (!nbytes(t))
        return SC_OK;
    t->ctx->qstats.transfers++;
    t->ctx->qstats.host_waits++;
    cl_command_queue q;
    SC_TRY(sc_queue_pick(t->ctx, 0, &q));
    SC_CL_CHECK(clEnqueueReadBuffer(q, t->buf->mem, CL_TRUE, byte_offset(t), nbytes(t), data, 0,
                                    NULL, NULL));
    sc_queue_waited(t->ctx, q);
    return SC_OK;
}

sc_status sc_tensor_copy(sc_tensor *dst, const sc_tensor *src)
{
    if (dst->dtype != src->dtype || dst->numel != src->numel) {
        char a[96], b[96];
        return sc_error_set(SC_ERR_INVALID_ARG, "copy: %s %s into %s %s",
                            sc_dtype_name(src->dtype), sc_tensor_shape_str(src, a, sizeof a),
                            sc_dtype_name(dst->dtype), sc_tensor_shape_str(dst, b, sizeof b));
    }
    if (!nbytes(src) || (dst->buf == src->buf && dst->offset == src->offset))
        return SC_OK;
    dst->ctx->qstats.transfers++;
    cl_command_queue q;
    SC_TRY(sc_queue_pick(dst->ctx, (size_t)src->numel, &q));
    SC_CL_CHECK(clEnqueueCopyBuffer(q, src->buf->mem, dst->buf->mem, byte_offset(src),
                                    byte_offset(dst), nbytes(src), 0, NULL, NULL));
    return SC_OK;
}

/* float32: sc_math_fill of cl/math.cl, the one elementwise family (its
 * other kernels have their host in src/kernels/math.c). */
static sc_status fill_f32(sc_tensor *t, float v)
{
    SC_TRY(sc_check_f32(t, "fill", "the tensor"));
    cl_mem m = sc_tensor_mem(t);
    cl_uint o = (cl_uint)t->offset, n = (cl_uint)t->numel;
    sc_karg args[] = {SC_ARG(m), SC_ARG(o), SC_ARG(n), SC_ARG(v)};
    return sc_launch_1d(t->ctx, "math", NULL, "sc_math_fill", n, 4, args);
}

sc_status sc_tensor_fill(sc_tensor *t, double value)
{
    if (!t->numel)
        return SC_OK;
    if (t->dtype == SC_F32)
        return fill_f32(t, (float)value);
    if (t->dtype != SC_F32)
        t->ctx->qstats.transfers++;
    cl_command_queue q;
    SC_TRY(sc_queue_pick(t->ctx, (size_t)t->numel, &q));
    if (t->dtype == SC_I32) {
        cl_int v = (cl_int)value;
        SC_CL_CHECK(clEnqueueFillBuffer(q, t->buf->mem, &v, sizeof v, byte_offset(t), nbytes(t), 0,
                                        NULL, NULL));
    } else {
        cl_uchar v = (cl_uchar)value;
        SC_CL_CHECK(clEnqueueFillBuffer(q, t->buf->mem, &v, sizeof v, byte_offset(t), nbytes(t),
                                        0, NULL, NULL));
    }
    return SC_OK;
}

sc_context *sc_tensor_context(const sc_tensor *t) { return t->ctx; }
sc_dtype sc_tensor_dtype(const sc_tensor *t) { return t->dtype; }
int sc_tensor_ndim(const sc_tensor *t) { return t->ndim; }
const int64_t *sc_tensor_shape(const sc_tensor *t) { return t->shape; }
int64_t sc_tensor_numel(const sc_tensor *t) { return t->numel; }

int64_t sc_tensor_dim(const sc_tensor *t, int axis)
{
    if (axis < 0)
        axis += t->ndim;
    if (axis < 0 || axis >= t->ndim)
        return -1;
    return t->shape[axis];
}

const char *sc_tensor_shape_str(const sc_tensor *t, char *buf, size_t size)
{
    size_t len = 0;
    if (size == 0)
        return buf;
    buf[0] = '\0';
    len += (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < t->ndim && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%" PRId64, i ? ", " : "", t->shape[i]);
    if (len < size)
        snprintf(buf + len, size - len, "]");
    return buf;
}
