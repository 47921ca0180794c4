/* The parser and help printer generated from the option table (opts.h):
 * a command's getopt_long array, the parsing and range checks of every
 * value, the refusals, and --help with the defaults read from the library's
 * config defaults. */
#define _GNU_SOURCE
#include "opts.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#define HELP_COLUMN 23
#define HELP_WIDTH 79

_Static_assert(sizeof(sc_select) == sizeof(int) && sizeof(sc_split) == sizeof(int),
               "enum options are stored as int");

static const sc_cli_exception *exception(const char *name, unsigned scope)
{
    for (size_t i = 0; i < sc_cli_nexceptions; i++)
        if ((sc_cli_exceptions[i].scope & scope) && !strcmp(sc_cli_exceptions[i].name, name))
            return &sc_cli_exceptions[i];
    return NULL;
}

void *sc_cli_target(const sc_cli_args *a, const sc_cli_opt *o, size_t off)
{
    const void *base = o->base == SC_BASE_RUN     ? (const void *)a->run
                       : o->base == SC_BASE_MODEL ? (const void *)a->model
                                                  : (const void *)a;
    if (!base) { /* a table entry scoped to a command whose defaults hook set no such base */
        fprintf(stderr, "spurcl: option table: --%s has no target in %s\n", o->name,
                a->spec->name);
        abort();
    }
    return (char *)base + off;
}

bool sc_cli_opt_error(const sc_cli_args *a, const sc_cli_opt *o, const char *fmt, ...)
{
    (void)o;
    va_list ap;
    va_start(ap, fmt);
    sc_cli_usage_verror(a->spec->name, fmt, ap);
    va_end(ap);
    return false;
}

bool sc_cli_parse_list(const char *s, double *out, int max, int *n)
{
    *n = 0;
    const char *p = s;
    while (*p && *n < max) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (errno || end == p || !isfinite(v))
            return false;
        out[(*n)++] = v;
        if (*end == ',')
            p = end + 1;
        else if (*end == '\0')
            p = end;
        else
            return false;
    }
    return *n > 0 && *p == '\0';
}

static bool parse_number(const sc_cli_args *a, const sc_cli_opt *o, const char *s, bool integer,
                         long double *out)
{
    char *end = NULL;
    errno = 0;
    long double v = integer ? (long double)strtoll(s, &end, 10) : (long double)strtod(s, &end);
    if (errno || end == s || *end != '\0' || !isfinite((double)v))
        return sc_cli_opt_error(a, o, "--%s expects %s, got '%s'", o->name,
                                integer ? "an integer" : "a number", s);
    const sc_cli_exception *ex = exception(o->name, a->spec->scope);
    long double hi = ex && ex->hi > 0 ? ex->hi : o->hi;
    if (v < o->lo || v > hi)
        return integer ? sc_cli_opt_error(a, o, "--%s must be in [%.0Lf, %.0Lf], got %s",
                                          o->name, o->lo, hi, s)
                       : sc_cli_opt_error(a, o, "--%s must be in [%Lg, %Lg], got %s", o->name,
                                          o->lo, hi, s);
    *out = v;
    return true;
}

/* The values of an enum option a command accepts, joined by sep (and the
 * last one by last): "cnn|vit|resnet", "val, test or both". */
static void enum_values(const sc_cli_opt *o, unsigned scope, const char *sep, const char *last,
                        char *buf, size_t n)
{
    const sc_cli_exception *ex = exception(o->name, scope);
    const char *names[33];
    int k = 0;
    for (int v = 0; v < 32; v++) {
        const char *nm = o->en->name(v);
        bool repeat = !strcmp(nm, "?"); /* past the end */
        for (int j = 0; j < k && !repeat; j++)
            repeat = !strcmp(names[j], nm); /* sc_model_kind_name repeats instead */
        if (repeat)
            break;
        if (!(ex && (ex->refuse_values >> v) & 1u))
            names[k++] = nm;
    }
    if (ex && ex->all)
        names[k++] = ex->all;
    size_t len = 0;
    buf[0] = '\0';
    for (int j = 0; j < k && len < n; j++)
        len += (size_t)snprintf(buf + len, n - len, "%s%s", j == 0 ? "" : j + 1 == k ? last : sep,
                                names[j]);
}

