/* spurcl: the export macro of the public API.
 *
 * The library is built with hidden symbol visibility; every function this
 * directory declares is marked SC_API, and only those are exported from
 * libspurcl.so. Code inside the library that is not declared here stays
 * private to it, whatever its name. */
#ifndef SPURCL_API_H
#define SPURCL_API_H

#if defined(_WIN32)
#if defined(SPURCL_BUILDING)
#define SC_API __declspec(dllexport)
#else
#define SC_API
#endif
#elif defined(__GNUC__)
#define SC_API __attribute__((visibility("default")))
#else
#define SC_API
#endif

#endif
