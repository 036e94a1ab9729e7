// The library's one mutex and condition variable, safe across fork().
//
// Every lock is kept in a list of its rank. At fork() the prepare handler takes every lock,
// rank by rank in ascending order, so that no other thread is inside a critical section when
// the address space is copied; parent and child then release them, the child re-initialises
// every condition variable (their waiters do not exist there) and runs the child handlers.
//
// Rules that keep the prepare handler from deadlocking:
//  - a thread holding a lock of rank r only takes locks of a higher rank;
//  - a thread holding a lock of rank r only creates or destroys locks of a higher rank.

#ifndef CMARTY_LOCK_H
#define CMARTY_LOCK_H

#include <pthread.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CMARTY_LOCK_RANKS 128

typedef struct cmarty_lock {
    pthread_mutex_t mutex;
    pthread_t owner;  // valid while owned != 0
    int owned;
    int taken_for_fork;
    int rank;
    struct cmarty_lock *previous;
    struct cmarty_lock *next;
} cmarty_lock;

typedef struct cmarty_condition {
    pthread_cond_t condition;
    struct cmarty_condition *previous;
    struct cmarty_condition *next;
} cmarty_condition;

// `rank` in [0, CMARTY_LOCK_RANKS).
void cmarty_lock_init(cmarty_lock *lock, int rank);
void cmarty_lock_destroy(cmarty_lock *lock);
void cmarty_lock_acquire(cmarty_lock *lock);
void cmarty_lock_release(cmarty_lock *lock);

void cmarty_condition_init(cmarty_condition *condition);
void cmarty_condition_destroy(cmarty_condition *condition);
void cmarty_condition_signal(cmarty_condition *condition);
void cmarty_condition_broadcast(cmarty_condition *condition);

// Waits on `condition` while holding `lock` (CLOCK_MONOTONIC). UINT64_MAX waits without a
// limit. Returns 1 if woken, 0 once the time passed.
int cmarty_condition_wait(cmarty_condition *condition, cmarty_lock *lock, uint64_t timeout_nanoseconds);

// Runs `handler(context)` in the child after fork(), once every lock is free again. Handlers
// run in the order they were added.
void cmarty_fork_add_child_handler(void (*handler)(void *context), void *context);

// Nanoseconds on CLOCK_MONOTONIC.
uint64_t cmarty_monotonic_nanoseconds(void);

#ifdef __cplusplus
}
#endif

#endif
