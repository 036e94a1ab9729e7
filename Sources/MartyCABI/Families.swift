// swift-format-ignore-file: AlwaysUseLowerCamelCase
// (the Swift functions carry the C names they export, as the header spells them)

import CMartyRecording
import MartyMetrics

// marty_family* is an Unmanaged<MetricFamily> holding the caller's reference.

func family(_ pointer: OpaquePointer) -> MetricFamily {
    Unmanaged<MetricFamily>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue()
}

/// The shared body of the *_family_new calls: checks the strings, builds, registers and
/// hands out a retained family.
func newFamily(
    _ function: StaticString, _ registryPointer: OpaquePointer?, _ name: UnsafePointer<CChar>?,
    _ help: UnsafePointer<CChar>?, _ labelNames: UnsafePointer<UnsafePointer<CChar>?>?, _ labelCount: Int,
    _ out: UnsafeMutablePointer<OpaquePointer?>?,
    _ make: (Registry, String, String, [String]) throws(MetricError) -> MetricFamily
) -> Int32 {
    guard let registryPointer else { return nullArgument(function, "registry") }
    guard let out else { return nullArgument(function, "out") }
    return catching(function) {
        let name = try string(name, function, "name").get()
        let help = try string(help, function, "help").get()
        let labelNames = try strings(labelNames, labelCount, function, "label_names").get()
        let created = try make(registry(registryPointer), name, help, labelNames)
        out.pointee = OpaquePointer(Unmanaged.passRetained(created).toOpaque())
    }
}

@_cdecl("marty_counter_family_new")
public func marty_counter_family_new(
    _ registry: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ help: UnsafePointer<CChar>?,
    _ labelNames: UnsafePointer<UnsafePointer<CChar>?>?, _ labelCount: Int, _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    newFamily("marty_counter_family_new", registry, name, help, labelNames, labelCount, out) {
        (registry, name, help, labels) throws(MetricError) in try registry.counter(name, help: help, labelNames: labels)
    }
}

@_cdecl("marty_gauge_family_new")
public func marty_gauge_family_new(
    _ registry: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ help: UnsafePointer<CChar>?,
    _ labelNames: UnsafePointer<UnsafePointer<CChar>?>?, _ labelCount: Int, _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    newFamily("marty_gauge_family_new", registry, name, help, labelNames, labelCount, out) {
        (registry, name, help, labels) throws(MetricError) in try registry.gauge(name, help: help, labelNames: labels)
    }
}

@_cdecl("marty_histogram_family_new")
public func marty_histogram_family_new(
    _ registry: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ help: UnsafePointer<CChar>?,
    _ labelNames: UnsafePointer<UnsafePointer<CChar>?>?, _ labelCount: Int, _ bounds: UnsafePointer<Double>?,
    _ boundCount: Int, _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    if bounds == nil && boundCount != 0 { return nullArgument("marty_histogram_family_new", "bounds") }
    // Checked before the bounds are read: a wrong count must not read past the caller's array.
    guard (0...HistogramBuckets.maximumBoundCount).contains(boundCount) else {
        return fail(
            MARTY_ERR_INVALID_BUCKETS,
            "marty_histogram_family_new: bound_count \(UInt(bitPattern: boundCount)) is more than the \(HistogramBuckets.maximumBoundCount) bounds a histogram may have"
        )
    }
    let given = bounds.map { Array(UnsafeBufferPointer(start: $0, count: boundCount)) }
    return newFamily("marty_histogram_family_new", registry, name, help, labelNames, labelCount, out) {
        (registry, name, help, labels) throws(MetricError) in
        let buckets = try given.map { (bounds) throws(MetricError) in try HistogramBuckets(bounds) }
        return try registry.histogram(name, help: help, labelNames: labels, buckets: buckets)
    }
}

