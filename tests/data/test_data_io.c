/* src/io: safetensors round trips and validation, the Python-written
 * fixture, PNG round trips and conversions, atomic writes, gzip errors. */
#include <math.h>
#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "../suite.h"
#include "dtest.h"
#include "spurcl/io.h"

/* ---- safetensors --------------------------------------------------------- */

START_TEST(st_round_trip)
{
    char *dir = dt_mkdtemp();
    char *path = dt_path(dir, "rt.safetensors");
    float f32[6] = {0.5f, -1.25f, 3.0f, 1e-20f, -0.0f, 65504.f};
    double f64[2] = {M_PI, -1e300};
    int64_t i64[3] = {INT64_MIN, -1, INT64_MAX};
    int32_t i32[5] = {1, -2, 3, -4, 2147483647};
    uint8_t u8[4] = {0, 1, 254, 255};
    double scalar = 7.0;
    sc_st_tensor t[6] = {
        {"u8", SC_ST_U8, 2, {2, 2}, u8},          /* declared first, stored last */
        {"f32", SC_ST_F32, 2, {2, 3}, f32},
        {"f64", SC_ST_F64, 1, {2}, f64},
        {"i64", SC_ST_I64, 1, {3}, i64},
        {"i32", SC_ST_I32, 1, {5}, i32},
        {"scalar", SC_ST_F64, 0, {0}, &scalar},
    };
    sc_st_meta meta[2] = {{"format", "test \"quoted\" \xc3\xa9"}, {"b", "{\"json\": [1, 2]}"}};
    DT_OK(sc_safetensors_write(path, t, 6, meta, 2));
    ck_assert_int_eq(dt_count_files(dir), 1); /* no temporary left behind */

    size_t size;
    uint8_t *raw = dt_read(path, &size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | raw[i];
    ck_assert_uint_eq(hlen % 8, 0);
    ck_assert_uint_eq(size, 8 + hlen + 24 + 16 + 24 + 20 + 8 + 4);
    ck_assert_int_eq(memcmp(raw + 8, "{\"__metadata__\":", 16), 0);
    free(raw);

    sc_safetensors *st;
    DT_OK(sc_safetensors_open(path, &st));
    ck_assert_uint_eq(sc_safetensors_count(st), 6);
    ck_assert_str_eq(sc_safetensors_at(st, 0)->name, "u8"); /* header order kept */
    const sc_st_tensor *g;
    DT_OK(sc_safetensors_get(st, "f32", SC_ST_F32, 2, &g));
    ck_assert_int_eq(g->shape[0], 2);
    ck_assert_int_eq(g->shape[1], 3);
    ck_assert_int_eq(memcmp(g->data, f32, sizeof f32), 0);
    DT_OK(sc_safetensors_get(st, "f64", SC_ST_F64, 1, &g));
    ck_assert_int_eq(memcmp(g->data, f64, sizeof f64), 0);
    DT_OK(sc_safetensors_get(st, "i64", SC_ST_I64, 1, &g));
    ck_assert_int_eq(memcmp(g->data, i64, sizeof i64), 0);
    ck_assert_uint_eq((uintptr_t)g->data % 8, 0);
    DT_OK(sc_safetensors_get(st, "i32", SC_ST_I32, 1, &g));
    ck_assert_int_eq(memcmp(g->data, i32, sizeof i32), 0);
    DT_OK(sc_safetensors_get(st, "u8", SC_ST_U8, 2, &g));
    ck_assert_int_eq(memcmp(g->data, u8, sizeof u8), 0);
    DT_OK(sc_safetensors_get(st, "scalar", SC_ST_F64, 0, &g));
    ck_assert_double_eq(*(const double *)g->data, 7.0);
    ck_assert_str_eq(sc_safetensors_meta(st, "format"), "test \"quoted\" \xc3\xa9");
    ck_assert_str_eq(sc_safetensors_meta(st, "b"), "{\"json\": [1, 2]}");
    ck_assert_ptr_null(sc_safetensors_meta(st, "nope"));
    ck_assert_ptr_null(sc_safetensors_find(st, "nope"));
    DT_FAILS(sc_safetensors_get(st, "nope", SC_ST_F32, -1, &g), SC_ERR_FORMAT, path, "nope");
    DT_FAILS(sc_safetensors_get(st, "f32", SC_ST_I32, -1, &g), SC_ERR_FORMAT, "F32", "I32");
    sc_safetensors_close(st);

    /* Same input, same bytes. */
    char *path2 = dt_path(dir, "rt2.safetensors");
    DT_OK(sc_safetensors_write(path2, t, 6, meta, 2));
    size_t s1, s2;
    uint8_t *a = dt_read(path, &s1), *b = dt_read(path2, &s2);
    ck_assert_uint_eq(s1, s2);
    ck_assert_int_eq(memcmp(a, b, s1), 0);
    free(a);
    free(b);

    /* Writer rejects duplicate names and leaves nothing behind. */
    sc_st_tensor dup[2] = {{"x", SC_ST_U8, 1, {1}, u8}, {"x", SC_ST_U8, 1, {1}, u8}};
    char *path3 = dt_path(dir, "dup.safetensors");
    DT_FAILS(sc_safetensors_write(path3, dup, 2, NULL, 0), SC_ERR_INVALID_ARG, "duplicate", NULL);
    ck_assert_int_eq(dt_count_files(dir), 2);
    free(path3);
    free(path2);
    free(path);
    dt_rmtree(dir);
}
END_TEST

START_TEST(st_python_fixture)
{
    sc_safetensors *st;
    DT_OK(sc_safetensors_open(DT_FIXTURE_DIR "/st_python.safetensors", &st));
    ck_assert_uint_eq(sc_safetensors_count(st), 5);
    ck_assert_str_eq(sc_safetensors_meta(st, "who"), "python");
    ck_assert_str_eq(sc_safetensors_meta(st, "note"), "fixture");
    const sc_st_tensor *t;
    DT_OK(sc_safetensors_get(st, "weight", SC_ST_F32, 2, &t));
    ck_assert_int_eq(t->shape[0], 2);
    ck_assert_int_eq(t->shape[1], 3);
    const float *w = t->data;
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(w[i], (float)i / 4.f);
    DT_OK(sc_safetensors_get(st, "ids", SC_ST_I64, 1, &t));
    const int64_t *ids = t->data;
    ck_assert_int_eq(ids[0], -3);
    ck_assert_int_eq(ids[1], 0);
    ck_assert_int_eq(ids[2], 7);
    ck_assert_int_eq(ids[3], (int64_t)1 << 40);
    DT_OK(sc_safetensors_get(st, "bytes", SC_ST_U8, 3, &t));
    for (int i = 0; i < 8; i++)
        ck_assert_uint_eq(((const uint8_t *)t->data)[i], i);
    DT_OK(sc_safetensors_get(st, "scalar", SC_ST_F64, 0, &t));
    ck_assert_double_eq(*(const double *)t->data, 2.5);
    DT_OK(sc_safetensors_get(st, "empty", SC_ST_I32, 1, &t));
    ck_assert_int_eq(t->shape[0], 0);
    sc_safetensors_close(st);
}
END_TEST

/* Builds a file: 8-byte length + header + `data` bytes. */
static void write_st(const char *path, const char *header, size_t data_bytes)
{
    size_t hl = strlen(header);
    size_t n = 8 + hl + data_bytes;
    uint8_t *b = calloc(n, 1);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, header, hl);
    dt_write(path, b, n);
    free(b);
}

