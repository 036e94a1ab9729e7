/// The exposition formats a registry renders.
public enum ExpositionFormat: Sendable {
    /// Prometheus text format 0.0.4.
    case text
    /// OpenMetrics 1.0 text.
    case openMetrics
    /// Protocol buffers: delimited `io.prometheus.client.MetricFamily` messages, the format
    /// Prometheus scrapes native histograms in.
    case protobuf

    /// The HTTP `Content-Type` of a rendering in this format.
    public var contentType: String {
        switch self {
        case .text: return "text/plain; version=0.0.4; charset=utf-8"
        case .openMetrics: return "application/openmetrics-text; version=1.0.0; charset=utf-8"
        case .protobuf:
            return "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
        }
    }
}

/// How a registry's renderings spell numbers and order what they write.
public enum RenderingStyle: Sendable {
    /// Families sorted by name, series by label values; whole numbers without a fraction
    /// (`3`); histograms' `_sum` before `_count`; `_created` only in OpenMetrics and protobuf.
    case native
    /// Byte for byte what prometheus_client writes, for services moving from it: families in
    /// the order they were registered (family collectors among them), series in the order they
    /// were created, numbers as Python spells them (`3.0`, `1e+06`), `_count` before `_sum`,
    /// and text 0.0.4 showing `_created` as gauge families of their own.
    case prometheusClient
}

/// A registered family or a family collector, in a rendering's order.
enum RenderItem {
    case family(MetricFamily)
    case collector(FamilyCollector)
}

/// A registered family or the families a collector added, in a rendering's order.
private enum RenderedItem {
    case family(MetricFamily)
    case collected([CollectedFamily])
}

extension Registry {
    /// Renders every registered family, sorted by name, each family's series sorted by
    /// label values, then the families of the family collectors (or everything in the order
    /// of ``renderingStyle``).
    ///
    /// Names outside the legacy character set are written as `escaping` says; legacy names
    /// are written as they are whatever it says.
    public func render(_ format: ExpositionFormat = .text, escaping: NameEscaping = .underscores) -> ExpositionBuffer {
        runCollectors()
        let created = exposesCreatedTimestamps
        let style = renderingStyle
        // Every collector runs before anything is written: one that refreshes registered
        // families (prometheus_client's set_function) is seen wherever they come.
        let items = renderItems(style).map { item -> RenderedItem in
            switch item {
            case .family(let family): return .family(family)
            case .collector(let collector):
                var collected: [CollectedFamily] = []
                collector.run(into: &collected)
                return .collected(collected)
            }
        }
        if format == .protobuf {
            var writer = ProtobufWriter(capacity: 16 * 1024)
            var scratch = ProtobufExposition.Scratch()
            for item in items {
                switch item {
                case .family(let family):
                    ProtobufExposition.render(
                        family, createdTimestamps: created, escaping: escaping, style: style, scratch: &scratch,
                        into: &writer)
                case .collected(let collected):
                    for family in collected {
                        CollectedExposition.renderProtobuf(family, escaping: escaping, into: &writer)
                    }
                }
            }
            return writer.finish()
        }
        var buffer = ExpositionBuffer(capacity: 16 * 1024)
        for item in items {
            switch item {
            case .family(let family):
                Exposition.render(
                    family, format: format, createdTimestamps: created, escaping: escaping, style: style, into: &buffer)
            case .collected(let collected):
                for family in collected {
                    CollectedExposition.renderText(
                        family, openMetrics: format == .openMetrics, escaping: escaping, style: style, into: &buffer)
                }
            }
        }
        if format == .openMetrics {
            buffer.append("# EOF\n" as StaticString)
        }
        return buffer
    }

    /// The rendering as a string, for tests and small tools (not for protobuf, which is binary).
    public func renderString(_ format: ExpositionFormat = .text, escaping: NameEscaping = .underscores) -> String {
        let buffer = render(format, escaping: escaping)
        return buffer.withBytes { String(decoding: $0, as: UTF8.self) }
    }
}

