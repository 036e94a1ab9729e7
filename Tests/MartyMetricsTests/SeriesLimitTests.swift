import Synchronization
import Testing

@testable import MartyMetrics

/// The per-family series cap: at the limit, one past it, far past it; the overflow series
/// keeps totals, the overflow counter counts lookups, one warning per family.
@Suite(.serialized) struct SeriesLimitTests {
    /// Collects warnings for the duration of `body`, restoring standard error after.
    private func collectingWarnings(_ body: () throws -> Void) rethrows -> [String] {
        let warnings = Mutex<[String]>([])
        MetricsWarnings.setHandler { message in warnings.withLock { $0.append(message) } }
        defer { MetricsWarnings.setHandler(nil) }
        try body()
        return warnings.withLock { $0 }
    }

    @Test func atTheCapSeriesAreMadeOnePastItTheyOverflow() throws {
        let registry = Registry()
        let family = try registry.counter("requests", help: "", labelNames: ["user", "code"])
        family.maximumSeries = 3
        var warnings: [String] = []
        warnings = try collectingWarnings {
            for user in ["a", "b", "c"] { try family.labels(user, "200").inc() }
            #expect(family.sortedSeries().count == 3)
            #expect(family.overflowedLookups == 0)
            try family.labels("d", "200").inc(by: 5)
            try family.labels("e", "500").inc()
            try family.labels("a", "200").inc()  // an existing series still records as itself
        }
        let text = registry.renderString()
        #expect(text.contains("requests_total{user=\"a\",code=\"200\"} 2\n"))
        #expect(text.contains("requests_total{user=\"__overflow__\",code=\"__overflow__\"} 6\n"))
        #expect(!text.contains("user=\"d\""))
        #expect(family.overflowedLookups == 2)
        #expect(text.contains("marty_metrics_series_overflow_total{metric=\"requests\"} 2\n"))
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains("requests reached its cap of 3 series") == true)
    }

    @Test func oneHundredThousandDistinctValuesStayWithinTheCapAndLoseNothing() throws {
        let registry = Registry()
        let family = try registry.counter("hits", help: "", labelNames: ["path"])
        family.maximumSeries = 1000
        let warnings = try collectingWarnings {
            for index in 0..<100_000 { try family.labels("/item/\(index)").inc() }
        }
        #expect(family.sortedSeries().count == 1001)  // the cap plus the overflow series
        let total = family.sortedSeries().reduce(0.0) { $0 + unsafeDowncast($1, to: Counter.self).value }
        #expect(total == 100_000)
        #expect(family.overflowedLookups == 99_000)
        #expect(registry.renderString().contains("marty_metrics_series_overflow_total{metric=\"hits\"} 99000\n"))
        #expect(warnings.count == 1)
    }

    @Test func everyKindOverflowsIntoOneSeries() throws {
        let registry = Registry()
        let gauges = try registry.gauge("temperature", help: "", labelNames: ["room"])
        let histograms = try registry.histogram("latency", help: "", labelNames: ["route"], buckets: .init([1]))
        gauges.maximumSeries = 1
        histograms.maximumSeries = 1
        _ = try collectingWarnings {
            try gauges.labels("hall").set(20)
            try gauges.labels("kitchen").set(22)
            try gauges.labels("attic").set(18)
            try histograms.labels("/a").observe(0.5)
            try histograms.labels("/b").observe(2)
            try histograms.labels("/c").observe(0.1)
        }
        let text = registry.renderString()
        #expect(text.contains("temperature{room=\"__overflow__\"} 18\n"))
        #expect(text.contains("latency_count{route=\"__overflow__\"} 2\n"))
        #expect(text.contains("marty_metrics_series_overflow_total{metric=\"latency\"} 2\n"))
        #expect(text.contains("marty_metrics_series_overflow_total{metric=\"temperature\"} 2\n"))
    }

    @Test func noCapWithZeroAndNothingShownUntilAnOverflow() throws {
        let registry = Registry()
        let family = try registry.counter("jobs", help: "", labelNames: ["id"])
        family.maximumSeries = 0
        for index in 0..<2000 { try family.labels("\(index)").inc() }
        #expect(family.sortedSeries().count == 2000)
        family.maximumSeries = -5  // clamped: no cap
        #expect(family.maximumSeries == 0)
        #expect(!registry.renderString().contains("marty_metrics_series_overflow"))
        #expect(SeriesLimit.defaultPerFamily == 10_000)  // MARTY_METRICS_MAX_SERIES_PER_FAMILY unset in tests
        #expect(try registry.gauge("fresh", help: "", labelNames: ["x"]).maximumSeries == 10_000)
    }

    @Test func removingTheOverflowSeriesOrClearingStartsAfresh() throws {
        let registry = Registry()
        let family = try registry.counter("events", help: "", labelNames: ["kind"])
        family.maximumSeries = 1
        _ = try collectingWarnings {
            try family.labels("a").inc()
            try family.labels("b").inc()
            try family.remove(["__overflow__"])
            try family.labels("c").inc(by: 3)  // still full (a): a fresh overflow series
            #expect(family.sortedSeries().count == 2)
            family.clear()
            try family.labels("d").inc()
        }
        let text = registry.renderString()
        #expect(text.contains("events_total{kind=\"d\"} 1\n"))
        #expect(!text.contains("__overflow__"))
        // The counter of overflowed lookups never goes back.
        #expect(text.contains("marty_metrics_series_overflow_total{metric=\"events\"} 2\n"))
    }

    @Test func concurrentLookupsPastTheCapLoseNothing() async throws {
        let registry = Registry()
        let family = try registry.counter("parallel", help: "", labelNames: ["key"])
        family.maximumSeries = 10
        MetricsWarnings.setHandler { _ in }
        defer { MetricsWarnings.setHandler(nil) }
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<4 {
                group.addTask {
                    for index in 0..<5000 { try! family.labels("\(task)-\(index % 50)").inc() }
                }
            }
        }
        #expect(family.sortedSeries().count == 11)
        let total = family.sortedSeries().reduce(0.0) { $0 + unsafeDowncast($1, to: Counter.self).value }
        #expect(total == 20_000)
    }

    @Test func anOverflowCounterPushedToInfinityByHandDoesNotTrapARender() throws {
        let registry = Registry()
        let family = try registry.counter("spam", help: "", labelNames: ["k"])
        family.maximumSeries = 1
        MetricsWarnings.setHandler { _ in }
        defer { MetricsWarnings.setHandler(nil) }
        try family.labels("a").inc()
        try family.labels("b").inc()
        _ = registry.renderString()  // registers the overflow counter
        let overflow = try #require(registry.family(named: "marty_metrics_series_overflow") as? CounterFamily)
        try overflow.labels("spam").inc(by: .infinity, exemplar: Exemplar(["k": "v"]))
        try family.labels("c").inc()
        #expect(registry.renderString().contains("marty_metrics_series_overflow_total{metric=\"spam\"} +Inf\n"))
    }
}
