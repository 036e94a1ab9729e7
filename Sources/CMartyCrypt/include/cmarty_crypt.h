// bcrypt verification for the endpoint's basic auth, through libxcrypt (crypt_r), the kept
// implementation Debian ships as libcrypt1: no hand-written hash code in the library.

#ifndef CMARTY_CRYPT_H
#define CMARTY_CRYPT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Whether `password` (`length` bytes, may hold NUL: then it never matches) hashes to `hash`
/// (a NUL-terminated "$2a$", "$2b$" or "$2y$" bcrypt hash). 1: it does; 0: it does not;
/// -1: the hash cannot be used (libxcrypt refused it, or memory ran out). The comparison
/// takes the same time wherever the outputs differ. Thread-safe (crypt_r with its own
/// state); slow on purpose (the hash's cost), so never call it on an event loop.
int cmarty_bcrypt_verify(const char *password, size_t length, const char *hash);

#ifdef __cplusplus
}
#endif

#endif
