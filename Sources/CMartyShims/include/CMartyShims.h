// Small C helpers of the core: relaxed atomics on raw cells, the calling thread's shard
// index, and the recording operations on a series' cells (static inline, so that both the
// Swift core and the C entry points of the shared library inline the one implementation).

#ifndef CMARTY_SHIMS_H
#define CMARTY_SHIMS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <stdlib.h>
#include <string.h>

#include "cmarty_cpus.h"
#include "cmarty_lock.h"
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

// The block of `slot_count` slots whose address `pointer_cell` holds, allocated (zeroed) and
// published by the first caller; NULL if out of memory.
static inline uint64_t *cmarty_exemplar_slots(uint64_t *pointer_cell, size_t slot_count) {
    uintptr_t *cell = (uintptr_t *)pointer_cell;
    uintptr_t current = __atomic_load_n(cell, __ATOMIC_ACQUIRE);
    if (current != 0) return (uint64_t *)current;
    uint64_t *fresh = (uint64_t *)calloc(slot_count * CMARTY_EXEMPLAR_SLOT_CELLS, sizeof(uint64_t));
    if (fresh == NULL) return NULL;
    if (__atomic_compare_exchange_n(cell, &current, (uintptr_t)fresh, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
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
