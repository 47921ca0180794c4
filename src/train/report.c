/* The report page of a run or a comparison (include/spurcl/report.h): one
 * HTML file with inline CSS and embedded PNGs, built from the directory's
 * files (config.json, run.json, metrics.jsonl, eval.json, groups.csv,
 * results.json, done.json, log.txt, *.png); its pieces are in
 * report_parts.c and report_tables.c (train/report_page.h). */
#define _GNU_SOURCE
#include "train/report_page.h"
#include "spurcl/io.h"
#include "spurcl/report.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

typedef sc__report_page page;

const char *sc_report_kind_name(sc_report_kind kind)
{
    return kind == SC_REPORT_COMPARISON ? "comparison" : "run";
}

/* ---- a run --------------------------------------------------------------------------- */

/* The selected evaluation's step: eval.json's, else run.json's selection,
 * else (selection "last") the resume point. NAN when unknown. */
static double selected_step(const cJSON *eval, const cJSON *state)
{
    double v;
    if (jnum(eval, "selected_step", &v))
        return v;
    if (jnum(jget(state, "selection"), "step", &v))
        return v;
    if (cJSON_IsNull(jget(state, "selection")) && jnum(jget(state, "resume"), "step", &v))
        return v;
    return NAN;
}

/* The directories below dir that hold a run (config.json or
 * metrics.jsonl), depth first, sorted; a run's own runs are not listed
 * (its section shows them). */
static void find_runs(const char *dir, const char *rel, int depth, char ***out, size_t *n)
{
    if (depth > REPORT_MAX_DEPTH || *n >= REPORT_MAX_RUNS)
        return;
    size_t m;
    char **v = sc__report_list_dir(dir, NULL, true, &m);
    for (size_t i = 0; i < m && *n < REPORT_MAX_RUNS; i++) {
        char *sub = sc__report_join(dir, v[i]);
        char *r = rel ? sc_strprintf("%s/%s", rel, v[i]) : strdup(v[i]);
        if (!sub || !r) {
            free(sub);
            free(r);
            continue;
        }
        if (sc__report_is_file(sub, "config.json") || sc__report_is_file(sub, "metrics.jsonl")) {
            char **nv = realloc(*out, (*n + 1) * sizeof **out);
            if (nv) {
                *out = nv;
                (*out)[(*n)++] = r;
                r = NULL;
            }
        } else {
            find_runs(sub, r, depth + 1, out, n);
        }
        free(r);
        free(sub);
    }
    sc__report_free_list(v, m);
}

static void run_inside(page *p, const char *top, const char *rel, int level);

/* The compact section of a run inside another (a comparison's run, JTT's
 * identify/, a ULE sweep's lambda-*): what it is, its selections, its
 * evaluations, its curves and pictures, and its own runs. */
static void run_inside(page *p, const char *top, const char *rel, int level)
{
    char *dir = sc__report_join(top, rel);
    if (!dir) {
        p->h.failed = true;
        return;
    }
    cJSON *c = sc__report_read_json(dir, "config.json", NULL);
    cJSON *state = sc__report_read_json(dir, "run.json", NULL);
    cJSON *done = sc__report_read_json(dir, "done.json", NULL);
    cJSON *ev = sc__report_read_json(dir, "eval.json", NULL);
    char id[40];
    sc__report_run_id(id, sizeof id, rel);
    p->uid++;
    sc_html_printf(&p->h, "<section class=\"run\" id=\"%s\">\n<h%d>", id, level < 3 ? 3 : 4);
    sc_html_text(&p->h, rel);
    sc_html_printf(&p->h, "</h%d>\n<p class=\"sub\">", level < 3 ? 3 : 4);
    const char *trainer = jstr(c, "trainer"), *label = jstr(c, "label");
    const char *created = jstr(c, "created");
    sc_html_textf(&p->h, "%s%s%s%s%s", trainer ? "trainer " : "", trainer ? trainer : "",
                  label ? " (" : "", label ? label : "", label ? ")" : "");
    if (created)
        sc_html_textf(&p->h, "%screated %s", trainer ? " · " : "", created);
    double secs;
    if (jnum(done, "seconds", &secs))
        sc_html_textf(&p->h, " · trained in %.1f s", secs);
    sc_html_raw(&p->h, "</p>\n");
    if (done)
        sc__report_done(p, done);
    if (ev && sc__report_is_eval(ev)) {
        char id[32];
        snprintf(id, sizeof id, "run%d-eval", p->uid);
        sc__report_eval_file(p, "eval.json", ev, c, id);
    }
    double sel = selected_step(ev, state);
    if (done)
        jnum(jget(done, "by_val_avg"), "step", &sel);
    sc__report_metrics(p, dir, REPORT_EVAL_ROWS_INSIDE, sel);
    char prefix[4200];
    snprintf(prefix, sizeof prefix, "%s/", rel);
    sc_html_raw(&p->h, "<div class=\"grid\">\n");
    sc__report_pictures(p, dir, true, false, prefix);
    sc__report_pictures(p, dir, false, false, prefix);
    sc_html_raw(&p->h, "</div>\n");
    char **runs = NULL;
    size_t n = 0;
    find_runs(dir, NULL, 1, &runs, &n);
    for (size_t i = 0; i < n; i++) {
        char *r = sc_strprintf("%s/%s", rel, runs[i]);
        if (r)
            run_inside(p, top, r, level + 1);
        free(r);
    }
    sc__report_free_list(runs, n);
    sc_html_raw(&p->h, "</section>\n");
    cJSON_Delete(c);
    cJSON_Delete(state);
    cJSON_Delete(done);
    cJSON_Delete(ev);
    free(dir);
}

