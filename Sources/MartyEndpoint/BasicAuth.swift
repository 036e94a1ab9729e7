import CMartyCrypt
import MartyMetrics
import NIOCore
import NIOPosix

/// HTTP basic auth against a web config's bcrypt hashes. bcrypt is slow by design (tens of
/// milliseconds at cost 10), so it runs on a thread of its own, one check at a time, never
/// on the event loop or the render threads: a flood of wrong passwords delays other logins,
/// not scrapes or probes. Results are remembered (a bounded cache keyed by user, hash and
/// password, as exporter-toolkit does) so a scraper's repeated scrapes cost one hash.
// @unchecked Sendable: `cache` is guarded by `lock`.
final class BasicAuthenticator: @unchecked Sendable {
    /// For unknown users: the same work as a known one, so timing does not tell users apart.
    private static let decoyHash = "$2b$10$4HW3ku0uqEuPeE7Oi6wo0ObSjmW3YOmIiQeE3vVAWwViUuDmEdaC."
    private static let cacheLimit = 256

    private let thread: WorkerThreads
    private let lock = Lock(.leaf)
    private var cache: [String: Bool] = [:]

    init(thread: WorkerThreads) {
        self.thread = thread
    }

    /// Whether `authorization` (the header's value, or nil) names a user of `users` with the
    /// right password. Completes on `eventLoop`.
    func check(_ authorization: String?, users: [String: String], on eventLoop: EventLoop) -> EventLoopFuture<Bool> {
        guard let (user, password) = Self.credentials(authorization) else {
            return eventLoop.makeSucceededFuture(false)
        }
        let known = users[user]
        let hash = known ?? Self.decoyHash
        let key = user + "\u{0}" + hash + "\u{0}" + password
        if let cached = lock.withLock({ cache[key] }) {
            return eventLoop.makeSucceededFuture(cached && known != nil)
        }
        return thread.run(on: eventLoop) { [self] in
            let matches = password.utf8CString.withUnsafeBufferPointer { bytes in
                cmarty_bcrypt_verify(bytes.baseAddress, bytes.count - 1, hash) == 1
            }
            lock.withLock {
                if cache.count >= Self.cacheLimit { cache.removeAll(keepingCapacity: true) }
                cache[key] = matches
            }
            return matches && known != nil
        }
    }

    /// User and password from "Basic base64(user:password)"; nil when absent or malformed.
    static func credentials(_ authorization: String?) -> (String, String)? {
        guard let authorization else { return nil }
        let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "basic",
            let decoded = base64Decode(parts[1].trimmingSpacesSubstring),
            let colon = decoded.firstIndex(of: UInt8(ascii: ":")),
            let user = String(validating: decoded[..<colon], as: UTF8.self),
            let password = String(validating: decoded[(colon + 1)...], as: UTF8.self)
        else { return nil }
        return (user, password)
    }

    /// Standard, canonical base64 with padding (RFC 4648 §4), as browsers, curl and Prometheus send it.
    static func base64Decode(_ text: Substring) -> [UInt8]? {
        let bytes = Array(text.utf8)
        guard bytes.count % 4 == 0 else { return nil }
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count / 4 * 3)
        var index = 0
        while index < bytes.count {
            var quad: UInt32 = 0
            var padding = 0
            for offset in 0..<4 {
                let byte = bytes[index + offset]
                let value: UInt32
                switch byte {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = UInt32(byte - UInt8(ascii: "A"))
                case UInt8(ascii: "a")...UInt8(ascii: "z"): value = UInt32(byte - UInt8(ascii: "a")) + 26
                case UInt8(ascii: "0")...UInt8(ascii: "9"): value = UInt32(byte - UInt8(ascii: "0")) + 52
                case UInt8(ascii: "+"): value = 62
                case UInt8(ascii: "/"): value = 63
                case UInt8(ascii: "="):
                    // Padding only at the end of the last quad.
                    guard index + 4 == bytes.count, offset >= 2 else { return nil }
                    padding += 1
                    value = 0
                default: return nil
                }
                if padding > 0 && byte != UInt8(ascii: "=") { return nil }
                quad = quad << 6 | value
            }
            // Canonical only: the bits the padding leaves over must be zero (RFC 4648 §3.5).
            if (padding == 1 && quad & 0xFF != 0) || (padding == 2 && quad & 0xFFFF != 0) { return nil }
            output.append(UInt8(truncatingIfNeeded: quad >> 16))
            if padding < 2 { output.append(UInt8(truncatingIfNeeded: quad >> 8)) }
            if padding < 1 { output.append(UInt8(truncatingIfNeeded: quad)) }
            index += 4
        }
        return output
    }
}

extension Substring {
    var trimmingSpacesSubstring: Substring {
        var text = self
        while text.first == " " || text.first == "\t" { text = text.dropFirst() }
        while text.last == " " || text.last == "\t" { text = text.dropLast() }
        return text
    }
}
