import CMartyShims

/// What ``Registry/default`` renders for the families that pre-fork workers share: one family
/// per definition in the segment, whose series point at the segment's cells.
///
/// Each refresh (before every rendering) adopts only the series appended since the last one,
/// so a scrape costs what a scrape of the same series in one process costs. Counters,
/// histograms and summaries of every process, living or dead, share cells and need no
/// summing. Gauges whose processes keep values of their own are shown per process (`all`,
/// `liveall`) or folded into one value per label set, recomputed at each refresh.
final class MultiprocessView: @unchecked Sendable {
    // @unchecked Sendable: every field is guarded by `lock`.
    private let lock = Lock(.registryAttachments)
    /// Families by their index in the segment; nil where the definition could not be read.
    private var families: [MetricFamily?] = []
    private var modes: [GaugeMultiprocessMode] = []
    private var adoptedSeries = 0
    /// Per-process gauge entries, by family index.
    private var processGauges: [Int: [ProcessGauge]] = [:]
    /// The folded series of the min/max/sum modes, by family index and key.
    private var folded: [Int: [[[UInt8]]: Gauge]] = [:]

    private struct ProcessGauge {
        let pid: Int32
        let labelValues: [[UInt8]]
        let cell: UnsafeMutablePointer<UInt64>
        let entry: Int
        let created: Double
        /// The view's series for it (modes `all` and `liveall`), while shown.
        var shown: SeriesBase?
    }

    /// The view's families, sorted by name, after adopting what the segment gained.
    func refreshedFamilies() -> [MetricFamily] {
        lock.withLock {
            adoptNewFamilies()
            adoptNewSeries()
            refreshProcessGauges()
            return families.compactMap { $0 }.sorted { $0.name < $1.name }
        }
    }

    private func adoptNewFamilies() {
        let count = cmarty_mp_family_count()
        while families.count < count {
            var length = 0
            let bytes = cmarty_mp_family_definition(families.count, &length)!
            let definition = SharedFamily.Definition(bytes: UnsafeBufferPointer(start: bytes, count: length))
            families.append(definition.flatMap(Self.makeFamily))
            modes.append(definition?.gaugeMode ?? .all)
        }
    }

    private static func makeFamily(_ definition: SharedFamily.Definition) -> MetricFamily? {
        let mode = definition.gaugeMode
        let labelNames =
            definition.kind == .gauge && mode.showsEachProcess ? definition.labelNames + ["pid"] : definition.labelNames
        let family = try? MetricFamily(
            name: definition.name, help: definition.help, labelNames: labelNames, kind: definition.kind,
            bucketBounds: definition.bounds, isMultiprocessView: true)
        family?.maximumSeries = 0
        family?.lock.withLock { family?.obeysProcessCap = false }
        return family
    }

    private func adoptNewSeries() {
        let count = cmarty_mp_series_count()
        var entry = cmarty_mp_series_entry()
        while adoptedSeries < count {
            let index = adoptedSeries
            adoptedSeries += 1
            cmarty_mp_series_at(index, &entry)
            let familyIndex = Int(entry.family)
            guard familyIndex < families.count, let family = families[familyIndex] else { continue }
            let key = UnsafeBufferPointer(start: entry.key, count: entry.key_length)
            let values = Self.labelValues(key)
            if entry.pid == 0 {
                family.adopt(values, cells: entry.cells, created: entry.created)
            } else {
                // A gauge value of one process: shown or folded at each refresh.
                processGauges[familyIndex, default: []].append(
                    ProcessGauge(
                        pid: entry.pid, labelValues: values, cell: entry.cells, entry: index, created: entry.created,
                        shown: nil))
            }
        }
    }

    private func refreshProcessGauges() {
        var alive: [Int32: Bool] = [:]
        func isLiving(_ gauge: ProcessGauge) -> Bool {
            var entry = cmarty_mp_series_entry()
            cmarty_mp_series_at(gauge.entry, &entry)
            if entry.dead != 0 { return false }
            if let known = alive[gauge.pid] { return known }
            let living = cmarty_mp_process_exists(gauge.pid) != 0
            alive[gauge.pid] = living
            return living
        }
        for (familyIndex, gauges) in processGauges {
            guard let family = families[familyIndex] else { continue }
            let mode = modes[familyIndex]
            if mode.showsEachProcess {
                var updated = gauges
                for (position, gauge) in gauges.enumerated() {
                    let show = !mode.showsLivingOnly || isLiving(gauge)
                    if show && gauge.shown == nil {
                        updated[position].shown = family.adopt(
                            gauge.labelValues + [Array(String(gauge.pid).utf8)], cells: gauge.cell,
                            created: gauge.created)
                    } else if !show, let shown = gauge.shown {
                        family.unlink(shown)
                        updated[position].shown = nil
                    }
                }
                processGauges[familyIndex] = updated
                continue
            }
            var values: [[[UInt8]]: Double] = [:]
            for gauge in gauges where !mode.showsLivingOnly || isLiving(gauge) {
                let value = cmarty_load_double(gauge.cell)
                if let current = values[gauge.labelValues] {
                    switch mode {
                    case .min, .livemin: values[gauge.labelValues] = Swift.min(current, value)
                    case .max, .livemax: values[gauge.labelValues] = Swift.max(current, value)
                    default: values[gauge.labelValues] = current + value
                    }
                } else {
                    values[gauge.labelValues] = value
                }
            }
            var shown = folded[familyIndex, default: [:]]
            for (key, series) in shown where values[key] == nil {
                family.unlink(series)
                shown[key] = nil
            }
            for (key, value) in values {
                if shown[key] == nil, let series = family.adopt(key, cells: nil, created: cmarty_unix_time()) {
                    shown[key] = unsafeDowncast(series, to: Gauge.self)
                }
                shown[key]?.set(value)
            }
            folded[familyIndex] = shown
        }
    }

    /// The label values of a series key (each value followed by 0xFF).
    private static func labelValues(_ key: UnsafeBufferPointer<UInt8>) -> [[UInt8]] {
        key.split(separator: 0xFF, omittingEmptySubsequences: false).dropLast().map { Array($0) }
    }
}
