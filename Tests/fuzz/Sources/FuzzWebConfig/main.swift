import MartyMetrics

// libFuzzer target: what a web config and an Authorization header bring in.
//
// The first byte picks what the rest is:
//   - even: a web-config file (the YAML subset, then the settings), which must parse or be
//     refused with `.invalidArgument`, the same way twice;
//   - odd: an `Authorization` header value, whose credentials must decode the same way twice,
//     and whose base64 part, when it decodes, must encode back to itself.
@testable import MartyEndpoint

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWebConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let rest = UnsafeBufferPointer(start: data + 1, count: size - 1)
    let text = String(decoding: rest, as: UTF8.self)
    if data[0] % 2 == 0 {
        let first = outcome(text)
        precondition(first == outcome(text), "WebConfig.parse is not deterministic")
    } else {
        let first = BasicAuthenticator.credentials(text)
        let second = BasicAuthenticator.credentials(text)
        precondition(first?.0 == second?.0 && first?.1 == second?.1, "credentials(_:) is not deterministic")
        if let decoded = BasicAuthenticator.base64Decode(Substring(text)) {
            precondition(base64(decoded) == text, "base64 of the decoded bytes differs: \(text.debugDescription)")
        }
    }
    return 0
}

private func outcome(_ text: String) -> String {
    do {
        let config = try WebConfig.parse(text, directory: "/etc/marty")
        return "ok \(config.users.count) \(config.headers.count) \(config.tls != nil)"
    } catch {
        precondition(error.kind == .invalidArgument, "a web config refused as \(error.kind)")
        return "refused \(error.message)"
    }
}

private func base64(_ bytes: [UInt8]) -> String {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    var text: [UInt8] = []
    var index = 0
    while index < bytes.count {
        let chunk = bytes[index..<min(index + 3, bytes.count)]
        var value = UInt32(0)
        for (offset, byte) in chunk.enumerated() { value |= UInt32(byte) << (16 - 8 * offset) }
        for position in 0..<4 {
            text.append(position <= chunk.count ? alphabet[Int(value >> (18 - 6 * position) & 63)] : UInt8(ascii: "="))
        }
        index += 3
    }
    return String(decoding: text, as: UTF8.self)
}
