/* The report page's tables of results (train/report_page.h): evaluation
 * JSON (eval.json, eval --json, probe --json) with per-group tables,
 * groups.csv, ULE's lambda sweep, a comparison run's selections and the
 * evaluations of metrics.jsonl. */
#define _GNU_SOURCE
#include "train/report_page.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef sc__report_page page;

/* ---- group names --------------------------------------------------------------------- */

/* Class and attribute names: arrays of strings, or NULL. */
typedef struct names {
    const cJSON *classes, *attrs;
    cJSON *owner; /* what they were read from, when the page read it */
} names;

/* The "build" metadata of a spurcl data set, read from its safetensors
 * header alone (the images are not read). NULL when unreadable. */
static cJSON *data_build(const char *path)
{
    if (!path)
        return NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t len8[8];
    cJSON *build = NULL;
    if (fread(len8, 1, 8, f) == 8) {
        uint64_t n = 0;
        for (int i = 7; i >= 0; i--)
            n = n << 8 | len8[i];
        char *hdr = n > 0 && n <= REPORT_MAX_JSON ? malloc((size_t)n + 1) : NULL;
        if (hdr && fread(hdr, 1, (size_t)n, f) == (size_t)n) {
            hdr[n] = '\0';
            cJSON *h = cJSON_Parse(hdr);
            const char *b = jstr(jget(h, "__metadata__"), "build");
            build = b ? cJSON_Parse(b) : NULL;
            cJSON_Delete(h);
        }
        free(hdr);
    }
    fclose(f);
    return build;
}

static void names_find(names *nm, const cJSON *eval, const cJSON *config)
{
    memset(nm, 0, sizeof *nm);
    const cJSON *c = jget(eval, "class_names"), *a = jget(eval, "attr_names");
    if (!cJSON_IsArray(c)) {
        nm->owner = data_build(jstr(jget(config, "data"), "path"));
        c = jget(nm->owner, "class_names");
        a = jget(nm->owner, "attr_names");
    }
    nm->classes = cJSON_IsArray(c) ? c : NULL;
    nm->attrs = cJSON_IsArray(a) ? a : NULL;
}

