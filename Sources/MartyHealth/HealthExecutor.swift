import Glibc
import MartyMetrics
import Synchronization

/// The threads that run callback checks: at most `maximumWorkers`, created one at a time
/// when a run finds no idle worker (never at library load), and kept for later runs. A
/// callback that hangs holds one worker; the others keep serving the other checks, and a
/// check has at most one run queued or running at a time (see `CallbackCheck`), so a hung
/// check never fills the queue.
///
/// After `fork()` the child has none of these threads: its child handler forgets the queue
/// and the workers (they are created again at the next run) and moves to a new epoch, which
/// tells every check that the runs it had in flight will never finish in this process.
// @unchecked Sendable: the queue and the worker count are guarded by `lock`; the epoch is an Atomic.
final class HealthExecutor: @unchecked Sendable {
    static let shared = HealthExecutor()

    static let maximumWorkers = 4

    private let lock = Lock(.healthExecutor)
    private let wake = ConditionVariable()
    // Guarded by `lock`.
    private var jobs: [@Sendable () -> Void] = []
    private var firstJob = 0
    private var workers = 0
    private var idle = 0
    private let epochValue = Atomic<UInt64>(0)

    private init() {
        ForkHandlers.addChildHandler { HealthExecutor.shared.forgetAfterFork() }
    }

    /// Counts forks: a run started in an earlier epoch belongs to a parent process.
    var epoch: UInt64 { epochValue.load(ordering: .acquiring) }

    /// Queues `job`; false if it cannot run (no worker exists and none can be created).
    func submit(_ job: @escaping @Sendable () -> Void) -> Bool {
        lock.withLock {
            jobs.append(job)
            let queued = jobs.count - firstJob
            if queued > idle && workers < Self.maximumWorkers && startWorker() {
                workers += 1
            } else if workers == 0 {
                jobs.removeLast()
                return false
            }
            wake.signal()
            return true
        }
    }

    private func startWorker() -> Bool {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let status = pthread_create(
            &thread, &attributes,
            { argument in
                let executor = Unmanaged<HealthExecutor>.fromOpaque(argument!).takeRetainedValue()
                executor.work()
                return nil
            }, context)
        if status != 0 {
            Unmanaged<HealthExecutor>.fromOpaque(context).release()
            return false
        }
        return true
    }

    private func work() {
        while true {
            let job: @Sendable () -> Void = lock.withLock {
                while firstJob == jobs.count {
                    idle += 1
                    _ = lock.wait(on: wake, timeoutNanoseconds: nil)
                    idle -= 1
                }
                let job = jobs[firstJob]
                // The queue lets go of the job here, but the last reference is released
                // outside the lock (it may be a check's, with a lock of a lower rank).
                jobs[firstJob] = {}
                firstJob += 1
                if firstJob == jobs.count {
                    jobs.removeAll(keepingCapacity: true)
                    firstJob = 0
                }
                return job
            }
            job()
        }
    }

    /// The child handler: the workers do not exist in this process.
    private func forgetAfterFork() {
        let dropped: [@Sendable () -> Void] = lock.withLock {
            epochValue.add(1, ordering: .releasing)
            let dropped = jobs
            jobs = []
            firstJob = 0
            workers = 0
            idle = 0
            return dropped
        }
        // Released outside the lock: a job may hold the last reference to a check (and its lock).
        _ = dropped
    }
}
