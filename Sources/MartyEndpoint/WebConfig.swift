import Glibc
import MartyMetrics

/// A web-config file, the format Prometheus' own exporters read (exporter-toolkit): TLS for
/// the listener, basic auth users with bcrypt hashes, extra response headers. Keys outside
/// the format are refused, as exporter-toolkit's strict reading does.
///
/// ```yaml
/// tls_server_config:
///   cert_file: server.crt          # relative paths are relative to this file's directory
///   key_file: server.key
///   client_auth_type: RequireAndVerifyClientCert
///   client_ca_file: ca.crt
///   min_version: TLS12
/// basic_auth_users:
///   prometheus: $2b$10$...         # bcrypt
/// http_server_config:
///   headers:
///     X-Frame-Options: deny
/// ```
struct WebConfig {
    struct TLS {
        enum ClientAuth: String, CaseIterable {
            case noClientCert = "NoClientCert"
            case requestClientCert = "RequestClientCert"
            case requireAnyClientCert = "RequireAnyClientCert"
            case verifyClientCertIfGiven = "VerifyClientCertIfGiven"
            case requireAndVerifyClientCert = "RequireAndVerifyClientCert"
        }
        enum Version: String, CaseIterable, Comparable {
            case tls10 = "TLS10"
            case tls11 = "TLS11"
            case tls12 = "TLS12"
            case tls13 = "TLS13"

            static func < (lhs: Version, rhs: Version) -> Bool {
                allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
            }
        }
        /// PEM text or a file (an absolute path once read).
        enum Source: Equatable {
            case file(String)
            case inline(String)
        }

        var certificate: Source
        var key: Source
        var clientCA: Source?
        var clientAuth: ClientAuth = .noClientCert
        var minVersion: Version = .tls12
        var maxVersion: Version = .tls13
        /// IANA names, as Go's crypto/tls names them (TLS 1.2 and below; TLS 1.3's are fixed).
        var cipherSuites: [UInt16] = []
        var curves: [UInt16] = []
        var clientAllowedSANs: [String]? = nil

        /// The files the context is read from, to notice when one changes.
        var files: [String] {
            [certificate, key, clientCA].compactMap {
                if case .file(let path) = $0 { return path }
                return nil
            }
        }
    }

    var tls: TLS? = nil
    /// User name → bcrypt hash. Empty: no authentication.
    var users: [String: String] = [:]
    /// Sent on every response, in the file's order.
    var headers: [(name: String, value: String)] = []

    /// Reads and checks the file at `path`. Certificates are not read here (`TLSServerContext`
    /// does); only the file's own content is checked.
    static func load(path: String) throws(MetricError) -> WebConfig {
        let text: String
        do {
            text = try readTextFile(path)
        } catch {
            throw MetricError(.invalidArgument, "web config \(path): \(error.message)")
        }
        do {
            return try parse(text, directory: directory(of: path))
        } catch {
            throw MetricError(.invalidArgument, "web config \(path): \(error.message)")
        }
    }

    static func parse(_ text: String, directory: String) throws(MetricError) -> WebConfig {
        let document: YAMLValue
        do {
            document = try YAMLSubsetParser.parse(text)
        } catch {
            throw MetricError(.invalidArgument, error.description)
        }
        var config = WebConfig()
        if document == .null { return config }
        for (key, value) in try mapping(document, "the file") {
            switch key {
            case "tls_server_config":
                config.tls = try tlsSettings(value, directory: directory)
            case "basic_auth_users":
                for (user, hash) in try mapping(value, key) {
                    let hash = try string(hash, "basic_auth_users.\(user)")
                    try checkBcrypt(hash, user: user)
                    config.users[user] = hash
                }
            case "http_server_config":
                for (field, setting) in try mapping(value, key) {
                    switch field {
                    case "http2":
                        // HTTP/1.1 only: scrapers fall back to it when ALPN offers nothing else.
                        _ = try bool(setting, "http_server_config.http2")
                    case "headers":
                        for (name, headerValue) in try mapping(setting, "http_server_config.headers") {
                            let text = try string(headerValue, "http_server_config.headers.\(name)")
                            try checkHeader(name, text)
                            config.headers.append((name, text))
                        }
                    default:
                        throw MetricError(.invalidArgument, "http_server_config.\(field) is not a known setting")
                    }
                }
            case "rate_limit":
                throw MetricError(
                    .invalidArgument,
                    "rate_limit is not supported (the endpoint limits connections and renders in flight instead)")
            default:
                throw MetricError(.invalidArgument, "\(key) is not a known setting")
            }
        }
        return config
    }

