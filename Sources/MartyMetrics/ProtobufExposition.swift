/// Writes families as `io.prometheus.client.MetricFamily` messages, each preceded by its length
/// as a varint (`encoding=delimited`), the format Prometheus scrapes native histograms in.
/// Field numbers are those of client_model's `metrics.proto`.
enum ProtobufExposition {
    /// `MetricType` of metrics.proto.
    private enum MetricType: UInt64 {
        case counter = 0
        case gauge = 1
        case histogram = 4
    }

    /// Writers reused across series and families, one per nesting level.
    struct Scratch {
        var family = ProtobufWriter(capacity: 4096)
        var metric = ProtobufWriter()
        var value = ProtobufWriter()
        var inner = ProtobufWriter()
        var innermost = ProtobufWriter()
    }

    static func render(
        _ family: MetricFamily, createdTimestamps: Bool, escaping: NameEscaping, scratch: inout Scratch,
        into buffer: inout ExpositionBuffer
    ) {
        let series = family.sortedSeries()
        // Protobuf strings carry any UTF-8: only the schemes that escape change a name. The
        // suffix goes after the escaped name, as in the text formats.
        let escape = { (name: String) in family.hasLegacyNames ? name : escaping.escapeMetricName(name) }
        let labelNames = family.labelNames.map {
            Array((family.hasLegacyNames ? $0 : escaping.escapeLabelName($0)).utf8)
        }
        scratch.family.removeAll()
        switch family.kind {
        case .counter:
            scratch.family.string(1, escape(family.name) + "_total")
        case .info:
            scratch.family.string(1, escape(family.name) + "_info")
        case .gauge, .histogram:
            scratch.family.string(1, escape(family.name))
        }
        if !family.help.isEmpty { scratch.family.string(2, family.help) }
        let type: MetricType
        switch family.kind {
        case .counter: type = .counter
        case .gauge, .info: type = .gauge
        case .histogram: type = .histogram
        }
        scratch.family.uint64(3, type.rawValue)

        for item in series {
            scratch.metric.removeAll()
            appendLabels(item, names: labelNames, into: &scratch.metric, scratch: &scratch.inner)
            scratch.value.removeAll()
            switch family.kind {
            case .counter:
                let counter = unsafeDowncast(item, to: Counter.self)
                scratch.value.double(1, counter.value)
                if counter.exemplarSlots.isAllocated, let exemplar = counter.exemplar {
                    scratch.value.bytes(2, encodedExemplar(exemplar))
                }
                if createdTimestamps {
                    appendTimestamp(3, item.createdTimestamp, into: &scratch.value, scratch: &scratch.inner)
                }
                scratch.metric.bytes(3, scratch.value.bytes)
            case .gauge:
                scratch.value.double(1, unsafeDowncast(item, to: Gauge.self).value)
                scratch.metric.bytes(2, scratch.value.bytes)
            case .info:
                scratch.value.double(1, 1)
                scratch.metric.bytes(2, scratch.value.bytes)
            case .histogram:
                appendHistogram(
                    unsafeDowncast(item, to: Histogram.self), bounds: family.bucketBounds,
                    createdTimestamps: createdTimestamps, scratch: &scratch)
                scratch.metric.bytes(7, scratch.value.bytes)
            }
            scratch.family.bytes(4, scratch.metric.bytes)
        }

        var length = ProtobufWriter(capacity: 10)
        length.varint(UInt64(scratch.family.bytes.count))
        buffer.append(length.bytes)
        buffer.append(scratch.family.bytes)
    }

    /// `LabelPair`s from the series' key: its values in label-name order, each ended by 0xFF.
    private static func appendLabels(
        _ series: SeriesBase, names: [[UInt8]], into metric: inout ProtobufWriter, scratch: inout ProtobufWriter
    ) {
        guard !names.isEmpty else { return }
        series.storage.withUnsafeBufferPointer { storage in
            var start = 0
            for name in names {
                var end = start
                while storage[end] != 0xFF { end += 1 }
                scratch.removeAll()
                scratch.bytes(1, name)
                scratch.bytes(2, UnsafeBufferPointer(rebasing: storage[start..<end]))
                metric.bytes(1, scratch.bytes)
                start = end + 1
            }
        }
    }

