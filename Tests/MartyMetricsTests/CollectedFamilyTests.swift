import Synchronization
import Testing

@testable import MartyMetrics

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct SummaryTests {
    @Test func summaryRendersCountAndSumInEveryTextFormat() throws {
        let registry = Registry()
        registry.exposesCreatedTimestamps = false
        let latency = try registry.summary("rpc_seconds", help: "RPC latency.", labelNames: ["method"])
        try latency.labels("get").observe(0.25)
        try latency.labels("get").observe(1.5)
        #expect(
            registry.renderString() == """
                # HELP rpc_seconds RPC latency.
                # TYPE rpc_seconds summary
                rpc_seconds_count{method="get"} 2
                rpc_seconds_sum{method="get"} 1.75

                """)
        #expect(
            registry.renderString(.openMetrics) == """
                # HELP rpc_seconds RPC latency.
                # TYPE rpc_seconds summary
                rpc_seconds_count{method="get"} 2
                rpc_seconds_sum{method="get"} 1.75
                # EOF

                """)
    }

    @Test func summaryShowsCreatedInOpenMetricsAndReservesQuantile() throws {
        let registry = Registry()
        try registry.summary("jobs_seconds", help: "Jobs.").labels().observe(3)
        let text = registry.renderString(.openMetrics)
        #expect(text.contains("jobs_seconds_count 1\njobs_seconds_sum 3\njobs_seconds_created "))
        #expect(throws: MetricError.self) { try registry.summary("other", help: "", labelNames: ["quantile"]) }
        // A summary claims its sample names: a gauge cannot take `_count`.
        #expect(throws: MetricError.self) { try registry.gauge("jobs_seconds_count", help: "") }
    }
}

@Suite struct CollectedFamilyTests {
    /// A registry whose collector adds what prometheus_client's custom collectors typically do.
    private func registryWithCollector() -> Registry {
        let registry = Registry()
        registry.exposesCreatedTimestamps = false
        try! registry.gauge("native_gauge", help: "Native.").labels().set(2)
        registry.addFamilyCollector { families in
            families.append(
                CollectedFamily(
                    name: "jobs", help: "Jobs done.", kind: .counter, unit: "",
                    samples: [
                        CollectedSample(
                            name: "jobs_total", labels: [("queue", "a\"b")], value: 7,
                            exemplar: CollectedExemplar(labels: [("trace_id", "abc")], value: 1, timestamp: 12.5)),
                        CollectedSample(name: "jobs_created", labels: [("queue", "a\"b")], value: 100.25),
                    ]))
            families.append(
                CollectedFamily(
                    name: "queue_bytes", help: "Bytes.", kind: .gaugeHistogram, unit: "bytes",
                    samples: [
                        CollectedSample(name: "queue_bytes_bucket", labels: [("le", "1.0")], value: 3),
                        CollectedSample(name: "queue_bytes_bucket", labels: [("le", "+Inf")], value: 4),
                        CollectedSample(name: "queue_bytes_gcount", value: 4),
                        CollectedSample(name: "queue_bytes_gsum", value: 6, timestamp: 1.5),
                    ]))
            families.append(
                CollectedFamily(
                    name: "state", help: "State.", kind: .stateSet,
                    samples: [
                        CollectedSample(name: "state", labels: [("state", "on")], value: 1),
                        CollectedSample(name: "state", labels: [("state", "off")], value: 0),
                    ]))
        }
        return registry
    }

