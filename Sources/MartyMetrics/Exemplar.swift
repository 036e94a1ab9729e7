import CMartyShims

/// Labels that point from a sample to something outside the metrics, such as the trace of a
/// slow request: `Exemplar(["trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"])`.
///
/// Passed to ``Counter/inc(by:exemplar:)`` or ``Histogram/observe(_:exemplar:)``; the series
/// keeps the latest one (per bucket for a histogram) with the recorded value and the time, and
/// OpenMetrics and protobuf scrapes show it. Names follow the label-name rules; names and values
/// together have at most 128 UTF-8 characters, the OpenMetrics limit.
public struct Exemplar: Sendable, Equatable {
    /// The OpenMetrics limit on the characters of an exemplar's label names and values together.
    public static let maximumCharacters = 128

    /// The label pairs, in the order given.
    public let labels: [ExemplarLabel]
    /// `name 0xFF value 0xFF` for each pair: what a slot stores (see CMartyShims.h).
    let encoded: [UInt8]

    /// Checks and keeps `labels`: `invalidLabel` for a name that breaks the label-name rules,
    /// a name given twice, or more than ``maximumCharacters`` characters in all.
    public init(_ labels: KeyValuePairs<String, String>) throws(MetricError) {
        try self.init(labels: labels.map { ExemplarLabel(name: $0.key, value: $0.value) })
    }

    /// Checks and keeps `labels`, as ``init(_:)``.
    public init(labels: [ExemplarLabel]) throws(MetricError) {
        var characters = 0
        var encoded: [UInt8] = []
        var names = Set<String>()
        for label in labels {
            try Naming.checkExemplarLabelName(label.name)
            guard names.insert(label.name).inserted else {
                throw MetricError(.invalidLabel, "exemplar label name \"\(label.name)\" is given twice")
            }
            characters += label.name.unicodeScalars.count + label.value.unicodeScalars.count
            encoded.append(contentsOf: label.name.utf8)
            encoded.append(0xFF)
            encoded.append(contentsOf: label.value.utf8)
            encoded.append(0xFF)
        }
        guard characters <= Self.maximumCharacters else {
            throw MetricError(
                .invalidLabel,
                "exemplar labels have \(characters) UTF-8 characters, exceeding the limit of \(Self.maximumCharacters)")
        }
        self.labels = labels
        self.encoded = encoded
    }

    /// Decodes the label bytes of a slot.
    init(encoded: ArraySlice<UInt8>) {
        let parts = encoded.split(separator: 0xFF, omittingEmptySubsequences: false)
        var labels: [ExemplarLabel] = []
        var index = parts.startIndex
        while index + 1 < parts.endIndex {
            labels.append(
                ExemplarLabel(
                    name: String(decoding: parts[index], as: UTF8.self),
                    value: String(decoding: parts[index + 1], as: UTF8.self)))
            index += 2
        }
        self.labels = labels
        self.encoded = Array(encoded)
    }
}

/// One label pair of an ``Exemplar``.
public struct ExemplarLabel: Sendable, Equatable {
    /// The label name.
    public let name: String
    /// The label value.
    public let value: String

    /// A pair; ``Exemplar/init(labels:)`` checks it.
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// The exemplar a series holds, with the value recorded with it and when.
public struct ExemplarReading: Sendable, Equatable {
    /// The labels given.
    public let exemplar: Exemplar
    /// The increment (counter) or the observed value (histogram).
    public let value: Double
    /// When it was recorded, in seconds since the Unix epoch.
    public let timestamp: Double
}

/// The lazily allocated slots of one series (see "Exemplars" in CMartyShims.h).
@usableFromInline
struct ExemplarSlots {
    /// The header cell that holds the block's address.
    @usableFromInline let pointerCell: UnsafeMutablePointer<UInt64>
    @usableFromInline let count: Int

    @usableFromInline
    init(pointerCell: UnsafeMutablePointer<UInt64>, count: Int) {
        self.pointerCell = pointerCell
        self.count = count
    }

    /// Stores an exemplar in slot `index`; dropped when out of memory or when another thread
    /// is writing the same slot, as exemplars are samples.
    @usableFromInline
    func store(_ exemplar: Exemplar, value: Double, at index: Int) {
        guard let slots = cmarty_exemplar_slots(pointerCell, count) else { return }
        exemplar.encoded.withUnsafeBufferPointer { bytes in
            cmarty_exemplar_store(
                cmarty_exemplar_slot(slots, index), value, cmarty_unix_time(), bytes.baseAddress, bytes.count)
        }
    }

    /// The exemplar in slot `index`, if one was stored.
    func read(at index: Int) -> ExemplarReading? {
        let address = UInt(cmarty_load_acquire_word(UnsafeRawPointer(pointerCell).assumingMemoryBound(to: UInt.self)))
        guard let slots = UnsafeMutablePointer<UInt64>(bitPattern: address) else { return nil }
        var value = 0.0
        var timestamp = 0.0
        var bytes = [UInt8](repeating: 0, count: Int(CMARTY_EXEMPLAR_LABEL_CAPACITY))
        let length = bytes.withUnsafeMutableBufferPointer { buffer in
            cmarty_exemplar_load(cmarty_exemplar_slot(slots, index), &value, &timestamp, buffer.baseAddress)
        }
        guard length >= 0 else { return nil }
        return ExemplarReading(exemplar: Exemplar(encoded: bytes[0..<length]), value: value, timestamp: timestamp)
    }

    /// Whether any exemplar was ever stored: scrapes skip reading series that have none.
    var isAllocated: Bool { cmarty_any_exemplar_block() != 0 && cmarty_load_u64(pointerCell) != 0 }
}
