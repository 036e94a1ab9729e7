// swift-format-ignore-file: AlwaysUseLowerCamelCase
// (the Swift functions carry the C names they export, as the header spells them)

import MartyMetrics

// marty_service_metrics* is an unretained ServiceMetrics: ServiceMetrics.register keeps
// every catalog for the life of the process.

private func catalog(_ pointer: OpaquePointer) -> ServiceMetrics {
    Unmanaged<ServiceMetrics>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue()
}

/// Runs `body`, turning its errors into the status codes of the header.
private func catching(_ function: StaticString, _ body: () throws -> Void) -> Int32 {
    do {
        try body()
        return MARTY_OK
    } catch let error as StatusError {
        return error.status
    } catch let error as MetricError {
        return fail(error, in: function)
    } catch {
        return fail(MARTY_ERR_INVALID_ARGUMENT, "\(function): \(error)")
    }
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
            service: service, version: version, registry: registryPointer.map(registry) ?? .default)
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
    return catching(function) {
        let method = try string(method, function, "method").get()
        let status = try string(status, function, "status").get()
        let errorType = errorType == nil ? nil : try string(errorType, function, "error_type").get()
        guard !durationSeconds.isNaN else {
            throw StatusError(fail(MARTY_ERR_INVALID_VALUE, "\(function): duration_seconds is NaN"))
        }
        try catalog(pointer).recordCall(
            method: method, status: status, durationSeconds: durationSeconds, errorType: errorType)
    }
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
    catalog(pointer).callStarted()
    return MARTY_OK
}

@_cdecl("marty_service_call_finished")
public func marty_service_call_finished(_ pointer: OpaquePointer?) -> Int32 {
    guard let pointer else { return nullArgument("marty_service_call_finished", "metrics") }
    catalog(pointer).callFinished()
    return MARTY_OK
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
