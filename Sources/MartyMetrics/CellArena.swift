import CMartyShims

/// Hands out 64-bit cells for series: `width` contiguous cells in each of `rows` rows.
///
/// All rows of one chunk live in one allocation, `stride` cells apart, so a series keeps a
/// single base pointer (its row-1 cells) and finds row r's cells at `base + (r - 1) * stride`.
/// Row 0 is the series' header: its first cell holds the block's generation, which C handles
/// carry and check (see cmarty_handle_cells), the other cells what the series keeps beside
/// its values (a histogram's bounds). The sharded arena has one row per shard after the
/// header: threads on different shards write to different cache lines, and a series costs
/// `(shards + 1) * width * 8` bytes.
///
/// Releasing a block bumps its generation at once, so C handles to it stop recording; the
/// block is handed out again only after `cmarty_synchronize()`, when no C call that checked
/// the old generation can still be writing into it, and it is zeroed then.
// @unchecked Sendable: chunks and free lists are guarded by `lock`; cells are written only atomically.
@usableFromInline
final class CellArena: @unchecked Sendable {
    static let shared = CellArena(rows: Int(cmarty_shard_count()) + 1)
    /// Gauges are set as a whole, so they are not sharded: a header and one value row.
    static let gauges = CellArena(rows: 2)

    /// Cells per row in one chunk: the largest `width` one series may ask for.
    @inlinable static var stride: Int { Int(CMARTY_CELL_STRIDE) }

    let rows: Int
    private let lock = Lock(.cellArena)
    private var chunks: [UnsafeMutablePointer<UInt64>] = []
    private var bumpNext = CellArena.stride  // no chunk yet
    /// Blocks that may be handed out again, by width.
    private var reusable: [Int: [UnsafeMutablePointer<UInt64>]] = [:]
    /// Released blocks that C calls may still be writing into, by width.
    private var retired: [Int: [UnsafeMutablePointer<UInt64>]] = [:]
    private var retiredCount = 0
    /// Header cells of released series that may hold an exemplar block's address: the blocks
    /// are freed after the next synchronize, when no C call can still be installing one.
    private var retiredBlockCells: [UnsafeMutablePointer<UInt64>] = []

    private init(rows: Int) {
        self.rows = rows
    }

    /// Shard rows of a series' cells (the rows after the header).
    var shardCount: Int { rows - 1 }

    /// Zeroed cells: `width` in each row; returns the row-1 base. The header's first cell
    /// (the generation) is kept.
    func allocate(width: Int) -> UnsafeMutablePointer<UInt64> {
        precondition(width > 0 && width <= Self.stride)
        return lock.withLock {
            if reusable[width, default: []].isEmpty && retiredCount > 0 {
                // Every block released so far becomes reusable once no C call can be in it.
                cmarty_synchronize()
                for (retiredWidth, blocks) in retired { reusable[retiredWidth, default: []].append(contentsOf: blocks) }
                retired.removeAll(keepingCapacity: true)
                retiredCount = 0
                for cell in retiredBlockCells {
                    cmarty_free_block_at(cell)
                }
                retiredBlockCells.removeAll(keepingCapacity: true)
            }
            if let base = reusable[width]?.popLast() {
                let header = base - Self.stride
                (header + 1).update(repeating: 0, count: width - 1)
                for row in 1..<rows { (header + row * Self.stride).update(repeating: 0, count: width) }
                return base
            }
            if bumpNext + width > Self.stride {
                let cells = rows * Self.stride
                let raw = UnsafeMutableRawPointer.allocate(
                    byteCount: cells * MemoryLayout<UInt64>.stride, alignment: 128)
                let chunk = raw.initializeMemory(as: UInt64.self, repeating: 0, count: cells)
                chunks.append(chunk)
                bumpNext = 0
            }
            let base = chunks[chunks.count - 1] + Self.stride + bumpNext
            bumpNext += width
            return base
        }
    }

    /// Gives cells back. C handles to them stop recording at once; the cells are reused
    /// once no C call can still be writing into them. `blockCell`, a header cell that may
    /// hold the address of a block malloc'd for the series (its exemplars), is freed then too.
    func release(_ base: UnsafeMutablePointer<UInt64>, width: Int, blockCell: UnsafeMutablePointer<UInt64>? = nil) {
        // Cells of the multiprocess segment stay: other processes record into them.
        if cmarty_mp_contains(base) != 0 { return }
        let header = base - Self.stride
        cmarty_store_u64(header, cmarty_load_u64(header) &+ 1)
        lock.withLock {
            retired[width, default: []].append(base)
            retiredCount += 1
            if let blockCell { retiredBlockCells.append(blockCell) }
        }
    }
}
