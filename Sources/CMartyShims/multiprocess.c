// The shared segment of pre-fork workers (see cmarty_multiprocess.h).

#include "cmarty_multiprocess.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SEGMENT_MAGIC 0x6d617274796d7031ull /* "martymp1" */
#define CELL_STRIDE 4096                    /* CMARTY_CELL_STRIDE */
#define CHUNK_ALIGNMENT 128

uintptr_t cmarty_mp_base;
uintptr_t cmarty_mp_end;

typedef struct segment_header {
    uint64_t magic;
    uint64_t size;
    pthread_mutex_t mutex;
    uint64_t bump;           // offset of the next free byte (under the mutex)
    uint64_t family_count;   // published with release stores
    uint64_t series_count;   // published with release stores
    uint64_t series_capacity;
    uint64_t series_index;   // offset of uint64_t[series_capacity]: offsets of series records
    uint64_t hash_mask;
    uint64_t hash_index;     // offset of uint32_t[hash_mask + 1]: series index + 1, 0 for empty
    uint64_t chunk[2];       // offset of each arena's current chunk, 0 for none
    uint64_t chunk_next[2];  // the next free column of that chunk
    uint32_t rows[2];
    uint64_t families[CMARTY_MP_MAX_FAMILIES];  // offsets of family records
} segment_header;

typedef struct family_record {
    uint64_t length;
    uint64_t name_length;
    uint8_t definition[];
} family_record;

typedef struct series_record {
    uint32_t family;
    int32_t pid;
    uint32_t key_length;
    uint32_t dead;
    uint32_t width;
    uint32_t arena;
    double created;
    uint64_t cells;  // offset of the row-1 base
    uint64_t hash;
    uint8_t key[];
} series_record;

static segment_header *header;

static void *at(uint64_t offset) { return (uint8_t *)header + offset; }

static uint64_t round_up(uint64_t value, uint64_t alignment) { return (value + alignment - 1) & ~(alignment - 1); }

int cmarty_mp_create(size_t bytes, uint32_t sharded_rows, uint32_t gauge_rows) {
    if (cmarty_mp_active()) return CMARTY_MP_EXISTS;
    if (bytes < CMARTY_MP_MIN_BYTES) return CMARTY_MP_TOO_SMALL;
    long page = sysconf(_SC_PAGESIZE);
    uint64_t size = round_up(bytes, page > 0 ? (uint64_t)page : 4096);
    void *mapping = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mapping == MAP_FAILED) return CMARTY_MP_SYSTEM;
    segment_header *made = mapping;
    pthread_mutexattr_t attributes;
    if (pthread_mutexattr_init(&attributes) != 0) goto failed;
    int configured = pthread_mutexattr_setpshared(&attributes, PTHREAD_PROCESS_SHARED) == 0 &&
                     pthread_mutexattr_setrobust(&attributes, PTHREAD_MUTEX_ROBUST) == 0 &&
                     pthread_mutex_init(&made->mutex, &attributes) == 0;
    pthread_mutexattr_destroy(&attributes);
    if (!configured) goto failed;
    made->magic = SEGMENT_MAGIC;
    made->size = size;
    // One entry per 256 bytes: a gauge's entry takes about 100 bytes (record, cells, index and
    // hash slots), a counter's 160 on 2 CPUs and more with more shards, so bytes run out first
    // for most mixes. The tables take 8 bytes of index and 8 of hash slots per entry.
    made->series_capacity = size / 256;
    uint64_t hash_slots = 1;
    while (hash_slots < made->series_capacity * 2) hash_slots *= 2;
    made->hash_mask = hash_slots - 1;
    made->series_index = round_up(sizeof(segment_header), 64);
    made->hash_index = made->series_index + made->series_capacity * sizeof(uint64_t);
    made->bump = round_up(made->hash_index + hash_slots * sizeof(uint32_t), 64);
    made->rows[0] = sharded_rows;
    made->rows[1] = gauge_rows;
    if (made->bump >= size) goto failed;
    segment_header *none = NULL;
    if (!__atomic_compare_exchange_n(&header, &none, made, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        munmap(mapping, size);  // another thread made one at the same time
        return CMARTY_MP_EXISTS;
    }
    __atomic_store_n(&cmarty_mp_end, (uintptr_t)made + size, __ATOMIC_RELAXED);
    __atomic_store_n(&cmarty_mp_base, (uintptr_t)made, __ATOMIC_RELEASE);
    return CMARTY_MP_OK;
failed:
    munmap(mapping, size);
    return CMARTY_MP_SYSTEM;
}

int cmarty_mp_active(void) { return __atomic_load_n(&header, __ATOMIC_ACQUIRE) != NULL; }

