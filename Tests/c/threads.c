/*
 * threads.c: concurrent recording and lookups through the C API, with exact totals.
 *
 *  1. 4 threads x 1,000,000 iterations on shared handles: counter inc, histogram observe,
 *     gauge add (plus a few add_int/add/inc/dec), while a reader thread checks that every
 *     histogram reading and every rendered scrape is consistent (_count == +Inf bucket,
 *     cumulative buckets non-decreasing, totals never going back).
 *  2. 4 threads looking up labelled series concurrently: the same series, a series per
 *     thread, new series created by all threads at once, new series created by one thread
 *     each (counters, gauges and histograms), while the reader renders the registry.
 *  3. removal and re-creation of series while other threads record and look up: no crash,
 *     and afterwards the family is consistent.
 *  4. many waves of short-lived threads: what a thread recorded is not lost when it exits.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "marty_test.h"

#define THREADS 4
#define ITERATIONS 1000000
#define LOOKUP_ROUNDS 50000
#define CREATE_ROUNDS 2000
#define SMALL_KEYS 50

static pthread_barrier_t start_barrier;

/* ---- Part 1: shared handles ------------------------------------------------------------- */

static marty_counter *ops;        /* inc every iteration */
static marty_counter *amounts;    /* add_int(7) and add(0.25) every 10th iteration */
static marty_gauge *level;        /* add(+1.5) / add(-0.5) alternately */
static marty_gauge *balance;      /* inc then dec every 10th iteration */
static marty_histogram *latency;  /* bounds 1, 2, 4, 8; observe 0.5, 2, 3, 16 in turn */
static marty_registry *registry;
static const double observed[4] = {0.5, 2.0, 3.0, 16.0};

static volatile int writers_done;

struct worker_result {
    int index;
    long bad_status;
    int first_bad_status;
    char first_bad_call[64];
};

static void note_bad(struct worker_result *r, int status, const char *call) {
    if (r->bad_status++ == 0) {
        r->first_bad_status = status;
        snprintf(r->first_bad_call, sizeof r->first_bad_call, "%s", call);
    }
}

