/* spurcl: status codes and the thread-local error detail.
 *
 * Every library call returns an sc_status. On failure, sc_last_error() gives
 * a human-readable detail for the calling thread: what failed, the OpenCL
 * error by name, the file or option involved. The library never prints and
 * never exits. */
#ifndef SPURCL_ERROR_H
#define SPURCL_ERROR_H

#include "spurcl/api.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sc_status {
    SC_OK = 0,
    SC_ERR_INVALID_ARG,      /* a bad argument or option value */
    SC_ERR_NO_PLATFORM,      /* no OpenCL platform is installed */
    SC_ERR_DEVICE_NOT_FOUND, /* a device selector matched nothing */
    SC_ERR_OPENCL,           /* an OpenCL call failed */
    SC_ERR_BUILD,            /* an OpenCL program failed to build (log in detail) */
    SC_ERR_IO,               /* a file could not be opened, read or written */
    SC_ERR_FORMAT,           /* a file's content is malformed or truncated */
    SC_ERR_OUT_OF_MEMORY,    /* host allocation failed */
    SC_ERR_UNSUPPORTED,      /* valid request the library cannot do (yet) */
    SC_ERR_NUMERIC,          /* NaN or infinity where a finite value was needed */
    SC_ERR_STATE,            /* a call made in the wrong order or state */
    SC_ERR_DIST              /* a call across the ranks of a data-parallel run (MPI) failed */
} sc_status;

/* Detail of the last failure on this thread ("" if none). Valid until the
 * next failing call on the same thread. */
SC_API const char *sc_last_error(void);

/* Short constant name of a status ("SC_ERR_IO"). */
SC_API const char *sc_status_name(sc_status status);

/* Records a failure for this thread and returns `status`, so call sites can
 * write `return sc_error_set(SC_ERR_IO, "%s: %s", path, strerror(errno));`.
 * Public so that code built on the library (datasets, cli) reports the same way. */
SC_API sc_status sc_error_set(sc_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
           ;

/* Prepends context to the current detail: "reading X: <old detail>". */
SC_API sc_status sc_error_wrap(sc_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
           ;

/* Clears the detail of this thread. */
SC_API void sc_error_clear(void);

#ifdef __cplusplus
}
#endif
#endif
