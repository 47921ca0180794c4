/* spurcl devices: the table of OpenCL devices and the selected one. */
#define _GNU_SOURCE
#include "cli.h"
#include "opts.h"
#include "spurcl/device.h"
#include "spurcl/dist.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What a rank says about itself under mpirun. */
typedef struct rank_line {
    int local_rank, platform, device;
    char host[64], name[128];
} rank_line;

/* Under mpirun: one line a rank, on rank 0, with the device it selected. */
static int print_ranks(const sc_device_info *mine)
{
    rank_line me = {.local_rank = sc_dist_local_rank(), .platform = mine->platform_index,
                    .device = mine->device_index};
    if (gethostname(me.host, sizeof me.host - 1) != 0)
        snprintf(me.host, sizeof me.host, "?");
    snprintf(me.name, sizeof me.name, "%s", mine->name);
    int n = sc_dist_size();
    rank_line *all = sc_dist_writes() ? calloc((size_t)n, sizeof *all) : NULL;
    if (sc_dist_writes() && !all) {
        fprintf(stderr, "spurcl: devices: out of host memory\n");
        return SC_EXIT_FAIL;
    }
    if (sc_dist_gather(&me, sizeof me, all, "the devices of the ranks") != SC_OK) {
        free(all);
        return sc_cli_fail("devices");
    }
    for (int r = 0; all && r < n; r++)
        printf("rank %d (host %s, local rank %d): %d:%d %s\n", r, all[r].host,
               all[r].local_rank, all[r].platform, all[r].device, all[r].name);
    free(all);
    return SC_EXIT_OK;
}

/* The form of every kernel family on the selected device (--forms). */
static int print_forms(const char *selector)
{
    sc_context *ctx;
    if (sc_context_create(selector, &ctx) != SC_OK)
        return sc_cli_fail("devices");
    printf("\nkernel forms on the selected device (tuned: measured now; cached: measured "
           "before; seconds per candidate on its workload):\n");
    printf("  %-13s %-9s %-7s %s\n", "family", "form", "how", "candidates");
    const char *family;
    for (int i = 0; (family = sc_kernel_family_name(i)); i++) {
        sc_form_info fi;
        if (sc_context_form(ctx, family, &fi) != SC_OK) {
            sc_context_free(ctx);
            return sc_cli_fail("devices");
        }
        char cands[160] = "";
        size_t len = 0;
        for (int k = 0; k < fi.candidates && len < sizeof cands; k++) {
            int w = isnan(fi.seconds[k])
                        ? snprintf(cands + len, sizeof cands - len, "%s%s", k ? ", " : "",
                                   fi.names[k])
                        : snprintf(cands + len, sizeof cands - len, "%s%s %.3g s", k ? ", " : "",
                                   fi.names[k], fi.seconds[k]);
            len += w > 0 ? (size_t)w : 0;
        }
        printf("  %-13s %-9s %-7s %s\n", fi.family, fi.form ? fi.form : "by shape", fi.how,
               cands);
    }
    sc_context_free(ctx);
    return SC_EXIT_OK;
}

