/* PNG read (every colour type and bit depth, converted to 8-bit grey or RGB)
 * and write, with libpng. libpng reports errors by longjmp; every error and
 * warning goes through our handlers so nothing is printed. */
#include "spurcl/io.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

typedef struct png_err_ctx {
    jmp_buf jmp;
    char msg[256];
} png_err_ctx;

static void on_png_error(png_structp png, png_const_charp msg)
{
    png_err_ctx *e = png_get_error_ptr(png);
    snprintf(e->msg, sizeof e->msg, "%s", msg ? msg : "unknown libpng error");
    longjmp(e->jmp, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

typedef struct mem_reader {
    const uint8_t *data;
    size_t size, pos;
} mem_reader;

static void read_mem(png_structp png, png_bytep out, png_size_t n)
{
    mem_reader *r = png_get_io_ptr(png);
    if (n > r->size - r->pos)
        png_error(png, "truncated PNG data (unexpected end of file)");
    memcpy(out, r->data + r->pos, n);
    r->pos += n;
}

/* Decodes into interleaved 8-bit grey(+alpha) or RGB(+alpha), then converts
 * to the requested channel count. */
static sc_status png_decode(const uint8_t *data, size_t size, const char *name, int want,
                            uint8_t **pixels, int *width, int *height, int *channels)
{
    *pixels = NULL;
    if (want != 0 && want != 1 && want != 3)
        return sc_error_set(SC_ERR_INVALID_ARG, "%s: channels must be 0, 1 or 3, not %d", name,
                            want);
    if (size < 8 || png_sig_cmp((png_const_bytep)data, 0, 8) != 0)
        return sc_error_set(SC_ERR_FORMAT, "%s: not a PNG file (bad signature)", name);

    png_err_ctx err;
    err.msg[0] = 0;
    mem_reader rd = {data, size, 0};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &err, on_png_error,
                                             on_png_warning);
    if (!png)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "%s: cannot create PNG reader", name);
    png_infop info = png_create_info_struct(png);
    /* Locals changed after setjmp must be volatile to survive longjmp. */
    png_bytep *volatile rows = NULL;
    uint8_t *volatile raw = NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "%s: cannot create PNG reader", name);
    }
    if (setjmp(err.jmp)) {
        png_destroy_read_struct(&png, &info, NULL);
        free(rows);
        free(raw);
        return sc_error_set(SC_ERR_FORMAT, "%s: corrupt or truncated PNG: %s", name, err.msg);
    }
    png_set_user_limits(png, SC_PNG_MAX_DIM, SC_PNG_MAX_DIM);
    png_set_chunk_malloc_max(png, 8u << 20);
    png_set_read_fn(png, &rd, read_mem);
    png_read_info(png, info);

    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int color = png_get_color_type(png, info);
    int depth = png_get_bit_depth(png, info);
    if (color == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_tRNS_to_alpha(png);
    if (depth == 16)
        png_set_scale_16(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int nc = png_get_channels(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (png_get_bit_depth(png, info) != 8 || nc < 1 || nc > 4 || rowbytes != (size_t)w * nc)
        png_error(png, "unsupported pixel layout after conversion");
    raw = malloc(rowbytes * h);
    rows = malloc(sizeof(png_bytep) * h);
    if (!raw || !rows)
        png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++)
        rows[y] = raw + (size_t)y * rowbytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);

    /* nc: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA. */
    int has_alpha = nc == 2 || nc == 4;
    int colour = nc >= 3;
    int out_c = want ? want : (colour ? 3 : 1);
    uint8_t *out = malloc((size_t)w * h * out_c);
    if (!out) {
        free(raw);
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
    }
    size_t npx = (size_t)w * h;
    for (size_t i = 0; i < npx; i++) {
        const uint8_t *p = raw + i * nc;
        unsigned r, g, b, a = has_alpha ? p[nc - 1] : 255;
        if (colour) {
            r = p[0];
            g = p[1];
            b = p[2];
        } else {
            r = g = b = p[0];
        }
        if (a != 255) {
            r = (r * a + 127) / 255;
            g = (g * a + 127) / 255;
            b = (b * a + 127) / 255;
        }
        if (out_c == 3) {
            out[3 * i] = (uint8_t)r;
            out[3 * i + 1] = (uint8_t)g;
            out[3 * i + 2] = (uint8_t)b;
        } else {
            /* BT.601 luma in fixed point (weights sum to 65536). */
            out[i] = colour ? (uint8_t)((19595u * r + 38470u * g + 7471u * b + 32768u) >> 16)
                            : (uint8_t)r;
        }
    }
    free(raw);
    *pixels = out;
    *width = (int)w;
    *height = (int)h;
    *channels = out_c;
    return SC_OK;
}

