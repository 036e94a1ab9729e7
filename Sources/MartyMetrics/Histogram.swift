import CMartyShims

/// Bucket bounds shared by every series of a histogram family.
public struct HistogramBuckets: Sendable {
    /// The Prometheus client defaults.
    public static let defaultBounds: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    /// Series may use this many bounds: the header row holds the generation, the bound count,
    /// the bounds, the exemplar cell and the native configuration's cell.
    public static let maximumBoundCount = CellArena.stride - 4

    /// The finite upper bounds, strictly increasing; the +Inf bucket is not among them.
    public let bounds: [Double]

    /// Checks `bounds`: they must be finite, strictly increasing and at most
    /// ``maximumBoundCount``, else `invalidBuckets`. An empty list leaves only the +Inf bucket.
    public init(_ bounds: [Double] = HistogramBuckets.defaultBounds) throws(MetricError) {
        var previous = -Double.infinity
        for bound in bounds {
            guard bound.isFinite else {
                throw MetricError(
                    .invalidBuckets, "histogram bounds must be finite (+Inf is added by itself), got \(bound)")
            }
            guard bound > previous else {
                throw MetricError(
                    .invalidBuckets, "histogram bounds must be strictly increasing: \(bound) follows \(previous)")
            }
            previous = bound
        }
        guard bounds.count <= Self.maximumBoundCount else {
            throw MetricError(
                .invalidBuckets, "a histogram has at most \(Self.maximumBoundCount) bounds, got \(bounds.count)")
        }
        self.bounds = bounds
    }
}

/// A histogram series. Each shard holds non-cumulative bucket counts (the last is +Inf,
/// which a native-only histogram leaves to its native buckets' count) and the sum; `_count`
/// is never stored but summed from the buckets, so a reading always shows `_count` equal to
/// the `+Inf` bucket.
// @unchecked Sendable: its cells are raw memory written and read only with the atomic operations of CMartyShims; the bounds never change.
public final class Histogram: SeriesBase, @unchecked Sendable {
    /// Shard 0's cells; C callers' handles point here. The header row before them holds
    /// `[generation, bound count, bounds..., exemplar slots]`, which C calls read (see
    /// CMartyShims.h).
    @usableFromInline package let cells: UnsafeMutablePointer<UInt64>
    @usableFromInline let bounds: UnsafePointer<Double>
    @usableFromInline let boundCount: Int
    /// The native buckets' configuration, nil for a classic-only histogram. Its address is
    /// also in the header cell after the exemplar cell, for C calls; the native cells of each
    /// shard follow the classic ones at `boundCount + 3`.
    @usableFromInline let native: UnsafePointer<cmarty_native_config>?
    let nativeLayout: NativeHistogramLayout?
    private let width: Int

    /// `cells`, when given, are cells of the multiprocess segment (never native), which the
    /// series never gives back.
    init(
        identity: SeriesIdentity, bounds: [Double], native: NativeHistogramLayout? = nil,
        cells shared: UnsafeMutablePointer<UInt64>? = nil
    ) {
        boundCount = bounds.count
        width = Self.width(boundCount: boundCount, native: native)
        cells = shared ?? CellArena.shared.allocate(width: width)
        let header = cells - CellArena.stride
        cmarty_store_u64(header + 1, UInt64(boundCount))
        for (index, bound) in bounds.enumerated() { (header + 2 + index).pointee = bound.bitPattern }
        self.bounds = UnsafeRawPointer(header + 2).assumingMemoryBound(to: Double.self)
        nativeLayout = native
        self.native = native.map { UnsafePointer($0.config) }
        if let native {
            cmarty_store_u64(header + 3 + boundCount, UInt64(UInt(bitPattern: native.config)))
        }
        super.init(identity: identity)
    }

    deinit {
        CellArena.shared.release(cells, width: width, blockCell: exemplarSlots.pointerCell)
    }

    /// Cells per row: the header cell at boundCount + 3 holds the native configuration (zero
    /// for none), and C calls read it for every histogram: a classic-only series owns it too,
    /// or it would read its neighbour's generation as an address.
    static func width(boundCount: Int, native: NativeHistogramLayout?) -> Int {
        boundCount + 3 + (native?.width ?? 1)
    }

    /// The header cell after the bounds holds the address of the exemplar slots, one per
    /// bucket, once there are any.
    @usableFromInline var exemplarSlots: ExemplarSlots {
        ExemplarSlots(pointerCell: cells - CellArena.stride + 2 + boundCount, count: boundCount + 1)
    }

    /// Records one observation and keeps `exemplar` as the exemplar of the bucket it falls
    /// into, with the value and the current time; NaN is refused.
    public func observe(_ value: Double, exemplar: Exemplar) throws(MetricError) {
        try observe(value)
        exemplarSlots.store(exemplar, value: value, at: cmarty_histogram_bucket(bounds, boundCount, value))
    }

