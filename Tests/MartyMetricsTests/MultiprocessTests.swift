import Testing

@testable import MartyMetrics

#if canImport(Glibc)
    import Glibc
#endif

/// Pre-fork workers through the Swift API. The segment is made once per process tree and makes
/// `Registry.default` shared, so what needs one runs in an exit test (a process of its own).
@Suite struct MultiprocessTests {
    @Test func definitionsReadBackAndAgreeWithoutTheirHelp() throws {
        let definition = SharedFamily.Definition(
            name: "latency_seconds", kind: .histogram, gaugeMode: .all, labelNames: ["method", "code"],
            bounds: [0.1, 1, 2.5], help: "Time taken, in seconds.")
        let bytes = definition.bytes
        let read = try #require(
            bytes.withUnsafeBufferPointer { SharedFamily.Definition(bytes: $0, nameLength: definition.nameLength) })
        #expect(read.name == "latency_seconds")
        #expect(read.kind == .histogram)
        #expect(read.labelNames == ["method", "code"])
        #expect(read.bounds == [0.1, 1, 2.5])
        #expect(read.help == "Time taken, in seconds.")
        var otherHelp = definition
        otherHelp.help = "Something else."
        #expect(otherHelp.agreedFields == definition.agreedFields)
        var otherBounds = definition
        otherBounds.bounds = [0.1, 1]
        #expect(otherBounds.agreedFields != definition.agreedFields)
        let unlabelled = SharedFamily.Definition(
            name: "up", kind: .gauge, gaugeMode: .livesum, labelNames: [], bounds: [], help: "")
        let readUnlabelled = try #require(
            unlabelled.bytes.withUnsafeBufferPointer { SharedFamily.Definition(bytes: $0, nameLength: 2) })
        #expect(readUnlabelled.labelNames.isEmpty && readUnlabelled.gaugeMode == .livesum)
        #expect(readUnlabelled.summary == "gauge up in mode livesum")
        // UTF-8 names may hold any character: separators, commas and NUL read back whole.
        let odd = SharedFamily.Definition(
            name: "a\u{0}b", kind: .counter, gaugeMode: .all, labelNames: ["x,y", "\u{1F}"], bounds: [],
            help: "h\u{0}\u{1F},")
        let readOdd = try #require(
            odd.bytes.withUnsafeBufferPointer { SharedFamily.Definition(bytes: $0, nameLength: odd.nameLength) })
        #expect(readOdd.name == odd.name && readOdd.labelNames == odd.labelNames && readOdd.help == odd.help)
        // Truncated bytes are refused, never read past.
        let cut = Array(definition.bytes.prefix(definition.nameLength + 7))
        #expect(
            cut.withUnsafeBufferPointer { SharedFamily.Definition(bytes: $0, nameLength: definition.nameLength) } == nil
        )
    }

    @Test func gaugeModesAreInTheOrderOfTheHeadersEnum() {
        // marty_gauge_family_new_multiprocess indexes allCases with MARTY_GAUGE_*.
        #expect(
            GaugeMultiprocessMode.allCases.map(\.rawValue) == [
                "all", "liveall", "min", "livemin", "max", "livemax", "sum", "livesum", "mostrecent",
                "livemostrecent",
            ])
        #expect(GaugeMultiprocessMode.allCases.filter(\.showsEachProcess) == [.all, .liveall])
        #expect(!GaugeMultiprocessMode.mostrecent.keepsValuePerProcess)
    }

    @Test func aSegmentUnderOneMebibyteIsRefused() {
        #expect(throws: MetricError.self) { try Multiprocess.enable(bytes: 1000) }
        #expect(!Multiprocess.isEnabled)
    }

    /// Threads of one process making series in the segment while another renders the view
    /// (run under TSan too): every series shows once, with its count.
    @Test func threadsMakeSharedSeriesWhileAScrapeAdoptsThem() async {
        await #expect(processExitsWith: .success) {
            try Multiprocess.enable(bytes: 32 << 20)
            let jobs = try Registry.default.counter("jobs", help: "Jobs.", labelNames: ["thread", "index"])
            let levels = try Registry.default.gauge(
                "levels", help: "Levels.", labelNames: ["thread"], multiprocessMode: .livesum)
            let threads = 4
            let perThread = 500
            let renders = Task.detached {
                var rendered = 0
                while !Task.isCancelled {
                    rendered += Registry.default.render().withBytes { $0.count }
                }
                return rendered
            }
            await withTaskGroup(of: Void.self) { group in
                for thread in 0..<threads {
                    group.addTask {
                        for index in 0..<perThread {
                            try? jobs.labels(String(thread), String(index)).inc(by: 2)
                            try? levels.labels(String(thread)).add(1)
                        }
                    }
                }
            }
            renders.cancel()
            _ = await renders.value
            let text = Registry.default.render().withBytes { String(decoding: $0, as: UTF8.self) }
            let lines = text.split(separator: "\n").filter { $0.hasPrefix("jobs_total{") }
            guard lines.count == threads * perThread, lines.allSatisfy({ $0.hasSuffix(" 2") }),
                text.contains("levels{thread=\"3\"} \(perThread)\n")
            else {
                print(text.prefix(2000))
                exit(1)
            }
        }
    }

    #if canImport(Glibc)
        @Test func forkedWorkersRecordIntoTheDefaultRegistry() async {
            await #expect(processExitsWith: .success) {
                try Multiprocess.enable(bytes: 16 << 20)
                let jobs = try Registry.default.counter("jobs", help: "Jobs.", labelNames: ["queue"])
                let busy = try Registry.default.gauge("busy", help: "Busy.", multiprocessMode: .sum)
                for _ in 0..<3 {
                    let pid = fork()
                    if pid == 0 {
                        let again = try? Registry.default.summary("defined_after_fork", help: "")
                        for _ in 0..<100 { try? jobs.labels("a").inc() }
                        try? again?.labels().observe(2)
                        try? busy.labels().set(5)
                        _exit(0)
                    }
                    var status: Int32 = 0
                    waitpid(pid, &status, 0)
                }
                try busy.labels().set(1)
                let text = Registry.default.render().withBytes { String(decoding: $0, as: UTF8.self) }
                guard text.contains("jobs_total{queue=\"a\"} 300\n"), text.contains("busy 16\n"),
                    text.contains("defined_after_fork_count 3\n"), text.contains("defined_after_fork_sum 6\n")
                else {
                    print(text)
                    exit(1)
                }
                do {
                    try jobs.remove(["a"])
                    exit(2)
                } catch {}
                // The mode `all` adds a pid label: a gauge of its own named so is refused.
                do {
                    _ = try Registry.default.gauge("by_pid", help: "", labelNames: ["pid"])
                    exit(4)
                } catch let error as MetricError {
                    guard error.kind == .invalidLabel else { exit(5) }
                }
                _ = try Registry.default.gauge("by_pid", help: "", labelNames: ["pid"], multiprocessMode: .sum)
                let mismatch = try? Registry().counter("unused", help: "")  // other registries stay alone
                guard mismatch?.isShared == false, jobs.isShared else { exit(3) }
            }
        }
    #endif
}
