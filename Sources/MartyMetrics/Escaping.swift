/// Escaping rules of the text formats.
enum Escaping {
    /// Label values, in both formats: backslash, double quote and line feed.
    static func appendLabelValue<C: Collection<UInt8>>(_ value: C, to bytes: inout [UInt8]) {
        for byte in value {
            switch byte {
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\n"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            default: bytes.append(byte)
            }
        }
    }

    /// A name outside the legacy character set as the text formats write it with
    /// ``NameEscaping/allowUTF8``: in double quotes, escaped as a label value.
    static func quoted(_ name: String) -> String {
        var bytes: [UInt8] = [UInt8(ascii: "\"")]
        appendLabelValue(name.utf8, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
        return String(decoding: bytes, as: UTF8.self)
    }

    /// HELP text: backslash and line feed; OpenMetrics also escapes the double quote.
    static func help(_ text: String, escapingQuotes: Bool) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\n"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case UInt8(ascii: "\"") where escapingQuotes:
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            default: bytes.append(byte)
            }
        }
        return bytes
    }
}
