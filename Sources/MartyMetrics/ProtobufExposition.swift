/// Writes families as `io.prometheus.client.MetricFamily` messages, each preceded by its length
/// as a varint (`encoding=delimited`), the format Prometheus scrapes native histograms in.
/// Field numbers are those of client_model's `metrics.proto`.
enum ProtobufExposition {
    /// `MetricType` of metrics.proto.
    private enum MetricType: UInt64 {
        case counter = 0
        case gauge = 1
        case summary = 2
        case histogram = 4
    }

    /// Writers reused across series and families, one per nesting level.
    struct Scratch: ~Copyable {
        var value = ProtobufWriter()
        var inner = ProtobufWriter()
    }

    static func render(
        _ family: MetricFamily, createdTimestamps: Bool, escaping: NameEscaping, style: RenderingStyle,
        scratch: inout Scratch, into writer: inout ProtobufWriter
    ) {
        let series = style == .prometheusClient ? family.seriesInCreationOrder() : family.sortedSeries()
        // Protobuf strings carry any UTF-8: only the schemes that escape change a name. The
        // suffix goes after the escaped name, as in the text formats.
        let escape = { (name: String) in family.hasLegacyNames ? name : escaping.escapeMetricName(name) }
        let labelNames = LabelNameFields(
            family.labelNames.map { family.hasLegacyNames ? $0 : escaping.escapeLabelName($0) })
        // Written in place: the family's length goes in a gap before it (no copy of the family).
        let run = writer.beginDelimited(
            estimate: 64 + series.count * (family.kind == .histogram ? 64 + 24 * family.bucketBounds.count : 48))
        switch family.kind {
        case .counter:
            writer.string(1, escape(family.name) + "_total")
        case .info:
            writer.string(1, escape(family.name) + "_info")
        case .gauge, .histogram, .summary:
            writer.string(1, escape(family.name))
        }
        if !family.help.isEmpty { writer.string(2, family.help) }
        let type: MetricType
        switch family.kind {
        case .counter: type = .counter
        case .gauge, .info: type = .gauge
        case .histogram: type = .histogram
        case .summary: type = .summary
        }
        writer.uint64(3, type.rawValue)

        // Each `Metric` is written in place too, in a one-byte gap for its length (most series'
        // messages are shorter than 128 bytes; longer ones move once).
        let metricEstimate = family.kind == .histogram ? 128 : 64
        Exposition.forEach(series) { item in
            let metric = writer.beginDelimited(4, estimate: metricEstimate)
            labelNames.append(item, into: &writer)
            if family.kind == .histogram {
                scratch.value.removeAll()
                appendHistogram(
                    unsafeDowncast(item, to: Histogram.self), bounds: family.bucketBounds,
                    createdTimestamps: createdTimestamps, scratch: &scratch)
                writer.bytes(7, scratch.value.contents)
            } else if family.kind == .summary {
                scratch.value.removeAll()
                let snapshot = unsafeDowncast(item, to: Histogram.self).snapshot()
                scratch.value.uint64(1, snapshot.count)
                scratch.value.double(2, snapshot.sum)
                if createdTimestamps { Timestamp(item.createdTimestamp).write(4, into: &scratch.value) }
                writer.bytes(4, scratch.value.contents)
            } else {
                ScalarValue(item, family.kind, createdTimestamps: createdTimestamps).write(into: &writer)
            }
            writer.endDelimited(metric)
        }
        writer.endDelimited(run)
    }

    /// The `Counter` or `Gauge` message of one counter, gauge or info series.
    private struct ScalarValue {
        let value: Double
        let isCounter: Bool
        let exemplar: [UInt8]?
        let created: Timestamp?
        /// The message's own length.
        let length: Int

        init(_ series: __shared SeriesBase, _ kind: MetricKind, createdTimestamps: Bool) {
            switch kind {
            case .counter:
                let counter = unsafeDowncast(series, to: Counter.self)
                value = counter.value
                isCounter = true
                exemplar = counter.exemplarSlots.isAllocated ? counter.exemplar.map(encodedExemplar) : nil
                created = createdTimestamps ? Timestamp(series.createdTimestamp) : nil
            case .gauge:
                (value, isCounter, exemplar, created) = (unsafeDowncast(series, to: Gauge.self).value, false, nil, nil)
            default:  // info
                (value, isCounter, exemplar, created) = (1, false, nil, nil)
            }
            var length = 9
            if let exemplar { length += ProtobufWriter.fieldLength(exemplar.count) }
            if let created { length += ProtobufWriter.fieldLength(created.length) }
            self.length = length
        }

        func write(into writer: inout ProtobufWriter) {
            writer.lengthDelimited(isCounter ? 3 : 2, length: length)
            writer.double(1, value)
            if let exemplar { writer.bytes(2, exemplar) }
            created?.write(3, into: &writer)
        }
    }

    /// A family's label names as `LabelPair` name fields (tag, length, name), written once per
    /// scrape and copied into every series' pairs.
    private struct LabelNameFields {
        private let fields: [UInt8]
        /// Where each name's field ends in `fields`.
        private let ends: [Int]

