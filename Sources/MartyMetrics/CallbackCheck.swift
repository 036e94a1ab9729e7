import Glibc

/// A health check answered by a callback, run on a thread of its own so that a callback
/// that hangs costs the probe no more than the check's time limit.
final class CallbackCheck: @unchecked Sendable {
    typealias Outcome = (healthy: Bool, message: String?)

    let name: String
    let timeout: Double
    private let body: @Sendable () -> Outcome
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    // Guarded by `mutex`.
    private var running = false
    private var generation = 0
    private var finishedGeneration = 0
    private var outcome: Outcome = (false, nil)

    init(name: String, timeout: Double, body: @escaping @Sendable () -> Outcome) {
        self.name = name
        self.timeout = timeout
        self.body = body
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        condition.deallocate()
    }

    /// One evaluation in flight.
    struct Run {
        fileprivate let check: CallbackCheck
        fileprivate let generation: Int
        fileprivate let deadline: timespec
        fileprivate let immediate: Outcome?

        /// The callback's answer, or a failure once the time limit passes.
        func wait() -> Outcome {
            if let immediate { return immediate }
            return check.waitForRun(generation, until: deadline)
        }
    }

    func start() -> Run {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        let deadline = Self.deadline(after: timeout)
        if running {
            return Run(
                check: self, generation: generation, deadline: deadline,
                immediate: (false, "still running: an earlier run exceeded the \(timeout) s time limit"))
        }
        running = true
        generation += 1
        let started = generation
        var thread = pthread_t()
        let context = Unmanaged.passRetained(ThreadContext(check: self, generation: started)).toOpaque()
        let status = pthread_create(
            &thread, nil,
            { argument in
                let context = Unmanaged<ThreadContext>.fromOpaque(argument!).takeRetainedValue()
                context.check.runBody(context.generation)
                return nil
            }, context)
        if status != 0 {
            Unmanaged<ThreadContext>.fromOpaque(context).release()
            running = false
            return Run(
                check: self, generation: started, deadline: deadline,
                immediate: (false, "could not start a thread for the check (error \(status))"))
        }
        pthread_detach(thread)
        return Run(check: self, generation: started, deadline: deadline, immediate: nil)
    }

    private final class ThreadContext {
        let check: CallbackCheck
        let generation: Int
        init(check: CallbackCheck, generation: Int) {
            self.check = check
            self.generation = generation
        }
    }

    private func runBody(_ run: Int) {
        let result = body()
        pthread_mutex_lock(mutex)
        outcome = result
        finishedGeneration = run
        running = false
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    private func waitForRun(_ run: Int, until deadline: timespec) -> Outcome {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        var deadline = deadline
        while finishedGeneration < run {
            if pthread_cond_timedwait(condition, mutex, &deadline) == ETIMEDOUT { break }
        }
        if finishedGeneration >= run { return outcome }
        return (false, "timed out: no answer within \(timeout) s")
    }

    private static func deadline(after seconds: Double) -> timespec {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let nanoseconds = Int(now.tv_nsec) + Int(seconds.truncatingRemainder(dividingBy: 1) * 1e9)
        return timespec(
            tv_sec: now.tv_sec + Int(seconds) + nanoseconds / 1_000_000_000, tv_nsec: nanoseconds % 1_000_000_000)
    }
}
