/* Sources: IDX (plain and gzip), CIFAR-10 records, the metadata CSV, PNG
 * folders, and every bad input of issue #3 item 7 with its message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <zlib.h>

#include "../suite.h"
#include "dtest.h"
#include "spurcl/data.h"
#include "spurcl/io.h"

static size_t make_idx(uint8_t *b, int n, int h, int w, int with_images)
{
    size_t k = 0;
    b[k++] = 0;
    b[k++] = 0;
    b[k++] = 8;
    b[k++] = with_images ? 3 : 1;
    uint32_t dims[3] = {(uint32_t)n, (uint32_t)h, (uint32_t)w};
    for (int d = 0; d < (with_images ? 3 : 1); d++) {
        b[k++] = (uint8_t)(dims[d] >> 24);
        b[k++] = (uint8_t)(dims[d] >> 16);
        b[k++] = (uint8_t)(dims[d] >> 8);
        b[k++] = (uint8_t)dims[d];
    }
    size_t total = with_images ? (size_t)n * h * w : (size_t)n;
    for (size_t i = 0; i < total; i++)
        b[k++] = with_images ? (uint8_t)(i * 7) : (uint8_t)(i % 10);
    return k;
}

static void write_gz(const char *path, const uint8_t *data, size_t n)
{
    gzFile f = gzopen(path, "wb9");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(gzwrite(f, data, (unsigned)n), (int)n);
    ck_assert_int_eq(gzclose(f), Z_OK);
}

START_TEST(idx_parse_and_errors)
{
    uint8_t b[4096];
    size_t n = make_idx(b, 5, 4, 3, 1);
    int nd;
    int64_t dims[4];
    uint8_t *data;
    DT_OK(sc_idx_parse(b, n, "x.idx", &nd, dims, &data));
    ck_assert_int_eq(nd, 3);
    ck_assert_int_eq(dims[0], 5);
    ck_assert_int_eq(dims[1], 4);
    ck_assert_int_eq(dims[2], 3);
    for (int i = 0; i < 60; i++)
        ck_assert_uint_eq(data[i], (uint8_t)(i * 7));
    free(data);
    /* Wrong magic. */
    uint8_t bad[4096];
    memcpy(bad, b, n);
    bad[0] = 0x1a;
    DT_FAILS(sc_idx_parse(bad, n, "x.idx", &nd, dims, &data), SC_ERR_FORMAT, "x.idx",
             "bad magic 0x1a000803");
    /* Truncated data: the message says how much was expected and found. */
    DT_FAILS(sc_idx_parse(b, n - 10, "x.idx", &nd, dims, &data), SC_ERR_FORMAT,
             "x.idx: truncated IDX file", "expected 60 bytes of data, found 50");
    /* Truncated header. */
    DT_FAILS(sc_idx_parse(b, 9, "x.idx", &nd, dims, &data), SC_ERR_FORMAT, "x.idx", "truncated");
    /* Non-byte element type. */
    memcpy(bad, b, n);
    bad[2] = 0x0D;
    DT_FAILS(sc_idx_parse(bad, n, "x.idx", &nd, dims, &data), SC_ERR_UNSUPPORTED, "x.idx",
             "0x0d");
}
END_TEST

