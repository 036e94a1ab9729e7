/*
 * marty_c_service.c: a small Marty service written in C. It registers the Marty catalog for
 * its service, records a simulated gRPC workload into it, keeps two health checks (one of
 * them a callback answered at probe time) and serves /metrics and the probes from the
 * library's embedded endpoint until SIGINT or SIGTERM.
 *
 *   cc marty_c_service.c $(pkg-config --cflags --libs marty_metrics) -lm -o marty_c_service
 *   ./marty_c_service document-signer        # metrics on :9082, health on :8083 (the seed's table)
 *
 * Arguments and environment:
 *   argv[1]                    the Marty service name (default: document-signer)
 *   MARTY_METRICS_PORT         metrics port (read by the library; 0 = ephemeral)
 *   MARTY_HEALTH_PORT          health port (read by the library; 0 = ephemeral)
 *   MARTY_METRICS_BIND         bind address (read by the library; default 0.0.0.0)
 *   MARTY_HEALTH_CONTROL_FILE  a file read by the "dependencies" health check each time a
 *                              probe or scrape asks: if it exists and starts with "unhealthy",
 *                              "fail" or "0", the check fails (and /health/live, /health/ready
 *                              answer 503, marty_service_health_status shows 0)
 *   MARTY_RUN_SECONDS          stop by itself after this many seconds (default: run until
 *                              SIGINT/SIGTERM)
 *   MARTY_SERVICE_SEED         seed of the simulated workload (default: time and pid)
 * Signals: SIGUSR1 toggles a forced failure of the "dependencies" check; SIGINT and SIGTERM
 * stop the service gracefully (readiness fails first, in-flight scrapes finish).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "marty_metrics.h"

#define SERVICE_VERSION "1.0.0"

/* Prints the failing call and the library's message, then exits. */
#define CHECK(call)                                                                          \
    do {                                                                                     \
        int check_status_ = (call);                                                          \
        if (check_status_ != MARTY_OK) {                                                     \
            fprintf(stderr, "marty_c_service: %s failed: %s (%s)\n", #call,                  \
                    marty_status_string(check_status_), marty_errmsg());                     \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)

static volatile sig_atomic_t stop_requested = 0;
static volatile sig_atomic_t forced_failure = 0;

static void on_stop(int signal_number) {
    (void)signal_number;
    stop_requested = 1;
}

static void on_toggle(int signal_number) {
    (void)signal_number;
    forced_failure = !forced_failure;
}

/* ---- The "dependencies" health check: answered on a library thread at probe time ------- */

struct health_control {
    const char *path; /* MARTY_HEALTH_CONTROL_FILE or NULL */
};

static int dependencies_check(void *user_data, char *message, size_t message_capacity) {
    const struct health_control *control = user_data;
    if (forced_failure) {
        snprintf(message, message_capacity, "forced failure (SIGUSR1)");
        return 0;
    }
    if (control->path != NULL) {
        FILE *file = fopen(control->path, "r");
        if (file != NULL) {
            char line[128] = {0};
            if (fgets(line, sizeof line, file) == NULL) line[0] = '\0';
            fclose(file);
            if (strncmp(line, "unhealthy", 9) == 0 || strncmp(line, "fail", 4) == 0 ||
                line[0] == '0') {
                line[strcspn(line, "\r\n")] = '\0';
                snprintf(message, message_capacity, "%s says: %s", control->path, line);
                return 0;
            }
        }
    }
    snprintf(message, message_capacity, "dependencies reachable");
    return 1;
}

/* ---- A small deterministic random source (xorshift64*) ------------------------------------ */

static uint64_t random_state;

static uint64_t next_random(void) {
    random_state ^= random_state >> 12;
    random_state ^= random_state << 25;
    random_state ^= random_state >> 27;
    return random_state * 2685821657736338717ULL;
}

/* Uniform in (0, 1]. */
static double uniform(void) { return ((double)(next_random() >> 11) + 1.0) / 9007199254740992.0; }

static int between(int low, int high) { return low + (int)(next_random() % (uint64_t)(high - low + 1)); }

/* ---- The simulated workload ---------------------------------------------------------------- */

struct method {
    char name[160];
    double mean_seconds; /* exponential latency with this mean */
    const char *operation; /* marty_last_successful_operation_timestamp{operation} */
};

static void simulate_tick(marty_service_metrics *metrics, struct method *methods, size_t method_count) {
    int calls = between(5, 15);
    for (int i = 0; i < calls; i++) {
        struct method *method = &methods[next_random() % method_count];
        double seconds = -method->mean_seconds * log(uniform());
        if (seconds > 12.0) seconds = 12.0;
        int roll = between(0, 99);
        const char *status = roll < 95 ? "OK" : roll < 98 ? "NOT_FOUND" : "INTERNAL";
        const char *error_type = roll < 95 ? NULL : roll < 98 ? "not_found" : "internal";

        CHECK(marty_service_call_started(metrics));
        CHECK(marty_service_record_call(metrics, method->name, status, seconds, error_type));
        if (error_type == NULL)
            CHECK(marty_service_record_successful_operation(metrics, method->operation));
        CHECK(marty_service_call_finished(metrics));
    }
}

int main(int argc, char **argv) {
    const char *service = argc > 1 ? argv[1] : "document-signer";
    const char *run_seconds_text = getenv("MARTY_RUN_SECONDS");
    double run_seconds = run_seconds_text != NULL ? atof(run_seconds_text) : 0.0;
    const char *seed_text = getenv("MARTY_SERVICE_SEED");
    random_state = seed_text != NULL ? strtoull(seed_text, NULL, 10)
                                     : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    if (random_state == 0) random_state = 88172645463325252ULL;

    /* The catalog: every marty_* metric for this service, plus the process_* metrics. */
    marty_service_metrics *metrics = NULL;
    CHECK(marty_service_metrics_register(NULL, service, SERVICE_VERSION, &metrics));

    struct method methods[] = {
        {"", 0.004, "get"},
        {"", 0.015, "list"},
        {"", 0.060, "process"},
    };
    /* gRPC method names: "/marty.DocumentSigner/Get" for document-signer. */
    char service_type[64];
    size_t length = 0;
    for (const char *c = service; *c != '\0' && length + 1 < sizeof service_type; c++) {
        if (*c == '-' || *c == '_') continue;
        int word_start = c == service || c[-1] == '-' || c[-1] == '_';
        service_type[length++] = word_start && *c >= 'a' && *c <= 'z' ? (char)(*c - 'a' + 'A') : *c;
    }
    service_type[length] = '\0';
    const char *method_suffixes[] = {"Get", "List", "Process"};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        snprintf(methods[i].name, sizeof methods[i].name, "/marty.%s/%s", service_type,
                 method_suffixes[i]);

    /* Health: a set check for the gRPC server, a callback for the dependencies. */
    struct health_control control = {getenv("MARTY_HEALTH_CONTROL_FILE")};
    CHECK(marty_health_set("grpc_server", 1, "serving", MARTY_PROBE_BOTH, 0));
    CHECK(marty_health_register_callback("dependencies", dependencies_check, &control,
                                         MARTY_PROBE_BOTH, 1.0));

    struct sigaction action;
    memset(&action, 0, sizeof action);
    sigemptyset(&action.sa_mask);
    action.sa_handler = on_stop;
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    action.sa_handler = on_toggle;
    sigaction(SIGUSR1, &action, NULL);

    /* The endpoint: ports from MARTY_METRICS_PORT / MARTY_HEALTH_PORT, else the seed's table. */
    marty_endpoint_options options;
    marty_endpoint_options_init(&options);
    options.service = service;
    marty_endpoint *endpoint = NULL;
    if (marty_endpoint_start(&options, &endpoint) != MARTY_OK) {
        fprintf(stderr, "marty_c_service: %s\n", marty_errmsg());
        return 1;
    }
    int metrics_port = 0;
    int health_port = 0;
    CHECK(marty_endpoint_metrics_port(endpoint, &metrics_port));
    CHECK(marty_endpoint_health_port(endpoint, &health_port));
    const char *bind = getenv("MARTY_METRICS_BIND");
    printf("marty_c_service: %s (libmarty_metrics %s) metrics on http://%s:%d/metrics, "
           "health on http://%s:%d/health\n",
           service, marty_version(), bind ? bind : "0.0.0.0", metrics_port, bind ? bind : "0.0.0.0",
           health_port ? health_port : metrics_port);
    fflush(stdout);

    struct timespec started;
    clock_gettime(CLOCK_MONOTONIC, &started);
    int long_lived = 0; /* simulated streaming connections that stay open across scrapes */
    while (!stop_requested) {
        simulate_tick(metrics, methods, sizeof methods / sizeof methods[0]);
        int wanted = between(1, 6);
        for (; long_lived < wanted; long_lived++) CHECK(marty_service_call_started(metrics));
        for (; long_lived > wanted; long_lived--) CHECK(marty_service_call_finished(metrics));
        CHECK(marty_service_set_database_connections(metrics, "postgres", between(3, 10)));

        struct timespec pause = {0, 100 * 1000 * 1000};
        while (nanosleep(&pause, &pause) != 0 && errno == EINTR && !stop_requested) {
        }
        if (run_seconds > 0) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            double elapsed = (double)(now.tv_sec - started.tv_sec) +
                             (double)(now.tv_nsec - started.tv_nsec) / 1e9;
            if (elapsed >= run_seconds) break;
        }
    }

    printf("marty_c_service: stopping\n");
    fflush(stdout);
    CHECK(marty_endpoint_stop(endpoint));
    CHECK(marty_endpoint_free(endpoint));
    CHECK(marty_health_remove("dependencies")); /* `control` goes out of scope next */
    return 0;
}
