import CMartyRecording
import MartyHealth
import MartyMetrics

// The header's enums, which define the numbers, mapped to the Swift types (which have none).

extension MetricKind {
    var headerValue: marty_kind {
        switch self {
        case .counter: MARTY_KIND_COUNTER
        case .gauge: MARTY_KIND_GAUGE
        case .histogram: MARTY_KIND_HISTOGRAM
        case .info: MARTY_KIND_INFO
        case .summary: MARTY_KIND_SUMMARY
        }
    }
}

extension CollectedFamily.Kind {
    init?(headerValue: Int32) {
        switch marty_collected_type(rawValue: UInt32(bitPattern: headerValue)) {
        case MARTY_COLLECTED_UNKNOWN: self = .unknown
        case MARTY_COLLECTED_COUNTER: self = .counter
        case MARTY_COLLECTED_GAUGE: self = .gauge
        case MARTY_COLLECTED_HISTOGRAM: self = .histogram
        case MARTY_COLLECTED_SUMMARY: self = .summary
        case MARTY_COLLECTED_INFO: self = .info
        case MARTY_COLLECTED_STATESET: self = .stateSet
        case MARTY_COLLECTED_GAUGE_HISTOGRAM: self = .gaugeHistogram
        default: return nil
        }
    }
}

extension ExpositionFormat {
    init?(headerValue: Int32) {
        switch marty_format(rawValue: UInt32(bitPattern: headerValue)) {
        case MARTY_FORMAT_TEXT: self = .text
        case MARTY_FORMAT_OPENMETRICS: self = .openMetrics
        case MARTY_FORMAT_PROTOBUF: self = .protobuf
        default: return nil
        }
    }
}

extension NameEscaping {
    init?(headerValue: Int32) {
        switch marty_escaping(rawValue: UInt32(bitPattern: headerValue)) {
        case MARTY_ESCAPING_UNDERSCORES: self = .underscores
        case MARTY_ESCAPING_ALLOW_UTF8: self = .allowUTF8
        case MARTY_ESCAPING_DOTS: self = .dots
        case MARTY_ESCAPING_VALUES: self = .values
        default: return nil
        }
    }
}

extension HealthRegistry.Probe {
    init?(headerValue: Int32) {
        switch marty_probe(rawValue: UInt32(bitPattern: headerValue)) {
        case MARTY_PROBE_BOTH: self = .both
        case MARTY_PROBE_LIVENESS: self = .liveness
        case MARTY_PROBE_READINESS: self = .readiness
        default: return nil
        }
    }
}
