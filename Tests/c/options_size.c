/*
 * marty_endpoint_options across header versions: marty_endpoint_start accepts any struct_size
 * from the 0.1 struct (up to max_connections) to the library's own, reads only the fields the
 * caller's struct holds in full and gives the defaults for the others; a struct_size below the
 * 0.1 struct or above the library's is MARTY_ERR_INVALID_ARGUMENT and starts nothing.
 *
 * The 0.1 struct is written out here by hand, as a program built against the 0.1 header has
 * it; the bytes after it are filled with 0xFF (a double of all ones is a NaN, which
 * marty_endpoint_start refuses in a time field), so reading past the caller's struct fails.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "marty_test.h"

/* marty_endpoint_options as the 0.1.0 header declared it. */
struct marty_endpoint_options_0_1 {
    size_t struct_size;
    const char *service;
    const char *bind_address;
    int metrics_port;
    int health_port;
    int separate_health_listener;
    marty_registry *registry;
    double idle_timeout_seconds;
    int max_connections;
};

/* C99 has no _Static_assert: an array of negative size fails the build instead. */
typedef char layout_0_1_is_a_prefix[
    (sizeof(struct marty_endpoint_options_0_1) ==
         offsetof(marty_endpoint_options, request_head_timeout_seconds) &&
     offsetof(struct marty_endpoint_options_0_1, max_connections) ==
         offsetof(marty_endpoint_options, max_connections) &&
     offsetof(struct marty_endpoint_options_0_1, idle_timeout_seconds) ==
         offsetof(marty_endpoint_options, idle_timeout_seconds) &&
     offsetof(struct marty_endpoint_options_0_1, registry) == offsetof(marty_endpoint_options, registry))
        ? 1
        : -1];

/* Room for the library's struct and a future header's larger one, 0xFF after `used` bytes. */
union options_memory {
    unsigned char bytes[sizeof(marty_endpoint_options) + 64];
    marty_endpoint_options current;
    struct marty_endpoint_options_0_1 old;
    double align_double;
    void *align_pointer;
};

static void poison(union options_memory *memory, size_t used) {
    memset(memory->bytes + used, 0xFF, sizeof memory->bytes - used);
}

static int untouched_after(const union options_memory *memory, size_t used) {
    for (size_t index = used; index < sizeof memory->bytes; index++) {
        if (memory->bytes[index] != 0xFF) return 0;
    }
    return 1;
}

/* Fields every start below sets: ephemeral ports on loopback, one listener. */
static void set_fields_0_1(struct marty_endpoint_options_0_1 *old) {
    old->service = "options-size-test";
    old->bind_address = "127.0.0.1";
    old->metrics_port = 0;
    old->health_port = 0;
    old->separate_health_listener = 0;
}

/* Starts with the options as they are, checks the port and stops; the status of the start. */
static int start_and_stop(const void *options) {
    marty_endpoint *endpoint = NULL;
    int status = marty_endpoint_start((const marty_endpoint_options *)options, &endpoint);
    if (status == MARTY_OK) {
        int port = -1;
        EXPECT_OK(marty_endpoint_metrics_port(endpoint, &port));
        EXPECT(port > 0 || getenv("MARTY_METRICS_ENABLED") != NULL, "an ephemeral metrics port (got %d)", port);
        EXPECT_OK(marty_endpoint_free(endpoint));
    } else {
        EXPECT(endpoint == NULL, "a failed start leaves *out untouched");
        EXPECT(marty_errmsg()[0] != '\0', "a failed start says why");
    }
    return status;
}

