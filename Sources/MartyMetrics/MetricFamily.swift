import CMartyShims

public enum MetricKind: Int, Sendable {
    case counter = 0
    case gauge = 1
    case histogram = 2
    case info = 3
}

/// A named metric with fixed label names: the parent of its series.
///
/// Looking up an existing series probes a lock-free table; creating or removing one takes
/// the family's lock. A series, once created, lives as long as its family, even after it
/// is removed: C callers hold borrowed pointers to series and must never see one freed.
public class MetricFamily: @unchecked Sendable {
    /// The base name: a counter's without `_total`, an info's without the `_info` its
    /// exposition adds.
    public let name: String
    public let help: String
    public let labelNames: [String]
    public let kind: MetricKind
    /// Histogram bounds; empty for other kinds.
    public let bucketBounds: [Double]

    let lock = Lock()
    /// The address of the current `SeriesTable`, published with release stores.
    private let currentTable: UnsafeMutablePointer<UInt>
    private var tables: [SeriesTable] = []
    private var live: [SeriesBase] = []
    private var removed: [SeriesBase] = []
    private var sortedCache: [SeriesBase]? = []
    private let boundsStorage: BoundsStorage

    init(name: String, help: String, labelNames: [String], kind: MetricKind, bucketBounds: [Double] = [])
        throws(MetricError)
    {
        try Naming.checkMetricName(name)
        try Naming.checkLabelNames(labelNames, kind: kind, metric: name)
        self.name = name
        self.help = help
        self.labelNames = labelNames
        self.kind = kind
        self.bucketBounds = bucketBounds
        boundsStorage = BoundsStorage(bucketBounds)
        currentTable = .allocate(capacity: 1)
        let table = SeriesTable(capacity: 8)
        tables.append(table)
        currentTable.initialize(to: UInt(bitPattern: Unmanaged.passUnretained(table).toOpaque()))
        // An unlabelled metric shows from the start (at 0), as in prometheus_client.
        if labelNames.isEmpty { _ = try? series([]) }
    }

    deinit {
        currentTable.deallocate()
    }

    func makeSeries(_ identity: SeriesIdentity) -> SeriesBase {
        switch kind {
        case .counter: return Counter(identity: identity)
        case .gauge: return Gauge(identity: identity)
        case .histogram: return Histogram(identity: identity, bounds: boundsStorage)
        case .info: return InfoSeries(identity: identity)
        }
    }

    // MARK: Lookup

    func checkCount(_ count: Int) throws(MetricError) {
        guard count == labelNames.count else {
            throw MetricError(
                .labelCount,
                "\(name) has \(labelNames.count) label name(s) [\(labelNames.joined(separator: ", "))] but \(count) value(s) were given"
            )
        }
    }

    /// Probes the current table for an entry with this hash that `matcher` accepts. Generic
    /// rather than a closure so that the lookup allocates nothing.
    @inline(__always)
    private func probe<M: SeriesMatcher>(hash: UInt64, _ matcher: M) -> SeriesBase? {
        let tableAddress = UnsafeRawPointer(bitPattern: cmarty_load_acquire_word(currentTable))!
        return Unmanaged<SeriesTable>.fromOpaque(tableAddress)._withUnsafeGuaranteedRef { table in
            var index = Int(truncatingIfNeeded: hash) & table.mask
            while true {
                let word = cmarty_load_acquire_word(table.slots + index)
                if word == SeriesTable.empty { return nil }
                if word != SeriesTable.removed {
                    let series = Unmanaged<SeriesBase>.fromOpaque(UnsafeRawPointer(bitPattern: word)!)
                        .takeUnretainedValue()
                    if series.hash == hash && matcher.matches(series) { return series }
                }
                index = (index &+ 1) & table.mask
            }
        }
    }

    private static func hash(_ values: [String]) -> UInt64 {
        var hasher = LabelHasher()
        for value in values {
            for byte in value.utf8 { hasher.add(byte) }
            hasher.add(0xFF)
        }
        return hasher.value
    }