    @Test func textFormatFollowsPrometheusClientForCollectedFamilies() {
        #expect(
            registryWithCollector().renderString() == """
                # HELP native_gauge Native.
                # TYPE native_gauge gauge
                native_gauge 2
                # HELP jobs_total Jobs done.
                # TYPE jobs_total counter
                jobs_total{queue="a\\"b"} 7
                # HELP jobs_created Jobs done.
                # TYPE jobs_created gauge
                jobs_created{queue="a\\"b"} 100.25
                # HELP queue_bytes Bytes.
                # TYPE queue_bytes histogram
                queue_bytes_bucket{le="1.0"} 3
                queue_bytes_bucket{le="+Inf"} 4
                # HELP queue_bytes_gcount Bytes.
                # TYPE queue_bytes_gcount gauge
                queue_bytes_gcount 4
                # HELP queue_bytes_gsum Bytes.
                # TYPE queue_bytes_gsum gauge
                queue_bytes_gsum 6 1500
                # HELP state State.
                # TYPE state gauge
                state{state="on"} 1
                state{state="off"} 0

                """)
    }

    @Test func openMetricsWritesCollectedSamplesAsGivenWithUnitAndExemplar() {
        #expect(
            registryWithCollector().renderString(.openMetrics) == """
                # HELP native_gauge Native.
                # TYPE native_gauge gauge
                native_gauge 2
                # HELP jobs Jobs done.
                # TYPE jobs counter
                jobs_total{queue="a\\"b"} 7 # {trace_id="abc"} 1 12.5
                jobs_created{queue="a\\"b"} 100.25
                # HELP queue_bytes Bytes.
                # TYPE queue_bytes gaugehistogram
                # UNIT queue_bytes bytes
                queue_bytes_bucket{le="1.0"} 3
                queue_bytes_bucket{le="+Inf"} 4
                queue_bytes_gcount 4
                queue_bytes_gsum 6 1.5
                # HELP state State.
                # TYPE state stateset
                state{state="on"} 1
                state{state="off"} 0
                # EOF

                """)
    }

    @Test func collectedNamesAreEscapedOrQuotedAsNegotiated() {
        let registry = Registry()
        registry.addFamilyCollector { families in
            families.append(
                CollectedFamily(
                    name: "my.gauge", help: "", kind: .gauge,
                    samples: [CollectedSample(name: "my.gauge", labels: [("label.name", "v")], value: 1)]))
        }
        #expect(registry.renderString() == "# HELP my_gauge \n# TYPE my_gauge gauge\nmy_gauge{label_name=\"v\"} 1\n")
        #expect(
            registry.renderString(escaping: .allowUTF8)
                == "# HELP \"my.gauge\" \n# TYPE \"my.gauge\" gauge\n{\"my.gauge\",\"label.name\"=\"v\"} 1\n")
    }

    @Test func removedCollectorIsNotCalledAndRemovingTwiceIsRefused() throws {
        let registry = Registry()
        let calls = Atomic<Int>(0)
        let collector = registry.addFamilyCollector { _ in calls.add(1, ordering: .relaxed) }
        _ = registry.renderString()
        try registry.removeFamilyCollector(collector)
        _ = registry.renderString()
        #expect(calls.load(ordering: .relaxed) == 1)
        #expect(throws: MetricError.self) { try registry.removeFamilyCollector(collector) }
    }

    @Test func removalWaitsForACallInProgressOnAnotherThread() async throws {
        let registry = Registry()
        let inside = Atomic<Bool>(false)
        let release = Atomic<Bool>(false)
        let finished = Atomic<Bool>(false)
        let collector = registry.addFamilyCollector { _ in
            inside.store(true, ordering: .releasing)
            while !release.load(ordering: .acquiring) { usleep(1000) }
            finished.store(true, ordering: .releasing)
        }
        let render = Task.detached { _ = registry.renderString() }
        while !inside.load(ordering: .acquiring) { usleep(1000) }
        let remover = Task.detached {
            try registry.removeFamilyCollector(collector)
            // The call in progress had finished before the removal returned.
            return finished.load(ordering: .acquiring)
        }
        usleep(50_000)
        release.store(true, ordering: .releasing)
        #expect(try await remover.value)
        await render.value
    }

    @Test func aCollectorMayRemoveItselfWithoutWaitingForItself() throws {
        let registry = Registry()
        let box = Mutex<FamilyCollector?>(nil)
        let collector = registry.addFamilyCollector { _ in
            if let me = box.withLock({ $0 }) { try? registry.removeFamilyCollector(me) }
        }
        box.withLock { $0 = collector }
        _ = registry.renderString()  // would hang if the removal waited for its own call
        #expect(throws: MetricError.self) { try registry.removeFamilyCollector(collector) }
    }
}

@Suite struct PrometheusClientStyleTests {
    @Test func numbersAreSpelledAsPythonSpellsThem() {
        let cases: [(Double, String)] = [
            (0, "0.0"), (-0.0, "-0.0"), (1, "1.0"), (17, "17.0"), (0.05, "0.05"), (123.456, "123.456"),
            (1e6, "1e+06"), (1_234_567, "1.234567e+06"), (-1_234_567, "-1234567.0"), (1e15, "1e+15"),
            (1e16, "1e+16"), (1e-5, "1e-05"),
            // From 2^53 on, Swift's description has an exponent of its own (found by fuzz_c_api).
            (9_007_199_254_740_992, "9.007199254740992e+15"), (9_007_199_254_740_994, "9.007199254740994e+15"),
            (9.99e15, "9.99e+15"), (0.0001, "0.0001"), (-0.5, "-0.5"), (1.0 / 3, "0.3333333333333333"),
            (.infinity, "+Inf"), (-.infinity, "-Inf"), (.nan, "NaN"),
        ]
        for (value, expected) in cases {
            var buffer = ExpositionBuffer(capacity: 32)
            buffer.append(pythonValue: value)
            #expect(buffer.withBytes { String(decoding: $0, as: UTF8.self) } == expected, "\(value)")
        }
    }

