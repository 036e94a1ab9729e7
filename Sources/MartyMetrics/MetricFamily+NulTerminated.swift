import CMartyShims

// Lookups by label values given as NUL-terminated UTF-8, for the C interface (and the
// catalog's byte-string recording): they find existing series without building strings.

extension MetricFamily {
    /// The series for label values given as NUL-terminated UTF-8 strings, created on first
    /// use. Existing series are found without a lock and without allocating; a new series'
    /// values are checked for valid UTF-8.
    package func series(nulTerminated values: UnsafeBufferPointer<UnsafePointer<UInt8>?>) throws(MetricError)
        -> SeriesBase
    {
        try checkCount(values.count)
        var hasher = LabelHasher()
        for value in values {
            guard var byte = value else {
                throw MetricError(.invalidArgument, "label value of \(name) is NULL")
            }
            while byte.pointee != 0 {
                hasher.add(byte.pointee)
                byte += 1
            }
            hasher.add(0xFF)
        }
        let hash = hasher.value
        let matcher = NulTerminatedMatcher(values: values)
        if let found = probe(hash: hash, matcher) { return found }
        return try create(hash: hash, matcher) { () throws(MetricError) in
            try strings(nulTerminated: values).map { Array($0.utf8) }
        }
    }

    /// NUL-terminated label values as strings; NULL and bytes that are not UTF-8 are refused.
    fileprivate func strings(nulTerminated values: UnsafeBufferPointer<UnsafePointer<UInt8>?>) throws(MetricError)
        -> [String]
    {
        var strings: [String] = []
        for (index, value) in values.enumerated() {
            guard let value else { throw MetricError(.invalidArgument, "label value of \(name) is NULL") }
            guard let text = String(validatingCString: UnsafeRawPointer(value).assumingMemoryBound(to: CChar.self))
            else {
                throw MetricError(.invalidUTF8, "label value for \(labelNames[index]) of \(name) is not valid UTF-8")
            }
            strings.append(text)
        }
        return strings
    }

    /// The live series named by NUL-terminated values; `notFound` if there is none.
    package func existingSeries(nulTerminated values: UnsafeBufferPointer<UnsafePointer<UInt8>?>) throws(MetricError)
        -> SeriesBase
    {
        try checkCount(values.count)
        let strings = try strings(nulTerminated: values)
        guard let series = existingSeries(strings) else {
            throw MetricError(.notFound, "\(name) has no series with label values [\(strings.joined(separator: ", "))]")
        }
        return series
    }

    /// Removes the series named by NUL-terminated values; `notFound` if there is none.
    package func remove(nulTerminated values: UnsafeBufferPointer<UnsafePointer<UInt8>?>) throws(MetricError) {
        try checkCount(values.count)
        try remove(strings(nulTerminated: values))
    }
}

struct NulTerminatedMatcher: SeriesMatcher {
    let values: UnsafeBufferPointer<UnsafePointer<UInt8>?>

    @inline(__always)
    func matches(_ series: SeriesBase) -> Bool {
        series.storage.withUnsafeBufferPointer { key in
            var offset = 0
            for value in values {
                var byte = value!
                while byte.pointee != 0 {
                    if offset >= series.keyLength || key[offset] != byte.pointee { return false }
                    offset += 1
                    byte += 1
                }
                if offset >= series.keyLength || key[offset] != 0xFF { return false }
                offset += 1
            }
            return offset == series.keyLength
        }
    }
}
