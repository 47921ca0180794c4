/* The host-only base of the library: status propagation, strings, clock,
 * directories. No OpenCL: datasets/ and io/ build on this alone.
 *
 * Layers above include it for SC_TRY; nothing here knows about devices. */
#ifndef SC_BASE_BASE_H
#define SC_BASE_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* The _parse/_name pairs of the public enums: names[v] is value v's name,
 * matched without regard to case. Parsing an unknown name gives SC_ERR_INVALID_ARG "unknown <what> 's'
 * (expected a, b or c)"; an out-of-range value's name is "?". */
sc_status sc_enum_parse(const char *what, const char *const *names, int n, const char *s,
                        int *out);
const char *sc_enum_name(const char *const *names, int n, int v);
/* The same, first replacing `s` by its canonical name when it is one of the
 * aliases: NULL-terminated pairs "alias", "canonical" (aliases may be NULL). */
sc_status sc_enum_parse_alias(const char *what, const char *const *names, int n,
                              const char *const *aliases, const char *s, int *out);

/* Defines sc_<fn>_name(type) and sc_<fn>_parse(const char *, type *) over a
 * name table `table` (an array) and an alias list (or NULL). */
#define SC_ENUM_FUNCS(type, fn, what, table, aliases)                                             \
    const char *sc_##fn##_name(type v)                                                            \
    {                                                                                             \
        return sc_enum_name(table, (int)(sizeof(table) / sizeof(table)[0]), (int)v);             \
    }                                                                                             \
    sc_status sc_##fn##_parse(const char *s, type *out)                                           \
    {                                                                                             \
        int v;                                                                                    \
        SC_TRY(sc_enum_parse_alias(what, table, (int)(sizeof(table) / sizeof(table)[0]),        \
                                   aliases, s, &v));                                              \
        *out = (type)v;                                                                           \
        return SC_OK;                                                                             \
    }

/* A number read from a file's text, all of it: a decimal integer in
 * [lo, hi], or a finite double. false (and *out untouched) for an empty
 * string, trailing characters, overflow or a value out of range. */
bool sc_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out);
bool sc_parse_f64(const char *s, double *out);

/* "out of host memory (what)" as SC_ERR_OUT_OF_MEMORY. */
sc_status sc_oom(const char *what);

#endif
