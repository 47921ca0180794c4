/* spurcl: the report page of a run or of a comparison.
 *
 * One self-contained HTML file: inline CSS, every picture embedded as a
 * base64 data: URI, no script and no reference to the network, so that it
 * reads the same in any browser, offline, mailed or archived.
 *
 * What it shows is read from the directory's files, never recomputed:
 *
 * - a run (a directory with config.json, metrics.jsonl or run.json: train,
 *   jtt, groupdro, dfr, ule, ssl, or one run inside a comparison): the
 *   selected model's val and test summary (worst-group accuracy first,
 *   then the averages) and its per-group accuracy table (class and
 *   attribute names from eval.json or the data file's header) from
 *   DIR/eval.json, any other evaluation JSON in DIR (eval --json, probe
 *   --json), DIR/groups.csv (ULE's student and teacher), ULE's lambda
 *   sweep (results.json) and a comparison run's selections (done.json);
 *   the evaluations of metrics.jsonl; curves.png and every other picture
 *   (saliency.png, speeds.png, previews); the runs inside it (JTT's
 *   identify/, ULE's lambda-*); the configuration (config.json: command
 *   line, version, data file and checksum, device, every setting, the
 *   resolved run settings, the resumes) and the end of log.txt;
 * - a comparison (compare or demo: results.json with a "table", or a
 *   config.json of compare or demo that has not finished): the table of
 *   mean +- sd of test worst-group and average accuracy per method and
 *   selection rule, chart.png, every run's selections, a section per run
 *   (its selections, last evaluation, curves and pictures), the
 *   configuration and the log. */
#ifndef SPURCL_REPORT_H
#define SPURCL_REPORT_H

#include "spurcl/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sc_report_kind {
    SC_REPORT_RUN = 0,        /* one run directory */
    SC_REPORT_COMPARISON = 1  /* a compare or demo directory */
} sc_report_kind;

/* Writes the page of `dir` to `out` (NULL: DIR/report.html) atomically
 * (temporary file, then rename). *kind (may be NULL) gets what `dir` was
 * taken for. A directory that is neither a run nor a comparison gives
 * SC_ERR_INVALID_ARG with one line saying what was looked for. */
SC_API sc_status sc_report_write(const char *dir, const char *out, sc_report_kind *kind);

/* "run" or "comparison". */
SC_API const char *sc_report_kind_name(sc_report_kind kind);

#ifdef __cplusplus
}
#endif
#endif
