import Glibc
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization
import Testing

@testable import MartyEndpoint
@testable import MartyMetrics

// TLS over loopback with swift-nio-ssl's client (not in the TSan package, whose build has no TLS).

/// One HTTPS request through swift-nio-ssl's client: the response bytes and the server's
/// certificate, or the error that ended the connection.
func tlsRequest(
    port: Int, path: String = "/metrics", authorization: String? = nil, clientCertificate: String? = nil
) throws -> (response: HTTPResponse?, serverCertificate: NIOSSLCertificate?, error: (any Error)?) {
    var configuration = TLSConfiguration.makeClientConfiguration()
    configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(certificates + "/test-ca.crt"))
    if let clientCertificate {
        configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificates + "/\(clientCertificate).crt")
            .map { .certificate($0) }
        configuration.privateKey = .privateKey(
            try NIOSSLPrivateKey(file: certificates + "/\(clientCertificate).key", format: .pem))
    }
    let context = try NIOSSLContext(configuration: configuration)
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    defer { try? group.syncShutdownGracefully() }
    let collector = ResponseCollector()
    let channel = try ClientBootstrap(group: group)
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(
                    try NIOSSLClientHandler(context: context, serverHostname: "localhost"))
                try channel.pipeline.syncOperations.addHandler(collector)
            }
        }
        .connect(host: "127.0.0.1", port: port).wait()
    var request = "GET \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
    if let authorization { request += "Authorization: \(authorization)\r\n" }
    channel.writeAndFlush(channel.allocator.buffer(string: request + "\r\n"), promise: nil)
    try? channel.closeFuture.wait()
    let certificate = collector.serverCertificate
    let bytes = collector.bytes
    return (HTTPResponse.parseAll(bytes, headOnly: false).first, certificate, collector.error)
}

/// Gathers what a TLS client connection reads, and the server's certificate after the handshake.
final class ResponseCollector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    private let state = Mutex<(bytes: [UInt8], certificate: NIOSSLCertificate?, error: (any Error)?)>(([], nil, nil))

    var bytes: [UInt8] { state.withLock { $0.bytes } }
    var serverCertificate: NIOSSLCertificate? { state.withLock { $0.certificate } }
    var error: (any Error)? { state.withLock { $0.error } }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Data is read only after the handshake: the server's certificate is known by then.
        let certificate = try? context.channel.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self)
            .peerCertificate
        let buffer = unwrapInboundIn(data)
        state.withLock {
            $0.bytes += buffer.readableBytesView
            if $0.certificate == nil { $0.certificate = certificate ?? nil }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        state.withLock { $0.error = $0.error ?? error }
        context.close(promise: nil)
    }
}

@Suite struct TLSEndpointTests {
    /// A directory with server-a's certificate and the CA, and a web config naming them.
    func tlsDirectory(clientAuth: String? = nil, extra: String = "") throws -> TemporaryDirectory {
        let directory = TemporaryDirectory()
        try directory.copy("server-a.crt", to: "server.crt")
        try directory.copy("server-a.key", to: "server.key")
        try directory.copy("test-ca.crt", to: "ca.crt")
        var text = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        if let clientAuth { text += "  client_auth_type: \(clientAuth)\n  client_ca_file: ca.crt\n" }
        directory.write("web.yml", text + extra)
        return directory
    }

