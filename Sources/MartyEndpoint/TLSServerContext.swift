import Glibc
import MartyMetrics
import NIOCore

#if TLS
    import NIOSSL

    /// A web config's `tls_server_config` made into a BoringSSL context (swift-nio-ssl), and the
    /// handler each new connection gets from it. Client authentication follows Go's
    /// `tls.ClientAuthType`, which exporter-toolkit's names are:
    /// - NoClientCert: no certificate is asked for.
    /// - RequestClientCert: one is asked for, and not checked.
    /// - RequireAnyClientCert: one must be sent; it is not checked against a CA.
    /// - VerifyClientCertIfGiven: one sent must chain to the client CA.
    /// - RequireAndVerifyClientCert: one must be sent and chain to the client CA.
    struct TLSServerContext {
        let context: NIOSSLContext
        let clientAuth: WebConfig.TLS.ClientAuth
        let allowedSANs: [String]?

        init(_ settings: WebConfig.TLS) throws(MetricError) {
            let chain: [NIOSSLCertificate]
            let key: NIOSSLPrivateKey
            var clientCAs: [NIOSSLCertificate] = []
            do {
                chain = try NIOSSLCertificate.fromPEMBytes(
                    Array(try Self.text(settings.certificate, "certificate").utf8))
                key = try NIOSSLPrivateKey(bytes: Array(try Self.text(settings.key, "key").utf8), format: .pem)
                if let ca = settings.clientCA {
                    clientCAs = try NIOSSLCertificate.fromPEMBytes(Array(try Self.text(ca, "client CA").utf8))
                }
            } catch let error as MetricError {
                throw error
            } catch {
                throw MetricError(
                    .invalidArgument, "tls_server_config: cannot read the certificate, key or CA: \(error)")
            }
            guard !chain.isEmpty else {
                throw MetricError(.invalidArgument, "tls_server_config: the certificate file holds no PEM certificate")
            }
            if settings.clientCA != nil && clientCAs.isEmpty {
                throw MetricError(.invalidArgument, "tls_server_config: the client CA holds no PEM certificate")
            }
            var configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
            configuration.minimumTLSVersion = Self.version(settings.minVersion)
            configuration.maximumTLSVersion = Self.version(settings.maxVersion)
            if !settings.cipherSuites.isEmpty {
                // TLS 1.3's suites are not configurable (in Go either); keep them.
                configuration.cipherSuiteValues =
                    settings.cipherSuites.filter { $0 < 0x1301 || $0 > 0x1303 }.map { NIOTLSCipher(rawValue: $0) }
            }
            if !settings.curves.isEmpty { configuration.curves = settings.curves.map { NIOTLSCurve(rawValue: $0) } }
            configuration.applicationProtocols = ["http/1.1"]
            switch settings.clientAuth {
            case .noClientCert:
                configuration.certificateVerification = .none
            case .requestClientCert, .verifyClientCertIfGiven:
                configuration.certificateVerification = .optionalVerification
            case .requireAnyClientCert, .requireAndVerifyClientCert:
                configuration.certificateVerification = .noHostnameVerification
            }
            if !clientCAs.isEmpty {
                configuration.trustRoots = .certificates(clientCAs)
                configuration.sendCANameList = true
            } else if settings.clientAuth != .noClientCert {
                // Unverified modes check nothing against roots; an empty set keeps the system's out.
                configuration.trustRoots = .certificates([])
            }
            do {
                context = try NIOSSLContext(configuration: configuration)
            } catch {
                throw MetricError(
                    .invalidArgument, "tls_server_config: the certificate and key do not make a TLS context: \(error)")
            }
            clientAuth = settings.clientAuth
            allowedSANs = settings.clientAllowedSANs
        }

        /// Puts TLS in front of a new connection's pipeline (with the certificate in use now).
        func addHandlers(to pipeline: ChannelPipeline.SynchronousOperations) throws {
            try pipeline.addHandler(PlainHTTPRefusalHandler())
            try pipeline.addHandler(makeHandler())
        }

        private func makeHandler() -> NIOSSLServerHandler {
            let allowed = allowedSANs
            switch clientAuth {
            case .requestClientCert, .requireAnyClientCert:
                // Whatever is sent is accepted (BoringSSL still fails a missing one when required),
                // except that client_allowed_sans must match.
                return NIOSSLServerHandler(context: context) { certificates, promise in
                    if let allowed, let leaf = certificates.first, !Self.matches(leaf, allowed) {
                        promise.succeed(.failed)
                    } else {
                        promise.succeed(.certificateVerified)
                    }
                }
            case .requireAndVerifyClientCert where allowed != nil:
                return NIOSSLServerHandler._makeSSLServerHandler(context: context) { leaf, channel in
                    Self.matches(leaf, allowed!)
                        ? channel.eventLoop.makeSucceededVoidFuture()
                        : channel.eventLoop.makeFailedFuture(
                            MetricError(.invalidArgument, "client certificate SAN not allowed"))
                }
            default:
                return NIOSSLServerHandler(context: context)
            }
        }

        /// Whether any DNS, e-mail, IP or URI subject alternative name of `certificate` is allowed.
        static func matches(_ certificate: NIOSSLCertificate, _ allowed: [String]) -> Bool {
            for name in certificate._subjectAlternativeNames() {
                let bytes = Array(name.contents)
                let text: String
                if name.nameType == .ipAddress {
                    guard let address = ipText(bytes) else { continue }
                    text = address
                } else if name.nameType == .dnsName || name.nameType == .email || name.nameType == .uri {
                    text = String(decoding: bytes, as: UTF8.self)
                } else {
                    continue
                }
                if allowed.contains(text) { return true }
            }
            return false
        }

        private static func ipText(_ bytes: [UInt8]) -> String? {
            let family: CInt
            switch bytes.count {
            case 4: family = AF_INET
            case 16: family = AF_INET6
            default: return nil
            }
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            let ok = bytes.withUnsafeBytes { raw in
                inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count)) != nil
            }
            guard ok else { return nil }
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }

        private static func text(_ source: WebConfig.TLS.Source, _ what: String) throws(MetricError) -> String {
            switch source {
            case .inline(let text): return text
            case .file(let path):
                do {
                    return try readTextFile(path)
                } catch {
                    throw MetricError(.invalidArgument, "tls_server_config: the \(what): \(error.message)")
                }
            }
        }

        private static func version(_ version: WebConfig.TLS.Version) -> TLSVersion {
            switch version {
            case .tls10: return .tlsv1
            case .tls11: return .tlsv11
            case .tls12: return .tlsv12
            case .tls13: return .tlsv13
            }
        }
    }
#else
    /// This build has no TLS (the package's TLS trait is off): a web config asking for it is refused.
    struct TLSServerContext {
        init(_ settings: WebConfig.TLS) throws(MetricError) {
            throw MetricError(
                .invalidArgument,
                "tls_server_config: this build of marty-metrics has no TLS (built without its TLS trait)")
        }

        func addHandlers(to pipeline: ChannelPipeline.SynchronousOperations) throws {}
    }
#endif

/// First on a TLS listener: a client that speaks plain HTTP gets a 400 that says so, as Go's
/// server answers, and the connection closes; anything that starts as TLS goes on.
final class PlainHTTPRefusalHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        // 0x16: a TLS handshake record, the only way a TLS client starts.
        if let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self), first != 0x16 {
            let isText = (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(first)
            let channel = context.channel
            if isText {
                let body = "Client sent an HTTP request to an HTTPS server.\n"
                let text =
                    "HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
                    + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
                context.writeAndFlush(NIOAny(channel.allocator.buffer(string: text))).whenComplete { _ in
                    channel.close(promise: nil)
                }
            } else {
                context.close(promise: nil)
            }
            return
        }
        context.fireChannelRead(data)
        context.pipeline.syncOperations.removeHandler(self, promise: nil)
    }
}
