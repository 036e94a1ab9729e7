import CMartyShims

/// How a gauge of the default registry is exposed when pre-fork workers share it, as
/// prometheus_client's `multiprocess_mode`: each process keeps its own value (the `most recent`
/// modes excepted), and a scrape shows them by process or folded into one.
public enum GaugeMultiprocessMode: String, Sendable, CaseIterable {
    /// One series per process, with a `pid` label; dead processes' values stay.
    case all
    /// As ``all``, for living processes only.
    case liveall
    /// The smallest value of any process.
    case min
    /// The smallest value of a living process.
    case livemin
    /// The largest value of any process.
    case max
    /// The largest value of a living process.
    case livemax
    /// The sum over every process.
    case sum
    /// The sum over living processes.
    case livesum
    /// The value last set by any process. The processes share one value, so a set is seen at
    /// once and `inc`/`dec` move that shared value.
    case mostrecent
    /// As ``mostrecent``: a shared value cannot tell which process set it, so one set by a
    /// process that died stays until another sets it.
    case livemostrecent

    /// Whether each process keeps its own value.
    var keepsValuePerProcess: Bool { self != .mostrecent && self != .livemostrecent }
    /// Whether the values of dead processes leave the exposition.
    var showsLivingOnly: Bool { self == .liveall || self == .livemin || self == .livemax || self == .livesum }
    /// Whether the exposition has a series per process (a `pid` label).
    var showsEachProcess: Bool { self == .all || self == .liveall }
}

/// Pre-fork workers (gunicorn, uwsgi, C daemons) recording into one set of metrics.
///
/// Once ``enable(bytes:)`` has made the segment, in the parent before it forks, every
/// counter, gauge, histogram and summary family made in ``Registry/default`` keeps its series'
/// cells there: a worker that defines the same family again records into the same cells, and
/// the parent's ``Registry/default`` renders the sum over all workers, living and dead. Info
/// families stay in the process that makes them. Exemplars, native histograms, `remove` and
/// `clear` are not available for shared families (a series, once in the segment, stays).
public enum Multiprocess {
    /// The segment's size when none is named: room for some hundred thousand series. Pages are
    /// taken from the system only as they are first written.
    public static let defaultBytes = 128 << 20

    /// Makes the segment: call it in the parent before it forks and before any metric is
    /// made in ``Registry/default``. Refused when a segment is made already or `bytes` is less
    /// than 1 MiB.
    public static func enable(bytes: Int = defaultBytes) throws(MetricError) {
        guard bytes >= Int(CMARTY_MP_MIN_BYTES) else {
            throw MetricError(.invalidArgument, "the multiprocess segment needs at least 1 MiB, not \(bytes) bytes")
        }
        switch Int(
            cmarty_mp_create(bytes, UInt32(CellArena.shared.rows), UInt32(CellArena.gauges.rows)))
        {
        case Int(CMARTY_MP_OK): return
        case Int(CMARTY_MP_EXISTS): throw MetricError(.conflict, "the multiprocess segment is made already")
        default: throw MetricError(.system, "the multiprocess segment of \(bytes) bytes could not be mapped")
        }
    }

    /// Whether this process or a parent it was forked from made the segment.
    public static var isEnabled: Bool { cmarty_mp_active() != 0 }

    /// Bytes of the segment in use, and its size (0 and 0 without one).
    public static var usage: (used: Int, size: Int) { (cmarty_mp_used(), cmarty_mp_size()) }

    /// Marks a worker dead at once (gunicorn's `child_exit` hook): its gauges leave the `live`
    /// modes without waiting for the next scrape to notice it is gone. Its counts stay.
    public static func markProcessDead(_ pid: Int32) {
        cmarty_mp_mark_dead(pid)
    }

    private static func environment(_ name: String) -> String? {
        cmarty_environment_text(name).map { String(cString: $0) }
    }

    /// `MARTY_METRICS_MULTIPROCESS=1` makes the segment when the default registry is first
    /// used, of `MARTY_METRICS_MULTIPROCESS_BYTES` bytes if that is set. A value that cannot be
    /// used is reported through ``MetricsWarnings`` and the process goes on alone.
    static func enableFromEnvironment() {
        guard let flag = environment("MARTY_METRICS_MULTIPROCESS"), flag == "1" || flag == "true" else { return }
        var bytes = defaultBytes
        if let text = environment("MARTY_METRICS_MULTIPROCESS_BYTES"), !text.isEmpty {
            guard let parsed = Int(text), parsed >= Int(CMARTY_MP_MIN_BYTES) else {
                MetricsWarnings.warn(
                    "MARTY_METRICS_MULTIPROCESS_BYTES=\(text) is not a size of at least 1048576 bytes: "
                        + "this process records alone")
                return
            }
            bytes = parsed
        }
        do {
            try enable(bytes: bytes)
        } catch {
            MetricsWarnings.warn("MARTY_METRICS_MULTIPROCESS=1: \(error.message); this process records alone")
        }
    }
}

/// A family whose series keep their cells in the segment, under the definition every process
/// agreed on.
struct SharedFamily {
    let index: UInt32
    let gaugeMode: GaugeMultiprocessMode

    /// The definition as the segment keeps it: the name and its NUL, then the fields that
    /// must agree (kind, gauge mode, label names, bounds), then help and unit, which need not.
    struct Definition {
        var name: String
        var kind: MetricKind
        var gaugeMode: GaugeMultiprocessMode
        var labelNames: [String]
        var bounds: [Double]
        var help: String

