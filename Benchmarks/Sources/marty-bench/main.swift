// marty-bench: marty-metrics against swift-prometheus 2.4.1, in one process and one run.
//
//   Benchmarks/run.sh            (builds everything in release mode, then runs this)
//
// Options: --lib PATH (libmarty_metrics.so for the C-ABI rows; also $MARTY_METRICS_LIB),
//          --quick (0.05 s per figure, fewer repetitions: a smoke run, not for figures),
//          --sections LIST (recording,threads,swift-metrics,create,exposition,memory; default all;
//          the HTTP rows are Benchmarks/http, run by Benchmarks/run.sh),
//          --profile SCENARIO (one scenario, untimed, for valgrind --tool=callgrind).
//
// Every figure comes from a tight loop timed with clock_gettime(CLOCK_MONOTONIC) and
// clock_gettime(CLOCK_THREAD_CPUTIME_ID); the iteration count grows until one run takes at
// least 0.2 s, and the best of 5 runs (3 for the slow rows) is kept. Nothing is asserted:
// the targets are printed for comparison only.

import CMartyBench
import CoreMetrics
import Foundation
import Glibc
import MartyMetrics
import MartySwiftMetrics
import Prometheus

// The create and exposition sections make up to 101k series in one family, past the default
// cap of 10k series per family (SeriesLimit): measured without a cap, as the peer has none.
setenv("MARTY_METRICS_MAX_SERIES_PER_FAMILY", "0", 1)

// MARK: Options

let profileScenarios = [
    "render-counters-10k", "render-counters-50k", "render-protobuf-counters-10k", "render-histograms-10k",
    "lookup-swift", "lookup-c",
    "counter-inc-c", "histogram-observe-c", "histogram-observe-swift", "native-observe-swift", "create-100k",
    "render-order-50k",
    "swift-metrics-counter-handle", "swift-metrics-timer-handle",
]

var libraryPath = ProcessInfo.processInfo.environment["MARTY_METRICS_LIB"]
var profileScenario: String?
let allSections = ["recording", "threads", "swift-metrics", "create", "exposition", "memory"]
var sections = Set(allSections)
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--lib": libraryPath = arguments.next()
    case "--profile": profileScenario = arguments.next()
    case "--sections":
        sections = Set((arguments.next() ?? "").split(separator: ",").map(String.init))
        guard sections.isSubset(of: allSections), !sections.isEmpty else {
            fputs("--sections takes a comma-separated subset of \(allSections.joined(separator: ","))\n", stderr)
            exit(2)
        }
    case "--quick":
        Config.minimumSeconds = 0.05
        Config.repetitions = 2
        Config.heavyRepetitions = 1
    case "-h", "--help":
        print("usage: marty-bench [--lib path/to/libmarty_metrics.so] [--quick] [--sections LIST] [--profile SCENARIO]")
        print(
            "  --sections: a comma-separated subset of \(allSections.joined(separator: ",")) (default: all; the http section is Benchmarks/run.sh's)"
        )
        print("  --profile runs one scenario a fixed number of times, untimed (render-order-50k times itself), for")
        print("  valgrind --tool=callgrind: \(profileScenarios.joined(separator: ", "))")
        exit(0)
    default:
        fputs("unknown argument \(argument)\n", stderr)
        exit(2)
    }
}

// MARK: Formatting

/// Section output; off while a section runs only because a selected one needs its figures.
nonisolated(unsafe) var saying = true
func say(_ text: String = "") { if saying { print(text) } }

func f(_ value: Double, _ decimals: Int = 1) -> String {
    guard value.isFinite else { return "-" }
    return String(format: "%.\(decimals)f", value)
}

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
}

func padRight(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}

func row(_ label: String, _ columns: [String], labelWidth: Int = 44, columnWidth: Int = 11) {
    say(padRight(label, labelWidth) + columns.map { pad($0, columnWidth) }.joined())
}

func rule(_ width: Int = 110) { say(String(repeating: "-", count: width)) }

/// A ns/op figure that would flatter a value rounded to one decimal gets two.
func ns(_ value: Double) -> String { value < 10 ? f(value, 2) : value < 1000 ? f(value, 1) : f(value, 0) }

// MARK: Machine

let prom: some PromAPI = PromByName()
let defaultBuckets = HistogramBuckets.defaultBounds  // .005 … 10: 11 bounds, +Inf added

var cpuModel = [CChar](repeating: 0, count: 256)
cmb_cpu_model(&cpuModel, cpuModel.count)
var loads = [Double](repeating: 0, count: 3)
getloadavg(&loads, 3)
var uts = utsname()
uname(&uts)
let kernel = withUnsafeBytes(of: &uts.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }

print("marty-bench: marty-metrics (this checkout) vs swift-prometheus 2.4.1, in one process")
print(
    "machine: nproc=\(sysconf(Int32(_SC_NPROCESSORS_ONLN))), cpu=\"\(String(cString: cpuModel))\", kernel \(kernel), load average \(f(loads[0], 2)) \(f(loads[1], 2)) \(f(loads[2], 2)) at start"
)
print(
    "method: clock_gettime MONOTONIC (wall) + THREAD_CPUTIME_ID (cpu); each repetition >= \(Config.minimumSeconds) s; best of \(Config.repetitions) (slow rows: \(Config.heavyRepetitions)); ns per operation"
)

/// Seconds of CPU time the hypervisor gave to others (the "steal" column of /proc/stat).
func stealSeconds() -> Double {
    guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
        let line = stat.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") })
    else { return .nan }
    let fields = line.split(separator: " ").dropFirst().compactMap { Double($0) }
    return fields.count > 7 ? fields[7] / Double(sysconf(Int32(_SC_CLK_TCK))) : .nan
}
let stealAtStart = stealSeconds()
let wallAtStart = nanoseconds(CLOCK_MONOTONIC)

