/// The seed's port layout: gRPC on a base port, health on base + 1, metrics on
/// base + 1000, for the eight Marty services. The product code's only copy of the table
/// (tests keep their own, as an oracle).
public struct ServicePorts: Sendable, Equatable {
    /// The service's name, as its `service` label spells it ("csca-service").
    public let service: String
    /// The gRPC port: the base of the layout.
    public let grpc: Int
    /// The health port: `grpc` + 1.
    public var health: Int { grpc + 1 }
    /// The metrics port: `grpc` + 1000.
    public var metrics: Int { grpc + 1000 }

    /// The eight Marty services' ports.
    public static let table: [ServicePorts] = [
        ServicePorts(service: "csca-service", grpc: 8081),
        ServicePorts(service: "document-signer", grpc: 8082),
        ServicePorts(service: "inspection-system", grpc: 8083),
        ServicePorts(service: "passport-engine", grpc: 8084),
        ServicePorts(service: "mdl-engine", grpc: 8085),
        ServicePorts(service: "mdoc-engine", grpc: 8086),
        ServicePorts(service: "trust-anchor", grpc: 9080),
        ServicePorts(service: "pkd-service", grpc: 9090),
    ]

    /// The ports of the service named `name`; nil for a service the table does not know.
    public static func forService(_ name: String) -> ServicePorts? {
        table.first { $0.service == name }
    }

    /// What the table gives `port` to, e.g. "document-signer's gRPC port and csca-service's
    /// health port"; nil for a port the table does not use.
    public static func owners(of port: Int) -> String? {
        var owners: [String] = []
        for entry in table {
            if entry.grpc == port { owners.append("\(entry.service)'s gRPC port") }
            if entry.health == port { owners.append("\(entry.service)'s health port") }
            if entry.metrics == port { owners.append("\(entry.service)'s metrics port") }
        }
        return owners.isEmpty ? nil : owners.joined(separator: " and ")
    }
}