@_cdecl("marty_summary_family_new")
public func marty_summary_family_new(
    _ registry: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ help: UnsafePointer<CChar>?,
    _ labelNames: UnsafePointer<UnsafePointer<CChar>?>?, _ labelCount: Int, _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    newFamily("marty_summary_family_new", registry, name, help, labelNames, labelCount, out) {
        (registry, name, help, labels) throws(MetricError) in try registry.summary(name, help: help, labelNames: labels)
    }
}

@_cdecl("marty_native_histogram_options_init")
public func marty_native_histogram_options_init(_ options: UnsafeMutablePointer<marty_native_histogram_options>?) {
    guard let options else { return }
    options.pointee = marty_native_histogram_options(
        struct_size: MemoryLayout<marty_native_histogram_options>.size, bucket_factor: 1.1,
        zero_threshold: NativeHistogramOptions.defaultZeroThreshold, max_bucket_count: 160)
}

@_cdecl("marty_native_histogram_family_new")
public func marty_native_histogram_family_new(
    _ registry: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ help: UnsafePointer<CChar>?,
    _ labelNames: UnsafePointer<UnsafePointer<CChar>?>?, _ labelCount: Int, _ bounds: UnsafePointer<Double>?,
    _ boundCount: Int, _ options: UnsafePointer<marty_native_histogram_options>?,
    _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    let function: StaticString = "marty_native_histogram_family_new"
    guard let options else { return nullArgument(function, "options") }
    guard options.pointee.struct_size == MemoryLayout<marty_native_histogram_options>.size else {
        return fail(
            MARTY_ERR_INVALID_ARGUMENT,
            "\(function): options.struct_size is \(options.pointee.struct_size), not \(MemoryLayout<marty_native_histogram_options>.size) (call marty_native_histogram_options_init)"
        )
    }
    if bounds == nil && boundCount != 0 { return nullArgument(function, "bounds") }
    guard (0...HistogramBuckets.maximumBoundCount).contains(boundCount) else {
        return fail(
            MARTY_ERR_INVALID_BUCKETS,
            "\(function): bound_count \(UInt(bitPattern: boundCount)) is more than the \(HistogramBuckets.maximumBoundCount) bounds a histogram may have"
        )
    }
    let given = bounds.map { Array(UnsafeBufferPointer(start: $0, count: boundCount)) } ?? []
    let native = options.pointee
    return newFamily(function, registry, name, help, labelNames, labelCount, out) {
        (registry, name, help, labels) throws(MetricError) in
        let nativeOptions = try NativeHistogramOptions(
            bucketFactor: native.bucket_factor, zeroThreshold: native.zero_threshold,
            maxBucketCount: Int(native.max_bucket_count))
        return try registry.histogram(
            name, help: help, labelNames: labels, buckets: HistogramBuckets(given), native: nativeOptions)
    }
}

@_cdecl("marty_info_family_new")
public func marty_info_family_new(
    _ registry: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ help: UnsafePointer<CChar>?,
    _ labelNames: UnsafePointer<UnsafePointer<CChar>?>?, _ labelCount: Int, _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    newFamily("marty_info_family_new", registry, name, help, labelNames, labelCount, out) {
        (registry, name, help, labels) throws(MetricError) in try registry.info(name, help: help, labelNames: labels)
    }
}

@_cdecl("marty_info_set")
public func marty_info_set(
    _ familyPointer: OpaquePointer?, _ values: UnsafePointer<UnsafePointer<CChar>?>?, _ count: Int
) -> Int32 {
    guard let familyPointer else { return nullArgument("marty_info_set", "family") }
    guard let info = family(familyPointer) as? InfoFamily else {
        return fail(MARTY_ERR_WRONG_KIND, "marty_info_set: \(family(familyPointer).name) is not an info family")
    }
    guard count == info.labelNames.count else {
        return fail(
            MARTY_ERR_LABEL_COUNT,
            "marty_info_set: \(info.name) has \(info.labelNames.count) label name(s) but \(count) value(s) were given")
    }
    return catching("marty_info_set") {
        try info.set(strings(values, count, "marty_info_set", "label_values").get())
    }
}