var cLoaded = false
if let libraryPath {
    var error = [CChar](repeating: 0, count: 512)
    if cmb_load(libraryPath, &error, error.count) == 0 {
        cLoaded = true
        print(
            "C ABI: dlopen(\"\(libraryPath)\") -> marty_version() = \(String(cString: cmb_version())); loops in C (Benchmarks/Sources/CMartyBench) call the marty_* functions through dlsym'd pointers"
        )
    } else {
        print("C ABI: not measured: \(String(cString: error))")
    }
} else {
    print("C ABI: not measured: no --lib path and no MARTY_METRICS_LIB (Benchmarks/run.sh passes it)")
}
print(
    "targets (issue): counter inc <=3 ns via C and no slower than swift-prometheus; 2 threads <=1.5x single; histogram observe <=10 ns (2 threads <=15 ns); lookup+inc 2 labels <=50 ns; create <=2 us flat 1k->100k; exposition <=40 ns/counter line, <=60 ns/histogram line; memory ~200 B/counter series, ~1 KiB/histogram series; swift-metrics Counter.increment() and Timer.recordNanoseconds through MartyMetricsFactory at most PrometheusMetricsFactory's time per op. Printed for comparison, not asserted."
)
print()

// Observations spread log-uniformly over 0.001 … 20, so they land in every bucket.
let observations: [Double] = {
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    return (0..<1024).map { _ in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        let unit = Double(state >> 11) / Double(1 << 53)
        return exp(log(0.001) + unit * (log(20.0) - log(0.001)))
    }
}()
let observationMask = observations.count - 1
let observationPointer: UnsafeMutablePointer<Double> = {
    let pointer = UnsafeMutablePointer<Double>.allocate(capacity: observations.count)
    pointer.initialize(from: observations, count: observations.count)
    return pointer
}()

// MARK: 9. Memory (first, while the heap is still small and quiet)

func lineCount(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
    var lines = 0
    for byte in bytes where byte == 10 { lines += 1 }
    return lines
}

/// Label values for `count` series: ("/api/item/<i>", "200"), built before any baseline.
func martyLabelSets(_ count: Int) -> [[String]] { (0..<count).map { ["/api/item/\($0)", "200"] } }
func promLabelSets(_ count: Int) -> [[(String, String)]] {
    (0..<count).map { [("handler", "/api/item/\($0)"), ("code", "200")] }
}

if let profileScenario {
    runProfile(profileScenario)
    exit(0)
}

let memorySeries = 10_000
let memoryMartyLabels = martyLabelSets(memorySeries)
let memoryPromLabels = promLabelSets(memorySeries)

func heapGrowth(_ body: () -> AnyObject) -> Double {
    let before = cmb_heap_in_use()
    let kept = body()
    let after = cmb_heap_in_use()
    withExtendedLifetime(kept) {}
    return (Double(after) - Double(before)) / Double(memorySeries)
}

var memMartyCounter = Double.nan
var memMartyHistogram = Double.nan
var memPromCounter = Double.nan
var memPromHistogram = Double.nan
if sections.contains("memory") {
    memMartyCounter = heapGrowth {
        let registry = Registry()
        let family = try! registry.counter("mem_requests", help: "help", labelNames: ["handler", "code"])
        for values in memoryMartyLabels { try! family.labels(values).inc() }
        return registry
    }
    memMartyHistogram = heapGrowth {
        let registry = Registry()
        let family = try! registry.histogram("mem_latency", help: "help", labelNames: ["handler", "code"])
        for values in memoryMartyLabels { try! family.labels(values).observe(0.3) }
        return registry
    }
    memPromCounter = heapGrowth {
        let registry = PrometheusCollectorRegistry()
        for labels in memoryPromLabels { prom.counter(registry, "mem_requests_total", labels).increment() }
        return registry
    }
    memPromHistogram = heapGrowth {
        let registry = PrometheusCollectorRegistry()
        for labels in memoryPromLabels { prom.histogram(registry, "mem_latency", labels, defaultBuckets).record(0.3) }
        return registry
    }
}

// MARK: 1–5. Recording, one thread

let measuringRecording = sections.contains("recording") || sections.contains("threads")
saying = sections.contains("recording")
Config.skipping = !measuringRecording
say("RECORDING, ONE THREAD (ns/op)              marty wall  marty cpu  s-prom wall s-prom cpu  marty/s-prom")
rule()

let recordingActivity = MachineActivity()

// 0. Floors on this machine, for reading the rows below (no marty code involved).
let floorAtomic = measure { n in consume(Double(cmb_floor_atomic_loop(UInt64(n)))) }
let floorCall = measure { n in consume(Double(cmb_floor_call_loop(UInt64(n)))) }
row("0 floor: C loop of relaxed atomic add", [ns(floorAtomic.wall), ns(floorAtomic.cpu), "", "", ""], columnWidth: 12)
row("0 floor: same add behind an indirect call", [ns(floorCall.wall), ns(floorCall.cpu), "", "", ""], columnWidth: 12)

// 1. Counter inc on a bound handle.
let martyRegistry = Registry()
let martyCounter = try! martyRegistry.counter("bench_inc", help: "help").labels()
let promRegistry = PrometheusCollectorRegistry()
let promCounter = prom.counter(promRegistry, "bench_inc_total", [])

let martyIncBody: (Int) -> Void = { n in for _ in 0..<n { martyCounter.inc() } }
let promIncBody: (Int) -> Void = { n in for _ in 0..<n { promCounter.increment() } }
let r1Marty = measure(martyIncBody)
let r1Prom = measure(promIncBody)

func recordingRow(_ label: String, _ marty: PerOp?, _ other: PerOp) {
    if let marty {
        row(
            label, [ns(marty.wall), ns(marty.cpu), ns(other.wall), ns(other.cpu), f(marty.wall / other.wall, 2)],
            columnWidth: 12)
    } else {
        row(label, ["n/a", "n/a", ns(other.wall), ns(other.cpu), "-"], columnWidth: 12)
    }
}
recordingRow("1 counter inc, bound handle (Swift)", r1Marty, r1Prom)

