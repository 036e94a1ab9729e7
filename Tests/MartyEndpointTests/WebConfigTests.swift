import CMartyCrypt
import Glibc
import MartyTestSupport
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import MartyEndpoint
@testable import MartyMetrics

/// The committed test certificates (see Certificates/README.md).
let certificates: String = {
    let file = #filePath
    return String(file[..<file.lastIndex(of: "/")!]) + "/Certificates"
}()

/// A bcrypt hash of "s3cret" at cost 4 (the lowest: tests stay fast; the cost is in the hash).
let s3cretHash = "$2b$04$.2Xw3se1ZpdyI89/Aj//cOPCYcOo.GgqVjC7Jk7Dh3D2otPvrB86y"

func basic(_ user: String, _ password: String) -> String {
    let bytes = Array("\(user):\(password)".utf8)
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    var text: [UInt8] = []
    var index = 0
    while index < bytes.count {
        let chunk = bytes[index..<min(index + 3, bytes.count)]
        var value = UInt32(0)
        for (offset, byte) in chunk.enumerated() { value |= UInt32(byte) << (16 - 8 * offset) }
        for position in 0..<4 {
            text.append(
                position <= chunk.count ? alphabet[Int(value >> (18 - 6 * position) & 63)] : UInt8(ascii: "="))
        }
        index += 3
    }
    return "Basic " + String(decoding: text, as: UTF8.self)
}

/// A directory of its own under /tmp, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() {
        var template = Array("/tmp/marty-webconfig-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    func write(_ name: String, _ text: String) {
        // Written beside and renamed over, as a deploy tool does: a reader never sees half.
        let target = path + "/" + name
        let temporary = target + ".tmp"
        let file = fopen(temporary, "w")!
        fputs(text, file)
        fclose(file)
        rename(temporary, target)
    }

    func copy(_ certificate: String, to name: String) throws {
        write(name, try readTextFile(certificates + "/" + certificate))
    }

    func remove() {
        if let directory = opendir(path) {
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) {
                    String(cString: $0.bindMemory(to: CChar.self).baseAddress!)
                }
                if name != "." && name != ".." { unlink(path + "/" + name) }
            }
            closedir(directory)
        }
        rmdir(path)
    }
}

@Suite struct YAMLSubsetTests {
    @Test func readsTheSubsetWebConfigsUse() throws {
        let text = """
            ---
            # a comment
            top:
              plain: value with spaces  # trailing comment
              single: 'it''s # not a comment'
              double: "tab\\there \\u00e9"
              empty:
              list:
              - a
              - "b"
              same_level_list:
                - c
              flow: [x, 'y, z', "w"]
              hash: $2b$10$abc#notacomment
              block: |
                line one
                  indented
              stripped: |-
                only
            other: 1
            """
        let value = try YAMLSubsetParser.parse(text)
        let expected: YAMLValue = .mapping([
            (
                "top",
                .mapping([
                    ("plain", .scalar("value with spaces")),
                    ("single", .scalar("it's # not a comment")),
                    ("double", .scalar("tab\there é")),
                    ("empty", .null),
                    ("list", .sequence([.scalar("a"), .scalar("b")])),
                    ("same_level_list", .sequence([.scalar("c")])),
                    ("flow", .sequence([.scalar("x"), .scalar("y, z"), .scalar("w")])),
                    ("hash", .scalar("$2b$10$abc#notacomment")),
                    ("block", .scalar("line one\n  indented\n")),
                    ("stripped", .scalar("only")),
                ])
            ),
            ("other", .scalar("1")),
        ])
        #expect(value == expected)
        #expect(try YAMLSubsetParser.parse("") == .null)
        #expect(try YAMLSubsetParser.parse("# only a comment\n") == .null)
        // Flow sequences: empty, with a trailing comma, with commas inside quotes.
        #expect(try YAMLSubsetParser.parse("a: []") == .mapping([("a", .sequence([]))]))
        #expect(
            try YAMLSubsetParser.parse("a: [x, 'y,z',]")
                == .mapping([("a", .sequence([.scalar("x"), .scalar("y,z")]))]))
        // Tabs on blank and comment lines are not indentation.
        #expect(
            try YAMLSubsetParser.parse("a: 1\n\t\n \t# note\nb: 2\n")
                == .mapping([("a", .scalar("1")), ("b", .scalar("2"))]))
    }

    @Test(arguments: [
        ("a: &anchor 1", "anchors"),
        ("a: *alias", "anchors"),
        ("a: !!str 1", "tags"),
        ("a: 1\na: 2", "appears twice"),
        ("a: {b: 1}", "flow mappings"),
        ("a: 'open", "single quote"),
        ("a: \"open", "double quote"),
        ("a:\n\tb: 1", "tab"),
        ("a: 1\n  b: 2", "indentation"),
        ("- a: 1", "mappings inside sequences"),
        ("just text", "key: value"),
        ("a: >\n  folded", "folded"),
        ("a: 1\n---\nb: 2", "one YAML document"),
        ("a: [x, , y]", "an empty item"),
        ("a: [,]", "an empty item"),
        ("a: [x, [y]]", "nested flow"),
        // Nesting past the bound: an error, never a thread's stack used up (this one is 4,000 deep).
        ((0..<4_000).map { String(repeating: " ", count: $0) + "k:" }.joined(separator: "\n"), "nested deeper than 32"),
    ])
    func refusesWhatItDoesNotRead(_ text: String, _ expected: String) {
        do {
            _ = try YAMLSubsetParser.parse(text)
            Issue.record("parsed \(text.debugDescription)")
        } catch {
            #expect(error.description.contains(expected), "\(error.description)")
        }
    }
}

