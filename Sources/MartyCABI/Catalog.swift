// swift-format-ignore-file: AlwaysUseLowerCamelCase
// (the Swift functions carry the C names they export, as the header spells them)

import CMartyRecording
import Glibc
import MartyCatalog
import MartyMetrics

// marty_service_metrics* is an unretained ServiceMetrics: ServiceMetrics.register keeps
// every catalog for the life of the process.

private func catalog(_ pointer: OpaquePointer) -> ServiceMetrics {
    Unmanaged<ServiceMetrics>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue()
}

@_cdecl("marty_service_metrics_register")
public func marty_service_metrics_register(
    _ registryPointer: OpaquePointer?, _ service: UnsafePointer<CChar>?, _ version: UnsafePointer<CChar>?,
    _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    let function: StaticString = "marty_service_metrics_register"
    guard let out else { return nullArgument(function, "out") }
    return catching(function) {
        let service = try string(service, function, "service").get()
        let version = version == nil ? "unknown" : try string(version, function, "version").get()
        let metrics = try ServiceMetrics.register(
            service: service, version: version, registry: registryPointer.map(registry) ?? .default,
            nativeDurations: try nativeDurationsFromEnvironment().get())
        out.pointee = OpaquePointer(Unmanaged.passUnretained(metrics).toOpaque())
    }
}

@_cdecl("marty_service_record_call")
public func marty_service_record_call(
    _ pointer: OpaquePointer?, _ method: UnsafePointer<CChar>?, _ status: UnsafePointer<CChar>?,
    _ durationSeconds: Double, _ errorType: UnsafePointer<CChar>?
) -> Int32 {
    let function: StaticString = "marty_service_record_call"
    guard let pointer else { return nullArgument(function, "metrics") }
    guard let method else { return nullArgument(function, "method") }
    guard let status else { return nullArgument(function, "status") }
    // Names are compared as bytes; they are checked for UTF-8 when their series is created.
    return withCatalog(pointer) { metrics in
        do throws(MetricError) {
            try metrics.recordCall(
                nulTerminatedMethod: bytes(method), status: bytes(status), durationSeconds: durationSeconds,
                errorType: errorType.map(bytes))
            return MARTY_OK.code
        } catch {
            return fail(error, in: function)
        }
    }
}

@_cdecl("marty_service_record_traced_call")
public func marty_service_record_traced_call(
    _ pointer: OpaquePointer?, _ method: UnsafePointer<CChar>?, _ status: UnsafePointer<CChar>?,
    _ durationSeconds: Double, _ errorType: UnsafePointer<CChar>?, _ traceparent: UnsafePointer<CChar>?
) -> Int32 {
    let function: StaticString = "marty_service_record_traced_call"
    guard let pointer else { return nullArgument(function, "metrics") }
    guard let method else { return nullArgument(function, "method") }
    guard let status else { return nullArgument(function, "status") }
    // A header that is not a valid traceparent is ignored, as W3C Trace Context says.
    let exemplar = traceparent.flatMap { header in
        TraceParent(utf8: UnsafeBufferPointer(start: bytes(header), count: strnlen(header, 512)))?.exemplar
    }
    return withCatalog(pointer) { metrics in
        do throws(MetricError) {
            try metrics.recordCall(
                nulTerminatedMethod: bytes(method), status: bytes(status), durationSeconds: durationSeconds,
                errorType: errorType.map(bytes), exemplar: exemplar)
            return MARTY_OK.code
        } catch {
            return fail(error, in: function)
        }
    }
}

/// `MARTY_METRICS_NATIVE_HISTOGRAM_BUCKET_FACTOR` (e.g. `1.1`): the catalog's duration
/// histogram gets native buckets of that factor; unset or empty: classic only.
private func nativeDurationsFromEnvironment() -> Result<NativeHistogramOptions?, MetricError> {
    guard let raw = getenv("MARTY_METRICS_NATIVE_HISTOGRAM_BUCKET_FACTOR"), raw.pointee != 0 else {
        return .success(nil)
    }
    let text = String(cString: raw)
    guard let factor = Double(text) else {
        return .failure(
            MetricError(.invalidArgument, "MARTY_METRICS_NATIVE_HISTOGRAM_BUCKET_FACTOR=\(text) is not a number"))
    }
    do throws(MetricError) {
        return .success(try NativeHistogramOptions(bucketFactor: factor))
    } catch {
        return .failure(error)
    }
}