// 2. The same through the C ABI.
var cRegistry: UnsafeMutableRawPointer?
var cCounter: UnsafeMutableRawPointer?
var cLookupFamily: UnsafeMutableRawPointer?
var cGauge: UnsafeMutableRawPointer?
var cHistogram: UnsafeMutableRawPointer?
var cStatus: UInt64 = 0
if cLoaded {
    cRegistry = cmb_registry_new()
    let counterFamily = cmb_counter_family(cRegistry, "bench_c_inc", nil, 0)
    cCounter = cmb_counter_get(counterFamily, nil, 0)
    let labelNames: [StaticString] = ["method", "code"]
    var names = labelNames.map { UnsafePointer<CChar>(OpaquePointer($0.utf8Start)) as UnsafePointer<CChar>? }
    cLookupFamily = cmb_counter_family(cRegistry, "bench_c_lookup", &names, 2)
    var values: [UnsafePointer<CChar>?] = [
        UnsafePointer(OpaquePointer(("GET" as StaticString).utf8Start)),
        UnsafePointer(OpaquePointer(("200" as StaticString).utf8Start)),
    ]
    _ = cmb_counter_get(cLookupFamily, &values, 2)  // the series exists before timing
    cGauge = cmb_gauge_get(cmb_gauge_family(cRegistry, "bench_c_gauge", nil, 0), nil, 0)
    cHistogram = cmb_histogram_get(cmb_histogram_family(cRegistry, "bench_c_latency", nil, 0), nil, 0)
}
let cIncBody: (Int) -> Void = { n in cStatus &+= cmb_counter_inc_loop(cCounter, UInt64(n)) }
let r2C = cLoaded ? measure(cIncBody) : nil
recordingRow("2 counter inc via C ABI (dlopen)", r2C, r1Prom)
// 2m. The same on a counter whose cells are in the multiprocess segment (pre-fork workers): the
// recording code is the same, only the cells' memory is a MAP_SHARED mapping.
let cMultiprocessCounter = cLoaded ? cmb_multiprocess_counter() : nil
let r2Shared =
    cMultiprocessCounter.map { counter in measure { n in cStatus &+= cmb_counter_inc_loop(counter, UInt64(n)) } }
recordingRow("2m counter inc via C ABI, multiprocess segment", r2Shared, r1Prom)
if let r2C, let r2Shared {
    say("   multiprocess segment / process memory, C counter inc (same run): \(f(r2Shared.wall / r2C.wall, 2))")
}

// 3. Lookup of an existing series with 2 labels, then inc.
let martyLookupFamily = try! martyRegistry.counter("bench_lookup", help: "help", labelNames: ["method", "code"])
try! martyLookupFamily.labels("GET", "200").inc()
_ = prom.counter(promRegistry, "bench_lookup_total", [("method", "GET"), ("code", "200")])
let r3Marty = measure { n in for _ in 0..<n { try! martyLookupFamily.labels("GET", "200").inc() } }
let r3Prom = measure { n in
    for _ in 0..<n {
        prom.counter(promRegistry, "bench_lookup_total", [("method", "GET"), ("code", "200")]).increment()
    }
}
recordingRow("3 lookup+inc, 2 labels (Swift labels())", r3Marty, r3Prom)
let r3C = cLoaded ? measure { n in cStatus &+= cmb_counter_lookup_inc_loop(cLookupFamily, UInt64(n)) } : nil
recordingRow("3 lookup+inc, 2 labels (C get+inc)", r3C, r3Prom)

// 4. Histogram observe, default buckets.
let martyHistogram = try! martyRegistry.histogram("bench_latency", help: "help").labels()
let promHistogram = prom.histogram(promRegistry, "bench_latency", [], defaultBuckets)
let martyObserveBody: (Int) -> Void = { n in
    let values = UnsafePointer(observationPointer)
    for i in 0..<n { try! martyHistogram.observe(values[i & observationMask]) }
}
let promObserveBody: (Int) -> Void = { n in
    let values = UnsafePointer(observationPointer)
    for i in 0..<n { promHistogram.record(values[i & observationMask]) }
}
let cObserveBody: (Int) -> Void = { n in
    cStatus &+= cmb_histogram_observe_loop(cHistogram, observationPointer, UInt64(observationMask), UInt64(n))
}
let r4Marty = measure(martyObserveBody)
let r4Prom = measure(promObserveBody)
let r4C = cLoaded ? measure(cObserveBody) : nil
recordingRow("4 histogram observe, 11 buckets (Swift)", r4Marty, r4Prom)
recordingRow("4 histogram observe, 11 buckets (C)", r4C, r4Prom)

// 4n. The same observations into native buckets (factor 1.1, schema 3), alone and beside the
// 11 classic buckets: the issue asks for at most 1.5x the classic observe.
let nativeOnly = try! martyRegistry.histogram(
    "bench_native", help: "help", native: NativeHistogramOptions(bucketFactor: 1.1)
).labels()
let nativeBoth = try! martyRegistry.histogram(
    "bench_native_classic", help: "help", buckets: HistogramBuckets(), native: NativeHistogramOptions(bucketFactor: 1.1)
).labels()
let r4Native = measure { n in
    let values = UnsafePointer(observationPointer)
    for i in 0..<n { try! nativeOnly.observe(values[i & observationMask]) }
}
let r4Both = measure { n in
    let values = UnsafePointer(observationPointer)
    for i in 0..<n { try! nativeBoth.observe(values[i & observationMask]) }
}
let r4Classic = measure(martyObserveBody)  // again, beside them, for the ratio
recordingRow("4n native histogram observe, factor 1.1 (Swift)", r4Native, r4Prom)
recordingRow("4n native + 11 classic buckets (Swift)", r4Both, r4Prom)
say(
    "   native / classic observe (same run): native only \(f(r4Native.wall / r4Classic.wall, 2)), native + classic \(f(r4Both.wall / r4Classic.wall, 2))"
)

