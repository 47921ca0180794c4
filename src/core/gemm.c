/* GEMM providers behind one interface. */
#define _GNU_SOURCE
#include "core/gemm.h"

#include <cblas.h>
#include <clblast_c.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

const char *sc_gemm_provider_name(sc_gemm_provider p)
{
    return p == SC_GEMM_NATIVE ? "native" : p == SC_GEMM_HOST ? "host" : "clblast";
}

/* ---- which kernels OpenBLAS runs ----------------------------------------
 * Debian's OpenBLAS is built with DYNAMIC_ARCH: when the library loads it
 * picks a kernel set from the CPU's vendor, family and model. A hypervisor
 * that presents a generic model ("Intel(R) Xeon(R) Processor") leaves it on
 * its fallback, Prescott (SSE3): measured on such a 2-core Xeon with
 * AVX-512, sgemm at the cnn's conv2 shapes (64 x 288 x 25088) took 29-36 ms
 * with Prescott kernels, 9.2-10.6 ms with Haswell's and 6.8-8.4 ms with SkylakeX's.
 * OPENBLAS_CORETYPE overrides the choice, read once when the library loads. */

unsigned sc__cpu_features(void)
{
    unsigned f = 0;
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx"))
        f |= SC_CPU_AVX;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        f |= SC_CPU_AVX2_FMA;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl"))
        f |= SC_CPU_AVX512;
#endif
    return f;
}

const char *sc__blas_core_for(const char *current, unsigned features)
{
    /* OpenBLAS's x86 kernel sets older than AVX (its corename strings) */
    static const char *const pre_avx[] = {
        "unknown", "katmai", "coppermine", "northwood", "prescott", "banias", "atom",
        "core2", "penryn", "dunnington", "nehalem", "opteron", "opteron(sse3)", "barcelona",
        "nano", "bobcat",
    };
    if (!current)
        return NULL;
    size_t i = 0, n = sizeof pre_avx / sizeof pre_avx[0];
    while (i < n && strcasecmp(current, pre_avx[i]) != 0)
        i++;
    if (i == n) /* an AVX set already, or one this table does not know */
        return NULL;
    if (features & SC_CPU_AVX512)
        return "SkylakeX";
    if (features & SC_CPU_AVX2_FMA)
        return "Haswell";
    if (features & SC_CPU_AVX)
        return "Sandybridge";
    return NULL;
}

const char *sc_host_blas_core(void)
{
    return openblas_get_corename();
}

const char *sc_host_blas_better_core(void)
{
    const char *set = getenv("OPENBLAS_CORETYPE");
    if (set && *set)
        return NULL; /* the user's choice */
    return sc__blas_core_for(openblas_get_corename(), sc__cpu_features());
}

/* ---- how long OpenBLAS's threads spin ------------------------------------
 * After each call OpenBLAS's worker threads spin for 2^OPENBLAS_THREAD_TIMEOUT
 * cycles before they sleep: 2^28 by default, about 0.1 s. On a CPU device
 * the kernels between two GEMMs (im2col, pooling, the activations) run on
 * PoCL's threads on the same cores, so a spinning BLAS thread holds one of
 * them for most of a training step. Measured on the 2-core EPYC, `spurcl
 * train` on 9,000 Fashion-MNIST images, epoch 2, five alternating rounds:
 * cnn 1,934-2,283 img/s with the default, 2,316-2,731 with 4 (the least
 * OpenBLAS takes), ahead in every round; vit 2,017-2,468 against
 * 2,303-2,907. 12 measured alike, 16 and 20 no better than the default. */
#define SC_BLAS_THREAD_TIMEOUT "4"

void sc_host_blas_fit(char **argv)
{
    bool again = false;
    const char *core = sc_host_blas_better_core();
    if (core && setenv("OPENBLAS_CORETYPE", core, 1) == 0)
        again = true;
    const char *spin = getenv("OPENBLAS_THREAD_TIMEOUT");
    if ((!spin || !*spin) && setenv("OPENBLAS_THREAD_TIMEOUT", SC_BLAS_THREAD_TIMEOUT, 1) == 0)
        again = true;
    /* PoCL lists only its threaded CPU device unless told; its basic
     * device beside it takes the small commands (sc_queue_pick) */
    const char *pocl = getenv("POCL_DEVICES");
    if ((!pocl || !*pocl) && setenv("POCL_DEVICES", "pthread basic", 1) == 0)
        again = true;
    /* the new process finds them set and goes on */
    if (again)
        execv("/proc/self/exe", argv);
    /* exec failed: the environment keeps the values, which does no harm */
}

