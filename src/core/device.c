/* Device enumeration, selection and the execution context. */
#include "core/core.h"
#include "spurcl/dist.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NO_PLATFORM_HINT                                                       \
    "no OpenCL platform is installed: install pocl-opencl-icd for the CPU "    \
    "(apt-get install pocl-opencl-icd), or your GPU vendor's ICD "             \
    "(nvidia-opencl-icd, mesa-opencl-icd, intel-opencl-icd)"

const char *sc_device_type_name(sc_device_type type)
{
    switch (type) {
    case SC_DEVICE_CPU: return "CPU";
    case SC_DEVICE_GPU: return "GPU";
    case SC_DEVICE_ACCELERATOR: return "accelerator";
    default: return "other";
    }
}

/* An integer device property of `bytes` bytes (cl_uint, cl_ulong, size_t,
 * bitfields), 0 when the query fails. */
static uint64_t info_u64(cl_device_id d, cl_device_info param, size_t bytes)
{
    union {
        cl_uint u32;
        cl_ulong u64;
        size_t sz;
    } v;
    memset(&v, 0, sizeof v);
    if (bytes > sizeof v || clGetDeviceInfo(d, param, bytes, &v, NULL) != CL_SUCCESS)
        return 0;
    return bytes == sizeof(cl_uint) ? v.u32 : bytes == sizeof(size_t) ? (uint64_t)v.sz : v.u64;
}

static void get_str(cl_device_id d, cl_device_info what, char *buf, size_t size)
{
    buf[0] = '\0';
    if (clGetDeviceInfo(d, what, size, buf, NULL) != CL_SUCCESS)
        buf[0] = '\0';
    buf[size - 1] = '\0';
}

static void fill_info(sc_device_info *info, cl_platform_id p, cl_device_id d, int pi, int di)
{
    memset(info, 0, sizeof *info);
    info->platform_index = pi;
    info->device_index = di;
    info->cl_platform = p;
    info->cl_device = d;
    if (clGetPlatformInfo(p, CL_PLATFORM_NAME, sizeof info->platform_name,
                          info->platform_name, NULL) != CL_SUCCESS)
        info->platform_name[0] = '\0';
    if (clGetPlatformInfo(p, CL_PLATFORM_VERSION, sizeof info->platform_version,
                          info->platform_version, NULL) != CL_SUCCESS)
        info->platform_version[0] = '\0';
    info->platform_name[sizeof info->platform_name - 1] = '\0';
    info->platform_version[sizeof info->platform_version - 1] = '\0';
    get_str(d, CL_DEVICE_NAME, info->name, sizeof info->name);
    get_str(d, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
    get_str(d, CL_DRIVER_VERSION, info->driver_version, sizeof info->driver_version);
    get_str(d, CL_DEVICE_OPENCL_C_VERSION, info->opencl_c_version, sizeof info->opencl_c_version);

    cl_device_type t = 0;
    clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof t, &t, NULL);
    info->type = (t & CL_DEVICE_TYPE_GPU)           ? SC_DEVICE_GPU
                 : (t & CL_DEVICE_TYPE_ACCELERATOR) ? SC_DEVICE_ACCELERATOR
                 : (t & CL_DEVICE_TYPE_CPU)         ? SC_DEVICE_CPU
                                                    : SC_DEVICE_OTHER;
    info->compute_units = (unsigned)info_u64(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof(cl_uint));
    info->max_clock_mhz = (unsigned)info_u64(d, CL_DEVICE_MAX_CLOCK_FREQUENCY, sizeof(cl_uint));
    info->global_mem_bytes = info_u64(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof(cl_ulong));
    info->local_mem_bytes = info_u64(d, CL_DEVICE_LOCAL_MEM_SIZE, sizeof(cl_ulong));
    info->max_alloc_bytes = info_u64(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof(cl_ulong));
    info->max_work_group_size = (size_t)info_u64(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof(size_t));
    info->fp64 = info_u64(d, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof(cl_device_fp_config)) != 0;
    cl_bool hum = CL_FALSE;
    if (clGetDeviceInfo(d, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof hum, &hum, NULL) == CL_SUCCESS)
        info->host_unified_memory = hum == CL_TRUE;
}

/* Commands of up to this many work-items run on the narrow queue (see
 * narrow_companion). */
#define SC_NARROW_ITEMS 32768

/* SPURCL_NARROW: unset, the default limit; 0, off; N, the limit. False
 * when off or not a count (narrow_env_check names the variable). */
