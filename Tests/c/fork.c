/* fork() while other threads create series, render and run health checks: every child must
 * be able to record, create, render and evaluate health, and exit; none may hang on a lock
 * that a thread of the parent held at the moment of the fork. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "marty_test.h"

static volatile int stop;
static marty_family *family;
static marty_family *churned;

static void *create_and_render(void *argument) {
    int worker = (int)(size_t)argument;
    char id[48];
    for (unsigned long round = 0; !stop; round++) {
        snprintf(id, sizeof id, "w%d-%lu", worker, round);
        const char *values[] = {id};
        marty_counter *counter;
        if (marty_counter_get(family, values, 1, &counter) == MARTY_OK) marty_counter_inc(counter);
        if (marty_counter_get(churned, values, 1, &counter) == MARTY_OK) marty_counter_inc(counter);
        if (round % 64 == 0) marty_family_clear(churned);
        if (round % 16 == 0) {
            char *text;
            if (marty_registry_render(marty_registry_default(), round % 32 ? MARTY_FORMAT_TEXT : MARTY_FORMAT_OPENMETRICS,
                                      &text, NULL) == MARTY_OK) {
                marty_free(text);
            }
        }
    }
    return NULL;
}

static int slow_check(void *user_data, char *message, size_t capacity) {
    (void)user_data;
    (void)message;
    (void)capacity;
    struct timespec pause = {0, 2 * 1000 * 1000};
    nanosleep(&pause, NULL);
    return 1;
}

static void *probe(void *argument) {
    (void)argument;
    while (!stop) {
        int healthy, live, ready;
        marty_health_status(&healthy, &live, &ready);
        marty_health_set("fork-set", 1, "ok", MARTY_PROBE_BOTH, 0);
    }
    return NULL;
}

/* What a child does: all of it must finish. */
static int child_work(void) {
    const char *values[] = {"child"};
    marty_counter *counter;
    if (marty_counter_get(family, values, 1, &counter) != MARTY_OK) return 2;
    if (marty_counter_inc(counter) != MARTY_OK) return 3;
    marty_family_clear(churned);
    char *text;
    if (marty_registry_render(marty_registry_default(), MARTY_FORMAT_TEXT, &text, NULL) != MARTY_OK) return 4;
    int found = strstr(text, "fork_test_total{id=\"child\"} ") != NULL;
    marty_free(text);
    if (!found) return 5;
    int healthy = 0, live = 0, ready = 0;
    if (marty_health_status(&healthy, &live, &ready) != MARTY_OK) return 6;
    if (!live) return 7;
    return 0;
}

int main(void) {
    const char *labels[] = {"id"};
    REQUIRE_OK(marty_counter_family_new(marty_registry_default(), "fork_test", "Forks", labels, 1, &family));
    EXPECT_OK(marty_family_set_max_series(family, 0)); /* children create series past the default cap */
    REQUIRE_OK(marty_counter_family_new(marty_registry_default(), "fork_churn", "Churn", labels, 1, &churned));
    REQUIRE_OK(marty_health_register_callback("fork-callback", slow_check, NULL, MARTY_PROBE_BOTH, 1));

    pthread_t threads[3];
    for (int index = 0; index < 2; index++) pthread_create(&threads[index], NULL, create_and_render, (void *)(size_t)index);
    pthread_create(&threads[2], NULL, probe, NULL);

    enum { FORKS = 40 };
    int hangs = 0, failures = 0;
    for (int fork_index = 0; fork_index < FORKS; fork_index++) {
        struct timespec pause = {0, 5 * 1000 * 1000};
        nanosleep(&pause, NULL);
        pid_t pid = fork();
        if (pid == 0) _exit(child_work());
        if (pid < 0) {
            failures++;
            continue;
        }
        int status = 0, done = 0;
        for (int waited = 0; waited < 1000 && !done; waited++) { /* up to 10 s */
            if (waitpid(pid, &status, WNOHANG) == pid) {
                done = 1;
            } else {
                struct timespec tick = {0, 10 * 1000 * 1000};
                nanosleep(&tick, NULL);
            }
        }
        if (!done) {
            hangs++;
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
        } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            failures++;
            printf("  child %d: %s %d\n", fork_index, WIFEXITED(status) ? "exit" : "signal",
                   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        }
    }
    stop = 1;
    for (int index = 0; index < 3; index++) pthread_join(threads[index], NULL);
    printf("%d forks during creation, rendering and health checks: %d hung, %d failed\n", FORKS, hangs, failures);
    EXPECT(hangs == 0, "%d of %d children hung", hangs, FORKS);
    EXPECT(failures == 0, "%d of %d children failed", failures, FORKS);
    marty_health_remove("fork-callback");
    return marty_test_summary();
}
