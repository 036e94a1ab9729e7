import NIOCore

// Hostile clients: how a listener keeps answering probes and scrapes when someone holds
// hundreds of connections open, each trickling a byte every few seconds.
//
// 1. A deadline for the whole request (`requestHeadTimeoutSeconds`, 10 s by default),
//    counted from the connection's accept or the first byte after the previous response
//    until the request (head and body) is read: a trickling client is answered 408 and
//    closed then, however often it sends a byte. The idle timeout still closes silent ones.
// 2. A full listener evicts instead of refusing: when `maxConnections` are open, a new
//    connection closes the oldest one that is not being answered (still sending its request,
//    or idle between requests). A probe or a scrape sends its request at once, so it is
//    being answered within a millisecond of connecting and is never the oldest such
//    connection; the trickling ones are, and they are the ones that go. Only when every
//    open connection is being answered is a new one refused (503).
//
// Both run on the endpoint's one event-loop thread, so this state needs no lock.

/// The open connections of one listener, in accept order.
// @unchecked Sendable: touched only on the endpoint's one event-loop thread.
final class ConnectionTable: @unchecked Sendable {
    enum Phase {
        /// Sending its request: not yet read in full.
        case reading
        /// Its request is read; the response is being made or written.
        case answering
        /// Between requests (keep-alive).
        case idle
    }

    private struct Entry {
        let channel: Channel
        let order: UInt64
        var phase: Phase
    }

    let limit: Int
    private var entries: [ObjectIdentifier: Entry] = [:]
    private var nextOrder: UInt64 = 0

    init(limit: Int) { self.limit = limit }

    var count: Int { entries.count }

    /// Makes room for `channel` by evicting the oldest connection not being answered, and
    /// adds it; false if every open connection is being answered.
    func admit(_ channel: Channel) -> Bool {
        if entries.count >= limit {
            guard
                let (key, victim) = entries.filter({ $0.value.phase != .answering }).min(by: {
                    $0.value.order < $1.value.order
                })
            else { return false }
            entries[key] = nil
            victim.channel.close(promise: nil)
        }
        nextOrder += 1
        entries[ObjectIdentifier(channel)] = Entry(channel: channel, order: nextOrder, phase: .reading)
        return true
    }

    func set(_ channel: Channel, _ phase: Phase) {
        entries[ObjectIdentifier(channel)]?.phase = phase
    }

    func remove(_ channel: Channel) {
        entries[ObjectIdentifier(channel)] = nil
    }
}

/// One connection's request deadline, shared by `RequestDeadlineHandler` (in front of the
/// HTTP decoder, where bytes arrive) and `HTTPHandler` (which knows when a request is read
/// and when its response is written).
final class ConnectionState {
    let table: ConnectionTable
    let requestTimeout: TimeAmount
    private var deadline: Scheduled<Void>?
    private var phase = ConnectionTable.Phase.reading
    private weak var context: ChannelHandlerContext?

    init(table: ConnectionTable, requestTimeout: TimeAmount) {
        self.table = table
        self.requestTimeout = requestTimeout
    }

    /// A request starts: on accept, and at the first byte after a response.
    fileprivate func requestStarted(_ context: ChannelHandlerContext) {
        self.context = context
        phase = .reading
        table.set(context.channel, .reading)
        guard deadline == nil else { return }
        let channel = context.channel
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: requestTimeout) { [weak self] in
            guard let self, self.phase == .reading, let context = self.context else { return }
            self.timedOut(context, channel)
        }
    }

    private func timedOut(_ context: ChannelHandlerContext, _ channel: Channel) {
        // Written below the HTTP encoder, straight to the socket.
        let body = "request not received in time\n"
        let text =
            "HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\n"
            + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        context.writeAndFlush(NIOAny(channel.allocator.buffer(string: text))).whenComplete { _ in
            channel.close(promise: nil)
        }
        // On a TLS connection still in its handshake the write waits for a handshake that will
        // not finish: close anyway, a moment later.
        context.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
    }

    var isBetweenRequests: Bool { phase == .idle }

    /// The request (head and body) has been read.
    func requestRead(_ channel: Channel) {
        phase = .answering
        table.set(channel, .answering)
        deadline?.cancel()
        deadline = nil
    }

    /// The response has been written; the connection stays open for another request.
    func responseWritten(_ channel: Channel) {
        guard phase == .answering else { return }
        phase = .idle
        table.set(channel, .idle)
    }

    func closed() {
        deadline?.cancel()
        deadline = nil
    }
}

/// First in the pipeline: starts the request deadline when a request's first byte arrives.
final class RequestDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let state: ConnectionState

    init(state: ConnectionState) { self.state = state }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { state.requestStarted(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        state.requestStarted(context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if state.isBetweenRequests { state.requestStarted(context) }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        state.closed()
        context.fireChannelInactive()
    }
}
