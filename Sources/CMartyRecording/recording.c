// Recording through the C interface. Handles: a marty_counter* points at the counter's
// cells, a marty_gauge* at the gauge's cell, a marty_histogram* at a cmarty_histogram (see
// CMartyShims.h); the Swift series own that memory for as long as their family lives.
#include "CMartyRecording.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "CMartyShims.h"

// Records the calling thread's error message (see marty_errmsg) and returns `status`.
__attribute__((noinline, format(printf, 2, 3))) static int fail(int status, const char *format, ...) {
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(cmarty_error_buffer(), CMARTY_ERROR_MESSAGE_CAPACITY, format, arguments);
    va_end(arguments);
    return status;
}

#define REQUIRE(pointer, function, name)                                                      \
    do {                                                                                      \
        if (__builtin_expect((pointer) == NULL, 0)) {                                         \
            return fail(MARTY_ERR_NULL_ARGUMENT, "%s: %s is NULL", function, name);           \
        }                                                                                     \
    } while (0)

// ---- Counters ----------------------------------------------------------------------------

int marty_counter_inc(marty_counter *counter) {
    REQUIRE(counter, "marty_counter_inc", "counter");
    cmarty_counter_add_whole((uint64_t *)counter, 1);
    return MARTY_OK;
}

int marty_counter_add_int(marty_counter *counter, uint64_t amount) {
    REQUIRE(counter, "marty_counter_add_int", "counter");
    cmarty_counter_add_whole((uint64_t *)counter, amount);
    return MARTY_OK;
}

int marty_counter_add(marty_counter *counter, double amount) {
    REQUIRE(counter, "marty_counter_add", "counter");
    if (!(amount >= 0)) {
        if (isnan(amount)) {
            return fail(MARTY_ERR_INVALID_VALUE, "marty_counter_add: counters only go up: cannot add NaN");
        }
        return fail(MARTY_ERR_INVALID_VALUE, "marty_counter_add: counters only go up: cannot add %g (negative)",
                    amount);
    }
    cmarty_counter_add_checked((uint64_t *)counter, amount);
    return MARTY_OK;
}

int marty_counter_value(const marty_counter *counter, double *out) {
    REQUIRE(counter, "marty_counter_value", "counter");
    REQUIRE(out, "marty_counter_value", "out");
    *out = cmarty_counter_value((const uint64_t *)counter);
    return MARTY_OK;
}

// ---- Gauges ------------------------------------------------------------------------------

int marty_gauge_set(marty_gauge *gauge, double value) {
    REQUIRE(gauge, "marty_gauge_set", "gauge");
    cmarty_store_double((uint64_t *)gauge, value);
    return MARTY_OK;
}

int marty_gauge_inc(marty_gauge *gauge) {
    REQUIRE(gauge, "marty_gauge_inc", "gauge");
    cmarty_add_double((uint64_t *)gauge, 1);
    return MARTY_OK;
}

int marty_gauge_dec(marty_gauge *gauge) {
    REQUIRE(gauge, "marty_gauge_dec", "gauge");
    cmarty_add_double((uint64_t *)gauge, -1);
    return MARTY_OK;
}

int marty_gauge_add(marty_gauge *gauge, double amount) {
    REQUIRE(gauge, "marty_gauge_add", "gauge");
    cmarty_add_double((uint64_t *)gauge, amount);
    return MARTY_OK;
}

int marty_gauge_set_to_current_time(marty_gauge *gauge) {
    REQUIRE(gauge, "marty_gauge_set_to_current_time", "gauge");
    cmarty_store_double((uint64_t *)gauge, cmarty_unix_time());
    return MARTY_OK;
}

int marty_gauge_value(const marty_gauge *gauge, double *out) {
    REQUIRE(gauge, "marty_gauge_value", "gauge");
    REQUIRE(out, "marty_gauge_value", "out");
    *out = cmarty_load_double((const uint64_t *)gauge);
    return MARTY_OK;
}

// ---- Histograms --------------------------------------------------------------------------

int marty_histogram_observe(marty_histogram *histogram, double value) {
    REQUIRE(histogram, "marty_histogram_observe", "histogram");
    if (__builtin_expect(isnan(value), 0)) {
        return fail(MARTY_ERR_INVALID_VALUE, "marty_histogram_observe: cannot observe NaN");
    }
    const cmarty_histogram *h = (const cmarty_histogram *)histogram;
    cmarty_histogram_record(h->cells, h->bounds, h->bound_count, value);
    return MARTY_OK;
}

int marty_histogram_read(const marty_histogram *histogram, uint64_t *cumulative_counts, size_t capacity,
                         uint64_t *count, double *sum) {
    REQUIRE(histogram, "marty_histogram_read", "histogram");
    const cmarty_histogram *h = (const cmarty_histogram *)histogram;
    size_t buckets = h->bound_count + 1;
    if (cumulative_counts != NULL && capacity < buckets) {
        return fail(MARTY_ERR_INVALID_ARGUMENT,
                    "marty_histogram_read: capacity %zu is less than the %zu buckets (+Inf included)", capacity,
                    buckets);
    }
    // Merge the shards bucket by bucket; the count is the sum of the buckets, so it always
    // equals the +Inf bucket.
    uint32_t shards = cmarty_shard_count();
    uint64_t running = 0;
    double total = 0;
    for (size_t bucket = 0; bucket < buckets; bucket++) {
        for (uint32_t shard = 0; shard < shards; shard++) {
            running += cmarty_load_u64(h->cells + (size_t)shard * CMARTY_CELL_STRIDE + bucket);
        }
        if (cumulative_counts != NULL) cumulative_counts[bucket] = running;
    }
    for (uint32_t shard = 0; shard < shards; shard++) {
        total += cmarty_load_double(h->cells + (size_t)shard * CMARTY_CELL_STRIDE + buckets);
    }
    if (count != NULL) *count = running;
    if (sum != NULL) *sum = total;
    return MARTY_OK;
}

int marty_histogram_bucket_count(const marty_histogram *histogram, size_t *out) {
    REQUIRE(histogram, "marty_histogram_bucket_count", "histogram");
    REQUIRE(out, "marty_histogram_bucket_count", "out");
    *out = ((const cmarty_histogram *)histogram)->bound_count;
    return MARTY_OK;
}
