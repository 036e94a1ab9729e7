import CMartyShims
import Synchronization

/// How a histogram family keeps native (sparse exponential) buckets, as client_golang's
/// `NativeHistogramBucketFactor`, `NativeHistogramZeroThreshold` and
/// `NativeHistogramMaxBucketNumber` do. Prometheus reads them over protobuf only.
public struct NativeHistogramOptions: Sendable, Equatable {
    /// client_golang's default zero threshold, 2^-128.
    public static let defaultZeroThreshold = 2.938735877055719e-39

    /// The largest ratio of one bucket's upper bound to the next lower one's; the schema is
    /// the coarsest whose buckets are at most this wide (-4...8, as in client_golang).
    public let bucketFactor: Double
    /// Observations with an absolute value up to this go to the zero bucket.
    public let zeroThreshold: Double
    /// A reading shows at most this many buckets: it halves the resolution until they fit.
    public let maxBucketCount: Int
    /// The schema chosen from the bucket factor.
    public let schema: Int32

    /// Checks the options: `invalidBuckets` for a factor that is not above 1 (or NaN), a
    /// negative or non-finite zero threshold, or a bucket count outside 1...1000.
    public init(
        bucketFactor: Double = 1.1, zeroThreshold: Double = NativeHistogramOptions.defaultZeroThreshold,
        maxBucketCount: Int = 160
    ) throws(MetricError) {
        guard bucketFactor > 1, bucketFactor.isFinite else {
            throw MetricError(.invalidBuckets, "native histogram bucket factor must be above 1, got \(bucketFactor)")
        }
        guard zeroThreshold >= 0, zeroThreshold.isFinite else {
            throw MetricError(
                .invalidBuckets, "native histogram zero threshold must be finite and not negative, got \(zeroThreshold)"
            )
        }
        guard (1...1000).contains(maxBucketCount) else {
            throw MetricError(
                .invalidBuckets, "native histogram max bucket count must be in 1...1000, got \(maxBucketCount)")
        }
        self.bucketFactor = bucketFactor
        self.zeroThreshold = zeroThreshold
        self.maxBucketCount = maxBucketCount
        self.schema = Self.schema(forBucketFactor: bucketFactor)
    }

    /// client_golang's pickSchema: -floor(log2(log2(factor))), within -4...8.
    static func schema(forBucketFactor factor: Double) -> Int32 {
        let floor = cmarty_log2(cmarty_log2(factor)).rounded(.down)
        if floor <= -8 { return 8 }
        if floor >= 4 { return -4 }
        return Int32(-floor)
    }

    /// A power of two of at least 1.5 times the maximum, up to 1024 (what fits in a series' row
    /// beside classic bounds; past 683 buckets the table is fuller, and observations that find
    /// no slot go to the coarse counts).
    var slotCount: Int {
        var slots = 16
        while slots < maxBucketCount + maxBucketCount / 2 && slots < Int(CMARTY_NATIVE_MAX_SLOTS) { slots *= 2 }
        return slots
    }
}

/// The recording configuration of one set of options, shared by every series that uses it and
/// never freed (each is kept in `layouts`): C calls that passed a handle's check may still read
/// it while the series goes away. Programs use few distinct options; each costs at most 2.2 KiB.
final class NativeHistogramLayout: Sendable {
    nonisolated(unsafe) let config: UnsafeMutablePointer<cmarty_native_config>
    let width: Int
    let options: NativeHistogramOptions

    /// Every option, so that each layout made is kept (its configuration outlives its families).
    private struct Key: Hashable {
        let bucketFactor: UInt64
        let zeroThreshold: UInt64
        let maxBucketCount: Int
    }
    /// The library's one lock type (taken around fork), not `Mutex`.
    private static let lock = Lock(.leaf)
    nonisolated(unsafe) private static var layouts: [Key: NativeHistogramLayout] = [:]

    static func shared(_ options: NativeHistogramOptions) -> NativeHistogramLayout {
        let key = Key(
            bucketFactor: options.bucketFactor.bitPattern, zeroThreshold: options.zeroThreshold.bitPattern,
            maxBucketCount: options.maxBucketCount)
        return lock.withLock {
            if let layout = layouts[key] { return layout }
            let layout = NativeHistogramLayout(options)
            layouts[key] = layout
            return layout
        }
    }

    private init(_ options: NativeHistogramOptions) {
        self.options = options
        let bounds: UnsafeMutablePointer<Double>?
        if options.schema > 0 {
            let count = 1 << options.schema
            bounds = .allocate(capacity: count)
            for index in 0..<count { bounds![index] = cmarty_exp2(Double(index) / Double(count) - 1) }
        } else {
            bounds = nil
        }
        config = .allocate(capacity: 1)
        config.initialize(
            to: cmarty_native_config(
                schema: options.schema, slot_count: UInt32(options.slotCount), zero_threshold: options.zeroThreshold,
                bounds: bounds))
        width = cmarty_native_width(config)
    }
}

