import CZlib
import MartyMetrics
import NIOCore

/// gzip (RFC 1952) for `/metrics` responses. Deflate states are kept and reset between
/// responses: setting one up costs more than compressing a typical scrape.
final class Gzip: Sendable {
    /// Level 1: on Prometheus expositions it is about twice as fast as the default 6 and
    /// compresses as well (the text is very repetitive).
    static let level: Int32 = 1

    /// zlib counts the bytes it is handed in 32 bits (`avail_in`, `avail_out`): input and
    /// output are fed in chunks of at most this many bytes, so an exposition past 4 GiB
    /// compresses like any other.
    static let chunkBytes = Int(UInt32.max)

    /// The largest body a ByteBuffer holds (its capacity is 32-bit).
    static let maximumOutputBytes = Int(UInt32.max)

    private let lock = Lock(.leaf)
    nonisolated(unsafe) private var idle: [Deflater] = []

    /// `input` compressed into a new buffer from `allocator`, or nil if zlib refuses or the
    /// result would be larger than `outputLimit`.
    func compress(
        _ input: UnsafeRawBufferPointer, allocator: ByteBufferAllocator, chunkBytes: Int = Gzip.chunkBytes,
        outputLimit: Int = Gzip.maximumOutputBytes
    ) -> ByteBuffer? {
        let deflater = lock.withLock { idle.popLast() } ?? Deflater()
        defer { lock.withLock { idle.append(deflater) } }
        return deflater.compress(input, allocator: allocator, chunkBytes: chunkBytes, outputLimit: outputLimit)
    }
}

/// One z_stream, used by one thread at a time.
// @unchecked Sendable: one z_stream, used by one thread at a time (Gzip hands each out under its lock).
private final class Deflater: @unchecked Sendable {
    private var stream = z_stream()
    private let ready: Bool

    init() {
        // windowBits 15 + 16 asks deflate for a gzip header and trailer.
        ready =
            deflateInit2_(
                &stream, Gzip.level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                Int32(MemoryLayout<z_stream>.size)) == Z_OK
    }

    deinit {
        if ready { deflateEnd(&stream) }
    }

    func compress(
        _ input: UnsafeRawBufferPointer, allocator: ByteBufferAllocator, chunkBytes: Int, outputLimit: Int
    ) -> ByteBuffer? {
        guard ready, chunkBytes > 0, deflateReset(&stream) == Z_OK else { return nil }
        // deflateBound takes and returns a uLong (64-bit here): no overflow past 4 GiB.
        let bound = min(Int(clamping: UInt(deflateBound(&stream, uLong(input.count)))) &+ 32, outputLimit)
        var output = allocator.buffer(capacity: bound)
        let produced = output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { out -> Int in
            let room = min(out.count, outputLimit)
            let source = input.baseAddress?.assumingMemoryBound(to: Bytef.self)
            let target = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.avail_in = 0
            stream.avail_out = 0
            while true {
                // total_in and total_out are uLong (64-bit): they count past 4 GiB.
                let consumed = Int(stream.total_in)
                if stream.avail_in == 0, consumed < input.count {
                    stream.next_in = UnsafeMutablePointer(mutating: source! + consumed)
                    stream.avail_in = uInt(min(chunkBytes, input.count - consumed))
                }
                let written = Int(stream.total_out)
                if stream.avail_out == 0 {
                    guard written < room else { return 0 }  // over the limit
                    stream.next_out = target + written
                    stream.avail_out = uInt(min(chunkBytes, room - written))
                }
                let finishing = consumed + Int(stream.avail_in) == input.count
                let result = deflate(&stream, finishing ? Z_FINISH : Z_NO_FLUSH)
                switch result {
                case Z_STREAM_END:
                    return Int(stream.total_out)
                case Z_OK:
                    continue
                case Z_BUF_ERROR where stream.avail_out == 0 || (stream.avail_in == 0 && !finishing):
                    continue  // no room or no input: refilled above
                default:
                    return 0
                }
            }
        }
        return produced > 0 ? output : nil
    }
}
