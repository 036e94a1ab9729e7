/* libFuzzer target: the C interface's name, label and value inputs.
 *
 * Built by CMake with -fsanitize=fuzzer,address,undefined against the instrumented library
 * (MARTY_SANITIZE, target fuzz_c_api); run by Tests/fuzz/run.sh.
 *
 * The input is a little program: each step takes one operation byte, then the bytes it needs
 * (strings are up to 32 bytes, ended by a 0 byte or by the input's end, so they may hold any
 * byte: invalid UTF-8, quotes, backslashes, newlines). On a fresh registry per input it
 * creates families (counter, gauge, histogram, native histogram with fuzzed options, summary,
 * info) with fuzzed names, help and label names, looks series up with fuzzed values and counts
 * (wrong counts included), records fuzzed doubles, removes and clears, registers/unregisters,
 * names units, sets created timestamps, switches the style, adds and removes collectors of
 * fuzzed families, and renders in the three formats. An input whose first byte is 0xA5 runs in
 * the default registry with the multiprocess segment made (1 MiB, once per fuzzing process):
 * its families (of a few fixed names, with fuzzed label names, help and gauge modes, an invalid
 * mode too) go into the segment, and renders go through the view of the segment, which keeps
 * every family and series earlier inputs made there until the segment is full (MARTY_ERR_FULL
 * then).
 *
 * Besides not crashing (ASan/UBSan abort, and libFuzzer keeps the input), it checks:
 *   - every call returns MARTY_OK or a documented MARTY_ERR_* status, with a message;
 *   - every text exposition is valid UTF-8, made of whole lines, each a comment (# HELP / # TYPE /
 *     # UNIT / # EOF) or a sample `name{label="value",...} number` whose label values use only
 *     the \\ \" \n escapes; OpenMetrics ends with "# EOF\n" exactly once;
 *   - protobuf is delimited MetricFamily messages covering the output exactly, their fields and
 *     their metrics' fields each whole, of known wire types.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "marty_metrics.h"

#define MAX_FAMILIES 8
#define MAX_LABELS 4
#define MAX_STRING 32

typedef struct {
    const uint8_t *data;
    size_t size;
} input;

static uint8_t take_byte(input *in) {
    if (in->size == 0) return 0;
    uint8_t b = in->data[0];
    in->data++;
    in->size--;
    return b;
}

/* A NUL-terminated string of up to MAX_STRING bytes, into `out` (MAX_STRING + 1 bytes). */
static void take_string(input *in, char *out) {
    size_t n = 0;
    while (in->size > 0 && n < MAX_STRING) {
        uint8_t b = take_byte(in);
        if (b == 0) break;
        out[n++] = (char)b;
    }
    out[n] = 0;
}

