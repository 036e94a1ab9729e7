/*
 * marty_metrics.h — the C interface of libmarty_metrics, the Marty platform's embedded
 * metrics engine.
 *
 * Conventions (the same for every function below):
 *
 *  - Every call that can fail returns an int status: MARTY_OK (0) or one of the MARTY_ERR_*
 *    codes. On failure, marty_errmsg() returns a message for the calling thread that says
 *    what was wrong; out-parameters are left untouched.
 *  - NULL where a handle or string is required is MARTY_ERR_NULL_ARGUMENT, never a crash.
 *  - Strings are UTF-8 and NUL-terminated. The library copies them and never keeps the
 *    caller's pointer. Bytes that are not valid UTF-8 are MARTY_ERR_INVALID_UTF8.
 *  - Memory the library hands out (rendered expositions) is freed with marty_free().
 *  - Handles are opaque. A registry is owned by whoever created it. A family handle returned
 *    by a *_family_new call holds one reference owned by the caller (release it with
 *    marty_family_release); the registry it is registered in holds its own. Series handles
 *    (marty_counter, marty_gauge, marty_histogram) are borrowed from their family. Once a
 *    series is removed (marty_family_remove, marty_family_clear, marty_info_set) or its
 *    family is freed, its memory is given back and reused for other series; a handle to it
 *    stays safe to pass: recording into it returns MARTY_OK and changes nothing that shows,
 *    reading it (marty_counter_value, marty_gauge_value, marty_histogram_read, ...) returns
 *    MARTY_ERR_NOT_FOUND once the series' memory is given back (removed series are freed in
 *    batches, so a read soon after the removal may still see the old value). A handle
 *    carries a 16-bit generation of its series' memory, so that holds unless the same memory
 *    served 65,536 later series while the handle was kept. Getting the series again
 *    (marty_counter_get, ...) gives a new handle.
 *  - Threads: every function may be called from any thread at any time, concurrently with
 *    any other (recording with removal, lookup with clear, render with everything), with one
 *    exception: the calls that end a handle's life (marty_registry_free, marty_family_release,
 *    marty_endpoint_free) must not run concurrently with any other call given that same
 *    handle, and the handle must not be passed again afterwards. Series handles are never
 *    freed: recording into one while its family is released or cleared is safe.
 *  - Each function lists the statuses it can return ("Statuses:"). A function that takes a
 *    string can also return MARTY_ERR_INVALID_UTF8 for it, as said where it applies. Once pre-
 *    fork workers share the default registry (marty_multiprocess_enable), a call that makes a
 *    family or a series in it can also return MARTY_ERR_FULL (the shared segment has no room)
 *    or MARTY_ERR_CONFLICT (another process defined the family otherwise).
 *  - fork(): the library takes its locks around fork() (pthread_atfork), so a child never
 *    inherits one held by another thread; the child may go on recording, rendering and
 *    starting an endpoint of its own.
 *  - Recording on a series handle (inc, add, set, observe) takes no lock and allocates
 *    nothing; it is safe from any number of threads at once.
 *  - Loading the library starts no thread and installs no signal handler.
 *
 * Naming rules (checked at creation, each failure names the rule):
 *  - metric names are any non-empty UTF-8, as Prometheus 3 accepts them; names outside the
 *    legacy set [a-zA-Z_:][a-zA-Z0-9_:]* are quoted or escaped when rendered (marty_escaping);
 *  - a family has at most 64 label names (a larger count is MARTY_ERR_INVALID_ARGUMENT);
 *  - label names are any non-empty UTF-8 (outside [a-zA-Z_][a-zA-Z0-9_]*: quoted or escaped
 *    as metric names are), do not start with "__" (reserved), are not repeated within one
 *    family, and are not "le" on a histogram;
 *  - a counter's name is given without "_total": a trailing "_total" is dropped (as
 *    prometheus_client does) and the exposition adds it;
 *  - no sample name a family exposes (x_total and x_created for a counter x; x_bucket,
 *    x_count, x_sum and x_created for a histogram x; x_info for an info x) may equal one that
 *    another family in the registry exposes: that is MARTY_ERR_CONFLICT, naming both.
 */
#ifndef MARTY_METRICS_H
#define MARTY_METRICS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Version ------------------------------------------------------------------------- */

#define MARTY_METRICS_VERSION_MAJOR 0
#define MARTY_METRICS_VERSION_MINOR 3
#define MARTY_METRICS_VERSION_PATCH 0
#define MARTY_METRICS_VERSION_STRING "0.3.0"
/* MAJOR * 10000 + MINOR * 100 + PATCH, for compile-time comparisons. */
#define MARTY_METRICS_VERSION_NUMBER 300

/* The version of the library actually loaded, as "MAJOR.MINOR.PATCH". Never NULL; a static
 * string (never freed). */
const char *marty_version(void);

/* The loaded library's MARTY_METRICS_VERSION_NUMBER. Cannot fail. */
int marty_version_number(void);

/* ---- Status codes and errors ----------------------------------------------------------- */

enum marty_status {
    MARTY_OK = 0,
    MARTY_ERR_NULL_ARGUMENT = 1,   /* a required pointer was NULL */
    MARTY_ERR_INVALID_NAME = 2,    /* a metric name broke a naming rule */
    MARTY_ERR_INVALID_LABEL = 3,   /* a label name broke a naming rule */
    MARTY_ERR_LABEL_COUNT = 4,     /* label values given do not match the family's label names */
    MARTY_ERR_INVALID_UTF8 = 5,    /* a string was not valid UTF-8 */
    MARTY_ERR_INVALID_VALUE = 6,   /* a negative counter add, a NaN observation, ... */
    MARTY_ERR_CONFLICT = 7,        /* the name is already registered (message names the clash) */
    MARTY_ERR_NOT_FOUND = 8,       /* no such series or registration */
    MARTY_ERR_INVALID_BUCKETS = 9, /* histogram bounds not finite and strictly increasing */
    MARTY_ERR_WRONG_KIND = 10,     /* e.g. marty_counter_get on a gauge family */
    MARTY_ERR_INVALID_ARGUMENT = 11, /* any other argument out of its range */
    MARTY_ERR_ADDRESS_IN_USE = 12,  /* a port the endpoint was to listen on is taken */
    MARTY_ERR_SYSTEM = 13,          /* the operating system refused (socket, thread, ...) */
    MARTY_ERR_FULL = 14             /* the multiprocess segment has no room left */
};

/*
 * The message for the last failed call on the calling thread, in UTF-8. Never NULL. The
 * buffer belongs to the calling thread (never free it): valid until the next marty_* call on
 * the same thread, and never past the thread's exit. A successful call does not clear it.
 * "" if no call on this thread has failed yet (or the thread's buffer could not be allocated).
 */
const char *marty_errmsg(void);

/* A fixed description of a status code ("MARTY_ERR_NULL_ARGUMENT: ..."; for a number that is
 * no status, "unknown marty_metrics status code"). Never NULL; a static string. */
const char *marty_status_string(int status);

/* Frees memory returned by the library (the buffer of marty_registry_render; nothing else is
 * to be freed with it). NULL is a no-op. */
void marty_free(void *pointer);

/* ---- Registries ------------------------------------------------------------------------- */

typedef struct marty_registry marty_registry;

/* The process-wide default registry. Never NULL; never freed; the same pointer on every call. */
marty_registry *marty_registry_default(void);

