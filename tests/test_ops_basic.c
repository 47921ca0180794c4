/* Elementwise ops and reductions against double-precision host references,
 * on odd sizes and on views with offsets; reductions are bit-deterministic. */
#include "suite.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "spurcl/ops.h"

static const int64_t sizes[] = {1, 7, 13, 255, 256, 257, 4099, 1000003};
#define NSIZES (sizeof sizes / sizeof sizes[0])

START_TEST(elementwise)
{
    sc_rng rng;
    sc_rng_seed(&rng, 7);
    for (size_t s = 0; s < NSIZES; s++) {
        int64_t n = sizes[s];
        size_t un = (size_t)n;
        float *a = malloc(un * 4), *b = malloc(un * 4);
        double *want = malloc(un * sizeof *want);
        tu_normal(&rng, a, un);
        tu_normal(&rng, b, un);
        sc_tensor *ta = tu_tensor(1, &n, a), *tb = tu_tensor(1, &n, b), *ty;
        TU_OK(sc_tensor_create(tu_ctx(), SC_F32, 1, &n, &ty));

        TU_OK(sc_op_add(ty, ta, tb));
        float *got = tu_download(ty);
        for (size_t i = 0; i < un; i++) want[i] = (double)a[i] + b[i];
        tu_assert_close("add", got, want, un, 1e-7, 0);
        free(got);

        TU_OK(sc_op_mul(ty, ta, tb));
        got = tu_download(ty);
        for (size_t i = 0; i < un; i++) want[i] = (double)a[i] * b[i];
        tu_assert_close("mul", got, want, un, 1e-7, 0);
        free(got);

        TU_OK(sc_op_scale(ty, ta, -1.75f));
        got = tu_download(ty);
        for (size_t i = 0; i < un; i++) want[i] = -1.75 * a[i];
        tu_assert_close("scale", got, want, un, 1e-7, 0);
        free(got);

        /* axpy in place: b <- 0.3 a + b */
        TU_OK(sc_op_axpy(tb, 0.3f, ta));
        got = tu_download(tb);
        for (size_t i = 0; i < un; i++) want[i] = (double)0.3f * a[i] + b[i];
        tu_assert_close("axpy", got, want, un, 1e-6, 1e-7);
        free(got);

        /* aliasing: a <- a * a */
        TU_OK(sc_op_mul(ta, ta, ta));
        got = tu_download(ta);
        for (size_t i = 0; i < un; i++) want[i] = (double)a[i] * a[i];
        tu_assert_close("mul in place", got, want, un, 1e-7, 0);
        free(got);

        sc_tensor_free(ta); sc_tensor_free(tb); sc_tensor_free(ty);
        free(a); free(b); free(want);
    }
}
END_TEST

START_TEST(elementwise_on_views)
{
    /* Offsets: rows 7..12 of a [13, 7] tensor += 2 * rows 0..5; rows 6 untouched. */
    int64_t shape[2] = {13, 7};
    float h[91], g[91];
    for (int i = 0; i < 91; i++) h[i] = (float)i;
    sc_tensor *t = tu_tensor(2, shape, h), *v, *w;
    TU_OK(sc_tensor_slice(t, 7, 6, &v));
    TU_OK(sc_tensor_slice(t, 0, 6, &w));
    TU_OK(sc_op_axpy(v, 2.0f, w));
    TU_OK(sc_tensor_download(t, g));
    for (int i = 0; i < 91; i++) {
        double want = i >= 49 ? h[i] + 2.0 * h[i - 49] : h[i];
        ck_assert_msg(g[i] == (float)want, "element %d: %g vs %g", i, (double)g[i], want);
    }
    /* mismatched counts are refused */
    ck_assert_int_eq(sc_op_add(t, v, w), SC_ERR_INVALID_ARG);
    sc_tensor *w5;
    TU_OK(sc_tensor_slice(t, 0, 5, &w5));
    ck_assert_int_eq(sc_op_add(v, v, w5), SC_ERR_INVALID_ARG);
    sc_tensor_free(w5);
    sc_tensor_free(v); sc_tensor_free(w); sc_tensor_free(t);
}
END_TEST

static double ref_reduce(const float *x, size_t n, size_t stride, sc_reduce_op op)
{
    double acc = op == SC_REDUCE_MAX ? -INFINITY : 0.0;
    for (size_t i = 0; i < n; i++)
        acc = op == SC_REDUCE_MAX ? fmax(acc, x[i * stride]) : acc + x[i * stride];
    return op == SC_REDUCE_MEAN ? acc / (double)n : acc;
}

static double ref_abs_sum(const float *x, size_t n, size_t stride)
{
    double acc = 0;
    for (size_t i = 0; i < n; i++) acc += fabs(x[i * stride]);
    return acc;
}