static double take_double(input *in) {
    static const double specials[] = {0.0, -0.0, 1.0, -1.0, 0.5, 1e300, -1e300, 4e-320,
                                      INFINITY, -INFINITY, NAN, 18446744073709551616.0,
                                      9007199254740993.0, 0.1, 2.5, 1e-9};
    uint8_t selector = take_byte(in);
    if (selector < 128) return specials[selector % (sizeof specials / sizeof specials[0])];
    uint64_t bits = 0;
    for (int i = 0; i < 8; i++) bits = (bits << 8) | take_byte(in);
    double value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

static void fail(const char *what, const char *detail) {
    fprintf(stderr, "fuzz_c_api: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

static void check_status(int status, const char *call) {
    if (status < MARTY_OK || status > MARTY_ERR_FULL) fail("undocumented status from", call);
    if (status != MARTY_OK) {
        const char *message = marty_errmsg();
        if (message == NULL || message[0] == 0) fail("failed call without a message", call);
        if (marty_status_string(status) == NULL) fail("no status string", call);
    }
}

/* ---- Exposition checks ------------------------------------------------------------------- */

static int valid_utf8(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) { i++; continue; }
        if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
        else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
        else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
        else return 0;
        if (i + len > n) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

static int name_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
static int name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }

/* A sample value or timestamp token: a number, or +Inf/-Inf/NaN. */
static int number_token(const char *s, size_t n) {
    if (n == 0) return 0;
    if ((n == 4 && (!memcmp(s, "+Inf", 4) || !memcmp(s, "-Inf", 4))) || (n == 3 && !memcmp(s, "NaN", 3)))
        return 1;
    char buffer[64];
    if (n >= sizeof buffer) return 0;
    memcpy(buffer, s, n);
    buffer[n] = 0;
    char *end = NULL;
    (void)strtod(buffer, &end);
    return end == buffer + n;
}

/* One line (without its newline); returns a description of what is wrong, or NULL. */
static const char *check_line(const char *line, size_t n, int openmetrics) {
    if (n == 0) return "empty line";
    if (line[0] == '#') {
        if (n >= 7 && (!memcmp(line, "# HELP ", 7) || !memcmp(line, "# TYPE ", 7) || !memcmp(line, "# UNIT ", 7)))
            return NULL;
        if (n == 5 && !memcmp(line, "# EOF", 5)) return openmetrics ? NULL : "# EOF in text 0.0.4";
        return "unknown comment line";
    }
    size_t i = 0;
    if (!name_start(line[i])) return "sample does not start with a metric name";
    while (i < n && name_char(line[i])) i++;
    if (i < n && line[i] == '{') {
        i++;
        while (i < n && line[i] != '}') {
            if (!name_start(line[i])) return "bad label name";
            while (i < n && name_char(line[i])) i++;
            if (i + 1 >= n || line[i] != '=' || line[i + 1] != '"') return "label without =\"";
            i += 2;
            while (i < n && line[i] != '"') {
                if (line[i] == '\\') {
                    if (i + 1 >= n) return "dangling backslash";
                    char e = line[i + 1];
                    if (e != '\\' && e != '"' && e != 'n') return "bad escape in a label value";
                    i += 2;
                } else {
                    i++;
                }
            }
            if (i >= n) return "unterminated label value";
            i++; /* closing quote */
            if (i < n && line[i] == ',') i++;
        }
        if (i >= n) return "unterminated label set";
        i++; /* } */
    }
    if (i >= n || line[i] != ' ') return "no space before the value";
    i++;
    size_t start = i;
    while (i < n && line[i] != ' ') i++;
    if (!number_token(line + start, i - start)) return "value is not a number";
    return NULL;
}

static void check_exposition(const char *text, size_t length, int openmetrics) {
    if (!valid_utf8((const unsigned char *)text, length)) fail("exposition is not valid UTF-8", NULL);
    if (memchr(text, 0, length) != NULL) fail("exposition contains a NUL byte", NULL);
    if (length > 0 && text[length - 1] != '\n') fail("exposition does not end with a newline", NULL);
    size_t eof_count = 0;
    size_t position = 0;
    while (position < length) {
        const char *line = text + position;
        const char *newline = memchr(line, '\n', length - position);
        size_t n = (size_t)(newline - line);
        const char *problem = check_line(line, n, openmetrics);
        if (problem) {
            char shown[160];
            snprintf(shown, sizeof shown, "%.*s", (int)(n < 120 ? n : 120), line);
            fprintf(stderr, "fuzz_c_api: bad %s line: %s\n", openmetrics ? "OpenMetrics" : "text", shown);
            fail(problem, NULL);
        }
        if (n == 5 && !memcmp(line, "# EOF", 5)) eof_count++;
        position += n + 1;
    }
    if (openmetrics) {
        if (eof_count != 1 || length < 6 || memcmp(text + length - 6, "# EOF\n", 6) != 0)
            fail("OpenMetrics exposition does not end with exactly one # EOF", NULL);
    }
}

/* ---- Protobuf checks ------------------------------------------------------------------------ */

static int read_varint(const unsigned char *s, size_t n, size_t *position, uint64_t *value) {
    *value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*position >= n) return 0;
        unsigned char byte = s[(*position)++];
        *value |= (uint64_t)(byte & 0x7F) << shift;
        if ((byte & 0x80) == 0) return 1;
    }
    return 0;
}

/* The fields of one message, each whole within it; `nested` names the field whose contents
 * are messages too (a family's metrics), or 0. */
static const char *check_message(const unsigned char *s, size_t n, uint64_t nested) {
    size_t position = 0;
    while (position < n) {
        uint64_t tag = 0, length = 0, ignored = 0;
        if (!read_varint(s, n, &position, &tag)) return "truncated tag";
        if ((tag >> 3) == 0) return "field number 0";
        switch (tag & 7) {
        case 0:
            if (!read_varint(s, n, &position, &ignored)) return "truncated varint";
            break;
        case 1:
            if (n - position < 8) return "truncated fixed64";
            position += 8;
            break;
        case 2: {
            if (!read_varint(s, n, &position, &length) || length > n - position) return "length past the message";
            if (nested != 0 && (tag >> 3) == nested) {
                const char *problem = check_message(s + position, (size_t)length, 0);
                if (problem) return problem;
            }
            position += (size_t)length;
            break;
        }
        case 5:
            if (n - position < 4) return "truncated fixed32";
            position += 4;
            break;
        default:
            return "unknown wire type";
        }
    }
    return NULL;
}

