import MartyCatalog
import MartyEndpoint
import MartyHealth
import MartyMetrics

extension EndpointConfiguration {
    /// The endpoint of the Marty service `service`: the seed's ports for it by default
    /// (an argument or `MARTY_METRICS_PORT`/`MARTY_HEALTH_PORT` still win), a taken port's
    /// message naming whom the port table gives it to, and
    /// `marty_service_health_status{service}` in `registry` following the health.
    public static func martyService(
        _ service: String, registry: Registry = .default, health: HealthRegistry = .default
    ) throws(MetricError) -> EndpointConfiguration {
        var configuration = EndpointConfiguration(service: service)
        configuration.registry = registry
        configuration.health = health
        if let ports = ServicePorts.forService(service) {
            configuration.defaultMetricsPort = ports.metrics
            configuration.defaultHealthPort = ports.health
        } else {
            configuration.noDefaultPortReason = "it is not in the Marty port table"
        }
        configuration.describePort = { port in
            ServicePorts.owners(of: port).map { "the Marty port table gives \(port) to \($0)" }
        }
        configuration.healthStatus = try ServiceMetrics.healthStatusGauge(service: service, in: registry)
        return configuration
    }
}
