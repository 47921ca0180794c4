/* Core: device selection, program builds and errors, tensors, the pool. */
#define _GNU_SOURCE
#include "suite.h"
#include "testutil.h"

#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cblas.h>
#include <cjson/cJSON.h>
#include "core/core.h"
#include "core/gemm.h"
#include "kernels/kernels.h"
#include "spurcl/nn.h"
#include "spurcl/io.h"
#include "spurcl/ops.h"

/* ---- selection logic on a synthetic device list ---------------------- */

static sc_device_info fake(int p, int d, const char *name, sc_device_type t, unsigned cu,
                           unsigned mhz)
{
    sc_device_info i;
    memset(&i, 0, sizeof i);
    i.platform_index = p;
    i.device_index = d;
    snprintf(i.name, sizeof i.name, "%s", name);
    snprintf(i.platform_name, sizeof i.platform_name, "Platform %d", p);
    i.type = t;
    i.compute_units = cu;
    i.max_clock_mhz = mhz;
    return i;
}

static sc_device_info devs[5];

static void setup_fake(void)
{
    devs[0] = fake(0, 0, "pthread-haswell-AMD EPYC", SC_DEVICE_CPU, 2, 3000);
    devs[1] = fake(1, 0, "Small GPU", SC_DEVICE_GPU, 8, 1000);
    devs[2] = fake(1, 1, "NVIDIA H100 80GB", SC_DEVICE_GPU, 132, 1980);
    devs[3] = fake(2, 0, "FPGA thing", SC_DEVICE_ACCELERATOR, 4, 300);
    devs[4] = fake(2, 1, "Big CPU", SC_DEVICE_CPU, 64, 2500);
}

static size_t pick(const char *sel, size_t n, sc_status want)
{
    size_t idx = 999;
    sc_status st = sc_device_select(devs, n, sel, &idx);
    ck_assert_msg(st == want, "selector '%s': got %s (%s)", sel, sc_status_name(st),
                  sc_last_error());
    return idx;
}

START_TEST(select_forms)
{
    setup_fake();
    unsetenv("SPURCL_DEVICE");
    ck_assert_uint_eq(pick("auto", 5, SC_OK), 2);      /* GPU, largest CUs x clock */
    ck_assert_uint_eq(pick(NULL, 5, SC_OK), 2);        /* default is auto */
    ck_assert_uint_eq(pick("", 5, SC_OK), 2);
    ck_assert_uint_eq(pick("gpu", 5, SC_OK), 2);
    ck_assert_uint_eq(pick("cpu", 5, SC_OK), 4);       /* the bigger CPU */
    ck_assert_uint_eq(pick("accelerator", 5, SC_OK), 3);
    ck_assert_uint_eq(pick("0:0", 5, SC_OK), 0);
    ck_assert_uint_eq(pick("1:0", 5, SC_OK), 1);
    ck_assert_uint_eq(pick("h100", 5, SC_OK), 2);      /* case-insensitive substring */
    ck_assert_uint_eq(pick("EPYC", 5, SC_OK), 0);
    ck_assert_uint_eq(pick("small", 5, SC_OK), 1);
    /* auto without GPUs: accelerator, then CPU */
    ck_assert_uint_eq(pick("auto", 1, SC_OK), 0);
    devs[1] = devs[3];
    ck_assert_uint_eq(pick("auto", 2, SC_OK), 1);
}
END_TEST

START_TEST(select_env_and_bad)
{
    setup_fake();
    setenv("SPURCL_DEVICE", "1:0", 1);
    ck_assert_uint_eq(pick(NULL, 5, SC_OK), 1);
    ck_assert_uint_eq(pick("cpu", 5, SC_OK), 4);       /* explicit beats the environment */
    unsetenv("SPURCL_DEVICE");

    const char *bad[] = {"nosuchdevice", "7:0", "0:9", "1:", "-1:0", "gpu"};
    size_t n_for_bad[] = {5, 5, 5, 5, 5, 1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pick(bad[i], n_for_bad[i], SC_ERR_DEVICE_NOT_FOUND);
        const char *msg = sc_last_error();
        ck_assert_msg(strstr(msg, bad[i]) != NULL, "message names the selector: %s", msg);
        ck_assert_msg(strstr(msg, "0:0 pthread-haswell-AMD EPYC") != NULL,
                      "message lists the devices: %s", msg);
    }
}
END_TEST

START_TEST(real_device_list)
{
    sc_device_info *list;
    size_t n, idx;
    TU_OK(sc_device_list(&list, &n));
    ck_assert_uint_ge(n, 1);
    for (size_t i = 0; i < n; i++) {
        ck_assert_str_ne(list[i].name, "");
        ck_assert_uint_ge(list[i].compute_units, 1);
        ck_assert_uint_ge(list[i].max_work_group_size, 1);
        ck_assert_msg(strncmp(list[i].opencl_c_version, "OpenCL C ", 9) == 0, "%s",
                      list[i].opencl_c_version);
    }
    /* selecting by the first device's type finds a device of that type (CPU
     * where PoCL is installed; the GPU where the loader sees only a GPU) */
    const char *tname[] = {[SC_DEVICE_CPU] = "cpu", [SC_DEVICE_GPU] = "gpu",
                           [SC_DEVICE_ACCELERATOR] = "accelerator"};
    sc_device_type t0 = list[0].type;
    ck_assert_msg(t0 == SC_DEVICE_CPU || t0 == SC_DEVICE_GPU || t0 == SC_DEVICE_ACCELERATOR,
                  "device 0 (%s) has type %d", list[0].name, (int)t0);
    TU_OK(sc_device_select(list, n, tname[t0], &idx));
    ck_assert_int_eq(list[idx].type, t0);
    char sel[16];
    snprintf(sel, sizeof sel, "%d:%d", list[idx].platform_index, list[idx].device_index);
    size_t idx2;
    TU_OK(sc_device_select(list, n, sel, &idx2));
    ck_assert_uint_eq(idx, idx2);
    sc_device_list_free(list);
}
END_TEST

/* Kernel forms: the environment is read once, at context creation (a bad
 * value fails it by name); sc_context_set_form changes a live context. */
START_TEST(kernel_forms)
{
    setenv("SPURCL_NORM", "bogus", 1);
    sc_context *ctx = NULL;
    ck_assert_int_eq(sc_context_create(NULL, &ctx), SC_ERR_INVALID_ARG);
    ck_assert_ptr_null(ctx);
    ck_assert_msg(strstr(sc_last_error(), "SPURCL_NORM 'bogus'") &&
                      strstr(sc_last_error(), "channels or slices"),
                  "%s", sc_last_error());
    setenv("SPURCL_NORM", "slices", 1);
    setenv("SPURCL_GEMM", "native", 1);
    TU_OK(sc_context_create(NULL, &ctx));
    unsetenv("SPURCL_NORM");
    unsetenv("SPURCL_GEMM");
    ck_assert_int_eq(ctx->forms.norm, SC_FORM_NORM_SLICES);
    ck_assert_int_eq(ctx->forms.gemm, SC_FORM_GEMM_NATIVE);
    ck_assert_int_eq(ctx->forms.conv_layout, SC_FORM_AUTO);
    TU_OK(sc_context_set_form(ctx, "conv_layout", "elements"));
    ck_assert_int_eq(ctx->forms.conv_layout, SC_FORM_CONV_ELEMENTS);
    TU_OK(sc_context_set_form(ctx, "norm", NULL));
    ck_assert_int_eq(ctx->forms.norm, SC_FORM_AUTO);
    TU_OK(sc_context_set_form(ctx, "gemm", "host"));
    ck_assert_int_eq(ctx->forms.gemm, SC_FORM_GEMM_HOST);
    ck_assert_int_eq(sc_context_set_form(ctx, "gemm", "rows"), SC_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sc_last_error(), "gemm form 'rows': expected clblast or native or host"),
                  "%s", sc_last_error());
    ck_assert_int_eq(ctx->forms.gemm, SC_FORM_GEMM_HOST); /* unchanged */
    TU_OK(sc_context_set_form(ctx, "attention", "rows"));
    ck_assert_int_eq(ctx->forms.attention, SC_FORM_ATTN_ROWS);
    ck_assert_int_eq(sc_context_set_form(ctx, "attention", "flash"), SC_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sc_last_error(), "attention form 'flash': expected tiles or rows or "
                                          "composed"),
                  "%s", sc_last_error());
    ck_assert_int_eq(sc_context_set_form(ctx, "pooling", "max"), SC_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sc_last_error(), "'pooling'"), "%s", sc_last_error());
    sc_context_free(ctx);
}
END_TEST