static int run(const sc_cli_global *g, sc_cli_args *a, sc_cli_session *s)
{
    (void)s;
    sc_device_info *list;
    size_t n, sel;
    if (sc_device_list(&list, &n) != SC_OK)
        return sc_cli_fail(NULL);
    const char *selector = sc_device_selector_default(g->device);
    sc_status st = sc_device_select(list, n, selector, &sel);
    if (st != SC_OK) {
        sc_device_list_free(list);
        return sc_cli_fail(NULL);
    }
    printf("  %-5s %-28s %-34s %-11s %4s %6s %9s %6s %-20s %s\n", "P:D", "platform", "device",
           "type", "CUs", "MHz", "memory", "maxWG", "OpenCL C", "fp64");
    for (size_t i = 0; i < n; i++) {
        const sc_device_info *d = &list[i];
        char idx[16];
        snprintf(idx, sizeof idx, "%d:%d", d->platform_index, d->device_index);
        printf("%c %-5s %-28.28s %-34.34s %-11s %4u %6u %7.1f G %6zu %-20.20s %s\n",
               i == sel ? '*' : ' ', idx, d->platform_name, d->name,
               sc_device_type_name(d->type), d->compute_units, d->max_clock_mhz,
               (double)d->global_mem_bytes / (1024.0 * 1024.0 * 1024.0), d->max_work_group_size,
               d->opencl_c_version, d->fp64 ? "yes" : "no");
    }
    printf("\n* selected by '%s'\n", selector);
    size_t items;
    char narrow[256];
    if (sc_device_narrow(&list[sel], narrow, sizeof narrow, &items))
        printf("small kernels (up to %zu work-items, the device idle): on %s, in the calling "
               "thread (SPURCL_NARROW)\n",
               items, narrow);
    const char *forced = getenv("OPENBLAS_CORETYPE"), *spin = getenv("OPENBLAS_THREAD_TIMEOUT");
    printf("host BLAS (GEMM on CPU devices): OpenBLAS, %s kernels", sc_host_blas_core());
    if (forced)
        printf(" (OPENBLAS_CORETYPE=%s)", forced);
    if (spin && *spin)
        printf("; after a call its threads spin as OPENBLAS_THREAD_TIMEOUT=%s\n", spin);
    else
        printf("; after a call its threads spin OpenBLAS's default (2^28 cycles)\n");
    int rc = sc_dist_size() > 1 ? print_ranks(&list[sel]) : SC_EXIT_OK;
    if (rc == SC_EXIT_OK && a->forms && sc_dist_writes())
        rc = print_forms(selector);
    sc_device_list_free(list);
    return rc;
}

static const sc_cli_spec spec = {
    "devices", SC_CLI_DEVICES, "spurcl [--device SEL] devices [--forms] [--help]",
    "Lists every OpenCL device of every platform and marks with '*' the one\n"
    "that the selector picks (--device before the command; default\n"
    "$SPURCL_DEVICE, else auto).\n"
    "Columns: index P:D, platform, device, type, compute units, max clock (MHz),\n"
    "global memory, max work-group size, OpenCL C version, fp64 support.\n"
    "Then the kernel set of the host BLAS (OpenBLAS) that CPU devices use for\n"
    "GEMM. Before anything else spurcl sets variables that OpenBLAS and PoCL\n"
    "read when they load, and restarts itself: OPENBLAS_CORETYPE where\n"
    "OpenBLAS fell back to pre-AVX kernels on a CPU with AVX (a hypervisor\n"
    "hiding the CPU model); OPENBLAS_THREAD_TIMEOUT=4, so that OpenBLAS's\n"
    "threads sleep when a GEMM ends instead of spinning on the cores the other\n"
    "kernels need; POCL_DEVICES='pthread basic', so that PoCL lists its\n"
    "single-threaded basic device beside the threaded one. Values you set are\n"
    "kept. A context on PoCL's threaded device runs small kernels that find it\n"
    "idle on the basic device, in the calling thread: the threaded device\n"
    "takes 34-67 us to wake its workers for a command, the basic one under\n"
    "1 us (the same results, bit for bit). SPURCL_NARROW=0 turns it off,\n"
    "=N sets the largest such kernel in work-items (default 32768).\n"
    "Under mpirun, rank 0 prints the table and then one line a rank: its host,\n"
    "node-local rank and the device it selected (a type selector such as auto\n"
    "spreads the ranks of a machine over its devices of that type).\n"
    "Kernel forms: where a family of kernels has more than one form (gemm:\n"
    "clblast, native or the host BLAS; conv_layout; norm), the first run of\n"
    "the family on a device times each on a small workload and keeps the\n"
    "fastest where it beats the device-type rule's by 15 % or more; the\n"
    "choice is cached in $SPURCL_TUNE_CACHE, else\n"
    "$XDG_CACHE_HOME/spurcl/tune.json, else ~/.cache/spurcl/tune.json, keyed\n"
    "by device, driver and kernel sources. SPURCL_TUNE=off keeps the rules,\n"
    "=again measures again; SPURCL_GEMM, SPURCL_CONV_LAYOUT, SPURCL_NORM\n"
    "(and SPURCL_ROWS, SPURCL_BLAS_THREADS, SPURCL_ATTENTION) force a form.\n"
    "--forms prints them.\n",
    NULL, NULL, SC_CLI_OPENS_NOTHING, run, .flat = true,
};

SC_CLI_COMMAND(sc_cmd_devices, spec)