    @Test func anUnusableCertificateOrKeyFailsTheStart() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        try directory.copy("server-a.crt", to: "server-a.crt")
        try directory.copy("server-b.key", to: "server-b.key")
        try expectStartFails(
            directory,
            [
                ("tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n", "missing.crt"),
                (
                    "tls_server_config:\n  cert_file: server-a.crt\n  key_file: server-b.key\n",
                    "do not make a TLS context"
                ),
            ])
    }

    @Test func mutualTLSWithBasicAuth() throws {
        let directory = try tlsDirectory(
            clientAuth: "RequireAndVerifyClientCert", extra: "basic_auth_users:\n  prometheus: \(s3cretHash)\n")
        defer { directory.remove() }
        let registry = Registry()
        try registry.counter("secret_total", help: "Over TLS.").labels().inc(by: 3)
        let endpoint = try startEndpoint(registry: registry) { $0.webConfigFile = directory.path + "/web.yml" }
        defer { endpoint.shutdown() }
        let port = endpoint.metricsPort
        #expect(endpoint.metricsUsesTLS)

        let good = try tlsRequest(port: port, authorization: basic("prometheus", "s3cret"), clientCertificate: "client")
        #expect(good.response?.status == 200)
        #expect(good.response?.text.contains("secret_total 3") == true)
        let noPassword = try tlsRequest(port: port, clientCertificate: "client")
        #expect(noPassword.response?.status == 401)
        #expect(noPassword.response?.text.contains("secret_total") == false)
        // No client certificate, or one from another CA: the handshake fails, nothing is answered.
        for client in [nil, "rogue-client"] {
            let refused = try tlsRequest(
                port: port, authorization: basic("prometheus", "s3cret"), clientCertificate: client)
            #expect(refused.response == nil, "\(client ?? "no certificate")")
            #expect(refused.error != nil)
        }
        // Plain HTTP on the TLS port: Go's answer, then the connection closes.
        let plain = try get(port, "/metrics")
        #expect(plain.status == 400)
        #expect(plain.text.contains("Client sent an HTTP request to an HTTPS server"))
        // The health port stays plain HTTP (the default), for kubelet.
        #expect(try get(try #require(endpoint.healthPort), "/health/live").status == 200)
    }

    @Test func stalledHandshakesNeitherKeepScrapesOutNorStayOpen() throws {
        let directory = try tlsDirectory()
        defer { directory.remove() }
        let endpoint = try startEndpoint {
            $0.webConfigFile = directory.path + "/web.yml"
            $0.maxConnections = 16
            $0.requestHeadTimeoutSeconds = 1
        }
        defer { endpoint.shutdown() }
        // More connections than the listener holds, each stopping inside a ClientHello's record.
        var stalled: [RawConnection] = []
        defer { for connection in stalled { connection.closeConnection() } }
        for _ in 0..<40 {
            let connection = try RawConnection(port: endpoint.metricsPort, receiveTimeoutSeconds: 5)
            connection.send([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
            stalled.append(connection)
        }
        // A scraper still gets in (the oldest stalled connection is evicted for it).
        #expect(try tlsRequest(port: endpoint.metricsPort).response?.status == 200)
        // A stalled handshake is cut off at the request deadline: the server closes it.
        let last = try #require(stalled.last)
        var byte: UInt8 = 0
        let started = MonotonicClock.seconds()
        let received = recv(last.descriptor, &byte, 1, 0)
        let code = errno
        // 0: closed; -1 with a reset. A timeout (EAGAIN after 5 s) means it was left open.
        #expect(received == 0 || (received < 0 && code != EAGAIN), "recv \(received), errno \(code)")
        #expect(MonotonicClock.seconds() - started < 4)
    }

    @Test func aRenewedCertificateServesTheNextConnection() throws {
        let directory = try tlsDirectory()
        defer { directory.remove() }
        let endpoint = try startEndpoint { $0.webConfigFile = directory.path + "/web.yml" }
        defer { endpoint.shutdown() }
        let port = endpoint.metricsPort
        let serverA = try NIOSSLCertificate.fromPEMFile(certificates + "/server-a.crt")[0]
        let serverB = try NIOSSLCertificate.fromPEMFile(certificates + "/server-b.crt")[0]

        let first = try tlsRequest(port: port)
        #expect(first.response?.status == 200)
        #expect(first.serverCertificate == serverA)
        try directory.copy("server-b.key", to: "server.key")
        try directory.copy("server-b.crt", to: "server.crt")
        let renewed = try tlsRequest(port: port)
        #expect(renewed.response?.status == 200)
        #expect(renewed.serverCertificate == serverB)
        // Half a rotation (a certificate whose key is not there): the last good pair stays.
        try directory.copy("server-a.crt", to: "server.crt")
        let halfway = try tlsRequest(port: port)
        #expect(halfway.response?.status == 200)
        #expect(halfway.serverCertificate == serverB)
        try directory.copy("server-a.key", to: "server.key")
        let rotated = try tlsRequest(port: port)
        #expect(rotated.serverCertificate == serverA)
    }

    @Test func clientAllowedSANsAreChecked() throws {
        for (allowed, accepted) in [("prometheus.example", true), ("someone.else", false)] {
            let directory = try tlsDirectory(
                clientAuth: "RequireAndVerifyClientCert", extra: "  client_allowed_sans: [\(allowed)]\n")
            defer { directory.remove() }
            let endpoint = try startEndpoint { $0.webConfigFile = directory.path + "/web.yml" }
            defer { endpoint.shutdown() }
            let result = try tlsRequest(port: endpoint.metricsPort, clientCertificate: "client")
            #expect((result.response?.status == 200) == accepted, "\(allowed)")
        }
    }

    @Test func theHealthListenerCanServeUnderTheWebConfigToo() throws {
        let directory = try tlsDirectory()
        defer { directory.remove() }
        let endpoint = try startEndpoint {
            $0.webConfigFile = directory.path + "/web.yml"
            $0.healthListenerUsesWebConfig = true
        }
        defer { endpoint.shutdown() }
        let healthPort = try #require(endpoint.healthPort)
        #expect(try tlsRequest(port: healthPort, path: "/health/live").response?.status == 200)
        #expect(try get(healthPort, "/health/live").status == 400)
    }
}
