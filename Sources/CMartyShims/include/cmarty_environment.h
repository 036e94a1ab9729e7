// The process' environment as the portable core (which imports no C library) needs it:
// settings from environment variables, and standard error for warnings.

#ifndef CMARTY_ENVIRONMENT_H
#define CMARTY_ENVIRONMENT_H

#ifdef __cplusplus
extern "C" {
#endif

// The value of the environment variable `name` when it is a whole decimal number in
// [0, LONG_MAX] (spaces around it allowed), else `fallback` (unset, empty, negative, too
// large, or anything else).
long cmarty_environment_count(const char *name, long fallback);

// The value of the environment variable `name`, or NULL when it is unset.
const char *cmarty_environment_text(const char *name);

// Writes `length` bytes to standard error (retrying short writes and EINTR); returns 0, or -1
// when the descriptor refuses them (closed, or not writable).
int cmarty_write_stderr(const void *bytes, long length);

#ifdef __cplusplus
}
#endif

#endif
