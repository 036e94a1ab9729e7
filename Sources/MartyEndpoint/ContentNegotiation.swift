import MartyMetrics

/// Picks the exposition format and encoding from a scrape's `Accept` and `Accept-Encoding`
/// headers, by q-value as RFC 9110 says, the way Prometheus 2.x and 3.x send them.
enum ContentNegotiation {
    /// What one scrape is answered with: a format, how its names are escaped, and the
    /// `Content-Type` that says both.
    struct Choice: Hashable, Sendable {
        var format: ExpositionFormat
        /// From the chosen range's `escaping` parameter; ``NameEscaping/underscores`` when it
        /// names none or one we do not know (the Prometheus docs' default, and client_golang
        /// ignores an unknown scheme the same way).
        var escaping: NameEscaping = .underscores
        /// Whether the chosen range named a scheme we know: only then does the `Content-Type`
        /// name it, so scrapers that never ask see the exact type they always did.
        var escapingNamed = false
        /// Whether the chosen range asked for `text/plain; version=1.0.0`.
        var textVersion1 = false

        /// The response's `Content-Type`.
        var contentType: String {
            var type = format.contentType
            if format == .text && textVersion1 { type = "text/plain; version=1.0.0; charset=utf-8" }
            if escapingNamed { type += "; escaping=" + escaping.rawValue }
            return type
        }
    }

    /// The format ranked highest among those we serve; text 0.0.4 when nothing we serve
    /// is asked for (as client_golang does).
    static func format(accept: String?) -> ExpositionFormat {
        choice(accept: accept).format
    }

    /// The range ranked highest among those we serve, with its escaping; text 0.0.4 with
    /// underscores when nothing we serve is asked for.
    static func choice(accept: String?) -> Choice {
        guard let accept, !accept.isEmpty else { return Choice(format: .text) }
        var best: (choice: Choice, quality: Double)? = nil
        for range in accept.split(separator: ",") {
            let parts = range.split(separator: ";").map { String($0).trimmingSpaces }
            guard let mediaType = parts.first?.lowercased() else { continue }
            var quality = 1.0
            var version: String? = nil
            var proto: String? = nil
            var encoding: String? = nil
            var escaping: NameEscaping? = nil
            for parameter in parts.dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1).map { String($0).trimmingSpaces }
                guard pair.count == 2 else { continue }
                switch pair[0].lowercased() {
                case "q": quality = Double(pair[1]) ?? 0
                case "version": version = pair[1]
                case "proto": proto = pair[1]
                case "encoding": encoding = pair[1]
                case "escaping": escaping = NameEscaping(rawValue: pair[1])
                default: break
                }
            }
            var choice: Choice
            switch mediaType {
            case "application/openmetrics-text":
                guard version == nil || version == "1.0.0" || version == "0.0.1" else { continue }
                choice = Choice(format: .openMetrics)
            case "application/vnd.google.protobuf":
                // Only the delimited MetricFamily stream; the text and compact-text encodings
                // client_golang also knows are not served.
                guard proto == "io.prometheus.client.MetricFamily", encoding == "delimited" else { continue }
                choice = Choice(format: .protobuf)
            case "text/plain":
                guard version == nil || version == "0.0.4" || version == "1.0.0" else { continue }
                choice = Choice(format: .text, textVersion1: version == "1.0.0")
            case "*/*", "text/*":
                choice = Choice(format: .text)
            default:
                continue
            }
            if let escaping {
                choice.escaping = escaping
                choice.escapingNamed = true
            }
            // Strictly greater: on equal q the earlier range wins.
            if quality > 0, quality > (best?.quality ?? 0) {
                best = (choice, quality)
            }
        }
        return best?.choice ?? Choice(format: .text)
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
