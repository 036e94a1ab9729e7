import CMartyShims
import Synchronization

/// The type of a family, which decides its series type and how it is exposed.
public enum MetricKind: Sendable {
    /// A monotonic count, exposed as `<name>_total`.
    case counter
    /// A value that goes up and down.
    case gauge
    /// Observations counted in buckets, with their sum and count.
    case histogram
    /// Constant labels describing the target, exposed as `<name>_info` with value 1.
    case info
    /// Observations counted and summed, without quantiles (prometheus_client's `Summary`).
    case summary
}

/// A named metric with fixed label names: the parent of its series.
///
/// Looking up an existing series probes a lock-free table inside a read section; creating
/// or removing one takes the family's lock. What a removal or a clear unlinks (series, old
/// tables) is retired and freed after `cmarty_synchronize()`, once no lookup can still be
/// reading it. A Swift caller that holds a removed series keeps it (and its cells) alive;
/// C handles carry a generation and stop recording once the series is freed.
// @unchecked Sendable: series and tables change under `lock`; lock-free lookups read tables published with release/acquire, inside read sections.
public class MetricFamily: @unchecked Sendable {
    /// The base name: a counter's without `_total`, an info's without the `_info` its
    /// exposition adds.
    public let name: String
    /// The text of the `# HELP` line.
    public let help: String
    /// The label names, in the order `labels(…)` takes their values.
    public let labelNames: [String]
    /// The kind, which decides the series type and the exposition.
    public let kind: MetricKind
    /// Histogram bounds; empty for other kinds.
    public let bucketBounds: [Double]
    /// How a histogram family keeps native buckets; nil for classic-only and other kinds.
    public var nativeHistogram: NativeHistogramOptions? { nativeLayout?.options }
    let nativeLayout: NativeHistogramLayout?
    /// Whether the name and every label name are in the legacy character set, so every
    /// ``NameEscaping`` renders them as they are.
    let hasLegacyNames: Bool
    /// The label names as series store their rendered pairs: those outside the legacy set
    /// quoted, as ``NameEscaping/allowUTF8`` writes them.
    private let storedLabelNames: [String]

    let lock = Lock(.family)
    /// The address of the current `SeriesTable`, published with release stores.
    private let currentTable: UnsafeMutablePointer<UInt>
    private var table: SeriesTable
    private var live: [SeriesBase] = []
    /// Unlinked series and tables that a lookup may still be reading; freed in batches.
    private var retired: [AnyObject] = []
    private static let retiredBatch = 64
    private var sortedCache: [SeriesBase]? = []
    /// The series that label sets past the cap record into, once there is one.
    private var overflowSeries: SeriesBase?
    private var overflowWarned = false
    private let seriesCap = Atomic<Int>(SeriesLimit.defaultPerFamily)
    private var unitName: String?
    /// False for the library's own overflow counter, which must count every family's
    /// overflows even when the process is at its cap. Guarded by `lock`.
    var obeysProcessCap = true
    /// Where the series keep their cells when pre-fork workers share them; nil for cells of
    /// this process.
    let shared: SharedFamily?
    /// True for the families of a multiprocess view: their series are adopted from the
    /// segment (an unlabelled one too) and count toward no cap of this process.
    private let isMultiprocessView: Bool

    /// The unit OpenMetrics' `# UNIT` line names (`seconds`, `bytes`); nil for none. The
    /// name is not changed: it should end with `_<unit>` already, as the OpenMetrics spec asks.
    public var unit: String? {
        get { lock.withLock { unitName } }
        set { lock.withLock { unitName = newValue?.isEmpty == true ? nil : newValue } }
    }
    private let overflowCount = Atomic<UInt64>(0)

    /// The most series this family creates (0: no cap); label sets past it record into
    /// one overflow series (see ``SeriesLimit``). Starts at ``SeriesLimit/defaultPerFamily``;
    /// any thread may change it, and series already made stay.
    public var maximumSeries: Int {
        get { seriesCap.load(ordering: .relaxed) }
        set { seriesCap.store(max(0, newValue), ordering: .relaxed) }
    }

    /// How many lookups went to the overflow series because the family was full.
    public var overflowedLookups: UInt64 { overflowCount.load(ordering: .relaxed) }

