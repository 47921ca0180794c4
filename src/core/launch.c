/* OpenCL status codes as library errors, and kernel launches. */
#include "core/core.h"
#include "spurcl/sys.h"

#include <stdint.h>

sc_status sc_cl_error(cl_int code, const char *expr, const char *file, int line)
{
    sc_status st = (code == CL_OUT_OF_HOST_MEMORY || code == CL_MEM_OBJECT_ALLOCATION_FAILURE)
                       ? SC_ERR_OUT_OF_MEMORY
                       : SC_ERR_OPENCL;
    return sc_error_set(st, "%s failed: %s (%d) at %s:%d", expr, sc_cl_error_name(code),
                        (int)code, file, line);
}

const char *sc_cl_error_name(int code)
{
#define N(x) case x: return #x
    switch (code) {
    N(CL_SUCCESS); N(CL_DEVICE_NOT_FOUND); N(CL_DEVICE_NOT_AVAILABLE);
    N(CL_COMPILER_NOT_AVAILABLE); N(CL_MEM_OBJECT_ALLOCATION_FAILURE);
    N(CL_OUT_OF_RESOURCES); N(CL_OUT_OF_HOST_MEMORY);
    N(CL_PROFILING_INFO_NOT_AVAILABLE); N(CL_MEM_COPY_OVERLAP);
    N(CL_IMAGE_FORMAT_MISMATCH); N(CL_IMAGE_FORMAT_NOT_SUPPORTED);
    N(CL_BUILD_PROGRAM_FAILURE); N(CL_MAP_FAILURE);
    N(CL_MISALIGNED_SUB_BUFFER_OFFSET);
    N(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST);
    N(CL_COMPILE_PROGRAM_FAILURE); N(CL_LINKER_NOT_AVAILABLE);
    N(CL_LINK_PROGRAM_FAILURE); N(CL_DEVICE_PARTITION_FAILED);
    N(CL_KERNEL_ARG_INFO_NOT_AVAILABLE);
    N(CL_INVALID_VALUE); N(CL_INVALID_DEVICE_TYPE); N(CL_INVALID_PLATFORM);
    N(CL_INVALID_DEVICE); N(CL_INVALID_CONTEXT);
    N(CL_INVALID_QUEUE_PROPERTIES); N(CL_INVALID_COMMAND_QUEUE);
    N(CL_INVALID_HOST_PTR); N(CL_INVALID_MEM_OBJECT);
    N(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR); N(CL_INVALID_IMAGE_SIZE);
    N(CL_INVALID_SAMPLER); N(CL_INVALID_BINARY); N(CL_INVALID_BUILD_OPTIONS);
    N(CL_INVALID_PROGRAM); N(CL_INVALID_PROGRAM_EXECUTABLE);
    N(CL_INVALID_KERNEL_NAME); N(CL_INVALID_KERNEL_DEFINITION);
    N(CL_INVALID_KERNEL); N(CL_INVALID_ARG_INDEX); N(CL_INVALID_ARG_VALUE);
    N(CL_INVALID_ARG_SIZE); N(CL_INVALID_KERNEL_ARGS);
    N(CL_INVALID_WORK_DIMENSION); N(CL_INVALID_WORK_GROUP_SIZE);
    N(CL_INVALID_WORK_ITEM_SIZE); N(CL_INVALID_GLOBAL_OFFSET);
    N(CL_INVALID_EVENT_WAIT_LIST); N(CL_INVALID_EVENT);
    N(CL_INVALID_OPERATION); N(CL_INVALID_GL_OBJECT);
    N(CL_INVALID_BUFFER_SIZE); N(CL_INVALID_MIP_LEVEL);
    N(CL_INVALID_GLOBAL_WORK_SIZE); N(CL_INVALID_PROPERTY);
    N(CL_INVALID_IMAGE_DESCRIPTOR); N(CL_INVALID_COMPILER_OPTIONS);
    N(CL_INVALID_LINKER_OPTIONS); N(CL_INVALID_DEVICE_PARTITION_COUNT);
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    }
#undef N
    return "CL_UNKNOWN_ERROR";
}

size_t sc_local_1d(const sc_context *ctx, size_t n)
{
    /* The grid is one work-item per element (the kernels still loop,
     * SC_FOR_EACH, so any grid is correct, but PoCL vectorises across
     * work-items only when each handles one element: capping the grid made
     * relu 26x slower there). A CPU device runs each work-group on one of
     * its threads: 128 items (batch norm's channels by 4, a loss's rows)
     * in one group of 256 left the other cores idle. There, halve the
     * group (down to 16 work-items, still a few of PoCL's vectors) until
     * the grid has two groups per compute unit. A GPU keeps the context's
     * size. */
    size_t local = ctx->wg_size;
    if (ctx->dev.type != SC_DEVICE_CPU)
        return local;
    size_t want = 2 * (size_t)(ctx->dev.compute_units ? ctx->dev.compute_units : 1);
    while (local > 16 && (n + local - 1) / local < want)
        local /= 2;
    return local;
}

/* The largest power of two <= v (v >= 1). */
static size_t pow2_floor(size_t v)
{
    size_t p = 1;
    while (p <= v / 2)
        p *= 2;
    return p;
}

void sc_row_group(const sc_context *ctx, size_t cols, size_t local[3])
{
    size_t l0 = 1, cap0 = pow2_floor(ctx->max_items[0] ? ctx->max_items[0] : 1);
    while (l0 < cols && l0 < ctx->wg_size && l0 < cap0)
        l0 *= 2;
    size_t l1 = ctx->wg_size / l0, cap1 = pow2_floor(ctx->max_items[1] ? ctx->max_items[1] : 1);
    local[0] = l0;
    local[1] = l1 < cap1 ? l1 : cap1;
    local[2] = 1;
}

