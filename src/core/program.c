/* OpenCL programs: embedded sources (or $SPURCL_KERNEL_DIR), build options
 * from the device, full compiler logs on failure, and a per-context cache of
 * programs and kernels. No on-disk binary cache: PoCL keeps its own kernel
 * cache (~/.cache/pocl/kcache), and GPU drivers keep theirs.
 *
 * A program's source is common.cl, then <family>.cl, each with its
 * `#include "NAME"` lines replaced by the file NAME of cl/ (sc_ops.h,
 * shared with the host) taken from the same place as the family: the
 * embedded sources, or $SPURCL_KERNEL_DIR. So the compiler never searches a
 * path, and an override directory is complete on its own. */
#include "core/core.h"
#include "core/embedded.h"

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

/* Reads $SPURCL_KERNEL_DIR/<file> into a new string. */
static sc_status read_override(const char *dir, const char *file, char **out)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
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

static const char *embedded_source(const char *file)
{
    for (const sc_embedded_kernel *k = sc_embedded_kernels; k->name; k++)
        if (strcmp(k->name, file) == 0)
            return k->source;
    return NULL;
}

/* A growing source text. */
typedef struct text_buf {
    char *p;
    size_t len, cap;
} text_buf;

static sc_status text_put(text_buf *b, const char *s, size_t n)
{
    if (b->cap - b->len < n + 1) {
        size_t cap = b->cap ? b->cap : 16384;
        while (cap - b->len < n + 1)
            cap *= 2;
        char *g = realloc(b->p, cap);
        if (!g)
            return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (program source)");
        b->p = g;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return SC_OK;
}

/* The file name of a line `#include "NAME"` (spaces allowed around '#'),
 * copied into name; false for any other line. */
static bool include_line(const char *line, size_t n, char *name, size_t size)
{
    const char *p = line, *end = line + n;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (p == end || *p++ != '#')
        return false;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if ((size_t)(end - p) < 8 || strncmp(p, "include", 7) != 0)
        return false;
    p += 7;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (p == end || *p++ != '"')
        return false;
    const char *q = memchr(p, '"', (size_t)(end - p));
    if (!q || q == p || (size_t)(q - p) >= size)
        return false;
    memcpy(name, p, (size_t)(q - p));
    name[q - p] = '\0';
    return true;
}

/* Appends cl/<file> (embedded, or from dir when set) to out with its
 * #include "NAME" lines replaced by those files, recursively. */
static sc_status append_source(const char *dir, const char *file, int depth, text_buf *out)
{
    if (depth > 8)
        return sc_error_set(SC_ERR_INVALID_ARG, "OpenCL source %s: #include nested too deep",
                            file);
    char *owned = NULL;
    const char *text;
    if (dir) {
        SC_TRY(read_override(dir, file, &owned));
        text = owned;
    } else if (!(text = embedded_source(file))) {
        return sc_error_set(SC_ERR_INVALID_ARG, "no OpenCL source '%s' is embedded", file);
    }
    sc_status st = SC_OK;
    for (const char *p = text; *p && st == SC_OK;) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) + 1 : strlen(p);
        char name[128];
        if (include_line(p, n, name, sizeof name)) {
            st = append_source(dir, name, depth + 1, out);
            if (st != SC_OK)
                st = sc_error_wrap(st, "included by %s", file);
            else
                st = text_put(out, "\n", 1);
        } else {
            st = text_put(out, p, n);
        }
        p += n;
    }
    free(owned);
    return st;
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
    cl_device_id dev = ctx->dev.cl_device, devs[2] = {dev, ctx->narrow_dev};
    err = clBuildProgram(prog, ctx->narrow_dev ? 2 : 1, devs, options, NULL, NULL);
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
    if (dir && !*dir)
        dir = NULL;
    char file[128];
    snprintf(file, sizeof file, "%s.cl", family);
    if (!dir && !embedded_source(file)) {
        free(key);
        return sc_error_set(SC_ERR_INVALID_ARG, "no OpenCL kernel family '%s' is embedded", family);
    }
    text_buf full = {0};
    sc_status st = append_source(dir, "common.cl", 0, &full);
    if (st == SC_OK)
        st = text_put(&full, "\n", 1);
    if (st == SC_OK)
        st = append_source(dir, file, 0, &full);
    if (st != SC_OK) {
        free(full.p);
        free(key);
        return st;
    }

    cl_program prog;
    st = sc_program_build_source(ctx, file, full.p, defines, &prog);
    free(full.p);
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
