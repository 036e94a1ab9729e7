// swift-format-ignore-file: AlwaysUseLowerCamelCase
// (the Swift functions carry the C names they export, as the header spells them)

import CMartyRecording
import MartyMetrics

// marty_registry* is an Unmanaged<Registry>: retained for registries the caller made,
// unretained for the default one, which lives as long as the process.

func registry(_ pointer: OpaquePointer) -> Registry {
    Unmanaged<Registry>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue()
}

@_cdecl("marty_registry_default")
public func marty_registry_default() -> OpaquePointer {
    OpaquePointer(Unmanaged.passUnretained(Registry.default).toOpaque())
}

@_cdecl("marty_registry_new")
public func marty_registry_new(_ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guard let out else { return nullArgument("marty_registry_new", "out") }
    out.pointee = OpaquePointer(Unmanaged.passRetained(Registry()).toOpaque())
    return MARTY_OK.code
}

@_cdecl("marty_registry_free")
public func marty_registry_free(_ pointer: OpaquePointer?) -> Int32 {
    guard let pointer else { return nullArgument("marty_registry_free", "registry") }
    if registry(pointer) === Registry.default {
        return fail(MARTY_ERR_INVALID_ARGUMENT, "marty_registry_free: the default registry is never freed")
    }
    // A running endpoint may keep the registry: its collectors' user data is the caller's.
    registry(pointer).removeAllFamilyCollectors()
    Unmanaged<Registry>.fromOpaque(UnsafeRawPointer(pointer)).release()
    return MARTY_OK.code
}

@_cdecl("marty_registry_register")
public func marty_registry_register(_ registryPointer: OpaquePointer?, _ familyPointer: OpaquePointer?) -> Int32 {
    guard let registryPointer else { return nullArgument("marty_registry_register", "registry") }
    guard let familyPointer else { return nullArgument("marty_registry_register", "family") }
    do {
        try registry(registryPointer).register(family(familyPointer))
        return MARTY_OK.code
    } catch {
        return fail(error, in: "marty_registry_register")
    }
}

@_cdecl("marty_registry_unregister")
public func marty_registry_unregister(_ registryPointer: OpaquePointer?, _ familyPointer: OpaquePointer?) -> Int32 {
    guard let registryPointer else { return nullArgument("marty_registry_unregister", "registry") }
    guard let familyPointer else { return nullArgument("marty_registry_unregister", "family") }
    do {
        try registry(registryPointer).unregister(family(familyPointer))
        return MARTY_OK.code
    } catch {
        return fail(error, in: "marty_registry_unregister")
    }
}

@_cdecl("marty_registry_render")
public func marty_registry_render(
    _ registryPointer: OpaquePointer?, _ format: Int32, _ out: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
    _ length: UnsafeMutablePointer<Int>?
) -> Int32 {
    render(
        registryPointer, format, Int32(MARTY_ESCAPING_UNDERSCORES.rawValue), out, length, in: "marty_registry_render")
}

@_cdecl("marty_registry_render_escaped")
public func marty_registry_render_escaped(
    _ registryPointer: OpaquePointer?, _ format: Int32, _ escaping: Int32,
    _ out: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ length: UnsafeMutablePointer<Int>?
) -> Int32 {
    render(registryPointer, format, escaping, out, length, in: "marty_registry_render_escaped")
}

private func render(
    _ registryPointer: OpaquePointer?, _ format: Int32, _ escaping: Int32,
    _ out: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ length: UnsafeMutablePointer<Int>?,
    in function: StaticString
) -> Int32 {
    guard let registryPointer else { return nullArgument(function, "registry") }
    guard let out else { return nullArgument(function, "out") }
    guard let format = ExpositionFormat(headerValue: format) else {
        return fail(
            MARTY_ERR_INVALID_ARGUMENT,
            "\(function): format \(format) is not MARTY_FORMAT_TEXT (0), MARTY_FORMAT_OPENMETRICS (1) or MARTY_FORMAT_PROTOBUF (2)"
        )
    }
    guard let escaping = NameEscaping(headerValue: escaping) else {
        return fail(
            MARTY_ERR_INVALID_ARGUMENT,
            "\(function): escaping \(escaping) is not MARTY_ESCAPING_UNDERSCORES (0), MARTY_ESCAPING_ALLOW_UTF8 (1), "
                + "MARTY_ESCAPING_DOTS (2) or MARTY_ESCAPING_VALUES (3)")
    }
    if format == .protobuf && length == nil {
        return nullArgument(function, "length (MARTY_FORMAT_PROTOBUF is binary)")
    }
    let rendered = registry(registryPointer).render(format, escaping: escaping).takeCString()
    out.pointee = UnsafeMutableRawPointer(rendered.pointer).assumingMemoryBound(to: CChar.self)
    length?.pointee = rendered.length
    return MARTY_OK.code
}

@_cdecl("marty_registry_set_style")
public func marty_registry_set_style(_ registryPointer: OpaquePointer?, _ style: Int32) -> Int32 {
    guard let registryPointer else { return nullArgument("marty_registry_set_style", "registry") }
    switch marty_style(rawValue: UInt32(bitPattern: style)) {
    case MARTY_STYLE_NATIVE: registry(registryPointer).renderingStyle = .native
    case MARTY_STYLE_PROMETHEUS_CLIENT: registry(registryPointer).renderingStyle = .prometheusClient
    default:
        return fail(
            MARTY_ERR_INVALID_ARGUMENT,
            "marty_registry_set_style: style \(style) is not MARTY_STYLE_NATIVE (0) or MARTY_STYLE_PROMETHEUS_CLIENT (1)"
        )
    }
    return MARTY_OK.code
}

@_cdecl("marty_registry_set_created_timestamps")
public func marty_registry_set_created_timestamps(_ registryPointer: OpaquePointer?, _ enabled: Int32) -> Int32 {
    guard let registryPointer else { return nullArgument("marty_registry_set_created_timestamps", "registry") }
    registry(registryPointer).exposesCreatedTimestamps = enabled != 0
    return MARTY_OK.code
}