START_TEST(idx_files_gzip)
{
    char *dir = dt_mkdtemp();
    uint8_t b[8192];
    /* A tiny MNIST-style source: 30 train, 10 test images of 6x5. */
    char *p;
    size_t n = make_idx(b, 30, 6, 5, 1);
    p = dt_path(dir, "train-images-idx3-ubyte.gz");
    write_gz(p, b, n);
    free(p);
    n = make_idx(b, 30, 0, 0, 0);
    p = dt_path(dir, "train-labels-idx1-ubyte");
    dt_write(p, b, n);
    free(p);
    n = make_idx(b, 10, 6, 5, 1);
    p = dt_path(dir, "t10k-images-idx3-ubyte");
    dt_write(p, b, n);
    free(p);
    n = make_idx(b, 10, 0, 0, 0);
    p = dt_path(dir, "t10k-labels.idx1-ubyte.gz"); /* the dotted spelling */
    write_gz(p, b, n);
    free(p);

    sc_source_opts o = {.kind = SC_SOURCE_MNIST, .dir = dir};
    sc_dataset *d;
    DT_OK(sc_source_load(&o, &d));
    ck_assert_int_eq(d->n, 40);
    ck_assert_int_eq(d->c, 1);
    ck_assert_int_eq(d->h, 6);
    ck_assert_int_eq(d->w, 5);
    ck_assert_int_eq(d->num_classes, 10);
    for (int i = 0; i < 40; i++) {
        ck_assert_int_eq(d->labels[i], (i < 30 ? i : i - 30) % 10);
        ck_assert_int_eq(d->split[i], i < 30 ? SC_SPLIT_TRAIN : SC_SPLIT_TEST);
    }
    ck_assert_uint_eq(d->images[30 * 30 + 1], 7); /* first test image, pixel 1 */
    sc_dataset_free(d);
    o.max_train = 12;
    o.max_test = 3;
    DT_OK(sc_source_load(&o, &d));
    ck_assert_int_eq(d->n, 15);
    sc_dataset_free(d);

    /* Corrupt gzip stream: damage the middle of the compressed images. */
    p = dt_path(dir, "train-images-idx3-ubyte.gz");
    size_t gn;
    uint8_t *g = dt_read(p, &gn);
    for (size_t i = 12; i < gn - 8 && i < 40; i++)
        g[i] ^= 0xa5;
    dt_write(p, g, gn);
    DT_FAILS(sc_source_load(&o, &d), SC_ERR_FORMAT, p, "corrupt gzip stream");
    /* Truncated gzip stream. */
    n = make_idx(b, 30, 6, 5, 1);
    write_gz(p, b, n);
    free(g);
    g = dt_read(p, &gn);
    dt_write(p, g, gn / 2);
    DT_FAILS(sc_source_load(&o, &d), SC_ERR_FORMAT, p, "corrupt gzip stream");
    /* Truncated IDX inside a valid gzip. */
    write_gz(p, b, n - 7);
    DT_FAILS(sc_source_load(&o, &d), SC_ERR_FORMAT, p, "truncated IDX file: expected 900 bytes");
    free(g);
    free(p);
    /* Missing labels. */
    p = dt_path(dir, "train-labels-idx1-ubyte");
    unlink(p);
    DT_FAILS(sc_source_load(&o, &d), SC_ERR_IO, "train-labels-idx1-ubyte", "--source-dir");
    free(p);
    dt_rmtree(dir);
}
END_TEST

START_TEST(fashion_mnist_missing_hint)
{
    char *dir = dt_mkdtemp();
    sc_source_opts o = {.kind = SC_SOURCE_FASHION_MNIST, .dir = dir};
    sc_dataset *d;
    DT_FAILS(sc_source_load(&o, &d), SC_ERR_IO, "train-images-idx3-ubyte",
             "dataset-fashion-mnist");
    ck_assert_msg(strstr(sc_last_error(), dir) != NULL, "no directory in '%s'", sc_last_error());
    dt_rmtree(dir);
}
END_TEST

START_TEST(cifar_records)
{
    uint8_t *b = calloc(3 * 3073, 1);
    for (int r = 0; r < 3; r++) {
        b[r * 3073] = (uint8_t)(r * 4);
        for (int i = 0; i < 3072; i++)
            b[r * 3073 + 1 + i] = (uint8_t)(i + r);
    }
    int64_t n;
    uint8_t *im;
    int32_t *lb;
    DT_OK(sc_cifar_parse(b, 3 * 3073, "data_batch_1.bin", &n, &im, &lb));
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(lb[2], 8);
    ck_assert_uint_eq(im[2 * 3072 + 1024], (uint8_t)(1024 + 2)); /* green plane start */
    free(im);
    free(lb);
    DT_FAILS(sc_cifar_parse(b, 3 * 3073 - 100, "data_batch_1.bin", &n, &im, &lb), SC_ERR_FORMAT,
             "data_batch_1.bin: truncated CIFAR-10 record", "last record has 2973 bytes");
    b[3073] = 10;
    DT_FAILS(sc_cifar_parse(b, 3 * 3073, "data_batch_1.bin", &n, &im, &lb), SC_ERR_FORMAT,
             "data_batch_1.bin", "label 10");
    free(b);
}
END_TEST

