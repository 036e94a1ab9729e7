import CoreMetrics
import Glibc
import MartyCatalog
import MartyMetrics

/// A swift-metrics backend that records into a marty-metrics registry:
///
/// | swift-metrics | marty-metrics |
/// |---|---|
/// | `Counter` | counter (`<label>_total`) |
/// | `FloatingPointCounter` | counter |
/// | `Meter`, `Gauge`, `Recorder(aggregate: false)` | gauge |
/// | `Recorder(aggregate: true)` | histogram with `recorderBuckets` |
/// | `Timer` | histogram in seconds with `timerBuckets` (the catalog's duration buckets) |
///
/// Labels and dimension names are sanitized (see `Sanitizer`). A handle whose name is
/// already used with another kind or other dimension names — the case that crashes the
/// swift-prometheus backend — is logged once and gets a detached series: recording into it
/// works and is never exposed.
// @unchecked Sendable: its caches of families and series are guarded by `lock`.
public final class MartyMetricsFactory: MetricsFactory, @unchecked Sendable {
    /// The registry the handles' families are registered in.
    public let registry: Registry
    /// The bucket bounds, in seconds, of every `Timer`'s histogram.
    public let timerBuckets: HistogramBuckets
    /// The bucket bounds of every aggregating `Recorder`'s histogram.
    public let recorderBuckets: HistogramBuckets
    private let log: @Sendable (String) -> Void

    private let lock = Lock(.integration)
    private var families: [String: MetricFamily] = [:]
    private var reported: Set<String> = []

    /// A factory recording into `registry`; `log` receives one line, once per name, for each
    /// handle whose family cannot be registered (it gets a detached series). Bucket bounds
    /// that `HistogramBuckets` refuses throw `invalidBuckets`.
    public init(
        registry: Registry = .default, timerBuckets: [Double] = ServiceMetrics.durationBuckets,
        recorderBuckets: [Double] = HistogramBuckets.defaultBounds,
        log: @escaping @Sendable (String) -> Void = MartyMetricsFactory.logToStandardError
    ) throws(MetricError) {
        self.registry = registry
        self.timerBuckets = try HistogramBuckets(timerBuckets)
        self.recorderBuckets = try HistogramBuckets(recorderBuckets)
        self.log = log
    }

    /// The default log: one line on standard error.
    @Sendable public static func logToStandardError(_ message: String) {
        let line = "marty-metrics: \(message)\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
    }

    private enum Kind: Equatable {
        case counter, gauge, recorderHistogram, timerHistogram

        var description: String {
            switch self {
            case .counter: return "counter"
            case .gauge: return "gauge"
            case .recorderHistogram: return "histogram (recorder)"
            case .timerHistogram: return "histogram (timer)"
            }
        }
    }

    /// The series for a handle: in its registered family, or detached on a clash.
    private func series(_ kind: Kind, label: String, dimensions: [(String, String)]) -> SeriesBase {
        let name = Sanitizer.metricName(label)
        let sorted = Sanitizer.dimensions(
            dimensions, forHistogram: kind == .recorderHistogram || kind == .timerHistogram)
        let labelNames = sorted.map(\.0)
        let values = sorted.map(\.1)
        let family: MetricFamily = lock.withLock {
            let key = kind == .counter && name.hasSuffix("_total") ? String(name.dropLast(6)) : name
            if let existing = families[key] ?? registry.family(named: key) {
                if matches(existing, kind, labelNames) {
                    families[key] = existing
                    return existing
                }
                report(
                    key,
                    "swift-metrics \(kind.description) \"\(label)\" with dimensions [\(labelNames.joined(separator: ", "))] "
                        + "clashes with the registered \(existing.kind) \(existing.name) [\(existing.labelNames.joined(separator: ", "))]; "
                        + "its values are recorded but not exposed")
                return detachedFamily(kind, name: name, labelNames: labelNames)
            }
            do {
                let created = try makeFamily(kind, in: registry, name: name, labelNames: labelNames)
                families[key] = created
                return created
            } catch {
                report(
                    key,
                    "swift-metrics \(kind.description) \"\(label)\": \((error as? MetricError)?.message ?? "\(error)"); its values are not exposed"
                )
                return detachedFamily(kind, name: name, labelNames: labelNames)
            }
        }
        // Sanitized names and values are valid, and the count matches: this cannot fail.
        return try! family.series(values)
    }

    private func matches(_ family: MetricFamily, _ kind: Kind, _ labelNames: [String]) -> Bool {
        guard family.labelNames == labelNames else { return false }
        switch kind {
        case .counter: return family.kind == .counter
        case .gauge: return family.kind == .gauge
        case .recorderHistogram: return family.kind == .histogram && family.bucketBounds == recorderBuckets.bounds
        case .timerHistogram: return family.kind == .histogram && family.bucketBounds == timerBuckets.bounds
        }
    }

