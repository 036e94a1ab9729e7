import Glibc

/// The standard `process_*` metrics (with client_golang's meanings) and the catalog's CPU
/// and memory gauges, read from Linux' /proc when a registry renders — never by a thread of
/// its own.
public final class ProcessCollector: @unchecked Sendable {
    private let cpuSeconds: Counter
    private let residentMemory: Gauge
    private let virtualMemory: Gauge
    private let openFileDescriptors: Gauge
    private let maxFileDescriptors: Gauge
    private let startTime: Gauge
    private let lock = Lock(.leaf)
    private var catalogGauges: [(cpuPercent: Gauge, memoryBytes: Gauge)] = []
    // Guarded by `lock`: the CPU time already added to the counter, and the last reading
    // for the CPU-percent gauge.
    private var cpuSecondsCounted = 0.0
    private var lastReading: (wallSeconds: Double, cpuSeconds: Double)?

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

    /// Adds a service's catalog gauges to the ones refreshed at every rendering.
    func keepUpToDate(cpuPercent: Gauge, memoryBytes: Gauge) {
        lock.withLock { catalogGauges.append((cpuPercent, memoryBytes)) }
        collect()
    }

    private init(registry: Registry) throws(MetricError) {
        cpuSeconds = try registry.counter(
            "process_cpu_seconds_total", help: "Total user and system CPU time spent in seconds."
        ).labels()
        residentMemory = try registry.gauge("process_resident_memory_bytes", help: "Resident memory size in bytes.")
            .labels()
        virtualMemory = try registry.gauge("process_virtual_memory_bytes", help: "Virtual memory size in bytes.")
            .labels()
        openFileDescriptors = try registry.gauge("process_open_fds", help: "Number of open file descriptors.").labels()
        maxFileDescriptors = try registry.gauge(
            "process_max_fds", help: "Maximum number of open file descriptors."
        ).labels()
        startTime = try registry.gauge(
            "process_start_time_seconds", help: "Start time of the process since unix epoch in seconds."
        ).labels()
        collect()
    }

    /// A reading of /proc/self/stat.
    struct Stat {
        var cpuSeconds: Double
        var startTimeSeconds: Double
        var virtualBytes: Double
        var residentBytes: Double
    }

    func collect() {
        guard let stat = Self.readStat() else { return }
        var wallClock = timespec()
        clock_gettime(CLOCK_REALTIME, &wallClock)
        let now = Double(wallClock.tv_sec) + Double(wallClock.tv_nsec) / 1e9
        let gauges: [(cpuPercent: Gauge, memoryBytes: Gauge)] = lock.withLock {
            if stat.cpuSeconds > cpuSecondsCounted {
                try? cpuSeconds.add(stat.cpuSeconds - cpuSecondsCounted)
                cpuSecondsCounted = stat.cpuSeconds
            }
            return catalogGauges
        }
        residentMemory.set(stat.residentBytes)
        virtualMemory.set(stat.virtualBytes)
        startTime.set(stat.startTimeSeconds)
        openFileDescriptors.set(Double(Self.countOpenFileDescriptors()))
        var limit = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 {
            maxFileDescriptors.set(limit.rlim_cur == rlim_t.max ? .infinity : Double(limit.rlim_cur))
        }
        // CPU percent over the time since the previous reading (since start the first time).
        let percent: Double = lock.withLock {
            let previous = lastReading ?? (stat.startTimeSeconds, 0)
            lastReading = (now, stat.cpuSeconds)
            let wall = now - previous.wallSeconds
            return wall > 0 ? max(0, (stat.cpuSeconds - previous.cpuSeconds) / wall * 100) : 0
        }
        for gauge in gauges {
            gauge.cpuPercent.set(percent)
            gauge.memoryBytes.set(stat.residentBytes)
        }
    }

    static func readStat() -> Stat? {
        guard let text = readFile("/proc/self/stat"),
            let closing = text.lastIndex(of: ")")
        else { return nil }
        // Fields after "pid (comm)" start at field 3 (state); comm may hold spaces.
        let fields = text[text.index(after: closing)...].split(separator: " ")
        guard fields.count > 22,
            let userTicks = Double(fields[11]), let systemTicks = Double(fields[12]),
            let startTicks = Double(fields[19]), let virtualBytes = Double(fields[20]),
            let residentPages = Double(fields[21]), let bootTime = bootTimeSeconds()
        else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return Stat(
            cpuSeconds: (userTicks + systemTicks) / ticks, startTimeSeconds: bootTime + startTicks / ticks,
            virtualBytes: virtualBytes, residentBytes: residentPages * Double(sysconf(Int32(_SC_PAGESIZE))))
    }

    private static func bootTimeSeconds() -> Double? {
        guard let text = readFile("/proc/stat") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst(6).trimmingPrefix(" "))
        }
        return nil
    }

    static func countOpenFileDescriptors() -> Int {
        guard let directory = opendir("/proc/self/fd") else { return 0 }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            if entry.pointee.d_name.0 != UInt8(ascii: ".") { count += 1 }
        }
        return count - 1  // the descriptor opendir itself holds
    }

    static func readFile(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
