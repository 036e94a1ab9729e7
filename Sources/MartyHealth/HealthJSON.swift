extension HealthRegistry.Report {
    /// The seed's `/health` document — `service, healthy, ready, live, uptime_seconds,
    /// checks {name: bool}, timestamp` — plus `shutting_down` and per-check `details`
    /// (message, last update, which probes it counts for). Keys in a fixed order.
    public func json(service: String, uptimeSeconds: Double, timestamp: Double) -> String {
        var out = "{\"service\":"
        JSON.appendString(service, to: &out)
        out += ",\"healthy\":\(healthy),\"ready\":\(ready),\"live\":\(live)"
        out += ",\"uptime_seconds\":\(JSON.number(uptimeSeconds)),\"checks\":{"
        for (index, check) in checks.enumerated() {
            if index > 0 { out += "," }
            JSON.appendString(check.name, to: &out)
            out += ":\(check.healthy)"
        }
        out += "},\"timestamp\":\(JSON.number(timestamp)),\"shutting_down\":\(shuttingDown),\"details\":{"
        for (index, check) in checks.enumerated() {
            if index > 0 { out += "," }
            JSON.appendString(check.name, to: &out)
            out += ":{\"healthy\":\(check.healthy),\"message\":"
            if let message = check.message { JSON.appendString(message, to: &out) } else { out += "null" }
            out += ",\"updated_at\":\(JSON.number(check.updatedAt)),\"probe\":\""
            switch check.probe {
            case .both: out += "both"
            case .liveness: out += "liveness"
            case .readiness: out += "readiness"
            }
            out += "\"}"
        }
        out += "}}"
        return out
    }

    /// The small body of `/health/live` and `/health/ready`.
    public func probeJSON(service: String, live probeIsLiveness: Bool) -> String {
        let passing = probeIsLiveness ? live : ready
        var out = "{\"service\":"
        JSON.appendString(service, to: &out)
        out += probeIsLiveness ? ",\"live\":\(passing)" : ",\"ready\":\(passing)"
        out += ",\"status\":\"\(passing ? "ok" : "unavailable")\",\"failing\":["
        let failing = checks.filter {
            !$0.healthy && (probeIsLiveness ? $0.probe.countsForLiveness : $0.probe.countsForReadiness)
        }
        for (index, check) in failing.enumerated() {
            if index > 0 { out += "," }
            JSON.appendString(check.name, to: &out)
        }
        if !probeIsLiveness && shuttingDown {
            out += failing.isEmpty ? "\"shutting_down\"" : ",\"shutting_down\""
        }
        out += "]}"
        return out
    }
}

enum JSON {
    static func appendString(_ text: String, to out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    /// JSON has no infinities or NaN: those become null.
    static func number(_ value: Double) -> String {
        value.isFinite ? "\(value)" : "null"
    }
}
