/* Kernel forms: which form of a kernel family runs on a context.
 *
 * Three sources decide, first match wins: a form forced by the environment
 * (SPURCL_GEMM, ...) or by sc_context_set_form; a measured choice for a
 * tunable family (sc_form_pick: each candidate form timed on the family's
 * workload the first time the family runs on the context, the choice cached
 * on disk keyed by the device, its driver, the kernel sources and the
 * version); the device-type rule its caller passes. */
#define _POSIX_C_SOURCE 200809L
#include "core/core.h"
#include "core/embedded.h"
#include "spurcl/io.h"
#include "spurcl/sys.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct form_family {
    const char *family, *env;
    size_t field; /* offset in sc_kernel_forms */
    const char *names[3];
    sc_form forms[3];
} form_family;

/* Indexed by sc_form_family. */
static const form_family form_families[SC_FAMILY_COUNT] = {
    {"gemm", "SPURCL_GEMM", offsetof(sc_kernel_forms, gemm), {"clblast", "native", "host"},
     {SC_FORM_GEMM_CLBLAST, SC_FORM_GEMM_NATIVE, SC_FORM_GEMM_HOST}},
    {"conv_layout", "SPURCL_CONV_LAYOUT", offsetof(sc_kernel_forms, conv_layout),
     {"rows", "elements", NULL}, {SC_FORM_CONV_ROWS, SC_FORM_CONV_ELEMENTS, SC_FORM_AUTO}},
    {"norm", "SPURCL_NORM", offsetof(sc_kernel_forms, norm), {"channels", "slices", NULL},
     {SC_FORM_NORM_CHANNELS, SC_FORM_NORM_SLICES, SC_FORM_AUTO}},
    {"rows", "SPURCL_ROWS", offsetof(sc_kernel_forms, rows), {"groups", "items", NULL},
     {SC_FORM_ROWS_GROUPS, SC_FORM_ROWS_ITEMS, SC_FORM_AUTO}},
    {"blas_threads", "SPURCL_BLAS_THREADS", offsetof(sc_kernel_forms, blas_threads),
     {"all", "one", "thin"}, {SC_FORM_BLAS_ALL, SC_FORM_BLAS_ONE, SC_FORM_BLAS_THIN}},
    {"attention", "SPURCL_ATTENTION", offsetof(sc_kernel_forms, attention),
     {"tiles", "rows", "composed"}, {SC_FORM_ATTN_TILES, SC_FORM_ATTN_ROWS, SC_FORM_ATTN_COMPOSED}},
};

static sc_form *slot_of(sc_kernel_forms *f, sc_form_family fam)
{
    return (sc_form *)((char *)f + form_families[fam].field);
}

static int candidate_count(sc_form_family fam)
{
    return form_families[fam].names[2] ? 3 : 2;
}

static const char *form_name(sc_form_family fam, sc_form form)
{
    for (int i = 0; i < candidate_count(fam); i++)
        if (form_families[fam].forms[i] == form)
            return form_families[fam].names[i];
    return NULL;
}

/* Sets one family's form from `value` (NULL or "": the device decides);
 * `what` names the source in the error (an environment variable or the
 * family). */
static sc_status set_form(sc_kernel_forms *f, sc_form_family fam, const char *value,
                          const char *what)
{
    const form_family *ff = &form_families[fam];
    sc_form *slot = slot_of(f, fam);
    if (!value || !*value) {
        *slot = SC_FORM_AUTO;
        return SC_OK;
    }
    for (int i = 0; i < candidate_count(fam); i++)
        if (strcmp(value, ff->names[i]) == 0) {
            *slot = ff->forms[i];
            return SC_OK;
        }
    return sc_error_set(SC_ERR_INVALID_ARG, "%s '%s': expected %s or %s%s%s", what, value,
                        ff->names[0], ff->names[1], ff->names[2] ? " or " : "",
                        ff->names[2] ? ff->names[2] : "");
}

static sc_status family_of(const char *family, sc_form_family *out)
{
    for (int i = 0; i < SC_FAMILY_COUNT; i++)
        if (family && strcmp(family, form_families[i].family) == 0) {
            *out = (sc_form_family)i;
            return SC_OK;
        }
    return sc_error_set(SC_ERR_INVALID_ARG,
                        "no kernel family '%s' has forms (gemm, conv_layout, norm, rows, "
                        "blas_threads, attention)",
                        family ? family : "(null)");
}

const char *sc_kernel_family_name(int i)
{
    return i >= 0 && i < SC_FAMILY_COUNT ? form_families[i].family : NULL;
}

