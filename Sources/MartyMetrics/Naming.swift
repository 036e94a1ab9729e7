/// The naming rules of the Prometheus data model, checked once when a family is created.
enum Naming {
    /// Metric names: any non-empty UTF-8, as Prometheus 3 accepts them. Those outside
    /// `[a-zA-Z_:][a-zA-Z0-9_:]*` are quoted or escaped at rendering (``NameEscaping``).
    static func checkMetricName(_ name: String) throws(MetricError) {
        if name.isEmpty {
            throw MetricError(.invalidName, "metric name is empty")
        }
    }

    /// Label names: any non-empty UTF-8 (escaped at rendering as metric names are), not
    /// `__`-prefixed, unique, and no `le` on a histogram (its buckets use it). Unique also as
    /// the default escaping (underscores) writes them: `a.b` beside `a_b` would render as a
    /// series with two `a_b` labels, which no parser accepts.
    static func checkLabelNames(_ names: [String], kind: MetricKind, metric: String) throws(MetricError) {
        var seen: [String: String] = [:]
        for name in names {
            if name.isEmpty {
                throw MetricError(.invalidLabel, "label name of \(metric) is empty")
            }
            if name.hasPrefix("__") {
                throw MetricError(
                    .invalidLabel,
                    "label name \"\(name)\" of \(metric) is reserved: names starting with __ are Prometheus' own")
            }
            if kind == .histogram && name == "le" {
                throw MetricError(
                    .invalidLabel, "label name \"le\" of histogram \(metric) is reserved for its buckets")
            }
            if kind == .summary && name == "quantile" {
                throw MetricError(
                    .invalidLabel, "label name \"quantile\" of summary \(metric) is reserved for its quantiles")
            }
            let written = NameEscaping.underscores.escapeLabelName(name)
            if let earlier = seen.updateValue(name, forKey: written) {
                throw MetricError(
                    .invalidLabel,
                    earlier == name
                        ? "label name \"\(name)\" of \(metric) is given twice"
                        : "label names \"\(earlier)\" and \"\(name)\" of \(metric) are both written \(written)")
            }
        }
    }

    /// An exemplar's label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
    static func checkExemplarLabelName(_ name: String) throws(MetricError) {
        guard NameEscaping.isLegacyLabelName(name) else {
            throw MetricError(.invalidLabel, "exemplar label name \"\(name)\" must match [a-zA-Z_][a-zA-Z0-9_]*")
        }
    }

    /// The sample names a family's exposition produces; two families must not share one.
    /// A name outside the legacy set also claims the names the default escaping (underscores)
    /// writes for it, so that `a.b` and `a_b` never render as two families named `a_b`.
    static func sampleNames(of name: String, kind: MetricKind) -> [String] {
        let names: [String]
        switch kind {
        case .counter: names = [name, name + "_total", name + "_created"]
        case .gauge: names = [name]
        case .histogram: names = [name, name + "_bucket", name + "_count", name + "_sum", name + "_created"]
        case .info: names = [name, name + "_info"]
        case .summary: names = [name, name + "_count", name + "_sum", name + "_created"]
        }
        if NameEscaping.isLegacyMetricName(name) { return names }
        return names + names.map(NameEscaping.underscores.escapeMetricName)
    }
}
