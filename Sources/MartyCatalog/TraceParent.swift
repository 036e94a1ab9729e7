import MartyMetrics

/// A W3C Trace Context `traceparent` value (`00-<trace id>-<parent id>-<flags>`), read so
/// that a call's metrics can carry an exemplar pointing to its trace.
public struct TraceParent: Sendable, Equatable {
    /// The 32 lowercase hex digits of the trace id.
    public let traceID: String
    /// The 16 lowercase hex digits of the caller's span id.
    public let spanID: String

    /// Parses a `traceparent` header value as the W3C Trace Context Level 1 says: two hex
    /// digits of version (not `ff`), a trace id and a parent id in lowercase hex, not all
    /// zeros, and two hex digits of flags; versions after 00 may append `-…`. Anything else is
    /// nil (the spec says to ignore such a header).
    public init?(_ value: some StringProtocol) {
        self.init(utf8: value.utf8)
    }

    /// Parses the UTF-8 bytes of a `traceparent` value, as ``init(_:)``.
    public init?(utf8: some Collection<UInt8>) {
        let bytes = Array(utf8.prefix(512))
        guard bytes.count >= 55, Self.isHex(bytes[0..<2]), bytes[0..<2] != [0x66, 0x66],
            bytes[2] == UInt8(ascii: "-"), Self.isHex(bytes[3..<35]), bytes[35] == UInt8(ascii: "-"),
            Self.isHex(bytes[36..<52]), bytes[52] == UInt8(ascii: "-"), Self.isHex(bytes[53..<55])
        else { return nil }
        let version00 = bytes[0..<2] == [0x30, 0x30]
        guard version00 ? bytes.count == 55 : (bytes.count == 55 || bytes[55] == UInt8(ascii: "-")) else {
            return nil
        }
        guard bytes[3..<35].contains(where: { $0 != UInt8(ascii: "0") }),
            bytes[36..<52].contains(where: { $0 != UInt8(ascii: "0") })
        else { return nil }
        traceID = String(decoding: bytes[3..<35], as: UTF8.self)
        spanID = String(decoding: bytes[36..<52], as: UTF8.self)
    }

    /// `{trace_id, span_id}`, the exemplar labels OpenTelemetry and client_golang users query.
    public var exemplar: Exemplar {
        // 32 + 16 hex digits and 15 characters of names: well within the 128 allowed.
        try! Exemplar(["trace_id": traceID, "span_id": spanID])
    }

    private static func isHex(_ bytes: ArraySlice<UInt8>) -> Bool {
        bytes.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }
}