static bool host_capable(const sc_context *ctx)
{
    return ctx->dev.type == SC_DEVICE_CPU && ctx->dev.host_unified_memory;
}

/* The tuning workload (sc_form_pick): the cnn's second convolution's
 * forward product at batch 32 (64 x 6272 x 288) and four head-sized ones
 * (128 x 10 x 128), where a launch costs more than the arithmetic. */
static sc_status tune_run(sc_context *ctx, sc_tensor *const *t)
{
    static const size_t dims[2][3] = {{64, 6272, 288}, {128, 10, 128}};
    for (int s = 0; s < 2; s++) {
        size_t m = dims[s][0], n = dims[s][1], k = dims[s][2];
        sc_gemm_args g = {.m = m, .n = n, .k = k, .alpha = 1.0f, .beta = 0.0f,
                          .a = sc_tensor_mem(t[3 * s]), .lda = k,
                          .b = sc_tensor_mem(t[3 * s + 1]), .ldb = n,
                          .c = sc_tensor_mem(t[3 * s + 2]), .ldc = n, .batch = 1};
        for (int r = 0; r < (s ? 4 : 1); r++)
            SC_TRY(sc_gemm(ctx, &g));
    }
    return SC_OK;
}

static const sc_tune_workload tune_workload = {
    6,
    {{2, {64, 288}}, {2, {288, 6272}}, {2, {64, 6272}},
     {2, {128, 128}}, {2, {128, 10}}, {2, {128, 10}}},
    tune_run,
};

sc_gemm_provider sc_gemm_provider_for(const sc_context *ctx)
{
    /* the rule: host where the device can take it, else CLBlast */
    sc_form rule = host_capable(ctx) ? SC_FORM_GEMM_HOST : SC_FORM_GEMM_CLBLAST;
    switch (sc_form_pick(ctx, SC_FAMILY_GEMM, rule, &tune_workload)) {
    case SC_FORM_GEMM_NATIVE:
        return SC_GEMM_NATIVE;
    case SC_FORM_GEMM_HOST:
        return SC_GEMM_HOST;
    default:
        return SC_GEMM_CLBLAST;
    }
}

/* Maps the whole of each distinct buffer among A, B and C for host access.
 * The maps are enqueued without blocking and waited for once: a blocking map
 * each costs a round trip to the device's worker threads (measured on the
 * 2-core EPYC, quiet: a 1x1x1 GEMM took 91 us with three blocking maps). */
typedef struct host_map {
    cl_mem mem[3];
    void *ptr[3];
    cl_event ev[3];
    int n;
    cl_command_queue q; /* the maps' and unmaps' */
} host_map;

static sc_status map_one(host_map *hm, cl_mem mem, void **out)
{
    for (int i = 0; i < hm->n; i++)
        if (hm->mem[i] == mem) {
            *out = hm->ptr[i];
            return SC_OK;
        }
    size_t size = 0;
    SC_CL_CHECK(clGetMemObjectInfo(mem, CL_MEM_SIZE, sizeof size, &size, NULL));
    cl_int err;
    void *p = clEnqueueMapBuffer(hm->q, mem, CL_FALSE, CL_MAP_READ | CL_MAP_WRITE, 0, size,
                                 0, NULL, &hm->ev[hm->n], &err);
    if (err != CL_SUCCESS)
        return sc_cl_error(err, "clEnqueueMapBuffer", __FILE__, __LINE__);
    hm->mem[hm->n] = mem;
    hm->ptr[hm->n++] = p;
    *out = p; /* the host address; its contents are valid after the wait */
    return SC_OK;
}

/* Maps A, B and C and waits once for the maps (and so for the kernels that
 * produce A and B, the queue being in order). */
