/*
 * exemplars.c: marty_counter_add_exemplar and marty_histogram_observe_exemplar, their
 * refusals (nothing recorded then), and the OpenMetrics lines they give; an exemplar on a
 * removed series records nothing.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "marty_test.h"

static char *render(marty_registry *registry, int format) {
    char *text = NULL;
    size_t length = 0;
    if (marty_registry_render(registry, format, &text, &length) != MARTY_OK) return NULL;
    return text;
}

/* The line of `text` that starts with `prefix`, copied into `line`. */
static int find_line(const char *text, const char *prefix, char *line, size_t capacity) {
    for (const char *at = text; at != NULL && *at != 0;) {
        const char *end = strchr(at, '\n');
        size_t length = end ? (size_t)(end - at) : strlen(at);
        if (strncmp(at, prefix, strlen(prefix)) == 0 && length < capacity) {
            memcpy(line, at, length);
            line[length] = 0;
            return 1;
        }
        at = end ? end + 1 : NULL;
    }
    return 0;
}

int main(void) {
    marty_registry *registry = NULL;
    REQUIRE_OK(marty_registry_new(&registry));
    static const char *const code[1] = {"code"};
    marty_family *requests = NULL, *latency = NULL;
    REQUIRE_OK(marty_counter_family_new(registry, "ex_requests", "Requests.", code, 1, &requests));
    static const double bounds[2] = {0.1, 1};
    REQUIRE_OK(marty_histogram_family_new(registry, "ex_latency_seconds", "Latency.", NULL, 0, bounds, 2, &latency));
    static const char *const ok[1] = {"200"};
    marty_counter *counter = NULL;
    marty_histogram *histogram = NULL;
    REQUIRE_OK(marty_counter_get(requests, ok, 1, &counter));
    REQUIRE_OK(marty_histogram_get(latency, NULL, 0, &histogram));

    static const char *const names[2] = {"trace_id", "span_id"};
    static const char *const values[2] = {"4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"};
    EXPECT_OK(marty_counter_add_exemplar(counter, 2, names, values, 2));
    EXPECT_OK(marty_histogram_observe_exemplar(histogram, 0.5, names, values, 1));
    EXPECT_OK(marty_histogram_observe_exemplar(histogram, 7, NULL, NULL, 0)); /* no labels: {} */

    /* Refusals: the status, a message, and nothing recorded. */
    static const char *const bad_name[1] = {"trace.id"};
    static const char *const duplicate[2] = {"a", "a"};
    static const char *const bad_utf8[1] = {"\xc3\x28"};
    char long_value[140];
    memset(long_value, 'x', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = 0;
    const char *const long_values[1] = {long_value};
    static const char *const null_value[1] = {NULL};
    EXPECT(marty_counter_add_exemplar(counter, 1, bad_name, values, 1) == MARTY_ERR_INVALID_LABEL, "dotted name");
    EXPECT(strstr(marty_errmsg(), "trace.id") != NULL, "message names the label: %s", marty_errmsg());
    EXPECT(marty_counter_add_exemplar(counter, 1, duplicate, values, 2) == MARTY_ERR_INVALID_LABEL, "duplicate");
    EXPECT(marty_counter_add_exemplar(counter, 1, names, bad_utf8, 1) == MARTY_ERR_INVALID_UTF8, "bad UTF-8");
    EXPECT(marty_counter_add_exemplar(counter, 1, names, long_values, 1) == MARTY_ERR_INVALID_LABEL, "too long");
    EXPECT(strstr(marty_errmsg(), "128") != NULL, "message names the limit: %s", marty_errmsg());
    EXPECT(marty_counter_add_exemplar(counter, 1, names, null_value, 1) == MARTY_ERR_NULL_ARGUMENT, "NULL value");
    EXPECT(marty_counter_add_exemplar(counter, 1, NULL, values, 1) == MARTY_ERR_NULL_ARGUMENT, "NULL names");
    EXPECT(marty_counter_add_exemplar(counter, -1, names, values, 1) == MARTY_ERR_INVALID_VALUE, "negative");
    EXPECT(marty_counter_add_exemplar(counter, NAN, names, values, 1) == MARTY_ERR_INVALID_VALUE, "NaN");
    EXPECT(marty_counter_add_exemplar(NULL, 1, names, values, 1) == MARTY_ERR_NULL_ARGUMENT, "NULL counter");
    EXPECT(marty_histogram_observe_exemplar(histogram, NAN, names, values, 1) == MARTY_ERR_INVALID_VALUE, "NaN");
    EXPECT(marty_histogram_observe_exemplar(NULL, 1, names, values, 1) == MARTY_ERR_NULL_ARGUMENT, "NULL");
    /* 128 characters exactly are allowed (8 in the name, 120 in the value). */
    long_value[120] = 0;
    EXPECT_OK(marty_histogram_observe_exemplar(histogram, 0.05, names, long_values, 1));

    double total = 0;
    EXPECT_OK(marty_counter_value(counter, &total));
    EXPECT(total == 2, "refused calls recorded something: %g", total);

    char *text = render(registry, MARTY_FORMAT_OPENMETRICS);
    EXPECT(text != NULL, "render failed");
    if (text != NULL) {
        char line[512];
        EXPECT(find_line(text, "ex_requests_total{code=\"200\"} 2 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\","
                               "span_id=\"00f067aa0ba902b7\"} 2 ", line, sizeof line),
               "counter exemplar line missing:\n%s", text);
        EXPECT(find_line(text, "ex_latency_seconds_bucket{le=\"1.0\"} 2 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"}"
                               " 0.5 ", line, sizeof line),
               "bucket exemplar line missing:\n%s", text);
        EXPECT(find_line(text, "ex_latency_seconds_bucket{le=\"+Inf\"} 3 # {} 7 ", line, sizeof line),
               "+Inf exemplar line missing:\n%s", text);
        EXPECT(find_line(text, "ex_latency_seconds_bucket{le=\"0.1\"} 1 # {trace_id=\"xxxx", line, sizeof line),
               "128-character exemplar missing:\n%s", text);
        marty_free(text);
    }
    text = render(registry, MARTY_FORMAT_TEXT);
    EXPECT(text != NULL && strstr(text, "trace_id") == NULL, "text 0.0.4 shows exemplars");
    marty_free(text);

    /* A handle whose series was removed records nothing, exemplar or not. */
    EXPECT_OK(marty_family_remove(requests, ok, 1));
    EXPECT_OK(marty_counter_add_exemplar(counter, 5, names, values, 2));
    text = render(registry, MARTY_FORMAT_OPENMETRICS);
    EXPECT(text != NULL && strstr(text, "ex_requests_total{") == NULL, "removed series shows:\n%s", text);
    marty_free(text);

    marty_family_release(requests);
    marty_family_release(latency);
    marty_registry_free(registry);
    return marty_test_summary();
}