/// A reading of a native histogram as metrics.proto encodes it.
public struct NativeHistogramSnapshot: Sendable, Equatable {
    /// One run of consecutive buckets: `offset` is the first bucket's index for the first span,
    /// the gap after the previous span for the others.
    public struct Span: Sendable, Equatable {
        /// The first bucket's index (first span) or the count of empty buckets skipped.
        public var offset: Int32
        /// How many consecutive buckets the span holds.
        public var length: UInt32
    }

    /// The resolution of the buckets, possibly lower than the family's to fit the maximum.
    public var schema: Int32
    /// Observations with an absolute value up to this land in the zero bucket.
    public var zeroThreshold: Double
    /// The zero bucket's count.
    public var zeroCount: UInt64
    /// zeroCount plus every bucket's count, so it always agrees with the buckets.
    public var count: UInt64
    /// The sum of every observation.
    public var sum: Double
    /// The runs of buckets above the zero bucket, in index order.
    public var positiveSpans: [Span]
    /// The first bucket's count, then each bucket's difference to the previous one.
    public var positiveDeltas: [Int64]
    /// The runs of buckets below the zero bucket (index by absolute value).
    public var negativeSpans: [Span]
    /// The negative buckets' counts, delta-encoded as ``positiveDeltas``.
    public var negativeDeltas: [Int64]

    /// The buckets by index with their counts (for tests and quantile estimates).
    public func buckets(negative: Bool = false) -> [(index: Int32, count: UInt64)] {
        var result: [(Int32, UInt64)] = []
        var index: Int32 = 0
        var count: Int64 = 0
        var deltas = (negative ? negativeDeltas : positiveDeltas).makeIterator()
        for (position, span) in (negative ? negativeSpans : positiveSpans).enumerated() {
            index = position == 0 ? span.offset : index + span.offset
            for _ in 0..<span.length {
                count += deltas.next() ?? 0
                if count > 0 { result.append((index, UInt64(count))) }
                index += 1
            }
        }
        return result
    }

    static func make(
        schema: Int32, zeroThreshold: Double, zeroCount: UInt64, sum: Double, positive: [Int64: UInt64],
        negative: [Int64: UInt64], maxBucketCount: Int
    ) -> NativeHistogramSnapshot {
        var schema = schema
        var positive = positive
        var negative = negative
        while positive.count + negative.count > maxBucketCount && schema > -4 {
            positive = halved(positive)
            negative = halved(negative)
            schema -= 1
        }
        let (positiveSpans, positiveDeltas) = encode(positive)
        let (negativeSpans, negativeDeltas) = encode(negative)
        let count = positive.values.reduce(zeroCount, &+) &+ negative.values.reduce(0, &+)
        return NativeHistogramSnapshot(
            schema: schema, zeroThreshold: zeroThreshold, zeroCount: zeroCount, count: count, sum: sum,
            positiveSpans: positiveSpans, positiveDeltas: positiveDeltas, negativeSpans: negativeSpans,
            negativeDeltas: negativeDeltas)
    }

    /// One schema lower: bucket i becomes ceil(i / 2), as two neighbours merge.
    static func halved(_ buckets: [Int64: UInt64]) -> [Int64: UInt64] {
        var merged: [Int64: UInt64] = [:]
        for (index, count) in buckets { merged[(index + 1) >> 1, default: 0] &+= count }
        return merged
    }

    /// `halved` on keys that carry the sign in their low bit (`index * 2 + negative`).
    static func halvedSigned(_ keys: [Int64: UInt64]) -> [Int64: UInt64] {
        var merged: [Int64: UInt64] = [:]
        for (key, count) in keys { merged[(((key >> 1) + 1) >> 1) * 2 + (key & 1), default: 0] &+= count }
        return merged
    }

    /// Spans and deltas; gaps of up to two empty buckets are filled with zeros rather than
    /// opening a span, as client_golang does.
    static func encode(_ buckets: [Int64: UInt64]) -> ([Span], [Int64]) {
        var spans: [Span] = []
        var deltas: [Int64] = []
        var previousIndex: Int64 = 0
        var previousCount: Int64 = 0
        for index in buckets.keys.sorted() {
            let count = Int64(buckets[index]!)
            if spans.isEmpty {
                spans.append(Span(offset: Int32(index), length: 1))
            } else {
                let gap = index - previousIndex - 1
                if gap <= 2 {
                    for _ in 0..<gap {
                        deltas.append(-previousCount)
                        previousCount = 0
                    }
                    spans[spans.count - 1].length += UInt32(gap) + 1
                } else {
                    spans.append(Span(offset: Int32(gap), length: 1))
                }
            }
            deltas.append(count - previousCount)
            previousCount = count
            previousIndex = index
        }
        return (spans, deltas)
    }
}
