import Glibc
import MartyTestSupport
import Testing

@testable import MartyMetrics

private func unixTime() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

@Suite struct ExemplarTests {
    /// The OpenMetrics line of `sample`, split into the part before the exemplar and the
    /// exemplar's labels, value and timestamp.
    private func exemplarLine(_ text: String, startingWith sample: String) -> (
        sample: String, labels: String, value: String, timestamp: Double
    )? {
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(sample) }) else { return nil }
        guard let hash = line.firstRange(of: " # ") else { return nil }
        let exemplar = line[hash.upperBound...]
        guard let close = exemplar.lastIndex(of: "}") else { return nil }
        let labels = String(exemplar[...close])
        let rest = exemplar[exemplar.index(after: close)...].split(separator: " ")
        guard rest.count == 2, let timestamp = Double(rest[1]) else { return nil }
        return (String(line[..<hash.lowerBound]), labels, String(rest[0]), timestamp)
    }

    @Test func counterExemplarIsRenderedInOpenMetricsOnly() throws {
        let registry = Registry()
        let requests = try registry.counter("requests", help: "Requests.", labelNames: ["code"])
        let ok = try requests.labels("200")
        let before = unixTime()
        try ok.inc(by: 2, exemplar: Exemplar(["trace_id": "4bf92f3577b34da6", "span_id": "00f067aa0ba902b7"]))
        ok.inc()  // without an exemplar: the last one stays
        let after = unixTime()

        let openMetrics = registry.renderString(.openMetrics)
        let line = try #require(exemplarLine(openMetrics, startingWith: "requests_total{code=\"200\"}"))
        #expect(line.sample == "requests_total{code=\"200\"} 3")
        #expect(line.labels == "{trace_id=\"4bf92f3577b34da6\",span_id=\"00f067aa0ba902b7\"}")
        #expect(line.value == "2")
        #expect(line.timestamp >= before.rounded(.down) && line.timestamp <= after + 1)
        #expect(!registry.renderString(.text).contains("#  {"))
        #expect(!registry.renderString(.text).contains("trace_id"))

        let reading = try #require(ok.exemplar)
        #expect(reading.value == 2)
        #expect(reading.exemplar.labels.map(\.name) == ["trace_id", "span_id"])
    }

    @Test func histogramKeepsOneExemplarPerBucket() throws {
        let registry = Registry()
        let latency = try registry.histogram("latency_seconds", help: "", buckets: HistogramBuckets([0.1, 1]))
        let series = try latency.labels()
        try series.observe(0.05, exemplar: Exemplar(["trace_id": "a"]))
        try series.observe(0.07, exemplar: Exemplar(["trace_id": "b"]))  // same bucket: replaces a
        try series.observe(5, exemplar: Exemplar(["trace_id": "c\"q\\\n"]))
        try series.observe(0.5)

        let exemplars = series.exemplars
        #expect(exemplars.count == 3)
        #expect(exemplars[0]?.exemplar.labels == [ExemplarLabel(name: "trace_id", value: "b")])
        #expect(exemplars[0]?.value == 0.07)
        #expect(exemplars[1] == nil)
        #expect(exemplars[2]?.value == 5)

        let text = registry.renderString(.openMetrics)
        let first = try #require(exemplarLine(text, startingWith: "latency_seconds_bucket{le=\"0.1\"}"))
        #expect(first.sample == "latency_seconds_bucket{le=\"0.1\"} 2")
        #expect(first.labels == "{trace_id=\"b\"}")
        #expect(text.contains("latency_seconds_bucket{le=\"1.0\"} 3\n"))
        let last = try #require(exemplarLine(text, startingWith: "latency_seconds_bucket{le=\"+Inf\"}"))
        #expect(last.labels == "{trace_id=\"c\\\"q\\\\\\n\"}")
        #expect(last.value == "5")
    }

    @Test func exemplarLabelsAreChecked() throws {
        #expect(throws: MetricError.self) { try Exemplar(["": "x"]) }
        #expect(throws: MetricError.self) { try Exemplar(["1abc": "x"]) }
        #expect(throws: MetricError.self) { try Exemplar(["a.b": "x"]) }
        #expect(throws: MetricError.self) {
            try Exemplar(labels: [.init(name: "a", value: "1"), .init(name: "a", value: "2")])
        }
        // 128 characters are allowed, 129 are not; characters, not bytes, are counted.
        _ = try Exemplar(["trace_id": String(repeating: "x", count: 120)])
        _ = try Exemplar(["t": String(repeating: "é", count: 127)])
        let error = #expect(throws: MetricError.self) { try Exemplar(["trace_id": String(repeating: "x", count: 121)]) }
        #expect(error?.kind == .invalidLabel)
        #expect(error?.message.contains("129") == true)
        _ = try Exemplar([:])  // no labels is allowed
    }

    @Test func refusedValuesRecordNothing() throws {
        let registry = Registry()
        let counter = try registry.counter("c", help: "").labels()
        #expect(throws: MetricError.self) { try counter.inc(by: -1, exemplar: Exemplar(["a": "b"])) }
        #expect(counter.exemplar == nil)
        let histogram = try registry.histogram("h", help: "").labels()
        #expect(throws: MetricError.self) { try histogram.observe(.nan, exemplar: Exemplar(["a": "b"])) }
        #expect(histogram.exemplars.allSatisfy { $0 == nil })
        #expect(histogram.snapshot().count == 0)
    }

    @Test func concurrentExemplarsAndScrapesSeeWholeExemplars() throws {
        let registry = Registry()
        let counter = try registry.counter("c", help: "").labels()
        let exemplars = try (0..<4).map { thread throws(MetricError) in
            try Exemplar(["trace_id": String(repeating: Character(String(thread)), count: 32 + thread * 20)])
        }
        onThreads(5) { thread in
            if thread < 4 {
                for _ in 0..<20_000 { try? counter.inc(by: 1, exemplar: exemplars[thread]) }
            } else {
                for _ in 0..<2_000 {
                    // A torn read would mix two exemplars' labels.
                    if let reading = counter.exemplar {
                        precondition(exemplars.contains(reading.exemplar), "torn exemplar \(reading.exemplar)")
                    }
                }
            }
        }
        #expect(counter.value == 80_000)
        let last = try #require(counter.exemplar)
        #expect(exemplars.contains(last.exemplar))
    }

    @Test func removedSeriesFreeTheirExemplarBlocks() throws {
        // Exemplar blocks are freed with the cells (after a synchronize); LSan in the sanitizer
        // runs would report a block that is not. Here: reuse gives clean slots.
        let registry = Registry()
        let family = try registry.counter("c", help: "", labelNames: ["n"])
        for round in 0..<200 {
            let series = try family.labels(String(round))
            #expect(series.exemplar == nil)
            try series.inc(by: 1, exemplar: Exemplar(["round": String(round)]))
            try family.remove([String(round)])
        }
    }
}