// 5. Gauge set.
let martyGauge = try! martyRegistry.gauge("bench_gauge", help: "help").labels()
let promGauge = prom.gauge(promRegistry, "bench_gauge", [])
let martyGaugeBody: (Int) -> Void = { n in for i in 0..<n { martyGauge.set(Double(i)) } }
let promGaugeBody: (Int) -> Void = { n in for i in 0..<n { promGauge.set(to: Double(i)) } }
let cGaugeBody: (Int) -> Void = { n in cStatus &+= cmb_gauge_set_loop(cGauge, UInt64(n)) }
let r5Marty = measure(martyGaugeBody)
let r5Prom = measure(promGaugeBody)
let r5C = cLoaded ? measure(cGaugeBody) : nil
recordingRow("5 gauge set (Swift)", r5Marty, r5Prom)
recordingRow("5 gauge set (C)", r5C, r5Prom)
say("   other processes used \(f(recordingActivity.othersCores(), 2)) cores on average during this section.")
say("   marty Swift rows inline the library's recording code into the loop (a gauge set is then one plain store).")
say(
    "   swift-prometheus: Counter.increment(), makeCounter(name:labels:help:) + increment(), ValueHistogram.record (same 11 bounds), Gauge.set(to:)"
)
say()

Config.skipping = false
saying = true

// MARK: 6. Two threads on one metric

if sections.contains("threads") {

    say(
        "TWO THREADS, ONE METRIC (per-thread ns/op)  marty: wall    cpu   x1T  overlap others | s-prom: wall    cpu   x1T  overlap others | marty/s-prom"
    )
    rule(144)

    func threadedRow(
        _ label: String, _ marty: (body: (Int) -> Void, single: PerOp)?, _ other: (body: (Int) -> Void, single: PerOp)
    ) {
        // Each thread runs as many iterations as 0.25 s took on one thread.
        func run(_ item: (body: (Int) -> Void, single: PerOp)) -> [String] {
            let iterations = max(1000, Int(0.25e9 * Config.minimumSeconds / 0.2 / item.single.wall))
            let activity = MachineActivity()
            let result = twoThreads(iterations: iterations, item.body)
            let others = activity.othersCores()
            return [
                ns(result.wall), ns(result.cpu), f(result.wall / item.single.wall, 2) + "x",
                f(result.overlap * 100, 0) + "%", f(others, 2),
            ]
            .map { pad($0, 7) } + [String(result.wall / item.single.wall)]
        }
        let o = run(other)
        let otherText = o.dropLast().joined()
        guard let marty else {
            say(padRight(label, 44) + pad("n/a", 7) + String(repeating: " ", count: 28) + "   |" + otherText)
            return
        }
        let m = run(marty)
        let ratio = (Double(m.last!)! * marty.single.wall) / (Double(o.last!)! * other.single.wall)
        say(padRight(label, 44) + m.dropLast().joined() + "   |" + otherText + "   | " + pad(f(ratio, 2), 8))
    }

    threadedRow("6 counter inc, bound handle (Swift)", (martyIncBody, r1Marty), (promIncBody, r1Prom))
    threadedRow("6 counter inc via C ABI", cLoaded ? (cIncBody, r2C!) : nil, (promIncBody, r1Prom))
    threadedRow("6 histogram observe (Swift)", (martyObserveBody, r4Marty), (promObserveBody, r4Prom))
    threadedRow("6 histogram observe (C)", cLoaded ? (cObserveBody, r4C!) : nil, (promObserveBody, r4Prom))
    threadedRow("6 gauge set (Swift)", (martyGaugeBody, r5Marty), (promGaugeBody, r5Prom))
    threadedRow("6 gauge set (C)", cLoaded ? (cGaugeBody, r5C!) : nil, (promGaugeBody, r5Prom))
    say(
        "   x1T = per-thread wall ns/op over the one-thread wall figure; overlap = share of the longer thread's timed window"
    )
    say(
        "   during which both threads ran; others = cores used by other processes meanwhile (/proc/stat minus this process)."
    )
    say(
        "   cpu close to wall: the threads really ran side by side; wall ~2x cpu (others ~1): time-sliced, not contention."
    )
    say()

}

// MARK: 10. The swift-metrics API