static bool parse_enum(sc_cli_args *a, const sc_cli_opt *o, const char *s, int *out)
{
    const sc_cli_exception *ex = exception(o->name, a->spec->scope);
    bool narrowed = ex && (ex->refuse_values || ex->all);
    if (ex && ex->all && !strcmp(s, ex->all)) {
        *out = -1;
        return true;
    }
    int v;
    bool known = o->en->parse(s, &v) == SC_OK;
    if (!known && !narrowed) /* the library's message names the valid values */
        return sc_cli_opt_error(a, o, "--%s: %s", o->name, sc_last_error());
    bool refused = known && v >= 0 && v < 32 && ex && (ex->refuse_values >> v) & 1u;
    if (refused && ex->why)
        return sc_cli_opt_error(a, o, "--%s %s %s", o->name, o->en->name(v), ex->why);
    if (!known || refused) { /* this command accepts fewer values (or one more) */
        char list[256];
        enum_values(o, a->spec->scope, ", ", " or ", list, sizeof list);
        if (known)
            return sc_cli_opt_error(a, o, "--%s: '%s' is not accepted by %s (expected %s)",
                                    o->name, s, a->spec->name, list);
        return sc_cli_opt_error(a, o, "--%s: unknown value '%s' (expected %s)", o->name, s, list);
    }
    *out = v;
    return true;
}

static bool integer_type(sc_cli_type t)
{
    return t == SC_OPT_INT || t == SC_OPT_I64 || t == SC_OPT_U64;
}

bool sc_cli_store(sc_cli_args *a, const sc_cli_opt *o, const char *arg)
{
    void *t = sc_cli_target(a, o, o->off);
    long double v = 0;
    int e = 0, n;
    double pair[2];
    if (o->type >= SC_OPT_INT && o->type <= SC_OPT_DOUBLE &&
        !parse_number(a, o, arg, integer_type(o->type), &v))
        return false;
    switch (o->type) {
    case SC_OPT_FLAG: *(bool *)t = true; return true;
    case SC_OPT_UNFLAG: *(bool *)t = false; return true;
    case SC_OPT_STR: *(const char **)t = arg; return true;
    case SC_OPT_INT: *(int *)t = (int)v; return true;
    case SC_OPT_I64: *(int64_t *)t = (int64_t)v; return true;
    case SC_OPT_U64: *(uint64_t *)t = (uint64_t)v; return true;
    case SC_OPT_FLOAT: *(float *)t = (float)v; return true;
    case SC_OPT_DOUBLE: *(double *)t = (double)v; return true;
    case SC_OPT_ENUM:
        if (!parse_enum(a, o, arg, &e))
            return false;
        *(int *)t = e;
        return true;
    case SC_OPT_PAIR:
        if (!sc_cli_parse_list(arg, pair, 2, &n) || n != 2 ||
            !(pair[0] >= o->lo && pair[1] <= o->hi && pair[0] <= pair[1]))
            return sc_cli_opt_error(a, o, "--%s expects MIN,MAX with %Lg <= MIN <= MAX <= %Lg, "
                                    "got '%s'", o->name, o->lo, o->hi, arg);
        *(float *)t = (float)pair[0];
        *(float *)sc_cli_target(a, o, o->off2) = (float)pair[1];
        return true;
    case SC_OPT_INT3: break;
    }
    fprintf(stderr, "spurcl: option table: --%s has no parser\n", o->name);
    abort();
}

/* ---- help ------------------------------------------------------------------------- */

/* The entry whose value is the run directory (--out DIR). */
static bool is_run_dir(const sc_cli_opt *o)
{
    return o->base == SC_BASE_RUN && o->off == offsetof(sc_run_config, run_dir) &&
           o->type == SC_OPT_STR;
}

/* The value an option's target holds in d, as text; false when there is
 * none to state (a flag, a NULL string, an enum at -1 without a word). */
