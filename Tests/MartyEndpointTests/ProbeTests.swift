import Glibc
import MartyMetrics
import MartyTestSupport
import Synchronization
import Testing

@testable import MartyEndpoint
@testable import MartyHealth

/// Health as Kubernetes uses it: liveness and readiness probes at the same moment, slow
/// readiness checks, and scrapes that must never run a callback.
@Suite struct ProbeTests {
    @Test func overlappingLiveAndReadyProbesOfOneCallbackCheckAllPass() throws {
        let health = HealthRegistry()
        try health.register("database", timeout: 1) {
            usleep(50_000)
            return (true, nil)
        }
        let endpoint = try startEndpoint(health: health)
        defer { endpoint.shutdown() }
        let port = try #require(endpoint.healthPort)
        let failures = Atomic<Int>(0)
        for _ in 0..<60 {
            onThreads(2) { thread in
                let status = (try? get(port, thread == 0 ? "/health/live" : "/health/ready"))?.status
                if status != 200 { failures.add(1, ordering: .relaxed) }
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0, "non-200 answers out of 60 overlapping pairs")
    }

    @Test func livenessAnswersAtOnceWhileASlowReadinessCheckRuns() throws {
        let health = HealthRegistry()
        try health.register("slow_database", probe: .readiness, timeout: 5) {
            usleep(2_500_000)
            return (true, nil)
        }
        try health.set("grpc_server", healthy: true, probe: .liveness)
        let endpoint = try startEndpoint(health: health)
        defer { endpoint.shutdown() }
        let port = try #require(endpoint.healthPort)
        // Alone: the liveness probe does not run (or wait for) the readiness-only check.
        let alone = MonotonicClock.nanoseconds()
        #expect(try get(port, "/health/live").status == 200)
        let aloneTook = Double(MonotonicClock.nanoseconds() - alone) / 1e9
        #expect(aloneTook < 1, "/health/live took \(aloneTook) s with a slow readiness-only check")
        // And while a readiness probe waits for it.
        let readyStatus = Atomic<Int>(0)
        let liveStatus = Atomic<Int>(0)
        let liveNanoseconds = Atomic<UInt64>(0)
        onThreads(2) { thread in
            if thread == 0 {
                readyStatus.store((try? get(port, "/health/ready"))?.status ?? -1, ordering: .relaxed)
            } else {
                usleep(200_000)  // the readiness run is in progress
                let start = MonotonicClock.nanoseconds()
                liveStatus.store((try? get(port, "/health/live"))?.status ?? -1, ordering: .relaxed)
                liveNanoseconds.store(MonotonicClock.nanoseconds() - start, ordering: .relaxed)
            }
        }
        #expect(liveStatus.load(ordering: .relaxed) == 200)
        let took = Double(liveNanoseconds.load(ordering: .relaxed)) / 1e9
        #expect(took < 1, "/health/live took \(took) s while a readiness-only check ran")
        #expect(readyStatus.load(ordering: .relaxed) == 200)
    }

    @Test func aScrapeNeverRunsACallbackAndShowsTheLastEvaluation() throws {
        let registry = Registry()
        let health = HealthRegistry()
        let calls = Atomic<Int>(0)
        let healthy = Atomic<Bool>(false)
        try health.register("cache", timeout: 5) {
            calls.add(1, ordering: .relaxed)
            usleep(1_500_000)
            return (healthy.load(ordering: .relaxed), nil)
        }
        let endpoint = try startEndpoint(registry: registry, health: health)
        defer { endpoint.shutdown() }
        let start = MonotonicClock.nanoseconds()
        let scrape = try get(endpoint.metricsPort, "/metrics")
        let took = Double(MonotonicClock.nanoseconds() - start) / 1e9
        #expect(scrape.status == 200)
        #expect(took < 1, "the scrape waited \(took) s for a 1.5 s callback")
        // No completed answer yet: the gauge leaves the check out.
        #expect(scrape.text.contains("marty_service_health_status{service=\"test-service\"} 1\n"))
        // The probe joins the run the scrape started in the background.
        #expect(try get(endpoint.metricsPort, "/health/live").status == 503)
        #expect(calls.load(ordering: .relaxed) == 1)
        #expect(
            try get(endpoint.metricsPort, "/metrics").text.contains(
                "marty_service_health_status{service=\"test-service\"} 0\n"))
        #expect(calls.load(ordering: .relaxed) == 1)
        healthy.store(true, ordering: .relaxed)
        try health.remove("cache")
    }
}