static const char *name_at(const cJSON *arr, int i)
{
    const cJSON *v = arr ? cJSON_GetArrayItem(arr, i) : NULL;
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* "y=1 Sandal" / "a=0 red" */
static void group_label(sc_html *h, char letter, int i, const cJSON *arr)
{
    sc_html_printf(h, "%c=%d", letter, i);
    const char *s = name_at(arr, i);
    if (s) {
        sc_html_raw(h, " <span class=\"gname\">");
        sc_html_text(h, s);
        sc_html_raw(h, "</span>");
    }
}

/* ---- per-group tables ---------------------------------------------------------------- */

/* One split of one model: per group accuracy (-1: no samples) and size. */
typedef struct split_groups {
    int k, a;              /* classes, attribute values (k * a groups) */
    double *acc, *n;
} split_groups;

/* The index of the worst non-empty group (the first on ties), -1 if none. */
static int worst_index(const split_groups *s)
{
    int w = -1;
    for (int g = 0; g < s->k * s->a; g++)
        if (s->n[g] > 0 && s->acc[g] >= 0 && (w < 0 || s->acc[g] < s->acc[w]))
            w = g;
    return w;
}

/* Rows: label y (with the class name), columns: attribute a. */
static void group_table(page *p, const split_groups *s, const names *nm)
{
    int w = worst_index(s);
    sc_html_raw(&p->h, "<div class=\"scroll\"><table class=\"groups\">\n<tr><th></th>");
    for (int a = 0; a < s->a; a++) {
        sc_html_raw(&p->h, "<th>");
        group_label(&p->h, 'a', a, nm->attrs);
        sc_html_raw(&p->h, "</th>");
    }
    sc_html_raw(&p->h, "</tr>\n");
    for (int y = 0; y < s->k; y++) {
        sc_html_raw(&p->h, "<tr><th class=\"l\">");
        group_label(&p->h, 'y', y, nm->classes);
        sc_html_raw(&p->h, "</th>");
        for (int a = 0; a < s->a; a++) {
            int g = y * s->a + a;
            sc__report_heat_cell(&p->h, s->acc[g], s->n[g], g == w);
        }
        sc_html_raw(&p->h, "</tr>\n");
    }
    sc_html_raw(&p->h, "</table></div>\n");
}

/* The worst group as "y=1 NAME, a=0 NAME". */
static void worst_label(sc_html *h, const split_groups *s, const names *nm)
{
    int w = worst_index(s);
    if (w < 0) {
        sc_html_raw(h, "-");
        return;
    }
    group_label(h, 'y', w / s->a, nm->classes);
    sc_html_raw(h, ", ");
    group_label(h, 'a', w % s->a, nm->attrs);
}

/* The shape of `g` groups: from the names, else the data's counts in
 * config.json, else one row. */
static void group_shape(int g, const names *nm, const cJSON *config, int *k, int *a)
{
    int nk = nm->classes ? cJSON_GetArraySize(nm->classes) : 0;
    int na = nm->attrs ? cJSON_GetArraySize(nm->attrs) : 0;
    double dk, da;
    if (!(nk > 0 && na > 0 && nk * na == g)) {
        const cJSON *d = jget(config, "data");
        if (jnum(d, "classes", &dk) && jnum(d, "attributes", &da) && dk >= 1 && da >= 1 &&
            dk * da == g) {
            nk = (int)dk;
            na = (int)da;
        } else {
            nk = 1;
            na = g;
        }
    }
    *k = nk;
    *a = na;
}

static bool split_from_json(const cJSON *m, const names *nm, const cJSON *config,
                            split_groups *s)
{
    memset(s, 0, sizeof *s);
    const cJSON *acc = jget(m, "group_acc"), *n = jget(m, "group_n");
    int g = cJSON_GetArraySize(acc);
    if (!cJSON_IsArray(acc) || !cJSON_IsArray(n) || g <= 0 || g != cJSON_GetArraySize(n))
        return false;
    double dk, da;
    if (jnum(m, "num_classes", &dk) && jnum(m, "num_attrs", &da) && dk * da == g) {
        s->k = (int)dk;
        s->a = (int)da;
    } else {
        group_shape(g, nm, config, &s->k, &s->a);
    }
    s->acc = malloc((size_t)g * sizeof *s->acc);
    s->n = malloc((size_t)g * sizeof *s->n);
    if (!s->acc || !s->n) {
        free(s->acc);
        free(s->n);
        return false;
    }
    int i = 0;
    for (const cJSON *x = acc->child, *y = n->child; x && y; x = x->next, y = y->next, i++) {
        s->acc[i] = cJSON_IsNumber(x) ? x->valuedouble : -1;
        s->n[i] = cJSON_IsNumber(y) ? y->valuedouble : 0;
    }
    return true;
}

static void split_free(split_groups *s)
{
    free(s->acc);
    free(s->n);
}

/* One row of a summary table: worst-group first, then the averages. The
 * worst-group cell's id is ID-wga (ID-acc the average's) for links and
 * tests. */
static void summary_row(page *p, const char *label, const char *id, double samples, double wga,
                        double acc, double mean, double weighted, double loss,
                        const split_groups *s, const names *nm)
{
    sc_html_raw(&p->h, "<tr><th class=\"l\">");
    sc_html_text(&p->h, label);
    sc_html_raw(&p->h, "</th><td>");
    if (samples >= 0)
        sc_html_printf(&p->h, "%.0f", samples);
    else
        sc_html_raw(&p->h, "-");
    sc_html_raw(&p->h, "</td><td class=\"wga\" id=\"");
    sc_html_text(&p->h, id);
    sc_html_raw(&p->h, "-wga\">");
    sc__report_metric(&p->h, wga, true);
    sc_html_raw(&p->h, "</td><td class=\"l\">");
    if (s)
        worst_label(&p->h, s, nm);
    else
        sc_html_raw(&p->h, "-");
    sc_html_raw(&p->h, "</td><td id=\"");
    sc_html_text(&p->h, id);
    sc_html_raw(&p->h, "-acc\">");
    sc__report_metric(&p->h, acc, true);
    sc_html_raw(&p->h, "</td><td>");
    sc__report_metric(&p->h, mean, true);
    sc_html_raw(&p->h, "</td><td>");
    sc__report_metric(&p->h, weighted, true);
    sc_html_raw(&p->h, "</td><td>");
    sc__report_metric(&p->h, loss, true);
    sc_html_raw(&p->h, "</td></tr>\n");
}

static void summary_head(page *p, const char *first)
{
    sc_html_raw(&p->h, "<table class=\"summary\">\n<tr><th class=\"l\">");
    sc_html_text(&p->h, first);
    sc_html_raw(&p->h, "</th><th>samples</th><th>worst-group accuracy</th><th class=\"l\">worst "
                       "group</th><th>average accuracy (all samples)</th><th>mean of group "
                       "accuracies</th><th>weighted by train group shares</th><th>loss</th>"
                       "</tr>\n");
}

/* ---- evaluation JSON files (eval.json, eval --json, probe --json) ------------------- */

bool sc__report_is_eval(const cJSON *j)
{
    static const char *const splits[] = {"val", "test"};
    for (int i = 0; i < 2; i++) {
        const cJSON *m = jget(j, splits[i]);
        double v;
        if (cJSON_IsObject(m) && jnum(m, "acc", &v) && jnum(m, "wga", &v))
            return true;
    }
    return false;
}

/* The summary and per-group tables of one evaluation file. Returns
 * whether it had per-group tables. */
bool sc__report_eval_file(page *p, const char *name, const cJSON *ev, const cJSON *config,
                      const char *idbase)
{
    names nm;
    names_find(&nm, ev, config);
    bool groups = false;
    sc_html_raw(&p->h, "<h3>");
    if (!strcmp(name, "eval.json"))
        sc_html_raw(&p->h, "The selected model (eval.json)");
    else {
        sc_html_raw(&p->h, "Evaluation ");
        sc_html_text(&p->h, name);
    }
    sc_html_raw(&p->h, "</h3>\n<p>");
    double step, epoch;
    const char *sel = jstr(ev, "selection"), *model = jstr(ev, "model");
    if (!sel) /* the run's own setting */
        sel = jstr(jget(config, "settings"), "select");
    if (model) {
        sc_html_raw(&p->h, "model <code>");
        sc_html_text(&p->h, model);
        sc_html_raw(&p->h, "</code>");
    }
    if (jnum(ev, "selected_step", &step)) {
        sc_html_printf(&p->h, "%sselected at step %.0f", model ? ", " : "", step);
        if (jnum(ev, "selected_epoch", &epoch))
            sc_html_printf(&p->h, ", epoch %.0f", epoch);
        if (sel) {
            sc_html_raw(&p->h, " (selection: ");
            sc_html_text(&p->h, sel);
            sc_html_raw(&p->h, ")");
        }
    }
    const char *data = jstr(ev, "data");
    if (data) {
        sc_html_raw(&p->h, "; data <code>");
        sc_html_text(&p->h, data);
        sc_html_raw(&p->h, "</code>");
    }
    sc_html_raw(&p->h, "</p>\n");
    static const char *const splits[] = {"val", "test"};
    split_groups sg[2];
    bool have[2] = {false, false};
    summary_head(p, "split");
    for (int i = 0; i < 2; i++) {
        const cJSON *m = jget(ev, splits[i]);
        if (!cJSON_IsObject(m))
            continue;
        have[i] = split_from_json(m, &nm, config, &sg[i]);
        double samples = -1, wga = NAN, acc = NAN, mean = NAN, w = NAN, loss = NAN;
        jnum(m, "wga", &wga);
        jnum(m, "acc", &acc);
        jnum(m, "mean_group", &mean);
        jnum(m, "weighted", &w);
        jnum(m, "loss", &loss);
        if (have[i]) {
            samples = 0;
            for (int g = 0; g < sg[i].k * sg[i].a; g++)
                samples += sg[i].n[g];
        }
        char id[64];
        snprintf(id, sizeof id, "%s-%s", idbase, splits[i]);
        summary_row(p, splits[i], id, samples, wga, acc, mean, w, loss, have[i] ? &sg[i] : NULL,
                    &nm);
    }
    sc_html_raw(&p->h, "</table>\n");
    for (int i = 0; i < 2; i++) {
        if (!have[i])
            continue;
        sc_html_printf(&p->h, "<h4>%s: accuracy per group (rows: label y, columns: attribute "
                              "a; the worst group outlined)</h4>\n", splits[i]);
        group_table(p, &sg[i], &nm);
        split_free(&sg[i]);
        groups = true;
    }
    cJSON_Delete(nm.owner);
    return groups;
}

/* Every evaluation JSON in dir, eval.json first. Returns whether any had
 * per-group tables. */
bool sc__report_eval_files(page *p, const char *dir, const cJSON *config)
{
    size_t n;
    char **v = sc__report_list_dir(dir, ".json", false, &n);
    bool groups = false;
    int count = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++) {
            bool first = !strcmp(v[i], "eval.json");
            if (first != (pass == 0))
                continue;
            if (!strcmp(v[i], "config.json") || !strcmp(v[i], "run.json") ||
                !strcmp(v[i], "done.json") || !strcmp(v[i], "results.json"))
                continue;
            cJSON *j = sc__report_read_json(dir, v[i], NULL);
            if (j && sc__report_is_eval(j)) {
                char id[32];
                if (first)
                    snprintf(id, sizeof id, "eval");
                else
                    snprintf(id, sizeof id, "eval%d", ++count);
                groups |= sc__report_eval_file(p, v[i], j, config, id);
            }
            cJSON_Delete(j);
        }
    sc__report_free_list(v, n);
    return groups;
}

