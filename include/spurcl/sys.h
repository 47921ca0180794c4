/* spurcl: the host helpers the library uses itself and lends to its tools:
 * a monotonic clock, directory creation, the version. No device, no OpenCL. */
#ifndef SPURCL_SYS_H
#define SPURCL_SYS_H

#include <stddef.h>

#include "spurcl/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Seconds on a monotonic clock (for durations; the origin is arbitrary). */
SC_API double sc_time_now(void);

/* A duration for people, rounded to whole seconds: "42s", "3m05s",
 * "2h07m" (a negative or non-finite value reads "0s"). Writes at most n
 * bytes into buf. */
SC_API void sc_format_duration(char *buf, size_t n, double seconds);

/* mkdir -p: creates `dir` and its missing parents (mode 0777 minus umask).
 * SC_ERR_IO names the component that could not be made, or the path that
 * exists and is not a directory. */
SC_API sc_status sc_mkdir_p(const char *dir);

/* The library's version ("0.1.0"), and `git describe --always --dirty
 * --tags` of the source tree it was built from ("unknown" when that was not
 * a git checkout). */
SC_API const char *sc_version(void);
SC_API const char *sc_version_git(void);

#ifdef __cplusplus
}
#endif
#endif
