/* Summaries and render-time collectors through the C interface: exact output, bad input,
 * and the lifetime promise of marty_registry_remove_collector (a call in progress is waited
 * for, a callback may remove itself, a registry freed with collectors never calls them again). */
#define _GNU_SOURCE /* memmem, usleep */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "marty_test.h"

static char *render(marty_registry *registry, int format) {
    char *text = NULL;
    if (marty_registry_render(registry, format, &text, NULL) != MARTY_OK) return NULL;
    return text;
}

static void collect_jobs(void *user_data, marty_collection *collection) {
    int *calls = user_data;
    (*calls)++;
    const char *names[] = {"queue"};
    const char *values[] = {"fast"};
    const char *exemplar_names[] = {"trace_id"};
    const char *exemplar_values[] = {"4bf92f3577b34da6"};
    marty_collection_add_family(collection, "jobs", "Jobs done.", MARTY_COLLECTED_COUNTER, NULL);
    marty_collection_add_sample(collection, "jobs_total", names, values, 1, 7, NAN);
    marty_collection_set_exemplar(collection, exemplar_names, exemplar_values, 1, 1, 2.5);
    marty_collection_add_family(collection, "temperature", "Now.", MARTY_COLLECTED_GAUGE, "celsius");
    marty_collection_add_sample(collection, "temperature", NULL, NULL, 0, -3.5, 10.0);
}

/* Records the statuses of bad calls made from inside a callback. */
static int bad_statuses[12];