@_cdecl("marty_family_kind")
public func marty_family_kind(_ familyPointer: OpaquePointer?, _ out: UnsafeMutablePointer<Int32>?) -> Int32 {
    guard let familyPointer else { return nullArgument("marty_family_kind", "family") }
    guard let out else { return nullArgument("marty_family_kind", "out") }
    out.pointee = Int32(bitPattern: family(familyPointer).kind.headerValue.rawValue)
    return MARTY_OK.code
}

@_cdecl("marty_family_remove")
public func marty_family_remove(
    _ familyPointer: OpaquePointer?, _ values: UnsafePointer<UnsafePointer<CChar>?>?, _ count: Int
) -> Int32 {
    guard let familyPointer else { return nullArgument("marty_family_remove", "family") }
    if values == nil && count != 0 { return nullArgument("marty_family_remove", "label_values") }
    if count < 0 { return fail(MARTY_ERR_INVALID_ARGUMENT, "marty_family_remove: label_count is out of range") }
    if count == family(familyPointer).labelNames.count {
        for index in 0..<count where values![index] == nil {
            return fail(MARTY_ERR_NULL_ARGUMENT, "marty_family_remove: label_values[\(index)] is NULL")
        }
    }
    do {
        try family(familyPointer).remove(nulTerminated: labelValues(values, count))
        return MARTY_OK.code
    } catch {
        return fail(error, in: "marty_family_remove")
    }
}

@_cdecl("marty_family_set_created_timestamp")
public func marty_family_set_created_timestamp(
    _ familyPointer: OpaquePointer?, _ values: UnsafePointer<UnsafePointer<CChar>?>?, _ count: Int, _ seconds: Double
) -> Int32 {
    let function: StaticString = "marty_family_set_created_timestamp"
    guard let familyPointer else { return nullArgument(function, "family") }
    if values == nil && count != 0 { return nullArgument(function, "label_values") }
    if count < 0 { return fail(MARTY_ERR_INVALID_ARGUMENT, "\(function): label_count is out of range") }
    guard seconds.isFinite else {
        return fail(MARTY_ERR_INVALID_VALUE, "\(function): the timestamp \(seconds) is not finite")
    }
    if count == family(familyPointer).labelNames.count {
        for index in 0..<count where values![index] == nil {
            return fail(MARTY_ERR_NULL_ARGUMENT, "\(function): label_values[\(index)] is NULL")
        }
    }
    do throws(MetricError) {
        try family(familyPointer).existingSeries(nulTerminated: labelValues(values, count)).setCreatedTimestamp(seconds)
        return MARTY_OK.code
    } catch {
        return fail(error, in: function)
    }
}

@_cdecl("marty_family_set_unit")
public func marty_family_set_unit(_ familyPointer: OpaquePointer?, _ unit: UnsafePointer<CChar>?) -> Int32 {
    guard let familyPointer else { return nullArgument("marty_family_set_unit", "family") }
    return catching("marty_family_set_unit") {
        let unit = try unit.map { try string($0, "marty_family_set_unit", "unit").get() }
        if let unit, unit.contains(where: { $0 == " " || $0.isNewline }) {
            throw MetricError(.invalidName, "the unit \"\(unit)\" holds a space or a line break")
        }
        family(familyPointer).unit = unit
    }
}

@_cdecl("marty_family_clear")
public func marty_family_clear(_ familyPointer: OpaquePointer?) -> Int32 {
    guard let familyPointer else { return nullArgument("marty_family_clear", "family") }
    if family(familyPointer).isShared {
        return fail(
            MARTY_ERR_INVALID_ARGUMENT,
            "marty_family_clear: \(family(familyPointer).name) is shared by pre-fork workers: its series cannot be removed"
        )
    }
    family(familyPointer).clear()
    return MARTY_OK.code
}

