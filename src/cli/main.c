/* spurcl: command-line entry point. Parses the global options and hands the
 * rest of argv to one command. */
#define _GNU_SOURCE
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "spurcl/device.h"
#include "spurcl/dist.h"
#include "spurcl/sys.h"

typedef struct command {
    const char *name;
    int (*run)(const sc_cli_global *g, int argc, char **argv);
    const char *summary;
    bool parallel;  /* runs under mpirun with more than one rank (issue #15) */
} command;

static const command commands[] = {
    {"devices", sc_cmd_devices, "list OpenCL devices and mark the one that would be used", true},
    {"selftest", sc_cmd_selftest,
     "run a smoke computation on the device and check it on the CPU", false},
    {"data", sc_cmd_data, "build, inspect and preview spurious-correlation data sets", false},
    {"train", sc_cmd_train, "train a classifier with plain ERM", true},
    {"eval", sc_cmd_eval, "per-group accuracy of a checkpoint on a data set", true},
    {"jtt", sc_cmd_jtt, "the JTT baseline: train, upweight the errors, retrain", true},
    {"groupdro", sc_cmd_groupdro, "the GroupDRO baseline (reads group labels: the oracle)", true},
    {"dfr", sc_cmd_dfr, "the DFR baseline: retrain a model's last layer on balanced val", true},
    {"ule", sc_cmd_ule, "ULE: a teacher that unlearns the student's shortcut", true},
    {"ssl", sc_cmd_ssl,
     "self-supervised pre-training (SimCLR, BarlowTwins) with LA-SSL sampling", true},
    {"probe", sc_cmd_probe, "linear probe on a frozen encoder, per-group table", true},
    {"saliency", sc_cmd_saliency, "input-gradient pictures of a checkpoint", false},
    {"compare", sc_cmd_compare, "methods x seeds on one data set: the robustness table", true},
    {"demo", sc_cmd_demo, "the robustness demo: ERM, JTT and ULE on MNIST-SC", true},
    {"report", sc_cmd_report, "one self-contained HTML page of a run or a comparison", false},
};

/* The commands that run data-parallel, from the table: "a, b and c". */
static const char *parallel_list(void)
{
    static char buf[256];
    size_t n = 0, count = 0, total = 0;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        total += commands[i].parallel;
    buf[0] = 0;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0] && n < sizeof buf; i++) {
        if (!commands[i].parallel)
            continue;
        const char *sep = count == 0 ? "" : count + 1 == total ? " and " : ", ";
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", sep, commands[i].name);
        count++;
    }
    return buf;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: spurcl [--device SEL] [--quiet] <command> [options]\n"
            "\n"
            "Train image models robust to spurious correlations, on any OpenCL device.\n"
            "\n"
            "Commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\n"
            "Global options:\n"
            "  -d, --device SEL  OpenCL device: auto (GPU, then accelerator, then CPU),\n"
            "                    gpu, cpu, accelerator, P:D (see 'spurcl devices') or a\n"
            "                    case-insensitive substring of the device name.\n"
            "                    Default: $SPURCL_DEVICE, else auto.\n"
            "  -q, --quiet       no progress output\n"
            "  -h, --help        show this help\n"
            "  -V, --version     show the version and the git describe of the build\n"
            "\n"
            "Environment:\n"
            "  SPURCL_DEVICE      default device selector\n"
            "  SPURCL_KERNEL_DIR  load OpenCL sources from this directory instead of the\n"
            "                     embedded copies (kernel development)\n"
            "  SPURCL_FAST_MATH   1: build kernels with -cl-fast-relaxed-math\n"
            "\n"
            "Data-parallel (a build with MPI): 'mpirun -np N spurcl COMMAND ...' runs on\n"
            "N processes, each on the device its node-local rank picks ('mpirun -np N\n"
            "spurcl devices' shows which); rank 0 prints and writes every file.\n"
            "Commands that run so (the others are refused under mpirun):\n"
            "  %s.\n"
            "\n"
            "Run 'spurcl <command> --help' for a command's options.\n"
            "Exit status: 0 success, 1 failure, 2 bad usage.\n",
            parallel_list());
}