if sections.contains("swift-metrics") {

    say(
        "SWIFT-METRICS API (ns/op, one thread)       marty wall  marty cpu  s-prom wall s-prom cpu  marty/s-prom"
    )
    rule()
    // Each backend in a registry of its own; handles built with an explicit factory, so no
    // MetricsSystem.bootstrap is needed and both backends live in one process.
    let martyFactory = try! MartyMetricsFactory(registry: Registry())
    let promFactory = PrometheusMetricsFactory(registry: PrometheusCollectorRegistry())
    let dimensions = [("handler", "/api/item/7"), ("code", "200")]
    // Durations spread log-uniformly over 1 ms … 20 s (the observations above, in ns).
    let durations: UnsafeMutablePointer<Int64> = {
        let pointer = UnsafeMutablePointer<Int64>.allocate(capacity: observations.count)
        pointer.initialize(from: observations.map { Int64($0 * 1e9) }, count: observations.count)
        return pointer
    }()

    func counterBody(_ counter: CoreMetrics.Counter) -> (Int) -> Void {
        { n in for _ in 0..<n { counter.increment() } }
    }
    func timerBody(_ timer: CoreMetrics.Timer) -> (Int) -> Void {
        { n in
            let values = UnsafePointer(durations)
            for i in 0..<n { timer.recordNanoseconds(values[i & observationMask]) }
        }
    }

    let martyPlain = CoreMetrics.Counter(label: "sm_plain", dimensions: [], factory: martyFactory)
    let promPlain = CoreMetrics.Counter(label: "sm_plain", dimensions: [], factory: promFactory)
    let martyLabelled = CoreMetrics.Counter(label: "sm_requests", dimensions: dimensions, factory: martyFactory)
    let promLabelled = CoreMetrics.Counter(label: "sm_requests", dimensions: dimensions, factory: promFactory)
    let martyTimer = CoreMetrics.Timer(label: "sm_duration", dimensions: dimensions, factory: martyFactory)
    let promTimer = CoreMetrics.Timer(label: "sm_duration", dimensions: dimensions, factory: promFactory)

    let plainMarty = measure(counterBody(martyPlain))
    let plainProm = measure(counterBody(promPlain))
    recordingRow("10 Counter.increment(), no dimensions", plainMarty, plainProm)
    let labelledMarty = measure(counterBody(martyLabelled))
    let labelledProm = measure(counterBody(promLabelled))
    recordingRow("10 Counter.increment(), 2 dimensions", labelledMarty, labelledProm)
    let timerMarty = measure(timerBody(martyTimer))
    let timerProm = measure(timerBody(promTimer))
    recordingRow("10 Timer.recordNanoseconds, 2 dimensions", timerMarty, timerProm)

    // A handle made for each request, as framework middleware does (the series exists).
    let perRequestCounterMarty = measure { n in
        for _ in 0..<n {
            CoreMetrics.Counter(label: "sm_requests", dimensions: dimensions, factory: martyFactory).increment()
        }
    }
    let perRequestCounterProm = measure { n in
        for _ in 0..<n {
            CoreMetrics.Counter(label: "sm_requests", dimensions: dimensions, factory: promFactory).increment()
        }
    }
    recordingRow("10 Counter(label:dimensions:) + increment()", perRequestCounterMarty, perRequestCounterProm)
    let perRequestTimerMarty = measure { n in
        let values = UnsafePointer(durations)
        for i in 0..<n {
            CoreMetrics.Timer(label: "sm_duration", dimensions: dimensions, factory: martyFactory)
                .recordNanoseconds(values[i & observationMask])
        }
    }
    let perRequestTimerProm = measure { n in
        let values = UnsafePointer(durations)
        for i in 0..<n {
            CoreMetrics.Timer(label: "sm_duration", dimensions: dimensions, factory: promFactory)
                .recordNanoseconds(values[i & observationMask])
        }
    }
    recordingRow("10 Timer(label:dimensions:) + recordNanos", perRequestTimerMarty, perRequestTimerProm)

    // Two threads on the same handle: per-thread wall ns/op, and that over one thread's.
    func twoThreadRow(
        _ label: String, _ marty: @escaping (Int) -> Void, _ martySingle: PerOp, _ other: @escaping (Int) -> Void,
        _ otherSingle: PerOp
    ) {
        func run(_ body: @escaping (Int) -> Void, _ single: PerOp) -> (ThreadedPerOp, Double) {
            let iterations = max(1000, Int(0.25e9 * Config.minimumSeconds / 0.2 / single.wall))
            let activity = MachineActivity()
            let result = twoThreads(iterations: iterations, body)
            return (result, activity.othersCores())
        }
        let (m, mOthers) = run(marty, martySingle)
        let (o, oOthers) = run(other, otherSingle)
        row(
            label,
            [
                ns(m.wall), ns(m.cpu), ns(o.wall), ns(o.cpu), f(m.wall / o.wall, 2),
                f(m.wall / martySingle.wall, 2) + "x", f(o.wall / otherSingle.wall, 2) + "x",
                f(max(mOthers, oOthers), 2),
            ], columnWidth: 12)
    }
    say()
    say(
        "2 THREADS, SAME HANDLE (per-thread ns/op)   marty wall  marty cpu  s-prom wall s-prom cpu  marty/s-prom  marty x1T  s-prom x1T  others"
    )
    rule(140)
    twoThreadRow(
        "10 Counter.increment(), 2 dimensions", counterBody(martyLabelled), labelledMarty, counterBody(promLabelled),
        labelledProm)
    twoThreadRow(
        "10 Timer.recordNanoseconds, 2 dimensions", timerBody(martyTimer), timerMarty, timerBody(promTimer), timerProm)

    say(
        "   handles: CoreMetrics.Counter/Timer(label:dimensions:factory:) with MartyMetricsFactory(registry: Registry()) and"
    )
    say(
        "   PrometheusMetricsFactory(registry: PrometheusCollectorRegistry()); no bootstrap. Each call goes through swift-metrics'"
    )
    let martyBounds = martyFactory.timerBuckets.bounds.count
    let promBounds = promFactory.defaultDurationHistogramBuckets.count
    say("   handler existential, as in any application. Timers: marty \(martyBounds) bounds (the catalog's, seconds),")
    say("   swift-prometheus \(promBounds) (Duration).")
    say(
        "   per-request rows: a new handle for an existing series on every call, as framework middleware does."
    )
    say("   x1T = two-thread per-thread wall over the one-thread wall; others = cores used by other processes.")
    let martyOutput = martyFactory.registry.render(.text).count
    var promOutput: [UInt8] = []
    promFactory.registry.emit(into: &promOutput)
    consume(Double(martyOutput + promOutput.count))
    say()

}

// MARK: 7. Creating series

let createSizes = [1_000, 10_000, 100_000]
let createMartyLabels = martyLabelSets(createSizes.last! + 1_000)
let createPromLabels = promLabelSets(createSizes.last! + 1_000)

