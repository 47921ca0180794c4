/* One internal GEMM interface with more than one provider.
 *
 *   C[b] = alpha * op(A[b]) * op(B[b]) + beta * C[b],  b < batch
 *
 * Row-major; op(X) = X or X^T; strides between batch members in elements.
 * Providers: CLBlast, the project's own kernel (cl/gemm.cl), and the host
 * BLAS (OpenBLAS) on devices whose buffers live in host memory (CPU
 * devices: the buffers are mapped, which costs no copy on PoCL).
 * SPURCL_GEMM=clblast|native|host forces one; otherwise: host on CPU
 * devices with unified memory (measured: bench/README.md), CLBlast elsewhere. */
#ifndef SC_CORE_GEMM_H
#define SC_CORE_GEMM_H

#include "core/core.h"

typedef enum sc_gemm_provider {
    SC_GEMM_CLBLAST = 0,
    SC_GEMM_NATIVE = 1,
    SC_GEMM_HOST = 2
} sc_gemm_provider;

typedef struct sc_gemm_args {
    bool ta, tb;
    size_t m, n, k;
    float alpha, beta;
    cl_mem a; size_t a_off, lda, a_stride;
    cl_mem b; size_t b_off, ldb, b_stride;
    cl_mem c; size_t c_off, ldc, c_stride;
    size_t batch;
} sc_gemm_args;

sc_status sc_gemm(sc_context *ctx, const sc_gemm_args *args);
sc_gemm_provider sc_gemm_provider_for(const sc_context *ctx);
const char *sc_gemm_provider_name(sc_gemm_provider p);

/* The CPU features that decide which OpenBLAS kernels fit. */
enum {
    SC_CPU_AVX = 1u << 0,
    SC_CPU_AVX2_FMA = 1u << 1,
    SC_CPU_AVX512 = 1u << 2 /* F, CD, BW, DQ and VL, as SkylakeX's kernels need */
};
unsigned sc__cpu_features(void);
/* The OPENBLAS_CORETYPE that fits a CPU with `features` when OpenBLAS chose
 * the kernel set `current`, or NULL when `current` is already one of the
 * AVX kind (or the CPU has no AVX). */
const char *sc__blas_core_for(const char *current, unsigned features);

#endif
