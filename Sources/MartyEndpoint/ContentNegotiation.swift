import MartyMetrics

/// Picks the exposition format and encoding from a scrape's `Accept` and `Accept-Encoding`
/// headers, by q-value as RFC 9110 says, the way Prometheus 2.x and 3.x send them.
enum ContentNegotiation {
    /// The format ranked highest among those we serve; text 0.0.4 when nothing we serve
    /// is asked for (as client_golang does).
    static func format(accept: String?) -> ExpositionFormat {
        guard let accept, !accept.isEmpty else { return .text }
        var best: (format: ExpositionFormat, quality: Double)? = nil
        for range in accept.split(separator: ",") {
            let parts = range.split(separator: ";").map { String($0).trimmingSpaces }
            guard let mediaType = parts.first?.lowercased() else { continue }
            var quality = 1.0
            var version: String? = nil
            var proto: String? = nil
            var encoding: String? = nil
            for parameter in parts.dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1).map { String($0).trimmingSpaces }
                guard pair.count == 2 else { continue }
                switch pair[0].lowercased() {
                case "q": quality = Double(pair[1]) ?? 0
                case "version": version = pair[1]
                case "proto": proto = pair[1]
                case "encoding": encoding = pair[1]
                default: break
                }
            }
            let format: ExpositionFormat
            switch mediaType {
            case "application/openmetrics-text":
                guard version == nil || version == "1.0.0" || version == "0.0.1" else { continue }
                format = .openMetrics
            case "application/vnd.google.protobuf":
                // Only the delimited MetricFamily stream; the text and compact-text encodings
                // client_golang also knows are not served.
                guard proto == "io.prometheus.client.MetricFamily", encoding == "delimited" else { continue }
                format = .protobuf
            case "text/plain":
                guard version == nil || version == "0.0.4" || version == "1.0.0" else { continue }
                format = .text
            case "*/*", "text/*":
                format = .text
            default:
                continue
            }
            // Strictly greater: on equal q the earlier range wins.
            if quality > 0, quality > (best?.quality ?? 0) {
                best = (format, quality)
            }
        }
        return best?.format ?? .text
    }

    /// Whether `Accept-Encoding` allows gzip (explicitly or through `*`) with q > 0.
    static func allowsGzip(acceptEncoding: String?) -> Bool {
        guard let acceptEncoding else { return false }
        var gzip: Double? = nil
        var wildcard: Double? = nil
        for coding in acceptEncoding.split(separator: ",") {
            let parts = coding.split(separator: ";").map { String($0).trimmingSpaces }
            guard let name = parts.first?.lowercased() else { continue }
            var quality = 1.0
            for parameter in parts.dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1).map { String($0).trimmingSpaces }
                if pair.count == 2 && pair[0].lowercased() == "q" { quality = Double(pair[1]) ?? 0 }
            }
            if name == "gzip" || name == "x-gzip" { gzip = quality }
            if name == "*" { wildcard = quality }
        }
        return (gzip ?? wildcard ?? 0) > 0
    }
}
