/*
 * hello.c: the smallest C user of libmarty_metrics. Records a few metrics through the C API
 * and prints the registry's exposition (Prometheus text format 0.0.4).
 *
 *   cc hello.c $(pkg-config --cflags --libs marty_metrics) -o hello && ./hello
 */
#include <stdio.h>
#include <stdlib.h>

#include "marty_metrics.h"

/* Prints the failing call and the library's message, then exits. */
#define CHECK(call)                                                                          \
    do {                                                                                     \
        int check_status_ = (call);                                                          \
        if (check_status_ != MARTY_OK) {                                                     \
            fprintf(stderr, "hello: %s failed: %s (%s)\n", #call,                            \
                    marty_status_string(check_status_), marty_errmsg());                     \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)

int main(void) {
    marty_registry *registry = marty_registry_default();

    const char *request_labels[] = {"service", "method", "status"};
    marty_family *requests = NULL;
    CHECK(marty_counter_family_new(registry, "hello_requests", "Requests handled.",
                                   request_labels, 3, &requests));

    const char *service_label[] = {"service"};
    marty_family *in_flight = NULL;
    CHECK(marty_gauge_family_new(registry, "hello_in_flight_requests",
                                 "Requests being handled.", service_label, 1, &in_flight));

    const char *duration_labels[] = {"service", "method"};
    const double bounds[] = {0.001, 0.01, 0.1, 1.0};
    marty_family *duration = NULL;
    CHECK(marty_histogram_family_new(registry, "hello_request_duration_seconds",
                                     "Request latency in seconds.", duration_labels, 2, bounds,
                                     sizeof bounds / sizeof bounds[0], &duration));

    /* Look the series up once, then record on the handles (lock-free, allocation-free). */
    const char *ok_values[] = {"hello", "Greet", "OK"};
    const char *not_found_values[] = {"hello", "Greet", "NOT_FOUND"};
    const char *service_value[] = {"hello"};
    const char *greet_values[] = {"hello", "Greet"};
    marty_counter *ok = NULL;
    marty_counter *not_found = NULL;
    marty_gauge *active = NULL;
    marty_histogram *latency = NULL;
    CHECK(marty_counter_get(requests, ok_values, 3, &ok));
    CHECK(marty_counter_get(requests, not_found_values, 3, &not_found));
    CHECK(marty_gauge_get(in_flight, service_value, 1, &active));
    CHECK(marty_histogram_get(duration, greet_values, 2, &latency));

    const double latencies[] = {0.0004, 0.003, 0.02, 0.25, 0.007};
    for (size_t i = 0; i < sizeof latencies / sizeof latencies[0]; i++) {
        CHECK(marty_gauge_inc(active));
        CHECK(marty_histogram_observe(latency, latencies[i]));
        CHECK(marty_counter_inc(i == 3 ? not_found : ok));
        CHECK(marty_gauge_dec(active));
    }

    char *text = NULL;
    size_t length = 0;
    CHECK(marty_registry_render(registry, MARTY_FORMAT_TEXT, &text, &length));
    fwrite(text, 1, length, stdout);
    marty_free(text);

    CHECK(marty_family_release(requests));
    CHECK(marty_family_release(in_flight));
    CHECK(marty_family_release(duration));
    printf("# libmarty_metrics %s\n", marty_version());
    return 0;
}
