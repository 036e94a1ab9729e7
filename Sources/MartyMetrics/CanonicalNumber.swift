/// Numbers as OpenMetrics' "canonical numbers" spell them: Go's `strconv.FormatFloat(v,
/// 'g', -1, 64)` (shortest round-trip digits; exponent form when the decimal exponent is
/// below -4 or at least 6) with `.0` added to whole numbers written without an exponent.
package enum CanonicalNumber {
    package static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Inf" : "+Inf" }
        if value == 0 { return value.sign == .minus ? "-0.0" : "0.0" }
        let (negative, digits, exponent) = decimalDigits(value)
        let sign = negative ? "-" : ""
        // Go's 'g' with the shortest precision decides as if the precision were 6.
        if exponent < -4 || exponent >= 6 {
            var mantissa = String(digits.first!)
            if digits.count > 1 { mantissa += "." + digits.dropFirst() }
            let magnitude = abs(exponent)
            let exponentText = (magnitude < 10 ? "0" : "") + String(magnitude)
            return sign + mantissa + "e" + (exponent < 0 ? "-" : "+") + exponentText
        }
        var text: String
        if exponent < 0 {
            text = "0." + String(repeating: "0", count: -exponent - 1) + digits
        } else if digits.count <= exponent + 1 {
            text = digits + String(repeating: "0", count: exponent + 1 - digits.count) + ".0"
        } else {
            let split = digits.index(digits.startIndex, offsetBy: exponent + 1)
            text = String(digits[..<split]) + "." + digits[split...]
        }
        return sign + text
    }

    /// The shortest round-trip decimal digits of `value` (no leading or trailing zeros) and
    /// the decimal exponent of the first digit, taken from Swift's shortest description.
    private static func decimalDigits(_ value: Double) -> (negative: Bool, digits: String, exponent: Int) {
        var text = Substring(value.description)
        let negative = text.first == "-"
        if negative { text = text.dropFirst() }
        var exponentPart = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponentPart = Int(text[text.index(after: e)...])!
            text = text[..<e]
        }
        let integerPart: Substring
        let fractionPart: Substring
        if let dot = text.firstIndex(of: ".") {
            integerPart = text[..<dot]
            fractionPart = text[text.index(after: dot)...]
        } else {
            integerPart = text
            fractionPart = ""
        }
        var digits = String(integerPart) + fractionPart
        var exponent = exponentPart + integerPart.count - 1
        while digits.first == "0" && digits.count > 1 {
            digits.removeFirst()
            exponent -= 1
        }
        while digits.last == "0" && digits.count > 1 { digits.removeLast() }
        return (negative, digits, exponent)
    }
}
