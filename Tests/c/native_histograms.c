/*
 * native_histograms.c: marty_native_histogram_family_new, its refusals, and observing through
 * marty_histogram_observe(_exemplar) into the native buckets (read back from the protobuf
 * exposition's schema and zero-bucket fields) and the classic ones beside them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "marty_test.h"

/* Whether `needle` occurs in the `length` bytes at `haystack` (the protobuf has NUL bytes). */
static int contains(const char *haystack, size_t length, const void *needle, size_t needle_length) {
    for (size_t i = 0; i + needle_length <= length; i++) {
        if (memcmp(haystack + i, needle, needle_length) == 0) return 1;
    }
    return 0;
}

/* A classic-only histogram's header row has a cell for the native configuration (zero), and
 * that cell is its own: on main it was the next series' generation, so once that neighbour was
 * removed, marty_histogram_observe read the generation as a native configuration and crashed
 * (CI, exit 139). The first neighbour is the series made right after the histogram; removed series
 * are freed (their generation bumped) in batches, so enough of them are removed to free it. */
static int test_classic_histogram_beside_a_removed_series(marty_registry *registry) {
    static const double bounds[3] = {0.1, 1, 10};
    marty_family *histograms = NULL, *counters = NULL;
    REQUIRE_OK(marty_histogram_family_new(registry, "classic_only", "", NULL, 0, bounds, 3, &histograms));
    static const char *const label[1] = {"k"};
    REQUIRE_OK(marty_counter_family_new(registry, "neighbours", "", label, 1, &counters));
    marty_histogram *histogram = NULL;
    REQUIRE_OK(marty_histogram_get(histograms, NULL, 0, &histogram));
    char value[16];
    for (int round = 0; round < 200; round++) {
        snprintf(value, sizeof value, "n%d", round);
        const char *values[1] = {value};
        marty_counter *neighbour = NULL;
        EXPECT_OK(marty_counter_get(counters, values, 1, &neighbour));
        EXPECT_OK(marty_family_remove(counters, values, 1));
        EXPECT_OK(marty_histogram_observe(histogram, 0.5));
    }
    uint64_t counts[4] = {0}, count = 0;
    double sum = 0;
    EXPECT_OK(marty_histogram_read(histogram, counts, 4, &count, &sum));
    EXPECT(count == 200 && counts[1] == 200 && sum == 100, "classic beside removed series: count %llu, sum %g",
           (unsigned long long)count, sum);
    marty_family_release(counters);
    marty_family_release(histograms);
    return 0;
}

/* The most bounds a histogram may have fill its header row exactly; one more is refused. */
static int test_the_most_bounds(marty_registry *registry) {
    enum { most = 4092 };
    static double bounds[most + 1];
    for (int i = 0; i <= most; i++) bounds[i] = i;
    marty_family *refused = NULL, *family = NULL;
    EXPECT(marty_histogram_family_new(registry, "too_many", "", NULL, 0, bounds, most + 1, &refused) ==
               MARTY_ERR_INVALID_BUCKETS, "%d bounds accepted", most + 1);
    REQUIRE_OK(marty_histogram_family_new(registry, "most_bounds", "", NULL, 0, bounds, most, &family));
    marty_histogram *histogram = NULL;
    REQUIRE_OK(marty_histogram_get(family, NULL, 0, &histogram));
    EXPECT_OK(marty_histogram_observe(histogram, most - 1.5)); /* in the last finite bucket, le=4091 */
    EXPECT_OK(marty_histogram_observe(histogram, most + 7));
    static uint64_t counts[most + 1];
    uint64_t count = 0;
    double sum = 0;
    EXPECT_OK(marty_histogram_read(histogram, counts, most + 1, &count, &sum));
    EXPECT(count == 2 && counts[most - 2] == 0 && counts[most - 1] == 1 && counts[most] == 2,
           "the most bounds: count %llu", (unsigned long long)count);
    marty_family_release(family);
    return 0;
}