static void collect_badly(void *user_data, marty_collection *collection) {
    (void)user_data;
    const char *names[] = {"a"};
    const char *values[] = {"b"};
    const char *bad_exemplar[] = {"not.legacy"};
    const char *null_names[] = {NULL};
    char long_value[200];
    memset(long_value, 'x', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = 0;
    const char *long_values[] = {long_value};
    int i = 0;
    bad_statuses[i++] = marty_collection_add_sample(collection, "x", NULL, NULL, 0, 1, NAN);
    bad_statuses[i++] = marty_collection_add_family(collection, "x", "h", 8, NULL);
    bad_statuses[i++] = marty_collection_add_family(collection, NULL, "h", MARTY_COLLECTED_GAUGE, NULL);
    bad_statuses[i++] = marty_collection_add_family(collection, "", "h", MARTY_COLLECTED_GAUGE, NULL);
    bad_statuses[i++] = marty_collection_add_family(collection, "\xff", "h", MARTY_COLLECTED_GAUGE, NULL);
    bad_statuses[i++] = marty_collection_add_family(NULL, "x", "h", MARTY_COLLECTED_GAUGE, NULL);
    marty_collection_add_family(collection, "good", "h", MARTY_COLLECTED_GAUGE, NULL);
    bad_statuses[i++] = marty_collection_set_exemplar(collection, names, values, 1, 1, NAN);  /* no sample yet */
    bad_statuses[i++] = marty_collection_add_sample(collection, "good", null_names, values, 1, 1, NAN);
    bad_statuses[i++] = marty_collection_add_sample(collection, "good", names, values, (size_t)-1, 1, NAN);
    marty_collection_add_sample(collection, "good", names, values, 1, 1, NAN);
    bad_statuses[i++] = marty_collection_set_exemplar(collection, bad_exemplar, values, 1, 1, NAN);
    bad_statuses[i++] = marty_collection_set_exemplar(collection, names, long_values, 1, 1, NAN);
}

/* C99: the flags are read and written with the GCC/Clang atomic builtins. */
struct slow_collector {
    int inside;
    int finished;
};
#define atomic_store(pointer, value) __atomic_store_n(pointer, value, __ATOMIC_SEQ_CST)
#define atomic_load(pointer) __atomic_load_n(pointer, __ATOMIC_SEQ_CST)

static void collect_slowly(void *user_data, marty_collection *collection) {
    (void)collection;
    struct slow_collector *state = user_data;
    atomic_store(&state->inside, 1);
    usleep(200 * 1000);
    atomic_store(&state->finished, 1);
}

static void *render_in_thread(void *registry) {
    free(render(registry, MARTY_FORMAT_TEXT));
    return NULL;
}

struct self_removing {
    marty_registry *registry;
    marty_collector *collector;
    int status;
};

static void collect_and_remove_self(void *user_data, marty_collection *collection) {
    (void)collection;
    struct self_removing *state = user_data;
    state->status = marty_registry_remove_collector(state->registry, state->collector);
}

int main(void) {
    marty_registry *registry = NULL;
    REQUIRE_OK(marty_registry_new(&registry));
    REQUIRE_OK(marty_registry_set_created_timestamps(registry, 0));

    /* A summary: histogram handles without bounds, exposed as count and sum. */
    const char *method[] = {"method"};
    const char *get[] = {"get"};
    marty_family *summary = NULL;
    REQUIRE_OK(marty_summary_family_new(registry, "rpc_seconds", "RPC latency.", method, 1, &summary));
    int kind = -1;
    EXPECT_OK(marty_family_kind(summary, &kind));
    EXPECT(kind == MARTY_KIND_SUMMARY, "kind %d, expected MARTY_KIND_SUMMARY", kind);
    marty_histogram *rpc = NULL;
    REQUIRE_OK(marty_histogram_get(summary, get, 1, &rpc));
    EXPECT_OK(marty_histogram_observe(rpc, 0.25));
    EXPECT_OK(marty_histogram_observe(rpc, 1.5));
    marty_counter *wrong = NULL;
    EXPECT(marty_counter_get(summary, get, 1, &wrong) == MARTY_ERR_WRONG_KIND, "a summary is no counter");
    const char *quantile[] = {"quantile"};
    marty_family *refused = NULL;
    EXPECT(marty_summary_family_new(registry, "other", "", quantile, 1, &refused) == MARTY_ERR_INVALID_LABEL,
           "the label name quantile is refused on a summary");

    int calls = 0;
    marty_collector *jobs = NULL;
    REQUIRE_OK(marty_registry_add_collector(registry, collect_jobs, &calls, &jobs));
    char *text = render(registry, MARTY_FORMAT_TEXT);
    const char *expected_text =
        "# HELP rpc_seconds RPC latency.\n# TYPE rpc_seconds summary\n"
        "rpc_seconds_count{method=\"get\"} 2\nrpc_seconds_sum{method=\"get\"} 1.75\n"
        "# HELP jobs_total Jobs done.\n# TYPE jobs_total counter\njobs_total{queue=\"fast\"} 7\n"
        "# HELP temperature Now.\n# TYPE temperature gauge\ntemperature -3.5 10000\n";
    EXPECT(text && strcmp(text, expected_text) == 0, "text rendering:\n%s", text ? text : "(failed)");
    free(text);
    text = render(registry, MARTY_FORMAT_OPENMETRICS);
    EXPECT(text && strstr(text, "# TYPE jobs counter\njobs_total{queue=\"fast\"} 7 # {trace_id=\"4bf92f3577b34da6\"} 1 2.5\n"),
           "OpenMetrics shows the collected exemplar:\n%s", text ? text : "(failed)");
    EXPECT(text && strstr(text, "# TYPE temperature gauge\n# UNIT temperature celsius\ntemperature -3.5 10\n"),
           "OpenMetrics shows the unit and the timestamp in seconds:\n%s", text ? text : "(failed)");
    free(text);
    char *protobuf = NULL;
    size_t protobuf_length = 0;
    EXPECT_OK(marty_registry_render(registry, MARTY_FORMAT_PROTOBUF, &protobuf, &protobuf_length));
    EXPECT(protobuf_length > 0 && memmem(protobuf, protobuf_length, "jobs_total", 10) != NULL,
           "protobuf holds the collected counter");
    free(protobuf);
    EXPECT(calls == 3, "the callback ran once per render (%d)", calls);
    EXPECT_OK(marty_registry_remove_collector(registry, jobs));
    EXPECT(marty_registry_remove_collector(registry, jobs) == MARTY_ERR_NOT_FOUND, "a second removal is refused");
    free(render(registry, MARTY_FORMAT_TEXT));
    EXPECT(calls == 3, "a removed collector is not called (%d)", calls);

    /* Bad input, inside and outside a callback. */
    marty_collector *bad = NULL;
    EXPECT(marty_registry_add_collector(NULL, collect_badly, NULL, &bad) == MARTY_ERR_NULL_ARGUMENT, "NULL registry");
    EXPECT(marty_registry_add_collector(registry, NULL, NULL, &bad) == MARTY_ERR_NULL_ARGUMENT, "NULL callback");
    EXPECT(marty_registry_add_collector(registry, collect_badly, NULL, NULL) == MARTY_ERR_NULL_ARGUMENT, "NULL out");
    EXPECT(marty_registry_remove_collector(registry, NULL) == MARTY_ERR_NULL_ARGUMENT, "NULL collector");
    REQUIRE_OK(marty_registry_add_collector(registry, collect_badly, NULL, &bad));
    text = render(registry, MARTY_FORMAT_TEXT);
    const int expected_statuses[] = {
        MARTY_ERR_INVALID_ARGUMENT, MARTY_ERR_INVALID_ARGUMENT, MARTY_ERR_NULL_ARGUMENT, MARTY_ERR_INVALID_NAME,
        MARTY_ERR_INVALID_UTF8,     MARTY_ERR_NULL_ARGUMENT,    MARTY_ERR_INVALID_ARGUMENT, MARTY_ERR_NULL_ARGUMENT,
        MARTY_ERR_INVALID_ARGUMENT, MARTY_ERR_INVALID_LABEL,    MARTY_ERR_INVALID_LABEL};
    for (size_t i = 0; i < sizeof expected_statuses / sizeof expected_statuses[0]; i++) {
        EXPECT(bad_statuses[i] == expected_statuses[i], "bad call %zu: status %d, expected %d", i, bad_statuses[i],
               expected_statuses[i]);
    }
    EXPECT(text && strstr(text, "# TYPE good gauge\ngood{a=\"b\"} 1\n"), "the good parts still render:\n%s",
           text ? text : "(failed)");
    free(text);
    EXPECT_OK(marty_registry_remove_collector(registry, bad));

    /* Removal waits for a call in progress on another thread. */
    struct slow_collector slow = {0, 0};
    marty_collector *slow_collector = NULL;
    REQUIRE_OK(marty_registry_add_collector(registry, collect_slowly, &slow, &slow_collector));
    pthread_t renderer;
    pthread_create(&renderer, NULL, render_in_thread, registry);
    while (!atomic_load(&slow.inside)) usleep(1000);
    EXPECT_OK(marty_registry_remove_collector(registry, slow_collector));
    EXPECT(atomic_load(&slow.finished) == 1, "the removal returned before the call in progress had finished");
    pthread_join(renderer, NULL);

    /* A child of fork() never waits for a call its parent's thread had in progress (that
     * thread is not in the child): its removal returns; a hang would be ended by the alarm. */
    struct slow_collector forked = {0, 0};
    marty_collector *forked_collector = NULL;
    REQUIRE_OK(marty_registry_add_collector(registry, collect_slowly, &forked, &forked_collector));
    pthread_create(&renderer, NULL, render_in_thread, registry);
    while (!atomic_load(&forked.inside)) usleep(1000);
    pid_t child = fork();
    if (child == 0) {
        alarm(10);
        _exit(marty_registry_remove_collector(registry, forked_collector) == MARTY_OK ? 0 : 1);
    }
    int child_status = 0;
    EXPECT(child > 0 && waitpid(child, &child_status, 0) == child, "fork and wait");
    EXPECT(WIFEXITED(child_status) && WEXITSTATUS(child_status) == 0,
           "the child's removal returned MARTY_OK at once (status %d%s)", child_status,
           WIFSIGNALED(child_status) && WTERMSIG(child_status) == SIGALRM ? ": it hung" : "");
    EXPECT_OK(marty_registry_remove_collector(registry, forked_collector)); /* the parent waits for its own */
    EXPECT(atomic_load(&forked.finished) == 1, "the parent's removal waited for the call in progress");
    pthread_join(renderer, NULL);

    /* A callback that removes its own collector does not wait for itself. */
    struct self_removing self = {registry, NULL, -1};
    REQUIRE_OK(marty_registry_add_collector(registry, collect_and_remove_self, &self, &self.collector));
    free(render(registry, MARTY_FORMAT_TEXT));
    EXPECT(self.status == MARTY_OK, "the self-removal returned %d", self.status);
    self.status = -1;
    free(render(registry, MARTY_FORMAT_TEXT));
    EXPECT(self.status == -1, "a self-removed collector is not called again");

    /* Freeing a registry removes its collectors, waiting for a render in progress. */
    struct slow_collector *heap = calloc(1, sizeof *heap);
    marty_collector *left = NULL;
    REQUIRE_OK(marty_registry_add_collector(registry, collect_slowly, heap, &left));
    pthread_create(&renderer, NULL, render_in_thread, registry);
    while (!atomic_load(&heap->inside)) usleep(1000);
    marty_family_release(summary);
    REQUIRE_OK(marty_registry_free(registry));
    EXPECT(atomic_load(&heap->finished) == 1, "marty_registry_free returned before the collector's call finished");
    pthread_join(renderer, NULL);
    free(heap);
    return marty_test_summary();
}
