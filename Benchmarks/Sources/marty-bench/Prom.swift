import Prometheus

/// swift-prometheus calls by name (`makeCounter(name:labels:help:)` and kin), the cheapest
/// way its API looks a series up. swift-prometheus 2.4 marks these deprecated in favour of
/// `MetricNameDescriptor`, which joins the name's parts into a new String on every call; the
/// wrappers keep the warnings in one place.
enum Prom {
    @available(*, deprecated, message: "name-based swift-prometheus API, used on purpose")
    static func counter(_ registry: PrometheusCollectorRegistry, _ name: String, _ labels: [(String, String)])
        -> Prometheus.Counter
    {
        registry.makeCounter(name: name, labels: labels, help: "help")
    }

    @available(*, deprecated, message: "name-based swift-prometheus API, used on purpose")
    static func gauge(_ registry: PrometheusCollectorRegistry, _ name: String, _ labels: [(String, String)])
        -> Prometheus.Gauge
    {
        registry.makeGauge(name: name, labels: labels, help: "help")
    }

    @available(*, deprecated, message: "name-based swift-prometheus API, used on purpose")
    static func histogram(
        _ registry: PrometheusCollectorRegistry, _ name: String, _ labels: [(String, String)], _ buckets: [Double]
    ) -> ValueHistogram {
        registry.makeValueHistogram(name: name, labels: labels, buckets: buckets, help: "help")
    }
}

/// The same calls reached through a protocol, so that call sites compile without
/// deprecation warnings.
protocol PromAPI {
    func counter(_ registry: PrometheusCollectorRegistry, _ name: String, _ labels: [(String, String)])
        -> Prometheus.Counter
    func gauge(_ registry: PrometheusCollectorRegistry, _ name: String, _ labels: [(String, String)])
        -> Prometheus.Gauge
    func histogram(
        _ registry: PrometheusCollectorRegistry, _ name: String, _ labels: [(String, String)], _ buckets: [Double]
    ) -> ValueHistogram
}

struct PromByName: PromAPI {
    @available(*, deprecated)
    @inline(__always)
    func counter(_ registry: PrometheusCollectorRegistry, _ name: String, _ labels: [(String, String)])
        -> Prometheus.Counter
    {
        Prom.counter(registry, name, labels)
    }

    @available(*, deprecated)
    @inline(__always)
    func gauge(_ registry: PrometheusCollectorRegistry, _ name: String, _ labels: [(String, String)])
        -> Prometheus.Gauge
    {
        Prom.gauge(registry, name, labels)
    }

    @available(*, deprecated)
    @inline(__always)
    func histogram(
        _ registry: PrometheusCollectorRegistry, _ name: String, _ labels: [(String, String)], _ buckets: [Double]
    ) -> ValueHistogram {
        Prom.histogram(registry, name, labels, buckets)
    }
}
