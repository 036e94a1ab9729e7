import CMartyShims
import Glibc
import MartyTestSupport
import Testing

@testable import MartyMetrics

@Suite struct NativeHistogramTests {
    @Test(arguments: [
        (1.1, Int32(3)), (2.0, 0), (4.0, -1), (1.0027, 8), (1.0000001, 8), (65536.0, -4), (1e300, -4), (1.5, 1),
    ])
    func schemaIsPickedFromTheBucketFactorAsClientGolangDoes(factor: Double, schema: Int32) throws {
        #expect(try NativeHistogramOptions(bucketFactor: factor).schema == schema)
    }

    @Test func badOptionsAreRefused() {
        for factor in [1.0, 0.5, -2, .nan, .infinity] {
            #expect(throws: MetricError.self) { try NativeHistogramOptions(bucketFactor: factor) }
        }
        #expect(throws: MetricError.self) { try NativeHistogramOptions(zeroThreshold: -1) }
        #expect(throws: MetricError.self) { try NativeHistogramOptions(zeroThreshold: .nan) }
        #expect(throws: MetricError.self) { try NativeHistogramOptions(maxBucketCount: 0) }
    }

    private func series(_ options: NativeHistogramOptions, classic: HistogramBuckets? = nil) throws -> Histogram {
        try Registry().histogram("h", help: "", buckets: classic, native: options).labels()
    }

    @Test func bucketBoundariesAreExact() throws {
        // Schema 0: bucket i holds (2^(i-1), 2^i]; powers of two are upper bounds.
        let h = try series(NativeHistogramOptions(bucketFactor: 2))
        for value in [1.0, 2, 2.0000001, 0.5, 0.25, 3, 4, -1, -3, 0, 1e-40] { try h.observe(value) }
        let snapshot = try #require(h.nativeSnapshot())
        #expect(snapshot.schema == 0)
        #expect(snapshot.buckets().map { [$0.index: $0.count] } == [[-2: 1], [-1: 1], [0: 1], [1: 1], [2: 3]])
        #expect(snapshot.buckets(negative: true).map { [$0.index: $0.count] } == [[0: 1], [2: 1]])
        #expect(snapshot.zeroCount == 2)  // 0 and 1e-40, within the default threshold 2^-128
        #expect(snapshot.count == 11)
        #expect(snapshot.count == snapshot.zeroCount + snapshot.buckets().map(\.count).reduce(0, +) + 2)

        // Schema 3 (factor 1.1): 8 buckets per power of two; 2^(k/8) is an upper bound.
        let fine = try series(NativeHistogramOptions(bucketFactor: 1.1))
        try fine.observe(1)
        try fine.observe(exp2(1.0 / 8))
        try fine.observe(exp2(1.0 / 8).nextUp)
        try fine.observe(.infinity)
        let buckets = try #require(fine.nativeSnapshot()).buckets()
        #expect(buckets.map(\.index) == [0, 1, 2, 8192])
    }

    /// The bucket key taken from the double's bits agrees with libm's frexp (client_golang's
    /// way) at every schema, around powers of two, bucket bounds, subnormals and the extremes.
    @Test(arguments: Array(Int32(-4)...8))
    func bucketKeysAgreeWithFrexp(schema: Int32) {
        let count = 1 << max(schema, 0)
        let bounds = (0..<count).map { cmarty_exp2(Double($0) / Double(count) - 1) }
        func reference(_ magnitude: Double) -> Int64 {
            let (fraction, exponent) = (magnitude.significand / 2, Int64(magnitude.exponent) + 1)
            if schema > 0 {
                let index = bounds.firstIndex { $0 >= fraction } ?? count
                return Int64(index) + (exponent - 1) * Int64(count)
            }
            let key = fraction == 0.5 ? exponent - 1 : exponent
            return (key + (Int64(1) << -schema) - 1) >> -schema
        }
        var values: [Double] = [
            .leastNonzeroMagnitude, .leastNormalMagnitude, .leastNormalMagnitude.nextDown, 1e-310,
            .greatestFiniteMagnitude, 1, 0.1, 3, 1e300,
        ]
        for power in stride(from: -1074, through: 1023, by: 7) {
            let value = exp2(Double(power))
            values += [value, value.nextUp, value.nextDown, value * 1.09, value * 1.5]
        }
        for bound in bounds { values += [bound * 4, (bound * 4).nextUp, (bound * 4).nextDown] }
        bounds.withUnsafeBufferPointer { pointer in
            for value in values where value > 0 {
                #expect(cmarty_native_key(value, schema, pointer.baseAddress) == reference(value), "\(value)")
            }
        }
    }

    @Test func spansJoinShortGapsAndDeltasAreDifferences() throws {
        let h = try series(NativeHistogramOptions(bucketFactor: 2))
        for (value, times) in [(1.0, 3), (4.0, 1), (64.0, 2)] {
            for _ in 0..<times { try h.observe(value) }
        }
        let snapshot = try #require(h.nativeSnapshot())
        // Buckets 0 (3), 2 (1), 6 (2): a gap of one is filled, a gap of three opens a span.
        #expect(snapshot.positiveSpans == [.init(offset: 0, length: 3), .init(offset: 3, length: 1)])
        #expect(snapshot.positiveDeltas == [3, -3, 1, 1])
    }

    @Test func resolutionIsLoweredUntilTheBucketsFit() throws {
        let h = try series(NativeHistogramOptions(bucketFactor: 1.01, maxBucketCount: 10))
        var value = 0.001
        var observed: UInt64 = 0
        while value < 1000 {
            try h.observe(value)
            observed += 1
            value *= 1.05
        }
        let snapshot = try #require(h.nativeSnapshot())
        #expect(snapshot.buckets().count <= 10)
        #expect(snapshot.schema < 6)
        #expect(snapshot.count == observed)
        #expect(snapshot.buckets().map(\.count).reduce(0, +) == observed)
    }

