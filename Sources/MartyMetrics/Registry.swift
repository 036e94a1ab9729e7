import Synchronization

/// A set of families that are rendered together. `Registry.default` is the process-wide
/// one; independent registries are for tests and for libraries that keep their own.
// @unchecked Sendable: families, collectors and attachments are guarded by `lock` and `attachmentLock`.
public final class Registry: @unchecked Sendable {
    /// The process-wide registry.
    public static let `default` = Registry()

    private let lock = Lock(.registry)
    private var families: [String: MetricFamily] = [:]
    /// Every sample name a registered family produces, mapped to that family's name.
    private var claimedNames: [String: String] = [:]
    private var sortedCache: [MetricFamily]? = []
    private var collectors: [@Sendable () -> Void] = []
    private var familyCollectors: [FamilyCollector] = []
    /// Objects made once per registry (the catalog of each service, the process collector).
    /// A lock of its own: making one registers families, which takes `lock`.
    private let attachmentLock = Lock(.registryAttachments)
    private var attachments: [String: AnyObject] = [:]
    /// `marty_metrics_series_overflow_total`, registered at the first overflow a render sees.
    /// Guarded by `attachmentLock`, whose rank allows registering while it is held.
    private var overflowFamily: CounterFamily?

    private let createdTimestampsShown = Atomic<Bool>(true)
    private let prometheusClientStyle = Atomic<Bool>(false)
    /// When each family and family collector was added, for ``RenderingStyle/prometheusClient``.
    private var registrationSequence: [ObjectIdentifier: Int] = [:]
    private var nextSequence = 0

    /// How renderings spell numbers and order what they write (``RenderingStyle``). Any
    /// thread may change it; a render already running keeps the style it began with.
    public var renderingStyle: RenderingStyle {
        get { prometheusClientStyle.load(ordering: .relaxed) ? .prometheusClient : .native }
        set { prometheusClientStyle.store(newValue == .prometheusClient, ordering: .relaxed) }
    }

    /// Whether renderings show when each counter and histogram series was created: `_created`
    /// samples in OpenMetrics, `created_timestamp` in protobuf (on by default, as in
    /// prometheus_client; text 0.0.4 never shows them). Any thread may change it.
    public var exposesCreatedTimestamps: Bool {
        get { createdTimestampsShown.load(ordering: .relaxed) }
        set { createdTimestampsShown.store(newValue, ordering: .relaxed) }
    }

    /// An empty registry, independent of ``default``.
    public init() {}

    /// Registers a family. A clash of any sample name with a registered family is refused,
    /// naming both.
    public func register(_ family: MetricFamily) throws(MetricError) {
        try lock.withLock { () throws(MetricError) in
            if let existing = families[family.name] {
                if existing === family {
                    throw MetricError(.conflict, "\(family.name) is already registered")
                }
                throw MetricError(
                    .conflict,
                    "\(family.name) is already registered as \(describe(existing)); cannot register \(describe(family))"
                )
            }
            for sample in Naming.sampleNames(of: family.name, kind: family.kind) {
                if let owner = claimedNames[sample], let existing = families[owner] {
                    throw MetricError(
                        .conflict,
                        "\(describe(family)) clashes with the registered \(describe(existing)): both would expose \(sample)"
                    )
                }
            }
            families[family.name] = family
            registrationSequence[ObjectIdentifier(family)] = nextSequence
            nextSequence += 1
            for sample in Naming.sampleNames(of: family.name, kind: family.kind) {
                claimedNames[sample] = family.name
            }
            sortedCache = nil
        }
    }

    /// Removes a family; its series keep recording, unseen.
    public func unregister(_ family: MetricFamily) throws(MetricError) {
        try lock.withLock { () throws(MetricError) in
            guard let existing = families[family.name], existing === family else {
                throw MetricError(.notFound, "\(family.name) is not registered in this registry")
            }
            families[family.name] = nil
            registrationSequence[ObjectIdentifier(family)] = nil
            for sample in Naming.sampleNames(of: family.name, kind: family.kind)
            where claimedNames[sample] == family.name {
                claimedNames[sample] = nil
            }
            sortedCache = nil
        }
    }

