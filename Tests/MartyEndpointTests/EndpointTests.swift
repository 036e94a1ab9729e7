import CZlib
import Glibc
import MartyTestSupport
import Synchronization
import Testing

@testable import MartyEndpoint
@testable import MartyHealth
@testable import MartyMetrics

/// An endpoint on 127.0.0.1 with ephemeral ports, blind to the process environment, keeping
/// `marty_service_health_status{service="test-service"}` (as a Marty service's does) unless
/// `healthGauge` is false.
func startEndpoint(
    registry: Registry = Registry(), health: HealthRegistry = HealthRegistry(), separateHealth: Bool = true,
    healthGauge: Bool = true, configure: (inout EndpointConfiguration) -> Void = { _ in }
) throws -> MetricsEndpoint {
    var configuration = EndpointConfiguration(
        service: "test-service", bindAddress: "127.0.0.1", metricsPort: 0, healthPort: 0)
    configuration.separateHealthListener = separateHealth
    configuration.registry = registry
    configuration.health = health
    if healthGauge {
        let name = "marty_service_health_status"
        let family =
            try (registry.family(named: name) as? GaugeFamily)
            ?? registry.gauge(name, help: "Service health status (1=healthy, 0=unhealthy)", labelNames: ["service"])
        configuration.healthStatus = try family.labels("test-service")
    }
    configuration.environment = { _ in nil }
    configure(&configuration)
    return try MetricsEndpoint.start(configuration)
}

let prometheus2Accept =
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    + "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
let prometheus3Accept =
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"
    + "application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,"
    + "text/plain;version=0.0.4;q=0.2,*/*;q=0.1"

@Suite struct EndpointTests {
    @Test func metricsAnswersTextByDefaultWithExactLength() throws {
        let registry = Registry()
        try registry.counter("jobs", help: "Jobs.").labels().inc(by: 7)
        let endpoint = try startEndpoint(registry: registry)
        defer { endpoint.shutdown() }
        let response = try get(endpoint.metricsPort, "/metrics")
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        #expect(response.header("Content-Length") == String(response.body.count))
        #expect(response.text.contains("\njobs_total 7\n"))
        #expect(response.text.contains("marty_service_health_status{service=\"test-service\"} 1\n"))
        #expect(!response.text.contains("# EOF"))
    }

    @Test func headAnswersTheHeadersOfGetWithoutABody() throws {
        let registry = Registry()
        try registry.gauge("g", help: "").labels().set(1)
        let endpoint = try startEndpoint(registry: registry)
        defer { endpoint.shutdown() }
        let full = try get(endpoint.metricsPort, "/metrics")
        let connection = try RawConnection(port: endpoint.metricsPort)
        defer { connection.closeConnection() }
        connection.send("HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let raw = connection.receive()
        let head = HTTPResponse.parseAll(raw, headOnly: true)[0]
        #expect(head.status == 200)
        #expect(head.header("Content-Length") == String(full.body.count))
        #expect(raw.count == raw.firstRange(of: Array("\r\n\r\n".utf8))!.upperBound, "HEAD sent a body")
    }

    @Test(arguments: [
        (prometheus2Accept, true), (prometheus3Accept, true), ("text/plain;version=0.0.4", false), ("*/*", false),
        ("application/json", false), ("text/plain;q=0.9,application/openmetrics-text;version=1.0.0;q=0.8", false),
        ("application/openmetrics-text", true), ("application/openmetrics-text;version=2.0.0", false),
    ])
    func contentNegotiationFollowsTheAcceptRanking(accept: String, openMetrics: Bool) throws {
        let registry = Registry()
        try registry.counter("jobs", help: "Jobs.").labels().inc()
        let endpoint = try startEndpoint(registry: registry)
        defer { endpoint.shutdown() }
        let response = try get(endpoint.metricsPort, "/metrics", headers: ["Accept": accept])
        #expect(response.status == 200)
        if openMetrics {
            // Prometheus 3 names an escaping: the answer names it back.
            let escaping = accept == prometheus3Accept ? "; escaping=allow-utf-8" : ""
            #expect(
                response.header("Content-Type") == "application/openmetrics-text; version=1.0.0; charset=utf-8"
                    + escaping)
            #expect(response.text.hasSuffix("# EOF\n"))
            #expect(response.text.contains("# TYPE jobs counter\n"))
        } else {
            #expect(response.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
            #expect(response.text.contains("# TYPE jobs_total counter\n"))
        }
    }

    /// Prometheus 2.42 with `--enable-feature=native-histograms` (scrape.go's Accept header).
    static let nativeHistogramsAccept =
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,"
        + "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,"
        + "text/plain;version=0.0.4;q=0.3,*/*;q=0.2"

