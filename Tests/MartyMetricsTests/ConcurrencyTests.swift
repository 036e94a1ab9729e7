import MartyTestSupport
import Synchronization
import Testing

@testable import MartyMetrics

@Suite struct ConcurrencyTests {
    /// Lookups racing with removals and clears: under ASan or TSan a lookup reading a freed
    /// table or series would be reported; here every thread must finish and the totals of
    /// the series that were never removed must be exact.
    @Test func lookupsRacingWithClearsAndRemovals() throws {
        let registry = Registry()
        let churned = try registry.counter("churned", help: "", labelNames: ["id"])
        let kept = try registry.counter("kept", help: "", labelNames: ["id"])
        let rounds = 20_000
        onThreads(3) { thread in
            for round in 0..<rounds {
                if thread == 2 {
                    if round % 50 == 0 { churned.clear() }
                    if round % 7 == 0 { try? churned.remove(["\(round % 13)"]) }
                    if round % 100 == 0 { _ = registry.renderString() }
                } else {
                    try! churned.labels("\(round % 13)").inc()
                    try! kept.labels("\(thread)").inc()
                }
            }
        }
        #expect(try kept.labels("0").value == Double(rounds))
        #expect(try kept.labels("1").value == Double(rounds))
    }

    @Test func concurrentRecordingGivesExactTotals() throws {
        let registry = Registry()
        let counter = try registry.counter("c", help: "").labels()
        let gauge = try registry.gauge("g", help: "").labels()
        let histogram = try registry.histogram("h", help: "").labels()
        let perThread = 200_000
        onThreads(4) { _ in
            for index in 0..<perThread {
                counter.inc()
                gauge.add(1)
                try! histogram.observe(index % 2 == 0 ? 0 : 8)
            }
        }
        #expect(counter.value == Double(4 * perThread))
        #expect(gauge.value == Double(4 * perThread))
        let snapshot = histogram.snapshot()
        #expect(snapshot.count == UInt64(4 * perThread))
        #expect(snapshot.cumulativeCounts[0] == UInt64(2 * perThread))
        #expect(snapshot.sum == Double(2 * perThread) * 8)
    }

    @Test func scrapesDuringObservationNeverShowAnInconsistentHistogram() throws {
        let registry = Registry()
        let family = try registry.histogram("h", help: "", labelNames: ["k"], buckets: HistogramBuckets([1, 2, 3]))
        let series = try family.labels("x")
        // `problems` and `scrapesMidway` are written by the scraper only and read after
        // it joined; `observersDone` is atomic.
        final class Progress: @unchecked Sendable {
            var problems = 0
            var scrapesMidway = 0
            let observersDone = Atomic<Int>(0)
        }
        let progress = Progress()
        let observationsPerThread = 300_000
        onThreads(3) { thread in
            if thread == 2 {
                // The scraper: every rendering must have _count == +Inf bucket and
                // non-decreasing cumulative buckets. Bounded by count as well as by the
                // observers finishing.
                for _ in 0..<100_000 where progress.observersDone.load(ordering: .acquiring) < 2 {
                    let text = registry.renderString()
                    var previous = -1
                    var infBucket = -1
                    var count = -2
                    for line in text.split(separator: "\n")
                    where line.hasPrefix("h_bucket") || line.hasPrefix("h_count") {
                        let value = Int(line.split(separator: " ").last!)!
                        if line.hasPrefix("h_bucket") {
                            if value < previous { progress.problems += 1 }
                            previous = value
                            if line.contains("+Inf") { infBucket = value }
                        } else if line.hasPrefix("h_count") {
                            count = value
                        }
                    }
                    if infBucket != count { progress.problems += 1 }
                    if count > 0 && count < 2 * observationsPerThread { progress.scrapesMidway += 1 }
                }
            } else {
                for index in 0..<observationsPerThread {
                    try! series.observe(Double(index % 4) + 0.5)
                }
                progress.observersDone.add(1, ordering: .releasing)
            }
        }
        #expect(progress.problems == 0)
        #expect(progress.scrapesMidway > 0, "no scrape overlapped the observations")
        let snapshot = series.snapshot()
        #expect(snapshot.cumulativeCounts == [150_000, 300_000, 450_000, 600_000])
    }

    @Test func concurrentLookupsCreateEachSeriesOnce() throws {
        let registry = Registry()
        let family = try registry.counter("c", help: "", labelNames: ["i", "j"])
        onThreads(4) { _ in
            for round in 0..<20 {
                for index in 0..<500 {
                    try! family.labels(String(index), String(round % 2)).inc()
                }
            }
        }
        let series = family.sortedSeries()
        #expect(series.count == 1000)
        #expect(series.allSatisfy { ($0 as! Counter).value == 40 })
    }
}
