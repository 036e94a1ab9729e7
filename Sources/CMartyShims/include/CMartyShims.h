// Small C helpers for Swift: relaxed atomics on raw cells and the calling thread's shard
// index (static inline, so Swift inlines them into the recording paths), and the
// thread-local error message of the C interface.

#ifndef CMARTY_SHIMS_H
#define CMARTY_SHIMS_H

#include <stdint.h>

// The public header, so that the C interface module sees its option structs and callback
// types exactly as C callers do.
#include "../../../include/marty_metrics.h"
#include <string.h>

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

// Number of shards every sharded cell set has: a power of two fixed at first use.
uint32_t cmarty_shard_count(void);

// Assigns the calling thread a shard (round robin) and returns it.
uint32_t cmarty_assign_thread_shard(void);

// The calling thread's shard plus one; 0 until the thread first records.
extern __thread uint32_t cmarty_thread_shard_plus_one;

// The calling thread's shard, in [0, cmarty_shard_count()).
static inline uint32_t cmarty_thread_shard(void) {
    uint32_t shard_plus_one = cmarty_thread_shard_plus_one;
    if (__builtin_expect(shard_plus_one == 0, 0)) {
        return cmarty_assign_thread_shard();
    }
    return shard_plus_one - 1;
}

// The calling thread's last error message for marty_errmsg(), NUL-terminated.
#define CMARTY_ERROR_MESSAGE_CAPACITY 1024
extern __thread char cmarty_error_message[CMARTY_ERROR_MESSAGE_CAPACITY];

static inline char *cmarty_error_buffer(void) { return cmarty_error_message; }

#ifdef __cplusplus
}
#endif

#endif
