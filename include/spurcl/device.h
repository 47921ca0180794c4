/* spurcl: OpenCL devices and the execution context.
 *
 * All platforms' devices form one flat list, indexed "P:D" (platform index,
 * device index within the platform). A selector string picks one:
 *   "auto"  GPU, then accelerator, then CPU; ties by compute units x clock
 *   "gpu" / "cpu" / "accelerator"   the best device of that type
 *   "P:D"   an exact index, e.g. "0:0"
 *   other   a case-insensitive substring of the device name
 * NULL or "" means: the SPURCL_DEVICE environment variable, else "auto". */
#ifndef SPURCL_DEVICE_H
#define SPURCL_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spurcl/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sc_device_type {
    SC_DEVICE_CPU = 1,
    SC_DEVICE_GPU = 2,
    SC_DEVICE_ACCELERATOR = 4,
    SC_DEVICE_OTHER = 8
} sc_device_type;

typedef struct sc_device_info {
    int platform_index;
    int device_index;
    char platform_name[128];
    char platform_version[128];
    char name[128];
    char vendor[128];
    char driver_version[128];
    char opencl_c_version[64];   /* "OpenCL C 1.2 pocl" */
    sc_device_type type;
    unsigned compute_units;
    unsigned max_clock_mhz;
    uint64_t global_mem_bytes;
    uint64_t local_mem_bytes;
    uint64_t max_alloc_bytes;
    size_t max_work_group_size;
    bool fp64;
    bool host_unified_memory;    /* buffers live in host memory (CPU devices) */
    void *cl_platform;           /* cl_platform_id */
    void *cl_device;             /* cl_device_id */
} sc_device_info;

/* Enumerates every device of every platform. *out is freed with
 * sc_device_list_free(). Returns SC_ERR_NO_PLATFORM (with a message naming
 * the packages that provide one) when no platform exists. */
SC_API sc_status sc_device_list(sc_device_info **out, size_t *count);
SC_API void sc_device_list_free(sc_device_info *list);

/* Picks a device from `list` by `selector` (see above). On no match returns
 * SC_ERR_DEVICE_NOT_FOUND with a detail listing the devices that exist.
 * Under mpirun (spurcl/dist.h) with k > 1 devices of the chosen type, a
 * type selector (auto, gpu, cpu, accelerator) gives node-local rank r the
 * (r mod k)-th of them, best first; P:D and a name pick the same device on
 * every rank. */
SC_API sc_status sc_device_select(const sc_device_info *list, size_t count,
                                  const char *selector, size_t *index);

/* Resolves NULL/"" to $SPURCL_DEVICE or "auto". */
SC_API const char *sc_device_selector_default(const char *selector);

/* "CPU", "GPU", "accelerator", "other". */
SC_API const char *sc_device_type_name(sc_device_type type);
/* Name of an OpenCL error code ("CL_OUT_OF_RESOURCES"), or "CL_UNKNOWN_ERROR". */
SC_API const char *sc_cl_error_name(int cl_code);

typedef struct sc_context sc_context;

/* Opens the selected device: an OpenCL context, an in-order queue, the
 * program cache and the buffer pool. */
SC_API sc_status sc_context_create(const char *selector, sc_context **out);
SC_API void sc_context_free(sc_context *ctx);

SC_API const sc_device_info *sc_context_device(const sc_context *ctx);

/* Forces one form of a kernel family where a device could run either
 * (the same choice as the environment variable, which is read once when
 * the context is made): family "gemm" (clblast|native|host), "conv_layout"
 * (rows|elements), "norm" (channels|slices), "rows" (groups|items: a
 * work-group or a work-item per row of every row-reducing kernel: sums
 * over broadcast axes, axis reductions, softmax, the norms' statistics,
 * NT-Xent's rows, row norms, saliency maxima) or "blas_threads" (all|one|thin:
 * the host GEMM's OpenBLAS threads: its own count, by default, one, or one
 * for thin products, M*N < 65536) or "attention" (tiles|rows|composed:
 * the flash-style attention kernels with key tiles staged in local memory
 * or read in place, or the recorded softmax(q k^T) v, which a recorded
 * backward pass always uses);
 * form NULL or "" gives the
 * choice back to the device. Results agree within float rounding across
 * forms; tests use this to cover every form on one device. */
SC_API sc_status sc_context_set_form(sc_context *ctx, const char *family, const char *form);

/* Per-device tuning. Where nothing forces a form, the families gemm,
 * conv_layout and norm are tuned on the context the first time they run:
 * each candidate form is timed on the family's workload (a few tens of
 * milliseconds to a few seconds, kernel builds included) and the fastest
 * kept where it beats the device-type rule's form by 15 % or more, so that
 * the rule stands unless the measurement is clear. The choice is cached in
 * a JSON file, keyed by the device, its vendor, driver and platform
 * versions, its compute units and a hash of the kernel sources, so that it
 * is measured once per device and build. The environment sets the mode and
 * the file when the context is made: SPURCL_TUNE=on (the default), off (the
 * device-type rules alone) or again (measure, ignoring the cache, and store
 * the new choice); SPURCL_TUNE_CACHE=path (default
 * $XDG_CACHE_HOME/spurcl/tune.json, else ~/.cache/spurcl/tune.json). An
 * unreadable or malformed cache is measured again and rewritten, with one
 * line on stderr; one that cannot be written leaves the choice to the
 * process. Forms agree within float rounding; a run repeats bit for bit on
 * a device once its choices are cached. This call sets the mode ("on",
 * "off", "again") and the file (NULL: the default) and forgets the
 * context's choices. */