START_TEST(cifar_source_dir)
{
    char *dir = dt_mkdtemp();
    uint8_t *b = calloc(4 * 3073, 1);
    for (int r = 0; r < 4; r++)
        b[r * 3073] = (uint8_t)r;
    const char *names[6] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                            "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"};
    for (int f = 0; f < 6; f++) {
        char *p = dt_path(dir, names[f]);
        dt_write(p, b, f == 5 ? 2 * 3073 : 4 * 3073);
        free(p);
    }
    sc_source_opts o = {.kind = SC_SOURCE_CIFAR10, .dir = dir};
    sc_dataset *d;
    DT_OK(sc_source_load(&o, &d));
    ck_assert_int_eq(d->n, 22);
    ck_assert_int_eq(d->c, 3);
    ck_assert_int_eq(d->h, 32);
    ck_assert_int_eq(d->split[19], SC_SPLIT_TRAIN);
    ck_assert_int_eq(d->split[20], SC_SPLIT_TEST);
    ck_assert_str_eq(d->class_names[3], "cat");
    sc_dataset_free(d);
    /* A truncated batch names its file. */
    char *p = dt_path(dir, "data_batch_3.bin");
    dt_write(p, b, 4 * 3073 - 1);
    DT_FAILS(sc_source_load(&o, &d), SC_ERR_FORMAT, p, "truncated CIFAR-10 record");
    free(p);
    free(b);
    dt_rmtree(dir);
}
END_TEST

START_TEST(csv_parse)
{
    const char *text = "\xEF\xBB\xBFsplit, Label ,path,attr,extra\r\n"
                       "train,3,a.png,1,x\r\n"
                       "\r\n"
                       "val,0,\"dir,with,commas/b \"\"q\"\".png\",0,\"multi\nline\"\r\n"
                       "2,1,c.png,2,\n";
    sc_csv_rows r;
    DT_OK(sc_csv_parse(text, strlen(text), "m.csv", &r));
    ck_assert_int_eq(r.n, 3);
    ck_assert_str_eq(r.paths[0], "a.png");
    ck_assert_str_eq(r.paths[1], "dir,with,commas/b \"q\".png");
    ck_assert_int_eq(r.labels[0], 3);
    ck_assert_int_eq(r.attrs[2], 2);
    ck_assert_int_eq(r.splits[0], SC_SPLIT_TRAIN);
    ck_assert_int_eq(r.splits[1], SC_SPLIT_VAL);
    ck_assert_int_eq(r.splits[2], SC_SPLIT_TEST);
    /* the line each row starts on (messages name it): a blank line and a
     * quoted field over two lines count */
    ck_assert_int_eq(r.lines[0], 2);
    ck_assert_int_eq(r.lines[1], 4);
    ck_assert_int_eq(r.lines[2], 6);
    sc_csv_rows_free(&r);

    const char *missing = "path,label,split\na.png,0,train\n";
    DT_FAILS(sc_csv_parse(missing, strlen(missing), "m.csv", &r), SC_ERR_FORMAT,
             "m.csv:1: the CSV header lacks the column 'attr'", NULL);
    const char *badsplit = "path,label,attr,split\na.png,0,0,train\nb.png,0,0,holdout\n";
    DT_FAILS(sc_csv_parse(badsplit, strlen(badsplit), "m.csv", &r), SC_ERR_FORMAT,
             "m.csv:3: unknown split name 'holdout'", NULL);
    const char *short_row = "path,label,attr,split\na.png,0,0\n";
    DT_FAILS(sc_csv_parse(short_row, strlen(short_row), "m.csv", &r), SC_ERR_FORMAT, "m.csv:2",
             "3 fields");
    const char *badlabel = "path,label,attr,split\na.png,zero,0,train\n";
    DT_FAILS(sc_csv_parse(badlabel, strlen(badlabel), "m.csv", &r), SC_ERR_FORMAT, "m.csv:2",
             "label 'zero'");
    const char *quote = "path,label,attr,split\n\"a.png,0,0,train\n";
    DT_FAILS(sc_csv_parse(quote, strlen(quote), "m.csv", &r), SC_ERR_FORMAT, "m.csv",
             "unterminated");
    DT_FAILS(sc_csv_parse("", 0, "m.csv", &r), SC_ERR_FORMAT, "m.csv", "empty CSV");
}
END_TEST