/// Writes families in the text formats. Recording types know nothing of this.
enum Exposition {
    static func render(
        _ family: MetricFamily, format: ExpositionFormat, createdTimestamps: Bool, escaping: NameEscaping,
        style: RenderingStyle, into buffer: inout ExpositionBuffer
    ) {
        let python = style == .prometheusClient
        let series = python ? family.seriesInCreationOrder() : family.sortedSeries()
        var names = TextNames(family, escaping: escaping)
        names.sortsLabels = python  // prometheus_client writes label pairs sorted by name
        let openMetrics = format == .openMetrics
        let created = openMetrics && createdTimestamps
        // The name in HELP and TYPE: text 0.0.4 names the samples, OpenMetrics the family.
        let metadataName: [UInt8]
        let typeName: StaticString
        switch family.kind {
        case .counter:
            metadataName = names.metadataName(openMetrics ? "" : "_total")
            typeName = "counter"
        case .gauge:
            metadataName = names.metadataName("")
            typeName = "gauge"
        case .histogram:
            metadataName = names.metadataName("")
            typeName = "histogram"
        case .info:
            metadataName = names.metadataName(openMetrics ? "" : "_info")
            typeName = openMetrics ? "info" : "gauge"
        case .summary:
            metadataName = names.metadataName("")
            typeName = "summary"
        }
        buffer.append("# HELP " as StaticString)
        buffer.append(metadataName)
        buffer.append(UInt8(ascii: " "))
        buffer.append(Escaping.help(family.help, escapingQuotes: openMetrics))
        buffer.append("\n# TYPE " as StaticString)
        buffer.append(metadataName)
        buffer.append(UInt8(ascii: " "))
        buffer.append(typeName)
        buffer.append(UInt8(ascii: "\n"))
        if openMetrics, let unit = family.unit {
            buffer.append("# UNIT " as StaticString)
            buffer.append(metadataName)
            buffer.append(UInt8(ascii: " "))
            buffer.append(Array(unit.utf8))
            buffer.append(UInt8(ascii: "\n"))
        }

        switch family.kind {
        case .counter:
            let createdName = names.sampleName("_created")
            names.sampleName("_total").withUnsafeBufferPointer { sampleName in
                createdName.withUnsafeBufferPointer { createdName in
                    forEach(series) { item in
                        let counter = unsafeDowncast(item, to: Counter.self)
                        let exemplar = openMetrics && counter.exemplarSlots.isAllocated ? counter.exemplar : nil
                        appendSample(
                            sampleName, names, item, value: counter.value, exemplar: exemplar, python: python,
                            into: &buffer)
                        if created {
                            appendSample(
                                createdName, names, item, value: item.createdTimestamp, python: python, into: &buffer)
                        }
                    }
                }
            }
        case .gauge:
            names.sampleName("").withUnsafeBufferPointer { sampleName in
                forEach(series) { item in
                    appendSample(
                        sampleName, names, item, value: unsafeDowncast(item, to: Gauge.self).value, python: python,
                        into: &buffer)
                }
            }
        case .info:
            names.sampleName("_info").withUnsafeBufferPointer { sampleName in
                forEach(series) { item in
                    appendSample(sampleName, names, item, value: 1, python: python, into: &buffer)
                }
            }
        case .histogram:
            renderHistogram(
                family, series, names, openMetrics: openMetrics, created: created, python: python, into: &buffer)
        case .summary:
            let countName = names.sampleName("_count")
            let sumName = names.sampleName("_sum")
            let createdName = names.sampleName("_created")
            forEach(series) { item in
                let snapshot = unsafeDowncast(item, to: Histogram.self).snapshot()
                countName.withUnsafeBufferPointer {
                    appendSample($0, names, item, value: Double(snapshot.count), python: python, into: &buffer)
                }
                sumName.withUnsafeBufferPointer {
                    appendSample($0, names, item, value: snapshot.sum, python: python, into: &buffer)
                }
                if created {
                    createdName.withUnsafeBufferPointer {
                        appendSample($0, names, item, value: item.createdTimestamp, python: python, into: &buffer)
                    }
                }
            }
        }
        if python && !openMetrics && createdTimestamps && family.kind != .gauge && family.kind != .info {
            // prometheus_client's text 0.0.4: `_created` as a gauge family of its own.
            let createdMetadata = names.metadataName("_created")
            buffer.append("# HELP " as StaticString)
            buffer.append(createdMetadata)
            buffer.append(UInt8(ascii: " "))
            buffer.append(Escaping.help(family.help, escapingQuotes: false))
            buffer.append("\n# TYPE " as StaticString)
            buffer.append(createdMetadata)
            buffer.append(" gauge\n" as StaticString)
            names.sampleName("_created").withUnsafeBufferPointer { createdName in
                forEach(series) { item in
                    appendSample(createdName, names, item, value: item.createdTimestamp, python: true, into: &buffer)
                }
            }
        }
    }

