import Foundation
import Testing

@testable import MartyMetrics

@Suite struct HealthTests {
    @Test func noChecksMeansHealthyLiveAndReady() {
        let report = HealthRegistry().report()
        #expect(report.healthy && report.live && report.ready)
    }

    @Test func checksCountForTheirProbesOnly() throws {
        let health = HealthRegistry()
        try health.set("database", healthy: false, message: "connection refused", probe: .readiness)
        try health.set("event_loop", healthy: true, probe: .liveness)
        var report = health.report()
        #expect(!report.healthy && report.live && !report.ready)
        try health.set("event_loop", healthy: false, probe: .liveness)
        try health.set("database", healthy: true, probe: .readiness)
        report = health.report()
        #expect(!report.healthy && !report.live && report.ready)
    }

    @Test func shuttingDownTurnsNotReadyButStaysLive() throws {
        let health = HealthRegistry()
        try health.set("grpc_server", healthy: true)
        health.beginShutdown()
        let report = health.report()
        #expect(report.live && !report.ready && report.healthy)
        #expect(report.probeJSON(service: "s", live: false).contains("\"shutting_down\""))
    }

    @Test func staleChecksFail() throws {
        let health = HealthRegistry()
        try health.set("heartbeat", healthy: true, timeToLive: 0.05)
        #expect(health.report().healthy)
        usleep(120_000)
        let check = health.report().checks[0]
        #expect(!check.healthy)
        #expect(check.message?.hasPrefix("stale") == true)
        try health.set("heartbeat", healthy: true, timeToLive: 0.05)
        #expect(health.report().healthy)
    }

    @Test func callbackChecksRunAtProbeTime() throws {
        let health = HealthRegistry()
        final class Flag: @unchecked Sendable { var up = true }
        let flag = Flag()
        try health.register("cache") { (flag.up, flag.up ? nil : "cache down") }
        #expect(health.report().healthy)
        flag.up = false
        let report = health.report()
        #expect(!report.healthy && report.checks[0].message == "cache down")
    }

    @Test func aHangingCallbackFailsWithinItsTimeLimitAndIsNotStartedTwice() throws {
        let health = HealthRegistry()
        try health.register("hangs", timeout: 0.1) {
            usleep(600_000)
            return (true, nil)
        }
        let start = Date()
        let first = health.report()
        let elapsed = Date().timeIntervalSince(start)
        #expect(!first.healthy)
        #expect(first.checks[0].message?.hasPrefix("timed out") == true)
        #expect(elapsed < 0.5, "the probe waited \(elapsed) s")
        #expect(health.report().checks[0].message?.hasPrefix("still running") == true)
        usleep(700_000)
        // Once the slow run finished, the next probe starts a new one (and it times out again).
        #expect(health.report().checks[0].message?.hasPrefix("timed out") == true)
    }

    @Test func badArgumentsAreRefused() throws {
        let health = HealthRegistry()
        #expect(throws: MetricError.self) { try health.set("", healthy: true) }
        #expect(throws: MetricError.self) { try health.set("x", healthy: true, timeToLive: -1) }
        #expect(throws: MetricError.self) { try health.register("x", timeout: .nan) { (true, nil) } }
        #expect(throws: MetricError.self) { try health.remove("missing") }
    }

    @Test func healthJSONHasTheSeedsFieldsAndParses() throws {
        let health = HealthRegistry()
        try health.set("grpc_server", healthy: true)
        try health.set("database", healthy: false, message: "quote \" and \n newline")
        let text = health.report().json(service: "csca-service", uptimeSeconds: 12.5, timestamp: 1_697_875_200)
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
        for key in ["service", "healthy", "ready", "live", "uptime_seconds", "checks", "timestamp"] {
            #expect(object[key] != nil, "missing \(key)")
        }
        #expect(object["service"] as? String == "csca-service")
        #expect(object["healthy"] as? Bool == false)
        #expect(object["checks"] as? [String: Bool] == ["grpc_server": true, "database": false])
        #expect(object["uptime_seconds"] as? Double == 12.5)
        let details = object["details"] as! [String: [String: Any]]
        #expect(details["database"]?["message"] as? String == "quote \" and \n newline")
    }
}