    private func makeFamily(_ kind: Kind, in registry: Registry, name: String, labelNames: [String]) throws(MetricError)
        -> MetricFamily
    {
        let help = "swift-metrics \(kind.description) \(name)"
        switch kind {
        case .counter: return try registry.counter(name, help: help, labelNames: labelNames)
        case .gauge: return try registry.gauge(name, help: help, labelNames: labelNames)
        case .recorderHistogram:
            return try registry.histogram(name, help: help, labelNames: labelNames, buckets: recorderBuckets)
        case .timerHistogram:
            return try registry.histogram(name, help: help, labelNames: labelNames, buckets: timerBuckets)
        }
    }

    /// A family of the right kind in a registry of its own that nobody renders.
    private func detachedFamily(_ kind: Kind, name: String, labelNames: [String]) -> MetricFamily {
        // The sanitized name and labels were checked once already, or are valid by construction.
        try! makeFamily(kind, in: Registry(), name: name, labelNames: labelNames)
    }

    private func report(_ key: String, _ message: String) {
        if reported.insert(key).inserted { log(message) }
    }

    // MARK: MetricsFactory

    public func makeCounter(label: String, dimensions: [(String, String)]) -> CounterHandler {
        CounterBackend(series(.counter, label: label, dimensions: dimensions) as! MartyMetrics.Counter)
    }

    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> FloatingPointCounterHandler {
        CounterBackend(series(.counter, label: label, dimensions: dimensions) as! MartyMetrics.Counter)
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> MeterHandler {
        GaugeBackend(series(.gauge, label: label, dimensions: dimensions) as! MartyMetrics.Gauge)
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> RecorderHandler {
        if aggregate {
            return HistogramBackend(
                series(.recorderHistogram, label: label, dimensions: dimensions) as! MartyMetrics.Histogram)
        }
        return GaugeBackend(series(.gauge, label: label, dimensions: dimensions) as! MartyMetrics.Gauge)
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> TimerHandler {
        HistogramBackend(series(.timerHistogram, label: label, dimensions: dimensions) as! MartyMetrics.Histogram)
    }

    public func destroyCounter(_ handler: CounterHandler) { remove((handler as? CounterBackend)?.counter) }
    public func destroyFloatingPointCounter(_ handler: FloatingPointCounterHandler) {
        remove((handler as? CounterBackend)?.counter)
    }
    public func destroyMeter(_ handler: MeterHandler) { remove((handler as? GaugeBackend)?.gauge) }
    public func destroyRecorder(_ handler: RecorderHandler) {
        remove((handler as? GaugeBackend)?.gauge ?? (handler as? HistogramBackend)?.histogram)
    }
    public func destroyTimer(_ handler: TimerHandler) { remove((handler as? HistogramBackend)?.histogram) }

    /// Destroying a handle removes its series from the exposition (the handle object
    /// itself stays harmless to use).
    private func remove(_ series: SeriesBase?) {
        guard let series else { return }
        let candidates = lock.withLock { Array(families.values) }
        for family in candidates where family.existingSeries(series.labelValues) === series {
            try? family.remove(series.labelValues)
        }
    }
}

// @unchecked Sendable: holds only a series (Sendable) and constants.
final class CounterBackend: CounterHandler, FloatingPointCounterHandler, @unchecked Sendable {
    let counter: MartyMetrics.Counter
    init(_ counter: MartyMetrics.Counter) { self.counter = counter }

    func increment(by amount: Int64) {
        if amount > 0 { counter.inc(by: UInt64(amount)) }  // counters never go down
    }

    func increment(by amount: Double) {
        if amount > 0 { try? counter.add(amount) }
    }

    func reset() { counter.reset() }
}

// @unchecked Sendable: holds only a series (Sendable) and constants.
final class GaugeBackend: MeterHandler, RecorderHandler, @unchecked Sendable {
    let gauge: MartyMetrics.Gauge
    init(_ gauge: MartyMetrics.Gauge) { self.gauge = gauge }

    func set(_ value: Int64) { gauge.set(Double(value)) }
    func set(_ value: Double) { gauge.set(value) }
    func increment(by amount: Double) { gauge.add(amount) }
    func decrement(by amount: Double) { gauge.add(-amount) }
    func record(_ value: Int64) { gauge.set(Double(value)) }
    func record(_ value: Double) { gauge.set(value) }
}

// @unchecked Sendable: holds only a series (Sendable) and constants.
final class HistogramBackend: RecorderHandler, TimerHandler, @unchecked Sendable {
    let histogram: MartyMetrics.Histogram
    init(_ histogram: MartyMetrics.Histogram) { self.histogram = histogram }

    func record(_ value: Int64) { try? histogram.observe(Double(value)) }
    func record(_ value: Double) { try? histogram.observe(value) }  // NaN is dropped
    func recordNanoseconds(_ duration: Int64) { try? histogram.observe(Double(duration) / 1e9) }
}