    @Test(arguments: [
        (nativeHistogramsAccept, "protobuf"),
        ("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited", "protobuf"),
        // Other protobuf encodings or messages are not served: the next range wins.
        (
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text,text/plain;q=0.1",
            "text"
        ),
        ("application/vnd.google.protobuf;proto=other.Message;encoding=delimited", "text"),
        ("application/vnd.google.protobuf;encoding=delimited;q=0.9,application/openmetrics-text;q=0.5", "openmetrics"),
        (
            "application/openmetrics-text;version=1.0.0;q=0.8,"
                + "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7",
            "openmetrics"
        ),
    ])
    func protobufIsServedWhenRankedHighest(accept: String, format: String) throws {
        let registry = Registry()
        try registry.counter("jobs", help: "Jobs.").labels().inc()
        let endpoint = try startEndpoint(registry: registry)
        defer { endpoint.shutdown() }
        let response = try get(endpoint.metricsPort, "/metrics", headers: ["Accept": accept])
        #expect(response.status == 200)
        switch format {
        case "protobuf":
            #expect(
                response.header("Content-Type")
                    == "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited")
            #expect(response.body.firstRange(of: Array("jobs_total".utf8)) != nil)
            #expect(response.body.firstRange(of: Array("# TYPE".utf8)) == nil)
        case "openmetrics":
            #expect(response.text.hasSuffix("# EOF\n"))
        default:
            #expect(response.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        }
    }

