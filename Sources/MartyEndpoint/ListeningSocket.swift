import Glibc
import MartyMetrics

/// A listening TCP socket made by hand rather than by NIO's bind, so that the endpoint
/// knows its descriptor (a forked child closes it) and can say exactly why a bind failed.
enum ListeningSocket {
    static func open(
        address: String, port: Int, role: String, describePort: (@Sendable (Int) -> String?)? = nil
    ) throws(MetricError) -> (descriptor: CInt, port: Int) {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var results: UnsafeMutablePointer<addrinfo>? = nil
        let lookup = getaddrinfo(address, String(port), &hints, &results)
        guard lookup == 0, let first = results else {
            throw MetricError(
                .invalidArgument, "cannot use bind address \"\(address)\": \(String(cString: gai_strerror(lookup)))")
        }
        defer { freeaddrinfo(results) }

        let descriptor = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else {
            throw MetricError(.system, "cannot create a socket for the \(role) listener: \(errorText())")
        }
        var one: CInt = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<CInt>.size))
        if first.pointee.ai_family == AF_INET6 {
            // Dual stack: "::" takes IPv4 clients too (as ::ffff:a.b.c.d), whatever the
            // system's net.ipv6.bindv6only says.
            var zero: CInt = 0
            setsockopt(descriptor, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &zero, socklen_t(MemoryLayout<CInt>.size))
        }
        if bind(descriptor, first.pointee.ai_addr, first.pointee.ai_addrlen) != 0 {
            let code = errno
            close(descriptor)
            if code == EADDRINUSE {
                var message = "\(role) port \(port) on \(address) is already in use"
                if let owners = describePort?(port) { message += " (\(owners))" }
                message += "; choose another port (argument or environment variable)"
                throw MetricError(.addressInUse, message)
            }
            throw MetricError(.system, "cannot bind the \(role) listener to \(address):\(port): \(errorText(code))")
        }
        guard listen(descriptor, 256) == 0 else {
            let code = errno
            close(descriptor)
            throw MetricError(.system, "cannot listen on \(address):\(port): \(errorText(code))")
        }
        return (descriptor, boundPort(descriptor) ?? port)
    }

    /// The local port a socket is bound to.
    static func boundPort(_ descriptor: CInt) -> Int? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let status = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard status == 0 else { return nil }
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
            }
        case AF_INET6:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                    Int(UInt16(bigEndian: $0.pointee.sin6_port))
                }
            }
        default:
            return nil
        }
    }

    static func errorText(_ code: CInt = errno) -> String {
        String(cString: strerror(code))
    }
}
