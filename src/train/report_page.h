/* The report page's pieces (internal to src/train/report*.c; the public
 * call is sc_report_write, include/spurcl/report.h).
 *
 * report.c decides what a directory is and puts the page together (a run,
 * the runs inside it, a comparison); report_parts.c holds the page's
 * primitives (sections, notes, metrics, heat cells), the directory's files,
 * the pictures, the configuration and the log; report_tables.c the tables
 * of results (evaluation JSON, groups.csv, ULE's sweep, a comparison run's
 * selections, metrics.jsonl). Every piece of text read from a file goes
 * into the page through io/html.h's escaping calls. */
#ifndef SC_TRAIN_REPORT_PAGE_H
#define SC_TRAIN_REPORT_PAGE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "io/html.h"
#include "train/train_internal.h"

#define REPORT_MAX_JSON ((size_t)64 << 20) /* largest JSON or text file read */
#define REPORT_MAX_PNG ((size_t)32 << 20)  /* largest picture embedded */
#define REPORT_EVAL_ROWS 40                /* metrics.jsonl rows shown of a run */
#define REPORT_EVAL_ROWS_INSIDE 8          /* ... of a run inside another */
#define REPORT_LOG_LINES 40                /* the end of log.txt shown */
#define REPORT_MAX_RUNS 2000               /* runs inside a directory */
#define REPORT_MAX_DEPTH 4                 /* how deep runs are looked for */
#define REPORT_MAX_NAV 12                  /* sections in the navigation bar */

/* The page being written: its body (the head and the navigation bar are
 * put before it at the end, from the sections it holds). */
typedef struct sc__report_page {
    sc_html h;
    const char *dir;
    int nav_n;
    char nav_id[REPORT_MAX_NAV][24], nav_title[REPORT_MAX_NAV][48];
    int uid;          /* runs drawn so far */
} sc__report_page;

/* ---- JSON values: NULL / false when absent or of another type ---- */

static inline const cJSON *jget(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

static inline const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = jget(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static inline bool jnum(const cJSON *o, const char *key, double *out)
{
    const cJSON *v = jget(o, key);
    if (!cJSON_IsNumber(v))
        return false;
    *out = v->valuedouble;
    return true;
}

/* ---- the directory's files (report_parts.c) ---- */

/* "DIR/NAME", malloc'd (NULL when out of memory). */
char *sc__report_join(const char *dir, const char *name);
bool sc__report_is_file(const char *dir, const char *name);
/* DIR/NAME's text, NUL-terminated, or NULL when absent or unreadable (the
 * error is cleared: a missing file is a section left out). */
char *sc__report_read_text(const char *dir, const char *name);
/* DIR/NAME parsed; NULL when absent. *bad (may be NULL) is set when the
 * file exists but is not JSON. */
cJSON *sc__report_read_json(const char *dir, const char *name, bool *bad);
/* The names in dir (sorted, no dot files) of regular files ending in
 * `suffix` (NULL: any), or of directories when `dirs`. */
char **sc__report_list_dir(const char *dir, const char *suffix, bool dirs, size_t *n);
void sc__report_free_list(char **v, size_t n);

/* ---- the page's primitives (report_parts.c) ---- */

/* An <h2> with its id, listed in the navigation bar. */
void sc__report_section(sc__report_page *p, const char *id, const char *title);
/* Takes back what was appended since `len` and the sections since `nav`
 * (a section that turned out empty). */
void sc__report_rollback(sc__report_page *p, size_t len, int nav);
/* The id of a run's section: "run-" and the FNV-1a hash of its path
 * relative to the page's directory (any path gives a valid id). */
void sc__report_run_id(char *buf, size_t n, const char *rel);
/* A paragraph of grey text, escaped. */
void sc__report_note(sc__report_page *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A metric with 4 decimals; "-" when not finite or, with
 * undefined_below_zero, negative (the files write -1 for undefined). */
void sc__report_metric(sc_html *h, double v, bool undefined_below_zero);
/* A per-group table's cell: the accuracy on a background from red (0) to
 * green (1), the group's size in its title, the worst group outlined. */
void sc__report_heat_cell(sc_html *h, double acc, double n, bool worst);

/* ---- pictures, configuration, log (report_parts.c) ---- */

/* A <figure> of DIR/NAME embedded, captioned with `label` (NULL: NAME) and
 * what the picture is; a picture that cannot be embedded says why. */
void sc__report_figure(sc__report_page *p, const char *dir, const char *name, const char *label);
/* The PNGs of dir: with `curves` curves.png and speeds.png, else the
 * others (saliency.png and chart.png first; chart.png left out with
 * skip_chart); labels prefixed by `prefix`. Returns how many. */
int sc__report_pictures(sc__report_page *p, const char *dir, bool curves, bool skip_chart,
                        const char *prefix);
/* The "Configuration" section from config.json (NULL: a note; bad: it is
 * not JSON): command line, run, data, settings, resolved settings, resumes. */
void sc__report_config(sc__report_page *p, const cJSON *config, bool bad);
/* The "Log" section: the end of DIR/log.txt, when there is one. */
void sc__report_log(sc__report_page *p, const char *dir);

/* ---- tables of results (report_tables.c) ---- */

/* Whether a JSON object holds "val" or "test" metrics (acc, wga). */
bool sc__report_is_eval(const cJSON *j);
/* The summary and per-group tables of one evaluation file `name`; their
 * cells' ids start with idbase ("eval": eval-test-wga). Returns whether
 * it had per-group tables. */
bool sc__report_eval_file(sc__report_page *p, const char *name, const cJSON *ev,
                          const cJSON *config, const char *idbase);
/* Every evaluation JSON in dir, eval.json first. Returns whether any had
 * per-group tables. */
bool sc__report_eval_files(sc__report_page *p, const char *dir, const cJSON *config);
/* DIR/groups.csv as summary and per-group tables per model and split. */
void sc__report_groups_csv(sc__report_page *p, const char *dir, const cJSON *config);
/* ULE's results.json: a row per lambda, the selected one marked. */
void sc__report_ule(sc__report_page *p, const cJSON *results);
/* A comparison run's done.json: both selections. */
void sc__report_done(sc__report_page *p, const cJSON *done);
/* DIR/metrics.jsonl's lines as a table (at most max_rows, evenly spaced,
 * the last always), the row of selected_step (NAN: none) marked. */
void sc__report_metrics(sc__report_page *p, const char *dir, int max_rows, double selected_step);

#endif
