import MartyMetrics

/// One sample of a registry, as the text exposition would show it: `jobs_total`,
/// `latency_seconds_bucket` with its `le`, `build_info` with value 1.
public struct MetricSample: Sendable, Equatable, CustomStringConvertible {
    /// The sample's name: the family's name with the suffix of its kind (`_total`, `_bucket`,
    /// `_sum`, `_count`, `_info`), as in the text format 0.0.4.
    public var name: String
    /// The label pairs, `le` included for buckets (spelled as the exposition spells it:
    /// "0.25", "1.0", "+Inf").
    public var labels: [String: String]
    /// The sample's value: a bucket's cumulative count, 1 for an info.
    public var value: Double

    /// A sample, for comparing with `Registry.samples()`'s.
    public init(name: String, labels: [String: String] = [:], value: Double) {
        self.name = name
        self.labels = labels
        self.value = value
    }

    public var description: String {
        let pairs = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\($0.value)\"" }
        return pairs.isEmpty ? "\(name) \(value)" : "\(name){\(pairs.joined(separator: ","))} \(value)"
    }
}

extension Registry {
    /// Every sample of every family, in the exposition's order, after running the registry's
    /// collectors (as a scrape does): for tests that check what was recorded without
    /// rendering and parsing text.
    public func samples() -> [MetricSample] {
        runCollectors()
        var samples: [MetricSample] = []
        for family in sortedFamilies() {
            for series in family.sortedSeries() {
                let labels = Dictionary(uniqueKeysWithValues: zip(family.labelNames, series.labelValues))
                switch family.kind {
                case .counter:
                    samples.append(MetricSample(name: family.name + "_total", labels: labels, value: value(of: series)))
                case .gauge:
                    samples.append(MetricSample(name: family.name, labels: labels, value: value(of: series)))
                case .info:
                    samples.append(MetricSample(name: family.name + "_info", labels: labels, value: 1))
                case .histogram:
                    let histogram = series as! Histogram
                    let snapshot = histogram.snapshot()
                    let bounds = family.bucketBounds.map(CanonicalNumber.format) + ["+Inf"]
                    for (bound, count) in zip(bounds, snapshot.cumulativeCounts) {
                        var bucketLabels = labels
                        bucketLabels["le"] = bound
                        samples.append(
                            MetricSample(name: family.name + "_bucket", labels: bucketLabels, value: Double(count)))
                    }
                    samples.append(MetricSample(name: family.name + "_sum", labels: labels, value: snapshot.sum))
                    samples.append(
                        MetricSample(name: family.name + "_count", labels: labels, value: Double(snapshot.count)))
                case .summary:
                    let snapshot = (series as! Histogram).snapshot()
                    samples.append(
                        MetricSample(name: family.name + "_count", labels: labels, value: Double(snapshot.count)))
                    samples.append(MetricSample(name: family.name + "_sum", labels: labels, value: snapshot.sum))
                }
            }
        }
        for family in collectedFamilies() {
            for sample in family.samples {
                let labels = Dictionary(
                    sample.labels.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
                samples.append(MetricSample(name: sample.name, labels: labels, value: sample.value))
            }
        }
        return samples
    }

    /// The value of the sample named `name` with exactly these labels, or nil if there is
    /// none (prometheus_client's `get_sample_value`).
    public func sampleValue(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples().first { $0.name == name && $0.labels == labels }?.value
    }

    private func value(of series: SeriesBase) -> Double {
        switch series {
        case let counter as Counter: counter.value
        case let gauge as Gauge: gauge.value
        default: .nan
        }
    }
}
