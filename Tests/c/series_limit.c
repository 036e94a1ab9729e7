/* The per-family series cap through the C interface: the environment's default, the cap at
 * its limit, one past it and 100,000 distinct values past it; the overflow series keeps every
 * count, the registry shows the overflow counter, one warning per family reaches the callback. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "marty_test.h"

static int warnings;
static char last_warning[512];

static void on_warning(void *user_data, const char *message) {
    (*(int *)user_data)++;
    snprintf(last_warning, sizeof last_warning, "%s", message);
}

static int rendered_contains(marty_registry *registry, const char *needle) {
    char *text = NULL;
    if (marty_registry_render(registry, MARTY_FORMAT_TEXT, &text, NULL) != MARTY_OK) return -1;
    int found = strstr(text, needle) != NULL;
    marty_free(text);
    return found;
}

int main(void) {
    /* Read once, when the first family is made. */
    setenv("MARTY_METRICS_MAX_SERIES_PER_FAMILY", "4", 1);
    setenv("MARTY_METRICS_MAX_SERIES", "100000", 1);
    marty_registry *registry = NULL;
    REQUIRE_OK(marty_registry_new(&registry));
    static const char *const labels[1] = {"user"};
    marty_family *family = NULL;
    REQUIRE_OK(marty_counter_family_new(registry, "logins", "Logins.", labels, 1, &family));
    size_t cap = 0;
    EXPECT_OK(marty_family_max_series(family, &cap));
    EXPECT(cap == 4, "the environment's cap: %zu", cap);
    EXPECT_OK(marty_set_warning_callback(on_warning, &warnings));

    /* At the cap: four series of their own. One past it: the overflow series. */
    char value[32];
    marty_counter *counter = NULL;
    for (int user = 0; user < 4; user++) {
        snprintf(value, sizeof value, "u%d", user);
        const char *values[1] = {value};
        EXPECT_OK(marty_counter_get(family, values, 1, &counter));
        EXPECT_OK(marty_counter_inc(counter));
    }
    uint64_t overflowed = 99;
    EXPECT_OK(marty_family_overflowed_lookups(family, &overflowed));
    EXPECT(overflowed == 0 && warnings == 0, "at the cap: %llu overflowed, %d warnings",
           (unsigned long long)overflowed, warnings);
    EXPECT(rendered_contains(registry, "marty_metrics_series_overflow") == 0, "overflow counter shown too early");
    const char *fifth[1] = {"u4"};
    EXPECT_OK(marty_counter_get(family, fifth, 1, &counter));
    EXPECT_OK(marty_counter_add_int(counter, 10));
    EXPECT(rendered_contains(registry, "logins_total{user=\"" MARTY_OVERFLOW_LABEL_VALUE "\"} 10\n") == 1,
           "one past the cap: the overflow series");
    EXPECT(rendered_contains(registry, "user=\"u4\"") == 0, "a series past the cap");
    EXPECT(warnings == 1 && strstr(last_warning, "logins") != NULL, "warning: %d \"%s\"", warnings, last_warning);

    /* 100,000 distinct values: nothing lost, one warning in all. */
    for (int user = 5; user < 100005; user++) {
        snprintf(value, sizeof value, "u%d", user);
        const char *values[1] = {value};
        if (marty_counter_get(family, values, 1, &counter) == MARTY_OK) marty_counter_inc(counter);
    }
    double total = 0;
    const char *overflow_values[1] = {MARTY_OVERFLOW_LABEL_VALUE};
    EXPECT_OK(marty_counter_get(family, overflow_values, 1, &counter));
    EXPECT_OK(marty_counter_value(counter, &total));
    EXPECT(total == 100010, "the overflow series holds %g, expected 100010", total);
    EXPECT_OK(marty_family_overflowed_lookups(family, &overflowed));
    EXPECT(overflowed == 100001, "overflowed lookups: %llu", (unsigned long long)overflowed);
    EXPECT(rendered_contains(registry, "marty_metrics_series_overflow_total{metric=\"logins\"} 100001\n") == 1,
           "overflow counter");
    EXPECT(warnings == 1, "warnings after 100,000 overflows: %d", warnings);

    /* No cap: new series again; bad arguments refused. */
    EXPECT_OK(marty_family_set_max_series(family, 0));
    const char *fresh[1] = {"fresh"};
    EXPECT_OK(marty_counter_get(family, fresh, 1, &counter));
    EXPECT_OK(marty_counter_inc(counter));
    EXPECT(rendered_contains(registry, "logins_total{user=\"fresh\"} 1\n") == 1, "no cap");
    EXPECT(marty_family_set_max_series(NULL, 3) == MARTY_ERR_NULL_ARGUMENT, "NULL family");
    EXPECT(marty_family_set_max_series(family, SIZE_MAX) == MARTY_ERR_INVALID_ARGUMENT, "SIZE_MAX cap");
    EXPECT(marty_family_max_series(family, NULL) == MARTY_ERR_NULL_ARGUMENT, "NULL out");
    EXPECT(marty_family_overflowed_lookups(NULL, &overflowed) == MARTY_ERR_NULL_ARGUMENT, "NULL family");

    /* The process-wide cap: the environment's, then one set by hand, across families. */
    size_t series = 0, process_cap = 0;
    EXPECT_OK(marty_process_series(&series, &process_cap));
    EXPECT(process_cap == 100000, "the environment's process-wide cap: %zu", process_cap);
    EXPECT(series >= 5, "the series made so far are counted (%zu)", series);
    EXPECT_OK(marty_set_process_max_series(series + 3));
    static const char *const path_label[1] = {"path"};
    marty_family *pages = NULL;
    REQUIRE_OK(marty_counter_family_new(registry, "pages", "Pages.", path_label, 1, &pages));
    EXPECT_OK(marty_family_set_max_series(pages, 0)); /* only the process-wide cap applies */
    int warnings_before = warnings;
    const char *paths[5] = {"/a", "/b", "/c", "/d", "/e"};
    for (int i = 0; i < 5; i++) {
        marty_counter *page = NULL;
        EXPECT_OK(marty_counter_get(pages, &paths[i], 1, &page));
        EXPECT_OK(marty_counter_inc(page));
    }
    EXPECT(rendered_contains(registry, "pages_total{path=\"/c\"} 1\n") == 1, "3 series fit under the cap");
    EXPECT(rendered_contains(registry, "pages_total{path=\"/d\"}") == 0, "the 4th label set has no series");
    EXPECT(rendered_contains(registry, "pages_total{path=\"__overflow__\"} 2\n") == 1,
           "the 4th and 5th lookups count in the overflow series");
    EXPECT(rendered_contains(registry, "marty_metrics_series_overflow_total{metric=\"pages\"} 2\n") == 1,
           "and in the overflow counter");
    EXPECT(warnings == warnings_before + 1 && strstr(last_warning, "the process reached its cap"),
           "one warning naming the process-wide cap: %s", last_warning);
    /* A removed series is no longer counted, and makes room for another. */
    size_t before_removal = 0, after_removal = 0;
    EXPECT_OK(marty_process_series(&before_removal, NULL));
    EXPECT(before_removal == series + 5, "3 series, the overflow series and the overflow counter's: %zu",
           before_removal - series);
    EXPECT_OK(marty_family_remove(pages, &paths[0], 1));
    EXPECT_OK(marty_process_series(&after_removal, NULL));
    EXPECT(after_removal == before_removal - 1, "a removal is counted (%zu, %zu)", before_removal, after_removal);
    EXPECT_OK(marty_set_process_max_series(after_removal + 1));
    marty_counter *page = NULL;
    EXPECT_OK(marty_counter_get(pages, &paths[3], 1, &page));
    EXPECT_OK(marty_counter_inc(page));
    EXPECT(rendered_contains(registry, "pages_total{path=\"/d\"} 1\n") == 1, "room again after a removal");
    EXPECT_OK(marty_set_process_max_series(0));
    EXPECT_OK(marty_counter_get(pages, &paths[4], 1, &page));
    EXPECT_OK(marty_counter_inc(page));
    EXPECT(rendered_contains(registry, "pages_total{path=\"/e\"} 1\n") == 1, "no process-wide cap");
    EXPECT(marty_set_process_max_series(SIZE_MAX) == MARTY_ERR_INVALID_ARGUMENT, "SIZE_MAX process cap");
    EXPECT_OK(marty_process_series(NULL, NULL));
    marty_family_release(pages);

    /* Warnings back to standard error. */
    EXPECT_OK(marty_set_warning_callback(NULL, NULL));
    marty_family_release(family);
    marty_registry_free(registry);
    return marty_test_summary();
}
