#include "cmarty_lock.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "cmarty_threads.h"

// One list of locks per rank, each guarded by a mutex of its own: a thread holding a lock of
// rank r may create a lock of a higher rank while the prepare handler is still taking the
// locks of rank r (it has not taken that higher rank's list yet).
static pthread_mutex_t lists_of_rank[CMARTY_LOCK_RANKS] = {[0 ... CMARTY_LOCK_RANKS - 1] = PTHREAD_MUTEX_INITIALIZER};
static cmarty_lock *locks_of_rank[CMARTY_LOCK_RANKS];

static pthread_mutex_t conditions_mutex = PTHREAD_MUTEX_INITIALIZER;
static cmarty_condition *conditions;
static pthread_condattr_t monotonic_attributes;

#define MAX_CHILD_HANDLERS 32
static pthread_mutex_t handlers_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct {
    void (*handler)(void *);
    void *context;
} child_handlers[MAX_CHILD_HANDLERS];
static int child_handler_count;

static void prepare(void) {
    for (int rank = 0; rank < CMARTY_LOCK_RANKS; rank++) {
        pthread_mutex_lock(&lists_of_rank[rank]);
        for (cmarty_lock *lock = locks_of_rank[rank]; lock != NULL; lock = lock->next) {
            // A lock this thread holds already (fork() called inside a critical section)
            // stays as it is: its holder releases it, in the parent and in the child.
            if (__atomic_load_n(&lock->owned, __ATOMIC_RELAXED) && pthread_equal(lock->owner, pthread_self())) {
                lock->taken_for_fork = 0;
                continue;
            }
            pthread_mutex_lock(&lock->mutex);
            lock->taken_for_fork = 1;
        }
    }
    pthread_mutex_lock(&conditions_mutex);
    pthread_mutex_lock(&handlers_mutex);
    cmarty_threads_before_fork();
}

static void release_all(void) {
    for (int rank = CMARTY_LOCK_RANKS - 1; rank >= 0; rank--) {
        for (cmarty_lock *lock = locks_of_rank[rank]; lock != NULL; lock = lock->next) {
            if (lock->taken_for_fork) {
                lock->taken_for_fork = 0;
                pthread_mutex_unlock(&lock->mutex);
            }
        }
        pthread_mutex_unlock(&lists_of_rank[rank]);
    }
}

static void parent(void) {
    cmarty_threads_after_fork_parent();
    pthread_mutex_unlock(&handlers_mutex);
    pthread_mutex_unlock(&conditions_mutex);
    release_all();
}

static void child(void) {
    cmarty_threads_after_fork_child();
    // The threads that waited on these conditions are not in this process.
    for (cmarty_condition *condition = conditions; condition != NULL; condition = condition->next) {
        pthread_cond_init(&condition->condition, &monotonic_attributes);
    }
    int count = child_handler_count;
    pthread_mutex_unlock(&handlers_mutex);
    pthread_mutex_unlock(&conditions_mutex);
    release_all();
    for (int index = 0; index < count; index++) {
        child_handlers[index].handler(child_handlers[index].context);
    }
}

static pthread_once_t installation = PTHREAD_ONCE_INIT;

static void install(void) {
    pthread_condattr_init(&monotonic_attributes);
    pthread_condattr_setclock(&monotonic_attributes, CLOCK_MONOTONIC);
    pthread_atfork(prepare, parent, child);
}

void cmarty_lock_init(cmarty_lock *lock, int rank) {
    pthread_once(&installation, install);
    if (rank < 0) rank = 0;
    if (rank >= CMARTY_LOCK_RANKS) rank = CMARTY_LOCK_RANKS - 1;
    pthread_mutex_init(&lock->mutex, NULL);
    lock->owned = 0;
    lock->taken_for_fork = 0;
    lock->rank = rank;
    lock->previous = NULL;
    pthread_mutex_lock(&lists_of_rank[rank]);
    lock->next = locks_of_rank[rank];
    if (lock->next != NULL) lock->next->previous = lock;
    locks_of_rank[rank] = lock;
    pthread_mutex_unlock(&lists_of_rank[rank]);
}

void cmarty_lock_destroy(cmarty_lock *lock) {
    pthread_mutex_lock(&lists_of_rank[lock->rank]);
    if (lock->previous != NULL) {
        lock->previous->next = lock->next;
    } else {
        locks_of_rank[lock->rank] = lock->next;
    }
    if (lock->next != NULL) lock->next->previous = lock->previous;
    pthread_mutex_unlock(&lists_of_rank[lock->rank]);
    pthread_mutex_destroy(&lock->mutex);
}

void cmarty_lock_acquire(cmarty_lock *lock) {
    pthread_mutex_lock(&lock->mutex);
    lock->owner = pthread_self();
    __atomic_store_n(&lock->owned, 1, __ATOMIC_RELAXED);
}

void cmarty_lock_release(cmarty_lock *lock) {
    __atomic_store_n(&lock->owned, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&lock->mutex);
}

void cmarty_condition_init(cmarty_condition *condition) {
    pthread_once(&installation, install);
    pthread_cond_init(&condition->condition, &monotonic_attributes);
    condition->previous = NULL;
    pthread_mutex_lock(&conditions_mutex);
    condition->next = conditions;
    if (condition->next != NULL) condition->next->previous = condition;
    conditions = condition;
    pthread_mutex_unlock(&conditions_mutex);
}

void cmarty_condition_destroy(cmarty_condition *condition) {
    pthread_mutex_lock(&conditions_mutex);
    if (condition->previous != NULL) {
        condition->previous->next = condition->next;
    } else {
        conditions = condition->next;
    }
    if (condition->next != NULL) condition->next->previous = condition->previous;
    pthread_mutex_unlock(&conditions_mutex);
    pthread_cond_destroy(&condition->condition);
}

void cmarty_condition_signal(cmarty_condition *condition) { pthread_cond_signal(&condition->condition); }

void cmarty_condition_broadcast(cmarty_condition *condition) { pthread_cond_broadcast(&condition->condition); }

uint64_t cmarty_monotonic_nanoseconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

int cmarty_condition_wait(cmarty_condition *condition, cmarty_lock *lock, uint64_t timeout_nanoseconds) {
    __atomic_store_n(&lock->owned, 0, __ATOMIC_RELAXED);
    int status;
    if (timeout_nanoseconds == UINT64_MAX) {
        status = pthread_cond_wait(&condition->condition, &lock->mutex);
    } else {
        uint64_t now = cmarty_monotonic_nanoseconds();
        uint64_t deadline = timeout_nanoseconds > UINT64_MAX - now ? UINT64_MAX : now + timeout_nanoseconds;
        struct timespec until = {.tv_sec = (time_t)(deadline / 1000000000u),
                                 .tv_nsec = (long)(deadline % 1000000000u)};
        status = pthread_cond_timedwait(&condition->condition, &lock->mutex, &until);
    }
    lock->owner = pthread_self();
    __atomic_store_n(&lock->owned, 1, __ATOMIC_RELAXED);
    return status != ETIMEDOUT;
}

void cmarty_fork_add_child_handler(void (*handler)(void *context), void *context) {
    pthread_once(&installation, install);
    pthread_mutex_lock(&handlers_mutex);
    if (child_handler_count < MAX_CHILD_HANDLERS) {
        child_handlers[child_handler_count].handler = handler;
        child_handlers[child_handler_count].context = context;
        child_handler_count++;
    }
    pthread_mutex_unlock(&handlers_mutex);
}
