// swift-format-ignore-file: AlwaysUseLowerCamelCase
// (the Swift functions carry the C names they export, as the header spells them)

import CMartyRecording
import CMartyShims
import Glibc
import MartyMetrics

// The status codes are the header's `enum marty_status` (imported through CMartyRecording):
// defined there once, mapped here from the kinds of MetricError.

extension marty_status {
    /// As the C functions return it.
    var code: Int32 { Int32(bitPattern: rawValue) }
}

extension MetricError.Kind {
    var status: marty_status {
        switch self {
        case .invalidName: MARTY_ERR_INVALID_NAME
        case .invalidLabel: MARTY_ERR_INVALID_LABEL
        case .labelCount: MARTY_ERR_LABEL_COUNT
        case .invalidUTF8: MARTY_ERR_INVALID_UTF8
        case .invalidValue: MARTY_ERR_INVALID_VALUE
        case .conflict: MARTY_ERR_CONFLICT
        case .notFound: MARTY_ERR_NOT_FOUND
        case .invalidBuckets: MARTY_ERR_INVALID_BUCKETS
        case .wrongKind: MARTY_ERR_WRONG_KIND
        case .invalidArgument: MARTY_ERR_INVALID_ARGUMENT
        case .addressInUse: MARTY_ERR_ADDRESS_IN_USE
        case .system: MARTY_ERR_SYSTEM
        case .full: MARTY_ERR_FULL
        }
    }
}

/// Records `message` as the calling thread's error and returns `status`.
@inline(never)
func fail(_ status: marty_status, _ message: String) -> Int32 {
    let status = status.code
    guard let start = cmarty_error_buffer() else { return status }  // out of memory: no message
    let buffer = UnsafeMutableRawBufferPointer(start: start, count: Int(CMARTY_ERROR_MESSAGE_CAPACITY))
    let utf8 = Array(message.utf8)
    var length = min(utf8.count, buffer.count - 1)
    // Never cut a UTF-8 sequence in half: back up to the start of a code point.
    while length > 0 && length < utf8.count && (utf8[length] & 0xC0) == 0x80 { length -= 1 }
    buffer.copyBytes(from: utf8[0..<length])
    buffer[length] = 0
    return status
}

@inline(never)
func fail(_ error: MetricError, in function: StaticString) -> Int32 {
    fail(error.kind.status, "\(function): \(error.message)")
}

@inline(never)
func nullArgument(_ function: StaticString, _ argument: StaticString) -> Int32 {
    fail(MARTY_ERR_NULL_ARGUMENT, "\(function): \(argument) is NULL")
}

/// A C string as a Swift string, or the status to return: NULL and bad UTF-8 are refused.
func string(
    _ pointer: UnsafePointer<CChar>?, _ function: StaticString, _ argument: StaticString
) -> Result<String, StatusError> {
    guard let pointer else { return .failure(StatusError(nullArgument(function, argument))) }
    guard let text = String(validatingCString: pointer) else {
        return .failure(StatusError(fail(MARTY_ERR_INVALID_UTF8, "\(function): \(argument) is not valid UTF-8")))
    }
    return .success(text)
}

/// The most label names (or values) one family may have through the C interface.
let maximumLabelCount = 64

/// An array of `count` C strings as Swift strings; NULL is allowed only when `count` is 0.
func strings(
    _ pointer: UnsafePointer<UnsafePointer<CChar>?>?, _ count: Int, _ function: StaticString, _ argument: StaticString
) -> Result<[String], StatusError> {
    if count == 0 { return .success([]) }
    // A bound on the count keeps a wrong one (SIZE_MAX, a length in bytes) from reading far
    // past the caller's array.
    guard count > 0, count <= maximumLabelCount else {
        return .failure(
            StatusError(
                fail(
                    MARTY_ERR_INVALID_ARGUMENT,
                    "\(function): the count of \(argument) (\(UInt(bitPattern: count))) is out of range: at most \(maximumLabelCount)"
                )))
    }
    guard let pointer else { return .failure(StatusError(nullArgument(function, argument))) }
    var result: [String] = []
    result.reserveCapacity(count)
    for index in 0..<count {
        guard let element = pointer[index] else {
            return .failure(StatusError(fail(MARTY_ERR_NULL_ARGUMENT, "\(function): \(argument)[\(index)] is NULL")))
        }
        guard let text = String(validatingCString: element) else {
            return .failure(
                StatusError(fail(MARTY_ERR_INVALID_UTF8, "\(function): \(argument)[\(index)] is not valid UTF-8")))
        }
        result.append(text)
    }
    return .success(result)
}