    /// The latest exemplar of each bucket (the last is +Inf's), nil where none was given.
    public var exemplars: [ExemplarReading?] {
        guard exemplarSlots.isAllocated else { return Array(repeating: nil, count: boundCount + 1) }
        return (0...boundCount).map { exemplarSlots.read(at: $0) }
    }

    /// Records one observation; NaN is refused, infinities are counted.
    @inlinable
    public func observe(_ value: Double) throws(MetricError) {
        guard !value.isNaN else {
            throw MetricError(.invalidValue, "cannot observe NaN")
        }
        record(value)
    }

    @inlinable @inline(__always)
    func record(_ value: Double) {
        cmarty_observe_at(cmarty_shard_cells(cells)!, bounds, boundCount, native, value)
    }

    /// A reading merged over all shards.
    public struct Snapshot: Sendable, Equatable {
        /// Cumulative counts, one per bound and a last one for +Inf.
        public var cumulativeCounts: [UInt64]
        /// The sum of all observed values.
        public var sum: Double
        /// The number of observations: the +Inf bucket's cumulative count.
        public var count: UInt64 { cumulativeCounts.last ?? 0 }
    }

    /// Reads the buckets and sum of every shard, each cell atomically; observations that run
    /// meanwhile may be partly included.
    public func snapshot() -> Snapshot {
        var counts = [UInt64](repeating: 0, count: boundCount + 1)
        var sum = 0.0
        for shard in 0..<CellArena.shared.shardCount {
            let cell = cells + shard * CellArena.stride
            for bucket in 0..<boundCount {
                counts[bucket] &+= cmarty_load_u64(cell + bucket)
            }
            counts[boundCount] &+= cmarty_inf_bucket_at(cell, boundCount, native)
            sum += cmarty_load_double(cell + boundCount + 1)
        }
        for bucket in 1..<counts.count {
            counts[bucket] &+= counts[bucket - 1]
        }
        return Snapshot(cumulativeCounts: counts, sum: sum)
    }

    /// The native buckets merged over all shards, at most the family's maximum of them (the
    /// resolution lowered until they fit); nil for a classic-only histogram.
    public func nativeSnapshot() -> NativeHistogramSnapshot? {
        guard let nativeLayout, let native else { return nil }
        var zeroCount: UInt64 = 0
        var sum = 0.0
        var fine: [Int64: UInt64] = [:]
        var coarse: [Int64: UInt64] = [:]
        for shard in 0..<CellArena.shared.shardCount {
            let row = cells + shard * CellArena.stride
            sum += cmarty_load_double(row + boundCount + 1)
            let cells = row + boundCount + 3
            zeroCount &+= cmarty_load_u64(cells)
            // The claimed slots only (a table of 256 holds some tens of buckets).
            for position in 0..<cmarty_native_claimed_count(cells, native) {
                let slot = Int(cmarty_native_claimed_slot(cells, native, position))
                guard slot >= 0 else { continue }
                let key = cmarty_load_u64(cells + 1 + 2 * slot)
                guard key != 0 else { continue }
                let count = cmarty_load_u64(cells + 2 + 2 * slot)
                if count > 0 { fine[Int64(bitPattern: key &- CMARTY_NATIVE_KEY_BIAS), default: 0] &+= count }
            }
            let dense = cmarty_native_dense(cells, native)!
            let denseCells = cmarty_native_dense_used(cells, native) != 0 ? 2 * Int(CMARTY_NATIVE_COARSE_SPAN) : 0
            for position in 0..<denseCells {
                let count = cmarty_load_u64(dense + position)
                guard count > 0 else { continue }
                let index = Int64(position % Int(CMARTY_NATIVE_COARSE_SPAN)) + Int64(CMARTY_NATIVE_COARSE_MIN)
                let negative: Int64 = position >= Int(CMARTY_NATIVE_COARSE_SPAN) ? 1 : 0
                coarse[index * 2 + negative, default: 0] &+= count
            }
        }
        var schema = native.pointee.schema
        if !coarse.isEmpty {
            // Observations that found no slot were counted at schema -4: everything goes there.
            while schema > -4 {
                fine = NativeHistogramSnapshot.halvedSigned(fine)
                schema -= 1
            }
            for (key, count) in coarse { fine[key, default: 0] &+= count }
        }
        var positive: [Int64: UInt64] = [:]
        var negative: [Int64: UInt64] = [:]
        for (key, count) in fine {
            let index = key >> 1  // arithmetic: the sign was the low bit
            if key & 1 == 0 { positive[index, default: 0] &+= count } else { negative[index, default: 0] &+= count }
        }
        return NativeHistogramSnapshot.make(
            schema: schema, zeroThreshold: native.pointee.zero_threshold, zeroCount: zeroCount, sum: sum,
            positive: positive, negative: negative, maxBucketCount: nativeLayout.options.maxBucketCount)
    }

    /// The family's bucket bounds, without +Inf.
    public var upperBounds: [Double] { Array(UnsafeBufferPointer(start: bounds, count: boundCount)) }
}
