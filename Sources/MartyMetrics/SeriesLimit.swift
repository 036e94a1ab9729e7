import CMartyShims
import Synchronization

/// The cap on how many series one family holds, so that one unbounded label (a user id, a
/// URL with ids in it) cannot grow a process' memory and its Prometheus without end.
///
/// A label set that would create a series past the cap records into the family's one
/// overflow series instead, whose label values are all ``overflowLabelValue``: totals are
/// never lost. Each such lookup is counted in `marty_metrics_series_overflow_total{metric="…"}`,
/// rendered by the registry of the family, and the first one of each family is reported once
/// through ``MetricsWarnings``.
public enum SeriesLimit {
    /// The value that stands for every label of a family's overflow series.
    public static let overflowLabelValue = "__overflow__"

    /// The cap a family starts with: `MARTY_METRICS_MAX_SERIES_PER_FAMILY` when it is a whole
    /// number (0 means no cap), else 10,000. Read once, at the first family.
    public static let defaultPerFamily: Int = cmarty_environment_count(
        "MARTY_METRICS_MAX_SERIES_PER_FAMILY", 10_000)

    /// The name of the counter of lookups that went to an overflow series.
    static let overflowMetricName = "marty_metrics_series_overflow"

    private static let processCap = Atomic<Int>(cmarty_environment_count("MARTY_METRICS_MAX_SERIES", 0))
    private static let processLive = Atomic<Int>(0)

    /// The most series all families of the process hold together (0: no cap, the default;
    /// `MARTY_METRICS_MAX_SERIES` sets it at start-up). Past it, a labelled family's new label
    /// sets record into that family's overflow series, as past its own cap. Series already
    /// made stay when it is lowered; any thread may change it.
    public static var processWideMaximum: Int {
        get { processCap.load(ordering: .relaxed) }
        set { processCap.store(max(0, newValue), ordering: .relaxed) }
    }

    /// The series that families of this process hold now (those removed, cleared, or of
    /// families that are gone are not counted).
    public static var processWideSeries: Int { processLive.load(ordering: .relaxed) }

    /// Whether the process is at its cap; called with a family's lock held, before a series is made.
    static func processIsFull() -> Bool {
        let cap = processCap.load(ordering: .relaxed)
        return cap > 0 && processLive.load(ordering: .relaxed) >= cap
    }

    static func seriesMade(_ count: Int = 1) { processLive.add(count, ordering: .relaxed) }
    static func seriesGone(_ count: Int) { processLive.subtract(count, ordering: .relaxed) }
}

/// Where the library's rare warnings go: today only a family's first lookup past its series
/// cap, once per family. Standard error by default; a host that logs elsewhere sets a handler.
public enum MetricsWarnings {
    private static let lock = Lock(.leaf)
    nonisolated(unsafe) private static var handler: (@Sendable (String) -> Void)? = nil

    /// Sends warnings to `handler` (nil: back to standard error). The handler runs on the
    /// thread that caused the warning, holding no lock of the library; it may be called
    /// from several threads at once.
    public static func setHandler(_ handler: (@Sendable (String) -> Void)?) {
        lock.withLock { Self.handler = handler }
    }

    package static func warn(_ message: String) {
        if let handler = lock.withLock({ handler }) {
            handler(message)
        } else {
            var line = "marty-metrics: warning: " + message + "\n"
            line.withUTF8 { bytes in _ = cmarty_write_stderr(bytes.baseAddress, bytes.count) }
        }
    }
}