static sc_status map_all(sc_context *ctx, host_map *hm, const sc_gemm_args *g, void **a,
                         void **b, void **c)
{
    sc_status st = map_one(hm, g->a, a);
    if (st == SC_OK)
        st = map_one(hm, g->b, b);
    if (st == SC_OK)
        st = map_one(hm, g->c, c);
    if (hm->n) {
        ctx->qstats.host_waits++;
        cl_int err = clWaitForEvents((cl_uint)hm->n, hm->ev);
        if (err == CL_SUCCESS) /* in order: the maps came after all the rest */
            sc_queue_waited(ctx, hm->q);
        if (err != CL_SUCCESS && st == SC_OK)
            st = sc_cl_error(err, "clWaitForEvents (host GEMM maps)", __FILE__, __LINE__);
    }
    for (int i = 0; i < hm->n; i++)
        clReleaseEvent(hm->ev[i]);
    return st;
}

static sc_status unmap_all(host_map *hm)
{
    sc_status st = SC_OK;
    for (int i = 0; i < hm->n; i++) {
        cl_int err = clEnqueueUnmapMemObject(hm->q, hm->mem[i], hm->ptr[i], 0, NULL, NULL);
        if (err != CL_SUCCESS && st == SC_OK)
            st = sc_cl_error(err, "clEnqueueUnmapMemObject", __FILE__, __LINE__);
    }
    return st;
}

/* OpenBLAS's threads for one host GEMM (ctx->forms.blas_threads): its own
 * count ("all", the default), one ("one"), or one for thin products, M*N <
 * 65536 (a weight gradient: 8 x 72 outputs over K = 401,408), and its own
 * otherwise ("thin"). With other work on the machine one thread was the
 * faster at every thin shape tried (2-core EPYC, sgemm 8x72x401408: 24 ms
 * on one thread, 58 ms on two); it also rounds differently from two
 * threads, and the two-rank equivalence tests (tests/test_mpi.sh) then
 * drift from one process by up to 1.1e-3 of a weight's scale on the
 * corrupted data against 7e-5 with OpenBLAS's own count. Returns the
 * count to set, 0 to leave it. */
static int host_threads(const sc_context *ctx, const sc_gemm_args *g)
{
    switch (ctx->forms.blas_threads) {
    case SC_FORM_BLAS_ONE: return 1;
    case SC_FORM_BLAS_THIN: return g->m * g->n < 65536 ? 1 : 0;
    default: return 0;
    }
}

/* One host GEMM: the buffers' host addresses p[0..n) (one per distinct
 * buffer), which of them A, B and C live in, and the product's shape. */
typedef struct host_call {
    float *p[3];
    int ia, ib, ic, threads;
    int ta, tb;
    size_t m, n, k, lda, ldb, ldc, a_off, b_off, c_off, a_stride, b_stride, c_stride, batch;
    float alpha, beta;
} host_call;

static void host_call_run(const host_call *h)
{
    int before = h->threads ? openblas_get_num_threads() : 0;
    if (h->threads && h->threads != before)
        openblas_set_num_threads(h->threads);
    const float *A = h->p[h->ia] + h->a_off, *B = h->p[h->ib] + h->b_off;
    float *C = h->p[h->ic] + h->c_off;
    for (size_t i = 0; i < h->batch; i++)
        cblas_sgemm(CblasRowMajor, h->ta ? CblasTrans : CblasNoTrans,
                    h->tb ? CblasTrans : CblasNoTrans, (blasint)h->m, (blasint)h->n,
                    (blasint)h->k, h->alpha, A + i * h->a_stride, (blasint)h->lda,
                    B + i * h->b_stride, (blasint)h->ldb, h->beta, C + i * h->c_stride,
                    (blasint)h->ldc);
    if (h->threads && h->threads != before)
        openblas_set_num_threads(before);
}

/* The call's shape and thread count from g; its buffers, deduplicated, in
 * mem[0..*n) with A, B, C's indices. */
static host_call host_call_of(const sc_context *ctx, const sc_gemm_args *g, cl_mem mem[3], int *n)
{
    host_call h = {.threads = host_threads(ctx, g), .ta = g->ta, .tb = g->tb, .m = g->m,
                   .n = g->n, .k = g->k, .lda = g->lda, .ldb = g->ldb, .ldc = g->ldc,
                   .a_off = g->a_off, .b_off = g->b_off, .c_off = g->c_off,
                   .a_stride = g->a_stride, .b_stride = g->b_stride, .c_stride = g->c_stride,
                   .batch = g->batch, .alpha = g->alpha, .beta = g->beta};
    const cl_mem all[3] = {g->a, g->b, g->c};
    int *idx[3] = {&h.ia, &h.ib, &h.ic};
    *n = 0;
    for (int i = 0; i < 3; i++) {
        int j = 0;
        while (j < *n && mem[j] != all[i])
            j++;
        if (j == *n)
            mem[(*n)++] = all[i];
        *idx[i] = j;
    }
    return h;
}

