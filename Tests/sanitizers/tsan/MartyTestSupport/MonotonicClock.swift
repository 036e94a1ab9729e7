// The tests use MartyMetrics' `package` MonotonicClock, which a module of another package cannot
// see: this package gives them the same clock (CLOCK_MONOTONIC) through MartyTestSupport, which
// they all import. Only for the TSan build of Tests/sanitizers/tsan.
#if canImport(Glibc)
    import Glibc
#endif

public enum MonotonicClock {
    public static func nanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    public static func seconds() -> Double { Double(nanoseconds()) / 1e9 }
}
