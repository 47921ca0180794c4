/* Shared helpers for the Check suites. */
#ifndef SC_TESTUTIL_H
#define SC_TESTUTIL_H

#include <check.h>

#include "suite.h"
#include <stddef.h>
#include <stdint.h>

#include "spurcl/device.h"
#include "spurcl/rng.h"
#include "spurcl/tensor.h"

/* One context for the whole test process (opened lazily, on $SPURCL_DEVICE
 * or auto). Fails the test with the library's message if none can be made. */
sc_context *tu_ctx(void);

/* Runs BODY once per form of a kernel family on tu_ctx() (the forms listed,
 * in order, as sc_context_set_form names them), so that one device covers the
 * form another device would pick; then gives the choice back to the
 * device. tu_form_family and tu_form name the form being run (NULL
 * outside), for messages. */
extern const char *tu_form_family, *tu_form;
#define TU_EACH_FORM(FAMILY, BODY, ...)                                           \
    do {                                                                          \
        static const char *const tu_forms_[] = {__VA_ARGS__, NULL};               \
        for (int tu_f_ = 0; tu_forms_[tu_f_]; tu_f_++) {                          \
            TU_OK(sc_context_set_form(tu_ctx(), FAMILY, tu_forms_[tu_f_]));       \
            tu_form_family = FAMILY;                                              \
            tu_form = tu_forms_[tu_f_];                                           \
            BODY;                                                                 \
        }                                                                         \
        tu_form_family = tu_form = NULL;                                          \
        TU_OK(sc_context_set_form(tu_ctx(), FAMILY, NULL));                       \
    } while (0)

/* The row-reducing kernels (the "rows" family): a work-group per row, then
 * a work-item per row. */
#define TU_EACH_ROWS_FORM(BODY) TU_EACH_FORM("rows", BODY, "groups", "items")

/* Fills with N(0,1) (or uniform [lo,hi) for tu_uniform). */
void tu_normal(sc_rng *rng, float *x, size_t n);
void tu_uniform(sc_rng *rng, float *x, size_t n, float lo, float hi);

/* Asserts |got - want| <= atol + rtol * |want| elementwise; reports the worst. */
void tu_assert_close(const char *what, const float *got, const double *want, size_t n,
                     double rtol, double atol);

/* Creates a float32 tensor from host data (test fails on error). */
sc_tensor *tu_tensor(int ndim, const int64_t *shape, const float *data);
/* Downloads a float32 tensor into a new host array (caller frees). */
float *tu_download(const sc_tensor *t);

/* A new directory /tmp/spurcl-PREFIX-XXXXXX (caller frees the name, or
 * passes it to tu_rmtree). */
char *tu_tmpdir(const char *prefix);
/* rm -rf DIR, then frees the name. */
void tu_rmtree(char *dir);

/* Asserts that DIR/NAME is a w x h PNG that is not blank: at least
 * `min_ink` pixels differ from the white background and at least
 * `min_curve` have the colour of a plot's first curve (31, 100, 200). */
void tu_assert_plot(const char *dir, const char *name, int w, int h, int64_t min_ink,
                    int64_t min_curve);

/* Runs a suite with CK_NORMAL output; returns the process exit code. */
int tu_run(Suite *s);

/* Every parameter of a model, concatenated on the host (caller frees);
 * *total receives the count. */
struct sc_model;
float *tu_params_host(struct sc_model *m, size_t *total);

/* Two classes on 8x8 images: a faint bar (horizontal for class 0, vertical
 * for 1) under noise, and a bright 2x2 mark in the top-left (attribute 0)
 * or top-right (attribute 1) corner. Train: the mark agrees with the class
 * except every `every`-th pair (0: always agrees); val and test: half
 * conflicting. Splits in order: ntrain, nval, ntest. */
struct sc_dataset;
struct sc_dataset *tu_toy_bars(int64_t ntrain, int64_t nval, int64_t ntest, uint64_t seed,
                               int every);

#endif
