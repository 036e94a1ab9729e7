// swift-format-ignore-file: AlwaysUseLowerCamelCase
// (the Swift functions carry the C names they export, as the header spells them)

import CMartyRecording
import CMartyShims
import MartyMetrics

// A series handle is the series' cells tagged with their generation (cmarty_make_handle):
// once the series is removed and freed, calls on the handle find the generation changed and
// record nothing. The recording calls on them are in C (Sources/CMartyRecording).

/// The shared body of the *_get calls.
@inline(__always)
private func getSeries(
    _ function: StaticString, _ expected: MetricKind, _ familyPointer: OpaquePointer?,
    _ values: UnsafePointer<UnsafePointer<CChar>?>?, _ count: Int, _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    guard let familyPointer else { return nullArgument(function, "family") }
    guard let out else { return nullArgument(function, "out") }
    if values == nil && count != 0 { return nullArgument(function, "label_values") }
    if count < 0 { return fail(MARTY_ERR_INVALID_ARGUMENT, "\(function): label_count is out of range") }
    // At +0: the caller's handle holds the family; a retain/release pair per lookup would make
    // every thread looking up in this family write its reference count.
    return Unmanaged<MetricFamily>.fromOpaque(UnsafeRawPointer(familyPointer))._withUnsafeGuaranteedRef { family in
        // A summary's series are histograms without bounds.
        guard family.kind == expected || (expected == .histogram && family.kind == .summary) else {
            return fail(MARTY_ERR_WRONG_KIND, "\(function): \(family.name) is a \(family.kind), not a \(expected)")
        }
        // Only a count that matches says how many values may be read.
        if count == family.labelNames.count {
            for index in 0..<count where values![index] == nil {
                return fail(MARTY_ERR_NULL_ARGUMENT, "\(function): label_values[\(index)] is NULL")
            }
        }
        do throws(MetricError) {
            let series = try family.series(nulTerminated: labelValues(values, count))
            out.pointee = handle(of: series)
            return MARTY_OK.code
        } catch {
            return fail(error, in: function)
        }
    }
}

@_cdecl("marty_counter_get")
public func marty_counter_get(
    _ family: OpaquePointer?, _ values: UnsafePointer<UnsafePointer<CChar>?>?, _ count: Int,
    _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    getSeries("marty_counter_get", .counter, family, values, count, out)
}

@_cdecl("marty_gauge_get")
public func marty_gauge_get(
    _ family: OpaquePointer?, _ values: UnsafePointer<UnsafePointer<CChar>?>?, _ count: Int,
    _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    getSeries("marty_gauge_get", .gauge, family, values, count, out)
}

@_cdecl("marty_histogram_get")
public func marty_histogram_get(
    _ family: OpaquePointer?, _ values: UnsafePointer<UnsafePointer<CChar>?>?, _ count: Int,
    _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    getSeries("marty_histogram_get", .histogram, family, values, count, out)
}

/// What a C caller's handle for `series` points at.
private func handle(of series: SeriesBase) -> OpaquePointer {
    switch series {
    case let counter as Counter: return OpaquePointer(cmarty_make_handle(counter.cells))
    case let gauge as Gauge: return OpaquePointer(cmarty_make_handle(gauge.cell))
    case let histogram as Histogram: return OpaquePointer(cmarty_make_handle(histogram.cells))
    default: return OpaquePointer(Unmanaged.passUnretained(series).toOpaque())
    }
}