sc_status sc_context_set_form(sc_context *ctx, const char *family, const char *form)
{
    sc_form_family fam;
    SC_TRY(family_of(family, &fam));
    char what[48];
    snprintf(what, sizeof what, "%s form", family);
    return set_form(&ctx->forms, fam, form, what);
}

sc_status sc_forms_from_env(sc_kernel_forms *f)
{
    *f = (sc_kernel_forms){0};
    for (int i = 0; i < SC_FAMILY_COUNT; i++)
        SC_TRY(set_form(f, (sc_form_family)i, getenv(form_families[i].env),
                        form_families[i].env));
    return SC_OK;
}

/* ---- tuning state ------------------------------------------------------------- */

enum { TUNE_OFF, TUNE_ON, TUNE_AGAIN };

typedef struct family_choice {
    bool decided;
    sc_form form;
    const char *how;              /* "tuned", "cached", "rule" */
    double seconds[3];            /* per candidate; NAN: not measured or failed */
} family_choice;

struct sc_tune_state {
    int mode;
    char *path;                   /* the cache file; NULL: no cache (no home) */
    bool busy;                    /* measuring: nested picks take their rule */
    bool warned;                  /* one cache message per context */
    cJSON *read;                  /* the file as this context first read it
                                     (its lookups parse it once), or NULL */
    family_choice fam[SC_FAMILY_COUNT];
};

static sc_status parse_mode(const char *mode, const char *what, int *out)
{
    if (!mode || !*mode || strcmp(mode, "on") == 0)
        *out = TUNE_ON;
    else if (strcmp(mode, "off") == 0)
        *out = TUNE_OFF;
    else if (strcmp(mode, "again") == 0)
        *out = TUNE_AGAIN;
    else
        return sc_error_set(SC_ERR_INVALID_ARG, "%s '%s': expected on, off or again", what,
                            mode);
    return SC_OK;
}

/* The cache file; NULL (measure in each process, keep nothing) when the
 * kernels come from SPURCL_KERNEL_DIR, whose edits the embedded sources'
 * hash in the key would not see, unless SPURCL_TUNE_CACHE names a file. */
static char *default_cache_path(void)
{
    const char *env = getenv("SPURCL_TUNE_CACHE");
    if (env && *env)
        return sc_strprintf("%s", env);
    const char *kdir = getenv("SPURCL_KERNEL_DIR");
    if (kdir && *kdir)
        return NULL;
    const char *xdg = getenv("XDG_CACHE_HOME");
    if (xdg && *xdg)
        return sc_strprintf("%s/spurcl/tune.json", xdg);
    const char *home = getenv("HOME");
    if (home && *home)
        return sc_strprintf("%s/.cache/spurcl/tune.json", home);
    return NULL;
}

sc_status sc_tune_state_create(sc_tune_state **out)
{
    *out = NULL;
    sc_tune_state *ts = calloc(1, sizeof *ts);
    if (!ts)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory (tuning state)");
    sc_status st = parse_mode(getenv("SPURCL_TUNE"), "SPURCL_TUNE", &ts->mode);
    if (st != SC_OK) {
        free(ts);
        return st;
    }
    ts->path = default_cache_path();
    *out = ts;
    return SC_OK;
}

void sc_tune_state_free(sc_tune_state *ts)
{
    if (!ts)
        return;
    cJSON_Delete(ts->read);
    free(ts->path);
    free(ts);
}

sc_status sc_context_set_tuning(sc_context *ctx, const char *mode, const char *cache)
{
    int m;
    SC_TRY(parse_mode(mode, "tuning mode", &m));
    sc_tune_state *ts = ctx->tune;
    char *path = cache && *cache ? sc_strprintf("%s", cache) : default_cache_path();
    free(ts->path);
    ts->path = path;
    ts->mode = m;
    ts->warned = false;
    cJSON_Delete(ts->read);
    ts->read = NULL;
    for (int i = 0; i < SC_FAMILY_COUNT; i++)
        ts->fam[i] = (family_choice){0};
    return SC_OK;
}

/* ---- the disk cache ------------------------------------------------------------ */

/* FNV-1a over every embedded kernel source and its name: a new kernel
 * source makes every cached choice stale. */
static void sources_hash(char hex[17])
{
    uint64_t h = 1469598103934665603ull;
    for (const sc_embedded_kernel *k = sc_embedded_kernels; k->name; k++)
        for (int part = 0; part < 2; part++)
            for (const unsigned char *p = (const unsigned char *)(part ? k->source : k->name);
                 *p; p++)
                h = (h ^ *p) * 1099511628211ull;
    snprintf(hex, 17, "%016llx", (unsigned long long)h);
}

