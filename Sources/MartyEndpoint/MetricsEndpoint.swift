import Glibc
import MartyMetrics
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Requests being answered right now, so that shutdown can let them finish.
final class InFlightCounter: Sendable {
    private let count = Atomic<Int>(0)
    func begin() { count.add(1, ordering: .relaxed) }
    func end() { count.subtract(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}

/// The embedded HTTP endpoint: `/metrics` and the health probes on the metrics listener,
/// the health probes on the health listener. It runs on an event-loop thread of its own;
/// rendering and health checks run on two pool threads; the caller's threads are never
/// borrowed.
public final class MetricsEndpoint: @unchecked Sendable {
    public let service: String
    /// The bound ports (0 and nil when disabled): useful when 0 asked for ephemeral ones.
    public let metricsPort: Int
    public let healthPort: Int?
    /// False when `MARTY_METRICS_ENABLED=false`: nothing listens, stop is a no-op.
    public let isEnabled: Bool

    private enum State {
        case running
        case stopped
        /// This process is a fork of the one that started the endpoint.
        case abandoned
    }

    private let lock = NIOLock()
    private var state: State
    private let group: MultiThreadedEventLoopGroup?
    private let threadPool: NIOThreadPool?
    private let channels: [Channel]
    private let health: HealthRegistry
    private let inFlight: InFlightCounter
    private let graceSeconds: Double

    /// Starts listening. Fails with `.addressInUse` naming the port (and whom the Marty
    /// table gives it to) when a port is taken.
    public static func start(_ configuration: EndpointConfiguration) throws(MetricError) -> MetricsEndpoint {
        guard configuration.isEnabledByEnvironment else {
            return MetricsEndpoint(disabled: configuration.service, health: configuration.health)
        }
        guard configuration.idleTimeoutSeconds > 0, configuration.maxConnections > 0 else {
            throw MetricError(.invalidArgument, "idle timeout and connection limit must be positive")
        }
        let resolved = try configuration.resolve()
        let healthStatus = try healthStatusGauge(configuration)

        let metricsSocket = try ListeningSocket.open(
            address: resolved.bindAddress, port: resolved.metricsPort, role: "metrics")
        var healthSocket: (descriptor: CInt, port: Int)? = nil
        if let port = resolved.healthPort {
            do {
                healthSocket = try ListeningSocket.open(address: resolved.bindAddress, port: port, role: "health")
            } catch {
                close(metricsSocket.descriptor)
                throw error
            }
        }

        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        // Two pool threads: scrapes (rendering, gzip) and health checks use both cores of a
        // small machine, and a slow health callback does not hold up a scrape.
        let threadPool = NIOThreadPool(numberOfThreads: 2)
        threadPool.start()
        let inFlight = InFlightCounter()
        configuration.health.endShutdown()
        let context = EndpointContext(
            service: configuration.service, registry: configuration.registry, health: configuration.health,
            healthStatus: healthStatus, threadPool: threadPool, startedAt: HealthRegistry.now(),
            maxBodyBytes: configuration.maxBodyBytes, inFlight: inFlight, gzip: Gzip())

        var channels: [Channel] = []
        do {
            channels.append(
                try bootstrap(group, context, configuration, servesMetrics: true)
                    .withBoundSocket(metricsSocket.descriptor).wait())
            if let healthSocket {
                channels.append(
                    try bootstrap(group, context, configuration, servesMetrics: false)
                        .withBoundSocket(healthSocket.descriptor).wait())
            }
        } catch {
            for channel in channels { try? channel.close().wait() }
            if channels.isEmpty { close(metricsSocket.descriptor) }
            if channels.count < 2, let healthSocket { close(healthSocket.descriptor) }
            try? group.syncShutdownGracefully()
            try? threadPool.syncShutdownGracefully()
            throw MetricError(.system, "cannot start the endpoint: \(error)")
        }
        let endpoint = MetricsEndpoint(
            service: configuration.service, metricsPort: metricsSocket.port, healthPort: healthSocket?.port,
            group: group, threadPool: threadPool, channels: channels, health: configuration.health,
            inFlight: inFlight, graceSeconds: configuration.shutdownGraceSeconds)
        ForkSafety.track(endpoint)
        return endpoint
    }

    private init(
        service: String, metricsPort: Int, healthPort: Int?, group: MultiThreadedEventLoopGroup,
        threadPool: NIOThreadPool, channels: [Channel], health: HealthRegistry, inFlight: InFlightCounter,
        graceSeconds: Double
    ) {
        self.service = service
        self.metricsPort = metricsPort
        self.healthPort = healthPort
        self.isEnabled = true
        self.state = .running
        self.group = group
        self.threadPool = threadPool
        self.channels = channels
        self.health = health
        self.inFlight = inFlight
        self.graceSeconds = graceSeconds
    }

    private init(disabled service: String, health: HealthRegistry) {
        self.service = service
        self.metricsPort = 0
        self.healthPort = nil
        self.isEnabled = false
        self.state = .stopped
        self.group = nil
        self.threadPool = nil
        self.channels = []
        self.health = health
        self.inFlight = InFlightCounter()
        self.graceSeconds = 0
    }

    private static func bootstrap(
        _ group: MultiThreadedEventLoopGroup, _ context: EndpointContext, _ configuration: EndpointConfiguration,
        servesMetrics: Bool
    ) -> ServerBootstrap {
        let connectionCount = ConnectionCount()
        let limit = configuration.maxConnections
        let idle = TimeAmount.nanoseconds(Int64(configuration.idleTimeoutSeconds * 1e9))
        let decoderLimits = {
            var limits = NIOHTTPDecoderLimitConfiguration()
            limits.maxHeaderListSize = configuration.maxHeaderBytes
            limits.maxHeaderFieldSize = configuration.maxHeaderBytes
            return limits
        }()
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 1)
            .childChannelInitializer { channel in
                let open = connectionCount.opened()
                channel.closeFuture.whenComplete { _ in connectionCount.closed() }
                if open > limit {
                    // Over the limit: say so and hang up, so the server keeps answering others.
                    return channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(RefuseConnectionHandler())
                    }
                }
                return channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(IdleStateHandler(readTimeout: idle))
                    try pipeline.configureHTTPServerPipeline(
                        withPipeliningAssistance: true, withErrorHandling: false,
                        withEncoderConfiguration: .init(), withDecoderLimitConfiguration: decoderLimits)
                    try pipeline.addHandler(ProtocolErrorHandler())
                    try pipeline.addHandler(HTTPHandler(endpoint: context, servesMetrics: servesMetrics))
                }
            }
    }

    /// Registers (or finds) `marty_service_health_status{service}` in the registry.
    private static func healthStatusGauge(_ configuration: EndpointConfiguration) throws(MetricError) -> Gauge {
        let name = "marty_service_health_status"
        if let existing = configuration.registry.family(named: name) {
            guard let family = existing as? GaugeFamily, family.labelNames == ["service"] else {
                throw MetricError(.conflict, "\(name) is registered, but not as a gauge with the label service")
            }
            return try family.labels(configuration.service)
        }
        let family = try configuration.registry.gauge(
            name, help: "Service health status (1=healthy, 0=unhealthy)", labelNames: ["service"])
        return try family.labels(configuration.service)
    }

    /// Stops gracefully: readiness fails first, listeners close, in-flight responses get up
    /// to the grace period, then the threads end and the ports are free. Safe to call more
    /// than once and from any thread; in a forked child it returns at once.
    public func shutdown() {
        let proceed: Bool = lock.withLock {
            guard state == .running else { return false }
            state = .stopped
            return true
        }
        guard proceed, let group, let threadPool else { return }
        ForkSafety.untrack(self)
        health.beginShutdown()
        for channel in channels { try? channel.close().wait() }
        let deadline = HealthRegistry.now() + graceSeconds
        while inFlight.value > 0 && HealthRegistry.now() < deadline { usleep(5_000) }
        try? threadPool.syncShutdownGracefully()
        try? group.syncShutdownGracefully()
    }

    public var isRunning: Bool { lock.withLock { state == .running } }

    /// Called in a forked child: the event-loop thread does not exist here. Closes the
    /// inherited sockets and keeps NIO's objects from ever being torn down in this process.
    func abandonAfterFork() {
        // The lock may have been held by a thread that does not exist in the child.
        state = .abandoned
        var ports: Set<Int> = [metricsPort]
        if let healthPort { ports.insert(healthPort) }
        ForkSafety.closeSockets(boundTo: ports)
        if let group { _ = Unmanaged.passRetained(group) }
        if let threadPool { _ = Unmanaged.passRetained(threadPool) }
    }

    deinit {
        if isEnabled && state == .running { shutdown() }
    }
}

/// Open connections of one listener.
final class ConnectionCount: Sendable {
    private let count = Atomic<Int>(0)
    /// Returns the count including the new connection.
    func opened() -> Int { count.add(1, ordering: .relaxed).newValue }
    func closed() { count.subtract(1, ordering: .relaxed) }
}

/// Answers 503 on a connection over the limit, then closes it.
final class RefuseConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    func channelActive(context: ChannelHandlerContext) {
        let body = "too many connections\n"
        let text =
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
            + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        let channel = context.channel
        context.writeAndFlush(NIOAny(channel.allocator.buffer(string: text))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}