    @Test func registrationAndCreationOrderWithCreatedGaugeFamilies() throws {
        let registry = Registry()
        registry.renderingStyle = .prometheusClient
        let zeta = try registry.counter("zeta", help: "Z.", labelNames: ["l"])
        try zeta.labels("b").inc()
        try zeta.labels("a").inc(by: 2)
        for series in zeta.sortedSeries() { series.setCreatedTimestamp(123.456) }
        registry.addFamilyCollector { families in
            families.append(
                CollectedFamily(name: "middle", help: "M.", kind: .gauge, samples: [.init(name: "middle", value: 3)]))
        }
        let alpha = try registry.histogram("alpha", help: "A.", buckets: HistogramBuckets([1]))
        try alpha.labels().observe(0.5)
        try alpha.labels().setCreatedTimestamp(100)
        #expect(
            registry.renderString() == """
                # HELP zeta_total Z.
                # TYPE zeta_total counter
                zeta_total{l="b"} 1.0
                zeta_total{l="a"} 2.0
                # HELP zeta_created Z.
                # TYPE zeta_created gauge
                zeta_created{l="b"} 123.456
                zeta_created{l="a"} 123.456
                # HELP middle M.
                # TYPE middle gauge
                middle 3.0
                # HELP alpha A.
                # TYPE alpha histogram
                alpha_bucket{le="1.0"} 1.0
                alpha_bucket{le="+Inf"} 1.0
                alpha_count 1.0
                alpha_sum 0.5
                # HELP alpha_created A.
                # TYPE alpha_created gauge
                alpha_created 100.0

                """)
        registry.renderingStyle = .native
        #expect(registry.renderString().hasPrefix("# HELP alpha A.\n"))
    }

    @Test func unitIsNamedInOpenMetricsOnly() throws {
        let registry = Registry()
        registry.exposesCreatedTimestamps = false
        let family = try registry.gauge("size_bytes", help: "Size.")
        family.unit = "bytes"
        #expect(
            registry.renderString(.openMetrics).hasPrefix(
                "# HELP size_bytes Size.\n# TYPE size_bytes gauge\n# UNIT size_bytes bytes\n"))
        #expect(!registry.renderString().contains("UNIT"))
    }
}

@Suite struct NegativeBucketTests {
    @Test func openMetricsLeavesOutTheSumOfAHistogramWithNegativeBuckets() throws {
        let registry = Registry()
        registry.exposesCreatedTimestamps = false
        let temperature = try registry.histogram("temperature", help: "T.", buckets: HistogramBuckets([-10, 0, 10]))
        try temperature.labels().observe(-3)
        // A sum of negative observations is no counter: OpenMetrics says it must not be shown.
        #expect(!registry.renderString(.openMetrics).contains("temperature_sum"))
        #expect(registry.renderString().contains("temperature_sum -3\n"))
        registry.renderingStyle = .prometheusClient  // prometheus_client leaves it out of text 0.0.4 too
        #expect(!registry.renderString().contains("temperature_sum"))
        #expect(registry.renderString().contains("temperature_count 1.0\n"))
    }
}

@Suite struct CollectedBadNumberTests {
    /// Counts and timestamps a collector gives are doubles: NaN, infinities and values past
    /// any integer are written (as floats, or left out) and never trap.
    @Test func protobufAndTextTakeAnyDouble() {
        let registry = Registry()
        registry.addFamilyCollector { families in
            for kind in [CollectedFamily.Kind.histogram, .gaugeHistogram, .summary, .counter] {
                families.append(
                    CollectedFamily(
                        name: "odd_\(kind)", help: "", kind: kind,
                        samples: [
                            .init(name: "odd_\(kind)_bucket", labels: [("le", "1.0")], value: 2e19),
                            .init(name: "odd_\(kind)_bucket", labels: [("le", "+Inf")], value: .nan),
                            .init(name: "odd_\(kind)_count", value: .infinity, timestamp: .nan),
                            .init(name: "odd_\(kind)_gcount", value: -1),
                            .init(name: "odd_\(kind)_sum", value: 1e300, timestamp: 1e300),
                            .init(name: "odd_\(kind)_total", value: -.infinity, timestamp: -.infinity),
                            .init(name: "odd_\(kind)_created", value: .nan),
                            .init(name: "odd_\(kind)", labels: [("quantile", "x")], value: 2e19),
                        ]))
            }
        }
        #expect(registry.render(.protobuf).withBytes { $0.count } > 0)
        #expect(registry.renderString().contains("odd_histogram_bucket{le=\"+Inf\"} NaN\n"))
        #expect(registry.renderString(.openMetrics).contains("odd_counter_total -Inf\n"))
    }
}