int main(void) {
    const size_t size_0_1 = sizeof(struct marty_endpoint_options_0_1);
    const size_t size_now = sizeof(marty_endpoint_options);
    union options_memory memory;

    /* ---- A 0.1 program: the 0.1 function fills the 0.1 struct, start reads only it ---- */
    memset(&memory, 0, sizeof memory);
    poison(&memory, size_0_1);
    (marty_endpoint_options_init)(&memory.current); /* the 0.1 symbol, not the macro */
    EXPECT(untouched_after(&memory, size_0_1), "the 0.1 marty_endpoint_options_init wrote past the 0.1 struct");
    EXPECT(memory.old.struct_size == size_0_1, "struct_size is the 0.1 size %zu (got %zu)", size_0_1,
           memory.old.struct_size);
    EXPECT(memory.old.metrics_port == MARTY_PORT_DEFAULT && memory.old.separate_health_listener == 1 &&
               memory.old.registry == NULL && memory.old.idle_timeout_seconds == 0 && memory.old.max_connections == 0,
           "the 0.1 fields get their defaults");
    set_fields_0_1(&memory.old);
    EXPECT_OK(start_and_stop(&memory));
    EXPECT(untouched_after(&memory, size_0_1), "marty_endpoint_start wrote past the 0.1 struct");

    /* The same through marty_endpoint_options_init_sized with the 0.1 sizeof. */
    memset(&memory, 0, sizeof memory);
    poison(&memory, size_0_1);
    EXPECT_OK(marty_endpoint_options_init_sized(&memory.current, size_0_1));
    EXPECT(untouched_after(&memory, size_0_1), "options_init_sized(0.1 size) wrote past the 0.1 struct");
    EXPECT(memory.old.struct_size == size_0_1, "struct_size is the 0.1 size (got %zu)", memory.old.struct_size);
    set_fields_0_1(&memory.old);
    memory.old.max_connections = 8;
    memory.old.idle_timeout_seconds = 5;
    EXPECT_OK(start_and_stop(&memory));

    /* A 0.1 struct that the caller filled by hand (memset + struct_size), as 0.1 allowed. */
    memset(&memory, 0, sizeof memory);
    poison(&memory, size_0_1);
    memory.old.struct_size = size_0_1;
    set_fields_0_1(&memory.old);
    memory.old.metrics_port = 0;
    EXPECT_OK(start_and_stop(&memory));

    /* ---- The current header: the macro, every field ---- */
    memset(&memory, 0, sizeof memory);
    poison(&memory, size_now);
    marty_endpoint_options_init(&memory.current);
    EXPECT(memory.current.struct_size == size_now, "the macro passes sizeof (got %zu)", memory.current.struct_size);
    EXPECT(untouched_after(&memory, size_now), "options_init (macro) wrote past the struct");
    set_fields_0_1(&memory.old);
    memory.current.request_head_timeout_seconds = 3;
    memory.current.shutdown_grace_seconds = 0.25;
    EXPECT_OK(start_and_stop(&memory));
    /* A 0.2 field is read when the struct has it: NaN there is refused. */
    memory.current.shutdown_grace_seconds = NAN;
    EXPECT(start_and_stop(&memory) == MARTY_ERR_INVALID_ARGUMENT, "NaN shutdown_grace_seconds is refused");

    /* ---- Sizes between the 0.1 and the current struct: whole fields only ---- */
    {
        const size_t head_end = offsetof(marty_endpoint_options, request_head_timeout_seconds) + sizeof(double);
        const size_t between[] = {size_0_1 + 1, size_0_1 + 4, head_end, head_end + 4, size_now - 1};
        for (size_t index = 0; index < sizeof between / sizeof between[0]; index++) {
            size_t size = between[index];
            memset(&memory, 0, sizeof memory);
            EXPECT_OK(marty_endpoint_options_init_sized(&memory.current, size));
            EXPECT(memory.current.struct_size == size, "init_sized(%zu) sets struct_size %zu (got %zu)", size, size,
                   memory.current.struct_size);
            poison(&memory, size); /* every byte after the caller's size: NaN if read */
            set_fields_0_1(&memory.old);
            EXPECT(start_and_stop(&memory) == MARTY_OK, "struct_size %zu: fields past it are not read (errmsg: %s)",
                   size, marty_errmsg());
        }
        /* A struct that ends after request_head_timeout_seconds reads it. */
        memset(&memory, 0, sizeof memory);
        EXPECT_OK(marty_endpoint_options_init_sized(&memory.current, head_end));
        poison(&memory, head_end);
        set_fields_0_1(&memory.old);
        memory.current.request_head_timeout_seconds = -1;
        EXPECT(start_and_stop(&memory) == MARTY_ERR_INVALID_ARGUMENT,
               "struct_size %zu holds request_head_timeout_seconds: -1 is refused", head_end);
    }

    /* ---- Too small: refused, nothing starts ---- */
    {
        const size_t small[] = {0, 1, sizeof(size_t), offsetof(struct marty_endpoint_options_0_1, max_connections),
                                size_0_1 - 1};
        for (size_t index = 0; index < sizeof small / sizeof small[0]; index++) {
            memset(&memory, 0, sizeof memory);
            marty_endpoint_options_init(&memory.current);
            set_fields_0_1(&memory.old);
            memory.current.struct_size = small[index];
            EXPECT(start_and_stop(&memory) == MARTY_ERR_INVALID_ARGUMENT, "struct_size %zu is refused", small[index]);
            memory.current.struct_size = 12345;
            EXPECT(marty_endpoint_options_init_sized(&memory.current, small[index]) == MARTY_ERR_INVALID_ARGUMENT,
                   "init_sized(%zu) is refused", small[index]);
            EXPECT(memory.current.struct_size == 12345, "a refused init_sized(%zu) writes nothing", small[index]);
        }
    }

    /* ---- Larger than the library's struct (a newer header's, set by hand): refused ---- */
    {
        const size_t large[] = {size_now + 1, size_now + 8, sizeof memory.bytes, (size_t)-1};
        for (size_t index = 0; index < sizeof large / sizeof large[0]; index++) {
            memset(&memory, 0, sizeof memory);
            marty_endpoint_options_init(&memory.current);
            set_fields_0_1(&memory.old);
            memory.current.struct_size = large[index];
            EXPECT(start_and_stop(&memory) == MARTY_ERR_INVALID_ARGUMENT, "struct_size %zu is refused", large[index]);
        }
        /* What a newer header's macro does: init_sized with its larger sizeof gets the
         * library's size, so that start then accepts it (and the caller can tell). */
        memset(&memory, 0, sizeof memory);
        EXPECT_OK(marty_endpoint_options_init_sized(&memory.current, size_now + 16));
        EXPECT(memory.current.struct_size == size_now, "init_sized(larger) sets the library's size (got %zu)",
               memory.current.struct_size);
        set_fields_0_1(&memory.old);
        EXPECT_OK(start_and_stop(&memory));
    }

    /* ---- NULL ---- */
    {
        marty_endpoint *endpoint = NULL;
        EXPECT(marty_endpoint_start(NULL, &endpoint) == MARTY_ERR_NULL_ARGUMENT, "start(NULL options)");
        memset(&memory, 0, sizeof memory);
        marty_endpoint_options_init(&memory.current);
        set_fields_0_1(&memory.old);
        EXPECT(marty_endpoint_start(&memory.current, NULL) == MARTY_ERR_NULL_ARGUMENT, "start(NULL out)");
        memory.current.service = NULL;
        EXPECT(marty_endpoint_start(&memory.current, &endpoint) == MARTY_ERR_NULL_ARGUMENT, "start(service NULL)");
        EXPECT(endpoint == NULL, "nothing started");
    }

    return marty_test_summary();
}