START_TEST(pngdir_source)
{
    char *dir = dt_mkdtemp();
    /* Four images: two 8x6 RGB, one grey, one palette fixture resized. */
    uint8_t rgb[8 * 6 * 3], grey[8 * 6];
    for (int i = 0; i < 8 * 6 * 3; i++)
        rgb[i] = (uint8_t)(i * 5);
    for (int i = 0; i < 8 * 6; i++)
        grey[i] = (uint8_t)(i * 3);
    char *p = dt_path(dir, "a.png");
    DT_OK(sc_png_write(p, rgb, 8, 6, 3));
    free(p);
    p = dt_path(dir, "b.png");
    DT_OK(sc_png_write(p, grey, 8, 6, 1));
    free(p);
    const char *csv = "path,label,attr,split\na.png,1,0,train\nb.png,0,1,test\n";
    char *cp = dt_path(dir, "metadata.csv");
    dt_write(cp, csv, strlen(csv));
    sc_source_opts o = {.kind = SC_SOURCE_PNGDIR, .dir = dir};
    sc_dataset *d;
    DT_OK(sc_source_load(&o, &d));
    ck_assert_int_eq(d->n, 2);
    ck_assert_int_eq(d->c, 3);
    ck_assert_int_eq(d->h, 6);
    ck_assert_int_eq(d->w, 8);
    ck_assert_int_eq(d->num_classes, 2);
    ck_assert_int_eq(d->num_attrs, 2);
    ck_assert_int_eq(d->groups[0], 1 * 2 + 0);
    ck_assert_int_eq(d->groups[1], 0 * 2 + 1);
    /* CHW: pixel 1 of the green plane of image 0 is rgb[1*3+1]. */
    ck_assert_uint_eq(d->images[48 + 1], rgb[4]);
    /* Grey expanded to RGB. */
    ck_assert_uint_eq(d->images[144 + 5], grey[5]);
    ck_assert_uint_eq(d->images[144 + 96 + 5], grey[5]);
    sc_dataset_free(d);
    /* Grey output and resizing to 4x4 (area average of 2x1.5 blocks). */
    o.channels = 1;
    o.resize = 4;
    DT_OK(sc_source_load(&o, &d));
    ck_assert_int_eq(d->c, 1);
    ck_assert_int_eq(d->h, 4);
    /* Output pixel (0,0) of the grey image averages rows 0..1.5, cols 0..2. */
    double want = (grey[0] + grey[1] + 0.5 * grey[8] + 0.5 * grey[9]) / 3.0;
    ck_assert_int_le(abs((int)d->images[16] - (int)(want + 0.5)), 1);
    sc_dataset_free(d);
    o.channels = 3;
    o.resize = 0;
    /* Mixed sizes without --resize. */
    uint8_t small[4 * 4 * 3] = {0};
    p = dt_path(dir, "b.png");
    DT_OK(sc_png_write(p, small, 4, 4, 3));
    DT_FAILS(sc_source_load(&o, &d), SC_ERR_FORMAT, p, "--resize");
    /* A corrupt PNG names its file (resized: the header's size differs from
     * a.png's, which is checked before anything is decoded). */
    size_t gn;
    uint8_t *g = dt_read(DT_FIXTURE_DIR "/png_rgb8.png", &gn);
    dt_write(p, g, gn - 25);
    o.resize = 4;
    DT_FAILS(sc_source_load(&o, &d), SC_ERR_FORMAT, p, "corrupt or truncated PNG");
    o.resize = 0;
    free(g);
    free(p);
    /* A listed file that does not exist. */
    const char *csv2 = "path,label,attr,split\na.png,1,0,train\nmissing.png,0,1,test\n";
    dt_write(cp, csv2, strlen(csv2));
    DT_FAILS(sc_source_load(&o, &d), SC_ERR_IO, "missing.png", NULL);
    /* Unknown split in the CSV names the CSV and the line. */
    const char *csv3 = "path,label,attr,split\na.png,1,0,dev\n";
    dt_write(cp, csv3, strlen(csv3));
    DT_FAILS(sc_source_load(&o, &d), SC_ERR_FORMAT, cp, "unknown split name 'dev'");
    /* Missing CSV. */
    unlink(cp);
    DT_FAILS(sc_source_load(&o, &d), SC_ERR_IO, cp, NULL);
    free(cp);
    dt_rmtree(dir);
}
END_TEST

