/* The embedded OpenCL sources (generated from cl/ at build time). */
#ifndef SC_CORE_KERNELS_H
#define SC_CORE_KERNELS_H

typedef struct sc_embedded_kernel {
    const char *name;   /* file stem: "elementwise" for cl/elementwise.cl */
    const char *source;
} sc_embedded_kernel;

/* Terminated by an entry whose name is NULL. */
extern const sc_embedded_kernel sc_embedded_kernels[];

#endif
