import MartyEndpoint
import MartyMetrics

// libFuzzer target: raw bytes into the endpoint's HTTP pipeline.
//
// One endpoint (metrics and health listeners on ephemeral loopback ports, a registry with a
// few families) is started on the first input. Each input is written as it is to a fresh TCP
// connection to the metrics port (an input whose first byte is 0x01 goes, without that byte,
// to the health port), the write side is shut down, and the answer is read until the server closes. The pipeline is the
// one `MetricsEndpoint.start` builds (decoder, limits, handler, rendering, gzip, health), so
// whatever the endpoint does to its pipeline is fuzzed as it is on main.
//
// Besides not crashing (ASan aborts the process, and libFuzzer keeps the input):
//   - the server must close the connection within 10 s of the client's end of input;
//   - whatever it answers starts with an HTTP/1 status line.
#if canImport(Glibc)
    import Glibc
#endif

final class Target: @unchecked Sendable {
    let endpoint: MetricsEndpoint
    let metricsPort: UInt16
    let healthPort: UInt16

    init() {
        let registry = Registry()
        do {
            let requests = try registry.counter(
                "fuzz_requests_total", help: "Requests \"seen\"\nby the fuzzer", labelNames: ["path", "code"])
            try requests.labels("/metrics", "200").inc()
            try requests.labels("quote\"back\\slash\nnewline", "é✓").inc(by: 2)
            let latency = try registry.histogram(
                "fuzz_latency_seconds", help: "Latency", labelNames: ["path"],
                buckets: try HistogramBuckets([0.001, 0.1, 1, 10]))
            try latency.labels("/metrics").observe(0.05)
            try registry.gauge("fuzz_temperature", help: "Gauge").labels().set(-Double.infinity)
            var configuration = EndpointConfiguration(
                service: "fuzz-service", bindAddress: "127.0.0.1", metricsPort: 0, healthPort: 0)
            configuration.registry = registry
            endpoint = try MetricsEndpoint.start(configuration)
        } catch {
            fatalError("fuzz-http: cannot start the endpoint: \(error)")
        }
        metricsPort = UInt16(endpoint.metricsPort)
        healthPort = UInt16(endpoint.healthPort ?? endpoint.metricsPort)
    }

    /// Sends `bytes` on a new connection to `port`, half-closes, and returns the answer.
    func exchange(_ bytes: UnsafeBufferPointer<UInt8>, port: UInt16) -> [UInt8] {
        let fd = connectedSocket(port: port)
        defer { close(fd) }
        var sent = 0
        while sent < bytes.count {
            let n = send(fd, bytes.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL))
            if n <= 0 { break }  // the server may answer (413, 431, 400) and close before reading it all
            sent += n
        }
        shutdown(fd, Int32(SHUT_WR))
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        var pollFD = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while true {
            let ready = poll(&pollFD, 1, 10_000)
            if ready == 0 {
                fatalError("fuzz-http: the server neither answered nor closed within 10 s (port \(port))")
            }
            if ready < 0 {
                if errno == EINTR { continue }
                fatalError("poll: errno \(errno)")
            }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }  // closed (or reset after an error answer)
            answer.append(contentsOf: buffer[..<n])
        }
        return answer
    }

    /// A socket connected to `port` on loopback. It closes with a reset (SO_LINGER 0): the
    /// client half-closes first, so a normal close would leave every one of the thousands of
    /// connections a run makes in TIME_WAIT on this side, until connect runs out of ephemeral
    /// ports (EADDRNOTAVAIL) after some 28k of them, which is the harness failing, not the server.
    private func connectedSocket(port: UInt16) -> CInt {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        for attempt in 0..<50 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            precondition(fd >= 0, "socket: errno \(errno)")
            var lingerOption = linger(l_onoff: 1, l_linger: 0)
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lingerOption, socklen_t(MemoryLayout<linger>.size))
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            if connected == 0 { return fd }
            let error = errno
            close(fd)
            // Out of ephemeral ports or a momentary backlog: the client side, so wait and retry.
            precondition(
                error == EADDRNOTAVAIL || error == EAGAIN || error == EINTR,
                "connect to 127.0.0.1:\(port): errno \(error) (the server refused or is gone)")
            usleep(useconds_t(10_000 * (attempt + 1)))
        }
        fatalError("connect to 127.0.0.1:\(port): still no ephemeral port after 50 attempts")
    }
}

let target = Target()
let statusLinePrefix = Array("HTTP/1.".utf8)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTP(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let toHealth = size > 0 && bytes[0] == 0x01
    let answer =
        toHealth
        ? target.exchange(UnsafeBufferPointer(rebasing: bytes.dropFirst()), port: target.healthPort)
        : target.exchange(bytes, port: target.metricsPort)
    if !answer.isEmpty {
        precondition(
            answer.starts(with: statusLinePrefix),
            "answer does not start with an HTTP/1 status line: \(String(decoding: answer.prefix(80), as: UTF8.self))")
    }
    return 0
}
