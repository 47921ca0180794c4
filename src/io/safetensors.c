/* safetensors: writer and validating reader.
 *
 * File layout: u64 little-endian N, then N bytes of JSON header, then the
 * data section. The header maps tensor names to {"dtype", "shape",
 * "data_offsets": [begin, end]} (offsets relative to the data section) and
 * may hold "__metadata__": {string: string}. */
#include "spurcl/io.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Offsets are JSON numbers; beyond 2^53 they are not exact in a double. */
#define ST_MAX_INT 9007199254740992.0

static const struct {
    const char *name;
    size_t size;
} dtype_info[SC_ST_DTYPE_COUNT] = {
    [SC_ST_BOOL] = {"BOOL", 1}, [SC_ST_U8] = {"U8", 1},    [SC_ST_I8] = {"I8", 1},
    [SC_ST_U16] = {"U16", 2},   [SC_ST_I16] = {"I16", 2},  [SC_ST_F16] = {"F16", 2},
    [SC_ST_BF16] = {"BF16", 2}, [SC_ST_U32] = {"U32", 4},  [SC_ST_I32] = {"I32", 4},
    [SC_ST_F32] = {"F32", 4},   [SC_ST_U64] = {"U64", 8},  [SC_ST_I64] = {"I64", 8},
    [SC_ST_F64] = {"F64", 8},
};

size_t sc_st_dtype_size(sc_st_dtype dtype)
{
    return (unsigned)dtype < SC_ST_DTYPE_COUNT ? dtype_info[dtype].size : 0;
}

const char *sc_st_dtype_name(sc_st_dtype dtype)
{
    return (unsigned)dtype < SC_ST_DTYPE_COUNT ? dtype_info[dtype].name : "?";
}

sc_status sc_st_dtype_parse(const char *name, sc_st_dtype *out)
{
    for (int i = 0; i < SC_ST_DTYPE_COUNT; i++) {
        if (strcmp(name, dtype_info[i].name) == 0) {
            *out = (sc_st_dtype)i;
            return SC_OK;
        }
    }
    return sc_error_set(SC_ERR_FORMAT, "unknown dtype '%s'", name);
}

sc_status sc_st_tensor_nbytes(const sc_st_tensor *t, uint64_t *numel, uint64_t *nbytes)
{
    if ((unsigned)t->dtype >= SC_ST_DTYPE_COUNT)
        return sc_error_set(SC_ERR_INVALID_ARG, "tensor '%s': invalid dtype %d",
                            t->name ? t->name : "", (int)t->dtype);
    if (t->ndim < 0 || t->ndim > SC_ST_MAX_DIMS)
        return sc_error_set(SC_ERR_INVALID_ARG, "tensor '%s': rank %d outside [0, %d]",
                            t->name ? t->name : "", t->ndim, SC_ST_MAX_DIMS);
    uint64_t n = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] < 0)
            return sc_error_set(SC_ERR_INVALID_ARG, "tensor '%s': negative dimension",
                                t->name ? t->name : "");
        uint64_t d = (uint64_t)t->shape[i];
        if (d != 0 && n > UINT64_MAX / d)
            return sc_error_set(SC_ERR_INVALID_ARG, "tensor '%s': element count overflows",
                                t->name ? t->name : "");
        n *= d;
    }
    uint64_t es = sc_st_dtype_size(t->dtype);
    if (n > ((uint64_t)1 << 53) / es)
        return sc_error_set(SC_ERR_INVALID_ARG, "tensor '%s': too large",
                            t->name ? t->name : "");
    *numel = n;
    *nbytes = n * es;
    return SC_OK;
}

/* ------------------------------------------------------------------------
 * Writer
 * ---------------------------------------------------------------------- */

typedef struct st_write_ctx {
    const sc_st_tensor *tensors;
    size_t ntensors;
    const size_t *order;      /* data-section order */
    const uint64_t *nbytes;
    const char *header;
    size_t header_len;        /* unpadded */
    size_t padded_len;
} st_write_ctx;

/* errno's text of the write that just failed (EIO when it left none). */
static sc_status write_failed(const char *what)
{
    int e = errno ? errno : EIO;
    return sc_error_set(SC_ERR_IO, "write failed (%s): %s", what, strerror(e));
}

