import Glibc

/// Named health checks behind `/health`, `/health/live` and `/health/ready`.
///
/// A check is either set by the service (a boolean, an optional message, the time it was
/// set, and optionally a time to live after which it fails unless set again) or a callback
/// run when a probe asks, with a time limit: a callback that hangs counts as failed and
/// never hangs the probe.
public final class HealthRegistry: @unchecked Sendable {
    /// Which probes a check counts for.
    public enum Probe: Int, Sendable {
        case both = 0
        case liveness = 1
        case readiness = 2

        var countsForLiveness: Bool { self != .readiness }
        var countsForReadiness: Bool { self != .liveness }
    }

    /// One check's state as a probe sees it.
    public struct CheckResult: Sendable, Equatable {
        public let name: String
        public let healthy: Bool
        public let message: String?
        /// Unix time of the last `set` (or of the callback's run).
        public let updatedAt: Double
        public let probe: Probe
    }

    /// The answer to a probe.
    public struct Report: Sendable {
        public let checks: [CheckResult]
        /// Every check passes.
        public let healthy: Bool
        /// Every liveness check passes.
        public let live: Bool
        /// Every readiness check passes and the service is not shutting down.
        public let ready: Bool
        public let shuttingDown: Bool
    }

    public static let `default` = HealthRegistry()

    private enum Source {
        case value(healthy: Bool, message: String?, updatedAt: Double, timeToLive: Double?)
        case callback(CallbackCheck)
    }

    private struct Check {
        var source: Source
        var probe: Probe
    }

    private let lock = Lock()
    private var checks: [String: Check] = [:]
    private var isShuttingDown = false

    public init() {}

    /// Sets a check. With a `timeToLive`, the check fails once that many seconds pass
    /// without another `set`.
    public func set(
        _ name: String, healthy: Bool, message: String? = nil, probe: Probe = .both, timeToLive: Double? = nil
    ) throws(MetricError) {
        try Self.checkName(name)
        if let timeToLive, !(timeToLive > 0 && timeToLive.isFinite) {
            throw MetricError(.invalidValue, "time to live of health check \(name) must be positive, got \(timeToLive)")
        }
        let now = Self.now()
        lock.withLock {
            checks[name] = Check(
                source: .value(healthy: healthy, message: message, updatedAt: now, timeToLive: timeToLive), probe: probe
            )
        }
    }

    /// Registers a check run at probe time. It must answer within `timeout` seconds or it
    /// counts as failed; while a timed-out run is still going, it is not started again.
    public func register(
        _ name: String, probe: Probe = .both, timeout: Double = 1,
        check: @escaping @Sendable () -> (healthy: Bool, message: String?)
    ) throws(MetricError) {
        try Self.checkName(name)
        guard timeout > 0 && timeout.isFinite else {
            throw MetricError(.invalidValue, "timeout of health check \(name) must be positive, got \(timeout)")
        }
        let callback = CallbackCheck(name: name, timeout: timeout, body: check)
        lock.withLock { checks[name] = Check(source: .callback(callback), probe: probe) }
    }

    /// Removes a check; `notFound` if there is none by that name.
    public func remove(_ name: String) throws(MetricError) {
        let removed = lock.withLock { checks.removeValue(forKey: name) }
        if removed == nil { throw MetricError(.notFound, "there is no health check named \(name)") }
    }

    /// Marks the service as shutting down: readiness fails from now on, liveness does not.
    public func beginShutdown() { lock.withLock { isShuttingDown = true } }

    /// Clears the shutting-down mark (a service that starts its endpoint again).
    public func endShutdown() { lock.withLock { isShuttingDown = false } }

    /// Evaluates every check, running callbacks (outside the lock, in parallel, each within
    /// its time limit).
    public func report() -> Report {
        let (snapshot, shuttingDown) = lock.withLock { (checks, isShuttingDown) }
        let now = Self.now()
        var pending: [(String, Probe, CallbackCheck.Run)] = []
        var results: [CheckResult] = []
        for (name, check) in snapshot {
            switch check.source {
            case .value(let healthy, let message, let updatedAt, let timeToLive):
                if let timeToLive, now - updatedAt > timeToLive {
                    let age = Int((now - updatedAt).rounded())
                    results.append(
                        CheckResult(
                            name: name, healthy: false,
                            message: "stale: not refreshed for \(age) s (time to live \(timeToLive) s)",
                            updatedAt: updatedAt, probe: check.probe))
                } else {
                    results.append(
                        CheckResult(
                            name: name, healthy: healthy, message: message, updatedAt: updatedAt, probe: check.probe))
                }
            case .callback(let callback):
                pending.append((name, check.probe, callback.start()))
            }
        }
        for (name, probe, run) in pending {
            let outcome = run.wait()
            results.append(
                CheckResult(
                    name: name, healthy: outcome.healthy, message: outcome.message, updatedAt: now, probe: probe))
        }
        results.sort { $0.name < $1.name }
        let live = results.allSatisfy { !$0.probe.countsForLiveness || $0.healthy }
        let ready = !shuttingDown && results.allSatisfy { !$0.probe.countsForReadiness || $0.healthy }
        return Report(
            checks: results, healthy: results.allSatisfy(\.healthy), live: live, ready: ready,
            shuttingDown: shuttingDown)
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
