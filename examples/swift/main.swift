// A Marty-style Swift gRPC service: trust-anchor's `/marty.TrustAnchor/Verify`, served by
// grpc-swift 2 with the marty-metrics interceptor; ordinary code counting through the
// swift-metrics API (bootstrapped with marty-metrics); health checks; and the embedded
// endpoint on the seed's ports (metrics 10080, health 9081; gRPC on 9080). A client loop in
// the same process calls it, so the metrics move.
//
//   bash examples/swift/run.sh     # or: swift run -c release marty-swift-example
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Glibc
import MartyCatalog
import MartyEndpoint
import MartyGRPC
import MartyHealth
import MartyMetrics
import MartyService
import MartySwiftMetrics
import Metrics

/// Prints a line at once, even when standard output is a file.
func say(_ line: String) {
    let text = line + "\n"
    _ = text.withCString { write(1, $0, strlen($0)) }
}

let service = "trust-anchor"
let ports = ServicePorts.forService(service)!

struct Text: MessageSerializer, MessageDeserializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: String) throws -> Bytes { Bytes(Array(message.utf8)) }
    func deserialize<Bytes: GRPCContiguousBytes>(_ bytes: Bytes) throws -> String {
        bytes.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
    }
}

let verify = MethodDescriptor(service: ServiceDescriptor(fullyQualifiedService: "marty.TrustAnchor"), method: "Verify")

struct TrustAnchor: RegistrableRPCService {
    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        router.registerHandler(forMethod: verify, deserializer: Text(), serializer: Text()) { request, _ in
            let subject = try await ServerRequest(stream: request).message
            // Ordinary code, counting through swift-metrics.
            Counter(label: "trust_anchor_verifications", dimensions: [("kind", "x509")]).increment()
            if subject.hasSuffix("revoked") {
                throw RPCError(code: .failedPrecondition, message: "certificate revoked")
            }
            try await Task.sleep(for: .milliseconds(Int.random(in: 1...20)))
            return StreamingServerResponse(single: ServerResponse(message: "trusted: \(subject)"))
        }
    }
}

MetricsSystem.bootstrap(try MartyMetricsFactory())
let metrics = try ServiceMetrics.register(service: service, version: "0.1.0")
try HealthRegistry.default.register("grpc_server", probe: .liveness) { (true, nil) }
try HealthRegistry.default.set("trust_store", healthy: true, probe: .readiness)

var configuration = try EndpointConfiguration.martyService(service)
if getenv("MARTY_METRICS_BIND") == nil { configuration.bindAddress = "127.0.0.1" }
let endpoint = try MetricsEndpoint.start(configuration)
let grpcPort = Int(getenv("MARTY_GRPC_PORT").map { String(cString: $0) } ?? "") ?? ports.grpc

say("marty-swift-example: \(service) gRPC on 127.0.0.1:\(grpcPort); try")
say("  curl http://127.0.0.1:\(endpoint.metricsPort)/metrics")
if let health = endpoint.healthPort { say("  curl http://127.0.0.1:\(health)/health") }
say("Ctrl-C stops.")

try await withGRPCServer(
    transport: .http2NIOPosix(address: .ipv4(host: "127.0.0.1", port: grpcPort), transportSecurity: .plaintext),
    services: [TrustAnchor()], interceptors: [MartyServerInterceptor(metrics: metrics)]
) { server in
    try await withGRPCClient(
        transport: .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: grpcPort), transportSecurity: .plaintext)
    ) { client in
        var round = 0
        while !Task.isCancelled {
            round += 1
            let subject = round % 10 == 0 ? "cert-\(round)-revoked" : "cert-\(round)"
            _ = try? await client.unary(
                request: ClientRequest(message: subject), descriptor: verify, serializer: Text(), deserializer: Text(),
                options: .defaults
            ) { try $0.message }
            try await Task.sleep(for: .milliseconds(100))
        }
    }
    server.beginGracefulShutdown()
}
endpoint.shutdown()
