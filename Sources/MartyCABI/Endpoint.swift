// swift-format-ignore-file: AlwaysUseLowerCamelCase
// (the Swift functions carry the C names they export, as the header spells them)

import CMartyRecording
import CMartyShims
import MartyEndpoint
import MartyMetrics
import MartyService

// marty_endpoint* is a retained Unmanaged<MetricsEndpoint>.

private func endpoint(_ pointer: OpaquePointer) -> MetricsEndpoint {
    Unmanaged<MetricsEndpoint>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue()
}

/// The size of marty_endpoint_options in headers before 0.2 (no request_head_timeout_seconds
/// nor shutdown_grace_seconds): such callers get the defaults for the newer fields.
private let firstOptionsSize = MemoryLayout<marty_endpoint_options>.offset(of: \.request_head_timeout_seconds)!

/// Writes the defaults into the caller's first `size` bytes only: a caller built against an
/// older header has a smaller struct, and the bytes after it are not ours.
private func initOptions(_ options: UnsafeMutablePointer<marty_endpoint_options>, size: Int) {
    var defaults = marty_endpoint_options(
        struct_size: size, service: nil, bind_address: nil,
        metrics_port: MARTY_PORT_DEFAULT, health_port: MARTY_PORT_DEFAULT, separate_health_listener: 1,
        registry: nil, idle_timeout_seconds: 0, max_connections: 0, request_head_timeout_seconds: 0,
        shutdown_grace_seconds: 0, web_config_file: nil, health_uses_web_config: 0)
    withUnsafeBytes(of: &defaults) { source in
        UnsafeMutableRawPointer(options).copyMemory(from: source.baseAddress!, byteCount: size)
    }
}

@_cdecl("marty_endpoint_options_init_sized")
public func marty_endpoint_options_init_sized(
    _ options: UnsafeMutablePointer<marty_endpoint_options>?, _ size: Int
) -> Int32 {
    let function: StaticString = "marty_endpoint_options_init_sized"
    guard let options else { return nullArgument(function, "options") }
    guard size >= firstOptionsSize else {
        return fail(
            MARTY_ERR_INVALID_ARGUMENT,
            "\(function): size \(UInt(bitPattern: size)) is smaller than the oldest marty_endpoint_options (\(firstOptionsSize) bytes)"
        )
    }
    initOptions(options, size: min(size, MemoryLayout<marty_endpoint_options>.size))
    return MARTY_OK.code
}

@_cdecl("marty_endpoint_options_init")
public func marty_endpoint_options_init(_ options: UnsafeMutablePointer<marty_endpoint_options>?) {
    guard let options else { return }
    initOptions(options, size: firstOptionsSize)
}

/// A time option: 0 is the default; anything else is checked by the endpoint.
private func seconds(_ value: Double, _ field: StaticString) throws -> Double? {
    guard value != 0 else { return nil }
    guard value.isFinite, value > 0 else {
        throw StatusError(
            fail(
                MARTY_ERR_INVALID_ARGUMENT,
                "marty_endpoint_start: options->\(field) must be 0 (the default) or a positive, finite number of seconds, got \(value)"
            ))
    }
    return value
}

