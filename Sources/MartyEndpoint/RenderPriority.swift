import CMartyShims

#if canImport(Glibc)
    import Glibc
#endif

/// Renders run at a lower scheduling priority than the host's threads (nice +10 by default,
/// `MARTY_METRICS_RENDER_NICE`, 0 to leave them as they are): a scraper asking back to back
/// must not take CPU from the service the library lives in. Only the render threads: the event
/// loop, which answers the health probes, keeps the process' priority, so a busy host never
/// fails its probes because of this.
enum RenderPriority {
    /// The niceness render threads take: the process' own plus the increment, read once.
    private static let target: Int32? = {
        #if os(Linux)
            var increment: Int32 = 10
            if let text = getenv("MARTY_METRICS_RENDER_NICE"), let value = Int32(String(cString: text)),
                (0...19).contains(value)
            {
                increment = value
            }
            if increment == 0 { return nil }
            errno = 0
            let processNice = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
            if processNice == -1 && errno != 0 { return nil }
            return min(19, processNice + increment)
        #else
            return nil
        #endif
    }()

    /// Lowers the calling thread's priority (Linux: niceness is per thread; elsewhere nothing).
    /// Idempotent and cheap: one system call, against a render's milliseconds.
    static func lowerCallingThread() {
        guard let target else { return }
        _ = cmarty_set_thread_nice(target)
    }
}