/* The native kernels of the queued host GEMM. The queue hands a native
 * kernel the host address of each buffer in its list; with more than one,
 * PoCL 3.1 pairs them with the argument slots in its own order, not the
 * list's (three buffers listed in any order arrived in creation order), so
 * each address is taken by a kernel of its own buffer alone, into the
 * call, which the last kernel runs and frees. */
typedef struct host_capture {
    float *ptr; /* the buffer's handle, replaced by its address */
    host_call *call;
    int slot;
} host_capture;

static void host_capture_run(void *args)
{
    host_capture *c = args;
    c->call->p[c->slot] = c->ptr;
}

static void host_call_native(void *args)
{
    host_call *h = *(host_call **)args;
    host_call_run(h);
    free(h);
}

/* The host BLAS as native kernels on the device's queue (CPU devices that
 * run them, PoCL's): the kernels after it wait for it in the queue, so the
 * host never waits. Against the mapped form's one wait per GEMM (~40 us
 * on the 2-core EPYC, quiet), a queued native kernel costs 1.4-3 us to
 * enqueue: a 128 x 10 x 128 product took 6.6 us a call queued, 43.7 us
 * mapped. Only for small products (queued_fits): run from the device's
 * worker thread between kernels, a large one was slower (the cnn's conv2
 * forward, a 64 x 25088 x 288 product between two kernels: 11.4-11.9 ms
 * against 8.7-9.0 mapped, alternating runs), though alone, back to back,
 * it took the same time either way. */
static bool queued_fits(const sc_gemm_args *g)
{
    return (double)g->m * (double)g->n * (double)g->k * (double)g->batch <= (double)(1 << 21);
}

static sc_status gemm_host_queued(sc_context *ctx, const sc_gemm_args *g)
{
    cl_mem mem[3];
    int n;
    host_call *h = malloc(sizeof *h);
    if (!h)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (host GEMM)");
    *h = host_call_of(ctx, g, mem, &n);
    cl_command_queue q;
    sc_status st = sc_queue_pick(ctx, g->m * g->n * g->batch, &q);
    if (st != SC_OK) {
        free(h);
        return st;
    }
    cl_int err = CL_SUCCESS;
    for (int i = 0; i < n && err == CL_SUCCESS; i++) {
        host_capture c = {.ptr = (float *)mem[i], .call = h, .slot = i};
        const void *loc = &c.ptr;
        err = clEnqueueNativeKernel(q, host_capture_run, &c, sizeof c, 1, &mem[i], &loc, 0, NULL,
                                    NULL);
    }
    if (err == CL_SUCCESS)
        err = clEnqueueNativeKernel(q, host_call_native, &h, sizeof h, 0, NULL, NULL, 0, NULL,
                                    NULL);
    if (err != CL_SUCCESS) {
        clFinish(q); /* a capture already queued writes into h */
        free(h);
        return sc_cl_error(err, "clEnqueueNativeKernel (host GEMM)", __FILE__, __LINE__);
    }
    return SC_OK;
}

/* The host BLAS on mapped buffers: the form for products too large to
 * queue, devices without native kernels and profiled runs (it times the
 * BLAS call itself). The wait for the maps waits for the kernels that
 * produce A and B; the unmap hands C back before later kernels run. */