/* Which OpenBLAS kernels spurcl asks for: only where OpenBLAS fell back to a
 * pre-AVX set on a CPU that has AVX, the best set the CPU can run; a good
 * choice and the user's OPENBLAS_CORETYPE are left alone. */
START_TEST(blas_kernels)
{
    const unsigned avx = SC_CPU_AVX, avx2 = avx | SC_CPU_AVX2_FMA, avx512 = avx2 | SC_CPU_AVX512;
    ck_assert_str_eq(sc__blas_core_for("Prescott", avx512), "SkylakeX");
    ck_assert_str_eq(sc__blas_core_for("prescott", avx2), "Haswell");
    ck_assert_str_eq(sc__blas_core_for("Core2", avx), "Sandybridge");
    ck_assert_str_eq(sc__blas_core_for("Opteron(SSE3)", avx2), "Haswell");
    ck_assert_str_eq(sc__blas_core_for("Unknown", avx512), "SkylakeX");
    ck_assert_ptr_null(sc__blas_core_for("Nehalem", 0)); /* nothing better to run */
    ck_assert_ptr_null(sc__blas_core_for("Haswell", avx512)); /* AVX2 kernels: kept */
    ck_assert_ptr_null(sc__blas_core_for("Cooperlake", avx512));
    ck_assert_ptr_null(sc__blas_core_for("Zen", avx2));
    ck_assert_ptr_null(sc__blas_core_for(NULL, avx512));
    /* this machine: OpenBLAS names its kernel set, the public call decides as
     * above on this CPU's features, and a set OPENBLAS_CORETYPE stands */
    const char *core = sc_host_blas_core();
    ck_assert_ptr_nonnull(core);
    ck_assert_int_gt((int)strlen(core), 0);
    const char *user = getenv("OPENBLAS_CORETYPE");
    char *saved = user ? strdup(user) : NULL;
    unsetenv("OPENBLAS_CORETYPE");
    ck_assert(sc_host_blas_better_core() == sc__blas_core_for(core, sc__cpu_features()));
    setenv("OPENBLAS_CORETYPE", core, 1);
    ck_assert_ptr_null(sc_host_blas_better_core());
    if (saved)
        setenv("OPENBLAS_CORETYPE", saved, 1);
    else
        unsetenv("OPENBLAS_CORETYPE");
    free(saved);
}
END_TEST

/* The host GEMM's OpenBLAS thread policy (forms family blas_threads): every
 * form gives the product (against double sums), on a thin shape (M*N <
 * 65536: one thread under "thin") and a wide one, and OpenBLAS's own
 * thread count is what it was after each call. */
START_TEST(blas_thread_forms)
{
    sc_context *ctx;
    TU_OK(sc_context_create(NULL, &ctx));
    TU_OK(sc_context_set_form(ctx, "gemm", "host"));
    const size_t shapes[2][3] = {{3, 5, 4099}, {300, 260, 7}}; /* m, n, k */
    static const char *forms[] = {"all", "one", "thin", NULL};
    int own = openblas_get_num_threads();
    for (int sh = 0; sh < 2; sh++) {
        size_t m = shapes[sh][0], n = shapes[sh][1], k = shapes[sh][2];
        float *a = malloc(m * k * sizeof *a), *b = malloc(k * n * sizeof *b);
        float *c = malloc(m * n * sizeof *c);
        ck_assert(a && b && c);
        for (size_t i = 0; i < m * k; i++)
            a[i] = (float)((i * 7919) % 13) / 13.0f - 0.5f;
        for (size_t i = 0; i < k * n; i++)
            b[i] = (float)((i * 104729) % 11) / 11.0f - 0.5f;
        int64_t sa = (int64_t)(m * k), sb = (int64_t)(k * n), sc = (int64_t)(m * n);
        sc_tensor *ta, *tb, *tc;
        TU_OK(sc_tensor_from_host(ctx, SC_F32, 1, &sa, a, &ta));
        TU_OK(sc_tensor_from_host(ctx, SC_F32, 1, &sb, b, &tb));
        TU_OK(sc_tensor_create(ctx, SC_F32, 1, &sc, &tc));
        for (int f = 0; f < 4; f++) {
            TU_OK(sc_context_set_form(ctx, "blas_threads", forms[f]));
            sc_gemm_args g = {.m = m, .n = n, .k = k, .alpha = 1, .beta = 0,
                              .a = sc_tensor_mem(ta), .lda = k, .a_stride = m * k,
                              .b = sc_tensor_mem(tb), .ldb = n, .b_stride = k * n,
                              .c = sc_tensor_mem(tc), .ldc = n, .c_stride = m * n, .batch = 1};
            TU_OK(sc_gemm(ctx, &g));
            TU_OK(sc_tensor_download(tc, c));
            for (size_t i = 0; i < m; i += m / 3 + 1)
                for (size_t j = 0; j < n; j += n / 4 + 1) {
                    double want = 0;
                    for (size_t l = 0; l < k; l++)
                        want += (double)a[i * k + l] * b[l * n + j];
                    ck_assert_msg(fabs(c[i * n + j] - want) <= 1e-4 * (1 + fabs(want)),
                                  "%s [%zu,%zu]: %g want %g", forms[f] ? forms[f] : "auto", i, j,
                                  (double)c[i * n + j], want);
                }
            ck_assert_int_eq(openblas_get_num_threads(), own);
        }
        sc_tensor_free(ta);
        sc_tensor_free(tb);
        sc_tensor_free(tc);
        free(a);
        free(b);
        free(c);
    }
    ck_assert(sc_context_set_form(ctx, "blas_threads", "two") == SC_ERR_INVALID_ARG);
    sc_context_free(ctx);
}
END_TEST

/* The ICD loader reads its vendor list once per process, so the probe runs in
 * a fresh process: this test binary re-executed with an empty ICD directory. */
static int probe_no_platform(void)
{
    sc_device_info *list;
    size_t n;
    sc_status st = sc_device_list(&list, &n);
    return st == SC_ERR_NO_PLATFORM && strstr(sc_last_error(), "pocl-opencl-icd") &&
                   strstr(sc_last_error(), "ICD")
               ? 0
               : 1;
}

