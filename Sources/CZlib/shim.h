// The system zlib (Debian: zlib1g-dev), for gzip-encoded /metrics responses.
#include <zlib.h>
