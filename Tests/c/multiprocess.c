/* Pre-fork workers sharing the default registry through the multiprocess segment: exact totals
 * over workers that exit, stay or are killed with SIGKILL (mid-run, holding the segment's
 * mutex or not), every gauge mode, definitions that disagree, and a segment that fills up. */
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

#define WORKERS 6
#define ROUNDS 3000

static char *render(void) {
    char *text = NULL;
    if (marty_registry_render(marty_registry_default(), MARTY_FORMAT_TEXT, &text, NULL) != MARTY_OK) return NULL;
    return text;
}

/* The value of the sample written exactly as `sample` (name and labels), or -1 if absent. */
static double sample_value(const char *text, const char *sample) {
    size_t length = strlen(sample);
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, sample, length) == 0 && line[length] == ' ') return strtod(line + length + 1, NULL);
    }
    return -1;
}

/* How many sample lines start with `prefix`. */
static int count_lines(const char *text, const char *prefix) {
    int count = 0;
    size_t length = strlen(prefix);
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, prefix, length) == 0) count++;
    }
    return count;
}

/* A child that fills a small segment of its own until MARTY_ERR_FULL. */
static int segment_full_child(void) {
    if (marty_multiprocess_enable(1 << 20) != MARTY_OK) return 10;
    marty_family *family;
    const char *label = "id";
    if (marty_counter_family_new(marty_registry_default(), "filled", "", &label, 1, &family) != MARTY_OK) return 11;
    int status = MARTY_OK;
    int made = 0;
    char id[32];
    marty_counter *counter = NULL;
    while (made < 100000) {
        snprintf(id, sizeof id, "%d", made);
        const char *values[] = {id};
        status = marty_counter_get(family, values, 1, &counter);
        if (status != MARTY_OK) break;
        marty_counter_inc(counter);
        made++;
    }
    if (status != MARTY_ERR_FULL) return 12;
    if (strstr(marty_errmsg(), "MARTY_METRICS_MULTIPROCESS_BYTES") == NULL) return 13;
    if (made < 100) return 14;
    /* What was made goes on recording and rendering. */
    const char *first[] = {"0"};
    if (marty_counter_get(family, first, 1, &counter) != MARTY_OK) return 15;
    marty_counter_inc(counter);
    char *text = render();
    if (text == NULL || sample_value(text, "filled_total{id=\"0\"}") != 2) return 16;
    marty_free(text);
    /* A new family finds no room either, or is made; either way no crash, and a clear status. */
    marty_family *other;
    int other_status = marty_gauge_family_new(marty_registry_default(), "other", "", NULL, 0, &other);
    if (other_status != MARTY_OK && other_status != MARTY_ERR_FULL) return 17;
    return 0;
}

static marty_family *jobs, *latency, *all_gauge, *livesum_gauge, *max_gauge, *recent_gauge;

/* Worker `index`: records ROUNDS times into the parent's families and into one it defines
 * itself; then waits on `hold` (if not -1) until the parent lets it go or kills it. */
static void worker(int index, int hold, int ready) {
    marty_family *own;
    const char *label = "worker_kind";
    if (marty_counter_family_new(marty_registry_default(), "defined_in_workers", "made after fork", &label, 1,
                                 &own) != MARTY_OK) {
        _exit(20);
    }
    char kind[16];
    for (int round = 0; round < ROUNDS; round++) {
        snprintf(kind, sizeof kind, "k%d", round % 5);
        const char *values[] = {kind};
        marty_counter *counter;
        if (marty_counter_get(jobs, values, 1, &counter) != MARTY_OK) _exit(21);
        marty_counter_inc(counter);
        const char *own_values[] = {index % 2 ? "odd" : "even"};
        if (marty_counter_get(own, own_values, 1, &counter) != MARTY_OK) _exit(22);
        marty_counter_add_int(counter, 2);
        marty_histogram *histogram;
        if (marty_histogram_get(latency, NULL, 0, &histogram) != MARTY_OK) _exit(23);
        marty_histogram_observe(histogram, (round % 4) * 0.5);
    }
    marty_gauge *gauge;
    if (marty_gauge_get(all_gauge, NULL, 0, &gauge) != MARTY_OK) _exit(24);
    marty_gauge_set(gauge, index + 1);
    if (marty_gauge_get(livesum_gauge, NULL, 0, &gauge) != MARTY_OK) _exit(25);
    marty_gauge_set(gauge, index + 1);
    if (marty_gauge_get(max_gauge, NULL, 0, &gauge) != MARTY_OK) _exit(26);
    marty_gauge_set(gauge, 10 * (index + 1));
    if (marty_gauge_get(recent_gauge, NULL, 0, &gauge) != MARTY_OK) _exit(27);
    marty_gauge_set(gauge, 1000 + index);
    if (hold >= 0) {
        char byte = 1;
        if (write(ready, &byte, 1) != 1) _exit(28);
        while (read(hold, &byte, 1) < 0) {
        }
    }
    _exit(0);
}