/* Creates an empty, independent registry into *out, owned by the caller: free it with
 * marty_registry_free. Statuses: MARTY_OK; MARTY_ERR_NULL_ARGUMENT (out NULL). */
int marty_registry_new(marty_registry **out);

/*
 * Frees a registry made by marty_registry_new. Families registered in it stay valid for as
 * long as their callers hold them. Freeing the default registry or NULL is MARTY_ERR_INVALID_ARGUMENT
 * resp. MARTY_ERR_NULL_ARGUMENT and changes nothing. A registry that a catalog
 * (marty_service_metrics_register) or a running endpoint uses is kept alive by them: the call
 * then only drops the caller's reference, and the catalog handle keeps working; the
 * registry handle itself must not be used again either way, and must not be in use by another
 * thread during the call (see the conventions).
 * Statuses: MARTY_OK; MARTY_ERR_NULL_ARGUMENT; MARTY_ERR_INVALID_ARGUMENT (the default registry).
 */
int marty_registry_free(marty_registry *registry);

/* ---- Families ---------------------------------------------------------------------------- */

/* A named metric of one kind with fixed label names: the parent of its series. */
typedef struct marty_family marty_family;

enum marty_kind {
    MARTY_KIND_COUNTER = 0,
    MARTY_KIND_GAUGE = 1,
    MARTY_KIND_HISTOGRAM = 2,
    MARTY_KIND_INFO = 3,
    MARTY_KIND_SUMMARY = 4 /* since 0.3 */
};

/*
 * Creates a counter family and registers it in `registry`. An unlabelled family has its one
 * series from the start (exposed at 0). `help` may be "" but not NULL.
 * `label_names` may be NULL when `label_count` is 0. The name is given without "_total";
 * the exposition adds it. A name already registered in `registry` is MARTY_ERR_CONFLICT.
 * On success *out holds the caller's reference (release it with marty_family_release).
 * Statuses: MARTY_OK; MARTY_ERR_NULL_ARGUMENT (registry, name, help, out, label_names with a
 * count > 0, or one of its elements); MARTY_ERR_INVALID_UTF8 (name, help, a label name);
 * MARTY_ERR_INVALID_NAME; MARTY_ERR_INVALID_LABEL; MARTY_ERR_INVALID_ARGUMENT (label_count over
 * 64); MARTY_ERR_CONFLICT.
 */
int marty_counter_family_new(marty_registry *registry, const char *name, const char *help,
                             const char *const *label_names, size_t label_count,
                             marty_family **out);

/* Creates a gauge family; arguments, reference and statuses as for marty_counter_family_new. */
int marty_gauge_family_new(marty_registry *registry, const char *name, const char *help,
                           const char *const *label_names, size_t label_count,
                           marty_family **out);

/*
 * Creates a histogram family. `bounds` are the upper bounds of the buckets, finite and
 * strictly increasing, at most 4092 of them (more is MARTY_ERR_INVALID_BUCKETS, checked before
 * `bounds` is read); the +Inf bucket is always added. bounds == NULL with bound_count == 0 gives
 * the Prometheus defaults (.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10); non-NULL bounds
 * with bound_count == 0 give a histogram with the +Inf bucket only. Reference as for
 * marty_counter_family_new. Statuses: those of marty_counter_family_new (a label name "le" is
 * MARTY_ERR_INVALID_LABEL), MARTY_ERR_NULL_ARGUMENT for bounds NULL with bound_count > 0, and
 * MARTY_ERR_INVALID_BUCKETS.
 */
int marty_histogram_family_new(marty_registry *registry, const char *name, const char *help,
                               const char *const *label_names, size_t label_count,
                               const double *bounds, size_t bound_count, marty_family **out);

/*
 * Native (sparse exponential) histograms, as Prometheus scrapes them over protobuf
 * (MARTY_FORMAT_PROTOBUF; the text formats show only the classic buckets). Buckets are chosen
 * from `bucket_factor` (> 1: the largest ratio of a bucket's upper bound to the next lower one;
 * the schema is client_golang's, from -4 for factors of 65536 and more to 8 for 1.0027 and
 * less); values with |v| <= zero_threshold (finite, >= 0) are counted in the zero bucket; a
 * reading shows at most max_bucket_count (1...1000) buckets, lowering the resolution until they
 * fit. Initialize with marty_native_histogram_options_init (1.1, 2^-128, 160), then change
 * fields; struct_size must be that function's.
 */
typedef struct marty_native_histogram_options {
    size_t struct_size;
    double bucket_factor;
    double zero_threshold;
    int max_bucket_count;
} marty_native_histogram_options;

/* Fills *options with the defaults; NULL is ignored. */
void marty_native_histogram_options_init(marty_native_histogram_options *options);

/*
 * marty_histogram_family_new with native buckets (read from *options during the call). Classic
 * `bounds` may be given beside them; bounds == NULL with bound_count == 0 keeps only the +Inf
 * classic bucket (native only, as client_golang does when no buckets are named). Observing
 * through marty_histogram_observe(_exemplar) feeds both; it stays lock-free and allocation-free.
 * Memory: per series, about (267 + 2.25 * slots) * 8 bytes per shard, slots being the power of
 * two of at least 1.5 * max_bucket_count (>= 16, <= 1024): 6.6 KiB per shard for the default 160.
 * Statuses: those of marty_histogram_family_new; MARTY_ERR_NULL_ARGUMENT (options);
 * MARTY_ERR_INVALID_ARGUMENT (options->struct_size); MARTY_ERR_INVALID_BUCKETS (bucket_factor
 * <= 1 or NaN or infinite, zero_threshold negative or not finite, max_bucket_count out of range,
 * or too many classic bounds to fit beside the native cells).
 */
int marty_native_histogram_family_new(marty_registry *registry, const char *name, const char *help,
                                      const char *const *label_names, size_t label_count, const double *bounds,
                                      size_t bound_count, const marty_native_histogram_options *options,
                                      marty_family **out);

/*
 * Creates an info family: exposed as the gauge `<name>_info` with value 1, as
 * prometheus_client's Info does (a name already ending in _info gets the suffix again, as
 * there). Set its labels with marty_info_set. Reference and statuses as for
 * marty_counter_family_new.
 */
int marty_info_family_new(marty_registry *registry, const char *name, const char *help,
                          const char *const *label_names, size_t label_count,
                          marty_family **out);

/*
 * Creates a summary family (since 0.3): the count and sum of observations, without quantiles,
 * as prometheus_client's Summary; exposed as `<name>_count`, `<name>_sum` (and `_created`).
 * Its series are histogram series without bounds: get them with marty_histogram_get, record
 * with marty_histogram_observe, read with marty_histogram_read. Reference and statuses as for
 * marty_counter_family_new (a label name "quantile" is MARTY_ERR_INVALID_LABEL).
 */
int marty_summary_family_new(marty_registry *registry, const char *name, const char *help,
                             const char *const *label_names, size_t label_count,
                             marty_family **out);

/* Replaces the info family's single series by the one with these label values (the old one
 * is removed, as by marty_family_clear). Statuses: MARTY_OK; MARTY_ERR_NULL_ARGUMENT (family,
 * label_values with a count > 0, or one of its elements); MARTY_ERR_WRONG_KIND (not an info
 * family); MARTY_ERR_LABEL_COUNT; MARTY_ERR_INVALID_UTF8 (a value). */
