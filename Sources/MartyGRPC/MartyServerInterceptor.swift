import GRPCCore
import Instrumentation
import MartyCatalog
import MartyMetrics

/// A grpc-swift 2 server interceptor that records every RPC — unary and streaming — into
/// the Marty catalog, exactly as the Python `AsyncMetricsInterceptor` does:
///
/// - `marty_grpc_requests_total{service, method, status}` with the method's full name
///   (`/package.Service/Method`) and the status code name (`OK`, `NOT_FOUND`, …);
/// - `marty_grpc_request_duration_seconds{service, method}` from the call's start until its
///   response stream ends;
/// - `marty_grpc_errors_total{service, method, error_type}` for failed calls: the status
///   code name for an `RPCError`, the error's type name for any other thrown error (which
///   grpc-swift reports as `UNKNOWN`);
/// - `marty_grpc_active_connections{service}` up while a call runs.
///
/// A call that carries W3C trace context gives the request count and the duration's bucket
/// an exemplar `{trace_id, span_id}`: from its `traceparent` metadata, or else from the task's
/// `ServiceContext` as the bootstrapped swift-distributed-tracing instrument injects it (a
/// tracer such as swift-otel that propagates W3C trace context).
public struct MartyServerInterceptor: ServerInterceptor {
    /// The catalog of the service the calls are recorded for.
    public let metrics: ServiceMetrics

    /// An interceptor recording into `metrics` (from `ServiceMetrics.register(service:)`).
    public init(metrics: ServiceMetrics) {
        self.metrics = metrics
    }

    public func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>, context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let call = Call(
            metrics: metrics, method: "/" + context.descriptor.fullyQualifiedMethod,
            trace: Self.traceParent(request.metadata))
        var response: StreamingServerResponse<Output>
        do {
            response = try await next(request, context)
        } catch {
            call.finish(error)
            throw error
        }
        switch response.accepted {
        case .success(var contents):
            let producer = contents.producer
            contents.producer = { writer in
                do {
                    let trailers = try await producer(writer)
                    call.finish(nil)
                    return trailers
                } catch {
                    call.finish(error)
                    throw error
                }
            }
            response.accepted = .success(contents)
        case .failure(let error):
            call.finish(error)
        }
        return response
    }

    /// The call's trace context: its `traceparent` metadata, else the current ServiceContext's.
    static func traceParent(_ metadata: Metadata) -> TraceParent? {
        for value in metadata[stringValues: "traceparent"] {
            if let parsed = TraceParent(value) { return parsed }
        }
        guard let context = ServiceContext.current else { return nil }
        var headers: [String: String] = [:]
        InstrumentationSystem.instrument.inject(context, into: &headers, using: HeaderInjector())
        return headers["traceparent"].flatMap { TraceParent($0) }
    }

    private struct HeaderInjector: Injector {
        func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
            carrier[key.lowercased()] = value
        }
    }

    /// One RPC in flight: started on creation, recorded once by `finish`.
    private struct Call: Sendable {
        let metrics: ServiceMetrics
        let method: String
        let started: ContinuousClock.Instant
        let exemplar: Exemplar?

        init(metrics: ServiceMetrics, method: String, trace: TraceParent?) {
            self.metrics = metrics
            self.method = method
            self.exemplar = trace?.exemplar
            self.started = .now
            metrics.callStarted()
        }

        func finish(_ error: (any Error)?) {
            let elapsed = ContinuousClock.now - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let status: String
            let errorType: String?
            switch error {
            case nil:
                status = "OK"
                errorType = nil
            case let rpcError as RPCError:
                status = GRPCStatusName.of(rpcError.code)
                errorType = status
            case let other?:
                status = "UNKNOWN"
                errorType = String(describing: type(of: other))
            }
            // Method and status names are plain strings: recording cannot fail here.
            try? metrics.recordCall(
                method: method, status: status, durationSeconds: seconds, errorType: errorType, exemplar: exemplar)
            metrics.callFinished()
        }
    }
}

/// gRPC status code names as every gRPC implementation spells them (and Python's
/// `grpc.StatusCode.X.name`).
public enum GRPCStatusName {
    static let names = [
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
        "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
        "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
    ]

    /// The name of `code` ("OK", "NOT_FOUND", …); "UNKNOWN" for a code outside 0...16.
    public static func of(_ code: RPCError.Code) -> String {
        names.indices.contains(code.rawValue) ? names[code.rawValue] : "UNKNOWN"
    }
}