static bool narrow_items_from_env(size_t *items)
{
    *items = SC_NARROW_ITEMS;
    const char *env = getenv("SPURCL_NARROW");
    if (!env || !*env)
        return true;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(env, &end, 10);
    if (*end || v == 0 || errno || env[0] == '-' || v > SIZE_MAX)
        return false;
    *items = (size_t)v;
    return true;
}

/* SC_OK when SPURCL_NARROW is unset, 0 or a count; else an error naming it,
 * as the form variables' are (a context does not open on it). */
static sc_status narrow_env_check(void)
{
    const char *env = getenv("SPURCL_NARROW");
    size_t items;
    if (!env || !*env || strcmp(env, "0") == 0 || narrow_items_from_env(&items))
        return SC_OK;
    return sc_error_set(SC_ERR_INVALID_ARG,
                        "SPURCL_NARROW '%s': expected 0 (off) or the most work-items of a "
                        "kernel run on PoCL's basic device (default %d)",
                        env, SC_NARROW_ITEMS);
}

/* PoCL's basic device beside its threaded one on the same CPU: names
 * "basic-skylake-avx512-AMD EPYC" and "pthread-skylake-avx512-AMD EPYC". */
static bool companion_name(const char *threaded, const char *name)
{
    return strncmp(threaded, "pthread-", 8) == 0 && strncmp(name, "basic-", 6) == 0 &&
           strcmp(name + 6, threaded + 8) == 0;
}

static bool companion_of(const sc_device_info *dev, const char *name)
{
    return dev->type == SC_DEVICE_CPU &&
           strcmp(dev->platform_name, "Portable Computing Language") == 0 &&
           companion_name(dev->name, name);
}

/* devs[d] is such a basic device and its threaded one is among devs: it
 * serves that one (narrow_companion) and is not listed itself. Alone
 * (POCL_DEVICES=basic) it is listed as any device. */
static bool is_companion(cl_device_id *devs, cl_uint nd, cl_uint d)
{
    char name[256], other[256];
    get_str(devs[d], CL_DEVICE_NAME, name, sizeof name);
    if (strncmp(name, "basic-", 6) != 0)
        return false;
    for (cl_uint i = 0; i < nd; i++) {
        if (i == d)
            continue;
        get_str(devs[i], CL_DEVICE_NAME, other, sizeof other);
        if (companion_name(other, name))
            return true;
    }
    return false;
}

/* PoCL's threaded CPU device ("pthread") wakes a worker thread for each
 * command queued after its workers went idle, and the host thread again
 * when it ends: 34-67 us on the 2-core EPYC KVM guest for a kernel that
 * computes for 1-10 us, where PyTorch's spinning threads answer in a few.
 * PoCL's "basic" device runs a command in the thread that enqueues it (a
 * kernel enqueued and waited for: 0.85 us against 34 us), on that thread
 * alone. So a context on the threaded device also takes the basic device
 * of the same platform when the environment lists it (POCL_DEVICES, which
 * sc_host_blas_fit sets), and runs there the small commands that find the
 * threaded device idle (sc_queue_pick): a step's small kernels and small
 * GEMMs after a wait. Both devices run the same compiled kernels with the
 * same work-group sizes, so the results are the same bits either way.
 * Returns the device or NULL; *items the limit. */
static cl_device_id narrow_companion(const sc_device_info *dev, size_t *items)
{
    if (!narrow_items_from_env(items) || dev->type != SC_DEVICE_CPU ||
        strncmp(dev->name, "pthread-", 8) != 0)
        return NULL;
    cl_uint nd = 0;
    if (clGetDeviceIDs(dev->cl_platform, CL_DEVICE_TYPE_CPU, 0, NULL, &nd) != CL_SUCCESS || nd < 2)
        return NULL;
    cl_device_id *all = calloc(nd, sizeof *all), found = NULL;
    if (!all || clGetDeviceIDs(dev->cl_platform, CL_DEVICE_TYPE_CPU, nd, all, NULL) != CL_SUCCESS)
        nd = 0;
    for (cl_uint i = 0; i < nd && !found; i++) {
        char name[sizeof dev->name];
        get_str(all[i], CL_DEVICE_NAME, name, sizeof name);
        if (companion_of(dev, name))
            found = all[i];
    }
    free(all);
    return found;
}

bool sc_device_narrow(const sc_device_info *dev, char *name, size_t size, size_t *items)
{
    cl_device_id d = narrow_companion(dev, items);
    if (!d)
        return false;
    get_str(d, CL_DEVICE_NAME, name, size);
    return true;
}

