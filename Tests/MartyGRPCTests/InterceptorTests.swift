import GRPCCore
import GRPCNIOTransportHTTP2Posix
import MartyCatalog
import Testing

@testable import MartyGRPC
@testable import MartyMetrics

/// Messages are UTF-8 strings: no protobuf code generation needed for a real server.
struct StringSerializer: MessageSerializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: String) throws -> Bytes { Bytes(Array(message.utf8)) }
}

struct StringDeserializer: MessageDeserializer {
    func deserialize<Bytes: GRPCContiguousBytes>(_ bytes: Bytes) throws -> String {
        bytes.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
    }
}

struct HandlerFailure: Error {}

/// `/marty.test.Echo/*`: each method behaves as its name says.
struct EchoService: RegistrableRPCService {
    static let service = ServiceDescriptor(fullyQualifiedService: "marty.test.Echo")
    static func method(_ name: String) -> MethodDescriptor { MethodDescriptor(service: service, method: name) }

    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        router.registerHandler(
            forMethod: Self.method("Unary"), deserializer: StringDeserializer(), serializer: StringSerializer()
        ) { request, _ in
            let message = try await ServerRequest(stream: request).message
            return StreamingServerResponse(single: ServerResponse(message: "echo: " + message))
        }
        router.registerHandler(
            forMethod: Self.method("Throws"), deserializer: StringDeserializer(), serializer: StringSerializer()
        ) { (_: StreamingServerRequest<String>, _) -> StreamingServerResponse<String> in
            throw HandlerFailure()
        }
        router.registerHandler(
            forMethod: Self.method("NotFound"), deserializer: StringDeserializer(), serializer: StringSerializer()
        ) { (_: StreamingServerRequest<String>, _) -> StreamingServerResponse<String> in
            throw RPCError(code: .notFound, message: "no such certificate")
        }
        router.registerHandler(
            forMethod: Self.method("Collect"), deserializer: StringDeserializer(), serializer: StringSerializer()
        ) { request, _ in
            var parts: [String] = []
            for try await message in request.messages { parts.append(message) }
            return StreamingServerResponse(single: ServerResponse(message: parts.joined(separator: ",")))
        }
        router.registerHandler(
            forMethod: Self.method("Expand"), deserializer: StringDeserializer(), serializer: StringSerializer()
        ) { request, _ in
            let message = try await ServerRequest(stream: request).message
            return StreamingServerResponse { writer in
                for character in message { try await writer.write(String(character)) }
                return [:]
            }
        }
        router.registerHandler(
            forMethod: Self.method("ExpandThenFail"), deserializer: StringDeserializer(), serializer: StringSerializer()
        ) { (_: StreamingServerRequest<String>, _) in
            StreamingServerResponse { writer in
                try await writer.write("first")
                throw RPCError(code: .resourceExhausted, message: "quota")
            }
        }
    }
}

