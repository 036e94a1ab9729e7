// A simulated csca-service: records gRPC-style request counts, durations, errors and
// in-flight calls on a timer, keeps two health checks, and serves /metrics and the probes
// on the seed's ports (metrics 9081, health 8082) until interrupted.
//
//   bash examples/run-demo.sh            # or: swift run -c release marty-demo
//   MARTY_METRICS_PORT=19081 MARTY_HEALTH_PORT=18082 swift run marty-demo
import Glibc
import MartyEndpoint
import MartyMetrics

setvbuf(stdout, nil, _IOLBF, 0)
let service = CommandLine.arguments.dropFirst().first ?? "csca-service"
let registry = Registry.default
let health = HealthRegistry.default

let requests = try registry.counter(
    "marty_grpc_requests_total", help: "Total gRPC requests", labelNames: ["service", "method", "status"])
let durations = try registry.histogram(
    "marty_grpc_request_duration_seconds", help: "gRPC request duration in seconds", labelNames: ["service", "method"],
    buckets: HistogramBuckets([0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]))
let errors = try registry.counter(
    "marty_grpc_errors_total", help: "Total gRPC errors", labelNames: ["service", "method", "error_type"])
let active = try registry.gauge(
    "marty_grpc_active_connections", help: "Active gRPC connections", labelNames: ["service"]
).labels(service)

var configuration = EndpointConfiguration(service: service)
if getenv("MARTY_METRICS_BIND") == nil {
    configuration.bindAddress = "127.0.0.1"  // a demo on a laptop; Kubernetes sets 0.0.0.0
}
let endpoint: MetricsEndpoint
do {
    endpoint = try MetricsEndpoint.start(configuration)
} catch {
    print("marty-demo: \(error)")
    exit(1)
}
try health.set("grpc_server", healthy: true)
try health.set("database", healthy: true, probe: .readiness)

if endpoint.isEnabled {
    let host = configuration.bindAddress ?? "127.0.0.1"
    print("marty-demo: \(service) is recording; try")
    print("  curl http://\(host):\(endpoint.metricsPort)/metrics")
    if let healthPort = endpoint.healthPort {
        print("  curl http://\(host):\(healthPort)/health")
        print("  curl -i http://\(host):\(healthPort)/health/ready")
    } else {
        print("  curl http://\(host):\(endpoint.metricsPort)/health")
    }
    print("In every 30 s, the database check fails for the last 10 (ready turns 503). Ctrl-C stops.")
} else {
    print("marty-demo: MARTY_METRICS_ENABLED=false: recording only, no endpoint")
}

signal(SIGINT, SIG_IGN)
signal(SIGTERM, SIG_IGN)
var signals = sigset_t()
sigemptyset(&signals)
sigaddset(&signals, SIGINT)
sigaddset(&signals, SIGTERM)
pthread_sigmask(SIG_BLOCK, &signals, nil)

let methods = ["/csca.CscaService/GetCertificate", "/csca.CscaService/ListCertificates", "/csca.CscaService/Revoke"]
var tick = 0
var random = SystemRandomNumberGenerator()
var timeout = timespec(tv_sec: 0, tv_nsec: 100_000_000)
while sigtimedwait(&signals, nil, &timeout) < 0 {
    tick += 1
    for _ in 0..<Int.random(in: 1...20, using: &random) {
        let method = methods.randomElement(using: &random)!
        active.inc()
        let seconds = Double.random(in: 0.0005...0.3, using: &random)
        try durations.labels(service, method).observe(seconds)
        let roll = Int.random(in: 0..<100, using: &random)
        let status = roll < 92 ? "OK" : roll < 97 ? "NOT_FOUND" : "INTERNAL"
        try requests.labels(service, method, status).inc()
        if status != "OK" { try errors.labels(service, method, status == "INTERNAL" ? "internal" : "not_found").inc() }
        active.dec()
    }
    let second = tick / 10
    let outage = second % 30 >= 20
    try health.set("database", healthy: !outage, message: outage ? "simulated outage" : nil, probe: .readiness)
}
print("marty-demo: stopping (readiness fails first, in-flight scrapes finish)")
endpoint.shutdown()
