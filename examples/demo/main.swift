// A simulated csca-service: records gRPC-style request counts, durations, errors and
// in-flight calls on a timer, keeps two health checks, and serves /metrics and the probes
// on the seed's ports (metrics 9081, health 8082) until interrupted.
//
//   bash examples/run-demo.sh            # or: swift run -c release marty-demo
//   MARTY_METRICS_PORT=19081 MARTY_HEALTH_PORT=18082 swift run marty-demo
import Glibc
import MartyCatalog
import MartyEndpoint
import MartyHealth
import MartyMetrics
import MartyService

/// Prints a line at once, even when standard output is a file.
func say(_ line: String) {
    let text = line + "\n"
    _ = text.withCString { write(1, $0, strlen($0)) }
}

let service = CommandLine.arguments.dropFirst().first ?? "csca-service"
let registry = Registry.default
let health = HealthRegistry.default

// The whole Marty catalog (and the process metrics) for this service.
let metrics = try ServiceMetrics.register(service: service, version: "demo", registry: registry)

var configuration = try EndpointConfiguration.martyService(service)
if getenv("MARTY_METRICS_BIND") == nil {
    configuration.bindAddress = "127.0.0.1"  // a demo on a laptop; Kubernetes sets 0.0.0.0
}
let endpoint: MetricsEndpoint
do {
    endpoint = try MetricsEndpoint.start(configuration)
} catch {
    say("marty-demo: \(error)")
    exit(1)
}
try health.set("grpc_server", healthy: true)
try health.set("database", healthy: true, probe: .readiness)

if endpoint.isEnabled {
    let host = configuration.bindAddress ?? "127.0.0.1"
    say("marty-demo: \(service) is recording; try")
    // With a web config's TLS, curl needs --cacert (and -u for basic auth).
    let scheme = endpoint.metricsUsesTLS ? "https" : "http"
    say("  curl \(scheme)://\(host):\(endpoint.metricsPort)/metrics")
    if let healthPort = endpoint.healthPort {
        say("  curl http://\(host):\(healthPort)/health")
        say("  curl -i http://\(host):\(healthPort)/health/ready")
    } else {
        say("  curl \(scheme)://\(host):\(endpoint.metricsPort)/health")
    }
    say("In every 30 s, the database check fails for the last 10 (ready turns 503). Ctrl-C stops.")
} else {
    say("marty-demo: MARTY_METRICS_ENABLED=false: recording only, no endpoint")
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
        metrics.callStarted()
        let seconds = Double.random(in: 0.0005...0.3, using: &random)
        let roll = Int.random(in: 0..<100, using: &random)
        let status = roll < 92 ? "OK" : roll < 97 ? "NOT_FOUND" : "INTERNAL"
        try metrics.recordCall(
            method: method, status: status, durationSeconds: seconds, errorType: status == "OK" ? nil : status)
        metrics.callFinished()
    }
    let second = tick / 10
    if tick % 50 == 0 { try metrics.recordSuccessfulOperation("certificate_sync") }
    try metrics.setDatabaseConnections(Double(3 + tick % 3), database: "postgres")
    let outage = second % 30 >= 20
    try health.set("database", healthy: !outage, message: outage ? "simulated outage" : nil, probe: .readiness)
}
say("marty-demo: stopping (readiness fails first, in-flight scrapes finish)")
endpoint.shutdown()