@Suite struct InterceptorTests {
    @Test func everyKindOfCallIsRecordedExactly() async throws {
        let registry = Registry()
        let metrics = try ServiceMetrics.register(service: "echo-service", registry: registry)
        try await withGRPCServer(
            transport: .http2NIOPosix(address: .ipv4(host: "127.0.0.1", port: 0), transportSecurity: .plaintext),
            services: [EchoService()], interceptors: [MartyServerInterceptor(metrics: metrics)]
        ) { server in
            guard let address = try await server.listeningAddress?.ipv4 else {
                Issue.record("server has no IPv4 address")
                return
            }
            try await withGRPCClient(
                transport: .http2NIOPosix(
                    target: .ipv4(address: "127.0.0.1", port: address.port), transportSecurity: .plaintext)
            ) { client in
                for _ in 0..<3 {
                    let reply = try await client.unary(
                        request: ClientRequest(message: "hi"), descriptor: EchoService.method("Unary"),
                        serializer: StringSerializer(), deserializer: StringDeserializer(), options: .defaults
                    ) { try $0.message }
                    #expect(reply == "echo: hi")
                }
                await #expect(throws: RPCError.self) {
                    _ = try await client.unary(
                        request: ClientRequest(message: "x"), descriptor: EchoService.method("Throws"),
                        serializer: StringSerializer(), deserializer: StringDeserializer(), options: .defaults
                    ) { try $0.message }
                }
                do {
                    _ = try await client.unary(
                        request: ClientRequest(message: "x"), descriptor: EchoService.method("NotFound"),
                        serializer: StringSerializer(), deserializer: StringDeserializer(), options: .defaults
                    ) { try $0.message }
                    Issue.record("NotFound succeeded")
                } catch let error as RPCError {
                    #expect(error.code == .notFound)
                }
                let collected = try await client.clientStreaming(
                    request: StreamingClientRequest { writer in
                        for part in ["a", "b", "c"] { try await writer.write(part) }
                    }, descriptor: EchoService.method("Collect"), serializer: StringSerializer(),
                    deserializer: StringDeserializer(), options: .defaults
                ) { try $0.message }
                #expect(collected == "a,b,c")
                let expanded = try await client.serverStreaming(
                    request: ClientRequest(message: "xyz"), descriptor: EchoService.method("Expand"),
                    serializer: StringSerializer(), deserializer: StringDeserializer(), options: .defaults
                ) { response in
                    var parts: [String] = []
                    for try await part in response.messages { parts.append(part) }
                    return parts
                }
                #expect(expanded == ["x", "y", "z"])
                do {
                    _ = try await client.serverStreaming(
                        request: ClientRequest(message: ""), descriptor: EchoService.method("ExpandThenFail"),
                        serializer: StringSerializer(), deserializer: StringDeserializer(), options: .defaults
                    ) { response in
                        for try await _ in response.messages {}
                    }
                    Issue.record("ExpandThenFail succeeded")
                } catch let error as RPCError {
                    #expect(error.code == .resourceExhausted)
                }
            }
            server.beginGracefulShutdown()
        }

        let text = registry.renderString()
        let prefix = "marty_grpc_requests_total{service=\"echo-service\",method=\"/marty.test.Echo/"
        #expect(text.contains(prefix + "Unary\",status=\"OK\"} 3\n"))
        #expect(text.contains(prefix + "Throws\",status=\"UNKNOWN\"} 1\n"))
        #expect(text.contains(prefix + "NotFound\",status=\"NOT_FOUND\"} 1\n"))
        #expect(text.contains(prefix + "Collect\",status=\"OK\"} 1\n"))
        #expect(text.contains(prefix + "Expand\",status=\"OK\"} 1\n"))
        #expect(text.contains(prefix + "ExpandThenFail\",status=\"RESOURCE_EXHAUSTED\"} 1\n"))
        let errors = "marty_grpc_errors_total{service=\"echo-service\",method=\"/marty.test.Echo/"
        #expect(text.contains(errors + "Throws\",error_type=\"HandlerFailure\"} 1\n"))
        #expect(text.contains(errors + "NotFound\",error_type=\"NOT_FOUND\"} 1\n"))
        #expect(text.contains(errors + "ExpandThenFail\",error_type=\"RESOURCE_EXHAUSTED\"} 1\n"))
        #expect(!text.contains(errors + "Unary\""))
        let durations = "marty_grpc_request_duration_seconds_count{service=\"echo-service\",method=\"/marty.test.Echo/"
        #expect(text.contains(durations + "Unary\"} 3\n"))
        #expect(text.contains(durations + "Expand\"} 1\n"))
        #expect(text.contains("marty_grpc_active_connections{service=\"echo-service\"} 0\n"))
    }

    @Test(arguments: [
        (RPCError.Code.notFound, "NOT_FOUND"), (.unknown, "UNKNOWN"), (.internalError, "INTERNAL"),
        (.unauthenticated, "UNAUTHENTICATED"), (.deadlineExceeded, "DEADLINE_EXCEEDED"),
    ])
    func statusNamesMatchGRPCs(code: RPCError.Code, name: String) {
        #expect(GRPCStatusName.of(code) == name)
    }
}
