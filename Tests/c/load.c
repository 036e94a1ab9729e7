/*
 * load.c: loading the library (dlopen) and using it starts no thread and installs no signal
 * handler (DESIGN: "loading the library starts no thread and installs no signal handler").
 * Usage: test_load <path to libmarty_metrics.so.0>
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "marty_test.h"

static int thread_count(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static const int signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP,
                              SIGPIPE, SIGINT, SIGTERM, SIGHUP,  SIGQUIT, SIGCHLD};
static const char *const signal_names[] = {"SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE",
                                           "SIGABRT", "SIGTRAP", "SIGPIPE", "SIGINT",
                                           "SIGTERM", "SIGHUP", "SIGQUIT", "SIGCHLD"};
#define SIGNAL_COUNT ((int)(sizeof signals / sizeof signals[0]))

static void check_signals(const char *when) {
    for (int i = 0; i < SIGNAL_COUNT; i++) {
        struct sigaction action;
        memset(&action, 0, sizeof action);
        sigaction(signals[i], NULL, &action);
        EXPECT(action.sa_handler == SIG_DFL, "%s: %s has a handler installed", when, signal_names[i]);
    }
}

#define LOAD(handle, name, type, var)                                                        \
    type var = NULL;                                                                         \
    do {                                                                                     \
        void *symbol_ = dlsym((handle), (name));                                             \
        EXPECT(symbol_ != NULL, "dlsym(%s): %s", (name), dlerror());                          \
        memcpy(&var, &symbol_, sizeof var);                                                  \
    } while (0)

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s LIBRARY\n", argv[0]);
        return 2;
    }
    int before = thread_count();
    check_signals("before loading");
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        printf("FAIL: dlopen(%s): %s\n", argv[1], dlerror());
        marty_test_failed++;
        return marty_test_summary();
    }
    EXPECT(thread_count() == before, "dlopen started threads: %d before, %d after", before, thread_count());
    check_signals("after dlopen");

    typedef const char *(*version_fn)(void);
    typedef int (*registry_new_fn)(marty_registry **);
    typedef int (*counter_family_new_fn)(marty_registry *, const char *, const char *,
                                         const char *const *, size_t, marty_family **);
    typedef int (*counter_get_fn)(marty_family *, const char *const *, size_t, marty_counter **);
    typedef int (*counter_inc_fn)(marty_counter *);
    typedef int (*render_fn)(marty_registry *, int, char **, size_t *);
    typedef void (*free_fn)(void *);
    typedef marty_registry *(*default_fn)(void);
    LOAD(lib, "marty_version", version_fn, version);
    LOAD(lib, "marty_registry_new", registry_new_fn, registry_new);
    LOAD(lib, "marty_registry_default", default_fn, registry_default);
    LOAD(lib, "marty_counter_family_new", counter_family_new_fn, counter_family_new);
    LOAD(lib, "marty_counter_get", counter_get_fn, counter_get);
    LOAD(lib, "marty_counter_inc", counter_inc_fn, counter_inc);
    LOAD(lib, "marty_registry_render", render_fn, render);
    LOAD(lib, "marty_free", free_fn, free_text);
    if (marty_test_failed) return marty_test_summary();

    /* Using the library (the default registry too) starts no thread either. */
    printf("loaded libmarty_metrics %s\n", version());
    marty_registry *r = NULL;
    marty_family *f = NULL;
    marty_counter *c = NULL;
    char *text = NULL;
    EXPECT(registry_new(&r) == MARTY_OK, "registry_new(&r) failed");
    EXPECT(counter_family_new(r, "load_test", "", NULL, 0, &f) == MARTY_OK, "counter_family_new(r, \"load_test\", \"\", NULL, 0, &f) failed");
    EXPECT(counter_get(f, NULL, 0, &c) == MARTY_OK, "counter_get(f, NULL, 0, &c) failed");
    EXPECT(counter_inc(c) == MARTY_OK, "counter_inc(c) failed");
    EXPECT(render(r, MARTY_FORMAT_TEXT, &text, NULL) == MARTY_OK, "render(r, MARTY_FORMAT_TEXT, &text, NULL) failed");
    free_text(text);
    text = NULL;
    EXPECT(render(registry_default(), MARTY_FORMAT_TEXT, &text, NULL) == MARTY_OK, "render(registry_default(), MARTY_FORMAT_TEXT, &text, NULL) failed");
    free_text(text);
    EXPECT(thread_count() == before, "using the library started threads: %d before, %d after", before,
           thread_count());
    check_signals("after use");
    return marty_test_summary();
}