@_cdecl("marty_set_process_max_series")
public func marty_set_process_max_series(_ maxSeries: Int) -> Int32 {
    guard maxSeries >= 0, maxSeries <= 1 << 62 else {
        return fail(
            MARTY_ERR_INVALID_ARGUMENT,
            "marty_set_process_max_series: max_series \(UInt(bitPattern: maxSeries)) is over 2^62 (0 means no cap)")
    }
    SeriesLimit.processWideMaximum = maxSeries
    return MARTY_OK.code
}

@_cdecl("marty_process_series")
public func marty_process_series(_ series: UnsafeMutablePointer<Int>?, _ maxSeries: UnsafeMutablePointer<Int>?) -> Int32
{
    series?.pointee = SeriesLimit.processWideSeries
    maxSeries?.pointee = SeriesLimit.processWideMaximum
    return MARTY_OK.code
}

@_cdecl("marty_family_set_max_series")
public func marty_family_set_max_series(_ familyPointer: OpaquePointer?, _ maxSeries: Int) -> Int32 {
    guard let familyPointer else { return nullArgument("marty_family_set_max_series", "family") }
    // size_t arrives as Int: a value over 2^63 shows as negative, and 2^62 is far past any cap.
    guard maxSeries >= 0, maxSeries <= 1 << 62 else {
        return fail(
            MARTY_ERR_INVALID_ARGUMENT,
            "marty_family_set_max_series: max_series \(UInt(bitPattern: maxSeries)) is over 2^62 (0 means no cap)")
    }
    family(familyPointer).maximumSeries = maxSeries
    return MARTY_OK.code
}

@_cdecl("marty_family_max_series")
public func marty_family_max_series(_ familyPointer: OpaquePointer?, _ out: UnsafeMutablePointer<Int>?) -> Int32 {
    guard let familyPointer else { return nullArgument("marty_family_max_series", "family") }
    guard let out else { return nullArgument("marty_family_max_series", "out") }
    out.pointee = family(familyPointer).maximumSeries
    return MARTY_OK.code
}

@_cdecl("marty_family_overflowed_lookups")
public func marty_family_overflowed_lookups(
    _ familyPointer: OpaquePointer?, _ out: UnsafeMutablePointer<UInt64>?
) -> Int32 {
    guard let familyPointer else { return nullArgument("marty_family_overflowed_lookups", "family") }
    guard let out else { return nullArgument("marty_family_overflowed_lookups", "out") }
    out.pointee = family(familyPointer).overflowedLookups
    return MARTY_OK.code
}

@_cdecl("marty_set_warning_callback")
public func marty_set_warning_callback(_ callback: marty_warning_callback?, _ userData: UnsafeMutableRawPointer?)
    -> Int32
{
    guard let callback else {
        MetricsWarnings.setHandler(nil)
        return MARTY_OK.code
    }
    let receiver = WarningReceiver(function: callback, userData: userData)
    MetricsWarnings.setHandler { message in
        message.withCString { receiver.function(receiver.userData, $0) }
    }
    return MARTY_OK.code
}

// @unchecked Sendable: the caller's function and pointer, which the header says may be called from any thread.
private struct WarningReceiver: @unchecked Sendable {
    let function: marty_warning_callback
    let userData: UnsafeMutableRawPointer?
}

@_cdecl("marty_family_release")
public func marty_family_release(_ familyPointer: OpaquePointer?) -> Int32 {
    guard let familyPointer else { return nullArgument("marty_family_release", "family") }
    Unmanaged<MetricFamily>.fromOpaque(UnsafeRawPointer(familyPointer)).release()
    return MARTY_OK.code
}

/// Label values as the core's byte-string view, without copying.
func labelValues(_ values: UnsafePointer<UnsafePointer<CChar>?>?, _ count: Int) -> UnsafeBufferPointer<
    UnsafePointer<UInt8>?
> {
    guard let values, count > 0 else { return UnsafeBufferPointer(start: nil, count: 0) }
    return UnsafeBufferPointer(
        start: UnsafeRawPointer(values).assumingMemoryBound(to: UnsafePointer<UInt8>?.self), count: count)
}