/* Workers that create series without pause until they are killed: some die holding the
 * segment's mutex (it is held for most of each creation). */
static void creating_worker(int index, int started) {
    marty_family *family;
    const char *label = "id";
    if (marty_counter_family_new(marty_registry_default(), "churn", "", &label, 1, &family) != MARTY_OK) _exit(30);
    char id[32];
    for (unsigned long round = 0;; round++) {
        snprintf(id, sizeof id, "%d-%lu", index, round);
        const char *values[] = {id};
        marty_counter *counter;
        if (marty_counter_get(family, values, 1, &counter) != MARTY_OK) _exit(31);
        marty_counter_inc(counter);
        if (round == 10 && write(started, "s", 1) != 1) _exit(32);  /* ten made: the parent may kill */
    }
}

/* A thread of the parent that makes series without pause: it holds the segment's mutex for
 * most of each creation, so forks below happen while it is held. */
static volatile int creating = 1;
static void *create_series(void *argument) {
    marty_family *family = argument;
    char id[32];
    for (unsigned long round = 0; creating; round++) {
        snprintf(id, sizeof id, "%lu", round % 9000);
        const char *values[] = {id};
        marty_counter *counter;
        if (marty_counter_get(family, values, 1, &counter) == MARTY_OK) marty_counter_inc(counter);
    }
    return NULL;
}