if sections.contains("create") {
    say(
        "CREATING SERIES (2 labels, ns per create)   marty avg 0->N  next 1k at N | s-prom avg 0->N  next 1k at N | marty/s-prom (avg)"
    )
    rule(128)

    /// Fills a fresh family to `size` series, then creates 1,000 more: (avg ns over the fill,
    /// avg ns of the next 1,000, total fill seconds).
    func martyCreate(_ size: Int) -> (Double, Double, Double) {
        let registry = Registry()
        let family = try! registry.counter("bench_create", help: "help", labelNames: ["handler", "code"])
        let t0 = nanoseconds(CLOCK_MONOTONIC)
        for i in 0..<size { blackHole(try! family.labels(createMartyLabels[i])) }
        let t1 = nanoseconds(CLOCK_MONOTONIC)
        for i in size..<(size + 1_000) { blackHole(try! family.labels(createMartyLabels[i])) }
        let t2 = nanoseconds(CLOCK_MONOTONIC)
        withExtendedLifetime(registry) {}
        return (Double(t1 - t0) / Double(size), Double(t2 - t1) / 1_000, Double(t1 - t0) / 1e9)
    }

    func promCreate(_ size: Int) -> (Double, Double, Double) {
        let registry = PrometheusCollectorRegistry()
        let t0 = nanoseconds(CLOCK_MONOTONIC)
        for i in 0..<size { blackHole(prom.counter(registry, "bench_create_total", createPromLabels[i])) }
        let t1 = nanoseconds(CLOCK_MONOTONIC)
        for i in size..<(size + 1_000) { blackHole(prom.counter(registry, "bench_create_total", createPromLabels[i])) }
        let t2 = nanoseconds(CLOCK_MONOTONIC)
        withExtendedLifetime(registry) {}
        return (Double(t1 - t0) / Double(size), Double(t2 - t1) / 1_000, Double(t1 - t0) / 1e9)
    }

    func best(_ repetitions: Int, _ body: () -> (Double, Double, Double)) -> (Double, Double, Double) {
        var result = (Double.infinity, Double.infinity, Double.infinity)
        for _ in 0..<repetitions {
            let r = body()
            result = (min(result.0, r.0), min(result.1, r.1), min(result.2, r.2))
        }
        return result
    }

    let createActivity = MachineActivity()
    var promFillSeconds: [Int: Double] = [:]
    for size in createSizes {
        let marty = best(Config.heavyRepetitions) { martyCreate(size) }
        var promText = ""
        var ratio = "-"
        // swift-prometheus copies the family's whole dictionary on every new series, so a fill
        // grows with the square of its size: run 100k only if 10k predicts under 30 s.
        let predicted = promFillSeconds[size / 10].map { $0 * 100 }
        if size <= 10_000 || (predicted ?? .infinity) < 30 {
            let repetitions = size <= 1_000 ? Config.heavyRepetitions : 1
            let p = best(repetitions) { promCreate(size) }
            promFillSeconds[size] = p.2
            promText = pad(ns(p.0), 14) + pad(ns(p.1), 14)
            ratio = f(marty.0 / p.0, 3)
        } else {
            promText = pad(
                "skipped: 10k took \(f(promFillSeconds[10_000] ?? 0, 1)) s, 100k predicted ~\(f(predicted ?? 0, 0)) s",
                28)
        }
        say(
            padRight("7 create, family of \(size / 1000)k", 44) + pad(ns(marty.0), 14) + pad(ns(marty.1), 14) + " | "
                + promText + "  | "
                + pad(ratio, 8))
    }
    say(
        "   avg 0->N: a fresh family filled to N series (table rebuilds included); next 1k at N: 1,000 more creates into that full family."
    )
    say(
        "   best of \(Config.heavyRepetitions) for marty; swift-prometheus 10k is a single run. Other processes used \(f(createActivity.othersCores(), 2)) cores meanwhile."
    )
    say()

}

// MARK: 8. Exposition

