/* The embedded endpoint through the C interface: real HTTP on 127.0.0.1 with ephemeral
 * ports, health callbacks (one that hangs), a taken port, stop from another thread, and
 * fork() after start. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "marty_test.h"

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* GETs `path` with Connection: close; returns the status code (-1 on a connection error)
 * and copies up to `capacity` - 1 bytes of the whole response into `response`. */
static int http_get(int port, const char *path, char *response, size_t capacity) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct timeval timeout = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    struct sockaddr_in address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_port = htons((uint16_t)port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        close(fd);
        return -1;
    }
    char request[256];
    int length = snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    if (send(fd, request, (size_t)length, MSG_NOSIGNAL) != length) {
        close(fd);
        return -1;
    }
    size_t used = 0;
    for (;;) {
        char chunk[4096];
        ssize_t got = recv(fd, chunk, sizeof chunk, 0);
        if (got <= 0) break;
        size_t copy = (size_t)got;
        if (used + copy > capacity - 1) copy = capacity - 1 - used;
        memcpy(response + used, chunk, copy);
        used += copy;
    }
    response[used] = '\0';
    close(fd);
    int status = -1;
    if (sscanf(response, "HTTP/1.1 %d", &status) != 1) return -1;
    return status;
}

static char response[1 << 20];

static int unhealthy_database(void *user_data, char *message, size_t capacity) {
    (void)user_data;
    snprintf(message, capacity, "%s", "database unreachable");
    return 0;
}

static int hangs(void *user_data, char *message, size_t capacity) {
    (void)user_data;
    (void)message;
    (void)capacity;
    sleep(3);
    return 1;
}

static void *stop_in_thread(void *endpoint) {
    marty_endpoint_stop((marty_endpoint *)endpoint);
    return NULL;
}

/* Whether this process still has a TCP socket bound to `port`. */
static int has_socket_on_port(int port) {
    for (int fd = 0; fd < 4096; fd++) {
        struct sockaddr_in address;
        socklen_t length = sizeof address;
        int type = 0;
        socklen_t type_length = sizeof type;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_length) != 0 || type != SOCK_STREAM) continue;
        if (getsockname(fd, (struct sockaddr *)&address, &length) == 0 && address.sin_family == AF_INET &&
            ntohs(address.sin_port) == port) {
            return 1;
        }
    }
    return 0;
}

static marty_endpoint *start_on_loopback(const char *service, int metrics_port, int health_port) {
    marty_endpoint_options options;
    marty_endpoint_options_init(&options);
    options.service = service;
    options.bind_address = "127.0.0.1";
    options.metrics_port = metrics_port;
    options.health_port = health_port;
    marty_endpoint *endpoint = NULL;
    int status = marty_endpoint_start(&options, &endpoint);
    if (status != MARTY_OK) {
        printf("start(%s, %d, %d) failed: %s\n", service, metrics_port, health_port, marty_errmsg());
        return NULL;
    }
    return endpoint;
}

