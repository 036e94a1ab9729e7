import MartyMetrics

// libFuzzer target: content negotiation (`Accept`, `Accept-Encoding`).
//
// The input is split at its first newline: the bytes before it are the `Accept` header, the
// bytes after it the `Accept-Encoding` header (absent when there is no newline), decoded as
// SwiftNIO decodes header values (invalid UTF-8 becomes U+FFFD). Besides not crashing, the
// answers must hold these properties:
//   - the same headers give the same answer;
//   - OpenMetrics is chosen only if `Accept` names it;
//   - gzip is allowed only if `Accept-Encoding` names gzip or `*`; never without the header;
//   - a name escaping other than underscores is chosen, and named in the Content-Type, only
//     if `Accept` names it; the Content-Type starts with the chosen format's.
@testable import MartyEndpoint

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNegotiation(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let newline = bytes.firstIndex(of: UInt8(ascii: "\n"))
    let accept = String(decoding: bytes[..<(newline ?? size)], as: UTF8.self)
    let acceptEncoding = newline.map { String(decoding: bytes[($0 + 1)...], as: UTF8.self) }

    let format = ContentNegotiation.format(accept: accept)
    precondition(format == ContentNegotiation.format(accept: accept), "format(accept:) is not deterministic")
    if format == .openMetrics {
        precondition(
            accept.lowercased().contains("application/openmetrics-text"),
            "OpenMetrics chosen for an Accept that does not name it: \(accept.debugDescription)")
    }
    let choice = ContentNegotiation.choice(accept: accept)
    precondition(choice.format == format, "choice(accept:) and format(accept:) disagree")
    if choice.escaping != .underscores || choice.escapingNamed {
        precondition(
            accept.lowercased().filter { $0 != " " && $0 != "\t" }.contains("escaping=" + choice.escaping.rawValue),
            "escaping \(choice.escaping) chosen for an Accept that does not name it: \(accept.debugDescription)")
        precondition(choice.contentType.hasSuffix("; escaping=" + choice.escaping.rawValue), "escaping not named")
    }
    let formatType = format.contentType.split(separator: ";")[0]
    precondition(choice.contentType.hasPrefix(String(formatType)), "Content-Type of another format")
    let gzip = ContentNegotiation.allowsGzip(acceptEncoding: acceptEncoding)
    precondition(gzip == ContentNegotiation.allowsGzip(acceptEncoding: acceptEncoding), "not deterministic")
    if gzip {
        let lowered = acceptEncoding?.lowercased() ?? ""
        precondition(
            lowered.contains("gzip") || lowered.contains("*"),
            "gzip allowed for an Accept-Encoding without gzip or *: \(lowered.debugDescription)")
    }
    precondition(!ContentNegotiation.allowsGzip(acceptEncoding: nil), "gzip allowed without Accept-Encoding")
    precondition(ContentNegotiation.format(accept: nil) == .text, "no Accept must give text 0.0.4")
    return 0
}
