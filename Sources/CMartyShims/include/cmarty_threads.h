// What the library keeps per thread: the thread's shard, its read sections (for reclaiming
// memory that lock-free readers may still hold), and its error message buffer.
//
// A thread's record is found through one pointer of initial-exec TLS (8 bytes of the static
// TLS block a dlopen'ed library may use); everything else lives on the heap. Records are
// never freed: a thread that exits gives its record back, and a new thread takes it over.

#ifndef CMARTY_THREADS_H
#define CMARTY_THREADS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cmarty_thread {
    // Only the owning thread writes these three.
    uint32_t shard;
    uint32_t sections_begun;
    uint32_t sections_ended;
    // Set when the kernel cannot give synchronize() its barrier (no membarrier): this
    // thread's read sections then begin with a full fence. Kept here, on the line the
    // section writes anyway, rather than in a global.
    uint32_t fence;
    int in_use;
    char *error_message;  // the C interface's (see cmarty_error_slot); kept with the record
    struct cmarty_thread *next;
} cmarty_thread;

extern __thread cmarty_thread *cmarty_current_thread __attribute__((tls_model("initial-exec")));

// The calling thread's record, made on first use (takes a lock once per thread).
cmarty_thread *cmarty_thread_attach(void);

static inline cmarty_thread *cmarty_this_thread(void) {
    cmarty_thread *thread = cmarty_current_thread;
    if (thread == NULL) thread = cmarty_thread_attach();
    return thread;
}

// A read section: between begin and end the thread may read memory that another thread
// retires; cmarty_synchronize() does not return while a section begun before it is open.
// Sections nest. They take no lock and write only the thread's own record.
static inline void cmarty_read_begin(cmarty_thread *thread) {
    __atomic_store_n(&thread->sections_begun, thread->sections_begun + 1, __ATOMIC_RELAXED);
    if (__atomic_load_n(&thread->fence, __ATOMIC_RELAXED)) {
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
    } else {
        // synchronize()'s membarrier orders this store before the loads that follow.
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
    }
}

static inline void cmarty_read_end(cmarty_thread *thread) {
    __atomic_store_n(&thread->sections_ended, thread->sections_ended + 1, __ATOMIC_RELEASE);
}

// Waits until every read section that some thread began before this call has ended. Memory
// unlinked before the call is then unreachable to every reader. Never call it inside a read
// section.
void cmarty_synchronize(void);

// Where the calling thread's record keeps a pointer for the C interface's error message
// (which allocates and owns the buffer: CMartyRecording.h), or NULL if the thread has no
// record of its own (out of memory). The pointer stays with the record, which a later thread
// reuses.
char **cmarty_error_slot(void);

// Number of shards every sharded cell set has: a power of two fixed at first use, from the
// CPUs this process may run on (affinity mask and cgroup CPU limit), or MARTY_METRICS_SHARDS.
uint32_t cmarty_shard_count(void);

// The calling thread's shard, in [0, cmarty_shard_count()).
static inline uint32_t cmarty_thread_shard(void) { return cmarty_this_thread()->shard; }

// fork() support (called by the lock's fork handlers).
// Sets the calling thread's niceness (on Linux it is per thread: the render threads of the
// endpoint run below the host's); returns 0, or -1 where the system refuses or has no such notion.
int cmarty_set_thread_nice(int nice);

// Names the calling thread (at most 15 bytes are kept, Linux' limit), as ps and top show it.
void cmarty_set_thread_name(const char *name);

void cmarty_threads_before_fork(void);
void cmarty_threads_after_fork_parent(void);
void cmarty_threads_after_fork_child(void);

#ifdef __cplusplus
}
#endif

#endif
