// Recording through the C interface. A handle is a series' base pointer tagged with its
// generation (see "Handles of the C interface" in CMartyRecording.h): a call checks the tag and
// writes inside a read section, so a handle whose series was removed records nothing.
#include "CMartyRecording.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

char *cmarty_error_buffer(void) {
    char **slot = cmarty_error_slot();
    if (slot == NULL) return NULL;
    if (*slot == NULL) *slot = calloc(1, CMARTY_ERROR_MESSAGE_CAPACITY);
    return *slot;
}

// Records the calling thread's error message (see marty_errmsg) and returns `status`.
__attribute__((noinline, format(printf, 2, 3))) static int fail(int status, const char *format, ...) {
    char *buffer = cmarty_error_buffer();
    if (buffer == NULL) return status;  // out of memory: no message
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(buffer, CMARTY_ERROR_MESSAGE_CAPACITY, format, arguments);
    va_end(arguments);
    return status;
}

#define REQUIRE(pointer, function, name)                                                      \
    do {                                                                                      \
        if ((pointer) == NULL) {                                                              \
            return fail(MARTY_ERR_NULL_ARGUMENT, "%s: %s is NULL", function, name);           \
        }                                                                                     \
    } while (0)

// Runs `body` with `cells` (the series' base) and `thread` inside a read section, unless the
// handle's series is gone: recording into it is then harmless and invisible.
#define WITH_CELLS(handle, body)                                                             \
    do {                                                                                     \
        cmarty_thread *thread = cmarty_this_thread();                                        \
        cmarty_read_begin(thread);                                                           \
        uint64_t *cells = cmarty_handle_cells(handle);                                       \
        if (cells != NULL) {                                                                 \
            body;                                                                            \
        }                                                                                    \
        cmarty_read_end(thread);                                                             \
    } while (0)

#define SHARD(cells, thread) ((cells) + (size_t)(thread)->shard * CMARTY_CELL_STRIDE)

// A reading of a series that was removed and freed is refused.
static int gone(const char *function) {
    return fail(MARTY_ERR_NOT_FOUND, "%s: the series was removed and its memory reused", function);
}

// ---- Counters ----------------------------------------------------------------------------

int marty_counter_inc(marty_counter *counter) {
    REQUIRE(counter, "marty_counter_inc", "counter");
    WITH_CELLS(counter, cmarty_counter_add_whole_at(SHARD(cells, thread), 1));
    return MARTY_OK;
}

int marty_counter_add_int(marty_counter *counter, uint64_t amount) {
    REQUIRE(counter, "marty_counter_add_int", "counter");
    WITH_CELLS(counter, cmarty_counter_add_whole_at(SHARD(cells, thread), amount));
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
    WITH_CELLS(counter, cmarty_counter_add_checked_at(SHARD(cells, thread), amount));
    return MARTY_OK;
}

int marty_counter_value(const marty_counter *counter, double *out) {
    REQUIRE(counter, "marty_counter_value", "counter");
    REQUIRE(out, "marty_counter_value", "out");
    int found = 0;
    double value = 0;
    WITH_CELLS(counter, (value = cmarty_counter_value(cells), found = 1));
    if (!found) return gone("marty_counter_value");
    *out = value;
    return MARTY_OK;
}

// ---- Gauges ------------------------------------------------------------------------------

int marty_gauge_set(marty_gauge *gauge, double value) {
    REQUIRE(gauge, "marty_gauge_set", "gauge");
    WITH_CELLS(gauge, cmarty_store_double(cells, value));
    return MARTY_OK;
}

int marty_gauge_inc(marty_gauge *gauge) {
    REQUIRE(gauge, "marty_gauge_inc", "gauge");
    WITH_CELLS(gauge, cmarty_add_double(cells, 1));
    return MARTY_OK;
}

int marty_gauge_dec(marty_gauge *gauge) {
    REQUIRE(gauge, "marty_gauge_dec", "gauge");
    WITH_CELLS(gauge, cmarty_add_double(cells, -1));
    return MARTY_OK;
}

int marty_gauge_add(marty_gauge *gauge, double amount) {
    REQUIRE(gauge, "marty_gauge_add", "gauge");
    WITH_CELLS(gauge, cmarty_add_double(cells, amount));
    return MARTY_OK;
}