/* The fields an entry must match, as strings. */
static void key_fields(const sc_context *ctx, const char *vals[6], char units[16], char hex[17])
{
    snprintf(units, 16, "%u", ctx->dev.compute_units);
    sources_hash(hex);
    vals[0] = ctx->dev.name;
    vals[1] = ctx->dev.vendor;
    vals[2] = ctx->dev.driver_version;
    vals[3] = ctx->dev.platform_version;
    vals[4] = units;
    vals[5] = hex;
}

static const char *const key_names[6] = {"device", "vendor", "driver", "platform",
                                         "compute_units", "sources"};

static void cache_warn(const sc_context *ctx, const char *what)
{
    sc_tune_state *ts = ctx->tune;
    if (ts->warned)
        return;
    ts->warned = true;
    fprintf(stderr, "spurcl: tuning cache %s: %s\n", ts->path, what);
}

/* The cache's root object; a missing file gives a new one, an unreadable or
 * malformed one a new one and (once) a message. NULL: out of memory. */
static cJSON *cache_read(const sc_context *ctx)
{
    sc_tune_state *ts = ctx->tune;
    uint8_t *data = NULL;
    size_t size = 0;
    cJSON *root = NULL;
    FILE *probe = fopen(ts->path, "rb");
    if (probe) {
        fclose(probe);
        if (sc_io_read_file(ts->path, 4u << 20, &data, &size) != SC_OK) {
            cache_warn(ctx, sc_last_error());
            sc_error_clear();
        } else {
            root = cJSON_ParseWithLength((const char *)data, size);
            free(data);
            cJSON *fmt = root ? cJSON_GetObjectItem(root, "format") : NULL;
            if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "spurcl-tune-1") != 0 ||
                !cJSON_IsArray(cJSON_GetObjectItem(root, "devices"))) {
                cache_warn(ctx, "not a spurcl tuning cache (format spurcl-tune-1); measuring "
                                "again and rewriting it");
                cJSON_Delete(root);
                root = NULL;
            }
        }
    }
    if (!root) {
        root = cJSON_CreateObject();
        if (root && (!cJSON_AddStringToObject(root, "format", "spurcl-tune-1") ||
                     !cJSON_AddArrayToObject(root, "devices"))) {
            cJSON_Delete(root);
            root = NULL;
        }
    }
    return root;
}

/* The entry of ctx's device in root's devices (created when `create`). */
static cJSON *cache_entry(const sc_context *ctx, cJSON *root, bool create)
{
    const char *vals[6];
    char units[16], hex[17];
    key_fields(ctx, vals, units, hex);
    cJSON *dev;
    cJSON_ArrayForEach(dev, cJSON_GetObjectItem(root, "devices"))
    {
        bool same = cJSON_IsObject(dev);
        for (int i = 0; same && i < 6; i++) {
            cJSON *v = cJSON_GetObjectItem(dev, key_names[i]);
            same = cJSON_IsString(v) && strcmp(v->valuestring, vals[i]) == 0;
        }
        if (same)
            return dev;
    }
    if (!create)
        return NULL;
    dev = cJSON_CreateObject();
    if (!dev)
        return NULL;
    for (int i = 0; i < 6; i++)
        cJSON_AddStringToObject(dev, key_names[i], vals[i]);
    cJSON_AddStringToObject(dev, "spurcl", sc_version());
    cJSON_AddObjectToObject(dev, "families");
    cJSON_AddItemToArray(cJSON_GetObjectItem(root, "devices"), dev);
    return dev;
}

/* The cached form of `fam` for ctx's device, or SC_FORM_AUTO. The file is
 * read and parsed on the context's first lookup only. */
static sc_form cache_lookup(const sc_context *ctx, sc_form_family fam, double seconds[3])
{
    sc_tune_state *ts = ctx->tune;
    if (!ts->read)
        ts->read = cache_read(ctx);
    cJSON *root = ts->read;
    sc_form form = SC_FORM_AUTO;
    cJSON *dev = root ? cache_entry(ctx, root, false) : NULL;
    cJSON *f = dev ? cJSON_GetObjectItem(cJSON_GetObjectItem(dev, "families"),
                                         form_families[fam].family)
                   : NULL;
    cJSON *name = f ? cJSON_GetObjectItem(f, "form") : NULL;
    if (cJSON_IsString(name))
        for (int i = 0; i < candidate_count(fam); i++)
            if (strcmp(name->valuestring, form_families[fam].names[i]) == 0)
                form = form_families[fam].forms[i];
    if (form != SC_FORM_AUTO)
        for (int i = 0; i < candidate_count(fam); i++) {
            cJSON *s = cJSON_GetObjectItem(cJSON_GetObjectItem(f, "seconds"),
                                           form_families[fam].names[i]);
            seconds[i] = cJSON_IsNumber(s) ? s->valuedouble : NAN;
        }
    return form;
}