/* What a command printed on stdout (tables, info --csv) must reach it: a
 * write that failed, now or while it printed, is an error with errno's
 * text, like any other file the tool writes. */
static int finish_stdout(int rc)
{
    errno = 0;
    int e = fflush(stdout) != 0 ? (errno ? errno : EIO) : 0;
    if (!e && !ferror(stdout))
        return rc;
    fprintf(stderr, "spurcl: writing standard output: %s\n",
            e ? strerror(e) : "a write failed, the output is incomplete");
    return rc == SC_EXIT_OK ? SC_EXIT_FAIL : rc;
}

/* A command under mpirun with more than one rank: those that run
 * data-parallel go on (rank 0 alone prints: the others' standard output
 * goes to /dev/null and their progress is off; their errors still reach
 * stderr); the others are refused on every rank. */
static bool g_refused; /* every rank refused the command: no abort needed */

static int dist_check(const command *c, sc_cli_global *g)
{
    if (sc_dist_size() == 1)
        return SC_EXIT_OK;
    if (!c->parallel) {
        if (sc_dist_writes())
            fprintf(stderr,
                    "spurcl: '%s' does not run data-parallel yet (issue #15; %s do): run "
                    "it as one process, without mpirun\n",
                    c->name, parallel_list());
        g_refused = true;
        return SC_EXIT_USAGE;
    }
    if (!sc_dist_writes()) {
        g->quiet = true;
        if (!freopen("/dev/null", "w", stdout)) {
            fprintf(stderr, "spurcl: rank %d: cannot silence standard output: %s\n",
                    sc_dist_rank(), strerror(errno));
            return SC_EXIT_FAIL;
        }
    }
    return SC_EXIT_OK;
}

static int run_main(int argc, char **argv)
{
    sc_cli_global g = {.argc = argc, .argv = argv};
    static const struct option opts[] = {
        {"device", required_argument, NULL, 'd'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    int c;
    /* '+': stop at the command name; its options are the command's. */
    while ((c = getopt_long(argc, argv, "+d:qhV", opts, NULL)) != -1) {
        switch (c) {
        case 'd': g.device = optarg; break;
        case 'q': g.quiet = true; break;
        case 'h': usage(stdout); return finish_stdout(SC_EXIT_OK);
        case 'V':
            printf("spurcl %s (git %s)\n", sc_version(), sc_version_git());
            return finish_stdout(SC_EXIT_OK);
        case ':':
            fprintf(stderr, "spurcl: option '%s' needs a value\nTry 'spurcl --help'.\n",
                    argv[optind - 1]);
            return SC_EXIT_USAGE;
        default:
            fprintf(stderr, "spurcl: unknown option '%s'\nTry 'spurcl --help'.\n",
                    argv[optind - 1]);
            return SC_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return SC_EXIT_USAGE;
    }
    const char *name = argv[optind];
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0) {
            int sub_argc = argc - optind;
            char **sub_argv = argv + optind;
            int rc = dist_check(&commands[i], &g);
            return rc != SC_EXIT_OK ? rc : finish_stdout(commands[i].run(&g, sub_argc, sub_argv));
        }
    fprintf(stderr, "spurcl: unknown command '%s'\nTry 'spurcl --help'.\n", name);
    return SC_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    /* OpenBLAS on the kernels the CPU can run (see sc_host_blas_fit) */
    sc_host_blas_fit(argv);
    /* MPI first (it may rewrite argv), and only under an MPI launcher */
    if (sc_dist_init(&argc, &argv) != SC_OK) {
        fprintf(stderr, "spurcl: %s\n", sc_last_error());
        return SC_EXIT_FAIL;
    }
    int rc = run_main(argc, argv);
    /* a rank that failed ends the job: the others may wait in a collective
     * (not when every rank refused the command or was told of the failure
     * by a collective: all stop, none waits) */
    if (rc != SC_EXIT_OK && sc_dist_size() > 1 && !g_refused && !sc_dist_failure_agreed()) {
        fflush(stdout);
        fprintf(stderr, "spurcl: rank %d of %d failed (exit %d); ending every rank\n",
                sc_dist_rank(), sc_dist_size(), rc);
        sc_dist_abort(rc);
    }
    sc_dist_finalize();
    return rc;
}
