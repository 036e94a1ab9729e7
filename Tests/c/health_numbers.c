/*
 * Numbers the health and endpoint calls must refuse rather than trap on (NaN, infinities,
 * negatives, values too large for nanoseconds), options of an older header, and a health
 * probe evaluated in a child forked while a callback run was in flight.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "marty_test.h"

static double now_seconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static int healthy_check(void *user_data, char *message, size_t capacity) {
    (void)user_data;
    (void)message;
    (void)capacity;
    return 1;
}

static int slow_check(void *user_data, char *message, size_t capacity) {
    (void)user_data;
    snprintf(message, capacity, "%s", "slow but fine");
    struct timespec pause = {0, 300 * 1000 * 1000};
    nanosleep(&pause, NULL);
    return 1;
}

static void *status_in_thread(void *unused) {
    (void)unused;
    int healthy = -1;
    marty_health_status(&healthy, NULL, NULL);
    return NULL;
}

static int start_with(double idle, double head, double grace) {
    marty_endpoint_options options;
    marty_endpoint_options_init(&options);
    options.service = "numbers-test";
    options.bind_address = "127.0.0.1";
    options.metrics_port = 0;
    options.separate_health_listener = 0;
    options.idle_timeout_seconds = idle;
    options.request_head_timeout_seconds = head;
    options.shutdown_grace_seconds = grace;
    marty_endpoint *endpoint = NULL;
    int status = marty_endpoint_start(&options, &endpoint);
    if (endpoint) marty_endpoint_free(endpoint);
    return status;
}

int main(void) {
    static const double bad[] = {NAN, INFINITY, -INFINITY, -1.0, 1e10, 1e19, 1.7976931348623157e308};
    const size_t count = sizeof bad / sizeof bad[0];

    /* ---- Health: callback time limits and times to live ---- */
    for (size_t i = 0; i < count; i++) {
        EXPECT(marty_health_register_callback("n", healthy_check, NULL, MARTY_PROBE_BOTH, bad[i]) ==
                   MARTY_ERR_INVALID_ARGUMENT,
               "callback timeout %g", bad[i]);
        EXPECT(strstr(marty_errmsg(), "timeout") != NULL, "message names the timeout: %s", marty_errmsg());
        EXPECT(marty_health_set("n", 1, NULL, MARTY_PROBE_BOTH, bad[i]) == MARTY_ERR_INVALID_ARGUMENT, "ttl %g",
               bad[i]);
        EXPECT(strstr(marty_errmsg(), "time to live") != NULL, "message names the ttl: %s", marty_errmsg());
    }
    EXPECT(marty_health_register_callback("n", healthy_check, NULL, MARTY_PROBE_BOTH, 0) ==
               MARTY_ERR_INVALID_ARGUMENT,
           "zero timeout");
    EXPECT(marty_health_remove("n") == MARTY_ERR_NOT_FOUND, "nothing was registered");
    EXPECT_OK(marty_health_set("n", 1, NULL, MARTY_PROBE_BOTH, 1e9)); /* the largest allowed */
    EXPECT_OK(marty_health_remove("n"));

    /* ---- Endpoint: idle timeout, request head deadline, shutdown grace ---- */
    for (size_t i = 0; i < count; i++) {
        EXPECT(start_with(bad[i], 0, 0) == MARTY_ERR_INVALID_ARGUMENT, "idle_timeout_seconds %g: %s", bad[i],
               marty_errmsg());
        EXPECT(start_with(0, bad[i], 0) == MARTY_ERR_INVALID_ARGUMENT, "request_head_timeout_seconds %g", bad[i]);
        EXPECT(start_with(0, 0, bad[i]) == MARTY_ERR_INVALID_ARGUMENT, "shutdown_grace_seconds %g", bad[i]);
    }
    EXPECT_OK(start_with(0, 0, 0));
    EXPECT_OK(start_with(30, 5, 0.5));

    /* ---- Initialising options of an older header writes only that header's fields ---- */
    {
        size_t old_size = offsetof(marty_endpoint_options, request_head_timeout_seconds);
        unsigned char memory[sizeof(marty_endpoint_options) + 16];
        memset(memory, 0xAB, sizeof memory);
        /* What a program built against the 0.1 header calls (its macro did not exist). */
        (marty_endpoint_options_init)((marty_endpoint_options *)(void *)memory);
        int untouched = 1;
        for (size_t index = old_size; index < sizeof memory; index++) untouched &= memory[index] == 0xAB;
        EXPECT(untouched, "the 0.1 marty_endpoint_options_init wrote past the 0.1 struct (%zu bytes)", old_size);
        size_t written_size;
        memcpy(&written_size, memory, sizeof written_size);
        EXPECT(written_size == old_size, "struct_size is the 0.1 size (%zu, got %zu)", old_size, written_size);

        memset(memory, 0xAB, sizeof memory);
        EXPECT_OK(marty_endpoint_options_init_sized((marty_endpoint_options *)(void *)memory, old_size));
        untouched = 1;
        for (size_t index = old_size; index < sizeof memory; index++) untouched &= memory[index] == 0xAB;
        EXPECT(untouched, "options_init_sized(old size) wrote past it");

        memset(memory, 0xAB, sizeof memory);
        EXPECT_OK(marty_endpoint_options_init_sized((marty_endpoint_options *)(void *)memory, sizeof memory));
        untouched = 1;
        for (size_t index = sizeof(marty_endpoint_options); index < sizeof memory; index++) {
            untouched &= memory[index] == 0xAB;
        }
        EXPECT(untouched, "options_init_sized(a newer header's larger size) wrote past the library's struct");
        memcpy(&written_size, memory, sizeof written_size);
        EXPECT(written_size == sizeof(marty_endpoint_options), "struct_size is the library's size (got %zu)",
               written_size);
        EXPECT(marty_endpoint_options_init_sized((marty_endpoint_options *)(void *)memory, 3) ==
                   MARTY_ERR_INVALID_ARGUMENT, "a size below the 0.1 struct is refused");

        marty_endpoint_options options;
        marty_endpoint_options_init(&options); /* the macro: the whole struct of this header */
        EXPECT(options.struct_size == sizeof options, "the macro passes sizeof (got %zu)", options.struct_size);
        EXPECT(options.request_head_timeout_seconds == 0 && options.shutdown_grace_seconds == 0,
               "the 0.2 fields get their defaults");
    }

    /* ---- Options filled by an older header (no head deadline, no grace) ---- */
    {
        marty_endpoint_options options;
        marty_endpoint_options_init(&options);
        options.struct_size = offsetof(marty_endpoint_options, request_head_timeout_seconds);
        options.service = "numbers-test";
        options.bind_address = "127.0.0.1";
        options.metrics_port = 0;
        options.separate_health_listener = 0;
        options.request_head_timeout_seconds = NAN; /* past the caller's struct: never read */
        marty_endpoint *endpoint = NULL;
        EXPECT_OK(marty_endpoint_start(&options, &endpoint));
        if (endpoint) EXPECT_OK(marty_endpoint_free(endpoint));
        options.struct_size = 3;
        EXPECT(marty_endpoint_start(&options, &endpoint) == MARTY_ERR_INVALID_ARGUMENT, "struct_size 3");
    }

    /* ---- fork() while a callback run is in flight: the child's probe does not hang ---- */
    {
        REQUIRE_OK(marty_health_register_callback("slow", slow_check, NULL, MARTY_PROBE_BOTH, 2.0));
        pthread_t thread;
        pthread_create(&thread, NULL, status_in_thread, NULL);
        struct timespec pause = {0, 100 * 1000 * 1000};
        nanosleep(&pause, NULL); /* the run is in progress on a health worker */
        fflush(stdout);
        pid_t child = fork();
        if (child == 0) {
            alarm(10); /* a hang fails the test instead of stalling it */
            int healthy = -1, live = -1, ready = -1;
            double started = now_seconds();
            int status = marty_health_status(&healthy, &live, &ready);
            double took = now_seconds() - started;
            /* The parent's run is forgotten; a new worker runs the check here (0.3 s). Not
             * ready: the endpoints above were stopped, and a stopped endpoint leaves its
             * health registry shutting down. */
            int ok = status == MARTY_OK && healthy == 1 && live == 1 && ready == 0 && took < 1.9;
            if (!ok) printf("child: status %d healthy %d live %d ready %d after %.2f s\n", status, healthy, live, ready,
                            took);
            int removed = marty_health_remove("slow") == MARTY_OK;
            fflush(stdout);
            _exit(ok && removed ? 0 : 1);
        }
        int child_status = 0;
        EXPECT(child > 0 && waitpid(child, &child_status, 0) == child, "fork/waitpid");
        EXPECT(WIFEXITED(child_status) && WEXITSTATUS(child_status) == 0, "the child's probe (status %d)",
               child_status);
        pthread_join(thread, NULL);
        int healthy = -1;
        EXPECT_OK(marty_health_status(&healthy, NULL, NULL));
        EXPECT(healthy == 1, "the parent still evaluates the check");
        EXPECT_OK(marty_health_remove("slow"));
    }

    return marty_test_summary();
}
