import Foundation
import MartyMetrics
import MartyTestSupport
import Synchronization
import Testing

@testable import MartyHealth

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
        let calls = Atomic<Int>(0)
        try health.register("hangs", timeout: 0.1) {
            calls.add(1, ordering: .relaxed)
            usleep(600_000)
            return (true, nil)
        }
        let start = Date()
        let first = health.report()
        let elapsed = Date().timeIntervalSince(start)
        #expect(!first.healthy)
        #expect(first.checks[0].message?.hasPrefix("timed out") == true)
        #expect(elapsed < 0.5, "the probe waited \(elapsed) s")
        // Past its deadline: later probes fail at once and start no new run.
        let again = Date()
        #expect(health.report().checks[0].message?.hasPrefix("timed out: still running") == true)
        #expect(Date().timeIntervalSince(again) < 0.05)
        #expect(calls.load(ordering: .relaxed) == 1)
        usleep(700_000)
        // Once the slow run finished, the next probe starts a new one (and it times out again).
        #expect(health.report().checks[0].message?.hasPrefix("timed out") == true)
        #expect(calls.load(ordering: .relaxed) == 2)
        try health.remove("hangs")
    }

    @Test func overlappingProbesShareTheRunInFlight() throws {
        let health = HealthRegistry()
        let calls = Atomic<Int>(0)
        try health.register("database", timeout: 1) {
            calls.add(1, ordering: .relaxed)
            usleep(50_000)
            return (true, nil)
        }
        let failures = Atomic<Int>(0)
        for _ in 0..<20 {
            onThreads(2) { thread in
                let report = health.report(thread == 0 ? .liveness : .readiness)
                if !(thread == 0 ? report.live : report.ready) { failures.add(1, ordering: .relaxed) }
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
        #expect(calls.load(ordering: .relaxed) < 40, "\(calls.load(ordering: .relaxed)) runs for 20 pairs")
    }

    @Test func aProbeEvaluatesOnlyTheChecksThatCountForIt() throws {
        let health = HealthRegistry()
        let readinessRuns = Atomic<Int>(0)
        try health.register("slow_database", probe: .readiness, timeout: 5) {
            readinessRuns.add(1, ordering: .relaxed)
            usleep(1_000_000)
            return (true, nil)
        }
        try health.register("event_loop", probe: .liveness) { (true, nil) }
        let start = Date()
        let live = health.report(.liveness)
        #expect(Date().timeIntervalSince(start) < 0.5)
        #expect(live.live && live.checks.map(\.name) == ["event_loop"])
        #expect(readinessRuns.load(ordering: .relaxed) == 0)
        let ready = health.report(.readiness)
        #expect(ready.ready && ready.checks.map(\.name) == ["slow_database"])
        #expect(readinessRuns.load(ordering: .relaxed) == 1)
        try health.remove("slow_database")
    }

    @Test func aHungCallbackHoldsOneWorkerAndTheOthersKeepServing() throws {
        let health = HealthRegistry()
        let release = Atomic<Bool>(false)
        let hungRuns = Atomic<Int>(0)
        try health.register("hung", timeout: 0.1) {
            hungRuns.add(1, ordering: .relaxed)
            var waited = 0
            while !release.load(ordering: .relaxed) && waited < 200 {
                usleep(10_000)
                waited += 1
            }
            return (true, nil)
        }
        let okRuns = Atomic<Int>(0)
        try health.register("fine", timeout: 1) {
            okRuns.add(1, ordering: .relaxed)
            return (true, "ok")
        }
        for round in 0..<10 {
            let report = health.report()
            let byName = Dictionary(uniqueKeysWithValues: report.checks.map { ($0.name, $0) })
            #expect(byName["hung"]?.healthy == false && byName["hung"]?.message?.hasPrefix("timed out") == true)
            #expect(byName["fine"]?.healthy == true, "round \(round): \(byName["fine"]?.message ?? "-")")
        }
        #expect(hungRuns.load(ordering: .relaxed) == 1)
        #expect(okRuns.load(ordering: .relaxed) == 10)
        release.store(true, ordering: .relaxed)
        try health.remove("hung")
    }

    @Test func onceRemoveReturnsTheCallbackIsNeverCalledAgain() throws {
        let health = HealthRegistry()
        let inside = Atomic<Int>(0)
        let calls = Atomic<Int>(0)
        try health.register("busy", timeout: 2) {
            calls.add(1, ordering: .relaxed)
            inside.add(1, ordering: .relaxed)
            usleep(200_000)
            inside.subtract(1, ordering: .relaxed)
            return (true, nil)
        }
        let insideAfterRemove = Atomic<Int>(-1)
        onThreads(2) { thread in
            if thread == 0 {
                _ = health.report()
            } else {
                usleep(50_000)  // the run is in progress
                try! health.remove("busy")
                insideAfterRemove.store(inside.load(ordering: .relaxed), ordering: .relaxed)
            }
        }
        #expect(insideAfterRemove.load(ordering: .relaxed) == 0, "remove returned while the callback ran")
        let seen = calls.load(ordering: .relaxed)
        #expect(seen == 1)
        #expect(health.report().checks.isEmpty)
        usleep(100_000)
        #expect(calls.load(ordering: .relaxed) == seen)
    }

    @Test func aCallbackMayRemoveItsOwnCheck() throws {
        let health = HealthRegistry()
        try health.register("once", timeout: 2) {
            try? health.remove("once")
            return (true, "removed myself")
        }
        let start = Date()
        let report = health.report()
        #expect(Date().timeIntervalSince(start) < 1)
        #expect(report.checks.first?.message == "removed myself")
        #expect(health.report().checks.isEmpty)
    }

    @Test func theGaugeStateNeverRunsACallback() throws {
        let health = HealthRegistry()
        let calls = Atomic<Int>(0)
        let healthy = Atomic<Bool>(false)
        try health.register("slow", timeout: 5) {
            calls.add(1, ordering: .relaxed)
            usleep(300_000)
            return (healthy.load(ordering: .relaxed), nil)
        }
        let start = Date()
        // No answer yet: left out; a background run starts on a health worker.
        #expect(health.lastKnownHealthy())
        #expect(Date().timeIntervalSince(start) < 0.1)
        _ = health.report()  // joins that run: unhealthy
        #expect(!health.lastKnownHealthy())
        healthy.store(true, ordering: .relaxed)
        #expect(!health.lastKnownHealthy(), "the last completed answer, not a new run")
        #expect(health.report().healthy)
        #expect(health.lastKnownHealthy())
        #expect(calls.load(ordering: .relaxed) == 2)
        try health.set("down", healthy: false)
        #expect(!health.lastKnownHealthy())
    }

    @Test func anOldAnswerIsRefreshedInTheBackground() throws {
        let health = HealthRegistry()
        let healthy = Atomic<Bool>(true)
        let calls = Atomic<Int>(0)
        try health.register("cache", timeout: 2) {
            calls.add(1, ordering: .relaxed)
            usleep(100_000)
            return (healthy.load(ordering: .relaxed), nil)
        }
        #expect(health.report().healthy)
        healthy.store(false, ordering: .relaxed)
        // Younger than the interval: shown as is, no run.
        #expect(health.lastKnownHealthy())
        #expect(calls.load(ordering: .relaxed) == 1)
        // Older (an interval of 0 here, 5 s in production): shown as is, and a run starts.
        #expect(health.lastKnownHealthy(refreshAfter: 0))
        var waited = 0
        while health.lastKnownHealthy(refreshAfter: .max) && waited < 100 {
            usleep(20_000)
            waited += 1
        }
        #expect(!health.lastKnownHealthy(refreshAfter: .max), "the background run's answer")
        #expect(calls.load(ordering: .relaxed) == 2)
        try health.remove("cache")
    }

    @Test(arguments: [Double.nan, .infinity, -.infinity, -1, 0, 1e10, 1e19, .greatestFiniteMagnitude])
    func badDurationsAreInvalidArgumentsNeverTraps(seconds: Double) throws {
        let health = HealthRegistry()
        #expect(throws: MetricError.self) { try health.register("x", timeout: seconds) { (true, nil) } }
        do {
            try health.register("x", timeout: seconds) { (true, nil) }
        } catch {
            #expect(error.kind == .invalidArgument)
            #expect(error.message.contains("timeout of health check x"))
        }
        #expect(throws: MetricError.self) { try health.set("x", healthy: true, timeToLive: seconds) }
        #expect(health.report().checks.isEmpty)
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
