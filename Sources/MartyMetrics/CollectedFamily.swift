import CMartyShims
import Synchronization

/// A family made at render time by a collector, from values kept outside the registry: the
/// const metrics of client_golang, the custom collectors of prometheus_client.
///
/// Samples are written as given, in the shape prometheus_client's `Metric` has: a counter
/// family `requests` holds samples named `requests_total` and `requests_created`, a
/// histogram's carry `le`, a summary's `quantile`. Nothing is checked against the kind;
/// a scraper judges what a collector wrote, as it would judge prometheus_client's output.
public struct CollectedFamily: Sendable {
    /// The kinds of OpenMetrics. Text 0.0.4 writes `info` and `stateset` as gauges,
    /// `gaugehistogram` as a histogram and `unknown` as untyped.
    public enum Kind: Sendable {
        /// `unknown` (OpenMetrics), `untyped` (text 0.0.4).
        case unknown
        /// Samples `<name>_total` (and `_created`).
        case counter
        /// Samples `<name>`.
        case gauge
        /// Samples `<name>_bucket` with `le`, `_count`, `_sum` (and `_created`).
        case histogram
        /// Samples `<name>` with `quantile`, `_count`, `_sum` (and `_created`).
        case summary
        /// Samples `<name>_info` with value 1.
        case info
        /// Samples `<name>` with a label named after the family, 1 for the states that hold.
        case stateSet
        /// Samples `<name>_bucket` with `le`, `_gcount`, `_gsum`.
        case gaugeHistogram
    }

    /// The family name: a counter's without `_total`, an info's without `_info`.
    public var name: String
    /// The text of `# HELP`.
    public var help: String
    /// The kind, which decides the `# TYPE` line and how protobuf groups the samples.
    public var kind: Kind
    /// The unit of `# UNIT` (OpenMetrics only); empty for none.
    public var unit: String
    /// The samples, written in this order.
    public var samples: [CollectedSample]

    /// A family of these samples (or none yet).
    public init(name: String, help: String, kind: Kind, unit: String = "", samples: [CollectedSample] = []) {
        (self.name, self.help, self.kind, self.unit, self.samples) = (name, help, kind, unit, samples)
    }
}

/// One sample line of a ``CollectedFamily``.
public struct CollectedSample: Sendable {
    /// The full sample name (`requests_total`, `latency_bucket`).
    public var name: String
    /// Label names and values, in the order they are written.
    public var labels: [(name: String, value: String)]
    /// The sample's value.
    public var value: Double
    /// Seconds since the epoch, or nil for a sample without a timestamp.
    public var timestamp: Double?
    /// Written in OpenMetrics and protobuf only.
    public var exemplar: CollectedExemplar?

    /// A sample; labels are written in the order given.
    public init(
        name: String, labels: [(name: String, value: String)] = [], value: Double, timestamp: Double? = nil,
        exemplar: CollectedExemplar? = nil
    ) {
        (self.name, self.labels, self.value, self.timestamp, self.exemplar) = (name, labels, value, timestamp, exemplar)
    }

    /// The value of label `name`, if the sample has it.
    func label(_ name: String) -> String? { labels.first { $0.name == name }?.value }
}

/// An exemplar of a ``CollectedSample``.
public struct CollectedExemplar: Sendable {
    /// The exemplar's labels (a trace id, a span id).
    public var labels: [(name: String, value: String)]
    /// The observed value the exemplar stands for.
    public var value: Double
    /// Seconds since the epoch, or nil.
    public var timestamp: Double?

    /// An exemplar; checked (label names, 128 characters) only when it comes through C.
    public init(labels: [(name: String, value: String)], value: Double, timestamp: Double? = nil) {
        (self.labels, self.value, self.timestamp) = (labels, value, timestamp)
    }
}

/// A function a registry calls at every rendering for the families it adds; see
/// ``Registry/addFamilyCollector(_:)``. Removing it waits for its calls in progress, so that
/// whatever the function uses may be released once ``Registry/removeFamilyCollector(_:)``
/// returns.
// @unchecked Sendable: `calls` and `removed` are guarded by `lock`; `collect` is Sendable.
public final class FamilyCollector: @unchecked Sendable {
    private let collect: @Sendable (inout [CollectedFamily]) -> Void
    private let lock = Lock(.leaf)
    private let finished = ConditionVariable()
    /// The threads calling `collect` now, one entry per call, with the fork generation they
    /// started in: a child of fork() never waits for calls of its parent's threads.
    private var callers: [(thread: UnsafeMutableRawPointer, generation: Int)] = []
    private var removed = false

    /// How many fork() children deep this process is (0 in the first process).
    private static let forkGeneration = Atomic<Int>(0)
    private static let countingForks: Void = ForkHandlers.addChildHandler {
        FamilyCollector.forkGeneration.add(1, ordering: .relaxed)
    }

    init(_ collect: @escaping @Sendable (inout [CollectedFamily]) -> Void) {
        self.collect = collect
    }

    /// Calls the function unless the collector was removed. No lock is held while it runs.
    func run(into families: inout [CollectedFamily]) {
        _ = Self.countingForks
        let caller = (
            thread: UnsafeMutableRawPointer(cmarty_this_thread()!),
            generation: Self.forkGeneration.load(ordering: .relaxed)
        )
        let started = lock.withLock { () -> Bool in
            if removed { return false }
            callers.append(caller)
            return true
        }
        guard started else { return }
        collect(&families)
        lock.withLock {
            callers.remove(at: callers.firstIndex { $0.thread == caller.thread && $0.generation == caller.generation }!)
            finished.broadcast()
        }
    }

    /// Stops further calls and waits for those in progress on other threads (a call that
    /// removes its own collector does not wait for itself).
    func remove() {
        let thread = UnsafeMutableRawPointer(cmarty_this_thread()!)
        lock.withLock {
            removed = true
            // Calls begun before a fork() are of threads this process does not have.
            while callers.contains(where: {
                $0.thread != thread && $0.generation == Self.forkGeneration.load(ordering: .relaxed)
            }) {
                _ = lock.wait(on: finished, timeoutNanoseconds: nil)
            }
        }
    }
}
