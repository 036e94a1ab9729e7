import MartyMetrics
import MartyProcess

/// The Marty catalog: every Marty metric, with its fixed name, type and labels, registered
/// once per registry and service. Callers record through methods, so no one can spell a
/// name or a label differently by accident.
// @unchecked Sendable: every stored property is a `let` of a Sendable type but `serviceBytes`, which
// is written once in init and only read afterwards.
public final class ServiceMetrics: @unchecked Sendable {
    /// The seed's request-duration buckets: they start at 1 ms.
    public static let durationBuckets: [Double] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    /// The service name this catalog records under (the `service` label of every series).
    public let service: String
    /// The catalog keeps its registry alive: C callers hold the catalog for the life of the
    /// process, even after they free the registry (which then only drops their reference).
    private let registry: Registry
    /// `service` as NUL-terminated UTF-8, for lookups by byte strings; lives as long as
    /// the catalog (which lives as long as the process).
    private let serviceBytes: UnsafeMutablePointer<UInt8>
    /// `marty_grpc_requests_total{service, method, status}`.
    public let requests: CounterFamily
    /// `marty_grpc_request_duration_seconds{service, method}`, with ``durationBuckets``.
    public let requestDuration: HistogramFamily
    /// `marty_grpc_errors_total{service, method, error_type}`.
    public let errors: CounterFamily
    /// This service's `marty_grpc_active_connections`: calls or connections in progress.
    public let activeConnections: Gauge
    /// This service's `marty_service_health_status`: 1 healthy, 0 not; 1 from the start.
    public let healthStatus: Gauge
    /// `marty_last_successful_operation_timestamp{service, operation}`, in Unix seconds.
    public let lastSuccessfulOperation: GaugeFamily
    /// This service's `marty_service_cpu_usage_percent`, kept up to date by the process
    /// collector at each scrape.
    public let cpuUsagePercent: Gauge
    /// This service's `marty_service_memory_usage_bytes` (resident memory), kept up to date
    /// by the process collector at each scrape.
    public let memoryUsageBytes: Gauge
    /// `marty_database_connections_active{service, database}`.
    public let databaseConnections: GaugeFamily
    /// `marty_service_info{service, version, …}`: the labels are `service`, `version` and the
    /// sorted keys of the first registration's `extraInfo`.
    public let info: InfoFamily

    /// The catalog for `service` in `registry`, registered on first use (with the process
    /// collector) and shared afterwards. `version` and `extraInfo` go into
    /// `marty_service_info` on first registration. `nativeDurations` gives
    /// `marty_grpc_request_duration_seconds` native buckets beside its classic ones (Prometheus
    /// scrapes them over protobuf); the first registration in a registry decides, as the family
    /// is shared by its services.
    public static func register(
        service: String, version: String = "unknown", extraInfo: [String: String] = [:],
        registry: Registry = .default, nativeDurations: NativeHistogramOptions? = nil
    ) throws(MetricError) -> ServiceMetrics {
        guard !service.isEmpty else { throw MetricError(.invalidArgument, "service name is empty") }
        var created = false
        let metrics = try registry.attachment("ServiceMetrics \(service)") { () throws(MetricError) in
            created = true
            return try ServiceMetrics(
                service: service, version: version, extraInfo: extraInfo, registry: registry,
                nativeDurations: nativeDurations)
        }
        if created {
            // Outside the attachment lock, which installing the collector takes too.
            try ProcessCollector.install(in: registry).keepUpToDate(
                cpuPercent: metrics.cpuUsagePercent, memoryBytes: metrics.memoryUsageBytes)
        }
        return metrics
    }