int main(void) {
    /* A child of its own first: its small segment must not be this process' one. */
    pid_t full = fork();
    if (full == 0) _exit(segment_full_child());
    int full_status = 0;
    waitpid(full, &full_status, 0);
    EXPECT(WIFEXITED(full_status) && WEXITSTATUS(full_status) == 0,
           "the segment-full child exited with %d (see segment_full_child for the step)", WEXITSTATUS(full_status));

    EXPECT(marty_multiprocess_enabled() == 0, "no segment before marty_multiprocess_enable");
    EXPECT(marty_multiprocess_enable(1000) == MARTY_ERR_INVALID_ARGUMENT, "a segment under 1 MiB is refused");
    REQUIRE_OK(marty_multiprocess_enable((size_t)256 << 20));
    EXPECT(marty_multiprocess_enable(0) == MARTY_ERR_CONFLICT, "a second segment is refused");
    EXPECT(marty_multiprocess_enabled() == 1, "the segment is made");
    EXPECT(marty_multiprocess_mark_process_dead(0) == MARTY_ERR_INVALID_ARGUMENT, "pid 0 is refused");

    marty_registry *registry = marty_registry_default();
    const char *kind_label = "kind";
    double bounds[] = {0.25, 1};
    REQUIRE_OK(marty_counter_family_new(registry, "jobs", "jobs done", &kind_label, 1, &jobs));
    REQUIRE_OK(marty_histogram_family_new(registry, "latency_seconds", "", NULL, 0, bounds, 2, &latency));
    REQUIRE_OK(marty_gauge_family_new(registry, "per_worker", "", NULL, 0, &all_gauge));
    REQUIRE_OK(marty_gauge_family_new_multiprocess(registry, "busy", "", NULL, 0, MARTY_GAUGE_LIVESUM, &livesum_gauge));
    REQUIRE_OK(marty_gauge_family_new_multiprocess(registry, "peak", "", NULL, 0, MARTY_GAUGE_MAX, &max_gauge));
    REQUIRE_OK(marty_gauge_family_new_multiprocess(registry, "recent", "", NULL, 0, MARTY_GAUGE_MOSTRECENT,
                                                   &recent_gauge));
    marty_family *refused;
    EXPECT(marty_gauge_family_new_multiprocess(registry, "bad_mode", "", NULL, 0, 10, &refused) ==
               MARTY_ERR_INVALID_ARGUMENT,
           "mode 10 is refused");
    marty_native_histogram_options options;
    marty_native_histogram_options_init(&options);
    EXPECT(marty_native_histogram_family_new(registry, "native_seconds", "", NULL, 0, NULL, 0, &options, &refused) ==
               MARTY_ERR_INVALID_ARGUMENT,
           "native buckets are refused for a shared family");
    EXPECT(marty_family_clear(jobs) == MARTY_ERR_INVALID_ARGUMENT, "a shared family refuses clear");
    const char *some[] = {"k0"};
    EXPECT(marty_family_remove(jobs, some, 1) == MARTY_ERR_INVALID_ARGUMENT, "a shared family refuses remove");

    /* The parent records too. */
    marty_gauge *parent_gauge;
    REQUIRE_OK(marty_gauge_get(all_gauge, NULL, 0, &parent_gauge));
    marty_gauge_set(parent_gauge, 100);

    /* Workers 0-1 exit, 2-3 stay alive, 4-5 are killed by SIGKILL once done. */
    int hold[2], ready[2];
    if (pipe(hold) != 0 || pipe(ready) != 0) return 1;
    pid_t pids[WORKERS];
    for (int index = 0; index < WORKERS; index++) {
        pids[index] = fork();
        if (pids[index] == 0) {
            close(hold[1]);
            worker(index, index >= 2 ? hold[0] : -1, ready[1]);
        }
    }
    close(hold[0]);
    for (int index = 0; index < 2; index++) {
        int status = 0;
        waitpid(pids[index], &status, 0);
        EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "worker %d exited with %d", index, WEXITSTATUS(status));
    }
    for (int waiting = 0; waiting < WORKERS - 2; waiting++) {
        char byte;
        if (read(ready[0], &byte, 1) != 1) return 1;
    }
    for (int index = 4; index < WORKERS; index++) {
        kill(pids[index], SIGKILL);
        waitpid(pids[index], NULL, 0);
    }

    char *text = render();
    EXPECT(text != NULL, "the default registry renders");
    if (text == NULL) return marty_test_summary();
    for (int kind = 0; kind < 5; kind++) {
        char sample[64];
        snprintf(sample, sizeof sample, "jobs_total{kind=\"k%d\"}", kind);
        EXPECT(sample_value(text, sample) == WORKERS * ROUNDS / 5, "%s is %g, not %d", sample,
               sample_value(text, sample), WORKERS * ROUNDS / 5);
    }
    EXPECT(sample_value(text, "defined_in_workers_total{worker_kind=\"even\"}") == 3 * ROUNDS * 2,
           "even workers' own family: %g", sample_value(text, "defined_in_workers_total{worker_kind=\"even\"}"));
    EXPECT(sample_value(text, "defined_in_workers_total{worker_kind=\"odd\"}") == 3 * ROUNDS * 2,
           "odd workers' own family: %g", sample_value(text, "defined_in_workers_total{worker_kind=\"odd\"}"));
    EXPECT(count_lines(text, "# TYPE defined_in_workers_total counter") == 1, "a family defined in every worker is one family");
    EXPECT(sample_value(text, "latency_seconds_count") == WORKERS * ROUNDS, "histogram count %g",
           sample_value(text, "latency_seconds_count"));
    EXPECT(sample_value(text, "latency_seconds_bucket{le=\"0.25\"}") == WORKERS * ROUNDS / 4, "first bucket %g",
           sample_value(text, "latency_seconds_bucket{le=\"0.25\"}"));
    EXPECT(sample_value(text, "latency_seconds_sum") == WORKERS * (ROUNDS / 4) * 3.0, "histogram sum %g",
           sample_value(text, "latency_seconds_sum"));

    /* Gauges: `all` shows the parent and every worker, dead or alive, by pid. */
    EXPECT(count_lines(text, "per_worker{pid=") == WORKERS + 1, "per_worker has %d series, not %d",
           count_lines(text, "per_worker{pid="), WORKERS + 1);
    char sample[64];
    snprintf(sample, sizeof sample, "per_worker{pid=\"%d\"}", (int)getpid());
    EXPECT(sample_value(text, sample) == 100, "the parent's own value is shown under its pid");
    snprintf(sample, sizeof sample, "per_worker{pid=\"%d\"}", (int)pids[5]);
    EXPECT(sample_value(text, sample) == 6, "a killed worker's value stays in mode all");
    /* livesum: the living workers 2 and 3 (the parent's unlabelled series is 0). */
    EXPECT(sample_value(text, "busy") == 3 + 4, "livesum is %g, not 7", sample_value(text, "busy"));
    EXPECT(sample_value(text, "peak") == 60, "max over all, dead ones too: %g", sample_value(text, "peak"));
    double recent = sample_value(text, "recent");
    EXPECT(recent >= 1000 && recent <= 1005, "mostrecent is a value some worker set: %g", recent);
    marty_free(text);

    /* A child that records nothing (one that only execs, say) leaves no per-process series. */
    pid_t idle = fork();
    if (idle == 0) _exit(0);
    waitpid(idle, NULL, 0);
    text = render();
    EXPECT(text && count_lines(text, "per_worker{pid=") == WORKERS + 1, "an idle child adds no series (%d)",
           text ? count_lines(text, "per_worker{pid=") : -1);
    marty_free(text);

    /* A worker marked dead leaves livesum at once, though still running. */
    REQUIRE_OK(marty_multiprocess_mark_process_dead((int)pids[2]));
    text = render();
    EXPECT(text && sample_value(text, "busy") == 4, "livesum after marking worker 2 dead: %g",
           text ? sample_value(text, "busy") : -1);
    marty_free(text);
    close(hold[1]);
    for (int index = 2; index < 4; index++) waitpid(pids[index], NULL, 0);
    text = render();
    EXPECT(text && sample_value(text, "busy") == 0, "livesum with no living worker: %g",
           text ? sample_value(text, "busy") : -1);
    marty_free(text);

    /* Recorders killed by SIGKILL mid-run: what they counted stays, and never shrinks. */
    marty_family *spins_family;
    REQUIRE_OK(marty_counter_family_new(registry, "spins", "", NULL, 0, &spins_family));
    marty_counter *spins;
    REQUIRE_OK(marty_counter_get(spins_family, NULL, 0, &spins));
    pid_t spinners[3];
    for (int index = 0; index < 3; index++) {
        spinners[index] = fork();
        if (spinners[index] == 0) {
            for (;;) marty_counter_inc(spins);
        }
    }
    struct timespec spin_time = {0, 30 * 1000 * 1000};
    double before_kill = 0, after_kill = 0, later = 0, after_more = 0;
    for (int waited = 0; waited < 300 && before_kill < 1000; waited++) {  /* a loaded machine starts them late */
        nanosleep(&spin_time, NULL);
        EXPECT_OK(marty_counter_value(spins, &before_kill));
    }
    for (int index = 0; index < 3; index++) kill(spinners[index], SIGKILL);
    for (int index = 0; index < 3; index++) waitpid(spinners[index], NULL, 0);
    EXPECT_OK(marty_counter_value(spins, &after_kill));
    nanosleep(&spin_time, NULL);
    EXPECT_OK(marty_counter_value(spins, &later));
    EXPECT(before_kill > 0 && after_kill >= before_kill && later == after_kill,
           "killed recorders' counts stay: %g before the kill, %g after, %g later", before_kill, after_kill, later);
    pid_t adding = fork();
    if (adding == 0) {
        for (int round = 0; round < 1000; round++) marty_counter_inc(spins);
        _exit(0);
    }
    waitpid(adding, NULL, 0);
    EXPECT_OK(marty_counter_value(spins, &after_more));
    EXPECT(after_more == after_kill + 1000, "a new worker's 1000 add to them: %g, not %g", after_more,
           after_kill + 1000);
    text = render();
    EXPECT(text && sample_value(text, "spins_total") == after_more, "the rendering shows %g",
           text ? sample_value(text, "spins_total") : -1);
    marty_free(text);

    /* Forks while another thread of the parent holds the segment's mutex: each child makes a
     * series (taking the mutex) and exits; none may wait for ever (alarm). */
    marty_family *busy_family;
    const char *id_label_busy = "id";
    REQUIRE_OK(marty_counter_family_new(registry, "made_while_forking", "", &id_label_busy, 1, &busy_family));
    pthread_t creator;
    pthread_create(&creator, NULL, create_series, busy_family);
    int children_done = 0;
    for (int round = 0; round < 20; round++) {
        pid_t child = fork();
        if (child == 0) {
            alarm(20);
            marty_family *family;
            const char *label = "child";
            char name[16];
            snprintf(name, sizeof name, "%d", round);
            const char *values[] = {name};
            marty_counter *counter;
            if (marty_counter_family_new(registry, "made_by_children", "", &label, 1, &family) != MARTY_OK) _exit(50);
            if (marty_counter_get(family, values, 1, &counter) != MARTY_OK) _exit(51);
            marty_counter_inc(counter);
            _exit(0);
        }
        int child_status = 0;
        waitpid(child, &child_status, 0);
        if (WIFEXITED(child_status) && WEXITSTATUS(child_status) == 0) children_done++;
    }
    creating = 0;
    pthread_join(creator, NULL);
    EXPECT(children_done == 20, "%d of 20 children forked while the mutex was busy finished", children_done);
    text = render();
    EXPECT(text && count_lines(text, "made_by_children_total{") == 20, "their 20 series show");
    marty_free(text);

    /* Definitions that disagree: the second is refused, naming both; the family stays whole. */
    pid_t disagreeing = fork();
    if (disagreeing == 0) {
        marty_family *family;
        const char *other = "other_label";
        int status = marty_counter_family_new(registry, "defined_in_workers", "", &other, 1, &family);
        if (status != MARTY_ERR_CONFLICT) _exit(40);
        if (strstr(marty_errmsg(), "worker_kind") == NULL || strstr(marty_errmsg(), "other_label") == NULL) _exit(41);
        status = marty_gauge_family_new(registry, "defined_in_workers", "", &other, 1, &family);
        if (status != MARTY_ERR_CONFLICT) _exit(42);
        _exit(0);
    }
    int status = 0;
    waitpid(disagreeing, &status, 0);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the disagreeing worker exited with %d",
           WEXITSTATUS(status));

    /* Workers killed while creating series, many holding the segment's mutex when they die. */
    int started[2];
    if (pipe(started) != 0) return 1;
    for (int round = 0; round < 8; round++) {
        pid_t creator = fork();
        if (creator == 0) creating_worker(round, started[1]);
        char byte;
        if (read(started[0], &byte, 1) != 1) return 1;
        struct timespec pause = {0, (long)(1 + round * 3) * 1000 * 1000};
        nanosleep(&pause, NULL);
        kill(creator, SIGKILL);
        waitpid(creator, NULL, 0);
    }
    /* The parent can still make series (the mutex is not wedged), and each shows once. */
    marty_family *churn;
    const char *id_label = "id";
    REQUIRE_OK(marty_counter_family_new(registry, "churn", "", &id_label, 1, &churn));
    const char *after[] = {"after"};
    marty_counter *counter;
    REQUIRE_OK(marty_counter_get(churn, after, 1, &counter));
    marty_counter_inc(counter);
    text = render();
    EXPECT(text && sample_value(text, "churn_total{id=\"after\"}") == 1, "a series made after the kills records");
    int churned = text ? count_lines(text, "churn_total{") : 0;
    EXPECT(churned > 8 * 10, "the killed creators made series: %d", churned);
    /* One of the series a killed creator made (the first creators may have been killed before
     * making any, on a loaded machine): the last one rendered that is not the parent's. */
    char made_id[32] = "";
    for (const char *line = text ? strstr(text, "\nchurn_total{id=\"") : NULL; line;
         line = strstr(line + 1, "\nchurn_total{id=\"")) {
        const char *start = line + strlen("\nchurn_total{id=\"");
        size_t length = strcspn(start, "\"");
        if (length < sizeof made_id && strncmp(start, "after\"", 6) != 0 && strncmp(start, "__", 2) != 0) {
            memcpy(made_id, start, length);
            made_id[length] = 0;
        }
    }
    EXPECT(made_id[0] != 0, "a killed creator's series is rendered");
    const char *first[] = {made_id};
    char made_sample[64];
    snprintf(made_sample, sizeof made_sample, "churn_total{id=\"%s\"}", made_id);
    double made_value = text ? sample_value(text, made_sample) : -1;
    marty_counter *again;
    REQUIRE_OK(marty_counter_get(churn, first, 1, &again));
    marty_counter_inc(again);
    char *next = render();
    EXPECT(next && count_lines(next, "churn_total{") == churned, "finding a killed creator's series adds none");
    EXPECT(next && made_value >= 1 && sample_value(next, made_sample) == made_value + 1,
           "its count goes on from the dead worker's %g", made_value);
    size_t used = 0, size = 0;
    EXPECT_OK(marty_multiprocess_usage(&used, &size));
    EXPECT(size == (size_t)256 << 20 && used > 0 && used < size, "usage %zu of %zu", used, size);
    marty_free(text);
    marty_free(next);
    return marty_test_summary();
}