@Suite struct WebConfigParsingTests {
    @Test func readsEverySetting() throws {
        let config = try WebConfig.parse(
            """
            tls_server_config:
              cert_file: server.crt
              key_file: /abs/server.key
              client_ca_file: ca.crt
              client_auth_type: RequireAndVerifyClientCert
              min_version: TLS13
              max_version: TLS13
              cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
              curve_preferences: [X25519, CurveP256]
              prefer_server_cipher_suites: true
              client_allowed_sans: [prometheus.example]
            basic_auth_users:
              prometheus: \(s3cretHash)
            http_server_config:
              http2: false
              headers:
                X-Frame-Options: deny
                Strict-Transport-Security: max-age=31536000
            """, directory: "/etc/marty")
        let tls = try #require(config.tls)
        #expect(tls.certificate == .file("/etc/marty/server.crt"))
        #expect(tls.key == .file("/abs/server.key"))
        #expect(tls.clientCA == .file("/etc/marty/ca.crt"))
        #expect(tls.clientAuth == .requireAndVerifyClientCert)
        #expect(tls.minVersion == .tls13 && tls.maxVersion == .tls13)
        #expect(tls.cipherSuites == [0xC02F])
        #expect(tls.curves == [29, 23])
        #expect(tls.clientAllowedSANs == ["prometheus.example"])
        #expect(config.users == ["prometheus": s3cretHash])
        #expect(config.headers.map(\.name) == ["X-Frame-Options", "Strict-Transport-Security"])
        // Defaults: TLS 1.2 to 1.3, no client certificate.
        let minimal = try #require(
            try WebConfig.parse("tls_server_config:\n  cert_file: a\n  key_file: b\n", directory: "/d").tls)
        #expect(minimal.minVersion == .tls12 && minimal.maxVersion == .tls13 && minimal.clientAuth == .noClientCert)
        // Users alone: plain HTTP with basic auth.
        #expect(try WebConfig.parse("basic_auth_users:\n  u: \(s3cretHash)\n", directory: "/d").tls == nil)
        // An empty tls_server_config is no TLS, as exporter-toolkit reads it.
        #expect(try WebConfig.parse("tls_server_config:\n  cert_file:\n", directory: "/d").tls == nil)
    }

    @Test(arguments: [
        ("tls_server_config:\n  cert_file: a\n", "missing one of key or key_file"),
        ("tls_server_config:\n  key_file: a\n", "missing one of cert or cert_file"),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Sometimes\n", "is not one of"),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: c\n", "without a client_auth_type"),
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n",
            "needs client_ca_file"
        ),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS14\n", "is not one of"),
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n  max_version: TLS12\n",
            "is above max_version"
        ),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [TLS_FANCY]\n", "unknown cipher suite"),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  curve_preferences: [P999]\n", "unknown curve"),
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_allowed_sans: [x]\n",
            "client_allowed_sans requires"
        ),
        ("tls_server_config:\n  cert_file: a\n  cert: inline\n  key_file: b\n", "not both"),
        ("tls_server_config:\n  certfile: a\n", "not a known setting"),
        ("basic_auth_users:\n  u: plaintext\n", "not a bcrypt hash"),
        ("basic_auth_users:\n  u: $2b$03$.2Xw3se1ZpdyI89/Aj//cOPCYcOo.GgqVjC7Jk7Dh3D2otPvrB86y\n", "not a bcrypt hash"),
        ("basic_auth_users: [a]\n", "must be a mapping"),
        ("http_server_config:\n  headers:\n    Server: marty\n", "can not be configured"),
        ("http_server_config:\n  headers:\n    X-Frame-Options: allow\n", "invalid value"),
        ("http_server_config:\n  http2: maybe\n", "true or false"),
        ("rate_limit:\n  burst: 1\n", "not supported"),
        ("web: 1\n", "not a known setting"),
        ("- a\n", "must be a mapping"),
    ])
    func refusesAnInvalidFile(_ text: String, _ expected: String) {
        do {
            _ = try WebConfig.parse(text, directory: "/d")
            Issue.record("accepted \(text.debugDescription)")
        } catch {
            #expect(error.kind == .invalidArgument)
            #expect(error.message.contains(expected), "\(error.message)")
        }
    }
}