#define WORKER_CALL(result, call)                                                            \
    do {                                                                                     \
        int worker_status_ = (call);                                                         \
        if (worker_status_ != MARTY_OK) note_bad((result), worker_status_, #call);           \
    } while (0)

static void *hot_worker(void *arg) {
    struct worker_result *r = arg;
    pthread_barrier_wait(&start_barrier);
    for (long i = 0; i < ITERATIONS; i++) {
        WORKER_CALL(r, marty_counter_inc(ops));
        WORKER_CALL(r, marty_histogram_observe(latency, observed[i % 4]));
        WORKER_CALL(r, marty_gauge_add(level, (i % 2 == 0) ? 1.5 : -0.5));
        if (i % 10 == 0) {
            WORKER_CALL(r, marty_counter_add_int(amounts, 7));
            WORKER_CALL(r, marty_counter_add(amounts, 0.25));
            WORKER_CALL(r, marty_gauge_inc(balance));
            WORKER_CALL(r, marty_gauge_dec(balance));
        }
    }
    return NULL;
}

struct reader_result {
    long readings;
    long scrapes;
    long inconsistent;
    char first_problem[256];
};

static void reader_problem(struct reader_result *r, const char *what) {
    if (r->inconsistent++ == 0) snprintf(r->first_problem, sizeof r->first_problem, "%s", what);
}

/* Finds `prefix` at a line start in text and parses the number after it. */
static int sample_value(const char *text, const char *prefix, double *out) {
    size_t n = strlen(prefix);
    const char *p = text;
    while (p && *p) {
        if (strncmp(p, prefix, n) == 0) {
            char *end = NULL;
            *out = strtod(p + n, &end);
            return end != p + n;
        }
        p = strchr(p, '\n');
        if (p) p++;
    }
    return 0;
}

static void *reader(void *arg) {
    struct reader_result *r = arg;
    uint64_t cumulative[5];
    uint64_t last_count = 0;
    double last_ops = 0;
    char problem[256];
    pthread_barrier_wait(&start_barrier);
    while (!writers_done) {
        uint64_t count = 0;
        double sum = 0;
        if (marty_histogram_read(latency, cumulative, 5, &count, &sum) != MARTY_OK) {
            reader_problem(r, "marty_histogram_read failed during recording");
            continue;
        }
        r->readings++;
        if (count != cumulative[4]) {
            snprintf(problem, sizeof problem, "reading: count %llu != +Inf bucket %llu",
                     (unsigned long long)count, (unsigned long long)cumulative[4]);
            reader_problem(r, problem);
        }
        for (int b = 1; b < 5; b++) {
            if (cumulative[b] < cumulative[b - 1]) {
                snprintf(problem, sizeof problem, "reading: bucket %d (%llu) < bucket %d (%llu)",
                         b, (unsigned long long)cumulative[b], b - 1,
                         (unsigned long long)cumulative[b - 1]);
                reader_problem(r, problem);
            }
        }
        if (count < last_count) reader_problem(r, "reading: histogram count went back");
        last_count = count;
        double v = 0;
        if (marty_counter_value(ops, &v) != MARTY_OK) reader_problem(r, "counter_value failed");
        if (v < last_ops) reader_problem(r, "reading: counter value went back");
        last_ops = v;

        if (r->readings % 64 == 0) {
            char *text = NULL;
            if (marty_registry_render(registry, MARTY_FORMAT_TEXT, &text, NULL) != MARTY_OK) {
                reader_problem(r, "render failed during recording");
                continue;
            }
            r->scrapes++;
            double inf_bucket = -1, count_line = -2;
            if (!sample_value(text, "thr_latency_bucket{le=\"+Inf\"} ", &inf_bucket) ||
                !sample_value(text, "thr_latency_count ", &count_line)) {
                reader_problem(r, "scrape: thr_latency +Inf bucket or _count line missing");
            } else if (inf_bucket != count_line) {
                snprintf(problem, sizeof problem, "scrape: +Inf bucket %.17g != _count %.17g",
                         inf_bucket, count_line);
                reader_problem(r, problem);
            }
            marty_free(text);
        }
    }
    return NULL;
}

static void part1(void) {
    marty_family *f_ops, *f_amounts, *f_level, *f_balance, *f_latency;
    const double bounds[] = {1, 2, 4, 8};
    if (marty_counter_family_new(registry, "thr_ops", "ops", NULL, 0, &f_ops) != MARTY_OK ||
        marty_counter_family_new(registry, "thr_amounts", "amounts", NULL, 0, &f_amounts) != MARTY_OK ||
        marty_gauge_family_new(registry, "thr_level", "level", NULL, 0, &f_level) != MARTY_OK ||
        marty_gauge_family_new(registry, "thr_balance", "balance", NULL, 0, &f_balance) != MARTY_OK ||
        marty_histogram_family_new(registry, "thr_latency", "latency", NULL, 0, bounds, 4,
                                   &f_latency) != MARTY_OK ||
        marty_counter_get(f_ops, NULL, 0, &ops) != MARTY_OK ||
        marty_counter_get(f_amounts, NULL, 0, &amounts) != MARTY_OK ||
        marty_gauge_get(f_level, NULL, 0, &level) != MARTY_OK ||
        marty_gauge_get(f_balance, NULL, 0, &balance) != MARTY_OK ||
        marty_histogram_get(f_latency, NULL, 0, &latency) != MARTY_OK) {
        EXPECT(0, "part 1 setup failed: %s", marty_errmsg());
        return;
    }

    pthread_t workers[THREADS], reader_thread;
    struct worker_result results[THREADS];
    struct reader_result reading;
    memset(results, 0, sizeof results);
    memset(&reading, 0, sizeof reading);
    writers_done = 0;
    pthread_barrier_init(&start_barrier, NULL, THREADS + 1);
    for (int t = 0; t < THREADS; t++) pthread_create(&workers[t], NULL, hot_worker, &results[t]);
    pthread_create(&reader_thread, NULL, reader, &reading);
    for (int t = 0; t < THREADS; t++) pthread_join(workers[t], NULL);
    writers_done = 1;
    pthread_join(reader_thread, NULL);
    pthread_barrier_destroy(&start_barrier);

    for (int t = 0; t < THREADS; t++) {
        EXPECT(results[t].bad_status == 0,
               "part 1 thread %d: %ld recording calls failed, first %s -> %d", t,
               results[t].bad_status, results[t].first_bad_call, results[t].first_bad_status);
    }
    EXPECT(reading.inconsistent == 0, "part 1 reader: %ld inconsistent readings, first: %s",
           reading.inconsistent, reading.first_problem);
    printf("part 1: reader made %ld readings and %ld scrapes during recording\n",
           reading.readings, reading.scrapes);

    const double n = (double)THREADS * ITERATIONS;
    const double tenth = (double)THREADS * (ITERATIONS / 10);
    double v = -1;
    EXPECT_OK(marty_counter_value(ops, &v));
    EXPECT(v == n, "counter thr_ops: expected %.17g, got %.17g", n, v);
    EXPECT_OK(marty_counter_value(amounts, &v));
    EXPECT(v == tenth * 7.25, "counter thr_amounts: expected %.17g, got %.17g", tenth * 7.25, v);
    EXPECT_OK(marty_gauge_value(level, &v));
    EXPECT(v == n / 2, "gauge thr_level: expected %.17g, got %.17g", n / 2, v);
    EXPECT_OK(marty_gauge_value(balance, &v));
    EXPECT(v == 0, "gauge thr_balance: expected 0, got %.17g", v);

    uint64_t cumulative[5] = {0};
    uint64_t count = 0;
    double sum = -1;
    size_t buckets = 0;
    EXPECT_OK(marty_histogram_bucket_count(latency, &buckets));
    EXPECT(buckets == 4, "histogram bucket_count: expected 4, got %zu", buckets);
    EXPECT_OK(marty_histogram_read(latency, cumulative, 5, &count, &sum));
    const uint64_t quarter = (uint64_t)THREADS * ITERATIONS / 4;
    /* 0.5 -> le 1; 2 -> le 2 (a bound is inclusive); 3 -> le 4; 16 -> +Inf only. */
    const uint64_t expected[5] = {quarter, 2 * quarter, 3 * quarter, 3 * quarter, 4 * quarter};
    for (int b = 0; b < 5; b++) {
        EXPECT(cumulative[b] == expected[b], "histogram cumulative bucket %d: expected %llu, got %llu",
               b, (unsigned long long)expected[b], (unsigned long long)cumulative[b]);
    }
    EXPECT(count == 4 * quarter, "histogram count: expected %llu, got %llu",
           (unsigned long long)(4 * quarter), (unsigned long long)count);
    const double expected_sum = quarter * (0.5 + 2.0 + 3.0 + 16.0);
    EXPECT(sum == expected_sum, "histogram sum: expected %.17g, got %.17g", expected_sum, sum);

    marty_family_release(f_ops);
    marty_family_release(f_amounts);
    marty_family_release(f_level);
    marty_family_release(f_balance);
    marty_family_release(f_latency);
}

/* ---- Part 2: labelled lookups from several threads -------------------------------------- */

static marty_family *lookups;   /* counter, labels kind, key */
static marty_family *levels;    /* gauge, label key */
static marty_family *timings;   /* histogram, label key, bounds 1, 10 */

static void *lookup_worker(void *arg) {
    struct worker_result *r = arg;
    int t = r->index;
    char own_key[32], key[48];
    snprintf(own_key, sizeof own_key, "t%d", t);
    pthread_barrier_wait(&start_barrier);
    for (int round = 0; round < LOOKUP_ROUNDS; round++) {
        marty_counter *c = NULL;
        const char *shared[2] = {"shared", "all"};
        const char *own[2] = {"own", own_key};
        WORKER_CALL(r, marty_counter_get(lookups, shared, 2, &c));
        if (c) WORKER_CALL(r, marty_counter_inc(c));
        c = NULL;
        WORKER_CALL(r, marty_counter_get(lookups, own, 2, &c));
        if (c) WORKER_CALL(r, marty_counter_inc(c));
        if (round < CREATE_ROUNDS) {
            /* The same new series, created by all threads at about the same time. */
            snprintf(key, sizeof key, "k%d", round);
            const char *fresh[2] = {"new", key};
            c = NULL;
            WORKER_CALL(r, marty_counter_get(lookups, fresh, 2, &c));
            if (c) WORKER_CALL(r, marty_counter_inc(c));
            /* A new series only this thread creates. */
            char mine[48];
            snprintf(mine, sizeof mine, "t%d-k%d", t, round);
            const char *per[2] = {"per", mine};
            c = NULL;
            WORKER_CALL(r, marty_counter_get(lookups, per, 2, &c));
            if (c) WORKER_CALL(r, marty_counter_add_int(c, (uint64_t)t + 1));
        }
        if (round < CREATE_ROUNDS * 2) {
            snprintf(key, sizeof key, "g%d", round % SMALL_KEYS);
            const char *gk[1] = {key};
            marty_gauge *g = NULL;
            WORKER_CALL(r, marty_gauge_get(levels, gk, 1, &g));
            if (g) WORKER_CALL(r, marty_gauge_add(g, 1.0));
            marty_histogram *h = NULL;
            WORKER_CALL(r, marty_histogram_get(timings, gk, 1, &h));
            if (h) WORKER_CALL(r, marty_histogram_observe(h, 5.0));
        }
    }
    return NULL;
}

static void *render_loop(void *arg) {
    struct reader_result *r = arg;
    pthread_barrier_wait(&start_barrier);
    while (!writers_done) {
        char *text = NULL;
        size_t length = 0;
        if (marty_registry_render(registry, MARTY_FORMAT_TEXT, &text, &length) != MARTY_OK) {
            reader_problem(r, "render failed during lookups");
            continue;
        }
        if (strlen(text) != length) reader_problem(r, "render: length != strlen(text)");
        marty_free(text);
        r->scrapes++;
    }
    return NULL;
}

static long count_lines_with_prefix(const char *text, const char *prefix) {
    long n = 0;
    size_t len = strlen(prefix);
    const char *p = text;
    while (p && *p) {
        if (strncmp(p, prefix, len) == 0) n++;
        p = strchr(p, '\n');
        if (p) p++;
    }
    return n;
}

static void part2(void) {
    const char *names[2] = {"kind", "key"};
    const char *key_name[1] = {"key"};
    const double bounds[2] = {1, 10};
    if (marty_counter_family_new(registry, "thr_lookups", "lookups", names, 2, &lookups) != MARTY_OK ||
        marty_gauge_family_new(registry, "thr_levels", "levels", key_name, 1, &levels) != MARTY_OK ||
        marty_histogram_family_new(registry, "thr_timings", "timings", key_name, 1, bounds, 2,
                                   &timings) != MARTY_OK) {
        EXPECT(0, "part 2 setup failed: %s", marty_errmsg());
        return;
    }
    /* Over 10,000 series in one family, past the default cap (tested in series_limit.c). */
    EXPECT_OK(marty_family_set_max_series(lookups, 0));
    pthread_t workers[THREADS], render_thread;
    struct worker_result results[THREADS];
    struct reader_result rendering;
    memset(results, 0, sizeof results);
    memset(&rendering, 0, sizeof rendering);
    writers_done = 0;
    pthread_barrier_init(&start_barrier, NULL, THREADS + 1);
    for (int t = 0; t < THREADS; t++) {
        results[t].index = t;
        pthread_create(&workers[t], NULL, lookup_worker, &results[t]);
    }
    pthread_create(&render_thread, NULL, render_loop, &rendering);
    for (int t = 0; t < THREADS; t++) pthread_join(workers[t], NULL);
    writers_done = 1;
    pthread_join(render_thread, NULL);
    pthread_barrier_destroy(&start_barrier);

    for (int t = 0; t < THREADS; t++) {
        EXPECT(results[t].bad_status == 0,
               "part 2 thread %d: %ld calls failed, first %s -> %d", t, results[t].bad_status,
               results[t].first_bad_call, results[t].first_bad_status);
    }
    EXPECT(rendering.inconsistent == 0, "part 2 renderer: %s", rendering.first_problem);
    printf("part 2: %ld scrapes during lookups\n", rendering.scrapes);

    marty_counter *c = NULL;
    double v = -1;
    const char *shared[2] = {"shared", "all"};
    EXPECT_OK(marty_counter_get(lookups, shared, 2, &c));
    if (c) {
        EXPECT_OK(marty_counter_value(c, &v));
        EXPECT(v == (double)THREADS * LOOKUP_ROUNDS, "series {shared,all}: expected %d, got %.17g",
               THREADS * LOOKUP_ROUNDS, v);
    }
    char key[48];
    for (int t = 0; t < THREADS; t++) {
        snprintf(key, sizeof key, "t%d", t);
        const char *own[2] = {"own", key};
        c = NULL;
        v = -1;
        EXPECT_OK(marty_counter_get(lookups, own, 2, &c));
        if (c) {
            EXPECT_OK(marty_counter_value(c, &v));
            EXPECT(v == LOOKUP_ROUNDS, "series {own,%s}: expected %d, got %.17g", key,
                   LOOKUP_ROUNDS, v);
        }
    }
    long wrong_new = 0, wrong_per = 0;
    for (int round = 0; round < CREATE_ROUNDS; round++) {
        snprintf(key, sizeof key, "k%d", round);
        const char *fresh[2] = {"new", key};
        c = NULL;
        v = -1;
        if (marty_counter_get(lookups, fresh, 2, &c) != MARTY_OK ||
            marty_counter_value(c, &v) != MARTY_OK || v != THREADS) {
            if (wrong_new++ == 0)
                EXPECT(0, "series {new,%s} created by %d threads at once: expected %d, got %.17g",
                       key, THREADS, THREADS, v);
        }
        for (int t = 0; t < THREADS; t++) {
            snprintf(key, sizeof key, "t%d-k%d", t, round);
            const char *per[2] = {"per", key};
            c = NULL;
            v = -1;
            if (marty_counter_get(lookups, per, 2, &c) != MARTY_OK ||
                marty_counter_value(c, &v) != MARTY_OK || v != t + 1) {
                if (wrong_per++ == 0)
                    EXPECT(0, "series {per,%s}: expected %d, got %.17g", key, t + 1, v);
            }
        }
    }
    EXPECT(wrong_new == 0, "%ld of %d concurrently created series have a wrong total",
           wrong_new, CREATE_ROUNDS);
    EXPECT(wrong_per == 0, "%ld of %d per-thread series have a wrong total", wrong_per,
           CREATE_ROUNDS * THREADS);

    const double per_key = (double)THREADS * (CREATE_ROUNDS * 2 / SMALL_KEYS);
    long wrong_small = 0;
    for (int k = 0; k < SMALL_KEYS; k++) {
        snprintf(key, sizeof key, "g%d", k);
        const char *gk[1] = {key};
        marty_gauge *g = NULL;
        marty_histogram *h = NULL;
        uint64_t cumulative[3] = {0}, count = 0;
        double sum = -1;
        v = -1;
        if (marty_gauge_get(levels, gk, 1, &g) != MARTY_OK || marty_gauge_value(g, &v) != MARTY_OK ||
            v != per_key) {
            if (wrong_small++ == 0) EXPECT(0, "gauge {key=%s}: expected %.17g, got %.17g", key, per_key, v);
        }
        if (marty_histogram_get(timings, gk, 1, &h) != MARTY_OK ||
            marty_histogram_read(h, cumulative, 3, &count, &sum) != MARTY_OK || count != per_key ||
            cumulative[0] != 0 || cumulative[1] != per_key || cumulative[2] != per_key ||
            sum != 5 * per_key) {
            if (wrong_small++ == 0)
                EXPECT(0, "histogram {key=%s}: expected count %.17g sum %.17g buckets 0,%.17g,%.17g;"
                       " got count %llu sum %.17g buckets %llu,%llu,%llu", key, per_key, 5 * per_key,
                       per_key, per_key, (unsigned long long)count, sum,
                       (unsigned long long)cumulative[0], (unsigned long long)cumulative[1],
                       (unsigned long long)cumulative[2]);
        }
    }
    EXPECT(wrong_small == 0, "%ld gauge/histogram series created concurrently are wrong", wrong_small);

    /* Every series shows exactly once in the exposition. */
    char *text = NULL;
    if (marty_registry_render(registry, MARTY_FORMAT_TEXT, &text, NULL) == MARTY_OK) {
        long series = count_lines_with_prefix(text, "thr_lookups_total{");
        long expected = 1 + THREADS + CREATE_ROUNDS + (long)CREATE_ROUNDS * THREADS;
        EXPECT(series == expected, "exposition: expected %ld thr_lookups_total series, found %ld",
               expected, series);
        long gauges = count_lines_with_prefix(text, "thr_levels{");
        EXPECT(gauges == SMALL_KEYS, "exposition: expected %d thr_levels series, found %ld",
               SMALL_KEYS, gauges);
        long counts = count_lines_with_prefix(text, "thr_timings_count{");
        EXPECT(counts == SMALL_KEYS, "exposition: expected %d thr_timings_count lines, found %ld",
               SMALL_KEYS, counts);
        marty_free(text);
    } else {
        EXPECT(0, "render after part 2 failed: %s", marty_errmsg());
    }
    marty_family_release(lookups);
    marty_family_release(levels);
    marty_family_release(timings);
}

/* ---- Part 3: removal while recording ---------------------------------------------------- */

static marty_family *churn;
#define CHURN_KEYS 16
#define CHURN_ROUNDS 20000

static void *churn_recorder(void *arg) {
    struct worker_result *r = arg;
    marty_counter *held[CHURN_KEYS];
    char key[16];
    for (int k = 0; k < CHURN_KEYS; k++) {
        snprintf(key, sizeof key, "c%d", k);
        const char *v[1] = {key};
        held[k] = NULL;
        WORKER_CALL(r, marty_counter_get(churn, v, 1, &held[k]));
    }
    pthread_barrier_wait(&start_barrier);
    for (int round = 0; round < CHURN_ROUNDS; round++) {
        int k = round % CHURN_KEYS;
        if (held[k]) WORKER_CALL(r, marty_counter_inc(held[k])); /* maybe removed: harmless */
        snprintf(key, sizeof key, "c%d", k);
        const char *v[1] = {key};
        marty_counter *c = NULL;
        WORKER_CALL(r, marty_counter_get(churn, v, 1, &c));
        if (c) WORKER_CALL(r, marty_counter_inc(c));
    }
    return NULL;
}

static void *churn_remover(void *arg) {
    struct worker_result *r = arg;
    char key[16];
    pthread_barrier_wait(&start_barrier);
    for (int round = 0; round < CHURN_ROUNDS; round++) {
        snprintf(key, sizeof key, "c%d", (round * 7) % CHURN_KEYS);
        const char *v[1] = {key};
        int status = marty_family_remove(churn, v, 1);
        if (status != MARTY_OK && status != MARTY_ERR_NOT_FOUND) note_bad(r, status, "marty_family_remove");
        if (round % 1000 == 999) WORKER_CALL(r, marty_family_clear(churn));
    }
    return NULL;
}

static void part3(void) {
    const char *names[1] = {"key"};
    if (marty_counter_family_new(registry, "thr_churn", "churn", names, 1, &churn) != MARTY_OK) {
        EXPECT(0, "part 3 setup failed: %s", marty_errmsg());
        return;
    }
    pthread_t threads[THREADS], render_thread;
    struct worker_result results[THREADS];
    struct reader_result rendering;
    memset(results, 0, sizeof results);
    memset(&rendering, 0, sizeof rendering);
    writers_done = 0;
    pthread_barrier_init(&start_barrier, NULL, THREADS + 1);
    for (int t = 0; t < THREADS; t++)
        pthread_create(&threads[t], NULL, t == 0 ? churn_remover : churn_recorder, &results[t]);
    pthread_create(&render_thread, NULL, render_loop, &rendering);
    for (int t = 0; t < THREADS; t++) pthread_join(threads[t], NULL);
    writers_done = 1;
    pthread_join(render_thread, NULL);
    pthread_barrier_destroy(&start_barrier);
    for (int t = 0; t < THREADS; t++) {
        EXPECT(results[t].bad_status == 0, "part 3 thread %d: %ld calls failed, first %s -> %d",
               t, results[t].bad_status, results[t].first_bad_call, results[t].first_bad_status);
    }
    EXPECT(rendering.inconsistent == 0, "part 3 renderer: %s", rendering.first_problem);

    /* Afterwards: clear, then one fresh series per key, each showing exactly its own count. */
    EXPECT_OK(marty_family_clear(churn));
    char key[16];
    for (int k = 0; k < CHURN_KEYS; k++) {
        snprintf(key, sizeof key, "c%d", k);
        const char *v[1] = {key};
        marty_counter *c = NULL;
        EXPECT_OK(marty_counter_get(churn, v, 1, &c));
        if (c) EXPECT_OK(marty_counter_add_int(c, (uint64_t)k + 1));
    }
    char *text = NULL;
    if (marty_registry_render(registry, MARTY_FORMAT_TEXT, &text, NULL) == MARTY_OK) {
        EXPECT(count_lines_with_prefix(text, "thr_churn_total{") == CHURN_KEYS,
               "after churn: expected %d thr_churn_total series", CHURN_KEYS);
        char line[64];
        for (int k = 0; k < CHURN_KEYS; k++) {
            snprintf(line, sizeof line, "thr_churn_total{key=\"c%d\"} %d\n", k, k + 1);
            EXPECT(strstr(text, line) != NULL, "after churn: line '%.*s' missing",
                   (int)strlen(line) - 1, line);
        }
        marty_free(text);
    }
    marty_family_release(churn);
}

/* ---- Part 4: short-lived threads ------------------------------------------------------- */

/* Threads that record and exit, many times over: what a thread recorded outlives it. */
#define WAVES 50
#define WAVE_OPS 5000

static marty_counter *wave_counter;
static marty_histogram *wave_histogram;

static void *wave_worker(void *arg) {
    struct worker_result *r = arg;
    for (int i = 0; i < WAVE_OPS; i++) {
        WORKER_CALL(r, marty_counter_inc(wave_counter));
        WORKER_CALL(r, marty_histogram_observe(wave_histogram, (i & 1) ? 0.5 : 5.0));
    }
    return NULL;
}

static void part4(void) {
    marty_family *fc = NULL, *fh = NULL;
    const double bounds[1] = {1};
    if (marty_counter_family_new(registry, "thr_waves", "", NULL, 0, &fc) != MARTY_OK ||
        marty_histogram_family_new(registry, "thr_wave_sizes", "", NULL, 0, bounds, 1, &fh) != MARTY_OK ||
        marty_counter_get(fc, NULL, 0, &wave_counter) != MARTY_OK ||
        marty_histogram_get(fh, NULL, 0, &wave_histogram) != MARTY_OK) {
        EXPECT(0, "part 4 setup failed: %s", marty_errmsg());
        return;
    }
    struct worker_result results[THREADS];
    memset(results, 0, sizeof results);
    for (int wave = 0; wave < WAVES; wave++) {
        pthread_t threads[THREADS];
        for (int t = 0; t < THREADS; t++) pthread_create(&threads[t], NULL, wave_worker, &results[t]);
        for (int t = 0; t < THREADS; t++) pthread_join(threads[t], NULL);
    }
    long bad = 0;
    for (int t = 0; t < THREADS; t++) bad += results[t].bad_status;
    EXPECT(bad == 0, "part 4: %ld recording calls failed", bad);
    const double total = (double)WAVES * THREADS * WAVE_OPS;
    double v = -1;
    EXPECT_OK(marty_counter_value(wave_counter, &v));
    EXPECT(v == total, "part 4: %d waves of %d short-lived threads: counter %.17g, expected %.17g",
           WAVES, THREADS, v, total);
    uint64_t cumulative[2] = {0}, count = 0;
    double sum = -1;
    EXPECT_OK(marty_histogram_read(wave_histogram, cumulative, 2, &count, &sum));
    EXPECT(count == total && cumulative[0] == total / 2 && cumulative[1] == total && sum == total / 2 * 5.5,
           "part 4: histogram count %llu buckets %llu,%llu sum %.17g; expected %.17g, %.17g,%.17g, %.17g",
           (unsigned long long)count, (unsigned long long)cumulative[0],
           (unsigned long long)cumulative[1], sum, total, total / 2, total, total / 2 * 5.5);
    marty_family_release(fc);
    marty_family_release(fh);
}

int main(void) {
    REQUIRE_OK(marty_registry_new(&registry));
    part1();
    part2();
    part3();
    part4();
    marty_registry_free(registry);
    return marty_test_summary();
}
