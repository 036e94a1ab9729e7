import Glibc

/// A growable byte buffer for rendering, cheaper per append than `[UInt8]`. Its storage is
/// malloc'd, so the bytes can be handed to C callers and freed with `free`.
public struct ExpositionBuffer: ~Copyable {
    private(set) var base: UnsafeMutablePointer<UInt8>
    /// The number of bytes written so far.
    public private(set) var count = 0
    private var capacity: Int

    /// An empty buffer with room for `capacity` bytes (at least 64); it doubles as it fills.
    public init(capacity: Int = 4096) {
        self.capacity = max(capacity, 64)
        base = malloc(self.capacity)!.assumingMemoryBound(to: UInt8.self)
    }

    deinit { free(base) }

    @inline(__always)
    mutating func reserve(_ extra: Int) {
        if count + extra > capacity { grow(count + extra) }
    }

    private mutating func grow(_ needed: Int) {
        while capacity < needed { capacity *= 2 }
        base = realloc(base, capacity)!.assumingMemoryBound(to: UInt8.self)
    }

    /// Appends a byte the caller reserved room for.
    @inline(__always)
    mutating func appendReserved(_ byte: UInt8) {
        base[count] = byte
        count += 1
    }

    /// Stores eight bytes, least significant first, into room the caller reserved, and keeps
    /// the first `length` of them.
    @inline(__always)
    mutating func appendReservedWord(_ word: UInt64, keeping length: Int) {
        UnsafeMutableRawPointer(base + count).storeBytes(of: word.littleEndian, as: UInt64.self)
        count += length
    }

    /// Appends eight bytes, least significant first.
    @inline(__always)
    mutating func appendLittleEndian(_ value: UInt64) {
        reserve(8)
        UnsafeMutableRawPointer(base + count).storeBytes(of: value.littleEndian, as: UInt64.self)
        count += 8
    }