static sc_status gemm_host(sc_context *ctx, const sc_gemm_args *g)
{
    if (ctx->native_kernels && !ctx->profile && queued_fits(g))
        return gemm_host_queued(ctx, g);
    host_map hm = {0};
    void *a = NULL, *b = NULL, *c = NULL;
    /* The maps wait for everything before them. Done on the device's queue
     * they would leave the unmaps there, unfinished, and the small kernels
     * after the product could not take the narrow queue; so wait for that
     * queue first (the same wait) and map on the narrow one. */
    if (ctx->narrow && ctx->wide_busy) {
        SC_CL_CHECK(clFinish(ctx->queue));
        sc_queue_waited(ctx, ctx->queue);
    }
    SC_TRY(sc_queue_pick(ctx, 0, &hm.q));
    sc_status st = map_all(ctx, &hm, g, &a, &b, &c);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (st == SC_OK) {
        cl_mem mem[3];
        int n;
        host_call h = host_call_of(ctx, g, mem, &n);
        for (int i = 0; i < n; i++)
            h.p[i] = mem[i] == g->a ? a : mem[i] == g->b ? b : c;
        host_call_run(&h);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (ctx->profile) {
        char name[96];
        snprintf(name, sizeof name, "gemm.host %zux%zux%zu%s%s b%zu", g->m, g->n, g->k,
                 g->ta ? " ta" : "", g->tb ? " tb" : "", g->batch);
        sc_profile_add(ctx, name,
                       1e9 * (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec));
    }
    sc_status st2 = unmap_all(&hm);
    return st != SC_OK ? st : st2;
}

static sc_status clblast_status(CLBlastStatusCode code)
{
    if (code == CLBlastSuccess)
        return SC_OK;
    if (code < 0 && code > -1000) /* OpenCL's own codes */
        return sc_error_set(SC_ERR_OPENCL, "CLBlast GEMM failed: %s (%d)",
                            sc_cl_error_name((int)code), (int)code);
    return sc_error_set(SC_ERR_OPENCL, "CLBlast GEMM failed with CLBlast status %d", (int)code);
}

static sc_status gemm_clblast(sc_context *ctx, const sc_gemm_args *g)
{
    CLBlastTranspose ta = g->ta ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastTranspose tb = g->tb ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastStatusCode st;
    /* Profiled runs time CLBlast's whole call (it may enqueue padding and
     * transposes besides the GEMM) between two queue drains, per shape. */
    struct timespec t0, t1;
    cl_command_queue q;
    SC_TRY(sc_queue_pick(ctx, SIZE_MAX, &q)); /* the device's own queue */
    if (ctx->profile) {
        clFinish(q);
        clock_gettime(CLOCK_MONOTONIC, &t0);
    }
    if (g->batch == 1)
        st = CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, g->m, g->n, g->k, g->alpha, g->a,
                          g->a_off, g->lda, g->b, g->b_off, g->ldb, g->beta, g->c, g->c_off,
                          g->ldc, &q, NULL);
    else
        st = CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, ta, tb, g->m, g->n, g->k,
                                        g->alpha, g->a, g->a_off, g->lda, g->a_stride, g->b,
                                        g->b_off, g->ldb, g->b_stride, g->beta, g->c, g->c_off,
                                        g->ldc, g->c_stride, g->batch, &q, NULL);
    if (ctx->profile && st == CLBlastSuccess) {
        clFinish(q);
        sc_queue_waited(ctx, q);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        char name[96];
        snprintf(name, sizeof name, "gemm.clblast %zux%zux%zu%s%s b%zu", g->m, g->n, g->k,
                 g->ta ? " ta" : "", g->tb ? " tb" : "", g->batch);
        sc_profile_add(ctx, name,
                       1e9 * (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec));
    }
    return clblast_status(st);
}

static sc_status gemm_native(sc_context *ctx, const sc_gemm_args *g)
{
    cl_kernel k;
    SC_TRY(sc_kernel_get(ctx, "gemm", NULL, "sc_gemm_tiled", &k));
    cl_uint ta = g->ta, tb = g->tb;
    cl_uint m = (cl_uint)g->m, n = (cl_uint)g->n, kk = (cl_uint)g->k;
    cl_uint ao = (cl_uint)g->a_off, lda = (cl_uint)g->lda, as = (cl_uint)g->a_stride;
    cl_uint bo = (cl_uint)g->b_off, ldb = (cl_uint)g->ldb, bs = (cl_uint)g->b_stride;
    cl_uint co = (cl_uint)g->c_off, ldc = (cl_uint)g->ldc, cs = (cl_uint)g->c_stride;
    float alpha = g->alpha, beta = g->beta;
    sc_karg args[] = {SC_ARG(ta), SC_ARG(tb), SC_ARG(m), SC_ARG(n), SC_ARG(kk),
                      SC_ARG(alpha), SC_ARG(g->a), SC_ARG(ao), SC_ARG(lda), SC_ARG(as),
                      SC_ARG(g->b), SC_ARG(bo), SC_ARG(ldb), SC_ARG(bs), SC_ARG(beta),
                      SC_ARG(g->c), SC_ARG(co), SC_ARG(ldc), SC_ARG(cs)};
    size_t local[3] = {16, 16, 1};
    size_t global[3] = {sc_round_up(g->n, 16), sc_round_up(g->m, 16), g->batch};
    return sc_launch(ctx, k, "sc_gemm_tiled", 3, global, local, 19, args);
}