private func bytes(_ text: UnsafePointer<CChar>) -> UnsafePointer<UInt8> {
    UnsafeRawPointer(text).assumingMemoryBound(to: UInt8.self)
}

@inline(__always)
private func withCatalog(_ pointer: OpaquePointer, _ body: (ServiceMetrics) -> Int32) -> Int32 {
    // At +0: the catalog lives as long as the process, and a retain/release pair per call would
    // make every thread recording into this service write the catalog's reference count.
    Unmanaged<ServiceMetrics>.fromOpaque(UnsafeRawPointer(pointer))._withUnsafeGuaranteedRef(body)
}

@_cdecl("marty_service_record_successful_operation")
public func marty_service_record_successful_operation(
    _ pointer: OpaquePointer?, _ operation: UnsafePointer<CChar>?
) -> Int32 {
    let function: StaticString = "marty_service_record_successful_operation"
    guard let pointer else { return nullArgument(function, "metrics") }
    return catching(function) {
        try catalog(pointer).recordSuccessfulOperation(string(operation, function, "operation").get())
    }
}

@_cdecl("marty_service_call_started")
public func marty_service_call_started(_ pointer: OpaquePointer?) -> Int32 {
    guard let pointer else { return nullArgument("marty_service_call_started", "metrics") }
    return withCatalog(pointer) {
        $0.callStarted()
        return MARTY_OK.code
    }
}

@_cdecl("marty_service_call_finished")
public func marty_service_call_finished(_ pointer: OpaquePointer?) -> Int32 {
    guard let pointer else { return nullArgument("marty_service_call_finished", "metrics") }
    return withCatalog(pointer) {
        $0.callFinished()
        return MARTY_OK.code
    }
}

@_cdecl("marty_service_set_database_connections")
public func marty_service_set_database_connections(
    _ pointer: OpaquePointer?, _ database: UnsafePointer<CChar>?, _ count: Double
) -> Int32 {
    let function: StaticString = "marty_service_set_database_connections"
    guard let pointer else { return nullArgument(function, "metrics") }
    return catching(function) {
        let database = database == nil ? "default" : try string(database, function, "database").get()
        try catalog(pointer).setDatabaseConnections(count, database: database)
    }
}

/// The table's service names as C strings, made once; they live as long as the process.
// nonisolated(unsafe): initialized once (a global's lazy, thread-safe initialization), never
// written afterwards, and the strings themselves are never written.
nonisolated(unsafe) private let serviceNames: [UnsafeMutablePointer<CChar>] = ServicePorts.table.map {
    strdup($0.service)!
}

@_cdecl("marty_service_name")
public func marty_service_name(_ index: Int) -> UnsafePointer<CChar>? {
    index >= 0 && index < serviceNames.count ? UnsafePointer(serviceNames[index]) : nil
}

@_cdecl("marty_service_ports")
public func marty_service_ports(
    _ service: UnsafePointer<CChar>?, _ grpcPort: UnsafeMutablePointer<Int32>?,
    _ healthPort: UnsafeMutablePointer<Int32>?, _ metricsPort: UnsafeMutablePointer<Int32>?
) -> Int32 {
    let function: StaticString = "marty_service_ports"
    return catching(function) {
        let name = try string(service, function, "service").get()
        guard let ports = ServicePorts.forService(name) else {
            throw StatusError(fail(MARTY_ERR_NOT_FOUND, "\(function): \(name) is not in the Marty port table"))
        }
        grpcPort?.pointee = Int32(ports.grpc)
        healthPort?.pointee = Int32(ports.health)
        metricsPort?.pointee = Int32(ports.metrics)
    }
}
