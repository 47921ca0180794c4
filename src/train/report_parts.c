/* The report page's primitives, the directory's files, pictures,
 * configuration and log (train/report_page.h). */
#define _GNU_SOURCE
#include "train/report_page.h"
#include "spurcl/io.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef sc__report_page page;

/* ---- files --------------------------------------------------------------------------- */

char *sc__report_join(const char *dir, const char *name)
{
    return sc_strprintf("%s/%s", dir, name);
}

bool sc__report_is_file(const char *dir, const char *name)
{
    char *p = sc__report_join(dir, name);
    struct stat sb;
    bool ok = p && stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
    free(p);
    return ok;
}

/* DIR/NAME's text (NUL-terminated), or NULL when absent or unreadable
 * (the error is cleared: a missing file is a section left out). */
char *sc__report_read_text(const char *dir, const char *name)
{
    char *p = sc__report_join(dir, name);
    uint8_t *d = NULL;
    size_t n;
    if (!p || sc_io_read_file(p, REPORT_MAX_JSON, &d, &n) != SC_OK) {
        sc_error_clear();
        d = NULL;
    }
    free(p);
    return (char *)d;
}

/* DIR/NAME parsed; NULL when absent. *bad (may be NULL) is set when the
 * file exists but is not JSON. */
cJSON *sc__report_read_json(const char *dir, const char *name, bool *bad)
{
    char *t = sc__report_read_text(dir, name);
    cJSON *j = t ? cJSON_Parse(t) : NULL;
    if (bad)
        *bad = t && !j;
    free(t);
    return j;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dir (sorted) that are regular files ending in `suffix`, or
 * directories when `dirs`. *n gets the count; NULL on no entries. */
char **sc__report_list_dir(const char *dir, const char *suffix, bool dirs, size_t *n)
{
    *n = 0;
    DIR *dp = opendir(dir);
    if (!dp)
        return NULL;
    char **v = NULL;
    size_t cap = 0;
    for (struct dirent *e; (e = readdir(dp)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        size_t len = strlen(e->d_name), sl = suffix ? strlen(suffix) : 0;
        if (suffix && (len <= sl || strcmp(e->d_name + len - sl, suffix)))
            continue;
        char *p = sc__report_join(dir, e->d_name);
        struct stat sb;
        bool want = p && stat(p, &sb) == 0 && (dirs ? S_ISDIR(sb.st_mode) : S_ISREG(sb.st_mode));
        free(p);
        if (!want || *n >= REPORT_MAX_RUNS)
            continue;
        if (*n == cap) {
            size_t nc = cap ? 2 * cap : 16;
            char **nv = realloc(v, nc * sizeof *nv);
            if (!nv)
                break;
            v = nv;
            cap = nc;
        }
        if ((v[*n] = strdup(e->d_name)) != NULL)
            (*n)++;
    }
    closedir(dp);
    if (v)
        qsort(v, *n, sizeof *v, cmp_str);
    return v;
}

void sc__report_free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* ---- the page ------------------------------------------------------------------------ */

void sc__report_section(page *p, const char *id, const char *title)
{
    sc_html_printf(&p->h, "<h2 id=\"%s\">%s</h2>\n", id, title);
    if (p->nav_n < REPORT_MAX_NAV) {
        snprintf(p->nav_id[p->nav_n], sizeof p->nav_id[0], "%s", id);
        snprintf(p->nav_title[p->nav_n], sizeof p->nav_title[0], "%s", title);
        p->nav_n++;
    }
}

/* Takes back what was appended since `len` and the sections since `nav`
 * (a section that turned out empty). */
void sc__report_rollback(page *p, size_t len, int nav)
{
    if (p->h.buf && len <= p->h.len) {
        p->h.len = len;
        p->h.buf[len] = '\0';
    }
    p->nav_n = nav;
}

/* The id of a run's section: "run-" and the FNV-1a hash of its path
 * relative to the page's directory (any path gives a valid id). */
void sc__report_run_id(char *buf, size_t n, const char *rel)
{
    uint64_t x = 0xcbf29ce484222325ull;
    for (const unsigned char *c = (const unsigned char *)rel; *c; c++)
        x = (x ^ *c) * 0x100000001b3ull;
    snprintf(buf, n, "run-%016llx", (unsigned long long)x);
}

void sc__report_note(page *p, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    sc_html_raw(&p->h, "<p class=\"note\">");
    sc_html_text(&p->h, buf);
    sc_html_raw(&p->h, "</p>\n");
}

/* An accuracy, loss or other metric: 4 decimals; "-" for an undefined
 * value (the files write -1 or null for those). */
void sc__report_metric(sc_html *h, double v, bool undefined_below_zero)
{
    if (!isfinite(v) || (undefined_below_zero && v < 0))
        sc_html_raw(h, "-");
    else if (fabs(v) >= 1e5)
        sc_html_printf(h, "%.4g", v);
    else
        sc_html_printf(h, "%.4f", v);
}

/* A cell of a per-group table: the accuracy on a background from red (0)
 * to green (1), the group's size in its title. */
void sc__report_heat_cell(sc_html *h, double acc, double n, bool worst)
{
    if (n <= 0 || acc < 0 || !isfinite(acc)) {
        sc_html_raw(h, "<td class=\"empty\" title=\"no samples\">-</td>");
        return;
    }
    double t = acc < 0 ? 0 : acc > 1 ? 1 : acc;
    sc_html_printf(h,
                   "<td style=\"background:hsl(%d,70%%,%d%%)\" title=\"%.0f samples\"%s>%.3f</td>",
                   (int)lround(120 * t), 84 + (int)lround(6 * t), n,
                   worst ? " class=\"worst\"" : "", acc);
}

/* A shell word: as is when it is plain, else in single quotes. */
static void shell_word(sc_html *h, const char *s)
{
    bool plain = *s != '\0';
    for (const char *c = s; *c && plain; c++)
        plain = strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                       "_./=:,+-@%", *c) != NULL;
    if (plain) {
        sc_html_text(h, s);
        return;
    }
    sc_html_text(h, "'");
    for (const char *c = s; *c; c++) {
        if (*c == '\'')
            sc_html_text(h, "'\\''");
        else
            sc_html_textn(h, c, 1);
    }
    sc_html_text(h, "'");
}

/* A JSON value as a settings table shows it. */
static void put_value(sc_html *h, const cJSON *v)
{
    if (cJSON_IsString(v)) {
        sc_html_text(h, v->valuestring);
    } else if (cJSON_IsNull(v) || !v) {
        sc_html_raw(h, "<span class=\"note\">(none)</span>");
    } else {
        char *t = cJSON_PrintUnformatted(v);
        sc_html_text(h, t ? t : "?");
        cJSON_free(t);
    }
}

/* An object's members as a key/value table, in two column pairs. */
static void kv_object(page *p, const cJSON *o, const char *cls)
{
    int n = cJSON_GetArraySize(o);
    if (n <= 0)
        return;
    int rows = (n + 1) / 2;
    const cJSON **items = calloc((size_t)n, sizeof *items);
    if (!items) {
        p->h.failed = true;
        return;
    }
    int i = 0;
    for (const cJSON *it = o->child; it && i < n; it = it->next)
        items[i++] = it;
    sc_html_printf(&p->h, "<table class=\"kv %s\">\n", cls);
    for (int r = 0; r < rows; r++) {
        sc_html_raw(&p->h, "<tr>");
        for (int c = 0; c < 2; c++) {
            int k = r + c * rows;
            if (k >= n) {
                sc_html_raw(&p->h, "<td></td><td></td>");
                continue;
            }
            sc_html_raw(&p->h, "<th class=\"l\">");
            sc_html_text(&p->h, items[k]->string);
            sc_html_raw(&p->h, "</th><td class=\"l\">");
            put_value(&p->h, items[k]);
            sc_html_raw(&p->h, "</td>");
        }
        sc_html_raw(&p->h, "</tr>\n");
    }
    sc_html_raw(&p->h, "</table>\n");
    free(items);
}

static void kv_row(page *p, const char *key, const char *value)
{
    if (!value)
        return;
    sc_html_raw(&p->h, "<tr><th class=\"l\">");
    sc_html_text(&p->h, key);
    sc_html_raw(&p->h, "</th><td class=\"l\">");
    sc_html_text(&p->h, value);
    sc_html_raw(&p->h, "</td></tr>\n");
}

/* ---- pictures ------------------------------------------------------------------------ */

static const char *picture_caption(const char *name)
{
    static const char *const known[][2] = {
        {"curves.png", "training loss and val average / worst-group accuracy over steps "
                       "(drawn from metrics.jsonl at every epoch's end)"},
        {"speeds.png", "LA-SSL: loss, k-NN monitor, learning speeds and sampling mass per epoch"},
        {"saliency.png", "input-gradient saliency of the selected models on validation images"},
        {"chart.png", "test worst-group (red) and average (blue) accuracy per method, mean and "
                      "one standard deviation over seeds, for both selection rules"},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(name, known[i][0]))
            return known[i][1];
    return NULL;
}

void sc__report_figure(page *p, const char *dir, const char *name, const char *label)
{
    char *path = sc__report_join(dir, name);
    if (!path) {
        p->h.failed = true;
        return;
    }
    sc_html_raw(&p->h, "<figure>");
    sc_html t;
    sc_html_init(&t);
    sc_status st = sc_html_png(&t, path, label ? label : name, REPORT_MAX_PNG);
    if (st == SC_OK)
        sc_html_raw(&p->h, t.buf);
    else {
        sc_html_raw(&p->h, "<p class=\"note\">not embedded: ");
        sc_html_text(&p->h, sc_last_error());
        sc_html_raw(&p->h, "</p>");
        sc_error_clear();
    }
    p->h.failed |= t.failed;
    sc_html_free(&t);
    sc_html_raw(&p->h, "<figcaption><code>");
    sc_html_text(&p->h, label ? label : name);
    sc_html_raw(&p->h, "</code>");
    const char *cap = picture_caption(name);
    if (cap) {
        sc_html_raw(&p->h, ": ");
        sc_html_text(&p->h, cap);
    }
    sc_html_raw(&p->h, "</figcaption></figure>\n");
    free(path);
}

/* The PNGs of dir: curves (curves.png, speeds.png) when `curves`, else
 * the others (saliency.png and chart.png first). Returns how many. */
int sc__report_pictures(page *p, const char *dir, bool curves, bool skip_chart, const char *prefix)
{
    static const char *const curve_names[] = {"curves.png", "speeds.png"};
    static const char *const first[] = {"saliency.png", "chart.png"};
    size_t n;
    char **v = sc__report_list_dir(dir, ".png", false, &n);
    int count = 0;
    char label[4200];
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++) {
            bool is_curve = !strcmp(v[i], curve_names[0]) || !strcmp(v[i], curve_names[1]);
            bool is_first = !strcmp(v[i], first[0]) || !strcmp(v[i], first[1]);
            if (is_curve != curves || (skip_chart && !strcmp(v[i], "chart.png")))
                continue;
            if (!curves && is_first != (pass == 0))
                continue;
            if (curves && pass == 1)
                continue;
            snprintf(label, sizeof label, "%s%s", prefix ? prefix : "", v[i]);
            sc__report_figure(p, dir, v[i], label);
            count++;
        }
    sc__report_free_list(v, n);
    return count;
}

