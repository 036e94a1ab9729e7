import Glibc
import MartyHealth
import MartyMetrics

/// How to start the endpoint. For ports and bind address an explicit value wins, then the
/// environment (`MARTY_METRICS_PORT`, `MARTY_HEALTH_PORT`, `MARTY_METRICS_BIND`), then the
/// defaults the caller gives (a Marty service's come from MartyCatalog's `ServicePorts`).
/// `MARTY_METRICS_ENABLED=false` starts no listener.
public struct EndpointConfiguration: Sendable {
    /// The service's name in the health JSON.
    public var service: String
    /// nil: `MARTY_METRICS_BIND`, else "0.0.0.0".
    public var bindAddress: String?
    /// nil: `MARTY_METRICS_PORT`, else `defaultMetricsPort`. 0 asks for an ephemeral port.
    public var metricsPort: Int?
    /// nil: `MARTY_HEALTH_PORT`, else `defaultHealthPort`. 0 asks for an ephemeral port.
    public var healthPort: Int?
    /// The metrics port used when neither an argument nor the environment names one.
    public var defaultMetricsPort: Int?
    /// The health port used likewise; with none at all, the metrics listener serves the
    /// health paths.
    public var defaultHealthPort: Int?
    /// Why there is no default metrics port, for the message when none is given either
    /// ("it is not in the Marty port table").
    public var noDefaultPortReason: String?
    /// Names what else a port belongs to ("csca-service's health port"), for the message of a
    /// port that is taken.
    public var describePort: (@Sendable (Int) -> String?)?
    /// When given, set to 1 or 0 (the last known overall health) before each render of `/metrics`.
    public var healthStatus: Gauge?
    /// Serve the health paths on a listener of their own (the seed's layout). When false,
    /// or when no health port is known, the metrics listener serves them too.
    public var separateHealthListener = true
    /// The registry `/metrics` renders.
    public var registry: Registry = .default
    /// The health checks the health paths evaluate; `shutdown` marks it as shutting down.
    public var health: HealthRegistry = .default
    /// A connection that sends nothing for this long is closed.
    public var idleTimeoutSeconds = 10.0
    /// A request must be read in full (head and body) within this long of its first byte
    /// (or of the connection's accept), however often the client sends a byte; else 408 and
    /// the connection is closed.
    public var requestHeadTimeoutSeconds = 10.0
    /// Open connections per listener. A new connection beyond it evicts the oldest one that
    /// is not being answered (still sending its request, or idle), so that trickling clients
    /// cannot keep probes and scrapes out; only when all are being answered is it refused
    /// with 503.
    public var maxConnections = 256
    /// Renders of `/metrics` running at once (scrapes of the same format and encoding that
    /// arrive during a render share it); others wait their turn.
    public var maxRendersInFlight = 2
    /// Request bodies beyond this many bytes get 413.
    public var maxBodyBytes = 64 * 1024
    /// Request headers beyond this many bytes get 431.
    public var maxHeaderBytes = 16 * 1024
    /// How long `shutdown` lets in-flight responses finish.
    public var shutdownGraceSeconds = 2.0
    /// A web-config file in the format of Prometheus' exporters (exporter-toolkit): TLS,
    /// client certificates, basic auth users (bcrypt), extra response headers. nil:
    /// `MARTY_METRICS_WEB_CONFIG`, else none (plain HTTP, no authentication); "" is none
    /// whatever the environment says. Read at `start` (an invalid file fails it) and again
    /// whenever it or a certificate, key or CA file it names changes. Basic auth guards
    /// `/metrics`; the health paths answer without it (probes carry no credentials).
    public var webConfigFile: String?
    /// Whether the health listener serves under the web config too (TLS and headers). nil:
    /// `MARTY_HEALTH_USE_WEB_CONFIG` (true/false), else false: kubelet probes plain HTTP.
    public var healthListenerUsesWebConfig: Bool?

    /// Reads the environment; tests replace it rather than the process' environment.
    var environment: @Sendable (String) -> String? = EndpointConfiguration.processEnvironment

    /// A configuration with the given values (nil: from the environment, then the defaults)
    /// and every other setting at its default. Nothing is checked until `MetricsEndpoint.start`.
    public init(service: String, bindAddress: String? = nil, metricsPort: Int? = nil, healthPort: Int? = nil) {
        self.service = service
        self.bindAddress = bindAddress
        self.metricsPort = metricsPort
        self.healthPort = healthPort
    }

