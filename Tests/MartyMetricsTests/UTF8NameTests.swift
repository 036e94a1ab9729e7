import Testing

@testable import MartyMetrics

/// Names outside the legacy character set: accepted, and written as each escaping scheme of
/// the Prometheus docs says (https://prometheus.io/docs/instrumenting/escaping_schemes/).
@Suite struct UTF8NameTests {
    /// A counter and a histogram with UTF-8 names and a UTF-8 label name beside a legacy one.
    private func utf8Registry() throws -> Registry {
        let registry = Registry()
        registry.exposesCreatedTimestamps = false
        try registry.counter("my.metric", help: "Calls.", labelNames: ["label.name", "code"]).labels("v", "200").inc()
        try registry.histogram("lat.ency", help: "Latency.", buckets: HistogramBuckets([1])).labels().observe(0.5)
        return registry
    }

    @Test func allowUTF8QuotesNamesInText() throws {
        #expect(
            try utf8Registry().renderString(.text, escaping: .allowUTF8) == """
                # HELP "lat.ency" Latency.
                # TYPE "lat.ency" histogram
                {"lat.ency_bucket",le="1.0"} 1
                {"lat.ency_bucket",le="+Inf"} 1
                {"lat.ency_sum"} 0.5
                {"lat.ency_count"} 1
                # HELP "my.metric_total" Calls.
                # TYPE "my.metric_total" counter
                {"my.metric_total","label.name"="v",code="200"} 1

                """)
    }

    @Test func allowUTF8QuotesNamesInOpenMetrics() throws {
        #expect(
            try utf8Registry().renderString(.openMetrics, escaping: .allowUTF8) == """
                # HELP "lat.ency" Latency.
                # TYPE "lat.ency" histogram
                {"lat.ency_bucket",le="1.0"} 1
                {"lat.ency_bucket",le="+Inf"} 1
                {"lat.ency_sum"} 0.5
                {"lat.ency_count"} 1
                # HELP "my.metric" Calls.
                # TYPE "my.metric" counter
                {"my.metric_total","label.name"="v",code="200"} 1
                # EOF

                """)
    }

    @Test(arguments: [
        (
            NameEscaping.underscores,
            """
            # HELP lat_ency Latency.
            # TYPE lat_ency histogram
            lat_ency_bucket{le="1.0"} 1
            lat_ency_bucket{le="+Inf"} 1
            lat_ency_sum 0.5
            lat_ency_count 1
            # HELP my_metric_total Calls.
            # TYPE my_metric_total counter
            my_metric_total{label_name="v",code="200"} 1

            """
        ),
        (
            NameEscaping.dots,
            """
            # HELP lat_dot_ency Latency.
            # TYPE lat_dot_ency histogram
            lat_dot_ency_bucket{le="1.0"} 1
            lat_dot_ency_bucket{le="+Inf"} 1
            lat_dot_ency_sum 0.5
            lat_dot_ency_count 1
            # HELP my_dot_metric_total Calls.
            # TYPE my_dot_metric_total counter
            my_dot_metric_total{label_dot_name="v",code="200"} 1

            """
        ),
        (
            NameEscaping.values,
            """
            # HELP U__lat_2e_ency Latency.
            # TYPE U__lat_2e_ency histogram
            U__lat_2e_ency_bucket{le="1.0"} 1
            U__lat_2e_ency_bucket{le="+Inf"} 1
            U__lat_2e_ency_sum 0.5
            U__lat_2e_ency_count 1
            # HELP U__my_2e_metric_total Calls.
            # TYPE U__my_2e_metric_total counter
            U__my_2e_metric_total{U__label_2e_name="v",code="200"} 1

            """
        ),
    ])
    func escapingSchemesWriteLegacyNames(escaping: NameEscaping, expected: String) throws {
        #expect(try utf8Registry().renderString(.text, escaping: escaping) == expected)
    }

    @Test func theDefaultIsUnderscores() throws {
        let registry = try utf8Registry()
        #expect(registry.renderString(.text) == registry.renderString(.text, escaping: .underscores))
        #expect(registry.renderString().contains("my_metric_total{label_name=\"v\",code=\"200\"} 1\n"))
    }

    @Test(arguments: [
        ("a.b", "a_b", "a_dot_b", "U__a_2e_b"),
        ("1é", "__", "____", "U___31__e9_"),
        ("ok_name", "ok_name", "ok_name", "ok_name"),  // legacy: as it is in every scheme
        ("日本", "__", "____", "U___65e5__672c_"),
        ("a😀", "a_", "a__", "U__a_1f600_"),
    ])
    func metricNamesEscapeAsPrometheusDefines(name: String, underscores: String, dots: String, values: String) {
        #expect(NameEscaping.underscores.escapeMetricName(name) == underscores)
        #expect(NameEscaping.dots.escapeMetricName(name) == dots)
        #expect(NameEscaping.values.escapeMetricName(name) == values)
        #expect(NameEscaping.allowUTF8.escapeMetricName(name) == name)
    }

    @Test func colonsStayInMetricNamesButNotInLabelNames() {
        #expect(NameEscaping.underscores.escapeMetricName("a:b.c") == "a:b_c")
        #expect(NameEscaping.underscores.escapeLabelName("a:b") == "a_b")
        #expect(NameEscaping.values.escapeLabelName("a:b") == "U__a_3a_b")
    }

    @Test func aLegacyLabelNameOnAUTF8MetricAndTheReverse() throws {
        let registry = Registry()
        try registry.gauge("temp", help: "", labelNames: ["room.name"]).labels("hall").set(21)
        try registry.gauge("up.time", help: "", labelNames: ["host"]).labels("a").set(1)
        #expect(registry.renderString(escaping: .allowUTF8).contains("\ntemp{\"room.name\"=\"hall\"} 21\n"))
        #expect(registry.renderString(escaping: .allowUTF8).contains("\n{\"up.time\",host=\"a\"} 1\n"))
        #expect(registry.renderString().contains("\ntemp{room_name=\"hall\"} 21\n"))
        #expect(registry.renderString().contains("\nup_time{host=\"a\"} 1\n"))
    }

    @Test func quotedNamesEscapeQuoteBackslashAndNewline() throws {
        let registry = Registry()
        try registry.gauge("a\"b\\c\nd", help: "", labelNames: ["x\"y"]).labels("v").set(1)
        let text = registry.renderString(escaping: .allowUTF8)
        #expect(text.contains("# TYPE \"a\\\"b\\\\c\\nd\" gauge\n"))
        #expect(text.contains("{\"a\\\"b\\\\c\\nd\",\"x\\\"y\"=\"v\"} 1\n"))
    }

    @Test func legacyNamesRenderTheSameBytesInEveryScheme() throws {
        let registry = Registry()
        registry.exposesCreatedTimestamps = false
        try registry.counter("jobs_done", help: "Jobs.", labelNames: ["queue"]).labels("a").inc()
        try registry.histogram("wait_seconds", help: "", labelNames: ["q"]).labels("b").observe(1)
        for format in [ExpositionFormat.text, .openMetrics, .protobuf] {
            let reference = registry.render(format).withBytes { Array($0) }
            for escaping in NameEscaping.allCases {
                #expect(registry.render(format, escaping: escaping).withBytes { Array($0) } == reference)
            }
        }
    }

    @Test func protobufCarriesUTF8NamesOnlyWhenAllowed() throws {
        let registry = try utf8Registry()
        let utf8 = registry.render(.protobuf, escaping: .allowUTF8).withBytes { Array($0) }
        let escaped = registry.render(.protobuf, escaping: .underscores).withBytes { Array($0) }
        #expect(utf8.firstRange(of: Array("my.metric_total".utf8)) != nil)
        #expect(utf8.firstRange(of: Array("label.name".utf8)) != nil)
        #expect(escaped.firstRange(of: Array("my_metric_total".utf8)) != nil)
        #expect(escaped.firstRange(of: Array("label_name".utf8)) != nil)
        #expect(escaped.firstRange(of: Array("my.metric".utf8)) == nil)
        let dots = registry.render(.protobuf, escaping: .dots).withBytes { Array($0) }
        #expect(dots.firstRange(of: Array("my_dot_metric_total".utf8)) != nil)
    }

    @Test(arguments: ["my.metric", "1abc", "has space", "dash-ed", "é", "日本語", "a{b}"])
    func anyNonEmptyUTF8IsAMetricName(name: String) throws {
        let registry = Registry()
        try registry.gauge(name, help: "", labelNames: [name + ".label"]).labels("v").set(2)
        #expect(registry.renderString(escaping: .allowUTF8).contains("\"\(name)\""))
    }

    @Test func theRulesThatRemainStillHold() throws {
        #expect(throws: MetricError.self) { _ = try Registry().gauge("", help: "") }
        #expect(throws: MetricError.self) { _ = try Registry().gauge("g", help: "", labelNames: [""]) }
        #expect(throws: MetricError.self) { _ = try Registry().gauge("g", help: "", labelNames: ["__é"]) }
        #expect(throws: MetricError.self) { _ = try Registry().gauge("g", help: "", labelNames: ["é", "é"]) }
        #expect(throws: MetricError.self) { _ = try Registry().histogram("h.x", help: "", labelNames: ["le"]) }
    }

    /// What the default escaping would render twice is refused at creation, naming the
    /// written name: two families (`a.b` and `a_b`) or two label names of one family.
    @Test func namesTheDefaultEscapingWritesAlikeAreRefused() throws {
        let registry = Registry()
        _ = try registry.counter("req.count", help: "")
        #expect {
            _ = try registry.gauge("req_count_total", help: "")
        } throws: { error in
            let error = error as! MetricError
            return error.kind == .conflict && error.message.contains("req_count_total")
        }
        #expect {
            _ = try registry.gauge("g", help: "", labelNames: ["a.b", "a_b"])
        } throws: { error in
            let error = error as! MetricError
            return error.kind == .invalidLabel && error.message.contains("both written a_b")
        }
        // Once the first is unregistered, the name is free again.
        let first = try registry.gauge("x.y", help: "")
        try registry.unregister(first)
        _ = try registry.gauge("x_y", help: "")
    }
}