    /// `name{labels} value` or, for a quoted name, `{"name",labels} value`.
    @inline(__always)
    private static func appendSample(
        _ name: UnsafeBufferPointer<UInt8>, _ names: TextNames, _ series: SeriesBase, value: Double,
        exemplar: ExemplarReading? = nil, python: Bool, into buffer: inout ExpositionBuffer
    ) {
        buffer.append(name)
        names.withLabels(series) { labels in
            if names.quoted {
                if !labels.isEmpty {
                    buffer.append(UInt8(ascii: ","))
                    buffer.append(labels)
                }
                buffer.append(UInt8(ascii: "}"))
            } else if !labels.isEmpty {
                buffer.append(UInt8(ascii: "{"))
                buffer.append(labels)
                buffer.append(UInt8(ascii: "}"))
            }
        }
        buffer.append(UInt8(ascii: " "))
        if python { buffer.append(pythonValue: value) } else { buffer.append(sampleValue: value) }
        if let exemplar { appendExemplar(exemplar, python: python, into: &buffer) }
        buffer.append(UInt8(ascii: "\n"))
    }

    /// ` # {name="value",…} value timestamp`, as OpenMetrics writes an exemplar after a sample.
    private static func appendExemplar(_ reading: ExemplarReading, python: Bool, into buffer: inout ExpositionBuffer) {
        var labels: [UInt8] = []
        let pairs =
            python
            ? reading.exemplar.labels.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
            : reading.exemplar.labels
        for (index, label) in pairs.enumerated() {
            if index > 0 { labels.append(UInt8(ascii: ",")) }
            labels.append(contentsOf: label.name.utf8)
            labels.append(contentsOf: [UInt8(ascii: "="), UInt8(ascii: "\"")])
            Escaping.appendLabelValue(label.value.utf8, to: &labels)
            labels.append(UInt8(ascii: "\""))
        }
        buffer.append(" # {" as StaticString)
        buffer.append(labels)
        buffer.append("} " as StaticString)
        if python {
            // prometheus_client writes the timestamp as Python's repr, not as a sample value.
            buffer.append(pythonValue: reading.value)
            buffer.append(UInt8(ascii: " "))
            buffer.append(Array(reading.timestamp.description.utf8))
        } else {
            buffer.append(sampleValue: reading.value)
            buffer.append(UInt8(ascii: " "))
            buffer.append(sampleValue: reading.timestamp)
        }
    }

    /// Calls `body` with each series, unretained: `series` keeps them alive.
    @inline(__always)
    static func forEach(_ series: [SeriesBase], _ body: (SeriesBase) -> Void) {
        series.withUnsafeBufferPointer { items in
            for index in items.indices {
                // At +0 (the array holds the series): no retain/release per rendered line.
                Unmanaged.passUnretained(items[index])._withUnsafeGuaranteedRef(body)
            }
        }
    }

