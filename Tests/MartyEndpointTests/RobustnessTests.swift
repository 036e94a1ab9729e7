import Glibc
import Testing

@testable import MartyEndpoint
@testable import MartyHealth
@testable import MartyMetrics

/// Misbehaving clients on raw sockets. After each, a normal scrape must still succeed with
/// nothing recorded lost.
@Suite struct RobustnessTests {
    /// A registry with a counter at 1234, and an endpoint serving it.
    private func serving(_ configure: (inout EndpointConfiguration) -> Void = { _ in }) throws -> (
        MetricsEndpoint, Counter
    ) {
        let registry = Registry()
        let counter = try registry.counter("kept", help: "").labels()
        counter.inc(by: 1234)
        return (try startEndpoint(registry: registry, separateHealth: false, configure: configure), counter)
    }

    private func expectNormalScrape(_ endpoint: MetricsEndpoint, _ sourceLocation: SourceLocation = #_sourceLocation)
        throws
    {
        let response = try get(endpoint.metricsPort, "/metrics")
        #expect(response.status == 200, sourceLocation: sourceLocation)
        #expect(response.text.contains("\nkept_total 1234\n"), sourceLocation: sourceLocation)
    }

    @Test(arguments: [
        "GARBAGE\r\n\r\n", "GET\r\n\r\n", "GET /metrics HTTP/9.9\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nBad Header\r\n\r\n",
        "\u{1}\u{2}\u{3}\r\n\r\n",
    ])
    func malformedRequestsGet400(request: String) throws {
        let (endpoint, _) = try serving()
        defer { endpoint.shutdown() }
        let connection = try RawConnection(port: endpoint.metricsPort)
        connection.send(request)
        let reply = HTTPResponse.parseAll(connection.receive())
        connection.closeConnection()
        #expect(reply.first?.status == 400)
        #expect(reply.first?.header("Connection") == "close")
        try expectNormalScrape(endpoint)
    }

    @Test func oversizedHeadersGet431() throws {
        let (endpoint, _) = try serving()
        defer { endpoint.shutdown() }
        let connection = try RawConnection(port: endpoint.metricsPort)
        connection.send("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 100_000))\r\n\r\n")
        let reply = HTTPResponse.parseAll(connection.receive())
        connection.closeConnection()
        #expect(reply.first?.status == 431)
        try expectNormalScrape(endpoint)
    }

    @Test func bodiesOnGetAreReadAndIgnoredAndHugeOnesRefused() throws {
        let (endpoint, _) = try serving()
        defer { endpoint.shutdown() }
        let connection = try RawConnection(port: endpoint.metricsPort)
        connection.send("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world")
        connection.send("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let replies = connection.receiveResponses(2)
        connection.closeConnection()
        #expect(replies.map(\.status) == [200, 200])
        #expect(replies.first?.text.contains("kept_total 1234") == true)

        let big = try RawConnection(port: endpoint.metricsPort)
        big.send("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n")
        big.send([UInt8](repeating: 0x61, count: 200_000))
        let refused = HTTPResponse.parseAll(big.receive())
        big.closeConnection()
        #expect(refused.first?.status == 413)
        try expectNormalScrape(endpoint)
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        let (endpoint, _) = try serving()
        defer { endpoint.shutdown() }
        let connection = try RawConnection(port: endpoint.metricsPort)
        defer { connection.closeConnection() }
        connection.send(
            "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                + "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /health/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        let replies = connection.receiveResponses(4)
        #expect(replies.map(\.status) == [200, 404, 200, 200])
        #expect(replies[2].text.contains("kept_total 1234"))
    }

    @Test func aClientThatSendsNothingIsClosedAfterTheIdleTimeout() throws {
        let (endpoint, _) = try serving { $0.idleTimeoutSeconds = 0.3 }
        defer { endpoint.shutdown() }
        let silent = try RawConnection(port: endpoint.metricsPort, receiveTimeoutSeconds: 5)
        let started = HealthRegistry.now()
        let bytes = silent.receive()  // returns when the server closes
        let waited = HealthRegistry.now() - started
        silent.closeConnection()
        #expect(bytes.isEmpty)
        #expect(waited > 0.2 && waited < 3, "closed after \(waited) s")
        try expectNormalScrape(endpoint)
    }

    @Test func aClientThatDisconnectsMidResponseHarmsNothing() throws {
        let registry = Registry()
        let family = try registry.counter("many", help: "", labelNames: ["i"])
        family.maximumSeries = 0  // past the default cap
        for index in 0..<20_000 { try family.labels(String(index)).inc() }
        let counter = try registry.counter("kept", help: "").labels()
        counter.inc(by: 1234)
        let endpoint = try startEndpoint(registry: registry, separateHealth: false)
        defer { endpoint.shutdown() }
        for _ in 0..<10 {
            let connection = try RawConnection(port: endpoint.metricsPort)
            connection.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            var first = [UInt8](repeating: 0, count: 100)
            _ = recv(connection.descriptor, &first, first.count, 0)
            // Close with unread data: the kernel answers the server with a reset.
            connection.closeConnection()
        }
        let response = try get(endpoint.metricsPort, "/metrics")
        #expect(response.status == 200)
        #expect(response.text.contains("\nkept_total 1234\n"))
        #expect(response.text.contains("many_total{i=\"19999\"} 1\n"))
    }
}