        init(_ names: [String]) {
            var writer = ProtobufWriter(capacity: 64)
            var ends: [Int] = []
            for name in names {
                writer.string(1, name)
                ends.append(writer.count)
            }
            fields = writer.array
            self.ends = ends
        }

        /// The series' `LabelPair`s: its key holds the values in label-name order, each ended
        /// by 0xFF.
        func append(_ series: SeriesBase, into metric: inout ProtobufWriter) {
            guard !ends.isEmpty else { return }
            fields.withUnsafeBufferPointer { fields in
                ends.withUnsafeBufferPointer { ends in
                    series.storage.withUnsafeBufferPointer { storage in
                        // Unchecked: the key ends with a 0xFF after every value, one per name.
                        let key = storage.baseAddress!
                        var start = 0
                        var fieldStart = 0
                        for fieldEnd in ends {
                            var end = start
                            while key[end] != 0xFF { end &+= 1 }
                            let name = UnsafeBufferPointer(rebasing: fields[fieldStart..<fieldEnd])
                            let value = UnsafeBufferPointer(start: key + start, count: end &- start)
                            // LabelPair{name, value}: one capacity check for the pair.
                            let pairLength = name.count + ProtobufWriter.fieldLength(value.count)
                            metric.reserve(pairLength + 10)
                            metric.varintReserved(1 << 3 | 2)
                            metric.varintReserved(UInt64(pairLength))
                            metric.rawReserved(name)
                            metric.varintReserved(2 << 3 | 2)
                            metric.varintReserved(UInt64(value.count))
                            metric.rawReserved(value)
                            start = end + 1
                            fieldStart = fieldEnd
                        }
                    }
                }
            }
        }
    }

    /// A `google.protobuf.Timestamp`: whole seconds and nanoseconds.
    struct Timestamp {
        let seconds: Int64
        let nanos: Int64

        /// The message's length.
        let length: Int

        init(_ time: Double) {
            // Clock readings; anything else (never seen) is written as the epoch, not a trap.
            guard time >= 0, time < 9e9 else {  // false for NaN too
                (seconds, nanos, length) = (0, 0, 2)
                return
            }
            // A double's precision, in integers; truncation is the floor here (time >= 0), and
            // the conversion instruction is cheaper than libm's floor, once per series and scrape.
            let total = Int64(time * 1e9)
            seconds = total / 1_000_000_000
            nanos = total &- seconds &* 1_000_000_000
            length =
                1 + ProtobufWriter.varintLength(UInt64(bitPattern: seconds))
                + (nanos > 0 ? 1 + ProtobufWriter.varintLength(UInt64(nanos)) : 0)
        }

        @inline(__always)
        func write(_ field: Int, into writer: inout ProtobufWriter) {
            // Tag, length, two tags and two varints of at most ten bytes: one capacity check.
            writer.reserve(24)
            if seconds >= 1 << 28 && seconds < 1 << 35 && field < 16 {
                // Every clock reading from 1978 to 3058: seconds take five varint bytes, so the
                // field's tag and length, the seconds' tag and the seconds fill one word; the
                // nanoseconds with their tag another (0x08 and 0x10: fields 1 and 2, varints).
                // Once per series and scrape.
                let nanosLength = length &- 6
                let secondsVarint = ProtobufWriter.spreadSevenBitGroups(UInt64(seconds)) | 0x8080_8080
                writer.appendReservedWord(
                    UInt64(field) << 3 | 2 | UInt64(length) << 8 | 0x08 << 16 | secondsVarint << 24, keeping: 8)
                if nanos > 0 {
                    let continuation: UInt64 = 0x8080_8080 & ((1 << (8 &* (nanosLength &- 2))) &- 1)
                    let nanosVarint = ProtobufWriter.spreadSevenBitGroups(UInt64(nanos)) | continuation
                    writer.appendReservedWord(2 << 3 | nanosVarint << 8, keeping: nanosLength)
                }
                return
            }
            writer.varintReserved(UInt64(field) << 3 | 2)
            writer.varintReserved(UInt64(length))
            writer.varintReserved(1 << 3)
            writer.varintReserved(UInt64(bitPattern: seconds))
            if nanos > 0 {
                writer.varintReserved(2 << 3)
                writer.varintReserved(UInt64(nanos))
            }
        }
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
            writer.bytes(1, scratch.contents)
        }
        writer.double(2, reading.value)
        Timestamp(reading.timestamp).write(3, into: &writer)
        return writer.array
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
            scratch.value.bytes(3, scratch.inner.contents)
        }
        if native == nil, let exemplar = exemplars?[bounds.count] {
            // +Inf's exemplar has no bucket message of its own: a bucket with bound +Inf carries it.
            scratch.inner.removeAll()
            scratch.inner.uint64(1, snapshot.count)
            scratch.inner.double(2, .infinity)
            scratch.inner.bytes(3, encodedExemplar(exemplar))
            scratch.value.bytes(3, scratch.inner.contents)
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
            Timestamp(histogram.createdTimestamp).write(15, into: &scratch.value)
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
            writer.bytes(field, scratch.contents)
        }
    }
}