@Suite struct BasicAuthTests {
    @Test func decodesBasicCredentials() {
        #expect(BasicAuthenticator.credentials(basic("prometheus", "s3cret"))! == ("prometheus", "s3cret"))
        #expect(BasicAuthenticator.credentials(basic("u", "pass:with:colons"))! == ("u", "pass:with:colons"))
        #expect(BasicAuthenticator.credentials(basic("", ""))! == ("", ""))
        #expect(BasicAuthenticator.credentials("basic " + basic("a", "b").dropFirst(6))! == ("a", "b"))
        for bad in [
            nil, "", "Basic", "Bearer abc", "Basic !!!!", "Basic YWJj", "Basic YQ=", "Basic Y=Jj", "Basic YWJjZA==",
        ] {
            // "YWJjZA==" is "abcd": no colon.
            #expect(BasicAuthenticator.credentials(bad) == nil, "\(bad ?? "nil")")
        }
        #expect(BasicAuthenticator.base64Decode("") == [])
        #expect(BasicAuthenticator.base64Decode("YQ==") == [0x61])
        #expect(BasicAuthenticator.base64Decode("YWI=") == [0x61, 0x62])
        #expect(BasicAuthenticator.base64Decode("/+8A") == [0xFF, 0xEF, 0x00])
        // Not canonical (bits left over after the padding): refused.
        #expect(BasicAuthenticator.base64Decode("YR==") == nil)
        #expect(BasicAuthenticator.base64Decode("YWJ=") == nil)
    }

    @Test func bcryptVerifiesThroughLibxcrypt() {
        func verify(_ password: [UInt8], _ hash: String) -> Int32 {
            let terminated = password.map { CChar(bitPattern: $0) } + [0]
            return terminated.withUnsafeBufferPointer { cmarty_bcrypt_verify($0.baseAddress!, password.count, hash) }
        }
        #expect(verify(Array("s3cret".utf8), s3cretHash) == 1)
        #expect(verify(Array("s3cret ".utf8), s3cretHash) == 0)
        #expect(verify(Array("".utf8), s3cretHash) == 0)
        // A NUL inside never matches (bcrypt would stop reading at it).
        #expect(verify(Array("s3cret".utf8) + [0, 0x41], s3cretHash) == 0)
        // $2y$ (PHP's, htpasswd's) is read as $2b$.
        #expect(verify(Array("s3cret".utf8), "$2y$" + s3cretHash.dropFirst(4)) == 1)
        #expect(verify(Array("s3cret".utf8), "$2b$04$short") == -1)
        #expect(verify(Array("s3cret".utf8), "plaintext") == -1)
    }
}