START_TEST(st_bad_headers)
{
    char *dir = dt_mkdtemp();
    char *p = dt_path(dir, "bad.safetensors");
    sc_safetensors *st = NULL;
    static const struct {
        const char *header;
        size_t data;
        const char *needle;
    } cases[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "out of range"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,12]}}", 12, "do not hold"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}", 8, "overlaps"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "gap"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 9, "cover"},
        {"{\"a\":{\"dtype\":\"Q8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "unknown dtype"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,1]}}", 1, "non-negative"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1.5],\"data_offsets\":[0,1]}}", 1, "non-negative"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1]}}", 1, "data_offsets"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]", 1, "invalid JSON"},
        {"[1,2,3]", 0, "JSON object"},
        {"{\"__metadata__\":{\"k\":1}}", 0, "not a string"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}} x", 1, "after the JSON"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
         "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", 2, "duplicate"},
        {"{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, "duplicate name 'k'"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,4294967296],"
         "\"data_offsets\":[0,1]}}", 1, "too large"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_st(p, cases[i].header, cases[i].data);
        sc_status s = sc_safetensors_open(p, &st);
        ck_assert_msg(s == SC_ERR_FORMAT, "case %zu: %s -> %s", i, cases[i].header,
                      sc_status_name(s));
        ck_assert_msg(strstr(sc_last_error(), p) && strstr(sc_last_error(), cases[i].needle),
                      "case %zu: message '%s' lacks the path or '%s'", i, sc_last_error(),
                      cases[i].needle);
        ck_assert_ptr_null(st);
    }
    /* Header length beyond the file, and a file shorter than 8 bytes. */
    uint8_t big[16] = {0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}'};
    dt_write(p, big, 16);
    DT_FAILS(sc_safetensors_open(p, &st), SC_ERR_FORMAT, p, "exceeds");
    dt_write(p, big, 5);
    DT_FAILS(sc_safetensors_open(p, &st), SC_ERR_FORMAT, p, "shorter than");
    /* Missing file. */
    char *missing = dt_path(dir, "missing.safetensors");
    DT_FAILS(sc_safetensors_open(missing, &st), SC_ERR_IO, missing, "No such file");
    /* A valid minimal file still opens (the cases above are not rejected
     * for an unrelated reason). */
    write_st(p, "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}   ", 1);
    DT_OK(sc_safetensors_open(p, &st));
    sc_safetensors_close(st);
    free(missing);
    free(p);
    dt_rmtree(dir);
}
END_TEST

