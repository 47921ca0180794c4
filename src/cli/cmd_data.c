/* spurcl data: build, inspect and preview spurious-correlation data sets.
 *
 *   spurcl data build [options] --out FILE
 *   spurcl data info FILE [--csv]
 *   spurcl data preview FILE --out grid.png [--split S] [--per-group N] [--scale N] */
#define _GNU_SOURCE
#include "cli.h"
#include "opts.h"
#include "spurcl/sys.h"
#include "spurcl/data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void build_defaults(sc_cli_args *a)
{
    sc_build_opts_default(&a->build);
}



static void preview_defaults(sc_cli_args *a)
{
    a->split = SC_SPLIT_TRAIN; /* no library config holds these */
    a->per_group = 8;
    a->scale = 2;
}


static int build_check(sc_cli_args *a)
{
    if (sc_build_opts_check(&a->build) != SC_OK)
        return sc_cli_usage_error("data build", "%s", sc_last_error());
    return SC_CLI_CONTINUE;
}

static int build(const sc_cli_global *g, sc_cli_args *a, sc_cli_session *s)
{
    (void)s;
    const sc_build_opts *o = &a->build;
    const char *out = a->out;
    bool progress = sc_cli_progress_enabled(g);
    double t0 = sc_time_now();
    sc_dataset *src = NULL, *d = NULL;
    if (progress)
        fprintf(stderr, "loading %s ...\n", sc_source_name(o->source.kind));
    if (sc_source_load(&o->source, &src) != SC_OK)
        return sc_cli_fail("data build");
    double t1 = sc_time_now();
    if (progress)
        fprintf(stderr, "loaded %lld images in %.2f s; building variant %s ...\n",
                (long long)src->n, t1 - t0, sc_variant_name(o->variant));
    sc_status st = sc_dataset_build_from(src, o, &d);
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

static int info(const sc_cli_global *g, sc_cli_args *a, sc_cli_session *s)
{
    (void)g;
    (void)s;
    const char *path = a->file;
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
    if (a->csv) {
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

static int preview(const sc_cli_global *g, sc_cli_args *a, sc_cli_session *s)
{
    sc_split split = (sc_split)a->split;
    if (sc_dataset_load(a->file, &s->d) != SC_OK ||
        sc_dataset_preview(s->d, split, a->per_group, a->scale, a->out) != SC_OK)
        return sc_cli_fail("data preview");
    if (!g->quiet)
        printf("wrote %s: %d rows (groups) of up to %d %s samples\n", a->out,
               s->d->num_classes * s->d->num_attrs, a->per_group, sc_split_name(split));
    return SC_EXIT_OK;
}

static const sc_cli_spec specs[] = {
    {"data build", SC_CLI_BUILD, "spurcl data build [options] --out FILE",
     "Loads a source, plants a spurious attribute (variant) with the requested\n"
     "correlation in the training split, and writes one safetensors file with\n"
     "images U8 [N,C,H,W], labels, attrs, groups, split (I32 [N]; split 0 train,\n"
     "1 val, 2 test) and the build parameters as JSON metadata. The same options\n"
     "and seed give a byte-identical file.\n",
     build_defaults, build_check, SC_CLI_OPENS_NOTHING, build, .flat = false},
    {"data info", SC_CLI_INFO, "spurcl data info FILE [--csv]",
     "Prints the shape, the build parameters and, per split, a table of sample\n"
     "counts by class (rows) and attribute (columns), with the share of aligned\n"
     "samples (attribute = class mod A).\n",
     NULL, NULL, SC_CLI_OPENS_NOTHING, info, .positional = "FILE", .flat = true},
    {"data preview", SC_CLI_PREVIEW, "spurcl data preview FILE --out grid.png [options]",
     "Writes a PNG grid with a title and one row per group (class x attribute, in\n"
     "group order), labelled on the left with the class and attribute names and\n"
     "the group's count in the split, showing its first --per-group images as\n"
     "columns; cells a group has no image for are light grey. Rows wrap into\n"
     "side-by-side blocks of whole classes where the grid would be taller than\n"
     "2000 pixels.\n",
     preview_defaults, NULL, SC_CLI_OPENS_NOTHING, preview, .positional = "FILE", .flat = true},
};

static const struct {
    const char *name;
    const char *summary;
} subcommands[] = { /* in the order of specs[] */
    {"build", "build a data set variant from a source and save it (safetensors)"},
    {"info", "table of sample counts per split and group, plus the build parameters"},
    {"preview", "PNG grid of examples, one labelled row per group"},
};
#define NSUB (sizeof subcommands / sizeof subcommands[0])

static void data_usage(FILE *out)
{
    fprintf(out, "usage: spurcl data <subcommand> [options]\n\nSubcommands:\n");
    for (size_t i = 0; i < NSUB; i++)
        fprintf(out, "  %-8s %s\n", subcommands[i].name, subcommands[i].summary);
    fprintf(out, "\nRun 'spurcl data <subcommand> --help' for its options.\n");
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
    for (size_t i = 0; i < NSUB; i++)
        if (!strcmp(sub, subcommands[i].name))
            return sc_cli_run(&specs[i], g, argc - 1, argv + 1);
    return sc_cli_usage_error("data", "unknown subcommand '%s' (build, info or preview)", sub);
}
