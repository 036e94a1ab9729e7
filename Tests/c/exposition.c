/*
 * exposition.c: the exact text of a small registry, byte for byte.
 *
 * Expectations follow the Prometheus text format 0.0.4 (families sorted by name, series by
 * label values; HELP escapes backslash and newline; label values escape backslash, quote and
 * newline; +Inf, -Inf, NaN; integral sample values without ".0", others as the shortest
 * decimal that round-trips; histogram `le` like Python's repr: "1.0", "0.005", "+Inf";
 * _bucket lines, then _sum, then _count for each series). The OpenMetrics rendering is
 * checked for the points where it must differ.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "marty_test.h"

static const char expected_text[] =
    "# HELP expo_build_info Build information.\n"
    "# TYPE expo_build_info gauge\n"
    "expo_build_info{version=\"1.2.3\",revision=\"abc\"} 1\n"
    "# HELP expo_defaults Default buckets.\n"
    "# TYPE expo_defaults histogram\n"
    "expo_defaults_bucket{le=\"0.005\"} 0\n"
    "expo_defaults_bucket{le=\"0.01\"} 0\n"
    "expo_defaults_bucket{le=\"0.025\"} 0\n"
    "expo_defaults_bucket{le=\"0.05\"} 0\n"
    "expo_defaults_bucket{le=\"0.1\"} 0\n"
    "expo_defaults_bucket{le=\"0.25\"} 0\n"
    "expo_defaults_bucket{le=\"0.5\"} 0\n"
    "expo_defaults_bucket{le=\"1.0\"} 1\n"
    "expo_defaults_bucket{le=\"2.5\"} 1\n"
    "expo_defaults_bucket{le=\"5.0\"} 1\n"
    "expo_defaults_bucket{le=\"10.0\"} 1\n"
    "expo_defaults_bucket{le=\"+Inf\"} 2\n"
    "expo_defaults_sum 12\n"
    "expo_defaults_count 2\n"
    "# HELP expo_escapes Label values that need escaping.\n"
    "# TYPE expo_escapes gauge\n"
    "expo_escapes{path=\"back\\\\slash\"} 1\n"
    "expo_escapes{path=\"new\\nline\"} 2\n"
    "expo_escapes{path=\"quo\\\"te\"} 3\n"
    "expo_escapes{path=\"\xc3\xbc" "n\xc3\xaf" "code \xe2\x9c\x93\"} 4\n"
    "# HELP expo_events_total Events seen.\n"
    "# TYPE expo_events_total counter\n"
    "expo_events_total 0\n"
    "# HELP expo_latency_seconds Request latency.\n"
    "# TYPE expo_latency_seconds histogram\n"
    "expo_latency_seconds_bucket{op=\"read\",le=\"0.005\"} 1\n"
    "expo_latency_seconds_bucket{op=\"read\",le=\"0.1\"} 1\n"
    "expo_latency_seconds_bucket{op=\"read\",le=\"1.0\"} 4\n"
    "expo_latency_seconds_bucket{op=\"read\",le=\"2.5\"} 4\n"
    "expo_latency_seconds_bucket{op=\"read\",le=\"+Inf\"} 5\n"
    "expo_latency_seconds_sum{op=\"read\"} 4.75\n"
    "expo_latency_seconds_count{op=\"read\"} 5\n"
    "expo_latency_seconds_bucket{op=\"write\",le=\"0.005\"} 0\n"
    "expo_latency_seconds_bucket{op=\"write\",le=\"0.1\"} 0\n"
    "expo_latency_seconds_bucket{op=\"write\",le=\"1.0\"} 0\n"
    "expo_latency_seconds_bucket{op=\"write\",le=\"2.5\"} 0\n"
    "expo_latency_seconds_bucket{op=\"write\",le=\"+Inf\"} 0\n"
    "expo_latency_seconds_sum{op=\"write\"} 0\n"
    "expo_latency_seconds_count{op=\"write\"} 0\n"
    "# HELP expo_requests_total Requests served.\n"
    "# TYPE expo_requests_total counter\n"
    "expo_requests_total{method=\"get\",code=\"200\"} 3\n"
    "expo_requests_total{method=\"get\",code=\"404\"} 7\n"
    "expo_requests_total{method=\"post\",code=\"500\"} 0.1\n"
    "expo_requests_total{method=\"put\",code=\"201\"} 0.30000000000000004\n"
    "# HELP expo_temperature Temperature with \\\\ backslash\\nand \"quotes\".\n"
    "# TYPE expo_temperature gauge\n"
    "expo_temperature{sensor=\"a\"} 1.5\n"
    "expo_temperature{sensor=\"b\"} +Inf\n"
    "expo_temperature{sensor=\"c\"} -Inf\n"
    "expo_temperature{sensor=\"d\"} NaN\n"
    "expo_temperature{sensor=\"e\"} -2\n"
    "expo_temperature{sensor=\"f\"} 0\n"
    "expo_temperature{sensor=\"g\"} 0.001\n"
    "expo_temperature{sensor=\"h\"} 123456.5\n";

/* Prints the first differing line of two texts (and both texts in full). */
static void show_difference(const char *what, const char *expected, const char *actual) {
    int line = 1;
    const char *e = expected, *a = actual;
    while (*e && *e == *a) {
        if (*e == '\n') line++;
        e++;
        a++;
    }
    const char *e_line = e, *a_line = a;
    while (e_line > expected && e_line[-1] != '\n') e_line--;
    while (a_line > actual && a_line[-1] != '\n') a_line--;
    int e_len = (int)strcspn(e_line, "\n"), a_len = (int)strcspn(a_line, "\n");
    printf("  %s: first difference on line %d (byte %ld):\n", what, line, (long)(e - expected));
    printf("  - expected: %.*s%s\n", e_len, e_line, *e_line ? "" : "<end of text>");
    printf("  + actual:   %.*s%s\n", a_len, a_line, *a_line ? "" : "<end of text>");
    printf("  ---- expected (%zu bytes) ----\n%s  ---- actual (%zu bytes) ----\n%s  ----\n",
           strlen(expected), expected, strlen(actual), actual);
}

