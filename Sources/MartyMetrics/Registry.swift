import Synchronization

/// A set of families that are rendered together. `Registry.default` is the process-wide
/// one; independent registries are for tests and for libraries that keep their own.
// @unchecked Sendable: families, collectors and attachments are guarded by `lock` and `attachmentLock`.
public final class Registry: @unchecked Sendable {
    /// The process-wide registry. With `MARTY_METRICS_MULTIPROCESS=1` in the environment when
    /// it is first used, pre-fork workers share its families (see ``Multiprocess``).
    public static let `default`: Registry = {
        Multiprocess.enableFromEnvironment()
        return Registry()
    }()

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
    /// What the segment of pre-fork workers holds, for the default registry once it is made.
    /// Guarded by `attachmentLock`.
    private var multiprocessView: MultiprocessView?

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
        // Shared families are rendered from the view, which holds every process' series.
        let view = sharedView()?.refreshedFamilies()
        guard style == .prometheusClient else {
            let collectors = lock.withLock { familyCollectors }
            var rendered = sortedFamilies()
            if let view { rendered = Self.merged(rendered.filter { !$0.isShared }, view) }
            return rendered.map(RenderItem.family) + collectors.map(RenderItem.collector)
        }
        let items = lock.withLock {
            let items =
                families.values.filter { view == nil || !$0.isShared }.map {
                    (registrationSequence[ObjectIdentifier($0)] ?? 0, RenderItem.family($0))
                }
                + familyCollectors.map { (registrationSequence[ObjectIdentifier($0)] ?? 0, RenderItem.collector($0)) }
            return items.sorted { $0.0 < $1.0 }.map(\.1)
        }
        return items + (view ?? []).map(RenderItem.family)
    }

    /// Two lists of families sorted by name, merged into one.
    private static func merged(_ left: [MetricFamily], _ right: [MetricFamily]) -> [MetricFamily] {
        var merged: [MetricFamily] = []
        merged.reserveCapacity(left.count + right.count)
        var (l, r) = (0, 0)
        while l < left.count || r < right.count {
            if r == right.count || (l < left.count && left[l].name < right[r].name) {
                merged.append(left[l])
                l += 1
            } else {
                merged.append(right[r])
                r += 1
            }
        }
        return merged
    }

    /// The default registry's view of the segment that pre-fork workers share, once there is one.
    private func sharedView() -> MultiprocessView? {
        guard Multiprocess.isEnabled, self === Registry.default else { return nil }
        return attachmentLock.withLock {
            if let multiprocessView { return multiprocessView }
            let made = MultiprocessView()
            multiprocessView = made
            return made
        }
    }

    /// The segment's family for a family this registry makes, when pre-fork workers share it;
    /// nil for other registries, or without a segment.
    private func sharing(
        _ name: String, _ kind: MetricKind, _ labelNames: [String], _ help: String, bounds: [Double] = [],
        mode: GaugeMultiprocessMode = .all, acrossProcesses: Bool = true
    ) throws(MetricError) -> SharedFamily? {
        guard acrossProcesses, Multiprocess.isEnabled, self === Registry.default else { return nil }
        // Checked before the segment keeps the definition: a name refused here must not be one
        // that other processes then have to agree with.
        try Naming.checkMetricName(name)
        try Naming.checkLabelNames(labelNames, kind: kind, metric: name)
        if kind == .gauge && mode.showsEachProcess && labelNames.contains("pid") {
            throw MetricError(
                .invalidLabel,
                "label name \"pid\" of \(name) is the one its multiprocess mode \(mode.rawValue) adds; name it otherwise "
                    + "or choose another mode")
        }
        let shared = try SharedFamily.join(
            SharedFamily.Definition(
                name: name, kind: kind, gaugeMode: mode, labelNames: labelNames, bounds: bounds, help: help))
        if kind == .gauge && mode.keepsValuePerProcess { Self.forgetParentGaugesInChildren() }
        return shared
    }

    private static let childGaugeHandler: Void = ForkHandlers.addChildHandler {
        for family in Registry.default.sortedFamilies() { family.forgetParentSeriesInChild() }
    }

    private static func forgetParentGaugesInChildren() { _ = childGaugeHandler }

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
                    labelNames: ["metric"], acrossProcesses: false)
                overflowFamily?.maximumSeries = 0  // one series per family of this registry
                if let family = overflowFamily { family.lock.withLock { family.obeysProcessCap = false } }
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
        try counter(name, help: help, labelNames: labelNames, acrossProcesses: true)
    }

    /// A counter family that stays in this process even when pre-fork workers share the
    /// default registry (the library's own: the process collector's).
    package func counter(_ name: String, help: String, labelNames: [String] = [], acrossProcesses: Bool)
        throws(MetricError) -> CounterFamily
    {
        let base = name.hasSuffix("_total") ? String(name.dropLast(6)) : name
        let shared = try sharing(base, .counter, labelNames, help, acrossProcesses: acrossProcesses)
        return try add(CounterFamily(name: base, help: help, labelNames: labelNames, kind: .counter, shared: shared))
    }

    /// A gauge family. `multiprocessMode` says how a scrape shows the values of pre-fork
    /// workers when they share the default registry (prometheus_client's `multiprocess_mode`);
    /// otherwise it is not used.
    public func gauge(
        _ name: String, help: String, labelNames: [String] = [], multiprocessMode: GaugeMultiprocessMode = .all
    ) throws(MetricError) -> GaugeFamily {
        try gauge(name, help: help, labelNames: labelNames, multiprocessMode: multiprocessMode, acrossProcesses: true)
    }

    /// A gauge family that stays in this process when `acrossProcesses` is false, even when
    /// pre-fork workers share the default registry.
    package func gauge(
        _ name: String, help: String, labelNames: [String] = [], multiprocessMode: GaugeMultiprocessMode = .all,
        acrossProcesses: Bool
    ) throws(MetricError) -> GaugeFamily {
        let shared = try sharing(
            name, .gauge, labelNames, help, mode: multiprocessMode, acrossProcesses: acrossProcesses)
        return try add(GaugeFamily(name: name, help: help, labelNames: labelNames, kind: .gauge, shared: shared))
    }

    /// A histogram family; `buckets` defaults to the Prometheus defaults, or to none (+Inf only)
    /// when `native` buckets are asked for, as in client_golang; both may be given.
    public func histogram(
        _ name: String, help: String, labelNames: [String] = [], buckets: HistogramBuckets? = nil,
        native: NativeHistogramOptions? = nil
    ) throws(MetricError) -> HistogramFamily {
        // Native without classic buckets named: native only, as client_golang does.
        let bounds = buckets.map(\.bounds) ?? (native == nil ? HistogramBuckets.defaultBounds : [])
        if native != nil && Multiprocess.isEnabled && self === Registry.default {
            throw MetricError(
                .invalidArgument,
                "\(name): native histograms are not kept in the segment that pre-fork workers share; use classic buckets"
            )
        }
        let shared = try sharing(name, .histogram, labelNames, help, bounds: bounds)
        return try add(
            HistogramFamily(
                name: name, help: help, labelNames: labelNames, kind: .histogram, bucketBounds: bounds, native: native,
                shared: shared))
    }

    /// An info family, exposed as the gauge `<name>_info` with value 1 (as prometheus_client's
    /// `Info`, which also keeps a name that already ends in `_info`).
    public func info(_ name: String, help: String, labelNames: [String]) throws(MetricError) -> InfoFamily {
        try add(InfoFamily(name: name, help: help, labelNames: labelNames, kind: .info))
    }

    /// A summary family: the count and sum of observations, without quantiles, as
    /// prometheus_client's `Summary`. Its series are ``Histogram``s without bounds.
    public func summary(_ name: String, help: String, labelNames: [String] = []) throws(MetricError) -> SummaryFamily {
        let shared = try sharing(name, .summary, labelNames, help)
        return try add(SummaryFamily(name: name, help: help, labelNames: labelNames, kind: .summary, shared: shared))
    }

    private func add<F: MetricFamily>(_ family: F) throws(MetricError) -> F {
        try register(family)
        return family
    }
}