sc_status sc_device_list(sc_device_info **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &np);
    if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || (err == CL_SUCCESS && np == 0))
        return sc_error_set(SC_ERR_NO_PLATFORM, NO_PLATFORM_HINT);
    if (err != CL_SUCCESS)
        return sc_cl_error(err, "clGetPlatformIDs", __FILE__, __LINE__);

    cl_platform_id *plats = calloc(np, sizeof *plats);
    if (!plats)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory listing platforms");
    err = clGetPlatformIDs(np, plats, NULL);
    if (err != CL_SUCCESS) {
        free(plats);
        return sc_cl_error(err, "clGetPlatformIDs", __FILE__, __LINE__);
    }

    size_t cap = 8, n = 0;
    sc_device_info *list = calloc(cap, sizeof *list);
    if (!list) {
        free(plats);
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory listing devices");
    }
    for (cl_uint p = 0; p < np; p++) {
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS || nd == 0)
            continue; /* a platform without devices (or broken) is skipped */
        cl_device_id *devs = calloc(nd, sizeof *devs);
        if (!devs || clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, nd, devs, NULL) != CL_SUCCESS) {
            free(devs);
            continue;
        }
        int kept = 0;
        for (cl_uint d = 0; d < nd; d++) {
            if (is_companion(devs, nd, d))
                continue;
            if (n == cap) {
                sc_device_info *grown = realloc(list, 2 * cap * sizeof *list);
                if (!grown) {
                    free(devs);
                    free(plats);
                    free(list);
                    return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory listing devices");
                }
                list = grown;
                cap *= 2;
            }
            fill_info(&list[n++], plats[p], devs[d], (int)p, kept++);
        }
        free(devs);
    }
    free(plats);
    if (n == 0) {
        free(list);
        return sc_error_set(SC_ERR_NO_PLATFORM,
                            "OpenCL platforms exist but none has a device; " NO_PLATFORM_HINT);
    }
    *out = list;
    *count = n;
    return SC_OK;
}

void sc_device_list_free(sc_device_info *list) { free(list); }

const char *sc_device_selector_default(const char *selector)
{
    if (selector && *selector)
        return selector;
    const char *env = getenv("SPURCL_DEVICE");
    if (env && *env)
        return env;
    return "auto";
}

static int type_rank(sc_device_type t)
{
    switch (t) {
    case SC_DEVICE_GPU: return 3;
    case SC_DEVICE_ACCELERATOR: return 2;
    case SC_DEVICE_CPU: return 1;
    default: return 0;
    }
}

/* True when a ranks above b for "auto": type first, then CUs x clock. */
static bool better(const sc_device_info *a, const sc_device_info *b)
{
    int ra = type_rank(a->type), rb = type_rank(b->type);
    if (ra != rb)
        return ra > rb;
    uint64_t sa = (uint64_t)a->compute_units * a->max_clock_mhz;
    uint64_t sb = (uint64_t)b->compute_units * b->max_clock_mhz;
    return sa > sb;
}

static bool icontains(const char *hay, const char *needle)
{
    size_t hn = strlen(hay), nn = strlen(needle);
    if (nn == 0)
        return false;
    for (size_t i = 0; i + nn <= hn; i++) {
        size_t k = 0;
        while (k < nn && tolower((unsigned char)hay[i + k]) == tolower((unsigned char)needle[k]))
            k++;
        if (k == nn)
            return true;
    }
    return false;
}

static bool parse_index(const char *s, int *p, int *d)
{
    char tail;
    return sscanf(s, "%d:%d%c", p, d, &tail) == 2 && *p >= 0 && *d >= 0;
}

static sc_status not_found(const sc_device_info *list, size_t count, const char *selector)
{
    char buf[2048];
    size_t len = 0;
    for (size_t i = 0; i < count && len < sizeof buf - 1; i++) {
        int w = snprintf(buf + len, sizeof buf - len, "%s%d:%d %s (%s, %s)", i ? "; " : "",
                         list[i].platform_index, list[i].device_index, list[i].name,
                         sc_device_type_name(list[i].type), list[i].platform_name);
        if (w < 0)
            break;
        len += (size_t)w;
    }
    return sc_error_set(SC_ERR_DEVICE_NOT_FOUND,
                        "no OpenCL device matches '%s'; devices present: %s "
                        "(select with auto, gpu, cpu, accelerator, P:D or a name substring)",
                        selector, buf);
}