    /// The series for these label values, created on first use.
    public func series(_ values: [String]) throws(MetricError) -> SeriesBase {
        try checkCount(values.count)
        let hash = Self.hash(values)
        let matcher = StringsMatcher(values: values)
        if let found = probe(hash: hash, matcher) { return found }
        return try create(hash: hash, matcher) { () throws(MetricError) in values.map { Array($0.utf8) } }
    }

    /// The live series for these label values, if there is one.
    public func existingSeries(_ values: [String]) -> SeriesBase? {
        guard values.count == labelNames.count else { return nil }
        return probe(hash: Self.hash(values), StringsMatcher(values: values))
    }

    /// The series for label values given as NUL-terminated UTF-8 strings, created on first
    /// use. Existing series are found without a lock and without allocating; a new series'
    /// values are checked for valid UTF-8.
    public func series(nulTerminated values: UnsafeBufferPointer<UnsafePointer<UInt8>?>) throws(MetricError)
        -> SeriesBase
    {
        try checkCount(values.count)
        var hasher = LabelHasher()
        for value in values {
            guard var byte = value else {
                throw MetricError(.invalidArgument, "label value of \(name) is NULL")
            }
            while byte.pointee != 0 {
                hasher.add(byte.pointee)
                byte += 1
            }
            hasher.add(0xFF)
        }
        let hash = hasher.value
        let matcher = NulTerminatedMatcher(values: values)
        if let found = probe(hash: hash, matcher) { return found }
        return try create(hash: hash, matcher) { () throws(MetricError) in
            try strings(nulTerminated: values).map { Array($0.utf8) }
        }
    }

    /// NUL-terminated label values as strings; NULL and bytes that are not UTF-8 are refused.
    private func strings(nulTerminated values: UnsafeBufferPointer<UnsafePointer<UInt8>?>) throws(MetricError)
        -> [String]
    {
        var strings: [String] = []
        for (index, value) in values.enumerated() {
            guard let value else { throw MetricError(.invalidArgument, "label value of \(name) is NULL") }
            guard let text = String(validatingCString: UnsafeRawPointer(value).assumingMemoryBound(to: CChar.self))
            else {
                throw MetricError(.invalidUTF8, "label value for \(labelNames[index]) of \(name) is not valid UTF-8")
            }
            strings.append(text)
        }
        return strings
    }

    private func create<M: SeriesMatcher>(
        hash: UInt64, _ matcher: M, valueBytes: () throws(MetricError) -> [[UInt8]]
    ) throws(MetricError) -> SeriesBase {
        let bytes = try valueBytes()
        return lock.withLock {
            if let found = probe(hash: hash, matcher) { return found }
            let series = makeSeries(SeriesIdentity(labelNames: labelNames, valueBytes: bytes))
            var table = tables[tables.count - 1]
            if (table.used + 1) * 10 > table.capacity * 7 {  // keep the load under 0.7
                table = rebuiltTable(minimumLive: live.count + 1)
            }
            table.insert(series)
            live.append(series)
            sortedCache = nil
            return series
        }
    }

    /// A fresh table holding the live series, published for readers. Caller holds the lock.
    private func rebuiltTable(minimumLive: Int) -> SeriesTable {
        var capacity = 8
        while capacity < minimumLive * 2 { capacity *= 2 }
        let table = SeriesTable(capacity: capacity)
        for series in live { table.insert(series) }
        tables.append(table)
        cmarty_store_release_word(currentTable, UInt(bitPattern: Unmanaged.passUnretained(table).toOpaque()))
        return table
    }

    // MARK: Removal

    /// Removes the series with these label values; its handle keeps working, unseen.
    public func remove(_ values: [String]) throws(MetricError) {
        try checkCount(values.count)
        guard let target = existingSeries(values) else {
            throw MetricError(.notFound, "\(name) has no series with label values [\(values.joined(separator: ", "))]")
        }
        lock.withLock {
            guard let index = live.firstIndex(where: { $0 === target }) else { return }
            live.remove(at: index)
            removed.append(target)
            tables[tables.count - 1].remove(target)
            sortedCache = nil
        }
    }