static bool value_text(const sc_cli_args *d, const sc_cli_opt *o, char *buf, size_t n)
{
    const void *t = sc_cli_target(d, o, o->off);
    switch (o->type) {
    case SC_OPT_FLAG:
    case SC_OPT_UNFLAG: return false;
    case SC_OPT_STR:
        if (!*(const char *const *)t)
            return false;
        snprintf(buf, n, "%s", *(const char *const *)t);
        return true;
    case SC_OPT_INT: snprintf(buf, n, "%d", *(const int *)t); return true;
    case SC_OPT_I64: snprintf(buf, n, "%lld", (long long)*(const int64_t *)t); return true;
    case SC_OPT_U64:
        snprintf(buf, n, "%llu", (unsigned long long)*(const uint64_t *)t);
        return true;
    case SC_OPT_FLOAT: snprintf(buf, n, "%g", (double)*(const float *)t); return true;
    case SC_OPT_DOUBLE: snprintf(buf, n, "%g", *(const double *)t); return true;
    case SC_OPT_ENUM: {
        int v = *(const int *)t;
        const sc_cli_exception *ex = exception(o->name, d->spec->scope);
        if (v < 0 && !(ex && ex->all))
            return false;
        snprintf(buf, n, "%s", v < 0 ? ex->all : o->en->name(v));
        return true;
    }
    case SC_OPT_PAIR:
        snprintf(buf, n, "%g,%g", (double)*(const float *)t,
                 (double)*(const float *)sc_cli_target(d, o, o->off2));
        return true;
    case SC_OPT_INT3: {
        const int *v = t;
        snprintf(buf, n, "%d,%d,%d", v[0], v[1], v[2]);
        return true;
    }
    }
    return false;
}

/* The default of an option as --help states it, from the defaulted args d;
 * false when there is none to state. */
static bool default_text(const sc_cli_args *d, const sc_cli_opt *o, char *buf, size_t n)
{
    const sc_cli_exception *ex = exception(o->name, d->spec->scope);
    const char *def = ex && ex->def ? ex->def : o->def;
    if (def) {
        snprintf(buf, n, "%s", def);
        return *buf != '\0';
    }
    if (is_run_dir(o) && d->fresh_base) {
        snprintf(buf, n, "%s-YYYYMMDD-HHMMSS, a new directory for every run, named on stdout",
                 d->fresh_base);
        return true;
    }
    return value_text(d, o, buf, n);
}

/* "  --name METAVAR", then the text wrapped from column HELP_COLUMN. */
static void put_wrapped(FILE *out, const char *left, const char *text)
{
    int col = fprintf(out, "%s", left);
    if (col >= HELP_COLUMN - 1) {
        fputc('\n', out);
        col = 0;
    }
    col += fprintf(out, "%*s", HELP_COLUMN - col, "");
    int start = col;
    for (const char *p = text; *p;) {
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, " ");
        if (!len)
            break;
        if (col > start && col + 1 + (int)len > HELP_WIDTH) {
            col = fprintf(out, "\n%*s", HELP_COLUMN, "") - 1;
        } else if (col > start) {
            fputc(' ', out);
            col++;
        }
        col += (int)fwrite(p, 1, len, out);
        p += len;
    }
    fputc('\n', out);
}

static void print_option(FILE *out, const sc_cli_args *d, const sc_cli_opt *o)
{
    unsigned scope = d->spec->scope;
    char left[256], values[256], def[256], text[1024];
    int len = snprintf(left, sizeof left, "  %s%s%s--%s", o->short_name ? "-" : "",
                       o->short_name ? (char[2]){o->short_name, 0} : "",
                       o->short_name ? ", " : "", o->name);
    if (o->alias && (o->alias_scope & scope))
        len += snprintf(left + len, sizeof left - (size_t)len, ", --%s", o->alias);
    if (o->type == SC_OPT_ENUM && !o->metavar)
        enum_values(o, scope, "|", "|", values, sizeof values);
    else
        snprintf(values, sizeof values, "%s", o->metavar ? o->metavar : "");
    if (*values)
        snprintf(left + len, sizeof left - (size_t)len, " %s", values);
    if (o->required & scope)
        snprintf(text, sizeof text, "%s (required)", o->help);
    else if (default_text(d, o, def, sizeof def))
        snprintf(text, sizeof text, "%s (default %s)", o->help, def);
    else
        snprintf(text, sizeof text, "%s", o->help);
    put_wrapped(out, left, text);
}

