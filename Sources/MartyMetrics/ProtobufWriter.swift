/// Protocol buffers' wire format, the little of it that the exposition needs: varints, zigzag,
/// fixed64 doubles and length-delimited fields. Hand-written rather than generated, so that the
/// library carries no protobuf runtime.
struct ProtobufWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    mutating func removeAll() { bytes.removeAll(keepingCapacity: true) }

    @inline(__always)
    mutating func varint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    @inline(__always)
    private mutating func tag(_ field: Int, _ wireType: UInt64) {
        varint(UInt64(field) << 3 | wireType)
    }

    /// A uint64, int32 or enum field (wire type 0). Negative int32s take ten bytes, as the
    /// spec says.
    mutating func uint64(_ field: Int, _ value: UInt64) {
        tag(field, 0)
        varint(value)
    }

    mutating func int64(_ field: Int, _ value: Int64) {
        uint64(field, UInt64(bitPattern: value))
    }

    /// sint32 and sint64 fields: zigzag, so small negatives stay short.
    mutating func sint64(_ field: Int, _ value: Int64) {
        uint64(field, UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    @inline(__always)
    mutating func double(_ field: Int, _ value: Double) {
        tag(field, 1)
        var bits = value.bitPattern
        for _ in 0..<8 {
            bytes.append(UInt8(truncatingIfNeeded: bits))
            bits >>= 8
        }
    }

    mutating func bytes<C: Collection<UInt8>>(_ field: Int, _ value: C) {
        tag(field, 2)
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func string(_ field: Int, _ value: String) {
        bytes(field, value.utf8)
    }

    /// An embedded message: `body` writes it into `scratch`, whose bytes follow the length.
    mutating func message(_ field: Int, scratch: inout ProtobufWriter, _ body: (inout ProtobufWriter) -> Void) {
        scratch.removeAll()
        body(&scratch)
        bytes(field, scratch.bytes)
    }

    /// A packed repeated sint64 field.
    mutating func packedSInt64(_ field: Int, _ values: [Int64], scratch: inout ProtobufWriter) {
        guard !values.isEmpty else { return }
        scratch.removeAll()
        for value in values { scratch.varint(UInt64(bitPattern: (value << 1) ^ (value >> 63))) }
        bytes(field, scratch.bytes)
    }
}