START_TEST(no_platform_message)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        setenv("OCL_ICD_VENDORS", "/nonexistent-spurcl-icd-dir", 1);
        setenv("OPENCL_VENDOR_PATH", "/nonexistent-spurcl-icd-dir", 1);
        execl("/proc/self/exe", "test_core", "--probe-no-platform", (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

/* ---- programs --------------------------------------------------------- */

START_TEST(build_error_has_log)
{
    const char *src = "__kernel void sc_broken(__global float *x)\n"
                      "{\n"
                      "    x[0] = 1.0f;\n"
                      "    x[1] = undeclared_thing_42 * 2.0f;\n"
                      "}\n";
    cl_program p = NULL;
    sc_status st = sc_program_build_source(tu_ctx(), "broken.cl", src, NULL, &p);
    ck_assert_int_eq(st, SC_ERR_BUILD);
    ck_assert_ptr_null(p);
    const char *msg = sc_last_error();
    ck_assert_msg(strstr(msg, "broken.cl"), "names the program: %s", msg);
    ck_assert_msg(strstr(msg, "CL_BUILD_PROGRAM_FAILURE"), "names the CL error: %s", msg);
    ck_assert_msg(strstr(msg, "undeclared_thing_42"), "log names the identifier: %s", msg);
    ck_assert_msg(strstr(msg, ":4:"), "log gives the offending line 4: %s", msg);
}
END_TEST

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void remove_file(const char *dir, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    remove(path);
}

/* sc_tensor_fill(2.0) of 5 elements under the current SPURCL_KERNEL_DIR:
 * its status, and the values in h. */
static sc_status fill_through_override(float *h)
{
    sc_context *ctx;
    TU_OK(sc_context_create(NULL, &ctx));
    int64_t n = 5;
    sc_tensor *t;
    TU_OK(sc_tensor_create(ctx, SC_F32, 1, &n, &t));
    sc_status st = sc_tensor_fill(t, 2.0);
    if (st == SC_OK)
        TU_OK(sc_tensor_download(t, h));
    sc_tensor_free(t);
    sc_context_free(ctx);
    return st;
}

START_TEST(kernel_dir_override)
{
    char dir[] = "/tmp/spurcl-kdir-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    write_file(dir, "common.cl",
               "#define SC_FOR_EACH(i, n) for (uint i = get_global_id(0); i < (n); i += "
               "get_global_size(0))\n");
    /* A working fill that writes v + 1, the 1 from a header of the directory:
     * the override was used, and its #include resolved there. */
    write_file(dir, "sc_ops.h", "#define SC_TEST_BUMP 1.0f\n");
    write_file(dir, "math.cl",
               "#include \"sc_ops.h\"\n"
               "__kernel void sc_math_fill(__global float *y, uint yo, uint n, float v)\n"
               "{ SC_FOR_EACH(i, n) y[yo + i] = v + SC_TEST_BUMP; }\n");
    setenv("SPURCL_KERNEL_DIR", dir, 1);
    float h[5];
    TU_OK(fill_through_override(h));
    for (int i = 0; i < 5; i++)
        ck_assert_float_eq(h[i], 3.0f);

    /* A header missing from the directory: the error names the file looked
     * for and who included it. */
    remove_file(dir, "sc_ops.h");
    ck_assert_int_eq(fill_through_override(h), SC_ERR_IO);
    char want[128];
    snprintf(want, sizeof want, "%s/sc_ops.h", dir);
    ck_assert_msg(strstr(sc_last_error(), want) && strstr(sc_last_error(), "included by math.cl"),
                  "%s", sc_last_error());

    /* A broken override: the error carries the log and the file name. */
    write_file(dir, "math.cl",
               "__kernel void sc_math_fill(__global float *y, uint yo, uint n, float v)\n"
               "{ y[yo] = v +; }\n");
    ck_assert_int_eq(fill_through_override(h), SC_ERR_BUILD);
    ck_assert_msg(strstr(sc_last_error(), "math.cl"), "%s", sc_last_error());
    unsetenv("SPURCL_KERNEL_DIR");

    /* A missing override directory names the file looked for. */
    setenv("SPURCL_KERNEL_DIR", "/nonexistent-spurcl-kernels", 1);
    ck_assert_int_eq(fill_through_override(h), SC_ERR_IO);
    ck_assert_msg(strstr(sc_last_error(), "/nonexistent-spurcl-kernels/common.cl"), "%s",
                  sc_last_error());
    unsetenv("SPURCL_KERNEL_DIR");
    remove_file(dir, "math.cl");
    remove_file(dir, "common.cl");
    rmdir(dir);
}
END_TEST

/* The op codes of cl/sc_ops.h reach the kernels both ways: embedded (the
 * header inlined from the library's copy) and from the source tree through
 * SPURCL_KERNEL_DIR (the header read from there). Both give the same bits
 * for binary and unary ops, and the values the op codes mean. */
static void opcode_ops(float *out)
{
    sc_context *ctx;
    TU_OK(sc_context_create(NULL, &ctx));
    enum { N = 37 };
    float a[N], b[N];
    for (int i = 0; i < N; i++) {
        a[i] = (float)(i - 18) * 0.37f;
        b[i] = (float)(i % 7) - 2.5f;
    }
    int64_t n = N;
    sc_tensor *ta, *tb, *ty;
    TU_OK(sc_tensor_from_host(ctx, SC_F32, 1, &n, a, &ta));
    TU_OK(sc_tensor_from_host(ctx, SC_F32, 1, &n, b, &tb));
    TU_OK(sc_tensor_create(ctx, SC_F32, 1, &n, &ty));
    TU_OK(sc_op_add(ty, ta, tb));
    TU_OK(sc_tensor_download(ty, out));
    TU_OK(sc_op_mul(ty, ta, tb));
    TU_OK(sc_tensor_download(ty, out + N));
    TU_OK(sc_op_scale(ty, ta, -1.5f));
    TU_OK(sc_tensor_download(ty, out + 2 * N));
    TU_OK(sc_op_axpy(ty, 2.0f, tb));
    TU_OK(sc_tensor_download(ty, out + 3 * N));
    for (int i = 0; i < N; i++) {
        ck_assert_float_eq(out[i], a[i] + b[i]);
        ck_assert_float_eq(out[N + i], a[i] * b[i]);
        ck_assert_float_eq(out[2 * N + i], -1.5f * a[i]);
        ck_assert_float_eq(out[3 * N + i], fmaf(2.0f, b[i], -1.5f * a[i]));
    }
    sc_tensor_free(ta);
    sc_tensor_free(tb);
    sc_tensor_free(ty);
    sc_context_free(ctx);
}

START_TEST(kernel_dir_shared_header)
{
    const char *src = getenv("SPURCL_TEST_SRCDIR");
    ck_assert_ptr_nonnull(src);
    float embedded[4 * 37], from_dir[4 * 37];
    unsetenv("SPURCL_KERNEL_DIR");
    opcode_ops(embedded);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/cl", src);
    setenv("SPURCL_KERNEL_DIR", dir, 1);
    opcode_ops(from_dir);
    unsetenv("SPURCL_KERNEL_DIR");
    ck_assert_mem_eq(embedded, from_dir, sizeof embedded);
}
END_TEST

START_TEST(error_names)
{
    ck_assert_str_eq(sc_cl_error_name(-5), "CL_OUT_OF_RESOURCES");
    ck_assert_str_eq(sc_cl_error_name(-11), "CL_BUILD_PROGRAM_FAILURE");
    ck_assert_str_eq(sc_cl_error_name(12345), "CL_UNKNOWN_ERROR");
    ck_assert_str_eq(sc_status_name(SC_ERR_IO), "SC_ERR_IO");
    sc_error_set(SC_ERR_IO, "inner %d", 7);
    sc_error_wrap(SC_ERR_IO, "outer");
    ck_assert_str_eq(sc_last_error(), "outer: inner 7");
    /* An OpenCL failure is reported by name, not number. */
    sc_tensor *t;
    int64_t n = 3;
    TU_OK(sc_tensor_create(tu_ctx(), SC_F32, 1, &n, &t));
    ck_assert_int_eq(sc_cl_error(CL_OUT_OF_RESOURCES, "clFoo(x)", "f.c", 9), SC_ERR_OPENCL);
    ck_assert_msg(strstr(sc_last_error(), "CL_OUT_OF_RESOURCES") &&
                      strstr(sc_last_error(), "clFoo(x)"),
                  "%s", sc_last_error());
    sc_tensor_free(t);
}
END_TEST

/* A thread that sets an error and exits gives its message buffer back: 64
 * threads with a 256 KiB message each would otherwise keep 16 MiB. */
static void *set_big_error(void *arg)
{
    sc_error_set(SC_ERR_IO, "%0*d", 256 * 1024, 1);
    return strlen(sc_last_error()) == 256 * 1024 ? arg : NULL;
}

START_TEST(error_buffer_freed_at_thread_exit)
{
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, set_big_error, "ok"), 0); /* warm-up */
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    size_t before = mallinfo2().uordblks;
    for (int k = 0; k < 64; k++) {
        void *ok = NULL;
        ck_assert_int_eq(pthread_create(&th, NULL, set_big_error, "ok"), 0);
        ck_assert_int_eq(pthread_join(th, &ok), 0);
        ck_assert_ptr_nonnull(ok);
    }
    size_t after = mallinfo2().uordblks;
    ck_assert_msg(after < before + 1024 * 1024, "heap in use grew by %zu bytes over 64 threads",
                  after - before);
}
END_TEST

