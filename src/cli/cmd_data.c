/* spurcl data: build, inspect and preview spurious-correlation data sets.
 *
 *   spurcl data build [options] --out FILE
 *   spurcl data info FILE [--csv]
 *   spurcl data preview FILE --out grid.png [--split S] [--per-group N] [--scale N] */
#define _GNU_SOURCE
#include "cli.h"
#include "spurcl/sys.h"
#include "spurcl/data.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void data_usage(FILE *out)
{
    fprintf(out,
            "usage: spurcl data <subcommand> [options]\n"
            "\n"
            "Subcommands:\n"
            "  build    build a data set variant from a source and save it (safetensors)\n"
            "  info     table of sample counts per split and group, plus the build parameters\n"
            "  preview  PNG grid of examples, one row per group\n"
            "\n"
            "Run 'spurcl data <subcommand> --help' for its options.\n");
}

static void build_usage(FILE *out)
{
    fprintf(out,
            "usage: spurcl data build [options] --out FILE\n"
            "\n"
            "Loads a source, plants a spurious attribute (variant) with the requested\n"
            "correlation in the training split, and writes one safetensors file with\n"
            "images U8 [N,C,H,W], labels, attrs, groups, split (I32 [N]; split 0 train,\n"
            "1 val, 2 test) and the build parameters as JSON metadata. The same options\n"
            "and seed give a byte-identical file.\n"
            "\n"
            "Source:\n"
            "  --source NAME        fashion-mnist (default), mnist, cifar10, pngdir\n"
            "  --source-dir DIR     where the source's files are (fashion-mnist default:\n"
            "                       " SC_FASHION_MNIST_DIR ", from the Debian\n"
            "                       package dataset-fashion-mnist); mnist: the four IDX\n"
            "                       files (plain or .gz); cifar10: data_batch_*.bin and\n"
            "                       test_batch.bin; pngdir: holds metadata.csv\n"
            "  --csv FILE           pngdir: the CSV path,label,attr,split (default\n"
            "                       DIR/metadata.csv; paths relative to the CSV)\n"
            "  --channels 1|3       pngdir: convert images to grey or RGB (default 3)\n"
            "  --resize N           pngdir: resize every image to NxN (default: keep; all\n"
            "                       images must then have the same size)\n"
            "  --max-train N        use only the first N samples of the source's training\n"
            "                       part (0: all)\n"
            "  --max-test N         same for the test part\n"
            "\n"
            "Variant and splits:\n"
            "  --variant NAME       none (default), patch, color, corrupt, background\n"
            "  --rho R              fraction of training samples whose attribute is aligned\n"
            "                       with their class, in [0, 1] (default 0.95); the rest is\n"
            "                       spread evenly over the other attribute values\n"
            "  --severity S         corruption severity 1..5 (default 4); also picks the\n"
            "                       colour noise sigma\n"
            "  --seed N             random seed (default 0)\n"
            "  --val-fraction F     share of each class of the training part kept as val,\n"
            "                       in [0, 1) (default 0.1)\n"
            "  --val-biased         val gets the training correlation (default: unbiased)\n"
            "  --test-clean         patch/color: test images carry no mark/colour (the\n"
            "                       MNIST-SC setting); default: test carries it with a\n"
            "                       balanced (unbiased) attribute\n"
            "  --threads N          worker threads (default: one per CPU; output does not\n"
            "                       depend on it)\n"
            "\n"
            "patch (a mark revealing the attribute):\n"
            "  --patch-size N       mark size in pixels (default 4)\n"
            "  --patch-layout L     border (default): attribute a at the a-th of A positions\n"
            "                       spaced evenly clockwise along the border from the\n"
            "                       top-left corner; pattern: top-left corner, a distinct\n"
            "                       binary pattern per attribute\n"
            "  --patch-intensity F  mark brightness in (0, 1] (default 1)\n"
            "color:\n"
            "  --color-mode M       foreground (default; LfF Colored MNIST: colour x grey)\n"
            "                       or background (SpuCo: background painted)\n"
            "  --color-sigma F      std of the per-image colour noise (default by severity:\n"
            "                       0.05, 0.02, 0.01, 0.005, 0.002)\n"
            "  --color-patch N      background mode: paint only an NxN top-left patch\n"
            "                       (default 0: the whole background)\n"
            "corrupt (class c paired with corruption c of the list):\n"
            "  --corruptions L      type1 (default): gaussian_noise, shot_noise,\n"
            "                       impulse_noise, speckle_noise, gaussian_blur,\n"
            "                       defocus_blur, glass_blur, motion_blur, zoom_blur, none;\n"
            "                       type0: fog, brightness, contrast, elastic, pixelate,\n"
            "                       saturate\n"
            "background (Waterbirds-like binary task):\n"
            "  --classes A:B        source classes of class 0 and class 1, e.g. 0,2,4,6:5,7,9\n"
            "                       (fashion-mnist default: tops vs. footwear); others dropped\n"
            "  --canvas N           output size NxN (default 32 for 28x28 sources)\n"
            "\n"
            "  --out FILE           output file (required)\n"
            "  -h, --help           show this help\n");
}