int marty_info_set(marty_family *family, const char *const *label_values, size_t label_count);

/* The family's kind (a marty_kind) into *out. Statuses: MARTY_OK; MARTY_ERR_NULL_ARGUMENT. */
int marty_family_kind(const marty_family *family, int *out);

/*
 * Removes the series with these label values from the family: it no longer shows, and its
 * memory is given back (handles to it record nothing; see the conventions). Safe while other
 * threads record into it or look it up. Statuses: MARTY_OK; MARTY_ERR_NULL_ARGUMENT (family,
 * label_values with a count > 0, or one of its elements); MARTY_ERR_LABEL_COUNT;
 * MARTY_ERR_INVALID_UTF8 (a value); MARTY_ERR_NOT_FOUND (no such series);
 * MARTY_ERR_INVALID_ARGUMENT (a family pre-fork workers share: marty_multiprocess_enable).
 */
int marty_family_remove(marty_family *family, const char *const *label_values,
                        size_t label_count);

/*
 * Sets when the series with these label values counts as created (since 0.3): its _created
 * sample and protobuf created_timestamp, in seconds since the Unix epoch. For callers that
 * keep their own clock (prometheus_client stamps series with Python's time.time()). The series
 * must exist. Statuses: MARTY_OK; MARTY_ERR_NULL_ARGUMENT (family, label_values with a count
 * > 0, or one of its elements); MARTY_ERR_LABEL_COUNT; MARTY_ERR_INVALID_UTF8;
 * MARTY_ERR_INVALID_VALUE (seconds not finite); MARTY_ERR_NOT_FOUND (no such series).
 */
int marty_family_set_created_timestamp(marty_family *family, const char *const *label_values,
                                       size_t label_count, double seconds);

/*
 * Sets the unit that OpenMetrics renderings name in a `# UNIT` line (since 0.3); NULL or ""
 * for none. The family's name is not changed: by the OpenMetrics rules it should end with
 * "_<unit>" already. Statuses: MARTY_OK; MARTY_ERR_NULL_ARGUMENT (family);
 * MARTY_ERR_INVALID_UTF8; MARTY_ERR_INVALID_NAME (a space or line break in the unit).
 */
int marty_family_set_unit(marty_family *family, const char *unit);

/* Removes every series of the family (their handles record nothing, as for marty_family_remove).
 * Statuses: MARTY_OK; MARTY_ERR_NULL_ARGUMENT; MARTY_ERR_INVALID_ARGUMENT (a family pre-fork
 * workers share: marty_multiprocess_enable). */
int marty_family_clear(marty_family *family);

/* The label value that stands for every label of a family's overflow series (below). */
#define MARTY_OVERFLOW_LABEL_VALUE "__overflow__"

/*
 * Caps how many series the family creates; 0 means no cap. A family starts with the cap of
 * the environment variable MARTY_METRICS_MAX_SERIES_PER_FAMILY (a whole number, read once
 * when the first family is made), or 10000. A label set that would create a series past the
 * cap gets the family's overflow series instead, whose label values are all
 * MARTY_OVERFLOW_LABEL_VALUE, so no count is lost; each such lookup is counted in
 * `marty_metrics_series_overflow_total{metric="<family name>"}`, which the registry renders
 * once a family of it has overflowed, and the family's first one is reported once through
 * the warning callback (marty_set_warning_callback). Series already made stay when the cap is
 * lowered. Recording on a handle is unaffected; the cap costs one comparison when a series is
 * created. Any thread, any time. Statuses: MARTY_OK; MARTY_ERR_NULL_ARGUMENT (family);
 * MARTY_ERR_INVALID_ARGUMENT (max_series over 2^62).
 */
int marty_family_set_max_series(marty_family *family, size_t max_series);

/* The family's series cap (0: none) into *out. Statuses: MARTY_OK; MARTY_ERR_NULL_ARGUMENT. */
int marty_family_max_series(const marty_family *family, size_t *out);

/*
 * Caps how many series all families of the process hold together (since 0.3); 0, the default,
 * means no cap. The environment variable MARTY_METRICS_MAX_SERIES (a whole number, read once
 * when the library first needs it) sets it at start-up. Past it, a labelled family's new label
 * sets record into that family's overflow series, counted and reported as past the family's own
 * cap (above); unlabelled families always have their one series. Removed and cleared series,
 * and those of freed families, make room again. Any thread, any time. Statuses: MARTY_OK;
 * MARTY_ERR_INVALID_ARGUMENT (max_series over 2^62).
 */
int marty_set_process_max_series(size_t max_series);

/* The process-wide cap (0: none) into *max_series and the series all families hold now into
 * *series; either pointer may be NULL. Statuses: MARTY_OK. */
int marty_process_series(size_t *series, size_t *max_series);

/* How many lookups went to the family's overflow series, into *out. Statuses: MARTY_OK;
 * MARTY_ERR_NULL_ARGUMENT. */
int marty_family_overflowed_lookups(const marty_family *family, uint64_t *out);

/*
 * Receives the library's warnings (today only a family's first lookup past its series cap,
 * once per family): `message` is UTF-8, NUL-terminated, valid during the call only. Called on
 * the thread whose call caused the warning, holding no lock of the library, possibly from
 * several threads at once; it must not block for long.
 */
typedef void (*marty_warning_callback)(void *user_data, const char *message);

/* Sends warnings to `callback` with `user_data` (kept until replaced); NULL sends them back to
 * standard error (the default), one line each. Any thread. Statuses: MARTY_OK. */
int marty_set_warning_callback(marty_warning_callback callback, void *user_data);

/* Registers a family in `registry` (which then holds a reference of its own). Statuses:
 * MARTY_OK; MARTY_ERR_NULL_ARGUMENT; MARTY_ERR_CONFLICT (already registered there, or a clash). */
int marty_registry_register(marty_registry *registry, marty_family *family);

/* Removes the family from `registry` (and drops the registry's reference). Statuses: MARTY_OK;
 * MARTY_ERR_NULL_ARGUMENT; MARTY_ERR_NOT_FOUND (not registered there). */
int marty_registry_unregister(marty_registry *registry, marty_family *family);

/*
 * Drops the caller's reference to the family. The family and its series are freed when no
 * registry holds it either; its series handles then record nothing (see the conventions).
 * The family handle must not be passed again, nor be in use by another thread during the call.
 * Releasing a handle twice, or one never returned by a *_family_new call, is undefined.
 * Statuses: MARTY_OK; MARTY_ERR_NULL_ARGUMENT.
 */
int marty_family_release(marty_family *family);

/* ---- Pre-fork workers: one set of metrics for a parent and its forked children (since 0.3) -- */

