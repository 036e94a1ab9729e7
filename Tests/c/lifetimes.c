/* Lifetimes the library keeps: removed series and cleared families give their memory back;
 * a handle whose series was removed records nothing, even once its memory serves another
 * series; a catalog keeps working after its registry handle is freed. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "marty_test.h"

static double resident_mib(void) {
    FILE *file = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (file == NULL) return -1;
    if (fscanf(file, "%ld %ld", &pages, &resident) != 2) resident = -1;
    fclose(file);
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

/* One round: 1,000 label sets created and recorded into, then cleared. */
static void churn_round(marty_family *family, int round) {
    char queue[32], tenant[32];
    for (int index = 0; index < 1000; index++) {
        snprintf(queue, sizeof queue, "queue-%d", index);
        snprintf(tenant, sizeof tenant, "tenant-%d", (index + round) % 1000);
        const char *values[] = {queue, tenant};
        marty_counter *counter;
        if (marty_counter_get(family, values, 2, &counter) == MARTY_OK) marty_counter_inc(counter);
    }
    marty_family_clear(family);
}

static void test_churn_gives_memory_back(void) {
    marty_registry *registry;
    marty_family *family;
    const char *labels[] = {"queue", "tenant"};
    if (marty_registry_new(&registry) != MARTY_OK) return;
    EXPECT_OK(marty_counter_family_new(registry, "jobs", "Jobs", labels, 2, &family));
    for (int round = 0; round < 20; round++) churn_round(family, round); /* warm up */
    double before = resident_mib();
    for (int round = 0; round < 500; round++) churn_round(family, round);
    double growth = resident_mib() - before;
    printf("churn: 500 rounds of 1,000 label sets: RSS %+.1f MiB\n", growth);
    EXPECT(growth < 4, "clearing and repopulating 1,000 label sets 500 times grew RSS by %.1f MiB (limit 4)",
           growth);
    marty_family_release(family);
    marty_registry_free(registry);
}

static void test_info_gives_memory_back(void) {
    marty_registry *registry;
    marty_family *info;
    const char *labels[] = {"version", "commit"};
    if (marty_registry_new(&registry) != MARTY_OK) return;
    EXPECT_OK(marty_info_family_new(registry, "build", "Build", labels, 2, &info));
    char version[32];
    for (int call = 0; call < 1000; call++) {
        snprintf(version, sizeof version, "1.%d", call);
        const char *values[] = {version, "abc"};
        marty_info_set(info, values, 2);
    }
    double before = resident_mib();
    for (int call = 0; call < 50000; call++) {
        snprintf(version, sizeof version, "1.%d", call);
        const char *values[] = {version, "abc"};
        marty_info_set(info, values, 2);
    }
    double growth = resident_mib() - before;
    printf("info: 50,000 marty_info_set calls: RSS %+.1f MiB\n", growth);
    EXPECT(growth < 4, "50,000 marty_info_set calls grew RSS by %.1f MiB (limit 4)", growth);
    char *text = NULL;
    EXPECT_OK(marty_registry_render(registry, MARTY_FORMAT_TEXT, &text, NULL));
    EXPECT(text != NULL && strstr(text, "build_info{version=\"1.49999\",commit=\"abc\"} 1") != NULL,
           "the last info set shows: %s", text ? text : "(null)");
    EXPECT(text != NULL && strstr(text, "1.49998") == NULL, "earlier info sets do not show");
    marty_free(text);
    marty_family_release(info);
    marty_registry_free(registry);
}

/* A handle kept past its series' removal must never record into the series that reuse its
 * memory, nor into its own label set created again. */