/* ---- groups.csv (ULE's student and teacher; jtt, groupdro) ------------------------ */

/* Parses split,y,a,n,NAME_acc... into per model and split tables. */
void sc__report_groups_csv(page *p, const char *dir, const cJSON *config)
{
    char *t = sc__report_read_text(dir, "groups.csv");
    if (!t)
        return;
    char *save = NULL, *line = strtok_r(t, "\n", &save);
    char *models[8];
    int nm_models = 0;
    /* header */
    if (!line || strncmp(line, "split,y,a,n,", 12)) {
        free(t);
        return;
    }
    for (char *c = line + 12, *s2 = NULL, *tok = strtok_r(c, ",", &s2); tok && nm_models < 8;
         tok = strtok_r(NULL, ",", &s2)) {
        size_t l = strlen(tok);
        if (l > 4 && !strcmp(tok + l - 4, "_acc"))
            tok[l - 4] = '\0';
        models[nm_models++] = tok;
    }
    /* rows: the largest y and a give the shape */
    typedef struct row { int split, y, a; double n, acc[8]; } row;
    row *rows = NULL;
    size_t nrows = 0, cap = 0;
    int maxy = -1, maxa = -1;
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        row r = {0};
        char *f[12];
        int nf = 0;
        for (char *q = line; nf < 12;) {
            f[nf++] = q;
            char *comma = strchr(q, ',');
            if (!comma)
                break;
            *comma = '\0';
            q = comma + 1;
        }
        if (nf < 4 + nm_models)
            continue;
        r.split = !strcmp(f[0], "val") ? 0 : !strcmp(f[0], "test") ? 1 : -1;
        /* a row with a field that is not a number in range is skipped */
        int64_t y = 0, a = 0;
        bool ok = r.split >= 0 && sc_parse_i64(f[1], 0, 100000, &y) &&
                  sc_parse_i64(f[2], 0, 100000, &a) && sc_parse_f64(f[3], &r.n) && r.n >= 0;
        r.y = (int)y;
        r.a = (int)a;
        for (int m = 0; ok && m < nm_models; m++) {
            r.acc[m] = -1; /* empty: no sample */
            ok = !*f[4 + m] ||
                 (sc_parse_f64(f[4 + m], &r.acc[m]) && r.acc[m] >= 0 && r.acc[m] <= 1);
        }
        if (!ok)
            continue;
        if (nrows == cap) {
            size_t nc = cap ? 2 * cap : 256;
            row *nr = realloc(rows, nc * sizeof *nr);
            if (!nr)
                break;
            rows = nr;
            cap = nc;
        }
        rows[nrows++] = r;
        maxy = r.y > maxy ? r.y : maxy;
        maxa = r.a > maxa ? r.a : maxa;
    }
    if (!nrows || maxy < 0 || maxa < 0 || (int64_t)(maxy + 1) * (maxa + 1) > (1 << 20)) {
        free(rows);
        free(t);
        return;
    }
    names nm;
    names_find(&nm, NULL, config);
    int k = maxy + 1, a = maxa + 1, g = k * a;
    sc_html_raw(&p->h, "<h3>The selected models (groups.csv)</h3>\n");
    static const char *const splits[] = {"val", "test"};
    split_groups sg[8][2];
    memset(sg, 0, sizeof sg);
    for (int m = 0; m < nm_models; m++)
        for (int s = 0; s < 2; s++) {
            sg[m][s].k = k;
            sg[m][s].a = a;
            sg[m][s].acc = malloc((size_t)g * sizeof(double));
            sg[m][s].n = calloc((size_t)g, sizeof(double));
            if (!sg[m][s].acc || !sg[m][s].n) {
                p->h.failed = true;
                continue;
            }
            for (int i = 0; i < g; i++)
                sg[m][s].acc[i] = -1;
        }
    for (size_t i = 0; i < nrows && !p->h.failed; i++)
        for (int m = 0; m < nm_models; m++) {
            split_groups *s = &sg[m][rows[i].split];
            s->acc[rows[i].y * a + rows[i].a] = rows[i].acc[m];
            s->n[rows[i].y * a + rows[i].a] = rows[i].n;
        }
    if (!p->h.failed) {
        sc__report_note(p, "Computed from groups.csv: worst-group accuracy is its lowest group, "
                           "the average weighs each group by its samples.");
        summary_head(p, "model, split");
        for (int m = 0; m < nm_models; m++)
            for (int s = 0; s < 2; s++) {
                const split_groups *x = &sg[m][s];
                double tot = 0, hit = 0, sum = 0, cnt = 0;
                for (int i = 0; i < g; i++)
                    if (x->n[i] > 0 && x->acc[i] >= 0) {
                        tot += x->n[i];
                        hit += x->acc[i] * x->n[i];
                        sum += x->acc[i];
                        cnt++;
                    }
                if (tot <= 0)
                    continue;
                int w = worst_index(x);
                char label[128], id[96];
                snprintf(label, sizeof label, "%s, %s", models[m], splits[s]);
                snprintf(id, sizeof id, "groups-%d-%s", m, splits[s]);
                summary_row(p, label, id, tot, w >= 0 ? x->acc[w] : NAN, hit / tot, sum / cnt,
                            NAN, NAN, x, &nm);
            }
        sc_html_raw(&p->h, "</table>\n");
        for (int s = 0; s < 2; s++)
            for (int m = 0; m < nm_models; m++) {
                bool any = false;
                for (int i = 0; i < g; i++)
                    any |= sg[m][s].n[i] > 0;
                if (!any)
                    continue;
                sc_html_raw(&p->h, "<h4>");
                sc_html_text(&p->h, models[m]);
                sc_html_printf(&p->h, ", %s: accuracy per group (rows: label y, columns: "
                                      "attribute a; the worst group outlined)</h4>\n", splits[s]);
                group_table(p, &sg[m][s], &nm);
            }
    }
    for (int m = 0; m < nm_models; m++)
        for (int s = 0; s < 2; s++)
            split_free(&sg[m][s]);
    cJSON_Delete(nm.owner);
    free(rows);
    free(t);
}

