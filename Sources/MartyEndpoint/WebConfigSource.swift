import Glibc
import MartyMetrics
import NIOHTTP1

/// The web config a listener serves under, re-read when its file or a certificate, key or CA
/// file it names changes (size, modification time or inode: a Kubernetes secret swapped by
/// its symlink counts), as exporter-toolkit re-reads them for each new connection. A
/// change that does not load (a half-written file, a key that does not match its
/// certificate) keeps the last good one and is reported once through ``MetricsWarnings``.
// @unchecked Sendable: `loaded` and `rejected` are guarded by `lock`.
final class WebConfigSource: @unchecked Sendable {
    struct Loaded {
        let config: WebConfig
        let tls: TLSServerContext?
        let headers: HTTPHeaders
        fileprivate let stamps: [FileStamp]
    }

    fileprivate struct FileStamp: Equatable {
        var device: UInt64 = 0
        var inode: UInt64 = 0
        var size: Int64 = -1
        var modified: Int64 = 0
        var changed: Int64 = 0

        init(_ path: String) {
            var info = stat()
            guard stat(path, &info) == 0 else { return }
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
            size = Int64(info.st_size)
            modified = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
            changed = Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec)
        }
    }

    let path: String
    private let lock = Lock(.leaf)
    private var loaded: Loaded
    private var rejected: [FileStamp]? = nil

    /// Reads the file and, when it configures TLS, makes the context: any error here stops
    /// the endpoint's start.
    init(path: String) throws(MetricError) {
        self.path = path
        loaded = try Self.load(path)
    }

    var usesTLS: Bool { lock.withLock { loaded.tls != nil } }

    /// The configuration to use now; reloaded first when a file changed since.
    func current() -> Loaded {
        let (last, lastRejected) = lock.withLock { (loaded, rejected) }
        let files = [path] + (last.config.tls?.files ?? [])
        let stamps = files.map(FileStamp.init)
        if stamps == last.stamps || stamps == lastRejected { return last }
        // Loading reads files: done without the lock (see Lock.swift).
        do throws(MetricError) {
            let fresh = try Self.load(path)
            if (fresh.tls != nil) != (last.tls != nil) {
                throw MetricError(
                    .invalidArgument,
                    "web config \(path): turning TLS \(fresh.tls != nil ? "on" : "off") needs the endpoint restarted")
            }
            lock.withLock {
                loaded = fresh
                rejected = nil
            }
            return fresh
        } catch {
            lock.withLock { rejected = stamps }
            MetricsWarnings.warn("\(error.message) (after a change; the previous configuration stays in use)")
            return last
        }
    }

    private static func load(_ path: String) throws(MetricError) -> Loaded {
        // Stamps first: a file changed while being read is read again at the next connection.
        let configStamp = FileStamp(path)
        let config = try WebConfig.load(path: path)
        let stamps = [configStamp] + (config.tls?.files ?? []).map(FileStamp.init)
        let tls: TLSServerContext?
        do {
            tls = try config.tls.map { settings throws(MetricError) in try TLSServerContext(settings) }
        } catch {
            throw MetricError(error.kind, "web config \(path): \(error.message)")
        }
        var headers = HTTPHeaders()
        for header in config.headers { headers.add(name: header.name, value: header.value) }
        return Loaded(config: config, tls: tls, headers: headers, stamps: stamps)
    }
}
