import CZlib
import NIOConcurrencyHelpers
import NIOCore

/// gzip (RFC 1952) for `/metrics` responses. Deflate states are kept and reset between
/// responses: setting one up costs more than compressing a typical scrape.
final class Gzip: Sendable {
    /// Level 1: on Prometheus expositions it is about twice as fast as the default 6 and
    /// compresses as well (the text is very repetitive).
    static let level: Int32 = 1

    private let idle = NIOLockedValueBox<[Deflater]>([])

    /// `input` compressed into a new buffer from `allocator`, or nil if zlib refuses.
    func compress(_ input: UnsafeRawBufferPointer, allocator: ByteBufferAllocator) -> ByteBuffer? {
        let deflater = idle.withLockedValue { $0.popLast() } ?? Deflater()
        defer { idle.withLockedValue { $0.append(deflater) } }
        return deflater.compress(input, allocator: allocator)
    }
}

/// One z_stream, used by one thread at a time.
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

    func compress(_ input: UnsafeRawBufferPointer, allocator: ByteBufferAllocator) -> ByteBuffer? {
        guard ready, deflateReset(&stream) == Z_OK else { return nil }
        let bound = Int(deflateBound(&stream, UInt(input.count))) + 32
        var output = allocator.buffer(capacity: bound)
        let status = output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { out -> Int in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(input.count)
            stream.next_out = out.baseAddress?.assumingMemoryBound(to: Bytef.self)
            stream.avail_out = uInt(out.count)
            let result = deflate(&stream, Z_FINISH)
            return result == Z_STREAM_END ? out.count - Int(stream.avail_out) : 0
        }
        return status > 0 ? output : nil
    }
}