        private static let separator: UInt8 = 0x1F

        var agreedFields: [UInt8] {
            var bytes = Array(name.utf8) + [0]
            bytes += Array("\(kind.definitionName)".utf8) + [Self.separator]
            bytes += Array(gaugeMode.rawValue.utf8) + [Self.separator]
            bytes += Array(labelNames.joined(separator: ",").utf8) + [Self.separator]
            bytes += Array(bounds.map { String($0.bitPattern, radix: 16) }.joined(separator: ",").utf8)
            bytes.append(Self.separator)
            return bytes
        }

        var bytes: [UInt8] { agreedFields + Array(help.utf8) }

        init(
            name: String, kind: MetricKind, gaugeMode: GaugeMultiprocessMode, labelNames: [String], bounds: [Double],
            help: String
        ) {
            self.name = name
            self.kind = kind
            self.gaugeMode = gaugeMode
            self.labelNames = labelNames
            self.bounds = bounds
            self.help = help
        }

        init?(bytes: UnsafeBufferPointer<UInt8>) {
            guard let nul = bytes.firstIndex(of: 0) else { return nil }
            name = String(decoding: bytes[..<nul], as: UTF8.self)
            let fields = bytes[(nul + 1)...].split(separator: Self.separator, omittingEmptySubsequences: false)
            guard fields.count == 5 else { return nil }
            let text = fields.map { String(decoding: $0, as: UTF8.self) }
            guard let kind = MetricKind(definitionName: text[0]), let mode = GaugeMultiprocessMode(rawValue: text[1])
            else { return nil }
            self.kind = kind
            gaugeMode = mode
            labelNames =
                text[2].isEmpty ? [] : text[2].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            var bounds: [Double] = []
            for field in text[3].split(separator: ",") {
                guard let bits = UInt64(field, radix: 16) else { return nil }
                bounds.append(Double(bitPattern: bits))
            }
            self.bounds = bounds
            help = text[4]
        }

        /// How an error names it.
        var summary: String {
            var words = "\(kind.definitionName) \(name)"
            if !labelNames.isEmpty { words += " {\(labelNames.joined(separator: ", "))}" }
            if kind == .gauge { words += " in mode \(gaugeMode.rawValue)" }
            if kind == .histogram { words += " with bounds \(bounds)" }
            return words
        }
    }

    /// The shared family for `definition`: the one another process made, if their agreed
    /// fields are equal, or a new one. A disagreement is a `conflict` naming both definitions.
    static func join(_ definition: Definition) throws(MetricError) -> SharedFamily {
        let mine = definition.bytes
        var index: UInt32 = 0
        var stored: UnsafePointer<UInt8>?
        var storedLength = 0
        let status = mine.withUnsafeBufferPointer {
            cmarty_mp_family($0.baseAddress, $0.count, &index, &stored, &storedLength)
        }
        guard status == CMARTY_MP_OK, let stored else {
            throw Self.segmentError(status, making: "the family \(definition.name)")
        }
        let storedBytes = UnsafeBufferPointer(start: stored, count: storedLength)
        let agreed = definition.agreedFields
        if !(storedBytes.count >= agreed.count && storedBytes.prefix(agreed.count).elementsEqual(agreed)) {
            let theirs = Definition(bytes: storedBytes)?.summary ?? "another definition"
            throw MetricError(
                .conflict,
                "\(definition.name) is defined by another process of this multiprocess group as \(theirs); "
                    + "cannot define it as \(definition.summary)")
        }
        return SharedFamily(index: index, gaugeMode: definition.gaugeMode)
    }

    /// The cells of a series of this family, found or made in the segment.
    func cells(
        key: ArraySlice<UInt8>, kind: MetricKind, width: Int, created: Double, familyName: String
    ) throws(MetricError) -> UnsafeMutablePointer<UInt64> {
        let perProcess = kind == .gauge && gaugeMode.keepsValuePerProcess
        let pid = perProcess ? cmarty_mp_pid() : 0
        let arena: UInt32 = kind == .gauge ? 1 : 0
        var status: Int32 = 0
        let cells = key.withUnsafeBufferPointer {
            cmarty_mp_series(index, pid, $0.baseAddress, $0.count, UInt32(width), arena, created, &status)
        }
        guard let cells else { throw Self.segmentError(status, making: "a series of \(familyName)") }
        return cells
    }

    static func segmentError(_ status: Int32, making what: String) -> MetricError {
        if status == CMARTY_MP_FULL {
            let (used, size) = Multiprocess.usage
            return MetricError(
                .full,
                "the multiprocess segment is full (\(used) of \(size) bytes used, or its tables are): cannot make "
                    + "\(what); set MARTY_METRICS_MULTIPROCESS_BYTES (or the size given to enable) larger")
        }
        return MetricError(.system, "the multiprocess segment refused to make \(what) (status \(status))")
    }
}

extension MetricKind {
    var definitionName: String {
        switch self {
        case .counter: "counter"
        case .gauge: "gauge"
        case .histogram: "histogram"
        case .info: "info"
        case .summary: "summary"
        }
    }

    init?(definitionName: String) {
        switch definitionName {
        case "counter": self = .counter
        case "gauge": self = .gauge
        case "histogram": self = .histogram
        case "info": self = .info
        case "summary": self = .summary
        default: return nil
        }
    }
}
