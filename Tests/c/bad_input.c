/*
 * bad_input.c: every function of marty_metrics.h given NULL for each pointer argument, and
 * every other kind of bad argument. Each check wants the exact status code AND a message
 * from marty_errmsg() that is not empty and names what was wrong (one of a few words,
 * case-insensitive). Out-parameters must be left untouched on failure. Nothing may crash.
 *
 * Where the header leaves two readings open, a check accepts both codes (EXPECT_ERR2) and
 * says so in a comment.
 */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "marty_test.h"

static const char *const status_names[] = {
    "MARTY_OK",
    "MARTY_ERR_NULL_ARGUMENT",
    "MARTY_ERR_INVALID_NAME",
    "MARTY_ERR_INVALID_LABEL",
    "MARTY_ERR_LABEL_COUNT",
    "MARTY_ERR_INVALID_UTF8",
    "MARTY_ERR_INVALID_VALUE",
    "MARTY_ERR_CONFLICT",
    "MARTY_ERR_NOT_FOUND",
    "MARTY_ERR_INVALID_BUCKETS",
    "MARTY_ERR_WRONG_KIND",
    "MARTY_ERR_INVALID_ARGUMENT",
};
#define STATUS_COUNT ((int)(sizeof status_names / sizeof status_names[0]))

static const char *status_name(int status) {
    return (status >= 0 && status < STATUS_COUNT) ? status_names[status] : "(unknown status)";
}

