import Testing

@testable import MartyMetrics

@Suite struct ExpositionTests {
    @Test func smallRegistryRendersExactText() throws {
        let registry = Registry()
        let requests = try registry.counter("http_requests", help: "Requests served.", labelNames: ["method", "code"])
        try requests.labels("GET", "200").inc(by: 3)
        try requests.labels("GET", "404").inc()
        try requests.labels("DELETE", "200").add(0.5)
        let temperature = try registry.gauge("temperature_celsius", help: "Temperature.")
        try temperature.labels().set(-3.25)
        let latency = try registry.histogram(
            "latency_seconds", help: "Latency.", labelNames: ["route"], buckets: HistogramBuckets([0.1, 1]))
        let root = try latency.labels("/")
        try root.observe(0.05)
        try root.observe(0.1)  // on a bound: counts in that bucket
        try root.observe(2)
        let info = try registry.info("build", help: "Build facts.", labelNames: ["version"])
        try info.set(["1.2.3"])

        #expect(
            registry.renderString() == """
                # HELP build_info Build facts.
                # TYPE build_info gauge
                build_info{version="1.2.3"} 1
                # HELP http_requests_total Requests served.
                # TYPE http_requests_total counter
                http_requests_total{method="DELETE",code="200"} 0.5
                http_requests_total{method="GET",code="200"} 3
                http_requests_total{method="GET",code="404"} 1
                # HELP latency_seconds Latency.
                # TYPE latency_seconds histogram
                latency_seconds_bucket{route="/",le="0.1"} 2
                latency_seconds_bucket{route="/",le="1.0"} 2
                latency_seconds_bucket{route="/",le="+Inf"} 3
                latency_seconds_sum{route="/"} 2.15
                latency_seconds_count{route="/"} 3
                # HELP temperature_celsius Temperature.
                # TYPE temperature_celsius gauge
                temperature_celsius -3.25

                """)
    }

    @Test func openMetricsNamesCounterFamiliesWithoutTotalAndEndsWithEOF() throws {
        let registry = Registry()
        registry.exposesCreatedTimestamps = false
        try registry.counter("jobs_total", help: "Jobs \"done\".").labels().inc()
        try registry.info("build", help: "Build.", labelNames: ["version"]).set(["1"])
        #expect(
            registry.renderString(.openMetrics) == """
                # HELP build Build.
                # TYPE build info
                build_info{version="1"} 1
                # HELP jobs Jobs \\"done\\".
                # TYPE jobs counter
                jobs_total 1
                # EOF

                """)
    }

    @Test func openMetricsShowsCreatedTimestampsOfCountersAndHistograms() throws {
        let registry = Registry()
        let counter = try registry.counter("jobs", help: "", labelNames: ["queue"]).labels("a")
        let histogram = try registry.histogram("latency", help: "", buckets: HistogramBuckets([1])).labels()
        _ = try registry.gauge("g", help: "").labels()
        let lines = registry.renderString(.openMetrics).split(separator: "\n").map(String.init)
        let created = try #require(lines.firstIndex { $0.hasPrefix("jobs_created{queue=\"a\"} ") })
        #expect(lines[created - 1] == "jobs_total{queue=\"a\"} 0")
        #expect(Double(lines[created].split(separator: " ")[1]) == counter.createdTimestamp)
        let histogramCreated = try #require(lines.firstIndex { $0.hasPrefix("latency_created ") })
        #expect(lines[histogramCreated - 1] == "latency_count 0")
        #expect(Double(lines[histogramCreated].split(separator: " ")[1]) == histogram.createdTimestamp)
        #expect(!lines.contains { $0.hasPrefix("g_created") })
        #expect(!registry.renderString(.text).contains("_created"))
        // A counter reset (swift-metrics' reset) starts it again.
        let before = counter.createdTimestamp
        counter.reset()
        #expect(counter.createdTimestamp >= before)
        registry.exposesCreatedTimestamps = false
        #expect(!registry.renderString(.openMetrics).contains("_created"))
    }

    @Test func protobufIsDelimitedMetricFamilies() throws {
        let registry = Registry()
        registry.exposesCreatedTimestamps = false
        try registry.counter("jobs", help: "").labels().inc()
        let bytes = registry.render(.protobuf).withBytes { Array($0) }
        let one: [UInt8] = [0x09, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F]  // field 1, double 1.0
        let family: [UInt8] =
            [0x0A, 10] + Array("jobs_total".utf8)  // name
            + [0x18, 0x00]  // type COUNTER
            + [0x22, 11, 0x1A, 9] + one  // metric { counter { value: 1 } }
        #expect(bytes == [UInt8(family.count)] + family)
    }

    @Test func labelValuesEscapeBackslashQuoteAndNewline() throws {
        let registry = Registry()
        let family = try registry.gauge("g", help: "", labelNames: ["v"])
        try family.labels("a\\b").set(1)
        try family.labels("say \"hi\"").set(2)
        try family.labels("two\nlines").set(3)
        try family.labels("日本 é").set(4)
        let lines = registry.renderString().split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(
            lines == [
                #"g{v="a\\b"} 1"#,
                #"g{v="say \"hi\""} 2"#,
                #"g{v="two\nlines"} 3"#,
                #"g{v="日本 é"} 4"#,
            ])
    }

    @Test func helpEscapesBackslashAndNewlineAndOnlyOpenMetricsEscapesQuotes() throws {
        let registry = Registry()
        _ = try registry.gauge("g", help: "back\\slash\nnew \"quoted\"")
        #expect(registry.renderString().hasPrefix(#"# HELP g back\\slash\nnew "quoted""# + "\n"))
        #expect(registry.renderString(.openMetrics).hasPrefix(#"# HELP g back\\slash\nnew \"quoted\""# + "\n"))
    }

    @Test(arguments: [
        (Double.infinity, "+Inf"), (-Double.infinity, "-Inf"), (Double.nan, "NaN"), (0.1, "0.1"),
        (-0.0, "0"), (0, "0"), (1e-05, "1e-05"), (1e20, "1e+20"), (123_456_789_012_345, "123456789012345"),
        (-42, "-42"), (2.5, "2.5"),
    ])
    func sampleValuesAreSpelledAsTheFormatsSay(value: Double, expected: String) throws {
        let registry = Registry()
        try registry.gauge("g", help: "").labels().set(value)
        #expect(registry.renderString().hasSuffix("\ng \(expected)\n"))
    }

    @Test func familiesAndSeriesAreSorted() throws {
        let registry = Registry()
        let b = try registry.gauge("b", help: "", labelNames: ["x", "y"])
        _ = try registry.gauge("a", help: "")
        for (x, y) in [("b", "1"), ("a", "2"), ("ab", "0"), ("a", "10"), ("", "z")] {
            try b.labels(x, y).set(1)
        }
        let samples = registry.renderString().split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(
            samples == [
                "a 0", #"b{x="",y="z"} 1"#, #"b{x="a",y="10"} 1"#, #"b{x="a",y="2"} 1"#, #"b{x="ab",y="0"} 1"#,
                #"b{x="b",y="1"} 1"#,
            ])
        #expect(registry.renderString().hasPrefix("# HELP a \n# TYPE a gauge\na 0\n# HELP b"))
    }

    @Test func unlabelledFamiliesShowZeroFromTheStart() throws {
        let registry = Registry()
        _ = try registry.counter("c", help: "")
        _ = try registry.histogram("h", help: "", buckets: HistogramBuckets([1]))
        #expect(registry.renderString().contains("\nc_total 0\n"))
        #expect(registry.renderString().contains("\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n"))
    }

    @Test func emptyRegistryRendersNothingAndOpenMetricsOnlyEOF() {
        let registry = Registry()
        #expect(registry.renderString() == "")
        #expect(registry.renderString(.openMetrics) == "# EOF\n")
    }

    @Test func unregisteredFamilyDisappearsButKeepsRecording() throws {
        let registry = Registry()
        let family = try registry.counter("c", help: "")
        let counter = try family.labels()
        try registry.unregister(family)
        counter.inc()
        #expect(registry.renderString() == "")
        #expect(counter.value == 1)
        try registry.register(family)
        #expect(registry.renderString().contains("c_total 1\n"))
    }
}

