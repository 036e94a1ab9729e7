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
        // Huge amounts go to the float cell, so that no integer cell can wrap around.
        if amount < Self.largestIntegerIncrement {
            cmarty_add_u64(shardCells, amount)
        } else {
            cmarty_add_double(shardCells + 1, Double(amount))
        }
    }

    /// Whole increments below this go to the integer cells: 2^64 of them would take
    /// centuries, so those cells cannot wrap.
    @usableFromInline static let largestIntegerIncrement: UInt64 = 1 << 32

    /// Adds a finite amount that is not negative.
    @inlinable
    public func add(_ amount: Double) throws(MetricError) {
        guard amount >= 0 else {  // false for NaN too
            throw MetricError(.invalidValue, "counters only go up: cannot add \(amount)")
        }
        if amount < 4_294_967_296.0, amount == amount.rounded(.towardZero) {
            cmarty_add_u64(shardCells, UInt64(amount))
        } else {
            cmarty_add_double(shardCells + 1, amount)
        }
    }

    /// Sets the counter back to 0 (for swift-metrics' `reset`). Increments racing with it
    /// may survive it.
    public func reset() {
        for shard in 0..<CellArena.shared.shardCount {
            let cell = cells + shard * CellArena.stride
            cmarty_store_u64(cell, 0)
            cmarty_store_double(cell + 1, 0)
        }
    }

    /// The total over all shards.
    public var value: Double {
        var whole: UInt64 = 0
        var wholeOverflowed = 0.0
        var fraction = 0.0
        for shard in 0..<CellArena.shared.shardCount {
            let cell = cells + shard * CellArena.stride
            let (sum, overflow) = whole.addingReportingOverflow(cmarty_load_u64(cell))
            if overflow {
                wholeOverflowed += Double(whole)
                whole = cmarty_load_u64(cell)
            } else {
                whole = sum
            }
            fraction += cmarty_load_double(cell + 1)
        }
        return wholeOverflowed + Double(whole) + fraction
    }
}
