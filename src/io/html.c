/* A growing HTML text with escaping and embedded PNGs (io/html.h). */
#include "io/html.h"
#include "base/base.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spurcl/io.h"

void sc_html_init(sc_html *h)
{
    memset(h, 0, sizeof *h);
}

void sc_html_free(sc_html *h)
{
    free(h->buf);
    memset(h, 0, sizeof *h);
}

sc_status sc_html_status(const sc_html *h)
{
    return h->failed ? sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (the report page)")
                     : SC_OK;
}

/* Room for n more bytes and the NUL. */
static bool reserve(sc_html *h, size_t n)
{
    if (h->failed)
        return false;
    if (n > SIZE_MAX / 2 - h->len - 1) {
        h->failed = true;
        return false;
    }
    if (h->len + n + 1 <= h->cap)
        return true;
    size_t cap = h->cap ? h->cap : 4096;
    while (cap < h->len + n + 1)
        cap *= 2;
    char *b = realloc(h->buf, cap);
    if (!b) {
        h->failed = true;
        return false;
    }
    h->buf = b;
    h->cap = cap;
    return true;
}

static void put(sc_html *h, const char *s, size_t n)
{
    if (!reserve(h, n))
        return;
    memcpy(h->buf + h->len, s, n);
    h->len += n;
    h->buf[h->len] = '\0';
}

void sc_html_raw(sc_html *h, const char *s)
{
    if (s)
        put(h, s, strlen(s));
}

static void vprint(sc_html *h, bool escape, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0) {
        h->failed = true;
        return;
    }
    char small[512];
    char *s = (size_t)n < sizeof small ? small : malloc((size_t)n + 1);
    if (!s) {
        h->failed = true;
        return;
    }
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    if (escape)
        sc_html_textn(h, s, (size_t)n);
    else
        put(h, s, (size_t)n);
    if (s != small)
        free(s);
}

void sc_html_printf(sc_html *h, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprint(h, false, fmt, ap);
    va_end(ap);
}

void sc_html_textf(sc_html *h, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprint(h, true, fmt, ap);
    va_end(ap);
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 when invalid
 * (overlong forms, surrogates and values above U+10FFFF included). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    unsigned v = c & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    return len;
}

void sc_html_textn(sc_html *h, const char *text, size_t n)
{
    if (!text)
        return;
    const unsigned char *s = (const unsigned char *)text;
    size_t run = 0; /* bytes copied as they are, pending */
    for (size_t i = 0; i < n;) {
        const char *rep = NULL;
        size_t len = 1;
        switch (s[i]) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        case '\t':
        case '\n': break;
        default:
            if (s[i] < 0x20 || s[i] == 0x7f)
                rep = "&#xFFFD;";
            else if (s[i] >= 0x80 && (len = utf8_len(s + i, n - i)) == 0) {
                rep = "&#xFFFD;";
                len = 1;
            }
        }
        if (rep) {
            put(h, (const char *)s + i - run, run);
            run = 0;
            sc_html_raw(h, rep);
        } else {
            run += len;
        }
        i += len;
    }
    put(h, (const char *)s + n - run, run);
}

void sc_html_text(sc_html *h, const char *s)
{
    if (s)
        sc_html_textn(h, s, strlen(s));
}

static void base64(sc_html *h, const uint8_t *d, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (!reserve(h, (n + 2) / 3 * 4))
        return;
    char *o = h->buf + h->len;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = tab[(v >> 6) & 63];
        *o++ = tab[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0);
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    h->len = (size_t)(o - h->buf);
    h->buf[h->len] = '\0';
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

sc_status sc_html_png(sc_html *h, const char *path, const char *alt, size_t max_bytes)
{
    static const uint8_t magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t *d;
    size_t n;
    SC_TRY(sc_io_read_file(path, max_bytes, &d, &n));
    /* the signature, then IHDR first: length 13, type, width, height */
    if (n < 33 || memcmp(d, magic, 8) != 0 || be32(d + 8) != 13 || memcmp(d + 12, "IHDR", 4)) {
        free(d);
        return sc_error_set(SC_ERR_FORMAT, "%s: not a PNG file", path);
    }
    uint32_t w = be32(d + 16), ht = be32(d + 20);
    sc_html_raw(h, "<img src=\"data:image/png;base64,");
    base64(h, d, n);
    sc_html_raw(h, "\" alt=\"");
    sc_html_text(h, alt);
    sc_html_printf(h, "\" width=\"%u\" height=\"%u\">", (unsigned)w, (unsigned)ht);
    free(d);
    return SC_OK;
}