static sc_status st_write_body(FILE *fp, void *vctx)
{
    st_write_ctx *c = vctx;
    uint8_t len8[8];
    uint64_t n = c->padded_len;
    for (int i = 0; i < 8; i++)
        len8[i] = (uint8_t)(n >> (8 * i));
    errno = 0;
    if (fwrite(len8, 1, 8, fp) != 8 || fwrite(c->header, 1, c->header_len, fp) != c->header_len)
        return write_failed("header");
    for (size_t i = c->header_len; i < c->padded_len; i++)
        if (fputc(' ', fp) == EOF)
            return write_failed("header");
    for (size_t k = 0; k < c->ntensors; k++) {
        size_t i = c->order[k];
        if (c->nbytes[i] && fwrite(c->tensors[i].data, 1, (size_t)c->nbytes[i], fp) != c->nbytes[i])
            return write_failed(c->tensors[i].name);
    }
    return SC_OK;
}

sc_status sc_safetensors_write(const char *path, const sc_st_tensor *tensors, size_t ntensors,
                               const sc_st_meta *meta, size_t nmeta)
{
    sc_status st = SC_OK;
    size_t *order = calloc(ntensors ? ntensors : 1, sizeof *order);
    uint64_t *nbytes = calloc(ntensors ? ntensors : 1, sizeof *nbytes);
    uint64_t *offset = calloc(ntensors ? ntensors : 1, sizeof *offset);
    cJSON *root = cJSON_CreateObject();
    char *header = NULL;
    if (!order || !nbytes || !offset || !root) {
        st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        goto out;
    }
    for (size_t i = 0; i < ntensors; i++) {
        const sc_st_tensor *t = &tensors[i];
        if (!t->name || !*t->name || strcmp(t->name, "__metadata__") == 0) {
            st = sc_error_set(SC_ERR_INVALID_ARG, "%s: tensor %zu has an invalid name", path, i);
            goto out;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(tensors[j].name, t->name) == 0) {
                st = sc_error_set(SC_ERR_INVALID_ARG, "%s: duplicate tensor name '%s'", path,
                                  t->name);
                goto out;
            }
        uint64_t numel;
        st = sc_st_tensor_nbytes(t, &numel, &nbytes[i]);
        if (st != SC_OK) {
            sc_error_wrap(st, "%s", path);
            goto out;
        }
        if (nbytes[i] && !t->data) {
            st = sc_error_set(SC_ERR_INVALID_ARG, "%s: tensor '%s' has no data", path, t->name);
            goto out;
        }
    }
    /* Data order: decreasing element size, stable (insertion sort). */
    for (size_t i = 0; i < ntensors; i++) {
        size_t j = i;
        while (j > 0 && sc_st_dtype_size(tensors[order[j - 1]].dtype) <
                            sc_st_dtype_size(tensors[i].dtype)) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    uint64_t pos = 0;
    for (size_t k = 0; k < ntensors; k++) {
        offset[order[k]] = pos;
        pos += nbytes[order[k]];
    }
    if (nmeta) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        if (!m) {
            st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
            goto out;
        }
        for (size_t i = 0; i < nmeta; i++) {
            if (!meta[i].key || !meta[i].value) {
                st = sc_error_set(SC_ERR_INVALID_ARG, "%s: metadata entry %zu is NULL", path, i);
                goto out;
            }
            if (cJSON_GetObjectItemCaseSensitive(m, meta[i].key)) {
                st = sc_error_set(SC_ERR_INVALID_ARG, "%s: duplicate metadata key '%s'", path,
                                  meta[i].key);
                goto out;
            }
            if (!cJSON_AddStringToObject(m, meta[i].key, meta[i].value)) {
                st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
                goto out;
            }
        }
    }
    for (size_t i = 0; i < ntensors; i++) {
        const sc_st_tensor *t = &tensors[i];
        /* Integers are written as raw JSON so that no value goes through a
         * double and its printf formatting. */
        char buf[32 * SC_ST_MAX_DIMS + 8];
        size_t bl = 0;
        buf[bl++] = '[';
        for (int d = 0; d < t->ndim; d++)
            bl += (size_t)snprintf(buf + bl, sizeof buf - bl, "%s%" PRId64, d ? "," : "",
                                   t->shape[d]);
        buf[bl++] = ']';
        buf[bl] = 0;
        char offs[64];
        snprintf(offs, sizeof offs, "[%" PRIu64 ",%" PRIu64 "]", offset[i], offset[i] + nbytes[i]);
        cJSON *e = cJSON_AddObjectToObject(root, t->name);
        if (!e || !cJSON_AddStringToObject(e, "dtype", sc_st_dtype_name(t->dtype)) ||
            !cJSON_AddRawToObject(e, "shape", buf) ||
            !cJSON_AddRawToObject(e, "data_offsets", offs)) {
            st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
            goto out;
        }
    }
    header = cJSON_PrintUnformatted(root);
    if (!header) {
        st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        goto out;
    }
    st_write_ctx ctx = {
        .tensors = tensors,
        .ntensors = ntensors,
        .order = order,
        .nbytes = nbytes,
        .header = header,
        .header_len = strlen(header),
    };
    ctx.padded_len = (ctx.header_len + 7) / 8 * 8;
    st = sc_io_write_atomic(path, st_write_body, &ctx); /* names path on failure */
out:
    free(header);
    cJSON_Delete(root);
    free(order);
    free(nbytes);
    free(offset);
    return st;
}

