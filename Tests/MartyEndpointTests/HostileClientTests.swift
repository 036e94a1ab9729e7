import CZlib
import Glibc
import MartyMetrics
import MartyTestSupport
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import MartyEndpoint
@testable import MartyHealth

/// Clients that trickle, hoard connections or scrape all at once, and numbers that used to
/// trap.
@Suite struct HostileClientTests {
    private func seconds(since start: UInt64) -> Double {
        Double(MonotonicClock.nanoseconds() - start) / 1e9
    }

    @Test func aClientTricklingItsRequestHeadIsCutOffAtTheDeadline() throws {
        let endpoint = try startEndpoint(separateHealth: false) {
            $0.idleTimeoutSeconds = 5
            $0.requestHeadTimeoutSeconds = 0.6
        }
        defer { endpoint.shutdown() }
        let connection = try RawConnection(port: endpoint.metricsPort, receiveTimeoutSeconds: 1)
        defer { connection.closeConnection() }
        let start = MonotonicClock.nanoseconds()
        connection.send("GET /metrics HTTP/1.1\r\nX-Slow: ")
        var answer: [UInt8] = []
        var closedAfter: Double? = nil
        // One byte every 100 ms, well inside the idle timeout, for at most 4 s.
        for _ in 0..<40 where closedAfter == nil {
            usleep(100_000)
            // Read before sending: a byte sent to a closed socket draws a reset that could
            // discard the answer before it is read.
            var chunk = [UInt8](repeating: 0, count: 4096)
            let count = recv(connection.descriptor, &chunk, chunk.count, Int32(MSG_DONTWAIT))
            if count > 0 { answer += chunk[0..<count] }
            if count == 0 || (count < 0 && errno != EAGAIN) {
                closedAfter = seconds(since: start)
            } else if count < 0 {
                connection.send("a")
            }
        }
        let took = try #require(closedAfter, "a client trickling for 4 s was never cut off")
        #expect(took > 0.5 && took < 2.5, "the trickling client was cut off after \(took) s")
        #expect(String(decoding: answer, as: UTF8.self).hasPrefix("HTTP/1.1 408"))
        let response = try get(endpoint.metricsPort, "/metrics")
        #expect(response.status == 200)
    }

