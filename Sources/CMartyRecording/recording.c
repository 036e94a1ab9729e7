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

// ---- Exemplars ---------------------------------------------------------------------------

// Checks an exemplar's label pairs as Exemplar.init does in Swift and encodes them into
// `encoded` (CMARTY_EXEMPLAR_LABEL_CAPACITY bytes) as a slot stores them; returns the byte
// count, or a negative status after recording the message.
static long encode_exemplar(const char *function, const char *const *names, const char *const *values, size_t count,
                            uint8_t *encoded) {
    if (count > 0 && names == NULL) return -fail(MARTY_ERR_NULL_ARGUMENT, "%s: label_names is NULL", function);
    if (count > 0 && values == NULL) return -fail(MARTY_ERR_NULL_ARGUMENT, "%s: label_values is NULL", function);
    if (count > CMARTY_EXEMPLAR_LABEL_CAPACITY / 2) {
        return -fail(MARTY_ERR_INVALID_LABEL, "%s: %zu exemplar labels are more than 128 characters allow", function,
                    count);
    }
    size_t length = 0, characters = 0;
    for (size_t i = 0; i < count; i++) {
        const char *name = names[i], *value = values[i];
        if (name == NULL) return -fail(MARTY_ERR_NULL_ARGUMENT, "%s: label_names[%zu] is NULL", function, i);
        if (value == NULL) return -fail(MARTY_ERR_NULL_ARGUMENT, "%s: label_values[%zu] is NULL", function, i);
        int valid_name = name[0] != 0;
        for (size_t j = 0; valid_name && name[j] != 0; j++) {
            unsigned char c = (unsigned char)name[j];
            int letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
            valid_name = letter || (j > 0 && c >= '0' && c <= '9');
        }
        if (!valid_name) {
            return -fail(MARTY_ERR_INVALID_LABEL, "%s: exemplar label name \"%.64s\" must match [a-zA-Z_][a-zA-Z0-9_]*",
                        function, name);
        }
        for (size_t k = 0; k < i; k++) {
            if (strcmp(names[k], name) == 0) {
                return -fail(MARTY_ERR_INVALID_LABEL, "%s: exemplar label name \"%.64s\" is given twice", function, name);
            }
        }
        for (int part = 0; part < 2; part++) {
            const unsigned char *text = (const unsigned char *)(part == 0 ? name : value);
            size_t bytes = strnlen((const char *)text, CMARTY_EXEMPLAR_LABEL_CAPACITY + 1);
            for (size_t at = 0; at < bytes;) {
                unsigned char c = text[at];
                size_t width = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
                int valid = width > 0 && at + width <= bytes;
                for (size_t extra = 1; valid && extra < width; extra++) valid = (text[at + extra] & 0xC0) == 0x80;
                if (!valid) {
                    return -fail(MARTY_ERR_INVALID_UTF8, "%s: exemplar label %s %zu is not valid UTF-8 (byte %zu)",
                                function, part == 0 ? "name" : "value", i, at);
                }
                at += width;
                characters++;
            }
            if (characters > 128 || length + bytes + 1 > CMARTY_EXEMPLAR_LABEL_CAPACITY) {
                return -fail(MARTY_ERR_INVALID_LABEL,
                            "%s: exemplar labels have more than 128 UTF-8 characters, the OpenMetrics limit", function);
            }
            memcpy(encoded + length, text, bytes);
            length += bytes;
            encoded[length++] = 0xFF;
        }
    }
    return (long)length;
}

static int counter_add_exemplar(const char *function, marty_counter *counter, double amount,
                                const char *const *label_names, const char *const *label_values, size_t label_count,
                                double timestamp) {
    REQUIRE(counter, function, "counter");
    if (!(amount >= 0)) return fail(MARTY_ERR_INVALID_VALUE, "%s: counters only go up: cannot add %g", function, amount);
    if (!isfinite(timestamp)) return fail(MARTY_ERR_INVALID_VALUE, "%s: the timestamp %g is not finite", function, timestamp);
    uint8_t encoded[CMARTY_EXEMPLAR_LABEL_CAPACITY];
    long length = encode_exemplar(function, label_names, label_values, label_count, encoded);
    if (length < 0) return (int)-length;
    WITH_CELLS(counter, {
        cmarty_counter_add_checked_at(SHARD(cells, thread), amount);
        uint64_t *slots = cmarty_exemplar_slots(cells - CMARTY_CELL_STRIDE + 1, 1);
        if (slots != NULL) cmarty_exemplar_store(slots, amount, timestamp, encoded, (size_t)length);
    });
    return MARTY_OK;
}