/* Adds fam's choice to the cache file (read again first, so that other
 * devices' and families' entries written meanwhile stay). */
static void cache_store(const sc_context *ctx, sc_form_family fam, const family_choice *c)
{
    sc_tune_state *ts = ctx->tune;
    cJSON *root = cache_read(ctx);
    cJSON *dev = root ? cache_entry(ctx, root, true) : NULL;
    cJSON *fams = dev ? cJSON_GetObjectItem(dev, "families") : NULL;
    cJSON *f = cJSON_CreateObject();
    if (!fams || !f) {
        cJSON_Delete(f);
        cJSON_Delete(root);
        return;
    }
    cJSON_AddStringToObject(f, "form", form_name(fam, c->form));
    cJSON *secs = cJSON_AddObjectToObject(f, "seconds");
    for (int i = 0; secs && i < candidate_count(fam); i++)
        if (!isnan(c->seconds[i]))
            cJSON_AddNumberToObject(secs, form_families[fam].names[i], c->seconds[i]);
    if (!cJSON_ReplaceItemInObject(fams, form_families[fam].family, f))
        cJSON_AddItemToObject(fams, form_families[fam].family, f);
    char *dir = sc_strprintf("%s", ts->path);
    char *slash = dir ? strrchr(dir, '/') : NULL;
    sc_status st = SC_OK;
    if (slash && slash != dir) {
        *slash = '\0';
        st = sc_mkdir_p(dir);
    }
    free(dir);
    if (st == SC_OK) {
        char *text = cJSON_Print(root);
        st = sc_io_write_text_atomic(ts->path, text);
        cJSON_free(text);
    }
    if (st != SC_OK) {
        char msg[600];
        snprintf(msg, sizeof msg, "cannot write it (%s); the choice holds for this process only",
                 sc_last_error());
        cache_warn(ctx, msg);
        sc_error_clear();
    }
    cJSON_Delete(root);
}

/* ---- measuring ------------------------------------------------------------------ */

/* Rounds of the candidates in turn, a different first one each round; a
 * round runs the workload enough times to last ~10 ms for the fastest
 * candidate (a short workload timed alone is at the mercy of one
 * preemption); a candidate's time is its fastest round; after the first
 * round, a candidate 3x slower than the best so far leaves the rounds. */
enum { TUNE_ROUNDS = 5, TUNE_MAX_REPEATS = 64 };
#define TUNE_ROUND_SECONDS 0.01

/* A candidate must beat the rule's form by this factor to replace it: the
 * rule stays unless the measurement is clear. */
#define TUNE_MARGIN 0.85

static double time_runs(sc_context *ctx, const sc_tune_workload *work, sc_tensor *const *t,
                        int repeats)
{
    if (sc_context_finish(ctx) != SC_OK) {
        sc_error_clear();
        return NAN;
    }
    double t0 = sc_time_now();
    for (int r = 0; r < repeats; r++)
        if (work->run(ctx, t) != SC_OK) {
            sc_error_clear();
            sc_context_finish(ctx);
            sc_error_clear();
            return NAN;
        }
    if (sc_context_finish(ctx) != SC_OK) {
        sc_error_clear();
        return NAN;
    }
    return (sc_time_now() - t0) / repeats;
}

static void measure(sc_context *ctx, sc_form_family fam, const sc_tune_workload *work,
                    sc_tensor *const *t, double seconds[3])
{
    int n = candidate_count(fam);
    sc_form *slot = slot_of(&ctx->forms, fam);
    double best = INFINITY;
    for (int pass = 0; pass < 2; pass++) /* builds the programs and fills the pool, then times */
        for (int i = 0; i < n; i++) {
            if (pass && isnan(seconds[i]))
                continue; /* failed: not a candidate on this device */
            *slot = form_families[fam].forms[i];
            seconds[i] = time_runs(ctx, work, t, 1);
            if (pass && seconds[i] < best)
                best = seconds[i];
        }
    double want = TUNE_ROUND_SECONDS / (best > 0 ? best : 1e-6);
    int repeats = want > TUNE_MAX_REPEATS ? TUNE_MAX_REPEATS : want < 1 ? 1 : (int)ceil(want);
    for (int r = 0; r < TUNE_ROUNDS; r++)
        for (int j = 0; j < n; j++) {
            int i = (j + r) % n;
            if (isnan(seconds[i]) || (r > 0 && seconds[i] > 3 * best))
                continue;
            *slot = form_families[fam].forms[i];
            double s = time_runs(ctx, work, t, repeats);
            if (isnan(s) || r == 0 || s < seconds[i])
                seconds[i] = s; /* round 0 replaces the single timing run's */
            if (s < best)
                best = s;
        }
    *slot = SC_FORM_AUTO;
}

