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
    /// The segment's size when none is named: room for 524,288 series (one per 256 bytes),
    /// fewer when their cells need more room. Pages are taken from the system only as they are
    /// first written.
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

    /// The definition as the segment keeps it: the name's bytes, then the fields that must
    /// agree (kind, gauge mode, label names, bounds), then the help, which need not. Every field
    /// is length-prefixed, so names and help may hold any byte.
    struct Definition {
        var name: String
        var kind: MetricKind
        var gaugeMode: GaugeMultiprocessMode
        var labelNames: [String]
        var bounds: [Double]
        var help: String

        var nameLength: Int { name.utf8.count }

        var agreedFields: [UInt8] {
            var bytes = Array(name.utf8)
            bytes.append(UInt8(truncatingIfNeeded: MetricKind.definitionOrder.firstIndex(of: kind) ?? 0))
            bytes.append(UInt8(truncatingIfNeeded: GaugeMultiprocessMode.allCases.firstIndex(of: gaugeMode) ?? 0))
            Self.append(UInt32(truncatingIfNeeded: labelNames.count), to: &bytes)
            for label in labelNames {
                Self.append(UInt32(truncatingIfNeeded: label.utf8.count), to: &bytes)
                bytes += label.utf8
            }
            Self.append(UInt32(truncatingIfNeeded: bounds.count), to: &bytes)
            for bound in bounds {
                Self.append(UInt32(truncatingIfNeeded: bound.bitPattern), to: &bytes)
                Self.append(UInt32(truncatingIfNeeded: bound.bitPattern >> 32), to: &bytes)
            }
            return bytes
        }

        var bytes: [UInt8] { agreedFields + Array(help.utf8) }

        private static func append(_ value: UInt32, to bytes: inout [UInt8]) {
            for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> shift)) }
        }

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

        /// Reads a definition that `bytes` wrote; nil for bytes it could not have written.
        init?(bytes: UnsafeBufferPointer<UInt8>, nameLength: Int) {
            var reader = Reader(bytes: bytes, offset: nameLength)
            guard nameLength <= bytes.count, let kindIndex = reader.byte(), let modeIndex = reader.byte(),
                kindIndex < MetricKind.definitionOrder.count, modeIndex < GaugeMultiprocessMode.allCases.count,
                let labelCount = reader.word()
            else { return nil }
            name = String(decoding: bytes[0..<nameLength], as: UTF8.self)
            kind = MetricKind.definitionOrder[Int(kindIndex)]
            gaugeMode = GaugeMultiprocessMode.allCases[Int(modeIndex)]
            var labels: [String] = []
            for _ in 0..<labelCount {
                guard let length = reader.word(), let label = reader.bytes(Int(length)) else { return nil }
                labels.append(String(decoding: label, as: UTF8.self))
            }
            labelNames = labels
            guard let boundCount = reader.word() else { return nil }
            var bounds: [Double] = []
            for _ in 0..<boundCount {
                guard let low = reader.word(), let high = reader.word() else { return nil }
                bounds.append(Double(bitPattern: UInt64(low) | UInt64(high) << 32))
            }
            self.bounds = bounds
            help = String(decoding: bytes[reader.offset...], as: UTF8.self)
        }

        private struct Reader {
            let bytes: UnsafeBufferPointer<UInt8>
            var offset: Int

            mutating func byte() -> UInt8? {
                guard offset < bytes.count else { return nil }
                offset += 1
                return bytes[offset - 1]
            }

            mutating func word() -> UInt32? {
                guard bytes.count - offset >= 4 else { return nil }
                var value: UInt32 = 0
                for index in 0..<4 { value |= UInt32(bytes[offset + index]) << (8 * index) }
                offset += 4
                return value
            }

            mutating func bytes(_ count: Int) -> Slice<UnsafeBufferPointer<UInt8>>? {
                guard count <= bytes.count - offset else { return nil }
                offset += count
                return bytes[(offset - count)..<offset]
            }
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
            cmarty_mp_family($0.baseAddress, $0.count, definition.nameLength, &index, &stored, &storedLength)
        }
        guard status == CMARTY_MP_OK, let stored else {
            throw Self.segmentError(status, making: "the family \(definition.name)")
        }
        let storedBytes = UnsafeBufferPointer(start: stored, count: storedLength)
        let agreed = definition.agreedFields
        if !(storedBytes.count >= agreed.count && storedBytes.prefix(agreed.count).elementsEqual(agreed)) {
            let theirs =
                Definition(bytes: storedBytes, nameLength: definition.nameLength)?.summary ?? "another definition"
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
    /// The kinds in the order the segment's definitions number them.
    static let definitionOrder: [MetricKind] = [.counter, .gauge, .histogram, .info, .summary]

    var definitionName: String {
        switch self {
        case .counter: "counter"
        case .gauge: "gauge"
        case .histogram: "histogram"
        case .info: "info"
        case .summary: "summary"
        }
    }
}
