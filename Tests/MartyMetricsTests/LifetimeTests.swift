import CMartyShims
import Glibc
import MartyTestSupport
import Synchronization
import Testing

@testable import MartyMetrics

@Suite struct LifetimeTests {
    @Test func removedSeriesAreFreedOnceNoOneHoldsThem() throws {
        let registry = Registry()
        let family = try registry.counter("jobs", help: "", labelNames: ["id"])
        weak var removed: Counter?
        do {
            let series = try family.labels("first")
            series.inc()
            removed = series
        }
        try family.remove(["first"])
        // Retired series are freed in batches once no lookup can be reading them.
        for index in 0..<200 {
            _ = try family.labels("other-\(index)")
            try family.remove(["other-\(index)"])
        }
        #expect(removed == nil)
    }

    @Test func aRemovedSeriesHeldInSwiftKeepsRecordingUnseen() throws {
        let registry = Registry()
        let family = try registry.counter("jobs", help: "", labelNames: ["id"])
        let held = try family.labels("a")
        held.inc()
        family.clear()
        for index in 0..<500 { try family.labels("fresh-\(index)").inc(by: 0) }
        held.inc()
        #expect(held.value == 2)
        let text = registry.renderString()
        #expect(!text.contains("id=\"a\""))
        #expect(!text.contains(" 1\n") && !text.contains(" 2\n"))
    }

    @Test func infoSetFreesWhatItReplaces() throws {
        let registry = Registry()
        let info = try registry.info("build", help: "", labelNames: ["version"])
        weak var first: InfoSeries?
        try info.set(["0"])
        first = info.existingSeries(["0"]) as? InfoSeries
        #expect(first != nil)
        for version in 1..<300 { try info.set(["\(version)"]) }
        #expect(first == nil)
        #expect(registry.renderString().contains("build_info{version=\"299\"} 1"))
    }

    @Test func synchronizeWaitsForReadSectionsBegunBeforeIt() {
        final class State: @unchecked Sendable {
            let insideSection = Atomic<Bool>(false)
            let leave = Atomic<Bool>(false)
            let leftAt = Atomic<UInt64>(0)
        }
        let state = State()
        onThreads(2) { thread in
            if thread == 0 {
                let record = cmarty_this_thread()!
                cmarty_read_begin(record)
                state.insideSection.store(true, ordering: .releasing)
                while !state.leave.load(ordering: .acquiring) { sched_yield() }
                state.leftAt.store(MonotonicClock.nanoseconds(), ordering: .releasing)
                cmarty_read_end(record)
            } else {
                while !state.insideSection.load(ordering: .acquiring) { sched_yield() }
                // Let the reader go in 50 ms; synchronize must not return before it ends.
                let releaser = Thread50ms { state.leave.store(true, ordering: .releasing) }
                cmarty_synchronize()
                let returnedAt = MonotonicClock.nanoseconds()
                releaser.join()
                #expect(state.leftAt.load(ordering: .acquiring) != 0)
                #expect(returnedAt >= state.leftAt.load(ordering: .acquiring))
            }
        }
    }

    @Test func shardsFollowTheUsableCPUs() {
        #expect(cmarty_shards_for_cpus(1) == 2)
        #expect(cmarty_shards_for_cpus(2) == 4)
        #expect(cmarty_shards_for_cpus(3) == 8)
        #expect(cmarty_shards_for_cpus(16) == 32)
        #expect(cmarty_shards_for_cpus(64) == 64)
        #expect(cmarty_shards_for_cpus(256) == 64)
        #expect(cmarty_usable_cpus() >= 1)
        #expect(Int(cmarty_shard_count()) >= 2)
    }

    @Test func cgroupLimitsAreRead() throws {
        let root = try TemporaryDirectory()
        // cgroup v2: the lowest cpu.max along the path counts; "max" is no limit.
        try root.write("proc-v2", "0::/kubepods/pod1/container\n")
        try root.write("v2/kubepods/cpu.max", "max 100000\n")
        try root.write("v2/kubepods/pod1/cpu.max", "200000 100000\n")
        try root.write("v2/kubepods/pod1/container/cpu.max", "max 100000\n")
        #expect(cmarty_cgroup_cpu_limit(root.path("proc-v2"), root.path("v2")) == 2)
        // cgroup v1: quota / period of the cpu controller; -1 is no limit.
        try root.write("proc-v1", "4:memory:/x\n3:cpu,cpuacct:/\n")
        try root.write("v1/cpu,cpuacct/cpu.cfs_quota_us", "150000\n")
        try root.write("v1/cpu,cpuacct/cpu.cfs_period_us", "100000\n")
        #expect(cmarty_cgroup_cpu_limit(root.path("proc-v1"), root.path("v1")) == 1.5)
        try root.write("proc-none", "0::/\n")
        try root.write("none/cpu.max", "max 100000\n")
        #expect(cmarty_cgroup_cpu_limit(root.path("proc-none"), root.path("none")) == 0)
        #expect(cmarty_cgroup_cpu_limit(root.path("missing"), root.path("none")) == 0)
        // An absurd quota reads as an infinite limit, which lowers nothing (cmarty_usable_cpus
        // converts the limit to an integer only when it is below the affinity count).
        try root.write("proc-huge", "0::/\n")
        try root.write("huge/cpu.max", "1e999 100000\n")
        #expect(cmarty_cgroup_cpu_limit(root.path("proc-huge"), root.path("huge")).isInfinite)
    }
}

/// Runs `body` on a thread of its own after 50 ms.
private final class Thread50ms: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: @Sendable () -> Void

    init(_ body: @escaping @Sendable () -> Void) {
        self.body = body
        let context = Unmanaged.passRetained(self).toOpaque()
        pthread_create(
            &thread, nil,
            { argument in
                let me = Unmanaged<Thread50ms>.fromOpaque(argument!).takeRetainedValue()
                usleep(50_000)
                me.body()
                return nil
            }, context)
    }

    func join() { pthread_join(thread, nil) }
}

/// A directory under /tmp removed when the value goes away.
private final class TemporaryDirectory {
    let root: String

    init() throws {
        var template = Array("/tmp/marty-lifetime-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw TestFailure("mkdtemp failed") }
        root = String(cString: made)
    }

    deinit { _ = system("rm -rf '\(root)'") }

    func path(_ relative: String) -> String { root + "/" + relative }

    func write(_ relative: String, _ contents: String) throws {
        let full = path(relative)
        let directory = String(full[..<full.lastIndex(of: "/")!])
        _ = system("mkdir -p '\(directory)'")
        guard let file = fopen(full, "w") else { throw TestFailure("cannot write \(full)") }
        fputs(contents, file)
        fclose(file)
    }
}

private struct TestFailure: Error {
    let description: String
    init(_ description: String) { self.description = description }
}
