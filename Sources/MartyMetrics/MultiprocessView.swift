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
    /// `families` sorted by name, until the next family is adopted.
    private var sortedFamilies: [MetricFamily]?
    private var adoptedSeries = 0
    /// Per-process gauge entries, by family index.
    private var processGauges: [Int: ProcessGauges] = [:]
    /// The processes those entries belong to, and where each is in `living`.
    private var pids: [Int32] = []
    private var pidSlots: [Int32: Int] = [:]

    /// The per-process values of one gauge family, in flat arrays: a refresh folds tens of
    /// thousands of them (64 recycled workers with 1k series each) in one pass.
    private struct ProcessGauges {
        var cells: [UnsafeMutablePointer<UInt64>] = []
        var deadFlags: [UnsafePointer<UInt32>] = []
        /// Entries of one process made one after another (a worker makes its series in a
        /// burst): the `live` modes skip a dead process' run without reading its entries.
        var runs: [(pidSlot: Int, entries: Range<Int>)] = []
        /// Each entry's label set, an index into `labelSets`.
        var labelSetIndices: [Int] = []
        var labelSets: [[[UInt8]]] = []
        var labelSetIndex: [[[UInt8]]: Int] = [:]
        /// Modes `all` and `liveall`: each entry's pid and created time, and its series while shown.
        var entryPids: [Int32] = []
        var created: [Double] = []
        var shown: [SeriesBase?] = []
        /// The other modes: each label set's folded series while shown.
        var folded: [Gauge?] = []
    }

    /// The view's families, sorted by name, after adopting what the segment gained.
    func refreshedFamilies() -> [MetricFamily] {
        lock.withLock {
            adoptNewFamilies()
            adoptNewSeries()
            refreshProcessGauges()
            if let sortedFamilies { return sortedFamilies }
            let sorted = families.compactMap { $0 }.sorted { $0.name < $1.name }
            sortedFamilies = sorted
            return sorted
        }
    }

    private func adoptNewFamilies() {
        let count = cmarty_mp_family_count()
        while families.count < count {
            var length = 0
            var nameLength = 0
            let bytes = cmarty_mp_family_definition(families.count, &length, &nameLength)!
            let definition = SharedFamily.Definition(
                bytes: UnsafeBufferPointer(start: bytes, count: length), nameLength: nameLength)
            families.append(definition.flatMap(Self.makeFamily))
            modes.append(definition?.gaugeMode ?? .all)
            sortedFamilies = nil
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
                var gauges = processGauges[familyIndex] ?? ProcessGauges()
                processGauges[familyIndex] = nil  // no copy on write below
                let pidSlot: Int
                if let known = pidSlots[entry.pid] {
                    pidSlot = known
                } else {
                    pidSlot = pids.count
                    pids.append(entry.pid)
                    pidSlots[entry.pid] = pidSlot
                }
                let labelSet: Int
                if let known = gauges.labelSetIndex[values] {
                    labelSet = known
                } else {
                    labelSet = gauges.labelSets.count
                    gauges.labelSets.append(values)
                    gauges.labelSetIndex[values] = labelSet
                    gauges.folded.append(nil)
                }
                let position = gauges.cells.count
                if let last = gauges.runs.last, last.pidSlot == pidSlot, last.entries.upperBound == position {
                    gauges.runs[gauges.runs.count - 1].entries = last.entries.lowerBound..<position + 1
                } else {
                    gauges.runs.append((pidSlot, position..<position + 1))
                }
                gauges.cells.append(entry.cells)
                gauges.deadFlags.append(entry.dead)
                gauges.labelSetIndices.append(labelSet)
                gauges.entryPids.append(entry.pid)
                gauges.created.append(entry.created)
                gauges.shown.append(nil)
                processGauges[familyIndex] = gauges
            }
        }
    }

    private func refreshProcessGauges() {
        if processGauges.isEmpty { return }
        // One kill(pid, 0) per process, not per entry.
        let living = pids.map { cmarty_mp_process_exists($0) != 0 }
        for familyIndex in Array(processGauges.keys) {
            guard let family = families[familyIndex], var gauges = processGauges[familyIndex] else { continue }
            processGauges[familyIndex] = nil  // no copy on write below
            let mode = modes[familyIndex]
            let livingOnly = mode.showsLivingOnly
            if mode.showsEachProcess {
                for run in gauges.runs {
                    let processLives = living[run.pidSlot]
                    for entry in run.entries {
                        let show = !livingOnly || (processLives && cmarty_mp_is_dead(gauges.deadFlags[entry]) == 0)
                        if show && gauges.shown[entry] == nil {
                            let pid = Array(String(gauges.entryPids[entry]).utf8)
                            gauges.shown[entry] = family.adopt(
                                gauges.labelSets[gauges.labelSetIndices[entry]] + [pid], cells: gauges.cells[entry],
                                created: gauges.created[entry])
                        } else if !show, let shown = gauges.shown[entry] {
                            family.unlink(shown)
                            gauges.shown[entry] = nil
                        }
                    }
                }
            } else {
                fold(&gauges, into: family, mode: mode, living: living)
            }
            processGauges[familyIndex] = gauges
        }
    }

    /// Min, max or sum over each label set's entries (the living ones for the `live` modes),
    /// written into the view's series of that label set; a label set without one is unlinked.
    private func fold(
        _ gauges: inout ProcessGauges, into family: MetricFamily, mode: GaugeMultiprocessMode, living: [Bool]
    ) {
        let livingOnly = mode.showsLivingOnly
        var values = [Double](repeating: 0, count: gauges.labelSets.count)
        var seen = [Bool](repeating: false, count: gauges.labelSets.count)
        for run in gauges.runs where !livingOnly || living[run.pidSlot] {
            for entry in run.entries {
                if livingOnly && cmarty_mp_is_dead(gauges.deadFlags[entry]) != 0 { continue }
                let value = cmarty_load_double(gauges.cells[entry])
                let labelSet = gauges.labelSetIndices[entry]
                if !seen[labelSet] {
                    values[labelSet] = value
                    seen[labelSet] = true
                    continue
                }
                switch mode {
                case .min, .livemin: values[labelSet] = Swift.min(values[labelSet], value)
                case .max, .livemax: values[labelSet] = Swift.max(values[labelSet], value)
                default: values[labelSet] += value
                }
            }
        }
        for labelSet in gauges.labelSets.indices {
            if !seen[labelSet] {
                if let series = gauges.folded[labelSet] {
                    family.unlink(series)
                    gauges.folded[labelSet] = nil
                }
                continue
            }
            if gauges.folded[labelSet] == nil,
                let series = family.adopt(gauges.labelSets[labelSet], cells: nil, created: cmarty_unix_time())
            {
                gauges.folded[labelSet] = unsafeDowncast(series, to: Gauge.self)
            }
            gauges.folded[labelSet]?.set(values[labelSet])
        }
    }

    /// The label values of a series key (each value followed by 0xFF).
    private static func labelValues(_ key: UnsafeBufferPointer<UInt8>) -> [[UInt8]] {
        key.split(separator: 0xFF, omittingEmptySubsequences: false).dropLast().map { Array($0) }
    }
}