    /// A `google.protobuf.Timestamp` field: whole seconds and nanoseconds.
    private static func appendTimestamp(
        _ field: Int, _ seconds: Double, into writer: inout ProtobufWriter, scratch: inout ProtobufWriter
    ) {
        let whole = seconds.rounded(.down)
        scratch.removeAll()
        scratch.int64(1, Int64(whole))
        let nanos = Int64(((seconds - whole) * 1e9).rounded())
        if nanos > 0 { scratch.int64(2, min(nanos, 999_999_999)) }
        writer.bytes(field, scratch.bytes)
    }

    /// An `Exemplar` message: its label pairs, value and timestamp. Only series that were given
    /// an exemplar pay for this.
    private static func encodedExemplar(_ reading: ExemplarReading) -> [UInt8] {
        var writer = ProtobufWriter()
        var scratch = ProtobufWriter()
        for label in reading.exemplar.labels {
            scratch.removeAll()
            scratch.string(1, label.name)
            scratch.string(2, label.value)
            writer.bytes(1, scratch.bytes)
        }
        writer.double(2, reading.value)
        var inner = ProtobufWriter()
        appendTimestamp(3, reading.timestamp, into: &writer, scratch: &inner)
        return writer.bytes
    }

    /// A `Histogram` message into `scratch.value`: count, sum, the classic buckets (cumulative,
    /// without +Inf, as client_golang writes them: the count is +Inf's), the native buckets,
    /// created timestamp.
    private static func appendHistogram(
        _ histogram: Histogram, bounds: [Double], createdTimestamps: Bool, scratch: inout Scratch
    ) {
        let snapshot = histogram.snapshot()
        let native = histogram.nativeSnapshot()
        let exemplars = histogram.exemplarSlots.isAllocated ? histogram.exemplars : nil
        // With native buckets the count is theirs, so that it always agrees with them.
        scratch.value.uint64(1, native?.count ?? snapshot.count)
        scratch.value.double(2, native?.sum ?? snapshot.sum)
        for (index, bound) in bounds.enumerated() {
            scratch.inner.removeAll()
            scratch.inner.uint64(1, snapshot.cumulativeCounts[index])
            scratch.inner.double(2, bound)
            if let exemplar = exemplars?[index] { scratch.inner.bytes(3, encodedExemplar(exemplar)) }
            scratch.value.bytes(3, scratch.inner.bytes)
        }
        if native == nil, let exemplar = exemplars?[bounds.count] {
            // +Inf's exemplar has no bucket message of its own: a bucket with bound +Inf carries it.
            scratch.inner.removeAll()
            scratch.inner.uint64(1, snapshot.count)
            scratch.inner.double(2, .infinity)
            scratch.inner.bytes(3, encodedExemplar(exemplar))
            scratch.value.bytes(3, scratch.inner.bytes)
        }
        if let native {
            scratch.value.sint64(5, Int64(native.schema))
            scratch.value.double(6, native.zeroThreshold)
            scratch.value.uint64(7, native.zeroCount)
            appendSpans(9, native.negativeSpans, into: &scratch.value, scratch: &scratch.inner)
            scratch.value.packedSInt64(10, native.negativeDeltas, scratch: &scratch.inner)
            var positiveSpans = native.positiveSpans
            if positiveSpans.isEmpty && native.negativeSpans.isEmpty {
                // A span of no buckets marks the histogram as native while it is still empty,
                // as client_golang writes it.
                positiveSpans = [NativeHistogramSnapshot.Span(offset: 0, length: 0)]
            }
            appendSpans(12, positiveSpans, into: &scratch.value, scratch: &scratch.inner)
            scratch.value.packedSInt64(13, native.positiveDeltas, scratch: &scratch.inner)
            for case let exemplar? in exemplars ?? [] { scratch.value.bytes(16, encodedExemplar(exemplar)) }
        }
        if createdTimestamps {
            appendTimestamp(15, histogram.createdTimestamp, into: &scratch.value, scratch: &scratch.innermost)
        }
    }

    private static func appendSpans(
        _ field: Int, _ spans: [NativeHistogramSnapshot.Span], into writer: inout ProtobufWriter,
        scratch: inout ProtobufWriter
    ) {
        for span in spans {
            scratch.removeAll()
            scratch.sint64(1, Int64(span.offset))
            scratch.uint64(2, UInt64(span.length))
            writer.bytes(field, scratch.bytes)
        }
    }
}
