// Small C helpers of the core: relaxed atomics on raw cells, the calling thread's shard
// index, and the recording operations on a series' cells (static inline, so that both the
// Swift core and the C entry points of the shared library inline the one implementation).

#ifndef CMARTY_SHIMS_H
#define CMARTY_SHIMS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cmarty_cpus.h"
#include "cmarty_environment.h"
#include "cmarty_lock.h"
#include "cmarty_multiprocess.h"
#include "cmarty_threads.h"

#ifdef __cplusplus
extern "C" {
#endif

static inline void cmarty_add_u64(uint64_t *cell, uint64_t amount) {
    __atomic_fetch_add(cell, amount, __ATOMIC_RELAXED);
}

static inline uint64_t cmarty_load_u64(const uint64_t *cell) {
    return __atomic_load_n(cell, __ATOMIC_RELAXED);
}

static inline void cmarty_store_u64(uint64_t *cell, uint64_t value) {
    __atomic_store_n(cell, value, __ATOMIC_RELAXED);
}

// Adds to a double kept as its bit pattern in a 64-bit cell.
static inline void cmarty_add_double(uint64_t *cell, double amount) {
    uint64_t old_bits = __atomic_load_n(cell, __ATOMIC_RELAXED);
    for (;;) {
        double old_value;
        memcpy(&old_value, &old_bits, sizeof old_value);
        double new_value = old_value + amount;
        uint64_t new_bits;
        memcpy(&new_bits, &new_value, sizeof new_bits);
        if (__atomic_compare_exchange_n(cell, &old_bits, new_bits, 1, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED)) {
            return;
        }
    }
}

static inline double cmarty_load_double(const uint64_t *cell) {
    uint64_t bits = __atomic_load_n(cell, __ATOMIC_RELAXED);
    double value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

static inline void cmarty_store_double(uint64_t *cell, double value) {
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    __atomic_store_n(cell, bits, __ATOMIC_RELAXED);
}

// Word-sized publication of lookup tables: release on store, acquire on load.
static inline uintptr_t cmarty_load_acquire_word(const uintptr_t *cell) {
    return __atomic_load_n(cell, __ATOMIC_ACQUIRE);
}

static inline void cmarty_store_release_word(uintptr_t *cell, uintptr_t value) {
    __atomic_store_n(cell, value, __ATOMIC_RELEASE);
}

// ---- Recording on a series' cells -----------------------------------------------------------
//
// A series has `width` cells in each row of its arena; row r's cells start CMARTY_CELL_STRIDE
// cells after row r-1's (see CellArena.swift). Row 0 is the header ([generation, ...]); a
// series' base pointer is its row-1 cells, the first shard. A counter's cells are
// [whole count, fractional sum (double bits)] and its header [generation, exemplar slots]; a
// histogram's are [bucket counts..., +Inf count, sum (double bits), unused] and its header
// [generation, bound count, bounds..., exemplar slots].

#define CMARTY_CELL_STRIDE 4096

// Whole increments below this go to the integer cell (2^64 of them would take centuries),
// larger ones to the float cell, so that no integer cell can wrap.
#define CMARTY_LARGEST_WHOLE_INCREMENT (UINT64_C(1) << 32)

static inline uint64_t *cmarty_shard_cells(uint64_t *cells) {
    return cells + (size_t)cmarty_thread_shard() * CMARTY_CELL_STRIDE;
}

// Adds a whole number to a counter's cells of one shard.
static inline void cmarty_counter_add_whole_at(uint64_t *shard, uint64_t amount) {
    if (__builtin_expect(amount < CMARTY_LARGEST_WHOLE_INCREMENT, 1)) {
        cmarty_add_u64(shard, amount);
    } else {
        cmarty_add_double(shard + 1, (double)amount);
    }
}

static inline void cmarty_counter_add_whole(uint64_t *cells, uint64_t amount) {
    cmarty_counter_add_whole_at(cmarty_shard_cells(cells), amount);
}

// Adds an amount already checked to be >= 0 (not NaN) to a counter's cells of one shard.
static inline void cmarty_counter_add_checked_at(uint64_t *shard, double amount) {
    if (amount < (double)CMARTY_LARGEST_WHOLE_INCREMENT && amount == (double)(uint64_t)amount) {
        cmarty_add_u64(shard, (uint64_t)amount);
    } else {
        cmarty_add_double(shard + 1, amount);
    }
}

static inline void cmarty_counter_add_checked(uint64_t *cells, double amount) {
    cmarty_counter_add_checked_at(cmarty_shard_cells(cells), amount);
}

// A counter's total over all shards.
static inline double cmarty_counter_value(const uint64_t *cells) {
    uint64_t whole = 0;
    double overflowed = 0, fraction = 0;
    uint32_t shards = cmarty_shard_count();
    for (uint32_t shard = 0; shard < shards; shard++) {
        const uint64_t *cell = cells + (size_t)shard * CMARTY_CELL_STRIDE;
        uint64_t sum;
        if (__builtin_add_overflow(whole, cmarty_load_u64(cell), &sum)) {
            overflowed += (double)whole;
            sum = cmarty_load_u64(cell);
        }
        whole = sum;
        fraction += cmarty_load_double(cell + 1);
    }
    return overflowed + (double)whole + fraction;
}

// Records a value that is not NaN into one shard's cells: one bucket count and the sum.
static inline void cmarty_histogram_record_at(uint64_t *shard, const double *bounds, size_t bound_count,
                                              double value) {
    size_t bucket = 0;
    if (bound_count <= 16) {
        while (bucket < bound_count && value > bounds[bucket]) bucket++;
    } else {
        size_t high = bound_count;
        while (bucket < high) {
            size_t middle = (bucket + high) / 2;
            if (value > bounds[middle]) {
                bucket = middle + 1;
            } else {
                high = middle;
            }
        }
    }
    cmarty_add_u64(shard + bucket, 1);
    cmarty_add_double(shard + bound_count + 1, value);
}

static inline void cmarty_histogram_record(uint64_t *cells, const double *bounds, size_t bound_count,
                                           double value) {
    cmarty_histogram_record_at(cmarty_shard_cells(cells), bounds, bound_count, value);
}

// ---- Exemplars ----------------------------------------------------------------------------
//
// A series that has been given an exemplar owns a block of slots (one for a counter, one per
// bucket for a histogram), allocated at its first exemplar and published through a header
// cell; it is freed with the series' cells, after cmarty_synchronize(). Recording without an
// exemplar never touches it. A slot is a sequence lock: [sequence (odd while written), value
// (double bits), timestamp (double bits), label byte count, label bytes...], where the labels
// are `name 0xFF value 0xFF` for each pair (0xFF is never part of UTF-8). A writer that finds
// the slot being written drops its exemplar, as exemplars are samples: no writer ever waits.

// The OpenMetrics limit is 128 UTF-8 characters of names and values; each takes at most 4
// bytes, and each name and value one separator (a pair has at least a 1-character name).
#define CMARTY_EXEMPLAR_LABEL_CAPACITY 640 /* 128 * 4 + 128 */
#define CMARTY_EXEMPLAR_SLOT_CELLS 84 /* 4 + CMARTY_EXEMPLAR_LABEL_CAPACITY / 8 */

// Whether any series in the process was ever given an exemplar block: until one is, scrapes
// skip every series' block cell, a cache line of its own.
extern uint32_t cmarty_exemplar_blocks_exist;

static inline int cmarty_any_exemplar_block(void) {
    return __atomic_load_n(&cmarty_exemplar_blocks_exist, __ATOMIC_ACQUIRE) != 0;
}

// The block of `slot_count` slots whose address `pointer_cell` holds, allocated (zeroed) and
// published by the first caller; NULL if out of memory, and for a series in the segment that
// pre-fork workers share, whose other processes could not read a block malloc'd in this one.
static inline uint64_t *cmarty_exemplar_slots(uint64_t *pointer_cell, size_t slot_count) {
    if (cmarty_mp_contains(pointer_cell)) return NULL;
    uintptr_t *cell = (uintptr_t *)pointer_cell;
    uintptr_t current = __atomic_load_n(cell, __ATOMIC_ACQUIRE);
    if (current != 0) return (uint64_t *)current;
    uint64_t *fresh = (uint64_t *)calloc(slot_count * CMARTY_EXEMPLAR_SLOT_CELLS, sizeof(uint64_t));
    if (fresh == NULL) return NULL;
    if (__atomic_compare_exchange_n(cell, &current, (uintptr_t)fresh, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        if (!cmarty_any_exemplar_block()) __atomic_store_n(&cmarty_exemplar_blocks_exist, 1, __ATOMIC_RELEASE);
        return fresh;
    }
    free(fresh);  // another thread published its block first
    return (uint64_t *)current;
}

// Frees the block whose address `pointer_cell` holds, if any, and clears the cell.
static inline void cmarty_free_block_at(uint64_t *pointer_cell) {
    free((void *)(uintptr_t)__atomic_exchange_n(pointer_cell, 0, __ATOMIC_ACQ_REL));
}

static inline uint64_t *cmarty_exemplar_slot(uint64_t *slots, size_t index) {
    return slots + index * CMARTY_EXEMPLAR_SLOT_CELLS;
}

// Writes an exemplar into a slot unless another writer holds it. `length` must be at most
// CMARTY_EXEMPLAR_LABEL_CAPACITY (checked by the callers, which build the labels).
static inline void cmarty_exemplar_store(uint64_t *slot, double value, double timestamp, const uint8_t *labels,
                                         size_t length) {
    uint64_t sequence = __atomic_load_n(slot, __ATOMIC_RELAXED);
    if ((sequence & 1) != 0) return;
    if (!__atomic_compare_exchange_n(slot, &sequence, sequence + 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) return;
    cmarty_store_double(slot + 1, value);
    cmarty_store_double(slot + 2, timestamp);
    cmarty_store_u64(slot + 3, length);
    for (size_t offset = 0; offset < length; offset += 8) {
        uint64_t word = 0;
        memcpy(&word, labels + offset, length - offset < 8 ? length - offset : 8);
        cmarty_store_u64(slot + 4 + offset / 8, word);
    }
    __atomic_store_n(slot, sequence + 2, __ATOMIC_RELEASE);
}

// Copies a slot's exemplar; `labels` has room for CMARTY_EXEMPLAR_LABEL_CAPACITY bytes.
// Returns the label byte count, or -1 if the slot holds none (never written, or being
// rewritten through every retry: a scrape then shows the bucket without one).
static inline long cmarty_exemplar_load(const uint64_t *slot, double *value, double *timestamp, uint8_t *labels) {
    for (int attempt = 0; attempt < 64; attempt++) {
        uint64_t before = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
        if (before == 0) return -1;
        if ((before & 1) != 0) continue;
        *value = cmarty_load_double(slot + 1);
        *timestamp = cmarty_load_double(slot + 2);
        uint64_t length = cmarty_load_u64(slot + 3);
        if (length > CMARTY_EXEMPLAR_LABEL_CAPACITY) continue;
        for (uint64_t offset = 0; offset < length; offset += 8) {
            uint64_t word = cmarty_load_u64(slot + 4 + offset / 8);
            memcpy(labels + offset, &word, length - offset < 8 ? length - offset : 8);
        }
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(slot, __ATOMIC_RELAXED) == before) return (long)length;
    }
    return -1;
}

// The bucket an observation falls into: the first whose bound is >= value, or the +Inf one.
static inline size_t cmarty_histogram_bucket(const double *bounds, size_t bound_count, double value) {
    size_t bucket = 0;
    size_t high = bound_count;
    while (bucket < high) {
        size_t middle = (bucket + high) / 2;
        if (value > bounds[middle]) {
            bucket = middle + 1;
        } else {
            high = middle;
        }
    }
    return bucket;
}

// ---- Native histograms ----------------------------------------------------------------------
//
// A native histogram counts observations in exponential buckets: at schema s, bucket i holds
// the values in (2^((i-1)/2^s), 2^(i/2^s)] (negative values mirrored), and values within the
// zero threshold go to the zero bucket. Each shard row of the series holds, after its classic
// cells: [zero count, slots of (key + CMARTY_NATIVE_KEY_BIAS, count) in an open-addressing
// table claimed with compare-and-swap, then dense counts at schema -4 for observations that find
// no free slot within CMARTY_NATIVE_PROBES probes, a flag set once they are used, then the list
// of claimed slots].
// Nothing is allocated or locked when recording; readings merge the shards and lower the
// resolution until the buckets fit.

#define CMARTY_NATIVE_PROBES 16
#define CMARTY_NATIVE_KEY_BIAS 1099511627776ULL /* 2^40 */
// Schema -4 keys of doubles lie in [-67, 64]; one dense row per sign.
#define CMARTY_NATIVE_COARSE_MIN (-67)
#define CMARTY_NATIVE_COARSE_SPAN 132

// What a native histogram's recording needs, shared by its series (the family owns it).
typedef struct cmarty_native_config {
    int32_t schema;
    uint32_t slot_count;  // a power of two
    double zero_threshold;
    // The 2^schema bucket bounds within [0.5, 1) for schema > 0: bounds[j] = 2^(j/2^schema - 1).
    const double *bounds;
} cmarty_native_config;

// For the Swift core, which imports no C math library.
static inline double cmarty_log2(double value) { return log2(value); }
static inline double cmarty_exp2(double value) { return exp2(value); }

// Slots are listed in the order they were claimed, four 16-bit (index + 1) to a cell, after a
// cell counting them: readings visit the claimed slots only, not the whole table.
#define CMARTY_NATIVE_MAX_SLOTS 1024

static inline size_t cmarty_native_width(const cmarty_native_config *config) {
    size_t slots = config->slot_count;
    return 1 + 2 * slots + 2 * CMARTY_NATIVE_COARSE_SPAN + 1 + 1 + (slots + 3) / 4;
}

// The dense rows of one shard's native cells, and the cell after them, set once an
// observation found no slot: readings skip the rows while it is clear.
static inline uint64_t *cmarty_native_dense(uint64_t *native, const cmarty_native_config *config) {
    return native + 1 + 2 * (size_t)config->slot_count;
}
static inline int cmarty_native_dense_used(const uint64_t *native, const cmarty_native_config *config) {
    return cmarty_load_u64(native + 1 + 2 * (size_t)config->slot_count + 2 * CMARTY_NATIVE_COARSE_SPAN) != 0;
}

// The cell counting claimed slots; the list of their indices follows it.
static inline uint64_t *cmarty_native_claimed(uint64_t *native, const cmarty_native_config *config) {
    return native + 1 + 2 * (size_t)config->slot_count + 2 * CMARTY_NATIVE_COARSE_SPAN + 1;
}

// Called once per slot, by the thread whose compare-and-swap claimed it.
static inline void cmarty_native_list_claim(uint64_t *native, const cmarty_native_config *config, uint64_t index) {
    uint64_t *claimed = cmarty_native_claimed(native, config);
    uint64_t position = __atomic_fetch_add(claimed, 1, __ATOMIC_RELAXED);
    if (position >= config->slot_count) return;  // never: a slot is claimed once
    __atomic_fetch_or(claimed + 1 + position / 4, (index + 1) << (16 * (position % 4)), __ATOMIC_RELEASE);
}

// How many list positions to visit (some may still be 0, being written).
static inline uint32_t cmarty_native_claimed_count(const uint64_t *native, const cmarty_native_config *config) {
    uint64_t count = cmarty_load_u64(cmarty_native_claimed((uint64_t *)native, config));
    return (uint32_t)(count < config->slot_count ? count : config->slot_count);
}

// The slot index at list position `position`, or -1 while its claimer has not listed it yet.
static inline int64_t cmarty_native_claimed_slot(const uint64_t *native, const cmarty_native_config *config,
                                                 uint32_t position) {
    const uint64_t *list = cmarty_native_claimed((uint64_t *)native, config) + 1;
    uint64_t word = __atomic_load_n(list + position / 4, __ATOMIC_ACQUIRE);
    uint64_t entry = (word >> (16 * (position % 4))) & 0xFFFF;
    return entry == 0 ? -1 : (int64_t)entry - 1;
}

// The bucket key of |value| (> the zero threshold, finite or infinite) at `schema`, as
// client_golang computes it from frexp so that bucket boundaries are exact. This is the
// general form; cmarty_native_key takes the exponent and fraction from the bits instead.
static inline int64_t cmarty_native_key_frexp(double magnitude, int32_t schema, const double *bounds) {
    if (magnitude > 1.7976931348623157e308) magnitude = 1.7976931348623157e308;  // +Inf: the top bucket
    int exponent;
    double fraction = frexp(magnitude, &exponent);
    if (schema > 0) {
        size_t count = (size_t)1 << schema, low = 0, high = count;
        while (low < high) {  // the first bound >= fraction
            size_t middle = (low + high) / 2;
            if (bounds[middle] < fraction) low = middle + 1; else high = middle;
        }
        return (int64_t)low + (int64_t)(exponent - 1) * (int64_t)count;
    }
    int64_t key = exponent;
    if (fraction == 0.5) key--;
    int64_t offset = ((int64_t)1 << -schema) - 1;
    return (key + offset) >> -schema;
}

// The same key as cmarty_native_key_frexp, with frexp's exponent and fraction read from the
// bits of a normal double, and a search without branches to mispredict: observe's cost is
// mostly here and in its atomics (subnormals and infinities take the general form).
static inline int64_t cmarty_native_key(double magnitude, int32_t schema, const double *bounds) {
    uint64_t bits;
    memcpy(&bits, &magnitude, sizeof bits);
    uint64_t biased_exponent = bits >> 52;  // the sign bit is clear
    if (__builtin_expect(biased_exponent == 0 || biased_exponent == 0x7ff, 0)) {
        return cmarty_native_key_frexp(magnitude, schema, bounds);
    }
    int64_t exponent = (int64_t)biased_exponent - 1022;  // magnitude = fraction * 2^exponent
    uint64_t mantissa = bits & ((UINT64_C(1) << 52) - 1);
    if (schema > 0) {
        uint64_t fraction_bits = mantissa | (UINT64_C(1022) << 52);  // in [0.5, 1)
        double fraction;
        memcpy(&fraction, &fraction_bits, sizeof fraction);
        size_t count = (size_t)1 << schema;
        const double *base = bounds;
        for (size_t remaining = count; remaining > 1; remaining -= remaining / 2) {
            size_t half = remaining / 2;
            base = base[half] < fraction ? base + half : base;
        }
        size_t low = (size_t)(base - bounds) + (*base < fraction);  // the first bound >= fraction
        return (int64_t)low + (exponent - 1) * (int64_t)count;
    }
    int64_t key = exponent - (mantissa == 0);  // a fraction of exactly 0.5 is the bucket below
    int64_t offset = ((int64_t)1 << -schema) - 1;
    return (key + offset) >> -schema;
}

// Records a value that is not NaN into one shard's native cells.
static inline void cmarty_native_record_at(uint64_t *native, const cmarty_native_config *config, double value) {
    double magnitude = value < 0 ? -value : value;
    if (magnitude <= config->zero_threshold) {
        cmarty_add_u64(native, 1);
        return;
    }
    int negative = value < 0;
    int64_t key = cmarty_native_key(magnitude, config->schema, config->bounds);
    uint64_t stored = (uint64_t)(key * 2 + negative) + CMARTY_NATIVE_KEY_BIAS;
    uint64_t *slots = native + 1;
    uint64_t mask = config->slot_count - 1;
    uint64_t index = (stored * UINT64_C(0x9E3779B97F4A7C15)) >> 32 & mask;
    for (int probe = 0; probe < CMARTY_NATIVE_PROBES; probe++, index = (index + 1) & mask) {
        uint64_t *slot = slots + 2 * index;
        uint64_t found = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
        if (found == 0) {
            uint64_t expected = 0;
            if (__atomic_compare_exchange_n(slot, &expected, stored, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
                found = stored;
                cmarty_native_list_claim(native, config, index);
            } else {
                found = expected;
            }
        }
        if (found == stored) {
            cmarty_add_u64(slot + 1, 1);
            return;
        }
    }
    // No slot: the dense row at schema -4, which readings then lower everything to.
    int64_t coarse = cmarty_native_key(magnitude, -4, NULL);
    uint64_t *dense = cmarty_native_dense(native, config);
    cmarty_add_u64(dense + (negative ? CMARTY_NATIVE_COARSE_SPAN : 0) + (coarse - CMARTY_NATIVE_COARSE_MIN), 1);
    uint64_t *used = dense + 2 * CMARTY_NATIVE_COARSE_SPAN;
    if (cmarty_load_u64(used) == 0) cmarty_store_u64(used, 1);
}

// The observations in one shard's native cells: the zero bucket, the claimed slots and the
// dense rows.
static inline uint64_t cmarty_native_count_at(const uint64_t *native, const cmarty_native_config *config) {
    uint64_t count = cmarty_load_u64(native);
    const uint64_t *slots = native + 1;
    uint32_t claimed = cmarty_native_claimed_count(native, config);
    for (uint32_t position = 0; position < claimed; position++) {
        int64_t slot = cmarty_native_claimed_slot(native, config, position);
        if (slot >= 0) count += cmarty_load_u64(slots + 2 * (size_t)slot + 1);
    }
    if (cmarty_native_dense_used(native, config)) {
        const uint64_t *dense = slots + 2 * (size_t)config->slot_count;
        for (size_t position = 0; position < 2 * CMARTY_NATIVE_COARSE_SPAN; position++) {
            count += cmarty_load_u64(dense + position);
        }
    }
    return count;
}

// Records a value that is not NaN into one shard of a histogram (classic buckets, native ones,
// or both). A native-only histogram counts no +Inf bucket: its count is its native buckets'
// (see cmarty_inf_bucket_at), which saves observe one atomic.
static inline void cmarty_observe_at(uint64_t *shard, const double *bounds, size_t bound_count,
                                     const cmarty_native_config *native, double value) {
    if (native == NULL) {
        cmarty_histogram_record_at(shard, bounds, bound_count, value);
        return;
    }
    if (bound_count == 0) {
        cmarty_add_double(shard + 1, value);
    } else {
        cmarty_histogram_record_at(shard, bounds, bound_count, value);
    }
    cmarty_native_record_at(shard + bound_count + 3, native, value);
}

// The +Inf bucket's (non-cumulative) count in one shard: stored, or for a native-only
// histogram its native buckets' count.
static inline uint64_t cmarty_inf_bucket_at(const uint64_t *shard, size_t bound_count,
                                            const cmarty_native_config *native) {
    if (native != NULL && bound_count == 0) return cmarty_native_count_at(shard + 3, native);
    return cmarty_load_u64(shard + bound_count);
}

// Unix time in seconds.
static inline double cmarty_unix_time(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

#ifdef __cplusplus
}
#endif

#endif
