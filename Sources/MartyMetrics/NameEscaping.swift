/// How names outside the legacy character set (`[a-zA-Z_:][a-zA-Z0-9_:]*` for metrics,
/// `[a-zA-Z_][a-zA-Z0-9_]*` for labels) are written, as Prometheus 3 negotiates it with the
/// `escaping` parameter of `Accept` (https://prometheus.io/docs/instrumenting/escaping_schemes/).
///
/// Legacy names are written as they are in every scheme, as client_golang's
/// `EscapeMetricFamily` does, so a registry of legacy names renders the same bytes whatever
/// the scraper asks for.
public enum NameEscaping: String, Sendable, CaseIterable {
    /// Names as they are: the text formats quote those outside the legacy set
    /// (`{"my.metric","label.name"="v"} 1`, `# HELP "my.metric" …`).
    case allowUTF8 = "allow-utf-8"
    /// Every character outside the legacy set becomes `_`; the default when the scraper
    /// names no scheme, as the Prometheus docs prescribe.
    case underscores
    /// `.` becomes `_dot_`, `_` becomes `__`, any other character outside the set `__`.
    case dots
    /// `U__` first, `_` becomes `__`, any other character outside the set its code point in
    /// lowercase hex between underscores (`.` is `_2e_`).
    case values

    /// The name as this scheme writes it in a metric name's place.
    public func escapeMetricName(_ name: String) -> String {
        Self.isLegacyMetricName(name) ? name : escape(name, isLegacy: Self.isLegacyMetricByte)
    }

    /// The name as this scheme writes it in a label name's place. Unlike client_golang, a `:`
    /// is escaped here too: a colon is not legal in a legacy label name.
    public func escapeLabelName(_ name: String) -> String {
        Self.isLegacyLabelName(name) ? name : escape(name, isLegacy: Self.isLegacyLabelByte)
    }

    private func escape(_ name: String, isLegacy: (UInt8, Bool) -> Bool) -> String {
        var result = ""
        switch self {
        case .allowUTF8:
            return name
        case .underscores:
            for (offset, scalar) in name.unicodeScalars.enumerated() {
                result.append(Self.isLegacy(scalar, first: offset == 0, isLegacy) ? Character(scalar) : "_")
            }
        case .dots:
            for (offset, scalar) in name.unicodeScalars.enumerated() {
                if scalar == "_" {
                    result += "__"
                } else if scalar == "." {
                    result += "_dot_"
                } else if Self.isLegacy(scalar, first: offset == 0, isLegacy) {
                    result.append(Character(scalar))
                } else {
                    result += "__"
                }
            }
        case .values:
            result = "U__"
            for (offset, scalar) in name.unicodeScalars.enumerated() {
                if scalar == "_" {
                    result += "__"
                } else if Self.isLegacy(scalar, first: offset == 0, isLegacy) {
                    result.append(Character(scalar))
                } else {
                    result += "_" + String(scalar.value, radix: 16) + "_"
                }
            }
        }
        return result
    }

    private static func isLegacy(_ scalar: Unicode.Scalar, first: Bool, _ isLegacy: (UInt8, Bool) -> Bool) -> Bool {
        scalar.isASCII && isLegacy(UInt8(scalar.value), first)
    }

    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`
    static func isLegacyMetricName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.enumerated().allSatisfy { isLegacyMetricByte($1, first: $0 == 0) }
    }

    /// `[a-zA-Z_][a-zA-Z0-9_]*`
    static func isLegacyLabelName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.enumerated().allSatisfy { isLegacyLabelByte($1, first: $0 == 0) }
    }

    private static func isLegacyMetricByte(_ byte: UInt8, first: Bool) -> Bool {
        isLegacyLabelByte(byte, first: first) || byte == UInt8(ascii: ":")
    }

    private static func isLegacyLabelByte(_ byte: UInt8, first: Bool) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
            || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || byte == UInt8(ascii: "_")
            || (!first && byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
    }
}