    /// Whether `MARTY_METRICS_ENABLED` leaves the endpoint on (anything but
    /// false/0/no/off, case-insensitive; unset means on).
    public var isEnabledByEnvironment: Bool {
        guard let value = environment("MARTY_METRICS_ENABLED")?.lowercased() else { return true }
        return !["false", "0", "no", "off"].contains(value.trimmingSpaces)
    }

    /// The address and ports to bind, after explicit values, environment and table.
    struct Resolved {
        var bindAddress: String
        var metricsPort: Int
        var healthPort: Int?
    }

    /// The time limits in nanoseconds, each checked (NaN, infinities, negatives, zero and
    /// more than 1e9 s are `.invalidArgument`).
    struct Limits {
        var idleTimeout: UInt64
        var requestTimeout: UInt64
        var shutdownGrace: UInt64
    }

    func limits() throws(MetricError) -> Limits {
        let idle = try Seconds.nanoseconds(idleTimeoutSeconds, "idle timeout")
        let request = try Seconds.nanoseconds(requestHeadTimeoutSeconds, "request head timeout")
        let grace = try Seconds.nanoseconds(shutdownGraceSeconds, "shutdown grace period", allowZero: true)
        guard maxConnections > 0 else {
            throw MetricError(.invalidArgument, "the connection limit must be positive, got \(maxConnections)")
        }
        guard maxRendersInFlight > 0 else {
            throw MetricError(
                .invalidArgument, "the limit of renders in flight must be positive, got \(maxRendersInFlight)")
        }
        return Limits(idleTimeout: idle, requestTimeout: request, shutdownGrace: grace)
    }

    /// The web config file to use, if any.
    func resolvedWebConfigFile() -> String? {
        let file = webConfigFile ?? environment("MARTY_METRICS_WEB_CONFIG")
        guard let file, !file.trimmingSpaces.isEmpty else { return nil }
        return file
    }

    func resolvedHealthUsesWebConfig() throws(MetricError) -> Bool {
        if let healthListenerUsesWebConfig { return healthListenerUsesWebConfig }
        guard let text = environment("MARTY_HEALTH_USE_WEB_CONFIG")?.trimmingSpaces.lowercased() else { return false }
        switch text {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default:
            throw MetricError(.invalidArgument, "MARTY_HEALTH_USE_WEB_CONFIG=\(text) is not true or false")
        }
    }

    func resolve() throws(MetricError) -> Resolved {
        guard !service.isEmpty else { throw MetricError(.invalidArgument, "service name is empty") }
        let bind = bindAddress ?? environment("MARTY_METRICS_BIND") ?? "0.0.0.0"
        let metricsFromEnvironment = try port(fromEnvironment: "MARTY_METRICS_PORT")
        guard let metrics = metricsPort ?? metricsFromEnvironment ?? defaultMetricsPort else {
            throw MetricError(
                .invalidArgument,
                "\(service) has no default metrics port\(noDefaultPortReason.map { " (\($0))" } ?? ""): "
                    + "give a metrics port (argument or MARTY_METRICS_PORT)")
        }
        try Self.checkPort(metrics, "metrics port")
        var health: Int? = nil
        if separateHealthListener {
            let healthFromEnvironment = try port(fromEnvironment: "MARTY_HEALTH_PORT")
            health = healthPort ?? healthFromEnvironment ?? defaultHealthPort
            if let health { try Self.checkPort(health, "health port") }
            if let port = health, port != 0, port == metrics {
                health = nil  // one listener serves both
            }
        }
        return Resolved(bindAddress: bind, metricsPort: metrics, healthPort: health)
    }

    private static func checkPort(_ port: Int, _ what: String) throws(MetricError) {
        guard (0...65535).contains(port) else {
            throw MetricError(.invalidArgument, "\(what) \(port) is outside 0...65535")
        }
    }

    private func port(fromEnvironment name: String) throws(MetricError) -> Int? {
        guard let text = environment(name) else { return nil }
        guard let port = Int(text.trimmingSpaces), (0...65535).contains(port) else {
            throw MetricError(.invalidArgument, "\(name)=\(text) is not a port number (0...65535)")
        }
        return port
    }

    @Sendable static func processEnvironment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }
}

extension String {
    var trimmingSpaces: String {
        var scalars = Substring(self)
        while scalars.first == " " || scalars.first == "\t" { scalars = scalars.dropFirst() }
        while scalars.last == " " || scalars.last == "\t" { scalars = scalars.dropLast() }
        return String(scalars)
    }
}
