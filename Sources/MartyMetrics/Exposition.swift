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

extension Registry {
    /// Renders every registered family, sorted by name, each family's series sorted by
    /// label values.
    public func render(_ format: ExpositionFormat = .text) -> ExpositionBuffer {
        runCollectors()
        var buffer = ExpositionBuffer(capacity: 16 * 1024)
        let created = exposesCreatedTimestamps
        if format == .protobuf {
            var scratch = ProtobufExposition.Scratch()
            for family in sortedFamilies() {
                ProtobufExposition.render(family, createdTimestamps: created, scratch: &scratch, into: &buffer)
            }
            return buffer
        }
        for family in sortedFamilies() {
            Exposition.render(family, format: format, createdTimestamps: created, into: &buffer)
        }
        if format == .openMetrics {
            buffer.append("# EOF\n" as StaticString)
        }
        return buffer
    }

    /// The rendering as a string, for tests and small tools (not for protobuf, which is binary).
    public func renderString(_ format: ExpositionFormat = .text) -> String {
        let buffer = render(format)
        return buffer.withBytes { String(decoding: $0, as: UTF8.self) }
    }
}

/// Writes families in the text formats. Recording types know nothing of this.
enum Exposition {
    static func render(
        _ family: MetricFamily, format: ExpositionFormat, createdTimestamps: Bool, into buffer: inout ExpositionBuffer
    ) {
        let series = family.sortedSeries()
        let openMetrics = format == .openMetrics
        let created = openMetrics && createdTimestamps
        // The name in HELP and TYPE: text 0.0.4 names the samples, OpenMetrics the family.
        let metadataName: String
        let typeName: StaticString
        switch family.kind {
        case .counter:
            metadataName = openMetrics ? family.name : family.name + "_total"
            typeName = "counter"
        case .gauge:
            metadataName = family.name
            typeName = "gauge"
        case .histogram:
            metadataName = family.name
            typeName = "histogram"
        case .info:
            metadataName = openMetrics ? family.name : family.name + "_info"
            typeName = openMetrics ? "info" : "gauge"
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

        switch family.kind {
        case .counter:
            let createdName = Array((family.name + "_created").utf8)
            Array((family.name + "_total").utf8).withUnsafeBufferPointer { sampleName in
                createdName.withUnsafeBufferPointer { createdName in
                    forEach(series) { item in
                        let counter = unsafeDowncast(item, to: Counter.self)
                        let exemplar = openMetrics && counter.exemplarSlots.isAllocated ? counter.exemplar : nil
                        appendSample(sampleName, item, value: counter.value, exemplar: exemplar, into: &buffer)
                        if created { appendSample(createdName, item, value: item.createdTimestamp, into: &buffer) }
                    }
                }
            }
        case .gauge:
            Array(family.name.utf8).withUnsafeBufferPointer { sampleName in
                forEach(series) { item in
                    appendSample(sampleName, item, value: unsafeDowncast(item, to: Gauge.self).value, into: &buffer)
                }
            }
        case .info:
            Array((family.name + "_info").utf8).withUnsafeBufferPointer { sampleName in
                forEach(series) { item in
                    appendSample(sampleName, item, value: 1, into: &buffer)
                }
            }
        case .histogram:
            renderHistogram(family, series, openMetrics: openMetrics, created: created, into: &buffer)
        }
    }

    @inline(__always)
    private static func appendSample(
        _ name: UnsafeBufferPointer<UInt8>, _ series: SeriesBase, value: Double, exemplar: ExemplarReading? = nil,
        into buffer: inout ExpositionBuffer
    ) {
        buffer.append(name)
        series.withRenderedLabels { labels in
            if !labels.isEmpty {
                buffer.append(UInt8(ascii: "{"))
                buffer.append(labels)
                buffer.append(UInt8(ascii: "}"))
            }
        }
        buffer.append(UInt8(ascii: " "))
        buffer.append(sampleValue: value)
        if let exemplar { appendExemplar(exemplar, into: &buffer) }
        buffer.append(UInt8(ascii: "\n"))
    }

    /// ` # {name="value",…} value timestamp`, as OpenMetrics writes an exemplar after a sample.
    private static func appendExemplar(_ reading: ExemplarReading, into buffer: inout ExpositionBuffer) {
        var labels: [UInt8] = []
        for (index, label) in reading.exemplar.labels.enumerated() {
            if index > 0 { labels.append(UInt8(ascii: ",")) }
            labels.append(contentsOf: label.name.utf8)
            labels.append(contentsOf: [UInt8(ascii: "="), UInt8(ascii: "\"")])
            Escaping.appendLabelValue(label.value.utf8, to: &labels)
            labels.append(UInt8(ascii: "\""))
        }
        buffer.append(" # {" as StaticString)
        buffer.append(labels)
        buffer.append("} " as StaticString)
        buffer.append(sampleValue: reading.value)
        buffer.append(UInt8(ascii: " "))
        buffer.append(sampleValue: reading.timestamp)
    }

    /// Calls `body` with each series, unretained: `series` keeps them alive.
    @inline(__always)
    private static func forEach(_ series: [SeriesBase], _ body: (SeriesBase) -> Void) {
        series.withUnsafeBufferPointer { items in
            for index in items.indices {
                // At +0 (the array holds the series): no retain/release per rendered line.
                Unmanaged.passUnretained(items[index])._withUnsafeGuaranteedRef(body)
            }
        }
    }

    private static func renderHistogram(
        _ family: MetricFamily, _ series: [SeriesBase], openMetrics: Bool, created: Bool,
        into buffer: inout ExpositionBuffer
    ) {
        let bucketName = Array((family.name + "_bucket{").utf8)
        let sumName = Array((family.name + "_sum").utf8)
        let countName = Array((family.name + "_count").utf8)
        let createdName = Array((family.name + "_created").utf8)
        // `le="…"} ` for every bucket, rendered once per scrape.
        var bounds = family.bucketBounds.map { bound -> [UInt8] in
            var scratch = ExpositionBuffer(capacity: 32)
            scratch.append("le=\"" as StaticString)
            scratch.append(bound: bound)
            scratch.append("\"} " as StaticString)
            return scratch.withBytes { Array($0) }
        }
        bounds.append(Array("le=\"+Inf\"} ".utf8))
        sumName.withUnsafeBufferPointer { sumName in
            countName.withUnsafeBufferPointer { countName in
                forEach(series) { item in
                    let histogram = unsafeDowncast(item, to: Histogram.self)
                    let snapshot = histogram.snapshot()
                    let exemplars = openMetrics && histogram.exemplarSlots.isAllocated ? histogram.exemplars : nil
                    item.withRenderedLabels { labels in
                        for (index, cumulative) in snapshot.cumulativeCounts.enumerated() {
                            buffer.append(bucketName)
                            if !labels.isEmpty {
                                buffer.append(labels)
                                buffer.append(UInt8(ascii: ","))
                            }
                            buffer.append(bounds[index])
                            buffer.append(decimal: cumulative)
                            if let exemplar = exemplars?[index] { appendExemplar(exemplar, into: &buffer) }
                            buffer.append(UInt8(ascii: "\n"))
                        }
                    }
                    appendSample(sumName, item, value: snapshot.sum, into: &buffer)
                    appendSample(countName, item, value: Double(snapshot.count), into: &buffer)
                    if created {
                        createdName.withUnsafeBufferPointer {
                            appendSample($0, item, value: item.createdTimestamp, into: &buffer)
                        }
                    }
                }
            }
        }
    }
}