    /// Removes the series named by NUL-terminated values; `notFound` if there is none.
    public func remove(nulTerminated values: UnsafeBufferPointer<UnsafePointer<UInt8>?>) throws(MetricError) {
        try checkCount(values.count)
        try remove(strings(nulTerminated: values))
    }

    /// Removes every series; their handles keep working, unseen.
    public func clear() {
        lock.withLock {
            removed.append(contentsOf: live)
            live.removeAll()
            _ = rebuiltTable(minimumLive: 1)
            sortedCache = nil
        }
    }

    // MARK: Reading

    /// The live series, sorted by label values. Cached until the next creation or removal.
    public func sortedSeries() -> [SeriesBase] {
        lock.withLock {
            if let sortedCache { return sortedCache }
            let sorted = live.sorted { Self.keyPrecedes($0, $1) }
            sortedCache = sorted
            return sorted
        }
    }

    /// Orders by label values in label-name order; the 0xFF separator sorts first so
    /// that "a" precedes "ab".
    private static func keyPrecedes(_ left: SeriesBase, _ right: SeriesBase) -> Bool {
        let count = min(left.keyLength, right.keyLength)
        for index in 0..<count {
            let l = left.storage[index] &+ 1  // 0xFF wraps to 0
            let r = right.storage[index] &+ 1
            if l != r { return l < r }
        }
        return left.keyLength < right.keyLength
    }
}

/// A family whose series are of one type: `labels(…)` hands them out typed.
public final class Family<Series: SeriesBase>: MetricFamily, @unchecked Sendable {
    /// The series with these label values, created on first use.
    public func labels(_ values: String...) throws(MetricError) -> Series {
        unsafeDowncast(try series(values), to: Series.self)
    }

    /// The series with these label values, created on first use.
    public func labels(_ values: [String]) throws(MetricError) -> Series {
        unsafeDowncast(try series(values), to: Series.self)
    }
}

public typealias CounterFamily = Family<Counter>
public typealias GaugeFamily = Family<Gauge>
public typealias HistogramFamily = Family<Histogram>
public typealias InfoFamily = Family<InfoSeries>

extension Family where Series == InfoSeries {
    /// Replaces the info's series by the one with these label values.
    public func set(_ values: [String]) throws(MetricError) {
        try checkCount(values.count)
        clear()
        _ = try series(values)
    }
}

/// Compares label values with a series' key bytes (values each followed by 0xFF).
protocol SeriesMatcher {
    func matches(_ series: SeriesBase) -> Bool
}

struct StringsMatcher: SeriesMatcher {
    let values: [String]

    @inline(__always)
    func matches(_ series: SeriesBase) -> Bool {
        series.storage.withUnsafeBufferPointer { key in
            var offset = 0
            for value in values {
                for byte in value.utf8 {
                    if offset >= series.keyLength || key[offset] != byte { return false }
                    offset += 1
                }
                if offset >= series.keyLength || key[offset] != 0xFF { return false }
                offset += 1
            }
            return offset == series.keyLength
        }
    }
}

struct NulTerminatedMatcher: SeriesMatcher {
    let values: UnsafeBufferPointer<UnsafePointer<UInt8>?>

    @inline(__always)
    func matches(_ series: SeriesBase) -> Bool {
        series.storage.withUnsafeBufferPointer { key in
            var offset = 0
            for value in values {
                var byte = value!
                while byte.pointee != 0 {
                    if offset >= series.keyLength || key[offset] != byte.pointee { return false }
                    offset += 1
                    byte += 1
                }
                if offset >= series.keyLength || key[offset] != 0xFF { return false }
                offset += 1
            }
            return offset == series.keyLength
        }
    }
}
