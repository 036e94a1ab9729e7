/* The Marty catalog through the C interface: what one record_call writes, and every bad
 * argument of the marty_service_* calls (status code and message, no crash, no effect). */
#include <stdlib.h>

#include "marty_test.h"

/* A call that must fail with `want`, leaving a message that mentions `word`. */
#define EXPECT_FAILS(call, want, word)                                                        \
    do {                                                                                      \
        int status_ = (call);                                                                 \
        EXPECT(status_ == (want), "%s returned %d, expected %d (%s)", #call, status_, (want), \
               marty_errmsg());                                                               \
        EXPECT(strstr(marty_errmsg(), (word)) != NULL, "%s: message \"%s\" lacks \"%s\"",     \
               #call, marty_errmsg(), (word));                                                \
    } while (0)

static char *render(marty_registry *registry) {
    char *text = NULL;
    if (marty_registry_render(registry, MARTY_FORMAT_TEXT, &text, NULL) != MARTY_OK) return NULL;
    return text;
}

/* Whether the rendered registry holds `line` (a whole line). */
static int has_line(marty_registry *registry, const char *line) {
    char *text = render(registry);
    if (!text) return 0;
    char wanted[512];
    snprintf(wanted, sizeof wanted, "\n%s\n", line);
    int found = strstr(text, wanted) != NULL;
    marty_free(text);
    return found;
}

int main(void) {
    marty_registry *registry = NULL;
    REQUIRE_OK(marty_registry_new(&registry));
    marty_service_metrics *metrics = NULL;
    REQUIRE_OK(marty_service_metrics_register(registry, "csca-service", "1.2.3", &metrics));
    marty_service_metrics *again = NULL;
    EXPECT_OK(marty_service_metrics_register(registry, "csca-service", NULL, &again));
    EXPECT(again == metrics, "a second registration of the same service gave another handle");

    /* ---- The port table ---- */
    {
        size_t count = 0;
        while (marty_service_name(count) != NULL) count++;
        EXPECT(count == 8, "the seed's table has 8 services, the library names %zu", count);
        EXPECT(strcmp(marty_service_name(7), "pkd-service") == 0, "the last service is pkd-service");
        int grpc = 0, health = 0, metrics_port = 0;
        EXPECT_OK(marty_service_ports("trust-anchor", &grpc, &health, &metrics_port));
        EXPECT(grpc == 9080 && health == 9081 && metrics_port == 10080, "trust-anchor's ports: %d %d %d", grpc,
               health, metrics_port);
        EXPECT_OK(marty_service_ports("csca-service", NULL, NULL, &metrics_port));
        EXPECT(metrics_port == 9081, "csca-service's metrics port: %d", metrics_port);
        grpc = -7;
        EXPECT_FAILS(marty_service_ports("my-daemon", &grpc, NULL, NULL), MARTY_ERR_NOT_FOUND, "my-daemon");
        EXPECT(grpc == -7, "a service outside the table leaves the out values alone");
        EXPECT_FAILS(marty_service_ports(NULL, &grpc, NULL, NULL), MARTY_ERR_NULL_ARGUMENT, "service");
        EXPECT_FAILS(marty_service_ports("\xff", &grpc, NULL, NULL), MARTY_ERR_INVALID_UTF8, "UTF-8");
    }

    /* ---- What the calls record ---- */
    const char *method = "/csca.CscaService/GetCertificate";
    EXPECT_OK(marty_service_call_started(metrics));
    EXPECT_OK(marty_service_record_call(metrics, method, "OK", 0.0005, NULL));
    EXPECT_OK(marty_service_record_call(metrics, method, "NOT_FOUND", 0.02, "NOT_FOUND"));
    EXPECT_OK(marty_service_record_call(metrics, method, "OK", -1, NULL)); /* counted, duration not */
    EXPECT_OK(marty_service_call_finished(metrics));
    EXPECT_OK(marty_service_record_successful_operation(metrics, "sync"));
    EXPECT_OK(marty_service_set_database_connections(metrics, NULL, 4));
    EXPECT(has_line(registry, "marty_grpc_requests_total{service=\"csca-service\",method=\"/csca.CscaService/"
                              "GetCertificate\",status=\"OK\"} 2"), "OK count");
    EXPECT(has_line(registry, "marty_grpc_errors_total{service=\"csca-service\",method=\"/csca.CscaService/"
                              "GetCertificate\",error_type=\"NOT_FOUND\"} 1"), "error count");
    EXPECT(has_line(registry, "marty_grpc_request_duration_seconds_count{service=\"csca-service\",method=\"/"
                              "csca.CscaService/GetCertificate\"} 2"), "durations: the negative one is not observed");
    EXPECT(has_line(registry, "marty_grpc_request_duration_seconds_bucket{service=\"csca-service\",method=\"/"
                              "csca.CscaService/GetCertificate\",le=\"0.001\"} 1"), "first bucket is 0.001");
    EXPECT(has_line(registry, "marty_grpc_active_connections{service=\"csca-service\"} 0"), "in flight back to 0");
    EXPECT(has_line(registry, "marty_database_connections_active{service=\"csca-service\",database=\"default\"} 4"),
           "database connections");
    EXPECT(has_line(registry, "marty_service_info{service=\"csca-service\",version=\"1.2.3\"} 1"), "info");
    char *before = render(registry);

    /* ---- Bad arguments: an error code and a message, nothing recorded ---- */
    marty_service_metrics *out = NULL;
    EXPECT_FAILS(marty_service_metrics_register(registry, NULL, NULL, &out), MARTY_ERR_NULL_ARGUMENT, "service");
    EXPECT_FAILS(marty_service_metrics_register(registry, "x", NULL, NULL), MARTY_ERR_NULL_ARGUMENT, "out");
    EXPECT_FAILS(marty_service_metrics_register(registry, "", NULL, &out), MARTY_ERR_INVALID_ARGUMENT, "empty");
    EXPECT_FAILS(marty_service_metrics_register(registry, "\xff", NULL, &out), MARTY_ERR_INVALID_UTF8, "UTF-8");
    EXPECT_FAILS(marty_service_metrics_register(registry, "x", "\xc3", &out), MARTY_ERR_INVALID_UTF8, "version");
    EXPECT(out == NULL, "a failed registration wrote its out-parameter");

    EXPECT_FAILS(marty_service_record_call(NULL, method, "OK", 1, NULL), MARTY_ERR_NULL_ARGUMENT, "metrics");
    EXPECT_FAILS(marty_service_record_call(metrics, NULL, "OK", 1, NULL), MARTY_ERR_NULL_ARGUMENT, "method");
    EXPECT_FAILS(marty_service_record_call(metrics, method, NULL, 1, NULL), MARTY_ERR_NULL_ARGUMENT, "status");
    EXPECT_FAILS(marty_service_record_call(metrics, method, "OK", NAN, NULL), MARTY_ERR_INVALID_ARGUMENT, "nan");
    EXPECT_FAILS(marty_service_record_call(metrics, method, "OK", INFINITY, NULL), MARTY_ERR_INVALID_ARGUMENT, "inf");
    EXPECT_FAILS(marty_service_record_call(metrics, method, "OK", -INFINITY, NULL), MARTY_ERR_INVALID_ARGUMENT,
                 "inf");
    EXPECT_FAILS(marty_service_set_database_connections(metrics, "db", NAN), MARTY_ERR_INVALID_ARGUMENT, "nan");
    EXPECT_FAILS(marty_service_set_database_connections(metrics, "db", INFINITY), MARTY_ERR_INVALID_ARGUMENT, "inf");
    EXPECT_FAILS(marty_service_set_database_connections(metrics, "db", -1), MARTY_ERR_INVALID_ARGUMENT, "-1");
    EXPECT_FAILS(marty_service_record_call(metrics, "/bad\xff", "OK", 1, NULL), MARTY_ERR_INVALID_UTF8, "UTF-8");
    EXPECT_FAILS(marty_service_record_call(metrics, method, "\xfe", 1, NULL), MARTY_ERR_INVALID_UTF8, "UTF-8");
    EXPECT_FAILS(marty_service_record_successful_operation(NULL, "x"), MARTY_ERR_NULL_ARGUMENT, "metrics");
    EXPECT_FAILS(marty_service_record_successful_operation(metrics, NULL), MARTY_ERR_NULL_ARGUMENT, "operation");
    EXPECT_FAILS(marty_service_record_successful_operation(metrics, "\xff"), MARTY_ERR_INVALID_UTF8, "UTF-8");
    EXPECT_FAILS(marty_service_call_started(NULL), MARTY_ERR_NULL_ARGUMENT, "metrics");
    EXPECT_FAILS(marty_service_call_finished(NULL), MARTY_ERR_NULL_ARGUMENT, "metrics");
    EXPECT_FAILS(marty_service_set_database_connections(NULL, "db", 1), MARTY_ERR_NULL_ARGUMENT, "metrics");
    EXPECT_FAILS(marty_service_set_database_connections(metrics, "\xff", 1), MARTY_ERR_INVALID_UTF8, "UTF-8");

    char *after = render(registry);
    /* Only the successful-operation timestamp may move between the two renderings; no failed
     * call may have added a series. */
    size_t before_lines = 0, after_lines = 0;
    for (const char *c = before; c && *c; c++) before_lines += *c == '\n';
    for (const char *c = after; c && *c; c++) after_lines += *c == '\n';
    EXPECT(before && after && before_lines == after_lines, "failed calls changed the exposition (%zu -> %zu lines)",
           before_lines, after_lines);
    marty_free(before);
    marty_free(after);

    /* ---- A catalog name taken with other labels is a conflict, not a crash ---- */
    marty_registry *clashing = NULL;
    REQUIRE_OK(marty_registry_new(&clashing));
    marty_family *taken = NULL;
    const char *labels[] = {"method"};
    REQUIRE_OK(marty_counter_family_new(clashing, "marty_grpc_requests_total", "", labels, 1, &taken));
    EXPECT_FAILS(marty_service_metrics_register(clashing, "x", NULL, &out), MARTY_ERR_CONFLICT,
                 "marty_grpc_requests");
    marty_family_release(taken);
    marty_registry_free(clashing);
    marty_registry_free(registry);
    return marty_test_summary();
}