/// Runs `body`, turning its errors into the status codes of the header.
func catching(_ function: StaticString, _ body: () throws -> Void) -> Int32 {
    do {
        try body()
        return MARTY_OK.code
    } catch let error as StatusError {
        return error.status
    } catch let error as MetricError {
        return fail(error, in: function)
    } catch {
        return fail(MARTY_ERR_INVALID_ARGUMENT, "\(function): \(error)")
    }
}

/// A status already recorded with `fail`.
struct StatusError: Error {
    let status: Int32
    init(_ status: Int32) { self.status = status }
}

/// The fixed description of each status, named as the header names it (a test compares the
/// names with the header's enum).
private func describe(_ status: marty_status) -> StaticString {
    switch status {
    case MARTY_OK: "MARTY_OK: success"
    case MARTY_ERR_NULL_ARGUMENT: "MARTY_ERR_NULL_ARGUMENT: a required pointer was NULL"
    case MARTY_ERR_INVALID_NAME: "MARTY_ERR_INVALID_NAME: a metric name broke a naming rule"
    case MARTY_ERR_INVALID_LABEL: "MARTY_ERR_INVALID_LABEL: a label name broke a naming rule"
    case MARTY_ERR_LABEL_COUNT: "MARTY_ERR_LABEL_COUNT: the label values do not match the family's label names"
    case MARTY_ERR_INVALID_UTF8: "MARTY_ERR_INVALID_UTF8: a string was not valid UTF-8"
    case MARTY_ERR_INVALID_VALUE: "MARTY_ERR_INVALID_VALUE: the value is not allowed here"
    case MARTY_ERR_CONFLICT: "MARTY_ERR_CONFLICT: the name clashes with a registered metric"
    case MARTY_ERR_NOT_FOUND: "MARTY_ERR_NOT_FOUND: no such series or registration"
    case MARTY_ERR_INVALID_BUCKETS:
        "MARTY_ERR_INVALID_BUCKETS: histogram bounds must be finite and strictly increasing"
    case MARTY_ERR_WRONG_KIND: "MARTY_ERR_WRONG_KIND: the family is of another kind"
    case MARTY_ERR_INVALID_ARGUMENT: "MARTY_ERR_INVALID_ARGUMENT: an argument is out of its range"
    case MARTY_ERR_ADDRESS_IN_USE: "MARTY_ERR_ADDRESS_IN_USE: a port the endpoint was to listen on is taken"
    case MARTY_ERR_SYSTEM: "MARTY_ERR_SYSTEM: the operating system refused"
    case MARTY_ERR_FULL: "MARTY_ERR_FULL: the multiprocess segment has no room left"
    default: "unknown marty_metrics status code"
    }
}

@_cdecl("marty_errmsg")
public func marty_errmsg() -> UnsafePointer<CChar> {
    if let buffer = cmarty_error_buffer() { return UnsafePointer(buffer) }
    let empty: StaticString = ""
    return UnsafeRawPointer(empty.utf8Start).assumingMemoryBound(to: CChar.self)
}

@_cdecl("marty_status_string")
public func marty_status_string(_ status: Int32) -> UnsafePointer<CChar> {
    let text = describe(marty_status(rawValue: UInt32(bitPattern: status)))
    return UnsafeRawPointer(text.utf8Start).assumingMemoryBound(to: CChar.self)
}

@_cdecl("marty_version")
public func marty_version() -> UnsafePointer<CChar> {
    cmarty_version_string()
}

@_cdecl("marty_version_number")
public func marty_version_number() -> Int32 { Int32(MARTY_METRICS_VERSION_NUMBER) }

@_cdecl("marty_free")
public func marty_free(_ pointer: UnsafeMutableRawPointer?) {
    free(pointer)
}
