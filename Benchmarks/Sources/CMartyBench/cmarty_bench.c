#define _GNU_SOURCE
#include "CMartyBench.h"

#include <dlfcn.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>

typedef int (*family_new_fn)(void *, const char *, const char *, const char *const *, size_t, void **);
typedef int (*histogram_family_new_fn)(void *, const char *, const char *, const char *const *, size_t,
                                       const double *, size_t, void **);
typedef int (*get_fn)(void *, const char *const *, size_t, void **);

static const char *(*p_version)(void);
static const char *(*p_errmsg)(void);
static int (*p_registry_new)(void **);
static family_new_fn p_counter_family_new, p_gauge_family_new;
static histogram_family_new_fn p_histogram_family_new;
static get_fn p_counter_get, p_gauge_get, p_histogram_get;
static int (*p_counter_inc)(void *);
static int (*p_counter_value)(const void *, double *);
static int (*p_gauge_set)(void *, double);
static int (*p_gauge_value)(const void *, double *);
static int (*p_histogram_observe)(void *, double);
static int (*p_histogram_read)(const void *, uint64_t *, size_t, uint64_t *, double *);
static int (*p_multiprocess_enable)(size_t);
static void *(*p_registry_default)(void);

#define LOAD(var, name)                                                              \
    do {                                                                             \
        *(void **)(&var) = dlsym(handle, name);                                      \
        if (!var) {                                                                  \
            snprintf(error, error_capacity, "dlsym(%s): %s", name, dlerror());       \
            return -1;                                                               \
        }                                                                            \
    } while (0)

int cmb_load(const char *path, char *error, size_t error_capacity) {
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        snprintf(error, error_capacity, "dlopen: %s", dlerror());
        return -1;
    }
    LOAD(p_version, "marty_version");
    LOAD(p_errmsg, "marty_errmsg");
    LOAD(p_registry_new, "marty_registry_new");
    LOAD(p_counter_family_new, "marty_counter_family_new");
    LOAD(p_gauge_family_new, "marty_gauge_family_new");
    LOAD(p_histogram_family_new, "marty_histogram_family_new");
    LOAD(p_counter_get, "marty_counter_get");
    LOAD(p_gauge_get, "marty_gauge_get");
    LOAD(p_histogram_get, "marty_histogram_get");
    LOAD(p_counter_inc, "marty_counter_inc");
    LOAD(p_counter_value, "marty_counter_value");
    LOAD(p_gauge_set, "marty_gauge_set");
    LOAD(p_gauge_value, "marty_gauge_value");
    LOAD(p_histogram_observe, "marty_histogram_observe");
    LOAD(p_histogram_read, "marty_histogram_read");
    /* Optional: libraries before 0.4 have no multiprocess segment. */
    *(void **)(&p_multiprocess_enable) = dlsym(handle, "marty_multiprocess_enable");
    *(void **)(&p_registry_default) = dlsym(handle, "marty_registry_default");
    return 0;
}


const char *cmb_version(void) { return p_version(); }

static void *check(int status, void *result, const char *what) {
    if (status != 0) {
        fprintf(stderr, "%s failed: %d %s\n", what, status, p_errmsg());
        return NULL;
    }
    return result;
}

void *cmb_registry_new(void) {
    void *registry = NULL;
    return check(p_registry_new(&registry), registry, "marty_registry_new");
}

void *cmb_counter_family(void *registry, const char *name, const char *const *labels, size_t count) {
    void *family = NULL;
    return check(p_counter_family_new(registry, name, "help", labels, count, &family), family,
                 "marty_counter_family_new");
}

void *cmb_gauge_family(void *registry, const char *name, const char *const *labels, size_t count) {
    void *family = NULL;
    return check(p_gauge_family_new(registry, name, "help", labels, count, &family), family,
                 "marty_gauge_family_new");
}

void *cmb_histogram_family(void *registry, const char *name, const char *const *labels, size_t count) {
    void *family = NULL;
    return check(p_histogram_family_new(registry, name, "help", labels, count, NULL, 0, &family), family,
                 "marty_histogram_family_new");
}

void *cmb_counter_get(void *family, const char *const *values, size_t count) {
    void *series = NULL;
    return check(p_counter_get(family, values, count, &series), series, "marty_counter_get");
}

void *cmb_gauge_get(void *family, const char *const *values, size_t count) {
    void *series = NULL;
    return check(p_gauge_get(family, values, count, &series), series, "marty_gauge_get");
}