/*
 * Makes the segment that a parent and the workers it forks afterwards share: a MAP_SHARED
 * anonymous mapping of `bytes` (0: 128 MiB; pages are taken from the system only as they are
 * first written). Call it in the parent before it forks and before it makes any family in the
 * default registry; MARTY_METRICS_MULTIPROCESS=1 in the environment does the same when the
 * default registry is first used (MARTY_METRICS_MULTIPROCESS_BYTES names the size).
 *
 * From then on every counter, gauge, histogram and summary family made in the default
 * registry, by the parent or by any worker, keeps its series in the segment: a worker that
 * makes the family again (same name, kind, label names, bounds and gauge mode) records into
 * the same series, and rendering the default registry in any of these processes (the parent's
 * endpoint) shows the sum over every worker, living and dead. Recording stays lock-free;
 * making a series takes a process-shared robust mutex (a worker killed holding it does not
 * wedge the others). A family made with another definition than the segment's is
 * MARTY_ERR_CONFLICT, naming both. A segment without room for a new family or series makes
 * that call fail with MARTY_ERR_FULL. Info families stay in the process that makes them;
 * shared families keep no exemplars (they are dropped), refuse native buckets
 * (MARTY_ERR_INVALID_ARGUMENT) and refuse marty_family_remove and marty_family_clear
 * (MARTY_ERR_INVALID_ARGUMENT): a series, once in the segment, stays.
 * Statuses: MARTY_OK; MARTY_ERR_INVALID_ARGUMENT (under 1 MiB); MARTY_ERR_CONFLICT (made
 * already, here or in a parent); MARTY_ERR_SYSTEM (mmap refused).
 */
int marty_multiprocess_enable(size_t bytes);

/* 1 when this process or a parent made the segment, else 0. Any thread. */
int marty_multiprocess_enabled(void);

/* Bytes of the segment in use and its size (0 and 0 without one). Statuses: MARTY_OK;
 * MARTY_ERR_NULL_ARGUMENT. */
int marty_multiprocess_usage(size_t *used, size_t *size);

/*
 * Marks worker `pid` dead (gunicorn's child_exit hook): its gauges leave the live* modes at
 * once, without waiting for a scrape to find the process gone (the library checks that by
 * itself at every scrape). Its counters and histograms stay in the totals. Harmless without a
 * segment. Statuses: MARTY_OK; MARTY_ERR_INVALID_ARGUMENT (pid not positive).
 */
int marty_multiprocess_mark_process_dead(int pid);

/* How a scrape shows a shared gauge, as prometheus_client's multiprocess_mode. */
enum marty_gauge_mode {
    MARTY_GAUGE_ALL = 0,            /* a series per process, with a "pid" label */
    MARTY_GAUGE_LIVEALL = 1,        /* the same, living processes only */
    MARTY_GAUGE_MIN = 2,            /* the smallest value of any process */
    MARTY_GAUGE_LIVEMIN = 3,        /* ... of a living process */
    MARTY_GAUGE_MAX = 4,            /* the largest value of any process */
    MARTY_GAUGE_LIVEMAX = 5,        /* ... of a living process */
    MARTY_GAUGE_SUM = 6,            /* the sum over every process */
    MARTY_GAUGE_LIVESUM = 7,        /* ... over living processes */
    MARTY_GAUGE_MOSTRECENT = 8,     /* one value shared by all: the last set wins */
    MARTY_GAUGE_LIVEMOSTRECENT = 9  /* as MOSTRECENT (a shared value cannot tell who set it) */
};

/*
 * marty_gauge_family_new with the gauge's multiprocess mode (a marty_gauge_mode);
 * marty_gauge_family_new is MARTY_GAUGE_ALL. Without a segment the mode is not used. A worker
 * forked after a per-process gauge (every mode but the two MOSTRECENT ones) was looked up gets
 * its own series at its next marty_gauge_get; handles it inherited keep writing the parent's.
 * Statuses: those of marty_gauge_family_new; MARTY_ERR_INVALID_ARGUMENT (mode); MARTY_ERR_FULL.
 */
int marty_gauge_family_new_multiprocess(marty_registry *registry, const char *name, const char *help,
                                        const char *const *label_names, size_t label_count, int mode,
                                        marty_family **out);

/* ---- Series: looking up a child by label values ------------------------------------------ */

typedef struct marty_counter marty_counter;
typedef struct marty_gauge marty_gauge;
typedef struct marty_histogram marty_histogram;

/*
 * Returns the series with these label values, creating it on first use. The count must equal
 * the family's number of label names (0 and NULL for an unlabelled family). Looking up an
 * existing series takes no lock. The handle is borrowed from the family (see above): never
 * freed by the caller, safe to pass for ever (it records nothing once its series is gone).
 * Safe concurrently with marty_family_remove/clear of the same series (the handle returned
 * may then be one that records nothing). *out is written only on MARTY_OK.
 * Statuses: MARTY_OK; MARTY_ERR_NULL_ARGUMENT (family, out, label_values with a count > 0, or
 * one of its elements when the count is right); MARTY_ERR_WRONG_KIND; MARTY_ERR_LABEL_COUNT;
 * MARTY_ERR_INVALID_UTF8 (a value, when the series is created).
 */
int marty_counter_get(marty_family *family, const char *const *label_values,
                      size_t label_count, marty_counter **out);
int marty_gauge_get(marty_family *family, const char *const *label_values,
                    size_t label_count, marty_gauge **out);
int marty_histogram_get(marty_family *family, const char *const *label_values,
                        size_t label_count, marty_histogram **out);

/* ---- Recording (lock-free, allocation-free) ---------------------------------------------- */
/*
 * Every call below: the handle NULL is MARTY_ERR_NULL_ARGUMENT; a handle whose series was
 * removed records nothing and returns MARTY_OK, and a reading of it returns MARTY_ERR_NOT_FOUND
 * (see the conventions). Recording calls may run concurrently with each other (on the same
 * handle too: nothing is lost), with readings, removal, clear, release and render.
 * Statuses, unless said otherwise: MARTY_OK; MARTY_ERR_NULL_ARGUMENT.
 */

/* Adds 1. */
int marty_counter_inc(marty_counter *counter);
/* Adds a whole number (amounts of 2^32 and more are added in floating point). */
int marty_counter_add_int(marty_counter *counter, uint64_t amount);
/* Adds a non-negative amount (+Inf too, as prometheus_client allows); negative or NaN is
 * MARTY_ERR_INVALID_VALUE. */
int marty_counter_add(marty_counter *counter, double amount);
/* The current total into *out. Statuses: MARTY_OK; MARTY_ERR_NULL_ARGUMENT (counter, out);
 * MARTY_ERR_NOT_FOUND (the series is gone). */
int marty_counter_value(const marty_counter *counter, double *out);

/* Sets the gauge to `value` (any double: NaN and infinities too, as Prometheus allows). */
int marty_gauge_set(marty_gauge *gauge, double value);
/* Adds 1 / subtracts 1. */
int marty_gauge_inc(marty_gauge *gauge);
int marty_gauge_dec(marty_gauge *gauge);
/* Adds `amount` (may be negative; any double). */
int marty_gauge_add(marty_gauge *gauge, double amount);
/* Sets the gauge to the current Unix time in seconds. */
int marty_gauge_set_to_current_time(marty_gauge *gauge);
/* The current value into *out. Statuses: MARTY_OK; MARTY_ERR_NULL_ARGUMENT (gauge, out);
 * MARTY_ERR_NOT_FOUND (the series is gone). */
int marty_gauge_value(const marty_gauge *gauge, double *out);

/* Records one observation; NaN is MARTY_ERR_INVALID_VALUE (infinities are counted). */
int marty_histogram_observe(marty_histogram *histogram, double value);

