import CMartyShims

/// A monotonic counter series. Each shard holds an integer count and a float remainder, so
/// whole-number increments stay exact and never take a compare-and-swap loop.
// @unchecked Sendable: its cells are raw memory written and read only with the atomic operations of CMartyShims.
public final class Counter: SeriesBase, @unchecked Sendable {
    @usableFromInline static let width = 2
    /// Shard 0's cells: `[count, fractional bits]`; shard s's at `+ s * CellArena.stride`.
    /// C callers' handles point here. The series owns them until it is freed.
    @usableFromInline package let cells: UnsafeMutablePointer<UInt64>

    /// `cells`, when given, are cells of the multiprocess segment, which the series never gives back.
    init(identity: SeriesIdentity, cells shared: UnsafeMutablePointer<UInt64>? = nil) {
        cells = shared ?? CellArena.shared.allocate(width: Self.width)
        super.init(identity: identity)
    }

    deinit { CellArena.shared.release(cells, width: Self.width, blockCell: exemplarSlots.pointerCell) }

    /// The header's second cell holds the address of the exemplar slot, once there is one.
    @usableFromInline var exemplarSlots: ExemplarSlots {
        ExemplarSlots(pointerCell: cells - CellArena.stride + 1, count: 1)
    }

    /// Adds 1.
    @inlinable
    public func inc() {
        cmarty_counter_add_whole(cells, 1)
    }

    /// Adds a whole number.
    @inlinable
    public func inc(by amount: UInt64) {
        cmarty_counter_add_whole(cells, amount)
    }

    /// Adds an amount that is not negative (+Inf too, as prometheus_client allows).
    @inlinable
    public func add(_ amount: Double) throws(MetricError) {
        guard amount >= 0 else {  // false for NaN too
            throw MetricError(.invalidValue, "counters only go up: cannot add \(amount)")
        }
        cmarty_counter_add_checked(cells, amount)
    }

    /// Adds `amount` (not negative) and keeps `exemplar` as the counter's exemplar, with the
    /// amount as its value and the current time, as prometheus_client's `inc(exemplar=…)` does.
    public func inc(by amount: Double = 1, exemplar: Exemplar) throws(MetricError) {
        try add(amount)
        exemplarSlots.store(exemplar, value: amount, at: 0)
    }

    /// The latest exemplar, if one was given.
    public var exemplar: ExemplarReading? { exemplarSlots.read(at: 0) }

    /// Sets the counter back to 0 (for swift-metrics' `reset`). Increments racing with it
    /// may survive it.
    public func reset() {
        restartCreatedTimestamp()
        for shard in 0..<CellArena.shared.shardCount {
            let cell = cells + shard * CellArena.stride
            cmarty_store_u64(cell, 0)
            cmarty_store_double(cell + 1, 0)
        }
    }

    /// The total over all shards.
    public var value: Double { cmarty_counter_value(cells) }
}