sc_status sc_queue_pick(sc_context *ctx, size_t items, cl_command_queue *out)
{
    if (ctx->narrow && !ctx->wide_busy && items <= ctx->narrow_items) {
        ctx->narrow_busy = true;
        *out = ctx->narrow;
        return SC_OK;
    }
    if (ctx->narrow_busy) {
        /* the device's queue cannot wait for the other one's commands
         * (PoCL 3.1 deadlocked on events across its two CPU devices); the
         * basic device has run them already, so this returns at once */
        ctx->narrow_busy = false;
        SC_CL_CHECK(clFinish(ctx->narrow));
    }
    ctx->wide_busy = true;
    *out = ctx->queue;
    return SC_OK;
}

void sc_queue_waited(sc_context *ctx, cl_command_queue q)
{
    if (q == ctx->queue)
        ctx->wide_busy = false;
    else if (q && q == ctx->narrow)
        ctx->narrow_busy = false;
}

/* A kernel that runs this long on the narrow queue (one thread) would be
 * done sooner by the device's threads, waking them included (~50 us on
 * the 2-core EPYC): the same kernel over as many work-items or more then
 * stays on the device's queue. The work-items alone do not say it: a
 * batch-norm reduction over 32 channels has 8,192 and loops over 100,352
 * values each. */
#define SC_NARROW_SLOW_SECONDS 100e-6

static struct sc_narrow_slow *slow_slot(sc_context *ctx, cl_kernel kernel)
{
    size_t h = ((size_t)(uintptr_t)kernel >> 4) % SC_NARROW_SLOW_SLOTS;
    for (size_t i = 0; i < SC_NARROW_SLOW_SLOTS; i++) {
        struct sc_narrow_slow *e = &ctx->narrow_slow[(h + i) % SC_NARROW_SLOW_SLOTS];
        if (e->kernel == kernel || !e->kernel)
            return e;
    }
    return NULL; /* full: the kernel is not remembered */
}

sc_status sc_launch(sc_context *ctx, cl_kernel kernel, const char *name, int dims,
                    const size_t *global, const size_t *local, size_t nargs, const sc_karg *args)
{
    for (size_t i = 0; i < nargs; i++) {
        cl_int err = clSetKernelArg(kernel, (cl_uint)i, args[i].size, args[i].ptr);
        if (err != CL_SUCCESS)
            return sc_error_set(SC_ERR_OPENCL, "setting argument %zu of kernel %s: %s", i, name,
                                sc_cl_error_name(err));
    }
    size_t g[3], items = 1;
    for (int d = 0; d < dims; d++) {
        if (global[d] == 0)
            return SC_OK; /* empty range: nothing to do */
        g[d] = local ? sc_round_up(global[d], local[d]) : global[d];
        items *= g[d];
    }
    struct sc_narrow_slow *slow = ctx->narrow ? slow_slot(ctx, kernel) : NULL;
    cl_command_queue q;
    SC_TRY(sc_queue_pick(ctx, slow && slow->items && items >= slow->items ? SIZE_MAX : items,
                         &q));
    double t0 = q == ctx->narrow ? sc_time_now() : 0.0;
    cl_event ev = NULL;
    ctx->qstats.kernels++;
    cl_int err = clEnqueueNDRangeKernel(q, kernel, (cl_uint)dims, NULL, g, local, 0, NULL,
                                        ctx->profile ? &ev : NULL);
    if (err != CL_SUCCESS)
        return sc_error_set(SC_ERR_OPENCL, "enqueueing kernel %s: %s", name,
                            sc_cl_error_name(err));
    if (q == ctx->narrow)
        ctx->qstats.narrow++;
    if (q == ctx->narrow && slow) {
        /* the basic device has run it by now (a finish of nothing left) */
        SC_CL_CHECK(clFinish(q));
        sc_queue_waited(ctx, q);
        if (sc_time_now() - t0 > SC_NARROW_SLOW_SECONDS) {
            /* twice: the first run of a kernel on the basic device
             * includes compiling it for the work-group size */
            slow->kernel = kernel;
            if (slow->strike && items >= slow->strike)
                slow->items = items; /* smaller than any set: larger ones stay wide */
            else
                slow->strike = items;
        }
    }
    if (ev) {
        sc_queue_waited(ctx, q); /* the wait below covers the queue */
        cl_ulong t0 = 0, t1 = 0;
        if (clWaitForEvents(1, &ev) == CL_SUCCESS &&
            clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL) ==
                CL_SUCCESS &&
            clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL) ==
                CL_SUCCESS)
            sc_profile_add(ctx, name, (double)(t1 - t0));
        clReleaseEvent(ev);
    }
    return SC_OK;
}

sc_status sc_launch_1d(sc_context *ctx, const char *family, const char *defines,
                       const char *name, size_t n, size_t nargs, const sc_karg *args)
{
    cl_kernel k;
    SC_TRY(sc_kernel_get(ctx, family, defines, name, &k));
    size_t local = sc_local_1d(ctx, n), global = sc_round_up(n ? n : 1, local);
    return sc_launch(ctx, k, name, 1, &global, &local, nargs, args);
}

sc_status sc_launch_groups(sc_context *ctx, const char *family, const char *defines,
                           const char *name, size_t groups, size_t nargs, const sc_karg *args)
{
    cl_kernel k;
    SC_TRY(sc_kernel_get(ctx, family, defines, name, &k));
    size_t local = ctx->wg_size, global = groups * local;
    return sc_launch(ctx, k, name, 1, &global, &local, nargs, args);
}
