/* A Check suite from a table of test cases, so that every suite's main is
 * its list of tests. Header-only: the data suites use it without
 * testutil.c. */
#ifndef SC_TESTS_SUITE_H
#define SC_TESTS_SUITE_H

#include <check.h>

#include "spurcl/error.h"

/* ck_assert on an sc_status, printing sc_last_error() on failure. */
#define TU_OK(expr)                                                                   \
    do {                                                                              \
        sc_status tu_st_ = (expr);                                                    \
        ck_assert_msg(tu_st_ == SC_OK, "%s -> %s: %s", #expr, sc_status_name(tu_st_), \
                      sc_last_error());                                               \
    } while (0)

#define TU_MAX_TESTS 64

typedef struct tu_case {
    const char *name;
    int timeout;                        /* seconds; 0: Check's default */
    const TTest *tests[TU_MAX_TESTS];   /* ends at the first NULL */
} tu_case;

static inline Suite *tu_suite_of(const char *name, const tu_case *cases, int n)
{
    Suite *s = suite_create(name);
    for (int i = 0; i < n; i++) {
        TCase *tc = tcase_create(cases[i].name);
        if (cases[i].timeout)
            tcase_set_timeout(tc, cases[i].timeout);
        for (int k = 0; k < TU_MAX_TESTS && cases[i].tests[k]; k++)
            tcase_add_test(tc, cases[i].tests[k]);
        suite_add_tcase(s, tc);
    }
    return s;
}

#define TU_SUITE(name, cases) tu_suite_of((name), (cases), (int)(sizeof(cases) / sizeof(cases)[0]))

#endif