static void run_page(page *p, const cJSON *config, bool config_bad)
{
    const char *dir = p->dir;
    cJSON *state = sc__report_read_json(dir, "run.json", NULL);
    cJSON *ev = sc__report_read_json(dir, "eval.json", NULL);
    cJSON *results = sc__report_read_json(dir, "results.json", NULL);
    cJSON *done = sc__report_read_json(dir, "done.json", NULL);
    sc__report_section(p, "results", "Results");
    size_t mark = p->h.len;
    if (cJSON_IsArray(jget(results, "runs")))
        sc__report_ule(p, results);
    bool groups = sc__report_eval_files(p, dir, config);
    if (!groups)
        sc__report_groups_csv(p, dir, config);
    if (done) {
        sc_html_raw(&p->h, "<h3>Selections (done.json)</h3>\n");
        sc__report_done(p, done);
    }
    if (p->h.len == mark)
        sc__report_note(p, "No evaluation file in this directory (eval.json, groups.csv, "
                           "results.json): the run has not finished, or its command writes none "
                           "(ssl: run 'spurcl probe'). Its evaluations are below.");
    if (sc__report_is_file(dir, "metrics.jsonl")) {
        sc__report_section(p, "evaluations", "Evaluations (metrics.jsonl)");
        double sel = selected_step(ev, state);
        if (done)
            jnum(jget(done, "by_val_avg"), "step", &sel);
        sc__report_metrics(p, dir, REPORT_EVAL_ROWS, sel);
    }
    size_t before = p->h.len;
    int nav = p->nav_n;
    sc__report_section(p, "curves", "Curves");
    if (!sc__report_pictures(p, dir, true, false, NULL))
        sc__report_rollback(p, before, nav); /* no curves: no section */
    before = p->h.len;
    nav = p->nav_n;
    sc__report_section(p, "pictures", "Pictures");
    if (!sc__report_pictures(p, dir, false, false, NULL))
        sc__report_rollback(p, before, nav);
    char **runs = NULL;
    size_t n = 0;
    find_runs(dir, NULL, 1, &runs, &n);
    if (n) {
        sc__report_section(p, "runs", "Runs inside");
        for (size_t i = 0; i < n; i++)
            run_inside(p, dir, runs[i], 1);
    }
    sc__report_free_list(runs, n);
    sc__report_config(p, config, config_bad);
    sc__report_log(p, dir);
    cJSON_Delete(state);
    cJSON_Delete(ev);
    cJSON_Delete(results);
    cJSON_Delete(done);
}

/* ---- a comparison -------------------------------------------------------------------- */

static void mean_sd(sc_html *h, const cJSON *cell, const char *mean, const char *sd)
{
    double m, s;
    if (jnum(cell, mean, &m) && jnum(cell, sd, &s) && isfinite(m))
        sc_html_printf(h, "%.3f &plusmn; %.3f", m, s);
    else
        sc_html_raw(h, "-");
}

