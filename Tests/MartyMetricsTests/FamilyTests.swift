import Testing

@testable import MartyMetrics

@Suite struct FamilyTests {
    @Test func labelsReturnsTheSameSeriesForTheSameValues() throws {
        let family = try Registry().counter("c", help: "", labelNames: ["a", "b"])
        let first = try family.labels("x", "y")
        #expect(try family.labels("x", "y") === first)
        #expect(try family.labels("x", "z") !== first)
        // The separator keeps ("ab", "") and ("a", "b") apart.
        #expect(try family.labels("ab", "") !== family.labels("a", "b"))
    }

    @Test func wrongLabelCountSaysWhatWasExpected() throws {
        let family = try Registry().counter("c", help: "", labelNames: ["method", "code"])
        #expect {
            _ = try family.labels("GET")
        } throws: { error in
            let error = error as! MetricError
            return error.kind == .labelCount && error.message.contains("2 label name(s) [method, code] but 1 value(s)")
        }
    }

    @Test func removedSeriesKeepsItsHandleButLeavesTheExposition() throws {
        let registry = Registry()
        let family = try registry.counter("c", help: "", labelNames: ["k"])
        let gone = try family.labels("gone")
        let kept = try family.labels("kept")
        kept.inc()
        try family.remove(["gone"])
        gone.inc()  // harmless
        #expect(registry.renderString().contains(#"c_total{k="kept"} 1"#))
        #expect(!registry.renderString().contains("gone"))
        #expect(throws: MetricError.self) { try family.remove(["gone"]) }
        // A new series with the same values starts from zero.
        #expect(try family.labels("gone").value == 0)
        #expect(kept.value == 1)
    }

    @Test func clearRemovesEverySeries() throws {
        let registry = Registry()
        let family = try registry.gauge("g", help: "", labelNames: ["k"])
        for index in 0..<100 { try family.labels("\(index)").set(1) }
        family.clear()
        #expect(family.sortedSeries().isEmpty)
        try family.labels("again").set(2)
        #expect(registry.renderString().hasSuffix("g{k=\"again\"} 2\n"))
    }

    @Test func manySeriesGrowTheLookupTableAndStayFindable() throws {
        let family = try Registry().counter("c", help: "", labelNames: ["i"])
        var handles: [Counter] = []
        for index in 0..<5000 { handles.append(try family.labels(String(index))) }
        for index in stride(from: 0, to: 5000, by: 7) {
            #expect(try family.labels(String(index)) === handles[index])
        }
        #expect(family.sortedSeries().count == 5000)
    }

    @Test func countersOnlyGoUp() throws {
        let counter = try Registry().counter("c", help: "").labels()
        counter.inc()
        counter.inc(by: 41)
        try counter.add(0.25)
        try counter.add(1)
        #expect(counter.value == 43.25)
        #expect(throws: MetricError.self) { try counter.add(-1) }
        #expect(throws: MetricError.self) { try counter.add(.nan) }
        #expect(counter.value == 43.25)
    }

    @Test func gaugesMoveBothWays() throws {
        let gauge = try Registry().gauge("g", help: "").labels()
        gauge.set(10)
        gauge.inc()
        gauge.dec()
        gauge.dec()
        gauge.add(-0.5)
        #expect(gauge.value == 8.5)
        gauge.setToCurrentTime()
        #expect(gauge.value > 1_700_000_000)
    }

    @Test func histogramCountsCumulativelyAndRefusesNaN() throws {
        let histogram = try Registry().histogram("h", help: "", buckets: HistogramBuckets([1, 2])).labels()
        for value in [0.5, 1, 1.5, 2, 3, .infinity] { try histogram.observe(value) }
        #expect(throws: MetricError.self) { try histogram.observe(.nan) }
        let snapshot = histogram.snapshot()
        #expect(snapshot.cumulativeCounts == [2, 4, 6])
        #expect(snapshot.count == 6)
        #expect(snapshot.sum == .infinity)
    }

    @Test func histogramsWithManyBoundsUseBinarySearch() throws {
        let bounds = (1...100).map(Double.init)
        let histogram = try Registry().histogram("h", help: "", buckets: HistogramBuckets(bounds)).labels()
        for value in [0.5, 1, 50.5, 100, 101] { try histogram.observe(value) }
        let counts = histogram.snapshot().cumulativeCounts
        #expect(counts[0] == 2)  // 0.5 and 1
        #expect(counts[49] == 2 && counts[50] == 3)  // 50.5 falls in le=51
        #expect(counts[99] == 4 && counts[100] == 5)
    }

    @Test func infoSetReplacesItsSeries() throws {
        let registry = Registry()
        let info = try registry.info("service", help: "", labelNames: ["version"])
        try info.set(["1"])
        try info.set(["2"])
        #expect(throws: MetricError.self) { try info.set(["1", "2"]) }
        #expect(registry.renderString().hasSuffix("service_info{version=\"2\"} 1\n"))
    }
}
