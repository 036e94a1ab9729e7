// marty-http-serve: marty-metrics' endpoint serving the HTTP benchmark's series, and the
// endpoint's idle cost measured inside this host process.
//
//   marty-http-serve [--series N] [--idle-seconds S] [--web-config PATH]
//
// Registers the same series as promhttp-serve and serve_prometheus_client.py (a counter
// family bench_requests{handler, code}: handler="/api/item/<i>", code="200", value i), then
// measures the process (VmRSS and RssAnon from /proc/self/status, threads in /proc/self/task),
// starts `MetricsEndpoint` on 127.0.0.1:<ephemeral> (one listener, health paths on it too),
// measures again, stays idle for S seconds (default 10) and reads the CPU the process used
// meanwhile (utime + stime of /proc/self/stat, and CLOCK_PROCESS_CPUTIME_ID for finer
// grain; the main thread sleeps, so this is the endpoint's), then prints "ready" and serves
// until killed. Every figure is printed as a `key=value` line for Benchmarks/http/run_http.py.
// --web-config PATH sets `EndpointConfiguration.webConfigFile` (a web-config file in
// exporter-toolkit's format: TLS, basic auth), for the HTTP section's TLS rows.
// No Foundation: the host is as small as a Swift process gets, so the figures are the
// endpoint's own.
import Glibc
import MartyEndpoint
import MartyMetrics

/// One line on standard output at once, even when it is a pipe.
func say(_ line: String) {
    let text = line + "\n"
    _ = text.withCString { write(1, $0, strlen($0)) }
}

var seriesCount = 1_000
var idleSeconds = 10.0
var webConfigFile: String? = nil
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--series": seriesCount = Int(arguments.next() ?? "") ?? seriesCount
    case "--idle-seconds": idleSeconds = Double(arguments.next() ?? "") ?? idleSeconds
    case "--web-config": webConfigFile = arguments.next()
    default:
        say("usage: marty-http-serve [--series N] [--idle-seconds S] [--web-config PATH]")
        exit(2)
    }
}

func readFile(_ path: String) -> String {
    guard let file = fopen(path, "r") else { return "" }
    defer { fclose(file) }
    var text = ""
    var chunk = [CChar](repeating: 0, count: 4096)
    while fgets(&chunk, Int32(chunk.count), file) != nil { text += String(cString: chunk) }
    return text
}

/// A "Name:   1234 kB" field of /proc/self/status, in KiB.
func statusKiB(_ name: String) -> Int {
    for line in readFile("/proc/self/status").split(separator: "\n") where line.hasPrefix(name + ":") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? -1
    }
    return -1
}

/// The names (comm) of this process' threads, by thread id.
func threads() -> [Int: String] {
    var result: [Int: String] = [:]
    guard let directory = opendir("/proc/self/task") else { return result }
    defer { closedir(directory) }
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard let tid = Int(name) else { continue }
        let comm = readFile("/proc/self/task/\(tid)/comm").split(separator: "\n").first.map(String.init) ?? "?"
        result[tid] = comm
    }
    return result
}

/// utime + stime of /proc/self/stat, in clock ticks (fields 14 and 15, after the ")" of comm).
func cpuTicks() -> Int {
    let stat = readFile("/proc/self/stat")
    guard let close = stat.lastIndex(of: ")") else { return -1 }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else { return -1 }
    return user + system
}

func processCPUNanoseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}

func monotonicNanoseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}

func sleepSeconds(_ seconds: Double) {
    var request = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
}

// The series, in a registry of their own (the endpoint adds marty_service_health_status).
let registry = Registry()
let requests = try registry.counter("bench_requests", help: "help", labelNames: ["handler", "code"])
for i in 0..<seriesCount { try requests.labels("/api/item/\(i)", "200").inc(by: UInt64(i)) }
_ = registry.render(.text).count  // as a host that has rendered once: the sort is cached

sleepSeconds(0.2)
let threadsBefore = threads()
say("series=\(seriesCount)")
say("before_rss_kib=\(statusKiB("VmRSS"))")
say("before_rss_anon_kib=\(statusKiB("RssAnon"))")
say("before_threads=\(threadsBefore.count)")

var configuration = EndpointConfiguration(
    service: "bench-service", bindAddress: "127.0.0.1", metricsPort: 0, healthPort: nil)
configuration.separateHealthListener = false
configuration.registry = registry
configuration.webConfigFile = webConfigFile
let startWall = monotonicNanoseconds()
let endpoint: MetricsEndpoint
do {
    endpoint = try MetricsEndpoint.start(configuration)
} catch {
    say("error=\(error)")
    exit(1)
}
let startNanoseconds = monotonicNanoseconds() - startWall

sleepSeconds(0.2)  // let the new threads settle before reading the process
let threadsAfter = threads()
say("port=\(endpoint.metricsPort)")
say("start_ms=\(Double(startNanoseconds) / 1e6)")
say("after_rss_kib=\(statusKiB("VmRSS"))")
say("after_rss_anon_kib=\(statusKiB("RssAnon"))")
say("after_threads=\(threadsAfter.count)")
say(
    "added_threads=\(threadsAfter.filter { threadsBefore[$0.key] == nil }.values.sorted().joined(separator: ","))")

let ticks0 = cpuTicks()
let cpu0 = processCPUNanoseconds()
let wall0 = monotonicNanoseconds()
sleepSeconds(idleSeconds)
let ticks1 = cpuTicks()
let cpu1 = processCPUNanoseconds()
let wall1 = monotonicNanoseconds()
say("idle_wall_s=\(Double(wall1 - wall0) / 1e9)")
say("idle_cpu_ticks=\(ticks1 - ticks0)")
say("clock_ticks_per_s=\(sysconf(Int32(_SC_CLK_TCK)))")
say("idle_cpu_ns=\(cpu1 - cpu0)")
say("idle_rss_kib=\(statusKiB("VmRSS"))")
say("ready")

withExtendedLifetime(endpoint) {
    while true { pause() }
}