/* ---- tensors ------------------------------------------------------------ */

START_TEST(tensor_round_trips)
{
    sc_context *ctx = tu_ctx();
    const int64_t shapes[][4] = {{1, 1, 1, 1}, {7, 13, 1, 1}, {13, 7, 3, 5}, {1, 257, 1, 1}};
    sc_rng rng;
    sc_rng_seed(&rng, 1);
    for (size_t s = 0; s < 4; s++) {
        int64_t n = shapes[s][0] * shapes[s][1] * shapes[s][2] * shapes[s][3];
        float *f = malloc((size_t)n * 4), *fb = malloc((size_t)n * 4);
        int32_t *i32 = malloc((size_t)n * 4), *ib = malloc((size_t)n * 4);
        uint8_t *u8 = malloc((size_t)n), *ub = malloc((size_t)n);
        for (int64_t k = 0; k < n; k++) {
            f[k] = (float)sc_rng_normal(&rng);
            i32[k] = (int32_t)sc_rng_u64(&rng);
            u8[k] = (uint8_t)sc_rng_u64(&rng);
        }
        sc_tensor *tf, *ti, *tu;
        TU_OK(sc_tensor_from_host(ctx, SC_F32, 4, shapes[s], f, &tf));
        TU_OK(sc_tensor_from_host(ctx, SC_I32, 4, shapes[s], i32, &ti));
        TU_OK(sc_tensor_from_host(ctx, SC_U8, 4, shapes[s], u8, &tu));
        TU_OK(sc_tensor_download(tf, fb));
        TU_OK(sc_tensor_download(ti, ib));
        TU_OK(sc_tensor_download(tu, ub));
        ck_assert_mem_eq(f, fb, (size_t)n * 4);
        ck_assert_mem_eq(i32, ib, (size_t)n * 4);
        ck_assert_mem_eq(u8, ub, (size_t)n);
        ck_assert_int_eq(sc_tensor_numel(tf), n);
        ck_assert_int_eq(sc_tensor_dim(tf, -1), shapes[s][3]);

        /* copy into a tensor of another shape with the same count */
        sc_tensor *flat, *cp;
        TU_OK(sc_tensor_create(ctx, SC_F32, 1, &n, &flat));
        TU_OK(sc_tensor_copy(flat, tf));
        TU_OK(sc_tensor_download(flat, fb));
        ck_assert_mem_eq(f, fb, (size_t)n * 4);
        int64_t minus1[2] = {shapes[s][0], -1};
        TU_OK(sc_tensor_reshape(flat, 2, minus1, &cp));
        ck_assert_int_eq(sc_tensor_dim(cp, 1), n / shapes[s][0]);
        sc_tensor_free(cp);

        /* fills of every dtype */
        TU_OK(sc_tensor_fill(ti, -7));
        TU_OK(sc_tensor_fill(tu, 200));
        TU_OK(sc_tensor_fill(tf, 0.25));
        TU_OK(sc_tensor_download(ti, ib));
        TU_OK(sc_tensor_download(tu, ub));
        TU_OK(sc_tensor_download(tf, fb));
        for (int64_t k = 0; k < n; k++) {
            ck_assert_int_eq(ib[k], -7);
            ck_assert_int_eq(ub[k], 200);
            ck_assert_float_eq(fb[k], 0.25f);
        }
        sc_tensor_free(tf); sc_tensor_free(ti); sc_tensor_free(tu); sc_tensor_free(flat);
        free(f); free(fb); free(i32); free(ib); free(u8); free(ub);
    }
}
END_TEST

START_TEST(tensor_views)
{
    sc_context *ctx = tu_ctx();
    float h[7 * 3];
    for (int i = 0; i < 21; i++)
        h[i] = (float)i;
    int64_t shape[2] = {7, 3};
    sc_tensor *t, *s, *r;
    TU_OK(sc_tensor_from_host(ctx, SC_F32, 2, shape, h, &t));
    TU_OK(sc_tensor_slice(t, 2, 3, &s));         /* rows 2..4 */
    ck_assert_int_eq(sc_tensor_dim(s, 0), 3);
    float out[9];
    TU_OK(sc_tensor_download(s, out));
    for (int i = 0; i < 9; i++)
        ck_assert_float_eq(out[i], (float)(6 + i));
    /* writes through a view land in the parent; the view outlives the parent */
    TU_OK(sc_tensor_fill(s, -1.0));
    sc_tensor_free(t);
    int64_t flat = 9;
    TU_OK(sc_tensor_reshape(s, 1, &flat, &r));
    sc_tensor_free(s);
    TU_OK(sc_tensor_download(r, out));
    for (int i = 0; i < 9; i++)
        ck_assert_float_eq(out[i], -1.0f);
    sc_tensor_free(r);

    /* bad views are refused with a message */
    TU_OK(sc_tensor_from_host(ctx, SC_F32, 2, shape, h, &t));
    int64_t bad[2] = {4, 5};
    ck_assert_int_eq(sc_tensor_reshape(t, 2, bad, &r), SC_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sc_last_error(), "[7, 3]"), "%s", sc_last_error());
    int64_t two_infer[2] = {-1, -1};
    ck_assert_int_eq(sc_tensor_reshape(t, 2, two_infer, &r), SC_ERR_INVALID_ARG);
    ck_assert_int_eq(sc_tensor_slice(t, 5, 3, &s), SC_ERR_INVALID_ARG);
    ck_assert_int_eq(sc_tensor_slice(t, -1, 1, &s), SC_ERR_INVALID_ARG);
    int64_t neg = -2;
    ck_assert_int_eq(sc_tensor_create(ctx, SC_F32, 1, &neg, &r), SC_ERR_INVALID_ARG);
    ck_assert_int_eq(sc_tensor_create(ctx, SC_F32, SC_MAX_DIMS + 1, shape, &r),
                     SC_ERR_INVALID_ARG);
    sc_tensor *i32;
    TU_OK(sc_tensor_create(ctx, SC_I32, 2, shape, &i32));
    ck_assert_int_eq(sc_tensor_copy(i32, t), SC_ERR_INVALID_ARG);
    sc_tensor_free(i32);
    sc_tensor_free(t);

    /* empty and scalar tensors */
    int64_t zero = 0;
    TU_OK(sc_tensor_create(ctx, SC_F32, 1, &zero, &t));
    TU_OK(sc_tensor_fill(t, 1.0));
    TU_OK(sc_tensor_download(t, out));
    sc_tensor_free(t);
    float v = 3.5f, back = 0;
    TU_OK(sc_tensor_from_host(ctx, SC_F32, 0, NULL, &v, &t));
    ck_assert_int_eq(sc_tensor_numel(t), 1);
    TU_OK(sc_tensor_download(t, &back));
    ck_assert_float_eq(back, 3.5f);
    sc_tensor_free(t);
}
END_TEST

