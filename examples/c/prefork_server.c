/*
 * prefork_server.c: a pre-fork daemon in C. The parent makes the multiprocess segment, serves
 * /metrics for every worker from the library's endpoint, and keeps N workers running: each does
 * jobs and exits after a number of them (recycling), and with MARTY_PREFORK_CHAOS=1 the parent
 * also kills a worker with SIGKILL now and then, mid-job. Counts never go backwards: a worker's
 * counts stay in the totals after it is gone.
 *
 *   cc prefork_server.c $(pkg-config --cflags --libs marty_metrics) -o prefork_server
 *   MARTY_METRICS_PORT=19100 MARTY_HEALTH_PORT=18100 MARTY_RUN_SECONDS=10 ./prefork_server
 *   curl http://127.0.0.1:19100/metrics
 *
 * Settings: MARTY_PREFORK_WORKERS (4), MARTY_PREFORK_JOBS_PER_WORKER (200; 0 never recycles),
 * MARTY_PREFORK_CHAOS (0), MARTY_RUN_SECONDS (0: until SIGINT/SIGTERM), and the endpoint's
 * own (MARTY_METRICS_PORT, MARTY_HEALTH_PORT, MARTY_METRICS_BIND).
 *
 * Each worker writes one byte to a pipe after each job it recorded: at exit the parent prints
 * the jobs its workers confirmed beside the registry's total, which is at least that and at
 * most one more per worker killed (a kill between recording and confirming).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "marty_metrics.h"

#define CHECK(call)                                                                          \
    do {                                                                                     \
        int check_status_ = (call);                                                          \
        if (check_status_ != MARTY_OK) {                                                     \
            fprintf(stderr, "prefork_server: %s failed: %s (%s)\n", #call,                   \
                    marty_status_string(check_status_), marty_errmsg());                     \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)

#define MAX_WORKERS 64

static volatile sig_atomic_t stopping;
static void on_stop(int signal_number) {
    (void)signal_number;
    stopping = 1;
}

static long setting(const char *name, long fallback) {
    const char *text = getenv(name);
    return text && *text ? strtol(text, NULL, 10) : fallback;
}

static double now(void) {
    struct timespec clock;
    clock_gettime(CLOCK_MONOTONIC, &clock);
    return (double)clock.tv_sec + clock.tv_nsec / 1e9;
}

/* A worker: defines its metrics (they join the parent's families in the segment), then does
 * jobs until it has done `jobs` of them (0: for ever). */
static void worker(int confirm, long jobs) {
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    marty_registry *registry = marty_registry_default();
    const char *kind_label = "kind";
    marty_family *done_family, *seconds_family, *busy_family;
    CHECK(marty_counter_family_new(registry, "prefork_jobs", "Jobs done by the workers.", &kind_label, 1,
                                   &done_family));
    const double bounds[] = {0.001, 0.002, 0.005};
    CHECK(marty_histogram_family_new(registry, "prefork_job_seconds", "Time a job took.", NULL, 0, bounds, 3,
                                     &seconds_family));
    CHECK(marty_gauge_family_new_multiprocess(registry, "prefork_busy_workers", "Workers inside a job.", NULL, 0,
                                              MARTY_GAUGE_LIVESUM, &busy_family));
    const char *kinds[][1] = {{"sign"}, {"verify"}};
    marty_counter *done[2];
    marty_histogram *seconds;
    marty_gauge *busy;
    CHECK(marty_counter_get(done_family, kinds[0], 1, &done[0]));
    CHECK(marty_counter_get(done_family, kinds[1], 1, &done[1]));
    CHECK(marty_histogram_get(seconds_family, NULL, 0, &seconds));
    CHECK(marty_gauge_get(busy_family, NULL, 0, &busy));
    unsigned seed = (unsigned)getpid();
    for (long job = 0; jobs == 0 || job < jobs; job++) {
        double started = now();
        marty_gauge_set(busy, 1);
        struct timespec pause = {0, (long)(500 + rand_r(&seed) % 2000) * 1000};
        nanosleep(&pause, NULL);
        marty_counter_inc(done[job % 2]);
        marty_histogram_observe(seconds, now() - started);
        marty_gauge_set(busy, 0);
        char byte = 1;
        if (write(confirm, &byte, 1) != 1) _exit(2);
    }
    _exit(0);
}

