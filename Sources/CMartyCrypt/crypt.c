#include "cmarty_crypt.h"

#include <crypt.h>
#include <stdlib.h>
#include <string.h>

int cmarty_bcrypt_verify(const char *password, size_t length, const char *hash) {
    if (password == NULL || hash == NULL) return -1;
    if (memchr(password, '\0', length) != NULL) return 0;
    char *key = malloc(length + 1);
    // struct crypt_data is 32 KiB: too large for a pool thread's stack to take lightly.
    struct crypt_data *data = calloc(1, sizeof *data);
    if (key == NULL || data == NULL) {
        free(key);
        free(data);
        return -1;
    }
    memcpy(key, password, length);
    key[length] = '\0';
    const char *out = crypt_r(key, hash, data);
    int result = -1;
    size_t hash_length = strlen(hash);
    // libxcrypt returns NULL or a string starting with '*' for a hash it cannot use.
    if (out != NULL && out[0] != '*' && strlen(out) == hash_length) {
        unsigned char difference = 0;
        for (size_t i = 0; i < hash_length; i++) difference |= (unsigned char)(out[i] ^ hash[i]);
        result = difference == 0 ? 1 : 0;
    }
    explicit_bzero(key, length);
    free(key);
    explicit_bzero(data, sizeof *data);
    free(data);
    return result;
}
