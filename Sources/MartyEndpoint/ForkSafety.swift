import Glibc

/// What a forked child must do about endpoints its parent was running: the child has
/// the parent's sockets but none of its event-loop threads. It closes every socket bound to
/// an endpoint's ports (listening and accepted ones: otherwise clients of the parent hang
/// after the parent closes its side) and marks the endpoints gone, so that a stop returns
/// at once and a new start works.
enum ForkSafety {
    nonisolated(unsafe) private static let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    nonisolated(unsafe) private static var endpoints: [ObjectIdentifier: WeakEndpoint] = [:]
    nonisolated(unsafe) private static var installed = false

    private struct WeakEndpoint {
        weak var endpoint: MetricsEndpoint?
    }

    static func track(_ endpoint: MetricsEndpoint) {
        installOnce()
        pthread_mutex_lock(lock)
        endpoints[ObjectIdentifier(endpoint)] = WeakEndpoint(endpoint: endpoint)
        pthread_mutex_unlock(lock)
    }

    static func untrack(_ endpoint: MetricsEndpoint) {
        pthread_mutex_lock(lock)
        endpoints[ObjectIdentifier(endpoint)] = nil
        pthread_mutex_unlock(lock)
    }

    private static let installation: Void = {
        pthread_mutex_init(lock, nil)
        // prepare/parent keep the table consistent across fork; child does the work.
        pthread_atfork(
            { pthread_mutex_lock(ForkSafety.lock) },
            { pthread_mutex_unlock(ForkSafety.lock) },
            {
                let inherited = ForkSafety.endpoints.values.compactMap(\.endpoint)
                ForkSafety.endpoints.removeAll()
                pthread_mutex_unlock(ForkSafety.lock)
                for endpoint in inherited { endpoint.abandonAfterFork() }
            })
    }()

    private static func installOnce() { _ = installation }

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
