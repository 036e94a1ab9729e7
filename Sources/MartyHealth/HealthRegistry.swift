import Glibc
import MartyMetrics
import Synchronization

/// Named health checks behind `/health`, `/health/live` and `/health/ready`.
///
/// A check is either set by the service (a boolean, an optional message, the time it was
/// set, and optionally a time to live after which it fails unless set again) or a callback
/// run when a probe asks, with a time limit. Callbacks run on the health module's own few
/// worker threads (`HealthExecutor`), never on the caller's or the endpoint's.
///
/// A probe evaluates only the checks that count for it: `/health/live` never waits for a
/// readiness-only check, nor `/health/ready` for a liveness-only one; `/health` evaluates
/// all. Concurrent probes of one callback check share its run in flight. Times to live and
/// time limits are measured on the monotonic clock; the times reported are Unix time.
// @unchecked Sendable: the checks and the cached answers are guarded by `lock`.
public final class HealthRegistry: @unchecked Sendable {
    /// Which probes a check counts for.
    public enum Probe: Sendable {
        /// Liveness and readiness.
        case both
        /// Liveness only (`/health/live`, and `/health`).
        case liveness
        /// Readiness only (`/health/ready`, and `/health`).
        case readiness

        var countsForLiveness: Bool { self != .readiness }
        var countsForReadiness: Bool { self != .liveness }
    }

    /// Which checks an evaluation covers.
    public enum Scope: Sendable {
        /// Every check (`/health`).
        case all
        /// The checks that count for liveness (`/health/live`).
        case liveness
        /// The checks that count for readiness (`/health/ready`).
        case readiness

        func includes(_ probe: Probe) -> Bool {
            switch self {
            case .all: true
            case .liveness: probe.countsForLiveness
            case .readiness: probe.countsForReadiness
            }
        }
    }

    /// One check's state as a probe sees it.
    public struct CheckResult: Sendable, Equatable {
        /// The check's name.
        public let name: String
        /// Whether the check passes; a stale set check or a timed-out callback fails.
        public let healthy: Bool
        /// The message given with the answer (or why it failed: stale, timed out); nil if none.
        public let message: String?
        /// Unix time of the last `set` (or of the evaluation, for a callback).
        public let updatedAt: Double
        /// Which probes the check counts for.
        public let probe: Probe
    }

    /// The answer to a probe. A report of scope `.liveness` holds only the liveness checks
    /// (its `ready` says nothing); `.readiness` likewise.
    public struct Report: Sendable {
        /// The checks of the report's scope, sorted by name.
        public let checks: [CheckResult]
        /// Every check of the report passes.
        public let healthy: Bool
        /// Every liveness check of the report passes.
        public let live: Bool
        /// Every readiness check of the report passes and the service is not shutting down.
        public let ready: Bool
        /// The service was shutting down (`beginShutdown()`) at the evaluation.
        public let shuttingDown: Bool
        /// Which checks the report covers.
        public let scope: Scope
    }

    /// How old a callback check's last answer may be before the `/metrics` gauge
    /// (`lastKnownHealthy`) starts a new run of it in the background.
    public static let gaugeRefreshSeconds = 5.0
    static let gaugeRefreshNanoseconds: UInt64 = 5_000_000_000

    /// The process-wide health registry.
    public static let `default` = HealthRegistry()

    private enum Source {
        case value(healthy: Bool, message: String?, updatedAt: Double, setAt: UInt64, timeToLive: Double?, UInt64?)
        case callback(CallbackCheck)
    }

    private struct Check {
        var source: Source
        var probe: Probe
    }

    private let lock = Lock(.healthRegistry)
    private var checks: [String: Check] = [:]
    private var isShuttingDown = false

    /// A registry without checks, independent of ``default``.
    public init() {}

    /// Sets a check. With a `timeToLive` (seconds, > 0), the check fails once that long
    /// passes without another `set`.
    public func set(
        _ name: String, healthy: Bool, message: String? = nil, probe: Probe = .both, timeToLive: Double? = nil
    ) throws(MetricError) {
        try Self.checkName(name)
        var ttl: UInt64? = nil
        if let timeToLive { ttl = try Seconds.nanoseconds(timeToLive, "time to live of health check \(name)") }
        let check = Check(
            source: .value(
                healthy: healthy, message: message, updatedAt: Self.now(), setAt: MonotonicClock.nanoseconds(),
                timeToLive: timeToLive, ttl),
            probe: probe)
        retire(lock.withLock { checks.updateValue(check, forKey: name) })
    }

