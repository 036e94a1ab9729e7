import CoreMetrics
import Metrics
import Synchronization
import Testing

@testable import MartyMetrics
@testable import MartySwiftMetrics

/// Collects what the factory logs.
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}

func makeFactory() throws -> (MartyMetricsFactory, Registry, LogLines) {
    let registry = Registry()
    let log = LogLines()
    return (try MartyMetricsFactory(registry: registry, log: { log.append($0) }), registry, log)
}

@Suite struct FactoryTests {
    @Test func everyHandleKindLandsWithTheRightTypeAndValue() throws {
        let (factory, registry, log) = try makeFactory()
        let counter = CoreMetrics.Counter(label: "jobs", dimensions: [("queue", "a")], factory: factory)
        counter.increment(by: 3)
        counter.increment()
        let floating = FloatingPointCounter(label: "bytes", factory: factory)
        floating.increment(by: 1.5)
        let meter = Meter(label: "temperature", factory: factory)
        meter.set(20.0)
        meter.increment(by: 2)
        meter.decrement(by: 0.5)
        let gauge = CoreMetrics.Gauge(label: "queue_depth", factory: factory)
        gauge.record(7)
        let recorder = Recorder(label: "payload_bytes", aggregate: true, factory: factory)
        recorder.record(0.2)
        recorder.record(20)
        let timer = CoreMetrics.Timer(
            label: "request_duration_seconds", dimensions: [("route", "/x")], factory: factory)
        timer.recordNanoseconds(2_000_000)  // 2 ms
        timer.recordMilliseconds(300)

        let text = registry.renderString()
        #expect(text.contains("# TYPE jobs_total counter\njobs_total{queue=\"a\"} 4\n"))
        #expect(text.contains("# TYPE bytes_total counter\nbytes_total 1.5\n"))
        #expect(text.contains("# TYPE temperature gauge\ntemperature 21.5\n"))
        #expect(text.contains("# TYPE queue_depth gauge\nqueue_depth 7\n"))
        #expect(text.contains("# TYPE payload_bytes histogram\n"))
        #expect(text.contains("payload_bytes_bucket{le=\"0.25\"} 1\n"))
        #expect(text.contains("payload_bytes_count 2\n"))
        #expect(text.contains("request_duration_seconds_bucket{route=\"/x\",le=\"0.001\"} 0\n"))
        #expect(text.contains("request_duration_seconds_bucket{route=\"/x\",le=\"0.005\"} 1\n"))
        #expect(text.contains("request_duration_seconds_bucket{route=\"/x\",le=\"0.5\"} 2\n"))
        #expect(text.contains("request_duration_seconds_sum{route=\"/x\"} 0.302\n"))
        #expect(log.all.isEmpty)
        counter.reset()
        #expect(registry.renderString().contains("jobs_total{queue=\"a\"} 0\n"))
    }

    @Test(arguments: [
        ("http.route", "http_route"), ("1st", "_1st"), ("", "_"), ("__reserved", "_reserved"), ("é", "_"),
        ("ok_name", "ok_name"), ("a-b c", "a_b_c"),
    ])
    func labelNamesAreSanitizedByTheDocumentedRule(input: String, expected: String) {
        #expect(Sanitizer.labelName(input) == expected)
    }

    @Test func sanitizedHandlesNeverCrashAndKeepTheirValues() throws {
        let (factory, registry, log) = try makeFactory()
        let counter = CoreMetrics.Counter(
            label: "http.server.requests", dimensions: [("http.route", "/a\"b"), ("1", "x"), ("http_route", "dup")],
            factory: factory)
        counter.increment()
        let timer = CoreMetrics.Timer(label: "t", dimensions: [("le", "x")], factory: factory)
        timer.recordSeconds(1)
        let text = registry.renderString()
        #expect(text.contains(#"http_server_requests_total{_1="x",http_route="/a\"b",http_route_2="dup"} 1"#))
        #expect(text.contains(#"t_bucket{le_="x",le="1.0"} 1"#))
        #expect(log.all.isEmpty)
    }

    @Test func sameLabelOtherDimensionNamesIsLoggedAndDetachedNotACrash() throws {
        let (factory, registry, log) = try makeFactory()
        let first = CoreMetrics.Counter(label: "requests", dimensions: [("method", "GET")], factory: factory)
        let second = CoreMetrics.Counter(label: "requests", dimensions: [("path", "/")], factory: factory)
        first.increment()
        second.increment(by: 5)
        let text = registry.renderString()
        #expect(text.contains("requests_total{method=\"GET\"} 1\n"))
        #expect(!text.contains("path"))
        #expect(log.all.count == 1)
        #expect(log.all.first?.contains("clashes with the registered counter requests [method]") == true)
    }

    @Test func aTimerAndACounterSharingALabelIsLoggedNotACrash() throws {
        let (factory, registry, log) = try makeFactory()
        let counter = CoreMetrics.Counter(label: "work", factory: factory)
        let timer = CoreMetrics.Timer(label: "work", factory: factory)
        counter.increment()
        timer.recordSeconds(1)
        #expect(registry.renderString().contains("work_total 1\n"))
        #expect(!registry.renderString().contains("work_bucket"))
        #expect(log.all.count == 1)
    }

    @Test func timerBucketsAreSettable() throws {
        let registry = Registry()
        let factory = try MartyMetricsFactory(registry: registry, timerBuckets: [0.5, 1])
        CoreMetrics.Timer(label: "t", factory: factory).recordSeconds(0.7)
        #expect(registry.renderString().contains("t_bucket{le=\"1.0\"} 1\n"))
        #expect(throws: MetricError.self) { _ = try MartyMetricsFactory(registry: registry, timerBuckets: [2, 1]) }
    }

    @Test func destroyingAHandleRemovesItsSeriesAndLeavesItHarmless() throws {
        let (factory, registry, _) = try makeFactory()
        let counter = CoreMetrics.Counter(label: "gone", dimensions: [("k", "v")], factory: factory)
        let kept = CoreMetrics.Counter(label: "gone", dimensions: [("k", "w")], factory: factory)
        counter.increment()
        kept.increment()
        counter.destroy()
        counter.increment()  // harmless
        let text = registry.renderString()
        #expect(!text.contains("k=\"v\""))
        #expect(text.contains("gone_total{k=\"w\"} 1\n"))
    }

    @Test func bootstrappedThroughMetricsSystem() throws {
        // The one test in this process that bootstraps the global system.
        let registry = Registry()
        MetricsSystem.bootstrap(try MartyMetricsFactory(registry: registry))
        Metrics.Counter(label: "global_requests", dimensions: [("code", "200")]).increment()
        Metrics.Timer(label: "global_latency").recordMilliseconds(20)
        let text = registry.renderString()
        #expect(text.contains("global_requests_total{code=\"200\"} 1\n"))
        #expect(text.contains("global_latency_count 1\n"))
    }
}
