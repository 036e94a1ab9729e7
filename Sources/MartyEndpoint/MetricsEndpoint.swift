import Glibc
import MartyHealth
import MartyMetrics
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
/// rendering and gzip run on two pool threads; health callbacks on the health module's
/// workers; the caller's threads are never borrowed. Hostile clients: see Connections.swift.
// @unchecked Sendable: its one mutable field, `state`, is guarded by `lock`; the NIO objects are thread-safe.
public final class MetricsEndpoint: @unchecked Sendable {
    /// The service's name, as the health JSON shows it.
    public let service: String
    /// The bound ports (0 and nil when disabled): useful when 0 asked for ephemeral ones.
    public let metricsPort: Int
    /// The health listener's bound port; nil when the metrics listener serves the health
    /// paths too, or when disabled.
    public let healthPort: Int?
    /// False when `MARTY_METRICS_ENABLED=false`: nothing listens, stop is a no-op.
    public let isEnabled: Bool
    /// Whether the metrics listener speaks TLS only (its web config has a `tls_server_config`).
    public let metricsUsesTLS: Bool

    private enum State {
        case running
        case stopped
        /// This process is a fork of the one that started the endpoint.
        case abandoned
    }

    private let lock = Lock(.endpoint)
    private var state: State
    private let eventLoop: EndpointEventLoop?
    private let renderThreads: WorkerThreads?
    /// bcrypt's thread, when a web config is used.
    private let authThread: WorkerThreads?
    private let channels: [Channel]
    private let health: HealthRegistry
    private let inFlight: InFlightCounter
    private let graceNanoseconds: UInt64

    /// Starts listening. Fails with `.addressInUse` naming the port (and whom the Marty
    /// table gives it to) when a port is taken.
    public static func start(_ configuration: EndpointConfiguration) throws(MetricError) -> MetricsEndpoint {
        guard configuration.isEnabledByEnvironment else {
            return MetricsEndpoint(disabled: configuration.service, health: configuration.health)
        }
        let limits = try configuration.limits()
        let resolved = try configuration.resolve()
        // Read before any socket opens: an unusable web config fails the start and leaves nothing behind.
        let webConfig = try configuration.resolvedWebConfigFile().map { path throws(MetricError) in
            try WebConfigSource(path: path)
        }
        let healthUsesWebConfig = try configuration.resolvedHealthUsesWebConfig()

        let metricsSocket = try ListeningSocket.open(
            address: resolved.bindAddress, port: resolved.metricsPort, role: "metrics",
            describePort: configuration.describePort)
        var healthSocket: (descriptor: CInt, port: Int)? = nil
        if let port = resolved.healthPort {
            do {
                healthSocket = try ListeningSocket.open(
                    address: resolved.bindAddress, port: port, role: "health", describePort: configuration.describePort)
            } catch {
                close(metricsSocket.descriptor)
                throw error
            }
        }

        let eventLoop: EndpointEventLoop
        let renderThreads: WorkerThreads
        let authThread: WorkerThreads?
        do {
            (eventLoop, renderThreads, authThread) = try startThreads(authenticates: webConfig != nil)
        } catch {
            close(metricsSocket.descriptor)
            if let healthSocket { close(healthSocket.descriptor) }
            throw error
        }
        let group = eventLoop.loop
        let inFlight = InFlightCounter()
        configuration.health.endShutdown()
        let context = EndpointContext(
            service: configuration.service, registry: configuration.registry, health: configuration.health,
            healthStatus: configuration.healthStatus, startedAt: MonotonicClock.seconds(),
            maxBodyBytes: configuration.maxBodyBytes,
            inFlight: inFlight, gzip: Gzip(),
            renders: RenderCoalescer(limit: configuration.maxRendersInFlight, threads: renderThreads),
            authenticator: authThread.map { BasicAuthenticator(thread: $0) })

        var channels: [Channel] = []
        do {
            channels.append(
                try bootstrap(group, context, configuration, limits, servesMetrics: true, webConfig: webConfig)
                    .withBoundSocket(metricsSocket.descriptor).wait())
            if let healthSocket {
                channels.append(
                    try bootstrap(
                        group, context, configuration, limits, servesMetrics: false,
                        webConfig: healthUsesWebConfig ? webConfig : nil
                    )
                    .withBoundSocket(healthSocket.descriptor).wait())
            }
        } catch {
            for channel in channels { try? channel.close().wait() }
            if channels.isEmpty { close(metricsSocket.descriptor) }
            if channels.count < 2, let healthSocket { close(healthSocket.descriptor) }
            renderThreads.shutdown()
            authThread?.shutdown()
            eventLoop.shutdown()
            throw MetricError(.system, "cannot start the endpoint: \(error)")
        }
        let endpoint = MetricsEndpoint(
            service: configuration.service, metricsPort: metricsSocket.port, healthPort: healthSocket?.port,
            eventLoop: eventLoop, renderThreads: renderThreads, authThread: authThread, channels: channels,
            health: configuration.health, metricsUsesTLS: webConfig?.usesTLS ?? false,
            inFlight: inFlight, graceNanoseconds: limits.shutdownGrace)
        ForkSafety.track(endpoint)
        return endpoint
    }