/* ---- ULE's lambda sweep (results.json of ule) and a comparison run's done.json ------ */

void sc__report_ule(page *p, const cJSON *r)
{
    const cJSON *runs = jget(r, "runs");
    double best = NAN;
    bool has_best = jnum(r, "selected_lambda", &best);
    sc_html_raw(&p->h, "<h3>ULE (results.json)</h3>\n");
    const char *how = jstr(r, "sweep_select"), *sel = jstr(r, "select");
    if (how || sel) {
        sc_html_raw(&p->h, "<p>");
        if (sel) {
            sc_html_raw(&p->h, "each run's model selected by ");
            sc_html_text(&p->h, sel);
        }
        if (how && cJSON_GetArraySize(runs) > 1) {
            sc_html_raw(&p->h, sel ? "; " : "");
            sc_html_raw(&p->h, "the lambda selected by the ");
            sc_html_text(&p->h, how);
            sc_html_raw(&p->h, " (marked)");
        }
        sc_html_raw(&p->h, "; test shown, not used</p>\n");
    }
    sc_html_raw(&p->h, "<div class=\"scroll\"><table>\n<tr><th>lambda</th><th>step</th>"
                       "<th>epoch</th><th>teacher val acc</th><th>teacher test acc</th><th>teacher "
                       "test worst-group</th><th>student test acc</th><th>student test "
                       "worst-group</th><th>mark share student / teacher</th><th>ms per "
                       "step</th></tr>\n");
    const cJSON *it;
    cJSON_ArrayForEach(it, runs)
    {
        double l = NAN, v = NAN;
        jnum(it, "lambda", &l);
        bool chosen = has_best && l == best && cJSON_GetArraySize(runs) > 1;
        sc_html_printf(&p->h, "<tr%s><td>%g</td><td>", chosen ? " class=\"sel\"" : "", l);
        if (jnum(it, "selected_step", &v))
            sc_html_printf(&p->h, "%.0f", v);
        sc_html_raw(&p->h, "</td><td>");
        if (jnum(it, "selected_epoch", &v))
            sc_html_printf(&p->h, "%.0f", v);
        static const char *const cells[][2] = {{"teacher_val", "acc"}, {"teacher_test", "acc"},
                                               {"teacher_test", "wga"}, {"student_test", "acc"},
                                               {"student_test", "wga"}};
        for (size_t c = 0; c < sizeof cells / sizeof cells[0]; c++) {
            sc_html_raw(&p->h, "</td><td>");
            v = NAN;
            jnum(jget(it, cells[c][0]), cells[c][1], &v);
            sc__report_metric(&p->h, v, true);
        }
        sc_html_raw(&p->h, "</td><td>");
        double ms, mt;
        if (jnum(it, "student_mark_share", &ms) && jnum(it, "teacher_mark_share", &mt))
            sc_html_printf(&p->h, "%.3f / %.3f", ms, mt);
        else
            sc_html_raw(&p->h, "-");
        sc_html_raw(&p->h, "</td><td>");
        if (jnum(it, "step_ms", &v))
            sc_html_printf(&p->h, "%.1f", v);
        sc_html_raw(&p->h, "</td></tr>\n");
    }
    sc_html_raw(&p->h, "</table></div>\n");
}

