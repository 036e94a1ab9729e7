import Glibc
import Testing

@testable import MartyCatalog
@testable import MartyEndpoint
@testable import MartyMetrics
@testable import MartyProcess
@testable import MartyService

@Suite struct CatalogTests {
    @Test func oneCallRecordsAFinishedRPCIntoEverySeries() throws {
        let registry = Registry()
        let metrics = try ServiceMetrics.register(service: "csca-service", version: "1.2.3", registry: registry)
        let method = "/csca.CscaService/GetCertificate"
        try metrics.recordCall(method: method, status: "OK", durationSeconds: 0.0005)
        try metrics.recordCall(method: method, status: "NOT_FOUND", durationSeconds: 0.02, errorType: "not_found")
        let text = registry.renderString()
        #expect(text.contains(#"marty_grpc_requests_total{service="csca-service",method="\#(method)",status="OK"} 1"#))
        #expect(
            text.contains(
                #"marty_grpc_requests_total{service="csca-service",method="\#(method)",status="NOT_FOUND"} 1"#))
        #expect(
            text.contains(
                #"marty_grpc_errors_total{service="csca-service",method="\#(method)",error_type="not_found"} 1"#))
        #expect(
            text.contains(
                #"marty_grpc_request_duration_seconds_bucket{service="csca-service",method="\#(method)",le="0.001"} 1"#)
        )
        #expect(
            text.contains(#"marty_grpc_request_duration_seconds_count{service="csca-service",method="\#(method)"} 2"#))
        #expect(text.contains(#"marty_service_info{service="csca-service",version="1.2.3"} 1"#))
        #expect(text.contains(#"marty_service_health_status{service="csca-service"} 1"#))
    }

    @Test func theCatalogHasEveryNameOfTheSeedWithItsType() throws {
        let registry = Registry()
        let metrics = try ServiceMetrics.register(service: "pkd-service", registry: registry)
        try metrics.recordSuccessfulOperation("sync")
        try metrics.setDatabaseConnections(3, database: "postgres")
        metrics.callStarted()
        let text = registry.renderString()
        for (name, type) in [
            ("marty_grpc_requests_total", "counter"), ("marty_grpc_request_duration_seconds", "histogram"),
            ("marty_grpc_errors_total", "counter"), ("marty_grpc_active_connections", "gauge"),
            ("marty_service_health_status", "gauge"), ("marty_last_successful_operation_timestamp", "gauge"),
            ("marty_service_cpu_usage_percent", "gauge"), ("marty_service_memory_usage_bytes", "gauge"),
            ("marty_database_connections_active", "gauge"), ("marty_service_info", "gauge"),
            ("process_cpu_seconds_total", "counter"), ("process_resident_memory_bytes", "gauge"),
            ("process_virtual_memory_bytes", "gauge"), ("process_open_fds", "gauge"), ("process_max_fds", "gauge"),
            ("process_start_time_seconds", "gauge"),
        ] {
            #expect(text.contains("# TYPE \(name) \(type)\n"), "missing \(name)")
        }
        #expect(text.contains(#"marty_grpc_active_connections{service="pkd-service"} 1"#))
        #expect(text.contains(#"marty_database_connections_active{service="pkd-service",database="postgres"} 3"#))
        // The start time is the boot time (/proc/stat's btime) plus the process' start: a
        // moment of the past, not 0 or the tick count alone.
        let startLine = text.split(separator: "\n").first { $0.hasPrefix("process_start_time_seconds ") }
        let start = try #require(startLine.flatMap { Double($0.split(separator: " ")[1]) })
        let now = Double(time(nil))
        #expect(start > now - 3_600 && start <= now + 1, "process_start_time_seconds \(start), now \(now)")
    }

    @Test func registeringTwiceSharesAndTwoServicesShareFamilies() throws {
        let registry = Registry()
        let first = try ServiceMetrics.register(service: "a", registry: registry)
        #expect(try ServiceMetrics.register(service: "a", registry: registry) === first)
        let second = try ServiceMetrics.register(service: "b", registry: registry)
        #expect(second.requests === first.requests)
        try second.recordCall(method: "m", status: "OK", durationSeconds: 0.1)
        #expect(registry.renderString().contains(#"marty_grpc_requests_total{service="b",method="m",status="OK"} 1"#))
    }

    @Test func aClashingFamilyIsAClearError() throws {
        let registry = Registry()
        _ = try registry.counter("marty_grpc_requests_total", help: "", labelNames: ["method"])
        #expect {
            _ = try ServiceMetrics.register(service: "x", registry: registry)
        } throws: { error in
            (error as! MetricError).message.contains("another type or labels than the Marty catalog's")
        }
    }

    @Test func processMetricsReadProc() throws {
        guard let stat = ProcessReading.read() else {
            Issue.record("cannot read /proc/self/stat")
            return
        }
        #expect(stat.residentBytes > 1_000_000)
        #expect(stat.virtualBytes >= stat.residentBytes)
        #expect(stat.startTimeSeconds > 1_600_000_000 && stat.startTimeSeconds <= Double(time(nil)) + 1)
        #expect(stat.openFileDescriptors >= 3)
        #expect(stat.maxFileDescriptors.map { $0 >= Double(stat.openFileDescriptors) } == true)
        let registry = Registry()
        try ProcessCollector.install(in: registry)
        var spin = 0.0
        for index in 0..<3_000_000 { spin += Double(index).squareRoot() }
        #expect(spin > 0)
        let text = registry.renderString()
        let cpuLine = text.split(separator: "\n").first { $0.hasPrefix("process_cpu_seconds_total ") }!
        #expect(Double(cpuLine.split(separator: " ")[1])! > 0)
    }
}

@Suite struct CatalogByteStringTests {
    @Test func byteStringRecordingMatchesStringRecording() throws {
        let registry = Registry()
        let metrics = try ServiceMetrics.register(service: "svc", registry: registry)
        try metrics.recordCall(method: "/a.B/C", status: "NOT_FOUND", durationSeconds: 0.002, errorType: "NOT_FOUND")
        try "/a.B/C".withCString { method in
            try "NOT_FOUND".withCString { status in
                let method = UnsafeRawPointer(method).assumingMemoryBound(to: UInt8.self)
                let status = UnsafeRawPointer(status).assumingMemoryBound(to: UInt8.self)
                try metrics.recordCall(
                    nulTerminatedMethod: method, status: status, durationSeconds: 0.002, errorType: status)
            }
        }
        let text = registry.renderString()
        #expect(text.contains(#"marty_grpc_requests_total{service="svc",method="/a.B/C",status="NOT_FOUND"} 2"#))
        #expect(text.contains(#"marty_grpc_errors_total{service="svc",method="/a.B/C",error_type="NOT_FOUND"} 2"#))
        #expect(text.contains(#"marty_grpc_request_duration_seconds_count{service="svc",method="/a.B/C"} 2"#))
    }

    @Test func byteStringsThatAreNotUTF8AreRefused() throws {
        let metrics = try ServiceMetrics.register(service: "svc", registry: Registry())
        let bad: [UInt8] = [0xFF, 0xFE, 0]
        let ok = Array("OK".utf8) + [0]
        #expect(throws: MetricError.self) {
            try bad.withUnsafeBufferPointer { method in
                try ok.withUnsafeBufferPointer { status in
                    try metrics.recordCall(
                        nulTerminatedMethod: method.baseAddress!, status: status.baseAddress!, durationSeconds: 1,
                        errorType: nil)
                }
            }
        }
    }
}

@Suite struct CatalogLifetimeTests {
    @Test func aCatalogKeepsItsRegistryAliveAndEachRegistryHasItsOwn() throws {
        // C callers keep the catalog handle for the life of the process, even after they free
        // the registry: the catalog must keep it alive. A new registry gets a catalog of its own.
        weak var weakOld: Registry?
        var oldCatalog: ServiceMetrics?
        do {
            let old = Registry()
            oldCatalog = try ServiceMetrics.register(service: "svc", registry: old)
            weakOld = old
        }
        #expect(weakOld != nil)
        try oldCatalog?.recordCall(method: "/m", status: "OK", durationSeconds: 0.1)
        let registry = Registry()
        let metrics = try ServiceMetrics.register(service: "svc", registry: registry)
        #expect(metrics !== oldCatalog)
        #expect(registry.family(named: "marty_grpc_requests") === metrics.requests)
        #expect(!registry.renderString().contains("method=\"/m\""))
        #expect(registry.renderString().contains("# TYPE process_cpu_seconds_total counter"))
    }
}

/// A Marty service's endpoint (MartyService): the catalog's ports and health gauge on an
/// endpoint that knows neither.
@Suite struct ServiceEndpointTests {
    @Test func aServiceGetsItsPortsFromTheTableAndKeepsItsHealthGauge() throws {
        let registry = Registry()
        var configuration = try EndpointConfiguration.martyService("pkd-service", registry: registry)
        configuration.environment = { _ in nil }
        let resolved = try configuration.resolve()
        #expect(resolved.metricsPort == 10090 && resolved.healthPort == 9091)
        #expect(configuration.describePort?(9091) == "the Marty port table gives 9091 to pkd-service's health port")
        #expect(
            configuration.healthStatus
                === (registry.family(named: "marty_service_health_status") as? GaugeFamily)?
                .existingSeries(["pkd-service"]))
        // A service outside the table has no default port, but its gauge all the same.
        var other = try EndpointConfiguration.martyService("my-daemon", registry: registry)
        other.environment = { _ in nil }
        #expect {
            _ = try other.resolve()
        } throws: { error in
            (error as! MetricError).message.contains(
                "my-daemon has no default metrics port (it is not in the Marty port table)")
        }
        #expect(other.healthStatus != nil)
    }

    @Test func aTakenTablePortNamesTheMartyServicesItBelongsTo() throws {
        // csca-service's health port is document-signer's gRPC port in the seed's table.
        #expect(ServicePorts.owners(of: 8082) == "csca-service's health port and document-signer's gRPC port")
        #expect(ServicePorts.owners(of: 10080) == "trust-anchor's metrics port")
        #expect(ServicePorts.owners(of: 1234) == nil)
        guard let blocker = try? ListeningSocket.open(address: "127.0.0.1", port: 8082, role: "test") else {
            return  // something else on this machine holds 8082: the text is checked above
        }
        defer { close(blocker.descriptor) }
        #expect {
            var configuration = try EndpointConfiguration.martyService("csca-service", registry: Registry())
            configuration.bindAddress = "127.0.0.1"
            configuration.metricsPort = 0
            configuration.environment = { _ in nil }  // the health port is the table's: 8082
            _ = try MetricsEndpoint.start(configuration)
        } throws: { error in
            (error as! MetricError).message.contains(
                "health port 8082 on 127.0.0.1 is already in use (the Marty port table gives 8082 to csca-service's health port and document-signer's gRPC port)"
            )
        }
    }

}