static int contains_ci(const char *haystack, const char *needle) {
    size_t n = strlen(needle);
    for (const char *p = haystack; *p; p++) {
        size_t i = 0;
        while (i < n && p[i] &&
               tolower((unsigned char)p[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n) return 1;
    }
    return n == 0;
}

/* `words` is a "|"-separated list: the message must contain at least one of them. */
static int contains_any_ci(const char *message, const char *words) {
    char buffer[256];
    snprintf(buffer, sizeof buffer, "%s", words);
    for (char *word = strtok(buffer, "|"); word; word = strtok(NULL, "|"))
        if (contains_ci(message, word)) return 1;
    return 0;
}

static char last_message[4096];

static void expect_err(const char *file, int line, const char *call, int got, int want,
                       int also_ok, const char *words) {
    const char *m = marty_errmsg();
    snprintf(last_message, sizeof last_message, "%s", m ? m : "(NULL)");
    int status_ok = got == want || (also_ok >= 0 && got == also_ok);
    int message_ok = m != NULL && m[0] != '\0' && contains_any_ci(m, words);
    if (status_ok && (message_ok || got == MARTY_OK)) {
        marty_test_passed++;
        return;
    }
    if (!status_ok) {
        char wanted[128];
        if (also_ok >= 0)
            snprintf(wanted, sizeof wanted, "%s (%d) or %s (%d)", status_name(want), want,
                     status_name(also_ok), also_ok);
        else
            snprintf(wanted, sizeof wanted, "%s (%d)", status_name(want), want);
        if (got == MARTY_OK)
            marty_test_fail(file, line, "%s returned MARTY_OK (0), expected %s", call, wanted);
        else
            marty_test_fail(file, line, "%s returned %s (%d), expected %s; errmsg: \"%s\"", call,
                            status_name(got), got, wanted, last_message);
    } else if (m == NULL) {
        marty_test_fail(file, line, "%s returned %s as expected but marty_errmsg() is NULL", call,
                        status_name(got));
    } else if (m[0] == '\0') {
        marty_test_fail(file, line, "%s returned %s as expected but marty_errmsg() is empty", call,
                        status_name(got));
    } else {
        marty_test_fail(file, line,
                        "%s returned %s as expected but errmsg \"%s\" contains none of: %s", call,
                        status_name(got), last_message, words);
    }
}

#define EXPECT_ERR(call, want, words) expect_err(__FILE__, __LINE__, #call, (call), (want), -1, (words))
/* For a point the header leaves open: either of two codes is accepted. */
#define EXPECT_ERR2(call, want, other, words)                                                \
    expect_err(__FILE__, __LINE__, #call, (call), (want), (other), (words))

/*
 * The same, with the call made in a forked child: a crash there is reported as a failed check
 * and the test goes on. For calls that a careless implementation could crash on (huge
 * counts). The child's effects do not reach this process.
 */
static void isolated_result(const char *file, int line, const char *call, pid_t pid, int fd,
                            int want, int also_ok, const char *words) {
    int status = -1;
    char message[sizeof last_message];
    ssize_t got = read(fd, &status, sizeof status);
    size_t used = 0;
    ssize_t n;
    while (used + 1 < sizeof message && (n = read(fd, message + used, sizeof message - 1 - used)) > 0)
        used += (size_t)n;
    message[used] = '\0';
    close(fd);
    int wait_status = 0;
    waitpid(pid, &wait_status, 0);
    if (WIFSIGNALED(wait_status) || got != (ssize_t)sizeof status) {
        marty_test_fail(file, line, "%s crashed (signal %d)", call,
                        WIFSIGNALED(wait_status) ? WTERMSIG(wait_status) : 0);
        return;
    }
    snprintf(last_message, sizeof last_message, "%s", message);
    int status_ok = status == want || (also_ok >= 0 && status == also_ok);
    if (status_ok && message[0] != '\0' && contains_any_ci(message, words)) {
        marty_test_passed++;
    } else if (!status_ok) {
        marty_test_fail(file, line, "%s returned %s (%d), expected %s%s%s; errmsg: \"%s\"", call,
                        status_name(status), status, status_name(want), also_ok >= 0 ? " or " : "",
                        also_ok >= 0 ? status_name(also_ok) : "", message);
    } else {
        marty_test_fail(file, line, "%s returned %s as expected but errmsg \"%s\" contains none of: %s",
                        call, status_name(status), message, words);
    }
}

static void child_report(int fd, int status) {
    const char *m = marty_errmsg();
    if (write(fd, &status, sizeof status) < 0 || write(fd, m ? m : "", strlen(m ? m : "")) < 0) _exit(3);
    _exit(0);
}

#define EXPECT_ERR2_ISOLATED(call, want, other, words)                                       \
    do {                                                                                     \
        int fds_[2];                                                                         \
        fflush(stdout);                                                                      \
        if (pipe(fds_) != 0) break;                                                          \
        pid_t pid_ = fork();                                                                 \
        if (pid_ == 0) {                                                                     \
            close(fds_[0]);                                                                  \
            child_report(fds_[1], (call));                                                   \
        }                                                                                    \
        close(fds_[1]);                                                                      \
        isolated_result(__FILE__, __LINE__, #call, pid_, fds_[0], (want), (other), (words)); \
    } while (0)

/* Sentinels for out-parameters that must stay untouched on failure. */
#define SENTINEL_PTR ((void *)(uintptr_t)0x5a5a5a5aUL)
#define NULL_WORDS "null"

static int render_contains(marty_registry *r, const char *needle) {
    char *text = NULL;
    if (marty_registry_render(r, MARTY_FORMAT_TEXT, &text, NULL) != MARTY_OK || !text) return -1;
    int found = strstr(text, needle) != NULL;
    marty_free(text);
    return found;
}

static double counter_value(const marty_counter *c) {
    double v = NAN;
    marty_counter_value(c, &v);
    return v;
}

static double gauge_value(const marty_gauge *g) {
    double v = NAN;
    marty_gauge_value(g, &v);
    return v;
}

/* ---- The thread-local message ------------------------------------------------------------ */

struct thread_messages {
    char before[256];
    char after[256];
    int status;
};

static void *other_thread(void *arg) {
    struct thread_messages *t = arg;
    snprintf(t->before, sizeof t->before, "%s", marty_errmsg());
    t->status = marty_counter_inc(NULL);
    snprintf(t->after, sizeof t->after, "%s", marty_errmsg());
    return NULL;
}

static void check_thread_local_messages(void) {
    marty_family *f = SENTINEL_PTR;
    EXPECT_ERR(marty_counter_family_new(marty_registry_default(), "", "", NULL, 0, &f),
               MARTY_ERR_INVALID_NAME, "name");
    char main_message[256];
    snprintf(main_message, sizeof main_message, "%s", marty_errmsg());
    struct thread_messages t;
    memset(&t, 0, sizeof t);
    pthread_t thread;
    pthread_create(&thread, NULL, other_thread, &t);
    pthread_join(thread, NULL);
    EXPECT(t.before[0] == '\0', "a new thread's marty_errmsg() should be \"\", got \"%s\"", t.before);
    EXPECT(t.status == MARTY_ERR_NULL_ARGUMENT && t.after[0] != '\0',
           "other thread: marty_counter_inc(NULL) gave %d, message \"%s\"", t.status, t.after);
    EXPECT(strcmp(main_message, marty_errmsg()) == 0,
           "another thread's failure changed this thread's message: \"%s\" became \"%s\"",
           main_message, marty_errmsg());
}

int main(void) {
    /* ---- Before anything failed ---- */
    const char *first = marty_errmsg();
    EXPECT(first != NULL && first[0] == '\0', "marty_errmsg() before any failure should be \"\", got \"%s\"",
           first ? first : "(NULL)");
    EXPECT(marty_version() != NULL && strcmp(marty_version(), MARTY_METRICS_VERSION_STRING) == 0,
           "marty_version() = \"%s\", header says \"%s\"", marty_version() ? marty_version() : "(NULL)",
           MARTY_METRICS_VERSION_STRING);
    EXPECT(marty_version_number() == MARTY_METRICS_VERSION_NUMBER,
           "marty_version_number() = %d, header says %d", marty_version_number(),
           MARTY_METRICS_VERSION_NUMBER);
    EXPECT(MARTY_METRICS_VERSION_NUMBER == MARTY_METRICS_VERSION_MAJOR * 10000 +
                                               MARTY_METRICS_VERSION_MINOR * 100 +
                                               MARTY_METRICS_VERSION_PATCH,
           "header: MARTY_METRICS_VERSION_NUMBER does not match MAJOR/MINOR/PATCH");
    for (int s = 0; s < STATUS_COUNT; s++) {
        const char *text = marty_status_string(s);
        EXPECT(text != NULL && strncmp(text, status_names[s], strlen(status_names[s])) == 0 &&
                   (text[strlen(status_names[s])] == '\0' || text[strlen(status_names[s])] == ':'),
               "marty_status_string(%d) = \"%s\", expected it to start with \"%s\"", s,
               text ? text : "(NULL)", status_names[s]);
    }
    const int unknown_statuses[3] = {-1, STATUS_COUNT, 1000};
    for (int i = 0; i < 3; i++) {
        const char *text = marty_status_string(unknown_statuses[i]);
        EXPECT(text != NULL && text[0] != '\0', "marty_status_string(%d) is NULL or empty",
               unknown_statuses[i]);
    }
    marty_free(NULL); /* a no-op */
    marty_registry *def = marty_registry_default();
    EXPECT(def != NULL && def == marty_registry_default(),
           "marty_registry_default() is NULL or not the same on each call");

    marty_registry *r = NULL;
    REQUIRE_OK(marty_registry_new(&r));
    marty_registry *r2 = NULL;
    REQUIRE_OK(marty_registry_new(&r2));

    /* Families and series used below. */
    const char *ab[2] = {"a", "b"};
    const char *a1[1] = {"a"};
    const char *xy[2] = {"x", "y"};
    const char *x1[1] = {"x"};
    const double bounds12[2] = {1, 2};
    marty_family *fc = NULL, *fg = NULL, *fh = NULL, *fi = NULL, *fu = NULL;
    REQUIRE_OK(marty_counter_family_new(r, "bi_c", "counter", ab, 2, &fc));
    REQUIRE_OK(marty_gauge_family_new(r, "bi_g", "gauge", a1, 1, &fg));
    REQUIRE_OK(marty_histogram_family_new(r, "bi_h", "histogram", a1, 1, bounds12, 2, &fh));
    REQUIRE_OK(marty_info_family_new(r, "bi_i", "info", a1, 1, &fi));
    REQUIRE_OK(marty_counter_family_new(r, "bi_u", "unlabelled", NULL, 0, &fu));
    marty_counter *c = NULL;
    marty_gauge *g = NULL;
    marty_histogram *h = NULL;
    REQUIRE_OK(marty_counter_get(fc, xy, 2, &c));
    REQUIRE_OK(marty_gauge_get(fg, x1, 1, &g));
    REQUIRE_OK(marty_histogram_get(fh, x1, 1, &h));

    /* ---- NULL for every pointer argument ---- */
    {
        marty_family *out = SENTINEL_PTR;
        const char *with_null[2] = {"a", NULL};
        EXPECT_ERR(marty_registry_new(NULL), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|out");
        EXPECT_ERR(marty_registry_free(NULL), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|registry");

        EXPECT_ERR(marty_counter_family_new(NULL, "n1", "", NULL, 0, &out), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|registry");
        EXPECT_ERR(marty_counter_family_new(r, NULL, "", NULL, 0, &out), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|name");
        EXPECT_ERR(marty_counter_family_new(r, "n1", NULL, NULL, 0, &out), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|help");
        EXPECT_ERR(marty_counter_family_new(r, "n1", "", NULL, 1, &out), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|label");
        EXPECT_ERR(marty_counter_family_new(r, "n1", "", with_null, 2, &out), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|label");
        EXPECT_ERR(marty_counter_family_new(r, "n1", "", NULL, 0, NULL), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|out");

        EXPECT_ERR(marty_gauge_family_new(NULL, "n1", "", NULL, 0, &out), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|registry");
        EXPECT_ERR(marty_gauge_family_new(r, NULL, "", NULL, 0, &out), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|name");
        EXPECT_ERR(marty_gauge_family_new(r, "n1", NULL, NULL, 0, &out), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|help");
        EXPECT_ERR(marty_gauge_family_new(r, "n1", "", NULL, 1, &out), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|label");
        EXPECT_ERR(marty_gauge_family_new(r, "n1", "", with_null, 2, &out), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|label");
        EXPECT_ERR(marty_gauge_family_new(r, "n1", "", NULL, 0, NULL), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|out");

        EXPECT_ERR(marty_histogram_family_new(NULL, "n1", "", NULL, 0, NULL, 0, &out), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|registry");
        EXPECT_ERR(marty_histogram_family_new(r, NULL, "", NULL, 0, NULL, 0, &out), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|name");
        EXPECT_ERR(marty_histogram_family_new(r, "n1", NULL, NULL, 0, NULL, 0, &out), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|help");
        EXPECT_ERR(marty_histogram_family_new(r, "n1", "", NULL, 1, NULL, 0, &out), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|label");
        EXPECT_ERR(marty_histogram_family_new(r, "n1", "", with_null, 2, NULL, 0, &out), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|label");
        EXPECT_ERR(marty_histogram_family_new(r, "n1", "", NULL, 0, NULL, 2, &out), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|bound");
        EXPECT_ERR(marty_histogram_family_new(r, "n1", "", NULL, 0, NULL, 0, NULL), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|out");

        EXPECT_ERR(marty_info_family_new(NULL, "n1", "", NULL, 0, &out), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|registry");
        EXPECT_ERR(marty_info_family_new(r, NULL, "", NULL, 0, &out), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|name");
        EXPECT_ERR(marty_info_family_new(r, "n1", NULL, NULL, 0, &out), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|help");
        EXPECT_ERR(marty_info_family_new(r, "n1", "", NULL, 1, &out), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|label");
        EXPECT_ERR(marty_info_family_new(r, "n1", "", with_null, 2, &out), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|label");
        EXPECT_ERR(marty_info_family_new(r, "n1", "", NULL, 0, NULL), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|out");
        EXPECT(out == SENTINEL_PTR, "a failed *_family_new wrote its out-parameter");
        EXPECT(render_contains(r, "# TYPE n1 ") == 0, "a failed *_family_new registered \"n1\" anyway");

        const char *null_value[1] = {NULL};
        EXPECT_ERR(marty_info_set(NULL, x1, 1), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|family");
        EXPECT_ERR(marty_info_set(fi, NULL, 1), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|label");
        EXPECT_ERR(marty_info_set(fi, null_value, 1), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|label");

        int kind = -7;
        EXPECT_ERR(marty_family_kind(NULL, &kind), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|family");
        EXPECT_ERR(marty_family_kind(fc, NULL), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|out");
        EXPECT(kind == -7, "a failed marty_family_kind wrote its out-parameter");

        const char *x_null[2] = {"x", NULL};
        EXPECT_ERR(marty_family_remove(NULL, xy, 2), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|family");
        EXPECT_ERR(marty_family_remove(fc, NULL, 2), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|label");
        EXPECT_ERR(marty_family_remove(fc, x_null, 2), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|label");
        EXPECT_ERR(marty_family_clear(NULL), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|family");
        EXPECT_ERR(marty_registry_register(NULL, fc), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|registry");
        EXPECT_ERR(marty_registry_register(r, NULL), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|family");
        EXPECT_ERR(marty_registry_unregister(NULL, fc), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|registry");
        EXPECT_ERR(marty_registry_unregister(r, NULL), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|family");
        EXPECT_ERR(marty_family_release(NULL), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|family");

        marty_counter *co = SENTINEL_PTR;
        marty_gauge *go = SENTINEL_PTR;
        marty_histogram *ho = SENTINEL_PTR;
        EXPECT_ERR(marty_counter_get(NULL, xy, 2, &co), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|family");
        EXPECT_ERR(marty_counter_get(fc, NULL, 2, &co), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|label");
        EXPECT_ERR(marty_counter_get(fc, x_null, 2, &co), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|label");
        EXPECT_ERR(marty_counter_get(fc, xy, 2, NULL), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|out");
        EXPECT_ERR(marty_gauge_get(NULL, x1, 1, &go), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|family");
        EXPECT_ERR(marty_gauge_get(fg, NULL, 1, &go), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|label");
        EXPECT_ERR(marty_gauge_get(fg, null_value, 1, &go), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|label");
        EXPECT_ERR(marty_gauge_get(fg, x1, 1, NULL), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|out");
        EXPECT_ERR(marty_histogram_get(NULL, x1, 1, &ho), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|family");
        EXPECT_ERR(marty_histogram_get(fh, NULL, 1, &ho), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|label");
        EXPECT_ERR(marty_histogram_get(fh, null_value, 1, &ho), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|label");
        EXPECT_ERR(marty_histogram_get(fh, x1, 1, NULL), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|out");
        EXPECT(co == SENTINEL_PTR && go == SENTINEL_PTR && ho == SENTINEL_PTR,
               "a failed *_get wrote its out-parameter");

        double v = -7;
        EXPECT_ERR(marty_counter_inc(NULL), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|counter");
        EXPECT_ERR(marty_counter_add_int(NULL, 1), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|counter");
        EXPECT_ERR(marty_counter_add(NULL, 1), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|counter");
        EXPECT_ERR(marty_counter_value(NULL, &v), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|counter");
        EXPECT_ERR(marty_counter_value(c, NULL), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|out");
        EXPECT_ERR(marty_gauge_set(NULL, 1), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|gauge");
        EXPECT_ERR(marty_gauge_inc(NULL), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|gauge");
        EXPECT_ERR(marty_gauge_dec(NULL), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|gauge");
        EXPECT_ERR(marty_gauge_add(NULL, 1), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|gauge");
        EXPECT_ERR(marty_gauge_set_to_current_time(NULL), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|gauge");
        EXPECT_ERR(marty_gauge_value(NULL, &v), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|gauge");
        EXPECT_ERR(marty_gauge_value(g, NULL), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|out");
        EXPECT(v == -7, "a failed *_value wrote its out-parameter");

        uint64_t counts[3] = {7, 7, 7}, count = 7;
        double sum = 7;
        size_t buckets = 7;
        EXPECT_ERR(marty_histogram_observe(NULL, 1), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|histogram");
        EXPECT_ERR(marty_histogram_read(NULL, counts, 3, &count, &sum), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|histogram");
        EXPECT_ERR(marty_histogram_bucket_count(NULL, &buckets), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|histogram");
        EXPECT_ERR(marty_histogram_bucket_count(h, NULL), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|out");
        EXPECT(counts[0] == 7 && count == 7 && sum == 7 && buckets == 7,
               "a failed histogram read wrote an out-parameter");

        char *text = SENTINEL_PTR;
        size_t length = 7;
        EXPECT_ERR(marty_registry_render(NULL, MARTY_FORMAT_TEXT, &text, &length), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|registry");
        EXPECT_ERR(marty_registry_render(r, MARTY_FORMAT_TEXT, NULL, &length), MARTY_ERR_NULL_ARGUMENT, NULL_WORDS "|out");
        EXPECT(text == SENTINEL_PTR && length == 7, "a failed render wrote an out-parameter");
    }

    /* ---- Optional pointers that may be NULL ---- */
    {
        marty_family *f = NULL;
        EXPECT_OK(marty_counter_family_new(r, "bi_nolabels", "", NULL, 0, &f));
        if (f) marty_family_release(f);
        uint64_t counts[3];
        EXPECT_OK(marty_histogram_read(h, NULL, 0, NULL, NULL));
        EXPECT_OK(marty_histogram_read(h, counts, 3, NULL, NULL));
        char *text = NULL;
        EXPECT_OK(marty_registry_render(r, MARTY_FORMAT_TEXT, &text, NULL));
        marty_free(text);
    }

    /* ---- Metric names ---- */
    {
        /* Any non-empty UTF-8 is a name (Prometheus 3); the empty one and bad UTF-8 are not. */
        static const struct { const char *name; int status; } bad_names[] = {
            {"", MARTY_ERR_INVALID_NAME}, {"\xff", MARTY_ERR_INVALID_UTF8}, {"a\xc3", MARTY_ERR_INVALID_UTF8},
            {"\xed\xa0\x80" /* a UTF-16 surrogate */, MARTY_ERR_INVALID_UTF8}};
        for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
            marty_family *out = SENTINEL_PTR;
            int status = bad_names[i].status;
            const char *name = bad_names[i].name;
            EXPECT_ERR(marty_counter_family_new(r, name, "", NULL, 0, &out), status, "name|UTF-8");
            EXPECT_ERR(marty_gauge_family_new(r, name, "", NULL, 0, &out), status, "name|UTF-8");
            EXPECT_ERR(marty_histogram_family_new(r, name, "", NULL, 0, NULL, 0, &out), status, "name|UTF-8");
            EXPECT_ERR(marty_info_family_new(r, name, "", NULL, 0, &out), status, "name|UTF-8");
            EXPECT(out == SENTINEL_PTR, "invalid name %zu: out-parameter written", i);
        }
        static const char *const good_names[] = {"_bi_a", ":bi_a", "bi_a:b_c9", "BI_A", "1bi", "bi-dash", "bi.dot",
                                                 "bi{brace}", "\xc3\xa9t\xc3\xa9" /* "été" */};
        for (size_t i = 0; i < sizeof good_names / sizeof good_names[0]; i++) {
            marty_family *out = NULL;
            EXPECT_OK(marty_gauge_family_new(r, good_names[i], "", NULL, 0, &out));
            if (out) marty_family_release(out);
        }
        /* Under the default escaping "bi.dot" is written bi_dot: a family of that name would
         * render as a second bi_dot, so it is refused, naming the written name. */
        marty_family *written = SENTINEL_PTR;
        EXPECT_ERR(marty_counter_family_new(r, "bi_dot", "", NULL, 0, &written), MARTY_ERR_CONFLICT, "bi_dot");
        EXPECT(written == SENTINEL_PTR, "escaped clash: out-parameter written");
        /* A trailing _total is dropped (as prometheus_client does), so the counter still
         * exposes bi_requests_total and a gauge of that name clashes with it. */
        marty_family *total = NULL;
        EXPECT_OK(marty_counter_family_new(r, "bi_requests_total", "", NULL, 0, &total));
        marty_family *out = SENTINEL_PTR;
        EXPECT_ERR(marty_gauge_family_new(r, "bi_requests_total", "", NULL, 0, &out), MARTY_ERR_CONFLICT, "bi_requests_total");
        EXPECT(out == SENTINEL_PTR, "clash: out-parameter written");
        if (total) marty_family_release(total);
    }

    /* ---- Label names ---- */
    {
        /* Any non-empty UTF-8 is a label name, but not two that the default escaping writes
         * alike. */
        static const char *const bad_labels[] = {"", "a.b" /* beside a_b */};
        for (size_t i = 0; i < sizeof bad_labels / sizeof bad_labels[0]; i++) {
            marty_family *out = SENTINEL_PTR;
            const char *names[2] = {"a_b", bad_labels[i]};
            EXPECT_ERR(marty_counter_family_new(r, "bi_l1", "", names, 2, &out), MARTY_ERR_INVALID_LABEL, "label");
            EXPECT_ERR(marty_gauge_family_new(r, "bi_l1", "", names, 2, &out), MARTY_ERR_INVALID_LABEL, "label");
            EXPECT_ERR(marty_histogram_family_new(r, "bi_l1", "", names, 2, NULL, 0, &out), MARTY_ERR_INVALID_LABEL, "label");
            EXPECT_ERR(marty_info_family_new(r, "bi_l1", "", names, 2, &out), MARTY_ERR_INVALID_LABEL, "label");
            EXPECT(out == SENTINEL_PTR, "invalid label name \"%s\": out-parameter written", bad_labels[i]);
        }
        static const char *const bad_utf8_label[2] = {"ok", "\xc3("};
        EXPECT_ERR(marty_gauge_family_new(r, "bi_l1", "", bad_utf8_label, 2, &(marty_family *){NULL}),
                   MARTY_ERR_INVALID_UTF8, "UTF-8");
        static const char *const utf8_labels[5] = {"1a", "a-b", "c:d", "\xc3\xa9t\xc3\xa9", "._x"};
        marty_family *utf8 = NULL;
        EXPECT_OK(marty_gauge_family_new(r, "bi_l_utf8", "", utf8_labels, 5, &utf8));
        if (utf8) marty_family_release(utf8);
        marty_family *out = SENTINEL_PTR;
        const char *reserved[1] = {"__x"};
        const char *underscores[1] = {"__"};
        const char *duplicate[3] = {"a", "b", "a"};
        const char *le[2] = {"a", "le"};
        EXPECT_ERR(marty_counter_family_new(r, "bi_l2", "", reserved, 1, &out), MARTY_ERR_INVALID_LABEL, "reserved|__");
        EXPECT_ERR(marty_gauge_family_new(r, "bi_l2", "", underscores, 1, &out), MARTY_ERR_INVALID_LABEL, "reserved|__");
        EXPECT_ERR(marty_histogram_family_new(r, "bi_l2", "", reserved, 1, NULL, 0, &out), MARTY_ERR_INVALID_LABEL, "reserved|__");
        EXPECT_ERR(marty_info_family_new(r, "bi_l2", "", reserved, 1, &out), MARTY_ERR_INVALID_LABEL, "reserved|__");
        EXPECT_ERR(marty_counter_family_new(r, "bi_l2", "", duplicate, 3, &out), MARTY_ERR_INVALID_LABEL, "duplicate|repeated|twice|more than once|already");
        EXPECT_ERR(marty_gauge_family_new(r, "bi_l2", "", duplicate, 3, &out), MARTY_ERR_INVALID_LABEL, "duplicate|repeated|twice|more than once|already");
        EXPECT_ERR(marty_histogram_family_new(r, "bi_l2", "", duplicate, 3, NULL, 0, &out), MARTY_ERR_INVALID_LABEL, "duplicate|repeated|twice|more than once|already");
        EXPECT_ERR(marty_info_family_new(r, "bi_l2", "", duplicate, 3, &out), MARTY_ERR_INVALID_LABEL, "duplicate|repeated|twice|more than once|already");
        EXPECT_ERR(marty_histogram_family_new(r, "bi_l2", "", le, 2, NULL, 0, &out), MARTY_ERR_INVALID_LABEL, "\"le\"|'le'|`le`| le |histogram");
        EXPECT(out == SENTINEL_PTR, "invalid label names: out-parameter written");
        /* Allowed: "le" outside histograms, a single leading underscore. */
        marty_family *f = NULL;
        const char *ok_names[3] = {"le", "_a", "A9_"};
        EXPECT_OK(marty_counter_family_new(r, "bi_l3", "", ok_names, 3, &f));
        if (f) marty_family_release(f);
    }

    /* ---- Bytes that are not UTF-8 ---- */
    {
        static const char *const bad_utf8[] = {
            "\xff",              /* never valid */
            "ab\xc3\x28",        /* bad continuation */
            "abc\xe2\x82",       /* truncated sequence */
            "\xc0\xaf",          /* overlong "/" */
            "\xed\xa0\x80",      /* UTF-16 surrogate */
            "\xf4\x90\x80\x80",  /* above U+10FFFF */
        };
        for (size_t i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
            const char *s = bad_utf8[i];
            marty_family *out = SENTINEL_PTR;
            const char *names[1] = {s};
            const char *values[1] = {s};
            const char *values2[2] = {"x", s};
            EXPECT_ERR(marty_counter_family_new(r, s, "", NULL, 0, &out), MARTY_ERR_INVALID_UTF8, "utf");
            EXPECT_ERR(marty_gauge_family_new(r, "bi_u8", s, NULL, 0, &out), MARTY_ERR_INVALID_UTF8, "utf");
            EXPECT_ERR(marty_histogram_family_new(r, "bi_u8", "", names, 1, NULL, 0, &out), MARTY_ERR_INVALID_UTF8, "utf");
            EXPECT_ERR(marty_info_family_new(r, "bi_u8", s, NULL, 0, &out), MARTY_ERR_INVALID_UTF8, "utf");
            EXPECT(out == SENTINEL_PTR, "non-UTF-8 input %zu: out-parameter written", i);
            marty_counter *co = SENTINEL_PTR;
            marty_gauge *go = SENTINEL_PTR;
            marty_histogram *ho = SENTINEL_PTR;
            EXPECT_ERR(marty_counter_get(fc, values2, 2, &co), MARTY_ERR_INVALID_UTF8, "utf");
            EXPECT_ERR(marty_gauge_get(fg, values, 1, &go), MARTY_ERR_INVALID_UTF8, "utf");
            EXPECT_ERR(marty_histogram_get(fh, values, 1, &ho), MARTY_ERR_INVALID_UTF8, "utf");
            EXPECT_ERR(marty_info_set(fi, values, 1), MARTY_ERR_INVALID_UTF8, "utf");
            EXPECT_ERR(marty_family_remove(fg, values, 1), MARTY_ERR_INVALID_UTF8, "utf");
            EXPECT(co == SENTINEL_PTR && go == SENTINEL_PTR && ho == SENTINEL_PTR,
                   "non-UTF-8 label value %zu: out-parameter written", i);
        }
        /* Valid UTF-8 in help and label values is fine. */
        marty_family *f = NULL;
        marty_gauge *u = NULL;
        const char *v[1] = {"\xe2\x9c\x93 caf\xc3\xa9 \xf0\x9f\x93\x88"};
        EXPECT_OK(marty_gauge_family_new(r, "bi_utf8_ok", "na\xc3\xafve \xe2\x9c\x93", a1, 1, &f));
        if (f) {
            EXPECT_OK(marty_gauge_get(f, v, 1, &u));
            marty_family_release(f);
        }
    }

    /* ---- Values ---- */
    {
        double before = counter_value(c);
        EXPECT_ERR(marty_counter_add(c, -1.0), MARTY_ERR_INVALID_VALUE, "negative|-1");
        EXPECT_ERR(marty_counter_add(c, -1e-300), MARTY_ERR_INVALID_VALUE, "negative|-1");
        EXPECT_ERR(marty_counter_add(c, NAN), MARTY_ERR_INVALID_VALUE, "nan");
        EXPECT_ERR(marty_counter_add(c, -INFINITY), MARTY_ERR_INVALID_VALUE, "finite|inf|negative");
        EXPECT(counter_value(c) == before, "rejected counter adds changed the value (%.17g -> %.17g)",
               before, counter_value(c));
        EXPECT_OK(marty_counter_add(c, 0.0));
        EXPECT_OK(marty_counter_add_int(c, 0));

        uint64_t count_before = 0, count_after = 0;
        marty_histogram_read(h, NULL, 0, &count_before, NULL);
        EXPECT_ERR(marty_histogram_observe(h, NAN), MARTY_ERR_INVALID_VALUE, "nan");
        marty_histogram_read(h, NULL, 0, &count_after, NULL);
        EXPECT(count_after == count_before, "a rejected NaN observation was counted");

        /* Infinities are counted: +Inf only in the +Inf bucket, -Inf in the first. */
        marty_family *f = NULL;
        marty_histogram *hi = NULL;
        EXPECT_OK(marty_histogram_family_new(r, "bi_inf_obs", "", NULL, 0, bounds12, 2, &f));
        if (f && marty_histogram_get(f, NULL, 0, &hi) == MARTY_OK) {
            uint64_t cum[3] = {9, 9, 9}, count = 9;
            EXPECT_OK(marty_histogram_observe(hi, INFINITY));
            EXPECT_OK(marty_histogram_observe(hi, -INFINITY));
            EXPECT_OK(marty_histogram_read(hi, cum, 3, &count, NULL));
            EXPECT(cum[0] == 1 && cum[1] == 1 && cum[2] == 2 && count == 2,
                   "observing +Inf and -Inf: expected buckets 1,1,2 count 2, got %llu,%llu,%llu count %llu",
                   (unsigned long long)cum[0], (unsigned long long)cum[1], (unsigned long long)cum[2],
                   (unsigned long long)count);
            uint64_t small[2] = {9, 9};
            EXPECT_ERR(marty_histogram_read(hi, small, 2, &count, NULL), MARTY_ERR_INVALID_ARGUMENT,
                       "capacity|small|length|size");
            EXPECT(small[0] == 9 && small[1] == 9, "a failed histogram read wrote into the array");
            size_t n = 0;
            EXPECT_OK(marty_histogram_bucket_count(hi, &n));
            EXPECT(n == 2, "bucket_count: expected 2, got %zu", n);
        }
        if (f) marty_family_release(f);

        /* Current time: a Unix time in seconds, not milliseconds. time() reads the coarse clock,
         * which lags CLOCK_REALTIME by up to a tick: at 10.001 s it may still say 9, hence + 2. */
        double now_before = (double)time(NULL);
        EXPECT_OK(marty_gauge_set_to_current_time(g));
        double now = gauge_value(g);
        EXPECT(now >= now_before - 1 && now <= (double)time(NULL) + 2,
               "marty_gauge_set_to_current_time: %.17g is not the current Unix time (%.0f)", now, now_before);

        /* A larger array than needed is fine. */
        uint64_t roomy[8];
        EXPECT_OK(marty_histogram_read(h, roomy, 8, NULL, NULL));

        /* A gauge may hold NaN and infinities. */
        EXPECT_OK(marty_gauge_set(g, NAN));
        EXPECT_OK(marty_gauge_set(g, -INFINITY));
        EXPECT_OK(marty_gauge_set(g, 0));

        /* Histogram bounds. */
        static const double b_equal[2] = {1, 1}, b_down[3] = {1, 3, 2}, b_nan[2] = {1, NAN};
        static const double b_first_nan[1] = {NAN}, b_inf[2] = {1, INFINITY};
        static const double b_minus_inf[2] = {-INFINITY, 1}, b_only_inf[1] = {INFINITY};
        struct {
            const double *b;
            size_t n;
        } bad_bounds[] = {{b_equal, 2}, {b_down, 3},      {b_nan, 2},      {b_first_nan, 1},
                          {b_inf, 2},   {b_minus_inf, 2}, {b_only_inf, 1}};
        for (size_t i = 0; i < sizeof bad_bounds / sizeof bad_bounds[0]; i++) {
            marty_family *out = SENTINEL_PTR;
            EXPECT_ERR(marty_histogram_family_new(r, "bi_bounds", "", NULL, 0, bad_bounds[i].b,
                                                  bad_bounds[i].n, &out),
                       MARTY_ERR_INVALID_BUCKETS, "bound|bucket");
            EXPECT(out == SENTINEL_PTR, "bad bounds %zu: out-parameter written", i);
        }
        EXPECT(render_contains(r, "bi_bounds") == 0, "a histogram with bad bounds was registered");

        /* A count beyond the limit is refused before the (short) array is read. */
        static const double two[2] = {1, 2};
        const size_t wrong_counts[] = {SIZE_MAX, 1000000, 4093};
        for (size_t i = 0; i < sizeof wrong_counts / sizeof wrong_counts[0]; i++) {
            marty_family *out = SENTINEL_PTR;
            EXPECT_ERR2_ISOLATED(marty_histogram_family_new(r, "bi_bounds_count", "", NULL, 0, two, wrong_counts[i], &out),
                                 MARTY_ERR_INVALID_BUCKETS, -1, "4092|bound");
        }
        /* A label count far beyond the caller's array is refused before it is read. */
        static const char *const one_name[1] = {"a"};
        EXPECT_ERR2_ISOLATED(marty_counter_family_new(r, "bi_label_count", "", one_name, 1000000, &(marty_family *){NULL}),
                             MARTY_ERR_INVALID_ARGUMENT, -1, "64|range");
        /* Non-NULL bounds with a count of 0: the +Inf bucket only. */
        marty_family *inf_only = NULL;
        EXPECT_OK(marty_histogram_family_new(r, "bi_inf_only", "", NULL, 0, two, 0, &inf_only));
        EXPECT(render_contains(r, "bi_inf_only_bucket{le=\"+Inf\"} 0\n") == 1, "+Inf-only histogram");
        if (inf_only) marty_family_release(inf_only);
    }

    /* ---- Registration clashes ---- */
    {
        marty_family *f1 = NULL, *out = SENTINEL_PTR;
        EXPECT_OK(marty_counter_family_new(r, "bi_dup", "first", NULL, 0, &f1));
        EXPECT_ERR(marty_counter_family_new(r, "bi_dup", "second", NULL, 0, &out), MARTY_ERR_CONFLICT, "bi_dup");
        EXPECT_ERR(marty_gauge_family_new(r, "bi_dup", "", NULL, 0, &out), MARTY_ERR_CONFLICT, "bi_dup");
        EXPECT_ERR(marty_histogram_family_new(r, "bi_dup", "", NULL, 0, NULL, 0, &out), MARTY_ERR_CONFLICT, "bi_dup");
        EXPECT_ERR(marty_info_family_new(r, "bi_dup", "", NULL, 0, &out), MARTY_ERR_CONFLICT, "bi_dup");
        EXPECT_ERR(marty_gauge_family_new(r, "bi_dup_total", "", NULL, 0, &out), MARTY_ERR_CONFLICT, "bi_dup");
        EXPECT(out == SENTINEL_PTR, "a conflicting *_family_new wrote its out-parameter");
        EXPECT(render_contains(r, "# HELP bi_dup_total first\n") == 1,
               "after refused duplicates, bi_dup should still be the first one");
        /* The same names in another registry are fine. */
        marty_family *other = NULL;
        EXPECT_OK(marty_counter_family_new(r2, "bi_dup", "other registry", NULL, 0, &other));

        /* A counter "x" and a gauge "x_total", in both orders. */
        marty_family *g1 = NULL, *c1 = NULL;
        EXPECT_OK(marty_gauge_family_new(r, "bi_late_total", "", NULL, 0, &g1));
        EXPECT_ERR(marty_counter_family_new(r, "bi_late", "", NULL, 0, &out), MARTY_ERR_CONFLICT, "bi_late");
        EXPECT_OK(marty_counter_family_new(r, "bi_early", "", NULL, 0, &c1));
        EXPECT_ERR(marty_gauge_family_new(r, "bi_early_total", "", NULL, 0, &out), MARTY_ERR_CONFLICT, "bi_early");

        /* A histogram's series names. The header can be read as a static rule (INVALID_NAME)
         * or as a clash (CONFLICT): either is accepted. */
        marty_family *h1 = NULL, *g2 = NULL, *i1 = NULL, *g3 = NULL;
        EXPECT_OK(marty_histogram_family_new(r, "bi_hist", "", NULL, 0, NULL, 0, &h1));
        EXPECT_ERR2(marty_gauge_family_new(r, "bi_hist_bucket", "", NULL, 0, &out), MARTY_ERR_CONFLICT, MARTY_ERR_INVALID_NAME, "bi_hist|_bucket");
        EXPECT_ERR2(marty_gauge_family_new(r, "bi_hist_count", "", NULL, 0, &out), MARTY_ERR_CONFLICT, MARTY_ERR_INVALID_NAME, "bi_hist|_count");
        EXPECT_ERR2(marty_counter_family_new(r, "bi_hist_sum", "", NULL, 0, &out), MARTY_ERR_CONFLICT, MARTY_ERR_INVALID_NAME, "bi_hist|_sum");
        EXPECT_ERR2(marty_gauge_family_new(r, "bi_hist_created", "", NULL, 0, &out), MARTY_ERR_CONFLICT, MARTY_ERR_INVALID_NAME, "bi_hist|_created|reserved");
        EXPECT_ERR2(marty_gauge_family_new(r, "bi_early_created", "", NULL, 0, &out), MARTY_ERR_CONFLICT, MARTY_ERR_INVALID_NAME, "bi_early|_created|reserved");
        EXPECT_ERR(marty_gauge_family_new(r, "bi_hist", "", NULL, 0, &out), MARTY_ERR_CONFLICT, "bi_hist");
        int gauge_sum_status = marty_gauge_family_new(r, "bi_hist2_sum", "", NULL, 0, &g2);
        if (gauge_sum_status == MARTY_OK) {
            EXPECT_ERR(marty_histogram_family_new(r, "bi_hist2", "", NULL, 0, NULL, 0, &out), MARTY_ERR_CONFLICT, "bi_hist2");
        }
        /* An info family "x" is exposed as "x_info". */
        EXPECT_OK(marty_info_family_new(r, "bi_meta", "", NULL, 0, &i1));
        EXPECT_ERR(marty_gauge_family_new(r, "bi_meta_info", "", NULL, 0, &out), MARTY_ERR_CONFLICT, "bi_meta");
        EXPECT_OK(marty_gauge_family_new(r, "bi_meta2_info", "", NULL, 0, &g3));
        EXPECT_ERR(marty_info_family_new(r, "bi_meta2", "", NULL, 0, &out), MARTY_ERR_CONFLICT, "bi_meta2");
        EXPECT(out == SENTINEL_PTR, "a conflicting *_family_new wrote its out-parameter");

        /* Registering a family twice, or one whose name is taken. */
        if (f1) EXPECT_ERR(marty_registry_register(r, f1), MARTY_ERR_CONFLICT, "bi_dup|already|registered");
        if (other) EXPECT_ERR(marty_registry_register(r, other), MARTY_ERR_CONFLICT, "bi_dup");
        EXPECT(render_contains(r, "other registry") == 0, "a refused registration shows anyway");

        /* Unregistering twice, or from a registry that does not have it. */
        if (g1) {
            EXPECT_OK(marty_registry_unregister(r, g1));
            EXPECT_ERR(marty_registry_unregister(r, g1), MARTY_ERR_NOT_FOUND, "not found|not registered|no such|unknown|bi_late");
            EXPECT_ERR(marty_registry_unregister(r2, g1), MARTY_ERR_NOT_FOUND, "not found|not registered|no such|unknown|bi_late");
            /* Its name is free again. */
            marty_family *late = NULL;
            EXPECT_OK(marty_counter_family_new(r, "bi_late", "", NULL, 0, &late));
            if (late) marty_family_release(late);
        }
        if (c1) EXPECT_ERR(marty_registry_unregister(r2, c1), MARTY_ERR_NOT_FOUND, "not found|not registered|no such|unknown|bi_early");

        marty_family *list[] = {f1, other, g1, c1, h1, g2, i1, g3};
        for (size_t i = 0; i < sizeof list / sizeof list[0]; i++)
            if (list[i]) EXPECT_OK(marty_family_release(list[i]));
    }

    /* ---- The default registry cannot be freed ---- */
    {
        EXPECT_ERR(marty_registry_free(marty_registry_default()), MARTY_ERR_INVALID_ARGUMENT, "default");
        marty_family *f = NULL;
        EXPECT_OK(marty_gauge_family_new(marty_registry_default(), "bi_default_alive", "", NULL, 0, &f));
        EXPECT(render_contains(marty_registry_default(), "bi_default_alive") == 1,
               "the default registry does not work after the refused free");
        if (f) {
            EXPECT_OK(marty_registry_unregister(marty_registry_default(), f));
            EXPECT_OK(marty_family_release(f));
        }
    }

    /* ---- Unknown render formats ---- */
    {
        const int formats[3] = {3, -1, 99};
        for (int i = 0; i < 3; i++) {
            char *text = SENTINEL_PTR;
            size_t length = 7;
            EXPECT_ERR(marty_registry_render(r, formats[i], &text, &length), MARTY_ERR_INVALID_ARGUMENT, "format");
            EXPECT(text == SENTINEL_PTR && length == 7, "render with format %d wrote out-parameters", formats[i]);
        }
        /* Unknown escapings, and the escaped call's own argument checks. */
        const int escapings[3] = {4, -1, 99};
        for (int i = 0; i < 3; i++) {
            char *text = SENTINEL_PTR;
            size_t length = 7;
            EXPECT_ERR(marty_registry_render_escaped(r, MARTY_FORMAT_TEXT, escapings[i], &text, &length),
                       MARTY_ERR_INVALID_ARGUMENT, "escaping");
            EXPECT(text == SENTINEL_PTR && length == 7, "render with escaping %d wrote out-parameters", escapings[i]);
        }
        EXPECT_ERR(marty_registry_render_escaped(NULL, MARTY_FORMAT_TEXT, MARTY_ESCAPING_DOTS, &(char *){NULL}, NULL),
                   MARTY_ERR_NULL_ARGUMENT, "registry");
        EXPECT_ERR(marty_registry_render_escaped(r, MARTY_FORMAT_TEXT, MARTY_ESCAPING_DOTS, NULL, NULL),
                   MARTY_ERR_NULL_ARGUMENT, "out");
        EXPECT_ERR(marty_registry_render_escaped(r, 3, MARTY_ESCAPING_DOTS, &(char *){NULL}, NULL),
                   MARTY_ERR_INVALID_ARGUMENT, "format");
        /* Protobuf is binary: without a length it is refused, nothing written. */
        char *text = SENTINEL_PTR;
        EXPECT_ERR(marty_registry_render(r, MARTY_FORMAT_PROTOBUF, &text, NULL), MARTY_ERR_NULL_ARGUMENT, "length");
        EXPECT(text == SENTINEL_PTR, "protobuf render without a length wrote *out");
    }

    /* ---- Wrong kind, wrong label count ---- */
    {
        marty_counter *co = SENTINEL_PTR;
        marty_gauge *go = SENTINEL_PTR;
        marty_histogram *ho = SENTINEL_PTR;
        EXPECT_ERR(marty_gauge_get(fc, xy, 2, &go), MARTY_ERR_WRONG_KIND, "kind|counter|type");
        EXPECT_ERR(marty_histogram_get(fc, xy, 2, &ho), MARTY_ERR_WRONG_KIND, "kind|counter|type");
        EXPECT_ERR(marty_counter_get(fg, x1, 1, &co), MARTY_ERR_WRONG_KIND, "kind|gauge|type");
        EXPECT_ERR(marty_histogram_get(fg, x1, 1, &ho), MARTY_ERR_WRONG_KIND, "kind|gauge|type");
        EXPECT_ERR(marty_counter_get(fh, x1, 1, &co), MARTY_ERR_WRONG_KIND, "kind|histogram|type");
        EXPECT_ERR(marty_gauge_get(fh, x1, 1, &go), MARTY_ERR_WRONG_KIND, "kind|histogram|type");
        EXPECT_ERR(marty_counter_get(fi, x1, 1, &co), MARTY_ERR_WRONG_KIND, "kind|info|type");
        EXPECT_ERR(marty_info_set(fc, xy, 2), MARTY_ERR_WRONG_KIND, "kind|counter|info|type");
        EXPECT_ERR(marty_info_set(fg, x1, 1), MARTY_ERR_WRONG_KIND, "kind|gauge|info|type");

        const char *xyz[3] = {"x", "y", "z"};
        EXPECT_ERR(marty_counter_get(fc, x1, 1, &co), MARTY_ERR_LABEL_COUNT, "label|count|expected");
        EXPECT_ERR(marty_counter_get(fc, xyz, 3, &co), MARTY_ERR_LABEL_COUNT, "label|count|expected");
        EXPECT_ERR(marty_counter_get(fc, NULL, 0, &co), MARTY_ERR_LABEL_COUNT, "label|count|expected");
        EXPECT_ERR(marty_counter_get(fu, x1, 1, &co), MARTY_ERR_LABEL_COUNT, "label|count|expected");
        EXPECT_ERR(marty_gauge_get(fg, xy, 2, &go), MARTY_ERR_LABEL_COUNT, "label|count|expected");
        EXPECT_ERR(marty_histogram_get(fh, NULL, 0, &ho), MARTY_ERR_LABEL_COUNT, "label|count|expected");
        EXPECT_ERR(marty_info_set(fi, xy, 2), MARTY_ERR_LABEL_COUNT, "label|count|expected");
        EXPECT_ERR(marty_family_remove(fc, x1, 1), MARTY_ERR_LABEL_COUNT, "label|count|expected");
        /* A count far larger than the array: refused before the array is read past its end. */
        EXPECT_ERR2_ISOLATED(marty_counter_get(fc, xy, 1000, &co), MARTY_ERR_LABEL_COUNT, -1, "label|count|expected");
        EXPECT_ERR2_ISOLATED(marty_counter_get(fc, xy, SIZE_MAX, &co), MARTY_ERR_LABEL_COUNT, MARTY_ERR_INVALID_ARGUMENT, "label|count|expected|range");
        EXPECT_ERR2_ISOLATED(marty_gauge_get(fg, x1, SIZE_MAX, &go), MARTY_ERR_LABEL_COUNT, MARTY_ERR_INVALID_ARGUMENT, "label|count|expected|range");
        EXPECT_ERR2_ISOLATED(marty_histogram_get(fh, x1, SIZE_MAX, &ho), MARTY_ERR_LABEL_COUNT, MARTY_ERR_INVALID_ARGUMENT, "label|count|expected|range");
        EXPECT_ERR2_ISOLATED(marty_info_set(fi, x1, SIZE_MAX), MARTY_ERR_LABEL_COUNT, MARTY_ERR_INVALID_ARGUMENT, "label|count|expected|range");
        EXPECT_ERR2_ISOLATED(marty_family_remove(fc, xy, SIZE_MAX), MARTY_ERR_LABEL_COUNT, MARTY_ERR_INVALID_ARGUMENT, "label|count|expected|range");
        EXPECT(co == SENTINEL_PTR && go == SENTINEL_PTR && ho == SENTINEL_PTR,
               "a failed *_get wrote its out-parameter");

        int kind = -1;
        EXPECT(marty_family_kind(fc, &kind) == MARTY_OK && kind == MARTY_KIND_COUNTER, "kind of a counter family: %d", kind);
        EXPECT(marty_family_kind(fg, &kind) == MARTY_OK && kind == MARTY_KIND_GAUGE, "kind of a gauge family: %d", kind);
        EXPECT(marty_family_kind(fh, &kind) == MARTY_OK && kind == MARTY_KIND_HISTOGRAM, "kind of a histogram family: %d", kind);
        EXPECT(marty_family_kind(fi, &kind) == MARTY_OK && kind == MARTY_KIND_INFO, "kind of an info family: %d", kind);

        const char *nobody[2] = {"no", "body"};
        EXPECT_ERR(marty_family_remove(fc, nobody, 2), MARTY_ERR_NOT_FOUND, "not found|no such|no series|unknown|does not exist");
    }

    /* ---- Removed series and unregistered families: recording is harmless and invisible ---- */
    {
        const char *k_name[1] = {"k"};
        const char *ka[1] = {"a"}, *kb[1] = {"b"};
        marty_family *f = NULL;
        marty_counter *sa = NULL, *sb = NULL, *sa2 = NULL;
        REQUIRE_OK(marty_counter_family_new(r, "bi_rm", "", k_name, 1, &f));
        REQUIRE_OK(marty_counter_get(f, ka, 1, &sa));
        REQUIRE_OK(marty_counter_get(f, kb, 1, &sb));
        marty_counter_add_int(sa, 5);
        marty_counter_add_int(sb, 2);
        EXPECT(render_contains(r, "bi_rm_total{k=\"a\"} 5\n") == 1, "series a should show 5 before removal");
        EXPECT_OK(marty_family_remove(f, ka, 1));
        EXPECT_OK(marty_counter_inc(sa)); /* harmless */
        EXPECT_OK(marty_counter_add(sa, 1.5));
        EXPECT(render_contains(r, "bi_rm_total{k=\"a\"}") == 0, "a removed series still shows");
        EXPECT(render_contains(r, "bi_rm_total{k=\"b\"} 2\n") == 1, "removing series a changed series b");
        EXPECT_ERR(marty_family_remove(f, ka, 1), MARTY_ERR_NOT_FOUND, "not found|no such|no series|unknown|does not exist");
        /* Looking it up again gives a fresh series that the old handle does not touch. */
        REQUIRE_OK(marty_counter_get(f, ka, 1, &sa2));
        EXPECT(counter_value(sa2) == 0, "a re-created series should start at 0, got %.17g", counter_value(sa2));
        EXPECT_OK(marty_counter_inc(sa));
        EXPECT(counter_value(sa2) == 0, "recording into a removed series' handle changed the new series (%.17g)",
               counter_value(sa2));
        EXPECT(render_contains(r, "bi_rm_total{k=\"a\"} 0\n") == 1, "the re-created series should show 0");

        /* Clear: every handle stays valid, nothing shows. */
        EXPECT_OK(marty_family_clear(f));
        EXPECT_OK(marty_counter_inc(sb));
        EXPECT_OK(marty_counter_inc(sa2));
        EXPECT(render_contains(r, "bi_rm_total{") == 0, "series show after marty_family_clear");
        EXPECT_OK(marty_family_clear(f)); /* clearing an empty family is fine */

        /* Unregister: recording goes on, invisibly; other families are untouched. */
        marty_family *fun = NULL;
        marty_gauge *gu = NULL;
        REQUIRE_OK(marty_gauge_family_new(r, "bi_unreg", "", NULL, 0, &fun));
        REQUIRE_OK(marty_gauge_get(fun, NULL, 0, &gu));
        marty_gauge_set(gu, 3);
        marty_counter_add_int(sb, 0);
        marty_counter *sb2 = NULL;
        REQUIRE_OK(marty_counter_get(f, kb, 1, &sb2));
        marty_counter_add_int(sb2, 4);
        EXPECT(render_contains(r, "bi_unreg 3\n") == 1, "bi_unreg should show 3 while registered");
        EXPECT_OK(marty_registry_unregister(r, fun));
        EXPECT_OK(marty_gauge_set(gu, 7));
        EXPECT_OK(marty_gauge_inc(gu));
        marty_gauge *gu2 = NULL;
        EXPECT_OK(marty_gauge_get(fun, NULL, 0, &gu2)); /* lookups still work */
        EXPECT(render_contains(r, "bi_unreg") == 0, "an unregistered family still shows");
        EXPECT(render_contains(r, "bi_rm_total{k=\"b\"} 4\n") == 1, "unregistering bi_unreg changed bi_rm");
        EXPECT(gauge_value(gu) == 8, "recording into an unregistered family's series: value %.17g, expected 8",
               gauge_value(gu));
        /* Registered again, it shows with what was recorded. */
        EXPECT_OK(marty_registry_register(r, fun));
        EXPECT(render_contains(r, "bi_unreg 8\n") == 1, "a re-registered family should show its series (8)");
        EXPECT_OK(marty_registry_unregister(r, fun));
        EXPECT_OK(marty_family_release(fun));

        /* A released family stays in its registry. */
        EXPECT_OK(marty_family_release(f));
        EXPECT(render_contains(r, "bi_rm_total{k=\"b\"} 4\n") == 1, "a released but registered family should still show");
    }

    /* ---- An info family has one series: marty_info_set replaces it ---- */
    {
        const char *v1[1] = {"first"}, *v2[1] = {"second"};
        EXPECT_OK(marty_info_set(fi, v1, 1));
        EXPECT_OK(marty_info_set(fi, v2, 1));
        EXPECT(render_contains(r, "bi_i_info{a=\"second\"} 1\n") == 1, "info: the last marty_info_set should show");
        EXPECT(render_contains(r, "a=\"first\"") == 0, "info: an earlier marty_info_set still shows");
    }

    /* ---- Freeing a registry that still holds families ---- */
    {
        marty_registry *r3 = NULL;
        marty_family *f = NULL;
        marty_counter *s = NULL;
        REQUIRE_OK(marty_registry_new(&r3));
        REQUIRE_OK(marty_counter_family_new(r3, "bi_orphan", "", NULL, 0, &f));
        REQUIRE_OK(marty_counter_get(f, NULL, 0, &s));
        EXPECT_OK(marty_registry_free(r3));
        EXPECT_OK(marty_counter_inc(s));
        EXPECT(counter_value(s) == 1, "a family of a freed registry: value %.17g, expected 1", counter_value(s));
        EXPECT_OK(marty_family_release(f));
    }

    check_thread_local_messages();

    marty_family_release(fc);
    marty_family_release(fg);
    marty_family_release(fh);
    marty_family_release(fi);
    marty_family_release(fu);
    EXPECT_OK(marty_registry_free(r));
    EXPECT_OK(marty_registry_free(r2));
    return marty_test_summary();
}
