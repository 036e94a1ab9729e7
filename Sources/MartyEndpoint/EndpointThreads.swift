import CMartyShims
import Glibc
import MartyMetrics
import NIOCore
import NIOPosix

// The endpoint's threads, started and stopped without libdispatch. SwiftNIO's
// `NIOThreadPool` and `MultiThreadedEventLoopGroup` report the end of their shutdown
// through a Dispatch queue, and libdispatch's global queues never run again in a child
// forked after the parent used them: a host that stopped an endpoint (or used Dispatch
// itself), forked, and stopped an endpoint in the child hung there for ever. These threads
// are plain pthreads, joined directly.

/// A fixed number of threads running jobs in arrival order; results come back on an event loop.
// @unchecked Sendable: `jobs` and `stopping` are guarded by `lock`.
final class WorkerThreads: @unchecked Sendable {
    private struct Job {
        let run: () -> Void
        let cancel: () -> Void
    }

    private let lock = Lock(.leaf)
    private let wake = ConditionVariable()
    private var jobs: [Job] = []
    private var stopping = false
    private var threads: [pthread_t] = []

    /// Starts `count` threads named `name` (at most 15 bytes, Linux' limit).
    init(count: Int, name: String) throws(MetricError) {
        for _ in 0..<count {
            guard let thread = spawnThread(name: name, { [self] in work() }) else {
                shutdown()
                throw MetricError(.system, "cannot start the endpoint's \(name) threads")
            }
            threads.append(thread)
        }
    }

    /// Runs `body` on one of the threads and completes the future on `eventLoop` with its
    /// result; fails it (`EventLoopError.shutdown`) if the threads stop first.
    func run<T: Sendable>(on eventLoop: EventLoop, _ body: @escaping @Sendable () -> T) -> EventLoopFuture<T> {
        let promise = eventLoop.makePromise(of: T.self)
        let job = Job(run: { promise.succeed(body()) }, cancel: { promise.fail(EventLoopError.shutdown) })
        let accepted = lock.withLock {
            guard !stopping else { return false }
            jobs.append(job)
            wake.signal()
            return true
        }
        if !accepted { job.cancel() }
        return promise.futureResult
    }

    /// Lets the running jobs finish, cancels the queued ones and joins the threads.
    /// Idempotent.
    func shutdown() {
        let (cancelled, toJoin): ([Job], [pthread_t]) = lock.withLock {
            stopping = true
            wake.broadcast()
            defer {
                jobs = []
                threads = []
            }
            return (jobs, threads)
        }
        for job in cancelled { job.cancel() }
        for thread in toJoin { pthread_join(thread, nil) }
    }

    private func work() {
        while true {
            let job: Job? = lock.withLock {
                while jobs.isEmpty && !stopping { _ = lock.wait(on: wake, timeoutNanoseconds: nil) }
                return jobs.isEmpty ? nil : jobs.removeFirst()
            }
            guard let job else { return }
            job.run()
        }
    }
}

/// One SwiftNIO event loop on a thread of the endpoint's own, which `shutdown` ends and joins.
final class EndpointEventLoop: Sendable {
    let loop: EventLoop
    private let thread: pthread_t

    init(name: String) throws(MetricError) {
        final class Handoff: @unchecked Sendable {
            let lock = Lock(.leaf)
            let ready = ConditionVariable()
            var loop: EventLoop?
        }
        let handoff = Handoff()
        guard
            let thread = spawnThread(
                name: name,
                {
                    MultiThreadedEventLoopGroup.withCurrentThreadAsEventLoop { loop in
                        handoff.lock.withLock {
                            handoff.loop = loop
                            handoff.ready.broadcast()
                        }
                    }
                })
        else {
            throw MetricError(.system, "cannot start the endpoint's event-loop thread")
        }
        self.thread = thread
        loop = handoff.lock.withLock {
            while handoff.loop == nil { _ = handoff.lock.wait(on: handoff.ready, timeoutNanoseconds: nil) }
            return handoff.loop!
        }
    }

    /// Stops the loop once its queued work ran, and joins its thread. Call once, never on the loop.
    func shutdown() {
        // The loop closes on its own thread, which then returns from withCurrentThreadAsEventLoop;
        // the join is what is waited for. The callback goes through Dispatch and is not needed
        // (in a forked child it never runs, harmlessly).
        loop.shutdownGracefully(queue: .global()) { _ in }
        pthread_join(thread, nil)
    }
}

/// A joinable pthread running `body`, named `name`; nil when it cannot be made.
private func spawnThread(name: String, _ body: @escaping () -> Void) -> pthread_t? {
    final class Box {
        let name: String
        let body: () -> Void
        init(_ name: String, _ body: @escaping () -> Void) {
            self.name = name
            self.body = body
        }
    }
    let context = Unmanaged.passRetained(Box(name, body)).toOpaque()
    var thread = pthread_t()
    let status = pthread_create(
        &thread, nil,
        { argument in
            let box = Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue()
            cmarty_set_thread_name(box.name)
            box.body()
            return nil
        }, context)
    guard status == 0 else {
        Unmanaged<Box>.fromOpaque(context).release()
        return nil
    }
    return thread
}