    @Test(arguments: [
        (
            prometheus3Accept, "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8",
            "{\"my.metric_total\",\"label.name\"=\"v\"} 1\n"
        ),
        (
            "text/plain;version=1.0.0;escaping=allow-utf-8",
            "text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8",
            "{\"my.metric_total\",\"label.name\"=\"v\"} 1\n"
        ),
        (
            "text/plain;version=0.0.4;escaping=dots", "text/plain; version=0.0.4; charset=utf-8; escaping=dots",
            "my_dot_metric_total{label_dot_name=\"v\"} 1\n"
        ),
        (
            "text/plain;version=0.0.4;escaping=values", "text/plain; version=0.0.4; charset=utf-8; escaping=values",
            "U__my_2e_metric_total{U__label_2e_name=\"v\"} 1\n"
        ),
        (
            "application/openmetrics-text;version=1.0.0;escaping=underscores",
            "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores",
            "my_metric_total{label_name=\"v\"} 1\n"
        ),
        // An unknown scheme is ignored (as client_golang does): underscores, and the type names none.
        (
            "text/plain;version=0.0.4;escaping=bogus", "text/plain; version=0.0.4; charset=utf-8",
            "my_metric_total{label_name=\"v\"} 1\n"
        ),
        // Scrapers that never ask (Prometheus 2) get underscores and the type they always did.
        (
            "text/plain;version=0.0.4", "text/plain; version=0.0.4; charset=utf-8",
            "my_metric_total{label_name=\"v\"} 1\n"
        ),
        (nativeHistogramsAccept, "", "my_metric_total"),
    ])
    func escapingIsNegotiatedAndNamedInTheContentType(accept: String, contentType: String, line: String) throws {
        let registry = Registry()
        try registry.counter("my.metric", help: "Calls.", labelNames: ["label.name"]).labels("v").inc()
        let endpoint = try startEndpoint(registry: registry)
        defer { endpoint.shutdown() }
        let response = try get(endpoint.metricsPort, "/metrics", headers: ["Accept": accept])
        #expect(response.status == 200)
        if contentType.isEmpty {  // protobuf: the escaped name, no escaping named
            #expect(
                response.header("Content-Type")
                    == "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited")
            #expect(response.body.firstRange(of: Array(line.utf8)) != nil)
        } else {
            #expect(response.header("Content-Type") == contentType)
            #expect(response.text.contains(line))
        }
    }

    @Test func protobufCarriesUTF8NamesWhenAllowed() throws {
        let registry = Registry()
        try registry.counter("my.metric", help: "Calls.").labels().inc()
        let endpoint = try startEndpoint(registry: registry)
        defer { endpoint.shutdown() }
        let accept =
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;"
            + "escaping=allow-utf-8"
        let response = try get(endpoint.metricsPort, "/metrics", headers: ["Accept": accept])
        #expect(
            response.header("Content-Type")
                == "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited; "
                + "escaping=allow-utf-8")
        #expect(response.body.firstRange(of: Array("my.metric_total".utf8)) != nil)
    }

    @Test func gzipRoundTripsWhenAcceptEncodingAllowsIt() throws {
        let registry = Registry()
        let family = try registry.counter("c", help: "", labelNames: ["i"])
        for index in 0..<500 { try family.labels(String(index)).inc() }
        let endpoint = try startEndpoint(registry: registry)
        defer { endpoint.shutdown() }
        let plain = try get(endpoint.metricsPort, "/metrics")
        let zipped = try get(endpoint.metricsPort, "/metrics", headers: ["Accept-Encoding": "gzip, deflate"])
        #expect(zipped.header("Content-Encoding") == "gzip")
        #expect(zipped.body.count < plain.body.count / 3)
        #expect(gunzip(zipped.body) == plain.body)
        let refused = try get(endpoint.metricsPort, "/metrics", headers: ["Accept-Encoding": "gzip;q=0, identity"])
        #expect(refused.header("Content-Encoding") == nil)
    }

    @Test func healthEndpointsAnswerTheSeedsJSONAndProbeStatus() throws {
        let health = HealthRegistry()
        try health.set("grpc_server", healthy: true)
        try health.set("database", healthy: false, message: "down", probe: .readiness)
        let endpoint = try startEndpoint(health: health)
        defer { endpoint.shutdown() }
        let healthPort = try #require(endpoint.healthPort)
        for port in [endpoint.metricsPort, healthPort] {
            let document = try get(port, "/health")
            #expect(document.status == 200)
            #expect(document.header("Content-Type") == "application/json")
            for key in [
                "\"service\":\"test-service\"", "\"healthy\":false", "\"ready\":false", "\"live\":true",
                "\"uptime_seconds\":", "\"checks\":{\"database\":false,\"grpc_server\":true}", "\"timestamp\":",
            ] {
                #expect(document.text.contains(key), "missing \(key) in \(document.text)")
            }
            #expect(try get(port, "/health/live").status == 200)
            let ready = try get(port, "/health/ready")
            #expect(ready.status == 503)
            #expect(ready.text.contains("\"failing\":[\"database\"]"))
        }
        // The health listener serves the probes only.
        #expect(try get(healthPort, "/metrics").status == 404)
        try health.set("database", healthy: true, probe: .readiness)
        #expect(try get(healthPort, "/health/ready").status == 200)
    }

    @Test func unknownPathsAre404AndOtherMethods405WithAllow() throws {
        let endpoint = try startEndpoint()
        defer { endpoint.shutdown() }
        let missing = try get(endpoint.metricsPort, "/nope")
        #expect(missing.status == 404)
        #expect(missing.header("Content-Length") == String(missing.body.count))
        for method in ["POST", "PUT", "DELETE", "OPTIONS"] {
            let refused = try get(endpoint.metricsPort, "/metrics", method: method)
            #expect(refused.status == 405)
            #expect(refused.header("Allow") == "GET, HEAD")
        }
        #expect(try get(endpoint.metricsPort, "/metrics?name[]=x").status == 200)
    }

    @Test func healthStatusGaugeFollowsTheHealthState() throws {
        let registry = Registry()
        let health = HealthRegistry()
        let endpoint = try startEndpoint(registry: registry, health: health)
        defer { endpoint.shutdown() }
        try health.set("database", healthy: false)
        #expect(
            try get(endpoint.metricsPort, "/metrics").text.contains(
                "marty_service_health_status{service=\"test-service\"} 0\n"))
        try health.set("database", healthy: true)
        #expect(
            try get(endpoint.metricsPort, "/metrics").text.contains(
                "marty_service_health_status{service=\"test-service\"} 1\n"))
    }

    @Test func scrapesWhileTwoThreadsRecordLoseNothing() throws {
        let registry = Registry()
        let counter = try registry.counter("work", help: "").labels()
        let histogram = try registry.histogram("latency", help: "").labels()
        let endpoint = try startEndpoint(registry: registry)
        defer { endpoint.shutdown() }
        let perThread = 200_000
        let scrapes = Atomic<Int>(0)
        onThreads(3) { thread in
            if thread == 2 {
                for _ in 0..<30 {
                    if let response = try? get(endpoint.metricsPort, "/metrics"), response.status == 200 {
                        scrapes.add(1, ordering: .relaxed)
                    }
                }
            } else {
                for _ in 0..<perThread {
                    counter.inc()
                    try! histogram.observe(0.2)
                }
            }
        }
        #expect(scrapes.load(ordering: .relaxed) == 30)
        let text = try get(endpoint.metricsPort, "/metrics").text
        #expect(text.contains("\nwork_total \(2 * perThread)\n"))
        #expect(text.contains("\nlatency_count \(2 * perThread)\n"))
        #expect(text.contains("latency_bucket{le=\"+Inf\"} \(2 * perThread)\n"))
    }

    @Test func startStopStartAgainOnTheSamePort() throws {
        let first = try startEndpoint(separateHealth: false)
        let port = first.metricsPort
        #expect(try get(port, "/metrics").status == 200)
        first.shutdown()
        first.shutdown()  // idempotent
        #expect(!first.isRunning)
        #expect(throws: RawHTTPError.self) { _ = try get(port, "/metrics") }
        let second = try startEndpoint(separateHealth: false) { $0.metricsPort = port }
        defer { second.shutdown() }
        #expect(try get(port, "/health/live").status == 200)
    }

    @Test func shutdownFromAnotherThreadWhileScraping() throws {
        let endpoint = try startEndpoint()
        let port = endpoint.metricsPort
        onThreads(3) { thread in
            if thread == 0 {
                usleep(20_000)
                endpoint.shutdown()
            } else {
                for _ in 0..<20 { _ = try? get(port, "/metrics") }
                endpoint.shutdown()
            }
        }
        #expect(!endpoint.isRunning)
    }

    @Test func aTakenPortIsAClearError() throws {
        let blocker = try startEndpoint(separateHealth: false)
        defer { blocker.shutdown() }
        #expect {
            _ = try startEndpoint(separateHealth: false) { $0.metricsPort = blocker.metricsPort }
        } throws: { error in
            let error = error as! MetricError
            return error.kind == .addressInUse
                && error.message.contains("metrics port \(blocker.metricsPort) on 127.0.0.1 is already in use")
        }
    }

    @Test func portsComeFromArgumentThenEnvironmentThenDefaults() throws {
        var configuration = EndpointConfiguration(service: "csca-service")
        configuration.defaultMetricsPort = 9081
        configuration.defaultHealthPort = 8082
        configuration.environment = { _ in nil }
        var resolved = try configuration.resolve()
        #expect(resolved.metricsPort == 9081 && resolved.healthPort == 8082 && resolved.bindAddress == "0.0.0.0")
        configuration.environment = {
            ["MARTY_METRICS_PORT": "19081", "MARTY_HEALTH_PORT": "18082", "MARTY_METRICS_BIND": "127.0.0.1"][$0]
        }
        resolved = try configuration.resolve()
        #expect(resolved.metricsPort == 19081 && resolved.healthPort == 18082 && resolved.bindAddress == "127.0.0.1")
        configuration.metricsPort = 29081
        configuration.bindAddress = "::1"
        resolved = try configuration.resolve()
        #expect(resolved.metricsPort == 29081 && resolved.healthPort == 18082 && resolved.bindAddress == "::1")
        configuration.environment = { ["MARTY_HEALTH_PORT": "eighty"][$0] }
        #expect(throws: MetricError.self) { _ = try configuration.resolve() }
        var unknown = EndpointConfiguration(service: "my-daemon")
        unknown.healthPort = 0
        unknown.environment = { _ in nil }
        #expect {
            _ = try unknown.resolve()
        } throws: { error in
            (error as! MetricError).message.contains("my-daemon has no default metrics port")
        }
    }

    @Test func theEndpointAddsNoMetricOfItsOwn() throws {
        let registry = Registry()
        try registry.counter("jobs", help: "Jobs.").labels().inc()
        let endpoint = try startEndpoint(registry: registry, healthGauge: false)
        defer { endpoint.shutdown() }
        let response = try get(endpoint.metricsPort, "/metrics")
        #expect(response.text == "# HELP jobs_total Jobs.\n# TYPE jobs_total counter\njobs_total 1\n")
    }

    @Test func disabledByEnvironmentListensNowhereAndStopIsANoOp() throws {
        let endpoint = try startEndpoint { $0.environment = { ["MARTY_METRICS_ENABLED": "False"][$0] } }
        #expect(!endpoint.isEnabled)
        #expect(endpoint.metricsPort == 0)
        endpoint.shutdown()
        endpoint.shutdown()
    }
}

/// Decompresses gzip data with zlib.
func gunzip(_ data: [UInt8]) -> [UInt8] {
    var stream = z_stream()
    guard inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return [] }
    defer { inflateEnd(&stream) }
    var output: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    var input = data
    input.withUnsafeMutableBufferPointer { inputBuffer in
        stream.next_in = inputBuffer.baseAddress
        stream.avail_in = uInt(inputBuffer.count)
        while true {
            let status = chunk.withUnsafeMutableBufferPointer { out -> Int32 in
                stream.next_out = out.baseAddress
                stream.avail_out = uInt(out.count)
                return inflate(&stream, Z_NO_FLUSH)
            }
            output.append(contentsOf: chunk[0..<(chunk.count - Int(stream.avail_out))])
            if status != Z_OK { break }
        }
    }
    return output
}