/* ---- PNG ------------------------------------------------------------------ */

START_TEST(png_round_trip)
{
    char *dir = dt_mkdtemp();
    char *p = dt_path(dir, "rt.png");
    for (int c = 1; c <= 4; c++) {
        int w = 7, h = 5;
        uint8_t px[7 * 5 * 4];
        for (int i = 0; i < w * h * c; i++)
            px[i] = (uint8_t)(i * 37 + c);
        DT_OK(sc_png_write(p, px, w, h, c));
        uint8_t *out;
        int ow, oh, oc;
        if (c == 1 || c == 3) {
            DT_OK(sc_png_read(p, 0, &out, &ow, &oh, &oc));
            ck_assert_int_eq(ow, w);
            ck_assert_int_eq(oh, h);
            ck_assert_int_eq(oc, c);
            ck_assert_int_eq(memcmp(out, px, (size_t)w * h * c), 0);
            free(out);
        } else {
            /* Alpha is composited over black. */
            DT_OK(sc_png_read(p, 0, &out, &ow, &oh, &oc));
            ck_assert_int_eq(oc, c == 2 ? 1 : 3);
            for (int i = 0; i < w * h; i++) {
                unsigned a = px[i * c + c - 1];
                for (int k = 0; k < oc; k++)
                    ck_assert_uint_eq(out[i * oc + k], (px[i * c + k] * a + 127) / 255);
            }
            free(out);
        }
    }
    ck_assert_int_eq(dt_count_files(dir), 1);
    free(p);
    dt_rmtree(dir);
}
END_TEST

static void expect_png(const char *name, int want, int ew, int eh, int ec, const uint8_t *exp)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", DT_FIXTURE_DIR, name);
    uint8_t *px;
    int w, h, c;
    DT_OK(sc_png_read(path, want, &px, &w, &h, &c));
    ck_assert_int_eq(w, ew);
    ck_assert_int_eq(h, eh);
    ck_assert_int_eq(c, ec);
    for (int i = 0; i < w * h * c; i++)
        ck_assert_msg(px[i] == exp[i], "%s: byte %d is %d, want %d", name, i, px[i], exp[i]);
    free(px);
}

START_TEST(png_conversions)
{
    expect_png("png_grey8.png", 0, 3, 2, 1, (const uint8_t[]){0, 50, 100, 150, 200, 255});
    expect_png("png_grey16.png", 0, 3, 2, 1, (const uint8_t[]){0, 128, 255, 1, 2, 3});
    expect_png("png_grey1.png", 0, 3, 2, 1, (const uint8_t[]){255, 0, 255, 0, 255, 0});
    expect_png("png_grey8.png", 3, 3, 2, 3,
               (const uint8_t[]){0, 0, 0, 50, 50, 50, 100, 100, 100, 150, 150, 150, 200, 200,
                                 200, 255, 255, 255});
    static const uint8_t rgb[18] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 40, 50, 60,
                                    70, 80, 90};
    expect_png("png_rgb8.png", 0, 3, 2, 3, rgb);
    expect_png("png_rgb16.png", 3, 3, 2, 3, rgb);
    expect_png("png_pal8.png", 0, 3, 2, 3,
               (const uint8_t[]){255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 255, 0, 255, 0, 255, 0,
                                 0});
    /* BT.601 luma of pure red, green, blue: 76, 150, 29. */
    expect_png("png_pal8.png", 1, 3, 2, 1, (const uint8_t[]){76, 150, 29, 29, 150, 76});
    /* RGBA over black: alpha 255, 0, 128. */
    expect_png("png_rgba8.png", 0, 3, 2, 3,
               (const uint8_t[]){200, 100, 50, 0, 0, 0, 100, 50, 25, 1, 2, 3, 4, 5, 6, 7, 8,
                                 9});
    expect_png("png_ga8.png", 0, 3, 2, 1, (const uint8_t[]){100, 0, 200, 0, 255, 60});
}
END_TEST

