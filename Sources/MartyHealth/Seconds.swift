import MartyMetrics

/// Checks a duration given in seconds (time limits, times to live, idle times, grace
/// periods) and converts it to nanoseconds, so that no later conversion can trap.
///
/// NaN, ±infinity, negative values (and zero unless `allowZero`) and values over `maximum`
/// are refused with `.invalidArgument` and a message naming the argument.
package enum Seconds {
    /// The longest duration accepted anywhere: 10⁹ s (about 31.7 years). Its nanoseconds
    /// (10¹⁸) fit in an Int64 with room to add a monotonic clock reading.
    package static let maximum = 1e9

    package static func nanoseconds(
        _ seconds: Double, _ what: String, allowZero: Bool = false
    ) throws(MetricError) -> UInt64 {
        guard seconds.isFinite else {
            throw MetricError(.invalidArgument, "\(what) must be a finite number of seconds, got \(seconds)")
        }
        guard allowZero ? seconds >= 0 : seconds > 0 else {
            throw MetricError(
                .invalidArgument, "\(what) must be \(allowZero ? "zero or more" : "positive") seconds, got \(seconds)")
        }
        guard seconds <= maximum else {
            throw MetricError(.invalidArgument, "\(what) must be at most 1e9 seconds, got \(seconds)")
        }
        let nanoseconds = (seconds * 1e9).rounded(.up)
        return seconds > 0 ? max(1, UInt64(nanoseconds)) : 0
    }
}