/*
 * Exemplars: label pairs (label_names[i]=label_values[i], label_count of them) that point
 * from a sample to something outside the metrics, such as a trace id. The series keeps the
 * latest one (a histogram: per bucket) with the amount or value and the time of the call;
 * OpenMetrics and protobuf scrapes show it, text 0.0.4 does not. The arrays are read during
 * the call only. Names must match [a-zA-Z_][a-zA-Z0-9_]* and be distinct, names and values
 * valid UTF-8 with at most 128 characters in all (the OpenMetrics limit): else
 * MARTY_ERR_INVALID_LABEL or MARTY_ERR_INVALID_UTF8, and nothing is recorded. label_count == 0
 * gives an exemplar without labels; label_names or label_values NULL with label_count > 0, or
 * a NULL element, is MARTY_ERR_NULL_ARGUMENT. The first exemplar of a series allocates its
 * slots (one for a counter, one per bucket for a histogram; about 680 bytes each); when that
 * allocation fails, or another thread is writing the same slot at that moment, the amount is
 * recorded and the exemplar dropped (MARTY_OK). Recording without an exemplar never reads them.
 */

/* marty_counter_add with an exemplar whose value is `amount`. Negative or NaN amounts are
 * MARTY_ERR_INVALID_VALUE. */
int marty_counter_add_exemplar(marty_counter *counter, double amount, const char *const *label_names,
                               const char *const *label_values, size_t label_count);
/* marty_histogram_observe with an exemplar (whose value is `value`) for the bucket the value
 * falls into. NaN is MARTY_ERR_INVALID_VALUE. */
int marty_histogram_observe_exemplar(marty_histogram *histogram, double value, const char *const *label_names,
                                     const char *const *label_values, size_t label_count);
/* The two above with the exemplar's time given, in seconds since the Unix epoch, instead of the
 * library's clock (since 0.3): for callers that keep their own (prometheus_client stamps
 * exemplars with Python's time.time()). A timestamp that is not finite is
 * MARTY_ERR_INVALID_VALUE, and nothing is recorded. */
int marty_counter_add_exemplar_at(marty_counter *counter, double amount, const char *const *label_names,
                                  const char *const *label_values, size_t label_count, double timestamp);
int marty_histogram_observe_exemplar_at(marty_histogram *histogram, double value, const char *const *label_names,
                                        const char *const *label_values, size_t label_count, double timestamp);

/*
 * A consistent reading of the histogram: `cumulative_counts` receives bucket_count() + 1
 * cumulative counts (the last is +Inf and equals *count). Any out pointer may be NULL.
 * `capacity` is the length of `cumulative_counts`; too small is MARTY_ERR_INVALID_ARGUMENT
 * (nothing written). Statuses: MARTY_OK; MARTY_ERR_NULL_ARGUMENT (histogram);
 * MARTY_ERR_INVALID_ARGUMENT; MARTY_ERR_NOT_FOUND (the series is gone).
 */
int marty_histogram_read(const marty_histogram *histogram, uint64_t *cumulative_counts,
                         size_t capacity, uint64_t *count, double *sum);

/* The number of finite bucket bounds of the histogram into *out. Statuses: MARTY_OK;
 * MARTY_ERR_NULL_ARGUMENT (histogram, out); MARTY_ERR_NOT_FOUND (the series is gone). */
int marty_histogram_bucket_count(const marty_histogram *histogram, size_t *out);

/* ---- Exposition -------------------------------------------------------------------------- */

enum marty_format {
    MARTY_FORMAT_TEXT = 0,        /* Prometheus text format 0.0.4 */
    MARTY_FORMAT_OPENMETRICS = 1, /* OpenMetrics 1.0 text */
    MARTY_FORMAT_PROTOBUF = 2     /* delimited io.prometheus.client.MetricFamily messages (binary) */
};

/*
 * Renders every family of the registry, sorted by the family's name as created (a counter
 * without its _total) and then by label values, into a new
 * NUL-terminated buffer (*out, freed with marty_free) of *length bytes (without the NUL).
 * `length` may be NULL. The buffer belongs to the caller. Safe concurrently with any call on
 * the registry's families. MARTY_FORMAT_PROTOBUF is binary and holds NUL bytes: read *length
 * bytes (length must not be NULL for it). Statuses: MARTY_OK; MARTY_ERR_NULL_ARGUMENT
 * (registry, out; length for MARTY_FORMAT_PROTOBUF); MARTY_ERR_INVALID_ARGUMENT (format not a
 * marty_format).
 */
int marty_registry_render(marty_registry *registry, int format, char **out, size_t *length);

/* How names outside the legacy character set are written (the `escaping` parameter that
 * Prometheus 3 sends in Accept; https://prometheus.io/docs/instrumenting/escaping_schemes/).
 * Legacy names are written as they are in every scheme. */
enum marty_escaping {
    MARTY_ESCAPING_UNDERSCORES = 0, /* each character outside the set becomes "_" (the default) */
    MARTY_ESCAPING_ALLOW_UTF8 = 1,  /* as they are; the text formats quote them: {"a.b","c.d"="v"} */
    MARTY_ESCAPING_DOTS = 2,        /* "." becomes "_dot_", "_" "__", any other outside the set "__" */
    MARTY_ESCAPING_VALUES = 3       /* "U__" first, "_" becomes "__", others _<hex code point>_ */
};

/*
 * marty_registry_render with the names written as `escaping` (a marty_escaping) says;
 * marty_registry_render is this with MARTY_ESCAPING_UNDERSCORES. Statuses: those of
 * marty_registry_render; MARTY_ERR_INVALID_ARGUMENT also for an escaping not a marty_escaping.
 */
int marty_registry_render_escaped(marty_registry *registry, int format, int escaping, char **out,
                                  size_t *length);

/*
 * Whether renderings of the registry show when each counter and histogram series was created
 * (or reset): `_created` samples in OpenMetrics and `created_timestamp` in protobuf; text 0.0.4
 * never shows them. On (1) by default, as in prometheus_client; 0 turns them off. Any thread,
 * any time; a render already running keeps the setting it began with. Statuses: MARTY_OK;
 * MARTY_ERR_NULL_ARGUMENT (registry).
 */
int marty_registry_set_created_timestamps(marty_registry *registry, int enabled);

/* How a registry's renderings spell numbers and order what they write (since 0.3). */
enum marty_style {
    /* Families sorted by name (collectors' families after them), series by label values; whole
     * numbers without a fraction ("3"); a histogram's _sum before its _count. The default. */
    MARTY_STYLE_NATIVE = 0,
    /* What prometheus_client writes, for services moving from it: families and collectors in
     * the order they were registered or added, series in the order they were created, numbers
     * as Python spells them ("3.0", "0.05", "1e+06"), _count before _sum, and text 0.0.4
     * showing _created as gauge families of their own (when created timestamps are shown). */
    MARTY_STYLE_PROMETHEUS_CLIENT = 1
};

/* Sets the registry's style (a marty_style). Any thread, any time; a render already running
 * keeps the style it began with. Statuses: MARTY_OK; MARTY_ERR_NULL_ARGUMENT;
 * MARTY_ERR_INVALID_ARGUMENT (not a marty_style). */
int marty_registry_set_style(marty_registry *registry, int style);

/* ---- Collectors: families made at render time (since 0.3) -------------------------------- */
/*
 * A collector is a callback that a registry calls at every rendering (marty_registry_render*
 * and every scrape of an endpoint serving the registry) to add families whose values live
 * elsewhere: client_golang's const metrics, prometheus_client's custom collectors. They are
 * written after the registry's own families, in the order the collectors were added and the
 * callback added them, each in every format: OpenMetrics as given; text 0.0.4 as
 * prometheus_client writes it (a counter's and an info's metadata names with _total/_info;
 * info and stateset as gauges, gaugehistogram as histogram, unknown as untyped; samples named
 * <name>_created, _gcount or _gsum moved into gauge families of their own after it; sample
 * timestamps in whole milliseconds; no exemplars); protobuf with the samples grouped into
 * metrics by their labels (without "le" or "quantile").
 */