    init(
        name: String, help: String, labelNames: [String], kind: MetricKind, bucketBounds: [Double] = [],
        native: NativeHistogramOptions? = nil, shared: SharedFamily? = nil, isMultiprocessView: Bool = false
    ) throws(MetricError) {
        try Naming.checkMetricName(name)
        try Naming.checkLabelNames(labelNames, kind: kind, metric: name)
        self.name = name
        self.help = help
        self.labelNames = labelNames
        self.kind = kind
        self.bucketBounds = bucketBounds
        self.shared = shared
        self.isMultiprocessView = isMultiprocessView
        self.nativeLayout = native.map(NativeHistogramLayout.shared)
        self.hasLegacyNames =
            NameEscaping.isLegacyMetricName(name) && labelNames.allSatisfy(NameEscaping.isLegacyLabelName)
        self.storedLabelNames = labelNames.map { NameEscaping.isLegacyLabelName($0) ? $0 : Escaping.quoted($0) }
        if let nativeLayout, bucketBounds.count + 4 + nativeLayout.width > CellArena.stride {
            throw MetricError(
                .invalidBuckets,
                "\(name): \(bucketBounds.count) classic bounds do not fit beside native buckets of this maximum count")
        }
        currentTable = .allocate(capacity: 1)
        table = SeriesTable(capacity: 8)
        currentTable.initialize(to: UInt(bitPattern: Unmanaged.passUnretained(table).toOpaque()))
        // An unlabelled metric shows from the start (at 0), as in prometheus_client.
        if labelNames.isEmpty && !isMultiprocessView { _ = try? series([]) }
    }

    deinit {
        if !isMultiprocessView { SeriesLimit.seriesGone(live.count) }
        currentTable.deallocate()
    }

    /// A new series: its cells are `cells` when given (a multiprocess view adopting another
    /// process' series), else the segment's for a shared family, else this process' own.
    func makeSeries(_ identity: SeriesIdentity, cells given: UnsafeMutablePointer<UInt64>? = nil) throws(MetricError)
        -> SeriesBase
    {
        var cells = given
        if cells == nil, let shared, kind != .info {
            cells = try shared.cells(
                key: identity.storage[0..<identity.keyLength], kind: kind, width: cellWidth,
                created: cmarty_unix_time(), familyName: name)
        }
        switch kind {
        case .counter: return Counter(identity: identity, cells: cells)
        case .gauge: return Gauge(identity: identity, cell: cells)
        case .histogram: return Histogram(identity: identity, bounds: bucketBounds, native: nativeLayout, cells: cells)
        case .info: return InfoSeries(identity: identity)
        case .summary: return Histogram(identity: identity, bounds: [], cells: cells)  // its +Inf bucket is the count
        }
    }

