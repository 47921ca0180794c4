/* Thread-local error detail and OpenCL error names. */
#include "spurcl/error.h"

#include <CL/cl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The detail can hold a whole compiler log, so it lives on the heap and grows. */
static _Thread_local char *err_buf;
static _Thread_local size_t err_cap;

static void err_reserve(size_t need)
{
    if (need <= err_cap)
        return;
    size_t cap = err_cap ? err_cap : 256;
    while (cap < need)
        cap *= 2;
    char *p = realloc(err_buf, cap);
    if (!p)
        return; /* keep the old (possibly truncated) message */
    err_buf = p;
    err_cap = cap;
}

static void err_vformat(const char *prefix, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        n = 0;
    size_t plen = prefix ? strlen(prefix) : 0;
    size_t need = (size_t)n + plen + 3;
    char *old = NULL;
    if (prefix) {
        old = malloc(plen + 1);
        if (old)
            memcpy(old, prefix, plen + 1);
    }
    err_reserve(need);
    if (!err_buf)
        goto out;
    vsnprintf(err_buf, err_cap, fmt, ap);
    if (old && plen) {
        size_t len = strlen(err_buf);
        if (len + 2 + plen + 1 <= err_cap) {
            memcpy(err_buf + len, ": ", 2);
            memcpy(err_buf + len + 2, old, plen + 1);
        }
    }
out:
    free(old);
}

sc_status sc_error_set(sc_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vformat(NULL, fmt, ap);
    va_end(ap);
    return status;
}

sc_status sc_error_wrap(sc_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vformat(err_buf ? err_buf : "", fmt, ap);
    va_end(ap);
    return status;
}

void sc_error_clear(void)
{
    if (err_buf)
        err_buf[0] = '\0';
}

const char *sc_last_error(void) { return err_buf ? err_buf : ""; }

const char *sc_status_name(sc_status status)
{
    switch (status) {
    case SC_OK: return "SC_OK";
    case SC_ERR_INVALID_ARG: return "SC_ERR_INVALID_ARG";
    case SC_ERR_NO_PLATFORM: return "SC_ERR_NO_PLATFORM";
    case SC_ERR_DEVICE_NOT_FOUND: return "SC_ERR_DEVICE_NOT_FOUND";
    case SC_ERR_OPENCL: return "SC_ERR_OPENCL";
    case SC_ERR_BUILD: return "SC_ERR_BUILD";
    case SC_ERR_IO: return "SC_ERR_IO";
    case SC_ERR_FORMAT: return "SC_ERR_FORMAT";
    case SC_ERR_OUT_OF_MEMORY: return "SC_ERR_OUT_OF_MEMORY";
    case SC_ERR_UNSUPPORTED: return "SC_ERR_UNSUPPORTED";
    case SC_ERR_NUMERIC: return "SC_ERR_NUMERIC";
    case SC_ERR_STATE: return "SC_ERR_STATE";
    }
    return "SC_ERR_UNKNOWN";
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
