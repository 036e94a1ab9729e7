import Testing

@testable import MartyMetrics

/// A protobuf `Timestamp` from a Double: clock readings split exactly into seconds and
/// nanoseconds; anything else is the epoch, never a trap of the Double-to-Int64 conversion.
@Suite struct ProtobufTimestampTests {
    @Test func clockReadingsSplitIntoSecondsAndNanoseconds() {
        let half = ProtobufExposition.Timestamp(1.5)
        #expect(half.seconds == 1 && half.nanos == 500_000_000)
        let now = ProtobufExposition.Timestamp(1_764_950_400.125)
        #expect(now.seconds == 1_764_950_400 && abs(now.nanos - 125_000_000) < 1000)
        let whole = ProtobufExposition.Timestamp(1_764_950_400)
        #expect(whole.seconds == 1_764_950_400 && whole.nanos == 0)
    }

    /// The one-word encoding of clock readings writes the bytes field by field writing gives.
    @Test func wordEncodingMatchesFieldByField() {
        let times: [Double] = [
            0, 1.5, 268_435_455.5, 268_435_456, 268_435_456.000_000_1, 1_764_950_400, 1_764_950_400.000_000_127,
            1_764_950_400.000_000_128, 1_764_950_400.5, 1_764_950_400.999_999, 8_999_999_999.75,
        ]
        for time in times {
            let timestamp = ProtobufExposition.Timestamp(time)
            var fast = ProtobufWriter()
            timestamp.write(3, into: &fast)
            var plain = ProtobufWriter()
            plain.lengthDelimited(3, length: timestamp.length)
            plain.int64(1, timestamp.seconds)
            if timestamp.nanos > 0 { plain.int64(2, timestamp.nanos) }
            #expect(Array(fast.contents) == Array(plain.contents), "\(time)")
        }
    }

    @Test(arguments: [Double.nan, .infinity, -.infinity, -1, 9e9, 1e300, -.leastNonzeroMagnitude])
    func valuesThatAreNoClockReadingAreTheEpoch(time: Double) {
        let timestamp = ProtobufExposition.Timestamp(time)
        #expect(timestamp.seconds == 0 && timestamp.nanos == 0)
    }
}

@Suite struct ProtobufVarintTests {
    /// Every length of varint, at its edges and between: the minimal encoding, seven bits at a
    /// time, least significant first, and nothing written past it.
    @Test func varintsAreMinimalAndExact() {
        var values: [UInt64] = [0, 1, 0x7F, .max, .max - 1, 1_764_950_400, 999_999_999]
        for bits in 7...63 {
            let edge: UInt64 = 1 << bits
            values += [edge - 1, edge, edge + 1, edge | 0x5555_5555_5555_5555 & (edge - 1)]
        }
        for value in values {
            var expected: [UInt8] = []
            var rest = value
            while rest >= 0x80 {
                expected.append(UInt8(rest & 0x7F) | 0x80)
                rest >>= 7
            }
            expected.append(UInt8(rest))
            var writer = ProtobufWriter()
            writer.varint(value)
            writer.varint(0x55)  // a next field right after it
            #expect(Array(writer.contents) == expected + [0x55], "\(value)")
            #expect(ProtobufWriter.varintLength(value) == expected.count, "\(value)")
        }
    }
}

@Suite struct ProtobufFamilyLengthTests {
    /// Each family's delimited length, read back: minimal varints that cover the stream exactly.
    private func familyNames(_ registry: Registry) -> [String] {
        let bytes = registry.render(.protobuf).withBytes { Array($0) }
        var names: [String] = []
        var position = 0
        while position < bytes.count {
            var length = 0
            var shift = 0
            let start = position
            while true {
                let byte = bytes[position]
                position += 1
                length |= Int(byte & 0x7F) << shift
                shift += 7
                if byte & 0x80 == 0 { break }
            }
            #expect(position - start == 1 || bytes[position - 1] != 0, "a padded length varint")
            #expect(position + length <= bytes.count)
            // The family's first field is its name (field 1, wire type 2), a short string here.
            #expect(bytes[position] == 0x0A)
            let nameLength = Int(bytes[position + 1])
            names.append(String(decoding: bytes[(position + 2)..<(position + 2 + nameLength)], as: UTF8.self))
            position += length
        }
        #expect(position == bytes.count)
        return names
    }

    @Test func familyLengthsAreRightWhenTheGuessIsShortOrLong() throws {
        let registry = Registry()
        registry.exposesCreatedTimestamps = false  // about 27 bytes per counter series
        // One series with a help of 5,000 bytes: longer than the guess for one series.
        try registry.gauge("a_long_help", help: String(repeating: "h", count: 5_000)).labels().set(1)
        // 400 series of tiny labels (about 11 KB): shorter than the guess (19 KB, a 3-byte length).
        let many = try registry.counter("b_many", help: "", labelNames: ["i"])
        for index in 0..<400 { try many.labels(String(index % 10)).inc() }
        let tiny = try registry.counter("c_tiny", help: "", labelNames: ["k"])
        for index in 0..<400 { try tiny.labels("\(index)").inc() }
        #expect(familyNames(registry) == ["a_long_help", "b_many_total", "c_tiny_total"])
    }

    /// A label pair longer than 127 bytes takes two-byte lengths, in place, in a metric that
    /// outgrows its one-byte length gap; the family around it still reads back.
    @Test func longLabelValuesAreWrittenWhole() throws {
        let registry = Registry()
        registry.exposesCreatedTimestamps = false
        let value = String(repeating: "v", count: 300)
        try registry.counter("d_long", help: "", labelNames: ["k"]).labels(value).inc()
        #expect(familyNames(registry) == ["d_long_total"])
        let bytes = registry.render(.protobuf).withBytes { Array($0) }
        // LabelPair: tag, length 306 (0xB2 0x02), name field "k", value field of 300 (0xAC 0x02).
        let pair: [UInt8] = [0x0A, 0xB2, 0x02, 0x0A, 0x01, UInt8(ascii: "k"), 0x12, 0xAC, 0x02] + Array(value.utf8)
        #expect(bytes.firstRange(of: pair) != nil)
    }
}
