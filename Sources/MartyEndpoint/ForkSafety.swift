import Glibc
import MartyMetrics

/// What a forked child must do about endpoints its parent was running: the child has
/// the parent's sockets but none of its event-loop threads. It closes every socket bound to
/// an endpoint's ports (listening and accepted ones: otherwise clients of the parent hang
/// after the parent closes its side) and marks the endpoints gone, so that a stop returns
/// at once and a new start works.
enum ForkSafety {
    private static let lock = Lock(.endpoint)
    nonisolated(unsafe) private static var endpoints: [ObjectIdentifier: WeakEndpoint] = [:]

    private struct WeakEndpoint {
        weak var endpoint: MetricsEndpoint?
    }

    static func track(_ endpoint: MetricsEndpoint) {
        _ = installation
        lock.withLock { endpoints[ObjectIdentifier(endpoint)] = WeakEndpoint(endpoint: endpoint) }
    }

    static func untrack(_ endpoint: MetricsEndpoint) {
        lock.withLock { endpoints[ObjectIdentifier(endpoint)] = nil }
    }

    /// The child handler runs once every Lock is free again in the child (Lock.swift's
    /// prepare handler holds them all across fork()).
    private static let installation: Void = {
        ForkHandlers.addChildHandler {
            let inherited = ForkSafety.lock.withLock {
                let inherited = ForkSafety.endpoints.values.compactMap(\.endpoint)
                ForkSafety.endpoints.removeAll()
                return inherited
            }
            for endpoint in inherited { endpoint.abandonAfterFork() }
        }
    }()

    /// Closes every descriptor of this process that is a TCP socket bound to one of `ports`.
    static func closeSockets(boundTo ports: Set<Int>) {
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        let highest = CInt(min(limit.rlim_cur, 65536))
        for descriptor in 0..<highest where fcntl(descriptor, F_GETFD) != -1 {
            var type: CInt = 0
            var length = socklen_t(MemoryLayout<CInt>.size)
            guard getsockopt(descriptor, SOL_SOCKET, SO_TYPE, &type, &length) == 0,
                type == CInt(SOCK_STREAM.rawValue)
            else { continue }
            if let port = ListeningSocket.boundPort(descriptor), ports.contains(port) {
                close(descriptor)
            }
        }
    }
}