static void info_usage(FILE *out)
{
    fprintf(out,
            "usage: spurcl data info FILE [--csv]\n"
            "\n"
            "Prints the shape, the build parameters and, per split, a table of sample\n"
            "counts by class (rows) and attribute (columns), with the share of aligned\n"
            "samples (attribute = class mod A).\n"
            "\n"
            "  --csv       instead print split,label,attr,group,count lines\n"
            "  -h, --help  show this help\n");
}

static void preview_usage(FILE *out)
{
    fprintf(out,
            "usage: spurcl data preview FILE --out grid.png [options]\n"
            "\n"
            "Writes a PNG grid with one row per group (class x attribute, in group order)\n"
            "showing the first samples of that group in the split; empty cells stay\n"
            "dark grey.\n"
            "\n"
            "  --out FILE       the PNG to write (required)\n"
            "  --split S        train (default), val or test\n"
            "  --per-group N    samples per row, 1..256 (default 8)\n"
            "  --scale N        pixel scale factor, 1..32 (default 2)\n"
            "  -h, --help       show this help\n");
}

enum {
    O_SOURCE = 256, O_SOURCE_DIR, O_CSV, O_CHANNELS, O_RESIZE, O_MAX_TRAIN, O_MAX_TEST,
    O_VARIANT, O_RHO, O_SEVERITY, O_SEED, O_VAL_FRACTION, O_VAL_BIASED, O_TEST_CLEAN,
    O_THREADS, O_PATCH_SIZE, O_PATCH_LAYOUT, O_PATCH_INTENSITY, O_COLOR_MODE, O_COLOR_SIGMA,
    O_COLOR_PATCH, O_CORRUPTIONS, O_CLASSES, O_CANVAS, O_OUT, O_SPLIT, O_PER_GROUP, O_SCALE,
    O_CSV_OUT
};

