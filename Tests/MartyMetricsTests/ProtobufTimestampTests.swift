import Testing

@testable import MartyMetrics

/// A protobuf `Timestamp` from a Double: clock readings split exactly into seconds and
/// nanoseconds; anything else is the epoch, never a trap of the Double-to-Int64 conversion.
@Suite struct ProtobufTimestampTests {
    @Test func clockReadingsSplitIntoSecondsAndNanoseconds() {
        let half = ProtobufExposition.Timestamp(1.5)
        #expect(half.seconds == 1 && half.nanos == 500_000_000)
        let now = ProtobufExposition.Timestamp(1_764_950_400.125)
        #expect(now.seconds == 1_764_950_400 && abs(now.nanos - 125_000_000) < 1000)
        let whole = ProtobufExposition.Timestamp(1_764_950_400)
        #expect(whole.seconds == 1_764_950_400 && whole.nanos == 0)
    }

    @Test(arguments: [Double.nan, .infinity, -.infinity, -1, 9e9, 1e300, -.leastNonzeroMagnitude])
    func valuesThatAreNoClockReadingAreTheEpoch(time: Double) {
        let timestamp = ProtobufExposition.Timestamp(time)
        #expect(timestamp.seconds == 0 && timestamp.nanos == 0)
    }
}
