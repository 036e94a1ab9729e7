/// Writes ``CollectedFamily`` values in every format, the way prometheus_client writes its
/// custom collectors' families: samples as given, in their order.
enum CollectedExposition {
    // MARK: Text formats

    static func renderText(
        _ family: CollectedFamily, openMetrics: Bool, escaping: NameEscaping, style: RenderingStyle,
        into buffer: inout ExpositionBuffer
    ) {
        let python = style == .prometheusClient
        let metadataName: String
        let typeName: String
        switch family.kind {
        case .counter: (metadataName, typeName) = (openMetrics ? family.name : family.name + "_total", "counter")
        case .gauge: (metadataName, typeName) = (family.name, "gauge")
        case .histogram: (metadataName, typeName) = (family.name, "histogram")
        case .summary: (metadataName, typeName) = (family.name, "summary")
        case .info: (metadataName, typeName) = openMetrics ? (family.name, "info") : (family.name + "_info", "gauge")
        case .stateSet: (metadataName, typeName) = (family.name, openMetrics ? "stateset" : "gauge")
        case .gaugeHistogram: (metadataName, typeName) = (family.name, openMetrics ? "gaugehistogram" : "histogram")
        case .unknown: (metadataName, typeName) = (family.name, openMetrics ? "unknown" : "untyped")
        }
        appendMetadata(metadataName, family.help, type: typeName, escaping: escaping, openMetrics: openMetrics, &buffer)
        if openMetrics && !family.unit.isEmpty {
            buffer.append("# UNIT " as StaticString)
            buffer.append(Array(textName(metadataName, escaping: escaping).utf8))
            buffer.append(UInt8(ascii: " "))
            buffer.append(Array(family.unit.utf8))
            buffer.append(UInt8(ascii: "\n"))
        }
        if openMetrics {
            for sample in family.samples {
                appendSample(sample, openMetrics: true, escaping: escaping, python: python, &buffer)
            }
            return
        }
        // Text 0.0.4 has no place for these in their family: they become gauge families of
        // their own, after it, as prometheus_client writes them.
        let separateSuffixes = ["_created", "_gcount", "_gsum"]
        var separate: [String: [CollectedSample]] = [:]
        for sample in family.samples {
            if let suffix = separateSuffixes.first(where: { sample.name == family.name + $0 }) {
                separate[suffix, default: []].append(sample)
            } else {
                appendSample(sample, openMetrics: false, escaping: escaping, python: python, &buffer)
            }
        }
        for suffix in separateSuffixes {
            guard let samples = separate[suffix] else { continue }
            appendMetadata(
                family.name + suffix, family.help, type: "gauge", escaping: escaping, openMetrics: false, &buffer)
            for sample in samples {
                appendSample(sample, openMetrics: false, escaping: escaping, python: python, &buffer)
            }
        }
    }

    private static func appendMetadata(
        _ name: String, _ help: String, type: String, escaping: NameEscaping, openMetrics: Bool,
        _ buffer: inout ExpositionBuffer
    ) {
        let written = Array(textName(name, escaping: escaping).utf8)
        buffer.append("# HELP " as StaticString)
        buffer.append(written)
        buffer.append(UInt8(ascii: " "))
        buffer.append(Escaping.help(help, escapingQuotes: openMetrics))
        buffer.append("\n# TYPE " as StaticString)
        buffer.append(written)
        buffer.append(UInt8(ascii: " "))
        buffer.append(Array(type.utf8))
        buffer.append(UInt8(ascii: "\n"))
    }

    /// A name in `# HELP`/`# TYPE`: escaped, or quoted under `allow-utf-8`.
    private static func textName(_ name: String, escaping: NameEscaping) -> String {
        if NameEscaping.isLegacyMetricName(name) { return name }
        return escaping == .allowUTF8 ? Escaping.quoted(name) : escaping.escapeMetricName(name)
    }

