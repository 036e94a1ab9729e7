#include "CMartyShims.h"

#include <unistd.h>

__thread uint32_t cmarty_thread_shard_plus_one;
__thread char cmarty_error_message[CMARTY_ERROR_MESSAGE_CAPACITY];

static uint32_t next_thread_ticket;
static uint32_t shard_count;

uint32_t cmarty_shard_count(void) {
    uint32_t count = __atomic_load_n(&shard_count, __ATOMIC_RELAXED);
    if (count != 0) {
        return count;
    }
    // Two shards per CPU, at least 4 and at most 32: threads assigned round robin then
    // rarely share a shard, and a series stays small.
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1) {
        cpus = 1;
    }
    count = 4;
    while (count < (uint32_t)cpus * 2 && count < 32) {
        count *= 2;
    }
    uint32_t expected = 0;
    if (!__atomic_compare_exchange_n(&shard_count, &expected, count, 0, __ATOMIC_RELAXED,
                                     __ATOMIC_RELAXED)) {
        count = expected;
    }
    return count;
}

uint32_t cmarty_assign_thread_shard(void) {
    uint32_t ticket = __atomic_fetch_add(&next_thread_ticket, 1, __ATOMIC_RELAXED);
    uint32_t shard = ticket & (cmarty_shard_count() - 1);
    cmarty_thread_shard_plus_one = shard + 1;
    return shard;
}