static void print_help(const sc_cli_spec *spec, FILE *out)
{
    sc_cli_args *d = calloc(1, sizeof *d);
    if (!d)
        return;
    d->spec = spec;
    if (spec->defaults)
        spec->defaults(d);
    fprintf(out, "usage: %s\n", spec->usage);
    if (spec->about)
        fprintf(out, "\n%s", spec->about);
    const char *section = "Options", *shown = NULL;
    for (size_t i = 0; i < sc_cli_nopts; i++) {
        const sc_cli_opt *o = &sc_cli_opts[i];
        if (!o->name && !spec->flat)
            section = o->section;
        if (!o->name || !(o->scope & spec->scope))
            continue;
        if (section != shown)
            fprintf(out, "\n%s:\n", section);
        shown = section;
        print_option(out, d, o);
    }
    if (!shown)
        fprintf(out, "\nOptions:\n");
    put_wrapped(out, "  -h, --help", "show this help");
    free(d);
}

/* ---- parsing ------------------------------------------------------------------------ */

static void add_long(struct option *opts, int *n, const char *name, int has_arg, int val,
                     const sc_cli_spec *spec)
{
    for (int j = 0; j < *n; j++)
        if (!strcmp(opts[j].name, name)) { /* two entries of one name share a scope */
            fprintf(stderr, "spurcl: option table: --%s twice in %s\n", name, spec->name);
            abort();
        }
    opts[(*n)++] = (struct option){name, has_arg, NULL, val};
}

void sc_cli_bind(sc_cli_args *a, sc_run_config *run, sc_model_config *model, const char *base)
{
    a->run = run;
    a->model = model;
    a->fresh_base = base;
    run->run_dir = NULL; /* sc_cli_run names it, unless --out does */
}

bool sc_cli_given(const sc_cli_args *a, const char *name)
{
    for (size_t i = 0; i < sc_cli_nopts; i++)
        if ((sc_cli_opts[i].scope & a->spec->scope) && sc_cli_opts[i].name &&
            !strcmp(sc_cli_opts[i].name, name))
            return a->given[i];
    return false;
}

void sc_cli_given_model(const sc_cli_args *a, sc_model_config *dst)
{
    for (size_t i = 0; i < sc_cli_nopts; i++) {
        const sc_cli_opt *o = &sc_cli_opts[i];
        if (!a->given[i] || o->base != SC_BASE_MODEL || !(o->scope & a->spec->scope))
            continue;
        size_t size = o->type == SC_OPT_INT3                          ? 3 * sizeof(int)
                      : o->type == SC_OPT_INT || o->type == SC_OPT_ENUM ? sizeof(int)
                                                                        : 0;
        if (!size) {
            fprintf(stderr, "spurcl: option table: --%s: a model field of an unexpected type\n",
                    o->name);
            abort();
        }
        memcpy((char *)dst + o->off, (const char *)sc_cli_target(a, o, o->off), size);
    }
}

/* An unknown option that the command knows and refuses gets its reason. */
static int unknown_option(const sc_cli_spec *spec, const char *arg)
{
    if (!strncmp(arg, "--", 2)) {
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)strcspn(arg + 2, "="), arg + 2);
        const sc_cli_exception *ex = exception(name, spec->scope);
        if (ex && ex->refused)
            return sc_cli_usage_error(spec->name, "--%s %s", name, ex->why);
        /* the global options go before the command */
        if (!strcmp(name, "device") || !strcmp(name, "quiet"))
            return sc_cli_usage_error(spec->name, "--%s is a global option: put it before the "
                                                  "command, as in 'spurcl --%s%s %s ...'",
                                      name, name, !strcmp(name, "device") ? " SEL" : "",
                                      spec->name);
    }
    return sc_cli_usage_error(spec->name, "unknown option '%s'", arg);
}