    private static func renderHistogram(
        _ family: MetricFamily, _ series: [SeriesBase], _ names: TextNames, openMetrics: Bool, created: Bool,
        python: Bool, into buffer: inout ExpositionBuffer
    ) {
        // `name_bucket{` or `{"name_bucket",`: either way the labels, a comma, then `le`.
        var bucketName = names.sampleName("_bucket")
        bucketName.append(names.quoted ? UInt8(ascii: ",") : UInt8(ascii: "{"))
        let sumName = names.sampleName("_sum")
        let countName = names.sampleName("_count")
        let createdName = names.sampleName("_created")
        // `le="…"} ` for every bucket, rendered once per scrape.
        var bounds = family.bucketBounds.map { bound -> [UInt8] in
            var scratch = ExpositionBuffer(capacity: 32)
            scratch.append("le=\"" as StaticString)
            scratch.append(bound: bound)
            scratch.append("\"} " as StaticString)
            return scratch.withBytes { Array($0) }
        }
        bounds.append(Array("le=\"+Inf\"} ".utf8))
        // OpenMetrics: with a negative bucket the sum is no counter and "MUST NOT" be shown;
        // prometheus_client leaves it out in text 0.0.4 too.
        let showsSum = !((openMetrics || python) && (family.bucketBounds.first ?? 0) < 0)
        sumName.withUnsafeBufferPointer { sumName in
            countName.withUnsafeBufferPointer { countName in
                forEach(series) { item in
                    let histogram = unsafeDowncast(item, to: Histogram.self)
                    let snapshot = histogram.snapshot()
                    let exemplars = openMetrics && histogram.exemplarSlots.isAllocated ? histogram.exemplars : nil
                    if python {
                        let bucketName = names.sampleName("_bucket")
                        for (index, cumulative) in snapshot.cumulativeCounts.enumerated() {
                            let bound =
                                index < family.bucketBounds.count
                                ? CanonicalNumber.format(family.bucketBounds[index]) : "+Inf"
                            buffer.append(bucketName)
                            buffer.append(names.quoted ? UInt8(ascii: ",") : UInt8(ascii: "{"))
                            buffer.append(names.sortedLabels(item, extra: ("le", bound)))
                            buffer.append("} " as StaticString)
                            buffer.append(pythonValue: Double(cumulative))
                            if let exemplar = exemplars?[index] {
                                appendExemplar(exemplar, python: true, into: &buffer)
                            }
                            buffer.append(UInt8(ascii: "\n"))
                        }
                    } else {
                        names.withLabels(item) { labels in
                            for (index, cumulative) in snapshot.cumulativeCounts.enumerated() {
                                buffer.append(bucketName)
                                if !labels.isEmpty {
                                    buffer.append(labels)
                                    buffer.append(UInt8(ascii: ","))
                                }
                                buffer.append(bounds[index])
                                buffer.append(decimal: cumulative)
                                if let exemplar = exemplars?[index] {
                                    appendExemplar(exemplar, python: false, into: &buffer)
                                }
                                buffer.append(UInt8(ascii: "\n"))
                            }
                        }
                    }
                    if python {  // prometheus_client's order
                        appendSample(countName, names, item, value: Double(snapshot.count), python: true, into: &buffer)
                        if showsSum {
                            appendSample(sumName, names, item, value: snapshot.sum, python: true, into: &buffer)
                        }
                    } else {
                        if showsSum {
                            appendSample(sumName, names, item, value: snapshot.sum, python: false, into: &buffer)
                        }
                        appendSample(
                            countName, names, item, value: Double(snapshot.count), python: false, into: &buffer)
                    }
                    if created {
                        createdName.withUnsafeBufferPointer {
                            appendSample($0, names, item, value: item.createdTimestamp, python: python, into: &buffer)
                        }
                    }
                }
            }
        }
    }
}

/// How one family's names are written in one text rendering.
struct TextNames {
    /// Whether the metric name goes inside the braces, quoted (`{"my.metric",…}`).
    let quoted: Bool
    private let metricName: String
    /// nil when names are written as they are (legacy, or quoted).
    private let escaping: NameEscaping?
    /// The escaped label names to rebuild each series' pairs with; nil when the pairs the
    /// series stored (legacy names as they are, others quoted) serve.
    private let labelNames: [[UInt8]]?

    /// The family's label names, and whether each is in the legacy set.
    private let familyLabelNames: [(name: String, isLegacy: Bool)]

    init(_ family: MetricFamily, escaping: NameEscaping) {
        metricName = family.name
        familyLabelNames = family.labelNames.map { ($0, NameEscaping.isLegacyLabelName($0)) }
        labelNamesSorted = zip(family.labelNames, family.labelNames.dropFirst()).allSatisfy {
            $0.0.utf8.lexicographicallyPrecedes($0.1.utf8)
        }
        if family.hasLegacyNames {
            (quoted, self.escaping, labelNames) = (false, nil, nil)
        } else if escaping == .allowUTF8 {
            (quoted, self.escaping, labelNames) = (!NameEscaping.isLegacyMetricName(family.name), nil, nil)
        } else {
            quoted = false
            self.escaping = escaping
            labelNames =
                family.labelNames.allSatisfy(NameEscaping.isLegacyLabelName)
                ? nil : family.labelNames.map { Array(escaping.escapeLabelName($0).utf8) }
        }
    }