static void comparison_table(page *p, const cJSON *table)
{
    static const char *const rules[2] = {"selected_by_val_avg", "selected_by_val_wga"};
    static const char *const ids[2] = {"avg", "wga"};
    bool settings = false;
    const cJSON *row;
    cJSON_ArrayForEach(row, table) for (int k = 0; k < 2; k++)
    {
        const char *s = jstr(jget(row, rules[k]), "setting");
        settings |= s && *s;
    }
    int span = settings ? 4 : 3;
    sc_html_printf(&p->h,
                   "<div class=\"scroll\"><table class=\"comparison\">\n"
                   "<tr><th rowspan=\"2\" class=\"l\">method</th><th rowspan=\"2\">group labels "
                   "used</th><th rowspan=\"2\">seeds</th><th colspan=\"%d\">selected by val "
                   "average (no group labels)</th><th colspan=\"%d\">selected by val worst-group "
                   "(val group labels)</th></tr>\n<tr>",
                   span, span);
    for (int k = 0; k < 2; k++)
        sc_html_printf(&p->h, "%s<th>val (mean)</th><th>test worst-group</th><th>test "
                              "average</th>", settings ? "<th>setting</th>" : "");
    sc_html_raw(&p->h, "</tr>\n");
    cJSON_ArrayForEach(row, table)
    {
        const char *method = jstr(row, "method");
        double seeds = NAN;
        jnum(row, "seeds", &seeds);
        sc_html_raw(&p->h, "<tr><th class=\"l\">");
        sc_html_text(&p->h, method ? method : "?");
        sc_html_raw(&p->h, "</th><td>");
        sc_html_text(&p->h, jstr(row, "group_labels"));
        sc_html_printf(&p->h, "</td><td>%.0f</td>", seeds);
        for (int k = 0; k < 2; k++) {
            const cJSON *c = jget(row, rules[k]);
            if (settings) {
                sc_html_raw(&p->h, "<td class=\"l\">");
                sc_html_text(&p->h, jstr(c, "setting"));
                sc_html_raw(&p->h, "</td>");
            }
            double v = NAN;
            jnum(c, "val", &v);
            sc_html_raw(&p->h, "<td>");
            sc__report_metric(&p->h, v, true);
            sc_html_raw(&p->h, "</td><td class=\"wga\" id=\"");
            sc_html_text(&p->h, method ? method : "?");
            sc_html_printf(&p->h, "-%s-wga\">", ids[k]);
            mean_sd(&p->h, c, "test_wga_mean", "test_wga_std");
            sc_html_raw(&p->h, "</td><td id=\"");
            sc_html_text(&p->h, method ? method : "?");
            sc_html_printf(&p->h, "-%s-acc\">", ids[k]);
            mean_sd(&p->h, c, "test_avg_mean", "test_avg_std");
            sc_html_raw(&p->h, "</td>");
        }
        sc_html_raw(&p->h, "</tr>\n");
    }
    sc_html_raw(&p->h, "</table></div>\n");
}

/* A run's directory inside the comparison: METHOD/[SETTING/]seed-S. */
static char *run_rel(const cJSON *run)
{
    const char *m = jstr(run, "method"), *s = jstr(run, "setting");
    double seed;
    if (!m || !jnum(run, "seed", &seed))
        return NULL;
    return s && *s ? sc_strprintf("%s/%s/seed-%.0f", m, s, seed)
                   : sc_strprintf("%s/seed-%.0f", m, seed);
}