static void test_stale_handles_record_nothing(void) {
    marty_registry *registry;
    marty_family *counters, *gauges, *histograms;
    const char *labels[] = {"id"};
    if (marty_registry_new(&registry) != MARTY_OK) return;
    EXPECT_OK(marty_counter_family_new(registry, "c", "C", labels, 1, &counters));
    EXPECT_OK(marty_gauge_family_new(registry, "g", "G", labels, 1, &gauges));
    double bounds[] = {1, 2};
    EXPECT_OK(marty_histogram_family_new(registry, "h", "H", labels, 1, bounds, 2, &histograms));

    enum { STALE = 200, FRESH = 2000 };
    marty_counter *stale_counters[STALE];
    marty_gauge *stale_gauges[STALE];
    marty_histogram *stale_histograms[STALE];
    char id[32];
    for (int index = 0; index < STALE; index++) {
        snprintf(id, sizeof id, "old-%d", index);
        const char *values[] = {id};
        EXPECT_OK(marty_counter_get(counters, values, 1, &stale_counters[index]));
        EXPECT_OK(marty_gauge_get(gauges, values, 1, &stale_gauges[index]));
        EXPECT_OK(marty_histogram_get(histograms, values, 1, &stale_histograms[index]));
        marty_counter_inc(stale_counters[index]);
    }
    EXPECT_OK(marty_family_clear(counters));
    EXPECT_OK(marty_family_clear(gauges));
    EXPECT_OK(marty_family_clear(histograms));

    /* New series, many of them on the memory the old ones gave back; the first STALE reuse
     * the old label values. */
    for (int index = 0; index < FRESH; index++) {
        if (index < STALE) {
            snprintf(id, sizeof id, "old-%d", index);
        } else {
            snprintf(id, sizeof id, "new-%d", index);
        }
        const char *values[] = {id};
        marty_counter *counter;
        marty_gauge *gauge;
        marty_histogram *histogram;
        marty_counter_get(counters, values, 1, &counter);
        marty_gauge_get(gauges, values, 1, &gauge);
        marty_histogram_get(histograms, values, 1, &histogram);
    }
    int recorded_ok = 1;
    for (int index = 0; index < STALE; index++) {
        recorded_ok &= marty_counter_inc(stale_counters[index]) == MARTY_OK;
        recorded_ok &= marty_counter_add(stale_counters[index], 2.5) == MARTY_OK;
        recorded_ok &= marty_gauge_set(stale_gauges[index], 42) == MARTY_OK;
        recorded_ok &= marty_gauge_inc(stale_gauges[index]) == MARTY_OK;
        recorded_ok &= marty_histogram_observe(stale_histograms[index], 1.5) == MARTY_OK;
    }
    EXPECT(recorded_ok, "recording into handles of removed series returns MARTY_OK");

    char *text = NULL;
    EXPECT_OK(marty_registry_render(registry, MARTY_FORMAT_TEXT, &text, NULL));
    int landed = 0;
    for (const char *line = text; line != NULL && *line != 0;) {
        const char *end = strchr(line, '\n');
        size_t length = end ? (size_t)(end - line) : strlen(line);
        if (line[0] != '#') {
            const char *value = memchr(line, ' ', length);
            /* Every fresh series must read 0 (buckets, counts and sums included). */
            if (value != NULL && strtod(value + 1, NULL) != 0) {
                if (landed++ < 5) printf("  recorded through a stale handle: %.*s\n", (int)length, line);
            }
        }
        line = end ? end + 1 : NULL;
    }
    EXPECT(landed == 0, "%d sample(s) of new series show recordings made through stale handles", landed);
    EXPECT(text != NULL && strstr(text, "c_total{id=\"new-1999\"} 0") != NULL, "the fresh series render");
    marty_free(text);

    double value;
    int status = marty_counter_value(stale_counters[0], &value);
    EXPECT(status == MARTY_ERR_NOT_FOUND || (status == MARTY_OK && value == 1),
           "reading a removed counter is MARTY_ERR_NOT_FOUND once its memory is reused (got %d)", status);

    marty_family_release(counters);
    marty_family_release(gauges);
    marty_family_release(histograms);
    marty_registry_free(registry);
}

/* The header says the catalog handle lives as long as the process. */
static void test_catalog_outlives_registry_handle(void) {
    marty_registry *registry;
    marty_service_metrics *catalog;
    if (marty_registry_new(&registry) != MARTY_OK) return;
    EXPECT_OK(marty_service_metrics_register(registry, "csca-service", "1.0", &catalog));
    EXPECT_OK(marty_registry_free(registry));
    EXPECT_OK(marty_service_record_call(catalog, "/csca.CscaService/GetCertificate", "OK", 0.01, NULL));
    EXPECT_OK(marty_service_record_call(catalog, "/csca.CscaService/GetCertificate", "INTERNAL", 0.2, "db"));
    EXPECT_OK(marty_service_record_successful_operation(catalog, "sign"));
    EXPECT_OK(marty_service_call_started(catalog));
    EXPECT_OK(marty_service_call_finished(catalog));
    EXPECT_OK(marty_service_set_database_connections(catalog, "pg", 3));
}

int main(void) {
    test_stale_handles_record_nothing();
    test_churn_gives_memory_back();
    test_info_gives_memory_back();
    test_catalog_outlives_registry_handle();
    return marty_test_summary();
}