START_TEST(fashion_mnist_installed)
{
    sc_source_opts o = {.kind = SC_SOURCE_FASHION_MNIST, .max_train = 100, .max_test = 50};
    sc_dataset *d;
    if (access(SC_FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz", R_OK) != 0 &&
        access(SC_FASHION_MNIST_DIR "/train-images-idx3-ubyte", R_OK) != 0) {
        fprintf(stderr, "SKIP fashion_mnist_installed: %s not installed "
                        "(apt-get install dataset-fashion-mnist)\n", SC_FASHION_MNIST_DIR);
        return;
    }
    DT_OK(sc_source_load(&o, &d));
    ck_assert_int_eq(d->n, 150);
    ck_assert_int_eq(d->h, 28);
    ck_assert_int_eq(d->w, 28);
    /* The first training labels of Fashion-MNIST: 9 0 0 3 0 2 7 2 5 5. */
    static const int first[10] = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5};
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(d->labels[i], first[i]);
    ck_assert_str_eq(d->class_names[9], "Ankle boot");
    sc_dataset_free(d);
}
END_TEST

/* Peak resident memory of this process so far, in KiB. */
static long max_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* The signature and IHDR of a w x h 8-bit PNG of colour type `type`, and
 * nothing after: what a decoder reads before it allocates the image. */
static void write_png_header(const char *path, uint32_t w, uint32_t h, int type)
{
    uint8_t b[33] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    put_be32(b + 8, 13);
    memcpy(b + 12, "IHDR", 4);
    put_be32(b + 16, w);
    put_be32(b + 20, h);
    b[24] = 8;
    b[25] = (uint8_t)type;
    put_be32(b + 29, (uint32_t)crc32(crc32(0, NULL, 0), b + 12, 17));
    dt_write(path, b, sizeof b);
}

/* #19: one memory budget for a build, counted across files, decoded images
 * and data sets, each charged (by what headers declare) before anything is
 * allocated. */
