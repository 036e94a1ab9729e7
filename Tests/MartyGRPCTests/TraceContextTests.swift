import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Instrumentation
import MartyCatalog
import Testing

@testable import MartyGRPC
@testable import MartyMetrics

/// A stand-in for a tracer such as swift-otel: injects the `traceparent` of the span id it
/// finds in the ServiceContext.
private struct TestInstrument: Instrument {
    func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout ServiceContext, using: Extract)
    where Extract.Carrier == Carrier {}

    func inject<Carrier, Inject: Injector>(
        _ context: ServiceContext, into carrier: inout Carrier, using injector: Inject
    )
    where Inject.Carrier == Carrier {
        if let span = context[TestSpanKey.self] {
            injector.inject("00-0af7651916cd43dd8448eb211c80319c-\(span)-01", forKey: "traceparent", into: &carrier)
        }
    }
}

private enum TestSpanKey: ServiceContextKey {
    typealias Value = String
}

/// Puts a span into the ServiceContext of the calls it passes on, as a tracing interceptor does.
private struct SpanInterceptor: ServerInterceptor {
    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>, context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        guard request.metadata[stringValues: "x-test-span"].first(where: { _ in true }) != nil else {
            return try await next(request, context)
        }
        var serviceContext = ServiceContext.current ?? .topLevel
        serviceContext[TestSpanKey.self] = "b7ad6b7169203331"
        return try await ServiceContext.withValue(serviceContext) { try await next(request, context) }
    }
}

private let bootstrapOnce: Void = InstrumentationSystem.bootstrap(TestInstrument())

@Suite struct TraceContextTests {
    @Test func callsCarryingTraceContextGiveExemplars() async throws {
        _ = bootstrapOnce
        let registry = Registry()
        let metrics = try ServiceMetrics.register(service: "traced-service", registry: registry)
        try await withGRPCServer(
            transport: .http2NIOPosix(address: .ipv4(host: "127.0.0.1", port: 0), transportSecurity: .plaintext),
            services: [EchoService()], interceptors: [SpanInterceptor(), MartyServerInterceptor(metrics: metrics)]
        ) { server in
            guard let address = try await server.listeningAddress?.ipv4 else {
                Issue.record("server has no IPv4 address")
                return
            }
            try await withGRPCClient(
                transport: .http2NIOPosix(
                    target: .ipv4(address: "127.0.0.1", port: address.port), transportSecurity: .plaintext)
            ) { client in
                func call(_ method: String, _ metadata: Metadata) async throws {
                    _ = try? await client.unary(
                        request: ClientRequest(message: "hi", metadata: metadata),
                        descriptor: EchoService.method(method),
                        serializer: StringSerializer(), deserializer: StringDeserializer(), options: .defaults
                    ) { try $0.message }
                }
                try await call("Unary", ["traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"])
                try await call("Throws", ["traceparent": "00-00000000000000000000000000000000-00f067aa0ba902b7-01"])
                try await call("NotFound", ["x-test-span": "1"])
                try await call("Collect", [:])
            }
            server.beginGracefulShutdown()
        }
        let requests = metrics.requests
        let traced = try #require(
            requests.existingSeries(["traced-service", "/marty.test.Echo/Unary", "OK"]) as? Counter)
        #expect(
            traced.exemplar?.exemplar.labels == [
                ExemplarLabel(name: "trace_id", value: "4bf92f3577b34da6a3ce929d0e0e4736"),
                ExemplarLabel(name: "span_id", value: "00f067aa0ba902b7"),
            ])
        let duration = try #require(
            metrics.requestDuration.existingSeries(["traced-service", "/marty.test.Echo/Unary"]) as? Histogram)
        #expect(duration.exemplars.compactMap { $0 }.map(\.exemplar) == [traced.exemplar?.exemplar])
        // An all-zero trace id is invalid: ignored, as W3C Trace Context says.
        let invalid = try #require(
            requests.existingSeries(["traced-service", "/marty.test.Echo/Throws", "UNKNOWN"]) as? Counter)
        #expect(invalid.value == 1 && invalid.exemplar == nil)
        // No metadata, but a span in the ServiceContext: the instrument's traceparent.
        let fromContext = try #require(
            requests.existingSeries(["traced-service", "/marty.test.Echo/NotFound", "NOT_FOUND"]) as? Counter)
        #expect(fromContext.exemplar?.exemplar.labels.last == ExemplarLabel(name: "span_id", value: "b7ad6b7169203331"))
        let untraced = try #require(
            requests.existingSeries(["traced-service", "/marty.test.Echo/Collect", "OK"]) as? Counter)
        #expect(untraced.exemplar == nil)
    }

    @Test(arguments: [
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true),
        ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future", true),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", false),
        ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false),
        ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false),
        ("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", false),
        ("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false),
        ("", false),
    ])
    func traceParentIsParsedAsW3CSays(value: String, valid: Bool) {
        let parsed = TraceParent(value)
        #expect((parsed != nil) == valid)
        if valid {
            #expect(parsed?.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
            #expect(parsed?.spanID == "00f067aa0ba902b7")
        }
    }
}
