/* Shared by the metadata fuzz targets: a valid safetensors file made from
 * tensors and metadata strings (so that mutations reach what a loader
 * validates, not the container), and a memfd to hand it to loaders that
 * take a path. */
#ifndef SC_FUZZ_UTIL_H
#define SC_FUZZ_UTIL_H

#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "spurcl/error.h"
#include "spurcl/io.h"

/* A property of the code under test does not hold: says which, with the
 * library's last error, and aborts (libFuzzer keeps the input). */
#define FZ_FAIL(what)                                                                       \
    do {                                                                                    \
        fprintf(stderr, "%s:%d: property failed: %s (last error: %s)\n", __FILE__, __LINE__, \
                (what), sc_last_error());                                                   \
        abort();                                                                            \
    } while (0)

/* -DFZ_VERBOSE: the targets say why an input was refused (to check seeds). */
#ifdef FZ_VERBOSE
#define FZ_REFUSED(what) fprintf(stderr, "%s: %s\n", (what), sc_last_error())
#else
#define FZ_REFUSED(what) ((void)0)
#endif

/* The safetensors file of tensors t[0..nt) (each one's data packed in
 * order) and the metadata pairs meta[2i] = meta[2i + 1]; malloc'd, *size
 * bytes. Aborts when out of memory (the harness, not the code under test). */
static inline uint8_t *fz_safetensors(const sc_st_tensor *t, int nt, const char *const *meta,
                                      int nmeta, size_t *size)
{
    cJSON *h = cJSON_CreateObject();
    cJSON *m = nmeta ? cJSON_AddObjectToObject(h, "__metadata__") : NULL;
    for (int i = 0; i < nmeta; i++)
        cJSON_AddStringToObject(m, meta[2 * i], meta[2 * i + 1]);
    size_t off = 0;
    size_t *sizes = calloc((size_t)nt + 1, sizeof *sizes);
    if (!h || (nmeta && !m) || !sizes)
        abort();
    for (int i = 0; i < nt; i++) {
        cJSON *o = cJSON_AddObjectToObject(h, t[i].name);
        cJSON_AddStringToObject(o, "dtype", sc_st_dtype_name(t[i].dtype));
        cJSON *sh = cJSON_AddArrayToObject(o, "shape");
        size_t n = 1;
        for (int d = 0; d < t[i].ndim; d++) {
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t[i].shape[d]));
            n *= (size_t)t[i].shape[d];
        }
        sizes[i] = n * sc_st_dtype_size(t[i].dtype);
        cJSON *offs = cJSON_AddArrayToObject(o, "data_offsets");
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(off + sizes[i])));
        off += sizes[i];
    }
    char *hj = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    if (!hj)
        abort();
    size_t hl = strlen(hj), pad = (8 - hl % 8) % 8;
    uint64_t hlen = hl + pad;
    *size = 8 + hlen + off;
    uint8_t *buf = malloc(*size);
    if (!buf)
        abort();
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)(hlen >> (8 * i));
    memcpy(buf + 8, hj, hl);
    memset(buf + 8 + hl, ' ', pad);
    uint8_t *p = buf + 8 + hlen;
    for (int i = 0; i < nt; i++) {
        if (sizes[i])
            memcpy(p, t[i].data, sizes[i]);
        p += sizes[i];
    }
    cJSON_free(hj);
    free(sizes);
    return buf;
}

/* A file in memory with a path (/proc/self/fd/N) for loaders that open
 * one: fz_memfile_path() the first time creates it, fz_memfile_set()
 * replaces its contents. */
static int fz_memfd = -1;
static char fz_mempath[64];

static inline const char *fz_memfile_path(void)
{
    if (fz_memfd < 0) {
        fz_memfd = memfd_create("spurcl-fuzz", 0);
        if (fz_memfd < 0)
            abort();
        snprintf(fz_mempath, sizeof fz_mempath, "/proc/self/fd/%d", fz_memfd);
    }
    return fz_mempath;
}

static inline void fz_memfile_set(const uint8_t *data, size_t size)
{
    fz_memfile_path();
    if (ftruncate(fz_memfd, 0) != 0 || pwrite(fz_memfd, data, size, 0) != (ssize_t)size)
        abort();
}

/* Splits data at NUL bytes into at most `max` fields (malloc'd,
 * NUL-terminated copies; missing ones are NULL). Returns how many. */
static inline int fz_fields(const uint8_t *data, size_t size, char **f, int max)
{
    int k = 0;
    for (int i = 0; i < max; i++)
        f[i] = NULL;
    size_t at = 0;
    while (k < max && at <= size) {
        size_t len = strnlen((const char *)data + at, size - at);
        f[k] = malloc(len + 1);
        if (!f[k])
            abort();
        memcpy(f[k], data + at, len);
        f[k][len] = '\0';
        k++;
        at += len + 1;
    }
    return k;
}

#endif