START_TEST(build_memory_budget)
{
    char *dir = dt_mkdtemp();
    sc_dataset *d = NULL, *out = NULL;
    /* An IDX header that declares 100000 images of 200x200 (3.7 GiB) in a
     * 100-byte gzip: refused by the default budget, naming the file and the
     * shape, before a byte of it is inflated. */
    uint8_t hdr[16 + 64] = {0, 0, 8, 3};
    put_be32(hdr + 4, 100000);
    put_be32(hdr + 8, 200);
    put_be32(hdr + 12, 200);
    char *ip = dt_path(dir, "train-images-idx3-ubyte.gz");
    write_gz(ip, hdr, sizeof hdr);
    uint8_t lab[8 + 10] = {0, 0, 8, 1};
    put_be32(lab + 4, 10);
    char *lp = dt_path(dir, "train-labels-idx1-ubyte");
    dt_write(lp, lab, sizeof lab);
    sc_source_opts o = {.kind = SC_SOURCE_MNIST, .dir = dir};
    DT_FAILS(sc_source_load(&o, &d), SC_ERR_OUT_OF_MEMORY, ip, "100000x200x200");
    ck_assert_msg(dt_contains(sc_last_error(), "over the 1.5 GiB budget (--mem-limit)"),
                  "%s", sc_last_error());
    /* A true 64 MiB payload under a 16 MiB budget: refused before it is
     * inflated, so this process never holds it. */
    size_t big = (size_t)64 << 20;
    uint8_t *zeros = calloc(1, big + 16);
    ck_assert_ptr_nonnull(zeros);
    memcpy(zeros, hdr, 16);
    put_be32(zeros + 4, 1024);
    put_be32(zeros + 8, 256);
    put_be32(zeros + 12, 256);
    write_gz(ip, zeros, big + 16);
    free(zeros);
    long rss0 = max_rss_kib();
    o.mem_limit = (uint64_t)16 << 20;
    DT_FAILS(sc_source_load(&o, &d), SC_ERR_OUT_OF_MEMORY, ip, "over the 16 MiB budget");
    ck_assert_msg(max_rss_kib() - rss0 < 32 * 1024, "peak RSS grew by %ld KiB",
                  max_rss_kib() - rss0);
    free(ip);
    free(lp);

    /* A PNG folder: a 16384x16384 RGBA header (1.75 GiB to decode) in 33
     * bytes is refused with its CSV line before anything is decoded. */
    uint8_t rgb[64 * 64 * 3];
    for (size_t i = 0; i < sizeof rgb; i++)
        rgb[i] = (uint8_t)(i * 13);
    char *sp = dt_path(dir, "small.png"), *bp = dt_path(dir, "big.png");
    DT_OK(sc_png_write(sp, rgb, 64, 64, 3));
    write_png_header(bp, 16384, 16384, 6);
    const char *csv = "path,label,attr,split\n\nsmall.png,0,0,train\nbig.png,1,1,test\n";
    char *cp = dt_path(dir, "m.csv");
    dt_write(cp, csv, strlen(csv));
    sc_source_opts po = {.kind = SC_SOURCE_PNGDIR, .csv = cp, .resize = 64};
    DT_FAILS(sc_source_load(&po, &d), SC_ERR_OUT_OF_MEMORY, "m.csv line 4 (big.png)",
             "16384x16384x4 image");
    ck_assert_msg(dt_contains(sc_last_error(), "over the 1.5 GiB budget"), "%s",
                  sc_last_error());
    /* Without --resize the data set takes every image at the first one's
     * size: 8 images of 16384x16384 (6 GiB) are refused as a whole. */
    FILE *f = fopen(cp, "w");
    ck_assert_ptr_nonnull(f);
    fputs("path,label,attr,split\n", f);
    for (int i = 0; i < 8; i++)
        fprintf(f, "big.png,%d,%d,%s\n", i % 2, i % 2, i < 6 ? "train" : "test");
    fclose(f);
    po.resize = 0;
    DT_FAILS(sc_source_load(&po, &d), SC_ERR_OUT_OF_MEMORY, "the data set of 8 images "
             "3x16384x16384 (6 GiB)", "over the 1.5 GiB budget");
    /* One small image listed 40 times: 480 KiB of data set; a 256 KiB
     * budget refuses it, 64 MiB builds it, whatever the number of threads. */
    f = fopen(cp, "w");
    ck_assert_ptr_nonnull(f);
    fputs("path,label,attr,split\n", f);
    for (int i = 0; i < 40; i++)
        fprintf(f, "small.png,%d,%d,%s\n", i % 2, (i / 2) % 2, i < 30 ? "train" : "test");
    fclose(f);
    po.mem_limit = (uint64_t)256 << 10;
    DT_FAILS(sc_source_load(&po, &d), SC_ERR_OUT_OF_MEMORY, "the data set of 40 images 3x64x64",
             "over the 256 KiB budget");
    po.mem_limit = (uint64_t)64 << 20;
    DT_OK(sc_source_load(&po, &d));
    ck_assert_int_eq(d->n, 40);
    /* The build holds the source and its output together. */
    sc_build_opts bo;
    sc_build_opts_default(&bo);
    bo.source.mem_limit = (uint64_t)700 << 10;
    DT_FAILS(sc_dataset_build_from(d, &bo, &out), SC_ERR_OUT_OF_MEMORY,
             "the output (variant none): the data set of", "over the 700 KiB budget");
    bo.source.mem_limit = (uint64_t)4 << 20;
    DT_OK(sc_dataset_build_from(d, &bo, &out));
    ck_assert_int_eq(out->n, 40);
    sc_dataset_free(out);
    /* The corrupt variant's per-thread scratch (112 KiB on 3x64x64) counts
     * too: source and output hold 963 KiB, so 1000 KiB has no room for one
     * thread, 1100 KiB for one (of the 8 asked for) and it builds the same
     * bytes as 8 threads with room. */
    bo.variant = SC_VARIANT_CORRUPT;
    bo.threads = 8;
    bo.source.mem_limit = (uint64_t)1000 << 10;
    DT_FAILS(sc_dataset_build_from(d, &bo, &out), SC_ERR_OUT_OF_MEMORY,
             "the corrupt variant's scratch for 1 thread", "over the 1000 KiB budget");
    bo.source.mem_limit = (uint64_t)1100 << 10;
    DT_OK(sc_dataset_build_from(d, &bo, &out));
    sc_dataset *one = NULL;
    bo.source.mem_limit = (uint64_t)64 << 20;
    DT_OK(sc_dataset_build_from(d, &bo, &one));
    ck_assert_int_eq(memcmp(out->images, one->images, (size_t)40 * 3 * 64 * 64), 0);
    sc_dataset_free(one);
    sc_dataset_free(out);
    sc_dataset_free(d);
    free(sp);
    free(bp);
    free(cp);
    dt_rmtree(dir);
}
END_TEST

int main(void)
{
    const tu_case cases[] = {
        {"sources", 0, {idx_parse_and_errors, idx_files_gzip, fashion_mnist_missing_hint,
                cifar_records, cifar_source_dir, csv_parse, pngdir_source,
                fashion_mnist_installed, build_memory_budget}},
    };
    return dt_run(TU_SUITE("data_sources", cases));
}
