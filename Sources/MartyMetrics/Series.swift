import CMartyShims
import Synchronization

/// What every series of a family shares: the label values that identify it, kept as the
/// bytes that lookups compare and the bytes that the exposition copies.
// @unchecked Sendable: immutable after init (label bytes and hash); subclasses add cells written only atomically.
public class SeriesBase: @unchecked Sendable {
    /// Label values as UTF-8, each followed by 0xFF (a byte UTF-8 never uses), then the
    /// rendered `name="value",…` pairs (escaped for both text formats).
    @usableFromInline let storage: [UInt8]
    @usableFromInline let keyLength: Int
    @usableFromInline let hash: UInt64
    /// When the series was created (or a counter reset), as the bits of Unix seconds.
    private let createdBits: Atomic<UInt64>

    init(identity: SeriesIdentity) {
        storage = identity.storage
        keyLength = identity.keyLength
        hash = identity.hash
        createdBits = Atomic(cmarty_unix_time().bitPattern)
    }

    /// When the series was created or last reset, in seconds since the Unix epoch: the
    /// `_created` sample of OpenMetrics and the `created_timestamp` of protobuf.
    public var createdTimestamp: Double { Double(bitPattern: createdBits.load(ordering: .relaxed)) }

    /// Sets when the series counts as created, in seconds since the Unix epoch: for callers
    /// that keep their own clock (prometheus_client's `_created` is Python's `time.time()`).
    public func setCreatedTimestamp(_ seconds: Double) {
        createdBits.store(seconds.bitPattern, ordering: .relaxed)
    }

    func restartCreatedTimestamp() {
        createdBits.store(cmarty_unix_time().bitPattern, ordering: .relaxed)
    }

    /// The label values, in the family's label-name order.
    public var labelValues: [String] {
        storage[0..<keyLength].split(separator: 0xFF, omittingEmptySubsequences: false).dropLast().map {
            String(decoding: $0, as: UTF8.self)
        }
    }

    /// The rendered `name="value",…` pairs, without copying or retaining them.
    @inline(__always)
    func withRenderedLabels<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        storage.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[keyLength...])) }
    }
}

/// Label values turned into a series' key, hash and rendered label pairs.
struct SeriesIdentity {
    let storage: [UInt8]
    let keyLength: Int
    let hash: UInt64

    init(labelNames: [String], valueBytes: [[UInt8]]) {
        var bytes: [UInt8] = []
        var hasher = LabelHasher()
        for value in valueBytes {
            bytes.append(contentsOf: value)
            bytes.append(0xFF)
            for byte in value { hasher.add(byte) }
            hasher.add(0xFF)
        }
        keyLength = bytes.count
        hash = hasher.value
        for (index, name) in labelNames.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(contentsOf: name.utf8)
            bytes.append(UInt8(ascii: "="))
            bytes.append(UInt8(ascii: "\""))
            Escaping.appendLabelValue(valueBytes[index], to: &bytes)
            bytes.append(UInt8(ascii: "\""))
        }
        storage = bytes
    }
}

/// FNV-1a over the label values' bytes and separators.
@usableFromInline
struct LabelHasher {
    @usableFromInline var value: UInt64 = 0xcbf2_9ce4_8422_2325

    @inlinable init() {}

    @inlinable @inline(__always)
    mutating func add(_ byte: UInt8) {
        value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
    }
}