START_TEST(png_bad)
{
    char *dir = dt_mkdtemp();
    char *p = dt_path(dir, "bad.png");
    uint8_t *px = NULL;
    int w, h, c;
    size_t n;
    uint8_t *good = dt_read(DT_FIXTURE_DIR "/png_rgb8.png", &n);
    /* Truncated: cut inside IDAT. */
    dt_write(p, good, n - 20);
    DT_FAILS(sc_png_read(p, 0, &px, &w, &h, &c), SC_ERR_FORMAT, p, "PNG");
    ck_assert_ptr_null(px);
    /* Corrupt: flip a byte of the IHDR data (CRC mismatch on a critical chunk). */
    uint8_t *bad = malloc(n);
    memcpy(bad, good, n);
    bad[18] ^= 0x55;
    dt_write(p, bad, n);
    DT_FAILS(sc_png_read(p, 0, &px, &w, &h, &c), SC_ERR_FORMAT, p, "corrupt");
    /* Not a PNG at all. */
    dt_write(p, "hello, world", 12);
    DT_FAILS(sc_png_read(p, 0, &px, &w, &h, &c), SC_ERR_FORMAT, p, "signature");
    /* Missing. */
    char *missing = dt_path(dir, "nope.png");
    DT_FAILS(sc_png_read(missing, 0, &px, &w, &h, &c), SC_ERR_IO, missing, NULL);
    free(missing);
    free(bad);
    free(good);
    free(p);
    dt_rmtree(dir);
}
END_TEST

/* ---- atomic writes and gzip ---------------------------------------------- */

static sc_status write_hello(FILE *fp, void *ctx)
{
    (void)ctx;
    fputs("hello", fp);
    return SC_OK;
}

static sc_status write_then_fail(FILE *fp, void *ctx)
{
    (void)ctx;
    fputs("partial", fp);
    return sc_error_set(SC_ERR_IO, "simulated failure");
}

START_TEST(atomic_write)
{
    char *dir = dt_mkdtemp();
    char *p = dt_path(dir, "out.txt");
    DT_OK(sc_io_write_atomic(p, write_hello, NULL));
    size_t n;
    uint8_t *b = dt_read(p, &n);
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(memcmp(b, "hello", 5), 0);
    free(b);
    /* A failing writer leaves the old file untouched and no temporary. */
    DT_FAILS(sc_io_write_atomic(p, write_then_fail, NULL), SC_ERR_IO, "simulated", NULL);
    b = dt_read(p, &n);
    ck_assert_uint_eq(n, 5);
    free(b);
    ck_assert_int_eq(dt_count_files(dir), 1);
    /* Unwritable directory. */
    char *q = dt_path(dir, "no/such/dir/x");
    DT_FAILS(sc_io_write_atomic(q, write_hello, NULL), SC_ERR_IO, q, NULL);
    free(q);
    free(p);
    dt_rmtree(dir);
}
END_TEST