@Suite struct CanonicalNumberTests {
    // The OpenMetrics 1.0 "Canonical Numbers" examples, and Go's FormatFloat(v, 'g', -1, 64).
    @Test(arguments: [
        (0.0, "0.0"), (1, "1.0"), (0.005, "0.005"), (0.0001, "0.0001"), (0.00001, "1e-05"), (100_000, "100000.0"),
        (1e6, "1e+06"), (1e10, "1e+10"), (123_456_789, "1.23456789e+08"), (2.5, "2.5"), (-3, "-3.0"),
        (0.000123, "0.000123"), (1.5e-7, "1.5e-07"), (1e100, "1e+100"), (Double.infinity, "+Inf"),
        (-Double.infinity, "-Inf"),
    ])
    func bucketBoundsUseCanonicalNumbers(value: Double, expected: String) {
        #expect(CanonicalNumber.format(value) == expected)
    }

    @Test func countersPastTwoToTheSixtyFourDoNotWrap() throws {
        let counter = try Registry().counter("c", help: "").labels()
        counter.inc(by: 1 << 63)
        counter.inc(by: 1 << 63)
        counter.inc()
        #expect(counter.value == 18_446_744_073_709_551_617.0)
        try counter.add(9.3e18)
        #expect(counter.value > 2.7e19)
    }
}

@Suite struct ShortCopyTests {
    /// Bytes of every length up to 40 (the short ones copied word-wise), one after another.
    @Test func appendsOfEveryLengthAreExact() {
        let source = (0..<40).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        var buffer = ExpositionBuffer(capacity: 8)
        var expected: [UInt8] = []
        for length in 0...40 {
            source.withUnsafeBufferPointer { bytes in
                if length > 0 { buffer.append(UnsafeBufferPointer(rebasing: bytes[0..<length])) }
            }
            expected += source[0..<length]
            buffer.append(UInt8(ascii: "|"))
            expected.append(UInt8(ascii: "|"))
        }
        #expect(buffer.withBytes { Array($0) } == expected)
    }
}

@Suite struct DecimalTests {
    @Test(arguments: [0, 7, 10, 99, 100, 101, 999, 1000, 65536, 1_234_567, 10_000_000_000, UInt64.max] as [UInt64])
    func wholeNumbersAreWrittenExactly(value: UInt64) {
        var buffer = ExpositionBuffer(capacity: 8)
        buffer.append(decimal: value)
        buffer.append(UInt8(ascii: ","))
        buffer.append(decimal: value)
        #expect(buffer.withBytes { String(decoding: $0, as: UTF8.self) } == "\(value),\(value)")
    }
}