    /// The name with `suffix` as written. The family's name is escaped and the suffix added
    /// after, as client_golang's text writer does: a histogram's `_bucket`, `_sum` and
    /// `_count` samples then carry the name its `# TYPE` line gives, which parsers require
    /// (escaping the whole `lat.ency_sum` with `dots` would write `lat_dot_ency__sum`).
    /// Also in ``RenderingStyle/prometheusClient``: prometheus_client escapes name and suffix
    /// together, and its own parser then reads `lat_dot_ency__bucket` as a family of its own.
    private func written(_ suffix: String) -> String {
        guard let escaping else { return metricName + suffix }
        return escaping.escapeMetricName(metricName) + suffix
    }

    /// The name with `suffix` in `# HELP` and `# TYPE`: `name` or `"name"`.
    func metadataName(_ suffix: String) -> [UInt8] {
        quoted ? Array(Escaping.quoted(written(suffix)).utf8) : Array(written(suffix).utf8)
    }

    /// What a sample line starts with: `name` or `{"name"`.
    func sampleName(_ suffix: String) -> [UInt8] {
        quoted ? [UInt8(ascii: "{")] + Array(Escaping.quoted(written(suffix)).utf8) : Array(written(suffix).utf8)
    }

    /// Whether label pairs are written sorted by name (``RenderingStyle/prometheusClient``)
    /// rather than in the family's order.
    var sortsLabels = false

    /// The series' `name="value",…` pairs and `extra`, sorted by name, as prometheus_client
    /// writes them.
    func sortedLabels(_ series: SeriesBase, extra: (name: String, value: String)? = nil) -> [UInt8] {
        let values = series.storage[0..<series.keyLength].split(separator: 0xFF, omittingEmptySubsequences: false)
        // Sorted by the names as given, not as written (a quoted name starts with `"`).
        var pairs: [(key: String.UTF8View, name: [UInt8], value: [UInt8])] = []
        for (index, name) in labelNameBytes.enumerated() {
            pairs.append((familyLabelNames[index].name.utf8, name, Array(values[index])))
        }
        if let extra { pairs.append((extra.name.utf8, Array(extra.name.utf8), Array(extra.value.utf8))) }
        pairs.sort { $0.key.lexicographicallyPrecedes($1.key) }
        var bytes: [UInt8] = []
        for (index, pair) in pairs.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(contentsOf: pair.name)
            bytes.append(contentsOf: [UInt8(ascii: "="), UInt8(ascii: "\"")])
            Escaping.appendLabelValue(pair.value, to: &bytes)
            bytes.append(UInt8(ascii: "\""))
        }
        return bytes
    }

    /// The label names as this rendering writes them.
    private var labelNameBytes: [[UInt8]] {
        labelNames ?? familyLabelNames.map { Array(($0.isLegacy ? $0.name : Escaping.quoted($0.name)).utf8) }
    }

    /// Whether the label names, as given, are in sorted order: then the stored pairs serve
    /// renderings that sort them.
    private let labelNamesSorted: Bool

    /// Calls `body` with the series' `name="value",…` pairs as this rendering writes them.
    @inline(__always)
    func withLabels<R>(_ series: SeriesBase, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        if sortsLabels && !labelNamesSorted { return sortedLabels(series).withUnsafeBufferPointer(body) }
        guard let labelNames else { return series.withRenderedLabels(body) }
        var bytes: [UInt8] = []
        let values = series.storage[0..<series.keyLength].split(separator: 0xFF, omittingEmptySubsequences: false)
        for (index, name) in labelNames.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(contentsOf: name)
            bytes.append(contentsOf: [UInt8(ascii: "="), UInt8(ascii: "\"")])
            Escaping.appendLabelValue(values[index], to: &bytes)
            bytes.append(UInt8(ascii: "\""))
        }
        return bytes.withUnsafeBufferPointer(body)
    }
}