    private static func tlsSettings(_ value: YAMLValue, directory: String) throws(MetricError) -> TLS? {
        var certFile: String? = nil
        var keyFile: String? = nil
        var caFile: String? = nil
        var cert: String? = nil
        var key: String? = nil
        var ca: String? = nil
        var clientAuth: TLS.ClientAuth? = nil
        var minVersion = TLS.Version.tls12
        var maxVersion = TLS.Version.tls13
        var ciphers: [UInt16] = []
        var curves: [UInt16] = []
        var sans: [String]? = nil
        var anySet = false
        for (field, setting) in try mapping(value, "tls_server_config") {
            let name = "tls_server_config.\(field)"
            if setting != .null { anySet = true }
            switch field {
            case "cert_file": certFile = try optionalString(setting, name)
            case "key_file": keyFile = try optionalString(setting, name)
            case "client_ca_file": caFile = try optionalString(setting, name)
            case "cert": cert = try optionalString(setting, name)
            case "key": key = try optionalString(setting, name)
            case "client_ca": ca = try optionalString(setting, name)
            case "client_auth_type":
                guard let text = try optionalString(setting, name) else { break }
                // "RequireClientCert" is exporter-toolkit's old name for RequireAnyClientCert.
                let known = text == "RequireClientCert" ? .requireAnyClientCert : TLS.ClientAuth(rawValue: text)
                guard let known else {
                    throw MetricError(
                        .invalidArgument,
                        "\(name) \"\(text)\" is not one of \(TLS.ClientAuth.allCases.map(\.rawValue).joined(separator: ", "))"
                    )
                }
                clientAuth = known
            case "min_version", "max_version":
                guard let text = try optionalString(setting, name) else { break }
                guard let version = TLS.Version(rawValue: text) else {
                    throw MetricError(
                        .invalidArgument,
                        "\(name) \"\(text)\" is not one of \(TLS.Version.allCases.map(\.rawValue).joined(separator: ", "))"
                    )
                }
                if field == "min_version" { minVersion = version } else { maxVersion = version }
            case "cipher_suites":
                for item in try stringList(setting, name) {
                    guard let code = TLSCipherNames.code(item) else {
                        throw MetricError(.invalidArgument, "\(name): unknown cipher suite \(item)")
                    }
                    ciphers.append(code)
                }
            case "curve_preferences":
                for item in try stringList(setting, name) {
                    guard let code = TLSCipherNames.curve(item) else {
                        throw MetricError(
                            .invalidArgument, "\(name): unknown curve \(item) (CurveP256, CurveP384, CurveP521, X25519)"
                        )
                    }
                    curves.append(code)
                }
            case "prefer_server_cipher_suites":
                _ = try bool(setting, name)  // Go ignores it too since 1.18
            case "client_allowed_sans":
                sans = try stringList(setting, name)
            default:
                throw MetricError(.invalidArgument, "\(name) is not a known setting")
            }
        }
        guard anySet else { return nil }
        func source(_ file: String?, _ text: String?, _ what: String) throws(MetricError) -> TLS.Source? {
            if let file, !file.isEmpty {
                if let text, !text.isEmpty {
                    throw MetricError(.invalidArgument, "tls_server_config: give \(what)_file or \(what), not both")
                }
                return .file(file.hasPrefix("/") ? file : directory + "/" + file)
            }
            if let text, !text.isEmpty { return .inline(text) }
            return nil
        }
        guard let certificate = try source(certFile, cert, "cert") else {
            throw MetricError(.invalidArgument, "tls_server_config: missing one of cert or cert_file")
        }
        guard let privateKey = try source(keyFile, key, "key") else {
            throw MetricError(.invalidArgument, "tls_server_config: missing one of key or key_file")
        }
        let clientCA = try source(caFile, ca, "client_ca")
        let auth = clientAuth ?? .noClientCert
        if clientCA != nil && auth == .noClientCert {
            throw MetricError(
                .invalidArgument,
                "tls_server_config: a client CA is configured without a client_auth_type that asks for one")
        }
        if clientCA == nil && (auth == .verifyClientCertIfGiven || auth == .requireAndVerifyClientCert) {
            throw MetricError(
                .invalidArgument,
                "tls_server_config: client_auth_type \(auth.rawValue) needs client_ca_file or client_ca")
        }
        if sans != nil && auth != .requireAnyClientCert && auth != .requireAndVerifyClientCert {
            throw MetricError(
                .invalidArgument,
                "tls_server_config: client_allowed_sans requires client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert"
            )
        }
        guard minVersion <= maxVersion else {
            throw MetricError(
                .invalidArgument,
                "tls_server_config: min_version \(minVersion.rawValue) is above max_version \(maxVersion.rawValue)")
        }
        return TLS(
            certificate: certificate, key: privateKey, clientCA: clientCA, clientAuth: auth, minVersion: minVersion,
            maxVersion: maxVersion, cipherSuites: ciphers, curves: curves, clientAllowedSANs: sans)
    }

    /// The headers exporter-toolkit lets a web config set, with the values it allows (nil: any).
    static let allowedHeaders: [(name: String, values: [String]?)] = [
        ("Strict-Transport-Security", nil), ("X-Content-Type-Options", ["nosniff"]),
        ("X-Frame-Options", ["deny", "sameorigin"]), ("X-XSS-Protection", nil), ("Content-Security-Policy", nil),
    ]