typedef struct marty_collector marty_collector;
/* What a callback adds families to; valid only during that call, on that thread. */
typedef struct marty_collection marty_collection;

/* The kind of a collected family (OpenMetrics' types). */
enum marty_collected_type {
    MARTY_COLLECTED_UNKNOWN = 0,
    MARTY_COLLECTED_COUNTER = 1,
    MARTY_COLLECTED_GAUGE = 2,
    MARTY_COLLECTED_HISTOGRAM = 3,
    MARTY_COLLECTED_SUMMARY = 4,
    MARTY_COLLECTED_INFO = 5,
    MARTY_COLLECTED_STATESET = 6,
    MARTY_COLLECTED_GAUGE_HISTOGRAM = 7
};

/*
 * Called on the rendering thread (an endpoint's, or the caller of marty_registry_render*), with
 * no lock of the library held: it may call any marty_* function except removing another
 * collector of the same registry that is rendering on this thread. Several renders may call
 * one callback at once, on different threads. A callback that never returns blocks that render.
 */
typedef void (*marty_collect_callback)(void *user_data, marty_collection *collection);

/*
 * Adds a collector to the registry; *out identifies it for marty_registry_remove_collector.
 * `user_data` is passed to every call and must stay valid until the collector is removed
 * (marty_registry_remove_collector, or marty_registry_free of a registry made by
 * marty_registry_new, which removes every collector). Statuses: MARTY_OK;
 * MARTY_ERR_NULL_ARGUMENT (registry, callback, out).
 */
int marty_registry_add_collector(marty_registry *registry, marty_collect_callback callback, void *user_data,
                                 marty_collector **out);

/*
 * Removes a collector and waits for its calls in progress on other threads (a call from inside
 * its own callback does not wait for itself; in a child of fork(), calls its parent's threads
 * had in progress are not waited for): once this returns, the callback is never called again
 * and `user_data` may be freed. `collector` is invalid afterwards. Statuses: MARTY_OK;
 * MARTY_ERR_NULL_ARGUMENT; MARTY_ERR_NOT_FOUND (not a collector of this registry, or removed).
 */
int marty_registry_remove_collector(marty_registry *registry, marty_collector *collector);

/*
 * Starts a family in the collection; the samples added next belong to it. `type` is a
 * marty_collected_type; `unit` (OpenMetrics' # UNIT) may be NULL or "" for none; `name` is the
 * family's name, a counter's without _total (prometheus_client's Metric.name). Statuses:
 * MARTY_OK; MARTY_ERR_NULL_ARGUMENT (collection, name, help); MARTY_ERR_INVALID_UTF8;
 * MARTY_ERR_INVALID_NAME (name empty, or a space or line break in the unit);
 * MARTY_ERR_INVALID_ARGUMENT (type).
 */
int marty_collection_add_family(marty_collection *collection, const char *name, const char *help, int type,
                                const char *unit);

/*
 * Adds a sample to the family started last: its full name (requests_total, latency_bucket), its
 * labels (`label_names` and `label_values` may be NULL when label_count is 0), its value and its
 * timestamp in seconds since the epoch (NaN for none). Statuses: MARTY_OK;
 * MARTY_ERR_NULL_ARGUMENT (collection, name, the arrays with a count > 0, or an element);
 * MARTY_ERR_INVALID_UTF8; MARTY_ERR_INVALID_NAME (name or a label name empty);
 * MARTY_ERR_INVALID_ARGUMENT (no family started yet; label_count over 64).
 */
int marty_collection_add_sample(marty_collection *collection, const char *name, const char *const *label_names,
                                const char *const *label_values, size_t label_count, double value,
                                double timestamp);

/*
 * Gives the sample added last an exemplar (written in OpenMetrics and protobuf only):
 * labels as for marty_collection_add_sample, a value, and a timestamp in seconds (NaN for
 * none). Statuses: those of marty_collection_add_sample; MARTY_ERR_INVALID_ARGUMENT also when
 * no sample was added yet; MARTY_ERR_INVALID_LABEL (a label name outside [a-zA-Z_][a-zA-Z0-9_]*,
 * or the labels over the 128 UTF-8 characters OpenMetrics allows).
 */
int marty_collection_set_exemplar(marty_collection *collection, const char *const *label_names,
                                  const char *const *label_values, size_t label_count, double value,
                                  double timestamp);

/* ---- The Marty catalog ---------------------------------------------------------------------- */

/* The catalog of Marty metrics for one service (see README: marty_grpc_requests_total,
 * marty_grpc_request_duration_seconds, marty_grpc_errors_total, marty_grpc_active_connections,
 * marty_service_health_status, marty_last_successful_operation_timestamp,
 * marty_service_cpu_usage_percent, marty_service_memory_usage_bytes,
 * marty_database_connections_active, marty_service_info) plus the process_* metrics. */
typedef struct marty_service_metrics marty_service_metrics;

/*
 * Registers the catalog for `service` in `registry` (NULL: the default registry) on the first
 * call, with `version` (NULL: "unknown") in marty_service_info; later calls for the same
 * service and registry return the same handle. The handle lives as long as the process and
 * keeps its registry alive (see marty_registry_free).
 * `version` is used by the first call only. The handle is never freed by the caller.
 * Statuses: MARTY_OK; MARTY_ERR_NULL_ARGUMENT (service, out); MARTY_ERR_INVALID_UTF8 (service,
 * version); MARTY_ERR_INVALID_ARGUMENT (service ""); MARTY_ERR_CONFLICT (a catalog name is
 * registered with another type or labels).
 */
int marty_service_metrics_register(marty_registry *registry, const char *service,
                                   const char *version, marty_service_metrics **out);

/*
 * Records one finished gRPC call: marty_grpc_requests_total{method, status} (status is the
 * gRPC status code name: "OK", "NOT_FOUND", ...), the duration (seconds; negative: not
 * recorded; NaN or infinite: MARTY_ERR_INVALID_ARGUMENT and nothing is recorded), and
 * marty_grpc_errors_total{method, error_type} unless error_type is NULL. Statuses: MARTY_OK;
 * MARTY_ERR_NULL_ARGUMENT (metrics, method, status); MARTY_ERR_INVALID_ARGUMENT (duration);
 * MARTY_ERR_INVALID_UTF8 (method, status, error_type: checked when their series is created).
 */
int marty_service_record_call(marty_service_metrics *metrics, const char *method,
                              const char *status, double duration_seconds,
                              const char *error_type);

/*
 * marty_service_record_call for a call that may carry W3C trace context: `traceparent` is the
 * call's `traceparent` header (metadata) value, or NULL. When it is a valid Trace Context
 * value ("00-<32 hex trace id>-<16 hex span id>-<2 hex flags>"), the request count and the
 * duration's bucket get the exemplar {trace_id, span_id} (see the exemplar functions); an
 * invalid value is ignored, as the W3C spec says, and the call is recorded without one. Only
 * the first 512 bytes of traceparent are read. Statuses as marty_service_record_call.
 */
