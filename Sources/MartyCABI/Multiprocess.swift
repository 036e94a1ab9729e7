// swift-format-ignore-file: AlwaysUseLowerCamelCase
// (the Swift functions carry the C names they export, as the header spells them)

import CMartyRecording
import MartyMetrics

@_cdecl("marty_multiprocess_enable")
public func marty_multiprocess_enable(_ bytes: Int) -> Int32 {
    let size = bytes == 0 ? Multiprocess.defaultBytes : bytes
    guard size > 0 else {
        return fail(
            MARTY_ERR_INVALID_ARGUMENT, "marty_multiprocess_enable: bytes \(UInt(bitPattern: bytes)) is out of range")
    }
    return catching("marty_multiprocess_enable") { try Multiprocess.enable(bytes: size) }
}

@_cdecl("marty_multiprocess_enabled")
public func marty_multiprocess_enabled() -> Int32 {
    Multiprocess.isEnabled ? 1 : 0
}

@_cdecl("marty_multiprocess_usage")
public func marty_multiprocess_usage(_ used: UnsafeMutablePointer<Int>?, _ size: UnsafeMutablePointer<Int>?) -> Int32 {
    guard let used else { return nullArgument("marty_multiprocess_usage", "used") }
    guard let size else { return nullArgument("marty_multiprocess_usage", "size") }
    (used.pointee, size.pointee) = Multiprocess.usage
    return MARTY_OK.code
}

@_cdecl("marty_multiprocess_mark_process_dead")
public func marty_multiprocess_mark_process_dead(_ pid: Int32) -> Int32 {
    guard pid > 0 else {
        return fail(MARTY_ERR_INVALID_ARGUMENT, "marty_multiprocess_mark_process_dead: pid \(pid) is not a process id")
    }
    Multiprocess.markProcessDead(pid)
    return MARTY_OK.code
}

@_cdecl("marty_gauge_family_new_multiprocess")
public func marty_gauge_family_new_multiprocess(
    _ registryPointer: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ help: UnsafePointer<CChar>?,
    _ labelNames: UnsafePointer<UnsafePointer<CChar>?>?, _ labelCount: Int, _ mode: Int32,
    _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    let function: StaticString = "marty_gauge_family_new_multiprocess"
    let modes = GaugeMultiprocessMode.allCases
    guard mode >= 0, Int(mode) < modes.count else {
        return fail(MARTY_ERR_INVALID_ARGUMENT, "\(function): mode \(mode) is not a marty_gauge_mode")
    }
    return newFamily(function, registryPointer, name, help, labelNames, labelCount, out) {
        (registry, name, help, labels) throws(MetricError) in
        try registry.gauge(name, help: help, labelNames: labels, multiprocessMode: modes[Int(mode)])
    }
}