/* Under mpirun with several ranks on this machine, a type selector (auto,
 * gpu, cpu, accelerator) spreads them over the devices of the chosen one's
 * type: local rank r takes the (r mod k)-th of those k devices in the order
 * "auto" ranks them (the best first), so one process alone, or local rank
 * 0, gets what it always got. */
static size_t spread(const sc_device_info *list, size_t count, size_t best)
{
    int r = sc_dist_local_rank();
    if (sc_dist_local_size() < 2 || r < 1)
        return best;
    size_t k = 0, *same = malloc(count * sizeof *same);
    if (!same)
        return best;
    for (size_t i = 0; i < count; i++)
        if (list[i].type == list[best].type)
            same[k++] = i;
    /* insertion sort, best first (stable: listing order on ties) */
    for (size_t i = 1; i < k; i++)
        for (size_t j = i; j > 0 && better(&list[same[j]], &list[same[j - 1]]); j--) {
            size_t t = same[j];
            same[j] = same[j - 1];
            same[j - 1] = t;
        }
    size_t pick = k ? same[(size_t)r % k] : best;
    free(same);
    return pick;
}

sc_status sc_device_select(const sc_device_info *list, size_t count, const char *selector,
                           size_t *index)
{
    selector = sc_device_selector_default(selector);
    long best = -1;
    int p, d;
    sc_device_type want = 0;
    if (strcmp(selector, "auto") == 0)
        want = 0;
    else if (strcmp(selector, "gpu") == 0 || strcmp(selector, "GPU") == 0)
        want = SC_DEVICE_GPU;
    else if (strcmp(selector, "cpu") == 0 || strcmp(selector, "CPU") == 0)
        want = SC_DEVICE_CPU;
    else if (strcmp(selector, "accelerator") == 0)
        want = SC_DEVICE_ACCELERATOR;
    else if (parse_index(selector, &p, &d)) {
        for (size_t i = 0; i < count; i++)
            if (list[i].platform_index == p && list[i].device_index == d) {
                *index = i;
                return SC_OK;
            }
        return not_found(list, count, selector);
    } else {
        for (size_t i = 0; i < count; i++)
            if (icontains(list[i].name, selector) && (best < 0 || better(&list[i], &list[best])))
                best = (long)i;
        if (best < 0)
            return not_found(list, count, selector);
        *index = (size_t)best;
        return SC_OK;
    }
    for (size_t i = 0; i < count; i++) {
        if (want && list[i].type != want)
            continue;
        if (best < 0 || better(&list[i], &list[best]))
            best = (long)i;
    }
    if (best < 0)
        return not_found(list, count, selector);
    *index = spread(list, count, (size_t)best);
    return SC_OK;
}