int main(void) {
    marty_registry *registry = marty_registry_default();
    marty_family *family = NULL;
    marty_counter *counter = NULL;
    REQUIRE_OK(marty_counter_family_new(registry, "c_endpoint_jobs", "Jobs.", NULL, 0, &family));
    REQUIRE_OK(marty_counter_get(family, NULL, 0, &counter));
    REQUIRE_OK(marty_counter_add_int(counter, 41));

    /* ---- Bad arguments ---- */
    {
        marty_endpoint *out = NULL;
        marty_endpoint_options options;
        marty_endpoint_options_init(&options);
        EXPECT(marty_endpoint_start(NULL, &out) == MARTY_ERR_NULL_ARGUMENT, "start(NULL options)");
        EXPECT(marty_endpoint_start(&options, NULL) == MARTY_ERR_NULL_ARGUMENT, "start(NULL out)");
        EXPECT(marty_endpoint_start(&options, &out) == MARTY_ERR_NULL_ARGUMENT, "start without a service");
        EXPECT(strstr(marty_errmsg(), "service") != NULL, "errmsg names the service: %s", marty_errmsg());
        options.service = "c-test";
        options.metrics_port = 70000;
        EXPECT(marty_endpoint_start(&options, &out) == MARTY_ERR_INVALID_ARGUMENT, "port 70000");
        options.metrics_port = 0;
        options.bind_address = "\xff\xfe";
        EXPECT(marty_endpoint_start(&options, &out) == MARTY_ERR_INVALID_UTF8, "non-UTF-8 bind address");
        options.bind_address = "not an address";
        EXPECT(marty_endpoint_start(&options, &out) == MARTY_ERR_INVALID_ARGUMENT, "bad bind address: %s", marty_errmsg());
        /* 0.3: the web config (its behaviour is tested over TLS in Swift, Python and Tests/deploy). */
        options.bind_address = "127.0.0.1";
        options.web_config_file = "/nonexistent/web.yml";
        EXPECT(marty_endpoint_start(&options, &out) == MARTY_ERR_INVALID_ARGUMENT, "missing web config");
        EXPECT(strstr(marty_errmsg(), "/nonexistent/web.yml") != NULL, "errmsg names the file: %s", marty_errmsg());
        options.web_config_file = "\xff";
        EXPECT(marty_endpoint_start(&options, &out) == MARTY_ERR_INVALID_UTF8, "non-UTF-8 web config path");
        options.web_config_file = NULL;
        options.health_uses_web_config = 2;
        EXPECT(marty_endpoint_start(&options, &out) == MARTY_ERR_INVALID_ARGUMENT, "health_uses_web_config 2");
        EXPECT(strstr(marty_errmsg(), "health_uses_web_config") != NULL, "errmsg: %s", marty_errmsg());
        options.health_uses_web_config = 0;
        {
            /* Basic auth from a web config: /metrics answers 401, the health port does not ask. */
            char path[] = "/tmp/marty-c-web-XXXXXX";
            int fd = mkstemp(path);
            EXPECT(fd >= 0, "mkstemp");
            const char *text = "basic_auth_users:\n  u: $2b$04$.2Xw3se1ZpdyI89/Aj//cOPCYcOo.GgqVjC7Jk7Dh3D2otPvrB86y\n";
            EXPECT(write(fd, text, strlen(text)) == (ssize_t)strlen(text), "write the web config");
            close(fd);
            options.web_config_file = path;
            options.health_port = 0;
            marty_endpoint *guarded = NULL;
            EXPECT(marty_endpoint_start(&options, &guarded) == MARTY_OK, "start with a web config: %s", marty_errmsg());
            int guarded_metrics = 0, guarded_health = 0;
            marty_endpoint_metrics_port(guarded, &guarded_metrics);
            marty_endpoint_health_port(guarded, &guarded_health);
            char answer[4096];
            EXPECT(http_get(guarded_metrics, "/metrics", answer, sizeof answer) == 401, "no credentials: 401");
            EXPECT(strstr(answer, "WWW-Authenticate: Basic") != NULL, "a Basic challenge: %s", answer);
            EXPECT(http_get(guarded_health, "/health/live", answer, sizeof answer) == 200, "health without credentials");
            marty_endpoint_free(guarded);
            unlink(path);
            options.web_config_file = NULL;
            options.health_port = MARTY_PORT_DEFAULT;
        }
        options.bind_address = "not an address";
        marty_endpoint_options unfilled;
        memset(&unfilled, 0, sizeof unfilled);
        unfilled.service = "c-test";
        EXPECT(marty_endpoint_start(&unfilled, &out) == MARTY_ERR_INVALID_ARGUMENT, "options not initialised");
        options.bind_address = "127.0.0.1";
        options.service = "my-daemon";
        options.metrics_port = MARTY_PORT_DEFAULT;
        if (getenv("MARTY_METRICS_PORT") == NULL) {
            EXPECT(marty_endpoint_start(&options, &out) == MARTY_ERR_INVALID_ARGUMENT, "unknown service, no port");
            EXPECT(strstr(marty_errmsg(), "port table") != NULL, "errmsg: %s", marty_errmsg());
        }
        int port = 0;
        EXPECT(marty_endpoint_metrics_port(NULL, &port) == MARTY_ERR_NULL_ARGUMENT, "metrics_port(NULL)");
        EXPECT(marty_endpoint_health_port(NULL, &port) == MARTY_ERR_NULL_ARGUMENT, "health_port(NULL)");
        EXPECT(marty_endpoint_stop(NULL) == MARTY_ERR_NULL_ARGUMENT, "stop(NULL)");
        EXPECT(marty_endpoint_free(NULL) == MARTY_ERR_NULL_ARGUMENT, "free(NULL)");
        (marty_endpoint_options_init)(NULL); /* the 0.1 function: a no-op, no crash */
        EXPECT(marty_endpoint_options_init_sized(NULL, sizeof(marty_endpoint_options)) == MARTY_ERR_NULL_ARGUMENT,
               "options_init_sized(NULL)");
        EXPECT(marty_health_set(NULL, 1, NULL, MARTY_PROBE_BOTH, 0) == MARTY_ERR_NULL_ARGUMENT, "health_set(NULL)");
        EXPECT(marty_health_set("x", 1, NULL, 7, 0) == MARTY_ERR_INVALID_ARGUMENT, "health_set(bad probe)");
        EXPECT(marty_health_set("x", 1, NULL, MARTY_PROBE_BOTH, -1) == MARTY_ERR_INVALID_ARGUMENT, "negative ttl");
        EXPECT(marty_health_set("", 1, NULL, MARTY_PROBE_BOTH, 0) == MARTY_ERR_INVALID_NAME, "empty check name");
        EXPECT(marty_health_set("x", 1, "\xc3", MARTY_PROBE_BOTH, 0) == MARTY_ERR_INVALID_UTF8, "bad message");
        EXPECT(marty_health_register_callback("x", NULL, NULL, 0, 1) == MARTY_ERR_NULL_ARGUMENT, "NULL callback");
        EXPECT(marty_health_register_callback("x", hangs, NULL, 0, 0) == MARTY_ERR_INVALID_ARGUMENT, "zero timeout");
        EXPECT(marty_health_remove(NULL) == MARTY_ERR_NULL_ARGUMENT, "remove(NULL)");
        EXPECT(marty_health_remove("never-set") == MARTY_ERR_NOT_FOUND, "remove(unknown)");
        EXPECT(marty_health_status(NULL, NULL, NULL) == MARTY_OK, "status with NULL outs");
    }

    /* ---- Serving ---- */
    marty_endpoint *endpoint = start_on_loopback("c-test", 0, 0);
    if (!endpoint) return marty_test_summary();
    int metrics_port = 0, health_port = 0;
    EXPECT_OK(marty_endpoint_metrics_port(endpoint, &metrics_port));
    EXPECT_OK(marty_endpoint_health_port(endpoint, &health_port));
    EXPECT(metrics_port > 0 && health_port > 0 && metrics_port != health_port, "ports %d %d", metrics_port, health_port);

    EXPECT(http_get(metrics_port, "/metrics", response, sizeof response) == 200, "GET /metrics");
    EXPECT(strstr(response, "\nc_endpoint_jobs_total 41\n") != NULL, "own counter in /metrics");
    EXPECT(strstr(response, "marty_service_health_status{service=\"c-test\"} 1\n") != NULL, "health gauge");
    EXPECT(http_get(health_port, "/health/ready", response, sizeof response) == 200, "ready");
    EXPECT(http_get(health_port, "/metrics", response, sizeof response) == 404, "no /metrics on health port");

    /* ---- Health callbacks ---- */
    REQUIRE_OK(marty_health_register_callback("database", unhealthy_database, NULL, MARTY_PROBE_READINESS, 1.0));
    EXPECT(http_get(health_port, "/health/ready", response, sizeof response) == 503, "ready with a failing db");
    EXPECT(http_get(health_port, "/health/live", response, sizeof response) == 200, "live with a failing db");
    EXPECT(http_get(metrics_port, "/health", response, sizeof response) == 200, "/health");
    EXPECT(strstr(response, "\"database\":false") != NULL, "checks: %s", response);
    EXPECT(strstr(response, "database unreachable") != NULL, "callback message in details");
    EXPECT_OK(marty_health_remove("database"));

    REQUIRE_OK(marty_health_register_callback("hangs", hangs, NULL, MARTY_PROBE_LIVENESS, 0.2));
    double started = now_seconds();
    EXPECT(http_get(health_port, "/health/live", response, sizeof response) == 503, "live with a hanging check");
    double waited = now_seconds() - started;
    EXPECT(waited < 1.5, "the probe waited %.2f s for a check limited to 0.2 s", waited);
    EXPECT(strstr(response, "\"hangs\"") != NULL, "failing check named: %s", response);
    EXPECT_OK(marty_health_remove("hangs"));
    int healthy = -1, live = -1, ready = -1;
    EXPECT_OK(marty_health_status(&healthy, &live, &ready));
    EXPECT(healthy == 1 && live == 1 && ready == 1, "status %d %d %d", healthy, live, ready);

    /* ---- A taken port ---- */
    {
        marty_endpoint_options options;
        marty_endpoint_options_init(&options);
        options.service = "c-test";
        options.bind_address = "127.0.0.1";
        options.metrics_port = metrics_port;
        options.separate_health_listener = 0;
        marty_endpoint *second = NULL;
        EXPECT(marty_endpoint_start(&options, &second) == MARTY_ERR_ADDRESS_IN_USE, "port in use");
        char expected[64];
        snprintf(expected, sizeof expected, "port %d", metrics_port);
        EXPECT(strstr(marty_errmsg(), expected) != NULL, "errmsg names the port: %s", marty_errmsg());
        EXPECT(second == NULL, "out written on failure");
    }

    /* ---- fork() after start ---- */
    /* An endpoint started and stopped in the parent first: SwiftNIO's shutdown reports through
     * libdispatch, whose queues never run in a child forked after the parent used them, and the
     * child's stop below then hung for ever (the endpoint's threads no longer use Dispatch). */
    {
        marty_endpoint *used = start_on_loopback("c-test-before-fork", 0, 0);
        EXPECT(used != NULL, "start before the fork");
        marty_endpoint_free(used);
    }
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        /* The child: no event-loop thread here. A hang is a failure, not a stuck test. */
        alarm(20);
        int failures = 0;
        if (has_socket_on_port(metrics_port) || has_socket_on_port(health_port)) {
            printf("child: inherited sockets on the parent's ports are still open\n");
            failures++;
        }
        if (marty_counter_inc(counter) != MARTY_OK) failures++;
        double before = now_seconds();
        marty_endpoint_stop(endpoint);
        marty_endpoint_stop(endpoint);
        if (now_seconds() - before > 0.5) {
            printf("child: stop took %.2f s\n", now_seconds() - before);
            failures++;
        }
        marty_endpoint *own = start_on_loopback("c-test-child", 0, 0);
        int own_port = 0;
        if (!own || marty_endpoint_metrics_port(own, &own_port) != MARTY_OK) {
            failures++;
        } else {
            if (http_get(own_port, "/metrics", response, sizeof response) != 200 ||
                strstr(response, "\nc_endpoint_jobs_total 42\n") == NULL) {
                printf("child: own /metrics wrong:\n%.300s\n", response);
                failures++;
            }
            marty_endpoint_free(own);
        }
        fflush(stdout);
        _exit(failures == 0 ? 0 : 1);
    }
    EXPECT(child > 0, "fork failed");
    int child_status = -1;
    waitpid(child, &child_status, 0);
    EXPECT(WIFEXITED(child_status) && WEXITSTATUS(child_status) == 0, "child checks failed (status %d)", child_status);
    EXPECT(http_get(metrics_port, "/metrics", response, sizeof response) == 200, "parent serves after the fork");
    EXPECT(strstr(response, "\nc_endpoint_jobs_total 41\n") != NULL, "parent's counter unchanged by the child");

    /* ---- Stop from another thread, twice, then free ---- */
    pthread_t thread;
    pthread_create(&thread, NULL, stop_in_thread, endpoint);
    pthread_join(thread, NULL);
    EXPECT_OK(marty_endpoint_stop(endpoint));
    EXPECT(http_get(metrics_port, "/metrics", response, sizeof response) == -1, "still listening after stop");
    EXPECT_OK(marty_counter_inc(counter)); /* recording keeps working */
    EXPECT_OK(marty_endpoint_free(endpoint));

    /* Start again on the same port. */
    marty_endpoint *again = start_on_loopback("c-test", metrics_port, 0);
    EXPECT(again != NULL, "start again on port %d", metrics_port);
    if (again) {
        EXPECT(http_get(metrics_port, "/metrics", response, sizeof response) == 200, "serves again");
        EXPECT(strstr(response, "\nc_endpoint_jobs_total 42\n") != NULL, "counter kept across restarts");
        EXPECT_OK(marty_endpoint_free(again));
    }
    marty_family_release(family);
    return marty_test_summary();
}
