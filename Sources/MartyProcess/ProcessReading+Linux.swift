#if os(Linux)
    import Glibc

    /// Linux: /proc/self/stat, /proc/stat's boot time, /proc/self/fd and getrlimit, with the
    /// meanings client_golang gives them.
    extension ProcessReading {
        static func read() -> ProcessReading? {
            guard let text = readFile("/proc/self/stat"),
                let closing = text.lastIndex(of: ")")
            else { return nil }
            // Fields after "pid (comm)" start at field 3 (state); comm may hold spaces.
            let fields = text[text.index(after: closing)...].split(separator: " ")
            guard fields.count > 22,
                let userTicks = Double(fields[11]), let systemTicks = Double(fields[12]),
                let startTicks = Double(fields[19]), let virtualBytes = Double(fields[20]),
                let residentPages = Double(fields[21]), let bootTime = bootTimeSeconds()
            else { return nil }
            let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
            var limit = rlimit()
            var maxFileDescriptors: Double? = nil
            if getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 {
                maxFileDescriptors = limit.rlim_cur == rlim_t.max ? .infinity : Double(limit.rlim_cur)
            }
            return ProcessReading(
                cpuSeconds: (userTicks + systemTicks) / ticks, startTimeSeconds: bootTime + startTicks / ticks,
                virtualBytes: virtualBytes, residentBytes: residentPages * Double(sysconf(Int32(_SC_PAGESIZE))),
                openFileDescriptors: countOpenFileDescriptors(), maxFileDescriptors: maxFileDescriptors)
        }

        static func unixTime() -> Double {
            var wallClock = timespec()
            clock_gettime(CLOCK_REALTIME, &wallClock)
            return Double(wallClock.tv_sec) + Double(wallClock.tv_nsec) / 1e9
        }

        private static func bootTimeSeconds() -> Double? {
            guard let text = readFile("/proc/stat") else { return nil }
            for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
                // Not `trimmingPrefix`: that alone linked _StringProcessing (regex) into the library.
                return Double(line.dropFirst(6).drop { $0 == " " })
            }
            return nil
        }

        static func countOpenFileDescriptors() -> Int {
            guard let directory = opendir("/proc/self/fd") else { return 0 }
            defer { closedir(directory) }
            var count = 0
            while let entry = readdir(directory) {
                if entry.pointee.d_name.0 != UInt8(ascii: ".") { count += 1 }
            }
            return count - 1  // the descriptor opendir itself holds
        }

        private static func readFile(_ path: String) -> String? {
            let descriptor = open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { return nil }
            defer { close(descriptor) }
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
                if count <= 0 { break }
                bytes.append(contentsOf: chunk[0..<count])
            }
            return String(decoding: bytes, as: UTF8.self)
        }
    }
#endif
