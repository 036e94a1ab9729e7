/* The library loads after another library took 700 bytes of initial-exec TLS, and works:
 * it keeps at most a few bytes of static TLS (the error message lives on the heap). */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <stdio.h>

#include <string.h>

#include "marty_metrics.h"

/* The library is dlopen'ed, so the checks cannot call it directly (marty_test.h does). */
static int passed, failed;
#define EXPECT(cond, ...)                                                                    \
    do {                                                                                     \
        if (cond) {                                                                          \
            passed++;                                                                        \
        } else {                                                                             \
            failed++;                                                                        \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                      \
            printf(__VA_ARGS__);                                                             \
            printf("\n");                                                                    \
        }                                                                                    \
    } while (0)
#define EXPECT_OK(call) EXPECT((call) == MARTY_OK, "%s failed: %s", #call, errmsg())
#define REQUIRE_OK(call)                                                                     \
    do {                                                                                     \
        EXPECT_OK(call);                                                                     \
        if (failed) return summary();                                                        \
    } while (0)

static int summary(void) {
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}

typedef int (*touch_fn)(int);
typedef int (*registry_new_fn)(marty_registry **);
typedef int (*counter_family_new_fn)(marty_registry *, const char *, const char *, const char *const *, size_t,
                                     marty_family **);
typedef int (*counter_get_fn)(marty_family *, const char *const *, size_t, marty_counter **);
typedef int (*counter_inc_fn)(marty_counter *);
typedef int (*counter_value_fn)(const marty_counter *, double *);
typedef const char *(*errmsg_fn)(void);

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s TLS_HOG_LIBRARY MARTY_LIBRARY\n", argv[0]);
        return 2;
    }
    void *hog = dlopen(argv[1], RTLD_NOW);
    EXPECT(hog != NULL, "dlopen(%s): %s", argv[1], dlerror());
    if (hog == NULL) return summary();
    touch_fn touch;
    *(void **)&touch = dlsym(hog, "tls_hog_touch");
    if (touch != NULL) touch(3);

    void *library = dlopen(argv[2], RTLD_NOW);
    EXPECT(library != NULL, "dlopen(libmarty_metrics) after a 700-byte initial-exec TLS library: %s", dlerror());
    if (library == NULL) return summary();

    registry_new_fn registry_new;
    counter_family_new_fn family_new;
    counter_get_fn counter_get;
    counter_inc_fn counter_inc;
    counter_value_fn counter_value;
    errmsg_fn errmsg;
    *(void **)&registry_new = dlsym(library, "marty_registry_new");
    *(void **)&family_new = dlsym(library, "marty_counter_family_new");
    *(void **)&counter_get = dlsym(library, "marty_counter_get");
    *(void **)&counter_inc = dlsym(library, "marty_counter_inc");
    *(void **)&counter_value = dlsym(library, "marty_counter_value");
    *(void **)&errmsg = dlsym(library, "marty_errmsg");
    marty_registry *registry;
    marty_family *family;
    marty_counter *counter;
    REQUIRE_OK(registry_new(&registry));
    REQUIRE_OK(family_new(registry, "loaded", "Loaded", NULL, 0, &family));
    REQUIRE_OK(counter_get(family, NULL, 0, &counter));
    EXPECT_OK(counter_inc(counter));
    double value = 0;
    EXPECT_OK(counter_value(counter, &value));
    EXPECT(value == 1, "the counter reads 1 (got %g)", value);
    EXPECT(family_new(registry, "bad\xff", "", NULL, 0, &family) == MARTY_ERR_INVALID_UTF8, "a bad name fails");
    EXPECT(strstr(errmsg(), "UTF-8") != NULL, "marty_errmsg says why: \"%s\"", errmsg());
    return summary();
}