static int has_line(const char *text, const char *line) {
    size_t n = strlen(line);
    const char *p = text;
    while ((p = strstr(p, line)) != NULL) {
        if ((p == text || p[-1] == '\n') && (p[n] == '\n')) return 1;
        p++;
    }
    return 0;
}

static int has_line_prefix(const char *text, const char *prefix) {
    const char *p = text;
    size_t n = strlen(prefix);
    while ((p = strstr(p, prefix)) != NULL) {
        if (p == text || p[-1] == '\n') return 1;
        p += n;
    }
    return 0;
}

static int build(marty_registry *r) {
    marty_family *f = NULL;
    const char *version_names[2] = {"version", "revision"};
    const char *version_values[2] = {"1.2.3", "abc"};
    if (marty_info_family_new(r, "expo_build", "Build information.", version_names, 2, &f) ||
        marty_info_set(f, version_values, 2))
        return 0;
    marty_family_release(f);

    marty_histogram *h = NULL;
    if (marty_histogram_family_new(r, "expo_defaults", "Default buckets.", NULL, 0, NULL, 0, &f) ||
        marty_histogram_get(f, NULL, 0, &h) || marty_histogram_observe(h, 1.0) ||
        marty_histogram_observe(h, 11.0))
        return 0;
    marty_family_release(f);

    const char *path_name[1] = {"path"};
    /* Created out of order: the exposition sorts them. */
    const char *paths[4] = {"quo\"te", "\xc3\xbc" "n\xc3\xaf" "code \xe2\x9c\x93", "back\\slash", "new\nline"};
    const double path_values[4] = {3, 4, 1, 2};
    if (marty_gauge_family_new(r, "expo_escapes", "Label values that need escaping.", path_name, 1, &f))
        return 0;
    for (int i = 0; i < 4; i++) {
        marty_gauge *g = NULL;
        const char *v[1] = {paths[i]};
        if (marty_gauge_get(f, v, 1, &g) || marty_gauge_set(g, path_values[i])) return 0;
    }
    marty_family_release(f);

    marty_counter *c = NULL;
    if (marty_counter_family_new(r, "expo_events", "Events seen.", NULL, 0, &f) ||
        marty_counter_get(f, NULL, 0, &c))
        return 0;
    marty_family_release(f);

    const char *op_name[1] = {"op"};
    const double bounds[4] = {0.005, 0.1, 1, 2.5};
    const char *read_op[1] = {"read"}, *write_op[1] = {"write"};
    if (marty_histogram_family_new(r, "expo_latency_seconds", "Request latency.", op_name, 1,
                                   bounds, 4, &f) ||
        marty_histogram_get(f, write_op, 1, &h))
        return 0;
    h = NULL;
    if (marty_histogram_get(f, read_op, 1, &h)) return 0;
    const double observations[5] = {0.0, 0.25, 0.5, 1.0, 3.0};
    for (int i = 0; i < 5; i++)
        if (marty_histogram_observe(h, observations[i])) return 0;
    marty_family_release(f);

    const char *request_names[2] = {"method", "code"};
    const char *put201[2] = {"put", "201"}, *post500[2] = {"post", "500"};
    const char *get404[2] = {"get", "404"}, *get200[2] = {"get", "200"};
    if (marty_counter_family_new(r, "expo_requests", "Requests served.", request_names, 2, &f))
        return 0;
    if (marty_counter_get(f, put201, 2, &c) || marty_counter_add(c, 0.1) || marty_counter_add(c, 0.2))
        return 0;
    if (marty_counter_get(f, post500, 2, &c) || marty_counter_add(c, 0.1)) return 0;
    if (marty_counter_get(f, get404, 2, &c) || marty_counter_add_int(c, 7)) return 0;
    if (marty_counter_get(f, get200, 2, &c) || marty_counter_inc(c) || marty_counter_inc(c) ||
        marty_counter_inc(c))
        return 0;
    marty_family_release(f);

    const char *sensor_name[1] = {"sensor"};
    if (marty_gauge_family_new(r, "expo_temperature",
                               "Temperature with \\ backslash\nand \"quotes\".", sensor_name, 1, &f))
        return 0;
    const char *sensors = "hgfedcba";
    const double sensor_values[8] = {123456.5, 0.001, 0, -2, NAN, -INFINITY, INFINITY, 1.5};
    for (int i = 0; i < 8; i++) {
        char key[2] = {sensors[i], 0};
        const char *v[1] = {key};
        marty_gauge *g = NULL;
        if (marty_gauge_get(f, v, 1, &g)) return 0;
        if (sensors[i] != 'f' && marty_gauge_set(g, sensor_values[i])) return 0;
    }
    marty_family_release(f);
    return 1;
}

