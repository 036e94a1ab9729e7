// C side of the benchmark: loads libmarty_metrics.so with dlopen and runs tight loops over
// its C ABI, calling through the function pointers dlsym returns (an indirect call, as a
// C host's call through the PLT is). Also reads the heap size for the memory rows.
#ifndef CMARTY_BENCH_H
#define CMARTY_BENCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// dlopen(path) and dlsym of every function used below. 0 on success; on failure writes a
// message into `error`.
int cmb_load(const char *path, char *error, size_t error_capacity);
// marty_version() of the loaded library.
const char *cmb_version(void);

// Setup (not timed). Each returns NULL and prints marty_errmsg() on failure.
void *cmb_registry_new(void);
void *cmb_counter_family(void *registry, const char *name, const char *const *labels, size_t count);
void *cmb_gauge_family(void *registry, const char *name, const char *const *labels, size_t count);
void *cmb_histogram_family(void *registry, const char *name, const char *const *labels, size_t count);
void *cmb_counter_get(void *family, const char *const *values, size_t count);
void *cmb_gauge_get(void *family, const char *const *values, size_t count);
void *cmb_histogram_get(void *family, const char *const *values, size_t count);
// Makes the multiprocess segment in the loaded library and returns an unlabelled counter of its
// default registry, whose cells are in the segment; NULL when the library has no segment.
void *cmb_multiprocess_counter(void);

// Timed loops: each returns the sum of the status codes (0 when all calls succeed).
uint64_t cmb_counter_inc_loop(void *counter, uint64_t iterations);
uint64_t cmb_counter_lookup_inc_loop(void *family, uint64_t iterations);  // ("GET", "200")
uint64_t cmb_histogram_observe_loop(void *histogram, const double *values, uint64_t mask,
                                    uint64_t iterations);
uint64_t cmb_gauge_set_loop(void *gauge, uint64_t iterations);

// Floors for comparison, no marty code involved: a loop of relaxed atomic adds on one
// cell, and the same add behind an indirect call (what a call through the PLT costs at
// least). Each returns the cell's value.
uint64_t cmb_floor_atomic_loop(uint64_t iterations);
uint64_t cmb_floor_call_loop(uint64_t iterations);

// Read-backs for the checksum.
double cmb_counter_value(void *counter);
double cmb_gauge_value(void *gauge);
uint64_t cmb_histogram_count(void *histogram);

// Bytes the process's malloc has handed out and not got back: mallinfo2's uordblks
// (arena chunks in use) + hblkhd (mmap'ed chunks).
uint64_t cmb_heap_in_use(void);

// CPU model from /proc/cpuinfo into `out`.
void cmb_cpu_model(char *out, size_t capacity);

#ifdef __cplusplus
}
#endif

#endif