    /// Registers a check run at probe time on a health worker. It must answer within
    /// `timeout` seconds or it counts as failed ("timed out"); while a run is in flight no
    /// other starts: probes share it.
    public func register(
        _ name: String, probe: Probe = .both, timeout: Double = 1,
        check: @escaping @Sendable () -> (healthy: Bool, message: String?)
    ) throws(MetricError) {
        try Self.checkName(name)
        let nanoseconds = try Seconds.nanoseconds(timeout, "timeout of health check \(name)")
        let callback = CallbackCheck(name: name, timeout: timeout, timeoutNanoseconds: nanoseconds, body: check)
        retire(lock.withLock { checks.updateValue(Check(source: .callback(callback), probe: probe), forKey: name) })
    }

    /// Removes a check; `notFound` if there is none by that name. Once it returns, the
    /// check's callback is never called again: a run in progress is waited for (unless the
    /// callback itself is the caller).
    public func remove(_ name: String) throws(MetricError) {
        let removed = lock.withLock { checks.removeValue(forKey: name) }
        guard removed != nil else { throw MetricError(.notFound, "there is no health check named \(name)") }
        retire(removed)
    }

    private func retire(_ replaced: Check?) {
        if case .callback(let callback) = replaced?.source { callback.retire() }
    }

    /// Marks the service as shutting down: readiness fails from now on, liveness does not.
    public func beginShutdown() { lock.withLock { isShuttingDown = true } }

    /// Clears the shutting-down mark (a service that starts its endpoint again).
    public func endShutdown() { lock.withLock { isShuttingDown = false } }

    /// Starts evaluating the checks of `scope` without waiting: set checks are read now;
    /// callback checks join or start a run. `completion` is called exactly once — as soon as
    /// every run finished, or when `expire()` is called on the answer (the caller's timer at
    /// `PendingReport.deadline`; runs still going then are reported as timed out). It may
    /// be called before `evaluate` returns, and runs on whichever thread finishes last.
    @discardableResult
    public func evaluate(_ scope: Scope, completion: @escaping @Sendable (Report) -> Void) -> PendingReport {
        let (snapshot, shuttingDown) = lock.withLock { (checks, isShuttingDown) }
        let now = MonotonicClock.nanoseconds()
        let wallNow = Self.now()
        var results: [CheckResult] = []
        var tickets: [PendingReport.Entry] = []
        var deadline = now
        for (name, check) in snapshot where scope.includes(check.probe) {
            switch check.source {
            case .value(let healthy, let message, let updatedAt, let setAt, let timeToLive, let ttl):
                results.append(
                    Self.valueResult(name, check.probe, healthy, message, updatedAt, setAt, timeToLive, ttl, now))
            case .callback(let callback):
                switch callback.begin(now: now) {
                case .immediate(let outcome):
                    results.append(
                        CheckResult(
                            name: name, healthy: outcome.healthy, message: outcome.message, updatedAt: wallNow,
                            probe: check.probe))
                case .run(let run):
                    deadline = max(deadline, run.deadline)
                    tickets.append(PendingReport.Entry(name: name, probe: check.probe, check: callback, run: run))
                }
            }
        }
        let pending = PendingReport(
            scope: scope, shuttingDown: shuttingDown, results: results, entries: tickets, deadline: deadline,
            completion: completion)
        pending.start()
        return pending
    }

    /// Evaluates the checks of `scope` and waits for the answer: at most the longest time
    /// limit of the callback checks involved. Do not call it from a callback check.
    public func report(_ scope: Scope = .all) -> Report {
        let box = ReportBox()
        let pending = evaluate(scope) { box.put($0) }
        if let report = box.take(until: pending.deadline) { return report }
        pending.expire()
        return box.take(until: nil)!
    }

    /// Whether every check passed at its last evaluation, without running any callback
    /// (what `marty_service_health_status` shows at a scrape). Set checks are read now (a
    /// stale one fails); a callback check counts with its last completed answer, fails
    /// while a run is past its deadline, and is left out before its first answer. A
    /// callback check whose last answer is older than `gaugeRefreshSeconds` (5 s) gets a
    /// new run in the background on a health worker: the next scrape sees its answer.
    public func lastKnownHealthy() -> Bool { lastKnownHealthy(refreshAfter: Self.gaugeRefreshNanoseconds) }

    func lastKnownHealthy(refreshAfter: UInt64) -> Bool {
        let snapshot = lock.withLock { checks }
        let now = MonotonicClock.nanoseconds()
        var healthy = true
        for (name, check) in snapshot {
            switch check.source {
            case .value(let isHealthy, let message, let updatedAt, let setAt, let timeToLive, let ttl):
                if !Self.valueResult(name, check.probe, isHealthy, message, updatedAt, setAt, timeToLive, ttl, now)
                    .healthy
                {
                    healthy = false
                }
            case .callback(let callback):
                if callback.lastAnswer(now: now, refreshAfter: refreshAfter) == false {
                    healthy = false
                }
            }
        }
        return healthy
    }