    private static func checkHeader(_ name: String, _ value: String) throws(MetricError) {
        guard let allowed = allowedHeaders.first(where: { $0.name == name }) else {
            throw MetricError(
                .invalidArgument,
                "HTTP header \"\(name)\" can not be configured (one of \(allowedHeaders.map(\.name).joined(separator: ", ")))"
            )
        }
        if let values = allowed.values, !values.contains(value) {
            throw MetricError(
                .invalidArgument,
                "invalid value for \(name): expected one of \(values.joined(separator: ", ")), got \"\(value)\"")
        }
        guard value.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x7F }) else {
            throw MetricError(.invalidArgument, "the value of header \(name) holds a control character")
        }
    }

    /// A bcrypt hash libxcrypt verifies: $2a$, $2b$ or $2y$, a cost of 04 to 31, 53 characters.
    private static func checkBcrypt(_ hash: String, user: String) throws(MetricError) {
        let bytes = Array(hash.utf8)
        let prefixes = ["$2a$", "$2b$", "$2y$"].map { Array($0.utf8) }
        let alphabet = Set("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
        guard bytes.count == 60, prefixes.contains(Array(bytes[0..<4])),
            let cost = Int(String(decoding: bytes[4..<6], as: UTF8.self)), (4...31).contains(cost),
            bytes[6] == UInt8(ascii: "$"),
            bytes[7...].allSatisfy({ alphabet.contains($0) })
        else {
            throw MetricError(
                .invalidArgument,
                "basic_auth_users.\(user): not a bcrypt hash ($2a$, $2b$ or $2y$, cost 04 to 31, 60 characters)")
        }
    }

    private static func mapping(_ value: YAMLValue, _ name: String) throws(MetricError) -> [(
        key: String, value: YAMLValue
    )] {
        switch value {
        case .mapping(let entries): return entries
        case .null: return []
        default: throw MetricError(.invalidArgument, "\(name) must be a mapping")
        }
    }

    private static func string(_ value: YAMLValue, _ name: String) throws(MetricError) -> String {
        guard case .scalar(let text) = value else { throw MetricError(.invalidArgument, "\(name) must be a string") }
        return text
    }

    private static func optionalString(_ value: YAMLValue, _ name: String) throws(MetricError) -> String? {
        value == .null ? nil : try string(value, name)
    }

    private static func stringList(_ value: YAMLValue, _ name: String) throws(MetricError) -> [String] {
        switch value {
        case .null: return []
        case .sequence(let items):
            var result: [String] = []
            for item in items { result.append(try string(item, name)) }
            return result
        default: throw MetricError(.invalidArgument, "\(name) must be a list")
        }
    }

    private static func bool(_ value: YAMLValue, _ name: String) throws(MetricError) -> Bool {
        switch value {
        case .scalar("true"), .scalar("True"), .scalar("TRUE"): return true
        case .scalar("false"), .scalar("False"), .scalar("FALSE"): return false
        default: throw MetricError(.invalidArgument, "\(name) must be true or false")
        }
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}

/// Reads a whole file as UTF-8 (at most 16 MiB: a web config or a certificate is small).
func readTextFile(_ path: String) throws(MetricError) -> String {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else {
        throw MetricError(.invalidArgument, "cannot open \(path): \(String(cString: strerror(errno)))")
    }
    defer { close(descriptor) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16 * 1024)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count < 0 {
            if errno == EINTR { continue }
            throw MetricError(.invalidArgument, "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        if count == 0 { break }
        bytes.append(contentsOf: chunk[0..<count])
        if bytes.count > 16 << 20 { throw MetricError(.invalidArgument, "\(path) is over 16 MiB") }
    }
    guard let text = String(validating: bytes, as: UTF8.self) else {
        throw MetricError(.invalidArgument, "\(path) is not UTF-8")
    }
    return text
}

/// Go's names for TLS cipher suites and curves (exporter-toolkit takes Go's names).
enum TLSCipherNames {
    static let suites: [(name: String, code: UInt16)] = [
        ("TLS_RSA_WITH_AES_128_CBC_SHA", 0x002F), ("TLS_RSA_WITH_AES_256_CBC_SHA", 0x0035),
        ("TLS_RSA_WITH_AES_128_GCM_SHA256", 0x009C), ("TLS_RSA_WITH_AES_256_GCM_SHA384", 0x009D),
        ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", 0xC009), ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", 0xC00A),
        ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", 0xC013), ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", 0xC014),
        ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", 0xC02B), ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", 0xC02C),
        ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", 0xC02F), ("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", 0xC030),
        ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", 0xCCA8),
        ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", 0xCCA9),
        ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", 0xCCA8), ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", 0xCCA9),
        ("TLS_AES_128_GCM_SHA256", 0x1301), ("TLS_AES_256_GCM_SHA384", 0x1302),
        ("TLS_CHACHA20_POLY1305_SHA256", 0x1303),
    ]

    static func code(_ name: String) -> UInt16? { suites.first { $0.name == name }?.code }

    static func curve(_ name: String) -> UInt16? {
        switch name {
        case "CurveP256": return 23
        case "CurveP384": return 24
        case "CurveP521": return 25
        case "X25519": return 29
        default: return nil
        }
    }
}
