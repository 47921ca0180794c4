/* OpenCL programs: embedded sources (or $SPURCL_KERNEL_DIR), build options
 * from the device, full compiler logs on failure, and a per-context cache of
 * programs and kernels. No on-disk binary cache: PoCL keeps its own kernel
 * cache (~/.cache/pocl/kcache), and GPU drivers keep theirs. */
#include "core/core.h"
#include "core/kernels.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cache_entry {
    uint64_t hash;
    char *key;             /* "family\0defines\0name" flattened with '|' */
    cl_program program;    /* owned when kernel == NULL */
    cl_kernel kernel;
    struct cache_entry *next;
} cache_entry;

#define CACHE_BUCKETS 64

struct sc_program_cache {
    cache_entry *buckets[CACHE_BUCKETS];
};

static uint64_t fnv1a(const char *a, const char *b, const char *c)
{
    uint64_t h = 1469598103934665603ull;
    const char *parts[3] = {a, b ? b : "", c ? c : ""};
    for (int i = 0; i < 3; i++) {
        for (const char *p = parts[i]; *p; p++) {
            h ^= (unsigned char)*p;
            h *= 1099511628211ull;
        }
        h ^= 0xff;
        h *= 1099511628211ull;
    }
    return h;
}

static char *make_key(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b ? b : "") + strlen(c ? c : "") + 3;
    char *k = malloc(n);
    if (k)
        snprintf(k, n, "%s|%s|%s", a, b ? b : "", c ? c : "");
    return k;
}

sc_status sc_program_cache_create(sc_program_cache **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (program cache)");
    return SC_OK;
}

void sc_program_cache_free(sc_program_cache *cache)
{
    if (!cache)
        return;
    for (int b = 0; b < CACHE_BUCKETS; b++) {
        cache_entry *e = cache->buckets[b];
        while (e) {
            cache_entry *next = e->next;
            if (e->kernel)
                clReleaseKernel(e->kernel);
            else if (e->program)
                clReleaseProgram(e->program);
            free(e->key);
            free(e);
            e = next;
        }
    }
    free(cache);
}

static cache_entry *cache_find(sc_program_cache *c, uint64_t h, const char *key)
{
    for (cache_entry *e = c->buckets[h % CACHE_BUCKETS]; e; e = e->next)
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

static sc_status cache_put(sc_program_cache *c, uint64_t h, char *key, cl_program p, cl_kernel k)
{
    cache_entry *e = calloc(1, sizeof *e);
    if (!e)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (program cache)");
    e->hash = h;
    e->key = key;
    e->program = p;
    e->kernel = k;
    e->next = c->buckets[h % CACHE_BUCKETS];
    c->buckets[h % CACHE_BUCKETS] = e;
    return SC_OK;
}

/* Reads $SPURCL_KERNEL_DIR/<family>.cl into a new string. */
static sc_status read_override(const char *dir, const char *family, char **out)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.cl", dir, family);
    FILE *f = fopen(path, "rb");
    if (!f)
        return sc_error_set(SC_ERR_IO, "SPURCL_KERNEL_DIR: cannot open %s: %s", path,
                            strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 16384;
            char *g = realloc(buf, cap);
            if (!g) {
                free(buf);
                fclose(f);
                return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory reading %s", path);
            }
            buf = g;
        }
        size_t r = fread(buf + len, 1, cap - len - 1, f);
        len += r;
        if (r == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return sc_error_set(SC_ERR_IO, "SPURCL_KERNEL_DIR: error reading %s", path);
    }
    buf[len] = '\0';
    *out = buf;
    return SC_OK;
}

static const char *embedded_source(const char *family)
{
    for (const sc_embedded_kernel *k = sc_embedded_kernels; k->name; k++)
        if (strcmp(k->name, family) == 0)
            return k->source;
    return NULL;
}

sc_status sc_program_build_source(sc_context *ctx, const char *label, const char *source,
                                  const char *defines, cl_program *out)
{
    *out = NULL;
    char options[1024];
    snprintf(options, sizeof options, "%s %s", ctx->base_options, defines ? defines : "");
    cl_int err;
    cl_program prog = clCreateProgramWithSource(ctx->cl, 1, &source, NULL, &err);
    if (err != CL_SUCCESS)
        return sc_error_wrap(sc_cl_error(err, "clCreateProgramWithSource", __FILE__, __LINE__),
                             "program '%s'", label);
    cl_device_id dev = ctx->dev.cl_device;
    err = clBuildProgram(prog, 1, &dev, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        size_t log_size = 0;
        clGetProgramBuildInfo(prog, dev, CL_PROGRAM_BUILD_LOG, 0, NULL, &log_size);
        char *log = malloc(log_size + 1);
        if (log) {
            if (clGetProgramBuildInfo(prog, dev, CL_PROGRAM_BUILD_LOG, log_size, log, NULL) !=
                CL_SUCCESS)
                log_size = 0;
            log[log_size] = '\0';
        }
        sc_status st = sc_error_set(SC_ERR_BUILD,
                                    "building OpenCL program '%s' for %s failed: %s; "
                                    "options '%s'; compiler log:\n%s",
                                    label, ctx->dev.name, sc_cl_error_name(err), options,
                                    log && *log ? log : "(empty)");
        free(log);
        clReleaseProgram(prog);
        return st;
    }
    *out = prog;
    return SC_OK;
}