    private static func valueResult(
        _ name: String, _ probe: Probe, _ healthy: Bool, _ message: String?, _ updatedAt: Double, _ setAt: UInt64,
        _ timeToLive: Double?, _ ttl: UInt64?, _ now: UInt64
    ) -> CheckResult {
        if let ttl, let timeToLive, now &- setAt > ttl {
            let age = Double(now &- setAt) / 1e9
            return CheckResult(
                name: name, healthy: false,
                message:
                    "stale: not refreshed for \(CallbackCheck.format(age)) s (time to live \(CallbackCheck.format(timeToLive)) s)",
                updatedAt: updatedAt, probe: probe)
        }
        return CheckResult(name: name, healthy: healthy, message: message, updatedAt: updatedAt, probe: probe)
    }

    private static func checkName(_ name: String) throws(MetricError) {
        guard !name.isEmpty else { throw MetricError(.invalidName, "health check name is empty") }
    }

    /// The current Unix time in seconds.
    public static func now() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}

/// An evaluation in progress (see `HealthRegistry.evaluate`).
public final class PendingReport: Sendable {
    // @unchecked Sendable: its run is read only under its check's lock (see CallbackCheck.Run).
    struct Entry: @unchecked Sendable {
        let name: String
        let probe: HealthRegistry.Probe
        let check: CallbackCheck
        let run: CallbackCheck.Run
    }

    /// When the last time limit of the runs involved passes (monotonic nanoseconds).
    public let deadline: UInt64
    private let scope: HealthRegistry.Scope
    private let shuttingDown: Bool
    private let results: [HealthRegistry.CheckResult]
    private let entries: [Entry]
    private let completion: @Sendable (HealthRegistry.Report) -> Void
    private let remaining: Atomic<Int>
    private let delivered = Atomic<Bool>(false)

    init(
        scope: HealthRegistry.Scope, shuttingDown: Bool, results: [HealthRegistry.CheckResult], entries: [Entry],
        deadline: UInt64, completion: @escaping @Sendable (HealthRegistry.Report) -> Void
    ) {
        self.scope = scope
        self.shuttingDown = shuttingDown
        self.results = results
        self.entries = entries
        self.deadline = deadline
        self.completion = completion
        // One for each run, and one held by `start` until every waiter is in place.
        self.remaining = Atomic(entries.count + 1)
    }

    /// Nanoseconds from now until `deadline` (0 once it passed).
    public var remainingNanoseconds: UInt64 {
        let now = MonotonicClock.nanoseconds()
        return deadline > now ? deadline - now : 0
    }

    fileprivate func start() {
        for entry in entries where !entry.check.notify(when: entry.run, finishes: { self.runFinished() }) {
            runFinished()
        }
        runFinished()
    }

    private func runFinished() {
        if remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { deliver() }
    }

    /// Answers now: runs that have not finished are reported as timed out.
    public func expire() { deliver() }

    private func deliver() {
        guard delivered.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else { return }
        let wallNow = HealthRegistry.now()
        var checks = results
        for entry in entries {
            let outcome = entry.check.outcome(of: entry.run)
            checks.append(
                HealthRegistry.CheckResult(
                    name: entry.name, healthy: outcome.healthy, message: outcome.message, updatedAt: wallNow,
                    probe: entry.probe))
        }
        checks.sort { $0.name < $1.name }
        let live = checks.allSatisfy { !$0.probe.countsForLiveness || $0.healthy }
        let ready = !shuttingDown && checks.allSatisfy { !$0.probe.countsForReadiness || $0.healthy }
        completion(
            HealthRegistry.Report(
                checks: checks, healthy: checks.allSatisfy(\.healthy), live: live, ready: ready,
                shuttingDown: shuttingDown, scope: scope))
    }
}

/// Hands a report from the thread that completes it to one that waits.
// @unchecked Sendable: the report is written once under `lock` and read under it after `filled` is signalled.
private final class ReportBox: @unchecked Sendable {
    private let lock = Lock(.healthCheck)
    private let filled = ConditionVariable()
    private var report: HealthRegistry.Report?

    func put(_ report: HealthRegistry.Report) {
        lock.withLock {
            self.report = report
            filled.broadcast()
        }
    }

    /// The report, or nil once `deadline` (monotonic nanoseconds; nil: none) passed.
    func take(until deadline: UInt64?) -> HealthRegistry.Report? {
        lock.withLock {
            while report == nil {
                var timeout: UInt64? = nil
                if let deadline {
                    let now = MonotonicClock.nanoseconds()
                    guard deadline > now else { break }
                    timeout = deadline - now
                }
                _ = lock.wait(on: filled, timeoutNanoseconds: timeout)
            }
            return report
        }
    }
}
