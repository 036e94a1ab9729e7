import MartyMetrics

/// The standard `process_*` metrics (with client_golang's meanings), and gauges of CPU percent
/// and resident memory that others (the Marty catalog) ask to have kept up to date, read when
/// a registry renders — never by a thread of its own. What the operating system gives is read
/// by `ProcessReading` (one file per OS); where it gives nothing, the metrics stay at 0.
// @unchecked Sendable: the gauges to refresh and the last reading are guarded by `lock`.
public final class ProcessCollector: @unchecked Sendable {
    private let cpuSeconds: Counter
    private let residentMemory: Gauge
    private let virtualMemory: Gauge
    private let openFileDescriptors: Gauge
    private let maxFileDescriptors: Gauge
    private let startTime: Gauge
    private let lock = Lock(.leaf)
    private var refreshedGauges: [(cpuPercent: Gauge, memoryBytes: Gauge)] = []
    // Guarded by `lock`: the CPU time already added to the counter, and the last reading
    // for the CPU-percent gauge.
    private var cpuSecondsCounted = 0.0
    private var lastReading: (monotonicSeconds: Double, cpuSeconds: Double)?

    /// Registers the process metrics in `registry`, once; later calls return the same
    /// collector.
    @discardableResult
    public static func install(in registry: Registry) throws(MetricError) -> ProcessCollector {
        try registry.attachment("ProcessCollector") { () throws(MetricError) in
            let collector = try ProcessCollector(registry: registry)
            registry.addCollector { collector.collect() }
            return collector
        }
    }

    /// Adds gauges of CPU percent and resident memory to the ones refreshed at every
    /// rendering (and refreshes them now).
    public func keepUpToDate(cpuPercent: Gauge, memoryBytes: Gauge) {
        lock.withLock { refreshedGauges.append((cpuPercent, memoryBytes)) }
        collect()
    }

    private init(registry: Registry) throws(MetricError) {
        cpuSeconds = try registry.counter(
            "process_cpu_seconds_total", help: "Total user and system CPU time spent in seconds.",
            acrossProcesses: false
        ).labels()
        residentMemory = try registry.gauge(
            "process_resident_memory_bytes", help: "Resident memory size in bytes.", acrossProcesses: false
        )
        .labels()
        virtualMemory = try registry.gauge(
            "process_virtual_memory_bytes", help: "Virtual memory size in bytes.", acrossProcesses: false
        )
        .labels()
        openFileDescriptors = try registry.gauge(
            "process_open_fds", help: "Number of open file descriptors.", acrossProcesses: false
        ).labels()
        maxFileDescriptors = try registry.gauge(
            "process_max_fds", help: "Maximum number of open file descriptors.", acrossProcesses: false
        ).labels()
        startTime = try registry.gauge(
            "process_start_time_seconds", help: "Start time of the process since unix epoch in seconds.",
            acrossProcesses: false
        ).labels()
        collect()
    }

    func collect() {
        guard let stat = ProcessReading.read() else { return }
        let gauges: [(cpuPercent: Gauge, memoryBytes: Gauge)] = lock.withLock {
            if stat.cpuSeconds > cpuSecondsCounted {
                try? cpuSeconds.add(stat.cpuSeconds - cpuSecondsCounted)
                cpuSecondsCounted = stat.cpuSeconds
            }
            return refreshedGauges
        }
        residentMemory.set(stat.residentBytes)
        virtualMemory.set(stat.virtualBytes)
        startTime.set(stat.startTimeSeconds)
        openFileDescriptors.set(Double(stat.openFileDescriptors))
        if let limit = stat.maxFileDescriptors { maxFileDescriptors.set(limit) }
        // CPU percent over the time since the previous reading, on the monotonic clock (since
        // the process' start, on the wall clock, the first time).
        let monotonicNow = MonotonicClock.seconds()
        let percent: Double = lock.withLock {
            let elapsed: Double
            let previousCPU: Double
            if let lastReading {
                (elapsed, previousCPU) = (monotonicNow - lastReading.monotonicSeconds, lastReading.cpuSeconds)
            } else {
                (elapsed, previousCPU) = (ProcessReading.unixTime() - stat.startTimeSeconds, 0)
            }
            lastReading = (monotonicNow, stat.cpuSeconds)
            return elapsed > 0 ? max(0, (stat.cpuSeconds - previousCPU) / elapsed * 100) : 0
        }
        for gauge in gauges {
            gauge.cpuPercent.set(percent)
            gauge.memoryBytes.set(stat.residentBytes)
        }
    }
}
