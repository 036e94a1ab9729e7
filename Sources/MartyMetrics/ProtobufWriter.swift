/// Protocol buffers' wire format, the little of it that the exposition needs: varints, zigzag,
/// fixed64 doubles and length-delimited fields. Hand-written rather than generated, so that the
/// library carries no protobuf runtime. Writes into an `ExpositionBuffer` (raw memory, one
/// capacity check per field), which keeps a scrape's protobuf within 1.5 times its text.
struct ProtobufWriter: ~Copyable {
    private var buffer: ExpositionBuffer

    init(capacity: Int = 256) {
        buffer = ExpositionBuffer(capacity: capacity)
    }

    /// The bytes written, as the rendering's buffer.
    consuming func finish() -> ExpositionBuffer { buffer }

    /// The bytes written so far; valid until the next write.
    var contents: UnsafeBufferPointer<UInt8> { buffer.contents }

    var count: Int { buffer.count }

    mutating func removeAll() { buffer.removeAll() }

    /// Starts a length-delimited run whose length is known only at its end: a gap for the
    /// length's varint, sized for `estimate`. ``endDelimited(_:)`` writes the length there,
    /// moving the run when the estimate took another number of bytes (rarely: one copy).
    mutating func beginDelimited(estimate: Int) -> (start: Int, gap: Int) {
        let gap = Self.varintLength(UInt64(estimate))
        let start = buffer.count
        buffer.appendGap(gap)
        return (start, gap)
    }

    /// ``beginDelimited(estimate:)`` after the tag of length-delimited field `field`: a nested
    /// message written in place.
    @inline(__always)
    mutating func beginDelimited(_ field: Int, estimate: Int) -> (start: Int, gap: Int) {
        tag(field, 2)
        return beginDelimited(estimate: estimate)
    }

    mutating func endDelimited(_ run: (start: Int, gap: Int)) {
        let length = buffer.count - run.start - run.gap
        let needed = Self.varintLength(UInt64(length))
        if needed != run.gap { buffer.shiftTail(from: run.start + run.gap, by: needed - run.gap) }
        var value = UInt64(length)
        for offset in 0..<needed {
            buffer.overwrite(
                at: run.start + offset, UInt8(truncatingIfNeeded: value) | (offset < needed - 1 ? 0x80 : 0))
            value >>= 7
        }
    }

    @inline(__always)
    mutating func varint(_ value: UInt64) {
        buffer.reserve(10)
        varintReserved(value)
    }

    /// Room for `extra` bytes, for the `…Reserved` writes that follow.
    @inline(__always)
    mutating func reserve(_ extra: Int) { buffer.reserve(extra) }

    /// Stores eight bytes (least significant first) into reserved room and keeps `length`.
    @inline(__always)
    mutating func appendReservedWord(_ word: UInt64, keeping length: Int) {
        buffer.appendReservedWord(word, keeping: length)
    }

    /// A varint into room the caller reserved (ten bytes; a varint of two to eight bytes stores
    /// a whole word, of which it keeps its own length).
    @inline(__always)
    mutating func varintReserved(_ value: UInt64) {
        if value < 0x80 {
            buffer.appendReserved(UInt8(value))  // tags, short lengths
        } else if value < 1 << 56 {
            // Timestamps, counts: the continuation bits by length, with no branch on the length
            // to mispredict.
            let length = Self.varintLength(value)
            let continuation = 0x8080_8080_8080_8080 & ((1 << (8 &* (length &- 1))) &- 1 as UInt64)
            buffer.appendReservedWord(Self.spreadSevenBitGroups(value) | continuation, keeping: length)
        } else {
            var value = value
            while value >= 0x80 {
                buffer.appendReserved(UInt8(truncatingIfNeeded: value) | 0x80)
                value >>= 7
            }
            buffer.appendReserved(UInt8(value))
        }
    }

    @inline(__always)
    private mutating func tag(_ field: Int, _ wireType: UInt64) {
        varint(UInt64(field) << 3 | wireType)
    }

    /// A uint64, int32 or enum field (wire type 0). Negative int32s take ten bytes, as the
    /// spec says.
    @inline(__always)
    mutating func uint64(_ field: Int, _ value: UInt64) {
        tag(field, 0)
        varint(value)
    }

    @inline(__always)
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
        buffer.appendLittleEndian(value.bitPattern)
    }

    @inline(__always)
    mutating func bytes(_ field: Int, _ value: UnsafeBufferPointer<UInt8>) {
        tag(field, 2)
        varint(UInt64(value.count))
        if !value.isEmpty { buffer.append(value) }
    }

    /// Bytes (already encoded fields, or a field's contents) into reserved room.
    @inline(__always)
    mutating func rawReserved(_ bytes: UnsafeBufferPointer<UInt8>) {
        if !bytes.isEmpty { buffer.appendReserved(bytes) }
    }

    /// Bytes that are already encoded fields.
    @inline(__always)
    mutating func raw(_ encoded: UnsafeBufferPointer<UInt8>) {
        if !encoded.isEmpty { buffer.append(encoded) }
    }

    mutating func bytes(_ field: Int, _ value: [UInt8]) {
        value.withUnsafeBufferPointer { bytes(field, $0) }
    }

    mutating func string(_ field: Int, _ value: String) {
        var value = value
        value.withUTF8 { bytes(field, $0) }
    }

    /// A packed repeated sint64 field.
    mutating func packedSInt64(_ field: Int, _ values: [Int64], scratch: inout ProtobufWriter) {
        guard !values.isEmpty else { return }
        scratch.removeAll()
        for value in values { scratch.varint(UInt64(bitPattern: (value << 1) ^ (value >> 63))) }
        bytes(field, scratch.contents)
    }

    /// The low 56 bits of `value`, seven to a byte (least significant first): a varint's bytes
    /// without their continuation bits.
    @inline(__always)
    static func spreadSevenBitGroups(_ value: UInt64) -> UInt64 {
        var spread = value & 0x7F
        spread |= (value & 0x7F << 7) << 1
        spread |= (value & 0x7F << 14) << 2
        spread |= (value & 0x7F << 21) << 3
        spread |= (value & 0x7F << 28) << 4
        spread |= (value & 0x7F << 35) << 5
        spread |= (value & 0x7F << 42) << 6
        spread |= (value & 0x7F << 49) << 7
        return spread
    }

    /// The length of `value` as a varint.
    @inline(__always)
    static func varintLength(_ value: UInt64) -> Int { (64 - (value | 1).leadingZeroBitCount + 6) / 7 }

    /// The length of a length-delimited field (number 1...15) holding `length` bytes.
    @inline(__always)
    static func fieldLength(_ length: Int) -> Int { 1 + varintLength(UInt64(length)) + length }

    /// The tag and length of a length-delimited field whose `length` bytes the caller writes
    /// next: nested messages are written in place, their lengths computed beforehand.
    @inline(__always)
    mutating func lengthDelimited(_ field: Int, length: Int) {
        tag(field, 2)
        varint(UInt64(length))
    }

    /// The bytes as an array (for the rare exemplar, kept beside its bucket).
    var array: [UInt8] { Array(contents) }
}