    private init(
        service: String, version: String, extraInfo: [String: String], registry: Registry,
        nativeDurations: NativeHistogramOptions?
    ) throws(MetricError) {
        self.service = service
        self.registry = registry
        serviceBytes = .allocate(capacity: service.utf8.count + 1)
        serviceBytes.initialize(from: Array(service.utf8) + [0], count: service.utf8.count + 1)
        // Families are shared by every service registered in the same registry. When pre-fork
        // workers share the default registry, the gauges fold the workers' values: in-flight and
        // resource figures sum over living processes, the last success is the latest, and the
        // health status is one value set by whichever process last evaluated it.
        requests = try Self.family(registry, "marty_grpc_requests", ["service", "method", "status"]) {
            () throws(MetricError) in
            try registry.counter(
                "marty_grpc_requests_total", help: "Total gRPC requests", labelNames: ["service", "method", "status"])
        }
        requestDuration = try Self.family(registry, "marty_grpc_request_duration_seconds", ["service", "method"]) {
            () throws(MetricError) in
            try registry.histogram(
                "marty_grpc_request_duration_seconds", help: "gRPC request duration in seconds",
                labelNames: ["service", "method"], buckets: HistogramBuckets(Self.durationBuckets),
                native: nativeDurations)
        }
        errors = try Self.family(registry, "marty_grpc_errors", ["service", "method", "error_type"]) {
            () throws(MetricError) in
            try registry.counter(
                "marty_grpc_errors_total", help: "Total gRPC errors", labelNames: ["service", "method", "error_type"])
        }
        activeConnections = try Self.family(registry, "marty_grpc_active_connections", ["service"]) {
            () throws(MetricError) in
            try registry.gauge(
                "marty_grpc_active_connections", help: "Number of active gRPC connections", labelNames: ["service"],
                multiprocessMode: .livesum)
        }.labels(service)
        healthStatus = try Self.healthStatusGauge(service: service, in: registry)
        lastSuccessfulOperation = try Self.family(
            registry, "marty_last_successful_operation_timestamp", ["service", "operation"]
        ) { () throws(MetricError) in
            try registry.gauge(
                "marty_last_successful_operation_timestamp", help: "Unix time of the last successful operation",
                labelNames: ["service", "operation"], multiprocessMode: .max)
        }
        cpuUsagePercent = try Self.family(registry, "marty_service_cpu_usage_percent", ["service"]) {
            () throws(MetricError) in
            try registry.gauge(
                "marty_service_cpu_usage_percent", help: "CPU usage percentage", labelNames: ["service"],
                multiprocessMode: .livesum)
        }.labels(service)
        memoryUsageBytes = try Self.family(registry, "marty_service_memory_usage_bytes", ["service"]) {
            () throws(MetricError) in
            try registry.gauge(
                "marty_service_memory_usage_bytes", help: "Memory usage in bytes", labelNames: ["service"],
                multiprocessMode: .livesum)
        }.labels(service)
        databaseConnections = try Self.family(registry, "marty_database_connections_active", ["service", "database"]) {
            () throws(MetricError) in
            try registry.gauge(
                "marty_database_connections_active", help: "Active database connections",
                labelNames: ["service", "database"], multiprocessMode: .livesum)
        }
        let infoLabels = ["service", "version"] + extraInfo.keys.sorted()
        info = try Self.family(registry, "marty_service", infoLabels) { () throws(MetricError) in
            try registry.info("marty_service", help: "Service metadata", labelNames: infoLabels)
        }
        if info.labelNames == infoLabels {
            _ = try info.labels([service, version] + extraInfo.keys.sorted().map { extraInfo[$0]! })
        }
        healthStatus.set(1)
    }

    /// `marty_service_health_status{service}` in `registry`, registered on first use: the
    /// gauge an endpoint keeps at its last known health (1 healthy, 0 not), also for services
    /// that record nothing else of the catalog.
    public static func healthStatusGauge(service: String, in registry: Registry) throws(MetricError) -> Gauge {
        try family(registry, "marty_service_health_status", ["service"]) { () throws(MetricError) in
            try registry.gauge(
                "marty_service_health_status", help: "Service health status (1=healthy, 0=unhealthy)",
                labelNames: ["service"], multiprocessMode: .mostrecent)
        }.labels(service)
    }

    /// The family registered under `name` (by an earlier service in this registry, or by
    /// the endpoint) if it has the catalog's type and labels, else the one `make` registers.
    private static func family<F: MetricFamily>(
        _ registry: Registry, _ name: String, _ labelNames: [String], _ make: () throws(MetricError) -> F
    ) throws(MetricError) -> F {
        guard let existing = registry.family(named: name) else { return try make() }
        guard let typed = existing as? F, typed.labelNames == labelNames else {
            throw MetricError(
                .conflict,
                "\(name) is already registered with another type or labels than the Marty catalog's [\(labelNames.joined(separator: ", "))]"
            )
        }
        return typed
    }

