import CMartyShims

/// A monotonic counter series. Each shard holds an integer count and a float remainder, so
/// whole-number increments stay exact and never take a compare-and-swap loop.
public final class Counter: SeriesBase, @unchecked Sendable {
    @usableFromInline static let width = 2
    /// Shard 0's cells: `[count, fractional bits]`; shard s's at `+ s * CellArena.stride`.
    @usableFromInline let cells: UnsafeMutablePointer<UInt64>

    override init(identity: SeriesIdentity) {
        cells = CellArena.shared.allocate(width: Self.width)
        super.init(identity: identity)
    }

    deinit { CellArena.shared.release(cells, width: Self.width) }

    @inlinable @inline(__always)
    var shardCells: UnsafeMutablePointer<UInt64> {
        cells + Int(cmarty_thread_shard()) &* CellArena.stride
    }

    /// Adds 1.
    @inlinable
    public func inc() {
        cmarty_add_u64(shardCells, 1)
    }

    /// Adds a whole number.
    @inlinable
    public func inc(by amount: UInt64) {
        cmarty_add_u64(shardCells, amount)
    }

    /// Adds a finite amount that is not negative.
    @inlinable
    public func add(_ amount: Double) throws(MetricError) {
        guard amount >= 0 else {  // false for NaN too
            throw MetricError(.invalidValue, "counters only go up: cannot add \(amount)")
        }
        if amount < 18_446_744_073_709_551_616.0, amount == amount.rounded(.towardZero) {
            cmarty_add_u64(shardCells, UInt64(amount))
        } else {
            cmarty_add_double(shardCells + 1, amount)
        }
    }

    /// The total over all shards.
    public var value: Double {
        var whole: UInt64 = 0
        var fraction = 0.0
        for shard in 0..<CellArena.shared.shardCount {
            let cell = cells + shard * CellArena.stride
            whole &+= cmarty_load_u64(cell)
            fraction += cmarty_load_double(cell + 1)
        }
        return Double(whole) + fraction
    }
}