    /// Adds a function run before every rendering, to refresh values read from elsewhere
    /// (the process collector reads /proc). It runs on the rendering thread.
    public func addCollector(_ collect: @escaping @Sendable () -> Void) {
        lock.withLock { collectors.append(collect) }
    }

    /// Adds a function called at every rendering, on the rendering thread, for families it
    /// builds from values kept elsewhere (client_golang's const metrics, prometheus_client's
    /// custom collectors). They are written after the registered families, in the order the
    /// collectors were added and the function appended them.
    @discardableResult
    public func addFamilyCollector(_ collect: @escaping @Sendable (inout [CollectedFamily]) -> Void)
        -> FamilyCollector
    {
        let collector = FamilyCollector(collect)
        lock.withLock {
            familyCollectors.append(collector)
            registrationSequence[ObjectIdentifier(collector)] = nextSequence
            nextSequence += 1
        }
        return collector
    }

    /// Removes a collector and waits for its calls in progress on other threads; it is never
    /// called again once this returns. Removing one that is not added (or twice) is refused.
    public func removeFamilyCollector(_ collector: FamilyCollector) throws(MetricError) {
        try removeFamilyCollector(at: Unmanaged.passUnretained(collector).toOpaque())
    }

    /// ``removeFamilyCollector(_:)`` by address, compared and never dereferenced: a C
    /// caller's stale handle may name a collector that is gone.
    package func removeFamilyCollector(at address: UnsafeRawPointer) throws(MetricError) {
        let removed = lock.withLock { () -> FamilyCollector? in
            guard
                let index = familyCollectors.firstIndex(where: {
                    UnsafeRawPointer(Unmanaged.passUnretained($0).toOpaque()) == address
                })
            else {
                return nil
            }
            registrationSequence[ObjectIdentifier(familyCollectors[index])] = nil
            return familyCollectors.remove(at: index)
        }
        guard let removed else { throw MetricError(.notFound, "the collector is not added to this registry") }
        removed.remove()
    }

    /// Removes every family collector, waiting for their calls in progress as
    /// ``removeFamilyCollector(_:)`` does.
    package func removeAllFamilyCollectors() {
        let removed = lock.withLock { () -> [FamilyCollector] in
            defer {
                for collector in familyCollectors { registrationSequence[ObjectIdentifier(collector)] = nil }
                familyCollectors.removeAll()
            }
            return familyCollectors
        }
        for collector in removed { collector.remove() }
    }

    /// The families of every family collector, in the order they were added (each called once).
    public func collectedFamilies() -> [CollectedFamily] {
        var families: [CollectedFamily] = []
        for collector in lock.withLock({ familyCollectors }) { collector.run(into: &families) }
        return families
    }