/* Delimited MetricFamily messages that cover the output exactly. */
static void check_protobuf(const unsigned char *s, size_t n) {
    size_t position = 0;
    while (position < n) {
        uint64_t length = 0;
        if (!read_varint(s, n, &position, &length) || length > n - position) {
            fail("protobuf: a family's length runs past the output", NULL);
        }
        const char *problem = check_message(s + position, (size_t)length, 4);
        if (problem) fail("protobuf", problem);
        position += (size_t)length;
    }
}

static void render(marty_registry *registry, int format) {
    char *text = NULL;
    size_t length = 0;
    int status = marty_registry_render(registry, format, &text, &length);
    check_status(status, "marty_registry_render");
    if (status != MARTY_OK) fail("render failed", marty_errmsg());
    if (text == NULL) fail("render gave NULL", NULL);
    if (format == MARTY_FORMAT_PROTOBUF) {
        check_protobuf((const unsigned char *)text, length);
    } else {
        check_exposition(text, length, format == MARTY_FORMAT_OPENMETRICS);
    }
    marty_free(text);
}

/* ---- The program -------------------------------------------------------------------------- */

typedef struct {
    marty_family *family;
    int kind;
    size_t label_count;
} family_slot;

/* What a collector added by the program writes at every render: one family of one sample,
 * every string fuzzed. */
typedef struct {
    char name[MAX_STRING + 1], help[MAX_STRING + 1], unit[MAX_STRING + 1];
    char sample[MAX_STRING + 1], label_name[MAX_STRING + 1], label_value[MAX_STRING + 1];
    int type;
    double value, timestamp;
    int with_exemplar;
} collected_family;