    @Test func probesAndScrapesAnswerWhile600TricklingConnectionsAreOpen() throws {
        let endpoint = try startEndpoint { $0.requestHeadTimeoutSeconds = 30 }
        defer { endpoint.shutdown() }
        let healthPort = try #require(endpoint.healthPort)
        var tricklers: [RawConnection] = []
        defer { for connection in tricklers { connection.closeConnection() } }
        for index in 0..<600 {
            let connection = try RawConnection(port: index % 2 == 0 ? endpoint.metricsPort : healthPort)
            connection.send("GET /metrics HTTP/1.1\r\nX-Trickle: ")
            tricklers.append(connection)
        }
        let stop = Atomic<Bool>(false)
        let descriptors = tricklers.map(\.descriptor)
        let slowest = Atomic<UInt64>(0)
        let failures = Atomic<Int>(0)
        onThreads(2) { thread in
            if thread == 0 {
                // A byte into every connection every 300 ms (each stays well inside its idle time).
                while !stop.load(ordering: .relaxed) {
                    for descriptor in descriptors { _ = Glibc.send(descriptor, "a", 1, Int32(MSG_NOSIGNAL)) }
                    usleep(300_000)
                }
            } else {
                usleep(500_000)
                for round in 0..<6 {
                    for (port, path) in [
                        (healthPort, "/health/live"), (endpoint.metricsPort, "/metrics"),
                        (endpoint.metricsPort, "/health/live"), (healthPort, "/health/ready"),
                    ] {
                        let start = MonotonicClock.nanoseconds()
                        let status = (try? get(port, path))?.status
                        let took = MonotonicClock.nanoseconds() - start
                        if status != 200 || took > 1_000_000_000 {
                            failures.add(1, ordering: .relaxed)
                            print(
                                "round \(round): \(path) on \(port) answered \(status ?? -1) after \(took / 1_000_000) ms"
                            )
                        }
                        _ = slowest.max(took, ordering: .relaxed)
                    }
                    usleep(200_000)
                }
                stop.store(true, ordering: .relaxed)
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
        #expect(slowest.load(ordering: .relaxed) < 1_000_000_000)
    }

    @Test func aFullListenerEvictsItsOldestIncompleteConnection() throws {
        let endpoint = try startEndpoint(separateHealth: false) { $0.maxConnections = 8 }
        defer { endpoint.shutdown() }
        var held: [RawConnection] = []
        defer { for connection in held { connection.closeConnection() } }
        for _ in 0..<8 {
            held.append(try RawConnection(port: endpoint.metricsPort, receiveTimeoutSeconds: 2))
            usleep(20_000)  // accepted in order
        }
        let response = try get(endpoint.metricsPort, "/metrics")
        #expect(response.status == 200)
        // The oldest one was closed to make room (recv sees the end, not a timeout); the
        // newest still works.
        var byte: UInt8 = 0
        #expect(recv(held[0].descriptor, &byte, 1, 0) == 0)
        held[7].send("GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(held[7].receiveResponses(1).first?.status == 200)
    }

    @Test func concurrentScrapesOfOneFormatShareOneRender() throws {
        let eventLoop = try EndpointEventLoop(name: "test-loop")
        defer { eventLoop.shutdown() }
        let threads = try WorkerThreads(count: 2, name: "test-render")
        defer { threads.shutdown() }
        let loop = eventLoop.loop
        let coalescer = RenderCoalescer(limit: 1, threads: threads)
        let renders = Atomic<Int>(0)
        let running = Atomic<Int>(0)
        let mostAtOnce = Atomic<Int>(0)
        let work: RenderCoalescer.Work = {
            let now = running.add(1, ordering: .relaxed).newValue
            _ = mostAtOnce.max(now, ordering: .relaxed)
            let number = renders.add(1, ordering: .relaxed).newValue
            usleep(200_000)
            running.subtract(1, ordering: .relaxed)
            return HTTPHandler.Response(
                status: .ok, contentType: "text/plain", body: ByteBuffer(string: "render \(number)"))
        }
        let text = RenderCoalescer.Key(format: .text, gzip: false)
        let openMetrics = RenderCoalescer.Key(format: .openMetrics, gzip: true)
        let futures = try loop.submit {
            (0..<10).map { index in coalescer.response(index % 5 == 4 ? openMetrics : text, on: loop, work) }
        }.wait()
        let bodies = try futures.map { String(buffer: try $0.wait().body) }
        #expect(renders.load(ordering: .relaxed) == 2, "one render per format: \(bodies)")
        #expect(mostAtOnce.load(ordering: .relaxed) == 1, "the limit of renders in flight")
        #expect(Set(bodies.enumerated().filter { $0.offset % 5 != 4 }.map(\.element)).count == 1)
        // A scrape after the render finished gets a new one.
        let later = try loop.submit { coalescer.response(text, on: loop, work) }.wait().wait()
        #expect(String(buffer: later.body) == "render 3")
    }

    @Test func concurrentScrapesOverHTTPAllSucceed() throws {
        let registry = Registry()
        let family = try registry.counter("c", help: "", labelNames: ["i"])
        for index in 0..<5_000 { try family.labels(String(index)).inc() }
        let endpoint = try startEndpoint(registry: registry, separateHealth: false)
        defer { endpoint.shutdown() }
        let good = Atomic<Int>(0)
        onThreads(8) { thread in
            for _ in 0..<5 {
                let headers = thread % 2 == 0 ? ["Accept-Encoding": "gzip"] : [:]
                if let response = try? get(endpoint.metricsPort, "/metrics", headers: headers), response.status == 200 {
                    good.add(1, ordering: .relaxed)
                }
            }
        }
        #expect(good.load(ordering: .relaxed) == 40)
    }

    @Test(arguments: [Double.nan, .infinity, -.infinity, -1, 0, 1e10, 1e19])
    func badTimesInTheConfigurationAreInvalidArguments(seconds: Double) throws {
        for field in 0..<3 {
            do {
                let endpoint = try startEndpoint(separateHealth: false) {
                    switch field {
                    case 0: $0.idleTimeoutSeconds = seconds
                    case 1: $0.requestHeadTimeoutSeconds = seconds
                    default: $0.shutdownGraceSeconds = seconds
                    }
                }
                endpoint.shutdown()
                #expect(field == 2 && seconds == 0, "field \(field) accepted \(seconds)")
            } catch let error as MetricError {
                #expect(error.kind == .invalidArgument, "\(error)")
            }
        }
    }

    @Test func dualStackListeningAnswersIPv4AndIPv6Loopback() throws {
        let probe = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(probe) }
        var loopback = sockaddr_in6()
        loopback.sin6_family = sa_family_t(AF_INET6)
        loopback.sin6_addr = in6addr_loopback
        let hasIPv6 = withUnsafePointer(to: &loopback) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(probe, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) == 0
            }
        }
        guard hasIPv6 else { return }  // no IPv6 loopback on this machine
        let endpoint = try startEndpoint(separateHealth: false) { $0.bindAddress = "::" }
        defer { endpoint.shutdown() }
        #expect(try get(endpoint.metricsPort, "/health/live").status == 200)  // over IPv4
        let connection = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(connection) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_addr = in6addr_loopback
        address.sin6_port = in_port_t(UInt16(endpoint.metricsPort).bigEndian)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(connection, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) == 0
            }
        }
        try #require(connected, "connect to [::1]:\(endpoint.metricsPort)")
        let request = Array("GET /metrics HTTP/1.1\r\nHost: [::1]\r\nConnection: close\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { Glibc.send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = recv(connection, &chunk, chunk.count, 0)
            if count <= 0 { break }
            received += chunk[0..<count]
        }
        #expect(HTTPResponse.parseAll(received).first?.status == 200)
    }

    @Test func gzipFeedsZlibInChunks() throws {
        var text = ""
        for index in 0..<20_000 { text += "series_total{i=\"\(index)\"} \(index * 7)\n" }
        let input = Array(text.utf8)
        let gzip = Gzip()
        for chunk in [1, 7, 1000, 65536, Gzip.chunkBytes] {
            let compressed = try #require(
                input.withUnsafeBytes { gzip.compress($0, allocator: ByteBufferAllocator(), chunkBytes: chunk) })
            #expect(gunzip(Array(compressed.readableBytesView)) == input, "chunk \(chunk)")
        }
        // Past the output limit: nil (the plain body is served instead), never a trap.
        #expect(input.withUnsafeBytes { gzip.compress($0, allocator: ByteBufferAllocator(), outputLimit: 100) } == nil)
        let empty = try #require([UInt8]().withUnsafeBytes { gzip.compress($0, allocator: ByteBufferAllocator()) })
        #expect(gunzip(Array(empty.readableBytesView)).isEmpty)
    }
}