@_cdecl("marty_endpoint_start")
public func marty_endpoint_start(
    _ options: UnsafePointer<marty_endpoint_options>?, _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    let function: StaticString = "marty_endpoint_start"
    guard let options else { return nullArgument(function, "options") }
    guard let out else { return nullArgument(function, "out") }
    let size = options.pointee.struct_size
    let knownSize = MemoryLayout<marty_endpoint_options>.size
    // Any size from the oldest struct (0.1) to this library's own; larger is refused: the
    // caller's struct has fields this (older) library would silently ignore, and its own
    // marty_endpoint_options_init_sized never sets such a size.
    guard size >= firstOptionsSize, size <= knownSize else {
        return fail(
            MARTY_ERR_INVALID_ARGUMENT,
            "\(function): options->struct_size \(UInt(bitPattern: size)) is not between \(firstOptionsSize) (the oldest marty_endpoint_options) and \(knownSize) (this library's); fill the options with marty_endpoint_options_init"
        )
    }
    // Only the fields the caller's struct holds in full are read; the others keep their
    // defaults (0).
    var given = marty_endpoint_options()
    withUnsafeMutableBytes(of: &given) { target in
        target.copyMemory(from: UnsafeRawBufferPointer(start: UnsafeRawPointer(options), count: size))
    }
    if size < MemoryLayout<marty_endpoint_options>.offset(of: \.request_head_timeout_seconds)! + 8 {
        given.request_head_timeout_seconds = 0
    }
    if size < MemoryLayout<marty_endpoint_options>.offset(of: \.shutdown_grace_seconds)! + 8 {
        given.shutdown_grace_seconds = 0
    }
    if size < MemoryLayout<marty_endpoint_options>.offset(of: \.web_config_file)! + 8 {
        given.web_config_file = nil
    }
    if size < MemoryLayout<marty_endpoint_options>.offset(of: \.health_uses_web_config)! + 4 {
        given.health_uses_web_config = 0
    }
    return catching(function) {
        let service = try string(given.service, function, "options->service").get()
        let registry = given.registry.map(registry) ?? .default
        var configuration = try EndpointConfiguration.martyService(service, registry: registry)
        if given.bind_address != nil {
            configuration.bindAddress = try string(given.bind_address, function, "options->bind_address").get()
        }
        configuration.metricsPort = try port(given.metrics_port, "metrics_port")
        configuration.healthPort = try port(given.health_port, "health_port")
        configuration.separateHealthListener = given.separate_health_listener != 0
        if let idle = try seconds(given.idle_timeout_seconds, "idle_timeout_seconds") {
            configuration.idleTimeoutSeconds = idle
        }
        if let head = try seconds(given.request_head_timeout_seconds, "request_head_timeout_seconds") {
            configuration.requestHeadTimeoutSeconds = head
        }
        if let grace = try seconds(given.shutdown_grace_seconds, "shutdown_grace_seconds") {
            configuration.shutdownGraceSeconds = grace
        }
        if given.web_config_file != nil {
            configuration.webConfigFile = try string(given.web_config_file, function, "options->web_config_file").get()
        }
        switch given.health_uses_web_config {
        case 0: break
        case 1: configuration.healthListenerUsesWebConfig = true
        case -1: configuration.healthListenerUsesWebConfig = false
        default:
            throw StatusError(
                fail(
                    MARTY_ERR_INVALID_ARGUMENT,
                    "\(function): options->health_uses_web_config must be -1, 0 or 1, got \(given.health_uses_web_config)"
                ))
        }
        guard given.max_connections >= 0 else {
            throw StatusError(
                fail(
                    MARTY_ERR_INVALID_ARGUMENT,
                    "\(function): options->max_connections must be 0 (the default) or positive, got \(given.max_connections)"
                ))
        }
        if given.max_connections != 0 { configuration.maxConnections = Int(given.max_connections) }
        let started = try MetricsEndpoint.start(configuration)
        out.pointee = OpaquePointer(Unmanaged.passRetained(started).toOpaque())
    }
}

private func port(_ value: Int32, _ field: String) throws -> Int? {
    if value == MARTY_PORT_DEFAULT { return nil }
    guard (0...65535).contains(value) else {
        throw StatusError(
            fail(MARTY_ERR_INVALID_ARGUMENT, "marty_endpoint_start: options->\(field) \(value) is not a port"))
    }
    return Int(value)
}

@_cdecl("marty_endpoint_metrics_port")
public func marty_endpoint_metrics_port(_ pointer: OpaquePointer?, _ out: UnsafeMutablePointer<Int32>?) -> Int32 {
    guard let pointer else { return nullArgument("marty_endpoint_metrics_port", "endpoint") }
    guard let out else { return nullArgument("marty_endpoint_metrics_port", "out") }
    out.pointee = Int32(endpoint(pointer).metricsPort)
    return MARTY_OK.code
}

@_cdecl("marty_endpoint_health_port")
public func marty_endpoint_health_port(_ pointer: OpaquePointer?, _ out: UnsafeMutablePointer<Int32>?) -> Int32 {
    guard let pointer else { return nullArgument("marty_endpoint_health_port", "endpoint") }
    guard let out else { return nullArgument("marty_endpoint_health_port", "out") }
    out.pointee = Int32(endpoint(pointer).healthPort ?? 0)
    return MARTY_OK.code
}

@_cdecl("marty_endpoint_stop")
public func marty_endpoint_stop(_ pointer: OpaquePointer?) -> Int32 {
    guard let pointer else { return nullArgument("marty_endpoint_stop", "endpoint") }
    endpoint(pointer).shutdown()
    return MARTY_OK.code
}

@_cdecl("marty_endpoint_free")
public func marty_endpoint_free(_ pointer: OpaquePointer?) -> Int32 {
    guard let pointer else { return nullArgument("marty_endpoint_free", "endpoint") }
    endpoint(pointer).shutdown()
    Unmanaged<MetricsEndpoint>.fromOpaque(UnsafeRawPointer(pointer)).release()
    return MARTY_OK.code
}
