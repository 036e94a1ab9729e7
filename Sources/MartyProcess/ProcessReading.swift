/// One reading of what the operating system says about this process; each OS's file
/// (ProcessReading+Linux.swift, ProcessReading+Unsupported.swift) implements `read()`.
struct ProcessReading {
    var cpuSeconds: Double
    var startTimeSeconds: Double
    var virtualBytes: Double
    var residentBytes: Double
    var openFileDescriptors: Int
    /// nil when the OS gives no limit to read.
    var maxFileDescriptors: Double?
}