size_t cmarty_mp_size(void) { return cmarty_mp_active() ? header->size : 0; }

size_t cmarty_mp_used(void) { return cmarty_mp_active() ? __atomic_load_n(&header->bump, __ATOMIC_RELAXED) : 0; }

static uint64_t hash_of(uint32_t family, int32_t pid, const uint8_t *key, size_t length) {
    uint64_t hash = 0xcbf29ce484222325ull;
    uint8_t prefix[8];
    memcpy(prefix, &family, 4);
    memcpy(prefix + 4, &pid, 4);
    for (size_t index = 0; index < 8; index++) hash = (hash ^ prefix[index]) * 0x100000001b3ull;
    for (size_t index = 0; index < length; index++) hash = (hash ^ key[index]) * 0x100000001b3ull;
    return hash;
}

static series_record *series_record_at(uint64_t index) {
    uint64_t *offsets = at(header->series_index);
    return at(__atomic_load_n(&offsets[index], __ATOMIC_ACQUIRE));
}

// The hash slot holding (family, pid, key), or the empty slot where it would go.
static uint32_t *find_slot(uint32_t family, int32_t pid, const uint8_t *key, size_t length, uint64_t hash) {
    uint32_t *slots = at(header->hash_index);
    uint64_t slot = hash & header->hash_mask;
    for (;;) {
        uint32_t entry = slots[slot];
        if (entry == 0) return &slots[slot];
        series_record *record = series_record_at(entry - 1);
        if (record->hash == hash && record->family == family && record->pid == pid &&
            record->key_length == length && memcmp(record->key, key, length) == 0) {
            return &slots[slot];
        }
        slot = (slot + 1) & header->hash_mask;
    }
}

// A process that died holding the mutex may have counted its last series without linking it
// into the hash table (the last step of an append): link it, or a later lookup would append
// the same series twice.
static void repair_after_owner_died(void) {
    uint64_t count = header->series_count;
    if (count == 0) return;
    series_record *last = series_record_at(count - 1);
    uint32_t *slot = find_slot(last->family, last->pid, last->key, last->key_length, last->hash);
    if (*slot == 0) *slot = (uint32_t)count;
}

static int lock_segment(void) {
    int status = pthread_mutex_lock(&header->mutex);
    if (status == EOWNERDEAD) {
        repair_after_owner_died();
        pthread_mutex_consistent(&header->mutex);
        return 0;
    }
    return status;
}

static void unlock_segment(void) { pthread_mutex_unlock(&header->mutex); }

// `bytes` at `alignment` from the bump region, or 0 when the segment is full. Under the mutex.
static uint64_t take(uint64_t bytes, uint64_t alignment) {
    uint64_t start = round_up(header->bump, alignment);
    if (start > header->size || bytes > header->size - start) return 0;
    header->bump = start + bytes;
    return start;
}

int cmarty_mp_family(const uint8_t *definition, size_t length, size_t name_length, uint32_t *index,
                     const uint8_t **stored, size_t *stored_length) {
    if (!cmarty_mp_active()) return CMARTY_MP_INACTIVE;
    if (name_length > length) return CMARTY_MP_SYSTEM;
    if (lock_segment() != 0) return CMARTY_MP_SYSTEM;
    uint64_t count = header->family_count;
    for (uint64_t family = 0; family < count; family++) {
        family_record *record = at(header->families[family]);
        if (record->name_length == name_length && memcmp(record->definition, definition, name_length) == 0) {
            unlock_segment();
            *index = (uint32_t)family;
            *stored = record->definition;
            *stored_length = record->length;
            return CMARTY_MP_OK;
        }
    }
    uint64_t offset = count < CMARTY_MP_MAX_FAMILIES ? take(sizeof(family_record) + length, 8) : 0;
    if (offset == 0) {
        unlock_segment();
        return CMARTY_MP_FULL;
    }
    family_record *record = at(offset);
    record->length = length;
    record->name_length = name_length;
    memcpy(record->definition, definition, length);
    header->families[count] = offset;
    __atomic_store_n(&header->family_count, count + 1, __ATOMIC_RELEASE);
    unlock_segment();
    *index = (uint32_t)count;
    *stored = record->definition;
    *stored_length = length;
    return CMARTY_MP_OK;
}

size_t cmarty_mp_family_count(void) {
    return cmarty_mp_active() ? __atomic_load_n(&header->family_count, __ATOMIC_ACQUIRE) : 0;
}

const uint8_t *cmarty_mp_family_definition(size_t index, size_t *length, size_t *name_length) {
    family_record *record = at(header->families[index]);
    *length = record->length;
    *name_length = record->name_length;
    return record->definition;
}

