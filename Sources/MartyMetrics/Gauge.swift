import CMartyShims

/// A gauge series: one double that can be set, or moved up and down.
// @unchecked Sendable: its cell is raw memory written and read only with the atomic operations of CMartyShims.
public final class Gauge: SeriesBase, @unchecked Sendable {
    /// A gauge is set as a whole, so it is not sharded: one cell of the gauge arena. C
    /// callers' handles point at it. The series owns it until it is freed.
    @usableFromInline package let cell: UnsafeMutablePointer<UInt64>

    /// `cell`, when given, is a cell of the multiprocess segment, which the series never gives back.
    init(identity: SeriesIdentity, cell shared: UnsafeMutablePointer<UInt64>? = nil) {
        cell = shared ?? CellArena.gauges.allocate(width: 1)
        super.init(identity: identity)
    }

    deinit { CellArena.gauges.release(cell, width: 1) }

    /// Replaces the value (one atomic store; safe from any thread).
    @inlinable
    public func set(_ value: Double) { cmarty_store_double(cell, value) }

    /// Adds `amount`, which may be negative (an atomic compare-and-swap loop).
    @inlinable
    public func add(_ amount: Double) { cmarty_add_double(cell, amount) }

    /// Adds 1.
    @inlinable
    public func inc() { cmarty_add_double(cell, 1) }

    /// Subtracts 1.
    @inlinable
    public func dec() { cmarty_add_double(cell, -1) }

    /// Sets the gauge to the current Unix time in seconds.
    public func setToCurrentTime() {
        set(cmarty_unix_time())
    }

    /// The current value, read atomically.
    public var value: Double { cmarty_load_double(cell) }
}
