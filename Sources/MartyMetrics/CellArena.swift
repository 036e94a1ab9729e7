import CMartyShims

/// Hands out sharded 64-bit cells for counters and histograms.
///
/// A series gets `width` contiguous cells in every shard. All shards of one chunk live in
/// one allocation, `stride` cells apart, so a series keeps a single base pointer and finds
/// its shard's cells at `base + shard * stride`. Threads on different shards write to
/// different cache lines, and a series costs `shards * width * 8` bytes, not a padded
/// cache line per shard.
@usableFromInline
final class CellArena: @unchecked Sendable {
    static let shared = CellArena()

    /// Cells per shard in one chunk: the largest `width` one series may ask for.
    @inlinable static var stride: Int { Int(CMARTY_CELL_STRIDE) }

    let shardCount: Int
    private let lock = Lock()
    private var chunks: [UnsafeMutablePointer<UInt64>] = []
    private var bumpNext = CellArena.stride  // no chunk yet
    private var freeLists: [Int: [UnsafeMutablePointer<UInt64>]] = [:]

    private init() {
        shardCount = Int(cmarty_shard_count())
    }

    /// Zeroed cells: `width` in each shard, starting at the returned shard-0 base.
    func allocate(width: Int) -> UnsafeMutablePointer<UInt64> {
        precondition(width > 0 && width <= Self.stride)
        return lock.withLock {
            if var list = freeLists[width], let base = list.popLast() {
                freeLists[width] = list
                return base
            }
            if bumpNext + width > Self.stride {
                let cells = shardCount * Self.stride
                let raw = UnsafeMutableRawPointer.allocate(
                    byteCount: cells * MemoryLayout<UInt64>.stride, alignment: 128)
                let chunk = raw.initializeMemory(as: UInt64.self, repeating: 0, count: cells)
                chunks.append(chunk)
                bumpNext = 0
            }
            let base = chunks[chunks.count - 1] + bumpNext
            bumpNext += width
            return base
        }
    }

    /// Returns cells to the arena, zeroed for their next owner.
    func release(_ base: UnsafeMutablePointer<UInt64>, width: Int) {
        for shard in 0..<shardCount {
            (base + shard * Self.stride).update(repeating: 0, count: width)
        }
        lock.withLock { freeLists[width, default: []].append(base) }
    }
}