// `width` cells in each row of arena `arena`, zeroed; 0 when the segment is full. Under the mutex.
static uint64_t take_cells(uint32_t width, uint32_t arena) {
    uint64_t rows = header->rows[arena];
    if (header->chunk[arena] == 0 || header->chunk_next[arena] + width > CELL_STRIDE) {
        uint64_t chunk = take(rows * CELL_STRIDE * sizeof(uint64_t), CHUNK_ALIGNMENT);
        if (chunk == 0) return 0;
        header->chunk[arena] = chunk;
        header->chunk_next[arena] = 0;
    }
    uint64_t base = header->chunk[arena] + (CELL_STRIDE + header->chunk_next[arena]) * sizeof(uint64_t);
    header->chunk_next[arena] += width;
    return base;
}

static void zero_cells(uint64_t *base, uint32_t width, uint32_t arena) {
    for (uint32_t row = 0; row + 1 < header->rows[arena]; row++) {
        uint64_t *cells = base + (size_t)row * CELL_STRIDE;
        for (uint32_t cell = 0; cell < width; cell++) __atomic_store_n(&cells[cell], 0, __ATOMIC_RELAXED);
    }
}

uint64_t *cmarty_mp_series(uint32_t family, int32_t pid, const uint8_t *key, size_t key_length, uint32_t width,
                           uint32_t arena, double created, int *status) {
    if (!cmarty_mp_active()) {
        *status = CMARTY_MP_INACTIVE;
        return NULL;
    }
    if (arena > 1 || width == 0 || width > CELL_STRIDE || key_length > UINT32_MAX) {
        *status = CMARTY_MP_SYSTEM;
        return NULL;
    }
    uint64_t hash = hash_of(family, pid, key, key_length);
    if (lock_segment() != 0) {
        *status = CMARTY_MP_SYSTEM;
        return NULL;
    }
    uint32_t *slot = find_slot(family, pid, key, key_length, hash);
    if (*slot != 0) {
        series_record *record = series_record_at(*slot - 1);
        uint64_t *cells = at(record->cells);
        if (__atomic_load_n(&record->dead, __ATOMIC_RELAXED)) {
            zero_cells(cells, record->width, record->arena);
            __atomic_store(&record->created, &created, __ATOMIC_RELAXED);
            __atomic_store_n(&record->dead, 0, __ATOMIC_RELEASE);
        }
        unlock_segment();
        *status = CMARTY_MP_OK;
        return cells;
    }
    uint64_t count = header->series_count;
    uint64_t cells = 0;
    uint64_t offset = 0;
    if (count < header->series_capacity) {
        cells = take_cells(width, arena);
        offset = cells == 0 ? 0 : take(sizeof(series_record) + key_length, 8);
    }
    if (offset == 0) {
        unlock_segment();
        *status = CMARTY_MP_FULL;
        return NULL;
    }
    series_record *record = at(offset);
    record->family = family;
    record->pid = pid;
    record->key_length = (uint32_t)key_length;
    record->dead = 0;
    record->width = width;
    record->arena = arena;
    record->created = created;
    record->cells = cells;
    record->hash = hash;
    memcpy(record->key, key, key_length);
    uint64_t *offsets = at(header->series_index);
    __atomic_store_n(&offsets[count], offset, __ATOMIC_RELEASE);
    __atomic_store_n(&header->series_count, count + 1, __ATOMIC_RELEASE);
    *slot = (uint32_t)(count + 1);
    unlock_segment();
    *status = CMARTY_MP_OK;
    return at(cells);
}

size_t cmarty_mp_series_count(void) {
    return cmarty_mp_active() ? __atomic_load_n(&header->series_count, __ATOMIC_ACQUIRE) : 0;
}

void cmarty_mp_series_at(size_t index, cmarty_mp_series_entry *entry) {
    series_record *record = series_record_at(index);
    entry->family = record->family;
    entry->pid = record->pid;
    entry->key = record->key;
    entry->key_length = record->key_length;
    entry->cells = at(record->cells);
    __atomic_load(&record->created, &entry->created, __ATOMIC_RELAXED);
    entry->dead = &record->dead;
}

void cmarty_mp_mark_dead(int32_t pid) {
    if (!cmarty_mp_active() || pid == 0) return;
    if (lock_segment() != 0) return;
    uint64_t count = header->series_count;
    for (uint64_t index = 0; index < count; index++) {
        series_record *record = series_record_at(index);
        if (record->pid == pid) __atomic_store_n(&record->dead, 1, __ATOMIC_RELEASE);
    }
    unlock_segment();
}

int32_t cmarty_mp_pid(void) { return (int32_t)getpid(); }

int cmarty_mp_process_exists(int32_t pid) { return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM); }