START_TEST(pool_does_not_grow)
{
    sc_context *ctx;
    TU_OK(sc_context_create(NULL, &ctx));
    const int64_t sizes[] = {1, 7, 13, 1000, 4096, 100003, 65536};
    sc_pool_stats st0, st;
    for (int cycle = 0; cycle < 1000; cycle++) {
        sc_tensor *ts[7];
        for (int k = 0; k < 7; k++)
            TU_OK(sc_tensor_create(ctx, SC_F32, 1, &sizes[k], &ts[k]));
        /* free in a varying order */
        for (int k = 0; k < 7; k++)
            sc_tensor_free(ts[(k + cycle) % 7]);
        if (cycle == 0)
            sc_pool_get_stats(ctx, &st0);
    }
    sc_pool_get_stats(ctx, &st);
    ck_assert_uint_eq(st.buffers_allocated, st0.buffers_allocated);
    ck_assert_uint_eq(st.buffers_allocated, 7); /* one per live tensor, none after */
    ck_assert_uint_eq(st.bytes_in_use, 0);
    ck_assert_uint_eq(st.reuses, 999u * 7u);
    /* a new peak starts at what is in use */
    ck_assert_uint_ge(st.bytes_peak, 100003u * 4u); /* the cycles held all seven at once */
    sc_tensor *big;
    int64_t nbig = 5000;
    TU_OK(sc_tensor_create(ctx, SC_F32, 1, &nbig, &big));
    sc_pool_reset_peak(ctx);
    sc_pool_get_stats(ctx, &st);
    ck_assert_uint_eq(st.bytes_peak, st.bytes_in_use);
    ck_assert_uint_ge(st.bytes_in_use, 5000u * 4u);
    sc_tensor_free(big);
    sc_pool_get_stats(ctx, &st);
    ck_assert_uint_eq(st.bytes_in_use, 0);
    ck_assert_uint_ge(st.bytes_peak, 5000u * 4u);
    ck_assert_uint_lt(st.bytes_peak, 100003u * 4u); /* below the cycles' peak: it was reset */
    sc_pool_trim(ctx);
    sc_pool_get_stats(ctx, &st);
    ck_assert_uint_eq(st.buffers_live, 0);
    ck_assert_uint_eq(st.bytes_live, 0);
    sc_context_free(ctx);
}
END_TEST

/* sc_context_queue_stats counts what each call asks of the queue, exactly. */
static sc_queue_stats queue_delta(sc_context *ctx, const sc_queue_stats *a)
{
    sc_queue_stats b;
    sc_context_queue_stats(ctx, &b);
    return (sc_queue_stats){b.kernels - a->kernels, b.gemms - a->gemms,
                            b.transfers - a->transfers, b.host_waits - a->host_waits,
                            b.narrow - a->narrow};
}

#define ASSERT_QUEUE(d, k, g, t, w)                                                                \
    do {                                                                                           \
        ck_assert_uint_eq((d).kernels, (k));                                                       \
        ck_assert_uint_eq((d).gemms, (g));                                                         \
        ck_assert_uint_eq((d).transfers, (t));                                                     \
        ck_assert_uint_eq((d).host_waits, (w));                                                    \
    } while (0)

/* A device whose CL_DEVICE_MAX_WORK_ITEM_SIZES are below the work-group
 * size: the 2-D and 3-D grids' work-groups stay within them (else the
 * launch fails with CL_INVALID_WORK_ITEM_SIZE) and still compute the same
 * values. The limits are lowered by hand on the real device. */
START_TEST(row_group_within_item_limits)
{
    sc_context *ctx;
    TU_OK(sc_context_create(NULL, &ctx));
    size_t saved[3] = {ctx->max_items[0], ctx->max_items[1], ctx->max_items[2]}, l[3];
    ck_assert_uint_ge(saved[0], 1);
    ck_assert_uint_ge(saved[1], 1);
    ctx->max_items[0] = 8;
    ctx->max_items[1] = 3;
    sc_row_group(ctx, 100, l); /* columns capped at 8, rows at 2 (a power of two <= 3) */
    ck_assert_uint_eq(l[0], 8);
    ck_assert_uint_eq(l[1], 2);
    ck_assert_uint_eq(l[2], 1);
    sc_row_group(ctx, 3, l); /* 4 columns, rows wg_size / 4 capped at 2 */
    ck_assert_uint_eq(l[0], 4);
    ck_assert_uint_eq(l[1], ctx->wg_size / 4 < 2 ? ctx->wg_size / 4 : 2);
    /* a 2-D broadcast add [5, 7] + [1, 7] and a 3-D permute of [3, 5, 7]
     * through the capped grids, against the host */
    int64_t sa[2] = {5, 7}, sb[2] = {1, 7}, sp[3] = {3, 5, 7}, sq[3] = {7, 3, 5};
    float ha[35], hb[7], hy[35], hp[105], hq[105];
    for (int i = 0; i < 35; i++)
        ha[i] = (float)(i * 3 % 11) - 4.5f;
    for (int i = 0; i < 7; i++)
        hb[i] = 0.25f * (float)i;
    for (int i = 0; i < 105; i++)
        hp[i] = (float)i;
    sc_tensor *a, *b, *y, *p, *q;
    TU_OK(sc_tensor_create(ctx, SC_F32, 2, sa, &a));
    TU_OK(sc_tensor_create(ctx, SC_F32, 2, sb, &b));
    TU_OK(sc_tensor_create(ctx, SC_F32, 2, sa, &y));
    TU_OK(sc_tensor_create(ctx, SC_F32, 3, sp, &p));
    TU_OK(sc_tensor_create(ctx, SC_F32, 3, sq, &q));
    TU_OK(sc_tensor_upload(a, ha));
    TU_OK(sc_tensor_upload(b, hb));
    TU_OK(sc_tensor_upload(p, hp));
    TU_OK(sc_k_math_binary(SC_BOP_ADD, y, a, b));
    int perm[3] = {2, 0, 1}; /* q[k, i, j] = p[i, j, k] */
    TU_OK(sc_k_math_permute(q, p, perm));
    TU_OK(sc_tensor_download(y, hy));
    TU_OK(sc_tensor_download(q, hq));
    for (int i = 0; i < 35; i++)
        ck_assert_float_eq(hy[i], ha[i] + hb[i % 7]);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 5; j++)
            for (int k = 0; k < 7; k++)
                ck_assert_float_eq(hq[(k * 3 + i) * 5 + j], hp[(i * 5 + j) * 7 + k]);
    sc_tensor_free(a);
    sc_tensor_free(b);
    sc_tensor_free(y);
    sc_tensor_free(p);
    sc_tensor_free(q);
    ctx->max_items[0] = saved[0];
    ctx->max_items[1] = saved[1];
    sc_context_free(ctx);
}
END_TEST

/* sc_launch_1d's work-groups on a CPU device: small grids are split so
 * that every compute unit gets two groups (down to 16 work-items a group);
 * large ones keep the context's size; a GPU always keeps it. */
START_TEST(local_1d_spreads_small_grids)
{
    sc_context *ctx;
    TU_OK(sc_context_create(NULL, &ctx));
    size_t cu = ctx->dev.compute_units ? ctx->dev.compute_units : 1;
    size_t sizes[] = {1, 7, 64, 128, 256, 1000, 4096, 1u << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i], l = sc_local_1d(ctx, n), groups = (n + l - 1) / l;
        ck_assert_uint_eq(l & (l - 1), 0); /* a power of two */
        ck_assert_uint_le(l, ctx->wg_size);
        if (ctx->dev.type != SC_DEVICE_CPU || ctx->wg_size <= 16) {
            ck_assert_uint_eq(l, ctx->wg_size);
            continue;
        }
        ck_assert_uint_ge(l, 16);
        if (l > 16) /* shrunk no further than needed */
            ck_assert_uint_ge(groups, 2 * cu);
        if (l < ctx->wg_size) /* shrunk only when the full size gave too few groups */
            ck_assert_uint_lt((n + 2 * l - 1) / (2 * l), 2 * cu);
    }
    sc_context_free(ctx);
}
END_TEST

/* The kernels with restrict buffers refuse an output that shares its
 * buffer with an input (they would read what they overwrite), naming the
 * kernel; distinct buffers pass. */
