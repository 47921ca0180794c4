/* Opt-in profiling: total time and count per kernel name, written as CSV
 * (name,calls,total_ms,mean_us) when the context is freed. Each launch
 * waits for its kernel, so profiled runs are slower; use it to see where
 * time goes, not to time a run. */
#include "core/core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spurcl/io.h"

typedef struct prof_entry {
    char *name;
    double ns;
    uint64_t calls;
} prof_entry;

struct sc_profile {
    char *path;
    prof_entry *e;
    size_t n, cap;
};

sc_status sc_profile_open(sc_context *ctx, const char *path)
{
    sc_profile *p = calloc(1, sizeof *p);
    if (!p || !(p->path = strdup(path))) {
        free(p);
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (profile)");
    }
    ctx->profile = p;
    return SC_OK;
}

void sc_profile_add(sc_context *ctx, const char *name, double ns)
{
    sc_profile *p = ctx->profile;
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->e[i].name, name) == 0) {
            p->e[i].ns += ns;
            p->e[i].calls++;
            return;
        }
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 64;
        prof_entry *g = realloc(p->e, cap * sizeof *g);
        if (!g)
            return;
        p->e = g;
        p->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return;
    p->e[p->n++] = (prof_entry){copy, ns, 1};
}

static int by_time(const void *a, const void *b)
{
    double x = ((const prof_entry *)a)->ns, y = ((const prof_entry *)b)->ns;
    return (x < y) - (x > y);
}

static sc_status write_csv(FILE *f, void *ud)
{
    const sc_profile *p = ud;
    int err = fprintf(f, "name,calls,total_ms,mean_us\n") < 0 ? (errno ? errno : EIO) : 0;
    for (size_t i = 0; i < p->n && !err; i++)
        if (fprintf(f, "%s,%llu,%.3f,%.1f\n", p->e[i].name, (unsigned long long)p->e[i].calls,
                    p->e[i].ns / 1e6, p->e[i].ns / 1e3 / (double)p->e[i].calls) < 0)
            err = errno ? errno : EIO;
    return err ? sc_error_set(SC_ERR_IO, "write failed: %s", strerror(err)) : SC_OK;
}

void sc_profile_close(sc_context *ctx)
{
    sc_profile *p = ctx->profile;
    if (!p)
        return;
    qsort(p->e, p->n, sizeof *p->e, by_time);
    /* Freeing a context cannot fail; the profile was asked for by name
     * (SPURCL_PROFILE), so a write that fails says so on stderr. */
    if (sc_io_write_atomic(p->path, write_csv, p) != SC_OK)
        fprintf(stderr, "spurcl: SPURCL_PROFILE: %s\n", sc_last_error());
    for (size_t i = 0; i < p->n; i++)
        free(p->e[i].name);
    free(p->e);
    free(p->path);
    free(p);
    ctx->profile = NULL;
}
