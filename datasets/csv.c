/* The metadata CSV of an image folder: a header row naming at least the
 * columns path,label,attr,split (any order, case-insensitive, extra columns
 * ignored), then one row per image. RFC 4180 quoting, LF or CRLF line ends,
 * an optional UTF-8 byte-order mark, blank lines skipped. */
#include "ds_internal.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CSV_MAX_LABEL 1000000

typedef struct csv_field {
    char *s;
    size_t len;
} csv_field;

typedef struct csv_reader {
    const char *p, *end;
    const char *name;
    long long line;      /* 1-based line of the record being read */
    long long rec_line;  /* the line the record started on */
    csv_field *fields;
    size_t nf, capf;
    char *buf;           /* field text */
    size_t blen, bcap;
} csv_reader;

static int buf_put(csv_reader *r, char c)
{
    if (r->blen + 1 >= r->bcap) {
        size_t nc = r->bcap ? r->bcap * 2 : 256;
        char *nb = realloc(r->buf, nc);
        if (!nb)
            return 0;
        r->buf = nb;
        r->bcap = nc;
    }
    r->buf[r->blen++] = c;
    return 1;
}

/* Field starts are kept as offsets into buf while reading (buf may move). */
static int field_end(csv_reader *r, size_t start)
{
    if (!buf_put(r, 0))
        return 0;
    if (r->nf == r->capf) {
        size_t nc = r->capf ? r->capf * 2 : 8;
        csv_field *nf = realloc(r->fields, nc * sizeof *nf);
        if (!nf)
            return 0;
        r->fields = nf;
        r->capf = nc;
    }
    r->fields[r->nf].s = (char *)(uintptr_t)start;
    r->fields[r->nf].len = r->blen - 1 - start;
    r->nf++;
    return 1;
}

/* Reads one record. Returns 1 with fields, 0 at the end, -1 on error. */
static int csv_next(csv_reader *r, sc_status *st)
{
    for (;;) {
        r->nf = 0;
        r->blen = 0;
        if (r->p >= r->end)
            return 0;
        r->line++;
        r->rec_line = r->line;
        size_t start = 0;
        int any = 0;
        for (;;) {
            if (r->p >= r->end || *r->p == '\n' || *r->p == '\r') {
                if (!field_end(r, start))
                    goto oom;
                if (r->p < r->end && *r->p == '\r')
                    r->p++;
                if (r->p < r->end && *r->p == '\n')
                    r->p++;
                break;
            }
            char c = *r->p;
            if (c == ',') {
                r->p++;
                any = 1;
                if (!field_end(r, start))
                    goto oom;
                start = r->blen;
                continue;
            }
            if (c == '"' && r->blen == start) {
                /* Quoted field. */
                r->p++;
                any = 1;
                for (;;) {
                    if (r->p >= r->end) {
                        *st = sc_error_set(SC_ERR_FORMAT, "%s:%lld: unterminated quoted field",
                                           r->name, r->line);
                        return -1;
                    }
                    c = *r->p++;
                    if (c == '"') {
                        if (r->p < r->end && *r->p == '"') {
                            r->p++;
                        } else {
                            break;
                        }
                    } else if (c == '\n') {
                        r->line++;
                    }
                    if (c == 0) {
                        *st = sc_error_set(SC_ERR_FORMAT, "%s:%lld: NUL byte in a field",
                                           r->name, r->line);
                        return -1;
                    }
                    if (!buf_put(r, c))
                        goto oom;
                }
                if (r->p < r->end && *r->p != ',' && *r->p != '\n' && *r->p != '\r') {
                    *st = sc_error_set(SC_ERR_FORMAT,
                                       "%s:%lld: text after the closing quote of a field",
                                       r->name, r->line);
                    return -1;
                }
                continue;
            }
            if (c == 0) {
                *st = sc_error_set(SC_ERR_FORMAT, "%s:%lld: NUL byte in a field", r->name,
                                   r->line);
                return -1;
            }
            if (c != ' ' && c != '\t')
                any = 1;
            if (!buf_put(r, c))
                goto oom;
            r->p++;
        }
        if (!any && r->nf == 1)
            continue; /* blank line */
        for (size_t i = 0; i < r->nf; i++)
            r->fields[i].s = r->buf + (size_t)(uintptr_t)r->fields[i].s;
        return 1;
    }
oom:
    *st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "%s: out of memory", r->name);
    return -1;
}

static void trim(csv_field *f)
{
    while (f->len && isspace((unsigned char)f->s[0])) {
        f->s++;
        f->len--;
    }
    while (f->len && isspace((unsigned char)f->s[f->len - 1]))
        f->s[--f->len] = 0;
}

void sc_csv_rows_free(sc_csv_rows *rows)
{
    if (!rows)
        return;
    if (rows->paths)
        for (int64_t i = 0; i < rows->n; i++)
            free(rows->paths[i]);
    free(rows->paths);
    free(rows->labels);
    free(rows->attrs);
    free(rows->splits);
    free(rows->lines);
    memset(rows, 0, sizeof *rows);
}