    /// The event loop, two threads for rendering and gzip (both cores of a small machine;
    /// health callbacks never run there, they have the health module's workers) and, with a web
    /// config, one for bcrypt. On failure, those already started are stopped.
    private static func startThreads(
        authenticates: Bool
    ) throws(MetricError) -> (EndpointEventLoop, WorkerThreads, WorkerThreads?) {
        let eventLoop = try EndpointEventLoop(name: "marty-http")
        let renderThreads: WorkerThreads
        do {
            renderThreads = try WorkerThreads(count: 2, name: "marty-render")
        } catch {
            eventLoop.shutdown()
            throw error
        }
        guard authenticates else { return (eventLoop, renderThreads, nil) }
        do {
            return (eventLoop, renderThreads, try WorkerThreads(count: 1, name: "marty-auth"))
        } catch {
            renderThreads.shutdown()
            eventLoop.shutdown()
            throw error
        }
    }

    private init(
        service: String, metricsPort: Int, healthPort: Int?, eventLoop: EndpointEventLoop,
        renderThreads: WorkerThreads, authThread: WorkerThreads?, channels: [Channel], health: HealthRegistry,
        metricsUsesTLS: Bool,
        inFlight: InFlightCounter,
        graceNanoseconds: UInt64
    ) {
        self.service = service
        self.metricsPort = metricsPort
        self.healthPort = healthPort
        self.isEnabled = true
        self.metricsUsesTLS = metricsUsesTLS
        self.state = .running
        self.eventLoop = eventLoop
        self.renderThreads = renderThreads
        self.authThread = authThread
        self.channels = channels
        self.health = health
        self.inFlight = inFlight
        self.graceNanoseconds = graceNanoseconds
    }

    private init(disabled service: String, health: HealthRegistry) {
        self.service = service
        self.metricsPort = 0
        self.healthPort = nil
        self.isEnabled = false
        self.metricsUsesTLS = false
        self.state = .stopped
        self.eventLoop = nil
        self.renderThreads = nil
        self.authThread = nil
        self.channels = []
        self.health = health
        self.inFlight = InFlightCounter()
        self.graceNanoseconds = 0
    }

    private static func bootstrap(
        _ group: EventLoop, _ context: EndpointContext, _ configuration: EndpointConfiguration,
        _ limits: EndpointConfiguration.Limits, servesMetrics: Bool, webConfig: WebConfigSource?
    ) -> ServerBootstrap {
        let connections = ConnectionTable(limit: configuration.maxConnections)
        let idle = TimeAmount.nanoseconds(Int64(limits.idleTimeout))
        let requestTimeout = TimeAmount.nanoseconds(Int64(limits.requestTimeout))
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
                // On the endpoint's one event loop, like every use of `connections`.
                guard connections.admit(channel) else {
                    // Every open connection is being answered: say so and hang up.
                    return channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(RefuseConnectionHandler())
                    }
                }
                channel.closeFuture.whenComplete { _ in connections.remove(channel) }
                return channel.eventLoop.makeCompletedFuture {
                    let state = ConnectionState(table: connections, requestTimeout: requestTimeout)
                    let pipeline = channel.pipeline.syncOperations
                    // The certificate in use now: a renewed one is picked up by the next connection.
                    try webConfig?.current().tls?.addHandlers(to: pipeline)
                    try pipeline.addHandler(RequestDeadlineHandler(state: state))
                    try pipeline.addHandler(IdleStateHandler(readTimeout: idle))
                    try pipeline.configureHTTPServerPipeline(
                        withPipeliningAssistance: true, withErrorHandling: false,
                        withEncoderConfiguration: .init(), withDecoderLimitConfiguration: decoderLimits)
                    try pipeline.addHandler(ProtocolErrorHandler())
                    try pipeline.addHandler(
                        HTTPHandler(
                            endpoint: context, connection: state, servesMetrics: servesMetrics, webConfig: webConfig))
                }
            }
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
        guard proceed, let eventLoop, let renderThreads else { return }
        ForkSafety.untrack(self)
        health.beginShutdown()
        for channel in channels { try? channel.close().wait() }
        let deadline = MonotonicClock.nanoseconds() + graceNanoseconds
        while inFlight.value > 0 && MonotonicClock.nanoseconds() < deadline { usleep(5_000) }
        renderThreads.shutdown()
        authThread?.shutdown()
        eventLoop.shutdown()
    }

    /// True from `start` until `shutdown`; false for a disabled endpoint and in a forked child.
    public var isRunning: Bool { lock.withLock { state == .running } }

    /// Called in a forked child: the event-loop thread does not exist here. Closes the
    /// inherited sockets and keeps NIO's objects from ever being torn down in this process.
    func abandonAfterFork() {
        // Every Lock is free again in the child (see Lock.swift).
        lock.withLock { state = .abandoned }
        var ports: Set<Int> = [metricsPort]
        if let healthPort { ports.insert(healthPort) }
        ForkSafety.closeSockets(boundTo: ports)
        if let eventLoop { _ = Unmanaged.passRetained(eventLoop) }
        if let renderThreads { _ = Unmanaged.passRetained(renderThreads) }
        if let authThread { _ = Unmanaged.passRetained(authThread) }
    }

    deinit {
        if isEnabled && isRunning { shutdown() }
    }
}

/// Answers 503 on a connection that finds every slot busy answering, then closes it.
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
