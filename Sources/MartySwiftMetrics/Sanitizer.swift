/// How swift-metrics labels and dimension names become Prometheus names. The rule:
///
/// - every character outside `[a-zA-Z0-9_:]` (metric names) or `[a-zA-Z0-9_]` (label names)
///   becomes `_`, so `http.route` becomes `http_route` and `é` becomes `_`;
/// - a name that is empty or starts with a digit gets a leading `_`;
/// - a label name starting with `__` (reserved) loses leading `_` until one is left;
/// - on histograms (Timer, aggregating Recorder) the label `le` becomes `le_`;
/// - dimensions are sorted by their sanitized name, and when two sanitize to the same name
///   the later one gets `_2`, `_3`, … appended.
public enum Sanitizer {
    /// A swift-metrics label as a valid metric name; a valid one is returned unchanged.
    public static func metricName(_ label: String) -> String {
        isValid(label, allowColon: true) ? label : sanitize(label, allowColon: true)
    }

    /// A dimension name as a valid label name, not `__`-prefixed; a valid one is unchanged.
    public static func labelName(_ name: String) -> String {
        var result = isValid(name, allowColon: false) ? name : sanitize(name, allowColon: false)
        while result.hasPrefix("__") { result.removeFirst() }
        return result
    }

    /// Sanitized, de-duplicated and sorted (name, value) pairs.
    public static func dimensions(_ dimensions: [(String, String)], forHistogram: Bool) -> [(String, String)] {
        // The common case, valid names already in order, costs one pass and no copies.
        var previous: String? = nil
        var clean = true
        for (name, _) in dimensions {
            guard isValid(name, allowColon: false), !name.hasPrefix("__"), !(forHistogram && name == "le"),
                previous.map({ $0 < name }) ?? true
            else {
                clean = false
                break
            }
            previous = name
        }
        if clean { return dimensions }
        var seen: [String: Int] = [:]
        var result: [(String, String)] = []
        for (name, value) in dimensions {
            var clean = labelName(name)
            if forHistogram && clean == "le" { clean = "le_" }
            let count = seen[clean, default: 0] + 1
            seen[clean] = count
            if count > 1 { clean += "_\(count)" }
            result.append((clean, value))
        }
        return result.sorted { $0.0 < $1.0 }
    }

    /// Whether `text` is already a valid name: `[a-zA-Z_:][a-zA-Z0-9_:]*` (no colon for labels).
    private static func isValid(_ text: String, allowColon: Bool) -> Bool {
        var first = true
        for byte in text.utf8 {
            let letter = (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || byte == 0x5F
            let digit = byte >= 0x30 && byte <= 0x39
            guard letter || (!first && digit) || (allowColon && byte == 0x3A) else { return false }
            first = false
        }
        return !first
    }

    private static func sanitize(_ text: String, allowColon: Bool) -> String {
        var scalars = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            let allowed =
                (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z") || (scalar >= "0" && scalar <= "9")
                || scalar == "_" || (allowColon && scalar == ":")
            scalars.append(allowed ? scalar : "_")
        }
        var result = String(scalars)
        if let first = result.utf8.first, first >= 0x30 && first <= 0x39 {
            result = "_" + result
        } else if result.isEmpty {
            result = "_"
        }
        return result
    }
}
