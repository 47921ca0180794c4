/* spurcl selftest: a smoke computation on the selected device, checked
 * against double-precision host arithmetic. Proves that the device, the
 * kernel build and the transfers work before a long job starts. */
#define _GNU_SOURCE
#include "cli.h"
#include "opts.h"
#include "spurcl/sys.h"
#include "spurcl/ops.h"
#include "spurcl/rng.h"
#include "spurcl/tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void defaults(sc_cli_args *a)
{
    a->size = 1000003;
}

typedef struct st_bufs {
    float *x, *y, *z, *rows;
    sc_tensor *tx, *ty, *tsum, *tmax, *trows, *tview;
} st_bufs;

static void free_bufs(st_bufs *b)
{
    free(b->x); free(b->y); free(b->z); free(b->rows);
    sc_tensor_free(b->tx); sc_tensor_free(b->ty); sc_tensor_free(b->tsum);
    sc_tensor_free(b->tmax); sc_tensor_free(b->trows); sc_tensor_free(b->tview);
}

static sc_status compute(sc_context *ctx, int64_t n, st_bufs *b, double *err_out, float *dsum,
                     double *hsum)
{
    int64_t rows = n / 1000;
    b->x = malloc((size_t)n * sizeof(float));
    b->y = malloc((size_t)n * sizeof(float));
    b->z = malloc((size_t)n * sizeof(float));
    b->rows = malloc((size_t)(rows ? rows : 1) * sizeof(float));
    if (!b->x || !b->y || !b->z || !b->rows)
        return sc_error_set(SC_ERR_OUT_OF_MEMORY, "out of host memory");
    sc_rng rng;
    sc_rng_seed(&rng, 42);
    for (int64_t i = 0; i < n; i++) {
        b->x[i] = (float)sc_rng_normal(&rng);
        b->y[i] = (float)sc_rng_uniform(&rng);
    }
    int64_t one = 1;

    sc_status st;
    if ((st = sc_tensor_from_host(ctx, SC_F32, 1, &n, b->x, &b->tx)) != SC_OK ||
        (st = sc_tensor_from_host(ctx, SC_F32, 1, &n, b->y, &b->ty)) != SC_OK ||
        (st = sc_op_axpy(b->ty, 2.5f, b->tx)) != SC_OK ||
        (st = sc_tensor_create(ctx, SC_F32, 1, &one, &b->tsum)) != SC_OK ||
        (st = sc_tensor_create(ctx, SC_F32, 1, &one, &b->tmax)) != SC_OK ||
        (st = sc_op_reduce(b->tsum, b->ty, SC_REDUCE_SUM)) != SC_OK ||
        (st = sc_op_reduce(b->tmax, b->ty, SC_REDUCE_MAX)) != SC_OK ||
        (st = sc_tensor_download(b->ty, b->z)) != SC_OK)
        return st;
    if (rows > 0) {
        int64_t shape[2] = {rows, 1000};
        sc_tensor *head;
        if ((st = sc_tensor_slice(b->ty, 0, rows * 1000, &head)) != SC_OK)
            return st;
        st = sc_tensor_reshape(head, 2, shape, &b->tview);
        sc_tensor_free(head);
        if (st != SC_OK ||
            (st = sc_tensor_create(ctx, SC_F32, 1, &rows, &b->trows)) != SC_OK ||
            (st = sc_op_reduce_axis(b->trows, b->tview, 1, SC_REDUCE_SUM)) != SC_OK ||
            (st = sc_tensor_download(b->trows, b->rows)) != SC_OK)
            return st;
    }
    float dmax;
    if ((st = sc_tensor_download(b->tsum, dsum)) != SC_OK ||
        (st = sc_tensor_download(b->tmax, &dmax)) != SC_OK)
        return st;

    double s = 0, sabs = 0, m = -INFINITY, worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double z = 2.5 * (double)b->x[i] + (double)b->y[i];
        worst = fmax(worst, fabs(z - b->z[i]) / (fabs(z) + 1e-6));
        s += z;
        sabs += fabs(z);
        m = fmax(m, z);
    }
    worst = fmax(worst, fabs(s - *dsum) / sabs);
    worst = fmax(worst, fabs(m - dmax) / fabs(m));
    for (int64_t r = 0; r < rows; r++) {
        double rs = 0, ra = 0;
        for (int64_t j = 0; j < 1000; j++) {
            double z = 2.5 * (double)b->x[r * 1000 + j] + (double)b->y[r * 1000 + j];
            rs += z;
            ra += fabs(z);
        }
        worst = fmax(worst, fabs(rs - b->rows[r]) / ra);
    }
    *err_out = worst;
    *hsum = s;
    return SC_OK;
}

static int run(const sc_cli_global *g, sc_cli_args *a, sc_cli_session *s)
{
    (void)s;
    long long n = a->size;
    double t0 = sc_time_now();
    sc_context *ctx;
    if (sc_context_create(g->device, &ctx) != SC_OK)
        return sc_cli_fail("opening the device");
    const sc_device_info *d = sc_context_device(ctx);
    printf("device   %d:%d %s (%s, %s)\n", d->platform_index, d->device_index, d->name,
           sc_device_type_name(d->type), d->platform_name);
    st_bufs b = {0};
    double worst = 0, hsum = 0;
    float dsum = 0;
    sc_status st = compute(ctx, (int64_t)n, &b, &worst, &dsum, &hsum);
    free_bufs(&b);
    double t1 = sc_time_now();
    sc_context_free(ctx);
    if (st != SC_OK)
        return sc_cli_fail("selftest");
    printf("elements %lld\n", n);
    printf("sum      device %.6g  host %.6g\n", (double)dsum, hsum);
    printf("max rel. error %.3g (limit 1e-5)\n", worst);
    printf("time     %.2f s (including kernel builds)\n", t1 - t0);
    if (!(worst <= 1e-5)) {
        fprintf(stderr, "spurcl: selftest: device results differ from the host (error %.3g)\n",
                worst);
        return SC_EXIT_FAIL;
    }
    printf("selftest passed\n");
    return SC_EXIT_OK;
}

static const sc_cli_spec spec = {
    "selftest", SC_CLI_SELFTEST, "spurcl [--device SEL] selftest [--size N] [--help]",
    "Opens the selected device, builds the kernels, and computes\n"
    "z = 2.5*x + y, sum(z), max(z) and the row sums of z viewed as\n"
    "[N/1000, 1000] on N random numbers, then compares with double-precision\n"
    "host arithmetic. Exit 0 when they agree.\n",
    defaults, NULL, SC_CLI_OPENS_NOTHING, run, .flat = true,
};

SC_CLI_COMMAND(sc_cmd_selftest, spec)
