// swift-format-ignore-file: AlwaysUseLowerCamelCase
// (the Swift functions carry the C names they export, as the header spells them)

import CMartyRecording
import CMartyShims
import MartyHealth
import MartyMetrics

// The health calls act on the process's default health registry, the one the endpoint
// reports by default.

private func probe(_ value: Int32, _ function: StaticString) throws -> HealthRegistry.Probe {
    guard let probe = HealthRegistry.Probe(headerValue: value) else {
        throw StatusError(
            fail(MARTY_ERR_INVALID_ARGUMENT, "\(function): probe \(value) is not a MARTY_PROBE_* value"))
    }
    return probe
}

@_cdecl("marty_health_set")
public func marty_health_set(
    _ name: UnsafePointer<CChar>?, _ healthy: Int32, _ message: UnsafePointer<CChar>?, _ probeValue: Int32,
    _ timeToLive: Double
) -> Int32 {
    let function: StaticString = "marty_health_set"
    return catching(function) {
        let name = try string(name, function, "name").get()
        let text = message == nil ? nil : try string(message, function, "message").get()
        // 0: never stale; anything else must be a duration the registry accepts (NaN,
        // infinities, negatives and more than 1e9 s are MARTY_ERR_INVALID_ARGUMENT).
        try HealthRegistry.default.set(
            name, healthy: healthy != 0, message: text, probe: probe(probeValue, function),
            timeToLive: timeToLive == 0 ? nil : timeToLive)
    }
}

/// A C callback and its user data; the caller promises they are safe to call from any thread.
// @unchecked Sendable: the header makes the caller promise that the callback and user data may be used from any thread.
private struct CCallback: @unchecked Sendable {
    let function: marty_health_callback
    let userData: UnsafeMutableRawPointer?
}

@_cdecl("marty_health_register_callback")
public func marty_health_register_callback(
    _ name: UnsafePointer<CChar>?, _ callback: marty_health_callback?, _ userData: UnsafeMutableRawPointer?,
    _ probeValue: Int32, _ timeout: Double
) -> Int32 {
    let function: StaticString = "marty_health_register_callback"
    guard let callback else { return nullArgument(function, "callback") }
    return catching(function) {
        let name = try string(name, function, "name").get()
        let check = CCallback(function: callback, userData: userData)
        try HealthRegistry.default.register(name, probe: probe(probeValue, function), timeout: timeout) {
            var message = [CChar](repeating: 0, count: 512)
            let healthy = message.withUnsafeMutableBufferPointer {
                check.function(check.userData, $0.baseAddress, $0.count)
            }
            message[message.count - 1] = 0
            let text =
                message.withUnsafeBufferPointer { String(validatingCString: $0.baseAddress!) }
                ?? "(message is not valid UTF-8)"
            return (healthy != 0, text.isEmpty ? nil : text)
        }
    }
}

@_cdecl("marty_health_remove")
public func marty_health_remove(_ name: UnsafePointer<CChar>?) -> Int32 {
    let function: StaticString = "marty_health_remove"
    return catching(function) {
        try HealthRegistry.default.remove(string(name, function, "name").get())
    }
}

@_cdecl("marty_health_status")
public func marty_health_status(
    _ healthy: UnsafeMutablePointer<Int32>?, _ live: UnsafeMutablePointer<Int32>?, _ ready: UnsafeMutablePointer<Int32>?
) -> Int32 {
    // Evaluates every check, waiting at most the longest time limit of the callback checks.
    let report = HealthRegistry.default.report(.all)
    healthy?.pointee = report.healthy ? 1 : 0
    live?.pointee = report.live ? 1 : 0
    ready?.pointee = report.ready ? 1 : 0
    return MARTY_OK.code
}
