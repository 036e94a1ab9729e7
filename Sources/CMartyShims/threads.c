#define _GNU_SOURCE
#include "cmarty_threads.h"

#include <linux/membarrier.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cmarty_cpus.h"

__thread cmarty_thread *cmarty_current_thread __attribute__((tls_model("initial-exec")));
// Whether readers must fence (no membarrier); copied into each record (see cmarty_threads.h).
static int readers_fence = 1;

static pthread_mutex_t records_mutex = PTHREAD_MUTEX_INITIALIZER;
static cmarty_thread *records;  // append-only list, published with release stores
static uint32_t next_shard_ticket;
static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;
static int membarrier_registered;
// Used only when a record cannot be allocated (out of memory): shared by such threads, and
// not waited for by synchronize(), whose guarantee then does not cover them.
static cmarty_thread fallback_record = {.in_use = 1, .fence = 1};

static void thread_exited(void *record) {
    cmarty_thread *thread = record;
    // The next owner keeps counting from here; a balanced record is never waited for.
    __atomic_store_n(&thread->in_use, 0, __ATOMIC_RELEASE);
    cmarty_current_thread = NULL;
}

static void make_exit_key(void) {
    pthread_key_create(&exit_key, thread_exited);
    // Readers may skip their fence only once the kernel has agreed to give synchronize()
    // its barrier on every thread of the process.
    if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0) {
        membarrier_registered = 1;
        readers_fence = 0;
    }
}

cmarty_thread *cmarty_thread_attach(void) {
    pthread_once(&exit_key_once, make_exit_key);
    pthread_mutex_lock(&records_mutex);
    cmarty_thread *thread = NULL;
    for (cmarty_thread *record = records; record != NULL; record = record->next) {
        if (record != &fallback_record && !__atomic_load_n(&record->in_use, __ATOMIC_ACQUIRE)) {
            thread = record;
            break;
        }
    }
    if (thread == NULL) {
        void *memory = NULL;
        if (posix_memalign(&memory, 64, sizeof(cmarty_thread)) == 0) {
            thread = memory;
            memset(thread, 0, sizeof *thread);
            thread->next = records;
            __atomic_store_n(&records, thread, __ATOMIC_RELEASE);
        }
    }
    if (thread == NULL) {
        pthread_mutex_unlock(&records_mutex);
        return &fallback_record;
    }
    thread->shard = __atomic_fetch_add(&next_shard_ticket, 1, __ATOMIC_RELAXED) & (cmarty_shard_count() - 1);
    thread->fence = (uint32_t)readers_fence;
    __atomic_store_n(&thread->in_use, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&records_mutex);
    cmarty_current_thread = thread;
    pthread_setspecific(exit_key, thread);
    return thread;
}

void cmarty_synchronize(void) {
    if (__atomic_load_n(&membarrier_registered, __ATOMIC_ACQUIRE)) {
        if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0) {
            // Refused after all (a seccomp filter installed later): readers fence from now on.
            pthread_mutex_lock(&records_mutex);
            readers_fence = 1;
            for (cmarty_thread *record = records; record != NULL; record = record->next) {
                __atomic_store_n(&record->fence, 1, __ATOMIC_SEQ_CST);
            }
            __atomic_store_n(&membarrier_registered, 0, __ATOMIC_RELEASE);
            pthread_mutex_unlock(&records_mutex);
        }
    }
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    cmarty_thread *self = cmarty_current_thread;
    for (cmarty_thread *record = __atomic_load_n(&records, __ATOMIC_ACQUIRE); record != NULL;
         record = record->next) {
        if (record == self) continue;
        uint32_t begun = __atomic_load_n(&record->sections_begun, __ATOMIC_RELAXED);
        // Sections begun before this point must end: wait until `ended` reaches `begun`.
        for (int spins = 0; (int32_t)(__atomic_load_n(&record->sections_ended, __ATOMIC_ACQUIRE) - begun) < 0;
             spins++) {
            if (spins > 64) sched_yield();
        }
    }
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

char **cmarty_error_slot(void) {
    cmarty_thread *thread = cmarty_this_thread();
    return thread == &fallback_record ? NULL : &thread->error_message;
}

// ---- Shards ----------------------------------------------------------------------------------

static uint32_t shard_count;

uint32_t cmarty_shards_for_cpus(long cpus) {
    // Two shards per usable CPU: threads assigned round robin then rarely share a shard.
    uint32_t count = 1;
    while (count < (uint64_t)(cpus < 1 ? 1 : cpus) * 2 && count < CMARTY_MAX_SHARDS) count *= 2;
    return count < 2 ? 2 : count;
}

uint32_t cmarty_shard_count(void) {
    uint32_t count = __atomic_load_n(&shard_count, __ATOMIC_RELAXED);
    if (count != 0) return count;
    const char *override = getenv("MARTY_METRICS_SHARDS");
    long requested = override != NULL ? strtol(override, NULL, 10) : 0;
    if (requested >= 1 && requested <= CMARTY_MAX_SHARDS) {
        count = 1;
        while (count < (uint32_t)requested) count *= 2;
    } else {
        count = cmarty_shards_for_cpus(cmarty_usable_cpus());
    }
    uint32_t expected = 0;
    if (!__atomic_compare_exchange_n(&shard_count, &expected, count, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
        count = expected;
    }
    return count;
}

// ---- fork ----------------------------------------------------------------------------------

void cmarty_threads_before_fork(void) { pthread_mutex_lock(&records_mutex); }

void cmarty_threads_after_fork_parent(void) { pthread_mutex_unlock(&records_mutex); }

void cmarty_threads_after_fork_child(void) {
    // The child is a new process for membarrier: register it again while it has one thread,
    // or let its readers fence.
    if (membarrier_registered && syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) != 0) {
        membarrier_registered = 0;
        readers_fence = 1;
        for (cmarty_thread *record = records; record != NULL; record = record->next) record->fence = 1;
    }
    // Only the forking thread exists here: every other record is free, its sections closed.
    cmarty_thread *self = cmarty_current_thread;
    for (cmarty_thread *record = records; record != NULL; record = record->next) {
        if (record == self) continue;
        record->sections_ended = record->sections_begun;
        if (record != &fallback_record) record->in_use = 0;
    }
    // Workers forked from one parent write the same cells when they share the multiprocess
    // segment: each starts its threads at a shard of its own, so that the main threads of N
    // workers do not all write shard 0's cache lines.
    uint32_t start = (uint32_t)getpid();
    __atomic_store_n(&next_shard_ticket, start + 1, __ATOMIC_RELAXED);
    if (self != NULL && self != &fallback_record) self->shard = start & (cmarty_shard_count() - 1);
    pthread_mutex_unlock(&records_mutex);
}

int cmarty_set_thread_nice(int nice) {
#ifdef SYS_gettid
    return setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice);
#else
    (void)nice;
    return -1;
#endif
}

void cmarty_set_thread_name(const char *name) {
    char truncated[16];
    snprintf(truncated, sizeof truncated, "%s", name);
    pthread_setname_np(pthread_self(), truncated);
}

// Set once, by the first exemplar block's allocation (see cmarty_exemplar_slots in
// CMartyShims.h); here beside the other process-wide recording state.
uint32_t cmarty_exemplar_blocks_exist = 0;