void sc__report_done(page *p, const cJSON *d)
{
    static const char *const keys[2] = {"by_val_avg", "by_val_wga"};
    static const char *const rules[2] = {"by val average accuracy (no group labels)",
                                         "by val worst-group accuracy (val group labels)"};
    sc_html_raw(&p->h, "<table>\n<tr><th class=\"l\">selected</th><th>step</th><th>val</th>"
                       "<th>test worst-group</th><th>test average (train-weighted)</th></tr>\n");
    for (int k = 0; k < 2; k++) {
        const cJSON *o = jget(d, keys[k]);
        if (!cJSON_IsObject(o))
            continue;
        double step = NAN, val = NAN, wga = NAN, avg = NAN;
        jnum(o, "step", &step);
        jnum(o, "val", &val);
        jnum(o, "test_wga", &wga);
        jnum(o, "test_avg", &avg);
        sc_html_printf(&p->h, "<tr><th class=\"l\">%s</th><td>%.0f</td><td>", rules[k], step);
        sc__report_metric(&p->h, val, true);
        sc_html_raw(&p->h, "</td><td class=\"wga\">");
        sc__report_metric(&p->h, wga, true);
        sc_html_raw(&p->h, "</td><td>");
        sc__report_metric(&p->h, avg, true);
        sc_html_raw(&p->h, "</td></tr>\n");
    }
    sc_html_raw(&p->h, "</table>\n");
}