sc_status sc_context_create(const char *selector, sc_context **out)
{
    *out = NULL;
    sc_device_info *list = NULL;
    size_t count = 0, idx = 0;
    sc_kernel_forms forms;
    SC_TRY(sc_forms_from_env(&forms));
    SC_TRY(narrow_env_check());
    SC_TRY(sc_device_list(&list, &count));
    sc_status st = sc_device_select(list, count, selector, &idx);
    if (st != SC_OK) {
        sc_device_list_free(list);
        return st;
    }
    sc_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        sc_device_list_free(list);
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory creating a context");
    }
    ctx->dev = list[idx];
    ctx->forms = forms;
    sc_device_list_free(list);

    cl_device_id dev = ctx->dev.cl_device;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM,
                                     (cl_context_properties)ctx->dev.cl_platform, 0};
    cl_int err;
    cl_device_id devs[2] = {dev, narrow_companion(&ctx->dev, &ctx->narrow_items)};
    ctx->cl = clCreateContext(props, devs[1] ? 2 : 1, devs, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
        st = sc_error_wrap(sc_cl_error(err, "clCreateContext", __FILE__, __LINE__),
                           "opening device %d:%d (%s)", ctx->dev.platform_index,
                           ctx->dev.device_index, ctx->dev.name);
        free(ctx);
        return st;
    }
    const char *prof = getenv("SPURCL_PROFILE");
    cl_command_queue_properties qprops = prof && *prof ? CL_QUEUE_PROFILING_ENABLE : 0;
    ctx->queue = clCreateCommandQueue(ctx->cl, dev, qprops, &err);
    if (err == CL_SUCCESS && devs[1]) {
        ctx->narrow_dev = devs[1];
        ctx->narrow = clCreateCommandQueue(ctx->cl, devs[1], qprops, &err);
    }
    if (err != CL_SUCCESS) {
        st = sc_cl_error(err, "clCreateCommandQueue", __FILE__, __LINE__);
        sc_context_free(ctx);
        return st;
    }
    /* CL_DEVICE_MAX_WORK_ITEM_SIZES has one entry per dimension (at least 3) */
    size_t items[16] = {0};
    cl_uint ndims = 0;
    if (clGetDeviceInfo(dev, CL_DEVICE_MAX_WORK_ITEM_DIMENSIONS, sizeof ndims, &ndims, NULL) !=
            CL_SUCCESS ||
        ndims < 3 || ndims > 16 ||
        clGetDeviceInfo(dev, CL_DEVICE_MAX_WORK_ITEM_SIZES, ndims * sizeof(size_t), items, NULL) !=
            CL_SUCCESS)
        items[0] = items[1] = items[2] = 1; /* a device that does not say: the least */
    for (int d = 0; d < 3; d++)
        ctx->max_items[d] = items[d] ? items[d] : 1;
    cl_device_exec_capabilities caps = 0;
    ctx->native_kernels =
        clGetDeviceInfo(dev, CL_DEVICE_EXECUTION_CAPABILITIES, sizeof caps, &caps, NULL) ==
            CL_SUCCESS &&
        (caps & CL_EXEC_NATIVE_KERNEL);
    ctx->wg_size = ctx->dev.max_work_group_size < 256 ? ctx->dev.max_work_group_size : 256;
    if (ctx->wg_size > ctx->max_items[0]) /* the 1-D launches' only axis */
        ctx->wg_size = ctx->max_items[0];
    /* The work-group size our reduction kernels assume must be a power of two. */
    while (ctx->wg_size & (ctx->wg_size - 1))
        ctx->wg_size &= ctx->wg_size - 1;
    if (ctx->wg_size == 0) /* a device reporting no work-group size */
        ctx->wg_size = 1;

    /* -cl-std follows the device's OpenCL C version, never the platform's. */
    int cmaj = 1, cmin = 0;
    if (sscanf(ctx->dev.opencl_c_version, "OpenCL C %d.%d", &cmaj, &cmin) != 2) {
        cmaj = 1;
        cmin = 0;
    }
    bool cl12 = cmaj > 1 || (cmaj == 1 && cmin >= 2);
    const char *fast = getenv("SPURCL_FAST_MATH");
    snprintf(ctx->base_options, sizeof ctx->base_options, "%s -DSC_WG=%zu%s",
             cl12 ? "-cl-std=CL1.2" : "", ctx->wg_size,
             (fast && strcmp(fast, "1") == 0) ? " -cl-fast-relaxed-math" : "");

    if ((st = sc_tune_state_create(&ctx->tune)) != SC_OK ||
        (st = sc_pool_create(ctx, &ctx->pool)) != SC_OK ||
        (st = sc_program_cache_create(&ctx->programs)) != SC_OK ||
        (prof && *prof && (st = sc_profile_open(ctx, prof)) != SC_OK)) {
        sc_context_free(ctx);
        return st;
    }
    *out = ctx;
    return SC_OK;
}

void sc_context_free(sc_context *ctx)
{
    if (!ctx)
        return;
    if (ctx->queue)
        clFinish(ctx->queue);
    if (ctx->narrow)
        clFinish(ctx->narrow);
    sc_profile_close(ctx);
    sc_program_cache_free(ctx->programs);
    sc_pool_free(ctx->pool);
    sc_tune_state_free(ctx->tune);
    if (ctx->queue)
        clReleaseCommandQueue(ctx->queue);
    if (ctx->narrow)
        clReleaseCommandQueue(ctx->narrow);
    if (ctx->cl)
        clReleaseContext(ctx->cl);
    free(ctx);
}

const sc_device_info *sc_context_device(const sc_context *ctx) { return &ctx->dev; }

sc_status sc_context_finish(sc_context *ctx)
{
    ctx->qstats.host_waits++;
    /* both, whatever the flags say: a finish of an empty queue is free */
    if (ctx->narrow)
        SC_CL_CHECK(clFinish(ctx->narrow));
    SC_CL_CHECK(clFinish(ctx->queue));
    ctx->narrow_busy = ctx->wide_busy = false;
    return SC_OK;
}

void sc_context_queue_stats(const sc_context *ctx, sc_queue_stats *out) { *out = ctx->qstats; }

const char *sc_program_base_options(const sc_context *ctx) { return ctx->base_options; }