/* UTF-8 names in each escaping scheme, exactly
 * (https://prometheus.io/docs/instrumenting/escaping_schemes/). */
static int check_escaping_schemes(void) {
    marty_registry *r = NULL;
    REQUIRE_OK(marty_registry_new(&r));
    REQUIRE_OK(marty_registry_set_created_timestamps(r, 0));
    static const char *const labels[2] = {"label.name", "code"};
    static const char *const values[2] = {"v", "200"};
    marty_family *family = NULL;
    marty_counter *counter = NULL;
    REQUIRE_OK(marty_counter_family_new(r, "my.metric", "Calls.", labels, 2, &family));
    REQUIRE_OK(marty_counter_get(family, values, 2, &counter));
    REQUIRE_OK(marty_counter_inc(counter));
    static const struct { int escaping; const char *expected; } cases[] = {
        {MARTY_ESCAPING_ALLOW_UTF8, "# HELP \"my.metric_total\" Calls.\n# TYPE \"my.metric_total\" counter\n"
                                    "{\"my.metric_total\",\"label.name\"=\"v\",code=\"200\"} 1\n"},
        {MARTY_ESCAPING_UNDERSCORES, "# HELP my_metric_total Calls.\n# TYPE my_metric_total counter\n"
                                     "my_metric_total{label_name=\"v\",code=\"200\"} 1\n"},
        {MARTY_ESCAPING_DOTS, "# HELP my_dot_metric_total Calls.\n# TYPE my_dot_metric_total counter\n"
                              "my_dot_metric_total{label_dot_name=\"v\",code=\"200\"} 1\n"},
        {MARTY_ESCAPING_VALUES, "# HELP U__my_2e_metric_total Calls.\n# TYPE U__my_2e_metric_total counter\n"
                                "U__my_2e_metric_total{U__label_2e_name=\"v\",code=\"200\"} 1\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = NULL;
        size_t length = 0;
        EXPECT_OK(marty_registry_render_escaped(r, MARTY_FORMAT_TEXT, cases[i].escaping, &out, &length));
        if (out == NULL) continue;
        EXPECT(strcmp(out, cases[i].expected) == 0 && length == strlen(out), "escaping %d", cases[i].escaping);
        if (strcmp(out, cases[i].expected) != 0) show_difference("escaped text", cases[i].expected, out);
        marty_free(out);
    }
    /* marty_registry_render is the underscores scheme. */
    char *plain = NULL;
    EXPECT_OK(marty_registry_render(r, MARTY_FORMAT_TEXT, &plain, NULL));
    EXPECT(plain != NULL && strcmp(plain, cases[1].expected) == 0, "marty_registry_render is not underscores");
    marty_free(plain);
    marty_family_release(family);
    marty_registry_free(r);
    return 0;
}

int main(int argc, char **argv) {
    marty_registry *r = NULL;
    REQUIRE_OK(marty_registry_new(&r));

    /* `test_exposition --print text|openmetrics`: print the rendering only (for promtool). */
    if (argc == 3 && strcmp(argv[1], "--print") == 0) {
        char *out = NULL;
        size_t out_length = 0;
        int format = strcmp(argv[2], "openmetrics") == 0 ? MARTY_FORMAT_OPENMETRICS : MARTY_FORMAT_TEXT;
        if (!build(r) || marty_registry_render(r, format, &out, &out_length) != MARTY_OK) {
            fprintf(stderr, "test_exposition: %s\n", marty_errmsg());
            return 1;
        }
        fwrite(out, 1, out_length, stdout);
        marty_free(out);
        marty_registry_free(r);
        return 0;
    }

    check_escaping_schemes();

    /* An empty registry. */
    char *text = NULL;
    size_t length = 12345;
    EXPECT_OK(marty_registry_render(r, MARTY_FORMAT_TEXT, &text, &length));
    if (text) {
        EXPECT(length == 0 && text[0] == '\0', "empty registry, text: expected \"\", got %zu bytes \"%s\"",
               length, text);
        marty_free(text);
    }
    text = NULL;
    EXPECT_OK(marty_registry_render(r, MARTY_FORMAT_OPENMETRICS, &text, &length));
    if (text) {
        EXPECT(strcmp(text, "# EOF\n") == 0 && length == 6,
               "empty registry, OpenMetrics: expected \"# EOF\\n\", got %zu bytes \"%s\"", length, text);
        marty_free(text);
    }

    if (!build(r)) {
        printf("FAIL: building the registry failed: %s (%s)\n", marty_errmsg(), "cannot continue");
        marty_test_failed++;
        return marty_test_summary();
    }

    /* Text format 0.0.4, byte for byte. */
    text = NULL;
    length = 0;
    REQUIRE_OK(marty_registry_render(r, MARTY_FORMAT_TEXT, &text, &length));
    EXPECT(length == strlen(text), "text: *length %zu != strlen %zu", length, strlen(text));
    if (strcmp(text, expected_text) == 0) {
        marty_test_passed++;
    } else {
        EXPECT(0, "text format 0.0.4 differs from the expected exposition");
        show_difference("text 0.0.4", expected_text, text);
    }

    /* Deterministic: a second render gives the same bytes; length may be NULL. */
    char *again = NULL;
    EXPECT_OK(marty_registry_render(r, MARTY_FORMAT_TEXT, &again, NULL));
    if (again) {
        EXPECT(strcmp(text, again) == 0, "text: two renders of an unchanged registry differ");
        marty_free(again);
    }
    marty_free(text);

    /* OpenMetrics: the points where it differs from the text format. */
    text = NULL;
    REQUIRE_OK(marty_registry_render(r, MARTY_FORMAT_OPENMETRICS, &text, &length));
    EXPECT(length == strlen(text), "OpenMetrics: *length %zu != strlen %zu", length, strlen(text));
    size_t n = strlen(text);
    EXPECT(n >= 6 && strcmp(text + n - 6, "# EOF\n") == 0, "OpenMetrics: does not end with \"# EOF\\n\"");
    EXPECT(strstr(text, "# EOF\n") == text + n - 6, "OpenMetrics: \"# EOF\" before the end");
    EXPECT(has_line(text, "# TYPE expo_requests counter"),
           "OpenMetrics: missing '# TYPE expo_requests counter' (TYPE names a counter without _total)");
    EXPECT(!has_line_prefix(text, "# TYPE expo_requests_total"),
           "OpenMetrics: a TYPE line names expo_requests_total");
    EXPECT(has_line(text, "# HELP expo_requests Requests served."),
           "OpenMetrics: missing '# HELP expo_requests Requests served.'");
    EXPECT(has_line_prefix(text, "expo_requests_total{method=\"get\",code=\"200\"} 3"),
           "OpenMetrics: missing sample expo_requests_total{method=\"get\",code=\"200\"} 3");
    EXPECT(has_line(text, "# HELP expo_temperature Temperature with \\\\ backslash\\nand \\\"quotes\\\"."),
           "OpenMetrics: HELP must escape backslash, newline and quote: "
           "'# HELP expo_temperature Temperature with \\\\ backslash\\nand \\\"quotes\\\".'");
    EXPECT(has_line_prefix(text, "expo_temperature{sensor=\"b\"} +Inf"), "OpenMetrics: +Inf gauge");
    EXPECT(has_line_prefix(text, "expo_temperature{sensor=\"c\"} -Inf"), "OpenMetrics: -Inf gauge");
    EXPECT(has_line_prefix(text, "expo_temperature{sensor=\"d\"} NaN"), "OpenMetrics: NaN gauge");
    EXPECT(has_line_prefix(text, "expo_escapes{path=\"quo\\\"te\"} 3"), "OpenMetrics: escaped label value");
    EXPECT(has_line(text, "# TYPE expo_latency_seconds histogram"), "OpenMetrics: histogram TYPE");
    EXPECT(has_line_prefix(text, "expo_latency_seconds_bucket{op=\"read\",le=\"+Inf\"} 5"),
           "OpenMetrics: +Inf bucket of op=read");
    EXPECT(has_line_prefix(text, "expo_latency_seconds_count{op=\"read\"} 5"), "OpenMetrics: _count of op=read");
    EXPECT(has_line_prefix(text, "expo_events_total 0"), "OpenMetrics: unlabelled counter sample");
    EXPECT(has_line_prefix(text, "expo_build_info{version=\"1.2.3\",revision=\"abc\"} 1"),
           "OpenMetrics: info sample");
    if (marty_test_failed) printf("  ---- OpenMetrics rendering ----\n%s  ----\n", text);
    marty_free(text);

    EXPECT_OK(marty_registry_free(r));
    return marty_test_summary();
}