static void runs_table(page *p, const cJSON *runs, char **rels, const bool *found)
{
    static const char *const keys[2] = {"by_val_avg", "by_val_wga"};
    sc_html_raw(&p->h, "<div class=\"scroll\"><table class=\"runs\">\n<tr><th rowspan=\"2\" "
                       "class=\"l\">run</th><th colspan=\"4\">selected by val average</th><th "
                       "colspan=\"4\">selected by val worst-group</th></tr>\n<tr>");
    for (int k = 0; k < 2; k++)
        sc_html_raw(&p->h, "<th>step</th><th>val</th><th>test worst-group</th><th>test "
                           "average</th>");
    sc_html_raw(&p->h, "</tr>\n");
    int i = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, runs)
    {
        sc_html_raw(&p->h, "<tr><th class=\"l\">");
        char id[40];
        if (found[i]) {
            sc__report_run_id(id, sizeof id, rels[i]);
            sc_html_printf(&p->h, "<a href=\"#%s\">", id);
        }
        sc_html_text(&p->h, rels[i] ? rels[i] : "?");
        if (found[i])
            sc_html_raw(&p->h, "</a>");
        sc_html_raw(&p->h, "</th>");
        for (int k = 0; k < 2; k++) {
            const cJSON *o = jget(r, keys[k]);
            double step = NAN, val = NAN, wga = NAN, avg = NAN;
            jnum(o, "step", &step);
            jnum(o, "val", &val);
            jnum(o, "test_wga", &wga);
            jnum(o, "test_avg", &avg);
            sc_html_printf(&p->h, "<td>%.0f</td><td>", step);
            sc__report_metric(&p->h, val, true);
            sc_html_raw(&p->h, "</td><td class=\"wga\">");
            sc__report_metric(&p->h, wga, true);
            sc_html_raw(&p->h, "</td><td>");
            sc__report_metric(&p->h, avg, true);
            sc_html_raw(&p->h, "</td>");
        }
        sc_html_raw(&p->h, "</tr>\n");
        i++;
    }
    sc_html_raw(&p->h, "</table></div>\n");
}

static void comparison_page(page *p, const cJSON *config, bool config_bad, const cJSON *results)
{
    const char *dir = p->dir;
    sc__report_section(p, "results", "Results");
    const cJSON *table = jget(results, "table"), *runs = jget(results, "runs");
    double secs;
    if (cJSON_IsArray(table)) {
        sc_html_raw(&p->h, "<p>Test accuracy, mean &plusmn; standard deviation over seeds "
                           "(average: weighted by the training split's group shares); each "
                           "run's model selected twice, by val average accuracy and by val "
                           "worst-group accuracy; a setting of the grid chosen the same way, "
                           "never by test.");
        if (jnum(results, "seconds", &secs))
            sc_html_printf(&p->h, " %.0f s of training.", secs);
        sc_html_raw(&p->h, "</p>\n");
        comparison_table(p, table);
    } else {
        sc__report_note(p, "No results.json yet: the comparison has not finished (running it "
                           "again resumes it). The runs found so far are below.");
    }
    if (sc__report_is_file(dir, "chart.png"))
        sc__report_figure(p, dir, "chart.png", NULL);
    int nruns = cJSON_GetArraySize(runs);
    char **rels = NULL;
    size_t nrel = 0;
    bool *found = NULL;
    if (nruns > 0) {
        rels = calloc((size_t)nruns, sizeof *rels);
        found = calloc((size_t)nruns, sizeof *found);
        if (!rels || !found) {
            free(rels);
            free(found);
            p->h.failed = true;
            return;
        }
        nrel = (size_t)nruns;
        int i = 0;
        const cJSON *r;
        cJSON_ArrayForEach(r, runs) rels[i++] = run_rel(r);
    } else {
        find_runs(dir, NULL, 1, &rels, &nrel);
    }
    if (nruns > 0) {
        sc__report_section(p, "runs-table", "Every run");
        for (int i = 0; i < nruns; i++) {
            char *d = rels[i] ? sc__report_join(dir, rels[i]) : NULL;
            struct stat sb;
            found[i] = d && stat(d, &sb) == 0 && S_ISDIR(sb.st_mode);
            free(d);
        }
        runs_table(p, runs, rels, found);
    }
    if (nrel) {
        sc__report_section(p, "runs", "Runs");
        for (size_t i = 0; i < nrel; i++) {
            char *d = rels[i] ? sc__report_join(dir, rels[i]) : NULL;
            struct stat sb;
            if (d && stat(d, &sb) == 0 && S_ISDIR(sb.st_mode))
                run_inside(p, dir, rels[i], 1);
            else if (rels[i])
                sc__report_note(p, "%s: no such directory", rels[i]);
            free(d);
        }
    }
    size_t before = p->h.len;
    int nav = p->nav_n;
    sc__report_section(p, "pictures", "Other pictures");
    int shown = sc__report_pictures(p, dir, true, false, NULL);
    shown += sc__report_pictures(p, dir, false, true, NULL);
    if (!shown)
        sc__report_rollback(p, before, nav);
    sc__report_config(p, config, config_bad);
    sc__report_log(p, dir);
    for (size_t i = 0; i < nrel; i++)
        free(rels[i]);
    free(rels);
    free(found);
}