START_TEST(restrict_kernels_refuse_aliasing)
{
    sc_context *ctx;
    TU_OK(sc_context_create(NULL, &ctx));
    int64_t s4[4] = {1, 2, 4, 4}, s2[2] = {2, 16};
    sc_tensor *x, *y, *t;
    TU_OK(sc_tensor_create(ctx, SC_F32, 4, s4, &x));
    TU_OK(sc_tensor_create(ctx, SC_F32, 4, s4, &y));
    TU_OK(sc_tensor_create(ctx, SC_F32, 2, s2, &t));
    TU_OK(sc_tensor_fill(x, 1.0));
    sc_k_conv_geom cg = {.n = 1, .c = 2, .h = 4, .w = 4, .o = 2, .kh = 1, .kw = 1,
                         .s = 1, .p = 0, .oh = 4, .ow = 4};
    ck_assert_int_eq(sc_k_conv_to_cnp(x, x, &cg), SC_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(sc_last_error(), "sc_conv_to_cnp"));
    ck_assert_int_eq(sc_k_shape_slice(x, x, 3, 0), SC_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(sc_last_error(), "shares its buffer"));
    sc_k_pool_geom pg = sc_k_pool_geom_of(x->shape, 1, 1);
    ck_assert_int_eq(sc_k_pool_avg_fwd(x, x, &pg), SC_ERR_STATE);
    /* distinct buffers: the same calls run */
    TU_OK(sc_k_conv_to_cnp(t, x, &cg));
    TU_OK(sc_k_pool_avg_fwd(y, x, &pg));
    float back[32];
    TU_OK(sc_tensor_download(y, back));
    for (int i = 0; i < 32; i++)
        ck_assert_float_eq(back[i], 1.0f);
    sc_tensor_free(x);
    sc_tensor_free(y);
    sc_tensor_free(t);
    sc_context_free(ctx);
}
END_TEST

START_TEST(queue_stats_count_calls)
{
    sc_context *ctx;
    TU_OK(sc_context_create(NULL, &ctx));
    sc_queue_stats s0, d;
    sc_context_queue_stats(ctx, &s0);
    ASSERT_QUEUE(s0, 0, 0, 0, 0);
    int64_t n = 6;
    float h[6] = {1, 2, 3, 4, 5, 6}, back[6];
    sc_tensor *a, *b;
    TU_OK(sc_tensor_create(ctx, SC_F32, 1, &n, &a));
    TU_OK(sc_tensor_create(ctx, SC_F32, 1, &n, &b));
    sc_context_queue_stats(ctx, &s0);
    TU_OK(sc_tensor_upload(a, h));         /* blocking write: a transfer and a wait */
    TU_OK(sc_tensor_upload_async(b, h));   /* a transfer */
    TU_OK(sc_tensor_copy(b, a));           /* a transfer */
    TU_OK(sc_tensor_fill(a, 2.0));         /* float32 fill: a kernel */
    TU_OK(sc_op_scale(b, a, 3.0f));        /* a kernel */
    TU_OK(sc_tensor_download(b, back));    /* blocking read: a transfer and a wait */
    TU_OK(sc_context_finish(ctx));         /* a wait */
    d = queue_delta(ctx, &s0);
    ASSERT_QUEUE(d, 2, 0, 4, 3);
    ck_assert_float_eq(back[5], 6.0f);
    /* a matmul: one GEMM call whatever the provider; the host BLAS is a
     * native kernel on the queue where the device runs those (no wait), or
     * when profiled (f == 3) maps its buffers and waits once for the maps;
     * the native form is one of our kernels */
    static const char *forms[] = {"host", "native", "clblast", "host"};
    char *pdir = tu_tmpdir("prof"), ppath[4200];
    snprintf(ppath, sizeof ppath, "%s/p.csv", pdir);
    for (int f = 0; f < 4; f++) {
        TU_OK(sc_context_set_form(ctx, "gemm", forms[f]));
        if (f == 3)
            TU_OK(sc_profile_open(ctx, ppath));
        sc_graph *g;
        TU_OK(sc_graph_create(ctx, &g));
        sc_graph_set_recording(g, false);
        int64_t sh[2] = {2, 3}, sh2[2] = {3, 2};
        sc_var *x = sc_var_from_host(g, 2, sh, h, false), *y = sc_var_from_host(g, 2, sh2, h, false);
        TU_OK(sc_context_finish(ctx));
        sc_context_queue_stats(ctx, &s0);
        sc_var *z = sc_nn_matmul(g, x, y, false, false);
        ck_assert_ptr_nonnull(z);
        TU_OK(sc_graph_status(g));
        d = queue_delta(ctx, &s0);
        ck_assert_uint_eq(d.gemms, 1);
        ck_assert_uint_eq(d.transfers, 0);
        if (f == 0 || f == 3) {
            ck_assert_uint_eq(d.host_waits, f == 0 && ctx->native_kernels ? 0 : 1);
            ck_assert_uint_eq(d.kernels, 0);
        } else if (f == 1) {
            ck_assert_uint_eq(d.host_waits, 0);
            ck_assert_uint_eq(d.kernels, 1);
        } else {
            ck_assert_uint_eq(d.host_waits, 0); /* CLBlast's kernels are its own */
        }
        float zz[4];
        TU_OK(sc_tensor_download(sc_var_tensor(z), zz));
        ck_assert_float_eq(zz[0], 1 * 1 + 2 * 3 + 3 * 5);
        ck_assert_float_eq(zz[3], 4 * 2 + 5 * 4 + 6 * 6);
        /* A and B one buffer */
        sc_var *xx = sc_var_from_host(g, 2, sh, h, false);
        sc_var *w = sc_nn_matmul(g, xx, xx, false, true);
        ck_assert_ptr_nonnull(w);
        TU_OK(sc_graph_status(g));
        TU_OK(sc_tensor_download(sc_var_tensor(w), zz));
        ck_assert_float_eq(zz[0], 1 * 1 + 2 * 2 + 3 * 3);
        ck_assert_float_eq(zz[1], 1 * 4 + 2 * 5 + 3 * 6);
        ck_assert_float_eq(zz[3], 4 * 4 + 5 * 5 + 6 * 6);
        sc_graph_free(g);
    }
    sc_profile_close(ctx);
    tu_rmtree(pdir);
    /* the host form with buffers made in the order C, B, A: the queued
     * host GEMM takes each buffer's address by a native kernel of its own,
     * as PoCL pairs the addresses of several buffers with their slots in
     * its own order (creation order), not the list's */
    TU_OK(sc_context_set_form(ctx, "gemm", "host"));
    sc_buffer *bc, *bb, *ba;
    /* new buffers: a size class no earlier call of this test used */
    TU_OK(sc_pool_acquire(ctx->pool, 3000 * sizeof(float), &bc));
    TU_OK(sc_pool_acquire(ctx->pool, 3000 * sizeof(float), &bb));
    TU_OK(sc_pool_acquire(ctx->pool, 3000 * sizeof(float), &ba));
    float ha[6] = {1, 2, 3, 4, 5, 6}, hb[6] = {7, 8, 9, 10, 11, 12}, hc[4];
    ck_assert_int_eq(clEnqueueWriteBuffer(ctx->queue, ba->mem, CL_TRUE, 0, sizeof ha, ha, 0, NULL,
                                          NULL), CL_SUCCESS);
    ck_assert_int_eq(clEnqueueWriteBuffer(ctx->queue, bb->mem, CL_TRUE, 0, sizeof hb, hb, 0, NULL,
                                          NULL), CL_SUCCESS);
    sc_gemm_args ga = {.m = 2, .n = 2, .k = 3, .a = ba->mem, .b = bb->mem, .c = bc->mem,
                       .lda = 3, .ldb = 2, .ldc = 2, .batch = 1, .alpha = 1.0f, .beta = 0.0f};
    TU_OK(sc_gemm(ctx, &ga));
    ck_assert_int_eq(clEnqueueReadBuffer(ctx->queue, bc->mem, CL_TRUE, 0, sizeof hc, hc, 0, NULL,
                                         NULL), CL_SUCCESS);
    ck_assert_float_eq(hc[0], 1 * 7 + 2 * 9 + 3 * 11);
    ck_assert_float_eq(hc[1], 1 * 8 + 2 * 10 + 3 * 12);
    ck_assert_float_eq(hc[2], 4 * 7 + 5 * 9 + 6 * 11);
    ck_assert_float_eq(hc[3], 4 * 8 + 5 * 10 + 6 * 12);
    sc_pool_release(ctx->pool, ba);
    sc_pool_release(ctx->pool, bb);
    sc_pool_release(ctx->pool, bc);
    sc_tensor_free(a);
    sc_tensor_free(b);
    sc_context_free(ctx);
}
END_TEST