    private static func appendSample(
        _ sample: CollectedSample, openMetrics: Bool, escaping: NameEscaping, python: Bool,
        _ buffer: inout ExpositionBuffer
    ) {
        func appendValue(_ value: Double) {
            if python { buffer.append(pythonValue: value) } else { buffer.append(sampleValue: value) }
        }
        /// A timestamp in seconds: prometheus_client writes Python's repr of it.
        func appendSeconds(_ seconds: Double) {
            if python { buffer.append(Array(seconds.description.utf8)) } else { buffer.append(sampleValue: seconds) }
        }
        var line: [UInt8] = []
        let quotedName = escaping == .allowUTF8 && !NameEscaping.isLegacyMetricName(sample.name)
        if quotedName {
            line.append(UInt8(ascii: "{"))
            line.append(contentsOf: Escaping.quoted(sample.name).utf8)
        } else {
            line.append(contentsOf: escaping.escapeMetricName(sample.name).utf8)
        }
        if !sample.labels.isEmpty {
            line.append(quotedName ? UInt8(ascii: ",") : UInt8(ascii: "{"))
            let labels =
                python ? sample.labels.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) } : sample.labels
            appendLabels(labels, escaping: escaping, to: &line)
            line.append(UInt8(ascii: "}"))
        } else if quotedName {
            line.append(UInt8(ascii: "}"))
        }
        buffer.append(line)
        buffer.append(UInt8(ascii: " "))
        appendValue(sample.value)
        // A timestamp that is no number, or past whole milliseconds in text 0.0.4, is left out.
        if let timestamp = sample.timestamp, timestamp.isFinite {
            if openMetrics {
                buffer.append(UInt8(ascii: " "))
                appendSeconds(timestamp)
            } else if let milliseconds = Int64(exactly: (timestamp * 1000).rounded(.towardZero)) {
                buffer.append(UInt8(ascii: " "))
                buffer.append(Array(String(milliseconds).utf8))
            }
        }
        if openMetrics, let exemplar = sample.exemplar {
            var labels: [UInt8] = []
            let pairs =
                python
                ? exemplar.labels.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) } : exemplar.labels
            appendLabels(pairs, escaping: escaping, to: &labels)
            buffer.append(" # {" as StaticString)
            buffer.append(labels)
            buffer.append("} " as StaticString)
            appendValue(exemplar.value)
            if let timestamp = exemplar.timestamp, timestamp.isFinite {
                buffer.append(UInt8(ascii: " "))
                appendSeconds(timestamp)
            }
        }
        buffer.append(UInt8(ascii: "\n"))
    }

    private static func appendLabels(
        _ labels: [(name: String, value: String)], escaping: NameEscaping, to bytes: inout [UInt8]
    ) {
        for (index, label) in labels.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            if escaping == .allowUTF8 && !NameEscaping.isLegacyLabelName(label.name) {
                bytes.append(contentsOf: Escaping.quoted(label.name).utf8)
            } else {
                bytes.append(contentsOf: escaping.escapeLabelName(label.name).utf8)
            }
            bytes.append(contentsOf: [UInt8(ascii: "="), UInt8(ascii: "\"")])
            Escaping.appendLabelValue(label.value.utf8, to: &bytes)
            bytes.append(UInt8(ascii: "\""))
        }
    }

    // MARK: Protobuf

    /// `MetricType` of metrics.proto.
    private enum MetricType: UInt64 {
        case counter = 0
        case gauge = 1
        case summary = 2
        case untyped = 3
        case histogram = 4
        case gaugeHistogram = 5
    }

    /// One `MetricFamily` message. Samples are grouped into metrics by their labels (without
    /// `le` or `quantile`), in the order each label set first appears.
    static func renderProtobuf(_ family: CollectedFamily, escaping: NameEscaping, into writer: inout ProtobufWriter) {
        var message = ProtobufWriter(capacity: 1024)
        let name: String
        let type: MetricType
        switch family.kind {
        case .counter: (name, type) = (family.name + "_total", .counter)
        case .info: (name, type) = (family.name + "_info", .gauge)
        case .gauge, .stateSet: (name, type) = (family.name, .gauge)
        case .histogram: (name, type) = (family.name, .histogram)
        case .gaugeHistogram: (name, type) = (family.name, .gaugeHistogram)
        case .summary: (name, type) = (family.name, .summary)
        case .unknown: (name, type) = (family.name, .untyped)
        }
        message.string(1, escaping.escapeMetricName(name))
        if !family.help.isEmpty { message.string(2, family.help) }
        message.uint64(3, type.rawValue)
        switch family.kind {
        case .gauge, .info, .stateSet, .unknown:
            // One metric per sample: a state set's states and an info's label sets are theirs.
            for sample in family.samples {
                var metric = ProtobufWriter()
                appendLabelPairs(sample.labels, escaping: escaping, into: &metric)
                var value = ProtobufWriter(capacity: 16)
                value.double(1, sample.value)
                metric.bytes(family.kind == .unknown ? 5 : 2, value.contents)
                appendTimestamp(sample.timestamp, into: &metric)
                message.bytes(4, metric.contents)
            }
        case .counter, .histogram, .gaugeHistogram, .summary:
            for group in groups(family) {
                var metric = ProtobufWriter()
                appendLabelPairs(group.labels, escaping: escaping, into: &metric)
                let (field, value) = groupValue(family, group)
                metric.bytes(field, value)
                appendTimestamp(group.timestamp, into: &metric)
                message.bytes(4, metric.contents)
            }
        }
        writer.varint(UInt64(message.count))
        writer.raw(message.contents)
    }

    /// The samples of one metric: those with the same labels, apart from `le` or `quantile`.
    private struct Group {
        var labels: [(name: String, value: String)]
        var samples: [CollectedSample] = []
        var timestamp: Double? { samples.first?.timestamp }
    }

    private static func groups(_ family: CollectedFamily) -> [Group] {
        let inner: String? =
            switch family.kind {
            case .histogram, .gaugeHistogram: "le"
            case .summary: "quantile"
            default: nil
            }
        var groups: [Group] = []
        var indexByKey: [[String]: Int] = [:]
        for sample in family.samples {
            let labels = sample.labels.filter { $0.name != inner }
            let key = labels.flatMap { [$0.name, $0.value] }
            if let index = indexByKey[key] {
                groups[index].samples.append(sample)
            } else {
                indexByKey[key] = groups.count
                groups.append(Group(labels: labels, samples: [sample]))
            }
        }
        return groups
    }

    /// The `Metric` field and message of a counter, histogram or summary group.
    private static func groupValue(_ family: CollectedFamily, _ group: Group) -> (Int, [UInt8]) {
        var value = ProtobufWriter(capacity: 128)
        let base = family.name
        func named(_ suffixes: String...) -> CollectedSample? {
            group.samples.first { sample in suffixes.contains { sample.name == base + $0 } }
        }
        switch family.kind {
        case .counter:
            let total = named("_total", "")
            value.double(1, total?.value ?? 0)
            if let exemplar = total?.exemplar { value.bytes(2, encodedExemplar(exemplar)) }
            if let created = named("_created") { ProtobufExposition.Timestamp(created.value).write(3, into: &value) }
            return (3, Array(value.contents))
        case .summary:
            if let count = named("_count") { appendCount(count.value, field: 1, floatField: 4, into: &value) }
            value.double(2, named("_sum")?.value ?? 0)
            for sample in group.samples where sample.name == base {
                guard let quantile = sample.label("quantile").flatMap(Double.init) else { continue }
                var pair = ProtobufWriter(capacity: 32)
                pair.double(1, quantile)
                pair.double(2, sample.value)
                value.bytes(3, pair.contents)
            }
            if let created = named("_created") { ProtobufExposition.Timestamp(created.value).write(4, into: &value) }
            return (4, Array(value.contents))
        default:  // histogram, gauge histogram
            let gauge = family.kind == .gaugeHistogram
            let buckets = group.samples.compactMap { sample -> (bound: Double, sample: CollectedSample)? in
                guard sample.name == base + "_bucket", let bound = sample.label("le").flatMap(parseBound) else {
                    return nil
                }
                return (bound, sample)
            }
            let count =
                named(gauge ? "_gcount" : "_count")?.value ?? buckets.last { $0.bound == .infinity }?.sample.value
            if let count { appendCount(count, field: 1, floatField: 4, into: &value) }
            value.double(2, named(gauge ? "_gsum" : "_sum")?.value ?? 0)
            for (bound, sample) in buckets where bound != .infinity || sample.exemplar != nil {
                var bucket = ProtobufWriter(capacity: 64)
                appendCount(sample.value, field: 1, floatField: 4, into: &bucket)
                bucket.double(2, bound)
                if let exemplar = sample.exemplar { bucket.bytes(3, encodedExemplar(exemplar)) }
                value.bytes(3, bucket.contents)
            }
            if let created = named("_created") { ProtobufExposition.Timestamp(created.value).write(15, into: &value) }
            return (7, Array(value.contents))
        }
    }

    /// A count as the integer field, or as its `_float` twin when it is not a whole number.
    private static func appendCount(_ count: Double, field: Int, floatField: Int, into writer: inout ProtobufWriter) {
        if count >= 0, count < 1.8e19, count == count.rounded() {
            writer.uint64(field, UInt64(count))
        } else {
            writer.double(floatField, count)
        }
    }

    private static func parseBound(_ text: String) -> Double? {
        switch text {
        case "+Inf", "Inf": return .infinity
        case "-Inf": return -.infinity
        default: return Double(text)
        }
    }

    private static func appendLabelPairs(
        _ labels: [(name: String, value: String)], escaping: NameEscaping, into writer: inout ProtobufWriter
    ) {
        for label in labels {
            var pair = ProtobufWriter(capacity: 64)
            pair.string(1, escaping.escapeLabelName(label.name))
            pair.string(2, label.value)
            writer.bytes(1, pair.contents)
        }
    }

    private static func appendTimestamp(_ timestamp: Double?, into writer: inout ProtobufWriter) {
        guard let timestamp, let milliseconds = Int64(exactly: (timestamp * 1000).rounded(.towardZero)) else { return }
        writer.int64(6, milliseconds)
    }

    private static func encodedExemplar(_ exemplar: CollectedExemplar) -> [UInt8] {
        var writer = ProtobufWriter()
        for label in exemplar.labels {
            var pair = ProtobufWriter(capacity: 64)
            pair.string(1, label.name)
            pair.string(2, label.value)
            writer.bytes(1, pair.contents)
        }
        writer.double(2, exemplar.value)
        if let timestamp = exemplar.timestamp { ProtobufExposition.Timestamp(timestamp).write(3, into: &writer) }
        return Array(writer.contents)
    }
}