int marty_service_record_traced_call(marty_service_metrics *metrics, const char *method, const char *status,
                                     double duration_seconds, const char *error_type, const char *traceparent);

/* Sets marty_last_successful_operation_timestamp{operation} to now. Statuses: MARTY_OK;
 * MARTY_ERR_NULL_ARGUMENT (metrics, operation); MARTY_ERR_INVALID_UTF8 (operation). */
int marty_service_record_successful_operation(marty_service_metrics *metrics,
                                              const char *operation);

/* marty_grpc_active_connections + 1 / - 1: a call (or connection) began / ended.
 * Statuses: MARTY_OK; MARTY_ERR_NULL_ARGUMENT. */
int marty_service_call_started(marty_service_metrics *metrics);
int marty_service_call_finished(marty_service_metrics *metrics);

/* Sets marty_database_connections_active{database} (database NULL: "default"). A count that
 * is NaN, infinite or negative is MARTY_ERR_INVALID_ARGUMENT. Statuses: MARTY_OK;
 * MARTY_ERR_NULL_ARGUMENT (metrics); MARTY_ERR_INVALID_UTF8 (database);
 * MARTY_ERR_INVALID_ARGUMENT. */
int marty_service_set_database_connections(marty_service_metrics *metrics, const char *database,
                                           double count);

/*
 * The seed's port table (added in 0.2): the name of the index-th Marty service (0, 1, ...),
 * or NULL past the last one. The string is the library's and lives as long as the process;
 * do not free it.
 */
const char *marty_service_name(size_t index);

/*
 * The seed's ports of `service` (gRPC base, health = base + 1, metrics = base + 1000): the
 * ones MARTY_PORT_DEFAULT stands for in marty_endpoint_start. Each out pointer may be NULL
 * (that port is not wanted); on failure none is written. Statuses: MARTY_OK;
 * MARTY_ERR_NULL_ARGUMENT (service); MARTY_ERR_INVALID_UTF8 (service); MARTY_ERR_NOT_FOUND
 * (a service outside the table).
 */
int marty_service_ports(const char *service, int *grpc_port, int *health_port, int *metrics_port);

/* ---- Health checks ------------------------------------------------------------------------ */

/* Which probes a check counts for. */
enum marty_probe {
    MARTY_PROBE_BOTH = 0,     /* liveness and readiness */
    MARTY_PROBE_LIVENESS = 1, /* /health/live only */
    MARTY_PROBE_READINESS = 2 /* /health/ready only */
};

/*
 * Sets a named check of the process's health registry (what /health, /health/live and
 * /health/ready report). `healthy`: 0 unhealthy, any other value healthy; `message` may be
 * NULL. Replaces any check of that name (a callback check's callback is then never called
 * again, as for marty_health_remove). With
 * `time_to_live_seconds` > 0 the check fails once that long passes without another set
 * (measured on CLOCK_MONOTONIC); 0 means it never goes stale; negative, NaN, infinite or over
 * 1e9 is MARTY_ERR_INVALID_ARGUMENT. Statuses: MARTY_OK; MARTY_ERR_NULL_ARGUMENT (name);
 * MARTY_ERR_INVALID_UTF8 (name, message); MARTY_ERR_INVALID_NAME (name "");
 * MARTY_ERR_INVALID_ARGUMENT (probe not a marty_probe, time_to_live_seconds).
 */
int marty_health_set(const char *name, int healthy, const char *message, int probe,
                     double time_to_live_seconds);

/*
 * A check answered at probe time: returns non-zero when healthy, and may write a
 * NUL-terminated message of at most `message_capacity` bytes (including the NUL) into
 * `message`. It runs on one of the library's health worker threads (at most 4, created at
 * the first run, never at load), never on the caller's and never on a thread that renders
 * /metrics.
 */
typedef int (*marty_health_callback)(void *user_data, char *message, size_t message_capacity);

/*
 * Registers a callback check (replacing any check of that name). A check has at most one run
 * in flight: probes that arrive during a run (liveness and readiness at the same moment)
 * share it and get its answer. A run must answer within `timeout_seconds` (> 0, at most 1e9;
 * NaN, infinite or out of range is MARTY_ERR_INVALID_ARGUMENT) of its start or the check
 * fails ("timed out"); while a run past its limit is still going (a hung callback holds one
 * worker), probes fail at once and no new run starts. Only the probes the check counts for
 * run it: /health/live never waits for a MARTY_PROBE_READINESS check. /metrics never runs
 * callbacks: marty_service_health_status shows each callback check's last completed answer,
 * and a scrape that finds it older than 5 s starts a new run in the background (seen by the
 * next scrape). Time limits are measured on CLOCK_MONOTONIC. After fork() the child forgets
 * runs in flight and starts new workers when needed. `user_data` is passed back as is and
 * must stay valid until the check is removed or replaced; the callback may be called from
 * any of the workers, but never twice at once for one registration. Replacing a callback
 * check waits for its run in progress, as marty_health_remove does. Statuses: MARTY_OK;
 * MARTY_ERR_NULL_ARGUMENT (callback, name); MARTY_ERR_INVALID_UTF8 (name);
 * MARTY_ERR_INVALID_NAME (name ""); MARTY_ERR_INVALID_ARGUMENT (probe, timeout_seconds).
 */
int marty_health_register_callback(const char *name, marty_health_callback callback,
                                   void *user_data, int probe, double timeout_seconds);

/*
 * Removes a check; MARTY_ERR_NOT_FOUND if there is none by that name. Once it returns the
 * callback is never called again: a run in progress is waited for (so a callback that never
 * returns makes this wait too), except when the callback itself calls it. Statuses: MARTY_OK;
 * MARTY_ERR_NULL_ARGUMENT; MARTY_ERR_INVALID_UTF8; MARTY_ERR_NOT_FOUND.
 */
int marty_health_remove(const char *name);

/*
 * Evaluates every check now, running the callback checks (or joining their runs in flight)
 * and waiting for them at most their time limits; then fills the outs (each may be NULL).
 * Do not call it from inside a health callback (it would wait for its own run).
 * Statuses: MARTY_OK only.
 */
int marty_health_status(int *healthy, int *live, int *ready);

/* ---- The embedded HTTP endpoint ------------------------------------------------------------ */

typedef struct marty_endpoint marty_endpoint;

/* Take the port from the environment (MARTY_METRICS_PORT / MARTY_HEALTH_PORT), else from the
 * Marty port table for the service. */
#define MARTY_PORT_DEFAULT (-1)

/* Options of marty_endpoint_start. Fill with marty_endpoint_options_init, then set fields. */
typedef struct marty_endpoint_options {
    size_t struct_size;           /* set by marty_endpoint_options_init */
    const char *service;          /* required: the service label and the port table's key */
    const char *bind_address;     /* NULL: MARTY_METRICS_BIND, else "0.0.0.0" */
    int metrics_port;             /* MARTY_PORT_DEFAULT, 0 (ephemeral) or a port */
    int health_port;              /* MARTY_PORT_DEFAULT, 0 (ephemeral) or a port */
    int separate_health_listener; /* 1 (default): health probes on their own port too */
    marty_registry *registry;     /* NULL: the default registry */
    double idle_timeout_seconds;  /* quiet connections are closed after this; 0: 10 s */
    int max_connections;          /* per listener; 0: 256 (see below: the oldest is evicted) */
    /* Fields added in 0.2 (a struct_size of an older header leaves them at their defaults). */
    double request_head_timeout_seconds; /* a request must be read in full within this; 0: 10 s */
    double shutdown_grace_seconds;       /* marty_endpoint_stop lets responses finish this long; 0: 2 s */
    /* Fields added in 0.3. */
    const char *web_config_file; /* NULL: MARTY_METRICS_WEB_CONFIG; "": none; else a web-config file (below) */
    int health_uses_web_config;  /* 0: MARTY_HEALTH_USE_WEB_CONFIG, else plain HTTP; 1: TLS too; -1: plain */
} marty_endpoint_options;

