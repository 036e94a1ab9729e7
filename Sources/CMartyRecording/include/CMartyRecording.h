// The C interface's own C: the public header (so that the Swift side of the C interface sees
// its status codes, option structs and callback types exactly as C callers do, and defines
// none of them again), the handle encoding, and the recording entry points
// (marty_counter_inc, marty_gauge_set, marty_histogram_observe, ..., in recording.c) written
// in C: a handle points straight at the series' cells, so a call is a NULL check, the
// thread's shard and one atomic instruction.
#ifndef CMARTY_RECORDING_H
#define CMARTY_RECORDING_H

#include "../../../include/marty_metrics.h"
#include "CMartyShims.h"

#ifdef __cplusplus
extern "C" {
#endif

// ---- Handles of the C interface ----------------------------------------------------------
//
// A series handle is its base pointer with the low 16 bits of its block's generation in the
// top 16 bits (user-space addresses fit in 48). Releasing a block bumps the generation, so a
// handle that outlived its series fails the check and records nothing, even once the cells
// serve another series. A C call checks and writes inside a read section, so the arena does
// not hand the cells to another series while a call that passed the check is still writing.

#define CMARTY_HANDLE_TAG_SHIFT 48
#define CMARTY_HANDLE_ADDRESS_MASK ((UINT64_C(1) << CMARTY_HANDLE_TAG_SHIFT) - 1)

static inline void *cmarty_make_handle(uint64_t *base) {
    uint64_t generation = cmarty_load_u64(base - CMARTY_CELL_STRIDE);
    return (void *)((uintptr_t)base | (uintptr_t)((generation & 0xFFFF) << CMARTY_HANDLE_TAG_SHIFT));
}

// The series' base pointer, or NULL if the handle's series is gone. Call inside a read section.
static inline uint64_t *cmarty_handle_cells(const void *handle) {
    uintptr_t word = (uintptr_t)handle;
    uint64_t *base = (uint64_t *)(word & CMARTY_HANDLE_ADDRESS_MASK);
    uint64_t generation = cmarty_load_u64(base - CMARTY_CELL_STRIDE);
    return (uint16_t)generation == (uint16_t)(word >> CMARTY_HANDLE_TAG_SHIFT) ? base : NULL;
}

// ---- The error message of marty_errmsg --------------------------------------------------------

#define CMARTY_ERROR_MESSAGE_CAPACITY 1024

// The calling thread's error message buffer (CMARTY_ERROR_MESSAGE_CAPACITY bytes, allocated at
// its first failed call and kept with its per-thread record), or NULL if it could not be had.
char *cmarty_error_buffer(void);

// The version string of the header this library was built with, as a string with static
// storage (Swift imports the macro as a String, which has none).
static inline const char *cmarty_version_string(void) { return MARTY_METRICS_VERSION_STRING; }

#ifdef __cplusplus
}
#endif

#endif