if sections.contains("exposition") {

    say(
        "EXPOSITION (text 0.0.4)                    marty: ms/scrape  ns/series  ns/line | s-prom: ms/scrape  ns/series  ns/line | marty/s-prom"
    )
    rule(136)

    func expositionRow(_ label: String, series: Int, marty: Registry, other: PrometheusCollectorRegistry) {
        var sink = 0
        let martyLines = marty.render(.text).withBytes { lineCount($0) }
        let martyBytes = marty.render(.text).count
        let m = measure(repetitions: Config.heavyRepetitions, start: 1) { n in
            for _ in 0..<n {
                let buffer = marty.render(.text)
                sink &+= buffer.count
            }
        }
        var scratch: [UInt8] = []
        other.emit(into: &scratch)
        let otherLines = scratch.withUnsafeBufferPointer { lineCount($0) }
        let otherBytes = scratch.count
        let o = measure(repetitions: Config.heavyRepetitions, start: 1) { n in
            for _ in 0..<n {
                var buffer: [UInt8] = []
                other.emit(into: &buffer)
                sink &+= buffer.count
            }
        }
        // Page faults and kernel time of a few more scrapes of each, outside the timed runs.
        func usage(_ scrapes: Int, _ body: () -> Void) -> String {
            let u0 = ThreadUsage.now()
            for _ in 0..<scrapes { body() }
            let u1 = ThreadUsage.now()
            let cpu = (u1.user - u0.user) + (u1.system - u0.system)
            return
                "\((u1.minorFaults - u0.minorFaults) / scrapes) faults/scrape, sys \(f(cpu > 0 ? 100 * (u1.system - u0.system) / cpu : 0, 0))%"
        }
        let scrapes = max(3, Int(0.3e9 / m.wall))
        let martyUsage = usage(scrapes) { sink &+= marty.render(.text).count }
        let otherUsage = usage(scrapes) {
            var buffer: [UInt8] = []
            other.emit(into: &buffer)
            sink &+= buffer.count
        }
        consume(Double(sink))
        let columns =
            [
                f(m.wall / 1e6, 2), ns(m.wall / Double(series)), ns(m.wall / Double(martyLines)),
            ].map { pad($0, 11) }.joined() + "   |"
            + [
                f(o.wall / 1e6, 2), ns(o.wall / Double(series)), ns(o.wall / Double(otherLines)),
            ].map { pad($0, 11) }.joined() + "   | " + pad(f(m.wall / o.wall, 2), 8)
        say(padRight(label, 42) + columns)
        say(
            padRight("", 42) + "   " + padRight("\(martyLines) lines, \(martyBytes / 1024) KiB, \(martyUsage)", 36)
                + "|  \(otherLines) lines, \(otherBytes / 1024) KiB, \(otherUsage)")
    }

    for size in [1_000, 10_000, 50_000] {
        let marty = Registry()
        let family = try! marty.counter("bench_requests", help: "help", labelNames: ["handler", "code"])
        let other = PrometheusCollectorRegistry()
        // One library at a time, so that neither's objects are interleaved with the other's.
        for i in 0..<size { try! family.labels(createMartyLabels[i]).inc(by: UInt64(i)) }
        for i in 0..<size { prom.counter(other, "bench_requests_total", createPromLabels[i]).increment(by: Int64(i)) }
        expositionRow("8 counters, \(size / 1000)k series", series: size, marty: marty, other: other)
    }
    for size in [1_000, 10_000] {
        let marty = Registry()
        let family = try! marty.histogram("bench_latency", help: "help", labelNames: ["handler", "code"])
        let other = PrometheusCollectorRegistry()
        for i in 0..<size {
            let m = try! family.labels(createMartyLabels[i])
            for k in 0..<3 { try! m.observe(observations[(i &* 3 &+ k) & observationMask]) }
        }
        for i in 0..<size {
            let o = prom.histogram(other, "bench_latency", createPromLabels[i], defaultBuckets)
            for k in 0..<3 { o.record(observations[(i &* 3 &+ k) & observationMask]) }
        }
        expositionRow("8 histograms (11 buckets), \(size / 1000)k series", series: size, marty: marty, other: other)
    }
    // Protobuf against text, per series, on the same registries (the issue: at most 1.5x).
    func formatRatio(_ label: String, _ registry: Registry, series: Int) {
        var sink = 0
        let text = measure(repetitions: Config.heavyRepetitions, start: 1) { n in
            for _ in 0..<n { sink &+= registry.render(.text).count }
        }
        let protobuf = measure(repetitions: Config.heavyRepetitions, start: 1) { n in
            for _ in 0..<n { sink &+= registry.render(.protobuf).count }
        }
        // Text 0.0.4 carries no created timestamps: protobuf without them is the same content.
        registry.exposesCreatedTimestamps = false
        let bare = measure(repetitions: Config.heavyRepetitions, start: 1) { n in
            for _ in 0..<n { sink &+= registry.render(.protobuf).count }
        }
        registry.exposesCreatedTimestamps = true
        // OpenMetrics carries the created timestamps (as `_created` lines), as protobuf does.
        let openMetrics = measure(repetitions: Config.heavyRepetitions, start: 1) { n in
            for _ in 0..<n { sink &+= registry.render(.openMetrics).count }
        }
        consume(Double(sink))
        say(
            padRight(label, 42) + "   text \(ns(text.wall / Double(series))) ns/series, protobuf "
                + "\(ns(protobuf.wall / Double(series))) ns/series, protobuf/text \(f(protobuf.wall / text.wall, 2)); "
                + "without created timestamps \(ns(bare.wall / Double(series))) ns/series, "
                + "\(f(bare.wall / text.wall, 2)); OpenMetrics \(ns(openMetrics.wall / Double(series))) ns/series, "
                + "protobuf/OpenMetrics \(f(protobuf.wall / openMetrics.wall, 2))")
    }
    do {
        let counters = Registry()
        let family = try! counters.counter("bench_requests", help: "help", labelNames: ["handler", "code"])
        for i in 0..<10_000 { try! family.labels(createMartyLabels[i]).inc(by: UInt64(i)) }
        formatRatio("8p counters, 10k series", counters, series: 10_000)
        let histograms = Registry()
        let latency = try! histograms.histogram("bench_latency", help: "help", labelNames: ["handler", "code"])
        for i in 0..<1_000 {
            let m = try! latency.labels(createMartyLabels[i])
            for k in 0..<3 { try! m.observe(observations[(i &* 3 &+ k) & observationMask]) }
        }
        formatRatio("8p histograms (11 buckets), 1k series", histograms, series: 1_000)
        let natives = Registry()
        let native = try! natives.histogram(
            "bench_native", help: "help", labelNames: ["handler", "code"], native: NativeHistogramOptions())
        for i in 0..<1_000 {
            let m = try! native.labels(createMartyLabels[i])
            for k in 0..<3 { try! m.observe(observations[(i &* 3 &+ k) & observationMask]) }
        }
        formatRatio("8p native histograms, 1k series", natives, series: 1_000)
    }
    say(
        "   marty: Registry.render(.text), series sorted by labels; swift-prometheus: emit(into:) a fresh [UInt8], dictionary order."
    )
    say(
        "   faults/scrape: minor page faults of one scrape (fresh output buffers); sys: kernel share of the scrape's CPU time."
    )
    say()

}

// MARK: 9. Memory (measured first, printed here)

if sections.contains("memory") {

    say(
        "MEMORY (heap growth while creating \(memorySeries / 1000)k series)   marty B/series  s-prom B/series  marty/s-prom"
    )
    rule()
    row(
        "9 counter series (2 labels)",
        [f(memMartyCounter, 0), f(memPromCounter, 0), f(memMartyCounter / memPromCounter, 2)],
        labelWidth: 48, columnWidth: 16)
    row(
        "9 histogram series (2 labels, 11 buckets)",
        [f(memMartyHistogram, 0), f(memPromHistogram, 0), f(memMartyHistogram / memPromHistogram, 2)], labelWidth: 48,
        columnWidth: 16)
    say(
        "   glibc mallinfo2() uordblks + hblkhd before and after, on the main thread; registry, family and series kept alive;"
    )
    say(
        "   label strings built beforehand. marty's cell arena grows in chunks, so its figure moves by up to ~13 B/series."
    )
    say()

}

// MARK: Checksum

