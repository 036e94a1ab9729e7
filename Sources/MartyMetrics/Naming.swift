/// The naming rules of the Prometheus data model, checked once when a family is created.
enum Naming {
    /// Metric names: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    static func checkMetricName(_ name: String) throws(MetricError) {
        if name.isEmpty {
            throw MetricError(.invalidName, "metric name is empty")
        }
        for (offset, byte) in name.utf8.enumerated() {
            let allowed =
                isLetter(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ":")
                || (offset > 0 && isDigit(byte))
            if !allowed {
                throw MetricError(
                    .invalidName,
                    "metric name \"\(name)\" must match [a-zA-Z_:][a-zA-Z0-9_:]* "
                        + "(byte \(offset) is not allowed)")
            }
        }
    }

    /// Label names: `[a-zA-Z_][a-zA-Z0-9_]*`, not `__`-prefixed, unique, and no `le` on a
    /// histogram (its buckets use it).
    static func checkLabelNames(_ names: [String], kind: MetricKind, metric: String) throws(MetricError) {
        var seen = Set<String>()
        for name in names {
            if name.isEmpty {
                throw MetricError(.invalidLabel, "label name of \(metric) is empty")
            }
            for (offset, byte) in name.utf8.enumerated() {
                let allowed = isLetter(byte) || byte == UInt8(ascii: "_") || (offset > 0 && isDigit(byte))
                if !allowed {
                    throw MetricError(
                        .invalidLabel,
                        "label name \"\(name)\" of \(metric) must match [a-zA-Z_][a-zA-Z0-9_]*")
                }
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
            if !seen.insert(name).inserted {
                throw MetricError(.invalidLabel, "label name \"\(name)\" of \(metric) is given twice")
            }
        }
    }

    /// An exemplar's label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
    static func checkExemplarLabelName(_ name: String) throws(MetricError) {
        let valid =
            !name.isEmpty
            && name.utf8.enumerated().allSatisfy { offset, byte in
                isLetter(byte) || byte == UInt8(ascii: "_") || (offset > 0 && isDigit(byte))
            }
        guard valid else {
            throw MetricError(.invalidLabel, "exemplar label name \"\(name)\" must match [a-zA-Z_][a-zA-Z0-9_]*")
        }
    }

    /// The sample names a family's exposition produces; two families must not share one.
    static func sampleNames(of name: String, kind: MetricKind) -> [String] {
        switch kind {
        case .counter: return [name, name + "_total", name + "_created"]
        case .gauge: return [name]
        case .histogram: return [name, name + "_bucket", name + "_count", name + "_sum", name + "_created"]
        case .info: return [name, name + "_info"]
        }
    }

    private static func isLetter(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
            || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }
}