/*
 * Fills the first `size` bytes of `options` with the defaults (service NULL, ports
 * MARTY_PORT_DEFAULT, ...) and sets struct_size to `size` (at most the library's own size):
 * a caller compiled against an older header passes its smaller sizeof and the library writes
 * and reads only the fields that header has. Call it through the macro below.
 * After it, struct_size < sizeof *options tells a caller that the loaded library is older
 * than its header and ignores the fields past struct_size. Statuses: MARTY_OK;
 * MARTY_ERR_NULL_ARGUMENT; MARTY_ERR_INVALID_ARGUMENT (a size smaller than the 0.1 struct,
 * i.e. offsetof(marty_endpoint_options, request_head_timeout_seconds); nothing written).
 */
int marty_endpoint_options_init_sized(marty_endpoint_options *options, size_t size);

/*
 * The 0.1 entry point, for programs built against a 0.1 header: fills only the fields that
 * header had (up to max_connections) and sets struct_size to match. NULL is a no-op. New code
 * calls it through the macro, which passes sizeof *options to marty_endpoint_options_init_sized.
 */
void marty_endpoint_options_init(marty_endpoint_options *options);
#define marty_endpoint_options_init(options) \
    ((void)marty_endpoint_options_init_sized((options), sizeof *(options)))

/*
 * Starts the endpoint on threads of its own and returns at once: GET/HEAD /metrics (text
 * 0.0.4, or OpenMetrics 1.0 when Accept ranks it first; gzip when Accept-Encoding allows),
 * /health, /health/live, /health/ready on the metrics port, and the health paths on the
 * health port. A taken port is MARTY_ERR_ADDRESS_IN_USE with a message naming the port and
 * the Marty service the table gives it to. With MARTY_METRICS_ENABLED=false nothing listens,
 * the call succeeds and the ports read 0. Free the endpoint with marty_endpoint_free.
 *
 * Time options (idle, request head, shutdown grace) that are NaN, infinite, negative or over
 * 1e9 s are MARTY_ERR_INVALID_ARGUMENT (0 means the default). Against hostile clients: a
 * request (head and body) must be read within request_head_timeout_seconds of its first byte
 * however slowly it trickles (else 408 and close); a listener with max_connections open
 * evicts the oldest connection that is not being answered (still sending its request, or
 * idle) rather than refusing the new one, so probes and scrapes get through while hundreds
 * of trickling connections are open; only when every connection is being answered is a new
 * one refused (503). Concurrent scrapes of the same format and encoding share one render;
 * at most two renders run at once.
 *
 * TLS and basic auth (0.3): web_config_file names a YAML file in the format of Prometheus'
 * exporters (exporter-toolkit's web config): tls_server_config (cert_file, key_file or inline
 * cert/key; client_ca_file or client_ca; client_auth_type NoClientCert, RequestClientCert,
 * RequireAnyClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert; min_version and
 * max_version TLS10..TLS13, default TLS12..TLS13; cipher_suites and curve_preferences by Go's
 * names; client_allowed_sans), basic_auth_users (user: bcrypt hash $2a$/$2b$/$2y$, checked
 * with libxcrypt) and http_server_config.headers (those exporter-toolkit allows). Relative
 * paths are relative to the file's directory; unknown keys are refused. The file and the
 * certificate, key and CA files are read at start (any problem fails the start with
 * MARTY_ERR_INVALID_ARGUMENT and a message naming it) and again by the first connection after
 * one of them changes; a change that does not load keeps the previous configuration and is
 * reported once through the warning handler. With TLS, the metrics port speaks TLS only
 * (plain HTTP gets a 400 and is closed); the health port stays plain HTTP unless
 * health_uses_web_config says otherwise. Basic auth guards /metrics: a request without the
 * right credentials gets 401 with a Basic challenge and nothing is rendered; the health paths
 * answer without credentials (kubelet probes carry none). bcrypt runs on a thread of its own,
 * and results are cached, so a scraper pays for one hash.
 *
 * options->struct_size: any size from the 0.1 struct (up to max_connections) to the library's
 * own sizeof(marty_endpoint_options); only the fields that lie wholly within it are read, the
 * others get their defaults. Smaller, or larger than the library's (a newer header's struct
 * whose fields this library would ignore: marty_endpoint_options_init_sized never sets such a
 * size), is MARTY_ERR_INVALID_ARGUMENT. The options and their strings are copied; the registry
 * (NULL: the default) is kept alive by the endpoint. *out is owned by the caller: free it with
 * marty_endpoint_free. Statuses: MARTY_OK; MARTY_ERR_NULL_ARGUMENT (options, out, service);
 * MARTY_ERR_INVALID_UTF8 (service, bind_address, web_config_file); MARTY_ERR_INVALID_ARGUMENT
 * (struct_size, service "" or not in the port table without a port, ports, times,
 * max_connections < 0, a MARTY_METRICS_PORT/MARTY_HEALTH_PORT that is no port, a web config
 * that cannot be used, health_uses_web_config not -1, 0 or 1); MARTY_ERR_CONFLICT
 * (marty_service_health_status registered as another kind); MARTY_ERR_ADDRESS_IN_USE;
 * MARTY_ERR_SYSTEM.
 */
int marty_endpoint_start(const marty_endpoint_options *options, marty_endpoint **out);

/* The bound metrics port (0 when disabled) into *out.
 * Statuses: MARTY_OK; MARTY_ERR_NULL_ARGUMENT. */
int marty_endpoint_metrics_port(const marty_endpoint *endpoint, int *out);

/* The bound health port into *out; 0 when the metrics listener serves the health paths alone.
 * Statuses: MARTY_OK; MARTY_ERR_NULL_ARGUMENT. */
int marty_endpoint_health_port(const marty_endpoint *endpoint, int *out);

/*
 * Stops gracefully: readiness fails first, the listeners close, in-flight responses finish,
 * the threads end and the ports are free. Idempotent and safe from any thread; in a child
 * made by fork() it returns at once (the child closes its inherited sockets at fork).
 * Recording keeps working after the endpoint stops. A call made while another thread's stop of
 * the same endpoint is under way returns at once, before that stop has finished. The handle
 * stays valid (free it with marty_endpoint_free). Statuses: MARTY_OK; MARTY_ERR_NULL_ARGUMENT.
 */
int marty_endpoint_stop(marty_endpoint *endpoint);

/* Stops the endpoint if it runs (as marty_endpoint_stop) and frees the handle, which must not be
 * passed again nor be in use by another thread during the call. Statuses: MARTY_OK;
 * MARTY_ERR_NULL_ARGUMENT. */
int marty_endpoint_free(marty_endpoint *endpoint);

#ifdef __cplusplus
}
#endif

#endif /* MARTY_METRICS_H */