/* ---- per-device tuning (core/forms.c) ------------------------------------- */

static cJSON *read_json(const char *path)
{
    uint8_t *txt;
    size_t size;
    TU_OK(sc_io_read_file(path, 1 << 20, &txt, &size));
    cJSON *j = cJSON_ParseWithLength((const char *)txt, size);
    free(txt);
    ck_assert_msg(j, "%s is not JSON", path);
    return j;
}

static void write_json(const char *path, const cJSON *j)
{
    char *txt = cJSON_Print(j);
    FILE *fp = fopen(path, "w");
    ck_assert(txt && fp);
    fputs(txt, fp);
    fclose(fp);
    free(txt);
}

static void write_text(const char *path, const char *txt)
{
    FILE *fp = fopen(path, "w");
    ck_assert(fp);
    fputs(txt, fp);
    fclose(fp);
}

/* A new context on `path` in `mode`: what it runs for `family`. */
static sc_form_info form_on(const char *mode, const char *path, const char *family,
                            const char *forced)
{
    sc_context *ctx;
    TU_OK(sc_context_create(NULL, &ctx));
    TU_OK(sc_context_set_tuning(ctx, mode, path));
    if (forced)
        TU_OK(sc_context_set_form(ctx, family, forced));
    sc_form_info fi;
    TU_OK(sc_context_form(ctx, family, &fi));
    sc_context_free(ctx);
    return fi; /* its strings are static */
}

static cJSON *families_of(cJSON *root, int index)
{
    cJSON *dev = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "devices"), index);
    ck_assert_ptr_nonnull(dev);
    return cJSON_GetObjectItem(dev, "families");
}

/* Tuning measures each tunable family once per device and caches it: a
 * first context times every candidate and writes the choice; a second
 * reads it (a choice edited into the file is obeyed, so the cache and not
 * a new measurement decides); a forced form beats the cache; a stale key
 * (other kernel sources) and a malformed file are measured again, the
 * other entries kept; off keeps the device-type rule. */
/* One step of a small convolutional network with a second-order term (the
 * ULE teacher's kind): the loss's gradients with respect to the weights of
 * CE(linear(relu(conv(x)))) + sum(d CE / d x ^ 2), on ctx; into out
 * (conv weight, conv bias, linear weight, in that order). */
static void narrow_step(sc_context *ctx, float *out, size_t *nout)
{
    enum { N = 64, C = 4, H = 12 };
    static float x[N * H * H], cw[C * 9], cb[C], lw[5 * C * H * H];
    int32_t lab[N];
    uint64_t r = 7;
    float *all[3] = {x, cw, lw};
    size_t len[3] = {N * H * H, C * 9, 5 * C * H * H};
    for (int a = 0; a < 3; a++)
        for (size_t i = 0; i < len[a]; i++) {
            r = r * 6364136223846793005ULL + 1442695040888963407ULL;
            all[a][i] = (float)((double)(r >> 40) / (double)(1ULL << 24) - 0.5) *
                        (a ? 0.3f : 2.0f);
        }
    for (int i = 0; i < C; i++)
        cb[i] = 0.01f * (float)i;
    for (int i = 0; i < N; i++)
        lab[i] = i % 5;
    sc_graph *g;
    TU_OK(sc_graph_create(ctx, &g));
    int64_t sx[4] = {N, 1, H, H}, sw[4] = {C, 1, 3, 3}, sb[1] = {C}, sl[2] = {5, C * H * H},
            flat[2] = {N, C * H * H};
    sc_var *vx = sc_var_from_host(g, 4, sx, x, true), *vw = sc_var_from_host(g, 4, sw, cw, true),
           *vb = sc_var_from_host(g, 1, sb, cb, true), *vl = sc_var_from_host(g, 2, sl, lw, true),
           *vy = sc_var_labels_from_host(g, N, lab, 5);
    sc_var *h = sc_nn_relu(g, sc_nn_conv2d(g, vx, vw, vb, 1, 1));
    sc_var *logits = sc_nn_matmul(g, sc_nn_reshape(g, h, 2, flat), vl, false, true);
    sc_var *ce = sc_nn_cross_entropy(g, logits, vy, NULL, SC_LOSS_MEAN);
    sc_var *gx;
    TU_OK(sc_grad(g, 1, &ce, NULL, 1, &vx, true, &gx));
    sc_var *loss = sc_nn_add(g, ce, sc_nn_sum(g, sc_nn_mul(g, gx, gx)));
    sc_var *in[3] = {vw, vb, vl}, *gr[3];
    TU_OK(sc_grad(g, 1, &loss, NULL, 3, in, false, gr));
    *nout = 0;
    for (int i = 0; i < 3; i++) {
        float *hgr = tu_download(sc_var_tensor(gr[i]));
        size_t n = (size_t)sc_var_numel(gr[i]);
        memcpy(out + *nout, hgr, n * sizeof *hgr);
        *nout += n;
        free(hgr);
    }
    sc_graph_free(g);
}

/* The narrow queue (sc_device_narrow): where the threaded PoCL device has
 * the basic one beside it (POCL_DEVICES in tests/meson.build), a small
 * kernel that finds the device idle runs there, a large one or one queued
 * behind unfinished work does not; and a step with first and second order
 * gives the same bits with it as without (SPURCL_NARROW=0). */
START_TEST(narrow_same_bits)
{
    sc_context *ctx;
    TU_OK(sc_context_create(NULL, &ctx));
    char name[256];
    size_t items = 0;
    bool has = sc_device_narrow(sc_context_device(ctx), name, sizeof name, &items);
    ck_assert_int_eq(has, ctx->narrow != NULL);
    const sc_device_info *dev = sc_context_device(ctx);
    if (strncmp(dev->name, "pthread-", 8) == 0) {
        /* the suites' environment lists the basic device */
        ck_assert_msg(has, "no narrow queue beside %s", dev->name);
        ck_assert_uint_eq(items, 32768);
        ck_assert_ptr_nonnull(strstr(name, dev->name + 8));
    }
    if (has) {
        int64_t small = 1000, big = 100000;
        sc_tensor *a, *b;
        TU_OK(sc_tensor_create(ctx, SC_F32, 1, &small, &a));
        TU_OK(sc_tensor_create(ctx, SC_F32, 1, &big, &b));
        TU_OK(sc_context_finish(ctx));
        sc_queue_stats s0, d;
        sc_context_queue_stats(ctx, &s0);
        TU_OK(sc_tensor_fill(a, 1.0)); /* idle, small: narrow */
        d = queue_delta(ctx, &s0);
        ck_assert_uint_eq(d.kernels, 1);
        ck_assert_uint_eq(d.narrow, 1);
        TU_OK(sc_tensor_fill(b, 2.0)); /* large: the device */
        TU_OK(sc_tensor_fill(a, 3.0)); /* small behind unfinished work: the device */
        d = queue_delta(ctx, &s0);
        ck_assert_uint_eq(d.kernels, 3);
        ck_assert_uint_eq(d.narrow, 1);
        TU_OK(sc_context_finish(ctx));
        TU_OK(sc_op_scale(a, a, 2.0f)); /* idle again: narrow, after the fills */
        d = queue_delta(ctx, &s0);
        ck_assert_uint_eq(d.narrow, 2);
        float ha[1000], hb[4];
        TU_OK(sc_tensor_download(a, ha));
        for (int i = 0; i < 1000; i++)
            ck_assert_float_eq(ha[i], 6.0f);
        sc_tensor *bv;
        TU_OK(sc_tensor_slice(b, 0, 4, &bv));
        TU_OK(sc_tensor_download(bv, hb));
        ck_assert_float_eq(hb[3], 2.0f);
        sc_tensor_free(bv);
        sc_tensor_free(a);
        sc_tensor_free(b);
    }
    enum { MAXG = 4 * 9 + 4 + 5 * 4 * 144 };
    static float with[MAXG], without[MAXG];
    size_t n1, n2;
    sc_queue_stats q0, q1;
    sc_context_queue_stats(ctx, &q0);
    narrow_step(ctx, with, &n1);
    sc_context_queue_stats(ctx, &q1);
    if (has) /* both queues ran parts of the step */
        ck_assert_msg(q1.narrow - q0.narrow > 0 && q1.narrow - q0.narrow < q1.kernels - q0.kernels,
                      "%llu of %llu kernels narrow", (unsigned long long)(q1.narrow - q0.narrow),
                      (unsigned long long)(q1.kernels - q0.kernels));
    sc_context_free(ctx);
    setenv("SPURCL_NARROW", "0", 1);
    sc_context *wide;
    sc_status st = sc_context_create(NULL, &wide);
    unsetenv("SPURCL_NARROW");
    TU_OK(st);
    ck_assert_ptr_null(wide->narrow);
    narrow_step(wide, without, &n2);
    sc_context_free(wide);
    ck_assert_uint_eq(n1, MAXG);
    ck_assert_uint_eq(n2, MAXG);
    for (size_t i = 0; i < n1; i++)
        ck_assert_msg(memcmp(&with[i], &without[i], sizeof(float)) == 0,
                      "gradient %zu: %.9g with the narrow queue, %.9g without", i,
                      (double)with[i], (double)without[i]);
    /* and not all zero: the step computed something */
    double norm = 0;
    for (size_t i = 0; i < n1; i++)
        norm += fabs((double)with[i]);
    ck_assert_double_gt(norm, 1e-3);
}
END_TEST

