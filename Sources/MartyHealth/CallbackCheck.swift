import Glibc
import MartyMetrics

/// A health check answered by a callback, run on the health executor's workers with a time
/// limit.
///
/// A check has at most one run in flight (queued or running). A probe that finds one joins
/// it and gets its answer; only a run that passes its deadline (its start plus the time
/// limit, on the monotonic clock) is a failure. While a run is past its deadline (a hung
/// callback) probes report "timed out" at once and no further run is queued.
// @unchecked Sendable: the run in flight and the last answer are guarded by `lock`.
final class CallbackCheck: @unchecked Sendable {
    typealias Outcome = (healthy: Bool, message: String?)

    let name: String
    let timeout: Double
    let timeoutNanoseconds: UInt64
    private let body: @Sendable () -> Outcome

    private let lock = Lock(.healthCheck)
    private let runFinished = ConditionVariable()
    // Guarded by `lock`.
    private var current: Run?
    private var last: (outcome: Outcome, finishedAt: UInt64)?
    private var retired = false

    init(name: String, timeout: Double, timeoutNanoseconds: UInt64, body: @escaping @Sendable () -> Outcome) {
        self.name = name
        self.timeout = timeout
        self.timeoutNanoseconds = timeoutNanoseconds
        self.body = body
    }

    /// One run of the callback. Guarded by the check's lock.
    // @unchecked Sendable: its fields are read and written only under the owning check's lock.
    final class Run: @unchecked Sendable {
        let epoch: UInt64
        let startedAt: UInt64
        let deadline: UInt64
        var running = false
        var thread = pthread_t()
        var finished = false
        var finishedAt: UInt64 = 0
        var outcome: Outcome?
        var waiters: [@Sendable () -> Void] = []

        init(epoch: UInt64, startedAt: UInt64, deadline: UInt64) {
            self.epoch = epoch
            self.startedAt = startedAt
            self.deadline = deadline
        }
    }

    /// A probe's share of a run, or an answer known at once.
    enum Ticket {
        case run(Run)
        case immediate(Outcome)
    }

    /// Joins the run in flight or starts one.
    func begin(now: UInt64 = MonotonicClock.nanoseconds()) -> Ticket {
        lock.withLock {
            if retired { return .immediate((false, "removed")) }
            if let run = current, run.epoch == HealthExecutor.shared.epoch {
                if now >= run.deadline {
                    let age = Double(now - run.startedAt) / 1e9
                    return .immediate(
                        (
                            false,
                            "timed out: still running after \(Self.format(age)) s, over its "
                                + "\(Self.format(timeout)) s time limit (no new run starts until it returns)"
                        ))
                }
                return .run(run)
            }
            let run = Run(epoch: HealthExecutor.shared.epoch, startedAt: now, deadline: now + timeoutNanoseconds)
            current = run
            guard HealthExecutor.shared.submit({ [self] in execute(run) }) else {
                current = nil
                return .immediate((false, "no health worker thread could be started"))
            }
            return .run(run)
        }
    }

    /// Calls `waiter` once `run` finishes; false (and no call) if it already has.
    func notify(when run: Run, finishes waiter: @escaping @Sendable () -> Void) -> Bool {
        lock.withLock {
            guard !run.finished else { return false }
            run.waiters.append(waiter)
            return true
        }
    }

    /// What a probe reports for its share of `run`, finished or not.
    func outcome(of run: Run) -> Outcome {
        lock.withLock {
            guard run.finished else {
                return (false, "timed out: no answer within \(Self.format(timeout)) s")
            }
            guard let outcome = run.outcome else { return (false, "removed") }
            guard run.finishedAt <= run.deadline else {
                let took = Double(run.finishedAt - run.startedAt) / 1e9
                return (
                    false,
                    "timed out: answered after \(Self.format(took)) s, over its \(Self.format(timeout)) s time limit"
                )
            }
            return outcome
        }
    }

    /// The last completed answer, for a report that must not run the callback (the
    /// `/metrics` gauge). A run past its deadline counts as failed; nil before any answer.
    /// When the answer is older than `refreshAfter` and nothing is in flight, a run starts
    /// in the background.
    func lastAnswer(now: UInt64, refreshAfter: UInt64) -> Bool? {
        let (answer, refresh): (Bool?, Bool) = lock.withLock {
            if let run = current, run.epoch == HealthExecutor.shared.epoch {
                return (now >= run.deadline ? false : last?.outcome.healthy, false)
            }
            guard let last else { return (nil, !retired) }
            return (last.outcome.healthy, !retired && now &- last.finishedAt > refreshAfter)
        }
        if refresh { _ = begin(now: now) }
        return answer
    }

    /// On a worker.
    private func execute(_ run: Run) {
        let go: Bool = lock.withLock {
            guard !retired, current === run else { return false }
            run.running = true
            run.thread = pthread_self()
            return true
        }
        let outcome = go ? body() : nil
        let waiters: [@Sendable () -> Void] = lock.withLock {
            run.finished = true
            run.finishedAt = MonotonicClock.nanoseconds()
            run.outcome = outcome
            if let outcome { last = (outcome, run.finishedAt) }
            if current === run { current = nil }
            let waiters = run.waiters
            run.waiters = []
            runFinished.broadcast()
            return waiters
        }
        for waiter in waiters { waiter() }
    }

    /// Makes sure the callback is never called again: a queued run will not start, and a
    /// run in progress is waited for — unless it is the calling thread's own (a callback
    /// that removes its check) or a run of the parent process (after fork).
    func retire() {
        lock.withLock {
            retired = true
            guard let run = current, run.epoch == HealthExecutor.shared.epoch, run.running,
                pthread_equal(run.thread, pthread_self()) == 0
            else { return }
            while !run.finished { _ = lock.wait(on: runFinished, timeoutNanoseconds: nil) }
        }
    }

    static func format(_ seconds: Double) -> String {
        let rounded = (seconds * 1000).rounded() / 1000
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    }
}