    @Test func observationsBeyondTheSlotsAreKeptCoarsely() throws {
        // 16 slots (the least); far more distinct buckets at schema 8.
        let h = try series(NativeHistogramOptions(bucketFactor: 1.001, maxBucketCount: 1))
        var value = 1.0
        for _ in 0..<5000 {
            try h.observe(value)
            try h.observe(-value)
            value *= 1.01
        }
        try h.observe(0)
        let snapshot = try #require(h.nativeSnapshot())
        #expect(snapshot.schema == -4)
        #expect(snapshot.count == 10001)
        // A native-only histogram stores no +Inf bucket: its count is the native buckets'.
        #expect(h.snapshot().count == 10001)
        let total =
            snapshot.buckets().map(\.count).reduce(0, +) + snapshot.buckets(negative: true).map(\.count).reduce(0, +)
        #expect(total == 10000)
        #expect(snapshot.zeroCount == 1)
    }

    /// The whole documented range of maximum bucket counts makes families (past 683 the table
    /// no longer grew to fit and every family was refused), and their readings keep every
    /// observation.
    @Test(arguments: [1, 160, 683, 684, 1000])
    func everyMaximumBucketCountMakesAFamily(maximum: Int) throws {
        let h = try series(NativeHistogramOptions(bucketFactor: 1.0027, maxBucketCount: maximum))
        var value = 1e-3
        for _ in 0..<3000 {
            try h.observe(value)
            value *= 1.004
        }
        let snapshot = try #require(h.nativeSnapshot())
        #expect(snapshot.count == 3000)
        #expect(snapshot.buckets().map(\.count).reduce(0, +) == 3000)
        // At schema -4, the lowest, these values still span two buckets.
        #expect(snapshot.buckets().count <= maximum || snapshot.schema == -4)
        #expect(h.snapshot().count == 3000)
    }

    /// Options that share a schema, threshold and table size but not a factor each keep one
    /// layout. Before, only the first was kept; the others were made anew for every family and
    /// their configurations leaked (LeakSanitizer, through fuzz_c_api).
    @Test func everySetOfOptionsKeepsOneLayout() throws {
        let first = try NativeHistogramOptions(bucketFactor: 1.1)
        let second = try NativeHistogramOptions(bucketFactor: 1.15)
        #expect(first.schema == second.schema && first.slotCount == second.slotCount)
        #expect(NativeHistogramLayout.shared(first) === NativeHistogramLayout.shared(first))
        #expect(NativeHistogramLayout.shared(second) === NativeHistogramLayout.shared(second))
        #expect(NativeHistogramLayout.shared(first) !== NativeHistogramLayout.shared(second))
    }

    @Test func classicBucketsBesideNativeOnes() throws {
        let h = try series(NativeHistogramOptions(), classic: HistogramBuckets([1]))
        try h.observe(0.5)
        try h.observe(2)
        #expect(h.snapshot().cumulativeCounts == [1, 2])
        #expect(h.nativeSnapshot()?.count == 2)
        #expect(h.nativeSnapshot()?.sum == 2.5)
        // Native only: the text formats show the +Inf bucket, sum and count.
        let registry = Registry()
        let only = try registry.histogram("n", help: "", native: NativeHistogramOptions()).labels()
        try only.observe(3)
        #expect(registry.renderString().contains("n_bucket{le=\"+Inf\"} 1\nn_sum 3\nn_count 1\n"))
        #expect(try Registry().histogram("c", help: "").labels().nativeSnapshot() == nil)
    }

    @Test func quantilesFromTheBucketsAreWithinTheSchemasError() throws {
        let h = try series(NativeHistogramOptions(bucketFactor: 1.1))
        // 1, 2, ..., 10000 ms: the 0.5, 0.9 and 0.99 quantiles are known.
        for ms in 1...10000 { try h.observe(Double(ms) / 1000) }
        let snapshot = try #require(h.nativeSnapshot())
        let base = exp2(exp2(-Double(snapshot.schema)))
        for q in [0.5, 0.9, 0.99] {
            // Prometheus' estimate: the bucket holding the rank, interpolated exponentially.
            let rank = q * Double(snapshot.count)
            var seen = 0.0
            var estimate = 0.0
            for bucket in snapshot.buckets() {
                let upper = exp2(Double(bucket.index) / exp2(Double(snapshot.schema)))
                if seen + Double(bucket.count) >= rank {
                    let fraction = (rank - seen) / Double(bucket.count)
                    estimate = upper / base * exp2(fraction * log2(base))
                    break
                }
                seen += Double(bucket.count)
            }
            let truth = q * 10
            #expect(abs(estimate - truth) / truth <= base - 1, "q=\(q): \(estimate) vs \(truth)")
        }
    }

    @Test func concurrentObservationsKeepCountEqualToTheBuckets() throws {
        let registry = Registry()
        let h = try registry.histogram("h", help: "", native: NativeHistogramOptions(bucketFactor: 1.1)).labels()
        onThreads(5) { thread in
            if thread < 4 {
                for index in 0..<50_000 { try? h.observe(Double(index % 1000 + 1) / 100) }
            } else {
                for _ in 0..<200 {
                    let snapshot = h.nativeSnapshot()!
                    precondition(snapshot.count == snapshot.buckets().map(\.count).reduce(0, +) + snapshot.zeroCount)
                }
            }
        }
        let snapshot = try #require(h.nativeSnapshot())
        #expect(snapshot.count == 200_000)
        #expect(h.snapshot().count == 200_000)
    }
}