static int parse_int(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end)
        return 0;
    *out = v;
    return 1;
}

sc_status sc_csv_parse(const char *text, size_t size, const char *name, sc_csv_rows *out)
{
    memset(out, 0, sizeof *out);
    csv_reader r = {.p = text, .end = text + size, .name = name};
    sc_status st = SC_OK;
    if (size >= 3 && (unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB &&
        (unsigned char)text[2] == 0xBF)
        r.p += 3;
    int got = csv_next(&r, &st);
    if (got < 0)
        goto done;
    if (got == 0) {
        st = sc_error_set(SC_ERR_FORMAT, "%s: empty CSV (expected a header row "
                          "path,label,attr,split)", name);
        goto done;
    }
    static const char *need[4] = {"path", "label", "attr", "split"};
    long col[4] = {-1, -1, -1, -1};
    size_t ncols = r.nf;
    for (size_t i = 0; i < r.nf; i++) {
        trim(&r.fields[i]);
        for (int k = 0; k < 4; k++)
            if (strcasecmp(r.fields[i].s, need[k]) == 0) {
                if (col[k] >= 0) {
                    st = sc_error_set(SC_ERR_FORMAT, "%s:%lld: column '%s' appears twice in "
                                      "the header", name, r.line, need[k]);
                    goto done;
                }
                col[k] = (long)i;
            }
    }
    for (int k = 0; k < 4; k++)
        if (col[k] < 0) {
            st = sc_error_set(SC_ERR_FORMAT,
                              "%s:%lld: the CSV header lacks the column '%s' (needs "
                              "path,label,attr,split)", name, r.line, need[k]);
            goto done;
        }
    size_t cap = 0;
    for (;;) {
        got = csv_next(&r, &st);
        if (got < 0)
            goto done;
        if (got == 0)
            break;
        if (r.nf != ncols) {
            st = sc_error_set(SC_ERR_FORMAT, "%s:%lld: row has %zu fields but the header has %zu",
                              name, r.line, r.nf, ncols);
            goto done;
        }
        if (out->n >= SC_DS_MAX_SAMPLES) {
            st = sc_error_set(SC_ERR_FORMAT, "%s: too many rows", name);
            goto done;
        }
        if ((size_t)out->n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            char **np = realloc(out->paths, nc * sizeof *np);
            if (np)
                out->paths = np;
            int32_t *nl = realloc(out->labels, nc * sizeof *nl);
            if (nl)
                out->labels = nl;
            int32_t *na = realloc(out->attrs, nc * sizeof *na);
            if (na)
                out->attrs = na;
            int32_t *ns = realloc(out->splits, nc * sizeof *ns);
            if (ns)
                out->splits = ns;
            int64_t *nli = realloc(out->lines, nc * sizeof *nli);
            if (nli)
                out->lines = nli;
            if (!np || !nl || !na || !ns || !nli) {
                st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
                goto done;
            }
            cap = nc;
        }
        for (size_t i = 0; i < r.nf; i++)
            trim(&r.fields[i]);
        csv_field *fp = &r.fields[col[0]], *fl = &r.fields[col[1]], *fa = &r.fields[col[2]],
                  *fs = &r.fields[col[3]];
        if (fp->len == 0) {
            st = sc_error_set(SC_ERR_FORMAT, "%s:%lld: empty path", name, r.line);
            goto done;
        }
        long lab, att;
        if (!parse_int(fl->s, &lab) || lab < 0 || lab >= CSV_MAX_LABEL) {
            st = sc_error_set(SC_ERR_FORMAT, "%s:%lld: label '%s' is not an integer in [0, %d)",
                              name, r.line, fl->s, CSV_MAX_LABEL);
            goto done;
        }
        if (!parse_int(fa->s, &att) || att < 0 || att >= CSV_MAX_LABEL) {
            st = sc_error_set(SC_ERR_FORMAT, "%s:%lld: attr '%s' is not an integer in [0, %d)",
                              name, r.line, fa->s, CSV_MAX_LABEL);
            goto done;
        }
        sc_split sp;
        if (sc_split_parse(fs->s, &sp) != SC_OK) {
            st = sc_error_set(SC_ERR_FORMAT,
                              "%s:%lld: unknown split name '%s' (expected train, val or test, "
                              "or 0, 1, 2)", name, r.line, fs->s);
            goto done;
        }
        char *path = strdup(fp->s);
        if (!path) {
            st = sc_error_set(SC_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
            goto done;
        }
        out->paths[out->n] = path;
        out->labels[out->n] = (int32_t)lab;
        out->attrs[out->n] = (int32_t)att;
        out->splits[out->n] = (int32_t)sp;
        out->lines[out->n] = r.rec_line;
        out->n++;
    }
    if (out->n == 0)
        st = sc_error_set(SC_ERR_FORMAT, "%s: the CSV has a header but no rows", name);
done:
    free(r.fields);
    free(r.buf);
    if (st != SC_OK)
        sc_csv_rows_free(out);
    return st;
}