START_TEST(gunzip_errors)
{
    const char *text = "spurcl gzip test: some bytes to compress, repeated repeated repeated";
    uint8_t gz[256];
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    ck_assert_int_eq(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
                     Z_OK);
    zs.next_in = (Bytef *)(uintptr_t)text;
    zs.avail_in = (uInt)strlen(text);
    zs.next_out = gz;
    zs.avail_out = sizeof gz;
    ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t gzn = sizeof gz - zs.avail_out;
    deflateEnd(&zs);
    uint8_t *out;
    size_t n;
    DT_OK(sc_io_gunzip(gz, gzn, 1 << 20, "t.gz", &out, &n));
    ck_assert_uint_eq(n, strlen(text));
    ck_assert_int_eq(memcmp(out, text, n), 0);
    free(out);
    /* Two members concatenated. */
    uint8_t two[512];
    memcpy(two, gz, gzn);
    memcpy(two + gzn, gz, gzn);
    DT_OK(sc_io_gunzip(two, 2 * gzn, 1 << 20, "t.gz", &out, &n));
    ck_assert_uint_eq(n, 2 * strlen(text));
    free(out);
    DT_FAILS(sc_io_gunzip(gz, gzn - 6, 1 << 20, "t.gz", &out, &n), SC_ERR_FORMAT, "t.gz",
             "corrupt gzip");
    uint8_t bad[256];
    memcpy(bad, gz, gzn);
    bad[gzn / 2] ^= 0xff;
    bad[gzn / 2 + 1] ^= 0xff;
    DT_FAILS(sc_io_gunzip(bad, gzn, 1 << 20, "t.gz", &out, &n), SC_ERR_FORMAT, "t.gz",
             "corrupt gzip");
    DT_FAILS(sc_io_gunzip(gz, gzn, 10, "t.gz", &out, &n), SC_ERR_FORMAT, "t.gz", "more than");
}
END_TEST

/* Only regular files are read: a FIFO without a writer would block the
 * reader forever and /dev/zero would grow it without bound. */
START_TEST(special_files_refused)
{
    char dir[] = "/tmp/spurcl-fifo-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char fifo[64];
    snprintf(fifo, sizeof fifo, "%s/pipe", dir);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    uint8_t *data;
    size_t n;
    DT_FAILS(sc_io_read_file(fifo, 1 << 20, &data, &n), SC_ERR_IO, fifo, "is a FIFO");
    sc_safetensors *st;
    DT_FAILS(sc_safetensors_open(fifo, &st), SC_ERR_IO, fifo, "not a regular file");
    DT_FAILS(sc_io_read_file("/dev/zero", 1 << 20, &data, &n), SC_ERR_IO, "/dev/zero",
             "character device");
    DT_FAILS(sc_io_read_file(dir, 1 << 20, &data, &n), SC_ERR_IO, dir, "is a directory");
    ck_assert_int_eq(unlink(fifo), 0);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* An output name that is not a regular file is never renamed over: a
 * device is written in place (as root a rename would have turned /dev/full
 * into a regular file and reported success), a FIFO with no reader is an
 * error rather than a wait, a directory is refused, and a symbolic link
 * stays a link while its target gets the new content. */
START_TEST(atomic_write_special_targets)
{
    struct stat sb;
    if (stat("/dev/full", &sb) == 0 && S_ISCHR(sb.st_mode)) {
        DT_FAILS(sc_io_write_atomic("/dev/full", write_hello, NULL), SC_ERR_IO, "/dev/full",
                 "No space left on device");
        ck_assert_int_eq(stat("/dev/full", &sb), 0);
        ck_assert_msg(S_ISCHR(sb.st_mode), "/dev/full is no longer a device");
    }
    DT_OK(sc_io_write_atomic("/dev/null", write_hello, NULL));
    ck_assert_int_eq(stat("/dev/null", &sb), 0);
    ck_assert(S_ISCHR(sb.st_mode));
    char *dir = dt_mkdtemp();
    char *fifo = dt_path(dir, "pipe");
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    DT_FAILS(sc_io_write_atomic(fifo, write_hello, NULL), SC_ERR_IO, fifo, "no reader");
    ck_assert_int_eq(stat(fifo, &sb), 0);
    ck_assert(S_ISFIFO(sb.st_mode));
    unlink(fifo);
    DT_FAILS(sc_io_write_atomic(dir, write_hello, NULL), SC_ERR_IO, dir, "is a directory");
    char *target = dt_path(dir, "target.txt"), *link = dt_path(dir, "link.txt");
    FILE *f = fopen(target, "w");
    ck_assert_ptr_nonnull(f);
    fputs("old content", f);
    fclose(f);
    ck_assert_int_eq(symlink(target, link), 0);
    DT_OK(sc_io_write_atomic(link, write_hello, NULL));
    ck_assert_int_eq(lstat(link, &sb), 0);
    ck_assert_msg(S_ISLNK(sb.st_mode), "the link was replaced by a file");
    size_t n;
    uint8_t *b = dt_read(target, &n);
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(memcmp(b, "hello", 5), 0);
    free(b);
    ck_assert_int_eq(dt_count_files(dir), 2);
    unlink(link);
    unlink(target);
    free(link);
    free(target);
    free(fifo);
    dt_rmtree(dir);
}
END_TEST

/* A body that writes more than a stdio buffer and, when a write fails,
 * returns a message without errno's text. */
static sc_status write_big_quietly(FILE *fp, void *ctx)
{
    (void)ctx;
    static const char line[] = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopq\n";
    for (int i = 0; i < 4096; i++)
        if (fputs(line, fp) == EOF)
            return sc_error_set(SC_ERR_IO, "writing failed");
    return SC_OK;
}

/* #19: every failed write names errno's text and the file: stdio bodies
 * (also those that say only "writing failed"), safetensors and PNG. */
/* sc_io_write_text_atomic: the text as is, a final newline added only
 * where it lacks one; a NULL text (its maker out of memory) writes nothing
 * and names the file. */
START_TEST(atomic_write_text)
{
    char *dir = dt_mkdtemp();
    char *p = dt_path(dir, "out.json");
    static const struct {
        const char *text, *want;
    } cases[] = {{"{\"a\": 1}", "{\"a\": 1}\n"}, {"x\n", "x\n"}, {"", "\n"},
                 {"a\nb", "a\nb\n"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        DT_OK(sc_io_write_text_atomic(p, cases[i].text));
        size_t n;
        uint8_t *b = dt_read(p, &n);
        ck_assert_uint_eq(n, strlen(cases[i].want));
        ck_assert_int_eq(memcmp(b, cases[i].want, n), 0);
        free(b);
    }
    DT_FAILS(sc_io_write_text_atomic(p, NULL), SC_ERR_OUT_OF_MEMORY, p, "out of host memory");
    size_t n;
    uint8_t *b = dt_read(p, &n);
    ck_assert_uint_eq(n, 4); /* the last good text stays */
    free(b);
    ck_assert_int_eq(dt_count_files(dir), 1);
    struct stat sb;
    if (stat("/dev/full", &sb) == 0 && S_ISCHR(sb.st_mode))
        DT_FAILS(sc_io_write_text_atomic("/dev/full", "{}"), SC_ERR_IO, "/dev/full",
                 "No space left on device");
    free(p);
    dt_rmtree(dir);
}
END_TEST

/* Count of non-overlapping occurrences of needle in hay. */
static int count_in(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + strlen(needle), needle))
        n++;
    return n;
}

