/* Thread-local error detail and status names (host only: no OpenCL). */
#include "spurcl/error.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The detail can hold a whole compiler log, so it lives on the heap and grows. */
static _Thread_local char *err_buf;
static _Thread_local size_t err_cap;

/* A key whose destructor frees a thread's buffer when the thread exits
 * (worker threads that set an error would otherwise leak it). */
static pthread_key_t err_key;
static pthread_once_t err_key_once = PTHREAD_ONCE_INIT;
static int err_key_ok;

static void err_key_create(void)
{
    err_key_ok = pthread_key_create(&err_key, free) == 0;
}

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
    pthread_once(&err_key_once, err_key_create);
    if (err_key_ok)
        (void)pthread_setspecific(err_key, p);
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
    case SC_ERR_DIST: return "SC_ERR_DIST";
    }
    return "SC_ERR_UNKNOWN";
}
