import CMartyShims

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

    static func warn(_ message: String) {
        if let handler = lock.withLock({ handler }) {
            handler(message)
        } else {
            var line = "marty-metrics: warning: " + message + "\n"
            line.withUTF8 { bytes in _ = cmarty_write_stderr(bytes.baseAddress, bytes.count) }
        }
    }
}