/* Split-K: a small output over a very long K (a convolution's weight
 * gradient: 32 x 9 outputs over N*OH*OW = 100,352 terms) gives a GPU GEMM
 * only a few tiles to work on; CLBlast took 6 ms for that shape on an H100.
 * Instead: S partial products over K-chunks as one strided batched GEMM into
 * a scratch [S, M, N], then a fixed-order sum over S into C (deterministic,
 * no atomics). Only for beta == 0, one batch member and a contiguous C. */
enum { SPLIT_K_CHUNK = 1024, SPLIT_K_MAX = 64 };

static size_t split_k_parts(const sc_gemm_args *g)
{
    if (g->batch != 1 || g->beta != 0.0f || g->ldc != g->n)
        return 1;
    if (g->k < 8 * SPLIT_K_CHUNK || g->k < 16 * (g->m > g->n ? g->m : g->n) ||
        g->m * g->n > (size_t)1 << 16)
        return 1;
    size_t s = g->k / SPLIT_K_CHUNK;
    return s > SPLIT_K_MAX ? SPLIT_K_MAX : s;
}

static sc_status gemm_split_k(sc_context *ctx, const sc_gemm_args *g, size_t parts)
{
    size_t kc = g->k / parts, mn = g->m * g->n;
    sc_buffer *scratch;
    SC_TRY(sc_pool_acquire(ctx->pool, parts * mn * sizeof(float), &scratch));
    /* chunk i covers K-range [i*kc, (i+1)*kc); the last also takes the rest */
    sc_gemm_args b = *g;
    b.c = scratch->mem;
    b.c_off = 0;
    b.ldc = g->n;
    b.c_stride = mn;
    /* K runs along A's rows unless A is transposed, along B's columns when
     * B is transposed */
    size_t a_step = g->ta ? kc * g->lda : kc, b_step = g->tb ? kc : kc * g->ldb;
    b.k = kc;
    b.a_stride = a_step;
    b.b_stride = b_step;
    b.batch = parts - 1;
    sc_status st = b.batch ? gemm_clblast(ctx, &b) : SC_OK;
    if (st == SC_OK) {
        sc_gemm_args last = b;
        last.batch = 1;
        last.k = g->k - (parts - 1) * kc;
        last.a_off = g->a_off + (parts - 1) * a_step;
        last.b_off = g->b_off + (parts - 1) * b_step;
        last.c_off = (parts - 1) * mn;
        st = gemm_clblast(ctx, &last);
    }
    if (st == SC_OK) { /* cl/reduce.cl's fixed-order sum along the parts */
        cl_mem xm = scratch->mem, om = g->c;
        cl_uint xo = 0, outer = 1, len = (cl_uint)parts, inner = (cl_uint)mn,
                oo = (cl_uint)g->c_off;
        float one = 1.0f;
        sc_karg args[] = {SC_ARG(xm), SC_ARG(xo), SC_ARG(outer), SC_ARG(len),
                          SC_ARG(inner), SC_ARG(om), SC_ARG(oo), SC_ARG(one)};
        st = sc_launch_1d(ctx, "reduce", NULL, "sc_reduce_axis_serial", mn, 8, args);
    }
    /* in-order queue: the next user of this buffer is enqueued after the sum */
    sc_pool_release(ctx->pool, scratch);
    return st;
}

sc_status sc_gemm(sc_context *ctx, const sc_gemm_args *g)
{
    if (g->m == 0 || g->n == 0 || g->batch == 0)
        return SC_OK;
    sc_gemm_provider p = sc_gemm_provider_for(ctx);
    ctx->qstats.gemms++;
    if (p == SC_GEMM_HOST)
        return gemm_host(ctx, g);
    if (g->k == 0 || p == SC_GEMM_NATIVE)
        return gemm_native(ctx, g); /* k == 0: C = beta*C, which CLBlast rejects */
    size_t parts = split_k_parts(g);
    return parts > 1 ? gemm_split_k(ctx, g, parts) : gemm_clblast(ctx, g);
}