int marty_gauge_set_to_current_time(marty_gauge *gauge) {
    REQUIRE(gauge, "marty_gauge_set_to_current_time", "gauge");
    double now = cmarty_unix_time();
    WITH_CELLS(gauge, cmarty_store_double(cells, now));
    return MARTY_OK;
}

int marty_gauge_value(const marty_gauge *gauge, double *out) {
    REQUIRE(gauge, "marty_gauge_value", "gauge");
    REQUIRE(out, "marty_gauge_value", "out");
    int found = 0;
    double value = 0;
    WITH_CELLS(gauge, (value = cmarty_load_double(cells), found = 1));
    if (!found) return gone("marty_gauge_value");
    *out = value;
    return MARTY_OK;
}

// ---- Histograms --------------------------------------------------------------------------
//
// A histogram's header row holds [generation, bound count, bounds...] (see CMartyShims.h).

#define HEADER(cells) ((cells) - CMARTY_CELL_STRIDE)
#define BOUND_COUNT(cells) ((size_t)cmarty_load_u64(HEADER(cells) + 1))
#define BOUNDS(cells) ((const double *)(HEADER(cells) + 2))

int marty_histogram_observe(marty_histogram *histogram, double value) {
    REQUIRE(histogram, "marty_histogram_observe", "histogram");
    if (__builtin_expect(isnan(value), 0)) {
        return fail(MARTY_ERR_INVALID_VALUE, "marty_histogram_observe: cannot observe NaN");
    }
    WITH_CELLS(histogram, cmarty_histogram_record_at(SHARD(cells, thread), BOUNDS(cells), BOUND_COUNT(cells), value));
    return MARTY_OK;
}

// Merges the shards bucket by bucket; the count is the sum of the buckets, so it always
// equals the +Inf bucket.
static void read_histogram(const uint64_t *cells, size_t buckets, uint64_t *cumulative_counts, uint64_t *count,
                           double *sum) {
    uint32_t shards = cmarty_shard_count();
    uint64_t running = 0;
    double total = 0;
    for (size_t bucket = 0; bucket < buckets; bucket++) {
        for (uint32_t shard = 0; shard < shards; shard++) {
            running += cmarty_load_u64(cells + (size_t)shard * CMARTY_CELL_STRIDE + bucket);
        }
        if (cumulative_counts != NULL) cumulative_counts[bucket] = running;
    }
    for (uint32_t shard = 0; shard < shards; shard++) {
        total += cmarty_load_double(cells + (size_t)shard * CMARTY_CELL_STRIDE + buckets);
    }
    if (count != NULL) *count = running;
    if (sum != NULL) *sum = total;
}

int marty_histogram_read(const marty_histogram *histogram, uint64_t *cumulative_counts, size_t capacity,
                         uint64_t *count, double *sum) {
    REQUIRE(histogram, "marty_histogram_read", "histogram");
    int status = MARTY_OK;
    int found = 0;
    size_t needed = 0;
    WITH_CELLS(histogram, {
        found = 1;
        size_t buckets = BOUND_COUNT(cells) + 1;
        if (cumulative_counts != NULL && capacity < buckets) {
            status = MARTY_ERR_INVALID_ARGUMENT;
            needed = buckets;
        } else {
            read_histogram(cells, buckets, cumulative_counts, count, sum);
        }
    });
    if (!found) return gone("marty_histogram_read");
    if (status != MARTY_OK) {
        return fail(status, "marty_histogram_read: capacity %zu is less than the %zu buckets (+Inf included)",
                    capacity, needed);
    }
    return MARTY_OK;
}

int marty_histogram_bucket_count(const marty_histogram *histogram, size_t *out) {
    REQUIRE(histogram, "marty_histogram_bucket_count", "histogram");
    REQUIRE(out, "marty_histogram_bucket_count", "out");
    int found = 0;
    size_t bound_count = 0;
    WITH_CELLS(histogram, (bound_count = BOUND_COUNT(cells), found = 1));
    if (!found) return gone("marty_histogram_bucket_count");
    *out = bound_count;
    return MARTY_OK;
}
