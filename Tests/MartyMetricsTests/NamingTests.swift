import Testing

@testable import MartyMetrics

@Suite struct NamingTests {
    @Test(arguments: ["ok", "_ok", "ok:sub", ":colon", "a1_b2"])
    func validMetricNamesAreAccepted(name: String) throws {
        _ = try Registry().gauge(name, help: "")
    }

    @Test func anEmptyMetricNameIsRefused() {
        #expect {
            _ = try Registry().gauge("", help: "")
        } throws: { error in
            let error = error as! MetricError
            return error.kind == .invalidName && error.message.contains("empty")
        }
    }

    @Test(arguments: [
        ([""], "empty"), (["__reserved"], "reserved"), (["a", "a"], "twice"),
    ])
    func invalidLabelNamesNameTheRule(labels: [String], rule: String) {
        #expect {
            _ = try Registry().gauge("g", help: "", labelNames: labels)
        } throws: { error in
            let error = error as! MetricError
            return error.kind == .invalidLabel && error.message.contains(rule)
        }
    }

    @Test func histogramsRefuseTheLeLabelOthersAllowIt() throws {
        #expect(throws: MetricError.self) { _ = try Registry().histogram("h", help: "", labelNames: ["le"]) }
        _ = try Registry().gauge("g", help: "", labelNames: ["le"])
    }

    @Test func counterNamesDropATrailingTotalAndExposeIt() throws {
        let registry = Registry()
        let family = try registry.counter("requests_total", help: "")
        #expect(family.name == "requests")
        try family.labels().inc()
        #expect(registry.renderString().contains("\nrequests_total 1\n"))
    }

    @Test(arguments: [[.nan], [1, 1], [2, 1], [.infinity], [-.infinity, 0]] as [[Double]])
    func badBucketsAreRefused(bounds: [Double]) {
        #expect(throws: MetricError.self) { _ = try HistogramBuckets(bounds) }
    }
}

@Suite struct RegistryTests {
    @Test func registeringANameTwiceNamesTheClash() throws {
        let registry = Registry()
        _ = try registry.counter("jobs", help: "", labelNames: ["queue"])
        #expect {
            _ = try registry.gauge("jobs", help: "")
        } throws: { error in
            let error = error as! MetricError
            return error.kind == .conflict && error.message.contains("counter jobs {queue}")
                && error.message.contains("gauge jobs")
        }
    }

    @Test(arguments: ["jobs_total", "jobs_created"])
    func sampleNamesOfAnotherKindClash(name: String) throws {
        let registry = Registry()
        _ = try registry.counter("jobs", help: "")
        #expect {
            _ = try registry.gauge(name, help: "")
        } throws: { error in
            (error as! MetricError).message.contains("both would expose \(name)")
        }
    }

    @Test func histogramSuffixesClash() throws {
        let registry = Registry()
        _ = try registry.histogram("latency", help: "")
        for name in ["latency_bucket", "latency_sum", "latency_count"] {
            #expect(throws: MetricError.self) { _ = try registry.gauge(name, help: "") }
        }
    }

    @Test func unregisterTwiceIsNotFoundAndFreesTheName() throws {
        let registry = Registry()
        let family = try registry.gauge("g", help: "")
        try registry.unregister(family)
        #expect(throws: MetricError(.notFound, "g is not registered in this registry")) {
            try registry.unregister(family)
        }
        _ = try registry.counter("g", help: "")
    }

    @Test func independentRegistriesDoNotShareNames() throws {
        _ = try Registry().gauge("same", help: "")
        _ = try Registry().gauge("same", help: "")
    }
}