static void collect(void *user_data, marty_collection *collection) {
    const collected_family *family = user_data;
    const char *names[] = {family->label_name};
    const char *values[] = {family->label_value};
    check_status(marty_collection_add_family(collection, family->name, family->help, family->type, family->unit),
                 "marty_collection_add_family");
    check_status(marty_collection_add_sample(collection, family->sample, names, values, 1, family->value,
                                             family->timestamp),
                 "marty_collection_add_sample");
    if (family->with_exemplar)
        check_status(marty_collection_set_exemplar(collection, names, values, 1, family->value, family->timestamp),
                     "marty_collection_set_exemplar");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    input in = {data, size};
    marty_registry *registry = NULL;
    int shared = size > 0 && data[0] == 0xA5;
    if (shared) {
        static int segment_made;
        if (!segment_made) {
            check_status(marty_multiprocess_enable(1 << 20), "marty_multiprocess_enable");
            segment_made = 1;
        }
        take_byte(&in);
        registry = marty_registry_default();
    } else if (marty_registry_new(&registry) != MARTY_OK) {
        fail("marty_registry_new", marty_errmsg());
    }

    family_slot families[MAX_FAMILIES];
    size_t family_count = 0;
    collected_family collected[2];
    marty_collector *collectors[2] = {NULL, NULL};
    size_t collector_count = 0;
    char strings[MAX_LABELS + 2][MAX_STRING + 1];
    const char *pointers[MAX_LABELS + 1];
    int steps = 0;

    while (in.size > 0 && steps++ < 64) {
        uint8_t op = take_byte(&in);
        family_slot *slot = family_count ? &families[take_byte(&in) % family_count] : NULL;
        switch (op % 11) {
        case 0: /* create a family */
        case 1: {
            if (family_count == MAX_FAMILIES) break;
            int kind = take_byte(&in) % 6; /* 5: a native histogram (its kind is a histogram's) */
            size_t label_count = take_byte(&in) % (MAX_LABELS + 1);
            take_string(&in, strings[0]);
            take_string(&in, strings[1]);
            for (size_t k = 0; k < label_count; k++) {
                take_string(&in, strings[k + 2]);
                pointers[k] = strings[k + 2];
            }
            const char *help = (take_byte(&in) & 7) == 0 ? NULL : strings[1];
            if (shared) {
                /* A few names only: the segment keeps every family an input makes there, and the
                 * renders of later inputs would grow with fuzzed names without end. Label names,
                 * help, modes and label values stay fuzzed (so definitions often disagree). */
                snprintf(strings[0], sizeof strings[0], "mp_%d_%d", kind, (unsigned char)strings[0][0] % 4);
            }
            marty_family *family = NULL;
            int status;
            switch (kind) {
            case MARTY_KIND_COUNTER:
                status = marty_counter_family_new(registry, strings[0], help, pointers, label_count, &family);
                break;
            case MARTY_KIND_GAUGE:
                if (shared) {
                    int mode = take_byte(&in) % 11; /* 10 is no mode */
                    status = marty_gauge_family_new_multiprocess(registry, strings[0], help, pointers, label_count,
                                                                 mode, &family);
                    if (mode == 10 && status != MARTY_ERR_INVALID_ARGUMENT) fail("mode 10 was taken", NULL);
                    break;
                }
                status = marty_gauge_family_new(registry, strings[0], help, pointers, label_count, &family);
                break;
            case MARTY_KIND_HISTOGRAM: {
                double bounds[4];
                size_t bound_count = take_byte(&in) % 5;
                for (size_t k = 0; k < bound_count; k++) bounds[k] = take_double(&in);
                status = marty_histogram_family_new(registry, strings[0], help, pointers, label_count,
                                                    bound_count ? bounds : NULL, bound_count, &family);
                break;
            }
            case MARTY_KIND_SUMMARY:
                status = marty_summary_family_new(registry, strings[0], help, pointers, label_count, &family);
                break;
            case 5: {
                marty_native_histogram_options options;
                marty_native_histogram_options_init(&options);
                uint8_t fuzzed = take_byte(&in);
                if (fuzzed & 1) options.bucket_factor = take_double(&in);
                if (fuzzed & 2) options.zero_threshold = take_double(&in);
                if (fuzzed & 4) options.max_bucket_count = (int)take_byte(&in) * 4 - 8; /* -8...1012 */
                double bounds[2] = {take_double(&in), take_double(&in)};
                size_t bound_count = take_byte(&in) % 3;
                status = marty_native_histogram_family_new(registry, strings[0], help, pointers, label_count,
                                                           bound_count ? bounds : NULL, bound_count, &options,
                                                           &family);
                kind = MARTY_KIND_HISTOGRAM;
                break;
            }
            default:
                status = marty_info_family_new(registry, strings[0], help, pointers, label_count, &family);
                break;
            }
            check_status(status, "marty_*_family_new");
            if (status == MARTY_OK) {
                if (family == NULL) fail("family_new succeeded without a family", NULL);
                int actual = -1;
                check_status(marty_family_kind(family, &actual), "marty_family_kind");
                if (actual != kind) fail("family kind differs from the one created", NULL);
                families[family_count++] = (family_slot){family, kind, label_count};
            }
            break;
        }
        case 2: /* look up (and record into) a series, with fuzzed values and count */
        case 3: {
            if (slot == NULL) break;
            size_t count = take_byte(&in) % (MAX_LABELS + 2);
            if (count > MAX_LABELS) count = slot->label_count; /* mostly the right count */
            for (size_t k = 0; k < count; k++) {
                take_string(&in, strings[k + 2]);
                pointers[k] = strings[k + 2];
            }
            double value = take_double(&in);
            int status;
            switch (slot->kind) {
            case MARTY_KIND_COUNTER: {
                marty_counter *counter = NULL;
                status = marty_counter_get(slot->family, pointers, count, &counter);
                check_status(status, "marty_counter_get");
                if (status == MARTY_OK) {
                    check_status(marty_counter_inc(counter), "marty_counter_inc");
                    check_status(marty_counter_add(counter, value), "marty_counter_add");
                    check_status(marty_counter_add_int(counter, (uint64_t)take_byte(&in) << 56), "marty_counter_add_int");
                    double read = 0;
                    check_status(marty_counter_value(counter, &read), "marty_counter_value");
                }
                break;
            }
            case MARTY_KIND_GAUGE: {
                marty_gauge *gauge = NULL;
                status = marty_gauge_get(slot->family, pointers, count, &gauge);
                check_status(status, "marty_gauge_get");
                if (status == MARTY_OK) {
                    check_status(marty_gauge_set(gauge, value), "marty_gauge_set");
                    check_status(marty_gauge_add(gauge, take_double(&in)), "marty_gauge_add");
                    check_status(marty_gauge_inc(gauge), "marty_gauge_inc");
                    check_status(marty_gauge_dec(gauge), "marty_gauge_dec");
                }
                break;
            }
            case MARTY_KIND_SUMMARY: /* its series are histograms without bounds */
            case MARTY_KIND_HISTOGRAM: {
                marty_histogram *histogram = NULL;
                status = marty_histogram_get(slot->family, pointers, count, &histogram);
                check_status(status, "marty_histogram_get");
                if (status == MARTY_OK) {
                    check_status(marty_histogram_observe(histogram, value), "marty_histogram_observe");
                    size_t buckets = 0;
                    check_status(marty_histogram_bucket_count(histogram, &buckets), "marty_histogram_bucket_count");
                    uint64_t counts[8];
                    uint64_t total_count = 0;
                    double sum = 0;
                    if (buckets + 1 <= 8) {
                        status = marty_histogram_read(histogram, counts, buckets + 1, &total_count, &sum);
                        check_status(status, "marty_histogram_read");
                        if (status == MARTY_OK && counts[buckets] != total_count)
                            fail("histogram +Inf bucket differs from its count", NULL);
                    }
                }
                break;
            }
            default:
                check_status(marty_info_set(slot->family, pointers, count), "marty_info_set");
                break;
            }
            break;
        }
        case 4: { /* remove one series */
            if (slot == NULL) break;
            size_t count = take_byte(&in) % (MAX_LABELS + 2);
            if (count > MAX_LABELS) count = slot->label_count;
            for (size_t k = 0; k < count; k++) {
                take_string(&in, strings[k + 2]);
                pointers[k] = strings[k + 2];
            }
            check_status(marty_family_remove(slot->family, pointers, count), "marty_family_remove");
            break;
        }
        case 5: /* clear */
            if (slot) check_status(marty_family_clear(slot->family), "marty_family_clear");
            break;
        case 6: /* unregister, then register again */
            if (slot) {
                check_status(marty_registry_unregister(registry, slot->family), "marty_registry_unregister");
                check_status(marty_registry_register(registry, slot->family), "marty_registry_register");
            }
            break;
        case 8: /* switch the style */
            check_status(marty_registry_set_style(registry, take_byte(&in) % 3), "marty_registry_set_style");
            break;
        case 9: /* name a unit; set a created timestamp */
            if (slot == NULL) break;
            take_string(&in, strings[0]);
            check_status(marty_family_set_unit(slot->family, strings[0]), "marty_family_set_unit");
            for (size_t k = 0; k < slot->label_count; k++) {
                take_string(&in, strings[k + 2]);
                pointers[k] = strings[k + 2];
            }
            check_status(marty_family_set_created_timestamp(slot->family, pointers, slot->label_count,
                                                            take_double(&in)),
                         "marty_family_set_created_timestamp");
            break;
        case 10: { /* add a collector of fuzzed strings, or remove the last one */
            if (collector_count == 2 || (collector_count > 0 && (take_byte(&in) & 1))) {
                collector_count--;
                check_status(marty_registry_remove_collector(registry, collectors[collector_count]),
                             "marty_registry_remove_collector");
                break;
            }
            collected_family *family = &collected[collector_count];
            take_string(&in, family->name);
            take_string(&in, family->help);
            take_string(&in, family->unit);
            take_string(&in, family->sample);
            take_string(&in, family->label_name);
            take_string(&in, family->label_value);
            family->type = take_byte(&in) % 9; /* 8 is no type */
            family->value = take_double(&in);
            family->timestamp = take_double(&in);
            family->with_exemplar = take_byte(&in) & 1;
            check_status(marty_registry_add_collector(registry, collect, family, &collectors[collector_count]),
                         "marty_registry_add_collector");
            collector_count++;
            break;
        }
        default: {
            static const int formats[] = {MARTY_FORMAT_TEXT, MARTY_FORMAT_OPENMETRICS, MARTY_FORMAT_PROTOBUF};
            render(registry, formats[take_byte(&in) % 3]);
            break;
        }
        }
    }

    render(registry, MARTY_FORMAT_TEXT);
    render(registry, MARTY_FORMAT_OPENMETRICS);
    render(registry, MARTY_FORMAT_PROTOBUF);
    if (shared) {
        /* The default registry stays: the families and collectors of this input leave it (the
         * segment keeps their definitions and series, which later inputs render). */
        for (size_t k = 0; k < family_count; k++) {
            int status = marty_registry_unregister(registry, families[k].family);
            if (status != MARTY_OK && status != MARTY_ERR_NOT_FOUND) check_status(status, "marty_registry_unregister");
        }
        while (collector_count > 0) {
            collector_count--;
            check_status(marty_registry_remove_collector(registry, collectors[collector_count]),
                         "marty_registry_remove_collector");
        }
    }
    for (size_t k = 0; k < family_count; k++) check_status(marty_family_release(families[k].family), "marty_family_release");
    /* Freeing the registry removes the collectors still added. */
    if (!shared) check_status(marty_registry_free(registry), "marty_registry_free");
    return 0;
}