    /// Records one finished gRPC call into every series it belongs to: the request count
    /// by status code name, the duration, and the error count when `errorType` is given.
    /// `exemplar` (usually ``TraceParent/exemplar`` of the call's trace context) goes with the
    /// request count and the duration's bucket.
    public func recordCall(
        method: String, status: String, durationSeconds: Double, errorType: String? = nil, exemplar: Exemplar? = nil
    ) throws(MetricError) {
        try Self.checkDuration(durationSeconds)
        let counter = try requests.labels(service, method, status)
        if let exemplar { try counter.inc(by: 1, exemplar: exemplar) } else { counter.inc() }
        if durationSeconds >= 0 {
            let histogram = try requestDuration.labels(service, method)
            if let exemplar {
                try histogram.observe(durationSeconds, exemplar: exemplar)
            } else {
                try histogram.observe(durationSeconds)
            }
        }
        if let errorType { try errors.labels(service, method, errorType).inc() }
    }

    /// `recordCall` for NUL-terminated UTF-8 names (the C interface's): looks the series up
    /// without building strings, and allocates nothing once they exist.
    package func recordCall(
        nulTerminatedMethod method: UnsafePointer<UInt8>, status: UnsafePointer<UInt8>, durationSeconds: Double,
        errorType: UnsafePointer<UInt8>?, exemplar: Exemplar? = nil
    ) throws(MetricError) {
        try Self.checkDuration(durationSeconds)
        var values: (UnsafePointer<UInt8>?, UnsafePointer<UInt8>?, UnsafePointer<UInt8>?) = (
            UnsafePointer(serviceBytes), method, status
        )
        try withUnsafeMutableBytes(of: &values) { (raw) throws(MetricError) in
            let names = raw.bindMemory(to: UnsafePointer<UInt8>?.self)
            let counter = unsafeDowncast(
                try requests.series(nulTerminated: UnsafeBufferPointer(names)), to: Counter.self)
            if let exemplar { try counter.inc(by: 1, exemplar: exemplar) } else { counter.inc() }
            if durationSeconds >= 0 {
                let series = try requestDuration.series(nulTerminated: UnsafeBufferPointer(rebasing: names[0..<2]))
                let histogram = unsafeDowncast(series, to: Histogram.self)
                if let exemplar {
                    try histogram.observe(durationSeconds, exemplar: exemplar)
                } else {
                    try histogram.observe(durationSeconds)
                }
            }
            if let errorType {
                names[2] = errorType
                unsafeDowncast(try errors.series(nulTerminated: UnsafeBufferPointer(names)), to: Counter.self).inc()
            }
        }
    }

    /// Sets `marty_last_successful_operation_timestamp{operation}` to now.
    public func recordSuccessfulOperation(_ operation: String) throws(MetricError) {
        try lastSuccessfulOperation.labels(service, operation).setToCurrentTime()
    }

    /// A call or connection began (`marty_grpc_active_connections` + 1) …
    public func callStarted() { activeConnections.inc() }

    /// … and ended.
    public func callFinished() { activeConnections.dec() }

    /// A duration that is NaN or infinite says nothing about a call (and an infinite one
    /// would turn the sum into +Inf for good); a negative one means "not measured".
    private static func checkDuration(_ seconds: Double) throws(MetricError) {
        guard seconds.isFinite else {
            throw MetricError(.invalidArgument, "the duration must be a finite number of seconds, got \(seconds)")
        }
    }

    /// Sets `marty_database_connections_active{database}` to `count`, which must be finite and
    /// not negative (else `invalidArgument`).
    public func setDatabaseConnections(_ count: Double, database: String = "default") throws(MetricError) {
        guard count.isFinite && count >= 0 else {
            throw MetricError(.invalidArgument, "a connection count must be finite and not negative, got \(count)")
        }
        try databaseConnections.labels(service, database).set(count)
    }

    /// Sets `marty_service_health_status` to 1 (healthy) or 0.
    public func setHealthy(_ healthy: Bool) { healthStatus.set(healthy ? 1 : 0) }
}