int marty_counter_add_exemplar(marty_counter *counter, double amount, const char *const *label_names,
                               const char *const *label_values, size_t label_count) {
    return counter_add_exemplar("marty_counter_add_exemplar", counter, amount, label_names, label_values,
                                label_count, cmarty_unix_time());
}

int marty_counter_add_exemplar_at(marty_counter *counter, double amount, const char *const *label_names,
                                  const char *const *label_values, size_t label_count, double timestamp) {
    return counter_add_exemplar("marty_counter_add_exemplar_at", counter, amount, label_names, label_values,
                                label_count, timestamp);
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
// A histogram's header row holds [generation, bound count, bounds..., exemplar slots] (see
// CMartyShims.h).

#define HEADER(cells) ((cells) - CMARTY_CELL_STRIDE)
#define BOUND_COUNT(cells) ((size_t)cmarty_load_u64(HEADER(cells) + 1))
#define BOUNDS(cells) ((const double *)(HEADER(cells) + 2))
// The native configuration (or NULL) in the header cell after the exemplar cell; the native
// cells of a shard follow its classic ones.
#define NATIVE(cells, bound_count) ((const cmarty_native_config *)(uintptr_t)cmarty_load_u64(HEADER(cells) + 3 + (bound_count)))

static inline void observe_at(uint64_t *cells, uint64_t *shard, double value) {
    size_t bound_count = BOUND_COUNT(cells);
    cmarty_observe_at(shard, BOUNDS(cells), bound_count, NATIVE(cells, bound_count), value);
}

int marty_histogram_observe(marty_histogram *histogram, double value) {
    REQUIRE(histogram, "marty_histogram_observe", "histogram");
    if (__builtin_expect(isnan(value), 0)) {
        return fail(MARTY_ERR_INVALID_VALUE, "marty_histogram_observe: cannot observe NaN");
    }
    WITH_CELLS(histogram, observe_at(cells, SHARD(cells, thread), value));
    return MARTY_OK;
}

static int histogram_observe_exemplar(const char *function, marty_histogram *histogram, double value,
                                     const char *const *label_names, const char *const *label_values,
                                     size_t label_count, double timestamp) {
    REQUIRE(histogram, function, "histogram");
    if (isnan(value)) return fail(MARTY_ERR_INVALID_VALUE, "%s: cannot observe NaN", function);
    if (!isfinite(timestamp)) return fail(MARTY_ERR_INVALID_VALUE, "%s: the timestamp %g is not finite", function, timestamp);
    uint8_t encoded[CMARTY_EXEMPLAR_LABEL_CAPACITY];
    long length = encode_exemplar(function, label_names, label_values, label_count, encoded);
    if (length < 0) return (int)-length;
    WITH_CELLS(histogram, {
        size_t bound_count = BOUND_COUNT(cells);
        observe_at(cells, SHARD(cells, thread), value);
        uint64_t *slots = cmarty_exemplar_slots(HEADER(cells) + 2 + bound_count, bound_count + 1);
        if (slots != NULL) {
            size_t bucket = cmarty_histogram_bucket(BOUNDS(cells), bound_count, value);
            cmarty_exemplar_store(cmarty_exemplar_slot(slots, bucket), value, timestamp, encoded, (size_t)length);
        }
    });
    return MARTY_OK;
}

int marty_histogram_observe_exemplar(marty_histogram *histogram, double value, const char *const *label_names,
                                     const char *const *label_values, size_t label_count) {
    return histogram_observe_exemplar("marty_histogram_observe_exemplar", histogram, value, label_names,
                                      label_values, label_count, cmarty_unix_time());
}

int marty_histogram_observe_exemplar_at(marty_histogram *histogram, double value, const char *const *label_names,
                                        const char *const *label_values, size_t label_count, double timestamp) {
    return histogram_observe_exemplar("marty_histogram_observe_exemplar_at", histogram, value, label_names,
                                      label_values, label_count, timestamp);
}

// Merges the shards bucket by bucket; the count is the sum of the buckets, so it always
// equals the +Inf bucket.
static void read_histogram(const uint64_t *cells, size_t buckets, uint64_t *cumulative_counts, uint64_t *count,
                           double *sum) {
    uint32_t shards = cmarty_shard_count();
    const cmarty_native_config *native = NATIVE(cells, buckets - 1);
    uint64_t running = 0;
    double total = 0;
    for (size_t bucket = 0; bucket < buckets; bucket++) {
        for (uint32_t shard = 0; shard < shards; shard++) {
            const uint64_t *row = cells + (size_t)shard * CMARTY_CELL_STRIDE;
            running += bucket + 1 < buckets ? cmarty_load_u64(row + bucket) : cmarty_inf_bucket_at(row, bucket, native);
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
