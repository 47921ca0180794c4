/* Internal core: context, buffers, tensors, programs and kernel launches.
 * Not installed; used by the layers above it (src/kernels/, src/nn/). */
#ifndef SC_CORE_CORE_H
#define SC_CORE_CORE_H

#include <CL/cl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "spurcl/device.h"
#include "spurcl/error.h"
#include "spurcl/tensor.h"

/* Records "<expr> failed: CL_NAME (file:line)" and returns SC_ERR_OPENCL
 * (SC_ERR_OUT_OF_MEMORY for allocation failures) from the enclosing function. */
#define SC_CL_CHECK(expr)                                                      \
    do {                                                                       \
        cl_int sc_cl_err_ = (expr);                                            \
        if (sc_cl_err_ != CL_SUCCESS)                                          \
            return sc_cl_error(sc_cl_err_, #expr, __FILE__, __LINE__);         \
    } while (0)

sc_status sc_cl_error(cl_int code, const char *expr, const char *file, int line);

/* ---- buffer pool ------------------------------------------------------ */

typedef struct sc_buffer {
    cl_mem mem;
    size_t bytes;          /* capacity (the pool's size class) */
    int refs;              /* tensors referring to it */
    struct sc_buffer *next_free;
} sc_buffer;

typedef struct sc_pool sc_pool;

sc_status sc_pool_create(sc_context *ctx, sc_pool **out);
void sc_pool_free(sc_pool *pool);
sc_status sc_pool_acquire(sc_pool *pool, size_t bytes, sc_buffer **out);
void sc_pool_release(sc_pool *pool, sc_buffer *buf);

/* ---- programs --------------------------------------------------------- */

typedef struct sc_program_cache sc_program_cache;

sc_status sc_program_cache_create(sc_program_cache **out);
void sc_program_cache_free(sc_program_cache *cache);

/* Builds (or returns the cached) program of kernel family `family` (a file
 * stem of cl/) with extra build options `defines` (may be NULL). The source
 * is the embedded one, or $SPURCL_KERNEL_DIR/<family>.cl when set. */
sc_status sc_program_get(sc_context *ctx, const char *family, const char *defines,
                         cl_program *out);

/* The cached kernel `name` of `family` built with `defines`. */
sc_status sc_kernel_get(sc_context *ctx, const char *family, const char *defines,
                        const char *name, cl_kernel *out);

/* Builds a program from an explicit source (not cached). On failure returns
 * SC_ERR_BUILD with the full compiler log in the detail. Caller releases. */
sc_status sc_program_build_source(sc_context *ctx, const char *label,
                                  const char *source, const char *defines,
                                  cl_program *out);

/* The options every program gets: -cl-std=CL1.2 and friends. */
const char *sc_program_base_options(const sc_context *ctx);

/* ---- context ---------------------------------------------------------- */

typedef struct sc_profile sc_profile;

/* Which form of a kernel family runs where a device could take either.
 * SC_FORM_AUTO lets the device decide (a CPU and a GPU want different
 * forms); the others force one. Read once from the environment when the
 * context is made (SPURCL_GEMM=clblast|native|host,
 * SPURCL_CONV_LAYOUT=rows|elements, SPURCL_NORM=channels|slices,
 * SPURCL_ROWS=groups|items, SPURCL_BLAS_THREADS=all|one|thin,
 * SPURCL_ATTENTION=tiles|rows|composed); tests
 * set them on a live context to cover every form on one device. */
typedef enum sc_form {
    SC_FORM_AUTO = 0,
    SC_FORM_GEMM_CLBLAST, SC_FORM_GEMM_NATIVE, SC_FORM_GEMM_HOST,
    SC_FORM_CONV_ROWS, SC_FORM_CONV_ELEMENTS,
    SC_FORM_NORM_CHANNELS, SC_FORM_NORM_SLICES,
    SC_FORM_ROWS_GROUPS, SC_FORM_ROWS_ITEMS,
    SC_FORM_BLAS_ALL, SC_FORM_BLAS_ONE, SC_FORM_BLAS_THIN,
    SC_FORM_ATTN_TILES, SC_FORM_ATTN_ROWS, SC_FORM_ATTN_COMPOSED,
} sc_form;

typedef struct sc_kernel_forms {
    sc_form gemm, conv_layout, norm, rows, blas_threads, attention;
} sc_kernel_forms;

/* The families, in sc_kernel_forms's order (forms.c). */
typedef enum sc_form_family {
    SC_FAMILY_GEMM, SC_FAMILY_CONV_LAYOUT, SC_FAMILY_NORM, SC_FAMILY_ROWS,
    SC_FAMILY_BLAS_THREADS, SC_FAMILY_ATTENTION, SC_FAMILY_COUNT
} sc_form_family;

/* The forms the environment forces (SPURCL_GEMM, ...); SC_FORM_AUTO where
 * it says nothing. An unknown value is an error naming the variable. */
sc_status sc_forms_from_env(sc_kernel_forms *f);
sc_status sc_form_family_of(const char *family, sc_form_family *out);

/* Per-context tuning state (forms.c): the mode (SPURCL_TUNE), the cache
 * file and the choices made. */
typedef struct sc_tune_state sc_tune_state;
sc_status sc_tune_state_create(sc_tune_state **out);
void sc_tune_state_free(sc_tune_state *ts);

/* A tunable family's workload: `run` enqueues one run under ctx->forms on
 * the tensors the tuner made (zeros of these shapes, before the timing and
 * freed after it). */
enum { SC_TUNE_MAX_TENSORS = 8 };
typedef struct sc_tune_workload {
    int ntensors;
    struct { int ndim; int64_t shape[4]; } tensors[SC_TUNE_MAX_TENSORS];
    sc_status (*run)(sc_context *ctx, sc_tensor *const *t);
} sc_tune_workload;

/* The form `fam` runs on ctx: the forced one if any; else the choice made
 * on this context; else, when tuning is on and `work` is given, the cached
 * choice for this device or (none cached) each candidate timed on `work`
 * and the fastest kept where it beats `rule` by 15 % or more, then cached;
 * else `rule`. A candidate whose workload fails is not one. Picks made
 * while measuring (the workload's own) take their rule. */
sc_form sc_form_pick(const sc_context *ctx, sc_form_family fam, sc_form rule,
                     const sc_tune_workload *work);

/* What ctx runs for fam (sc_context_form's body). */
sc_status sc_form_describe(const sc_context *ctx, sc_form_family fam, sc_form_info *out);

/* How many kernels sc_launch remembers as too slow for the narrow queue. */
#define SC_NARROW_SLOW_SLOTS 256

struct sc_context {
    sc_profile *profile;    /* SPURCL_PROFILE=path: per-kernel times, else NULL */
    sc_device_info dev;
    cl_context cl;
    cl_command_queue queue;
    /* PoCL's "basic" device beside its threaded one, in the same context
     * (sc_queue_pick): it runs each command in the thread that enqueues it,
     * where the threaded device's workers take 34-67 us to wake for a
     * command that takes a few. NULL elsewhere, or with SPURCL_NARROW=0. */
    cl_command_queue narrow;
    cl_device_id narrow_dev;
    size_t narrow_items;   /* the most work-items a command run there has */
    bool wide_busy;        /* queue has commands no wait has covered yet */
    bool narrow_busy;      /* likewise for narrow */
    /* per kernel, the fewest work-items it took too long for on narrow */
    struct sc_narrow_slow {
        cl_kernel kernel;
        size_t items;       /* 0: none yet */
        size_t strike;      /* the work-items of a first slow run, 0: none */
    } narrow_slow[SC_NARROW_SLOW_SLOTS];
    sc_pool *pool;
    sc_program_cache *programs;
    size_t wg_size;        /* preferred 1-D work-group size for our kernels */
    size_t max_items[3];   /* CL_DEVICE_MAX_WORK_ITEM_SIZES of the first 3 dims */
    bool native_kernels;   /* CL_EXEC_NATIVE_KERNEL: the host GEMM can be queued */
    char base_options[256];
    sc_kernel_forms forms;  /* kernel forms forced by the environment */
    sc_tune_state *tune;    /* measured choices where none is forced */
    sc_queue_stats qstats;  /* sc_context_queue_stats */
};

/* ---- tensors ---------------------------------------------------------- */

struct sc_tensor {
    sc_context *ctx;
    sc_dtype dtype;
    int ndim;
    int64_t shape[SC_MAX_DIMS];
    int64_t numel;
    sc_buffer *buf;
    size_t offset;         /* in elements */
};

static inline cl_mem sc_tensor_mem(const sc_tensor *t) { return t->buf->mem; }

/* SC_OK when t is float32 and addressable with 32-bit indices; else an
 * error naming op and the tensor (`name`). */
sc_status sc_check_f32(const sc_tensor *t, const char *op, const char *name);

/* SC_OK when the output `out` shares no buffer with any of the n inputs
 * (NULL entries skipped); else an error naming op. The kernels that
 * declare their buffers restrict (cl/conv.cl, cl/pool.cl, cl/shape.cl)
 * would compute garbage on aliased buffers; their hosts check first. */
sc_status sc_check_distinct(const char *op, const sc_tensor *out, int n,
                            const sc_tensor *const *in);

/* ---- kernel launch helpers ------------------------------------------- */

/* Argument list for sc_launch: each entry is a (size, pointer) pair. */
typedef struct sc_karg {
    size_t size;
    const void *ptr;
} sc_karg;

#define SC_ARG(x) ((sc_karg){sizeof(x), &(x)})
#define SC_ARG_LOCAL(bytes) ((sc_karg){(bytes), NULL})

/* Sets the arguments and enqueues `kernel` over a 1-, 2- or 3-D range; `global`
 * is rounded up to a multiple of `local` (kernels guard their bounds). */
sc_status sc_launch(sc_context *ctx, cl_kernel kernel, const char *name,
                    int dims, const size_t *global, const size_t *local,
                    size_t nargs, const sc_karg *args);

/* The work-group of a 2-D or 3-D grid whose first axis runs along rows of
 * `cols` elements: the row's columns up to the work-group size (a power of
 * two), then rows when the columns are fewer; each axis within the
 * device's CL_DEVICE_MAX_WORK_ITEM_SIZES. */
void sc_row_group(const sc_context *ctx, size_t cols, size_t local[3]);

/* The work-group size of sc_launch_1d's grid over n work-items: the
 * context's, or on a CPU device smaller when n is small, so that every
 * compute unit gets work. */
size_t sc_local_1d(const sc_context *ctx, size_t n);

/* The cached kernel `name` of `family` (built with `defines`) over n
 * work-items (rounded up) in work-groups of sc_local_1d(ctx, n). */
sc_status sc_launch_1d(sc_context *ctx, const char *family, const char *defines,
                       const char *name, size_t n, size_t nargs, const sc_karg *args);

/* The same kernel over `groups` work-groups of the context's size (the
 * kernels that reduce one output per work-group; none when groups is 0). */
sc_status sc_launch_groups(sc_context *ctx, const char *family, const char *defines,
                           const char *name, size_t groups, size_t nargs, const sc_karg *args);

/* Profiling (SPURCL_PROFILE=path.csv): kernel times are added per name;
 * host-side work (host GEMM) is added with sc_profile_add. The table is
 * written when the context is freed. */
sc_status sc_profile_open(sc_context *ctx, const char *path);
void sc_profile_add(sc_context *ctx, const char *name, double ns);
void sc_profile_close(sc_context *ctx);

/* The queue for the next command, over `items` work-items (elements for a
 * fill or copy, 0 for a read, write or map): ctx->narrow when there is one,
 * the command is small enough and the device's own queue has nothing
 * unfinished (so no command of it can come before this one); else
 * ctx->queue, after narrow's commands end. The queues are in order, so at
 * most one of them holds unfinished work: together they keep the order of
 * one in-order queue. Every command of the context goes through here. */
sc_status sc_queue_pick(sc_context *ctx, size_t items, cl_command_queue *out);

/* After a wait on q that covers everything enqueued on it (clFinish, a
 * blocking transfer, the events of its last commands). */
void sc_queue_waited(sc_context *ctx, cl_command_queue q);

/* Rounds n up to a multiple of m. */
static inline size_t sc_round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }

#endif