/* ---- the whole page ------------------------------------------------------------------ */

static const char css[] =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;"
    "margin:0;color:#1d2433;background:#eceef2}"
    "main{max-width:1180px;margin:0 auto;padding:22px 30px 48px;background:#fff}"
    "h1{font-size:25px;margin:0 0 4px}"
    "h2{font-size:19px;margin:30px 0 10px;padding-bottom:4px;border-bottom:2px solid #d5dae3}"
    "h3{font-size:16px;margin:20px 0 6px}h4{font-size:14px;margin:14px 0 4px;color:#3b4556}"
    ".sub{color:#5b6475;margin:0 0 10px}"
    "nav{margin:8px 0 4px;padding:8px 12px;background:#f3f5f8;border-radius:6px}"
    "nav a{margin-right:16px;color:#1f5fbf;text-decoration:none}"
    "a{color:#1f5fbf}"
    "table{border-collapse:collapse;margin:6px 0 12px;font-variant-numeric:tabular-nums}"
    "th,td{border:1px solid #d3d8e0;padding:3px 8px;text-align:right;vertical-align:top}"
    "td{white-space:nowrap}td.l,.kv td{white-space:normal}"
    "th{background:#eef1f6;font-weight:600}"
    ".l{text-align:left}"
    "td.wga{font-weight:700;color:#9b1c1c}"
    "td.worst{outline:3px solid #9b1c1c;outline-offset:-3px;font-weight:700}"
    "td.empty{color:#9aa1ad;background:#f7f7f9}"
    "tr.sel td,tr.sel th{background:#fff3c4}"
    ".gname{color:#5b6475;font-weight:400}"
    ".kv td,.kv th{text-align:left}.kv th{background:#f6f7fa;color:#3b4556}"
    ".kv td{min-width:90px;word-break:break-all}"
    ".scroll{overflow-x:auto}"
    "figure{margin:8px 0 14px}figcaption{color:#5b6475;font-size:13px;margin-top:2px}"
    "img{max-width:100%;height:auto;border:1px solid #e1e4ea;background:#fff}"
    "pre{background:#f3f4f7;padding:8px 10px;overflow-x:auto;font-size:12px;"
    "white-space:pre-wrap;word-break:break-all}"
    ".note{color:#6b7280;font-size:13px}"
    ".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));gap:10px}"
    "section.run{border:1px solid #dfe3ea;border-radius:6px;padding:2px 14px 8px;margin:12px 0}"
    "footer{margin-top:36px;color:#8a919c;font-size:12px}";

static sc_status write_page(FILE *f, void *ud)
{
    const sc_html *h = ud;
    return fwrite(h->buf, 1, h->len, f) == h->len ? SC_OK
                                                  : sc_error_set(SC_ERR_IO, "writing failed");
}

