#if !os(Linux)
    extension ProcessReading {
        /// No reader for this OS yet: the process metrics are registered and stay at 0.
        static func read() -> ProcessReading? { nil }

        static func unixTime() -> Double { 0 }
    }
#endif
