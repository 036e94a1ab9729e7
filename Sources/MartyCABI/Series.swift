// swift-format-ignore-file: AlwaysUseLowerCamelCase
// (the Swift functions carry the C names they export, as the header spells them)

import MartyMetrics

// Series handles are unretained pointers to Counter, Gauge and Histogram objects, borrowed
// from their family (which never frees a series while it lives). The recording calls below
// are the hot path: a NULL check, then the core's lock-free, allocation-free operation.

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
    return Unmanaged<MetricFamily>.fromOpaque(UnsafeRawPointer(familyPointer))._withUnsafeGuaranteedRef { family in
        guard family.kind == expected else {
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
            out.pointee = OpaquePointer(Unmanaged.passUnretained(series).toOpaque())
            return MARTY_OK
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

// MARK: Counters

@inline(__always)
private func withCounter(_ pointer: OpaquePointer, _ body: (Counter) -> Int32) -> Int32 {
    Unmanaged<Counter>.fromOpaque(UnsafeRawPointer(pointer))._withUnsafeGuaranteedRef(body)
}

@_cdecl("marty_counter_inc")
public func marty_counter_inc(_ counter: OpaquePointer?) -> Int32 {
    guard let counter else { return nullArgument("marty_counter_inc", "counter") }
    return withCounter(counter) {
        $0.inc()
        return MARTY_OK
    }
}

@_cdecl("marty_counter_add_int")
public func marty_counter_add_int(_ counter: OpaquePointer?, _ amount: UInt64) -> Int32 {
    guard let counter else { return nullArgument("marty_counter_add_int", "counter") }
    return withCounter(counter) {
        $0.inc(by: amount)
        return MARTY_OK
    }
}

@_cdecl("marty_counter_add")
public func marty_counter_add(_ counter: OpaquePointer?, _ amount: Double) -> Int32 {
    guard let counter else { return nullArgument("marty_counter_add", "counter") }
    return withCounter(counter) {
        do throws(MetricError) {
            try $0.add(amount)
            return MARTY_OK
        } catch {
            return fail(error, in: "marty_counter_add")
        }
    }
}

@_cdecl("marty_counter_value")
public func marty_counter_value(_ counter: OpaquePointer?, _ out: UnsafeMutablePointer<Double>?) -> Int32 {
    guard let counter else { return nullArgument("marty_counter_value", "counter") }
    guard let out else { return nullArgument("marty_counter_value", "out") }
    return withCounter(counter) {
        out.pointee = $0.value
        return MARTY_OK
    }
}

// MARK: Gauges

@inline(__always)
private func withGauge(_ pointer: OpaquePointer, _ body: (Gauge) -> Void) -> Int32 {
    Unmanaged<Gauge>.fromOpaque(UnsafeRawPointer(pointer))._withUnsafeGuaranteedRef(body)
    return MARTY_OK
}

@_cdecl("marty_gauge_set")
public func marty_gauge_set(_ gauge: OpaquePointer?, _ value: Double) -> Int32 {
    guard let gauge else { return nullArgument("marty_gauge_set", "gauge") }
    return withGauge(gauge) { $0.set(value) }
}

@_cdecl("marty_gauge_inc")
public func marty_gauge_inc(_ gauge: OpaquePointer?) -> Int32 {
    guard let gauge else { return nullArgument("marty_gauge_inc", "gauge") }
    return withGauge(gauge) { $0.inc() }
}

@_cdecl("marty_gauge_dec")
public func marty_gauge_dec(_ gauge: OpaquePointer?) -> Int32 {
    guard let gauge else { return nullArgument("marty_gauge_dec", "gauge") }
    return withGauge(gauge) { $0.dec() }
}

@_cdecl("marty_gauge_add")
public func marty_gauge_add(_ gauge: OpaquePointer?, _ amount: Double) -> Int32 {
    guard let gauge else { return nullArgument("marty_gauge_add", "gauge") }
    return withGauge(gauge) { $0.add(amount) }
}

@_cdecl("marty_gauge_set_to_current_time")
public func marty_gauge_set_to_current_time(_ gauge: OpaquePointer?) -> Int32 {
    guard let gauge else { return nullArgument("marty_gauge_set_to_current_time", "gauge") }
    return withGauge(gauge) { $0.setToCurrentTime() }
}

@_cdecl("marty_gauge_value")
public func marty_gauge_value(_ gauge: OpaquePointer?, _ out: UnsafeMutablePointer<Double>?) -> Int32 {
    guard let gauge else { return nullArgument("marty_gauge_value", "gauge") }
    guard let out else { return nullArgument("marty_gauge_value", "out") }
    return withGauge(gauge) { out.pointee = $0.value }
}

// MARK: Histograms

@_cdecl("marty_histogram_observe")
public func marty_histogram_observe(_ histogram: OpaquePointer?, _ value: Double) -> Int32 {
    guard let histogram else { return nullArgument("marty_histogram_observe", "histogram") }
    return Unmanaged<Histogram>.fromOpaque(UnsafeRawPointer(histogram))._withUnsafeGuaranteedRef {
        do throws(MetricError) {
            try $0.observe(value)
            return MARTY_OK
        } catch {
            return fail(error, in: "marty_histogram_observe")
        }
    }
}

@_cdecl("marty_histogram_read")
public func marty_histogram_read(
    _ histogram: OpaquePointer?, _ cumulativeCounts: UnsafeMutablePointer<UInt64>?, _ capacity: Int,
    _ count: UnsafeMutablePointer<UInt64>?, _ sum: UnsafeMutablePointer<Double>?
) -> Int32 {
    guard let histogram else { return nullArgument("marty_histogram_read", "histogram") }
    let series = Unmanaged<Histogram>.fromOpaque(UnsafeRawPointer(histogram)).takeUnretainedValue()
    let snapshot = series.snapshot()
    if let cumulativeCounts {
        guard capacity >= snapshot.cumulativeCounts.count else {
            return fail(
                MARTY_ERR_INVALID_ARGUMENT,
                "marty_histogram_read: capacity \(capacity) is less than the \(snapshot.cumulativeCounts.count) buckets (+Inf included)"
            )
        }
        cumulativeCounts.update(from: snapshot.cumulativeCounts, count: snapshot.cumulativeCounts.count)
    }
    count?.pointee = snapshot.count
    sum?.pointee = snapshot.sum
    return MARTY_OK
}

@_cdecl("marty_histogram_bucket_count")
public func marty_histogram_bucket_count(_ histogram: OpaquePointer?, _ out: UnsafeMutablePointer<Int>?) -> Int32 {
    guard let histogram else { return nullArgument("marty_histogram_bucket_count", "histogram") }
    guard let out else { return nullArgument("marty_histogram_bucket_count", "out") }
    out.pointee = Unmanaged<Histogram>.fromOpaque(UnsafeRawPointer(histogram)).takeUnretainedValue().upperBounds.count
    return MARTY_OK
}
