import CMartyShims

/// The library's one mutex, for the slow paths (creating series, registering families,
/// health state). Recording never takes it.
///
/// Every lock is safe across `fork()`: the prepare handler takes all of them in rank order,
/// so a child never inherits one held by a thread it does not have (see cmarty_lock.h). That
/// works only if a thread holding a lock takes (and creates or destroys) only locks of a
/// higher rank, and never holds one while it runs user code, renders or does I/O.
// @unchecked Sendable: wraps a pthread mutex (cmarty_lock), which exists to be shared between threads.
package final class Lock: @unchecked Sendable {
    /// Ranks in the order locks may nest: a holder of one takes only higher ranks.
    package enum Rank: Int32 {
        case endpoint = 10
        case healthRegistry = 20
        case healthCheck = 30
        case healthExecutor = 40
        /// The swift-metrics factory's cache: held while it creates families.
        case integration = 45
        case registryAttachments = 50
        case registry = 60
        case family = 70
        case cellArena = 80
        case leaf = 100
    }

    private let lock: UnsafeMutablePointer<cmarty_lock>

    package init(_ rank: Rank) {
        lock = .allocate(capacity: 1)
        cmarty_lock_init(lock, rank.rawValue)
    }

    deinit {
        cmarty_lock_destroy(lock)
        lock.deallocate()
    }

    @inline(__always)
    package func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        cmarty_lock_acquire(lock)
        defer { cmarty_lock_release(lock) }
        return try body()
    }

    /// Waits on `condition`, measured on the monotonic clock; nil waits without a limit.
    /// Call only while holding the lock (inside `withLock`). Returns false once the time
    /// passed without a signal.
    package func wait(on condition: ConditionVariable, timeoutNanoseconds: UInt64?) -> Bool {
        cmarty_condition_wait(condition.condition, lock, timeoutNanoseconds ?? .max) != 0
    }
}

/// A condition variable used with `Lock.wait(on:timeoutNanoseconds:)`.
// @unchecked Sendable: wraps a pthread condition variable, used only with its Lock held.
package final class ConditionVariable: @unchecked Sendable {
    fileprivate let condition: UnsafeMutablePointer<cmarty_condition>

    package init() {
        condition = .allocate(capacity: 1)
        cmarty_condition_init(condition)
    }

    deinit {
        cmarty_condition_destroy(condition)
        condition.deallocate()
    }

    package func signal() { cmarty_condition_signal(condition) }
    package func broadcast() { cmarty_condition_broadcast(condition) }
}

/// Work a forked child must do for state that threads of the parent had in flight.
package enum ForkHandlers {
    private static let lock = Lock(.leaf)
    nonisolated(unsafe) private static var handlers: [@Sendable () -> Void] = []
    private static let installation: Void = {
        cmarty_fork_add_child_handler({ _ in ForkHandlers.runChildHandlers() }, nil)
    }()

    /// Runs `body` in the child after every fork(), once every lock is free again.
    package static func addChildHandler(_ body: @escaping @Sendable () -> Void) {
        _ = installation
        lock.withLock { handlers.append(body) }
    }

    private static func runChildHandlers() {
        for handler in lock.withLock({ handlers }) { handler() }
    }
}

/// Monotonic time, for deadlines and time limits (never the wall clock).
package enum MonotonicClock {
    package static func nanoseconds() -> UInt64 { cmarty_monotonic_nanoseconds() }
    package static func seconds() -> Double { Double(cmarty_monotonic_nanoseconds()) / 1e9 }
}
