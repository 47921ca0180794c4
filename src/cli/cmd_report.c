/* spurcl report: one self-contained HTML page of a run or a comparison
 * (sc_report_write, include/spurcl/report.h). */
#define _GNU_SOURCE
#include <stdio.h>

#include "cli.h"
#include "opts.h"
#include "spurcl/report.h"

static int run(const sc_cli_global *g, sc_cli_args *a, sc_cli_session *s)
{
    (void)s;
    sc_report_kind kind;
    if (sc_report_write(a->file, a->out, &kind) != SC_OK)
        return sc_cli_fail("report");
    if (!g->quiet) {
        if (a->out)
            printf("report of the %s %s: %s\n", sc_report_kind_name(kind), a->file, a->out);
        else
            printf("report of the %s %s: %s/report.html\n", sc_report_kind_name(kind), a->file,
                   a->file);
    }
    return SC_EXIT_OK;
}

static const sc_cli_spec spec = {
    "report", SC_CLI_REPORT, "spurcl report DIR [--out FILE]",
    "Writes one self-contained HTML page of a run directory (train, jtt,\n"
    "groupdro, dfr, ule, ssl) or of a comparison (compare, demo): no script, no\n"
    "network, inline CSS and every picture embedded, so it can be mailed or\n"
    "archived alone. A run's page has the selected model's val and test summary\n"
    "(worst-group accuracy first) and per-group accuracy table with class and\n"
    "attribute names (DIR/eval.json, groups.csv, ULE's results.json), the\n"
    "evaluations of metrics.jsonl, curves.png and the other pictures\n"
    "(saliency.png, speeds.png, previews), the runs inside it, the\n"
    "configuration (config.json: command line, version, data file and\n"
    "checksum, device, every setting) and the end of log.txt. A comparison's\n"
    "page has the table (mean +- sd over seeds of test worst-group and average\n"
    "accuracy per method and selection rule), chart.png, every run's\n"
    "selections and a section per run. Nothing is recomputed and no device is\n"
    "used: the page shows what the run wrote.\n",
    NULL, NULL, SC_CLI_OPENS_NOTHING, run, .positional = "DIR", .flat = true,
};

SC_CLI_COMMAND(sc_cmd_report, spec)