    /// The bytes written so far; valid until the next append.
    var contents: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: base, count: count) }

    /// Forgets the bytes, keeping the storage.
    mutating func removeAll() { count = 0 }

    /// Appends `length` bytes to be written later (``overwrite(at:_:)``).
    mutating func appendGap(_ length: Int) {
        reserve(length)
        count += length
    }

    /// Moves the bytes from `offset` to the end by `distance` (either way), growing or
    /// shrinking the buffer by that much.
    mutating func shiftTail(from offset: Int, by distance: Int) {
        if distance > 0 { reserve(distance) }
        memmove(base + offset + distance, base + offset, count - offset)
        count += distance
    }

    /// Writes `byte` at `offset`, inside what was appended.
    mutating func overwrite(at offset: Int, _ byte: UInt8) {
        base[offset] = byte
    }

    @inline(__always)
    mutating func append(_ byte: UInt8) {
        reserve(1)
        base[count] = byte
        count += 1
    }

    @inline(__always)
    mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        reserve(bytes.count)
        appendReserved(bytes)
    }

    /// Appends bytes the caller reserved room for.
    @inline(__always)
    mutating func appendReserved(_ bytes: UnsafeBufferPointer<UInt8>) {
        let length = bytes.count
        let source = UnsafeRawPointer(bytes.baseAddress!)
        let destination = UnsafeMutableRawPointer(base + count)
        if length >= 8 && length <= 16 {
            // Label names and values are mostly this short: two overlapping words, no memmove call.
            let head = source.loadUnaligned(as: UInt64.self)
            let tail = source.loadUnaligned(fromByteOffset: length &- 8, as: UInt64.self)
            destination.storeBytes(of: head, as: UInt64.self)
            destination.storeBytes(of: tail, toByteOffset: length &- 8, as: UInt64.self)
        } else if length >= 4 && length < 8 {
            let head = source.loadUnaligned(as: UInt32.self)
            let tail = source.loadUnaligned(fromByteOffset: length &- 4, as: UInt32.self)
            destination.storeBytes(of: head, as: UInt32.self)
            destination.storeBytes(of: tail, toByteOffset: length &- 4, as: UInt32.self)
        } else if length < 4 {
            for offset in 0..<length {
                destination.storeBytes(
                    of: source.load(fromByteOffset: offset, as: UInt8.self), toByteOffset: offset, as: UInt8.self)
            }
        } else {
            destination.copyMemory(from: source, byteCount: length)
        }
        count += length
    }

    @inline(__always)
    mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { if !$0.isEmpty { append($0) } }
    }

    @inline(__always)
    mutating func append(_ bytes: ArraySlice<UInt8>) {
        bytes.withUnsafeBufferPointer { if !$0.isEmpty { append($0) } }
    }

    mutating func append(_ text: StaticString) {
        append(UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    mutating func append(_ text: String) {
        var text = text
        text.withUTF8 { if !$0.isEmpty { append($0) } }
    }

    /// Appends an unsigned integer in decimal, two digits at a time.
    mutating func append(decimal value: UInt64) {
        reserve(20)
        if value < 10 {
            base[count] = UInt8(ascii: "0") &+ UInt8(value)
            count += 1
            return
        }
        var length = 1
        var probe = value
        while probe >= 10 {
            probe /= 10
            length += 1
        }
        var remaining = value
        var end = count + length
        Self.digitPairs.withUnsafeBufferPointer { pairs in
            while remaining >= 100 {
                let pair = Int(remaining % 100) &* 2
                remaining /= 100
                end -= 2
                base[end] = pairs[pair]
                base[end + 1] = pairs[pair + 1]
            }
            if remaining >= 10 {
                let pair = Int(remaining) &* 2
                base[end - 2] = pairs[pair]
                base[end - 1] = pairs[pair + 1]
            } else {
                base[end - 1] = UInt8(ascii: "0") &+ UInt8(remaining)
            }
        }
        count += length
    }

    /// "00", "01", …, "99" as bytes.
    private static let digitPairs: [UInt8] = {
        var pairs: [UInt8] = []
        for number in 0..<100 {
            pairs.append(UInt8(ascii: "0") + UInt8(number / 10))
            pairs.append(UInt8(ascii: "0") + UInt8(number % 10))
        }
        return pairs
    }()

    /// Appends a sample value: whole numbers without a fraction, others as the shortest
    /// decimal that reads back to the same double, and `+Inf`, `-Inf`, `NaN` as the
    /// formats spell them.
    mutating func append(sampleValue value: Double) {
        if value.isNaN {
            append("NaN" as StaticString)
        } else if value.isInfinite {
            append(value < 0 ? "-Inf" as StaticString : "+Inf")
        } else if value == value.rounded(.towardZero) && abs(value) < 1e15 {
            if value < 0 {
                append(UInt8(ascii: "-"))
                append(decimal: UInt64(-value))
            } else {  // -0.0 too: it equals 0
                append(decimal: UInt64(value))
            }
        } else {
            append(value.description)
        }
    }

    /// Appends a sample value as prometheus_client spells it: Python's `repr` (`1.0`, `0.05`,
    /// `1e-05`, `-1234567.0`), except that positive values of seven to sixteen integer digits
    /// take Go's exponent form (`1e+06`, `1.234567e+06`), and `+Inf`, `-Inf`, `NaN`.
    mutating func append(pythonValue value: Double) {
        if value.isNaN {
            append("NaN" as StaticString)
        } else if value.isInfinite {
            append(value < 0 ? "-Inf" as StaticString : "+Inf")
        } else if value >= 1e6 && value < 1e16 {
            appendGoExponent(value)
        } else if value == value.rounded(.towardZero) && abs(value) < 1e16 {
            if value < 0 || (value == 0 && value.sign == .minus) { append(UInt8(ascii: "-")) }
            append(decimal: UInt64(abs(value)))
            append(".0" as StaticString)
        } else {
            append(value.description)  // Swift's shortest description is Python's repr
        }
    }

    /// `d.ddde+XX` for 1e6 <= value < 1e16, from Swift's shortest description. That writes
    /// most of these without an exponent (`1733600519.25`) but those from 2^53 on with one
    /// (`9.007199254740994e+15`). Byte work only: created timestamps come here once per series
    /// and scrape.
    private mutating func appendGoExponent(_ value: Double) {
        var text = value.description
        text.withUTF8 { bytes in
            let mantissaEnd = bytes.firstIndex(of: UInt8(ascii: "e")) ?? bytes.count
            let dot = bytes[..<mantissaEnd].firstIndex(of: UInt8(ascii: ".")) ?? mantissaEnd
            var exponent = dot - 1
            // The exponent's sign is + (the value is at least 1e6): only its digits count.
            var written = 0
            for byte in bytes[mantissaEnd...] where byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                written = written * 10 + Int(byte - UInt8(ascii: "0"))
            }
            exponent += written
            var digits = [UInt8]()
            digits.reserveCapacity(mantissaEnd)
            for byte in bytes[..<mantissaEnd] where byte != UInt8(ascii: ".") { digits.append(byte) }
            while digits.count > 1 && digits.last == UInt8(ascii: "0") { digits.removeLast() }
            append(digits[0])
            if digits.count > 1 {
                append(UInt8(ascii: "."))
                append(digits[1...])
            }
            append("e+" as StaticString)
            if exponent < 10 { append(UInt8(ascii: "0")) }
            append(decimal: UInt64(exponent))  // 6 to 15
        }
    }

    /// Appends a bucket bound in the canonical form of OpenMetrics (Go's `%g` with the
    /// shortest digits, plus `.0` on whole numbers): `1.0`, `0.005`, `100000.0`, `1e+06`,
    /// `+Inf`. Text 0.0.4 readers accept the same spelling.
    mutating func append(bound value: Double) {
        append(CanonicalNumber.format(value))
    }

    /// The bytes written so far.
    public func withBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: base, count: count))
    }

    /// Gives up the storage, NUL-terminated: the caller frees it with `free`.
    public consuming func takeCString() -> (pointer: UnsafeMutablePointer<UInt8>, length: Int) {
        append(0)
        let result = (base, count - 1)
        discard self
        return result
    }
}