/* Every failed write says "writing PATH" once: the writers' own errors,
 * and sc_io_write_error over them (as the callers hand theirs on) leaves
 * them as they are, while a caller's failure that does not name the file
 * yet gets it. */
START_TEST(write_errors_name_the_file_once)
{
    char *dir = dt_mkdtemp();
    char *missing = dt_path(dir, "no/such/dir/out.json");
    char want[4200];
    snprintf(want, sizeof want, "writing %s: cannot create the temporary file", missing);
    sc_status st = sc_io_write_error(sc_io_write_text_atomic(missing, "{}"), missing);
    ck_assert_int_eq(st, SC_ERR_IO);
    ck_assert_msg(dt_contains(sc_last_error(), want), "message '%s'", sc_last_error());
    ck_assert_msg(count_in(sc_last_error(), "writing") == 1, "message '%s'", sc_last_error());
    /* the path appears twice: the file, then its temporary name */
    ck_assert_msg(count_in(sc_last_error(), missing) == 2, "message '%s'", sc_last_error());
    DT_FAILS(sc_io_write_atomic(dir, write_hello, NULL), SC_ERR_IO, "writing", "is a directory");
    ck_assert_int_eq(count_in(sc_last_error(), dir), 1);
    sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (the chart)");
    snprintf(want, sizeof want, "writing %s: out of host memory (the chart)", missing);
    ck_assert_int_eq(sc_io_write_error(SC_ERR_OUT_OF_MEMORY, missing), SC_ERR_OUT_OF_MEMORY);
    ck_assert_str_eq(sc_last_error(), want);
    ck_assert_int_eq(sc_io_write_error(SC_OK, missing), SC_OK);
    ck_assert_str_eq(sc_last_error(), want); /* a success leaves the message alone */
    free(missing);
    dt_rmtree(dir);
}
END_TEST