/* ---- metrics.jsonl ------------------------------------------------------------------- */

/* Whether a key of a metrics line is a column of the evaluations table:
 * a number that is a loss or an accuracy, not a time, a count or a
 * setting. */
static bool metric_column(const cJSON *v)
{
    static const char *const skip[] = {"epoch", "step", "epoch_step", "lr", "lambda",
                                       "images_per_s"};
    static const char *const skip_end[] = {"_s", "_mean_group", "_weighted"};
    if (!cJSON_IsNumber(v))
        return false;
    for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
        if (!strcmp(v->string, skip[i]))
            return false;
    size_t n = strlen(v->string);
    for (size_t i = 0; i < sizeof skip_end / sizeof skip_end[0]; i++) {
        size_t m = strlen(skip_end[i]);
        if (n >= m && !strcmp(v->string + n - m, skip_end[i]))
            return false;
    }
    return true;
}

/* One line of metrics.jsonl as a row: step, epoch, the columns. */
static void eval_row(page *p, const cJSON *o, const cJSON *cols, bool selected)
{
    double step = NAN, epoch = NAN;
    jnum(o, "step", &step);
    jnum(o, "epoch", &epoch);
    const cJSON *end = jget(o, "epoch_end");
    sc_html_raw(&p->h, selected ? "<tr class=\"sel\" title=\"the selected evaluation\"><td>"
                                : "<tr><td>");
    if (isfinite(step))
        sc_html_printf(&p->h, "%.0f", step);
    sc_html_raw(&p->h, "</td><td>");
    if (isfinite(epoch))
        sc_html_printf(&p->h, "%.0f%s", epoch, cJSON_IsTrue(end) ? " (end)" : "");
    sc_html_raw(&p->h, "</td>");
    const cJSON *c;
    cJSON_ArrayForEach(c, cols)
    {
        double v;
        sc_html_raw(&p->h, strstr(c->valuestring, "wga") ? "<td class=\"wga\">" : "<td>");
        if (jnum(o, c->valuestring, &v))
            sc__report_metric(&p->h, v, false);
        sc_html_raw(&p->h, "</td>");
    }
    sc_html_raw(&p->h, "</tr>\n");
}