    /// Cells per row that each series takes.
    var cellWidth: Int {
        switch kind {
        case .counter: Counter.width
        case .gauge: 1
        case .histogram: Histogram.width(boundCount: bucketBounds.count, native: nativeLayout)
        case .summary: Histogram.width(boundCount: 0, native: nil)
        case .info: 0
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
    /// rather than a closure so that the lookup allocates nothing. The table and the series
    /// are read inside a read section, and the series is retained before it ends.
    @inline(__always)
    func probe<M: SeriesMatcher>(hash: UInt64, _ matcher: M) -> SeriesBase? {
        let thread = cmarty_this_thread()!
        cmarty_read_begin(thread)
        let found = probeTable(hash: hash, matcher)
        cmarty_read_end(thread)
        return found?.takeRetainedValue()
    }

    @inline(__always)
    private func probeTable<M: SeriesMatcher>(hash: UInt64, _ matcher: M) -> Unmanaged<SeriesBase>? {
        let tableAddress = UnsafeRawPointer(bitPattern: cmarty_load_acquire_word(currentTable))!
        // _withUnsafeGuaranteedRef, the stdlib's one way to use an object at +0: the read section,
        // not a reference count, keeps the table and its series alive, and a retain/release pair
        // here would make every thread's lookup in this family write the same cache line.
        return Unmanaged<SeriesTable>.fromOpaque(tableAddress)._withUnsafeGuaranteedRef { table in
            var index = Int(truncatingIfNeeded: hash) & table.mask
            while true {
                let word = cmarty_load_acquire_word(table.slots + index)
                if word == SeriesTable.empty { return nil }
                if word != SeriesTable.removed {
                    let series = Unmanaged<SeriesBase>.fromOpaque(UnsafeRawPointer(bitPattern: word)!)
                    let matches = series._withUnsafeGuaranteedRef { $0.hash == hash && matcher.matches($0) }
                    if matches { return series.retain() }
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

    func create<M: SeriesMatcher>(
        hash: UInt64, _ matcher: M, valueBytes: () throws(MetricError) -> [[UInt8]]
    ) throws(MetricError) -> SeriesBase {
        let bytes = try valueBytes()
        var firstOverflow: String?
        let series = try lock.withLock { () throws(MetricError) -> SeriesBase in
            if let found = probe(hash: hash, matcher) { return found }
            let cap = seriesCap.load(ordering: .relaxed)
            let familyFull = cap > 0 && live.count - (overflowSeries == nil ? 0 : 1) >= cap
            if !labelNames.isEmpty && (familyFull || (obeysProcessCap && SeriesLimit.processIsFull())) {
                overflowCount.add(1, ordering: .relaxed)
                if !overflowWarned {
                    firstOverflow =
                        familyFull
                        ? "\(name) reached its cap of \(cap) series"
                        : "the process reached its cap of \(SeriesLimit.processWideMaximum) series (at \(name))"
                }
                overflowWarned = true
                return try overflowSeriesLocked()
            }
            return insertLocked(try makeSeries(SeriesIdentity(labelNames: storedLabelNames, valueBytes: bytes)))
        }
        if let firstOverflow {
            MetricsWarnings.warn(
                firstOverflow + ": new label sets of \(name) record into its series whose values are all \""
                    + SeriesLimit.overflowLabelValue + "\" (counted in \(SeriesLimit.overflowMetricName)_total)")
        }
        return series
    }

    /// The overflow series, made on first use. Caller holds the lock.
    private func overflowSeriesLocked() throws(MetricError) -> SeriesBase {
        if let overflowSeries { return overflowSeries }
        let values = Array(repeating: SeriesLimit.overflowLabelValue, count: labelNames.count)
        let series: SeriesBase
        if let existing = existingSeries(values) {  // made by hand before the cap was reached
            series = existing
        } else {
            series = insertLocked(
                try makeSeries(SeriesIdentity(labelNames: storedLabelNames, valueBytes: values.map { Array($0.utf8) })))
        }
        overflowSeries = series
        return series
    }

    /// Links a new series into the table. Caller holds the lock.
    private func insertLocked(_ series: SeriesBase) -> SeriesBase {
        if (table.used + 1) * 10 > table.capacity * 7 {  // keep the load under 0.7
            rebuildTable(minimumLive: live.count + 1)
        }
        table.insert(series)
        live.append(series)
        if !isMultiprocessView { SeriesLimit.seriesMade() }
        sortedCache = nil
        return series
    }

    /// Publishes a fresh table holding the live series and retires the old one. Caller
    /// holds the lock.
    private func rebuildTable(minimumLive: Int) {
        var capacity = 8
        while capacity < minimumLive * 2 { capacity *= 2 }
        let fresh = SeriesTable(capacity: capacity)
        for series in live { fresh.insert(series) }
        cmarty_store_release_word(currentTable, UInt(bitPattern: Unmanaged.passUnretained(fresh).toOpaque()))
        retire(table)
        table = fresh
    }

    /// Keeps `object` until no lookup can be reading it. Caller holds the lock.
    private func retire(_ object: AnyObject) {
        retired.append(object)
        freeRetiredIfMany()
    }

    /// Frees retired objects once there are enough of them to be worth a synchronize.
    private func freeRetiredIfMany() {
        if retired.count >= Self.retiredBatch {
            cmarty_synchronize()
            retired.removeAll(keepingCapacity: true)
        }
    }

    // MARK: Removal

    /// Removes the series with these label values; a Swift caller's reference keeps working,
    /// unseen; a C handle records nothing once the series is freed.
    /// Refused for a family that pre-fork workers share: its series stay in the segment.
    public func remove(_ values: [String]) throws(MetricError) {
        try checkCount(values.count)
        if shared != nil {
            throw MetricError(
                .invalidArgument, "\(name) is shared by pre-fork workers: its series cannot be removed")
        }
        guard let target = existingSeries(values) else {
            throw MetricError(.notFound, "\(name) has no series with label values [\(values.joined(separator: ", "))]")
        }
        lock.withLock {
            guard let index = live.firstIndex(where: { $0 === target }) else { return }
            live.remove(at: index)
            if !isMultiprocessView { SeriesLimit.seriesGone(1) }
            if target === overflowSeries { overflowSeries = nil }
            table.remove(target)
            retire(target)
            sortedCache = nil
        }
    }

    /// Removes every series; their handles keep working, unseen. Does nothing to a family
    /// that pre-fork workers share (``isShared``): its series stay in the segment.
    public func clear() {
        if shared != nil { return }
        forgetSeries()
    }

    /// Whether the family keeps its series in the segment that pre-fork workers share.
    public var isShared: Bool { shared != nil }

    private func forgetSeries() {
        lock.withLock {
            let unlinked = live
            live.removeAll()
            if !isMultiprocessView { SeriesLimit.seriesGone(unlinked.count) }
            overflowSeries = nil
            rebuildTable(minimumLive: 1)
            retired.append(contentsOf: unlinked as [AnyObject])
            freeRetiredIfMany()
            sortedCache = nil
        }
    }

    // MARK: Multiprocess

    /// In a forked child: a gauge family whose processes keep values of their own drops the
    /// series it inherited, which are its parent's, so that the child's lookups make its own.
    /// They are made at the child's first lookup, not here: a child that only execs another
    /// program leaves no series behind.
    func forgetParentSeriesInChild() {
        guard let shared, kind == .gauge, shared.gaugeMode.keepsValuePerProcess else { return }
        forgetSeries()
    }

    /// A multiprocess view's series for `valueBytes` over another process' `cells`, made on
    /// first use.
    @discardableResult
    func adopt(_ valueBytes: [[UInt8]], cells: UnsafeMutablePointer<UInt64>?, created: Double) -> SeriesBase? {
        let identity = SeriesIdentity(labelNames: storedLabelNames, valueBytes: valueBytes)
        let matcher = KeyMatcher(key: identity.storage[0..<identity.keyLength])
        if let found = probe(hash: identity.hash, matcher) { return found }
        return lock.withLock { () -> SeriesBase? in
            guard let series = try? makeSeries(identity, cells: cells) else { return nil }
            series.setCreatedTimestamp(created)
            return insertLocked(series)
        }
    }

    /// Unlinks a view's series (a dead process' under a `live` gauge mode).
    func unlink(_ series: SeriesBase) {
        lock.withLock {
            guard let index = live.firstIndex(where: { $0 === series }) else { return }
            live.remove(at: index)
            table.remove(series)
            retire(series)
            sortedCache = nil
        }
    }

    // MARK: Reading

    /// The live series in the order they were created.
    public func seriesInCreationOrder() -> [SeriesBase] {
        lock.withLock { live }
    }

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
// @unchecked Sendable: adds no stored state to MetricFamily.
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

/// A family of counters, as ``Registry/counter(_:help:labelNames:)`` makes it.
public typealias CounterFamily = Family<Counter>
/// A family of gauges, as ``Registry/gauge(_:help:labelNames:multiprocessMode:)`` makes it.
public typealias GaugeFamily = Family<Gauge>
/// A family of histograms, as ``Registry/histogram(_:help:labelNames:buckets:native:)`` makes it.
public typealias HistogramFamily = Family<Histogram>
/// A family of info series, as ``Registry/info(_:help:labelNames:)`` makes it.
public typealias InfoFamily = Family<InfoSeries>
/// A family of summaries, as ``Registry/summary(_:help:labelNames:)`` makes it: histogram
/// series without bounds, exposed as their count and sum.
public typealias SummaryFamily = Family<Histogram>

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

/// Compares a series' key bytes with a key made the same way.
struct KeyMatcher: SeriesMatcher {
    let key: ArraySlice<UInt8>

    func matches(_ series: SeriesBase) -> Bool {
        series.keyLength == key.count && series.storage[0..<series.keyLength].elementsEqual(key)
    }
}