sc_status sc_png_read_memory(const void *data, size_t size, const char *name, int want_channels,
                             uint8_t **pixels, int *width, int *height, int *channels)
{
    return png_decode(data, size, name, want_channels, pixels, width, height, channels);
}

sc_status sc_png_read(const char *path, int want_channels, uint8_t **pixels, int *width,
                      int *height, int *channels)
{
    uint8_t *buf;
    size_t size;
    *pixels = NULL;
    sc_status st = sc_io_read_file(path, (size_t)1 << 31, &buf, &size);
    if (st != SC_OK)
        return st;
    st = png_decode(buf, size, path, want_channels, pixels, width, height, channels);
    free(buf);
    return st;
}

typedef struct png_write_ctx {
    const uint8_t *pixels;
    int width, height, channels;
    FILE *fp;
    int err; /* errno of the write that failed */
} png_write_ctx;

/* libpng's writes, keeping errno of the one that fails (libpng itself only
 * says "Write Error"). */
static void write_file(png_structp png, png_bytep data, png_size_t n)
{
    png_write_ctx *c = png_get_io_ptr(png);
    errno = 0;
    if (fwrite(data, 1, n, c->fp) != n) {
        c->err = errno ? errno : EIO;
        png_error(png, strerror(c->err));
    }
}

static void flush_file(png_structp png)
{
    png_write_ctx *c = png_get_io_ptr(png);
    errno = 0;
    if (fflush(c->fp) != 0) {
        c->err = errno ? errno : EIO;
        png_error(png, strerror(c->err));
    }
}

static sc_status png_write_body(FILE *fp, void *vctx)
{
    png_write_ctx *c = vctx;
    png_err_ctx err;
    err.msg[0] = 0;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &err, on_png_error,
                                              on_png_warning);
    if (!png)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "cannot create PNG writer");
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "cannot create PNG writer");
    }
    if (setjmp(err.jmp)) {
        png_destroy_write_struct(&png, &info);
        return sc_error_set(SC_ERR_IO, "%s: %s", c->err ? "write failed" : "PNG write failed",
                            err.msg);
    }
    static const int types[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                 PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
    c->fp = fp;
    c->err = 0;
    png_set_write_fn(png, c, write_file, flush_file);
    png_set_IHDR(png, info, (png_uint_32)c->width, (png_uint_32)c->height, 8,
                 types[c->channels], PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    size_t stride = (size_t)c->width * c->channels;
    for (int y = 0; y < c->height; y++)
        png_write_row(png, (png_const_bytep)(c->pixels + (size_t)y * stride));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return SC_OK;
}

sc_status sc_png_write(const char *path, const uint8_t *pixels, int width, int height,
                       int channels)
{
    if (width <= 0 || height <= 0 || width > 1000000 || height > 1000000)
        return sc_error_set(SC_ERR_INVALID_ARG, "%s: invalid PNG size %dx%d", path, width,
                            height);
    if (channels < 1 || channels > 4)
        return sc_error_set(SC_ERR_INVALID_ARG, "%s: PNG channels must be 1..4, not %d", path,
                            channels);
    png_write_ctx ctx = {pixels, width, height, channels, NULL, 0};
    return sc_io_write_atomic(path, png_write_body, &ctx); /* names path on failure */
}
