import Glibc
import Synchronization

// MARK: Clocks

@inline(__always)
func nanoseconds(_ clock: clockid_t) -> Int64 {
    var now = timespec()
    clock_gettime(clock, &now)
    return Int64(now.tv_sec) &* 1_000_000_000 &+ Int64(now.tv_nsec)
}

/// Wall (CLOCK_MONOTONIC) and thread CPU (CLOCK_THREAD_CPUTIME_ID) time of one timed run.
struct Span {
    var wall: Int64
    var cpu: Int64
}

/// Times `body(iterations)` on the calling thread with both clocks.
@inline(never)
func timed(_ iterations: Int, _ body: (Int) -> Void) -> Span {
    let cpu0 = nanoseconds(CLOCK_THREAD_CPUTIME_ID)
    let wall0 = nanoseconds(CLOCK_MONOTONIC)
    body(iterations)
    let wall1 = nanoseconds(CLOCK_MONOTONIC)
    let cpu1 = nanoseconds(CLOCK_THREAD_CPUTIME_ID)
    return Span(wall: wall1 - wall0, cpu: cpu1 - cpu0)
}

/// Per-operation figures: the best (lowest) of the repetitions, wall and CPU taken separately.
struct PerOp {
    var wall: Double
    var cpu: Double
    /// Iterations of one repetition (each repetition ran at least `Config.minimumSeconds`).
    var iterations: Int
}

enum Config {
    static var minimumSeconds = 0.2
    static var repetitions = 5
    static var heavyRepetitions = 3
    /// Set while a section runs that was not selected: `measure` then returns at once.
    static var skipping = false
}

/// Grows the iteration count until one run takes at least `Config.minimumSeconds` (these
/// runs double as warm-up), then keeps the best of `repetitions` runs of that length.
func measure(repetitions: Int = Config.repetitions, start: Int = 1000, _ body: (Int) -> Void) -> PerOp {
    if Config.skipping { return PerOp(wall: .nan, cpu: .nan, iterations: 0) }
    let target = Int64(Config.minimumSeconds * 1e9)
    var iterations = max(start, 1)
    while true {
        let span = timed(iterations, body)
        if span.wall >= target { break }
        let factor = span.wall <= 0 ? 100.0 : min(100.0, max(1.5, 1.2 * Double(target) / Double(span.wall)))
        iterations = Int(Double(iterations) * factor) + 1
    }
    return repeated(repetitions: repetitions, iterations: iterations, body)
}

func repeated(repetitions: Int, iterations: Int, _ body: (Int) -> Void) -> PerOp {
    var best = PerOp(wall: .infinity, cpu: .infinity, iterations: iterations)
    for _ in 0..<repetitions {
        let span = timed(iterations, body)
        best.wall = min(best.wall, Double(span.wall) / Double(iterations))
        best.cpu = min(best.cpu, Double(span.cpu) / Double(iterations))
    }
    return best
}

// MARK: Two threads on one metric

/// Per-thread figures of a run where two threads hammer the same metric at once.
struct ThreadedPerOp {
    /// Mean over the two threads of (thread's wall time / its iterations), best repetition.
    var wall: Double
    /// Mean over the two threads of (thread's CPU time / its iterations), best repetition.
    var cpu: Double
    /// How long the two threads' timed windows overlapped, as a share of the longer one.
    var overlap: Double
}

/// The barrier both threads spin on, so that their timed loops start together.
private final class Barrier: @unchecked Sendable {
    let arrived = Atomic<Int>(0)
}