/* After the options: the operand, and the options the command needs. */
static int finish(const sc_cli_spec *spec, int argc, char **argv, sc_cli_args *a)
{
    if (spec->positional) {
        if (optind >= argc)
            return sc_cli_usage_error(spec->name, "missing %s", spec->positional);
        a->file = argv[optind++];
    }
    if (optind < argc)
        return sc_cli_usage_error(spec->name, "unexpected argument '%s'", argv[optind]);
    char missing[256] = "";
    size_t len = 0;
    int count = 0;
    for (size_t i = 0; i < sc_cli_nopts; i++) {
        const sc_cli_opt *o = &sc_cli_opts[i];
        if (o->name && (o->required & spec->scope) && !a->given[i] && len < sizeof missing)
            len += (size_t)snprintf(missing + len, sizeof missing - len, "%s--%s %s",
                                    count++ ? ", " : "", o->name, o->metavar);
    }
    if (count > 1) { /* "--data FILE, --model CKPT" -> "... and --model CKPT" */
        char *comma = strrchr(missing, ',');
        char tail[256];
        snprintf(tail, sizeof tail, " and%s", comma + 1);
        snprintf(comma, sizeof missing - (size_t)(comma - missing), "%s", tail);
    }
    if (count)
        return sc_cli_usage_error(spec->name, "%s %s required", missing, count > 1 ? "are" : "is");
    return SC_CLI_CONTINUE;
}

int sc_cli_parse(const sc_cli_spec *spec, int argc, char **argv, sc_cli_args *a)
{
    memset(a, 0, sizeof *a);
    a->spec = spec;
    if (spec->defaults)
        spec->defaults(a);
    struct option longopts[2 * SC_CLI_MAX_OPTS + 2];
    char shortopts[2 * SC_CLI_MAX_OPTS + 3] = ":h";
    int n = 0, ns = 2;
    int short_index[256];
    memset(short_index, -1, sizeof short_index);
    for (size_t i = 0; i < sc_cli_nopts && i < SC_CLI_MAX_OPTS; i++) {
        const sc_cli_opt *o = &sc_cli_opts[i];
        int has_arg = o->type == SC_OPT_FLAG || o->type == SC_OPT_UNFLAG ? no_argument
                                                                         : required_argument;
        if (!o->name)
            continue;
        if (o->scope & spec->scope) {
            add_long(longopts, &n, o->name, has_arg, 256 + (int)i, spec);
            if (o->short_name) {
                shortopts[ns++] = o->short_name;
                if (has_arg == required_argument)
                    shortopts[ns++] = ':';
                short_index[(unsigned char)o->short_name] = (int)i;
            }
        }
        if (o->alias && (o->alias_scope & spec->scope))
            add_long(longopts, &n, o->alias, has_arg, 256 + (int)i, spec);
    }
    longopts[n++] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[n] = (struct option){NULL, 0, NULL, 0};
    shortopts[ns] = '\0';
    optind = 0; /* glibc: 0 re-initialises getopt completely */
    opterr = 0; /* the messages are ours */
    int c;
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        if (c == 'h') {
            print_help(spec, stdout);
            return SC_EXIT_OK;
        }
        if (c == ':')
            return sc_cli_usage_error(spec->name, "option '%s' needs a value", argv[optind - 1]);
        int i = c >= 256 ? c - 256 : c > 0 && c < 256 ? short_index[c] : -1;
        if (i < 0)
            return unknown_option(spec, argv[optind - 1]);
        const sc_cli_opt *o = &sc_cli_opts[i];
        a->given[i] = 1;
        a->arg[i] = optarg;
        if (!(o->parse ? o->parse(a, o, optarg) : sc_cli_store(a, o, optarg)))
            return SC_EXIT_USAGE;
    }
    return finish(spec, argc, argv, a);
}