/* The evaluation lines of DIR/metrics.jsonl as a table (at most max_rows,
 * evenly spaced, the last always), the selected step's row marked. */
void sc__report_metrics(page *p, const char *dir, int max_rows, double selected_step)
{
    char *t = sc__report_read_text(dir, "metrics.jsonl");
    if (!t)
        return;
    cJSON *lines = cJSON_CreateArray(), *cols = cJSON_CreateArray();
    int bad = 0;
    for (char *save = NULL, *l = strtok_r(t, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        cJSON *o = cJSON_Parse(l);
        if (!cJSON_IsObject(o)) {
            cJSON_Delete(o);
            bad++;
            continue;
        }
        cJSON_AddItemToArray(lines, o);
        for (const cJSON *it = o->child; it; it = it->next) {
            bool have = false;
            const cJSON *c;
            cJSON_ArrayForEach(c, cols) have |= !strcmp(c->valuestring, it->string);
            if (!have && metric_column(it) && cJSON_GetArraySize(cols) < 40)
                cJSON_AddItemToArray(cols, cJSON_CreateString(it->string));
        }
    }
    free(t);
    int n = cJSON_GetArraySize(lines);
    const cJSON **line = n > 0 ? malloc((size_t)n * sizeof *line) : NULL;
    int *show = n > 0 ? malloc(((size_t)max_rows + 1) * sizeof *show) : NULL;
    if (n > 0 && (!line || !show))
        p->h.failed = true;
    else if (n > 0) {
        int k = 0, sel = -1;
        for (const cJSON *o = lines->child; o && k < n; o = o->next)
            line[k++] = o;
        /* the selected line: the last with that step */
        for (int i = 0; i < n && isfinite(selected_step); i++) {
            double step;
            if (jnum(line[i], "step", &step) && step == selected_step)
                sel = i;
        }
        /* max_rows evenly spaced, the last among them, and the selected */
        int rows = n <= max_rows ? n : max_rows, nshow = 0;
        for (int r = 0; r < rows; r++) {
            int i = rows == 1 ? n - 1 : (int)((int64_t)r * (n - 1) / (rows - 1));
            if (sel > (nshow ? show[nshow - 1] : -1) && sel < i)
                show[nshow++] = sel;
            if (!nshow || show[nshow - 1] != i)
                show[nshow++] = i;
        }
        if (nshow < n)
            sc__report_note(p, "%d of the %d lines of metrics.jsonl: evenly spaced, the last and "
                               "the selected one among them.", nshow, n);
        sc_html_raw(&p->h, "<div class=\"scroll\"><table class=\"evals\">\n<tr><th>step</th>"
                           "<th>epoch</th>");
        const cJSON *c;
        cJSON_ArrayForEach(c, cols)
        {
            sc_html_raw(&p->h, "<th>");
            sc_html_text(&p->h, c->valuestring);
            sc_html_raw(&p->h, "</th>");
        }
        sc_html_raw(&p->h, "</tr>\n");
        for (int r = 0; r < nshow; r++)
            eval_row(p, line[show[r]], cols, show[r] == sel);
        sc_html_raw(&p->h, "</table></div>\n");
        if (sel >= 0)
            sc__report_note(p, "The highlighted row is the selected evaluation (step %.0f).",
                            selected_step);
    }
    free(line);
    free(show);
    if (bad)
        sc__report_note(p, "%d line%s of metrics.jsonl %s not JSON (a run killed mid-line "
                           "leaves one; --resume cuts it).",
                        bad, bad > 1 ? "s" : "", bad > 1 ? "are" : "is");
    cJSON_Delete(lines);
    cJSON_Delete(cols);
}