/// Runs `body(iterations)` on two new threads at once, each timing itself with both clocks.
func twoThreads(iterations: Int, repetitions: Int = Config.heavyRepetitions, _ body: @escaping (Int) -> Void)
    -> ThreadedPerOp
{
    var best = ThreadedPerOp(wall: .infinity, cpu: .infinity, overlap: 0)
    for _ in 0..<repetitions {
        let barrier = Barrier()
        final class Context: @unchecked Sendable {
            let barrier: Barrier
            let body: (Int) -> Void
            let iterations: Int
            var span = Span(wall: 0, cpu: 0)
            var startWall: Int64 = 0
            var endWall: Int64 = 0
            init(_ barrier: Barrier, _ body: @escaping (Int) -> Void, _ iterations: Int) {
                self.barrier = barrier
                self.body = body
                self.iterations = iterations
            }
        }
        let contexts = (0..<2).map { _ in Context(barrier, body, iterations) }
        var threads: [pthread_t] = []
        for context in contexts {
            var thread = pthread_t()
            let argument = Unmanaged.passRetained(context).toOpaque()
            let status = pthread_create(
                &thread, nil,
                { argument in
                    let context = Unmanaged<Context>.fromOpaque(argument!).takeRetainedValue()
                    // Warm up this thread (shard assignment, caches) before the barrier.
                    context.body(1000)
                    context.barrier.arrived.add(1, ordering: .sequentiallyConsistent)
                    while context.barrier.arrived.load(ordering: .sequentiallyConsistent) < 2 {}
                    let cpu0 = nanoseconds(CLOCK_THREAD_CPUTIME_ID)
                    let wall0 = nanoseconds(CLOCK_MONOTONIC)
                    context.body(context.iterations)
                    let wall1 = nanoseconds(CLOCK_MONOTONIC)
                    let cpu1 = nanoseconds(CLOCK_THREAD_CPUTIME_ID)
                    context.span = Span(wall: wall1 - wall0, cpu: cpu1 - cpu0)
                    context.startWall = wall0
                    context.endWall = wall1
                    return nil
                }, argument)
            precondition(status == 0, "pthread_create failed")
            threads.append(thread)
        }
        for thread in threads { pthread_join(thread, nil) }
        let wall = contexts.map { Double($0.span.wall) / Double(iterations) }.reduce(0, +) / 2
        let cpu = contexts.map { Double($0.span.cpu) / Double(iterations) }.reduce(0, +) / 2
        let overlapNs =
            min(contexts[0].endWall, contexts[1].endWall) - max(contexts[0].startWall, contexts[1].startWall)
        let longest = max(contexts[0].span.wall, contexts[1].span.wall)
        let overlap = max(0, Double(overlapNs)) / Double(max(longest, 1))
        if wall < best.wall {
            best.wall = wall
            best.overlap = overlap
        }
        best.cpu = min(best.cpu, cpu)
    }
    return best
}

// MARK: Keeping the optimizer honest

/// Values read back after the loops; printed at the end so no loop can be dropped.
nonisolated(unsafe) var checksum: Double = 0

@inline(never)
func blackHole<T>(_ value: T) {
    withExtendedLifetime(value) {}
}

@inline(never)
func consume(_ value: Double) {
    checksum += value
}

// MARK: Other processes

/// Measures how much CPU the rest of the machine used over a window: busy time of all CPUs
/// from /proc/stat minus this process's own CPU time (getrusage), in cores (1.0 = one core
/// busy all the time). On 2 cores, anything near 1 means a two-thread figure was time-sliced.
struct MachineActivity {
    private var busy0: Double
    private var own0: Double
    private var wall0: Int64

    static func busySeconds() -> Double {
        guard let file = fopen("/proc/stat", "r") else { return .nan }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 512)
        guard fgets(&line, Int32(line.count), file) != nil else { return .nan }
        let text = String(cString: line)
        // cpu user nice system idle iowait irq softirq steal ...
        let fields = text.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard fields.count >= 8 else { return .nan }
        let busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + fields[7]
        return busy / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    static func ownSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    }

    init() {
        busy0 = Self.busySeconds()
        own0 = Self.ownSeconds()
        wall0 = nanoseconds(CLOCK_MONOTONIC)
    }

    /// Cores used by other processes since `init`, averaged over the window (>= 0).
    func othersCores() -> Double {
        let wall = Double(nanoseconds(CLOCK_MONOTONIC) - wall0) / 1e9
        guard wall > 0 else { return 0 }
        return max(0, (Self.busySeconds() - busy0 - (Self.ownSeconds() - own0)) / wall)
    }
}

/// Minor page faults and user/system CPU of the calling thread.
struct ThreadUsage {
    var minorFaults: Int
    var user: Double
    var system: Double

    static func now() -> ThreadUsage {
        var usage = rusage()
        getrusage(1, &usage)  // RUSAGE_THREAD (GNU), not imported into Swift
        return ThreadUsage(
            minorFaults: usage.ru_minflt,
            user: Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6,
            system: Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6)
    }
}