consume(martyCounter.value)
var promDump: [UInt8] = []
promRegistry.emit(into: &promDump)  // reads every swift-prometheus value back
consume(Double(promDump.count))
consume(martyHistogram.snapshot().sum + martyGauge.value)
consume(try! martyLookupFamily.labels("GET", "200").value)
if cLoaded {
    consume(cmb_counter_value(cCounter) + cmb_gauge_value(cGauge) + Double(cmb_histogram_count(cHistogram)))
}
print(
    "run: \(f(Double(nanoseconds(CLOCK_MONOTONIC) - wallAtStart) / 1e9, 0)) s; CPU time stolen by the hypervisor meanwhile: \(f(stealSeconds() - stealAtStart, 2)) s (all CPUs); load average at start \(f(loads[0], 2))"
)
print("checksum \(f(checksum, 0)); C status sum \(cStatus) (0 = every C call returned MARTY_OK)")

// MARK: Profiling scenarios

func runProfile(_ scenario: String) {
    func counters(_ size: Int) -> Registry {
        let registry = Registry()
        let family = try! registry.counter("bench_requests", help: "help", labelNames: ["handler", "code"])
        for (i, values) in martyLabelSets(size).enumerated() { try! family.labels(values).inc(by: UInt64(i)) }
        return registry
    }
    func cFamily() -> UnsafeMutableRawPointer? {
        guard cLoaded else {
            fputs("\(scenario) needs --lib\n", stderr)
            exit(2)
        }
        return cmb_registry_new()
    }
    var sink = 0
    switch scenario {
    case "render-counters-10k", "render-counters-50k":
        let registry = counters(scenario.hasSuffix("50k") ? 50_000 : 10_000)
        _ = registry.render(.text).count  // sorts and caches, as the first scrape does
        for _ in 0..<20 { sink &+= registry.render(.text).count }
    case "render-protobuf-counters-10k":
        let registry = counters(10_000)
        _ = registry.render(.protobuf).count
        for _ in 0..<200 { sink &+= registry.render(.protobuf).count }
    case "render-histograms-10k":
        let registry = Registry()
        let family = try! registry.histogram("bench_latency", help: "help", labelNames: ["handler", "code"])
        for values in martyLabelSets(10_000) { try! family.labels(values).observe(0.3) }
        _ = registry.render(.text).count
        for _ in 0..<10 { sink &+= registry.render(.text).count }
    case "lookup-swift":
        let family = try! Registry().counter("bench_lookup", help: "help", labelNames: ["method", "code"])
        for _ in 0..<1_000_000 { try! family.labels("GET", "200").inc() }
        sink = Int(try! family.labels("GET", "200").value)
    case "lookup-c":
        let registry = cFamily()
        let labelNames: [StaticString] = ["method", "code"]
        var names = labelNames.map { UnsafePointer<CChar>(OpaquePointer($0.utf8Start)) as UnsafePointer<CChar>? }
        let family = cmb_counter_family(registry, "bench_c_lookup", &names, 2)
        sink = Int(cmb_counter_lookup_inc_loop(family, 1_000_000))
    case "counter-inc-c":
        let counter = cmb_counter_get(cmb_counter_family(cFamily(), "bench_c_inc", nil, 0), nil, 0)
        sink = Int(cmb_counter_inc_loop(counter, 10_000_000))
    case "histogram-observe-c":
        let histogram = cmb_histogram_get(cmb_histogram_family(cFamily(), "bench_c_latency", nil, 0), nil, 0)
        sink = Int(cmb_histogram_observe_loop(histogram, observationPointer, UInt64(observationMask), 10_000_000))
    case "histogram-observe-swift":
        let histogram = try! Registry().histogram("bench_latency", help: "help").labels()
        for i in 0..<10_000_000 { try! histogram.observe(observationPointer[i & observationMask]) }
        sink = Int(histogram.snapshot().count)
    case "native-observe-swift":
        let histogram = try! Registry().histogram(
            "bench_native", help: "help", native: NativeHistogramOptions(bucketFactor: 1.1)
        ).labels()
        for i in 0..<10_000_000 { try! histogram.observe(observationPointer[i & observationMask]) }
        sink = Int(histogram.snapshot().count)
    case "render-order-50k":
        // The same 50k counters created in label order (zero-padded ids) and out of it: how
        // much of a large scrape is the memory walk rather than the instructions.
        for padded in [false, true] {
            let registry = Registry()
            let family = try! registry.counter("bench_requests", help: "help", labelNames: ["handler", "code"])
            for i in 0..<50_000 {
                let id = padded ? String(repeating: "0", count: 6 - String(i).count) + String(i) : String(i)
                try! family.labels(["/api/item/\(id)", "200"]).inc(by: UInt64(i))
            }
            let lines = registry.render(.text).withBytes { lineCount($0) }
            let result = measure(repetitions: 3, start: 1) { n in
                for _ in 0..<n { sink &+= registry.render(.text).count }
            }
            print(
                "50k counters created \(padded ? "in label order (sorted walk = creation order)" : "out of label order (as in row 8)"): \(f(result.wall / Double(lines), 1)) ns/line"
            )
        }
    case "swift-metrics-counter-handle", "swift-metrics-timer-handle":
        // A swift-metrics handle made for every call (as framework middleware does), existing series.
        let factory = try! MartyMetricsFactory(registry: Registry())
        let dimensions = [("handler", "/api/item/7"), ("code", "200")]
        if scenario.hasSuffix("counter-handle") {
            for _ in 0..<1_000_000 {
                CoreMetrics.Counter(label: "sm_requests", dimensions: dimensions, factory: factory).increment()
            }
        } else {
            for i in 0..<1_000_000 {
                CoreMetrics.Timer(label: "sm_duration", dimensions: dimensions, factory: factory)
                    .recordNanoseconds(Int64(i & 1023) * 1_000_000)
            }
        }
        sink = factory.registry.render(.text).count
    case "create-100k":
        let family = try! Registry().counter("bench_create", help: "help", labelNames: ["handler", "code"])
        for values in martyLabelSets(100_000) { blackHole(try! family.labels(values)) }
    default:
        fputs("unknown scenario \(scenario); one of \(profileScenarios.joined(separator: ", "))\n", stderr)
        exit(2)
    }
    print("profile \(scenario) done (\(sink))")
}