void *cmb_histogram_get(void *family, const char *const *values, size_t count) {
    void *series = NULL;
    return check(p_histogram_get(family, values, count, &series), series, "marty_histogram_get");
}

void *cmb_multiprocess_counter(void) {
    if (!p_multiprocess_enable || !p_registry_default) return NULL;
    int status = p_multiprocess_enable(0);
    if (status != 0) {
        fprintf(stderr, "marty_multiprocess_enable failed: %d %s\n", status, p_errmsg());
        return NULL;
    }
    void *family = cmb_counter_family(p_registry_default(), "bench_c_multiprocess_inc", NULL, 0);
    return family ? cmb_counter_get(family, NULL, 0) : NULL;
}

uint64_t cmb_counter_inc_loop(void *counter, uint64_t iterations) {
    int (*inc)(void *) = p_counter_inc;
    uint64_t status = 0;
    for (uint64_t i = 0; i < iterations; i++) status += (uint64_t)inc(counter);
    return status;
}

uint64_t cmb_counter_lookup_inc_loop(void *family, uint64_t iterations) {
    get_fn get = p_counter_get;
    int (*inc)(void *) = p_counter_inc;
    uint64_t status = 0;
    for (uint64_t i = 0; i < iterations; i++) {
        const char *values[2] = {"GET", "200"};
        void *counter = NULL;
        status += (uint64_t)get(family, values, 2, &counter);
        status += (uint64_t)inc(counter);
    }
    return status;
}

uint64_t cmb_histogram_observe_loop(void *histogram, const double *values, uint64_t mask,
                                    uint64_t iterations) {
    int (*observe)(void *, double) = p_histogram_observe;
    uint64_t status = 0;
    for (uint64_t i = 0; i < iterations; i++) status += (uint64_t)observe(histogram, values[i & mask]);
    return status;
}

uint64_t cmb_gauge_set_loop(void *gauge, uint64_t iterations) {
    int (*set)(void *, double) = p_gauge_set;
    uint64_t status = 0;
    for (uint64_t i = 0; i < iterations; i++) status += (uint64_t)set(gauge, (double)i);
    return status;
}

static uint64_t floor_cell;

__attribute__((noinline)) static int floor_inc(void *cell) {
    __atomic_fetch_add((uint64_t *)cell, 1, __ATOMIC_RELAXED);
    return 0;
}

// volatile, so the compiler cannot see through the pointer and inline the call.
static int (*volatile floor_function)(void *) = floor_inc;

uint64_t cmb_floor_atomic_loop(uint64_t iterations) {
    for (uint64_t i = 0; i < iterations; i++) __atomic_fetch_add(&floor_cell, 1, __ATOMIC_RELAXED);
    return __atomic_load_n(&floor_cell, __ATOMIC_RELAXED);
}

uint64_t cmb_floor_call_loop(uint64_t iterations) {
    int (*function)(void *) = floor_function;
    uint64_t status = 0;
    for (uint64_t i = 0; i < iterations; i++) status += (uint64_t)function(&floor_cell);
    return status + __atomic_load_n(&floor_cell, __ATOMIC_RELAXED);
}

double cmb_counter_value(void *counter) {
    double value = -1;
    p_counter_value(counter, &value);
    return value;
}

double cmb_gauge_value(void *gauge) {
    double value = -1;
    p_gauge_value(gauge, &value);
    return value;
}

uint64_t cmb_histogram_count(void *histogram) {
    uint64_t count = 0;
    p_histogram_read(histogram, NULL, 0, &count, NULL);
    return count;
}

uint64_t cmb_heap_in_use(void) {
    struct mallinfo2 info = mallinfo2();
    return (uint64_t)info.uordblks + (uint64_t)info.hblkhd;
}

void cmb_cpu_model(char *out, size_t capacity) {
    snprintf(out, capacity, "unknown");
    FILE *file = fopen("/proc/cpuinfo", "r");
    if (!file) return;
    char line[512];
    while (fgets(line, sizeof line, file)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *colon = strchr(line, ':');
            if (colon) {
                colon++;
                while (*colon == ' ' || *colon == '\t') colon++;
                colon[strcspn(colon, "\n")] = 0;
                snprintf(out, capacity, "%s", colon);
            }
            break;
        }
    }
    fclose(file);
}