START_TEST(write_errors_name_errno)
{
    struct stat sb;
    if (stat("/dev/full", &sb) != 0 || !S_ISCHR(sb.st_mode)) {
        fprintf(stderr, "SKIP write_errors_name_errno: no /dev/full\n");
        return;
    }
    DT_FAILS(sc_io_write_atomic("/dev/full", write_big_quietly, NULL), SC_ERR_IO,
             "/dev/full: writing failed", "No space left on device");
    uint8_t *px = calloc(1, (size_t)256 * 256 * 3);
    ck_assert_ptr_nonnull(px);
    for (size_t i = 0; i < (size_t)256 * 256 * 3; i++)
        px[i] = (uint8_t)(i * 2654435761u >> 13);
    sc_st_tensor t = {.name = "px", .dtype = SC_ST_U8, .ndim = 1, .shape = {256 * 256 * 3},
                      .data = px};
    DT_FAILS(sc_safetensors_write("/dev/full", &t, 1, NULL, 0), SC_ERR_IO, "/dev/full",
             "No space left on device");
    DT_FAILS(sc_png_write("/dev/full", px, 256, 256, 3), SC_ERR_IO, "/dev/full",
             "No space left on device");
    free(px);
}
END_TEST

/* #19: the safetensors reader's size cap (SC_ST_MAX_FILE) and any read
 * limit are checked on the file's size before a byte is read: a sparse
 * file just over them is refused at once. */
START_TEST(read_caps_before_reading)
{
    char *dir = dt_mkdtemp();
    char *p = dt_path(dir, "huge.safetensors");
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    int ok = ftruncate(fileno(f), (off_t)(SC_ST_MAX_FILE + 1)) == 0;
    fclose(f);
    if (!ok) {
        fprintf(stderr, "SKIP read_caps_before_reading: no sparse file of 64 GiB here\n");
    } else {
        sc_safetensors *st;
        DT_FAILS(sc_safetensors_open(p, &st), SC_ERR_FORMAT, p,
                 "larger than the reader's limit of 68719476736 bytes (64 GiB)");
        uint8_t *data;
        size_t n;
        DT_FAILS(sc_io_read_file(p, (size_t)1 << 20, &data, &n), SC_ERR_FORMAT, p,
                 "larger than the limit of 1048576 bytes");
    }
    unlink(p);
    free(p);
    dt_rmtree(dir);
}
END_TEST

/* A writer killed mid-write leaves "<name>.<pid>.<n>.tmp": removed once
 * its process is gone; a live writer's file and other files stay. */
START_TEST(stale_tmp_removed)
{
    char *dir = dt_mkdtemp();
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0)
        _exit(0);
    ck_assert_int_eq(waitpid(child, NULL, 0), child);
    char dead[64], live[64];
    snprintf(dead, sizeof dead, "last.safetensors.%ld.3.tmp", (long)child);
    snprintf(live, sizeof live, "last.safetensors.%ld.4.tmp", (long)getppid());
    const char *keep[] = {live, "notes.tmp", "x.12.tmp", "metrics.jsonl"};
    char *p = dt_path(dir, dead);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    for (int k = 0; k < 4; k++) {
        char *q = dt_path(dir, keep[k]);
        f = fopen(q, "w");
        ck_assert_ptr_nonnull(f);
        fclose(f);
        free(q);
    }
    int removed = -1;
    DT_OK(sc_io_remove_stale_tmp(dir, &removed));
    ck_assert_int_eq(removed, 1);
    ck_assert_int_ne(access(p, F_OK), 0);
    for (int k = 0; k < 4; k++) {
        char *q = dt_path(dir, keep[k]);
        ck_assert_msg(access(q, F_OK) == 0, "%s was removed", keep[k]);
        unlink(q);
        free(q);
    }
    free(p);
    DT_OK(sc_io_remove_stale_tmp("/nonexistent/spurcl-dir", &removed));
    ck_assert_int_eq(removed, 0);
    rmdir(dir);
    free(dir);
}
END_TEST

int main(void)
{
    const tu_case cases[] = {
        {"io", 0, {st_round_trip, st_python_fixture, st_bad_headers, png_round_trip,
                png_conversions, png_bad, atomic_write, gunzip_errors, special_files_refused,
                atomic_write_special_targets, stale_tmp_removed, write_errors_name_errno, atomic_write_text,
                write_errors_name_the_file_once, read_caps_before_reading}},
    };
    return dt_run(TU_SUITE("data_io", cases));
}
