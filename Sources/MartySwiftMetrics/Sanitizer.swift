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
    public static func metricName(_ label: String) -> String {
        sanitize(label, allowColon: true)
    }

    public static func labelName(_ name: String) -> String {
        var result = sanitize(name, allowColon: false)
        while result.hasPrefix("__") { result.removeFirst() }
        return result
    }

    /// Sanitized, de-duplicated and sorted (name, value) pairs.
    public static func dimensions(_ dimensions: [(String, String)], forHistogram: Bool) -> [(String, String)] {
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

    private static func sanitize(_ text: String, allowColon: Bool) -> String {
        var scalars = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            let allowed =
                (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z") || (scalar >= "0" && scalar <= "9")
                || scalar == "_" || (allowColon && scalar == ":")
            scalars.append(allowed ? scalar : "_")
        }
        var result = String(scalars)
        if result.isEmpty || result.first!.isNumber { result = "_" + result }
        return result
    }
}