sc_status sc_report_write(const char *dir, const char *out, sc_report_kind *kind_out)
{
    if (!dir)
        return sc_error_set(SC_ERR_INVALID_ARG, "report: no directory given");
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return sc_error_set(SC_ERR_IO, "%s: %s", dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return sc_error_set(SC_ERR_INVALID_ARG, "%s is not a directory (give a run's or a "
                                                "comparison's directory)", dir);
    bool config_bad = false;
    cJSON *config = sc__report_read_json(dir, "config.json", &config_bad);
    cJSON *results = sc__report_read_json(dir, "results.json", NULL);
    /* a comparison: its table, or its own config.json (a run inside one
     * has the command compare or demo too, but its trainer's name) */
    const char *cmd = jstr(config, "command"), *trainer = jstr(config, "trainer");
    bool of_comparison = cmd && (!strcmp(cmd, "compare") || !strcmp(cmd, "demo"));
    bool comparison = cJSON_IsArray(jget(results, "table")) ||
                      (of_comparison && (!trainer || !strcmp(trainer, cmd)));
    bool run = !comparison && (config || config_bad || sc__report_is_file(dir, "metrics.jsonl") ||
                               sc__report_is_file(dir, "run.json"));
    if (!comparison && !run) {
        cJSON_Delete(config);
        cJSON_Delete(results);
        return sc_error_set(SC_ERR_INVALID_ARG,
                            "%s is neither a run directory (no config.json, metrics.jsonl or "
                            "run.json) nor a comparison directory (no results.json of compare "
                            "or demo)",
                            dir);
    }
    sc_report_kind kind = comparison ? SC_REPORT_COMPARISON : SC_REPORT_RUN;
    if (kind_out)
        *kind_out = kind;
    page p = {.dir = dir};
    sc_html_init(&p.h);
    if (comparison)
        comparison_page(&p, config, config_bad, results);
    else
        run_page(&p, config, config_bad);

    /* the head, the title and the navigation, then the body */
    sc_html h;
    sc_html_init(&h);
    char title[4200];
    const char *what = cmd ? cmd : jstr(config, "trainer");
    snprintf(title, sizeof title, "%s %s: %s", what ? what : "spurcl", sc_report_kind_name(kind),
             dir);
    char *abs = realpath(dir, NULL);
    sc_html_raw(&h, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                    "img-src data:; style-src 'unsafe-inline'\">\n"
                    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                    "<meta name=\"generator\" content=\"spurcl report ");
    sc_html_text(&h, sc_version());
    sc_html_raw(&h, "\">\n<title>");
    sc_html_text(&h, title);
    sc_html_printf(&h, "</title>\n<style>%s</style>\n</head>\n<body>\n<main>\n<h1>", css);
    if (kind == SC_REPORT_COMPARISON)
        sc_html_textf(&h, "spurcl report: %s%s", cmd && !strcmp(cmd, "demo") ? "the demo's " : "",
                      "comparison");
    else
        sc_html_textf(&h, "spurcl report: %s run", what ? what : "a");
    sc_html_raw(&h, "</h1>\n<p class=\"sub\"><code>");
    sc_html_text(&h, abs ? abs : dir);
    sc_html_raw(&h, "</code>");
    const char *created = jstr(config, "created"), *device = jstr(config, "device");
    const char *ver = jstr(config, "spurcl"), *git = jstr(config, "git");
    if (created)
        sc_html_textf(&h, " · created %s", created);
    if (ver)
        sc_html_textf(&h, " · spurcl %s (git %s)", ver, git ? git : "?");
    if (device)
        sc_html_textf(&h, " · %s", device);
    const char *data = jstr(jget(config, "data"), "path");
    if (data) {
        sc_html_raw(&h, "<br>data <code>");
        sc_html_text(&h, data);
        sc_html_raw(&h, "</code>");
        const char *sum = jstr(jget(config, "data"), "fnv1a");
        if (sum)
            sc_html_textf(&h, " (FNV-1a %s)", sum);
    }
    sc_html_raw(&h, "</p>\n<nav>");
    for (int i = 0; i < p.nav_n; i++)
        sc_html_printf(&h, "<a href=\"#%s\">%s</a>", p.nav_id[i], p.nav_title[i]);
    sc_html_raw(&h, "</nav>\n");
    if (p.h.buf)
        sc_html_raw(&h, p.h.buf);
    char when[32] = "";
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm))
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%SZ", &tm);
    sc_html_raw(&h, "<footer>Written by <code>spurcl report</code> ");
    sc_html_textf(&h, "%s (git %s) at %s", sc_version(), sc_version_git(), when);
    sc_html_raw(&h, ". One file: the pictures are embedded, nothing is loaded from elsewhere "
                    "and no script runs.</footer>\n</main>\n</body>\n</html>\n");
    free(abs);
    sc_status st = p.h.failed ? sc_html_status(&p.h) : sc_html_status(&h);
    char *path = NULL;
    if (st == SC_OK) {
        path = out ? strdup(out) : sc__report_join(dir, "report.html");
        st = path ? sc_io_write_atomic(path, write_page, &h) : sc_oom("report path");
        st = sc_io_write_error(st, path);
    }
    free(path);
    sc_html_free(&h);
    sc_html_free(&p.h);
    cJSON_Delete(config);
    cJSON_Delete(results);
    return st;
}
