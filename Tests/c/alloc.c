/*
 * alloc.c: the hot path allocates nothing. Linked with jemalloc (never the library itself):
 * jemalloc then serves every malloc of the process, the library's included, and counts the
 * bytes each thread allocates ("thread.allocatedp") and frees ("thread.deallocatedp").
 *
 * After a warm-up, 1,000,000 calls each of counter inc/add_int/add, gauge set/add/inc/dec,
 * histogram observe and lookups of EXISTING labelled series (counter, gauge, histogram; short
 * and long label values) must allocate 0 bytes: in a registry of the process, and again in the
 * default registry with the multiprocess segment made (series whose cells are shared).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jemalloc/jemalloc.h>

#include "marty_test.h"

#define CALLS 1000000

static volatile uint64_t *allocated;
static volatile uint64_t *deallocated;

static int setup_counters(void) {
    uint64_t *p = NULL;
    size_t size = sizeof p;
    if (mallctl("thread.allocatedp", &p, &size, NULL, 0) != 0 || p == NULL) return 0;
    allocated = p;
    size = sizeof p;
    if (mallctl("thread.deallocatedp", &p, &size, NULL, 0) != 0 || p == NULL) return 0;
    deallocated = p;
    return 1;
}

enum op {
    COUNTER_INC,
    COUNTER_ADD_INT,
    COUNTER_ADD,
    GAUGE_SET,
    GAUGE_ADD,
    GAUGE_INC_DEC,
    HISTOGRAM_OBSERVE,
    COUNTER_GET_SHORT,
    COUNTER_GET_LONG,
    GAUGE_GET,
    HISTOGRAM_GET,
    COUNTER_GET_INC,
    OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
    "marty_counter_inc",
    "marty_counter_add_int",
    "marty_counter_add",
    "marty_gauge_set",
    "marty_gauge_add",
    "marty_gauge_inc + marty_gauge_dec",
    "marty_histogram_observe",
    "marty_counter_get (existing series, 3 short label values)",
    "marty_counter_get (existing series, 3 label values of 40+ bytes)",
    "marty_gauge_get (existing series)",
    "marty_histogram_get (existing series)",
    "marty_counter_get + marty_counter_inc (existing series)",
};

static marty_family *fc, *fg, *fh;
static marty_counter *c;
static marty_gauge *g;
static marty_histogram *h;
static const char *short_values[3] = {"csca-service", "Sign", "OK"};
static const char *long_values[3] = {
    "document-signer-service-with-a-rather-long-name",
    "/marty.documentsigner.v1.DocumentSigner/SignDocument",
    "DEADLINE_EXCEEDED_AFTER_RETRYING_SEVERAL_TIMES"};
static const char *one_value[1] = {"mdoc-engine-with-a-long-service-name"};

static int run(enum op op, long calls) {
    int bad = 0;
    for (long i = 0; i < calls; i++) {
        int s = MARTY_OK;
        marty_counter *co = NULL;
        marty_gauge *go = NULL;
        marty_histogram *ho = NULL;
        switch (op) {
        case COUNTER_INC: s = marty_counter_inc(c); break;
        case COUNTER_ADD_INT: s = marty_counter_add_int(c, 3); break;
        case COUNTER_ADD: s = marty_counter_add(c, 0.5); break;
        case GAUGE_SET: s = marty_gauge_set(g, (double)i); break;
        case GAUGE_ADD: s = marty_gauge_add(g, (i & 1) ? -1.25 : 1.25); break;
        case GAUGE_INC_DEC: s = marty_gauge_inc(g) | marty_gauge_dec(g); break;
        case HISTOGRAM_OBSERVE: s = marty_histogram_observe(h, (double)(i % 2000) * 0.001); break;
        case COUNTER_GET_SHORT: s = marty_counter_get(fc, short_values, 3, &co); break;
        case COUNTER_GET_LONG: s = marty_counter_get(fc, long_values, 3, &co); break;
        case GAUGE_GET: s = marty_gauge_get(fg, one_value, 1, &go); break;
        case HISTOGRAM_GET: s = marty_histogram_get(fh, one_value, 1, &ho); break;
        case COUNTER_GET_INC:
            s = marty_counter_get(fc, short_values, 3, &co);
            if (s == MARTY_OK) s = marty_counter_inc(co);
            break;
        case OP_COUNT: break;
        }
        if (s != MARTY_OK) bad++;
    }
    return bad;
}

int main(void) {
    if (!setup_counters()) {
        printf("FAIL: mallctl(\"thread.allocatedp\") failed: is the test linked with jemalloc?\n");
        marty_test_failed++;
        return marty_test_summary();
    }
    /* The counters see allocations (a control, so that 0 below means something). */
    uint64_t before = *allocated;
    void *volatile probe = malloc(1000);
    uint64_t after = *allocated;
    free(probe);
    EXPECT(after - before >= 1000, "control: malloc(1000) counted %llu bytes; the counters do not work",
           (unsigned long long)(after - before));

    /* Pass 0 in a registry of its own; pass 1 in the default registry once pre-fork workers
     * share it (the cells then live in the multiprocess segment). */
    for (int pass = 0; pass < 2; pass++) {
        marty_registry *r = NULL;
        if (pass == 0) {
            REQUIRE_OK(marty_registry_new(&r));
        } else {
            REQUIRE_OK(marty_multiprocess_enable(0));
            r = marty_registry_default();
            printf("-- in the multiprocess segment\n");
        }
        const char *names3[3] = {"service", "method", "status"};
        const char *names1[1] = {"service"};
        REQUIRE_OK(marty_counter_family_new(r, "alloc_requests", "", names3, 3, &fc));
        REQUIRE_OK(marty_gauge_family_new(r, "alloc_level", "", names1, 1, &fg));
        REQUIRE_OK(marty_histogram_family_new(r, "alloc_latency_seconds", "", names1, 1, NULL, 0, &fh));
        REQUIRE_OK(marty_counter_get(fc, short_values, 3, &c));
        marty_counter *unused = NULL;
        REQUIRE_OK(marty_counter_get(fc, long_values, 3, &unused));
        REQUIRE_OK(marty_gauge_get(fg, one_value, 1, &g));
        REQUIRE_OK(marty_histogram_get(fh, one_value, 1, &h));

        for (int op = 0; op < OP_COUNT; op++) {
            int warm_bad = run((enum op)op, 10000); /* warm-up: lazy set-up, caches, TLS */
            uint64_t a0 = *allocated, d0 = *deallocated;
            int bad = run((enum op)op, CALLS);
            uint64_t a1 = *allocated, d1 = *deallocated;
            EXPECT(warm_bad == 0 && bad == 0, "%s: %d calls failed: %s", op_names[op], warm_bad + bad,
                   marty_errmsg());
            EXPECT(a1 - a0 == 0, "%s (pass %d): %d calls allocated %llu bytes (%.2f per call), expected 0",
                   op_names[op], pass, CALLS, (unsigned long long)(a1 - a0), (double)(a1 - a0) / CALLS);
            EXPECT(d1 - d0 == 0, "%s (pass %d): %d calls freed %llu bytes, expected 0", op_names[op], pass, CALLS,
                   (unsigned long long)(d1 - d0));
            printf("%-66s allocated %llu bytes, freed %llu bytes\n", op_names[op],
                   (unsigned long long)(a1 - a0), (unsigned long long)(d1 - d0));
        }

        /* The work was really done. */
        double v = 0;
        EXPECT_OK(marty_counter_value(c, &v));
        /* inc, add_int(3), add(0.5) and get + inc, each warm-up + CALLS times, on the same series. */
        const double expected = 5.5 * (CALLS + 10000);
        EXPECT(v == expected, "counter value %.17g, expected %.17g", v, expected);
        uint64_t count = 0;
        EXPECT_OK(marty_histogram_read(h, NULL, 0, &count, NULL));
        EXPECT(count == CALLS + 10000, "histogram count %llu, expected %d", (unsigned long long)count,
               CALLS + 10000);

        marty_family_release(fc);
        marty_family_release(fg);
        marty_family_release(fh);
        if (pass == 0) marty_registry_free(r);
    }
    return marty_test_summary();
}