    /// What a rendering writes, in order: the families sorted by name and then the family
    /// collectors, or, in ``RenderingStyle/prometheusClient``, both in the order they were added.
    func renderItems(_ style: RenderingStyle) -> [RenderItem] {
        guard style == .prometheusClient else {
            let collectors = lock.withLock { familyCollectors }
            return sortedFamilies().map(RenderItem.family) + collectors.map(RenderItem.collector)
        }
        return lock.withLock {
            let items =
                families.values.map { (registrationSequence[ObjectIdentifier($0)] ?? 0, RenderItem.family($0)) }
                + familyCollectors.map { (registrationSequence[ObjectIdentifier($0)] ?? 0, RenderItem.collector($0)) }
            return items.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    package func runCollectors() {
        for collect in lock.withLock({ collectors }) { collect() }
        reportSeriesOverflows()
    }

    /// Brings `marty_metrics_series_overflow_total{metric}` up to each registered family's
    /// count of lookups past its cap; registered only once a family has overflowed.
    private func reportSeriesOverflows() {
        let overflowing = sortedFamilies().filter {
            $0.overflowedLookups > 0 && $0.name != SeriesLimit.overflowMetricName
        }
        if overflowing.isEmpty { return }
        attachmentLock.withLock {
            if overflowFamily == nil {
                overflowFamily = try? counter(
                    SeriesLimit.overflowMetricName,
                    help: "Lookups of a new label set that went to the family's overflow series, the family being at "
                        + "its series cap.",
                    labelNames: ["metric"])
                overflowFamily?.maximumSeries = 0  // one series per family of this registry
            }
            guard let overflowFamily else { return }
            for family in overflowing {
                guard let counter = try? overflowFamily.labels(family.name) else { continue }
                // The counter is reachable (family(named:)): whatever was added to it by hand,
                // the conversion below must not trap.
                let shown = counter.value
                guard shown >= 0, shown < 1.8e19 else { continue }
                let count = family.overflowedLookups
                if count > UInt64(shown) { counter.inc(by: count - UInt64(shown)) }
            }
        }
    }

    /// The object attached under `key`, made by `make` on first use. It lives as long as
    /// the registry: a cache keyed by the registry's address would hand a freed registry's
    /// objects to a new one at the same address.
    package func attachment<T: AnyObject>(_ key: String, orMake make: () throws(MetricError) -> T) throws(MetricError)
        -> T
    {
        try attachmentLock.withLock { () throws(MetricError) -> T in
            if let existing = attachments[key] { return existing as! T }
            let made = try make()
            attachments[key] = made
            return made
        }
    }

    /// The registered family with this (base) name.
    public func family(named name: String) -> MetricFamily? {
        lock.withLock { families[name] }
    }

    /// Registered families sorted by name.
    public func sortedFamilies() -> [MetricFamily] {
        lock.withLock {
            if let sortedCache { return sortedCache }
            let sorted = families.values.sorted { $0.name < $1.name }
            sortedCache = sorted
            return sorted
        }
    }

    private func describe(_ family: MetricFamily) -> String {
        let kind: String
        switch family.kind {
        case .counter: kind = "counter"
        case .gauge: kind = "gauge"
        case .histogram: kind = "histogram"
        case .info: kind = "info"
        case .summary: kind = "summary"
        }
        let labels = family.labelNames.isEmpty ? "" : " {\(family.labelNames.joined(separator: ", "))}"
        return "\(kind) \(family.name)\(labels)"
    }

    // MARK: Creating and registering families

    /// A counter family. A trailing `_total` is dropped, as prometheus_client does: the
    /// exposition adds it.
    public func counter(_ name: String, help: String, labelNames: [String] = []) throws(MetricError) -> CounterFamily {
        let base = name.hasSuffix("_total") ? String(name.dropLast(6)) : name
        return try add(CounterFamily(name: base, help: help, labelNames: labelNames, kind: .counter))
    }

    /// A gauge family.
    public func gauge(_ name: String, help: String, labelNames: [String] = []) throws(MetricError) -> GaugeFamily {
        try add(GaugeFamily(name: name, help: help, labelNames: labelNames, kind: .gauge))
    }

    /// A histogram family; `buckets` defaults to the Prometheus defaults, or to none (+Inf only)
    /// when `native` buckets are asked for, as in client_golang; both may be given.
    public func histogram(
        _ name: String, help: String, labelNames: [String] = [], buckets: HistogramBuckets? = nil,
        native: NativeHistogramOptions? = nil
    ) throws(MetricError) -> HistogramFamily {
        // Native without classic buckets named: native only, as client_golang does.
        let bounds = buckets.map(\.bounds) ?? (native == nil ? HistogramBuckets.defaultBounds : [])
        return try add(
            HistogramFamily(
                name: name, help: help, labelNames: labelNames, kind: .histogram, bucketBounds: bounds, native: native))
    }

    /// An info family, exposed as the gauge `<name>_info` with value 1 (as prometheus_client's
    /// `Info`, which also keeps a name that already ends in `_info`).
    public func info(_ name: String, help: String, labelNames: [String]) throws(MetricError) -> InfoFamily {
        try add(InfoFamily(name: name, help: help, labelNames: labelNames, kind: .info))
    }

    /// A summary family: the count and sum of observations, without quantiles, as
    /// prometheus_client's `Summary`. Its series are ``Histogram``s without bounds.
    public func summary(_ name: String, help: String, labelNames: [String] = []) throws(MetricError) -> SummaryFamily {
        try add(SummaryFamily(name: name, help: help, labelNames: labelNames, kind: .summary))
    }

    private func add<F: MetricFamily>(_ family: F) throws(MetricError) -> F {
        try register(family)
        return family
    }
}
