import MartyMetrics
import MartyMetricsTestKit
import Testing

@Suite struct TestKitTests {
    /// A registry with one family of each kind, some labelled.
    func filledRegistry() throws -> Registry {
        let registry = Registry()
        let jobs = try registry.counter("jobs_total", help: "Jobs.", labelNames: ["queue"])
        try jobs.labels("mail").inc(by: 3)
        try jobs.labels("print").add(0.5)
        try registry.gauge("temperature", help: "Temperature.").labels().set(-4.25)
        let latency = try registry.histogram(
            "latency_seconds", help: "Latency.", labelNames: ["method"], buckets: HistogramBuckets([0.1, 1]))
        try latency.labels("GET").observe(0.05)
        try latency.labels("GET").observe(0.5)
        try latency.labels("GET").observe(7)
        try registry.info("build", help: "Build.", labelNames: ["version"]).set(["1.2.3"])
        return registry
    }

    @Test func samplesAreWhatWasRecorded() throws {
        let registry = try filledRegistry()
        #expect(registry.sampleValue("jobs_total", ["queue": "mail"]) == 3)
        #expect(registry.sampleValue("jobs_total", ["queue": "print"]) == 0.5)
        #expect(registry.sampleValue("jobs_total", ["queue": "fax"]) == nil)
        #expect(registry.sampleValue("jobs_total") == nil)  // labels must match exactly
        #expect(registry.sampleValue("temperature") == -4.25)
        #expect(registry.sampleValue("latency_seconds_bucket", ["method": "GET", "le": "0.1"]) == 1)
        #expect(registry.sampleValue("latency_seconds_bucket", ["method": "GET", "le": "1.0"]) == 2)
        #expect(registry.sampleValue("latency_seconds_bucket", ["method": "GET", "le": "+Inf"]) == 3)
        #expect(registry.sampleValue("latency_seconds_count", ["method": "GET"]) == 3)
        #expect(registry.sampleValue("latency_seconds_sum", ["method": "GET"]) == 7.55)
        #expect(registry.sampleValue("build_info", ["version": "1.2.3"]) == 1)
    }

    /// The samples are the lines of the text exposition, in the same order.
    @Test func samplesMatchTheTextExposition() throws {
        let registry = try filledRegistry()
        let lines = registry.renderString().split(separator: "\n").filter { !$0.hasPrefix("#") }
        let samples = registry.samples()
        #expect(samples.count == lines.count)
        for (sample, line) in zip(samples, lines) {
            let nameEnd = line.firstIndex { $0 == "{" || $0 == " " }!
            #expect(String(line[..<nameEnd]) == sample.name)
            let valueText = line[line.index(after: line.lastIndex(of: " ")!)...]
            #expect(Double(valueText) == sample.value, "\(line)")
            for (name, value) in sample.labels {
                #expect(line.contains("\(name)=\"\(value)\""), "\(line) lacks \(name)=\"\(value)\"")
            }
        }
    }

    @Test func collectorsRunBeforeSamplesAreRead() throws {
        let registry = Registry()
        let gauge = try registry.gauge("refreshed", help: "Refreshed at collection.").labels()
        registry.addCollector { gauge.set(42) }
        #expect(registry.sampleValue("refreshed") == 42)
    }
}
