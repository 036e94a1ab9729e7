/* Shared check helpers for the C tests: each failed check prints one line; main() ends with
 * marty_test_summary(), which prints "N passed, M failed" and gives the exit code. */
#ifndef MARTY_TEST_H
#define MARTY_TEST_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "marty_metrics.h"

static int marty_test_passed;
static int marty_test_failed;

static void marty_test_fail(const char *file, int line, const char *fmt, ...) {
    va_list args;
    marty_test_failed++;
    fprintf(stdout, "FAIL %s:%d: ", file, line);
    va_start(args, fmt);
    vfprintf(stdout, fmt, args);
    va_end(args);
    fputc('\n', stdout);
    fflush(stdout);
}

/* A boolean check with a printf-style description of what was expected. */
#define EXPECT(cond, ...)                                                                    \
    do {                                                                                     \
        if (cond) {                                                                          \
            marty_test_passed++;                                                             \
        } else {                                                                             \
            marty_test_fail(__FILE__, __LINE__, __VA_ARGS__);                                \
        }                                                                                    \
    } while (0)

/* A call that must succeed. */
#define EXPECT_OK(call)                                                                      \
    do {                                                                                     \
        int expect_ok_status_ = (call);                                                      \
        if (expect_ok_status_ == MARTY_OK) {                                                 \
            marty_test_passed++;                                                             \
        } else {                                                                             \
            marty_test_fail(__FILE__, __LINE__, "%s returned %d (%s), expected MARTY_OK; "  \
                            "errmsg: \"%s\"", #call, expect_ok_status_,                      \
                            marty_status_string(expect_ok_status_), marty_errmsg());         \
        }                                                                                    \
    } while (0)

/* A call that must succeed, or the test cannot go on. */
#define REQUIRE_OK(call)                                                                     \
    do {                                                                                     \
        int require_ok_status_ = (call);                                                     \
        if (require_ok_status_ != MARTY_OK) {                                                \
            marty_test_fail(__FILE__, __LINE__, "%s returned %d (%s), expected MARTY_OK; "  \
                            "errmsg: \"%s\" (cannot continue)", #call, require_ok_status_,   \
                            marty_status_string(require_ok_status_), marty_errmsg());        \
            return marty_test_summary();                                                     \
        }                                                                                    \
        marty_test_passed++;                                                                 \
    } while (0)

static int marty_test_summary(void) {
    printf("%d passed, %d failed\n", marty_test_passed, marty_test_failed);
    fflush(stdout);
    return marty_test_failed == 0 ? 0 : 1;
}

#endif /* MARTY_TEST_H */