int main(void) {
    /* Before anything is made in the default registry, and before any fork. */
    CHECK(marty_multiprocess_enable(0));
    long worker_count = setting("MARTY_PREFORK_WORKERS", 4);
    long jobs_per_worker = setting("MARTY_PREFORK_JOBS_PER_WORKER", 200);
    int chaos = setting("MARTY_PREFORK_CHAOS", 0) != 0;
    long run_seconds = setting("MARTY_RUN_SECONDS", 0);
    if (worker_count < 1 || worker_count > MAX_WORKERS) {
        fprintf(stderr, "prefork_server: MARTY_PREFORK_WORKERS must be 1...%d\n", MAX_WORKERS);
        return 1;
    }

    marty_endpoint_options options;
    marty_endpoint_options_init(&options);
    options.service = "prefork-server";
    marty_endpoint *endpoint = NULL;
    CHECK(marty_endpoint_start(&options, &endpoint));
    int metrics_port = 0;
    CHECK(marty_endpoint_metrics_port(endpoint, &metrics_port));
    printf("prefork_server: /metrics on port %d, %ld workers\n", metrics_port, worker_count);
    fflush(stdout);

    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_stop;
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);

    int confirmations[2];
    if (pipe(confirmations) != 0) return 1;
    fcntl(confirmations[0], F_SETFL, O_NONBLOCK);
    pid_t workers[MAX_WORKERS] = {0};
    long confirmed = 0, killed = 0, replaced = 0;
    double started = now(), last_kill = started;
    unsigned seed = (unsigned)getpid();
    while (!stopping && (run_seconds == 0 || now() - started < run_seconds)) {
        for (long slot = 0; slot < worker_count; slot++) {
            if (workers[slot] != 0) continue;
            pid_t pid = fork();
            if (pid == 0) {
                close(confirmations[0]);
                worker(confirmations[1], jobs_per_worker);
            }
            if (pid > 0) workers[slot] = pid;
        }
        char bytes[4096];
        ssize_t got;
        while ((got = read(confirmations[0], bytes, sizeof bytes)) > 0) confirmed += got;
        if (chaos && now() - last_kill > 0.25) {
            last_kill = now();
            pid_t victim = workers[rand_r(&seed) % worker_count];
            if (victim > 0 && kill(victim, SIGKILL) == 0) killed++;
        }
        int status;
        pid_t gone;
        while ((gone = waitpid(-1, &status, WNOHANG)) > 0) {
            CHECK(marty_multiprocess_mark_process_dead((int)gone));
            for (long slot = 0; slot < worker_count; slot++) {
                if (workers[slot] == gone) workers[slot] = 0;
            }
            replaced++;
        }
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    for (long slot = 0; slot < worker_count; slot++) {
        if (workers[slot] > 0) kill(workers[slot], SIGTERM);
    }
    while (waitpid(-1, NULL, 0) > 0 || errno == EINTR) {
    }
    char bytes[4096];
    ssize_t got;
    while ((got = read(confirmations[0], bytes, sizeof bytes)) > 0) confirmed += got;

    char *text = NULL;
    CHECK(marty_registry_render(marty_registry_default(), MARTY_FORMAT_TEXT, &text, NULL));
    double counted = 0;
    for (char *line = strstr(text, "\nprefork_jobs_total{"); line; line = strstr(line + 1, "\nprefork_jobs_total{")) {
        counted += strtod(strchr(line, '}') + 2, NULL);
    }
    marty_free(text);
    printf("prefork_server: confirmed=%ld counted=%.0f killed=%ld workers_replaced=%ld\n", confirmed, counted,
           killed, replaced);
    CHECK(marty_endpoint_stop(endpoint));
    CHECK(marty_endpoint_free(endpoint));
    return 0;
}
