/* The host-only base of the library: status propagation, strings, clock,
 * directories. No OpenCL: datasets/ and io/ build on this alone.
 *
 * Layers above include it for SC_TRY; nothing here knows about devices. */
#ifndef SC_BASE_BASE_H
#define SC_BASE_BASE_H

#include <stddef.h>

#include "spurcl/error.h"
#include "spurcl/rng.h"
#include "spurcl/sys.h"

/* Propagates a failing sc_status to the caller. */
#define SC_TRY(expr)                                                           \
    do {                                                                       \
        sc_status sc_st_ = (expr);                                             \
        if (sc_st_ != SC_OK)                                                   \
            return sc_st_;                                                     \
    } while (0)

/* A malloc'd formatted string, or NULL when out of memory. */
char *sc_strprintf(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* "out of host memory (what)" as SC_ERR_OUT_OF_MEMORY. */
sc_status sc_oom(const char *what);

#endif