/* ------------------------------------------------------------------------
 * Reader
 * ---------------------------------------------------------------------- */

struct sc_safetensors {
    char *name;
    uint8_t *file;        /* whole file */
    size_t file_size;
    sc_st_tensor *tensors;
    char **tensor_names;
    void **copies;        /* aligned copies of unaligned tensors (or NULL) */
    size_t ntensors;
    sc_st_meta *meta;
    char **meta_strs;     /* 2 per entry */
    size_t nmeta;
};

void sc_safetensors_close(sc_safetensors *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->ntensors; i++) {
        if (st->tensor_names)
            free(st->tensor_names[i]);
        if (st->copies)
            free(st->copies[i]);
    }
    for (size_t i = 0; i < 2 * st->nmeta; i++)
        free(st->meta_strs[i]);
    free(st->meta_strs);
    free(st->meta);
    free(st->tensors);
    free(st->tensor_names);
    free(st->copies);
    free(st->file);
    free(st->name);
    free(st);
}

static int read_uint(const cJSON *j, uint64_t *out)
{
    if (!cJSON_IsNumber(j))
        return 0;
    double v = j->valuedouble;
    if (!(v >= 0.0) || v > ST_MAX_INT || floor(v) != v)
        return 0;
    *out = (uint64_t)v;
    return 1;
}

typedef struct span {
    uint64_t begin, end;
    size_t index;
} span;

static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

static int str_ptr_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A name that occurs twice in names[0..n), or NULL. */
static const char *find_duplicate(char **names, size_t n)
{
    if (n < 2)
        return NULL;
    const char **tmp = malloc(n * sizeof *tmp);
    if (!tmp)
        return NULL;
    memcpy(tmp, names, n * sizeof *tmp);
    qsort(tmp, n, sizeof *tmp, str_ptr_cmp);
    const char *dup = NULL;
    for (size_t i = 1; i < n && !dup; i++)
        if (strcmp(tmp[i - 1], tmp[i]) == 0)
            dup = tmp[i];
    free(tmp);
    return dup;
}

static const char *find_duplicate_meta(const sc_safetensors *st)
{
    if (st->nmeta < 2)
        return NULL;
    char **keys = malloc(st->nmeta * sizeof *keys);
    if (!keys)
        return NULL;
    for (size_t i = 0; i < st->nmeta; i++)
        keys[i] = st->meta_strs[2 * i];
    const char *dup = find_duplicate(keys, st->nmeta);
    free(keys);
    return dup;
}

