// The segment that pre-fork workers share: one MAP_SHARED | MAP_ANONYMOUS mapping made in the
// parent before it forks, inherited by every child at the same address.
//
// It holds the cells of every shared series (in chunks shaped as CellArena's, so the recording
// operations work on them unchanged), an append-only table of family definitions and an
// append-only directory of series. Appending takes one process-shared robust mutex: a process
// killed while holding it leaves it to the next taker, who finds the tables whole, because an
// entry is counted (release store) only once it is written. Nothing is ever removed, so a
// pointer into the segment stays valid in every process for the life of the mapping.

#ifndef CMARTY_MULTIPROCESS_H
#define CMARTY_MULTIPROCESS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Where the segment is mapped (0 and 0 before cmarty_mp_create), for a test of containment
// that costs two compares.
extern uintptr_t cmarty_mp_base;
extern uintptr_t cmarty_mp_end;

static inline int cmarty_mp_contains(const void *pointer) {
    uintptr_t address = (uintptr_t)pointer;
    return address >= __atomic_load_n(&cmarty_mp_base, __ATOMIC_RELAXED) &&
           address < __atomic_load_n(&cmarty_mp_end, __ATOMIC_RELAXED);
}

#define CMARTY_MP_MAX_FAMILIES 4096
#define CMARTY_MP_MIN_BYTES (1u << 20)

enum {
    CMARTY_MP_OK = 0,
    CMARTY_MP_FULL = 1,        // the segment has no room for the entry or its cells
    CMARTY_MP_INACTIVE = 2,    // no segment was made in this process or a parent
    CMARTY_MP_SYSTEM = 3,      // mmap or the mutex failed (errno is kept)
    CMARTY_MP_TOO_SMALL = 4,   // fewer than CMARTY_MP_MIN_BYTES asked for
    CMARTY_MP_EXISTS = 5,      // a segment is made already
};

// Maps a segment of `bytes` (rounded up to pages; pages are taken from the system only as
// they are first written). `sharded_rows` and `gauge_rows` are the row counts of the two cell
// arenas (CellArena.shared and CellArena.gauges).
int cmarty_mp_create(size_t bytes, uint32_t sharded_rows, uint32_t gauge_rows);
int cmarty_mp_active(void);
size_t cmarty_mp_size(void);
// Bytes of the segment handed out so far.
size_t cmarty_mp_used(void);

// The family whose definition starts with its name, the first `name_length` bytes: found, or
// appended with `definition`. `*stored` and `*stored_length` then give the definition kept in
// the segment, which the caller compares with its own. Returns CMARTY_MP_OK with `*index` set,
// or CMARTY_MP_FULL / CMARTY_MP_INACTIVE / CMARTY_MP_SYSTEM.
int cmarty_mp_family(const uint8_t *definition, size_t length, size_t name_length, uint32_t *index,
                     const uint8_t **stored, size_t *stored_length);
size_t cmarty_mp_family_count(void);
// The definition of family `index` (< cmarty_mp_family_count()), and the length of its name.
const uint8_t *cmarty_mp_family_definition(size_t index, size_t *length, size_t *name_length);

// The cells of the series (family, pid, key): found, or appended with `width` zeroed cells in
// each row of arena `arena` (0: sharded, 1: gauges); returns their row-1 base, or NULL with
// `*status` set. `pid` is 0 for series every process shares. A found entry of a pid marked
// dead comes back to life (pid reuse), its cells zeroed.
uint64_t *cmarty_mp_series(uint32_t family, int32_t pid, const uint8_t *key, size_t key_length, uint32_t width,
                           uint32_t arena, double created, int *status);
size_t cmarty_mp_series_count(void);

typedef struct cmarty_mp_series_entry {
    uint32_t family;
    int32_t pid;
    const uint8_t *key;
    size_t key_length;
    uint64_t *cells;
    double created;
    const uint32_t *dead;  // non-zero once marked dead by cmarty_mp_mark_dead (cmarty_mp_is_dead)
} cmarty_mp_series_entry;

static inline int cmarty_mp_is_dead(const uint32_t *flag) { return __atomic_load_n(flag, __ATOMIC_ACQUIRE) != 0; }

// Entry `index` (< cmarty_mp_series_count()).
void cmarty_mp_series_at(size_t index, cmarty_mp_series_entry *entry);

// This process' id, and whether process `pid` exists (a zombie not yet reaped counts).
int32_t cmarty_mp_pid(void);
int cmarty_mp_process_exists(int32_t pid);

// Marks every entry of `pid` dead (the live* gauge modes leave them out).
void cmarty_mp_mark_dead(int32_t pid);

#ifdef __cplusplus
}
#endif

#endif