START_TEST(tuning_cache)
{
    char *dir = tu_tmpdir("tune");
    char path[600];
    snprintf(path, sizeof path, "%s/sub/tune.json", dir); /* its directory is made */
    const char *fams[3] = {"gemm", "conv_layout", "norm"};
    const bool cpu = sc_context_device(tu_ctx())->type == SC_DEVICE_CPU;
    for (int f = 0; f < 3; f++) {
        sc_form_info fi = form_on("on", path, fams[f], NULL);
        ck_assert_str_eq(fi.how, "tuned");
        ck_assert_ptr_nonnull(fi.form);
        int chosen = -1, timed = 0, fastest = -1;
        for (int i = 0; i < fi.candidates; i++) {
            if (strcmp(fi.form, fi.names[i]) == 0)
                chosen = i;
            if (!isnan(fi.seconds[i])) {
                ck_assert(fi.seconds[i] > 0 && fi.seconds[i] < 10);
                timed++;
                if (fastest < 0 || fi.seconds[i] < fi.seconds[fastest])
                    fastest = i;
            }
        }
        ck_assert_int_ge(chosen, 0);
        ck_assert_int_ge(timed, 2); /* every form runs on a CPU device; a GPU may refuse host */
        /* the fastest, or the rule's form where the fastest is within 15 % of it */
        ck_assert(chosen == fastest || fi.seconds[fastest] >= 0.85 * fi.seconds[chosen]);
    }
    /* a family without a workload: the rule, nothing measured */
    sc_form_info fr = form_on("on", path, "rows", NULL);
    ck_assert_str_eq(fr.how, "rule");
    ck_assert_ptr_null(fr.form);
    ck_assert(isnan(fr.seconds[0]));

    cJSON *root = read_json(path);
    ck_assert_str_eq(cJSON_GetObjectItem(root, "format")->valuestring, "spurcl-tune-1");
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(root, "devices")), 1);
    cJSON *dev = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "devices"), 0);
    ck_assert_str_eq(cJSON_GetObjectItem(dev, "device")->valuestring,
                     sc_context_device(tu_ctx())->name);
    ck_assert_str_eq(cJSON_GetObjectItem(dev, "driver")->valuestring,
                     sc_context_device(tu_ctx())->driver_version);
    ck_assert_int_eq(cJSON_GetArraySize(families_of(root, 0)), 3);
    /* edit norm's choice to the other form: the next context runs it */
    cJSON *norm = cJSON_GetObjectItem(families_of(root, 0), "norm");
    const char *was = strcmp(cJSON_GetObjectItem(norm, "form")->valuestring, "slices") == 0
                          ? "slices" : "channels";
    const char *other = strcmp(was, "slices") == 0 ? "channels" : "slices";
    cJSON_ReplaceItemInObject(norm, "form", cJSON_CreateString(other));
    write_json(path, root);
    sc_form_info fc = form_on("on", path, "norm", NULL);
    ck_assert_str_eq(fc.how, "cached");
    ck_assert_str_eq(fc.form, other);
    ck_assert(!isnan(fc.seconds[0]) && !isnan(fc.seconds[1])); /* the cached times */
    /* the kernels follow it: batch norm takes the slice kernels or not */
    {
        sc_context *ctx;
        TU_OK(sc_context_create(NULL, &ctx));
        TU_OK(sc_context_set_tuning(ctx, "on", path));
        ck_assert_int_eq(sc_k_norm_slices_form(ctx), strcmp(other, "slices") == 0);
        sc_context_free(ctx);
    }
    sc_form_info ff = form_on("on", path, "norm", was);
    ck_assert_str_eq(ff.how, "forced");
    ck_assert_str_eq(ff.form, was);
    /* off: the rule, whatever the cache says */
    sc_form_info fo = form_on("off", path, "norm", NULL);
    ck_assert_str_eq(fo.how, "rule");
    ck_assert_str_eq(fo.form, cpu ? "slices" : "channels");
    /* again: measured, ignoring the edited choice */
    sc_form_info fa = form_on("again", path, "conv_layout", NULL);
    ck_assert_str_eq(fa.how, "tuned");

    /* a stale key: measured again, a second entry added, the stale one kept */
    cJSON_Delete(root);
    root = read_json(path);
    cJSON *dev0 = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "devices"), 0);
    cJSON_ReplaceItemInObject(dev0, "sources", cJSON_CreateString("0000000000000000"));
    write_json(path, root);
    cJSON_Delete(root);
    ck_assert_str_eq(form_on("on", path, "norm", NULL).how, "tuned");
    root = read_json(path);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(root, "devices")), 2);
    ck_assert_int_eq(cJSON_GetArraySize(families_of(root, 0)), 3);
    ck_assert_int_eq(cJSON_GetArraySize(families_of(root, 1)), 1);
    cJSON_Delete(root);
    /* a malformed file: measured again and rewritten whole */
    write_text(path, "{\"format\": \"spurcl-tune-1\", \"devices\": [");
    ck_assert_str_eq(form_on("on", path, "conv_layout", NULL).how, "tuned");
    root = read_json(path);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(root, "devices")), 1);
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(families_of(root, 0), "conv_layout"));
    cJSON_Delete(root);
    /* a mode that is none */
    ck_assert_int_eq(sc_context_set_tuning(tu_ctx(), "sometimes", path), SC_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sc_last_error(), "expected on, off or again"), "%s", sc_last_error());
    tu_rmtree(dir);
}
END_TEST

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--probe-no-platform") == 0)
        return probe_no_platform();
    const tu_case cases[] = {
        {"select", 0, {select_forms, select_env_and_bad, real_device_list, no_platform_message,
                        kernel_forms, blas_kernels, blas_thread_forms, tuning_cache}},
        {"programs", 0, {build_error_has_log, kernel_dir_override, kernel_dir_shared_header,
                error_names, error_buffer_freed_at_thread_exit}},
        {"tensors", 0, {tensor_round_trips, tensor_views, pool_does_not_grow, queue_stats_count_calls,
                     row_group_within_item_limits, local_1d_spreads_small_grids,
                     restrict_kernels_refuse_aliasing, narrow_same_bits}},
    };
    return tu_run(TU_SUITE("core", cases));
}