START_TEST(reduce_all)
{
    sc_rng rng;
    sc_rng_seed(&rng, 11);
    int64_t one = 1;
    for (size_t s = 0; s < NSIZES; s++) {
        int64_t n = sizes[s];
        float *x = malloc((size_t)n * 4);
        tu_normal(&rng, x, (size_t)n);
        sc_tensor *tx = tu_tensor(1, &n, x), *out;
        TU_OK(sc_tensor_create(tu_ctx(), SC_F32, 1, &one, &out));
        for (int op = 0; op < 3; op++) {
            TU_OK(sc_op_reduce(out, tx, (sc_reduce_op)op));
            float got, again;
            TU_OK(sc_tensor_download(out, &got));
            double want = ref_reduce(x, (size_t)n, 1, (sc_reduce_op)op);
            /* float32 sum error bound: relative to the sum of magnitudes */
            double scale = op == SC_REDUCE_MAX ? fabs(want)
                                               : ref_abs_sum(x, (size_t)n, 1) /
                                                     (op == SC_REDUCE_MEAN ? (double)n : 1.0);
            ck_assert_msg(fabs(got - want) <= 1e-6 * scale + 1e-30,
                          "n=%lld op=%d: got %.9g want %.9g", (long long)n, op, (double)got, want);
            /* determinism: bit-identical on a second run */
            TU_OK(sc_op_reduce(out, tx, (sc_reduce_op)op));
            TU_OK(sc_tensor_download(out, &again));
            ck_assert_mem_eq(&got, &again, sizeof got);
        }
        sc_tensor_free(tx); sc_tensor_free(out);
        free(x);
    }
    /* empty: sum is 0, max and mean are refused */
    int64_t zero = 0;
    sc_tensor *e, *out;
    TU_OK(sc_tensor_create(tu_ctx(), SC_F32, 1, &zero, &e));
    TU_OK(sc_tensor_create(tu_ctx(), SC_F32, 1, &one, &out));
    TU_OK(sc_op_reduce(out, e, SC_REDUCE_SUM));
    float z = 1;
    TU_OK(sc_tensor_download(out, &z));
    ck_assert_float_eq(z, 0.0f);
    ck_assert_int_eq(sc_op_reduce(out, e, SC_REDUCE_MAX), SC_ERR_INVALID_ARG);
    sc_tensor_free(e); sc_tensor_free(out);
}
END_TEST

START_TEST(reduce_axis)
{
    /* Shapes that exercise both kernels (serial and group) and every axis. */
    const int64_t shapes[][3] = {{7, 13, 5}, {1, 1, 1}, {3, 100003, 1}, {100003, 3, 1},
                                 {2, 5000, 3}, {1, 257, 13}};
    sc_rng rng;
    sc_rng_seed(&rng, 13);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int64_t *sh = shapes[s];
        size_t n = (size_t)(sh[0] * sh[1] * sh[2]);
        float *x = malloc(n * 4);
        tu_normal(&rng, x, n);
        sc_tensor *tx = tu_tensor(3, sh, x);
        for (int axis = 0; axis < 3; axis++) {
            size_t outer = 1, inner = 1, len = (size_t)sh[axis];
            for (int i = 0; i < axis; i++) outer *= (size_t)sh[i];
            for (int i = axis + 1; i < 3; i++) inner *= (size_t)sh[i];
            int64_t nout = (int64_t)(outer * inner);
            sc_tensor *out;
            TU_OK(sc_tensor_create(tu_ctx(), SC_F32, 1, &nout, &out));
            double *want = malloc((size_t)nout * sizeof *want);
            for (int op = 0; op < 3; op++) {
                TU_OK(sc_op_reduce_axis(out, tx, axis - 3 * (axis == 2) /* also -1 */,
                                        (sc_reduce_op)op));
                float *got = tu_download(out);
                double worst = 0;
                for (size_t o = 0; o < outer; o++)
                    for (size_t i = 0; i < inner; i++) {
                        const float *p = x + o * len * inner + i;
                        size_t k = o * inner + i;
                        want[k] = ref_reduce(p, len, inner, (sc_reduce_op)op);
                        double sc = op == SC_REDUCE_MAX ? fabs(want[k])
                                    : ref_abs_sum(p, len, inner) /
                                          (op == SC_REDUCE_MEAN ? (double)len : 1.0);
                        double err = fabs(got[k] - want[k]) / (sc + 1e-30);
                        worst = fmax(worst, err);
                    }
                ck_assert_msg(worst <= 2e-6, "shape %lldx%lldx%lld axis %d op %d: rel err %g",
                              (long long)sh[0], (long long)sh[1], (long long)sh[2], axis, op,
                              worst);
                float *again;
                TU_OK(sc_op_reduce_axis(out, tx, axis, (sc_reduce_op)op));
                again = tu_download(out);
                ck_assert_mem_eq(got, again, (size_t)nout * 4);
                free(got); free(again);
            }
            free(want);
            sc_tensor_free(out);
        }
        sc_tensor_free(tx);
        free(x);
    }
}
END_TEST

START_TEST(reduce_axis_errors)
{
    int64_t sh[2] = {4, 5}, three = 3;
    float x[20] = {0};
    sc_tensor *t = tu_tensor(2, sh, x), *out;
    TU_OK(sc_tensor_create(tu_ctx(), SC_F32, 1, &three, &out));
    ck_assert_int_eq(sc_op_reduce_axis(out, t, 0, SC_REDUCE_SUM), SC_ERR_INVALID_ARG);
    ck_assert_int_eq(sc_op_reduce_axis(out, t, 2, SC_REDUCE_SUM), SC_ERR_INVALID_ARG);
    ck_assert_int_eq(sc_op_reduce_axis(out, t, -3, SC_REDUCE_SUM), SC_ERR_INVALID_ARG);
    sc_tensor *i32;
    TU_OK(sc_tensor_create(tu_ctx(), SC_I32, 2, sh, &i32));
    ck_assert_int_eq(sc_op_reduce(out, i32, SC_REDUCE_SUM), SC_ERR_INVALID_ARG);
    ck_assert_int_eq(sc_op_add(i32, i32, i32), SC_ERR_INVALID_ARG);
    sc_tensor_free(i32); sc_tensor_free(t); sc_tensor_free(out);
}
END_TEST

int main(void)
{
    const tu_case cases[] = {
        {"elementwise", 0, {elementwise, elementwise_on_views}},
        {"reduce", 0, {reduce_all, reduce_axis, reduce_axis_errors}},
    };
    return tu_run(TU_SUITE("ops_basic", cases));
}