/* The workload's tensors, then the measurement; every candidate NaN when
 * they cannot be made. */
static void measure_work(sc_context *ctx, sc_form_family fam, const sc_tune_workload *work,
                         double seconds[3])
{
    sc_tensor *t[SC_TUNE_MAX_TENSORS] = {NULL};
    bool made = work->ntensors <= SC_TUNE_MAX_TENSORS;
    for (int i = 0; made && i < work->ntensors; i++)
        made = sc_tensor_zeros(ctx, SC_F32, work->tensors[i].ndim, work->tensors[i].shape,
                               &t[i]) == SC_OK;
    if (made)
        measure(ctx, fam, work, t, seconds);
    else
        sc_error_clear();
    for (int i = 0; i < SC_TUNE_MAX_TENSORS; i++)
        sc_tensor_free(t[i]);
}

sc_form sc_form_pick(const sc_context *cctx, sc_form_family fam, sc_form rule,
                     const sc_tune_workload *work)
{
    sc_form forced = *slot_of((sc_kernel_forms *)&cctx->forms, fam);
    if (forced != SC_FORM_AUTO)
        return forced;
    sc_tune_state *ts = cctx->tune;
    family_choice *c = &ts->fam[fam];
    if (c->decided)
        return c->form;
    if (ts->busy || !work)
        return rule;
    *c = (family_choice){.decided = true, .form = rule, .how = "rule",
                         .seconds = {NAN, NAN, NAN}};
    if (ts->mode == TUNE_OFF)
        return rule;
    if (ts->path && ts->mode == TUNE_ON) {
        sc_form cached = cache_lookup(cctx, fam, c->seconds);
        if (cached != SC_FORM_AUTO) {
            c->form = cached;
            c->how = "cached";
            return cached;
        }
    }
    /* The context is not const underneath: tuning sets the family's form
     * for each candidate in turn and puts it back; nothing else changes. */
    sc_context *ctx = (sc_context *)cctx;
    ts->busy = true;
    measure_work(ctx, fam, work, c->seconds);
    ts->busy = false;
    int n = candidate_count(fam), best = -1, ri = -1;
    for (int i = 0; i < n; i++) {
        if (form_families[fam].forms[i] == rule)
            ri = i;
        if (!isnan(c->seconds[i]) && (best < 0 || c->seconds[i] < c->seconds[best]))
            best = i;
    }
    if (best >= 0 && (ri < 0 || isnan(c->seconds[ri]) ||
                      c->seconds[best] < TUNE_MARGIN * c->seconds[ri]))
        c->form = form_families[fam].forms[best];
    if (best < 0)
        return c->form; /* nothing ran: the rule, and nothing cached */
    c->how = "tuned";
    if (ts->path)
        cache_store(cctx, fam, c);
    return c->form;
}

sc_status sc_form_describe(const sc_context *ctx, sc_form_family fam, sc_form_info *out)
{
    const form_family *ff = &form_families[fam];
    const family_choice *c = &ctx->tune->fam[fam];
    sc_form forced = *slot_of((sc_kernel_forms *)&ctx->forms, fam);
    *out = (sc_form_info){.family = ff->family, .candidates = candidate_count(fam)};
    for (int i = 0; i < out->candidates; i++) {
        out->names[i] = ff->names[i];
        out->seconds[i] = c->decided ? c->seconds[i] : NAN;
    }
    if (forced != SC_FORM_AUTO) {
        out->form = form_name(fam, forced);
        out->how = "forced";
    } else if (c->decided) {
        out->form = form_name(fam, c->form);
        out->how = c->how;
    } else {
        out->form = NULL; /* not decided yet: the device's rule, by shape where it depends */
        out->how = "rule";
    }
    return SC_OK;
}

sc_status sc_form_family_of(const char *family, sc_form_family *out)
{
    return family_of(family, out);
}