static int cmd_build(const sc_cli_global *g, int argc, char **argv)
{
    static const char *cmd = "data build";
    static const struct option opts[] = {
        {"source", required_argument, NULL, O_SOURCE},
        {"source-dir", required_argument, NULL, O_SOURCE_DIR},
        {"csv", required_argument, NULL, O_CSV},
        {"channels", required_argument, NULL, O_CHANNELS},
        {"resize", required_argument, NULL, O_RESIZE},
        {"max-train", required_argument, NULL, O_MAX_TRAIN},
        {"max-test", required_argument, NULL, O_MAX_TEST},
        {"variant", required_argument, NULL, O_VARIANT},
        {"rho", required_argument, NULL, O_RHO},
        {"severity", required_argument, NULL, O_SEVERITY},
        {"seed", required_argument, NULL, O_SEED},
        {"val-fraction", required_argument, NULL, O_VAL_FRACTION},
        {"val-biased", no_argument, NULL, O_VAL_BIASED},
        {"test-clean", no_argument, NULL, O_TEST_CLEAN},
        {"threads", required_argument, NULL, O_THREADS},
        {"patch-size", required_argument, NULL, O_PATCH_SIZE},
        {"patch-layout", required_argument, NULL, O_PATCH_LAYOUT},
        {"patch-intensity", required_argument, NULL, O_PATCH_INTENSITY},
        {"color-mode", required_argument, NULL, O_COLOR_MODE},
        {"color-sigma", required_argument, NULL, O_COLOR_SIGMA},
        {"color-patch", required_argument, NULL, O_COLOR_PATCH},
        {"corruptions", required_argument, NULL, O_CORRUPTIONS},
        {"classes", required_argument, NULL, O_CLASSES},
        {"canvas", required_argument, NULL, O_CANVAS},
        {"out", required_argument, NULL, O_OUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    sc_build_opts o;
    sc_build_opts_default(&o);
    const char *out = NULL;
    int c;
    long long v;
    double dv;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': build_usage(stdout); return SC_EXIT_OK;
        case O_SOURCE:
            if (sc_source_parse(optarg, &o.source.kind) != SC_OK)
                return sc_cli_usage_error(cmd, "%s", sc_last_error());
            break;
        case O_SOURCE_DIR: o.source.dir = optarg; break;
        case O_CSV: o.source.csv = optarg; break;
        case O_CHANNELS:
            if (!sc_cli_parse_int(cmd, "--channels", optarg, 1, 3, &v))
                return SC_EXIT_USAGE;
            if (v == 2)
                return sc_cli_usage_error(cmd, "--channels must be 1 or 3, got 2");
            o.source.channels = (int)v;
            break;
        case O_RESIZE:
            if (!sc_cli_parse_int(cmd, "--resize", optarg, 1, 4096, &v))
                return SC_EXIT_USAGE;
            o.source.resize = (int)v;
            break;
        case O_MAX_TRAIN:
            if (!sc_cli_parse_int(cmd, "--max-train", optarg, 0, 100000000, &v))
                return SC_EXIT_USAGE;
            o.source.max_train = v;
            break;
        case O_MAX_TEST:
            if (!sc_cli_parse_int(cmd, "--max-test", optarg, 0, 100000000, &v))
                return SC_EXIT_USAGE;
            o.source.max_test = v;
            break;
        case O_VARIANT:
            if (sc_variant_parse(optarg, &o.variant) != SC_OK)
                return sc_cli_usage_error(cmd, "%s", sc_last_error());
            break;
        case O_RHO:
            if (!sc_cli_parse_double(cmd, "--rho", optarg, 0.0, 1.0, &o.rho))
                return SC_EXIT_USAGE;
            break;
        case O_SEVERITY:
            if (!sc_cli_parse_int(cmd, "--severity", optarg, 1, 5, &v))
                return SC_EXIT_USAGE;
            o.severity = (int)v;
            break;
        case O_SEED:
            if (!sc_cli_parse_int(cmd, "--seed", optarg, 0, LLONG_MAX, &v))
                return SC_EXIT_USAGE;
            o.seed = (uint64_t)v;
            break;
        case O_VAL_FRACTION:
            if (!sc_cli_parse_double(cmd, "--val-fraction", optarg, 0.0, 1.0, &o.val_fraction))
                return SC_EXIT_USAGE;
            if (o.val_fraction >= 1.0)
                return sc_cli_usage_error(cmd, "--val-fraction must be below 1, got %s", optarg);
            break;
        case O_VAL_BIASED: o.val_biased = true; break;
        case O_TEST_CLEAN: o.test_clean = true; break;
        case O_THREADS:
            if (!sc_cli_parse_int(cmd, "--threads", optarg, 0, 1024, &v))
                return SC_EXIT_USAGE;
            o.threads = (int)v;
            break;
        case O_PATCH_SIZE:
            if (!sc_cli_parse_int(cmd, "--patch-size", optarg, 1, 64, &v))
                return SC_EXIT_USAGE;
            o.patch_size = (int)v;
            break;
        case O_PATCH_LAYOUT:
            if (!strcmp(optarg, "border") || !strcmp(optarg, "corner"))
                o.patch_layout = SC_PATCH_BORDER;
            else if (!strcmp(optarg, "pattern"))
                o.patch_layout = SC_PATCH_PATTERN;
            else
                return sc_cli_usage_error(cmd, "--patch-layout must be border or pattern, got '%s'",
                                          optarg);
            break;
        case O_PATCH_INTENSITY:
            if (!sc_cli_parse_double(cmd, "--patch-intensity", optarg, 0.0, 1.0, &dv))
                return SC_EXIT_USAGE;
            if (dv <= 0)
                return sc_cli_usage_error(cmd, "--patch-intensity must be above 0, got %s",
                                          optarg);
            o.patch_intensity = dv;
            break;
        case O_COLOR_MODE:
            if (!strcmp(optarg, "foreground"))
                o.color_mode = SC_COLOR_FOREGROUND;
            else if (!strcmp(optarg, "background"))
                o.color_mode = SC_COLOR_BACKGROUND;
            else
                return sc_cli_usage_error(cmd,
                                          "--color-mode must be foreground or background, got '%s'",
                                          optarg);
            break;
        case O_COLOR_SIGMA:
            if (!sc_cli_parse_double(cmd, "--color-sigma", optarg, 0.0, 1.0, &o.color_sigma))
                return SC_EXIT_USAGE;
            break;
        case O_COLOR_PATCH:
            if (!sc_cli_parse_int(cmd, "--color-patch", optarg, 0, 64, &v))
                return SC_EXIT_USAGE;
            o.color_patch = (int)v;
            break;
        case O_CORRUPTIONS:
            if (!strcmp(optarg, "type1"))
                o.corruptions = SC_CORRUPTIONS_TYPE1;
            else if (!strcmp(optarg, "type0"))
                o.corruptions = SC_CORRUPTIONS_TYPE0;
            else
                return sc_cli_usage_error(cmd, "--corruptions must be type1 or type0, got '%s'",
                                          optarg);
            break;
        case O_CLASSES: o.class_split = optarg; break;
        case O_CANVAS:
            if (!sc_cli_parse_int(cmd, "--canvas", optarg, 8, 1024, &v))
                return SC_EXIT_USAGE;
            o.canvas = (int)v;
            break;
        case O_OUT: out = optarg; break;
        case ':': return sc_cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
        default: return sc_cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return sc_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!out)
        return sc_cli_usage_error(cmd, "--out FILE is required");
    if (sc_build_opts_check(&o) != SC_OK)
        return sc_cli_usage_error(cmd, "%s", sc_last_error());

    bool progress = sc_cli_progress_enabled(g);
    double t0 = sc_time_now();
    sc_dataset *src = NULL, *d = NULL;
    if (progress)
        fprintf(stderr, "loading %s ...\n", sc_source_name(o.source.kind));
    if (sc_source_load(&o.source, &src) != SC_OK)
        return sc_cli_fail("data build");
    double t1 = sc_time_now();
    if (progress)
        fprintf(stderr, "loaded %lld images in %.2f s; building variant %s ...\n",
                (long long)src->n, t1 - t0, sc_variant_name(o.variant));
    sc_status st = sc_dataset_build_from(src, &o, &d);
    sc_dataset_free(src);
    if (st != SC_OK)
        return sc_cli_fail("data build");
    double t2 = sc_time_now();
    if (sc_dataset_save(d, out) != SC_OK) {
        sc_dataset_free(d);
        return sc_cli_fail("data build");
    }
    double t3 = sc_time_now();
    int64_t n[SC_SPLIT_COUNT] = {0};
    for (int64_t i = 0; i < d->n; i++)
        n[d->split[i]]++;
    if (!g->quiet)
        printf("wrote %s: %lld images %dx%dx%d (train %lld, val %lld, test %lld), %d classes x "
               "%d attribute values (load %.2f s, build %.2f s, save %.2f s)\n",
               out, (long long)d->n, d->c, d->h, d->w, (long long)n[0], (long long)n[1],
               (long long)n[2], d->num_classes, d->num_attrs, t1 - t0, t2 - t1, t3 - t2);
    sc_dataset_free(d);
    return SC_EXIT_OK;
}

static const char *name_or(char **names, int i, char *buf, size_t n)
{
    if (names && names[i])
        return names[i];
    snprintf(buf, n, "%d", i);
    return buf;
}

static int cmd_info(const sc_cli_global *g, int argc, char **argv)
{
    (void)g;
    static const char *cmd = "data info";
    static const struct option opts[] = {
        {"csv", no_argument, NULL, O_CSV_OUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool csv = false;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': info_usage(stdout); return SC_EXIT_OK;
        case O_CSV_OUT: csv = true; break;
        default: return sc_cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return sc_cli_usage_error(cmd, "missing FILE");
    if (optind + 1 < argc)
        return sc_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
    const char *path = argv[optind];
    sc_dataset *d;
    if (sc_dataset_load(path, &d) != SC_OK)
        return sc_cli_fail("data info");
    int K = d->num_classes, A = d->num_attrs;
    int64_t G = (int64_t)K * A;
    int64_t *counts = calloc((size_t)(SC_SPLIT_COUNT * G), sizeof *counts);
    if (!counts) {
        sc_dataset_free(d);
        sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of memory");
        return sc_cli_fail("data info");
    }
    sc_dataset_group_counts(d, counts);
    char b1[32], b2[32];
    if (csv) {
        printf("split,label,attr,group,count\n");
        for (int s = 0; s < SC_SPLIT_COUNT; s++)
            for (int64_t gi = 0; gi < G; gi++)
                printf("%s,%lld,%lld,%lld,%lld\n", sc_split_name((sc_split)s),
                       (long long)(gi / A), (long long)(gi % A), (long long)gi,
                       (long long)counts[s * G + gi]);
    } else {
        printf("file        %s\n", path);
        printf("images      %lld x %d x %d x %d (uint8)\n", (long long)d->n, d->c, d->h, d->w);
        printf("classes     %d, attribute values %d, groups %lld\n", K, A, (long long)G);
        printf("build       %s\n", d->build_json ? d->build_json : "(none)");
        printf("attributes ");
        for (int a = 0; a < A; a++)
            printf(" %d=%s", a, name_or(d->attr_names, a, b1, sizeof b1));
        printf("\n");
        for (int s = 0; s < SC_SPLIT_COUNT; s++) {
            int64_t total = 0, aligned = 0;
            for (int64_t gi = 0; gi < G; gi++) {
                total += counts[s * G + gi];
                if ((gi / A) % A == gi % A)
                    aligned += counts[s * G + gi];
            }
            printf("\n%s: %lld samples", sc_split_name((sc_split)s), (long long)total);
            if (A > 1 && total > 0)
                printf(", aligned (attr = class mod %d): %lld (%.2f%%)", A, (long long)aligned,
                       100.0 * (double)aligned / (double)total);
            printf("\n  %-22s", "class \\ attr");
            for (int a = 0; a < A; a++)
                printf(" %6d", a);
            printf(" %7s\n", "total");
            for (int y = 0; y < K; y++) {
                char label[80];
                snprintf(label, sizeof label, "%d %s", y, name_or(d->class_names, y, b2, sizeof b2));
                printf("  %-22.22s", label);
                int64_t row = 0;
                for (int a = 0; a < A; a++) {
                    int64_t v = counts[s * G + (int64_t)y * A + a];
                    row += v;
                    printf(" %6lld", (long long)v);
                }
                printf(" %7lld\n", (long long)row);
            }
        }
    }
    free(counts);
    sc_dataset_free(d);
    return SC_EXIT_OK;
}

static int cmd_preview(const sc_cli_global *g, int argc, char **argv)
{
    static const char *cmd = "data preview";
    static const struct option opts[] = {
        {"out", required_argument, NULL, O_OUT},
        {"split", required_argument, NULL, O_SPLIT},
        {"per-group", required_argument, NULL, O_PER_GROUP},
        {"scale", required_argument, NULL, O_SCALE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL;
    sc_split split = SC_SPLIT_TRAIN;
    long long per_group = 8, scale = 2;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': preview_usage(stdout); return SC_EXIT_OK;
        case O_OUT: out = optarg; break;
        case O_SPLIT:
            if (sc_split_parse(optarg, &split) != SC_OK)
                return sc_cli_usage_error(cmd, "--split must be train, val or test, got '%s'",
                                          optarg);
            break;
        case O_PER_GROUP:
            if (!sc_cli_parse_int(cmd, "--per-group", optarg, 1, 256, &per_group))
                return SC_EXIT_USAGE;
            break;
        case O_SCALE:
            if (!sc_cli_parse_int(cmd, "--scale", optarg, 1, 32, &scale))
                return SC_EXIT_USAGE;
            break;
        case ':': return sc_cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
        default: return sc_cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return sc_cli_usage_error(cmd, "missing FILE");
    if (optind + 1 < argc)
        return sc_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
    if (!out)
        return sc_cli_usage_error(cmd, "--out FILE is required");
    sc_dataset *d;
    if (sc_dataset_load(argv[optind], &d) != SC_OK)
        return sc_cli_fail("data preview");
    sc_status st = sc_dataset_preview(d, split, (int)per_group, (int)scale, out);
    int groups = d->num_classes * d->num_attrs;
    sc_dataset_free(d);
    if (st != SC_OK)
        return sc_cli_fail("data preview");
    if (!g->quiet)
        printf("wrote %s: %d rows (groups) of up to %lld %s samples\n", out, groups, per_group,
               sc_split_name(split));
    return SC_EXIT_OK;
}

int sc_cmd_data(const sc_cli_global *g, int argc, char **argv)
{
    if (argc < 2) {
        data_usage(stderr);
        return SC_EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        data_usage(stdout);
        return SC_EXIT_OK;
    }
    sc_cli_reset_getopt();
    if (!strcmp(sub, "build"))
        return cmd_build(g, argc - 1, argv + 1);
    if (!strcmp(sub, "info"))
        return cmd_info(g, argc - 1, argv + 1);
    if (!strcmp(sub, "preview"))
        return cmd_preview(g, argc - 1, argv + 1);
    return sc_cli_usage_error("data", "unknown subcommand '%s' (build, info or preview)", sub);
}