@Suite struct WebConfigEndpointTests {
    @Test func basicAuthGuardsMetricsOnlyAndHeadersGoOnEveryResponse() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        directory.write(
            "web.yml",
            """
            basic_auth_users:
              prometheus: \(s3cretHash)
            http_server_config:
              headers:
                X-Content-Type-Options: nosniff
            """)
        let registry = Registry()
        try registry.counter("guarded_total", help: "Behind basic auth.").labels().inc()
        let endpoint = try startEndpoint(registry: registry, separateHealth: false) {
            $0.webConfigFile = directory.path + "/web.yml"
        }
        defer { endpoint.shutdown() }
        let port = endpoint.metricsPort
        #expect(!endpoint.metricsUsesTLS)
        for authorization in [nil, basic("prometheus", "wrong"), basic("nobody", "s3cret"), "Basic", "Bearer x"] {
            let response = try get(port, "/metrics", headers: authorization.map { ["Authorization": $0] } ?? [:])
            #expect(response.status == 401, "\(authorization ?? "none")")
            #expect(response.header("WWW-Authenticate")?.hasPrefix("Basic realm=") == true)
            #expect(response.header("X-Content-Type-Options") == "nosniff")
            #expect(!response.text.contains("guarded_total"))
        }
        for _ in 0..<3 {  // the second and third are answered from the cache
            let response = try get(port, "/metrics", headers: ["Authorization": basic("prometheus", "s3cret")])
            #expect(response.status == 200)
            #expect(response.text.contains("guarded_total 1"))
            #expect(response.header("X-Content-Type-Options") == "nosniff")
        }
        let probe = try get(port, "/health/live")
        #expect(probe.status == 200)
        #expect(probe.header("X-Content-Type-Options") == "nosniff")
        #expect(try get(port, "/nowhere").header("X-Content-Type-Options") == "nosniff")
    }

    @Test func aChangedFileAppliesToTheNextRequestAndABrokenOneIsNotUsed() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let file = directory.path + "/web.yml"
        directory.write("web.yml", "basic_auth_users:\n  first: \(s3cretHash)\n")
        let endpoint = try startEndpoint { $0.webConfigFile = file }
        defer { endpoint.shutdown() }
        let port = endpoint.metricsPort
        #expect(try get(port, "/metrics", headers: ["Authorization": basic("first", "s3cret")]).status == 200)
        directory.write("web.yml", "basic_auth_users:\n  second: \(s3cretHash)\n")
        #expect(try get(port, "/metrics", headers: ["Authorization": basic("first", "s3cret")]).status == 401)
        #expect(try get(port, "/metrics", headers: ["Authorization": basic("second", "s3cret")]).status == 200)
        // A broken file: the last good one stays.
        directory.write("web.yml", "basic_auth_users:\n  third: not-a-hash\n")
        #expect(try get(port, "/metrics", headers: ["Authorization": basic("second", "s3cret")]).status == 200)
        #expect(try get(port, "/metrics", headers: ["Authorization": basic("third", "not-a-hash")]).status == 401)
        // Fixed again: used.
        directory.write("web.yml", "basic_auth_users:\n  third: \(s3cretHash)\n")
        #expect(try get(port, "/metrics", headers: ["Authorization": basic("third", "s3cret")]).status == 200)
    }

    @Test func anUnusableWebConfigFailsTheStartAndBindsNothing() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let cases: [(String?, String)] = [
            (nil, "cannot open"),
            ("basic_auth_users:\n  u: x\n", "not a bcrypt hash"),
        ]
        try expectStartFails(directory, cases)
    }

    @Test func theEnvironmentNamesTheFileAndAnEmptyOptionTurnsItOff() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        directory.write("web.yml", "basic_auth_users:\n  u: \(s3cretHash)\n")
        let path = directory.path + "/web.yml"
        let fromEnvironment = try startEndpoint {
            $0.environment = { $0 == "MARTY_METRICS_WEB_CONFIG" ? path : nil }
        }
        #expect(try get(fromEnvironment.metricsPort, "/metrics").status == 401)
        fromEnvironment.shutdown()
        let turnedOff = try startEndpoint {
            $0.environment = { $0 == "MARTY_METRICS_WEB_CONFIG" ? path : nil }
            $0.webConfigFile = ""
        }
        #expect(try get(turnedOff.metricsPort, "/metrics").status == 200)
        turnedOff.shutdown()
    }
}

/// Finds a port nothing listens on (bound then closed).
func freePort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0
        }
    }
    guard bound else { throw RawHTTPError("cannot bind an ephemeral port") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Starts an endpoint with each web config (nil: a file that does not exist) and expects the
/// start to fail naming the file and `expected`, leaving the port free.
func expectStartFails(_ directory: TemporaryDirectory, _ cases: [(String?, String)]) throws {
    for (text, expected) in cases {
        let file = directory.path + "/" + (text == nil ? "absent.yml" : "web.yml")
        if let text { directory.write("web.yml", text) }
        let port = try freePort()
        do {
            let endpoint = try startEndpoint {
                $0.webConfigFile = file
                $0.metricsPort = port
            }
            endpoint.shutdown()
            Issue.record("started with \(text ?? "no file")")
        } catch let error as MetricError {
            #expect(error.kind == .invalidArgument)
            #expect(error.message.contains(expected) && error.message.contains(file), "\(error.message)")
        }
        // Nothing was left listening: the port binds again.
        let again = try startEndpoint { $0.metricsPort = port }
        again.shutdown()
    }
}