/* ---- configuration and log ----------------------------------------------------------- */

void sc__report_config(page *p, const cJSON *c, bool bad)
{
    sc__report_section(p, "config", "Configuration");
    if (!c) {
        sc__report_note(p, bad ? "config.json is not valid JSON."
                    : "No config.json: a run an older spurcl made, or not a run of its own.");
        return;
    }
    const cJSON *argv = jget(c, "argv");
    if (cJSON_IsArray(argv)) {
        sc_html_raw(&p->h, "<h3>Command line</h3>\n<pre class=\"cmd\">");
        const cJSON *it;
        int i = 0;
        cJSON_ArrayForEach(it, argv)
        {
            if (i++)
                sc_html_raw(&p->h, " ");
            shell_word(&p->h, cJSON_IsString(it) ? it->valuestring : "?");
        }
        sc_html_raw(&p->h, "</pre>\n");
    }
    sc_html_raw(&p->h, "<h3>Run</h3>\n<table class=\"kv\">\n");
    char buf[256];
    kv_row(p, "command", jstr(c, "command"));
    kv_row(p, "trainer", jstr(c, "trainer"));
    kv_row(p, "label", jstr(c, "label"));
    const char *ver = jstr(c, "spurcl"), *git = jstr(c, "git");
    if (ver) {
        snprintf(buf, sizeof buf, "%s (git %s)", ver, git ? git : "?");
        kv_row(p, "spurcl", buf);
    }
    kv_row(p, "created", jstr(c, "created"));
    kv_row(p, "device", jstr(c, "device"));
    const cJSON *d = jget(c, "data");
    if (cJSON_IsObject(d)) {
        kv_row(p, "data file", jstr(d, "path"));
        kv_row(p, "data checksum (FNV-1a)", jstr(d, "fnv1a"));
        double v, k, a;
        if (jnum(d, "samples", &v)) {
            snprintf(buf, sizeof buf, "%.0f", v);
            kv_row(p, "samples", buf);
        }
        const cJSON *img = jget(d, "image");
        if (cJSON_GetArraySize(img) == 3) {
            snprintf(buf, sizeof buf, "%d x %d x %d (channels x height x width)",
                     cJSON_GetArrayItem(img, 0)->valueint, cJSON_GetArrayItem(img, 1)->valueint,
                     cJSON_GetArrayItem(img, 2)->valueint);
            kv_row(p, "images", buf);
        }
        if (jnum(d, "classes", &k) && jnum(d, "attributes", &a)) {
            snprintf(buf, sizeof buf, "%.0f classes x %.0f attribute values = %.0f groups", k, a,
                     k * a);
            kv_row(p, "groups", buf);
        }
    }
    sc_html_raw(&p->h, "</table>\n");
    const cJSON *s = jget(c, "settings");
    if (cJSON_IsObject(s)) {
        sc_html_raw(&p->h, "<h3>Settings (every option of the command, defaults included)</h3>\n");
        kv_object(p, s, "settings");
    }
    const cJSON *r = jget(c, "run");
    if (cJSON_IsObject(r)) {
        sc_html_raw(&p->h, "<h3>Resolved run settings (the run loop's)</h3>\n");
        kv_object(p, r, "resolved");
    }
    const cJSON *h = jget(c, "history");
    if (cJSON_GetArraySize(h) > 0) {
        sc_html_raw(&p->h, "<h3>Resumes</h3>\n<table>\n<tr><th class=\"l\">resumed</th><th "
                           "class=\"l\">changed</th></tr>\n");
        const cJSON *it;
        cJSON_ArrayForEach(it, h)
        {
            sc_html_raw(&p->h, "<tr><td class=\"l\">");
            sc_html_text(&p->h, jstr(it, "resumed"));
            sc_html_raw(&p->h, "</td><td class=\"l\">");
            const cJSON *ch = jget(it, "changed"), *kv;
            int i = 0;
            cJSON_ArrayForEach(kv, ch)
            {
                sc_html_raw(&p->h, i++ ? ", " : "");
                sc_html_text(&p->h, kv->string);
                sc_html_raw(&p->h, " ");
                put_value(&p->h, cJSON_GetArrayItem(kv, 0));
                sc_html_raw(&p->h, " &rarr; ");
                put_value(&p->h, cJSON_GetArrayItem(kv, 1));
            }
            if (!i)
                sc_html_raw(&p->h, "nothing");
            sc_html_raw(&p->h, "</td></tr>\n");
        }
        sc_html_raw(&p->h, "</table>\n");
    }
}

void sc__report_log(page *p, const char *dir)
{
    char *t = sc__report_read_text(dir, "log.txt");
    if (!t)
        return;
    sc__report_section(p, "log", "Log");
    size_t len = strlen(t);
    while (len && t[len - 1] == '\n')
        t[--len] = '\0';
    int lines = 0;
    size_t from = len;
    while (from > 0 && lines < REPORT_LOG_LINES) {
        from--;
        if (t[from] == '\n')
            lines++;
    }
    if (t[from] == '\n')
        from++;
    else
        lines++; /* reached the start */
    if (from > 0)
        sc__report_note(p, "The last %d lines of log.txt.", REPORT_LOG_LINES);
    sc_html_raw(&p->h, "<pre class=\"log\">");
    sc_html_textn(&p->h, t + from, len - from);
    sc_html_raw(&p->h, "</pre>\n");
    free(t);
}