/* ---- the record of a command line (config.json) ------------------------------------- */

/* Settings a resume may change besides those the library lets change
 * (epochs, out, resume, force, override): outputs and actions after the
 * run that do not shape it. */
static const char *const free_settings[] = {"json", "probe"};

/* A float as the shortest decimal that reads back as the same float. */
static cJSON *float_json(double v, bool single)
{
    if (!isfinite(v))
        return cJSON_CreateNull();
    char buf[64];
    for (int p = single ? 6 : 15; p <= (single ? 9 : 17); p++) {
        snprintf(buf, sizeof buf, "%.*g", p, v);
        double back = strtod(buf, NULL);
        if (single ? (float)back == (float)v : back == v)
            break;
    }
    return cJSON_CreateRaw(buf);
}

/* An option's final value: typed as the table stores it; a list option
 * (METAVAR with "[,") as given, else its default as --help states it; a
 * value left unset (a NULL string, an enum at -1) as its default in words
 * or null. */
static cJSON *option_value(const sc_cli_args *a, const sc_cli_opt *o, size_t i)
{
    char buf[512];
    if (o->metavar && strstr(o->metavar, "[,")) {
        if (a->given[i] && a->arg[i])
            return cJSON_CreateString(a->arg[i]);
        return default_text(a, o, buf, sizeof buf) ? cJSON_CreateString(buf) : cJSON_CreateNull();
    }
    const void *t = sc_cli_target(a, o, o->off);
    switch (o->type) {
    case SC_OPT_FLAG: return cJSON_CreateBool(*(const bool *)t);
    case SC_OPT_UNFLAG: return cJSON_CreateBool(!*(const bool *)t);
    case SC_OPT_STR:
        if (*(const char *const *)t)
            return cJSON_CreateString(*(const char *const *)t);
        return o->def ? cJSON_CreateString(o->def) : cJSON_CreateNull();
    case SC_OPT_INT: return cJSON_CreateNumber(*(const int *)t);
    case SC_OPT_I64: return cJSON_CreateNumber((double)*(const int64_t *)t);
    case SC_OPT_U64: return cJSON_CreateNumber((double)*(const uint64_t *)t);
    case SC_OPT_FLOAT: return float_json(*(const float *)t, true);
    case SC_OPT_DOUBLE: return float_json(*(const double *)t, false);
    case SC_OPT_ENUM:
    case SC_OPT_PAIR:
    case SC_OPT_INT3:
        /* an enum's name, MIN,MAX, C1,C2,FC: as --help states a default;
         * an enum at -1 ("both", "--model") as its word */
        if (value_text(a, o, buf, sizeof buf) ||
            (o->type == SC_OPT_ENUM && default_text(a, o, buf, sizeof buf)))
            return cJSON_CreateString(buf);
        return cJSON_CreateNull();
    }
    return cJSON_CreateNull();
}

char *sc_cli_record(const sc_cli_args *a, const sc_cli_global *g, const char *data_path)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "command", a->spec->name);
    cJSON *argv = cJSON_AddArrayToObject(r, "argv");
    for (int i = 0; i < g->argc; i++)
        cJSON_AddItemToArray(argv, cJSON_CreateString(g->argv[i]));
    cJSON *s = cJSON_AddObjectToObject(r, "settings");
    for (size_t i = 0; i < sc_cli_nopts; i++) {
        const sc_cli_opt *o = &sc_cli_opts[i];
        if (o->name && (o->scope & a->spec->scope))
            cJSON_AddItemToObject(s, o->name, option_value(a, o, i));
    }
    cJSON *fr = cJSON_AddArrayToObject(r, "free");
    for (size_t i = 0; i < sizeof free_settings / sizeof free_settings[0]; i++)
        cJSON_AddItemToArray(fr, cJSON_CreateString(free_settings[i]));
    if (data_path)
        cJSON_AddStringToObject(r, "data_path", data_path);
    char *txt = cJSON_PrintUnformatted(r);
    cJSON_Delete(r);
    return txt;
}
