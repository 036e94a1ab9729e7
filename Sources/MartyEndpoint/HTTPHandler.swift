import MartyHealth
import MartyMetrics
import NIOCore
import NIOHTTP1
import NIOPosix

/// What every connection's handler needs; shared, read-only.
struct EndpointContext: Sendable {
    let service: String
    let registry: Registry
    let health: HealthRegistry
    let healthStatus: Gauge?
    /// On the monotonic clock: uptime never jumps with the wall clock.
    let startedAt: Double
    let maxBodyBytes: Int
    let inFlight: InFlightCounter
    let gzip: Gzip
    let renders: RenderCoalescer
    /// Present when a web config is used; checks basic auth off the event loop.
    let authenticator: BasicAuthenticator?
}

/// Answers one connection's requests; the pipelining handler in front keeps one request at
/// a time per connection. Rendering and gzip run on the endpoint's pool threads, coalesced
/// (`RenderCoalescer`); probes never wait on a thread: they start or join the health
/// checks' runs (on the health module's workers) and answer when the last one finishes or
/// at its deadline. Nothing here runs a health callback.
final class HTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let endpoint: EndpointContext
    private let connection: ConnectionState
    private let servesMetrics: Bool
    private let webConfig: WebConfigSource?
    /// The web config as of the request being answered (its users, and its headers, which go
    /// on every response of this listener).
    private var web: WebConfigSource.Loaded?
    private var request: HTTPRequestHead?
    private var bodyBytes = 0
    private var refused = false

    init(endpoint: EndpointContext, connection: ConnectionState, servesMetrics: Bool, webConfig: WebConfigSource?) {
        self.endpoint = endpoint
        self.connection = connection
        self.servesMetrics = servesMetrics
        self.webConfig = webConfig
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
            web = webConfig?.current()
            bodyBytes = 0
            refused = false
        case .body(let body):
            // Bodies are read and dropped; only their size matters.
            bodyBytes += body.readableBytes
            if bodyBytes > endpoint.maxBodyBytes && !refused, let head = request {
                refused = true
                connection.requestRead(context.channel)
                respond(
                    context, head, .payloadTooLarge, text: "request body over \(endpoint.maxBodyBytes) bytes\n",
                    close: true)
            }
        case .end:
            guard let head = request, !refused else { return }
            request = nil
            connection.requestRead(context.channel)
            route(context, head)
        }
    }

    private enum Route {
        case metrics, health, live, ready
    }

    private func route(_ context: ChannelHandlerContext, _ head: HTTPRequestHead) {
        let path =
            head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        let target: Route
        switch path {
        case "/metrics" where servesMetrics: target = .metrics
        case "/health": target = .health
        case "/health/live": target = .live
        case "/health/ready": target = .ready
        default:
            respond(context, head, .notFound, text: "not found: \(path)\n")
            return
        }
        guard head.method == .GET || head.method == .HEAD else {
            var headers = HTTPHeaders()
            headers.add(name: "Allow", value: "GET, HEAD")
            respond(
                context, head, .methodNotAllowed, text: "method \(head.method) not allowed\n", extraHeaders: headers)
            return
        }
        let endpoint = self.endpoint
        let allocator = context.channel.allocator
        endpoint.inFlight.begin()
        let answer: EventLoopFuture<Response>
        switch target {
        case .metrics:
            let choice = ContentNegotiation.choice(accept: head.headers.first(name: "Accept"))
            let gzip = ContentNegotiation.allowsGzip(acceptEncoding: head.headers.first(name: "Accept-Encoding"))
            let eventLoop = context.eventLoop
            let render: @Sendable () -> EventLoopFuture<Response> = {
                endpoint.renders.response(RenderCoalescer.Key(choice: choice, gzip: gzip), on: eventLoop) {
                    Self.render(endpoint, choice, gzip: gzip, allocator)
                }
            }
            if let users = web?.config.users, !users.isEmpty, let authenticator = endpoint.authenticator {
                // Nothing is rendered for a request without the right credentials.
                answer = authenticator.check(
                    head.headers.first(name: "Authorization"), users: users, on: context.eventLoop
                )
                .flatMap { allowed in allowed ? render() : eventLoop.makeSucceededFuture(Self.unauthorized(allocator)) }
            } else {
                answer = render()
            }
        case .health, .live, .ready:
            answer = Self.probe(target, endpoint, allocator, on: context.eventLoop)
        }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        answer.whenComplete { result in
            let (handler, context) = bound.value
            switch result {
            case .success(let response):
                handler.write(context, head, response)
            case .failure:
                handler.respond(context, head, .serviceUnavailable, text: "shutting down\n", close: true)
            }
            endpoint.inFlight.end()
        }
    }

    struct Response: Sendable {
        var status: HTTPResponseStatus
        var contentType: String
        var body: ByteBuffer
        var gzipped = false
        var challenge = false
    }

    private static func unauthorized(_ allocator: ByteBufferAllocator) -> Response {
        Response(
            status: .unauthorized, contentType: "text/plain; charset=utf-8",
            body: allocator.buffer(string: "Unauthorized\n"),
            challenge: true)
    }

    /// Runs on a pool thread. The health gauge shows the last completed evaluation
    /// (`HealthRegistry.lastKnownHealthy`): a scrape never runs a health callback.
    private static func render(
        _ endpoint: EndpointContext, _ choice: ContentNegotiation.Choice, gzip: Bool, _ allocator: ByteBufferAllocator
    ) -> Response {
        endpoint.healthStatus?.set(endpoint.health.lastKnownHealthy() ? 1 : 0)
        let rendered = endpoint.registry.render(choice.format, escaping: choice.escaping)
        let contentType = choice.contentType
        return rendered.withBytes { bytes in
            if gzip, let compressed = endpoint.gzip.compress(UnsafeRawBufferPointer(bytes), allocator: allocator) {
                return Response(status: .ok, contentType: contentType, body: compressed, gzipped: true)
            }
            var buffer = allocator.buffer(capacity: bytes.count)
            buffer.writeBytes(UnsafeRawBufferPointer(bytes))
            return Response(status: .ok, contentType: contentType, body: buffer)
        }
    }

    /// Evaluates the checks the probe counts (all for `/health`) without blocking: answered
    /// when every run involved finished, or at the last of their deadlines (a timer on the
    /// event loop), whichever comes first.
    private static func probe(
        _ target: Route, _ endpoint: EndpointContext, _ allocator: ByteBufferAllocator, on eventLoop: EventLoop
    ) -> EventLoopFuture<Response> {
        let scope: HealthRegistry.Scope
        switch target {
        case .live: scope = .liveness
        case .ready: scope = .readiness
        default: scope = .all
        }
        let promise = eventLoop.makePromise(of: HealthRegistry.Report.self)
        let pending = endpoint.health.evaluate(scope) { promise.succeed($0) }
        let wait = pending.remainingNanoseconds
        if wait > 0 {
            let timer = eventLoop.scheduleTask(in: .nanoseconds(Int64(wait))) { pending.expire() }
            promise.futureResult.whenComplete { _ in timer.cancel() }
        }
        return promise.futureResult.map { report in
            switch target {
            case .health:
                let json = report.json(
                    service: endpoint.service, uptimeSeconds: MonotonicClock.seconds() - endpoint.startedAt,
                    timestamp: HealthRegistry.now())
                return Response(
                    status: .ok, contentType: "application/json", body: allocator.buffer(string: json + "\n"))
            default:
                let isLive = target == .live
                let passing = isLive ? report.live : report.ready
                let json = report.probeJSON(service: endpoint.service, live: isLive)
                return Response(
                    status: passing ? .ok : .serviceUnavailable, contentType: "application/json",
                    body: allocator.buffer(string: json + "\n"))
            }
        }
    }

    private func write(_ context: ChannelHandlerContext, _ head: HTTPRequestHead, _ response: Response) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: response.contentType)
        headers.add(name: "Content-Length", value: String(response.body.readableBytes))
        if response.gzipped { headers.add(name: "Content-Encoding", value: "gzip") }
        if response.challenge {
            headers.add(name: "WWW-Authenticate", value: "Basic realm=\"metrics\", charset=\"UTF-8\"")
        }
        if response.contentType.hasPrefix("text/plain") || response.contentType.hasPrefix("application/openmetrics") {
            headers.add(name: "Vary", value: "Accept, Accept-Encoding")
        }
        send(context, head, response.status, headers: headers, body: response.body, close: false)
    }

    private func respond(
        _ context: ChannelHandlerContext, _ head: HTTPRequestHead, _ status: HTTPResponseStatus, text: String,
        extraHeaders: HTTPHeaders = [:], close: Bool = false
    ) {
        var headers = extraHeaders
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        let body = context.channel.allocator.buffer(string: text)
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        send(context, head, status, headers: headers, body: body, close: close)
    }

    private func send(
        _ context: ChannelHandlerContext, _ head: HTTPRequestHead, _ status: HTTPResponseStatus, headers: HTTPHeaders,
        body: ByteBuffer, close: Bool
    ) {
        var headers = headers
        if let web { headers.add(contentsOf: web.headers) }
        let keepAlive = head.isKeepAlive && !close
        if !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
            promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        let channel = context.channel
        if keepAlive {
            let connection = self.connection
            done.assumeIsolated().whenComplete { _ in connection.responseWritten(channel) }
        } else {
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            // A client that connected and went quiet: let the slot go.
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A peer that went away mid-response, or any other I/O error: nothing to answer.
        context.close(promise: nil)
    }
}

/// Answers requests the HTTP decoder rejects: 431 for oversized headers, 400 otherwise,
/// then lets the decoder close the connection (as NIO's own protocol error handler does).
final class ProtocolErrorHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private var responseStarted = false

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        if !responseStarted {
            let tooLarge = parserError == .headerOverflow
            let status: HTTPResponseStatus = tooLarge ? .requestHeaderFieldsTooLarge : .badRequest
            let text = tooLarge ? "request headers too large\n" : "malformed HTTP request\n"
            let headers = HTTPHeaders([
                ("Connection", "close"), ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", String(text.utf8.count)),
            ])
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
                promise: nil)
            context.write(
                wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: text)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        context.fireErrorCaught(error)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head: responseStarted = true
        case .end: responseStarted = false
        case .body: break
        }
        context.write(data, promise: promise)
    }
}