sc_status sc_program_get(sc_context *ctx, const char *family, const char *defines,
                         cl_program *out)
{
    uint64_t h = fnv1a(family, defines, NULL);
    char *key = make_key(family, defines, NULL);
    if (!key)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (program cache)");
    cache_entry *e = cache_find(ctx->programs, h, key);
    if (e) {
        free(key);
        *out = e->program;
        return SC_OK;
    }

    /* common.cl is prepended to every family: shared helpers and macros. */
    const char *dir = getenv("SPURCL_KERNEL_DIR");
    char *common_owned = NULL, *src_owned = NULL;
    const char *common = embedded_source("common");
    const char *src = embedded_source(family);
    sc_status st = SC_OK;
    if (dir && *dir) {
        if ((st = read_override(dir, "common", &common_owned)) != SC_OK ||
            (st = read_override(dir, family, &src_owned)) != SC_OK) {
            free(common_owned);
            free(key);
            return st;
        }
        common = common_owned;
        src = src_owned;
    }
    if (!src) {
        free(key);
        return sc_error_set(SC_ERR_INVALID_ARG, "no OpenCL kernel family '%s' is embedded", family);
    }
    size_t n = strlen(common ? common : "") + strlen(src) + 2;
    char *full = malloc(n);
    if (!full) {
        free(common_owned);
        free(src_owned);
        free(key);
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (program source)");
    }
    snprintf(full, n, "%s\n%s", common ? common : "", src);
    free(common_owned);
    free(src_owned);

    char label[128];
    snprintf(label, sizeof label, "%s.cl", family);
    cl_program prog;
    st = sc_program_build_source(ctx, label, full, defines, &prog);
    free(full);
    if (st != SC_OK) {
        free(key);
        return st;
    }
    if ((st = cache_put(ctx->programs, h, key, prog, NULL)) != SC_OK) {
        clReleaseProgram(prog);
        free(key);
        return st;
    }
    *out = prog;
    return SC_OK;
}

sc_status sc_kernel_get(sc_context *ctx, const char *family, const char *defines,
                        const char *name, cl_kernel *out)
{
    uint64_t h = fnv1a(family, defines, name);
    cache_entry *e;
    /* Fast path without allocating: compare piecewise. */
    for (e = ctx->programs->buckets[h % CACHE_BUCKETS]; e; e = e->next) {
        if (e->hash != h || !e->kernel)
            continue;
        char key[512];
        snprintf(key, sizeof key, "%s|%s|%s", family, defines ? defines : "", name);
        if (strcmp(e->key, key) == 0) {
            *out = e->kernel;
            return SC_OK;
        }
    }
    cl_program prog;
    SC_TRY(sc_program_get(ctx, family, defines, &prog));
    cl_int err;
    cl_kernel k = clCreateKernel(prog, name, &err);
    if (err != CL_SUCCESS)
        return sc_error_wrap(sc_cl_error(err, "clCreateKernel", __FILE__, __LINE__),
                             "kernel '%s' of %s.cl", name, family);
    char *key = make_key(family, defines, name);
    if (!key) {
        clReleaseKernel(k);
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (kernel cache)");
    }
    sc_status st = cache_put(ctx->programs, h, key, NULL, k);
    if (st != SC_OK) {
        clReleaseKernel(k);
        free(key);
        return st;
    }
    *out = k;
    return SC_OK;
}

sc_status sc_launch(sc_context *ctx, cl_kernel kernel, const char *name, int dims,
                    const size_t *global, const size_t *local, size_t nargs, const sc_karg *args)
{
    for (size_t i = 0; i < nargs; i++) {
        cl_int err = clSetKernelArg(kernel, (cl_uint)i, args[i].size, args[i].ptr);
        if (err != CL_SUCCESS)
            return sc_error_set(SC_ERR_OPENCL, "setting argument %zu of kernel %s: %s", i, name,
                                sc_cl_error_name(err));
    }
    size_t g[3];
    for (int d = 0; d < dims; d++) {
        if (global[d] == 0)
            return SC_OK; /* empty range: nothing to do */
        g[d] = local ? sc_round_up(global[d], local[d]) : global[d];
    }
    cl_event ev = NULL;
    cl_int err = clEnqueueNDRangeKernel(ctx->queue, kernel, (cl_uint)dims, NULL, g, local, 0,
                                        NULL, ctx->profile ? &ev : NULL);
    if (err != CL_SUCCESS)
        return sc_error_set(SC_ERR_OPENCL, "enqueueing kernel %s: %s", name,
                            sc_cl_error_name(err));
    if (ev) {
        cl_ulong t0 = 0, t1 = 0;
        if (clWaitForEvents(1, &ev) == CL_SUCCESS &&
            clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL) ==
                CL_SUCCESS &&
            clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL) ==
                CL_SUCCESS)
            sc_profile_add(ctx, name, (double)(t1 - t0));
        clReleaseEvent(ev);
    }
    return SC_OK;
}