int main(void) {
    marty_registry *registry = NULL;
    REQUIRE_OK(marty_registry_new(&registry));
    test_classic_histogram_beside_a_removed_series(registry);
    test_the_most_bounds(registry);
    marty_native_histogram_options options;
    marty_native_histogram_options_init(&options);
    EXPECT(options.struct_size == sizeof options && options.bucket_factor == 1.1 && options.max_bucket_count == 160,
           "defaults");
    marty_native_histogram_options_init(NULL); /* ignored */

    /* Refusals. */
    marty_family *bad = NULL;
    marty_native_histogram_options wrong = options;
    double factors[4] = {1, 0.5, NAN, INFINITY};
    for (int i = 0; i < 4; i++) {
        wrong.bucket_factor = factors[i];
        EXPECT(marty_native_histogram_family_new(registry, "nh_bad", "", NULL, 0, NULL, 0, &wrong, &bad) ==
                   MARTY_ERR_INVALID_BUCKETS,
               "factor %g accepted", factors[i]);
    }
    EXPECT(strstr(marty_errmsg(), "bucket factor") != NULL, "message: %s", marty_errmsg());
    wrong = options;
    wrong.zero_threshold = -1;
    EXPECT(marty_native_histogram_family_new(registry, "nh_bad", "", NULL, 0, NULL, 0, &wrong, &bad) ==
               MARTY_ERR_INVALID_BUCKETS, "negative zero threshold");
    wrong = options;
    wrong.max_bucket_count = 0;
    EXPECT(marty_native_histogram_family_new(registry, "nh_bad", "", NULL, 0, NULL, 0, &wrong, &bad) ==
               MARTY_ERR_INVALID_BUCKETS, "no buckets");
    wrong = options;
    wrong.struct_size = 8;
    EXPECT(marty_native_histogram_family_new(registry, "nh_bad", "", NULL, 0, NULL, 0, &wrong, &bad) ==
               MARTY_ERR_INVALID_ARGUMENT, "struct_size");
    EXPECT(marty_native_histogram_family_new(registry, "nh_bad", "", NULL, 0, NULL, 0, NULL, &bad) ==
               MARTY_ERR_NULL_ARGUMENT, "NULL options");
    EXPECT(bad == NULL, "a refused call wrote *out");

    /* Factor 2 (schema 0) beside classic bounds {1}. */
    options.bucket_factor = 2;
    static const double bounds[1] = {1};
    marty_family *family = NULL;
    REQUIRE_OK(marty_native_histogram_family_new(registry, "nh_latency", "", NULL, 0, bounds, 1, &options, &family));
    marty_histogram *histogram = NULL;
    REQUIRE_OK(marty_histogram_get(family, NULL, 0, &histogram));
    static const char *const names[1] = {"trace_id"};
    static const char *const values[1] = {"abc"};
    EXPECT_OK(marty_histogram_observe(histogram, 0.5));
    EXPECT_OK(marty_histogram_observe(histogram, 3));
    EXPECT_OK(marty_histogram_observe(histogram, 0));
    EXPECT_OK(marty_histogram_observe_exemplar(histogram, 4, names, values, 1));
    uint64_t counts[2] = {0, 0}, count = 0;
    double sum = 0;
    EXPECT_OK(marty_histogram_read(histogram, counts, 2, &count, &sum));
    EXPECT(counts[0] == 2 && counts[1] == 4 && count == 4 && sum == 7.5, "classic: %llu %llu %llu %g",
           (unsigned long long)counts[0], (unsigned long long)counts[1], (unsigned long long)count, sum);

    /* Native only: no +Inf bucket is stored, the count is the native buckets' (zero bucket,
     * negative and positive ones, with and without an exemplar). */
    marty_family *only = NULL;
    REQUIRE_OK(marty_native_histogram_family_new(registry, "nh_only", "", NULL, 0, NULL, 0, &options, &only));
    marty_histogram *only_series = NULL;
    REQUIRE_OK(marty_histogram_get(only, NULL, 0, &only_series));
    EXPECT_OK(marty_histogram_observe(only_series, 0));
    EXPECT_OK(marty_histogram_observe(only_series, -2));
    EXPECT_OK(marty_histogram_observe(only_series, 1e300));
    EXPECT_OK(marty_histogram_observe_exemplar(only_series, 5, names, values, 1));
    uint64_t only_counts[1] = {0}, only_count = 0;
    double only_sum = 0;
    EXPECT_OK(marty_histogram_read(only_series, only_counts, 1, &only_count, &only_sum));
    EXPECT(only_counts[0] == 4 && only_count == 4 && only_sum == 1e300, "native only: %llu %llu %g",
           (unsigned long long)only_counts[0], (unsigned long long)only_count, only_sum);
    EXPECT_OK(marty_family_release(only));

    char *out = NULL;
    size_t length = 0;
    EXPECT_OK(marty_registry_render(registry, MARTY_FORMAT_PROTOBUF, &out, &length));
    /* Histogram fields: sample_count 4 (0x08 0x04), schema 0 (0x28 0x00), zero_count 1 (0x38 0x01). */
    static const unsigned char sample_count[2] = {0x08, 0x04}, schema[2] = {0x28, 0x00}, zero_count[2] = {0x38, 0x01};
    EXPECT(out != NULL && contains(out, length, "nh_latency", 10), "family missing");
    EXPECT(out != NULL && contains(out, length, sample_count, 2), "sample_count missing");
    EXPECT(out != NULL && contains(out, length, schema, 2), "schema missing");
    EXPECT(out != NULL && contains(out, length, zero_count, 2), "zero_count missing");
    EXPECT(out != NULL && contains(out, length, "abc", 3), "exemplar missing");
    marty_free(out);

    marty_family_release(family);
    marty_registry_free(registry);
    return marty_test_summary();
}
