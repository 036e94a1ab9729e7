#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "cmarty_environment.h"

long cmarty_environment_count(const char *name, long fallback) {
    const char *text = getenv(name);
    if (text == NULL) return fallback;
    while (isspace((unsigned char)*text)) text++;
    if (!isdigit((unsigned char)*text)) return fallback;  // also refuses "-1" and "+1"
    char *end = NULL;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno != 0) return fallback;
    while (isspace((unsigned char)*end)) end++;
    return *end == '\0' ? value : fallback;
}

int cmarty_write_stderr(const void *bytes, long length) {
    const char *next = bytes;
    while (length > 0) {
        ssize_t written = write(STDERR_FILENO, next, (size_t)length);
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) return -1;
        next += written;
        length -= written;
    }
    return 0;
}

const char *cmarty_environment_text(const char *name) { return getenv(name); }
