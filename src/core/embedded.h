/* The embedded OpenCL sources (generated from cl/ at build time by
 * tools/embed_kernels.py). */
#ifndef SC_CORE_EMBEDDED_H
#define SC_CORE_EMBEDDED_H

typedef struct sc_embedded_kernel {
    const char *name;   /* file name: "math.cl" (a family), "sc_ops.h" (a header) */
    const char *source;
} sc_embedded_kernel;

/* Terminated by an entry whose name is NULL. */
extern const sc_embedded_kernel sc_embedded_kernels[];

#endif
