import MartyMetrics
import NIOCore
import NIOPosix

/// Renders of one endpoint's registry, coalesced and limited (as client_golang 1.24 does with
/// gathers): a scrape that arrives while a render of the same format and encoding is queued
/// or running waits for it and is answered with its bytes; at most `limit` renders run at
/// once, the others wait in arrival order. The keys are few (three formats, two text
/// versions, four name escapings named or not, gzip or not), so a bounded number of renders
/// is ever pending, however many clients scrape.
///
/// Used only on the endpoint's one event-loop thread, so it needs no lock.
// @unchecked Sendable: touched only on the endpoint's one event-loop thread.
final class RenderCoalescer: @unchecked Sendable {
    struct Key: Hashable {
        let choice: ContentNegotiation.Choice
        let gzip: Bool

        init(choice: ContentNegotiation.Choice, gzip: Bool) {
            self.choice = choice
            self.gzip = gzip
        }

        init(format: ExpositionFormat, gzip: Bool) {
            self.init(choice: ContentNegotiation.Choice(format: format), gzip: gzip)
        }
    }

    typealias Work = @Sendable () -> HTTPHandler.Response

    private let limit: Int
    private let threads: WorkerThreads
    private var pending: [Key: EventLoopPromise<HTTPHandler.Response>] = [:]
    private var waiting: [(Key, Work)] = []
    private var running = 0

    init(limit: Int, threads: WorkerThreads) {
        self.limit = limit
        self.threads = threads
    }

    /// Call on `eventLoop` (the endpoint's).
    func response(_ key: Key, on eventLoop: EventLoop, _ work: @escaping Work) -> EventLoopFuture<HTTPHandler.Response>
    {
        if let shared = pending[key] { return shared.futureResult }
        let promise = eventLoop.makePromise(of: HTTPHandler.Response.self)
        pending[key] = promise
        if running < limit {
            start(key, work, on: eventLoop)
        } else {
            waiting.append((key, work))
        }
        return promise.futureResult
    }

    private func start(_ key: Key, _ work: @escaping Work, on eventLoop: EventLoop) {
        running += 1
        threads.run(on: eventLoop) { () -> HTTPHandler.Response in
            RenderPriority.lowerCallingThread()
            return work()
        }.whenComplete { result in
            // On the event loop again.
            self.running -= 1
            let promise = self.pending.removeValue(forKey: key)
            promise?.completeWith(result)
            if !self.waiting.isEmpty {
                let (next, nextWork) = self.waiting.removeFirst()
                self.start(next, nextWork, on: eventLoop)
            }
        }
    }
}