/* Takes ownership of `file`. */
static sc_status st_parse(uint8_t *file, size_t size, const char *name, sc_safetensors **out)
{
    *out = NULL;
    sc_status status = SC_OK;
    cJSON *root = NULL;
    span *spans = NULL;
    sc_safetensors *st = calloc(1, sizeof *st);
    if (!st) {
        free(file);
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
    }
    st->file = file;
    st->file_size = size;
    st->name = strdup(name);
    if (!st->name) {
        status = sc_error_set(SC_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
        goto fail;
    }
    if (size < 8) {
        status = sc_error_set(SC_ERR_FORMAT,
                              "%s: not a safetensors file: %zu bytes, shorter than the 8-byte "
                              "header length", name, size);
        goto fail;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | file[i];
    if (hlen > size - 8) {
        status = sc_error_set(SC_ERR_FORMAT,
                              "%s: bad safetensors header: header length %" PRIu64
                              " exceeds the %zu bytes after it", name, hlen, size - 8);
        goto fail;
    }
    if (hlen > SC_ST_MAX_HEADER) {
        status = sc_error_set(SC_ERR_FORMAT, "%s: bad safetensors header: header of %" PRIu64
                              " bytes is larger than the %" PRIu64 "-byte limit", name, hlen,
                              SC_ST_MAX_HEADER);
        goto fail;
    }
    if (hlen < 2 || file[8] != '{') {
        status = sc_error_set(SC_ERR_FORMAT,
                              "%s: bad safetensors header: does not start with a JSON object",
                              name);
        goto fail;
    }
    {
        const char *end = NULL;
        root = cJSON_ParseWithLengthOpts((const char *)file + 8, (size_t)hlen, &end, 0);
        if (!root || !cJSON_IsObject(root)) {
            status = sc_error_set(SC_ERR_FORMAT, "%s: bad safetensors header: invalid JSON", name);
            goto fail;
        }
        /* Only trailing spaces (padding) may follow the object. */
        for (const char *p = end; p < (const char *)file + 8 + hlen; p++)
            if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
                status = sc_error_set(SC_ERR_FORMAT,
                                      "%s: bad safetensors header: unexpected bytes after the "
                                      "JSON object", name);
                goto fail;
            }
    }
    const uint8_t *data = file + 8 + hlen;
    uint64_t data_size = size - 8 - hlen;

    size_t count = 0, mcount = 0;
    const cJSON *metaj = NULL;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (!e->string) {
            status = sc_error_set(SC_ERR_FORMAT, "%s: bad safetensors header", name);
            goto fail;
        }
        if (strcmp(e->string, "__metadata__") == 0) {
            if (metaj) {
                status = sc_error_set(SC_ERR_FORMAT,
                                      "%s: bad safetensors header: two __metadata__ entries",
                                      name);
                goto fail;
            }
            metaj = e;
        } else {
            count++;
        }
    }
    if (metaj) {
        if (!cJSON_IsObject(metaj)) {
            status = sc_error_set(SC_ERR_FORMAT,
                                  "%s: bad safetensors header: __metadata__ is not an object",
                                  name);
            goto fail;
        }
        for (const cJSON *e = metaj->child; e; e = e->next) {
            if (!e->string || !cJSON_IsString(e) || !e->valuestring) {
                status = sc_error_set(SC_ERR_FORMAT,
                                      "%s: bad safetensors header: metadata value of '%s' is "
                                      "not a string", name, e->string ? e->string : "");
                goto fail;
            }
            mcount++;
        }
    }
    st->tensors = calloc(count ? count : 1, sizeof *st->tensors);
    st->tensor_names = calloc(count ? count : 1, sizeof *st->tensor_names);
    st->copies = calloc(count ? count : 1, sizeof *st->copies);
    st->meta = calloc(mcount ? mcount : 1, sizeof *st->meta);
    st->meta_strs = calloc(2 * mcount + 1, sizeof *st->meta_strs);
    spans = calloc(count ? count : 1, sizeof *spans);
    if (!st->tensors || !st->tensor_names || !st->copies || !st->meta || !st->meta_strs ||
        !spans) {
        status = sc_error_set(SC_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
        goto fail;
    }
    if (metaj) {
        for (const cJSON *e = metaj->child; e; e = e->next) {
            char *k = strdup(e->string), *v = strdup(e->valuestring);
            st->meta_strs[2 * st->nmeta] = k;
            st->meta_strs[2 * st->nmeta + 1] = v;
            st->meta[st->nmeta].key = k;
            st->meta[st->nmeta].value = v;
            st->nmeta++;
            if (!k || !v) {
                status = sc_error_set(SC_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
                goto fail;
            }
        }
    }
    for (const cJSON *e = root->child; e; e = e->next) {
        if (e == metaj)
            continue;
        const char *tn = e->string;
        if (!*tn) {
            status = sc_error_set(SC_ERR_FORMAT, "%s: bad safetensors header: empty tensor name",
                                  name);
            goto fail;
        }
        size_t i = st->ntensors;
        st->tensor_names[i] = strdup(tn);
        st->ntensors++;
        if (!st->tensor_names[i]) {
            status = sc_error_set(SC_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
            goto fail;
        }
        sc_st_tensor *t = &st->tensors[i];
        t->name = st->tensor_names[i];
        if (!cJSON_IsObject(e)) {
            status = sc_error_set(SC_ERR_FORMAT,
                                  "%s: bad safetensors header: entry '%s' is not an object",
                                  name, tn);
            goto fail;
        }
        const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
        const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
        const cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
        if (!cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(of)) {
            status = sc_error_set(SC_ERR_FORMAT,
                                  "%s: bad safetensors header: tensor '%s' lacks a string "
                                  "\"dtype\", an array \"shape\" or an array \"data_offsets\"",
                                  name, tn);
            goto fail;
        }
        if (sc_st_dtype_parse(dt->valuestring, &t->dtype) != SC_OK) {
            status = sc_error_set(SC_ERR_FORMAT,
                                  "%s: bad safetensors header: tensor '%s' has unknown dtype "
                                  "'%s'", name, tn, dt->valuestring);
            goto fail;
        }
        int nd = cJSON_GetArraySize(sh);
        if (nd > SC_ST_MAX_DIMS) {
            status = sc_error_set(SC_ERR_FORMAT,
                                  "%s: tensor '%s' has %d dimensions, more than the %d supported",
                                  name, tn, nd, SC_ST_MAX_DIMS);
            goto fail;
        }
        t->ndim = nd;
        int d = 0;
        for (const cJSON *x = sh->child; x; x = x->next, d++) {
            uint64_t v;
            if (!read_uint(x, &v)) {
                status = sc_error_set(SC_ERR_FORMAT,
                                      "%s: bad safetensors header: tensor '%s' has a shape "
                                      "entry that is not a non-negative integer", name, tn);
                goto fail;
            }
            t->shape[d] = (int64_t)v;
        }
        uint64_t numel, nbytes;
        if (sc_st_tensor_nbytes(t, &numel, &nbytes) != SC_OK) {
            status = sc_error_set(SC_ERR_FORMAT, "%s: tensor '%s': shape too large", name, tn);
            goto fail;
        }
        uint64_t b, en;
        if (cJSON_GetArraySize(of) != 2 || !read_uint(of->child, &b) ||
            !read_uint(of->child->next, &en)) {
            status = sc_error_set(SC_ERR_FORMAT,
                                  "%s: bad safetensors header: tensor '%s' needs data_offsets "
                                  "[begin, end] of non-negative integers", name, tn);
            goto fail;
        }
        if (en < b || en - b != nbytes) {
            status = sc_error_set(SC_ERR_FORMAT,
                                  "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                                  "] do not hold %" PRIu64 " bytes (%s, %" PRIu64
                                  " elements)", name, tn, b, en, nbytes,
                                  sc_st_dtype_name(t->dtype), numel);
            goto fail;
        }
        if (en > data_size) {
            status = sc_error_set(SC_ERR_FORMAT,
                                  "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                                  "] out of range: the data section has %" PRIu64 " bytes",
                                  name, tn, b, en, data_size);
            goto fail;
        }
        spans[i].begin = b;
        spans[i].end = en;
        spans[i].index = i;
        size_t es = sc_st_dtype_size(t->dtype);
        const uint8_t *p = data + b;
        if (((uintptr_t)p % es) != 0 && nbytes > 0) {
            st->copies[i] = malloc((size_t)nbytes);
            if (!st->copies[i]) {
                status = sc_error_set(SC_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
                goto fail;
            }
            memcpy(st->copies[i], p, (size_t)nbytes);
            t->data = st->copies[i];
        } else {
            t->data = p;
        }
    }
    /* Duplicate names (sorted copies: O(n log n) on large headers). */
    {
        const char *dup = find_duplicate(st->tensor_names, st->ntensors);
        if (!dup && st->nmeta)
            dup = find_duplicate_meta(st);
        if (dup) {
            status = sc_error_set(SC_ERR_FORMAT, "%s: bad safetensors header: duplicate name '%s'",
                                  name, dup);
            goto fail;
        }
    }
    /* The tensors must tile the data section exactly. */
    qsort(spans, st->ntensors, sizeof *spans, span_cmp);
    {
        uint64_t pos = 0;
        for (size_t k = 0; k < st->ntensors; k++) {
            if (spans[k].begin != pos) {
                const char *tn = st->tensors[spans[k].index].name;
                if (spans[k].begin < pos)
                    status = sc_error_set(SC_ERR_FORMAT,
                                          "%s: tensor '%s' overlaps another tensor (offset %"
                                          PRIu64 " < %" PRIu64 ")", name, tn, spans[k].begin,
                                          pos);
                else
                    status = sc_error_set(SC_ERR_FORMAT,
                                          "%s: gap in the data section before tensor '%s' "
                                          "(offset %" PRIu64 ", expected %" PRIu64 ")",
                                          name, tn, spans[k].begin, pos);
                goto fail;
            }
            pos = spans[k].end;
        }
        if (pos != data_size) {
            status = sc_error_set(SC_ERR_FORMAT,
                                  "%s: data section has %" PRIu64 " bytes but the tensors "
                                  "cover %" PRIu64, name, data_size, pos);
            goto fail;
        }
    }
    free(spans);
    cJSON_Delete(root);
    *out = st;
    return SC_OK;
fail:
    free(spans);
    cJSON_Delete(root);
    sc_safetensors_close(st);
    return status;
}

sc_status sc_safetensors_open(const char *path, sc_safetensors **out)
{
    *out = NULL;
    uint8_t *buf;
    size_t size;
    /* The size cap is checked on the file's size before a byte is read. */
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size > SC_ST_MAX_FILE)
        return sc_error_set(SC_ERR_FORMAT, "%s: safetensors file of %lld bytes is larger than "
                            "the reader's limit of %" PRIu64 " bytes (64 GiB)", path,
                            (long long)sb.st_size, SC_ST_MAX_FILE);
    sc_status st = sc_io_read_file(path, (size_t)SC_ST_MAX_FILE, &buf, &size);
    if (st != SC_OK)
        return st;
    return st_parse(buf, size, path, out);
}

sc_status sc_safetensors_open_memory(const void *data, size_t size, const char *name,
                                     sc_safetensors **out)
{
    *out = NULL;
    uint8_t *buf = malloc(size + 1);
    if (!buf)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
    if (size)
        memcpy(buf, data, size);
    return st_parse(buf, size, name, out);
}

size_t sc_safetensors_count(const sc_safetensors *st) { return st->ntensors; }

const sc_st_tensor *sc_safetensors_at(const sc_safetensors *st, size_t i)
{
    return i < st->ntensors ? &st->tensors[i] : NULL;
}

const sc_st_tensor *sc_safetensors_find(const sc_safetensors *st, const char *name)
{
    for (size_t i = 0; i < st->ntensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0)
            return &st->tensors[i];
    return NULL;
}

sc_status sc_safetensors_get(const sc_safetensors *st, const char *name, sc_st_dtype dtype,
                             int ndim, const sc_st_tensor **out)
{
    const sc_st_tensor *t = sc_safetensors_find(st, name);
    *out = NULL;
    if (!t)
        return sc_error_set(SC_ERR_FORMAT, "%s: no tensor named '%s'", st->name, name);
    if (t->dtype != dtype)
        return sc_error_set(SC_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected %s",
                            st->name, name, sc_st_dtype_name(t->dtype), sc_st_dtype_name(dtype));
    if (ndim >= 0 && t->ndim != ndim)
        return sc_error_set(SC_ERR_FORMAT, "%s: tensor '%s' has %d dimensions, expected %d",
                            st->name, name, t->ndim, ndim);
    *out = t;
    return SC_OK;
}

const char *sc_safetensors_meta(const sc_safetensors *st, const char *key)
{
    for (size_t i = 0; i < st->nmeta; i++)
        if (strcmp(st->meta[i].key, key) == 0)
            return st->meta[i].value;
    return NULL;
}

size_t sc_safetensors_meta_count(const sc_safetensors *st) { return st->nmeta; }

sc_st_meta sc_safetensors_meta_at(const sc_safetensors *st, size_t i)
{
    sc_st_meta m = {NULL, NULL};
    if (i < st->nmeta)
        m = st->meta[i];
    return m;
}

const char *sc_safetensors_name(const sc_safetensors *st) { return st->name; }