SC_API sc_status sc_context_set_tuning(sc_context *ctx, const char *mode, const char *cache);

/* What a context runs for one kernel family. */
typedef struct sc_form_info {
    const char *family;
    const char *form;        /* NULL: the device's rule, decided per call by shape */
    const char *how;         /* "forced" (environment or sc_context_set_form),
                                "tuned" (measured now), "cached" (measured before,
                                read from the cache) or "rule" */
    int candidates;
    const char *names[3];
    double seconds[3];       /* a candidate's time on the workload; NaN: none */
} sc_form_info;

/* The form `family` runs on ctx ("gemm", "conv_layout", "norm", "rows",
 * "blas_threads", "attention"); a tunable family is tuned now if it is due. */
SC_API sc_status sc_context_form(sc_context *ctx, const char *family, sc_form_info *out);
/* The i-th kernel family with forms ("gemm", ...); NULL past the last. */
SC_API const char *sc_kernel_family_name(int i);

/* The host BLAS behind the "host" GEMM form (OpenBLAS): the kernel set it
 * runs, as openblas_get_corename() names it ("Cooperlake", "Haswell"). */
SC_API const char *sc_host_blas_core(void);

/* OpenBLAS picks its kernels from the CPU's model when it loads; a
 * hypervisor that hides the model can leave it on pre-AVX kernels
 * (Prescott), 3-4x slower at the cnn's GEMMs than those the CPU can run.
 * Returns the OPENBLAS_CORETYPE value that fits the CPU ("SkylakeX",
 * "Haswell", "Sandybridge") in that case; NULL when the choice is already
 * an AVX kind or OPENBLAS_CORETYPE is set. OpenBLAS reads the variable only
 * when it loads, so it takes effect in a new process: the spurcl program
 * sets it and re-executes itself; a program of yours can do the same or
 * set it before it starts. */
SC_API const char *sc_host_blas_better_core(void);

/* For a program's main(), first thing (before threads or MPI start): sets
 * what OpenBLAS reads only when it loads and re-executes the program
 * (/proc/self/exe, the same argv and pid): OPENBLAS_CORETYPE to the kernel
 * set sc_host_blas_better_core() names, if any, and OPENBLAS_THREAD_TIMEOUT
 * to 4 when unset, so OpenBLAS's threads sleep as soon as a GEMM ends
 * instead of spinning ~0.1 s on the cores the device's other kernels need
 * (on a 2-core CPU device, 15-25 % more training images per second), and
 * what PoCL reads: POCL_DEVICES to "pthread basic" when unset, so that a
 * context on the threaded CPU device can run small kernels on the basic
 * one (sc_device_narrow). Values already in the environment are kept.
 * Returns when there is nothing to set or the exec failed (the program
 * then runs on as it is). */
SC_API void sc_host_blas_fit(char **argv);

/* Whether a context on dev runs its small commands on a second device, and
 * its name (size bytes at most) and *items: PoCL's basic device beside its
 * threaded one on the same CPU (present when POCL_DEVICES names both, as
 * the spurcl program sets it; sc_device_list does not list it then),
 * unless SPURCL_NARROW=0. A kernel with up to *items work-items
 * (SPURCL_NARROW=N sets it) that finds the threaded device idle runs there,
 * in the calling thread: PoCL's threaded device takes 34-67 us to wake its
 * workers for a command and the caller after it, the basic one under 1 us.
 * A kernel that took over 100 us there twice stays on the threaded device
 * from then on at that size or more. The results are the same bits either
 * way (the same compiled kernels and work-group sizes). */
SC_API bool sc_device_narrow(const sc_device_info *dev, char *name, size_t size, size_t *items);

/* Waits until every command queued on the context has finished. */
SC_API sc_status sc_context_finish(sc_context *ctx);

/* What a context has asked of its device since it was created: kernels
 * enqueued by spurcl's own launches, GEMM calls (each may be several
 * kernels inside CLBlast, or the host BLAS on mapped buffers), buffer
 * commands (copy, fill, write, read), and host waits: calls that return
 * only when the queue has run up to them (clFinish, a blocking read or
 * write, the host GEMM's wait for its maps). The launches and waits per
 * training step are what a step pays beyond its arithmetic (bench/). */
typedef struct sc_queue_stats {
    uint64_t kernels;
    uint64_t gemms;
    uint64_t transfers;
    uint64_t host_waits;
    uint64_t narrow;   /* of the kernels, those run on the narrow device */
} sc_queue_stats;

SC_API void sc_context_queue_stats(const sc_context *ctx, sc_queue_stats *out);

#ifdef __cplusplus
}
#endif
#endif
